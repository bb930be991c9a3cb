//! What a `run` leaves for people and monitoring besides its JSON report: a Markdown summary (fit for a mail or a CI
//! job summary) and a Prometheus text file for node_exporter's textfile collector. Both are rendered from
//! [`RunOutput`] alone; the CLI writes them. prometheus-client writes the exposition format; label values are escaped
//! here (it does not escape them).

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::output::{BackupOutcome, BackupResult, PolicyDrill, RunOutput};
use super::pacing::CapacityPace;

/// The Markdown summary: totals, then a table of every dataset that failed, then one of what each policy did.
pub fn markdown(run: &RunOutput) -> String {
    let mut s = String::new();
    let verdict = match (run.failed, run.backed_up + run.skipped) {
        (0, _) => "succeeded",
        (_, 0) => "FAILED",
        _ => "partly failed",
    };
    let _ = writeln!(s, "# pbi-backup run {verdict}\n");
    let _ = writeln!(
        s,
        "{} backed up and verified, {} skipped, {} failed; started {}, took {}.{}\n",
        run.backed_up,
        run.skipped,
        run.failed,
        run.started,
        seconds(run.duration_ms),
        run.shard.as_ref().map(|k| format!(" Shard {k}.")).unwrap_or_default()
    );
    failures_table(run, &mut s);
    let _ = writeln!(
        s,
        "## Policies\n\n| policy | backed up | skipped | failed | pruned | took |\n|---|---|---|---|---|---|"
    );
    for p in &run.policies {
        let (ok, skipped, failed) =
            p.backup.as_ref().map_or((0, 0, 0), |b| (b.succeeded, b.skipped, b.failed));
        let pruned: usize = p.pruned.iter().map(|pr| pr.deleted.len()).sum();
        let _ = writeln!(
            s,
            "| {} | {ok} | {skipped} | {failed} | {pruned} | {} |",
            cell(&p.name),
            seconds(p.duration_ms)
        );
    }
    drills_table(run, &mut s);
    capacities_table(run, &mut s);
    s
}

/// Every failure of the run: failed drills first (a backup that did not restore is the worst news a night can
/// bring), then datasets whose backup failed, then the rest.
fn failures_table(run: &RunOutput, s: &mut String) {
    let failures: Vec<(&str, &BackupResult)> = run
        .policies
        .iter()
        .flat_map(|p| {
            p.backup.iter().flat_map(move |b| {
                b.results.iter().filter(|r| r.error().is_some()).map(move |r| (p.name.as_str(), r))
            })
        })
        .collect();
    let other_errors: Vec<(&str, String)> = run
        .policies
        .iter()
        .flat_map(|p| {
            let name = p.name.as_str();
            p.errors
                .iter()
                .chain(&p.verify_failed)
                .chain(p.pruned.iter().flat_map(|pr| &pr.failed))
                .map(move |e| (name, e.message.clone()))
                .chain(
                    p.verified
                        .iter()
                        .filter(|v| !v.valid)
                        .map(move |v| (name, format!("{} did not pass verification", v.file))),
                )
        })
        .collect();
    let failed_drills: Vec<(&str, &PolicyDrill)> = run
        .policies
        .iter()
        .flat_map(|p| {
            p.drills.iter().filter(|d| d.failed().is_some()).map(move |d| (p.name.as_str(), d))
        })
        .collect();
    if !failures.is_empty() || !other_errors.is_empty() || !failed_drills.is_empty() {
        let _ = writeln!(
            s,
            "## Failures\n\n| policy | workspace | dataset | error |\n|---|---|---|---|"
        );
        for (policy, d) in &failed_drills {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(policy),
                cell(&d.workspace),
                cell(&d.dataset),
                cell(&d.failure().unwrap_or_default())
            );
        }
        for (policy, r) in failures {
            let e = r.error().map(|e| e.message.as_str()).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(policy),
                cell(&r.workspace),
                cell(&r.dataset),
                cell(e)
            );
        }
        for (policy, e) in other_errors {
            let _ = writeln!(s, "| {} | | | {} |", cell(policy), cell(&e));
        }
        s.push('\n');
    }
}

