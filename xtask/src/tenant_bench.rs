//! `cargo xtask bench tenant`: the unattended job against a tenant of many models that pushes back.
//!
//! pbi-sim serves a bulk tenant (`--bulk-tenant`: 100 workspaces of 10 models on 5 capacities by default, backups
//! taking `size-mb / mb-per-second` seconds, the REST API throttled past `--rest-per-second`) in two shapes, one after
//! the other in one run:
//!
//! - **uniform**: every capacity runs at most `--limit` backups at once, every model is `--size-mb`;
//! - **uneven**: each capacity its own limit (1 to 4), models of many sizes (0.2 to 6 times `--size-mb`), and one
//!   workspace in thirteen on no capacity, which the rules refuse.
//!
//! The client is told none of the limits: the release `pbi-backup` runs one policy over all of it with the default
//! `[backup]` settings:
//!
//! 1. `run`: every eligible model backed up and verified, nothing sent for the refused; the wall time against the
//!    ideal makespan pbi-sim computes from the scenario (`makespan.json`: per capacity its backups' total time over its
//!    limit, the largest), the requests to the Power BI side per backed-up model, the refusals for load, the limits
//!    learned against the real ones, the client's peak RSS and CPU;
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
    uneven: bool,
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
            uneven: false,
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
            "workspaces={} models={} capacities={} limit={} size-mb={} mb-per-second={} rest-per-second={} uneven={}",
            self.workspaces,
            self.models,
            self.capacities,
            self.limit,
            self.size_mb,
            self.mb_per_second,
            self.rest_per_second,
            u8::from(self.uneven)
        )
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
fn prepare(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let work = root.join("target/bench-tenant");
    let _ = std::fs::remove_dir_all(&work);
    let state = work.join("state");
    std::fs::create_dir_all(&state)?;
    // Nothing of the tenant's limits: the defaults, as a user who cannot know them runs it.
    std::fs::write(
        work.join("pbi-backup.toml"),
        "[[policy]]\nname = \"tenant\"\nworkspaces = [\"WS-*\"]\n",
    )?;
    Ok((work, state))
}

