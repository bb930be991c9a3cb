//! `drill` through the binary against pbi-sim: a good backup restores into a scratch model that matches its
//! manifest (tables, roles, row counts) and is deleted again; a restore that loses a table, or rows of one, fails the
//! drill with exit 5 and still deletes it.

use backup_core::output::{BackupOutput, DrillOutput, exit_codes};

use crate::support::Tenant;

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
async fn a_scratch_model_an_earlier_drill_left_is_deleted_by_the_next_drill_once_a_day_old() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let out: BackupOutput = t.cli(&env, "backup -w Finance -d Budget").ok().await;
    let file = out.results[0].file.clone();
    // What a drill killed two days ago, and one killed an hour ago, left behind (restored under drill names).
    let old = "Budget (drill 2026-12-05T04:00:00Z)";
    let recent_time =
        backup_core::ops::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
    let recent = format!("Budget (drill {recent_time})");
    for name in [old, recent.as_str()] {
        let _: serde_json::Value = t
            .cli(&env, "restore -w 'Finance Copy' --from-workspace Finance --file")
            .arg(&file)
            .arg("--as")
            .arg(name)
            .ok()
            .await;
    }
    let models = t.stack.sim.models("Finance Copy");
    assert!(models.iter().any(|m| m == old) && models.contains(&recent), "{models:?}");
    let drill: DrillOutput =
        t.cli(&env, "drill -w Finance -d Budget --target-workspace 'Finance Copy'").ok().await;
    assert_eq!(drill.restorable, 1, "{drill:?}");
    let models = t.stack.sim.models("Finance Copy");
    assert!(
        !models.iter().any(|m| m == old),
        "the day-old scratch model is still there: {models:?}"
    );
    assert!(
        models.contains(&recent),
        "a recent one (a drill that may still run) was deleted: {models:?}"
    );
}
