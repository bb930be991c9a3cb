//! The DFS emulator as a standalone server, for people and benchmarks.
//!
//! ```text
//! cargo run -p test-fixtures --bin dfs-emulator -- --port 10004 --root /tmp/dfs
//! ```
//!
//! Options: `--port N` (default 10004; 0 picks a free port), `--root DIR` (required), `--host ADDR` (default
//! 127.0.0.1), `--account NAME` (default devstoreaccount1). The account key is the Azurite well-known key unless the
//! environment variable `DFS_EMULATOR_ACCOUNT_KEY` gives another (never on the command line); the token endpoint's
//! client secret likewise comes from `DFS_EMULATOR_CLIENT_SECRET`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line server reports on its terminal"
)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use test_fixtures::dfs::{DfsEmulator, EmulatorConfig};

const USAGE: &str = "usage: dfs-emulator --root DIR [--port N] [--host ADDR] [--account NAME]";

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
    let mut root: Option<PathBuf> = None;
    let mut port: u16 = 10004;
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut account: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value =
            |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--port" => {
                let v = value("--port")?;
                port =
                    v.parse().map_err(|_| format!("port '{v}' is not a number from 0 to 65535"))?;
            }
            "--host" => {
                let v = value("--host")?;
                host = v.parse().map_err(|_| format!("host '{v}' is not an IP address"))?;
            }
            "--account" => account = Some(value("--account")?),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let root = root.ok_or_else(|| format!("--root is required\n{USAGE}"))?;
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
        tokio::signal::ctrl_c().await.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
        drop(emu);
        Ok(())
    })
}
