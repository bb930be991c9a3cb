//! `definition` and `diff`: a backup's model definition read offline (a local file, or a stored one through ranged
//! reads), and what changed between two backups' definitions.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ops::Context;
use crate::ops::output::{DefinitionOutput, DiffOutput};

/// Which backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRef {
    /// A local `.abf`, `.pbix` or `.xlsx`.
    Local(PathBuf),
    /// A file in a workspace's backup folder.
    Stored {
        /// The workspace.
        workspace: String,
        /// The file name.
        file: String,
    },
    /// The newest backup of a dataset in a workspace's folder (`back` = 1: the one before it).
    Latest {
        /// The workspace.
        workspace: String,
        /// The dataset.
        dataset: String,
        /// How many backups back from the newest.
        back: usize,
    },
}

/// The definition of `backup`, with role members' names when `members`.
pub async fn definition(
    session: &Context,
    backup: &BackupRef,
    members: bool,
) -> Result<DefinitionOutput> {
    let options = abf_format::InspectOptions { definition: true, members, ..Default::default() };
    let (file, report) = match resolve(session, backup).await? {
        Resolved::Local(path) => {
            let out = super::files::inspect_local(&path, options)?;
            let report = out.container.ok_or_else(|| {
                Error::Internal(format!("inspecting {} gave no report", path.display()))
            })?;
            (out.file, report)
        }
        Resolved::Stored { workspace, file } => {
            let report = super::files::inspect_remote(session, &workspace, &file, options).await?;
            (format!("power-bi-backup/{workspace}/{file}"), report)
        }
    };
    let definition = whole(&file, report)?;
    let fingerprint = definition.fingerprint();
    Ok(DefinitionOutput { file, definition, fingerprint })
}

/// The name of the file a TMDL export keeps beside its files: the relative paths it wrote, so that the next export
/// into the folder replaces exactly those and touches nothing else.
pub const TMDL_MARKER: &str = ".pbi-backup-tmdl";

/// Writes `out`'s definition into `dir` as a TMDL folder. `dir` must be new, empty, or a previous export (it holds
/// [`TMDL_MARKER`]): the previous export's files that the new one does not write are removed, nothing else. Each
/// file is written whole under a temporary name and renamed. Returns the files written.
pub fn write_tmdl(dir: &Path, out: &DefinitionOutput) -> Result<Vec<String>> {
    let database = out.file.rsplit(['/', '\\']).next().unwrap_or("Model");
    let database = database.rsplit_once('.').map_or(database, |(stem, _)| stem);
    let files = abf_format::to_tmdl(&out.definition, database);
    let marker = dir.join(TMDL_MARKER);
    let previous: Vec<String> = match std::fs::read_to_string(&marker) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let holds_files =
                std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
            if holds_files {
                return Err(Error::Usage(format!(
                    "{} holds files pbi-backup did not write; give --tmdl an empty or new folder (or one a previous export wrote)",
                    dir.display()
                )));
            }
            Vec::new()
        }
        Err(e) => return Err(Error::io(&marker, e)),
    };
    let written: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tmp = path.with_extension("tmdl.partial");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    for stale in previous.iter().filter(|p| !written.contains(p)) {
        // Only paths this tool wrote, inside the folder.
        if stale.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = dir.join(stale);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    std::fs::write(&marker, written.join("\n")).map_err(|e| Error::io(&marker, e))?;
    Ok(written)
}

/// What changed from `a` to `b`.
pub async fn diff(session: &Context, a: &BackupRef, b: &BackupRef) -> Result<DiffOutput> {
    let a = definition(session, a, false).await?;
    let b = definition(session, b, false).await?;
    let changes = abf_format::compare(&a.definition, &b.definition);
    Ok(DiffOutput { a: a.file, b: b.file, equal: changes.is_empty(), changes })
}

enum Resolved {
    Local(PathBuf),
    Stored { workspace: String, file: String },
}

async fn resolve(session: &Context, backup: &BackupRef) -> Result<Resolved> {
    Ok(match backup {
        BackupRef::Local(p) => {
            if !p.is_file() {
                return Err(Error::Usage(format!("{} is not a file", p.display())));
            }
            Resolved::Local(p.clone())
        }
        BackupRef::Stored { workspace, file } => {
            Resolved::Stored { workspace: workspace.clone(), file: file.clone() }
        }
        BackupRef::Latest { workspace, dataset, back } => {
            let listed = super::files::list(session, workspace).await?;
            let of_dataset: Vec<_> = listed
                .backups
                .iter()
                .filter(|b| b.dataset.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(dataset)))
                .collect();
            let Some(found) = of_dataset.get(*back) else {
                return Err(Error::Usage(format!(
                    "the folder of '{workspace}' holds {} backup(s) of '{dataset}', so there is no {}; list them with `pbi-backup list -w '{workspace}'`",
                    of_dataset.len(),
                    if *back == 0 {
                        "latest".to_owned()
                    } else {
                        format!("backup {back} before the latest")
                    }
                )));
            };
            Resolved::Stored { workspace: workspace.clone(), file: found.name.clone() }
        }
    })
}

/// The definition when the file was read whole; otherwise why not, naming the layer that failed. Never a part
/// of a definition presented as the whole.
fn whole(file: &str, report: abf_format::Report) -> Result<abf_format::Definition> {
    if report.encrypted {
        return Err(Error::Integrity(format!(
            "the definition of {file} cannot be read: the backup is encrypted, and its catalog with it"
        )));
    }
    if !report.valid {
        let why: Vec<String> =
            report.problems.iter().map(|p| format!("{}: {}", p.part, p.message)).collect();
        return Err(Error::Integrity(format!(
            "the definition of {file} cannot be read: {}",
            why.join("; ")
        )));
    }
    report.definition.ok_or_else(|| {
        Error::Usage(format!(
            "{file} holds no model definition that pbi-backup can read (compatibility level {}): neither a catalog nor the XML metadata of older models",
            report.database.compatibility_level.map_or("unknown".into(), |l| l.to_string())
        ))
    })
}
