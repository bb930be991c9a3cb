//! `cargo xtask demo`: the main job on the embedded default. Starts `pbi-sim` with the demo tenant (state in a
//! fresh temporary folder), then runs, through the real `pbi-backup` binary: a backup of every dataset of one
//! workspace, a list, an offline download, a copy into a second workspace, a restore there, and prints it all.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::sim::Sim;

const SOURCE: &str = "Sales Analytics";
const TARGET: &str = "Sales Analytics (Restore Test)";

pub fn run(sh: &Shell) -> Result<()> {
    println!("== building pbi-backup and the simulators (the first time takes a few minutes)");
    cmd!(sh, "cargo build -p test-fixtures -p backup-cli --bins").run()?;
    let root = std::env::current_dir()?;
    let work = std::env::temp_dir().join(format!("pbi-backup-demo-{}", std::process::id()));
    let state = work.join("sim-state");
    let offline = work.join("offline");
    std::fs::create_dir_all(&offline)?;
    // What no API tells, declared as a user would in pbi-backup.toml (found in the current folder).
    std::fs::write(
        work.join("pbi-backup.toml"),
        "[powerbi]\nhome-region = \"West Europe\"\n\n[storage]\nlocation = \"West Europe\"\n",
    )?;
    let sim_bin = root.join("target/debug/pbi-sim");
    let cli = root.join("target/debug/pbi-backup");
    println!("== starting the Power BI simulator (demo tenant), state in {}", state.display());
    let (_sim, env) = Sim::start(&sim_bin, &state, &[], false)?;
    let run = |args: &[&str]| -> Result<()> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { (*a).to_owned() })
            .collect();
        println!("\n$ pbi-backup {}", shown.join(" "));
        let status = Command::new(&cli)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PBI_BACKUP_NO_PROGRESS", "1")
            .current_dir(&work)
            .status()
            .context("running pbi-backup")?;
        if !status.success() {
            bail!("pbi-backup {} exited with {status}", shown.join(" "));
        }
        Ok(())
    };
    run(&["doctor", "--workspace", SOURCE])?;
    run(&["backup", "--workspace", SOURCE, "--all"])?;
    run(&["list", "--workspace", SOURCE])?;
    let listing = Command::new(&cli)
        .args(["list", "--workspace", SOURCE, "--json"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()?;
    let doc: serde_json::Value =
        serde_json::from_slice(&listing.stdout).context("reading the list as json")?;
    let file = doc["backups"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["dataset"] == "Sales"))
        .and_then(|b| b["name"].as_str())
        .context("the backup of Sales is not listed")?
        .to_owned();
    let offline_str = offline.display().to_string();
    run(&["download", "--workspace", SOURCE, "--file", &file, "--to", &offline_str])?;
    run(&["inspect", &PathBuf::from(&offline).join(&file).display().to_string()])?;
    run(&["copy", "--from-workspace", SOURCE, "--to-workspace", TARGET, "--file", &file])?;
    run(&["restore", "--workspace", TARGET, "--file", &file, "--as", "Sales (restored)"])?;
    println!(
        "\n== done: backups, a verified offline copy in {}, and 'Sales (restored)' in '{TARGET}'",
        offline.display()
    );
    Ok(())
}
