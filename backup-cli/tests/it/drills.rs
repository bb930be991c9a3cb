//! `drill` through the binary against pbi-sim: a good backup restores into a scratch model that matches its
//! manifest (tables, roles, row counts) and is deleted again; a restore that loses a table, or rows of one, fails the
//! drill with exit 5 and still deletes it; a drill killed mid-way leaves a scratch model the next one deletes; a
//! whole workspace restores and drills several models at once, as many as its capacity is taken to run.

use std::time::Duration;

use backup_core::output::{BackupOutput, DrillOutput, exit_codes};

use crate::support::{Tenant, command, with_config};

#[tokio::test(flavor = "multi_thread")]
async fn a_good_backup_drills_and_leaves_no_scratch_model() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let out: BackupOutput = t.cli(&env, "backup -w Finance -d Budget").ok().await;
    assert_eq!(out.succeeded, 1, "{out:?}");
    let before = t.stack.sim.models("Finance Copy");
    let drill: DrillOutput =
        t.cli(&env, "drill -w Finance -d Budget --target-workspace 'Finance Copy'").ok().await;
    assert_eq!((drill.restorable, drill.failed), (1, 0), "{drill:?}");
    let r = &drill.results[0];
    assert!(r.restorable && r.tables_compared && r.scratch_removed, "{r:?}");
    assert!(r.row_counts_differing.is_empty(), "{r:?}");
    assert_eq!(r.file.as_deref(), Some(out.results[0].file.as_str()));
    // The backup recorded each table's rows as the service counts them (`DISCOVER_STORAGE_TABLES`), the
    // engine's hierarchy rows left out.
    let manifest = t.manifest("financelake", "Finance", &out.results[0].file).await;
    let counts = manifest.row_counts.expect("row counts recorded");
    assert_eq!(counts.get("Budget"), Some(&2400), "{counts:?}");
    assert_eq!(t.stack.sim.models("Finance Copy"), before, "a scratch model is left");
    assert_eq!(t.stack.sim.count("delete-dataset"), 1);
    // The drill is recorded with the backup: `list` shows it passed.
    let listed: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    let drilled =
        listed.backups.iter().find(|b| Some(b.name.as_str()) == r.file.as_deref()).unwrap();
    assert_eq!(drilled.drill_passed, Some(true), "{drilled:?}");
    assert!(drilled.drilled_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_that_loses_a_table_fails_the_drill_and_still_removes_the_scratch_model() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let _: BackupOutput = t.cli(&env, "backup -w Finance -d Budget").ok().await;
    let before = t.stack.sim.models("Finance Copy");
    t.stack.sim.drop_table_on_restore(Some("Account"));
    let drill: DrillOutput = t
        .cli(&env, "drill -w Finance -d Budget --target-workspace 'Finance Copy'")
        .json(exit_codes::INTEGRITY)
        .await;
    assert_eq!((drill.restorable, drill.failed), (0, 1), "{drill:?}");
    let r = &drill.results[0];
    assert!(!r.restorable && r.scratch_removed, "{r:?}");
    assert!(r.tables_differing.iter().any(|d| d.contains("Account")), "{r:?}");
    assert_eq!(t.stack.sim.models("Finance Copy"), before, "the scratch model is left");
    let listed: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert!(listed.backups.iter().any(|b| b.drill_passed == Some(false)), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_that_loses_rows_fails_the_drill_on_the_row_counts() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let _: BackupOutput = t.cli(&env, "backup -w Finance -d Budget").ok().await;
    t.stack.sim.halve_rows_on_restore(Some("Budget"));
    let drill: DrillOutput = t
        .cli(&env, "drill -w Finance -d Budget --target-workspace 'Finance Copy'")
        .json(exit_codes::INTEGRITY)
        .await;
    let r = &drill.results[0];
    assert!(!r.restorable && r.scratch_removed && r.tables_differing.is_empty(), "{r:?}");
    assert_eq!(
        r.row_counts_differing,
        ["table 'Budget' has 1200 rows after the restore; 2400 at backup"],
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tenant_overview_exits_1_while_a_dataset_has_no_recent_verified_backup() {
    let bulk = test_fixtures::tenant::BulkTenant {
        workspaces: 1,
        models_per_workspace: 2,
        capacities: 1,
        per_capacity_limit: None,
        size_mb: 1,
        rest_per_second: None,
        mb_per_second: None,
        uneven: false,
    };
    let t = Tenant::start(&bulk.scenario()).await;
    let env = t.env("lake");
    let _: BackupOutput = t.cli(&env, "backup -w WS-001 -d Model-01").ok().await;
    let stale: backup_core::output::OverviewOutput =
        t.cli(&env, "list --all-workspaces --older-than 26h").json(exit_codes::FAILURE).await;
    assert_eq!(stale.stale, 1, "{stale:?}");
    let model2 = stale.datasets.iter().find(|d| d.dataset == "Model-02").expect("Model-02");
    assert!(model2.stale && model2.newest_verified.is_none() && model2.backups == 0, "{model2:?}");
    let model1 = stale.datasets.iter().find(|d| d.dataset == "Model-01").expect("Model-01");
    assert!(
        !model1.stale && model1.backups == 1 && model1.age_hours.is_some_and(|h| h < 1.0),
        "{model1:?}"
    );
    let _: BackupOutput = t.cli(&env, "backup -w WS-001 -d Model-02").ok().await;
    let fresh: backup_core::output::OverviewOutput =
        t.cli(&env, "list --all-workspaces --older-than 26h").ok().await;
    assert_eq!((fresh.stale, fresh.datasets.len()), (0, 2), "{fresh:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_workspace_is_restored_from_its_folder_in_one_command() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    for d in ["Budget", "DB"] {
        let _: BackupOutput = t.cli(&env, "backup -w Finance -d").arg(d).ok().await;
    }
    let planned: backup_core::output::RestoreAllPlanOutput = t
        .cli(&env, "restore -w 'Finance Copy' --from-workspace Finance --all --dry-run")
        .ok()
        .await;
    assert_eq!(planned.plans.len(), 2, "{planned:?}");
    let sent = t.stack.sim.count("restore");
    let out: backup_core::output::RestoreAllOutput =
        t.cli(&env, "restore -w 'Finance Copy' --from-workspace Finance --all").ok().await;
    assert_eq!((out.restored, out.failed), (2, 0), "{out:?}");
    assert!(
        out.results.iter().all(|r| r.restore.as_ref().is_some_and(|o| o.tables_compared)),
        "{out:?}"
    );
    assert_eq!(t.stack.sim.count("restore"), sent + 2);
    let models = t.stack.sim.models("Finance Copy");
    assert!(
        models.contains(&"Budget".to_owned()) && models.contains(&"DB".to_owned()),
        "{models:?}"
    );
    // Again over them, with a restore that loses Budget's Account table: DB is fine, Budget is not: partial (6).
    t.stack.sim.drop_table_on_restore(Some("Account"));
    let partial: backup_core::output::RestoreAllOutput = t
        .cli(&env, "restore -w 'Finance Copy' --from-workspace Finance --all --allow-overwrite")
        .json(exit_codes::PARTIAL)
        .await;
    assert_eq!((partial.restored, partial.failed), (1, 1), "{partial:?}");
    let budget = partial.results.iter().find(|r| r.dataset == "Budget").unwrap();
    assert!(budget.restore.as_ref().is_some_and(|o| o.missing_tables == ["Account"]), "{budget:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_killed_mid_way_leaves_a_scratch_model_that_the_next_drill_deletes() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let _: BackupOutput = t.cli(&env, "backup -w Finance -d Budget").ok().await;
    let before = t.stack.sim.models("Finance Copy");
    // The drill restores and compares, then waits on the scratch model's deletion: killed there (SIGKILL).
    t.stack.sim.stall_dataset_deletes(true);
    let args: Vec<String> =
        ["drill", "-w", "Finance", "-d", "Budget", "--target-workspace", "Finance Copy"]
            .map(str::to_owned)
            .to_vec();
    let mut child = command(&env.vars, t.work.path(), &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let started = std::time::Instant::now();
    while t.stack.sim.count("delete-dataset-stalled") == 0 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the drill ended ({status}) before it deleted its scratch model");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the drill never deleted anything");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    t.stack.sim.stall_dataset_deletes(false);
    let left: Vec<String> =
        t.stack.sim.models("Finance Copy").into_iter().filter(|m| !before.contains(m)).collect();
    assert!(
        left.len() == 1 && left[0].starts_with("Budget (drill "),
        "the killed drill left no scratch model: {left:?}"
    );
    // The next drill waits out the killed one's lock, deletes what it left (minutes old, not a day), and drills.
    let deleted = t.stack.sim.count("delete-dataset");
    let drill: DrillOutput =
        t.cli(&env, "drill -w Finance -d Budget --target-workspace 'Finance Copy'").ok().await;
    assert_eq!(drill.restorable, 1, "{drill:?}");
    assert_eq!(t.stack.sim.models("Finance Copy"), before, "a scratch model is left");
    assert_eq!(t.stack.sim.count("delete-dataset"), deleted + 2, "its own and the killed drill's");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_workspace_restores_and_drills_several_at_once_on_its_capacity() {
    let bulk = test_fixtures::tenant::BulkTenant {
        workspaces: 2,
        models_per_workspace: 4,
        capacities: 1,
        per_capacity_limit: None,
        size_mb: 1,
        rest_per_second: None,
        // Each backup and restore holds its capacity a quarter of a second.
        mb_per_second: Some(4.0),
        uneven: false,
    };
    let t = Tenant::start(&bulk.scenario()).await;
    let env = t.env("lake");
    let capacity = "b0b0b0b0-0000-4000-8000-000000000001";
    let out: BackupOutput = t.cli(&env, "backup -w WS-001 --all").ok().await;
    assert_eq!(out.succeeded, 4, "{out:?}");
    t.stack.sim.take_capacity_peak(capacity);
    // `backup.per-capacity` (2 by default) at once, never more.
    let restored: backup_core::output::RestoreAllOutput =
        t.cli(&env, "restore -w WS-002 --from-workspace WS-001 --all --allow-overwrite").ok().await;
    assert_eq!((restored.restored, restored.failed), (4, 0), "{restored:?}");
    assert_eq!(t.stack.sim.take_capacity_peak(capacity), 2, "restores at once");
    let names: Vec<&str> = restored.results.iter().map(|r| r.dataset.as_str()).collect();
    assert_eq!(names, ["Model-01", "Model-02", "Model-03", "Model-04"], "in the datasets' order");
    let drill: DrillOutput =
        t.cli(&env, "drill -w WS-001 --all --target-workspace WS-002").ok().await;
    assert_eq!((drill.restorable, drill.failed), (4, 0), "{drill:?}");
    assert_eq!(t.stack.sim.take_capacity_peak(capacity), 2, "drills at once");
    assert!(drill.results.iter().all(|r| r.scratch_removed), "{drill:?}");
    let left = t.stack.sim.models("WS-002");
    assert!(!left.iter().any(|m| m.contains("(drill ")), "{left:?}");
    // Told three at once, three at once.
    let (three, _dir) = with_config(&env, "[backup]\nper-capacity = 3\n");
    let _: DrillOutput =
        t.cli(&three, "drill -w WS-001 --all --target-workspace WS-002").ok().await;
    assert_eq!(t.stack.sim.take_capacity_peak(capacity), 3, "drills at once with per-capacity = 3");
}
