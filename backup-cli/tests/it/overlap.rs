//! Runs that overlap: two `run`s of one policy started 0, 1 and 5 s apart, two shards at once, a lock left behind, and
//! prune racing a backup. After each: one run did the work and the other did nothing (exit 7) or found it done; no
//! dataset was backed up twice in a period; every backup a run reported is still in the account unless that run's
//! own retention deleted it; and every dataset has a backup whose stored bytes hash to its manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use adls_store::{Store, StoreExt, StorePath};
use backup_core::output::{RunOutput, exit_codes};
use test_fixtures::tenant::BulkTenant;

use crate::support::{Run, Tenant, sha256, with_config};

const FS: &str = "power-bi-backup";

/// Four workspaces of three 4 MB models, backed up at 8 MB/s: a run takes a few seconds.
fn slow_tenant() -> BulkTenant {
    BulkTenant {
        workspaces: 4,
        models_per_workspace: 3,
        capacities: 2,
        per_capacity_limit: None,
        size_mb: 4,
        rest_per_second: None,
        mb_per_second: Some(8.0),
        uneven: false,
    }
}

const POLICY: &str =
    "[[policy]]\nname = \"nightly\"\nworkspaces = [\"WS-*\"]\nretention = { keep-last = 1 }\n";

/// Every `.abf` in the account, by workspace and dataset, with whether its bytes hash to its manifest.
async fn stored(t: &Tenant) -> BTreeMap<(String, String), Vec<(String, bool)>> {
    let store = t.stack.store("lake").unwrap();
    let mut out: BTreeMap<(String, String), Vec<(String, bool)>> = BTreeMap::new();
    for ws in ["WS-001", "WS-002", "WS-003", "WS-004"] {
        let folder = StorePath::folder(FS, ws).unwrap();
        for meta in store.list_all(&folder).await.unwrap() {
            let name = meta.path.file_name().unwrap().to_owned();
            if !name.ends_with(".abf") {
                continue;
            }
            let manifest = folder.join(&format!("{name}.manifest.json")).unwrap();
            let Ok(text) = store.get_bytes(&manifest).await else {
                out.entry((ws.into(), name.clone())).or_default().push((name, false));
                continue;
            };
            let m: serde_json::Value = serde_json::from_slice(&text).unwrap();
            let bytes = store.get_bytes(&meta.path).await.unwrap();
            let ok = m["sha256"].as_str() == Some(sha256(&bytes).as_str());
            let dataset = m["dataset"]["name"].as_str().unwrap().to_owned();
            out.entry((ws.into(), dataset)).or_default().push((name, ok));
        }
    }
    out
}

/// What a finished `run --json` says: its report when it ran, or the lock it found held.
fn outcome(run: &Run) -> Option<RunOutput> {
    match run.code {
        exit_codes::SUCCESS => Some(run.json()),
        exit_codes::LOCKED => {
            let report: RunOutput = run.json();
            let errors: Vec<_> = report.policies.iter().flat_map(|p| p.errors.iter()).collect();
            assert!(
                errors.iter().all(|e| e.kind == "locked") && !errors.is_empty(),
                "exit 7 for another reason: {errors:?}"
            );
            assert!(errors[0].message.contains("--break-lock"), "{errors:?}");
            assert!(report.backed_up == 0 && report.policies.iter().all(|p| p.pruned.is_empty()));
            None
        }
        other => panic!("run exited {other}: {}\n{}", run.stdout, run.stderr),
    }
}

