//! `pbi-backup`: back up and restore Power BI Premium semantic models and Azure Analysis Services databases.
//!
//! Parse, run, print, exit: the work is in backup-core; this crate only reads arguments, prints reports (human text
//! or one JSON document) and exits with the code the report or the error decides (`backup_core::output`).

// The doc comments of the command-line types are `--help` text, where `[...]` and `<...>` are literal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod cli;
mod commands;
#[cfg(test)]
mod deploy_examples;
mod global;
mod print;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // The same parser, told to go on past the error, says whether --json (or PBI_BACKUP_JSON) was asked for.
            let json = <cli::Cli as clap::CommandFactory>::command()
                .ignore_errors(true)
                .try_get_matches()
                .is_ok_and(|m| m.try_get_one::<bool>("json").ok().flatten() == Some(&true));
            return exit(print::usage_error(json, &e));
        }
    };
    print::init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            let error = backup_core::Error::Internal(format!("cannot start the runtime: {e}"));
            return exit(print::fatal(&cli.global, &error.into()));
        }
    };
    exit(runtime.block_on(commands::run(cli)))
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
