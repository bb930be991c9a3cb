//! One module per subcommand; `run` builds the command's context, runs the command, and prints its report or error.

pub mod backup;
pub mod completions;
pub mod definition;
pub mod doctor;
pub mod drill;
pub mod files;
pub mod prune;
pub mod restore;
pub mod run;
pub mod storage;

use backup_core::config::{ConfigFile, Overrides, Settings};
use backup_core::ops::Context;
use backup_core::ops::Outcome;
use backup_core::{Error, Result};

use crate::cli::{Cli, Command};
use crate::global::Global;
use crate::print;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves settings from the config file and the environment.
pub fn session(global: &Global) -> Result<Context> {
    let found = ConfigFile::find(global.config.as_deref(), &env)?;
    let (path, file) = match found {
        Some((p, f)) => (Some(p), f),
        None => (None, ConfigFile::default()),
    };
    let overrides = Overrides {
        profile: global.rules,
        content_md5: global.content_md5,
        command_timeout: global.command_timeout.map(std::time::Duration::from_secs),
    };
    let settings = Settings::resolve_with(path, file, &env, &overrides)?;
    Ok(Context::with_progress(settings, crate::progress::reporter(global)))
}

/// Runs the command; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    let Cli { global, command } = cli;
    let name = command_name(&command);
    let work = dispatch(&global, command);
    let result = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(Error::Cancelled { what: name.to_owned() }.into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => print::fatal(&global, &e),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Doctor(_) => "doctor",
        Command::Backup(_) => "backup",
        Command::Restore(_) => "restore",
        Command::List(_) => "list",
        Command::Download(_) => "download",
        Command::Upload(_) => "upload",
        Command::Copy(_) => "copy",
        Command::Prune(_) => "prune",
        Command::Run(_) => "run",
        Command::Verify(_) => "verify",
        Command::Inspect(_) => "inspect",
        Command::Definition(_) => "definition",
        Command::Diff(_) => "diff",
        Command::Drill(_) => "drill",
        Command::Storage(_) => "storage change",
        Command::Completions(_) => "completions",
    }
}

async fn dispatch(global: &Global, command: Command) -> Outcome<i32> {
    match command {
        Command::Completions(a) => completions::run(&a, <Cli as clap::CommandFactory>::command()),
        Command::Inspect(a) if a.file.is_some() => files::inspect(global, None, &a).await,
        Command::Doctor(a) => doctor::run(global, &session(global)?, &a).await,
        Command::Backup(a) => backup::run(global, &session(global)?, &a).await,
        Command::Restore(a) => restore::run(global, &session(global)?, &a).await,
        Command::List(a) => files::list(global, &session(global)?, &a).await,
        Command::Download(a) => files::download(global, &session(global)?, &a).await,
        Command::Upload(a) => files::upload(global, &session(global)?, &a).await,
        Command::Copy(a) => files::copy(global, &session(global)?, &a).await,
        Command::Prune(a) => prune::run(global, &session(global)?, &a).await,
        Command::Run(a) => run::run(global, &session(global)?, &a).await,
        Command::Verify(a) => files::verify(global, &session(global)?, &a).await,
        Command::Inspect(a) => files::inspect(global, Some(&session(global)?), &a).await,
        Command::Definition(a) => definition::definition(global, &session(global)?, &a).await,
        Command::Diff(a) => definition::diff(global, &session(global)?, &a).await,
        Command::Drill(a) => drill::run(global, &session(global)?, &a).await,
        Command::Storage(c) => storage::run(global, &session(global)?, &c).await,
    }
}
