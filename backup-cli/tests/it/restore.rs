//! Restores: into another workspace with the tables compared, `--as`, `--latest`, `--allow-overwrite`, and files
//! without a manifest.

use backup_core::output::{
    BackupVerification, ListOutput, ManifestCheck, RestoreOutput, exit_codes,
};
use test_fixtures::pbi_sim::codes;

use crate::commands::{backup_one, next_second};
use crate::support::{Tenant, model_abf};

#[tokio::test(flavor = "multi_thread")]
async fn restore_from_another_workspace_copies_verifies_and_compares_tables() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    assert!(!t.stack.sim.models("Finance Copy").contains(&"Budget".to_owned()));

    // Finance -> Finance Copy: copied, verified, restored, tables compared.
    let out = t
        .restore(&env, &["-w", "Finance Copy", "--from-workspace", "Finance", "--file", &file])
        .await;
    assert_eq!((out.workspace.as_str(), out.file.as_str()), ("Finance Copy", file.as_str()));
    assert_eq!(out.database, "Budget");
    assert_eq!(out.copied_from, Some(format!("power-bi-backup/Finance/{file}")));
    assert!(out.manifest_check == ManifestCheck::Verified && out.sha256.is_some(), "{out:?}");
    assert!(out.tables_compared, "{out:?}");
    assert!(out.missing_tables.is_empty() && out.extra_tables.is_empty(), "{out:?}");
    assert_eq!(t.stack.sim.models("Finance Copy"), ["Budget"]);
    let list: ListOutput = t.cli(&env, "list -w 'Finance Copy'").ok().await;
    assert_eq!(list.backups.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), [file.as_str()]);

    // The same file again (under another name): the copy made by the first restore is used.
    let args = ["-w", "Finance Copy", "--from-workspace", "Finance", "--file", &file];
    let out = t.restore(&env, &[&args[..], &["--as", "Budget again"]].concat()).await;
    assert_eq!(out.copied_from, Some(format!("power-bi-backup/Finance/{file}")));
    assert!(out.warnings.iter().any(|w| w.contains("that copy was used")), "{out:?}");
    assert!(t.stack.sim.models("Finance Copy").contains(&"Budget again".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_latest_takes_the_newest_backup_of_the_dataset() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    backup_one(&t, &env, "Finance", "Budget").await;
    next_second().await;
    let newer = backup_one(&t, &env, "Finance", "Budget").await;

    // --latest with --as: the newest backup of the dataset, under a new name.
    let out = t
        .restore(&env, &["-w", "Finance", "--latest", "Budget", "--as", "Budget (restored)"])
        .await;
    assert_eq!(out.file, newer, "--latest did not pick the newest backup");
    assert_eq!((out.database.as_str(), out.copied_from.as_deref()), ("Budget (restored)", None));
    assert!(
        out.tables_compared && out.missing_tables.is_empty() && out.extra_tables.is_empty(),
        "{out:?}"
    );
    assert!(t.stack.sim.models("Finance").contains(&"Budget (restored)".to_owned()));

    // --latest --from-workspace: found in the source folder, copied into the target's.
    let args = ["-w", "Finance Copy", "--from-workspace", "Finance", "--latest", "Budget"];
    let out = t.restore(&env, &[&args[..], &["--as", "Budget 2"]].concat()).await;
    assert_eq!((out.file.as_str(), out.database.as_str()), (newer.as_str(), "Budget 2"));
    assert_eq!(out.copied_from, Some(format!("power-bi-backup/Finance/{newer}")));

    // A backup of nothing by that name.
    let err = t.cli(&env, "restore -w Finance --latest Nothing").fails(exit_codes::USAGE).await;
    assert_eq!(err.kind, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_over_a_model_needs_allow_overwrite_and_never_replaces_another_file() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    t.restore(&env, &["-w", "Finance Copy", "--from-workspace", "Finance", "--file", &file]).await;

    // Over an existing model: refused before anything is sent without --allow-overwrite (the service would refuse
    // it), and a dry run says the same; done with it.
    let restores = t.stack.sim.count("restore");
    for line in ["restore -w 'Finance Copy' --file", "restore --dry-run -w 'Finance Copy' --file"] {
        let err = t.cli(&env, line).arg(&file).fails(exit_codes::USAGE).await;
        assert!(err.message.contains("--allow-overwrite"), "{line}: {err:?}");
    }
    assert_eq!(t.stack.sim.count("restore"), restores, "a restore was sent");
    let out = t.restore(&env, &["-w", "Finance Copy", "--file", &file, "--allow-overwrite"]).await;
    assert!(out.tables_compared && out.missing_tables.is_empty());
    assert_eq!(t.stack.sim.models("Finance Copy"), ["Budget"]);

    // A different file of that name in the target folder is never replaced by a restore from another workspace.
    next_second().await;
    let newer = backup_one(&t, &env, "Finance", "Budget").await;
    let local = t.work.path().join(&newer);
    std::fs::write(&local, model_abf("Impostor", &["X"])).unwrap();
    t.cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w 'Finance Copy' --overwrite")
        .exits(exit_codes::SUCCESS)
        .await;
    let args = [
        "restore",
        "-w",
        "Finance Copy",
        "--from-workspace",
        "Finance",
        "--file",
        &newer,
        "--as",
        "Budget 3",
    ];
    let err = t.failure(&env, exit_codes::USAGE, &args).await;
    assert!(
        err.message.contains("without --from-workspace") && !err.message.contains("--overwrite"),
        "{err:?}"
    );
    assert!(!t.stack.sim.models("Finance Copy").contains(&"Budget 3".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_without_read_permission_are_refused_or_dropped_when_asked() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let migrated = backup_one(&t, &env, "Finance", "Migrated From AAS").await;
    let args = ["restore", "-w", "Finance", "--file", &migrated, "--as", "Migrated 2"];
    let err = t.failure(&env, exit_codes::SERVER_REFUSED, &args).await;
    assert_eq!(err.code, Some(codes::INCOMPATIBLE_ROLES));
    // The client read the roles from the backup and had warned, naming the one the service refuses.
    assert!(
        err.message.contains("LATER-09") && err.message.contains("'Processors' (Refresh)"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("'Readers'"), "{}", err.message);
    // --ignore-incompatibilities drops them, and a warning says so.
    let out = t.restore(&env, &[&args[1..], &["--ignore-incompatibilities"]].concat()).await;
    assert!(out.warnings.iter().any(|w| w.contains("Processors")), "{out:?}");
    assert!(
        out.warnings.iter().any(|w| w.starts_with("LATER-09: --ignore-incompatibilities drops")),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_of_an_uploaded_file_without_manifest_needs_allow_unverified() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let local = t.work.path().join("Kept.abf");
    std::fs::write(&local, model_abf("Kept", &["Orders", "Lines"])).unwrap();
    t.cli(&env, "upload")
        .arg(local.to_str().unwrap())
        .then("-w 'Finance Copy'")
        .exits(exit_codes::SUCCESS)
        .await;
    let restores = t.stack.sim.count("restore");
    let run = t
        .cli(&env, "restore -w 'Finance Copy' --file Kept.abf --json")
        .exits(exit_codes::INTEGRITY)
        .await;
    assert!(run.error().error.message.contains("--allow-unverified"));
    assert_eq!(t.stack.sim.count("restore"), restores, "something was sent");
    let out: RestoreOutput =
        t.cli(&env, "restore -w 'Finance Copy' --file Kept.abf --allow-unverified").ok().await;
    // Without a manifest or --as, the name is the one the backup holds.
    assert_eq!(out.database, "Kept");
    assert!(!out.tables_compared);
    assert_eq!(out.manifest_check, ManifestCheck::SkippedNoManifest);
    assert!(!out.warnings.is_empty());
    assert_eq!(t.stack.sim.models("Finance Copy"), ["Kept"]);
    // A file that is not there: a usage error listing the files that are.
    let err =
        t.cli(&env, "restore -w 'Finance Copy' --file Kpt.abf").fails(exit_codes::USAGE).await;
    assert_eq!(err.kind, "not_found");
    assert!(err.message.contains("Kept.abf"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_backup_restores_with_its_password_only() {
    let t = Tenant::rules().await;
    let secret = "correct horse & <battery>";
    let env = t.env("financelake").set("PBI_BACKUP_PASSWORD_TEST", secret);
    let out: backup_core::output::BackupOutput = t
        .cli(&env, "backup -w Finance -d Budget --password-env PBI_BACKUP_PASSWORD_TEST")
        .ok()
        .await;
    let file = out.results[0].file.clone();
    let store = t.stack.store("financelake").unwrap();
    let mp =
        adls_store::StorePath::file("power-bi-backup", "Finance", &format!("{file}.manifest.json"))
            .unwrap();
    let manifest = adls_store::StoreExt::get_bytes(&store, &mp).await.unwrap();
    let m: backup_core::manifest::Manifest = serde_json::from_slice(&manifest).unwrap();
    assert!(m.options.encrypted);
    assert!(
        !String::from_utf8_lossy(&manifest).contains("horse"),
        "the password is in the manifest"
    );
    // The service's file is really encrypted: past the header page, neither the model's name nor its tables are
    // there in any encoding, and inspect says encrypted (exit 0), not damaged.
    let abf = adls_store::StorePath::file("power-bi-backup", "Finance", &file).unwrap();
    let bytes = adls_store::StoreExt::get_bytes(&store, &abf).await.unwrap();
    for needle in ["Budget", "Account"] {
        let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for n in [needle.as_bytes(), &utf16[..]] {
            assert!(!bytes[4096..].windows(n.len()).any(|w| w == n), "{needle} readable in clear");
        }
    }
    let report: abf_format::Report =
        t.cli(&env, "inspect --workspace Finance --file").arg(&file).ok().await;
    assert!(report.encrypted && !report.valid, "{report:?}");
    assert!(report.tables.is_empty(), "tables read without the password: {report:?}");

    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&file)
        .then("--as 'Budget E' --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    assert_eq!(run.error().error.code, Some(codes::PASSWORD));
    let wrong = env.clone().set("PBI_BACKUP_PASSWORD_TEST", "wrong horse");
    let run = t
        .cli(&wrong, "restore -w Finance --file")
        .arg(&file)
        .then("--as 'Budget E' --password-env PBI_BACKUP_PASSWORD_TEST --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    assert!(!run.stdout.contains("horse") && !run.stderr.contains("horse"), "{run:?}");
    let pw_file = t.work.path().join("pw.txt");
    std::fs::write(&pw_file, format!("{secret}\n")).unwrap();
    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&file)
        .then("--as 'Budget E' --password-file")
        .arg(pw_file.to_str().unwrap())
        .then("--json")
        .exits(exit_codes::SUCCESS)
        .await;
    assert!(!run.stdout.contains("horse") && !run.stderr.contains("horse"));
    assert!(t.stack.sim.models("Finance").contains(&"Budget E".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn analysis_services_and_explicit_endpoints() {
    let t = Tenant::rules().await;
    let env = t.env("aaslake");
    let out: backup_core::output::BackupOutput = t
        .cli(
            &env,
            "backup --server asazure://westeurope.asazure.windows.net/aasprod -d AdventureWorks",
        )
        .ok()
        .await;
    let r = &out.results[0];
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.workspace, "aasprod");
    assert!(r.verification == Some(BackupVerification::SkippedNotPowerBi), "{r:?}");
    // Restoring it there, with a store configured (which holds Power BI's folders, not the server's container).
    let out: RestoreOutput = t
        .cli(&env, "restore --server asazure://westeurope.asazure.windows.net/aasprod --file")
        .arg(&r.file)
        .then("--as AW2")
        .ok()
        .await;
    assert_eq!(out.database, "AW2");
    assert!(out.manifest_check == ManifestCheck::SkippedNotPowerBi, "{out:?}");
    // Over an existing database: the server's refusal and code.
    let run = t
        .cli(&env, "restore --server asazure://westeurope.asazure.windows.net/aasprod --file")
        .arg(&r.file)
        .then("--as AW2 --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    assert_eq!(run.error().error.code, Some(codes::DATABASE_EXISTS));
    // Power BI's options are refused before anything is sent.
    let restores = t.stack.sim.count("restore");
    for option in ["--ignore-incompatibilities", "--force-restore"] {
        let aas = "asazure://westeurope.asazure.windows.net/aasprod";
        let args = ["restore", "--server", aas, "--file", &r.file, "--as", "AW3", option];
        let e = t.failure(&env, exit_codes::USAGE, &args).await;
        assert!(e.message.contains("Power BI options"), "{e:?}");
    }
    assert_eq!(t.stack.sim.count("restore"), restores, "a refused option was sent");
    // A powerbi:// URL names a workspace like --workspace does.
    let env = t.env("financelake");
    let out: backup_core::output::BackupOutput = t
        .cli(&env, "backup --server powerbi://api.powerbi.com/v1.0/myorg/Finance -d DB")
        .ok()
        .await;
    assert_eq!(out.results[0].workspace, "Finance");
    assert_eq!(out.results[0].verification, Some(BackupVerification::Verified));
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_refusal_force_restore_and_assl_options() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // Big Model (15 GB) over itself on a P1 (25 GB): not enough memory unless the old one is unloaded first.
    let big = backup_one(&t, &env, "Finance", "Big Model").await;
    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&big)
        .then("--allow-overwrite --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    let err = run.error().error;
    assert_eq!(err.code, Some(codes::NOT_ENOUGH_MEMORY));
    // The documented text is named by its rule, with the remedy.
    assert_eq!(err.rule.as_deref(), Some("LATER-10"), "{err:?}");
    assert!(err.message.contains("LATER-10: restore again with --force-restore"), "{err:?}");
    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&big)
        .then("--allow-overwrite --force-restore --json")
        .exits(exit_codes::SUCCESS)
        .await;
    assert_eq!(run.json::<RestoreOutput>().database, "Big Model");

    // --security makes the backup ASSL, and the manifest says so.
    t.cli(
        &env,
        "backup -w Finance -d DB --security CopyAll --file DBsec.abf --no-compression --json",
    )
    .exits(exit_codes::SUCCESS)
    .await;
    let store = t.stack.store("financelake").unwrap();
    let mp = adls_store::StorePath::file("power-bi-backup", "Finance", "DBsec.abf.manifest.json")
        .unwrap();
    let m: backup_core::manifest::Manifest =
        serde_json::from_slice(&adls_store::StoreExt::get_bytes(&store, &mp).await.unwrap())
            .unwrap();
    assert_eq!(m.options.security.as_deref(), Some("CopyAll"));
    assert_eq!(m.options.syntax, "Assl");
    assert!(!m.options.apply_compression);
    t.cli(&env, "restore -w Finance --file DBsec.abf --as DBsec --security CopyAll --read-write-mode ReadOnly --json").exits(exit_codes::SUCCESS).await;
    assert!(t.stack.sim.models("Finance").contains(&"DBsec".to_owned()));
    // Bad option values are usage errors.
    t.cli(&env, "restore -w Finance --file DBsec.abf --security Everything")
        .exits(exit_codes::USAGE)
        .await;
    t.cli(&env, "restore -w Finance --file DBsec.abf --read-write-mode Sometimes")
        .exits(exit_codes::USAGE)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn msmdpump_endpoint_with_basic_authentication() {
    let t = Tenant::rules().await;
    let pump = format!("{}olap/msmdpump.dll", t.base());
    let env = t
        .env("financelake")
        .set("PBI_BACKUP_XMLA_USER", "pumpuser")
        .set("PBI_BACKUP_XMLA_PASSWORD", "pump-pass");
    let out: backup_core::output::BackupOutput =
        t.cli(&env, "backup --server").arg(&pump).then("-d DB").ok().await;
    assert_eq!(out.results[0].workspace, pump);
    assert!(
        matches!(
            out.results[0].verification,
            Some(BackupVerification::SkippedNotPowerBi | BackupVerification::SkippedNoStorage)
        ),
        "{out:?}"
    );
    t.cli(&env, "restore --server")
        .arg(&pump)
        .then("--file")
        .arg(&out.results[0].file)
        .then("--as 'DB via pump' --json")
        .exits(exit_codes::SUCCESS)
        .await;
    assert!(t.stack.sim.models("Finance").contains(&"DB via pump".to_owned()));
    // A wrong password: refused, and the password is not shown.
    let wrong = env.clone().set("PBI_BACKUP_XMLA_PASSWORD", "not-the-pump-pass");
    let run = t
        .cli(&wrong, "backup --server")
        .arg(&pump)
        .then("-d DB --json")
        .exits(exit_codes::SERVER_REFUSED)
        .await;
    assert!(!run.stdout.contains("not-the-pump-pass") && !run.stderr.contains("not-the-pump-pass"));
    // Plain http is for loopback only.
    t.cli(&env, "backup --server http://example.com/olap/msmdpump.dll -d DB --json")
        .exits(exit_codes::USAGE)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_compatibility_level_warns_or_blocks_when_raised() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let spec = abf_format::ModelSpec { compatibility_level: 1400, ..model("Legacy") };
    upload_model(&t, &env, &spec).await;
    let args = [
        "restore",
        "-w",
        "Finance Copy",
        "--file",
        "Legacy.abf",
        "--allow-unverified",
        "--as",
        "L1",
        "--json",
    ];
    let run = t.run(&env, &args).await.expecting(exit_codes::SUCCESS);
    let out: RestoreOutput = run.json();
    assert!(
        out.warnings.iter().any(|w| w.starts_with("LATER-25") && w.contains("1400")),
        "{:?}",
        out.warnings
    );
    // Raised in the config file, it blocks before anything is sent.
    std::fs::write(t.work.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-25\"]\n")
        .unwrap();
    let restores = t.stack.sim.count("restore");
    let args = [
        "restore",
        "-w",
        "Finance Copy",
        "--file",
        "Legacy.abf",
        "--allow-unverified",
        "--as",
        "L2",
        "--json",
    ];
    let run = t.run(&env, &args).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    assert_eq!(run.error().error.findings[0].rule, "LATER-25");
    assert_eq!(t.stack.sim.count("restore"), restores, "something was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_and_an_expression_of_one_name_warn_and_the_service_refuses_or_block_when_raised() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let spec = abf_format::ModelSpec {
        tables: vec![
            abf_format::TableSpec { name: "Sales".into(), partitions: vec!["Sales".into()] },
            abf_format::TableSpec { name: "Date".into(), partitions: vec!["Date".into()] },
        ],
        expressions: vec!["Region".into(), "sales".into()],
        ..model("Clash")
    };
    upload_model(&t, &env, &spec).await;
    let args = |name: &'static str| {
        [
            "restore",
            "-w",
            "Finance Copy",
            "--file",
            "Clash.abf",
            "--allow-unverified",
            "--as",
            name,
            "--json",
        ]
    };
    // Not raised: a warning, and the service refuses the restore as Power BI does.
    let restores = t.stack.sim.count("restore");
    let run = t.run(&env, &args("C1")).await.expecting(exit_codes::SERVER_REFUSED);
    // The refusal carries the warning that explains it.
    let message = run.error().error.message;
    assert!(message.contains("same name"), "{message}");
    assert!(
        message.contains("preflight had warned")
            && message.contains("LATER-26: the model in Clash.abf"),
        "{message}"
    );
    assert_eq!(t.stack.sim.count("restore"), restores + 1);
    assert!(!t.stack.sim.models("Finance Copy").contains(&"C1".to_owned()));
    // Raised in the config file: blocked before anything is sent, naming the table.
    std::fs::write(t.work.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-26\"]\n")
        .unwrap();
    let run = t.run(&env, &args("C2")).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    let finding = &run.error().error.findings[0];
    assert_eq!(finding.rule, "LATER-26");
    assert!(
        finding.message.contains("'Sales'") && !finding.message.contains("'Date'"),
        "{finding:?}"
    );
    assert_eq!(t.stack.sim.count("restore"), restores + 1, "something was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_without_read_permission_block_when_raised_and_are_dropped_when_asked() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let spec = abf_format::ModelSpec {
        roles: vec![
            abf_format::RoleSpec {
                name: "Readers".into(),
                model_permission: 2,
                members: Vec::new(),
            },
            abf_format::RoleSpec {
                name: "Admins".into(),
                model_permission: 5,
                members: Vec::new(),
            },
        ],
        ..model("Secured")
    };
    upload_model(&t, &env, &spec).await;
    std::fs::write(t.work.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-09\"]\n")
        .unwrap();
    let restore = |name: &'static str, ignore: bool| {
        let mut args = vec![
            "restore",
            "-w",
            "Finance Copy",
            "--file",
            "Secured.abf",
            "--allow-unverified",
            "--as",
            name,
            "--json",
        ];
        if ignore {
            args.push("--ignore-incompatibilities");
        }
        args
    };
    // Raised: blocked before anything is sent, naming the role and its permission.
    let restores = t.stack.sim.count("restore");
    let run = t.run(&env, &restore("S1", false)).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    let finding = &run.error().error.findings[0];
    assert_eq!(finding.rule, "LATER-09");
    assert!(finding.message.contains("'Admins' (Administrator)"), "{finding:?}");
    assert!(!finding.message.contains("Readers"), "{finding:?}");
    assert_eq!(t.stack.sim.count("restore"), restores, "something was sent");
    // Asked to drop them: sent, and both the client and the service say which role goes.
    let run = t.run(&env, &restore("S2", true)).await.expecting(exit_codes::SUCCESS);
    let out: RestoreOutput = run.json();
    assert!(
        out.warnings.iter().any(|w| w.starts_with("LATER-09") && w.contains("'Admins'")),
        "{out:?}"
    );
    assert!(
        out.warnings.iter().any(|w| w.contains("Roles dropped") && w.contains("Admins")),
        "{out:?}"
    );
    assert!(t.stack.sim.models("Finance Copy").contains(&"S2".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_not_in_the_v3_format_warns_and_the_service_refuses_or_block_when_raised() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    for (name, version) in [("V1", 0), ("V3", 2)] {
        let spec = abf_format::ModelSpec { data_source_version: Some(version), ..model(name) };
        upload_model(&t, &env, &spec).await;
    }
    let restore = |file: &'static str, name: &'static str| {
        [
            "restore",
            "-w",
            "Finance Copy",
            "--file",
            file,
            "--allow-unverified",
            "--as",
            name,
            "--json",
        ]
    };
    // A V3 model restores with no LATER-06 warning.
    let run = t.run(&env, &restore("V3.abf", "M3")).await.expecting(exit_codes::SUCCESS);
    let out: RestoreOutput = run.json();
    assert!(!out.warnings.iter().any(|w| w.contains("LATER-06")), "{out:?}");
    // V1: the client warns, the service refuses, and the refusal carries the warning.
    let run = t.run(&env, &restore("V1.abf", "M1")).await.expecting(exit_codes::SERVER_REFUSED);
    let err = run.error().error;
    assert_eq!(err.code, Some(test_fixtures::pbi_sim::codes::NOT_V3));
    assert!(
        err.message.contains("LATER-06") && err.message.contains("PowerBI_V1"),
        "{}",
        err.message
    );
    // Raised: blocked before anything is sent.
    std::fs::write(t.work.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-06\"]\n")
        .unwrap();
    let restores = t.stack.sim.count("restore");
    let run = t.run(&env, &restore("V1.abf", "M1b")).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    assert_eq!(run.error().error.findings[0].rule, "LATER-06");
    assert_eq!(t.stack.sim.count("restore"), restores, "something was sent");
}

/// A one-table model at level 1600 named `name`, to vary per test.
fn model(name: &str) -> abf_format::ModelSpec {
    abf_format::ModelSpec {
        name: name.into(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec { name: "T".into(), partitions: vec!["T".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    }
}

/// Writes `spec` as `<name>.abf` and uploads it into "Finance Copy", without a manifest.
async fn upload_model(t: &Tenant, env: &crate::support::Env, spec: &abf_format::ModelSpec) {
    let image =
        abf_format::write_model(std::io::Cursor::new(Vec::new()), spec, &[], Default::default())
            .unwrap()
            .into_inner();
    let local = t.work.path().join(format!("{}.abf", spec.name));
    std::fs::write(&local, image).unwrap();
    t.run(env, &["upload", local.to_str().unwrap(), "-w", "Finance Copy"])
        .await
        .expect(exit_codes::SUCCESS);
}

/// `restore --dry-run` prints the plan: the file checked against its manifest, what it would replace, the rules'
/// verdicts and the request with its password masked; nothing is copied or sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_checks_everything_and_changes_nothing() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    let secret = "s3cr3t&<pw>\"'\\x";
    let env = env.set("MY_BACKUP_PW", secret);
    let restores = t.stack.sim.count("restore");
    let args = [
        "restore",
        "-w",
        "Finance Copy",
        "--from-workspace",
        "Finance",
        "--file",
        &file,
        "--as",
        "Budget (restored)",
        "--dry-run",
        "--password-env",
        "MY_BACKUP_PW",
    ];
    for json in [true, false] {
        let mut args = args.to_vec();
        if json {
            args.push("--json");
        }
        let run = t.run(&env, &args).await.expecting(exit_codes::SUCCESS);
        for part in ["s3cr3t", "&lt;pw&gt;"] {
            assert!(!run.stdout.contains(part) && !run.stderr.contains(part), "{}", run.stdout);
        }
        assert!(run.stdout.contains(xmla_proto::PASSWORD_MASK), "{}", run.stdout);
        if json {
            let doc: backup_core::output::DryRunOutput = run.json();
            assert!(doc.request.contains(&file) && doc.request.contains("Budget (restored)"));
            let plan = doc.plan.expect("a restore's dry run carries its plan");
            assert_eq!(plan.copy_from, Some(format!("power-bi-backup/Finance/{file}")));
            assert_eq!(plan.manifest_check, ManifestCheck::AtCopy);
            assert_eq!(plan.replaces_existing, Some(false));
            assert_eq!(plan.database.as_deref(), Some("Budget (restored)"));
        } else {
            assert!(run.stdout.contains("would copy power-bi-backup/Finance/"), "{}", run.stdout);
            assert!(run.stdout.contains("as a new model"), "{}", run.stdout);
        }
    }
    // Within one folder the file is hashed against its manifest now (over the model, as --allow-overwrite allows).
    let run = t
        .cli(&env, "restore -w Finance --file")
        .arg(&file)
        .then("--dry-run --allow-overwrite --json")
        .run()
        .await;
    run.expect(exit_codes::SUCCESS);
    let plan = run.json::<backup_core::output::DryRunOutput>().plan.unwrap();
    assert_eq!(
        (plan.manifest_check, plan.replaces_existing),
        (ManifestCheck::Verified, Some(true))
    );
    assert!(plan.sha256.is_some());
    // Nothing was sent, and nothing was copied.
    assert_eq!(t.stack.sim.count("restore"), restores);
    let run = t.cli(&env, "list -w 'Finance Copy' --json").exits(exit_codes::SUCCESS).await;
    assert!(run.json::<ListOutput>().backups.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_keep_role_members_unless_told_otherwise() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let file = backup_one(&t, &env, "Finance", "Budget").await;
    // The manifest records each role and how many members it has.
    let store = t.stack.store("financelake").unwrap();
    let manifest: backup_core::manifest::Manifest = serde_json::from_slice(
        &adls_store::StoreExt::get_bytes(
            &store,
            &adls_store::StorePath::file(
                "power-bi-backup",
                "Finance",
                &format!("{file}.manifest.json"),
            )
            .unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let recorded: Vec<(String, usize)> =
        manifest.roles.clone().unwrap().into_iter().map(|r| (r.name, r.members)).collect();
    assert_eq!(recorded, [("Auditors".to_owned(), 0), ("Controllers".to_owned(), 3)]);

    // By default on Power BI the members come along (the engine's own default would drop them), and the restored
    // roles are compared with the manifest.
    let out = t.restore(&env, &["-w", "Finance", "--file", &file, "--as", "Budget Copy"]).await;
    assert!(out.roles_compared && out.role_differences.is_empty(), "{out:?}");
    let again = t.backup(&env, "Finance", "Budget Copy").await;
    let copy: backup_core::manifest::Manifest = serde_json::from_slice(
        &adls_store::StoreExt::get_bytes(
            &store,
            &adls_store::StorePath::file(
                "power-bi-backup",
                "Finance",
                &format!("{}.manifest.json", again.file),
            )
            .unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(copy.roles, manifest.roles, "the restored model lost role members");

    // Asked to skip them, the roles stay empty, and that is what the comparison expects.
    let out = t
        .restore(
            &env,
            &[
                "-w",
                "Finance",
                "--file",
                &file,
                "--as",
                "Budget Bare",
                "--security",
                "SkipMembership",
            ],
        )
        .await;
    assert!(out.roles_compared && out.role_differences.is_empty(), "{out:?}");
    // The dry run shows the security sent by default.
    let dry = t
        .cli(&env, "restore -w Finance --file")
        .arg(&file)
        .then("--as 'Budget 3' --dry-run")
        .exits(exit_codes::SUCCESS)
        .await;
    assert!(dry.stdout.contains("CopyAll"), "{}", dry.stdout);
}

/// LATER-11: the model's size, read at backup (DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS) and kept in the manifest,
/// is checked against the target capacity's memory per model before a restore is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_larger_than_the_capacity_is_warned_of_before_the_restore() {
    let scenario =
        test_fixtures::tenant::RULES_SCENARIO.replace("size-mb = 15000", "size-mb = 30000");
    assert_ne!(scenario, test_fixtures::tenant::RULES_SCENARIO);
    let t = Tenant::start(&scenario).await;
    let env = t.env("financelake");
    let big = backup_one(&t, &env, "Finance", "Big Model").await;
    let store = t.stack.store("financelake").unwrap();
    let mp =
        adls_store::StorePath::file("power-bi-backup", "Finance", &format!("{big}.manifest.json"))
            .unwrap();
    let m: backup_core::manifest::Manifest =
        serde_json::from_slice(&adls_store::StoreExt::get_bytes(&store, &mp).await.unwrap())
            .unwrap();
    assert_eq!(m.model_size_bytes, Some(30000 << 20));
    // A 30 GB model on a P1 (25 GB per model): warned of, then refused by the service.
    let restore = ["restore", "-w", "Finance", "--file", &big, "--as", "Big Copy", "--json"];
    let run = t.run(&env, &restore).await.expecting(exit_codes::SERVER_REFUSED);
    let err = run.error().error;
    assert_eq!(err.code, Some(codes::RESOURCE_GOVERNING), "{err:?}");
    assert!(err.message.contains("preflight had warned: LATER-11"), "{}", err.message);
    // Raised to blocking, nothing is sent.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-11\"]\n")
        .unwrap();
    let restores = t.stack.sim.count("restore");
    let run = t
        .run(&env.clone().in_dir(dir.path()), &restore)
        .await
        .expecting(exit_codes::PREFLIGHT_BLOCKED);
    let err = run.error().error;
    assert!(err.findings.iter().any(|f| f.rule == "LATER-11" && f.blocks()), "{err:?}");
    assert_eq!(t.stack.sim.count("restore"), restores, "a restore was sent");
    // A small model of the same tenant fits: the check passes, and the restore goes through.
    let small = backup_one(&t, &env, "Finance", "DB").await;
    t.run(
        &env.clone().in_dir(dir.path()),
        &["restore", "-w", "Finance", "--file", &small, "--as", "M2", "--json"],
    )
    .await
    .expecting(exit_codes::SUCCESS);
}

/// ASSL's Backup element keeps the roles and drops their members unless `Security` says `CopyAll` (its documented
/// default is `SkipMembership`). Such a backup says so, its manifest records the model's own counts, and a restore
/// of it, members copied, finds them missing (exit 5) instead of reporting a perfect restore. A plain backup (TMSL),
/// whose file holds the members, says nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_that_kept_no_role_members_says_so_and_its_restore_finds_them_missing() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let out: backup_core::output::BackupOutput = t
        .report(
            &env,
            exit_codes::SUCCESS,
            &[
                "backup",
                "-w",
                "Finance",
                "-d",
                "Budget",
                "--security",
                "SkipMembership",
                "--file",
                "Skip.abf",
            ],
        )
        .await;
    let r = &out.results[0];
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("holds no members of the model's roles, which have 3")),
        "{r:?}"
    );
    let store = t.stack.store("financelake").unwrap();
    let manifest: backup_core::manifest::Manifest = serde_json::from_slice(
        &adls_store::StoreExt::get_bytes(
            &store,
            &adls_store::StorePath::file("power-bi-backup", "Finance", "Skip.abf.manifest.json")
                .unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let recorded: Vec<(String, usize)> =
        manifest.roles.unwrap().into_iter().map(|r| (r.name, r.members)).collect();
    assert_eq!(recorded, [("Auditors".to_owned(), 0), ("Controllers".to_owned(), 3)]);
    let plain = t.backup(&env, "Finance", "Budget").await;
    assert!(!plain.warnings.iter().any(|w| w.contains("holds no members")), "{plain:?}");
    let out: RestoreOutput = t
        .cli(&env, "restore -w Finance --file Skip.abf --as SkipCopy --security CopyAll")
        .json(exit_codes::INTEGRITY)
        .await;
    assert!(
        out.roles_compared
            && out.role_differences.iter().any(|d| d.contains("'Controllers' has 0 members")),
        "{out:?}"
    );
}

/// On Power BI a backup made with the defaults keeps the role members (ASSL with `Security` `CopyAll`, the only
/// documented way to keep them), and a restore made with the defaults brings them back: the restored roles are
/// compared with the manifest's and match.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_and_restore_with_the_defaults_keep_the_role_members() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let r = t.backup(&env, "Finance", "Budget").await;
    assert!(!r.warnings.iter().any(|w| w.contains("holds no members")), "{r:?}");
    let manifest = t.manifest("financelake", "Finance", &r.file).await;
    assert_eq!(
        (manifest.options.syntax.as_str(), manifest.options.security.as_deref()),
        ("Assl", Some("CopyAll"))
    );
    let controllers = manifest.roles.unwrap().into_iter().find(|r| r.name == "Controllers");
    assert_eq!(controllers.map(|r| r.members), Some(3));
    let out = t
        .restore(&env, &["-w", "Finance Copy", "--from-workspace", "Finance", "--file", &r.file])
        .await;
    assert!(out.roles_compared && out.role_differences.is_empty(), "{out:?}");
}
