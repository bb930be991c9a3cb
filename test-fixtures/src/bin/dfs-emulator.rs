//! The DFS emulator as a standalone server, for people and benchmarks.
//!
//! ```text
//! cargo run -p test-fixtures --bin dfs-emulator -- --port 10004 --root /tmp/dfs
//! ```
//!
//! Options: `--port N` (default 10004; 0 picks a free port), `--root DIR` (required), `--host ADDR` (default
//! 127.0.0.1), `--account NAME` (default devstoreaccount1). Fault switches, each repeatable, for trying a client
//! against a failing service: `--fault OP:STATUS[:TIMES]` (503 carries `Retry-After: 1`), `--delay OP:MS[:TIMES]`,
//! `--cut-response OP:BYTES[:TIMES]` (the answer breaks off after that many bytes), `--page-size N` (list pages).
//! OP is one of any, filesystem, create, append, flush, set-properties, read, head, list, rename, delete, token;
//! TIMES defaults to 1. It stops cleanly (saving its namespace) on Ctrl-C or SIGTERM, and a kill loses nothing it
//! acknowledged: every write is saved before it is answered. The account key is the Azurite well-known key unless the
//! environment variable `DFS_EMULATOR_ACCOUNT_KEY` gives another (never on the command line); the token endpoint's
//! client secret likewise comes from `DFS_EMULATOR_CLIENT_SECRET`.

// The doc comments of the argument types are `--help` text, where `[...]` is literal, not a link.
#![allow(rustdoc::broken_intra_doc_links)]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line server reports on its terminal"
)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use test_fixtures::dfs::{DfsEmulator, EmulatorConfig, Fault, Op};

/// ADLS Gen2's DFS endpoint (and the Blob calls of its peers) on loopback, files under `--root`.
#[derive(Debug, clap::Parser)]
#[command(name = "dfs-emulator", version)]
struct Args {
    /// The folder that holds the accounts' files and namespace.
    #[arg(long)]
    root: PathBuf,
    /// The port (0: any free port).
    #[arg(long, default_value_t = 10004)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The storage account's name (default devstoreaccount1).
    #[arg(long)]
    account: Option<String>,
    /// OP:STATUS[:TIMES]: answer that many requests of kind OP with STATUS (503 carries `Retry-After: 1`).
    #[arg(long, value_name = "OP:STATUS[:TIMES]")]
    fault: Vec<String>,
    /// OP:MS[:TIMES]: delay that many requests of kind OP.
    #[arg(long, value_name = "OP:MS[:TIMES]")]
    delay: Vec<String>,
    /// OP:BYTES[:TIMES]: break that many answers off after BYTES.
    #[arg(long, value_name = "OP:BYTES[:TIMES]")]
    cut_response: Vec<String>,
    /// The most entries in a page of a listing.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    page_size: Option<u64>,
}

/// The fault switches in the order given on the command line (a request meets the first rule that matches it).
fn faults_in_order(matches: &clap::ArgMatches) -> Result<Vec<(Op, Fault, u32)>, String> {
    let mut ordered: Vec<(usize, Op, Fault, u32)> = Vec::new();
    for flag in ["fault", "delay", "cut_response"] {
        let (Some(values), Some(indices)) =
            (matches.get_many::<String>(flag), matches.indices_of(flag))
        else {
            continue;
        };
        let name = format!("--{}", flag.replace('_', "-"));
        for (text, index) in values.zip(indices) {
            let (op, value, times) = switch(&name, text)?;
            let fault = match flag {
                "fault" => status_fault(value)?,
                "delay" => Fault::Delay(std::time::Duration::from_millis(value)),
                _ => Fault::CutResponseBody { after_bytes: value },
            };
            ordered.push((index, op, fault, times));
        }
    }
    ordered.sort_by_key(|(index, ..)| *index);
    Ok(ordered.into_iter().map(|(_, op, fault, times)| (op, fault, times)).collect())
}

/// A fault switch from the command line: `OP:VALUE[:TIMES]`.
fn switch(flag: &str, text: &str) -> Result<(Op, u64, u32), String> {
    let bad = |why: &str| format!("{flag} '{text}': {why}; the form is OP:VALUE[:TIMES]");
    let mut parts = text.split(':');
    let op = match parts.next().unwrap_or_default() {
        "any" => Op::Any,
        "filesystem" => Op::Filesystem,
        "create" => Op::Create,
        "append" => Op::Append,
        "flush" => Op::Flush,
        "set-properties" => Op::SetProperties,
        "read" => Op::Read,
        "head" => Op::Head,
        "list" => Op::List,
        "rename" => Op::Rename,
        "delete" => Op::Delete,
        "token" => Op::Token,
        other => return Err(bad(&format!("'{other}' is not a kind of request"))),
    };
    let value = parts.next().ok_or_else(|| bad("no value"))?;
    let value: u64 = value.parse().map_err(|_| bad(&format!("'{value}' is not a number")))?;
    let times = match parts.next() {
        Some(t) => t.parse().map_err(|_| bad(&format!("'{t}' is not a count")))?,
        None => 1,
    };
    if parts.next().is_some() {
        return Err(bad("too many parts"));
    }
    Ok((op, value, times))
}

/// The fault a `--fault OP:STATUS` switch injects.
fn status_fault(status: u64) -> Result<Fault, String> {
    match status {
        503 => Ok(Fault::busy(1)),
        500 => Ok(Fault::internal()),
        400..=599 => Ok(Fault::Status {
            status: u16::try_from(status).unwrap_or(500),
            code: "InjectedFault",
            retry_after: None,
        }),
        other => Err(format!("--fault: {other} is not an HTTP error status (400 to 599)")),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dfs-emulator: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    let faults = faults_in_order(&matches)?;
    let Args { root, port, host, account, page_size, .. } = args;
    let mut config = EmulatorConfig::new(root);
    config.addr = SocketAddr::new(host, port);
    if let Some(account) = account {
        config.account = account;
    }
    if let Ok(key) = std::env::var("DFS_EMULATOR_ACCOUNT_KEY") {
        config.account_key = key;
    }
    if let Ok(secret) = std::env::var("DFS_EMULATOR_CLIENT_SECRET") {
        config.client_secret = secret;
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let emu = DfsEmulator::start_with(config).await.map_err(|e| format!("cannot listen: {e}"))?;
        for (op, fault, times) in faults {
            emu.faults().inject(op, fault, times);
        }
        emu.faults().set_page_size(page_size.and_then(|n| usize::try_from(n).ok()));
        // One write, errors ignored: whoever started us may stop reading after the first line.
        let banner = format!(
            "dfs-emulator listening on {}\n  endpoint:       {}\n  account:        {}\n  token endpoint: {}<tenant>/oauth2/v2.0/token\n  auth:           SharedKey (account key from DFS_EMULATOR_ACCOUNT_KEY or the Azurite key), SAS, bearer\n",
            emu.addr(),
            emu.endpoint(),
            emu.account(),
            emu.authority_host()
        );
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(banner.as_bytes());
            let _ = out.flush();
        }
        let signal = test_fixtures::stop_signal()
            .await
            .map_err(|e| format!("cannot wait for a signal: {e}"))?;
        emu.save().map_err(|e| format!("stopped by {signal}, but the namespace was not saved: {e}"))?;
        eprintln!("dfs-emulator: stopped by {signal}; namespace saved");
        drop(emu);
        Ok(())
    })
}
