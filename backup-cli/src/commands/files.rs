//! `list`, `download`, `upload`, `copy`, `verify`, `inspect`.

use std::path::PathBuf;

use backup_core::Error;
use backup_core::manifest::VerifiedState;
use backup_core::ops::Context;
use backup_core::ops::Outcome;
use backup_core::output::{ListOutput, TransferOutput, VerifyOutput};
use clap::Args;

use crate::global::Global;
use crate::print;

/// Arguments of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The workspace whose backup folder to list.
    #[arg(long, short = 'w', value_name = "NAME", required_unless_present = "all_workspaces")]
    pub workspace: Option<String>,
    /// Every dataset of every workspace the caller sees: its newest verified backup, age, size, count, last drill.
    #[arg(long, conflicts_with = "workspace")]
    pub all_workspaces: bool,
    /// With --all-workspaces: exit 1 when a dataset's newest verified backup is older than this (e.g. 26h, 2d).
    #[arg(long, value_name = "AGE", requires = "all_workspaces")]
    pub older_than: Option<String>,
}

/// Arguments of `download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The workspace.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// The backup file.
    #[arg(long, value_name = "NAME")]
    pub file: String,
    /// Destination file or folder (default: the current folder).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub to: PathBuf,
}

/// Arguments of `upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The local .abf file.
    pub local: PathBuf,
    /// The workspace whose folder receives it.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// Name in the folder (default: the local file's name).
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
    /// Replace a file of that name.
    #[arg(long)]
    pub overwrite: bool,
    /// Create the workspace's folder if it does not exist (Power BI creates it when storage is attached, so a
    /// missing folder usually means a misspelt name).
    #[arg(long)]
    pub create_folder: bool,
}

/// Arguments of `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source workspace.
    #[arg(long, value_name = "NAME")]
    pub from_workspace: String,
    /// Destination workspace.
    #[arg(long, value_name = "NAME")]
    pub to_workspace: String,
    /// The backup file.
    #[arg(long, value_name = "NAME")]
    pub file: String,
    /// Replace a file of that name in the destination.
    #[arg(long)]
    pub overwrite: bool,
    /// Create the destination workspace's folder if it does not exist.
    #[arg(long)]
    pub create_folder: bool,
    /// Skip the preflight of the destination workspace (SEED-09: storage owner, and admin there under the seed
    /// rules); the storage still enforces its own permissions.
    #[arg(long)]
    pub skip_preflight: bool,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The workspace.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// The backup file.
    #[arg(long, value_name = "NAME")]
    pub file: String,
    /// Also check every file's CRC and decompression inside the container.
    #[arg(long)]
    pub full: bool,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A local .abf, .pbix or .xlsx.
    #[arg(conflicts_with_all = ["workspace", "name"], required_unless_present = "workspace")]
    pub file: Option<PathBuf>,
    /// Or a backup in this workspace's folder (read through ranged reads, not downloaded).
    #[arg(long, short = 'w', value_name = "NAME", requires = "name")]
    pub workspace: Option<String>,
    /// The file in that folder.
    #[arg(long = "file", value_name = "NAME", id = "name")]
    pub name: Option<String>,
    /// Check every file's CRC and decompression, not only structure and metadata.
    #[arg(long)]
    pub full: bool,
}

pub async fn list(global: &Global, session: &Context, args: &ListArgs) -> Outcome<i32> {
    if let Some(workspace) = &args.workspace {
        let out = backup_core::ops::list(session, workspace).await?;
        return print::report(global, &out, human_list);
    }
    let older_than = match &args.older_than {
        Some(age) => Some(
            backup_core::retention::parse_keep_within(age)
                .map_err(|e| Error::Usage(format!("--older-than: {e}")))?,
        ),
        None => None,
    };
    let out = backup_core::ops::overview(session, older_than).await?;
    print::report(global, &out, human_overview)
}

fn human_overview(out: &backup_core::output::OverviewOutput) -> String {
    let mut s = format!(
        "{:<28} {:<28} {:>9} {:>10} {:>7}  {}\n",
        "WORKSPACE", "DATASET", "AGE", "SIZE", "BACKUPS", "LAST DRILL"
    );
    for d in &out.datasets {
        let age = d.age_hours.map_or("none".to_owned(), |h| format!("{h:.1}h"));
        let drill = match (&d.last_drill, d.drill_passed) {
            (Some(at), Some(true)) => format!("passed {at}"),
            (Some(at), _) => format!("FAILED {at}"),
            _ => "-".into(),
        };
        s.push_str(&format!(
            "{:<28} {:<28} {:>9} {:>10} {:>7}  {drill}{}\n",
            print::one_line(&d.workspace),
            print::one_line(&d.dataset),
            age,
            d.size.map_or("-".into(), print::bytes),
            d.backups,
            if d.stale { "  STALE" } else { "" }
        ));
    }
    for e in &out.errors {
        s.push_str(&format!("not looked at: {}\n", print::one_line(e)));
    }
    s
}

