//! Storage accounts as a platform team has them: a copy the storage service may not read, storage faults, a
//! disabled account, what Azure Resource Manager says of an account, and workspaces spread over two accounts (key
//! and Entra sign-in).

use backup_core::output::{
    BackupOutput, BackupVerification, DoctorOutput, ListOutput, PruneOutput, StorageChange,
    StorageStatus, TransferOutput, TransferVerification, exit_codes,
};
use backup_core::preflight::{FactSource, Severity, Status};

use crate::commands::backup_one;
use crate::support::{Env, Tenant, words};

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_the_storage_may_not_read_goes_through_pbi_backup_with_a_warning() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let emulator = &t.stack.emulators["financelake"];
    // The manifest is read by pbi-backup; the next read is the storage's own read of the source, which is refused
    // (as a storage firewall would).
    emulator.faults().inject(Op::Read, Fault::Delay(std::time::Duration::ZERO), 1);
    let refused = Fault::Status { status: 403, code: "AuthorizationFailure", retry_after: None };
    emulator.faults().inject(Op::Read, refused, 1);
    let copy =
        ["copy", "--from-workspace", "Finance", "--to-workspace", "Finance Copy", "--file", &file];
    let out: TransferOutput = t.report(&env, exit_codes::SUCCESS, &copy).await;
    assert_eq!(emulator.faults().pending(), 0, "the storage's read was not refused");
    assert!(
        out.warnings.iter().any(|w| w.contains("the bytes went through pbi-backup instead")),
        "{out:?}"
    );
    let store = t.stack.store("financelake").unwrap();
    for workspace in ["Finance", "Finance Copy"] {
        let path = adls_store::StorePath::file("power-bi-backup", workspace, &file).unwrap();
        let bytes = adls_store::StoreExt::get_bytes(&store, &path).await.unwrap();
        assert_eq!(crate::support::sha256(&bytes), out.sha256, "{workspace}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_faults_are_retried_or_refused() {
    use test_fixtures::dfs::{Fault, Op};
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let emulator = &t.stack.emulators["financelake"];

    // Connections cut in the middle of the download: retried, and the file arrives whole and verified.
    emulator.faults().inject(Op::Read, Fault::CutResponseBody { after_bytes: 5000 }, 2);
    let dest = t.work.path().join("cut.abf");
    let out: backup_core::output::TransferOutput = t
        .cli(&env, "download -w Finance --file")
        .arg(&file)
        .then("--to")
        .arg(dest.to_str().unwrap())
        .ok()
        .await;
    assert_eq!(out.verification, TransferVerification::Manifest);
    assert_eq!(crate::support::sha256(&std::fs::read(&dest).unwrap()), out.sha256);
    assert_eq!(emulator.faults().pending(), 0, "the faults were not met");

    // The storage refusing access: SERVER_REFUSED.
    emulator.faults().inject(
        Op::Any,
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None },
        1,
    );
    let run = t.cli(&env, "list -w Finance --json").exits(exit_codes::SERVER_REFUSED).await;
    assert_eq!(run.error().error.kind, "storage");
    emulator.faults().clear();

    // Refused while the container is being read: a storage failure, not a damaged backup.
    emulator.faults().inject(
        Op::Read,
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None },
        1,
    );
    let run = t
        .cli(&env, "inspect -w Finance --file")
        .arg(&file)
        .then("--json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    assert_eq!(run.error().error.kind, "storage", "{:?}", run.error().error);
    emulator.faults().clear();

    // A folder that cannot be listed is unknown to status, and relink stops before detaching anything.
    let forbidden = || Fault::Status {
        status: 403,
        code: "AuthorizationPermissionMismatch",
        retry_after: None,
    };
    emulator.faults().inject(Op::List, forbidden(), 1);
    let s: Vec<backup_core::output::StorageStatus> =
        t.cli(&env, "storage status -w Finance").ok().await;
    assert_eq!((s[0].folder_exists, s[0].backups), (None, None), "{s:?}");
    emulator.faults().inject(Op::List, forbidden(), 1);

    t.cli(&env, "storage relink -w Finance --json").exits(exit_codes::SERVER_REFUSED).await;
    let run = t.cli(&env, "storage status -w Finance --json").run().await;
    let s: Vec<backup_core::output::StorageStatus> = run.json();
    assert_eq!(s[0].account.as_deref(), Some("financelake"), "relink left the workspace detached");
    assert_eq!(s[0].folder_exists, Some(true));

    // A transient 500 is retried; a request the storage rejects outright fails the command with FAILURE.
    emulator.faults().inject(Op::List, Fault::internal(), 1);
    t.cli(&env, "list -w Finance --json").exits(exit_codes::SUCCESS).await;
    emulator.faults().inject(
        Op::List,
        Fault::Status { status: 400, code: "InvalidQueryParameterValue", retry_after: None },
        1,
    );
    let run = t.cli(&env, "list -w Finance --json").exits(exit_codes::FAILURE).await;
    let err = run.error().error;
    assert_eq!((err.kind.as_str(), err.exit_code), ("storage", exit_codes::FAILURE));
    assert!(err.message.contains("InvalidQueryParameterValue"), "{err:?}");
    assert_eq!(emulator.faults().pending(), 0);

    // The backup would go to an account pbi-backup has no credential for: the preflight blocks it (SEED-02), and
    // with the preflight skipped the job still stops before the command is sent, naming what to add.
    let backup = words("backup -w Finance -d DB --json");
    let sent = t.stack.sim.count("backup");
    t.run(&t.env("tenantlake"), &backup).await.expect(exit_codes::PREFLIGHT_BLOCKED);
    let run = t
        .run(&t.env("tenantlake"), &[&backup[..], &["--skip-preflight"]].concat())
        .await
        .expecting(exit_codes::USAGE);
    let out: BackupOutput = run.json();
    let err = out.results[0].error().unwrap();
    assert!(err.message.contains("[storage.accounts.financelake]"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), sent, "a backup was sent");
}

