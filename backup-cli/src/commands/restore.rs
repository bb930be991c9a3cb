//! `pbi-backup restore`.

use backup_core::ops::{RestoreOptions, Session};
use backup_core::output::{DryRunOutput, RestoreOutput, exit_codes};
use backup_core::{Error, Result};
use clap::Args;
use xmla_proto::{Command, Method, ReadWriteMode, Request, Security};

use super::backup::{PasswordArgs, TargetArgs, parse_security};
use crate::cli::Global;
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
    #[arg(long, value_name = "NAME", required_unless_present = "latest")]
    pub file: Option<String>,
    /// Restore the newest backup of this dataset.
    #[arg(long, value_name = "DATASET", conflicts_with = "file")]
    pub latest: Option<String>,
    /// Copy the file from this workspace's backup folder into the target's first (needs rights on the storage).
    #[arg(long, value_name = "WORKSPACE")]
    pub from_workspace: Option<String>,
    /// Restore under this name (default: the name in the backup).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Restore over an existing model of that name.
    #[arg(long)]
    pub allow_overwrite: bool,
    /// SkipMembership, CopyAll or IgnoreSecurity (must match the backup on Analysis Services).
    #[arg(long, value_parser = parse_security)]
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
    /// Print the XMLA/TMSL that would be sent (password masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

pub async fn run(global: &Global, session: &Session, args: &RestoreArgs) -> Result<i32> {
    if args.target.workspaces.len() > 1 {
        return Err(Error::Config("restore into one --workspace at a time".into()));
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
    if args.dry_run {
        let Some(file) = &options.file else {
            return Err(Error::Config(
                "--dry-run needs --file (the latest backup is found only when running)".into(),
            ));
        };
        return print_dry_run(global, options.command(file, options.as_name.clone()), None);
    }
    let out = backup_core::ops::restore(session, &options).await?;
    print::emit(global, &out, human);
    let differs = !out.missing_tables.is_empty() || !out.extra_tables.is_empty();
    Ok(if differs { exit_codes::INTEGRITY } else { exit_codes::SUCCESS })
}

/// Prints the request that would be sent, with any password masked.
pub fn print_dry_run(global: &Global, command: Command, catalog: Option<&str>) -> Result<i32> {
    let mut request = Request::execute(command);
    if let Method::Execute(e) = &mut request.method {
        e.properties.catalog = catalog.map(str::to_owned);
    }
    let mut xml = request.to_xml().map_err(Error::Request)?;
    if let Method::Execute(e) = &request.method {
        let password = match &e.command {
            Command::Backup(b, _) => b.password.as_ref(),
            Command::Restore(r, _) => r.password.as_ref(),
            Command::Statement(_) => None,
        };
        if let Some(p) = password {
            // The password appears escaped in XML (and, inside TMSL, JSON-escaped then XML-escaped).
            for form in password_forms(p.expose()) {
                xml = xml.replace(&form, xmla_proto::PASSWORD_MASK);
            }
        }
    }
    let doc =
        DryRunOutput { dry_run: true, soap_action: request.soap_action().to_owned(), request: xml };
    print::emit(global, &doc, |d| format!("{}\n", d.request));
    Ok(exit_codes::SUCCESS)
}

fn password_forms(p: &str) -> Vec<String> {
    let xml_escape = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\r', "&#13;")
    };
    let json = serde_json::to_string(p).unwrap_or_default();
    let json_inner = json.trim_matches('"').to_owned();
    let mut forms = vec![xml_escape(&json_inner), xml_escape(p)];
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

fn human(out: &RestoreOutput) -> String {
    let mut s = String::new();
    if let Some(src) = &out.copied_from {
        s.push_str(&format!("copied  {src} into the folder of '{}'\n", out.workspace));
    }
    s.push_str(&format!("checked {}: {}\n", out.file, out.manifest_check));
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
    for w in &out.warnings {
        s.push_str(&format!("        warning: {w}\n"));
    }
    s
}
