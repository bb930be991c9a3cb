//! What a `run` leaves for people and monitoring besides its JSON report: a Markdown summary (fit for a mail or a CI
//! job summary) and a Prometheus text file for node_exporter's textfile collector. Both are rendered from
//! [`RunOutput`] alone; the CLI writes them.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::output::{BackupResult, RunOutput};

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
    let failures: Vec<(&str, &BackupResult)> = run
        .policies
        .iter()
        .flat_map(|p| {
            p.backup.iter().flat_map(move |b| {
                b.results.iter().filter(|r| r.error.is_some()).map(move |r| (p.name.as_str(), r))
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
    if !failures.is_empty() || !other_errors.is_empty() {
        let _ = writeln!(
            s,
            "## Failures\n\n| policy | workspace | dataset | error |\n|---|---|---|---|"
        );
        for (policy, r) in failures {
            let e = r.error.as_ref().map(|e| e.message.as_str()).unwrap_or_default();
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
    s
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TotalLabels {
    result: String,
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
    let run_time = F64Gauge::default();
    let run_duration = F64Gauge::default();
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
    for p in &run.policies {
        for r in p.backup.iter().flat_map(|b| &b.results) {
            let labels = DatasetLabels {
                policy: p.name.clone(),
                workspace: r.workspace.clone(),
                dataset: r.dataset.clone(),
            };
            let outcome = match (r.ok, &r.skipped) {
                (true, Some(_)) => "skipped",
                (true, None) => "ok",
                (false, _) => "failed",
            };
            // A failed dataset still has the backup it had before the run, when the run looked for it.
            let success = if r.ok { r.finished.as_deref() } else { r.last_verified.as_deref() };
            if let Some(t) = success.and_then(unix_time) {
                last_success.get_or_create(&labels).set(t);
            }
            if let (None, Some(n)) = (&r.skipped, r.size) {
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
    for (name, n) in [("ok", run.backed_up), ("skipped", run.skipped), ("failed", run.failed)] {
        totals.get_or_create(&TotalLabels { result: name.into() }).set(n as f64);
    }
    if let Some(t) = unix_time(&run.finished) {
        run_time.set(t);
    }
    run_duration.set(run.duration_ms as f64 / 1000.0);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String does not fail");
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
