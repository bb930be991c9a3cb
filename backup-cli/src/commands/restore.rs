//! `pbi-backup restore`.

use backup_core::Error;
use backup_core::ops::Outcome;
use backup_core::ops::{Context, RestoreOptions};
use backup_core::output::{DryRunOutput, RestoreOutput, RestorePlanOutput};
use clap::Args;
use xmla_proto::{ReadWriteMode, Request, Security};

use super::backup::{PasswordArgs, TargetArgs, parse_security};
use crate::global::Global;
use crate::print;

fn parse_mode(s: &str) -> std::result::Result<ReadWriteMode, String> {
    s.parse::<ReadWriteMode>().map_err(|e| e.to_string())
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The backup file in the workspace's folder.
    #[arg(long, value_name = "NAME", required_unless_present_any = ["latest", "all"])]
    pub file: Option<String>,
    /// Restore the newest backup of this dataset.
    #[arg(long, value_name = "DATASET", conflicts_with = "file")]
    pub latest: Option<String>,
    /// Every dataset with a verified backup in the folder (of --from-workspace, else of the target), each from its
    /// newest verified backup, one report.
    #[arg(long, conflicts_with_all = ["file", "latest", "as_name"])]
    pub all: bool,
    /// Copy the file from this workspace's backup folder into the target's first (needs rights on the storage).
    #[arg(long, value_name = "WORKSPACE")]
    pub from_workspace: Option<String>,
    /// Restore under this name (default: the name in the backup).
    #[arg(long = "as", value_name = "NAME", value_parser = model_name)]
    pub as_name: Option<String>,
    /// Restore over an existing model of that name.
    #[arg(long)]
    pub allow_overwrite: bool,
    /// What becomes of the model's roles: CopyAll keeps the roles and their members, SkipMembership keeps the roles
    /// but drops their members, IgnoreSecurity drops the roles. Default on Power BI: CopyAll (the service's own
    /// default would drop the members); elsewhere the server's default, SkipMembership.
    #[arg(long, value_parser = parse_security, value_name = "MODE")]
    pub security: Option<Security>,
    /// ReadWrite, ReadOnly or ReadOnlyExclusive.
    #[arg(long, value_parser = parse_mode)]
    pub read_write_mode: Option<ReadWriteMode>,
    /// Power BI: drop roles without read permission instead of failing.
    #[arg(long)]
    pub ignore_incompatibilities: bool,
    /// Power BI: restore with the existing model unloaded (offline) when memory is short.
    #[arg(long)]
    pub force_restore: bool,
    /// Restore a file that has no manifest to verify it against.
    #[arg(long)]
    pub allow_unverified: bool,
    /// Skip the preflight checks; the server still enforces its rules.
    #[arg(long)]
    pub skip_preflight: bool,
    /// Check everything a restore checks (the file against its manifest, its container, every rule) and print
    /// the plan and the XMLA/TMSL it would send (password masked); copy and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

pub async fn run(global: &Global, session: &Context, args: &RestoreArgs) -> Outcome<i32> {
    if args.target.workspaces.len() > 1 {
        return Err(Error::Usage("restore into one --workspace at a time".into()).into());
    }
    let options = RestoreOptions {
        workspace: args.target.workspaces.first().cloned(),
        server: args.target.endpoint()?,
        file: args.file.clone(),
        latest: args.latest.clone(),
        from_workspace: args.from_workspace.clone(),
        as_name: args.as_name.clone(),
        allow_overwrite: args.allow_overwrite,
        security: args.security,
        read_write_mode: args.read_write_mode,
        ignore_incompatibilities: args.ignore_incompatibilities,
        force_restore: args.force_restore,
        password: args.password.password()?,
        skip_preflight: args.skip_preflight,
        allow_unverified: args.allow_unverified,
    };
    if args.skip_preflight {
        print::warn(global, "--skip-preflight: the rules of `pbi-backup doctor` were not checked");
    }
    if args.all {
        if args.dry_run {
            let plans = backup_core::ops::plan_restore_all(session, &options).await?;
            let out = backup_core::output::RestoreAllPlanOutput { dry_run: true, plans };
            return print::report(global, &out, |o| {
                format!("{} restores planned; --json shows them\n", o.plans.len())
            });
        }
        let out = backup_core::ops::restore_all(session, &options).await?;
        return print::report(global, &out, human_all);
    }
    let plan = backup_core::ops::plan_restore(session, &options).await?;
    if args.dry_run {
        return print_dry_run(global, &plan.request(), Some(plan.output()));
    }
    let out = backup_core::ops::execute(session, plan).await?;
    print::report(global, &out, human)
}

/// Prints the request that would be sent, its password masked, and for a restore the plan.
fn human_all(out: &backup_core::output::RestoreAllOutput) -> String {
    let mut s = String::new();
    for r in &out.results {
        match (&r.restore, &r.error) {
            (_, Some(e)) => s.push_str(&format!(
                "{}: FAILED: {}\n",
                print::one_line(&r.dataset),
                print::one_line(&e.message)
            )),
            (Some(o), None) if r.ok() => s.push_str(&format!(
                "{}: restored from {}\n",
                print::one_line(&r.dataset),
                print::one_line(&o.file)
            )),
            (Some(o), None) => s.push_str(&format!(
                "{}: restored from {}, but it differs from its backup\n",
                print::one_line(&r.dataset),
                print::one_line(&o.file)
            )),
            (None, None) => {}
        }
    }
    s.push_str(&format!("{} restored, {} failed\n", out.restored, out.failed));
    s
}

pub fn print_dry_run(
    global: &Global,
    request: &Request,
    plan: Option<RestorePlanOutput>,
) -> Outcome<i32> {
    let xml = request.to_xml_masked().map_err(Error::Request)?;
    let doc = DryRunOutput {
        dry_run: true,
        soap_action: request.soap_action().to_owned(),
        request: xml,
        plan,
        backups: Vec::new(),
    };
    print::report(global, &doc, human_dry_run)
}

fn human_dry_run(d: &DryRunOutput) -> String {
    let mut s = String::new();
    if let Some(p) = &d.plan {
        if let Some(src) = &p.copy_from {
            s.push_str(&format!("would copy {src} into the folder of '{}'\n", p.workspace));
        }
        s.push_str(&format!("checked    {}: {}\n", p.file, p.manifest_check.describe()));
        let what = match p.replaces_existing {
            Some(true) => "replacing the model of that name",
            Some(false) => "as a new model",
            None => "(whether a model of that name exists was not asked)",
        };
        s.push_str(&format!(
            "would restore '{}' into '{}' {what}\n",
            p.database.as_deref().unwrap_or("(the name in the backup)"),
            p.workspace
        ));
        for w in &p.warnings {
            s.push_str(&format!("           warning: {w}\n"));
        }
        s.push_str("the request it would send:\n");
    }
    s.push_str(&d.request);
    s.push('\n');
    s
}

fn human(out: &RestoreOutput) -> String {
    let mut s = String::new();
    if let Some(src) = &out.copied_from {
        s.push_str(&format!("copied  {src} into the folder of '{}'\n", out.workspace));
    }
    s.push_str(&format!("checked {}: {}\n", out.file, out.manifest_check.describe()));
    s.push_str(&format!(
        "ok      restored '{}' into '{}' from {}\n",
        out.database, out.workspace, out.file
    ));
    if out.tables_compared {
        if out.missing_tables.is_empty() && out.extra_tables.is_empty() {
            s.push_str("        tables match the backup's manifest\n");
        } else {
            s.push_str(&format!(
                "DIFFERS tables missing: [{}]; tables not in the backup: [{}]\n",
                out.missing_tables.join(", "),
                out.extra_tables.join(", ")
            ));
        }
    }
    if out.roles_compared && out.role_differences.is_empty() {
        s.push_str("        roles match the backup's manifest\n");
    }
    if out.row_counts_compared && out.row_count_differences.is_empty() {
        s.push_str("        row counts match the backup's manifest\n");
    }
    for d in out.role_differences.iter().chain(&out.row_count_differences) {
        s.push_str(&format!("DIFFERS {d}\n"));
    }
    for w in &out.warnings {
        s.push_str(&format!("        warning: {w}\n"));
    }
    s
}

/// A name for the restored model: refused when it starts or ends with a space or holds a control character, which
/// the service would keep and nobody could type again.
fn model_name(s: &str) -> std::result::Result<String, String> {
    if s.trim().is_empty() {
        return Err("a model needs a name".into());
    }
    if s.trim() != s {
        return Err(format!("'{s}' starts or ends with a space; give the name without it"));
    }
    if s.chars().any(char::is_control) {
        return Err("the name holds a control character (a newline, a tab); give it without".into());
    }
    Ok(s.to_owned())
}
