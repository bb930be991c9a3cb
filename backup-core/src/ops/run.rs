//! `run`: the unattended job. For each `[[policy]]` of the config file: back up its datasets (skipping those
//! already backed up and verified in the policy's period, so that a scheduler can simply retry), check the new
//! backups' containers when asked, drill the datasets whose last passed drill is older than its drill period, and
//! apply its retention.

use std::collections::BTreeMap;
use std::time::Instant;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backup::{BackupOptions, DatasetSelector, execute_backup, select_backups};
use super::output::{BackupVerification, ErrorInfo, PolicyDrill, PolicyRun, RunOutput};
use super::prune::{PruneOptions, prune};
use super::run_lock::{RunLock, TTL, lock_path};
use super::schedule::Shard;
use super::skip::SkipRules;
use super::{Context, rfc3339};
use crate::config::Policy;
use crate::error::{Error, Result};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The policies to run, by name; every policy of the config file when empty.
    pub policies: Vec<String>,
    /// Only this share of each policy's datasets.
    pub shard: Option<Shard>,
    /// Skip unchanged models in every policy (as if each said `if-changed = true`).
    pub if_changed: bool,
    /// End the run lock another run holds before taking it (for the person who knows that run is gone).
    pub break_lock: bool,
}

/// Runs the policies one after another; one that fails does not stop the others.
pub async fn run(session: &Context, options: &RunOptions) -> Result<RunOutput> {
    let policies = chosen(session, &options.policies)?;
    let started = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let mut out = RunOutput {
        started: rfc3339(started),
        finished: String::new(),
        duration_ms: 0,
        shard: options.shard.map(|s| s.to_string()),
        policies: Vec::new(),
        backed_up: 0,
        skipped: 0,
        failed: 0,
    };
    for policy in policies {
        let run = run_policy(session, policy, options, started).await;
        if let Some(b) = &run.backup {
            out.skipped += b.skipped;
            out.backed_up += b.succeeded;
        }
        out.policies.push(run);
    }
    out.failed = out.failures().len();
    out.finished = rfc3339(OffsetDateTime::now_utc());
    out.duration_ms = millis(clock);
    Ok(out)
}

/// The policies named (all when none is), each checked: a name, and workspaces to back up.
fn chosen<'a>(session: &'a Context, names: &[String]) -> Result<Vec<&'a Policy>> {
    let all = &session.settings.file.policies;
    let file = session
        .settings
        .config_path
        .as_ref()
        .map_or_else(|| "no config file was found".to_owned(), |p| p.display().to_string());
    if all.is_empty() {
        return Err(Error::Usage(format!(
            "pbi-backup run needs at least one [[policy]] in the config file ({file}); pbi-backup.example.toml shows one"
        )));
    }
    for (i, p) in all.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(Error::Usage(format!(
                "[[policy]] number {} in {file} has no name; add name = \"...\"",
                i + 1
            )));
        }
        if p.workspaces.is_empty() {
            return Err(Error::Usage(format!(
                "policy '{}' in {file} names no workspaces; add workspaces = [\"Name\", \"Pattern*\"]",
                p.name
            )));
        }
        if p.drill.is_some() && p.drill_workspace.as_deref().is_none_or(|w| w.trim().is_empty()) {
            return Err(Error::Usage(format!(
                "policy '{}' in {file} drills but names no workspace to drill into; add drill-workspace = \"Name\" (a workspace the scratch models may be restored into and deleted from)",
                p.name
            )));
        }
        if all[..i].iter().any(|q| q.name == p.name) {
            return Err(Error::Usage(format!(
                "two policies in {file} are named '{}'; names must differ",
                p.name
            )));
        }
    }
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|p| p.name == *n).ok_or_else(|| Error::NotFound {
                what: "policy",
                name: n.clone(),
                nearest: crate::names::nearest(n, all.iter().map(|p| p.name.as_str())),
            })
        })
        .collect()
}

async fn run_policy(
    session: &Context,
    policy: &Policy,
    options: &RunOptions,
    now: OffsetDateTime,
) -> PolicyRun {
    let clock = Instant::now();
    let mut run = PolicyRun {
        name: policy.name.clone(),
        backup: None,
        verified: Vec::new(),
        verify_failed: Vec::new(),
        pruned: Vec::new(),
        errors: Vec::new(),
        duration_ms: 0,
        drills: Vec::new(),
    };
    // The selection names the accounts written to; the run lock is taken in each before anything is read from them,
    // so what a run that held the lock just before did is seen, and skipped.
    let locked = async {
        let backup_options = backup_options(session, policy, options, now)?;
        let plan = select_backups(session, &backup_options).await?;
        // An account that cannot be opened is not written to either: that workspace's backups fail on their own,
        // with the cause, and the others go on.
        let mut stores = Vec::new();
        for workspace in plan.folders() {
            match session.workspace_store(&workspace).await {
                Ok(store) => stores.push(store),
                Err(e) => {
                    tracing::debug!(workspace, error = %e, "no run lock in an account that cannot be opened")
                }
            }
        }
        let what = match options.shard {
            Some(s) => format!("policy '{}' shard {s}", policy.name),
            None => format!("policy '{}'", policy.name),
        };
        let path = lock_path(&policy.name, options.shard)?;
        let lock = RunLock::take(stores, path, (&what, TTL), options.break_lock).await?;
        Ok::<_, Error>((backup_options, plan, lock))
    };
    let (backup_options, mut plan, lock) = match locked.await {
        Ok(got) => got,
        Err(e) => {
            run.errors.push(ErrorInfo::from(&e));
            run.duration_ms = millis(clock);
            return run;
        }
    };
    plan.read_skips(session, &backup_options).await;
    match execute_backup(session, &backup_options, plan).await {
        Ok(b) => run.backup = Some(b),
        Err(e) => run.errors.push(ErrorInfo::from(&e)),
    }
    if let Some(b) = &run.backup {
        if policy.verify_container {
            let fresh = b.results.iter().filter(|r| {
                r.skipped().is_none() && r.verification == Some(BackupVerification::Verified)
            });
            for r in fresh {
                match super::verify(session, &r.workspace, &r.file, false).await {
                    Ok(v) => run.verified.push(v),
                    Err(e) => run.verify_failed.push(ErrorInfo::from(&e)),
                }
            }
        }
        // Before the retention, so that a drill that passes now is among what it keeps.
        if let (Some(period), Some(target)) = (policy.drill, &policy.drill_workspace) {
            let (drills, errors) = drill_policy(session, b, period.start(now), target).await;
            run.drills = drills;
            run.errors.extend(errors);
        }
        if let Some(retention) = &policy.retention {
            if lock.lost() {
                run.errors.push(ErrorInfo::from(&Error::Storage(adls_store::Error::Locked {
                    path: format!("run lock of policy '{}'", policy.name),
                    detail: "it could not be renewed, so another run may hold it now: nothing was pruned".into(),
                })));
            } else {
                let (pruned, errors) = prune_policy(session, b, retention, now).await;
                run.pruned.extend(pruned);
                run.errors.extend(errors);
            }
        }
    }
    lock.release().await;
    run.duration_ms = millis(clock);
    run
}