/// Every backup the runs reported is stored (unless a run's retention deleted it), and every dataset has one backup
/// whose bytes hash to its manifest. Returns the number of backups checked.
async fn nothing_lost(t: &Tenant, reports: &[RunOutput]) -> usize {
    let now = stored(t).await;
    assert_eq!(now.len(), 12, "a dataset has no backup: {now:?}");
    for ((ws, ds), files) in &now {
        assert!(
            files.iter().any(|(_, ok)| *ok),
            "{ws}/{ds} has no backup that verifies: {files:?}"
        );
    }
    let deleted: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| &r.policies)
        .flat_map(|p| &p.pruned)
        .flat_map(|p| p.deleted.iter().cloned())
        .collect();
    let names: BTreeSet<String> = now
        .iter()
        .flat_map(|((ws, _), f)| f.iter().map(move |(n, _)| format!("{FS}/{ws}/{n}")))
        .collect();
    let mut checked = 0;
    for r in reports.iter().flat_map(|r| &r.policies).filter_map(|p| p.backup.as_ref()) {
        for b in r.results.iter().filter(|b| b.skipped().is_none()) {
            let path = format!("{FS}/{}/{}", b.workspace, b.file);
            assert!(names.contains(&path) || deleted.contains(&path), "{path} was lost");
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_of_one_policy_never_work_at_once() {
    for apart in [0u64, 1, 5] {
        let t = Tenant::start(&slow_tenant().scenario()).await;
        let (env, _dir) = with_config(&t.env("lake"), POLICY);
        let first = t.run(&env, &["run", "--json"]);
        let second = async {
            tokio::time::sleep(Duration::from_secs(apart)).await;
            t.run(&env, &["run", "--json"]).await
        };
        let (a, b) = tokio::join!(first, second);
        let reports: Vec<RunOutput> = [outcome(&a), outcome(&b)].into_iter().flatten().collect();
        assert!(!reports.is_empty(), "{apart} s apart: neither run ran");
        // Twelve datasets, each backed up once in the period, whichever run did it.
        let made: usize = reports.iter().map(|r| r.backed_up).sum();
        assert_eq!(made, 12, "{apart} s apart: {made} backups for 12 datasets");
        assert_eq!(t.stack.sim.count("backup"), 12, "{apart} s apart");
        let checked = nothing_lost(&t, &reports).await;
        assert_eq!(checked, 12);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_run_at_once_and_split_the_work() {
    let t = Tenant::start(&slow_tenant().scenario()).await;
    let (env, _dir) = with_config(&t.env("lake"), POLICY);
    let (a, b) = tokio::join!(
        t.run(&env, &["run", "--shard", "1/2", "--json"]),
        t.run(&env, &["run", "--shard", "2/2", "--json"])
    );
    a.expect(exit_codes::SUCCESS);
    b.expect(exit_codes::SUCCESS);
    let reports: Vec<RunOutput> = vec![a.json(), b.json()];
    assert_eq!(reports[0].backed_up + reports[1].backed_up, 12, "{reports:?}");
    nothing_lost(&t, &reports).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_behind_stops_runs_until_it_ends_or_is_broken() {
    let t = Tenant::start(&slow_tenant().scenario()).await;
    let (env, _dir) = with_config(&t.env("lake"), POLICY);
    // A run killed while it held the lock: its lease is still there.
    let store = t.stack.store("lake").unwrap();
    let lock = StorePath::file(FS, ".pbi-backup-locks", "nightly.lock").unwrap();
    store.locks().acquire(&lock, Duration::from_secs(60)).await.unwrap();
    let held = t.run(&env, &["run", "--json"]).await;
    held.expect(exit_codes::LOCKED);
    assert!(outcome(&held).is_none());
    assert_eq!(t.stack.sim.count("backup"), 0, "a run that found the lock held sent a backup");
    // Another shard's lock is another lock.
    let other = t.run(&env, &["run", "--shard", "1/2", "--json"]).await;
    other.expect(exit_codes::SUCCESS);
    // The person who knows breaks it; the run then does the rest, and gives the lock back.
    let broke = t.run(&env, &["run", "--break-lock", "--json"]).await;
    broke.expect(exit_codes::SUCCESS);
    let reports: Vec<RunOutput> = vec![other.json(), broke.json()];
    nothing_lost(&t, &reports).await;
    let again = store.locks().acquire(&lock, Duration::from_secs(15)).await;
    assert!(again.is_ok(), "the run kept its lock: {again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_racing_a_backup_leaves_every_dataset_a_backup_that_verifies() {
    let t = Tenant::start(&slow_tenant().scenario()).await;
    let env = t.env("lake");
    // A first backup of each dataset of WS-001, then a second one while prune runs again and again.
    let first = t.run(&env, &["backup", "-w", "WS-001", "--all", "--json"]).await;
    first.expect(exit_codes::SUCCESS);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let backup = t.run(&env, &["backup", "-w", "WS-001", "--all", "--json"]);
    let prunes = async {
        let mut runs = Vec::new();
        for _ in 0..6 {
            runs.push(
                t.run(&env, &["prune", "-w", "WS-001", "--keep-last", "1", "--apply", "--json"])
                    .await,
            );
        }
        runs
    };
    let (backup, prunes) = tokio::join!(backup, prunes);
    backup.expect(exit_codes::SUCCESS);
    for p in &prunes {
        assert!(
            [exit_codes::SUCCESS, exit_codes::INTEGRITY].contains(&p.code),
            "prune exited {}: {}",
            p.code,
            p.stderr
        );
    }
    let now = stored(&t).await;
    for ds in ["Model-01", "Model-02", "Model-03"] {
        let files = &now[&("WS-001".to_owned(), ds.to_owned())];
        assert!(files.iter().any(|(_, ok)| *ok), "{ds} has no backup that verifies: {files:?}");
    }
}
