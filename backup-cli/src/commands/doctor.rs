//! `pbi-backup doctor`.

use backup_core::ops::Context;
use backup_core::ops::Outcome;
use backup_core::output::DoctorOutput;
use backup_core::preflight::{Severity, Status};
use clap::Args;

use crate::global::Global;
use crate::print;

/// Arguments of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Workspaces to check (repeat for several).
    #[arg(long = "workspace", short = 'w', required = true, value_name = "NAME")]
    pub workspaces: Vec<String>,
}

pub async fn run(global: &Global, session: &Context, args: &DoctorArgs) -> Outcome<i32> {
    let out = backup_core::ops::doctor(session, &args.workspaces).await?;
    print::report(global, &out, human)
}

fn human(out: &DoctorOutput) -> String {
    let mut s = format!("storage: {}\nrules:   the {} profile\n", out.storage, out.profile);
    if let Some(who) = &out.signed_in {
        let id = [("oid", &who.oid), ("appid", &who.appid), ("upn", &who.upn)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!("signed in: {} ({id})\n", who.credential));
    }
    let mut current = "";
    for f in &out.findings {
        if f.workspace != current {
            current = &f.workspace;
            s.push_str(&format!("\nworkspace '{current}'\n"));
        }
        let mark = match (f.status, f.severity) {
            (Status::Pass, _) => "ok     ",
            (Status::Unknown, _) => "unknown",
            (Status::Fail, Severity::Block) => "BLOCKED",
            (Status::Fail, Severity::Warn) => "warning",
            (Status::Fail, Severity::Info) => "note   ",
        };
        s.push_str(&format!("  {mark} {:<9} {}\n", f.rule, f.message));
        if let Some(d) = &f.differs {
            let weight = match d.severity {
                Severity::Block => "blocks",
                Severity::Warn => "warns",
                Severity::Info => "is a note",
            };
            s.push_str(&format!(
                "                    under the {} profile this {weight}\n",
                d.profile
            ));
        }
        if !f.remedy.is_empty() && f.status != Status::Pass {
            s.push_str(&format!("                    remedy: {}\n", f.remedy));
        }
    }
    s.push_str(if out.blocked {
        "\nbackup and restore are blocked: fix the BLOCKED rules above\n"
    } else {
        "\nno rule blocks backup or restore\n"
    });
    s
}
