//! One module per subcommand; `run` builds the session, runs the command, and maps errors to exit codes.

pub mod backup;
pub mod completions;
pub mod doctor;
pub mod files;
pub mod prune;
pub mod restore;
pub mod run;
pub mod storage;

use backup_core::config::{ConfigFile, Settings};
use backup_core::ops::Session;
use backup_core::{Error, Result};

use crate::cli::{Cli, Command, Global};
use crate::print;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves settings from the config file and the environment.
pub fn session(global: &Global) -> Result<Session> {
    let found = ConfigFile::find(global.config.as_deref(), &env)?;
    let (path, mut file) = match found {
        Some((p, f)) => (Some(p), f),
        None => (None, ConfigFile::default()),
    };
    if global.content_md5 {
        file.storage.content_md5 = Some(true);
    }
    let mut settings = Settings::resolve(path, file, &env)?;
    if let Some(profile) = global.rules {
        settings.profile = profile;
    }
    let mut session = Session::with_progress(settings, crate::progress::reporter(global));
    session.command_timeout = global.command_timeout.map(std::time::Duration::from_secs);
    Ok(session)
}

/// Runs the command; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    let Cli { global, command } = cli;
    let name = command_name(&command);
    let work = dispatch(&global, command);
    let result = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(Error::Cancelled { what: name.to_owned() }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            print::fatal(&global, &e);
            e.exit_code()
        }
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
        Command::Storage(_) => "storage change",
        Command::Completions(_) => "completions",
    }
}

async fn dispatch(global: &Global, command: Command) -> Result<i32> {
    match command {
        Command::Completions(a) => completions::run(&a),
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
        Command::Storage(c) => storage::run(global, &session(global)?, &c).await,
    }
}
