//! The operations called directly, as a program embedding backup-core would: against a local store, and against
//! the simulated tenant.

use adls_store::{PutMode, StoreExt};
use backup_core::config::{ConfigFile, Settings};
use backup_core::manifest::{MANIFEST_FORMAT, Manifest, ManifestOptions, NamedId, StoredVersion};
use backup_core::ops::{
    self, BackupOptions, Context, DatasetSelector, PruneOptions, RestoreOptions,
};
use backup_core::output::{
    BackupVerification, CommandOutput, ManifestCheck, TransferVerification, exit_codes,
};
use backup_core::retention::RetentionPolicy;
use sha2::Digest;
use test_fixtures::tenant::TestTenant;

fn session(vars: Vec<(String, String)>) -> Context {
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Context::new(Settings::resolve(None, ConfigFile::default(), &lookup).expect("settings"))
}

fn local_session(root: &std::path::Path) -> Context {
    session(vec![("PBI_BACKUP_LOCAL_STORE".into(), root.display().to_string())])
}

fn model(name: &str) -> Vec<u8> {
    let spec = abf_format::ModelSpec {
        name: name.to_owned(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec {
            name: "Sales".into(),
            partitions: vec!["Sales".into()],
        }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: Some(2),
    };
    let cursor = std::io::Cursor::new(Vec::new());
    abf_format::write_model(cursor, &spec, &[], abf_format::WriterOptions::default())
        .expect("a model writes")
        .into_inner()
}

/// Stores `bytes` as `power-bi-backup/<workspace>/<file>` with a manifest that describes them.
async fn put_backup(session: &Context, workspace: &str, file: &str, created: &str, bytes: Vec<u8>) {
    let store = session.store().unwrap();
    let path = ops::backup_path(workspace, file).unwrap();
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        tool_version: "test".into(),
        endpoint: format!("powerbi://api.powerbi.com/v1.0/myorg/{workspace}"),
        workspace: NamedId { name: workspace.into(), id: None },
        dataset: NamedId { name: "Sales".into(), id: None },
        file: file.into(),
        created: created.into(),
        size: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        options: ManifestOptions {
            apply_compression: true,
            allow_overwrite: false,
            encrypted: false,
            security: None,
            syntax: "Tmsl".into(),
        },
        tables: vec!["Sales".into()],
        placed_by: None,
        tables_unknown: false,
        verified_version: None,
        roles: None,
        row_counts: None,
        model_size_bytes: None,
        model_modified: None,
        failed_check: None,
        drilled_at: None,
        drill_passed: None,
        definition: None,
    };
    store.put(&path, bytes.into(), PutMode::Overwrite).await.unwrap();
    manifest.verified_version = Some(StoredVersion::of(&store.head(&path).await.unwrap()));
    let mp = ops::backup_path(workspace, &Manifest::name_for(file)).unwrap();
    store
        .put(&mp, serde_json::to_vec(&manifest).unwrap().into(), PutMode::Overwrite)
        .await
        .unwrap();
}

#[tokio::test]
async fn list_verify_and_prune_on_a_local_store() {
    let root = tempfile::tempdir().unwrap();
    let s = local_session(root.path());
    s.store().unwrap().ensure_filesystem(ops::BACKUP_FILESYSTEM).await.unwrap();
    put_backup(&s, "Sales", "Sales_20261101T000000Z.abf", "2026-11-01T00:00:00Z", model("Sales"))
        .await;
    put_backup(&s, "Sales", "Sales_20261102T000000Z.abf", "2026-11-02T00:00:00Z", model("Sales"))
        .await;

    let list = ops::list(&s, "Sales").await.unwrap();
    assert_eq!(list.exit_code(), exit_codes::SUCCESS);
    let names: Vec<&str> = list.backups.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["Sales_20261102T000000Z.abf", "Sales_20261101T000000Z.abf"], "newest first");

    let ok = ops::verify(&s, "Sales", "Sales_20261101T000000Z.abf", true).await.unwrap();
    assert!(ok.valid && ok.hash_ok == Some(true), "{ok:?}");
    assert_eq!(ok.exit_code(), exit_codes::SUCCESS);
    // Other bytes of the same size under the name: the hash no longer matches the manifest.
    let path = ops::backup_path("Sales", "Sales_20261101T000000Z.abf").unwrap();
    let mut bytes = s.store().unwrap().get_bytes(&path).await.unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    s.store().unwrap().put(&path, bytes.into(), PutMode::Overwrite).await.unwrap();
    let bad = ops::verify(&s, "Sales", "Sales_20261101T000000Z.abf", false).await.unwrap();
    assert_eq!((bad.valid, bad.hash_ok), (false, Some(false)), "{bad:?}");
    assert_eq!(bad.exit_code(), exit_codes::INTEGRITY);

    let options = PruneOptions {
        workspaces: vec!["Sales".into()],
        datasets: Vec::new(),
        policy: RetentionPolicy { keep_last: Some(1), ..RetentionPolicy::default() },
        apply: false,
        stale_uploads_after: None,
        spare_after: None,
    };
    let plan = ops::prune(&s, &options).await.unwrap();
    let kept: Vec<(&str, bool)> =
        plan.decisions.iter().map(|d| (d.file.as_str(), d.keep)).collect();
    assert!(kept.contains(&("Sales_20261102T000000Z.abf", true)), "{plan:?}");
    assert!(plan.dry_run && plan.deleted.is_empty(), "{plan:?}");
}

