//! `restore`: by file or the latest backup of a dataset, optionally from another workspace's folder.

use xmla_proto::{Command, Password, ReadWriteMode, Restore, Security};

use super::doctor::require;
use super::files::copy_verified;
use super::{Session, backup_folder, backup_path, hash_file, read_manifest, time_from_file_name};
use crate::error::{Error, Result};
use crate::manifest::MANIFEST_SUFFIX;
use crate::output::RestoreOutput;
use crate::preflight::Operation;
use crate::xmla::Endpoint;

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Target workspace (Power BI).
    pub workspace: Option<String>,
    /// Or a target XMLA endpoint.
    pub server: Option<Endpoint>,
    /// The backup file; `None` with `latest` set.
    pub file: Option<String>,
    /// Restore the newest backup of this dataset.
    pub latest: Option<String>,
    /// Copy the file from this workspace's folder first.
    pub from_workspace: Option<String>,
    /// Restore under this name.
    pub as_name: Option<String>,
    /// Overwrite an existing model.
    pub allow_overwrite: bool,
    /// Security.
    pub security: Option<Security>,
    /// Read-write mode.
    pub read_write_mode: Option<ReadWriteMode>,
    /// Drop roles without read permission (Power BI).
    pub ignore_incompatibilities: bool,
    /// Restore with the old model unloaded (Power BI).
    pub force_restore: bool,
    /// Password of an encrypted backup.
    pub password: Option<Password>,
    /// Skip the preflight.
    pub skip_preflight: bool,
    /// Restore even without a manifest to check against.
    pub allow_unverified: bool,
}

impl RestoreOptions {
    /// The command these options send for `file`, restoring it as `database` (`None`: the name in the backup).
    /// TMSL when an option exists only there, ASSL otherwise.
    pub fn command(&self, file: &str, database: Option<String>) -> Command {
        let mut r = Restore::new(file);
        r.database_name = database;
        r.allow_overwrite = self.allow_overwrite;
        r.security = self.security;
        r.read_write_mode = self.read_write_mode;
        r.ignore_incompatibilities = self.ignore_incompatibilities;
        r.force_restore = self.force_restore;
        r.password = self.password.clone();
        Command::restore(r)
    }
}

