//! Every command at least once, with `--json` decoded into backup-core's report types.

use std::path::Path;

use backup_core::manifest::Manifest;
use backup_core::output::{
    BackupOutput, BackupVerification, DoctorOutput, ListOutput, StorageChange, StorageStatus,
    TransferOutput, TransferVerification, VerifyOutput, exit_codes,
};
use backup_core::preflight::Status;

use crate::support::{Env, Tenant, model_abf, run_bin, sha256, words};

/// Waits for the next whole UTC second, so that a second backup of a dataset gets another default file name.
pub async fn next_second() {
    let now = time::OffsetDateTime::now_utc();
    let ms = 1000 - u64::from(now.millisecond()) + 20;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

pub async fn backup_one(t: &Tenant, env: &Env, workspace: &str, dataset: &str) -> String {
    t.backup(env, workspace, dataset).await.file
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_backup_list_download_inspect_verify() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");

    let doctor: DoctorOutput = t.cli(&env, "doctor --workspace Finance").ok().await;
    assert!(!doctor.blocked);
    assert!(doctor.storage.contains("financelake"), "{}", doctor.storage);
    for rule in words("SEED-01 SEED-02 SEED-07 SEED-08 SEED-12") {
        let f = doctor.findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| panic!("{rule}"));
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    // --all: every dataset of the workspace.
    let all: BackupOutput = t.cli(&env, "backup -w Finance --all").ok().await;
    let mut names: Vec<&str> = all.results.iter().map(|r| r.dataset.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["AS_AdventureWorksDW2014", "Big Model", "Budget", "DB", "Migrated From AAS"]
    );
    assert_eq!((all.succeeded, all.failed), (5, 0));
    for r in &all.results {
        assert!(r.ok() && r.error().is_none(), "{r:?}");
        assert!(
            r.file.starts_with(&format!("{}_", r.dataset)) && r.file.ends_with("Z.abf"),
            "{r:?}"
        );
        assert_eq!(r.verification, Some(BackupVerification::Verified));
        assert_eq!(
            r.manifest.as_deref(),
            Some(format!("power-bi-backup/Finance/{}.manifest.json", r.file).as_str())
        );
        assert!(r.size.unwrap() > 0 && r.sha256.as_ref().unwrap().len() == 64, "{r:?}");
    }
    let budget = all.results.iter().find(|r| r.dataset == "Budget").unwrap().clone();

    // --pattern, repeated, across a workspace.
    next_second().await;
    let pat: BackupOutput =
        t.cli(&env, "backup -w Finance --pattern 'Migrated*' --pattern 'D?'").ok().await;
    let mut names: Vec<&str> = pat.results.iter().map(|r| r.dataset.as_str()).collect();
    names.sort();
    assert_eq!(names, ["DB", "Migrated From AAS"]);

    // One dataset with its default name.
    let single = backup_one(&t, &env, "Finance", "Budget").await;
    assert_ne!(single, budget.file);

    // list: every backup, newest first, verified by its manifest.
    let list: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert_eq!(list.workspace, "Finance");
    assert_eq!(list.backups.len(), 8, "{list:?}");
    assert!(list.backups.iter().all(|b| b.verified && b.sha256.is_some()), "{list:?}");
    assert!(list.backups.windows(2).all(|w| w[0].time >= w[1].time), "not newest first: {list:?}");
    assert_eq!(list.backups[0].name, single);
    let listed = list.backups.iter().find(|b| b.name == budget.file).unwrap();
    assert_eq!(listed.sha256, budget.sha256);
    assert_eq!(Some(listed.size), budget.size);
    assert_eq!(listed.dataset.as_deref(), Some("Budget"));

    // download into a folder: the file and its manifest.
    let offline = t.work.path().join("offline");
    std::fs::create_dir(&offline).unwrap();
    let dl: TransferOutput = t
        .cli(&env, "download -w Finance --file")
        .arg(&budget.file)
        .then("--to")
        .arg(offline.to_str().unwrap())
        .ok()
        .await;
    let local = offline.join(&budget.file);
    let bytes = std::fs::read(&local).expect("the downloaded file");
    assert_eq!(dl.source, format!("power-bi-backup/Finance/{}", budget.file));
    assert_eq!(Path::new(&dl.destination), local);
    assert_eq!(Some(dl.size), budget.size);
    assert_eq!(bytes.len() as u64, dl.size);
    assert_eq!(Some(sha256(&bytes)), budget.sha256);
    assert_eq!(dl.sha256, sha256(&bytes));
    assert_eq!(dl.verification, TransferVerification::Manifest);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(offline.join(format!("{}.manifest.json", budget.file)))
            .expect("the manifest beside it"),
    )
    .expect("the manifest decodes");
    assert_eq!(manifest.sha256, dl.sha256);
    assert_eq!(manifest.size, dl.size);
    assert_eq!(manifest.dataset.name, "Budget");
    assert_eq!(manifest.workspace.name, "Finance");
    assert_eq!(manifest.tables, ["Account", "Budget"]);
    assert!(!manifest.options.encrypted);

    // A second download over an existing file is refused and leaves it alone.
    let run = t
        .cli(&env, "download -w Finance --file")
        .arg(&budget.file)
        .then("--to")
        .arg(local.to_str().unwrap())
        .then("--json")
        .exits(exit_codes::USAGE)
        .await;
    assert_eq!(run.error().error.kind, "usage");
    assert_eq!(std::fs::read(&local).unwrap(), bytes);

    // inspect, local (no tenant needed) and remote.
    let run = run_bin(
        &Env::default(),
        t.work.path(),
        &["inspect", local.to_str().unwrap(), "--full", "--json"],
    )
    .await
    .expecting(exit_codes::SUCCESS);
    let report: abf_format::Report = run.json();
    assert!(report.valid && !report.encrypted, "{report:?}");
    assert_eq!(report.database.name.as_deref(), Some("Budget"));
    let mut tables: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    tables.sort();
    assert_eq!(tables, ["Account", "Budget"]);
    let remote: abf_format::Report =
        t.cli(&env, "inspect -w Finance --file").arg(&budget.file).ok().await;
    assert!(remote.valid);
    assert_eq!(remote.database, report.database);
    assert_eq!(remote.tables, report.tables);
    assert_eq!(remote.files.len(), report.files.len());

    // verify.
    let run =
        t.cli(&env, "verify -w Finance --file").arg(&budget.file).then("--full --json").run().await;
    run.expect(exit_codes::SUCCESS);
    let v: VerifyOutput = run.json();
    assert!(v.valid);
    assert_eq!(v.hash_ok, Some(true));
    assert_eq!(v.sha256, budget.sha256);
    assert_eq!(v.expected_sha256, budget.sha256);
    assert!(v.container.as_ref().is_some_and(|c| c.valid));
}

