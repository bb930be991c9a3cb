//! `pbi-backup backup`, and the password options shared with `restore`.

use std::path::PathBuf;

use backup_core::ops::Outcome;
use backup_core::ops::{BackupOptions, Context, DatasetSelector};
use backup_core::output::{BackupOutcome, BackupOutput, DryRunOutput};
use backup_core::{Endpoint, Error, Result};
use clap::Args;
use xmla_proto::{Password, Security};

use crate::global::Global;
use crate::print;

/// Where to act.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Power BI workspace by name (reaches powerbi://api.powerbi.com/v1.0/myorg/NAME); repeat, or use patterns
    /// like 'Sales*', where the command takes several.
    #[arg(long = "workspace", short = 'w', value_name = "NAME")]
    pub workspaces: Vec<String>,
    /// Any XMLA endpoint instead: powerbi://, asazure:// or https:// (http:// only on loopback).
    #[arg(long, value_name = "URL", conflicts_with = "workspaces")]
    pub server: Option<String>,
}

impl TargetArgs {
    pub fn endpoint(&self) -> Result<Option<Endpoint>> {
        self.server.as_deref().map(Endpoint::parse).transpose()
    }
}

/// Where a backup password comes from: never the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct PasswordArgs {
    /// Read the backup password from this environment variable.
    #[arg(long, value_name = "VAR", group = "password")]
    pub password_env: Option<String>,
    /// Read the backup password from the first line of this file.
    #[arg(long, value_name = "FILE", group = "password")]
    pub password_file: Option<PathBuf>,
    /// Ask for the backup password on the terminal.
    #[arg(long, group = "password")]
    pub password_prompt: bool,
}

impl PasswordArgs {
    pub fn password(&self) -> Result<Option<Password>> {
        if self.password_env.is_some() || self.password_file.is_some() {
            return backup_core::config::read_password(
                self.password_env.as_deref(),
                self.password_file.as_deref(),
            );
        }
        if self.password_prompt {
            let p = rpassword::prompt_password("backup password: ").map_err(|e| {
                Error::Usage(format!("cannot read a password from the terminal: {e}"))
            })?;
            return Ok(Some(Password::new(p)));
        }
        Ok(None)
    }
}

/// Parses `SkipMembership`, `CopyAll`, `IgnoreSecurity`.
pub fn parse_security(s: &str) -> std::result::Result<Security, String> {
    s.parse::<Security>().map_err(|e| e.to_string())
}

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The dataset (semantic model) to back up.
    #[arg(long, short = 'd', value_name = "NAME", conflicts_with_all = ["all", "pattern"])]
    pub dataset: Option<String>,
    /// Every dataset of the workspaces.
    #[arg(long, conflicts_with = "pattern")]
    pub all: bool,
    /// Datasets whose names match these patterns ('Sales*'); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub pattern: Vec<String>,
    /// File name (one dataset only); default <dataset>_<UTC yyyyMMddTHHmmssZ>.abf.
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
    /// Overwrite an existing file of that name.
    #[arg(long)]
    pub allow_overwrite: bool,
    /// Do not compress the backup.
    #[arg(long)]
    pub no_compression: bool,
    /// ASSL Security option (Analysis Services): SkipMembership, CopyAll or IgnoreSecurity.
    #[arg(long, value_parser = parse_security)]
    pub security: Option<Security>,
    /// Backups at once in a bulk run, at most (default: backup.concurrency; unset, as many as the capacities take).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Skip the preflight checks (every rule of `pbi-backup doctor`); the server still enforces its rules.
    #[arg(long)]
    pub skip_preflight: bool,
    /// Take share K of N of the datasets (chosen by their ids, the same on every machine): 1/4 .. 4/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<backup_core::ops::schedule::Shard>,
    /// Skip a model unchanged since its last verified backup (its modified time as the server tells it).
    #[arg(long)]
    pub if_changed: bool,
    /// Print the XMLA/TMSL that would be sent (password masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

