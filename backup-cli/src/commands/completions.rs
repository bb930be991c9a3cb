//! `pbi-backup completions SHELL` and `pbi-backup completions man`.

use backup_core::output::exit_codes;
use backup_core::{Error, Result};
use clap::{Args, CommandFactory};

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell, elvish, or `man` for the man page.
    pub shell: String,
}

pub fn run(args: &CompletionsArgs) -> Result<i32> {
    let mut cmd = crate::cli::Cli::command();
    let mut out = std::io::stdout();
    if args.shell == "man" {
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| Error::Usage(format!("writing the man page: {e}")))?;
        return Ok(exit_codes::SUCCESS);
    }
    let shell: clap_complete::Shell = args.shell.parse().map_err(|_| {
        Error::Usage(format!(
            "unknown shell '{}'; use bash, zsh, fish, powershell, elvish or man",
            args.shell
        ))
    })?;
    clap_complete::generate(shell, &mut cmd, "pbi-backup", &mut out);
    Ok(exit_codes::SUCCESS)
}
