//! `definition` and `diff`.

use std::path::PathBuf;

use backup_core::ops::Outcome;
use backup_core::ops::{BackupRef, Context};
use backup_core::output::{DefinitionOutput, DiffOutput};
use clap::Args;

use crate::global::Global;
use crate::print;

/// Which backup: a local file, a stored one, or the latest (or the one before) of a dataset.
#[derive(Debug, Args)]
pub struct DefinitionArgs {
    /// A local .abf, .pbix or .xlsx.
    #[arg(conflicts_with_all = ["workspace"], required_unless_present = "workspace")]
    pub file: Option<PathBuf>,
    /// Or a backup in this workspace's folder (read through ranged reads, not downloaded).
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: Option<String>,
    /// The file in that folder.
    #[arg(
        long = "file",
        value_name = "NAME",
        id = "name",
        requires = "workspace",
        conflicts_with = "latest"
    )]
    pub name: Option<String>,
    /// The newest backup of this dataset in that folder.
    #[arg(long, value_name = "DATASET", requires = "workspace")]
    pub latest: Option<String>,
    /// With --latest: the backup before the newest.
    #[arg(long, requires = "latest")]
    pub previous: bool,
    /// Show the roles' member names (left out by default).
    #[arg(long)]
    pub members: bool,
    /// Also write the definition as a TMDL folder here (new, empty, or a previous export, which it replaces).
    #[arg(long, value_name = "DIR")]
    pub tmdl: Option<PathBuf>,
}

/// Two backups to compare: two local files, two files of one workspace's folder, or the latest two of a dataset.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first backup: a local file, or with --workspace a file in its folder.
    #[arg(required_unless_present = "latest")]
    pub a: Option<String>,
    /// The second.
    #[arg(required_unless_present = "latest")]
    pub b: Option<String>,
    /// The workspace whose folder holds A and B (or the dataset's backups, with --latest).
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: Option<String>,
    /// Compare the backup before the newest of this dataset with the newest.
    #[arg(long, value_name = "DATASET", requires = "workspace", conflicts_with_all = ["a", "b"])]
    pub latest: Option<String>,
}

fn which(args: &DefinitionArgs) -> Option<BackupRef> {
    match (&args.file, &args.workspace, &args.name, &args.latest) {
        (Some(f), _, _, _) => Some(BackupRef::Local(f.clone())),
        (None, Some(w), Some(n), None) => {
            Some(BackupRef::Stored { workspace: w.clone(), file: n.clone() })
        }
        (None, Some(w), None, Some(d)) => Some(BackupRef::Latest {
            workspace: w.clone(),
            dataset: d.clone(),
            back: usize::from(args.previous),
        }),
        _ => None,
    }
}

pub async fn definition(global: &Global, session: &Context, args: &DefinitionArgs) -> Outcome<i32> {
    let Some(backup) = which(args) else {
        return Err(backup_core::Error::Usage(
            "name a local FILE, or --workspace W with --file NAME or --latest DATASET".into(),
        )
        .into());
    };
    let out = backup_core::ops::definition(session, &backup, args.members).await?;
    if let Some(dir) = &args.tmdl {
        let written = backup_core::ops::write_tmdl(dir, &out)?;
        tracing::info!(folder = %dir.display(), files = written.len(), "wrote the TMDL folder");
    }
    print::report(global, &out, human_definition)
}

pub async fn diff(global: &Global, session: &Context, args: &DiffArgs) -> Outcome<i32> {
    let (a, b) = match (&args.workspace, &args.latest, &args.a, &args.b) {
        (Some(w), Some(d), _, _) => (
            BackupRef::Latest { workspace: w.clone(), dataset: d.clone(), back: 1 },
            BackupRef::Latest { workspace: w.clone(), dataset: d.clone(), back: 0 },
        ),
        (Some(w), None, Some(a), Some(b)) => (
            BackupRef::Stored { workspace: w.clone(), file: a.clone() },
            BackupRef::Stored { workspace: w.clone(), file: b.clone() },
        ),
        (None, None, Some(a), Some(b)) => {
            (BackupRef::Local(PathBuf::from(a)), BackupRef::Local(PathBuf::from(b)))
        }
        _ => {
            return Err(backup_core::Error::Usage(
                "give two local files, or --workspace W with two file names, or --workspace W --latest DATASET".into(),
            )
            .into());
        }
    };
    let out = backup_core::ops::diff(session, &a, &b).await?;
    print::report(global, &out, human_diff)
}