#[tokio::test]
async fn a_missing_local_file_is_a_usage_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let s = local_session(root.path());
    let missing = root.path().join("nope.abf");
    let err = ops::upload(&s, &missing, "Sales", None, false, false).await.unwrap_err();
    assert_eq!((err.kind().as_str(), err.exit_code()), ("io", exit_codes::USAGE), "{err}");
    assert!(err.to_string().contains("nope.abf"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_then_plan_and_execute_a_restore_against_the_tenant() {
    let t = TestTenant::rules().await;
    let s = session(t.bot_env_with_storage("financelake"));
    let options = BackupOptions {
        workspaces: vec!["Finance".into()],
        server: None,
        datasets: DatasetSelector::One("Budget".into()),
        concurrency: Some(1),
        ..BackupOptions::from(&backup_core::config::BackupSection::default())
    };
    let out = ops::backup(&s, &options).await.unwrap();
    assert_eq!(out.exit_code(), exit_codes::SUCCESS, "{out:?}");
    let result = &out.results[0];
    assert_eq!(result.verification, Some(BackupVerification::Verified));

    let restore = RestoreOptions {
        workspace: Some("Finance Copy".into()),
        from_workspace: Some("Finance".into()),
        file: Some(result.file.clone()),
        ..RestoreOptions::default()
    };
    let restores = t.stack.sim.count("restore");
    let plan = ops::plan_restore(&s, &restore).await.unwrap();
    let shown = plan.output();
    assert_eq!(shown.manifest_check, ManifestCheck::AtCopy);
    assert_eq!(shown.replaces_existing, Some(false));
    assert!(shown.findings.iter().all(|f| !f.blocks()), "{shown:?}");
    assert_eq!(t.stack.sim.count("restore"), restores, "planning sends nothing");
    let done = ops::execute(&s, plan).await.unwrap();
    assert_eq!(done.manifest_check, ManifestCheck::Verified);
    assert_eq!(done.sha256, result.sha256);
    assert!(done.tables_compared && done.exit_code() == exit_codes::SUCCESS, "{done:?}");
    assert_eq!(t.stack.sim.count("restore"), restores + 1);

    // The copy it made is a verified transfer of its own, here as `copy` reports one.
    let copy =
        ops::copy(&s, "Finance", "Finance Copy", &result.file, true, false, false).await.unwrap();
    assert_eq!(copy.verification, TransferVerification::Source);
}

/// Inspecting a large stored backup reads its header page, directory and catalog, not its data: a backup with
/// 32 MiB of data is inspected by fetching well under a mebibyte, and a full check still reads every byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_inspect_reads_only_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn adls_store::Store> =
        std::sync::Arc::new(adls_store::LocalStore::new(dir.path()).unwrap());
    let model = abf_format::ModelSpec {
        name: "Large".into(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec {
            name: "Facts".into(),
            partitions: vec!["Facts".into()],
        }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: Some(2),
    };
    let data: Vec<u8> =
        (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let image = abf_format::write_model(
        std::io::Cursor::new(Vec::new()),
        &model,
        &[("Large.0.db/Facts.0.tbl/1.Facts.0.idf", &data)],
        abf_format::WriterOptions::default(),
    )
    .unwrap()
    .into_inner();
    let path = adls_store::StorePath::file("power-bi-backup", "Sales", "Large.abf").unwrap();
    store.ensure_filesystem("power-bi-backup").await.unwrap();
    adls_store::StoreExt::put(
        store.as_ref(),
        &path,
        image.clone().into(),
        adls_store::PutMode::Create,
    )
    .await
    .unwrap();
    let inspect = |full: bool| {
        let store = store.clone();
        let path = path.clone();
        let len = image.len() as u64;
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut reader = ops::RemoteReader::new(store, path, len, handle);
            let report = abf_format::inspect(
                &mut reader,
                abf_format::InspectOptions { full, ..Default::default() },
            );
            (report.unwrap(), reader.fetched)
        })
    };
    let (report, fetched) = inspect(false).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert!(fetched < 1 << 20, "{fetched} bytes read of {}", image.len());
    let (report, fetched) = inspect(true).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert!(fetched >= data.len() as u64, "a full check read {fetched} bytes");
}