pub async fn run(global: &Global, session: &Context, args: &BackupArgs) -> Outcome<i32> {
    let datasets = match (&args.dataset, args.all, args.pattern.is_empty()) {
        (Some(d), _, _) => DatasetSelector::One(d.clone()),
        (None, true, _) => DatasetSelector::All,
        (None, false, false) => DatasetSelector::Patterns(args.pattern.clone()),
        (None, false, true) => {
            return Err(Error::Usage(
                "say what to back up: --dataset NAME, --all, or --pattern GLOB".into(),
            )
            .into());
        }
    };
    let password = args.password.password()?;
    let config = BackupOptions::from(&session.settings.file.backup);
    let options = BackupOptions {
        workspaces: args.target.workspaces.clone(),
        server: args.target.endpoint()?,
        datasets,
        file: args.file.clone(),
        allow_overwrite: args.allow_overwrite,
        apply_compression: config.apply_compression && !args.no_compression,
        password,
        security: args.security,
        concurrency: args.concurrency.map(|n| n.max(1)).or(config.concurrency),
        skip_preflight: args.skip_preflight,
        shard: args.shard,
        skip: backup_core::ops::skip::SkipRules { done_since: None, if_changed: args.if_changed },
        ..config
    };
    if args.if_changed
        && options.server.as_ref().is_some_and(|e| !matches!(e, Endpoint::PowerBi { .. }))
    {
        print::warn(
            global,
            "--if-changed applies to Power BI workspaces (their backup folders hold the manifests it compares with); every database of this server is backed up",
        );
    }
    if args.skip_preflight {
        print::warn(
            global,
            "--skip-preflight: the rules of `pbi-backup doctor` (Premium capacity, storage link, home region, admin role, dataflows-only link) were not checked",
        );
    }
    if args.dry_run {
        let (backups, warnings) = backup_core::ops::backup_dry_run(session, &options).await?;
        warnings.iter().for_each(|w| print::warn(global, w));
        let first = backups.first().map(|b| b.request.clone()).unwrap_or_default();
        let doc = DryRunOutput {
            dry_run: true,
            soap_action: xmla_proto::SOAP_ACTION_EXECUTE.to_owned(),
            request: first,
            plan: None,
            backups,
        };
        return print::report(global, &doc, human_dry_run);
    }
    let out = backup_core::ops::backup(session, &options).await?;
    print::report(global, &out, human)
}

fn human_dry_run(d: &DryRunOutput) -> String {
    let mut s = String::new();
    for b in &d.backups {
        let (workspace, dataset) = (print::one_line(&b.workspace), print::one_line(&b.dataset));
        match &b.skip {
            Some(why) => s.push_str(&format!("would skip   {workspace} / {dataset}: {why}\n")),
            None => s.push_str(&format!(
                "would back up {workspace} / {dataset} -> {}\n",
                print::one_line(&b.file)
            )),
        }
    }
    s.push_str(&d.request);
    s.push('\n');
    s
}

fn human(out: &BackupOutput) -> String {
    let mut s = String::new();
    for r in &out.results {
        let (workspace, dataset) = (print::one_line(&r.workspace), print::one_line(&r.dataset));
        match &r.outcome {
            BackupOutcome::Skipped(why) => {
                s.push_str(&format!("skipped {workspace} / {dataset}: {}\n", print::one_line(why)));
            }
            BackupOutcome::Backed => s.push_str(&format!(
                "ok      {workspace} / {dataset} -> {}{}\n        {}\n",
                print::one_line(&r.file),
                r.size.map(|n| format!(" ({})", print::bytes(n))).unwrap_or_default(),
                r.verification.map_or("", |v| v.describe())
            )),
            BackupOutcome::Failed(e) => {
                let message = print::one_line(&e.message);
                s.push_str(&format!("FAILED  {workspace} / {dataset}: {message}\n"));
            }
        }
        for w in &r.warnings {
            s.push_str(&format!("        warning: {}\n", print::one_line(w)));
        }
    }
    s.push_str(&format!("{} succeeded, {} failed", out.succeeded, out.failed));
    if out.skipped > 0 {
        s.push_str(&format!(", {} skipped", out.skipped));
    }
    s.push('\n');
    s
}