fn human_definition(out: &DefinitionOutput) -> String {
    let d = &out.definition;
    let mut s = format!(
        "{}\n  compatibility level {}, fingerprint {}\n",
        print::one_line(&out.file),
        d.compatibility_level.map_or("unknown".into(), |l| l.to_string()),
        &out.fingerprint.sha256[..16.min(out.fingerprint.sha256.len())]
    );
    for t in &d.tables {
        let internal = if t.internal { " (internal)" } else { "" };
        s.push_str(&format!("\ntable '{}'{internal}\n", print::one_line(&t.name)));
        for c in &t.columns {
            let calc = c
                .expression
                .as_deref()
                .map(|e| format!(" = {}", print::one_line(e)))
                .unwrap_or_default();
            s.push_str(&format!(
                "  column  {} : {}{calc}\n",
                print::one_line(&c.name),
                c.data_type
            ));
        }
        for m in &t.measures {
            s.push_str(&format!(
                "  measure {} = {}\n",
                print::one_line(&m.name),
                print::one_line(&m.expression)
            ));
        }
        for p in &t.partitions {
            s.push_str(&format!("  partition {} ({})\n", print::one_line(&p.name), p.kind));
        }
        for h in &t.hierarchies {
            s.push_str(&format!(
                "  hierarchy {}: {}\n",
                print::one_line(&h.name),
                h.levels.join(" > ")
            ));
        }
        for i in &t.calculation_items {
            s.push_str(&format!(
                "  calculation item {} = {}\n",
                print::one_line(&i.name),
                print::one_line(&i.expression)
            ));
        }
    }
    if !d.relationships.is_empty() {
        s.push_str("\nrelationships\n");
        for r in &d.relationships {
            s.push_str(&format!(
                "  '{}'[{}] -> '{}'[{}]  {} {}{}\n",
                r.from_table,
                r.from_column,
                r.to_table,
                r.to_column,
                r.cardinality,
                r.cross_filter,
                if r.active { "" } else { " inactive" }
            ));
        }
    }
    for r in &d.roles {
        s.push_str(&format!(
            "\nrole '{}': {}, {} member(s)\n",
            print::one_line(&r.name),
            r.model_permission,
            r.member_count
        ));
        for f in &r.table_filters {
            s.push_str(&format!("  filter '{}': {}\n", f.table, print::one_line(&f.expression)));
        }
        for m in r.members.iter().flatten() {
            s.push_str(&format!("  member {}\n", print::one_line(m)));
        }
    }
    if !d.expressions.is_empty() {
        s.push_str("\nexpressions\n");
        for e in &d.expressions {
            s.push_str(&format!("  {} ({})\n", print::one_line(&e.name), e.kind));
        }
    }
    s
}

fn human_diff(out: &DiffOutput) -> String {
    if out.equal {
        return format!("{} and {}: the definitions are the same\n", out.a, out.b);
    }
    let mut s = format!("--- {}\n+++ {}\n", out.a, out.b);
    for c in &out.changes {
        let mark = match c.change.as_str() {
            "added" => '+',
            "removed" => '-',
            _ => '~',
        };
        s.push_str(format!("{mark} {} {}", c.object, print::one_line(&c.name)).trim_end());
        if let Some(p) = &c.property {
            s.push_str(&format!(": {p}"));
            if let (Some(b), Some(a)) = (&c.before, &c.after) {
                s.push_str(&format!(" {} -> {}", print::one_line(b), print::one_line(a)));
            }
        }
        s.push('\n');
        for l in &c.lines {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s
}