/// A storage account Power BI lists as disabled: attaching to it is refused before anything changes (exit 2), and a
/// workspace attached to it is blocked by SEED-02 before a backup is sent (exit 3).
#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_storage_account_is_refused_before_anything_is_sent() {
    let scenario = test_fixtures::tenant::RULES_SCENARIO
        .replace(
            "name = \"aaslake\"\nlocation = \"West Europe\"",
            "name = \"aaslake\"\nlocation = \"West Europe\"\nenabled = false",
        )
        .replace(
            "name = \"financelake\"\nlocation = \"West Europe\"",
            "name = \"financelake\"\nlocation = \"West Europe\"\nenabled = false",
        );
    let t = Tenant::start(&scenario).await;
    let env = t.env("tenantlake");
    let err = t
        .failure(
            &env,
            exit_codes::USAGE,
            &["storage", "link", "-w", "No Storage", "--account", "aaslake"],
        )
        .await;
    assert!(
        err.message.contains("'aaslake'") && err.message.contains("disabled"),
        "{}",
        err.message
    );
    let status = t.cli(&env, "storage status -w 'No Storage' --json").run().await;
    let shown: serde_json::Value = status.json();
    assert!(shown[0]["account"].is_null(), "attached anyway: {}", status.stdout);

    let env = t.env("financelake");
    let sent = t.stack.sim.count("backup");
    let doctor: DoctorOutput =
        t.cli(&env, "doctor -w Finance").json(exit_codes::PREFLIGHT_BLOCKED).await;
    let seed02 = doctor.findings.iter().find(|f| f.rule == "SEED-02").unwrap();
    assert_eq!(seed02.status, Status::Fail);
    assert!(seed02.message.contains("disabled"), "{}", seed02.message);
    t.cli(&env, "backup -w Finance -d Budget").exits(exit_codes::PREFLIGHT_BLOCKED).await;
    assert_eq!(t.stack.sim.count("backup"), sent, "a backup was sent");
}