/// Finds the newest backup of `dataset` in a folder: by manifest time, else by the time in the file name.
async fn latest_file(session: &Session, workspace: &str, dataset: &str) -> Result<String> {
    let store = session.store()?;
    let files = adls_store::StoreExt::list_all(store.as_ref(), &backup_folder(workspace)?).await?;
    let mut best: Option<(time::OffsetDateTime, String)> = None;
    for f in files {
        let Some(name) = f.path.file_name().map(str::to_owned) else { continue };
        if !super::is_abf(&name) {
            continue;
        }
        let from_manifest =
            read_manifest(store.as_ref(), &f.path).await.ok().flatten().and_then(|m| {
                (m.dataset.name == dataset).then(|| {
                    time::OffsetDateTime::parse(
                        &m.created,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()
                })?
            });
        let time = from_manifest
            .or_else(|| time_from_file_name(&name).filter(|(d, _)| d == dataset).map(|(_, t)| t));
        if let Some(t) = time
            && best.as_ref().is_none_or(|(bt, _)| t > *bt)
        {
            best = Some((t, name));
        }
    }
    best.map(|(_, n)| n).ok_or_else(|| Error::NotFound {
        what: "backup of dataset",
        name: format!("{dataset} in {workspace}"),
        nearest: Vec::new(),
    })
}

/// Runs a restore: copy (when asked), check the manifest, preflight, send, then compare the restored tables.
pub async fn restore(session: &Session, options: &RestoreOptions) -> Result<RestoreOutput> {
    let (endpoint, workspace, power_bi) = match (&options.server, &options.workspace) {
        (Some(Endpoint::PowerBi { workspace, .. }), _) => {
            (options.server.clone().expect("some"), workspace.clone(), true)
        }
        (Some(e), _) => (e.clone(), e.to_string(), false),
        (None, Some(w)) => (Endpoint::workspace(w), w.clone(), true),
        (None, None) => {
            return Err(Error::Config("name the target with --workspace or --server".into()));
        }
    };
    let source_ws = options.from_workspace.clone().unwrap_or_else(|| workspace.clone());
    let file = match (&options.file, &options.latest) {
        (Some(f), None) => f.clone(),
        (None, Some(dataset)) => latest_file(session, &source_ws, dataset).await?,
        (Some(_), Some(_)) => {
            return Err(Error::Config("give --file or --latest, not both".into()));
        }
        (None, None) => {
            return Err(Error::Config(
                "name the backup with --file NAME or --latest DATASET".into(),
            ));
        }
    };
    if !super::is_abf(&file) {
        return Err(Error::Config(format!(
            "'{file}' is not an .abf backup file; name one that ends in .abf"
        )));
    }
    let mut warnings = Vec::new();
    let mut copied_from = None;
    let mut copied = None;
    let mut manifest = None;
    let mut manifest_check =
        "skipped: where this server keeps its backups is not known here (only Power BI's power-bi-backup folders are)"
            .to_owned();
    // Only Power BI keeps backups in `power-bi-backup/<workspace>`; an Analysis Services server or an msmdpump
    // endpoint has no folder there (its name, a URL, cannot even name one).
    if power_bi {
        let store = session.store()?;
        if let Some(src) = &options.from_workspace
            && src != &workspace
        {
            if !options.skip_preflight {
                warnings.extend(require(session, &workspace, Operation::CopyInto, "copy").await?);
            }
            let (from, to) = (backup_path(src, &file)?, backup_path(&workspace, &file)?);
            if adls_store::StoreExt::exists(store.as_ref(), &to).await? {
                // An earlier restore copied it already: use that copy when it is the same backup (its hash is
                // checked against its manifest below), never replace it.
                let same = match (
                    read_manifest(store.as_ref(), &from).await?,
                    read_manifest(store.as_ref(), &to).await?,
                ) {
                    (Some(a), Some(b)) => a.sha256 == b.sha256 && a.size == b.size,
                    _ => false,
                };
                if !same {
                    return Err(Error::Config(format!(
                        "{to} exists and is not known to be the same backup as {from}; restore it as it is with --workspace '{workspace}' --file '{file}' (without --from-workspace), or delete it first"
                    )));
                }
                warnings.push(format!("{to} was copied from {from} before; that copy was used"));
            } else {
                copied = Some(copy_verified(session, &from, &to, false).await?);
            }
            copied_from = Some(format!("power-bi-backup/{src}/{file}"));
        }
        let path = backup_path(&workspace, &file)?;
        manifest = read_manifest(store.as_ref(), &path).await?;
        match &manifest {
            Some(m) => {
                // A copy made just now was read back and hashed already: its hash is not computed twice.
                let (size, sha) =
                    match &copied {
                        Some(c) => (c.size, c.sha256.clone()),
                        None => hash_file(store.as_ref(), &path, session.progress())
                            .await
                            .map_err(|e| match e {
                                Error::Storage(adls_store::Error::NotFound { .. }) => {
                                    Error::NotFound {
                                        what: "backup file",
                                        name: path.to_string(),
                                        nearest: Vec::new(),
                                    }
                                }
                                other => other,
                            })?,
                    };
                if size != m.size || sha != m.sha256 {
                    return Err(Error::Integrity(format!(
                        "{path} does not match its manifest (size {size} vs {}, sha256 {sha} vs {}); nothing was sent",
                        m.size, m.sha256
                    )));
                }
                manifest_check = format!("verified against the manifest (sha256 {sha})");
            }
            None if options.allow_unverified => {
                manifest_check = "skipped: no manifest beside the file (--allow-unverified)".into();
                warnings.push(format!("{path} has no manifest; it was not verified"));
            }
            None => {
                if adls_store::StoreExt::exists(store.as_ref(), &path).await? {
                    return Err(Error::Integrity(format!(
                        "{path} has no manifest{MANIFEST_SUFFIX}, so it cannot be verified before the restore; pass --allow-unverified to restore it anyway"
                    )));
                }
                return Err(Error::NotFound {
                    what: "backup file",
                    name: path.to_string(),
                    nearest: list_abf(session, &workspace).await.unwrap_or_default(),
                });
            }
        }
    }
    let mut database =
        options.as_name.clone().or_else(|| manifest.as_ref().map(|m| m.dataset.name.clone()));
    if power_bi {
        // The container's structure and metadata (headers, directory, log, catalog; not the data files), read
        // through ranged reads: a damaged file is refused before anything is sent, and the model's compatibility
        // level is checked against what Power BI takes (rule LATER-25).
        let report = super::files::inspect_remote(session, &workspace, &file, false).await?;
        if !report.valid && !report.encrypted {
            let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
            return Err(Error::Integrity(format!(
                "{file} is not a whole .abf backup ({}); nothing was sent",
                problems.join("; ")
            )));
        }
        // What Power BI refuses about the model itself: LATER rules, so warnings unless raised.
        let mut findings = Vec::new();
        if let Some(level) = report.database.compatibility_level
            && level < 1500
        {
            findings.push(backup_finding(
                session,
                "LATER-25",
                &workspace,
                format!("the model in {file} is at compatibility level {level}; Power BI Premium takes 1500 and higher"),
                "upgrade the model's compatibility level (e.g. in Visual Studio or Tabular Editor) and back it up again",
            ));
        }
        let clashes = name_clashes(&report.tables, &report.expressions);
        if !clashes.is_empty() {
            findings.push(backup_finding(
                session,
                "LATER-26",
                &workspace,
                format!(
                    "the model in {file} has a table and a Power Query expression both named {}; Power BI fails such a restore",
                    clashes.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
                ),
                "rename the expression or the table (Power Query editor, Tabular Editor) and back the model up again",
            ));
        }
        // LATER-06: only enhanced-metadata (V3) models restore. The catalog's number is read as TOM's enum (2 = V3),
        // which is unconfirmed: a warning unless raised; a model without the column is left to the service.
        if let Some(version) = report.data_source_version
            && version != 2
        {
            let name = match version {
                0 => "PowerBI_V1",
                1 => "PowerBI_V2",
                _ => "not a known version",
            };
            findings.push(backup_finding(
                session,
                "LATER-06",
                &workspace,
                format!(
                    "the model in {file} is not in the enhanced metadata format (V3): its DefaultPowerBIDataSourceVersion is {version} ({name}), and Power BI restores only V3 models"
                ),
                "upgrade the model to the enhanced metadata format (V3; compatibility level 1465 or higher) and back it up again",
            ));
        }
        // LATER-09: Power BI takes only roles with the read permission. That the catalog's ModelPermission 2 is Read
        // follows TOM's enum and is unconfirmed, so this warns (blocks only when raised); the service decides.
        let not_read: Vec<String> = report
            .roles
            .iter()
            .filter(|r| r.model_permission.is_some_and(|p| p != 2))
            .map(|r| format!("'{}' ({})", r.name, permission_name(r.model_permission)))
            .collect();
        if !not_read.is_empty() {
            if options.ignore_incompatibilities {
                warnings.push(format!(
                    "LATER-09: --ignore-incompatibilities drops the roles without the read permission: {}",
                    not_read.join(", ")
                ));
            } else {
                findings.push(backup_finding(
                    session,
                    "LATER-09",
                    &workspace,
                    format!(
                        "the model in {file} has roles without the read permission, the only one Power BI takes: {}",
                        not_read.join(", ")
                    ),
                    "restore with --ignore-incompatibilities to drop them, or give them the read permission and back the model up again",
                ));
            }
        }
        let blocking: Vec<_> = findings.iter().filter(|f| f.blocks()).cloned().collect();
        if !blocking.is_empty() && !options.skip_preflight {
            return Err(Error::Preflight { what: "restore".into(), findings: blocking });
        }
        for finding in findings {
            warnings.push(format!("{}: {}; {}", finding.rule, finding.message, finding.remedy));
        }
        if database.is_none() {
            // No manifest and no --as: the name the backup holds (for the report, and for the preflight to know
            // whether a model of that name exists).
            database = report.database.name;
        }
    }
    let command = options.command(&file, database.clone());
    let client = session.xmla(endpoint)?;
    if power_bi && !options.skip_preflight {
        let exists = match &database {
            Some(d) => client.databases().await?.iter().any(|c| &c.name == d),
            None => false,
        };
        let op = if exists { Operation::Restore } else { Operation::RestoreAsNew };
        warnings.extend(require(session, &workspace, op, "restore").await?);
    }
    // A refusal after preflight warnings carries them: they may be its reason (LATER-26, say).
    let server_warnings = client.execute(command, None).await.map_err(|e| match e {
        Error::Server { what, failure } if !warnings.is_empty() => Error::Server {
            what: format!("{what} (preflight had warned: {})", warnings.join(" | ")),
            failure,
        },
        e => e,
    })?;
    warnings.extend(server_warnings.iter().map(|w| w.to_string()));
    let database = database.unwrap_or_default();
    let mut out = RestoreOutput {
        workspace,
        file,
        database: database.clone(),
        copied_from,
        manifest_check,
        missing_tables: Vec::new(),
        extra_tables: Vec::new(),
        tables_compared: false,
        warnings,
    };
    if let Some(m) = manifest.filter(|m| !m.tables.is_empty() && !database.is_empty()) {
        let now = client.tables(&database).await?;
        out.missing_tables = m.tables.iter().filter(|t| !now.contains(t)).cloned().collect();
        out.extra_tables = now.iter().filter(|t| !m.tables.contains(t)).cloned().collect();
        out.tables_compared = true;
    }
    Ok(out)
}

async fn list_abf(session: &Session, workspace: &str) -> Result<Vec<String>> {
    let store = session.store()?;
    let files = adls_store::StoreExt::list_all(store.as_ref(), &backup_folder(workspace)?).await?;
    Ok(files
        .iter()
        .filter_map(|f| f.path.file_name())
        .filter(|n| super::is_abf(n))
        .take(5)
        .map(str::to_owned)
        .collect())
}

/// A LATER rule's finding about the backup itself: it warns, and blocks when the rule is raised in the config file.
fn backup_finding(
    session: &Session,
    rule: &str,
    workspace: &str,
    message: String,
    remedy: &str,
) -> crate::preflight::Finding {
    let raised = session.settings.file.preflight.raise.iter().any(|r| r.eq_ignore_ascii_case(rule));
    crate::preflight::Finding {
        rule: rule.into(),
        severity: if raised {
            crate::preflight::Severity::Block
        } else {
            crate::preflight::Severity::Warn
        },
        status: crate::preflight::Status::Fail,
        workspace: workspace.to_owned(),
        message,
        remedy: remedy.into(),
    }
}

/// A catalog `ModelPermission` value as TOM's enum names it (the mapping is unconfirmed for the catalog).
fn permission_name(value: Option<i64>) -> String {
    match value {
        Some(1) => "None".into(),
        Some(2) => "Read".into(),
        Some(3) => "ReadRefresh".into(),
        Some(4) => "Refresh".into(),
        Some(5) => "Administrator".into(),
        Some(other) => format!("ModelPermission {other}"),
        None => "unknown".into(),
    }
}

/// The table names that a shared expression also carries (rule LATER-26), compared as Analysis Services compares
/// object names: without regard to case.
fn name_clashes(tables: &[abf_format::Table], expressions: &[String]) -> Vec<String> {
    let expressions: std::collections::BTreeSet<String> =
        expressions.iter().map(|e| e.to_lowercase()).collect();
    let mut clashes: Vec<String> = tables
        .iter()
        .filter(|t| expressions.contains(&t.name.to_lowercase()))
        .map(|t| t.name.clone())
        .collect();
    clashes.sort();
    clashes.dedup();
    clashes
}

#[cfg(test)]
mod tests {
    use super::name_clashes;

    fn table(name: &str) -> abf_format::Table {
        abf_format::Table { name: name.into(), partitions: Vec::new() }
    }

    #[test]
    fn tables_and_expressions_clash_by_name_whatever_the_case() {
        let tables = [table("Sales"), table("Date"), table("Budget")];
        let expressions = ["sales".to_owned(), "Region".to_owned(), "Date".to_owned()];
        assert_eq!(name_clashes(&tables, &expressions), ["Date", "Sales"]);
        assert!(name_clashes(&tables, &["Sales Query".to_owned()]).is_empty());
        assert!(name_clashes(&tables, &[]).is_empty());
    }
}
