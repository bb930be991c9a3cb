//! `drill` through the binary against pbi-sim: a good backup restores into a scratch model that matches its
//! manifest and is deleted again; a restore that loses a table fails the drill with exit 5 and still deletes it.

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
    assert_eq!(r.file.as_deref(), Some(out.results[0].file.as_str()));
    assert_eq!(t.stack.sim.models("Finance Copy"), before, "a scratch model is left");
    assert_eq!(t.stack.sim.count("delete-dataset"), 1);
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
}
