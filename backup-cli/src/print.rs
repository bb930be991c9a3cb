//! Printing: one JSON document on stdout with `--json`, text otherwise; logs and errors on stderr. A closed stdout
//! (`pbi-backup list | head`) is not an error.

#![allow(clippy::print_stderr, reason = "the CLI reports errors on its terminal")]

use std::io::Write;

use backup_core::Result;
use backup_core::ops::Failure;
use backup_core::output::{CommandOutput, ErrorInfo, ErrorOutput};
use serde::Serialize;

use crate::global::Global;

/// Crates that log credentials at debug or trace level.
const SECRET_LOGGING_CRATES: &[&str] = &[
    "azure_core",
    "azure_identity",
    "azure_storage",
    "azure_storage_datalake",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "oauth2",
];

/// Sets up logging on stderr, as text or JSON lines, each event with its UTC time: warnings by default, `-v` info,
/// `-vv` debug, `-q` errors only; `PBI_BACKUP_LOG` (else
/// `RUST_LOG`) takes directives instead.
///
/// At debug level the HTTP and Azure crates log requests with their signed Authorization headers and SAS query
/// strings. Secrets never reach a log: whatever the directives say (`azure_core::policies::transport=trace`
/// included), an event of those crates below info is dropped by a filter the directives cannot change.
pub fn init_logging(verbose: u8, quiet: bool, format: crate::global::LogFormat) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let directives = std::env::var("PBI_BACKUP_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| level.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let no_secrets = tracing_subscriber::filter::filter_fn(|meta| {
        let secretive = SECRET_LOGGING_CRATES.iter().any(|c| {
            meta.target() == *c
                || meta.target().strip_prefix(c).is_some_and(|r| r.starts_with("::"))
        });
        !secretive || *meta.level() <= tracing::Level::INFO
    });
    // Colour only for a terminal (and never with NO_COLOR): a redirected log holds no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Every event carries its UTC time (RFC 3339), so a redirected or collected log can be read after the night.
    let timer = tracing_subscriber::fmt::time::UtcTime::rfc_3339();
    let layer = match format {
        crate::global::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_timer(timer)
            .boxed(),
        crate::global::LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_timer(timer)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(no_secrets))
        .try_init();
}

/// Writes to stdout. A closed pipe means the reader has what it wanted and is not an error; any other failure
/// (a full disk behind a redirection) is, so that the run does not exit 0 with its report lost.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(backup_core::Error::io("standard output", e)),
    }
}

/// Prints a report (JSON with `--json`, else the text `human` makes) and returns the run's exit code, which the
/// report decides.
pub fn report<T: CommandOutput, E: From<backup_core::Error>>(
    global: &Global,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> std::result::Result<i32, E> {
    emit(global, value, human)?;
    Ok(value.exit_code())
}

/// A JSON document as stdout takes it: indented for a person at a terminal, one line otherwise (a container's log
/// store, a pipe, a file), so that a line-based collector keeps it whole.
pub fn json_document<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .expect("reports serialise");
    s.push('\n');
    s
}

/// Prints a value: JSON with `--json`, else the text `human` makes.
pub fn emit<T: Serialize>(
    global: &Global,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<()> {
    if global.json {
        write_stdout(&json_document(value))
    } else {
        let text = human(value);
        if text.is_empty() { Ok(()) } else { write_stdout(&terminal_safe(&text)) }
    }
}

/// Text for a terminal: names come from the service and the storage, and a control character (an escape sequence
/// that moves the cursor or recolours the screen) or a bidirectional override (which shows `abf.exe` as `exe.fba`)
/// in one of them must not act on the terminal. Each is shown as `\u{..}`; newlines and tabs stay.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A name (or a message quoting one) from the service, the storage or a file, for one line of text: its line
/// breaks are escaped as `\u{000a}` and `\u{000d}`, so that a dataset named with a newline cannot add a forged row
/// to `list` or a forged line to `backup`'s report. Other control characters and bidirectional overrides are escaped
/// for the whole text by [`terminal_safe`]. JSON keeps names as they are.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\n', '\r']) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace('\n', "\\u{000a}").replace('\r', "\\u{000d}"))
}

/// Prints a failure of the whole command: the JSON error document with `--json`, and always a line on stderr.
/// Returns the exit code the error decides.
pub fn fatal(global: &Global, err: &Failure) -> i32 {
    let doc = ErrorOutput { error: ErrorInfo::from(err) };
    if global.json {
        // The error is said on stderr below whether or not stdout takes the document.
        let _ = emit(global, &doc, |_| String::new());
    }
    eprintln!("error: {}", terminal_safe(&err.to_string()));
    if let Failure::Blocked(blocked) = err {
        for f in blocked.findings.iter().filter(|f| f.blocks()) {
            let line =
                format!("  {} {}: {}\n    remedy: {}", f.rule, f.workspace, f.message, f.remedy);
            eprintln!("{}", terminal_safe(&line));
        }
    }
    doc.exit_code()
}

/// Prints a command-line error: clap's text on stderr, and with `--json` the error document on stdout. Returns the
/// exit code the document decides.
pub fn usage_error(json: bool, err: &clap::Error) -> i32 {
    let doc = ErrorOutput::usage(err.render().to_string().trim().to_owned());
    if json {
        // clap's text follows on stderr whether or not stdout takes the document.
        let _ = write_stdout(&json_document(&doc));
    }
    let _ = err.print();
    doc.exit_code()
}

/// Prints a warning on stderr (not with `-q`).
pub fn warn(global: &Global, text: &str) {
    if !global.quiet {
        eprintln!("warning: {}", terminal_safe(text));
    }
}

/// Human-readable bytes (binary units: `1.50 KiB`).
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
