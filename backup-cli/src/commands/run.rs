//! `pbi-backup run`: the policies of the config file, unattended; reports for people and monitoring.

use std::path::{Path, PathBuf};

use backup_core::ops::Outcome;
use backup_core::ops::schedule::Shard;
use backup_core::ops::{Context, RunOptions};
use backup_core::output::{CommandOutput, RunOutput};
use backup_core::{Error, Result};
use clap::Args;

use crate::global::Global;
use crate::print;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run only this policy (repeatable); every [[policy]] of the config file by default.
    #[arg(long = "policy", short = 'p', value_name = "NAME")]
    pub policies: Vec<String>,
    /// Take share K of N of each policy's datasets (chosen by their ids, the same on every machine), so that N
    /// jobs of a scheduler split the tenant: 1/4, 2/4, 3/4, 4/4.
    #[arg(long, value_name = "K/N", env = "PBI_BACKUP_SHARD")]
    pub shard: Option<Shard>,
    /// Skip models unchanged since their last verified backup, in every policy.
    #[arg(long)]
    pub if_changed: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a Markdown summary to this file (for a mail, or a CI job summary such as $GITHUB_STEP_SUMMARY,
    /// which it is appended to when it names that file).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write Prometheus metrics to this file, for node_exporter's textfile collector (replaced whole, never seen
    /// half-written).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// End the run lock of each policy (and shard) before taking it. Only for a run known to be gone: a lock left
    /// by a killed run ends by itself within 60 s.
    #[arg(long)]
    pub break_lock: bool,
}

pub async fn run(global: &Global, session: &Context, args: &RunArgs) -> Outcome<i32> {
    let options = RunOptions {
        policies: args.policies.clone(),
        shard: args.shard,
        if_changed: args.if_changed,
        break_lock: args.break_lock,
    };
    let out = backup_core::ops::run(session, &options).await?;
    if let Some(path) = &args.report {
        let mut json = serde_json::to_string_pretty(&out).expect("reports serialise");
        json.push('\n');
        replace_file(path, &json)?;
    }
    if let Some(path) = &args.summary {
        let text = backup_core::report::markdown(&out);
        if std::env::var_os("GITHUB_STEP_SUMMARY").is_some_and(|s| Path::new(&s) == path) {
            append_file(path, &text)?;
        } else {
            replace_file(path, &text)?;
        }
    }
    if let Some(path) = &args.prometheus {
        replace_file(path, &backup_core::report::prometheus(&out))?;
    }
    print::report(global, &out, human)
}

fn human(out: &RunOutput) -> String {
    let mut s = backup_core::report::markdown(out);
    if out.exit_code() != 0 {
        s.push_str(
            "\nSee the failures above; a rerun does only what is missing for this period.\n",
        );
    }
    s
}

/// Writes `text` as the whole of `path`: into a temporary file beside it (removed if anything fails), synced, then
/// renamed over it, so that a reader (the textfile collector) sees the old file or the new, never part of one.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    if path.file_name().is_none() {
        return Err(Error::Usage(format!(
            "{} is not a file name; name a file to write",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    temporary.write_all(text.as_bytes()).map_err(|e| Error::io(temporary.path(), e))?;
    temporary.as_file().sync_all().map_err(|e| Error::io(temporary.path(), e))?;
    temporary.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn append_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
}