/// With nothing declared, Azure Resource Manager tells the linked account's region, network rules, shared key
/// access, hierarchical namespace and tenant: doctor blocks an account outside the home region (SEED-05) and reports
/// the rest from those facts, each with its source; a caller ARM shows nothing gets "unknown" and the role to ask for.
#[tokio::test(flavor = "multi_thread")]
async fn storage_account_facts_come_from_azure_resource_manager() {
    let scenario = test_fixtures::tenant::RULES_SCENARIO.replace(
        "name = \"tenantlake\"\nlocation = \"West Europe\"",
        "name = \"tenantlake\"\nlocation = \"Southeast Asia\"\nshared-key-access = false\nhierarchical-namespace = false\nnetwork-default-action = \"Deny\"\nvnet-rules = [\"backend\"]\nprivate-endpoints = [\"pe-lake\"]\narm-tenant = \"99999999-9999-4999-8999-999999999999\"",
    );
    assert_ne!(scenario, test_fixtures::tenant::RULES_SCENARIO);
    let t = Tenant::start(&scenario).await;
    let env = t.env("tenantlake");
    let doctor: DoctorOutput =
        t.cli(&env, "doctor -w 'Personal Premium'").json(exit_codes::PREFLIGHT_BLOCKED).await;
    let finding = |rule: &str| doctor.findings.iter().find(|f| f.rule == rule).unwrap().clone();
    let seed05 = finding("SEED-05");
    assert!(seed05.blocks() && seed05.message.contains("'southeastasia'"), "{seed05:?}");
    for rule in words("LATER-02 LATER-03 LATER-04 LATER-15 LATER-16") {
        let f = finding(rule);
        // The preview's profile warns of these; today's blocks them.
        assert_eq!((f.status, f.severity), (Status::Fail, Severity::Warn), "{f:?}");
    }
    assert!(finding("LATER-03").message.contains("1 private endpoints"), "{doctor:?}");
    let fact = |name: &str| {
        doctor.facts.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}")).clone()
    };
    for (name, value) in [
        ("storage_location", "southeastasia"),
        ("storage_hierarchical_namespace", "false"),
        ("storage_shared_key_access", "false"),
        ("storage_network_default_action", "Deny"),
        ("storage_vnet_rules", "1"),
        ("storage_tenant", "99999999-9999-4999-8999-999999999999"),
    ] {
        let f = fact(name);
        assert_eq!((f.value.as_deref(), f.source), (Some(value), FactSource::Arm), "{name}");
    }
    // Under today's rules, they block.
    let current = env.clone().set("PBI_BACKUP_RULES", "current");
    let doctor: DoctorOutput =
        t.cli(&current, "doctor -w 'Personal Premium'").json(exit_codes::PREFLIGHT_BLOCKED).await;
    for rule in words("LATER-02 LATER-03 LATER-04 LATER-15 LATER-16") {
        let f = doctor.findings.iter().find(|f| f.rule == rule).unwrap();
        assert!(f.blocks(), "{f:?}");
    }
    // A backup is not sent.
    let sent = t.stack.sim.count("backup");
    t.cli(&env, "backup -w 'Personal Premium' -d Forecast")
        .exits(exit_codes::PREFLIGHT_BLOCKED)
        .await;
    assert_eq!(t.stack.sim.count("backup"), sent);
}

/// A caller without the Reader role: Azure Resource Manager lists no subscription, and the storage facts are unknown,
/// with the role that would tell them.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_reader_role_the_storage_facts_are_unknown_and_say_which_role() {
    let scenario = test_fixtures::tenant::RULES_SCENARIO.replace(
        "aas-admin-of = [\"aasprod\"]",
        "aas-admin-of = [\"aasprod\"]\narm-reader = false",
    );
    assert_ne!(scenario, test_fixtures::tenant::RULES_SCENARIO);
    let t = Tenant::start(&scenario).await;
    let env = t.env("tenantlake");
    let doctor: DoctorOutput = t.cli(&env, "doctor -w 'Personal Premium'").ok().await;
    for rule in words("SEED-05 LATER-02 LATER-03 LATER-04 LATER-15 LATER-16") {
        let f = doctor.findings.iter().find(|f| f.rule == rule).unwrap();
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.remedy.contains("Reader role"), "{f:?}");
    }
    let f = doctor.facts.iter().find(|f| f.name == "storage_location").unwrap();
    assert_eq!((f.value.as_deref(), f.source), (None, FactSource::Unknown));
}