pub(crate) fn run(sh: &Shell, args: impl Iterator<Item = String>) -> Result<()> {
    let o = Options::parse(args)?;
    cmd!(sh, "cargo build --release --quiet -p test-fixtures -p backup-cli --bins").run()?;
    let mut failed = Vec::new();
    for uneven in [false, true] {
        let o = Options { uneven, ..o };
        if let Err(e) = one_tenant(sh, &o) {
            failed.push(format!("{}: {e:#}", if uneven { "uneven" } else { "uniform" }));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// The makespan pbi-sim computed from its scenario.
fn makespan(state: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(state.join("makespan.json"))
        .context("pbi-sim wrote no makespan.json")?;
    Ok(serde_json::from_str(&text)?)
}

/// The limits learned per capacity, as `name: learned (real)`.
fn learned(report: &Value, makespan: &Value) -> String {
    let mut out = Vec::new();
    for p in report["policies"].as_array().into_iter().flatten() {
        for c in p["backup"]["capacities"].as_array().into_iter().flatten() {
            let id = c["capacity"].as_str().unwrap_or("");
            let real = makespan["capacities"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["id"].as_str().is_some_and(|m| m.eq_ignore_ascii_case(id)));
            let name = c["name"].as_str().unwrap_or(id);
            out.push(format!(
                "{name}: {} ({}), most sent at once {}, refused {}",
                c["learned"],
                real.map_or_else(|| "?".to_owned(), |r| r["limit"].to_string()),
                c["peak"],
                c["refused_for_load"]
            ));
        }
    }
    out.join("; ")
}

fn one_tenant(sh: &Shell, o: &Options) -> Result<()> {
    let root = sh.current_dir();
    let (work, state) = prepare(&root)?;
    let spec = o.bulk_tenant();
    println!("== tenant: {spec}");
    let bin = root.join("target/release/pbi-sim");
    let start = || Sim::start(&bin, &state, &["--bulk-tenant", &spec], true);

    let (sim, env) = start()?;
    let plan = makespan(&state)?;
    let first = client(&root, &work, &env, &["run"])?;
    let counted = sim.stop()?;
    let (sim, env) = start()?;
    let again = client(&root, &work, &env, &["run", "--if-changed"])?;
    let counted_again = sim.stop()?;
    let (sim, env) = start()?;
    let one = client(&root, &work, &env, &["run", "--shard", "1/2"])?;
    let two = client(&root, &work, &env, &["run", "--shard", "2/2"])?;
    let counted_shards = sim.stop()?;

    let models = u64::from(o.workspaces) * u64::from(o.models);
    let eligible = plan["eligible"].as_u64().unwrap_or(0);
    let refused = plan["refused"].as_u64().unwrap_or(0);
    let ideal = plan["ideal_seconds"].as_f64().unwrap_or(0.0);
    let count = |c: &BTreeMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    let mut halves = datasets(&one.report);
    halves.extend(datasets(&two.report));
    let covered: std::collections::BTreeSet<_> = halves.iter().cloned().collect();
    let r = &first.report;
    let backed = number(r, "backed_up");
    let per_model = count(&counted, "requests") as f64 / backed.max(1) as f64;
    let ratio = ideal / first.wall.as_secs_f64();
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| tenant | {} | {} models in {} workspaces on {} capacities ({} eligible, {} in workspaces the rules refuse); {} MB/s; REST {} calls/s |",
        if o.uneven { "uneven" } else { "uniform" },
        models,
        o.workspaces,
        o.capacities,
        eligible,
        refused,
        o.mb_per_second,
        o.rest_per_second
    );
    println!(
        "| run: backed up, skipped, failed | {}, {}, {} |",
        backed,
        number(r, "skipped"),
        number(r, "failed")
    );
    println!(
        "| run: wall time, ideal makespan, ideal / wall | {:.1} s, {:.1} s, {:.2} |",
        first.wall.as_secs_f64(),
        ideal,
        ratio
    );
    println!(
        "| run: REST calls (per backed-up model), answered 429 | {} ({:.2}), {} |",
        count(&counted, "rest"),
        count(&counted, "rest") as f64 / backed.max(1) as f64,
        count(&counted, "rest-throttled")
    );
    println!(
        "| run: every request to the Power BI side (REST, sign-in, XMLA routing, XMLA) per backed-up model | {per_model:.2} |"
    );
    println!("| run: backups refused for load | {} |", count(&counted, "xmla-throttled"));
    println!("| run: at once per capacity, learned (real) | {} |", learned(r, &plan));
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
    println!();
    judge(&counted, &counted_again, r, &halves, &covered, models, eligible, refused)
}

/// What must hold of a tenant's runs.
#[allow(clippy::too_many_arguments, reason = "one call, the measures of one tenant")]
fn judge(
    counted: &BTreeMap<String, u64>,
    counted_again: &BTreeMap<String, u64>,
    r: &Value,
    halves: &[(String, String)],
    covered: &std::collections::BTreeSet<(String, String)>,
    models: u64,
    eligible: u64,
    refused: u64,
) -> Result<()> {
    let count = |c: &BTreeMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    let backed = number(r, "backed_up");
    let mut failed = Vec::new();
    if backed != eligible || number(r, "failed") != refused {
        failed.push(
            "the run did not back up every eligible model (or failed other than the refused)"
                .to_owned(),
        );
    }
    if count(counted, "backup") != eligible {
        failed.push(format!(
            "the service was sent {} backup commands for {eligible} eligible models",
            count(counted, "backup")
        ));
    }
    if count(counted_again, "backup") != 0 {
        failed.push("the --if-changed rerun sent a backup".to_owned());
    }
    if halves.len() as u64 != models || covered.len() as u64 != models {
        failed.push("the two shards did not cover every model exactly once".to_owned());
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}
