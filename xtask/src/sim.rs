//! `pbi-sim` as the xtask tasks run it: started on a state folder, ready once it wrote `connection.env` (the
//! variables that point `pbi-backup` at it), stopped with SIGTERM (it saves, and writes `counters.json`) or killed
//! when dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running `pbi-sim`.
pub(crate) struct Sim {
    child: Child,
    state: PathBuf,
}

impl Sim {
    /// Starts `bin --state STATE ARGS` and waits (up to 120 s) for its `connection.env`; returns it and those
    /// variables. `quiet`: its output is dropped, else it goes to this terminal.
    pub(crate) fn start(
        bin: &Path,
        state: &Path,
        args: &[&str],
        quiet: bool,
    ) -> Result<(Sim, Vec<(String, String)>)> {
        let env_file = state.join("connection.env");
        let _ = std::fs::remove_file(&env_file);
        let output = || if quiet { Stdio::null() } else { Stdio::inherit() };
        let child = Command::new(bin)
            .arg("--state")
            .arg(state)
            .args(args)
            .stdout(output())
            .stderr(output())
            .spawn()
            .context("starting pbi-sim")?;
        let sim = Sim { child, state: state.to_owned() };
        let started = Instant::now();
        while !env_file.exists() {
            if started.elapsed() > Duration::from_secs(120) {
                bail!("pbi-sim did not write {} within 120 s", env_file.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Written whole before the banner; a moment for the write to be complete on disk.
        std::thread::sleep(Duration::from_millis(200));
        let env = std::fs::read_to_string(&env_file)?
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        Ok((sim, env))
    }

    /// Stops it with SIGTERM (it saves and writes its counters) and returns them.
    pub(crate) fn stop(mut self) -> Result<BTreeMap<String, u64>> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        self.child.wait()?;
        let text = std::fs::read_to_string(self.state.join("counters.json"))
            .context("pbi-sim wrote no counters.json")?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
