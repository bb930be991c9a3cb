//! `drill`.

use backup_core::ops::{Context, DrillOptions, Outcome};
use backup_core::output::DrillOutput;
use clap::Args;

use crate::global::Global;
use crate::print;

/// Which backups to drill, and where.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The workspace whose backups are drilled.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// One dataset.
    #[arg(
        long,
        short = 'd',
        value_name = "NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub dataset: Option<String>,
    /// Every dataset of the workspace.
    #[arg(long)]
    pub all: bool,
    /// The workspace the scratch models are restored into (and deleted from).
    #[arg(long, value_name = "NAME")]
    pub target_workspace: String,
}

pub async fn run(global: &Global, session: &Context, args: &DrillArgs) -> Outcome<i32> {
    let options = DrillOptions {
        workspace: args.workspace.clone(),
        dataset: args.dataset.clone(),
        target: args.target_workspace.clone(),
    };
    let out = backup_core::ops::drill(session, &options).await?;
    print::report(global, &out, human)
}

fn human(out: &DrillOutput) -> String {
    let mut s = String::new();
    for r in &out.results {
        let verdict = if r.restorable { "restorable" } else { "NOT RESTORABLE" };
        s.push_str(&format!(
            "{} / {}: {verdict} ({}, {:.1} s{})\n",
            print::one_line(&r.workspace),
            print::one_line(&r.dataset),
            r.file.as_deref().map(print::one_line).unwrap_or_else(|| "no backup restored".into()),
            r.duration_ms as f64 / 1000.0,
            if r.scratch_removed { "" } else { ", SCRATCH MODEL LEFT" }
        ));
        for d in r.differences() {
            s.push_str(&format!("  {}\n", print::one_line(d)));
        }
        if let Some(e) = &r.error {
            s.push_str(&format!("  error: {}\n", print::one_line(&e.message)));
        }
    }
    s.push_str(&format!("{} restorable, {} failed\n", out.restorable, out.failed));
    s
}
