//! `cargo xtask bench tenant`: the unattended job against a tenant of many models that pushes back.
//!
//! pbi-sim serves a bulk tenant (`--bulk-tenant`: 100 workspaces of 10 models on 5 capacities by default, each
//! capacity running at most `--limit` backups at once, backups taking `size-mb / mb-per-second` seconds, the REST API
//! throttled past `--rest-per-second`), and the release `pbi-backup` runs one policy over all of it:
//!
//! 1. `run`: every model backed up and verified; the wall time against the ideal (the sum of the backup durations
//!    divided by the capacities' slots), the REST calls per model, the refusals, the client's peak RSS and CPU;
//! 2. `run --if-changed` right after: nothing may be sent, and it must end in seconds;
//! 3. `run --shard 1/2` and `--shard 2/2`: together they must cover every model exactly once.
//!
//! pbi-sim is restarted on its saved state between the steps, so each step's counters (`counters.json`) are its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::sim::Sim;

struct Options {
    workspaces: u32,
    models: u32,
    capacities: u32,
    limit: u32,
    size_mb: u32,
    mb_per_second: f64,
    rest_per_second: f64,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
        let mut o = Options {
            workspaces: 100,
            models: 10,
            capacities: 5,
            limit: 2,
            size_mb: 100,
            mb_per_second: 100.0,
            rest_per_second: 20.0,
        };
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} needs a value"))?;
            let whole = || value.parse::<u32>().with_context(|| format!("{flag} {value}"));
            match flag.as_str() {
                "--workspaces" => o.workspaces = whole()?,
                "--models" => o.models = whole()?,
                "--capacities" => o.capacities = whole()?.max(1),
                "--limit" => o.limit = whole()?.max(1),
                "--size-mb" => o.size_mb = whole()?,
                "--mb-per-second" => o.mb_per_second = value.parse()?,
                "--rest-per-second" => o.rest_per_second = value.parse()?,
                other => bail!(
                    "unknown option '{other}'; options: --workspaces --models --capacities --limit --size-mb --mb-per-second --rest-per-second"
                ),
            }
        }
        Ok(o)
    }

    fn bulk_tenant(&self) -> String {
        format!(
            "workspaces={} models={} capacities={} limit={} size-mb={} mb-per-second={} rest-per-second={}",
            self.workspaces,
            self.models,
            self.capacities,
            self.limit,
            self.size_mb,
            self.mb_per_second,
            self.rest_per_second
        )
    }

    fn model_count(&self) -> u64 {
        u64::from(self.workspaces) * u64::from(self.models)
    }

    /// The sum of the backup durations divided by the slots of all capacities.
    fn ideal(&self) -> Duration {
        let each = f64::from(self.size_mb) / self.mb_per_second;
        let slots = f64::from(self.capacities * self.limit);
        Duration::from_secs_f64(self.model_count() as f64 * each / slots)
    }
}

/// One `pbi-backup` run under `/usr/bin/time`.
struct Measured {
    report: Value,
    wall: Duration,
    rss_mib: f64,
    cpu_secs: f64,
}

fn client(root: &Path, work: &Path, env: &[(String, String)], args: &[&str]) -> Result<Measured> {
    let times = work.join("time.txt");
    println!("$ pbi-backup {}", args.join(" "));
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M %U %S", "-o"])
        .arg(&times)
        .arg(root.join("target/release/pbi-backup"))
        .args(args)
        .arg("--json")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PBI_BACKUP_NO_PROGRESS", "1")
        .current_dir(work)
        .output()
        .context("running pbi-backup under /usr/bin/time")?;
    let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!("pbi-backup printed no report: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    let text = std::fs::read_to_string(&times)?;
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall, kib, user, system] = fields[..] else { bail!("bad /usr/bin/time output '{text}'") };
    Ok(Measured {
        report,
        wall: Duration::from_secs_f64(wall),
        rss_mib: kib / 1024.0,
        cpu_secs: user + system,
    })
}

