//! `pbi-backup prune`.

use backup_core::ops::Outcome;
use backup_core::ops::{Context, PruneOptions};
use backup_core::output::PruneOutput;
use backup_core::retention::RetentionPolicy;
use backup_core::{Error, Result};
use clap::Args;

use crate::global::Global;
use crate::print;

/// Arguments of `prune`. Flags given here replace the whole `[retention]` section of the config file.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Workspaces whose folders to prune (repeatable).
    #[arg(long = "workspace", short = 'w', required = true, value_name = "NAME")]
    pub workspaces: Vec<String>,
    /// Only this dataset's backups.
    #[arg(long, short = 'd', value_name = "NAME")]
    pub dataset: Option<String>,
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours with backups.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days with backups.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N weeks with backups.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months with backups.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years with backups.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every backup newer than this (e.g. 30d, 2w, 1y6m).
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Delete what the policy does not keep (without it, only report).
    #[arg(long)]
    pub apply: bool,
    /// Also delete uploads that never completed (left by a killed process) and were last changed longer ago than
    /// this; "off" leaves them alone. An upload still running may look like one: keep this above your longest upload.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub stale_uploads_after: String,
}

impl PruneArgs {
    fn policy(&self, from_config: &RetentionPolicy) -> Result<RetentionPolicy> {
        let any = self.keep_last.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
            || self.keep_within.is_some();
        if !any {
            return Ok(from_config.clone());
        }
        let keep_within = match &self.keep_within {
            Some(s) => Some(
                backup_core::retention::parse_keep_within(s)
                    .map_err(|e| Error::Usage(format!("--keep-within: {e}")))?,
            ),
            None => None,
        };
        Ok(RetentionPolicy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within,
        })
    }
}

pub async fn run(global: &Global, session: &Context, args: &PruneArgs) -> Outcome<i32> {
    let policy = args.policy(&session.settings.file.retention)?;
    let options = PruneOptions {
        workspaces: args.workspaces.clone(),
        datasets: args.dataset.iter().cloned().collect(),
        policy,
        apply: args.apply,
        spare_after: None,
        stale_uploads_after: match args.stale_uploads_after.as_str() {
            "off" => None,
            s => Some(
                backup_core::retention::parse_keep_within(s)
                    .map_err(|e| Error::Usage(format!("--stale-uploads-after: {e}")))?,
            ),
        },
    };
    let out = backup_core::ops::prune(session, &options).await?;
    print::report(global, &out, human)
}

fn human(out: &PruneOutput) -> String {
    let mut s = String::new();
    for d in &out.decisions {
        if d.keep {
            let (workspace, file) = (print::one_line(&d.workspace), print::one_line(&d.file));
            s.push_str(&format!("keep    {workspace}/{file} ({})\n", d.reasons.join(", ")));
        } else {
            let verb = if out.dry_run { "would delete" } else { "deleted" };
            let (workspace, file) = (print::one_line(&d.workspace), print::one_line(&d.file));
            s.push_str(&format!("{verb} {workspace}/{file}\n"));
        }
    }
    for f in &out.skipped {
        s.push_str(&format!(
            "skipped {f}: no time in its manifest or name, so it is never pruned\n"
        ));
    }
    for u in &out.stale_uploads {
        let verb = if out.dry_run { "would delete" } else { "deleted" };
        let when = u.last_modified.as_deref().unwrap_or("unknown time");
        let size = match u.size {
            Some(n) => crate::print::bytes(n),
            None => "size unknown: the storage lists only flushed bytes".to_owned(),
        };
        s.push_str(&format!(
            "{verb} {} (an upload that never completed, {size}, last changed {when})\n",
            u.location
        ));
    }
    for m in &out.orphan_manifests {
        let verb = if out.dry_run { "would delete" } else { "deleted" };
        s.push_str(&format!("{verb} {m} (a manifest whose backup is gone)\n"));
    }
    for e in &out.failed {
        s.push_str(&format!("FAILED  {}\n", print::one_line(&e.message)));
    }
    let forget = out.decisions.iter().filter(|d| !d.keep).count();
    let stale = out.stale_uploads.len();
    if out.dry_run {
        s.push_str(&format!(
            "dry run: {forget} of {} backups and {stale} stale uploads would be deleted; add --apply to delete them\n",
            out.decisions.len()
        ));
    } else {
        let stale_deleted =
            out.stale_uploads.iter().filter(|u| out.deleted.contains(&u.location)).count();
        let orphans_deleted =
            out.orphan_manifests.iter().filter(|m| out.deleted.contains(m)).count();
        s.push_str(&format!(
            "deleted {} of {} backups and {stale_deleted} of {stale} stale uploads\n",
            out.deleted.len() - stale_deleted - orphans_deleted,
            out.decisions.len()
        ));
    }
    s
}