/// Workspaces attached to two storage accounts, in one bulk run: each backup is written, read back and verified in
/// its own account, reached with its own credential (`[storage.accounts.<name>]`); without that credential the
/// preflight blocks the workspace of the other account before anything is sent, naming both accounts.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_backup_across_two_storage_accounts_verifies_each_in_its_own() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let workspaces = ["backup", "-w", "Finance", "-w", "Personal Premium", "--all", "--json"];
    // Without a credential for tenantlake: Personal Premium is blocked (SEED-02), Finance is backed up.
    let backups = t.stack.sim.count("backup");
    let run = t.run(&env, &workspaces).await.expecting(exit_codes::PARTIAL);
    let out: BackupOutput = run.json();
    let blocked: Vec<_> =
        out.results.iter().filter(|r| r.workspace == "Personal Premium").collect();
    let err = blocked[0].error().expect("blocked");
    let seed02 = err.findings.iter().find(|f| f.rule == "SEED-02").expect("SEED-02");
    assert!(
        seed02.message.contains("'tenantlake'") && seed02.message.contains("'financelake'"),
        "{seed02:?}"
    );
    assert!(seed02.remedy.contains("[storage.accounts.tenantlake]"), "{seed02:?}");
    let finance = out.results.iter().filter(|r| r.workspace == "Finance").count();
    assert_eq!(t.stack.sim.count("backup"), backups + finance as u64, "a blocked backup was sent");

    // With one: both accounts, each verified where it lies.
    let tenantlake = t.stack.storage_env("tenantlake");
    let get = |k: &str| tenantlake.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pbi-backup.toml"),
        format!(
            "[storage.accounts.tenantlake]\nendpoint = \"{}\"\nkey-env = \"TENANTLAKE_KEY\"\n",
            get("PBI_BACKUP_ADLS_ENDPOINT")
        ),
    )
    .unwrap();
    let both = env.clone().in_dir(dir.path()).set("TENANTLAKE_KEY", &get("AZURE_STORAGE_KEY"));
    // New file names: the default name carries the second.
    crate::commands::next_second().await;
    let run = t.run(&both, &workspaces).await.expecting(exit_codes::SUCCESS);
    let out: BackupOutput = run.json();
    verified_in_their_own_accounts(&t, &out).await;
    // The key stays out of every output.
    let key = get("AZURE_STORAGE_KEY");
    assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key));
}

/// With an Entra sign-in for storage, no per-account credential is needed: both accounts are reached with the
/// service principal's token, and a bulk run across them verifies each backup in its own account.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_backup_across_two_storage_accounts_with_entra_sign_in() {
    let t = Tenant::rules().await;
    let dir = tempfile::tempdir().unwrap();
    let env = entra_across_two_accounts(&t, dir.path());
    let run = t
        .cli(&env, "backup -w Finance -w 'Personal Premium' --all --json")
        .exits(exit_codes::SUCCESS)
        .await;
    let out: BackupOutput = run.json();
    verified_in_their_own_accounts(&t, &out).await;
}

/// Copy, restore from another workspace, list and prune each go to the account of the workspace they touch: a copy
/// from Finance (financelake) into Personal Premium (tenantlake) lands in tenantlake, verified there; a restore from
/// Finance into Personal Premium copies into tenantlake, where the service reads it; prune deletes in each account.
#[tokio::test(flavor = "multi_thread")]
async fn copy_restore_and_prune_follow_each_workspace_to_its_own_account() {
    let t = Tenant::rules().await;
    let dir = tempfile::tempdir().unwrap();
    let env = entra_across_two_accounts(&t, dir.path());
    let finance = t.backup(&env, "Finance", "DB").await;
    let in_account = |account: &str, workspace: &str, file: &str| {
        let store = t.stack.store(account).unwrap();
        let path = adls_store::StorePath::file("power-bi-backup", workspace, file).unwrap();
        async move { adls_store::StoreExt::get_bytes(&store, &path).await.ok() }
    };

    // copy: made by tenantlake's service reading financelake (no byte uploaded by the client), verified in
    // tenantlake, with its manifest.
    let tenantlake = &t.stack.emulators["tenantlake"];
    let appends = tenantlake.request_count(test_fixtures::dfs::Op::Append);
    let copy = [
        "copy",
        "--from-workspace",
        "Finance",
        "--to-workspace",
        "Personal Premium",
        "--file",
        &finance.file,
    ];
    let out: TransferOutput = t.report(&env, exit_codes::SUCCESS, &copy).await;
    assert_eq!(Some(out.sha256.clone()), finance.sha256, "{out:?}");
    assert!(out.warnings.is_empty(), "{out:?}");
    assert_eq!(tenantlake.request_count(test_fixtures::dfs::Op::PutBlockList), 1);
    assert_eq!(
        tenantlake.request_count(test_fixtures::dfs::Op::Append),
        appends + 1,
        "only the manifest was uploaded"
    );
    let copied = in_account("tenantlake", "Personal Premium", &finance.file).await;
    assert_eq!(copied.as_deref().map(crate::support::sha256), finance.sha256, "not in tenantlake");
    let manifest = format!("{}.manifest.json", finance.file);
    assert!(in_account("tenantlake", "Personal Premium", &manifest).await.is_some());
    assert!(
        in_account("financelake", "Personal Premium", &finance.file).await.is_none(),
        "the copy went to the configured account, not the workspace's"
    );
    let list: ListOutput = t.cli(&env, "list -w 'Personal Premium'").ok().await;
    assert!(list.backups.iter().any(|b| b.name == finance.file), "{list:?}");

    // restore --from-workspace: the copy is made in tenantlake, and the service restores it from there.
    crate::commands::next_second().await;
    let second = t.backup(&env, "Finance", "DB").await;
    let restores = t.stack.sim.count("restore");
    let restore = [
        "--from-workspace",
        "Finance",
        "-w",
        "Personal Premium",
        "--file",
        &second.file,
        "--as",
        "DB From Finance",
    ];
    let out = t.restore(&env, &restore).await;
    assert_eq!(t.stack.sim.count("restore"), restores + 1, "{out:?}");
    let copied = in_account("tenantlake", "Personal Premium", &second.file).await;
    assert_eq!(copied.as_deref().map(crate::support::sha256), second.sha256, "not in tenantlake");

    // prune: one backup of DB is kept in each folder, the older deleted where it lies.
    let prune = [
        "prune",
        "-w",
        "Finance",
        "-w",
        "Personal Premium",
        "-d",
        "DB",
        "--keep-last",
        "1",
        "--apply",
    ];
    let out: PruneOutput = t.report(&env, exit_codes::SUCCESS, &prune).await;
    assert!(out.failed.is_empty(), "{out:?}");
    assert!(in_account("financelake", "Finance", &finance.file).await.is_none(), "{out:?}");
    assert!(in_account("tenantlake", "Personal Premium", &finance.file).await.is_none(), "{out:?}");
    assert!(in_account("financelake", "Finance", &second.file).await.is_some(), "{out:?}");
    assert!(in_account("tenantlake", "Personal Premium", &second.file).await.is_some(), "{out:?}");

    // storage status looks in each workspace's account, not only the configured one.
    let status: Vec<StorageStatus> =
        t.cli(&env, "storage status -w Finance -w 'Personal Premium'").ok().await;
    let seen: Vec<_> =
        status.iter().map(|s| (s.account.as_deref(), s.folder_exists, s.backups)).collect();
    assert_eq!(
        seen,
        [(Some("financelake"), Some(true), Some(1)), (Some("tenantlake"), Some(true), Some(1))]
    );

    // relink renames the folder in the workspace's own account (tenantlake), not the configured one.
    let change: StorageChange = t.cli(&env, "storage relink -w 'Personal Premium'").ok().await;
    let renamed = change.renamed_folder_to.expect("the folder was renamed");
    let moved = renamed.trim_start_matches("power-bi-backup/");
    assert!(in_account("tenantlake", moved, &second.file).await.is_some(), "{renamed}");
    assert!(in_account("tenantlake", "Personal Premium", &second.file).await.is_none());
}

