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
    /// With `man`: the subcommand whose own page to write (`pbi-backup-<subcommand>(1)`) instead of the top-level one.
    pub subcommand: Option<String>,
    /// With `man`: list the subcommands that have a page of their own, one per line.
    #[arg(long, conflicts_with = "subcommand")]
    pub list: bool,
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
        Target::Man if args.list => {
            for name in pages(&cmd) {
                text.extend_from_slice(format!("{name}\n").as_bytes());
            }
        }
        Target::Man => {
            let page = page_of(&cmd, args.subcommand.as_deref())?;
            man_page(&page, &mut text)
                .map_err(|e| Error::Usage(format!("writing the man page: {e}")))?;
        }
        Target::Shell(_) if args.subcommand.is_some() || args.list => {
            return Err(Error::Usage(
                "a subcommand or --list goes with 'man' only: pbi-backup completions man backup"
                    .into(),
            )
            .into());
        }
        Target::Shell(shell) => clap_complete::generate(shell, &mut cmd, "pbi-backup", &mut text),
    }
    crate::print::write_stdout(&String::from_utf8_lossy(&text))?;
    Ok(Written.exit_code())
}

/// The subcommands with a page of their own (every one but `help`).
fn pages(cmd: &clap::Command) -> Vec<String> {
    cmd.get_subcommands().map(|c| c.get_name().to_owned()).filter(|n| n != "help").collect()
}

/// The command a page describes: the whole tool, or one subcommand as `pbi-backup-<name>` with the global options
/// it takes and the tool's version.
fn page_of(cmd: &clap::Command, subcommand: Option<&str>) -> Result<clap::Command, Error> {
    let Some(name) = subcommand else { return Ok(cmd.clone()) };
    let mut built = cmd.clone();
    built.build();
    let sub = built.find_subcommand(name).cloned().ok_or_else(|| {
        Error::Usage(format!(
            "'{name}' is not a subcommand of pbi-backup; 'pbi-backup completions man --list' lists them"
        ))
    })?;
    let mut page = sub.name(format!("pbi-backup-{name}")).bin_name(format!("pbi-backup {name}"));
    if let Some(v) = cmd.get_version() {
        page = page.version(v.to_owned());
    }
    Ok(page)
}

/// The man page: clap_mangen's sections, then EXIT STATUS (every documented exit code) and ENVIRONMENT (every variable
/// an option reads, from the command line's own definition).
fn man_page(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Write as _;
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in backup_core::output::exit_status_meanings() {
        writeln!(out, ".TP\n{code}\n{}", roff_text(meaning))?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    for (name, help) in environment(cmd) {
        writeln!(out, ".TP\n{name}\n{}", roff_text(&help))?;
    }
    writeln!(
        out,
        ".TP\nAZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET\nThe service principal that signs in (secrets come from the environment or files, never arguments)."
    )
}

/// Every `env` an option of `cmd` or of its subcommands reads, with the first line of its help, once each.
fn environment(cmd: &clap::Command) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut stack = vec![cmd];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|n| n.to_str())
                && !found.iter().any(|(n, _)| n == name)
            {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                found.push((name.to_owned(), help.lines().next().unwrap_or_default().to_owned()));
            }
        }
        stack.extend(c.get_subcommands());
    }
    found.sort();
    found
}

/// Text for a roff paragraph: a leading dot or quote would be read as a request.
fn roff_text(text: &str) -> String {
    let t = text.replace('\\', "\\e");
    if t.starts_with('.') || t.starts_with('\'') { format!("\\&{t}") } else { t }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_man_page_has_exit_status_and_environment() {
        let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        let mut out = Vec::new();
        super::man_page(&cmd, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        let status = page.split(".SH \"EXIT STATUS\"").nth(1).expect("an EXIT STATUS section");
        for (code, _) in backup_core::output::exit_status_meanings() {
            assert!(status.contains(&format!(".TP\n{code}\n")), "exit code {code} missing");
        }
        let environment = page.split(".SH ENVIRONMENT").nth(1).expect("an ENVIRONMENT section");
        for name in
            ["PBI_BACKUP_JSON", "PBI_BACKUP_RULES", "PBI_BACKUP_LOG_FORMAT", "PBI_BACKUP_SHARD"]
        {
            assert!(environment.contains(name), "{name} missing");
        }
    }

    #[test]
    fn every_subcommand_has_a_page_with_its_options_exit_status_and_environment() {
        let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        let names = super::pages(&cmd);
        assert!(names.len() > 10 && names.iter().any(|n| n == "backup"), "{names:?}");
        for name in &names {
            let page = super::page_of(&cmd, Some(name)).unwrap();
            let mut out = Vec::new();
            super::man_page(&page, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(&format!(".TH pbi-backup-{name} 1")), "{name}: {text}");
            assert!(
                text.contains(".SH \"EXIT STATUS\"") && text.contains(".SH ENVIRONMENT"),
                "{name}"
            );
            // A global option reaches every page, with the variable it reads.
            assert!(text.contains("PBI_BACKUP_JSON"), "{name}: the global --json is missing");
        }
        let page = |name: &str| {
            let mut out = Vec::new();
            super::man_page(&super::page_of(&cmd, Some(name)).unwrap(), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        // Each page has its own options and the variables they read.
        assert!(page("backup").contains("\\-\\-dataset"));
        assert!(
            page("run").contains("PBI_BACKUP_SHARD")
                && !page("backup").contains("PBI_BACKUP_SHARD")
        );
        assert!(super::page_of(&cmd, Some("bakup")).is_err());
    }
}
