//! Every exit code: usage errors, each preflight rule the rules tenant breaks, the server's refusals with its
//! codes, and a failure to reach the service.

use backup_core::output::{BackupOutput, DoctorOutput, exit_codes};
use backup_core::preflight::{FactSource, Severity, Status};
use test_fixtures::pbi_sim::codes;

use crate::commands::backup_one;
use crate::support::{Env, Tenant, run_bin, words};

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    use exit_codes::USAGE;
    let t = Tenant::rules().await;
    let env = t.env("financelake");

    // Names that do not exist: the nearest names.
    let err = t.cli(&env, "backup -w Finanse -d Budget").fails(USAGE).await;
    assert_eq!(err.kind, "not_found");
    assert!(err.message.contains("did you mean 'Finance'"), "{}", err.message);
    let err = t.cli(&env, "backup -w Finance -d Budgte").fails(USAGE).await;
    assert!(err.message.contains("'Budget'"), "{}", err.message);
    t.cli(&env, "backup -w 'Nothing*' --all").fails(USAGE).await;

    // Bad arguments: clap's usage errors, on stderr; with --json also the error document, kind "usage".
    for line in
        ["backup -w Finance -d Budget --all", "frobnicate", "prune --keep-last two -w Finance"]
    {
        let run = t.cli(&env, line).exits(USAGE).await;
        assert!(run.stdout.is_empty() && run.stderr.contains("error:"), "{run:?}");
    }
    let err = t.cli(&env, "restore -w Finance").fails(USAGE).await;
    assert_eq!(err.kind, "usage");
    assert!(err.message.contains("--file"), "{}", err.message);
    // Arguments clap accepts but the command does not.
    for line in ["backup -w Finance", "prune -w Finance", "prune -w Finance --keep-within 3x"] {
        assert_eq!(t.cli(&env, line).fails(USAGE).await.kind, "usage", "{line}");
    }

    // A missing credential names the variable.
    let err =
        t.cli(&env.clone().unset("AZURE_CLIENT_SECRET"), "doctor -w Finance").fails(USAGE).await;
    assert!(err.message.contains("AZURE_CLIENT_SECRET"), "{}", err.message);
    assert!(!err.message.contains("AZURE_TENANT_ID"), "{}", err.message);
    // No storage configured, for a command that needs it.
    let err = t.cli(&t.env_no_storage(), "list -w Finance").fails(USAGE).await;
    assert!(err.message.contains("PBI_BACKUP_ADLS_ACCOUNT"), "{}", err.message);
    // A config file that does not parse.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pbi-backup.toml"), "[powerbi]\nhome-regio = \"West Europe\"\n")
        .unwrap();
    let err = t.cli(&env.clone().in_dir(dir.path()), "doctor -w Finance").fails(USAGE).await;
    assert!(err.message.contains("home-regio"), "{}", err.message);
    // One that is not UTF-8 text is a usage error too, not a failure of the disk.
    std::fs::write(dir.path().join("pbi-backup.toml"), b"[powerbi]\nhome-region = \"\xff\xfe\"\n")
        .unwrap();
    let err = t.cli(&env.clone().in_dir(dir.path()), "doctor -w Finance").fails(USAGE).await;
    assert!(err.message.contains("not UTF-8"), "{}", err.message);
}

/// A workspace, a dataset in it, the storage account it uses, the rule that blocks it, and the server's code.
/// A workspace on shared capacity is refused earlier, by the XMLA routing (the service's WorkspaceNotOnPbiPremium),
/// which carries no XMLA error code.
const REFUSED: [(&str, &str, &str, &str, Option<u32>); 5] = [
    ("Shared Workspace", "Small", "tenantlake", "SEED-01", None),
    ("No Storage", "Orphan", "tenantlake", "SEED-02", Some(codes::NO_STORAGE)),
    ("Asia Sales", "APAC", "tenantlake", "SEED-04", Some(codes::MULTI_GEO)),
    ("Members Only", "Team", "tenantlake", "SEED-07", Some(codes::NOT_ADMIN)),
    ("Dataflows Era", "Old", "tenantlake", "SEED-12", Some(codes::DATAFLOWS_ONLY)),
];