fn human_list(out: &ListOutput) -> String {
    if out.backups.is_empty() {
        return format!("no backups in power-bi-backup/{}\n", print::one_line(&out.workspace));
    }
    let mut s = format!(
        "{:<48} {:>10}  {:<25} {:<20} {:<10} {}\n",
        "NAME", "SIZE", "TIME", "DATASET", "MODEL", "VERIFIED"
    );
    for b in &out.backups {
        // Whether the model's definition changed since the dataset's previous backup here.
        let model = match b.definition_changed {
            Some(true) => "changed",
            Some(false) => "same",
            None => "-",
        };
        s.push_str(&format!(
            "{:<48} {:>10}  {:<25} {:<20} {:<10} {}\n",
            print::one_line(&b.name),
            print::bytes(b.size),
            print::one_line(b.time.as_deref().unwrap_or("-")),
            print::one_line(b.dataset.as_deref().unwrap_or("-")),
            model,
            match b.state {
                VerifiedState::Verified => "yes",
                VerifiedState::ChangedSinceVerified => "CHANGED since verified",
                VerifiedState::NeverVerified => "no",
                VerifiedState::FailedVerification => "FAILED verification",
            }
        ));
    }
    s
}

fn human_transfer(verb: &str) -> impl FnOnce(&TransferOutput) -> String + '_ {
    move |t| {
        format!(
            "ok      {verb} {} -> {} ({})\n        sha256 {}\n        {}\n",
            t.source,
            t.destination,
            print::bytes(t.size),
            t.sha256,
            t.verification.describe()
        ) + &t.warnings.iter().map(|w| format!("        warning: {w}\n")).collect::<String>()
    }
}

pub async fn download(global: &Global, session: &Context, args: &DownloadArgs) -> Outcome<i32> {
    let dest = if args.to.is_dir() { args.to.join(&args.file) } else { args.to.clone() };
    let out = backup_core::ops::download(session, &args.workspace, &args.file, &dest).await?;
    print::report(global, &out, human_transfer("downloaded"))
}

pub async fn upload(global: &Global, session: &Context, args: &UploadArgs) -> Outcome<i32> {
    let out = backup_core::ops::upload(
        session,
        &args.local,
        &args.workspace,
        args.file.as_deref(),
        args.overwrite,
        args.create_folder,
    )
    .await?;
    print::report(global, &out, human_transfer("uploaded"))
}

pub async fn copy(global: &Global, session: &Context, args: &CopyArgs) -> Outcome<i32> {
    let out = backup_core::ops::copy(
        session,
        &args.from_workspace,
        &args.to_workspace,
        &args.file,
        args.overwrite,
        args.create_folder,
        args.skip_preflight,
    )
    .await?;
    print::report(global, &out, human_transfer("copied"))
}

pub async fn verify(global: &Global, session: &Context, args: &VerifyArgs) -> Outcome<i32> {
    let out = backup_core::ops::verify(session, &args.workspace, &args.file, args.full).await?;
    print::report(global, &out, human_verify)
}

pub async fn inspect(
    global: &Global,
    session: Option<&Context>,
    args: &InspectArgs,
) -> Outcome<i32> {
    let out = match (&args.file, session, &args.workspace, &args.name) {
        (Some(local), _, _, _) => {
            if !local.is_file() {
                return Err(Error::Usage(format!("{} is not a file", local.display())).into());
            }
            backup_core::ops::inspect_local(
                local,
                backup_core::ops::InspectOptions { full: args.full, ..Default::default() },
            )?
        }
        (None, Some(session), Some(w), Some(name)) => {
            let report = backup_core::ops::inspect_remote(
                session,
                w,
                name,
                backup_core::ops::InspectOptions { full: args.full, ..Default::default() },
            )
            .await?;
            VerifyOutput {
                file: format!("power-bi-backup/{w}/{name}"),
                valid: report.valid || report.locked(),
                sha256: None,
                expected_sha256: None,
                hash_ok: None,
                container: Some(report),
            }
        }
        _ => {
            return Err(
                Error::Usage("name a local FILE, or --workspace W --file NAME".into()).into()
            );
        }
    };
    // `inspect --json` prints the container report itself, the documented shape.
    match &out.container {
        Some(report) if global.json => print::report(global, report, |_| String::new()),
        _ => print::report(global, &out, human_verify),
    }
}

fn human_verify(v: &VerifyOutput) -> String {
    let state = match &v.container {
        Some(c) if v.valid && c.locked() => {
            "encrypted: readable only with its password, so not checked past its header page"
        }
        _ if v.valid => "valid",
        _ => "NOT VALID",
    };
    let mut s = format!("{}: {state}\n", v.file);
    if let Some(sha) = &v.sha256 {
        s.push_str(&format!("  sha256      {sha}\n"));
    }
    match (v.hash_ok, &v.expected_sha256) {
        (Some(true), _) => s.push_str("  manifest    hash and size match\n"),
        (Some(false), Some(e)) => {
            s.push_str(&format!("  manifest    MISMATCH: the manifest says {e}\n"))
        }
        _ if v.sha256.is_some() => s.push_str("  manifest    none beside the file\n"),
        _ => {}
    }
    if let Some(r) = &v.container {
        let framing = r.format.framing.map_or_else(|| "none recognised".into(), |f| f.to_string());
        s.push_str(&format!("  format      {}, framing {framing}\n", r.format.container));
        s.push_str(&format!("  encrypted   {}\n", if r.encrypted { "yes" } else { "no" }));
        s.push_str(&format!(
            "  database    {} (compatibility level {})\n",
            r.database.name.as_deref().unwrap_or("-"),
            r.database.compatibility_level.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
        ));
        s.push_str(&format!(
            "  files       {} ({} original)\n",
            r.files.len(),
            print::bytes(r.files.iter().map(|f| f.size).sum())
        ));
        for t in &r.tables {
            s.push_str(&format!("  table       {} [{}]\n", t.name, t.partitions.join(", ")));
        }
        for p in &r.problems {
            s.push_str(&format!("  PROBLEM     {p}\n"));
        }
    }
    s
}
