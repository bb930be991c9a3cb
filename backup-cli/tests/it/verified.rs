//! "Verified" means the stored bytes were hashed and matched, and stays true only while the stored file is that
//! version: list, prune and restore --latest trust nothing else.

use adls_store::{PutMode, StoreExt, StorePath};
use backup_core::manifest::VerifiedState;
use backup_core::output::{
    BackupOutput, ListOutput, PruneOutput, RestoreOutput, VerifyOutput, exit_codes,
};

use crate::commands::{backup_one, next_second};
use crate::support::{Tenant, words};

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_replaced_by_bytes_of_the_same_size_is_no_longer_verified() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let good = backup_one(&t, &env, "Finance", "Budget").await;
    next_second().await;
    let newest = backup_one(&t, &env, "Finance", "Budget").await;
    // Other bytes of the same size under the newest name (a bad copy, a stray tool).
    let store = t.stack.store("financelake").unwrap();
    let path = StorePath::file("power-bi-backup", "Finance", &newest).unwrap();
    let mut bytes = store.get_bytes(&path).await.unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    store.put(&path, bytes.into(), PutMode::Overwrite).await.unwrap();

    let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    let state = |name: &str| list.backups.iter().find(|b| b.name == name).unwrap().state;
    assert_eq!(state(&newest), VerifiedState::ChangedSinceVerified);
    assert_eq!(state(&good), VerifiedState::Verified);
    let text = t.cli(&env, "list -w Finance").run().await;
    assert!(text.stdout.contains("CHANGED since verified"), "{}", text.stdout);

    // restore --latest passes over it, and says so.
    let out: RestoreOutput = t.cli(&env, "restore -w Finance --latest Budget --as B2").ok().await;
    assert_eq!(out.file, good);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains(&newest) && w.contains("does not match a manifest now")),
        "{out:?}"
    );

    // prune keeps the good one as the newest verified backup, whatever the policy says.
    let prune = words("prune -w Finance --dataset Budget --keep-last 1 --apply");
    let out: PruneOutput = t.report(&env, exit_codes::SUCCESS, &prune).await;
    let kept: Vec<&str> =
        out.decisions.iter().filter(|d| d.keep).map(|d| d.file.as_str()).collect();
    assert!(kept.contains(&good.as_str()) && kept.contains(&newest.as_str()), "{out:?}");
    let v: VerifyOutput = t.cli(&env, "verify -w Finance --file").arg(&good).ok().await;
    assert!(v.valid);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_records_the_version_it_hashed() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    // A manifest from before versions were recorded: never verified, as far as list can tell.
    let store = t.stack.store("financelake").unwrap();
    let mp =
        StorePath::file("power-bi-backup", "Finance", &format!("{file}.manifest.json")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&store.get_bytes(&mp).await.unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("verified_version").expect("a recorded version");
    store
        .put(&mp, serde_json::to_vec(&manifest).unwrap().into(), PutMode::Overwrite)
        .await
        .unwrap();
    let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert_eq!(list.backups[0].state, VerifiedState::NeverVerified);
    // restore --latest takes it after hashing it now (a backup from before versions were recorded is not lost to
    // it), and that check is recorded too.
    let out: RestoreOutput = t.cli(&env, "restore -w Finance --latest Budget --as Old").ok().await;
    assert_eq!(out.file, file);
    let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert_eq!(list.backups[0].state, VerifiedState::Verified);
    manifest.as_object_mut().unwrap().remove("verified_version");
    store
        .put(&mp, serde_json::to_vec(&manifest).unwrap().into(), PutMode::Overwrite)
        .await
        .unwrap();
    t.cli(&env, "verify -w Finance --file").arg(&file).ok::<VerifyOutput>().await;
    let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert_eq!((list.backups[0].state, list.backups[0].verified), (VerifiedState::Verified, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_deletes_nothing_of_a_dataset_none_of_whose_backups_verifies_now() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let older = backup_one(&t, &env, "Finance", "Budget").await;
    next_second().await;
    let newer = backup_one(&t, &env, "Finance", "Budget").await;
    // Both replaced by other bytes: nothing of the dataset can be trusted now.
    let store = t.stack.store("financelake").unwrap();
    for name in [&older, &newer] {
        let path = StorePath::file("power-bi-backup", "Finance", name).unwrap();
        store
            .put(&path, b"not the backup any more".to_vec().into(), PutMode::Overwrite)
            .await
            .unwrap();
    }
    let prune = words("prune -w Finance --dataset Budget --keep-last 1 --apply");
    let out: PruneOutput = t.report(&env, exit_codes::INTEGRITY, &prune).await;
    assert!(out.deleted.is_empty(), "{out:?}");
    assert!(
        store
            .exists(&StorePath::file("power-bi-backup", "Finance", &older).unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_table_listing_is_said_at_backup_and_at_restore() {
    let t = Tenant::rules().await;
    let env = t.env("financelake").set("PW", "a-password-for-the-listing");
    t.stack.sim.fail_table_listing(true);
    // A backup whose file holds its definition records the tables from the file: the service is not asked.
    let plain = t.backup(&env, "Finance", "Budget").await;
    assert!(!plain.warnings.iter().any(|w| w.contains("tables could not be listed")), "{plain:?}");
    let store = t.stack.store("financelake").unwrap();
    let manifest = |file: &str| {
        let mp = StorePath::file("power-bi-backup", "Finance", &format!("{file}.manifest.json"))
            .unwrap();
        let store = store.clone();
        async move {
            serde_json::from_slice::<serde_json::Value>(&store.get_bytes(&mp).await.unwrap())
                .unwrap()
        }
    };
    let m = manifest(&plain.file).await;
    assert_ne!(m["tables_unknown"], serde_json::Value::Bool(true), "{m}");
    assert!(!m["tables"].as_array().unwrap().is_empty(), "{m}");
    // An encrypted one cannot be read, so the service is asked, and its failure is recorded as unknown.
    next_second().await;
    let out: BackupOutput = t
        .report(
            &env,
            exit_codes::SUCCESS,
            &["backup", "-w", "Finance", "-d", "Budget", "--password-env", "PW"],
        )
        .await;
    let r = out.results.into_iter().next().unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("tables could not be listed")), "{r:?}");
    let m = manifest(&r.file).await;
    assert_eq!(m["tables_unknown"], serde_json::Value::Bool(true), "{m}");
    t.stack.sim.fail_table_listing(false);
    let out: RestoreOutput = t
        .cli(&env, "restore -w Finance --password-env PW --file")
        .arg(&r.file)
        .then("--as B3")
        .ok()
        .await;
    assert!(!out.tables_compared, "{out:?}");
    assert!(out.warnings.iter().any(|w| w.contains("tables were not compared")), "{out:?}");
    // A listing that fails after a restore is done is said, not taken for the restore failing nor for a match:
    // whether the model matches is unknown (exit 1).
    next_second().await;
    let good = t.backup(&env, "Finance", "Budget").await;
    t.stack.sim.fail_table_listing(true);
    let out: RestoreOutput = t
        .cli(&env, "restore -w Finance --file")
        .arg(&good.file)
        .then("--as B4")
        .json(exit_codes::FAILURE)
        .await;
    assert!(
        !out.tables_compared
            && out.comparison_unknown
            && out.warnings.iter().any(|w| w.contains("restore is done")),
        "{out:?}"
    );
    assert!(t.stack.sim.models("Finance").contains(&"B4".to_owned()), "the restore was made");
}

/// Two downloads of one file into one place: the second is refused while the first writes the partial, and the
/// first's file is whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_download_into_the_same_partial_is_refused() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let size = 24usize << 20;
    let data: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let store = t.stack.store("financelake").unwrap();
    let path = StorePath::file("power-bi-backup", "Finance", "Twice_20261128T000000Z.abf").unwrap();
    store.put(&path, data.clone().into(), PutMode::Create).await.unwrap();
    // The first reads come at once (the partial is written), the rest late: the first download is still writing
    // when the second starts, however loaded the machine.
    let faults = t.stack.emulators["financelake"].faults();
    faults.inject(Op::Read, Fault::Delay(std::time::Duration::ZERO), 2);
    faults.inject(Op::Read, Fault::Delay(std::time::Duration::from_secs(5)), 4);
    let dest = t.work.path().join("twice.abf");
    let partial = t.work.path().join("twice.abf.pbi-backup-partial");
    let args: Vec<String> = [
        "download",
        "-w",
        "Finance",
        "--file",
        "Twice_20261128T000000Z.abf",
        "--to",
        dest.to_str().unwrap(),
        "--json",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let first = crate::support::spawn_until_written(&env, t.work.path(), &args, &partial).await;
    let second = t.run(&env, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    second.expect(exit_codes::FAILURE);
    assert!(second.error().error.message.contains("another download is writing"), "{second:?}");
    let out = tokio::task::spawn_blocking(move || first.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit_codes::SUCCESS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&dest).unwrap() == data, "the downloaded file differs");
    assert!(!partial.exists());
}