#[tokio::test(flavor = "multi_thread")]
async fn preflight_blocks_each_seed_rule_with_exit_3() {
    let t = Tenant::rules().await;
    // What no API tells, declared in ./pbi-backup.toml as a user would.
    let declared = tempfile::tempdir().unwrap();
    std::fs::write(
        declared.path().join("pbi-backup.toml"),
        "[powerbi]\nhome-region = \"West Europe\"\n\n[preflight]\ndataflows-only = [\"Dataflows Era\"]\n",
    )
    .unwrap();
    for (workspace, dataset, account, rule, _) in REFUSED {
        let env = t.env(account).in_dir(declared.path());
        let sent = t.stack.sim.count("backup");
        let out: BackupOutput = t
            .cli(&env, "backup -w")
            .arg(workspace)
            .then("-d")
            .arg(dataset)
            .json(exit_codes::PREFLIGHT_BLOCKED)
            .await;
        assert_eq!((out.succeeded, out.failed), (0, 1));
        let err = out.results[0].error().expect("an error");
        assert_eq!(
            (err.kind.as_str(), err.exit_code),
            ("preflight_blocked", exit_codes::PREFLIGHT_BLOCKED)
        );
        assert!(
            err.findings.iter().any(|f| f.rule == rule
                && f.status == Status::Fail
                && f.severity == Severity::Block),
            "{workspace}: {rule} does not block: {:?}",
            err.findings
        );
        assert!(err.message.contains(rule), "{}", err.message);
        assert_eq!(t.stack.sim.count("backup"), sent, "{workspace}: a backup was sent");

        let run = t
            .cli(&env, "doctor -w")
            .arg(workspace)
            .then("--json")
            .exits(exit_codes::PREFLIGHT_BLOCKED)
            .await;
        let doctor: DoctorOutput = run.json();
        assert!(doctor.blocked);
        assert!(
            doctor.findings.iter().any(|f| f.rule == rule && f.blocks()),
            "{workspace}: {doctor:?}"
        );
    }
    // Restores are checked too: a Member cannot restore (SEED-07); with --skip-preflight the server says so.
    let env = t.env("tenantlake");
    let local = t.work.path().join("Team.abf");
    std::fs::write(&local, crate::support::model_abf("Team", &["T"])).unwrap();
    t.cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w 'Members Only'")
        .exits(exit_codes::SUCCESS)
        .await;
    let restores = t.stack.sim.count("restore");
    let restore = [
        "restore",
        "-w",
        "Members Only",
        "--file",
        "Team.abf",
        "--as",
        "Team 2",
        "--allow-unverified",
        "--json",
    ];
    let run = t.run(&env, &restore).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    let err = run.error().error;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-07" && f.blocks()), "{err:?}");
    assert_eq!(t.stack.sim.count("restore"), restores);
    let mut skip = restore.to_vec();
    skip.push("--skip-preflight");
    let run = t.run(&env, &skip).await.expecting(exit_codes::SERVER_REFUSED);
    assert_eq!(run.error().error.code, Some(codes::NOT_ADMIN));

    // Without the declarations, the home region comes from the service (its home cluster's name): SEED-04 still
    // blocks the multi-geo workspace, and doctor --json says where each fact came from. SEED-12 only warns.
    let env = t.env("tenantlake");
    t.stack.sim.clear_requests();
    let doctor: DoctorOutput = t
        .cli(&env, "doctor -w 'Asia Sales' -w 'Dataflows Era'")
        .json(exit_codes::PREFLIGHT_BLOCKED)
        .await;
    // Two workspaces on one account: the home cluster and Azure Resource Manager are asked once each.
    let asked = |path: &str| t.stack.sim.requests().iter().filter(|r| r.path == path).count();
    assert_eq!(asked("/powerbi/globalservice/v201606/clusterdetails"), 1);
    assert_eq!(asked("/subscriptions"), 1);
    let seed04 = doctor
        .findings
        .iter()
        .find(|f| f.rule == "SEED-04" && f.workspace == "Asia Sales")
        .unwrap();
    assert_eq!((seed04.status, seed04.severity), (Status::Fail, Severity::Block), "{seed04:?}");
    assert!(seed04.message.contains("as the service tells it"), "{seed04:?}");
    let fact = |ws: Option<&str>, name: &str| {
        doctor
            .facts
            .iter()
            .find(|f| f.workspace.as_deref() == ws && f.name == name)
            .unwrap_or_else(|| panic!("no fact {name} of {ws:?}: {:?}", doctor.facts))
            .clone()
    };
    let home = fact(None, "home_region");
    assert_eq!((home.value.as_deref(), home.source), (Some("westeurope"), FactSource::Service));
    let region = fact(Some("Asia Sales"), "capacity_region");
    assert_eq!(
        (region.value.as_deref(), region.source),
        (Some("Southeast Asia"), FactSource::Service)
    );
    let location = fact(Some("Asia Sales"), "storage_location");
    assert_eq!((location.value.as_deref(), location.source), (Some("westeurope"), FactSource::Arm));
    // The backup is not sent.
    let sent = t.stack.sim.count("backup");
    t.cli(&env, "backup -w 'Asia Sales' -d APAC").exits(exit_codes::PREFLIGHT_BLOCKED).await;
    assert_eq!(t.stack.sim.count("backup"), sent);
    // A declared home region overrides the service's, and says so.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("pbi-backup.toml"),
        "[powerbi]\nhome-region = \"Southeast Asia\"\n",
    )
    .unwrap();
    let run =
        t.run(&env.clone().in_dir(other.path()), &["doctor", "-w", "Asia Sales", "--json"]).await;
    let declared_doctor: DoctorOutput = run.json();
    let home = &declared_doctor.facts[0];
    assert_eq!((home.value.as_deref(), home.source), (Some("Southeast Asia"), FactSource::Config));
    let seed04 = declared_doctor.findings.iter().find(|f| f.rule == "SEED-04").unwrap();
    assert_eq!(seed04.status, Status::Pass, "{seed04:?}");
    let seed12 = doctor
        .findings
        .iter()
        .find(|f| f.rule == "SEED-12" && f.workspace == "Dataflows Era")
        .unwrap();
    assert_eq!((seed12.status, seed12.severity), (Status::Fail, Severity::Warn));
    // An unknown workspace is an unknown name for doctor too (exit 2, with the nearest names), as README says.
    let err = t.cli(&env, "doctor -w Financ").fails(exit_codes::USAGE).await;
    assert_eq!(err.kind, "not_found", "{err:?}");
    assert!(err.message.contains("'Finance'"), "{err:?}");
    // Several blocked workspaces in one bulk run: each result carries its own rule.
    let run = t
        .run(
            &env.clone().in_dir(declared.path()),
            &["backup", "-w", "Shared Workspace", "-w", "Members Only", "--all", "--json"],
        )
        .await
        .expecting(exit_codes::PREFLIGHT_BLOCKED);
    let out: BackupOutput = run.json();
    assert_eq!((out.succeeded, out.failed), (0, 2));
    // SEED-12 declared: relinking fixes the link and says to drop the declaration, which blocks until dropped.
    let declared_env = t.env("tenantlake").in_dir(declared.path());
    let run = t
        .cli(&declared_env, "storage relink -w 'Dataflows Era' --json")
        .exits(exit_codes::SUCCESS)
        .await;
    let change: backup_core::output::StorageChange = run.json();
    let hint = change.actions.last().unwrap();
    assert!(
        hint.contains("remove 'Dataflows Era' from preflight.dataflows-only in pbi-backup.toml"),
        "{change:?}"
    );
    let backup_old = ["backup", "-w", "Dataflows Era", "-d", "Old", "--json"];
    t.run(&declared_env, &backup_old).await.expect(exit_codes::PREFLIGHT_BLOCKED);
    std::fs::write(
        declared.path().join("pbi-backup.toml"),
        "[powerbi]\nhome-region = \"West Europe\"\n",
    )
    .unwrap();
    t.run(&declared_env, &backup_old).await.expect(exit_codes::SUCCESS);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_refuses_with_its_codes_exit_4() {
    let t = Tenant::rules().await;
    for (workspace, dataset, account, _, code) in REFUSED {
        let env = t.env(account);
        let run = t
            .cli(&env, "backup -w")
            .arg(workspace)
            .then("-d")
            .arg(dataset)
            .then("--skip-preflight --json")
            .exits(exit_codes::SERVER_REFUSED)
            .await;
        let out: BackupOutput = run.json();
        let err = out.results[0].error().expect("an error");
        assert_eq!(err.code, code, "{workspace}: {err:?}");
        match code {
            Some(_) => assert_eq!(err.kind, "server_refused", "{err:?}"),
            None => {
                assert_eq!(err.kind, "server_refused", "{err:?}");
                assert_eq!(err.service, Some(backup_core::Service::XmlaRouting), "{err:?}");
                assert_eq!(err.service_code.as_deref(), Some("WorkspaceNotOnPbiPremium"));
                assert!(err.message.contains("not on a Premium or PPU capacity"), "{err:?}");
            }
        }
        assert_eq!(err.exit_code, exit_codes::SERVER_REFUSED);
        assert!(
            run.stderr.contains("--skip-preflight"),
            "no warning about the skipped checks: {}",
            run.stderr
        );
    }
    // The file exists: refused with its code, unless --allow-overwrite.
    let env = t.env("financelake");
    t.cli(&env, "backup -w Finance -d DB --file DB.abf --json").exits(exit_codes::SUCCESS).await;
    let run = t
        .cli(&env, "backup -w Finance -d DB --file DB.abf --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    let out: BackupOutput = run.json();
    assert_eq!(out.results[0].error().unwrap().code, Some(codes::FILE_EXISTS));
    t.cli(&env, "backup -w Finance -d DB --file DB.abf --allow-overwrite")
        .exits(exit_codes::SUCCESS)
        .await;
    // A principal without admin rights is refused by the service (preflight off).
    let viewer = env
        .clone()
        .set("AZURE_CLIENT_ID", "b0b0b0b0-0000-4000-8000-000000000002")
        .set("AZURE_CLIENT_SECRET", "viewer-secret");
    t.cli(&viewer, "backup -w Finance -d DB --skip-preflight --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    // A REST refusal whose body has a code and no message (the service's 403 shape): the code and what to do.
    let run =
        t.cli(&viewer, "storage unlink -w Finance --json").exits(exit_codes::SERVER_REFUSED).await;
    let err = run.error().error;
    assert!(
        err.message.contains("HTTP 403") && err.message.contains("Admin role"),
        "{}",
        err.message
    );
    assert!(
        !err.message.contains("pbi.error"),
        "the raw body instead of a reading: {}",
        err.message
    );
    // A wrong client secret: the sign-in is refused.
    let run = t
        .run(&env.clone().set("AZURE_CLIENT_SECRET", "wrong"), &words("doctor -w Finance --json"))
        .await
        .expecting(exit_codes::SERVER_REFUSED);
    let err = run.error().error;
    assert_eq!(err.kind, "auth");
    assert!(!run.stdout.contains("wrong") && !run.stderr.contains("wrong"), "the secret shows");

    // A dataflows-only link that was not declared: relinking fixes it.
    let env = t.env("tenantlake");
    let change: backup_core::output::StorageChange =
        t.cli(&env, "storage relink -w 'Dataflows Era'").ok().await;
    assert_eq!(change.renamed_folder_to, None, "there was no folder to rename");
    backup_one(&t, &env, "Dataflows Era", "Old").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_service_exits_1() {
    let t = Tenant::rules().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let env = t.env("financelake").set("PBI_BACKUP_POWERBI_API", &format!("http://{closed}/"));
    let run = t.cli(&env, "backup -w Finance -d Budget --json").exits(exit_codes::FAILURE).await;
    let err = run.error().error;
    assert_eq!((err.kind.as_str(), err.exit_code), ("unreachable", exit_codes::FAILURE));
    assert!(run.elapsed < std::time::Duration::from_secs(30), "took {:?}", run.elapsed);
    // A paused capacity: the XMLA endpoint fails; preflight catches it first (LATER-30 warns) and the server refuses.
    t.stack.sim.set_capacity_state("P1 West Europe", "Suspended");
    let run = t
        .cli(&t.env("financelake"), "backup -w Finance -d DB --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    let out: BackupOutput = run.json();
    let r = &out.results[0];
    assert!(r.warnings.iter().any(|w| w.starts_with("LATER-30")), "{r:?}");
    let err = r.error().unwrap();
    assert_eq!(err.kind, "server_refused");
    assert_eq!(
        (err.service, err.http_status),
        (Some(backup_core::Service::Xmla), Some(500)),
        "{err:?}"
    );
    assert!(err.message.contains("paused capacity"), "{err:?}");
    // preflight.raise makes the paused-capacity warning (LATER-30) block: nothing is sent.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-30\"]\n")
        .unwrap();
    let sent = t.stack.sim.count("backup");
    let run = t
        .run(&t.env("financelake").in_dir(dir.path()), &words("backup -w Finance -d DB --json"))
        .await
        .expecting(exit_codes::PREFLIGHT_BLOCKED);
    let out: BackupOutput = run.json();
    let err = out.results[0].error().unwrap();
    assert!(err.findings.iter().any(|f| f.rule == "LATER-30" && f.blocks()), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), sent);
    let version = run_bin(&Env::default(), t.work.path(), &["--version"]).await;
    version.expect(exit_codes::SUCCESS);
    // The release and the commit it was built from (this checkout's).
    let shown = version.stdout.trim();
    let commit = shown
        .strip_prefix(concat!("pbi-backup ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|r| r.strip_suffix(')'));
    assert!(
        commit.is_some_and(|c| c.len() == 12 && c.chars().all(|ch| ch.is_ascii_hexdigit())),
        "{shown}"
    );
}