/// `backup-bot` signed in to storage with Entra, configured with financelake, and tenantlake's endpoint only (on
/// loopback each account has its own port): no credential for tenantlake.
fn entra_across_two_accounts(t: &Tenant, dir: &std::path::Path) -> Env {
    let endpoint = |account: &str| {
        t.stack
            .storage_env(account)
            .into_iter()
            .find(|(k, _)| k == "PBI_BACKUP_ADLS_ENDPOINT")
            .map(|(_, v)| v)
            .unwrap()
    };
    std::fs::write(
        dir.join("pbi-backup.toml"),
        format!("[storage.accounts.tenantlake]\nendpoint = \"{}\"\n", endpoint("tenantlake")),
    )
    .unwrap();
    t.env_no_storage()
        .in_dir(dir)
        .set("PBI_BACKUP_ADLS_ACCOUNT", "financelake")
        .set("PBI_BACKUP_ADLS_ENDPOINT", &endpoint("financelake"))
        // Storage signs in at the run's one authority (pbi-sim's Entra), as Power BI does.
        .set("PBI_BACKUP_ADLS_AUTH", "client-secret")
}

/// Every backup of a run across Finance (financelake) and Personal Premium (tenantlake) is verified, and the stored
/// bytes in its own account hash as reported.
async fn verified_in_their_own_accounts(t: &Tenant, out: &BackupOutput) {
    assert!(out.results.iter().any(|r| r.workspace == "Personal Premium"), "{out:?}");
    for r in &out.results {
        assert_eq!(r.verification, Some(BackupVerification::Verified), "{r:?}");
        let account = if r.workspace == "Finance" { "financelake" } else { "tenantlake" };
        let path = adls_store::StorePath::file("power-bi-backup", &r.workspace, &r.file).unwrap();
        let stored =
            adls_store::StoreExt::get_bytes(&t.stack.store(account).unwrap(), &path).await.unwrap();
        assert_eq!(Some(crate::support::sha256(&stored)), r.sha256, "{r:?}");
    }
}