/// The drills of a policy: each dataset with a verified backup (backed up now, or skipped as done) whose last
/// passed drill began before `since` is drilled into `target`, one workspace at a time; the others are listed as not
/// due. A failed drill is drilled again on the next run.
async fn drill_policy(
    session: &Context,
    b: &super::output::BackupOutput,
    since: OffsetDateTime,
    target: &str,
) -> (Vec<PolicyDrill>, Vec<ErrorInfo>) {
    let (mut drills, mut errors) = (Vec::new(), Vec::new());
    let mut datasets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in b.results.iter().filter(|r| r.error().is_none()) {
        datasets.entry(r.workspace.as_str()).or_default().push(r.dataset.clone());
    }
    for (workspace, datasets) in datasets {
        let listed = match super::files::list(session, workspace).await {
            Ok(l) => l.backups,
            Err(e) => {
                errors.push(ErrorInfo::from(&e));
                continue;
            }
        };
        let last_passed = |dataset: &str| {
            listed
                .iter()
                .filter(|x| x.dataset.as_deref() == Some(dataset) && x.drill_passed == Some(true))
                .filter_map(|x| x.drilled_at.as_deref())
                .filter_map(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .max()
        };
        let mut due = Vec::new();
        for dataset in datasets {
            match last_passed(&dataset) {
                Some(at) if at >= since => drills.push(PolicyDrill {
                    workspace: workspace.to_owned(),
                    dataset,
                    last_passed: Some(rfc3339(at)),
                    drill: None,
                }),
                _ => due.push(dataset),
            }
        }
        if due.is_empty() {
            continue;
        }
        match super::drill::drill_datasets(session, workspace, &due, target).await {
            Ok(results) => {
                for r in results {
                    let last_passed = if r.restorable {
                        Some(r.drilled_at.clone())
                    } else {
                        last_passed(&r.dataset).map(rfc3339)
                    };
                    drills.push(PolicyDrill {
                        workspace: workspace.to_owned(),
                        dataset: r.dataset.clone(),
                        last_passed,
                        drill: Some(r),
                    });
                }
            }
            Err(e) => errors.push(ErrorInfo::from(&e)),
        }
    }
    (drills, errors)
}

/// The retention of a policy over its own datasets (of this shard), one workspace at a time; a backup made after
/// the run started (by another run in progress) is never deleted.
async fn prune_policy(
    session: &Context,
    b: &super::output::BackupOutput,
    retention: &crate::retention::RetentionPolicy,
    started: OffsetDateTime,
) -> (Vec<super::output::PruneOutput>, Vec<ErrorInfo>) {
    let (mut pruned, mut errors) = (Vec::new(), Vec::new());
    let mut datasets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &b.results {
        datasets.entry(r.workspace.as_str()).or_default().push(r.dataset.clone());
    }
    for (workspace, datasets) in datasets {
        let prune_options = PruneOptions {
            workspaces: vec![workspace.to_owned()],
            datasets,
            policy: retention.clone(),
            apply: true,
            stale_uploads_after: None,
            spare_after: Some(started),
        };
        match prune(session, &prune_options).await {
            Ok(p) => pruned.push(p),
            Err(e) => errors.push(ErrorInfo::from(&e)),
        }
    }
    (pruned, errors)
}

fn backup_options(
    session: &Context,
    policy: &Policy,
    options: &RunOptions,
    now: OffsetDateTime,
) -> Result<BackupOptions> {
    let defaults = &session.settings.file.backup;
    Ok(BackupOptions {
        workspaces: policy.workspaces.clone(),
        datasets: if policy.datasets.is_empty() {
            DatasetSelector::All
        } else {
            DatasetSelector::Patterns(policy.datasets.clone())
        },
        password: policy.password()?,
        shard: options.shard,
        skip: SkipRules {
            done_since: Some(policy.period.start(now)),
            if_changed: policy.if_changed || options.if_changed,
        },
        exclude_workspaces: policy.exclude_workspaces.clone(),
        exclude_datasets: policy.exclude_datasets.clone(),
        ..BackupOptions::from(defaults)
    })
}

fn millis(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX)
}