fn number(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// The (workspace, dataset) pairs a run reported, skipped or not.
fn datasets(report: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in report["policies"].as_array().into_iter().flatten() {
        for r in p["backup"]["results"].as_array().into_iter().flatten() {
            out.push((
                r["workspace"].as_str().unwrap_or("").to_owned(),
                r["dataset"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// A fresh work folder with the client's configuration (one policy over every workspace, the tenant's limits), and
/// the simulator's state folder in it.
fn prepare(root: &Path, o: &Options) -> Result<(PathBuf, PathBuf)> {
    let work = root.join("target/bench-tenant");
    let _ = std::fs::remove_dir_all(&work);
    let state = work.join("state");
    std::fs::create_dir_all(&state)?;
    let concurrency = o.capacities * o.limit;
    std::fs::write(
        work.join("pbi-backup.toml"),
        format!(
            "[backup]\nconcurrency = {concurrency}\nper-capacity = {}\n\n[[policy]]\nname = \"tenant\"\nworkspaces = [\"WS-*\"]\n",
            o.limit
        ),
    )?;
    Ok((work, state))
}

pub(crate) fn run(sh: &Shell, args: impl Iterator<Item = String>) -> Result<()> {
    let o = Options::parse(args)?;
    cmd!(sh, "cargo build --release --quiet -p test-fixtures -p backup-cli --bins").run()?;
    let root = sh.current_dir();
    let (work, state) = prepare(&root, &o)?;
    let spec = o.bulk_tenant();
    println!("== tenant: {spec}");
    let bin = root.join("target/release/pbi-sim");
    let start = || Sim::start(&bin, &state, &["--bulk-tenant", &spec], true);

    let (sim, env) = start()?;
    let first = client(&root, &work, &env, &["run"])?;
    let counted = sim.stop()?;
    let (sim, env) = start()?;
    let again = client(&root, &work, &env, &["run", "--if-changed"])?;
    let counted_again = sim.stop()?;
    let (sim, env) = start()?;
    let one = client(&root, &work, &env, &["run", "--shard", "1/2"])?;
    let two = client(&root, &work, &env, &["run", "--shard", "2/2"])?;
    let counted_shards = sim.stop()?;

    let models = o.model_count();
    let ideal = o.ideal();
    let count = |c: &BTreeMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    let mut halves = datasets(&one.report);
    halves.extend(datasets(&two.report));
    let covered: std::collections::BTreeSet<_> = halves.iter().cloned().collect();
    let r = &first.report;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| tenant | {} models in {} workspaces on {} capacities; {} backups at once per capacity; {} MB each at {} MB/s; REST {} calls/s |",
        models, o.workspaces, o.capacities, o.limit, o.size_mb, o.mb_per_second, o.rest_per_second
    );
    println!(
        "| run: backed up, skipped, failed | {}, {}, {} |",
        number(r, "backed_up"),
        number(r, "skipped"),
        number(r, "failed")
    );
    println!(
        "| run: wall time, ideal, ideal / wall | {:.1} s, {:.1} s, {:.2} |",
        first.wall.as_secs_f64(),
        ideal.as_secs_f64(),
        ideal.as_secs_f64() / first.wall.as_secs_f64()
    );
    println!(
        "| run: REST calls (per model), answered 429 | {} ({:.2}), {} |",
        count(&counted, "rest"),
        count(&counted, "rest") as f64 / models as f64,
        count(&counted, "rest-throttled")
    );
    println!(
        "| run: every request to the Power BI side, per model (REST, sign-in, XMLA routing, XMLA) | {:.1} |",
        count(&counted, "requests") as f64 / models as f64
    );
    println!("| run: backups refused for load | {} |", count(&counted, "xmla-throttled"));
    println!("| run: client peak RSS, CPU | {:.0} MiB, {:.1} s |", first.rss_mib, first.cpu_secs);
    println!(
        "| run --if-changed after it: backups sent, skipped, wall time | {}, {}, {:.1} s |",
        count(&counted_again, "backup"),
        number(&again.report, "skipped"),
        again.wall.as_secs_f64()
    );
    println!(
        "| --shard 1/2 + 2/2: datasets reported, distinct, of | {}, {}, {} |",
        halves.len(),
        covered.len(),
        models
    );
    println!(
        "| --shard runs: backups sent (all done this period) | {} |",
        count(&counted_shards, "backup")
    );
    let mut failed = Vec::new();
    if number(r, "failed") != 0 || number(r, "backed_up") != models {
        failed.push("the run did not back up every model");
    }
    if count(&counted_again, "backup") != 0 {
        failed.push("the --if-changed rerun sent a backup");
    }
    if halves.len() as u64 != models || covered.len() as u64 != models {
        failed.push("the two shards did not cover every model exactly once");
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}
