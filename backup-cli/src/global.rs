//! The options every command takes (`--json`, `-v`, `--config`, `--rules`, ...): read by every command and by
//! printing, apart from the command line's shape in `cli.rs`.

use std::path::PathBuf;

use clap::Args;

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options every command takes, shown under their own heading in every command's help.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true, env = "PBI_BACKUP_JSON", value_parser = clap::builder::FalseyValueParser::new())]
    pub json: bool,
    /// Never draw progress bars.
    #[arg(long, global = true, env = "PBI_BACKUP_NO_PROGRESS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_progress: bool,
    /// More log output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How the log on stderr is written: text (one line per event, with its UTC time) or json (one JSON object per
    /// line: timestamp, level, target, fields), for a platform's log store.
    #[arg(long, global = true, env = "PBI_BACKUP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Give up on one XMLA command after this many seconds. By default a backup or restore is waited for as long as
    /// the server works on it, however many hours.
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub command_timeout: Option<u64>,
    /// Which version of the service's rules the preflight applies: current (the service as documented today:
    /// members and contributors back up, restore as a new model needs admin, multi-geo is advice; the default) or
    /// seed (the 2021 preview: admins only, no multi-geo). Also `[rules] profile` in pbi-backup.toml.
    #[arg(long, global = true, env = "PBI_BACKUP_RULES", value_name = "PROFILE", value_parser = parse_profile)]
    pub rules: Option<backup_core::preflight::Profile>,
    /// Also store each upload's MD5 as its Content-MD5, which azcopy and Storage Explorer check (off by default: MD5
    /// bounds an upload's speed on a fast link; the SHA-256 is always kept). Also `[storage] content-md5 = true`.
    #[arg(long, global = true)]
    pub content_md5: bool,
    /// The configuration file (default: ./pbi-backup.toml, then the user's config folder).
    #[arg(long, global = true, env = "PBI_BACKUP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn parse_profile(s: &str) -> Result<backup_core::preflight::Profile, String> {
    s.parse()
}