#[tokio::test(flavor = "multi_thread")]
async fn download_resumes_a_partial_file_and_refuses_a_corrupt_one() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let whole_path = t.work.path().join("whole.abf");
    t.cli(&env, "download -w Finance --file")
        .arg(&file)
        .then("--to")
        .arg(whole_path.to_str().unwrap())
        .exits(exit_codes::SUCCESS)
        .await;
    let whole = std::fs::read(&whole_path).unwrap();
    assert!(whole.len() > 1000, "the backup is too small to cut: {} bytes", whole.len());
    let n = whole.len() / 3;

    // An interrupted download left the first n bytes: the next run continues it.
    let dest = t.work.path().join("resumed.abf");
    let partial = t.work.path().join("resumed.abf.pbi-backup-partial");
    std::fs::write(&partial, &whole[..n]).unwrap();
    let out: TransferOutput = t
        .cli(&env, "download -w Finance --file")
        .arg(&file)
        .then("--to")
        .arg(dest.to_str().unwrap())
        .ok()
        .await;
    assert_eq!(std::fs::read(&dest).unwrap(), whole);
    assert_eq!(out.size, whole.len() as u64);
    assert_eq!(out.sha256, sha256(&whole));
    assert_eq!(out.verification, TransferVerification::Manifest);
    assert!(!partial.exists(), "the partial file is left behind");
    assert!(t.work.path().join("resumed.abf.manifest.json").is_file());

    // A partial file whose bytes are not the file's: its last bytes (all of it, here) differ from the store's, so the
    // download starts over instead of failing after the whole transfer.
    let dest = t.work.path().join("bad.abf");
    let partial = t.work.path().join("bad.abf.pbi-backup-partial");
    let mut bad = whole[..n].to_vec();
    bad[n / 2] ^= 0xff;
    std::fs::write(&partial, &bad).unwrap();
    let args = |dest: &std::path::Path| -> Vec<String> {
        ["download", "-w", "Finance", "--file", &file, "--to", dest.to_str().unwrap(), "--json"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect()
    };
    t.run(&env, &args(&dest).iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expecting(exit_codes::SUCCESS);
    assert_eq!(std::fs::read(&dest).unwrap(), whole);
    assert!(!partial.exists(), "the partial file is left behind");

    // Stored bytes that no longer match the manifest: the download does not verify, and nothing is kept.
    let emulator = &t.stack.emulators["financelake"];
    let data = emulator.data_file("power-bi-backup", &format!("Finance/{file}")).unwrap();
    let mut stored = std::fs::read(&data).unwrap();
    stored[n / 2] ^= 0xff;
    std::fs::write(&data, &stored).unwrap();
    let dest = t.work.path().join("tampered.abf");
    let partial = t.work.path().join("tampered.abf.pbi-backup-partial");
    let run = t
        .run(&env, &args(&dest).iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expecting(exit_codes::INTEGRITY);
    let err = run.error().error;
    assert_eq!((err.kind.as_str(), err.exit_code), ("integrity", exit_codes::INTEGRITY), "{err:?}");
    assert!(err.message.contains("the manifest says"), "{}", err.message);
    assert!(!dest.exists(), "a file that does not verify was kept under the final name");
    assert!(
        !partial.exists(),
        "bytes that failed verification were kept for the next run to build on"
    );
    assert!(!t.work.path().join("tampered.abf.manifest.json").exists());
    std::fs::write(&data, &whole).unwrap();

    // A missing file names what was asked for.

    t.cli(&env, "download -w Finance --file Nope.abf --json").exits(exit_codes::USAGE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_is_checked_before_sending_and_read_back_after() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");

    // upload: a whole .abf written by abf-format.
    let image = model_abf("Uploaded", &["Orders", "Customers"]);
    let local = t.work.path().join("Uploaded.abf");
    std::fs::write(&local, &image).unwrap();
    let up: TransferOutput =
        t.cli(&env, "upload").arg(local.to_str().unwrap()).then("-w Finance").ok().await;
    assert_eq!(up.destination, "power-bi-backup/Finance/Uploaded.abf");
    assert_eq!(up.size, image.len() as u64);
    assert_eq!(up.sha256, sha256(&image));
    assert_eq!(up.verification, TransferVerification::ReadBack);
    let store = t.stack.store("financelake").unwrap();
    let path = adls_store::StorePath::file("power-bi-backup", "Finance", "Uploaded.abf").unwrap();
    let stored = adls_store::StoreExt::get_bytes(&store, &path).await.unwrap();
    assert_eq!(&stored[..], &image[..]);
    // Again without --overwrite: refused; with it: done.
    let run =
        t.cli(&env, "upload").arg(local.to_str().unwrap()).then("-w Finance --json").run().await;
    run.expect(exit_codes::USAGE);
    assert!(run.error().error.message.contains("--overwrite"), "{}", run.stdout);
    t.cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w Finance --overwrite --json")
        .exits(exit_codes::SUCCESS)
        .await;
    // Other bytes with a manifest that does not describe them: refused before anything is sent, so the stored
    // backup that --overwrite would have replaced is still there.
    let other = t.work.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let changed = other.join("Uploaded.abf");
    let changed_image = model_abf("Uploaded", &["Orders"]);
    std::fs::write(&changed, &changed_image).unwrap();
    // The manifest describes the first image, not these bytes.
    let manifest = backup_core::manifest::Manifest {
        format: backup_core::manifest::MANIFEST_FORMAT.into(),
        tool_version: "test".into(),
        endpoint: "powerbi://api.powerbi.com/v1.0/myorg/Finance".into(),
        workspace: backup_core::manifest::NamedId { name: "Finance".into(), id: None },
        dataset: backup_core::manifest::NamedId { name: "Uploaded".into(), id: None },
        file: "Uploaded.abf".into(),
        created: "2026-11-28T00:00:00Z".into(),
        size: image.len() as u64,
        sha256: sha256(&image),
        options: backup_core::manifest::ManifestOptions {
            apply_compression: true,
            allow_overwrite: false,
            encrypted: false,
            security: None,
            syntax: "Tmsl".into(),
        },
        tables: vec!["Orders".into(), "Customers".into()],
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
    std::fs::write(
        other.join("Uploaded.abf.manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let run = t
        .cli(&env, "upload")
        .arg(changed.to_str().unwrap())
        .then("-w Finance --overwrite --json")
        .exits(exit_codes::INTEGRITY)
        .await;
    assert!(run.error().error.message.contains("nothing was sent"), "{:?}", run.error().error);
    let stored = adls_store::StoreExt::get_bytes(&store, &path).await.unwrap();
    assert_eq!(&stored[..], &image[..], "the stored backup was replaced");

    // upload: not an .abf.
    let notes = t.work.path().join("notes.txt");
    std::fs::write(&notes, "not a backup").unwrap();
    let err = t
        .cli(&env, "upload")
        .arg(notes.to_str().unwrap())
        .then("-w Finance")
        .fails(exit_codes::USAGE)
        .await;
    assert_eq!(err.kind, "usage");
    assert!(err.message.contains(".abf"), "{}", err.message);
    // An .abf name over bytes that are not a backup.
    let fake = t.work.path().join("Fake.abf");
    std::fs::write(&fake, "not a backup either").unwrap();
    let run =
        t.cli(&env, "upload").arg(fake.to_str().unwrap()).then("-w Finance --json").run().await;
    assert!(matches!(run.code, exit_codes::INTEGRITY | exit_codes::USAGE), "{run:?}");
    assert!(
        !adls_store::StoreExt::exists(&store, &path.folder_path().join("Fake.abf").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_between_folders_carries_the_manifest_and_replaces_only_when_asked() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let cp: TransferOutput = t
        .cli(&env, "copy --from-workspace Finance --to-workspace 'Finance Copy' --file")
        .arg(&file)
        .ok()
        .await;
    assert_eq!(cp.source, format!("power-bi-backup/Finance/{file}"));
    assert_eq!(cp.destination, format!("power-bi-backup/Finance Copy/{file}"));
    let list: ListOutput = t.cli(&env, "list -w 'Finance Copy'").ok().await;
    assert_eq!(list.backups.len(), 1);
    assert!(list.backups[0].verified, "the copy's manifest was not copied: {list:?}");
    assert_eq!(list.backups[0].sha256.as_deref(), Some(cp.sha256.as_str()));
    t.cli(&env, "copy --from-workspace Finance --to-workspace 'Finance Copy' --file")
        .arg(&file)
        .then("--json")
        .exits(exit_codes::USAGE)
        .await;
    t.cli(&env, "copy --from-workspace Finance --to-workspace 'Finance Copy' --file")
        .arg(&file)
        .then("--overwrite")
        .exits(exit_codes::SUCCESS)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_and_restore_see_a_tampered_file() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let copy =
        ["copy", "--from-workspace", "Finance", "--to-workspace", "Finance Copy", "--file", &file];
    t.run(&env, &copy).await.expect(exit_codes::SUCCESS);

    // verify after tampering with the stored bytes on the emulator's disk.
    let emulator = &t.stack.emulators["financelake"];
    let data = emulator
        .data_file("power-bi-backup", &format!("Finance/{file}"))
        .unwrap_or_else(|| panic!("no data file; paths: {:?}", emulator.paths("power-bi-backup")));
    crate::support::flip_middle_byte(&data);
    let bytes = std::fs::read(&data).unwrap();
    let run = t
        .cli(&env, "verify -w Finance --file")
        .arg(&file)
        .then("--json")
        .exits(exit_codes::INTEGRITY)
        .await;
    // The report, not a failure of the command: the hash found, the one expected, and the container check.
    let v: VerifyOutput = run.json();
    assert!(!v.valid && v.hash_ok == Some(false), "{v:?}");
    assert_eq!(v.sha256, Some(sha256(&bytes)));
    assert_ne!(v.sha256, v.expected_sha256);
    assert!(v.container.is_some());
    // A restore of it is refused before anything is sent.
    let restores = t.stack.sim.count("restore");
    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&file)
        .then("--as Tampered --json")
        .exits(exit_codes::INTEGRITY)
        .await;
    assert_eq!(run.error().error.kind, "integrity");
    assert_eq!(t.stack.sim.count("restore"), restores);
    // The untouched copy still verifies.
    t.cli(&env, "verify -w 'Finance Copy' --file")
        .arg(&file)
        .then("--full")
        .exits(exit_codes::SUCCESS)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_status_link_unlink_relink() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    let file = backup_one(&t, &env, "Personal Premium", "Forecast").await;

    let status = |run: &crate::support::Run| -> Vec<StorageStatus> {
        run.expect(exit_codes::SUCCESS);
        run.json()
    };
    let run =
        t.cli(&env, "storage status -w 'Personal Premium' -w 'No Storage' --json").run().await;
    let s = status(&run);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].workspace, "Personal Premium");
    assert_eq!(s[0].account.as_deref(), Some("tenantlake"));
    assert_eq!((s[0].folder_exists, s[0].backups), (Some(true), Some(1)));
    assert_eq!(s[1].account, None);
    assert_eq!(s[1].backups, Some(0));

    // With another account configured than the one a workspace is attached to, its folder is not looked for there:
    // neither "does not exist" in status nor a SEED-12 warning in doctor.
    let run = t.cli(&env, "storage status -w Finance --json").run().await;
    let s = status(&run);
    assert_eq!(
        (s[0].account.as_deref(), s[0].folder_exists, s[0].backups),
        (Some("financelake"), None, None)
    );
    // Doctor blocks it (SEED-02), naming both accounts: a backup would land where pbi-backup cannot verify it.
    let doctor: DoctorOutput =
        t.cli(&env, "doctor -w Finance").json(exit_codes::PREFLIGHT_BLOCKED).await;
    let seed02 = doctor.findings.iter().find(|f| f.rule == "SEED-02").unwrap();
    assert!(seed02.blocks(), "{seed02:?}");
    assert!(
        seed02.message.contains("'financelake'") && seed02.message.contains("'tenantlake'"),
        "{seed02:?}"
    );
    assert!(seed02.remedy.contains("PBI_BACKUP_ADLS_ACCOUNT=financelake"), "{seed02:?}");
    let seed12 = doctor.findings.iter().find(|f| f.rule == "SEED-12").unwrap();
    assert_eq!(seed12.status, Status::Unknown, "{seed12:?}");
    assert!(seed12.message.contains("not looked at"), "{seed12:?}");
    let backups = t.stack.sim.count("backup");
    t.cli(&env, "backup -w Finance -d DB").exits(exit_codes::PREFLIGHT_BLOCKED).await;
    assert_eq!(t.stack.sim.count("backup"), backups, "a backup was sent");

    // relink renames the old folder first, and says so.
    let change: StorageChange = t.cli(&env, "storage relink -w 'Personal Premium'").ok().await;
    let renamed = change.renamed_folder_to.clone().expect("the folder was renamed");
    assert!(renamed.starts_with("power-bi-backup/Personal Premium (before relink "), "{renamed}");
    assert!(
        change.actions[0].starts_with("renamed power-bi-backup/Personal Premium to "),
        "{change:?}"
    );
    assert_eq!(change.actions.len(), 3, "{change:?}");
    let store = t.stack.store("tenantlake").unwrap();
    let moved_folder = renamed.trim_start_matches("power-bi-backup/");
    let moved = adls_store::StorePath::file("power-bi-backup", moved_folder, &file).unwrap();
    assert!(
        adls_store::StoreExt::exists(&store, &moved).await.unwrap(),
        "the backup is not in {renamed}"
    );
    let run = t.cli(&env, "storage status -w 'Personal Premium' --json").run().await;
    let s = status(&run);
    assert_eq!(s[0].account.as_deref(), Some("tenantlake"));
    assert_eq!(s[0].backups, Some(0));
    // The attach made an empty folder (a directory, as Power BI leaves one): doctor and status tell it from an
    // absent one, and relink removes it before the detach, rather than taking it for absent.
    let emulator = &t.stack.emulators["tenantlake"];
    let paths = emulator.paths("power-bi-backup");
    assert!(paths.contains(&"Personal Premium".to_owned()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("Personal Premium/")), "not empty: {paths:?}");
    assert_eq!(s[0].folder_exists, Some(true));
    let doctor: DoctorOutput = t.cli(&env, "doctor -w 'Personal Premium'").ok().await;
    let seed12 = doctor.findings.iter().find(|f| f.rule == "SEED-12").unwrap();
    assert_eq!(seed12.status, Status::Pass, "{seed12:?}");
    assert!(seed12.message.contains("exists and is empty"), "{seed12:?}");
    let text = t.cli(&env, "storage status -w 'Personal Premium'").run().await;
    assert!(text.stdout.contains("exists, with no backup"), "{}", text.stdout);
    let change: StorageChange = t.cli(&env, "storage relink -w 'Personal Premium'").ok().await;
    assert_eq!(change.renamed_folder_to, None, "{change:?}");
    assert_eq!(
        change.actions[0], "removed the empty folder power-bi-backup/Personal Premium",
        "{change:?}"
    );
    // Backups work after the relink.
    backup_one(&t, &env, "Personal Premium", "Forecast").await;

    // relink with the storage of another account configured: refused before anything changes.
    let run =
        t.cli(&t.env("financelake"), "storage relink -w 'Personal Premium' --json").run().await;
    run.expect(exit_codes::USAGE);
    let err = run.error().error;
    assert!(
        err.message.contains("'tenantlake'") && err.message.contains("nothing was changed"),
        "{err:?}"
    );
    let run = t.cli(&env, "storage status -w 'Personal Premium' --json").run().await;
    assert_eq!(
        status(&run)[0].account.as_deref(),
        Some("tenantlake"),
        "the workspace was left detached"
    );

    // relink with a local store configured: refused, nothing changed (Power BI does not look there).
    let local = tempfile::tempdir().unwrap();
    let local_env =
        t.env_no_storage().set("PBI_BACKUP_LOCAL_STORE", local.path().to_str().unwrap());
    let doctor: DoctorOutput = t.cli(&local_env, "doctor -w 'Personal Premium'").ok().await;
    let seed12 = doctor.findings.iter().find(|f| f.rule == "SEED-12").unwrap();
    assert_eq!(
        seed12.status,
        Status::Unknown,
        "the local store was taken for the workspace's account: {seed12:?}"
    );
    let run = t
        .cli(&local_env, "storage relink -w 'Personal Premium' --json")
        .exits(exit_codes::USAGE)
        .await;
    assert!(run.error().error.message.contains("nothing was changed"));
    let run = t.cli(&env, "storage status -w 'Personal Premium' --json").run().await;
    assert_eq!(
        status(&run)[0].account.as_deref(),
        Some("tenantlake"),
        "the workspace was left detached"
    );

    // unlink.
    let change: StorageChange = t.cli(&env, "storage unlink -w 'Personal Premium'").ok().await;
    assert_eq!(change.renamed_folder_to, None);
    let run = t.cli(&env, "storage status -w 'Personal Premium' --json").run().await;
    assert_eq!(status(&run)[0].account, None);

    // link: a workspace with no folder in the account.
    let change: StorageChange =
        t.cli(&env, "storage link -w 'No Storage' --account tenantlake").ok().await;
    assert_eq!(change.workspace, "No Storage");
    let run = t.cli(&env, "storage status -w 'No Storage' --json").run().await;
    let s = status(&run);
    assert_eq!((s[0].account.as_deref(), s[0].folder_exists), (Some("tenantlake"), Some(true)));
    backup_one(&t, &env, "No Storage", "Orphan").await;
    // Linking again to the same account changes nothing (the service would refuse: the folder exists).
    let change: StorageChange =
        t.cli(&env, "storage link -w 'No Storage' --account tenantlake").ok().await;
    assert!(change.actions[0].starts_with("already attached"), "{change:?}");
    // An account that is not registered: the nearest names.
    let err = t
        .cli(&env, "storage link -w 'Personal Premium' --account tenantlak")
        .fails(exit_codes::USAGE)
        .await;
    assert!(err.message.contains("'tenantlake'"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_and_dry_runs_mask_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_bin(&Env::default(), dir.path(), &["completions", "bash"])
        .await
        .expecting(exit_codes::SUCCESS);
    assert!(run.stdout.contains("complete") && run.stdout.contains("pbi-backup"), "{}", run.stdout);
    for sub in words("backup restore prune relink") {
        assert!(run.stdout.contains(sub), "completions lack {sub}");
    }
    run_bin(&Env::default(), dir.path(), &["completions", "tcsh"]).await.expect(exit_codes::USAGE);
    let run = run_bin(&Env::default(), dir.path(), &["completions", "man"])
        .await
        .expecting(exit_codes::SUCCESS);
    assert!(
        run.stdout.starts_with(".ie") && run.stdout.contains(".TH pbi-backup 1"),
        "{}",
        run.stdout
    );

    let secret = "s3cr3t&<pw>\"'\\x";
    let env = Env::default().set("MY_BACKUP_PW", secret);
    let leaks = |run: &crate::support::Run| {
        for part in ["s3cr3t", "&lt;pw&gt;"] {
            assert!(!run.stdout.contains(part), "the password shows in stdout:\n{}", run.stdout);
            assert!(!run.stderr.contains(part), "the password shows in stderr:\n{}", run.stderr);
        }
        assert!(run.stdout.contains(xmla_proto::PASSWORD_MASK), "no mask in:\n{}", run.stdout);
    };
    for json in [true, false] {
        let mut args = words("backup -w Finance -d Budget --dry-run --password-env MY_BACKUP_PW");
        if json {
            args.push("--json");
        }
        let run = run_bin(&env, dir.path(), &args).await.expecting(exit_codes::SUCCESS);
        leaks(&run);
        if json {
            let doc: backup_core::output::DryRunOutput = run.json();
            assert!(doc.dry_run);
            assert!(doc.request.contains("Budget"), "{}", doc.request);
        }
    }
    // The ASSL form (with --security) masks it too.
    let run = run_bin(
        &env,
        dir.path(),
        &words("backup -w Finance -d Budget --dry-run --security CopyAll --password-env MY_BACKUP_PW --json"),
    ).await.expecting(exit_codes::SUCCESS);
    leaks(&run);
    // A variable that is not set is a usage error naming it.
    let run = run_bin(
        &Env::default(),
        dir.path(),
        &words("backup -w Finance -d Budget --dry-run --password-env MY_BACKUP_PW --json"),
    )
    .await
    .expecting(exit_codes::USAGE);
    assert!(run.error().error.message.contains("MY_BACKUP_PW"));
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_backups_travel_with_their_manifest() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let offline = t.work.path().join("offline");
    std::fs::create_dir(&offline).unwrap();
    t.cli(&env, "download -w Finance --file")
        .arg(&file)
        .then("--to")
        .arg(offline.to_str().unwrap())
        .exits(exit_codes::SUCCESS)
        .await;
    let local = offline.join(&file);

    // Uploaded under another name into another folder: the manifest goes along, renamed.
    let up: TransferOutput = t
        .cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w 'Finance Copy' --file Renamed.abf")
        .ok()
        .await;
    assert_eq!(up.verification, TransferVerification::Manifest);
    let store = t.stack.store("financelake").unwrap();
    let mp =
        adls_store::StorePath::file("power-bi-backup", "Finance Copy", "Renamed.abf.manifest.json")
            .unwrap();
    let m: Manifest =
        serde_json::from_slice(&adls_store::StoreExt::get_bytes(&store, &mp).await.unwrap())
            .unwrap();
    assert_eq!(m.file, "Renamed.abf");
    assert_eq!(m.sha256, up.sha256);
    let run = t.cli(&env, "list -w 'Finance Copy' --json").run().await;
    let list: ListOutput = run.json();
    assert!(
        list.backups[0].verified && list.backups[0].dataset.as_deref() == Some("Budget"),
        "{list:?}"
    );
    // So it restores without --allow-unverified, and the tables are compared.
    let run = t
        .cli(&env, "restore -w 'Finance Copy' --file Renamed.abf --json")
        .exits(exit_codes::SUCCESS)
        .await;
    let out: backup_core::output::RestoreOutput = run.json();
    assert!(
        out.tables_compared && out.missing_tables.is_empty() && out.extra_tables.is_empty(),
        "{out:?}"
    );

    // A local file that does not match the manifest beside it: refused, and nothing is left in the folder.
    let other = offline.join("Other.abf");
    std::fs::write(&other, model_abf("Other", &["X"])).unwrap();
    std::fs::copy(
        offline.join(format!("{file}.manifest.json")),
        offline.join("Other.abf.manifest.json"),
    )
    .unwrap();
    t.cli(&env, "upload")
        .arg(other.to_str().unwrap())
        .then("-w 'Finance Copy' --json")
        .exits(exit_codes::INTEGRITY)
        .await;
    let gone = adls_store::StorePath::file("power-bi-backup", "Finance Copy", "Other.abf").unwrap();
    assert!(
        !adls_store::StoreExt::exists(&store, &gone).await.unwrap(),
        "the mismatched upload was left"
    );

    // A download of a file without a manifest is verified against the hash kept with it.
    let bare_local = t.work.path().join("bare-manifest-less");
    std::fs::create_dir(&bare_local).unwrap();
    // (Other.abf.manifest.json lies beside `other`, so upload it from a folder without one.)
    let lone = bare_local.join("Bare.abf");
    std::fs::copy(&other, &lone).unwrap();
    t.cli(&env, "upload")
        .arg(lone.to_str().unwrap())
        .then("-w Finance")
        .exits(exit_codes::SUCCESS)
        .await;
    let dest = t.work.path().join("bare-download.abf");
    // A partial file longer than the file itself is not trusted: the download starts again.
    std::fs::write(t.work.path().join("bare-download.abf.pbi-backup-partial"), vec![7u8; 1 << 20])
        .unwrap();
    let dl: TransferOutput = t
        .cli(&env, "download -w Finance --file Bare.abf --to")
        .arg(dest.to_str().unwrap())
        .ok()
        .await;
    assert_eq!(dl.verification, TransferVerification::StoredHash);
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&other).unwrap());
    assert!(!t.work.path().join("bare-download.abf.manifest.json").exists());

    // verify without a manifest: no hash to compare, the container decides.
    let run =
        t.cli(&env, "verify -w Finance --file Bare.abf --json").exits(exit_codes::SUCCESS).await;
    let v: VerifyOutput = run.json();
    assert_eq!((v.valid, v.hash_ok, v.expected_sha256.as_deref()), (true, None, None));

    let copy = ["copy", "--from-workspace", "Finance", "--to-workspace", "Finance Copy", "--file"];
    let mut args = copy.to_vec();
    args.push(&file);
    t.run(&env, &args).await.expect(exit_codes::SUCCESS);
    // Replacing a backup with --overwrite by a file without a manifest: the old manifest, which describes other
    // bytes, goes.
    let replacement = bare_local.join(&file);
    std::fs::write(&replacement, model_abf("Replacement", &["R"])).unwrap();
    t.cli(&env, "upload")
        .arg(replacement.to_str().unwrap())
        .then("-w Finance --overwrite")
        .exits(exit_codes::SUCCESS)
        .await;
    let old_manifest =
        adls_store::StorePath::file("power-bi-backup", "Finance", &format!("{file}.manifest.json"))
            .unwrap();
    assert!(
        !adls_store::StoreExt::exists(&store, &old_manifest).await.unwrap(),
        "a stale manifest is left"
    );
    let run = t.cli(&env, "list -w Finance --json").run().await;
    let list: ListOutput = run.json();
    let entry = list.backups.iter().find(|b| b.name == file).unwrap();
    assert!(!entry.verified && entry.sha256.is_none(), "{entry:?}");

    // The same through copy: a copy without a manifest over one with a manifest takes the stale manifest away.
    t.cli(&env, "copy --from-workspace Finance --to-workspace 'Finance Copy' --file")
        .arg(&file)
        .then("--overwrite")
        .exits(exit_codes::SUCCESS)
        .await;
    let run = t.cli(&env, "list -w 'Finance Copy' --json").run().await;
    let list: ListOutput = run.json();
    let entry = list.backups.iter().find(|b| b.name == file);
    assert!(entry.is_some_and(|e| !e.verified && e.sha256.is_none()), "{list:?}");

    // inspect: a truncated local file is not whole (exit 5, the report says why); a missing one is a usage error.
    let bytes = std::fs::read(&local).unwrap();
    let cut = t.work.path().join("cut.abf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let run =
        run_bin(&Env::default(), t.work.path(), &["inspect", cut.to_str().unwrap(), "--json"])
            .await;
    run.expect(exit_codes::INTEGRITY);
    let report: abf_format::Report = run.json();
    assert!(!report.valid && !report.problems.is_empty(), "{report:?}");
    run_bin(&Env::default(), t.work.path(), &["inspect", "nowhere.abf", "--json"])
        .await
        .expect(exit_codes::USAGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn global_options_json_env_quiet_and_empty_folders() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // PBI_BACKUP_JSON=1 is --json.
    let run =
        t.run(&env.clone().set("PBI_BACKUP_JSON", "1"), &["list", "-w", "Finance Copy"]).await;
    run.expect(exit_codes::SUCCESS);
    let list: ListOutput = run.json();
    assert!(list.backups.is_empty());
    // A workspace that does not exist is not an empty folder: exit 2, with the nearest names.
    let err = t.cli(&env, "list -w 'No Such Folder'").fails(exit_codes::USAGE).await;
    assert_eq!(err.kind, "not_found", "{err:?}");
    // Text output is not JSON, and -q silences warnings.
    let run =
        t.cli(&env, "backup -w Finance -d DB --skip-preflight").exits(exit_codes::SUCCESS).await;
    assert!(run.stdout.contains("1 succeeded, 0 failed"), "{}", run.stdout);
    assert!(run.stderr.contains("warning: --skip-preflight"), "{}", run.stderr);
    let run = t
        .cli(&env, "backup -w Finance -d Budget --skip-preflight -q --json")
        .exits(exit_codes::SUCCESS)
        .await;
    assert!(run.stderr.is_empty(), "-q printed: {}", run.stderr);
    run.json::<BackupOutput>();
    // A workspace named twice, by pattern and by name, is backed up once.
    let out: BackupOutput =
        t.cli(&env, "backup -w 'Fin*' -w Finance --pattern 'Migrated*'").ok().await;
    assert_eq!((out.results.len(), out.succeeded), (1, 1), "{out:?}");
    // --file with several datasets is refused before anything is sent.
    let sent = t.stack.sim.count("backup");

    t.cli(&env, "backup -w Finance --all --file x.abf --json").exits(exit_codes::USAGE).await;
    assert_eq!(t.stack.sim.count("backup"), sent);
    // --file not ending in .abf (which list, restore and prune would never see): refused before anything is sent.
    let run =
        t.cli(&env, "backup -w Finance -d DB --file DB.bak --json").exits(exit_codes::USAGE).await;
    assert!(run.error().error.message.contains(".abf"));
    assert_eq!(t.stack.sim.count("backup"), sent);
    // --all on a workspace with no datasets.
    t.cli(&env, "backup -w 'Finance Copy' --all --json").exits(exit_codes::USAGE).await;
    // A --config file that does not exist.

    t.cli(&env, "--config missing.toml list -w Finance --json").exits(exit_codes::USAGE).await;
    // storage status without storage configured: the link only.
    let s: Vec<StorageStatus> = t.cli(&t.env_no_storage(), "storage status -w Finance").ok().await;
    assert_eq!(
        (s[0].account.as_deref(), s[0].folder_exists, s[0].backups),
        (Some("financelake"), None, None)
    );
    let run = t.cli(&env, "storage status -w Finanse --json").exits(exit_codes::USAGE).await;
    assert!(run.error().error.message.contains("'Finance'"));
}

/// Whether `text` holds a simulator token (`sim.<64 hex>` or `mwc.<64 hex>`).
pub fn holds_token(text: &str) -> bool {
    // pbi-sim's bearer tokens are JWTs: a header `eyJ…`, a dot, the claims.
    let jwt = text.match_indices("eyJ").any(|(i, _)| {
        let rest = &text[i..];
        let header = rest.find('.').map_or(rest, |d| &rest[..d]);
        header.len() >= 16
            && header.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && rest[header.len()..].starts_with(".eyJ")
    });
    jwt || ["sim.", "mwc."].iter().any(|prefix| {
        text.match_indices(prefix).any(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            rest.len() >= 64 && rest[..64].chars().all(|c| c.is_ascii_hexdigit())
        })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_hold_no_secret() {
    let t = Tenant::rules().await;
    let password = "hunter2-pass";
    let sas_sig = "SECRETSIG123";
    let env = t.env("financelake").set("PW", password);
    let key = test_fixtures::dfs::DEFAULT_ACCOUNT_KEY;
    let wrong = env.clone().set("AZURE_CLIENT_SECRET", "wrong-secret-value");
    let sas = env
        .clone()
        .unset("AZURE_STORAGE_KEY")
        .set("PBI_BACKUP_ADLS_AUTH", "sas")
        .set("AZURE_STORAGE_SAS_TOKEN", &format!("sv=2022-11-02&sp=rwdlac&sig={sas_sig}%3D"));
    let trace = env.clone().set("PBI_BACKUP_LOG", "trace");
    let backup = words("backup -w Finance -d DB --password-env PW -vv --json");
    let runs = [
        t.run(&env, &backup).await,
        t.cli(&env, "restore -w Finance --latest DB --as X --password-env PW -vv").run().await,
        t.cli(&env, "doctor -w Finance -vv").run().await,
        t.cli(&wrong, "list -w Finance -vv").run().await,
        t.cli(&wrong, "doctor -w Finance -vv").run().await,
        t.cli(&sas, "list -w Finance -vv").run().await,
        t.cli(&sas, "download -w Finance --file Nope.abf -vv").run().await,
        t.cli(&trace, "backup -w Finance -d DB --password-env PW --skip-preflight").run().await,
        t.run(
            &trace.clone().set("PBI_BACKUP_LOG", "trace,azure_core=trace,reqwest=trace"),
            &["list", "-w", "Finance"],
        )
        .await,
        // A directive for one module of a crate that logs secrets is more specific than any cap by crate name.
        t.run(
            &trace.clone().set("PBI_BACKUP_LOG", "azure_core::policies::transport=trace,trace"),
            &["list", "-w", "Finance"],
        )
        .await,
        t.run(
            &sas.clone()
                .unset("PBI_BACKUP_LOG")
                .set("RUST_LOG", "azure_core::policies::transport=trace,trace"),
            &["list", "-w", "Finance"],
        )
        .await,
    ];
    assert!(runs[0].stderr.contains("DEBUG"), "-vv logs nothing at debug: {}", runs[0].stderr);
    for run in &runs {
        for secret in
            [crate::support::BOT_SECRET, key, password, "wrong-secret-value", sas_sig, "SharedKey "]
        {
            assert!(!run.stderr.contains(secret), "{:?} logs a secret ({secret})", run.args);
            assert!(!run.stdout.contains(secret), "{:?} prints a secret ({secret})", run.args);
        }
        assert!(
            !holds_token(&run.stderr) && !holds_token(&run.stdout),
            "{:?} logs a token",
            run.args
        );
    }
    assert_eq!(runs[0].code, exit_codes::SUCCESS);
    assert_eq!(runs[1].code, exit_codes::SUCCESS);
    assert_eq!(runs[5].code, exit_codes::SUCCESS);
}

/// A whole .abf whose header says it is password-protected (as Power BI's encrypted backups are).
fn encrypted_abf(name: &str) -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut image = model_abf(name, &["T"]);
    let (from, to) = (
        utf16("<EncryptionFlag>false</EncryptionFlag>"),
        utf16("<EncryptionFlag>true</EncryptionFlag> "),
    );
    let i =
        image.windows(from.len()).position(|w| w == from.as_slice()).expect("the header's flag");
    image[i..i + to.len()].copy_from_slice(&to);
    image
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_kept_backup_uploads_and_verifies() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let image = encrypted_abf("Secret");
    let local = t.work.path().join("Secret.abf");
    std::fs::write(&local, &image).unwrap();
    // inspect can only say it is encrypted.
    let run =
        run_bin(&Env::default(), t.work.path(), &["inspect", local.to_str().unwrap(), "--json"])
            .await;
    // Encrypted is not damaged: it exits 0, says encrypted, and is not `valid` (it could not be checked).
    run.expect(exit_codes::SUCCESS);
    let report: abf_format::Report = run.json();
    assert!(report.encrypted && !report.valid, "{report:?}");
    let text = run_bin(&Env::default(), t.work.path(), &["inspect", local.to_str().unwrap()]).await;
    text.expect(exit_codes::SUCCESS);
    assert!(text.stdout.contains("encrypted: readable only with its password"), "{}", text.stdout);
    // It uploads (it used to be refused as "not a whole .abf backup") and verifies by its hash.
    let up: TransferOutput =
        t.cli(&env, "upload").arg(local.to_str().unwrap()).then("-w Finance").ok().await;
    assert_eq!(up.sha256, sha256(&image));
    let v: VerifyOutput = t.cli(&env, "verify -w Finance --file Secret.abf").ok().await;
    assert!(v.valid && v.container.as_ref().is_some_and(|c| c.encrypted), "{v:?}");
    assert_eq!(v.sha256.as_deref(), Some(up.sha256.as_str()));
    // Damaged, it does not verify.
    let data = t.stack.emulators["financelake"]
        .data_file("power-bi-backup", "Finance/Secret.abf")
        .unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    let run = t
        .cli(&env, "verify -w Finance --file Secret.abf --json")
        .exits(exit_codes::INTEGRITY)
        .await;
    assert!(!run.json::<VerifyOutput>().valid);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_special_characters_round_trip() {
    const WS_NAME: &str = "Ops & Finance (EU) #1 %20 ü";
    let scenario = format!(
        r#"
[tenant]
id = "0a0b0c0d-1111-2222-3333-888888888888"
home-region = "West Europe"
[[capacities]]
name = "P1"
sku = "P1"
region = "West Europe"
[[storage-accounts]]
name = "oddlake"
location = "West Europe"
[[workspaces]]
name = "{WS_NAME}"
capacity = "P1"
storage = "oddlake"
[[principals]]
kind = "app"
name = "bot"
id = "{}"
secret = "{}"
roles = {{ "{WS_NAME}" = "Admin", "Sales [EU]" = "Admin", "Sales E" = "Admin" }}
[[workspaces]]
name = "Sales [EU]"
capacity = "P1"
storage = "oddlake"
[[workspaces]]
name = "Sales E"
capacity = "P1"
storage = "oddlake"
[[datasets]]
workspace = "Sales [EU]"
name = "Model*"
[[datasets]]
workspace = "Sales E"
name = "Other"
[[datasets]]
workspace = "{WS_NAME}"
name = "Sales: EU/Q4 <&> 'x' \"y\""
tables = [{{ name = "Fact & <Sales>", columns = ["C"], rows = 1 }}]
[[datasets]]
workspace = "{WS_NAME}"
name = "Ünïcode Δ ?+"
tables = [{{ name = "T", columns = ["C"], rows = 1 }}]
"#,
        crate::support::BOT,
        crate::support::BOT_SECRET
    );
    let t = Tenant::start(&scenario).await;
    let env = t.env("oddlake");
    let out: BackupOutput = t.cli(&env, "backup -w").arg(WS_NAME).then("--all").ok().await;
    assert_eq!(out.succeeded, 2);
    let run = t.cli(&env, "list -w").arg(WS_NAME).then("--json").run().await;
    let list: ListOutput = run.json();
    let mut datasets: Vec<&str> =
        list.backups.iter().filter_map(|b| b.dataset.as_deref()).collect();
    datasets.sort();
    assert_eq!(datasets, ["Sales: EU/Q4 <&> 'x' \"y\"", "Ünïcode Δ ?+"]);
    assert!(list.backups.iter().all(|b| b.verified));
    let dl = t.work.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    for r in &out.results {
        assert!(!r.file.contains('/') && !r.file.contains(':'), "{}", r.file);
        let as_name = format!("{} (r)", r.dataset);
        let run = t
            .cli(&env, "restore -w")
            .arg(WS_NAME)
            .then("--latest")
            .arg(&r.dataset)
            .then("--as")
            .arg(&as_name)
            .then("--json")
            .exits(exit_codes::SUCCESS)
            .await;
        let restored: backup_core::output::RestoreOutput = run.json();
        assert_eq!(restored.file, r.file);
        assert!(
            restored.tables_compared
                && restored.missing_tables.is_empty()
                && restored.extra_tables.is_empty()
        );
        t.cli(&env, "verify -w")
            .arg(WS_NAME)
            .then("--file")
            .arg(&r.file)
            .then("--full")
            .exits(exit_codes::SUCCESS)
            .await;
        t.cli(&env, "download -w")
            .arg(WS_NAME)
            .then("--file")
            .arg(&r.file)
            .then("--to")
            .arg(dl.to_str().unwrap())
            .exits(exit_codes::SUCCESS)
            .await;
        assert_eq!(Some(sha256(&std::fs::read(dl.join(&r.file)).unwrap())), r.sha256);
    }
    assert_eq!(t.stack.sim.models(WS_NAME).len(), 4);
    let change: StorageChange = t.cli(&env, "storage relink -w").arg(WS_NAME).ok().await;
    assert!(change.actions[0].ends_with("(4 files)"), "{change:?}");

    // A workspace whose name holds pattern characters is selected by its exact name, not taken as a pattern
    // ('Sales [EU]' as a glob matches 'Sales E' and not itself).
    let run = t.cli(&env, "backup -w 'Sales [EU]' --all --json").exits(exit_codes::SUCCESS).await;
    let out: BackupOutput = run.json();
    let picked: Vec<(&str, &str)> =
        out.results.iter().map(|r| (r.workspace.as_str(), r.dataset.as_str())).collect();
    assert_eq!(picked, [("Sales [EU]", "Model*")]);
    next_second().await;

    t.cli(&env, "backup -w 'Sales [EU]' -d 'Model*' --json").exits(exit_codes::SUCCESS).await;
    // As a pattern it still works where no workspace has that exact name.
    let run = t.cli(&env, "backup -w 'Sales [E]*' --all --json").exits(exit_codes::SUCCESS).await;
    let out: BackupOutput = run.json();
    assert_eq!(out.results.iter().map(|r| r.workspace.as_str()).collect::<Vec<_>>(), ["Sales E"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_from_a_config_file() {
    let t = Tenant::rules().await;
    let vars = t.stack.storage_env("financelake");
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let dir = tempfile::tempdir().unwrap();
    // Everything but the secrets in the file; the secrets stay in the environment.
    let config = format!(
        "[powerbi]\ntenant-id = \"{}\"\nclient-id = \"{}\"\nhome-region = \"West Europe\"\n\n\
         [storage]\naccount = \"{}\"\nendpoint = \"{}\"\nauth = \"key\"\nlocation = \"West Europe\"\n\n\
         [retention]\nkeep-last = 1\n",
        t.stack.sim.tenant_id(),
        crate::support::BOT,
        get("PBI_BACKUP_ADLS_ACCOUNT"),
        get("PBI_BACKUP_ADLS_ENDPOINT")
    );
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, config).unwrap();
    let p = path.to_str().unwrap();
    let env = t
        .env_no_storage()
        .unset("AZURE_TENANT_ID")
        .unset("AZURE_CLIENT_ID")
        .set("AZURE_STORAGE_KEY", &get("AZURE_STORAGE_KEY"));
    let first = backup_one(&t, &env.clone().set("PBI_BACKUP_CONFIG", p), "Finance", "DB").await;
    next_second().await;
    let second = backup_one(&t, &env.clone().set("PBI_BACKUP_CONFIG", p), "Finance", "DB").await;
    // The declared regions make SEED-04 and SEED-05 checkable.
    let doctor: DoctorOutput = t.cli(&env, "--config").arg(p).then("doctor -w Finance").ok().await;
    for rule in ["SEED-04", "SEED-05"] {
        assert!(
            doctor.findings.iter().any(|f| f.rule == rule && f.status == Status::Pass),
            "{rule}: {doctor:?}"
        );
    }
    // prune with no flags takes [retention] from the file.
    let out: backup_core::output::PruneOutput =
        t.cli(&env, "--config").arg(p).then("prune -w Finance").ok().await;
    let keep: Vec<(&str, bool)> = out.decisions.iter().map(|d| (d.file.as_str(), d.keep)).collect();
    assert_eq!(keep, [(second.as_str(), true), (first.as_str(), false)]);
    // Flags replace the section.
    let run =
        t.cli(&env, "--config").arg(p).then("prune -w Finance --keep-last 2 --json").run().await;
    let out: backup_core::output::PruneOutput = run.json();
    assert!(out.decisions.iter().all(|d| d.keep));
}

#[tokio::test(flavor = "multi_thread")]
async fn file_commands_on_a_local_store_need_no_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let env = Env::default().set("PBI_BACKUP_LOCAL_STORE", root.to_str().unwrap());
    let run = |args: Vec<String>| {
        let env = env.clone();
        let dir = dir.path().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_bin(&env, &dir, &args).await
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (old, new) = ("Sales_20261001T000000Z.abf", "Sales_20261101T000000Z.abf");
    for (name, tables) in [(old, &["T"][..]), (new, &["T", "U"][..])] {
        let local = dir.path().join(name);
        std::fs::write(&local, model_abf("Sales", tables)).unwrap();
        // A folder that does not exist is most likely a misspelt workspace: refused unless asked for.
        if name == old {
            let r = run(args(&["upload", local.to_str().unwrap(), "-w", "Sales", "--json"])).await;
            r.expect(exit_codes::USAGE);
            assert!(r.error().error.message.contains("--create-folder"), "{}", r.stdout);
        }
        run(args(&["upload", local.to_str().unwrap(), "-w", "Sales", "--create-folder", "--json"]))
            .await
            .expect(exit_codes::SUCCESS);
    }
    assert!(
        root.join("power-bi-backup").join("Sales").join(old).is_file(),
        "not laid out like ADLS"
    );
    let r = run(args(&words("list -w Sales --json"))).await;
    let list: ListOutput = r.json();
    assert_eq!(list.backups.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), [new, old]);
    let r = run(args(&["verify", "-w", "Sales", "--file", old, "--full", "--json"])).await;
    r.expect(exit_codes::SUCCESS);
    assert!(r.json::<VerifyOutput>().valid);
    run(args(&[
        "copy",
        "--from-workspace",
        "Sales",
        "--to-workspace",
        "Archive",
        "--file",
        old,
        "--create-folder",
        "--json",
    ]))
    .await
    .expect(exit_codes::SUCCESS);
    let dl = dir.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    let r = run(args(&[
        "download",
        "-w",
        "Archive",
        "--file",
        old,
        "--to",
        dl.to_str().unwrap(),
        "--json",
    ]))
    .await;
    r.expect(exit_codes::SUCCESS);
    assert_eq!(r.json::<TransferOutput>().verification, TransferVerification::StoredHash);
    // Neither upload had a manifest, so no backup of the dataset can be verified: prune deletes nothing of it.
    let r = run(args(&words("prune -w Sales --keep-last 1 --apply --json"))).await;
    r.expect(exit_codes::INTEGRITY);
    let out: backup_core::output::PruneOutput = r.json();
    assert!(out.deleted.is_empty(), "{out:?}");
    assert!(out.failed[0].message.contains("passes verification now"), "{out:?}");
    assert!(root.join("power-bi-backup").join("Sales").join(old).is_file());
    assert!(root.join("power-bi-backup").join("Archive").join(old).is_file());
    // Several workspaces in one prune: each (workspace, dataset) keeps its own newest.
    let r = run(args(&words("prune -w Sales -w Archive --keep-last 1 --json"))).await;
    let out: backup_core::output::PruneOutput = r.json();
    let kept: Vec<(&str, &str)> = out
        .decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| (d.workspace.as_str(), d.file.as_str()))
        .collect();
    assert_eq!(kept, [("Archive", old), ("Sales", new)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_stopped_by_ctrl_c_resumes_where_it_stopped() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // 40 MiB straight into the folder (the store keeps its SHA-256), read in 4 MiB ranges, each slowed down.
    let size = 40usize << 20;
    let data: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let store = t.stack.store("financelake").unwrap();
    let path =
        adls_store::StorePath::file("power-bi-backup", "Finance", "Big_20261128T000000Z.abf")
            .unwrap();
    adls_store::StoreExt::put(&store, &path, data.clone().into(), adls_store::PutMode::Create)
        .await
        .unwrap();
    let emulator = &t.stack.emulators["financelake"];
    emulator.faults().inject(Op::Read, Fault::Delay(std::time::Duration::from_millis(400)), 10);
    let dest = t.work.path().join("big.abf");
    let partial = t.work.path().join("big.abf.pbi-backup-partial");
    let args: Vec<String> = [
        "download",
        "-w",
        "Finance",
        "--file",
        "Big_20261128T000000Z.abf",
        "--to",
        dest.to_str().unwrap(),
        "--json",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let child = crate::support::spawn_until_written(&env, t.work.path(), &args, &partial).await;
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit_codes::INTERRUPTED),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = std::fs::metadata(&partial).expect("the partial file is kept").len();
    assert!(kept > 0 && kept < size as u64, "kept {kept} bytes");
    assert!(!dest.exists());
    emulator.faults().clear();
    let run = t
        .run(&env, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expecting(exit_codes::SUCCESS);
    let dl: TransferOutput = run.json();
    assert_eq!(dl.verification, TransferVerification::StoredHash);
    assert_eq!(dl.sha256, sha256(&data));
    assert!(std::fs::read(&dest).unwrap() == data, "the resumed file differs");
    assert!(!partial.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_stopped_by_ctrl_c_leaves_nothing_under_its_name() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // A whole .abf of about 40 MiB: a model with a large extra file.
    let filler: Vec<u8> =
        (0..(40usize << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let spec = abf_format::ModelSpec {
        name: "Large".into(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec { name: "T".into(), partitions: vec!["T".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let options = abf_format::WriterOptions { compress: false, crc: true };
    let image = abf_format::write_model(
        std::io::Cursor::new(Vec::new()),
        &spec,
        &[("filler.bin", &filler)],
        options,
    )
    .unwrap()
    .into_inner();
    let local = t.work.path().join("Large.abf");
    std::fs::write(&local, &image).unwrap();
    let emulator = &t.stack.emulators["financelake"];
    emulator.faults().inject(Op::Append, Fault::Delay(std::time::Duration::from_millis(400)), 20);
    let args: Vec<String> = ["upload", local.to_str().unwrap(), "-w", "Finance", "--json"]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let appends = emulator.request_count(Op::Append);
    let child = crate::support::command(&env.vars, t.work.path(), &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while emulator.request_count(Op::Append) == appends {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the upload does not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit_codes::INTERRUPTED),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = t.stack.store("financelake").unwrap();
    let path = adls_store::StorePath::file("power-bi-backup", "Finance", "Large.abf").unwrap();
    assert!(
        !adls_store::StoreExt::exists(&store, &path).await.unwrap(),
        "a partial upload is under the final name"
    );
    let run = t.cli(&env, "list -w Finance --json").run().await;
    assert!(run.json::<ListOutput>().backups.is_empty(), "{}", run.stdout);
    emulator.faults().clear();
    let run = t
        .run(&env, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .expecting(exit_codes::SUCCESS);
    assert_eq!(run.json::<TransferOutput>().sha256, sha256(&image));
}

#[tokio::test(flavor = "multi_thread")]
async fn names_cannot_act_on_the_terminal() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // A model named with a right-to-left isolate and a file name with a right-to-left override (it shows
    // "Q1<RLO>lmx.abf" as "Q1fba.xml").
    let image = model_abf("Sales\u{2067}Q4", &["Orders"]);
    let local = t.work.path().join("Q1\u{202E}lmx.abf");
    std::fs::write(&local, &image).unwrap();
    let up = t
        .cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w Finance")
        .exits(exit_codes::SUCCESS)
        .await;
    let list = t.cli(&env, "list -w Finance").exits(exit_codes::SUCCESS).await;
    let inspect =
        t.cli(&env, "inspect").arg(local.to_str().unwrap()).exits(exit_codes::SUCCESS).await;
    // A name typed with an escape sequence (this one clears the screen) is quoted in the error.
    let typo = t.cli(&env, "list -w").arg("Fin\u{1b}[2Jance").exits(exit_codes::USAGE).await;
    for run in [&up, &list, &inspect, &typo] {
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(!text.contains(['\u{1b}', '\u{202E}', '\u{2067}']), "{text:?}");
    }
    assert!(list.stdout.contains("Q1\\u{202e}lmx.abf"), "{}", list.stdout);
    assert!(inspect.stdout.contains("Sales\\u{2067}Q4"), "{}", inspect.stdout);
    assert!(typo.stderr.contains("Fin\\u{1b}[2Jance"), "{}", typo.stderr);
    // JSON keeps the names as they are.
    let json: ListOutput = t.cli(&env, "list -w Finance").ok().await;
    assert!(json.backups.iter().any(|b| b.name == "Q1\u{202E}lmx.abf"), "{json:?}");
}

/// The stored Content-MD5 is opt-in: an upload stores it only with `--content-md5`; the SHA-256 is kept either way.
#[tokio::test(flavor = "multi_thread")]
async fn the_content_md5_is_stored_only_when_asked() {
    use base64::Engine as _;
    use md5::Digest as _;
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let data = model_abf("Md5", &["T"]);
    let local = t.work.path().join("md5.abf");
    std::fs::write(&local, &data).unwrap();
    let endpoint = t.stack.emulators["financelake"].endpoint();
    // The emulator takes any SAS signature: a plain HEAD shows the stored headers.
    let content_md5 = |name: &'static str| {
        let url = format!("{endpoint}power-bi-backup/Finance/{name}?sv=2021-08-06&sig=x");
        async move {
            let r = reqwest::Client::new().head(url).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.headers().get("content-md5").map(|v| v.to_str().unwrap().to_owned())
        }
    };
    let upload =
        |name: &'static str| ["upload", local.to_str().unwrap(), "-w", "Finance", "--file", name];
    t.run(&env, &upload("plain.abf")).await.expect(exit_codes::SUCCESS);
    assert_eq!(content_md5("plain.abf").await, None, "an MD5 was stored by default");
    t.run(&env, &[&["--content-md5"][..], &upload("with md5.abf")].concat())
        .await
        .expect(exit_codes::SUCCESS);
    let want = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&data));
    assert_eq!(content_md5("with%20md5.abf").await, Some(want));
    for name in ["plain.abf", "with md5.abf"] {
        let v: VerifyOutput =
            t.report(&env, exit_codes::SUCCESS, &["verify", "-w", "Finance", "--file", name]).await;
        assert_eq!(v.sha256.as_deref(), Some(sha256(&data).as_str()), "{name}");
    }
}
