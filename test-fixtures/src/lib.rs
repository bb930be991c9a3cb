//! Simulators for tests and demos: the Power BI service (pbi-sim) and ADLS Gen2 DFS (dfs-emulator).
//!
//! - [`dfs`]: an ADLS Gen2 DFS endpoint on loopback, files on disk, SharedKey checked for real, with fault injection.
//! - [`pbi_sim`]: the Power BI service (Entra tokens, the REST subset, XMLA routing and endpoints, the backup rules).
//! - [`tenant`]: the test tenant the crates' tests start (pbi-sim and its storage from a scenario, on loopback).

pub mod certs;
pub mod dfs;
pub mod pbi_sim;
pub mod tenant;
mod tls;

/// Waits for Ctrl-C or SIGTERM (what `kill`, systemd and container runtimes send), for the servers' binaries to stop
/// cleanly: each saves its state before it exits.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub async fn stop_signal() -> std::io::Result<&'static str> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT"),
        _ = term.recv() => Ok("SIGTERM"),
    }
}
