//! `pbi-backup completions SHELL` and `pbi-backup completions man`.

use backup_core::Error;
use backup_core::ops::Outcome;
use backup_core::output::{CommandOutput, Written};
use clap::Args;

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in, or `man` for the man page.
    pub shell: Target,
}

/// What `completions` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Shell completions.
    Shell(clap_complete::Shell),
    /// The man page.
    Man,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "man" {
            return Ok(Target::Man);
        }
        clap::ValueEnum::from_str(s, true).map(Target::Shell).map_err(|_| {
            format!("unknown shell '{s}'; use bash, zsh, fish, powershell, elvish or man")
        })
    }
}

/// Writes the completions or the man page to stdout (a reader that closes early, as `| head` does, is not an error).
pub fn run(args: &CompletionsArgs, mut cmd: clap::Command) -> Outcome<i32> {
    let mut text = Vec::new();
    match args.shell {
        Target::Man => clap_mangen::Man::new(cmd)
            .render(&mut text)
            .map_err(|e| Error::Usage(format!("writing the man page: {e}")))?,
        Target::Shell(shell) => clap_complete::generate(shell, &mut cmd, "pbi-backup", &mut text),
    }
    crate::print::write_stdout(&String::from_utf8_lossy(&text))?;
    Ok(Written.exit_code())
}