/// Per policy, each dataset it drills: failed drills first, then passed ones, then those not due.
fn drills_table(run: &RunOutput, s: &mut String) {
    // The verdicts in the order they are listed.
    let mut rows: Vec<((u8, &str), &str, &PolicyDrill)> = run
        .policies
        .iter()
        .flat_map(|p| {
            p.drills.iter().map(move |d| {
                let verdict = match &d.drill {
                    Some(r) if !r.restorable => (0, "FAILED"),
                    Some(_) => (1, "passed"),
                    None => (2, "not due"),
                };
                (verdict, p.name.as_str(), d)
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by_key(|((rank, _), _, _)| *rank);
    let _ = writeln!(
        s,
        "\n## Drills\n\n| policy | workspace | dataset | drill | last passed |\n|---|---|---|---|---|"
    );
    for ((_, verdict), policy, d) in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {verdict} | {} |",
            cell(policy),
            cell(&d.workspace),
            cell(&d.dataset),
            d.last_passed.as_deref().unwrap_or("never")
        );
    }
}

/// Per policy and capacity: the backups at once it started with, learned and ran at most, and its refusals.
fn capacities_table(run: &RunOutput, s: &mut String) {
    let capacities: Vec<(&str, &CapacityPace)> = run
        .policies
        .iter()
        .flat_map(|p| {
            p.backup
                .iter()
                .flat_map(move |b| b.capacities.iter().map(move |c| (p.name.as_str(), c)))
        })
        .collect();
    if !capacities.is_empty() {
        let _ = writeln!(
            s,
            "\n## Capacities\n\n| policy | capacity | at once: started, learned, most | refused for load |\n|---|---|---|---|"
        );
        for (policy, c) in capacities {
            let _ = writeln!(
                s,
                "| {} | {} | {}, {}, {} | {} |",
                cell(policy),
                cell(c.name.as_deref().unwrap_or(&c.capacity)),
                c.start,
                c.learned,
                c.peak,
                c.refused_for_load
            );
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatasetLabels {
    policy: String,
    workspace: String,
    dataset: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    policy: String,
    workspace: String,
    dataset: String,
    result: String,
}

/// The run's own series carry its shard (`1/4`; empty when not split), so that the files of two shards collected on
/// one machine do not repeat a series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TotalLabels {
    shard: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapacityLabels {
    policy: String,
    capacity: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    shard: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// The Prometheus text file: per dataset its last success time, size, duration and result; the run's totals and
/// times. A dataset that failed keeps no success time here (the collector then reports none: alert on its absence or
/// on `pbi_backup_result{result="failed"}`).
pub fn prometheus(run: &RunOutput) -> String {
    let mut registry = Registry::with_prefix("pbi_backup");
    let last_success = Family::<DatasetLabels, F64Gauge>::default();
    let size = Family::<DatasetLabels, F64Gauge>::default();
    let duration = Family::<DatasetLabels, F64Gauge>::default();
    let result = Family::<ResultLabels, F64Gauge>::default();
    let totals = Family::<TotalLabels, F64Gauge>::default();
    let run_time = Family::<RunLabels, F64Gauge>::default();
    let run_duration = Family::<RunLabels, F64Gauge>::default();
    let concurrency = Family::<CapacityLabels, F64Gauge>::default();
    let last_drill = Family::<DatasetLabels, F64Gauge>::default();
    registry.register(
        "last_success_timestamp_seconds",
        "When the newest verified backup of the dataset was made (Unix time)",
        last_success.clone(),
    );
    registry.register("size_bytes", "Size of the backup this run made, in bytes", size.clone());
    registry.register(
        "duration_seconds",
        "How long this run's backup of the dataset took",
        duration.clone(),
    );
    registry.register(
        "result",
        "1 for the dataset's result in this run: ok, skipped or failed",
        result.clone(),
    );
    registry.register("datasets", "Datasets of this run by result", totals.clone());
    registry.register("run_timestamp_seconds", "When this run ended (Unix time)", run_time.clone());
    registry.register("run_duration_seconds", "How long this run took", run_duration.clone());
    registry.register(
        "capacity_concurrency",
        "Backups at once the capacity (or server) was seen to take when the run ended",
        concurrency.clone(),
    );
    registry.register(
        "last_drill_success_timestamp_seconds",
        "When the dataset's last passed drill was (Unix time): a backup restored and matched its manifest",
        last_drill.clone(),
    );
    for p in &run.policies {
        drill_times(p, &last_drill);
        for c in p.backup.iter().flat_map(|b| &b.capacities) {
            let labels = CapacityLabels { policy: label(&p.name), capacity: label(&c.capacity) };
            concurrency.get_or_create(&labels).set(c.learned as f64);
        }
        for r in p.backup.iter().flat_map(|b| &b.results) {
            let labels = DatasetLabels {
                policy: label(&p.name),
                workspace: label(&r.workspace),
                dataset: label(&r.dataset),
            };
            let outcome = match &r.outcome {
                BackupOutcome::Skipped(_) => "skipped",
                BackupOutcome::Backed => "ok",
                BackupOutcome::Failed(_) => "failed",
            };
            // A failed dataset still has the backup it had before the run, when the run looked for it.
            let success = if r.ok() { r.finished.as_deref() } else { r.last_verified.as_deref() };
            if let Some(t) = success.and_then(unix_time) {
                last_success.get_or_create(&labels).set(t);
            }
            if let (None, Some(n)) = (r.skipped(), r.size) {
                size.get_or_create(&labels).set(n as f64);
            }
            if let Some(ms) = r.duration_ms {
                duration.get_or_create(&labels).set(ms as f64 / 1000.0);
            }
            let labels = ResultLabels {
                policy: labels.policy,
                workspace: labels.workspace,
                dataset: labels.dataset,
                result: outcome.into(),
            };
            result.get_or_create(&labels).set(1.0);
        }
    }
    let shard = label(run.shard.as_deref().unwrap_or_default());
    for (name, n) in [("ok", run.backed_up), ("skipped", run.skipped), ("failed", run.failed)] {
        totals
            .get_or_create(&TotalLabels { shard: shard.clone(), result: name.into() })
            .set(n as f64);
    }
    let run_labels = RunLabels { shard };
    if let Some(t) = unix_time(&run.finished) {
        run_time.get_or_create(&run_labels).set(t);
    }
    run_duration.get_or_create(&run_labels).set(run.duration_ms as f64 / 1000.0);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String does not fail");
    out
}

/// Each dataset's last passed drill of a policy, as a Unix time.
fn drill_times(p: &super::output::PolicyRun, family: &Family<DatasetLabels, F64Gauge>) {
    for d in &p.drills {
        if let Some(t) = d.last_passed.as_deref().and_then(unix_time) {
            let labels = DatasetLabels {
                policy: label(&p.name),
                workspace: label(&d.workspace),
                dataset: label(&d.dataset),
            };
            family.get_or_create(&labels).set(t);
        }
    }
}

/// A label value escaped as the exposition format requires (backslash, double quote, line feed): prometheus-client
/// 0.24 writes label values as they are, so a dataset named with a quote would otherwise end the value early.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn unix_time(rfc3339: &str) -> Option<f64> {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A table cell: pipes escaped, line breaks and control characters flattened, so a name cannot break the table.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::output::{BackupOutput, ErrorInfo, PolicyRun};

    fn result(workspace: &str, dataset: &str, ok: bool) -> BackupResult {
        BackupResult {
            workspace: workspace.into(),
            dataset: dataset.into(),
            file: format!("{dataset}.abf"),
            outcome: if ok {
                BackupOutcome::Backed
            } else {
                BackupOutcome::Failed(ErrorInfo::from(&crate::error::Error::Usage(
                    "it | broke\nhere".into(),
                )))
            },
            size: ok.then_some(2048),
            sha256: None,
            manifest: None,
            verification: None,
            warnings: Vec::new(),
            finished: ok.then(|| "2026-12-03T02:00:00Z".into()),
            duration_ms: Some(1500),
            last_verified: (!ok).then(|| "2026-12-02T02:00:00Z".into()),
        }
    }

    fn run() -> RunOutput {
        let results =
            vec![result("A|B", "Sales \"EU\" \\ Q1\nX", true), result("C|E", "D\nF", false)];
        RunOutput {
            started: "2026-12-03T01:59:00Z".into(),
            finished: "2026-12-03T02:01:00Z".into(),
            duration_ms: 120_000,
            shard: Some("1/2".into()),
            policies: vec![PolicyRun {
                name: "nightly".into(),
                backup: Some(BackupOutput {
                    results,
                    succeeded: 1,
                    failed: 1,
                    skipped: 0,
                    capacities: vec![CapacityPace {
                        capacity: "cap-1".into(),
                        name: Some("P1 west".into()),
                        start: 2,
                        learned: 3,
                        peak: 3,
                        refused_for_load: 1,
                    }],
                }),
                verified: Vec::new(),
                verify_failed: Vec::new(),
                pruned: Vec::new(),
                errors: Vec::new(),
                drills: Vec::new(),
                duration_ms: 119_000,
            }],
            backed_up: 1,
            skipped: 0,
            failed: 1,
        }
    }

    #[test]
    fn names_cannot_break_the_metrics_or_the_table() {
        let prom = prometheus(&run());
        assert!(prom.contains(r#"dataset="Sales \"EU\" \\ Q1\nX""#), "{prom}");
        assert!(prom.contains("pbi_backup_size_bytes{"), "{prom}");
        // The failed dataset keeps the time of the backup it had before the run.
        let failed = prom
            .lines()
            .find(|l| {
                l.starts_with("pbi_backup_last_success_timestamp_seconds{")
                    && l.contains(r#"dataset="D\nF""#)
            })
            .unwrap();
        assert!(failed.ends_with(" 1796176800.0"), "{failed}");
        let md = markdown(&run());
        assert!(md.starts_with("# pbi-backup run partly failed"), "{md}");
        // The failed dataset's row: pipes escaped, line breaks flattened, in every cell.
        assert!(md.contains("| nightly | C\\|E | D F | it \\| broke here |\n"), "{md}");
        assert!(md.contains("Shard 1/2."), "{md}");
        assert!(prom.contains(r#"pbi_backup_datasets{shard="1/2",result="failed"} 1"#), "{prom}");
        assert!(prom.contains(r#"pbi_backup_run_duration_seconds{shard="1/2"} 120.0"#), "{prom}");
        assert!(
            prom.lines().any(|l| l.starts_with("pbi_backup_capacity_concurrency{")
                && l.contains(r#"capacity="cap-1""#)
                && l.ends_with(" 3.0")),
            "{prom}"
        );
    }
}
