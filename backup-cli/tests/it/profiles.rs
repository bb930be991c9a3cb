//! The rule profiles: `current` (the service as documented today, the default) and `seed` (the 2021 preview), on
//! the client (`--rules`, `PBI_BACKUP_RULES`, `[rules] profile`) and in pbi-sim (`service-profile` under `[tenant]`),
//! each side on its own.

use backup_core::output::{BackupOutput, DoctorOutput, ErrorInfo, RestoreOutput, exit_codes};
use backup_core::preflight::{Profile, Severity, Status};
use test_fixtures::pbi_sim::codes;

use crate::support::{RULES, Tenant};

/// A backup the preflight blocks: its one result's error.
async fn blocked_backup(t: &Tenant, env: &crate::support::Env, args: &[&str]) -> ErrorInfo {
    let out: BackupOutput = t.report(env, exit_codes::PREFLIGHT_BLOCKED, args).await;
    let err = out.results[0].error().cloned().expect("an error");
    assert_eq!(err.kind, "preflight_blocked", "{err:?}");
    err
}

/// The rules scenario as today's service.
fn current_scenario() -> String {
    let current = RULES.replacen("[tenant]\n", "[tenant]\nservice-profile = \"current\"\n", 1);
    assert_ne!(current, RULES, "the scenario has a [tenant] table");
    current
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_seed_rules_only_admins_back_up() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    let doctor: DoctorOutput =
        t.cli(&env, "doctor -w 'Members Only'").json(exit_codes::PREFLIGHT_BLOCKED).await;
    assert_eq!(doctor.profile, Profile::Seed);
    let seed07 = doctor.findings.iter().find(|f| f.rule == "SEED-07").expect("SEED-07");
    assert_eq!((seed07.status, seed07.severity), (Status::Fail, Severity::Block));
    let differs = seed07.differs.expect("SEED-07 weighs otherwise today");
    assert_eq!((differs.profile, differs.severity), (Profile::Current, Severity::Info));
    let text = t.cli(&env, "doctor -w 'Members Only'").run().await;
    assert!(text.stdout.contains("rules:   the seed profile"), "{}", text.stdout);
    assert!(text.stdout.contains("under the current profile this is a note"), "{}", text.stdout);

    let backup = ["backup", "-w", "Members Only", "-d", "Team"];
    let backups = t.stack.sim.count("backup");
    let err = blocked_backup(&t, &env, &backup).await;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-07"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), backups, "nothing was sent");
    // The seed service refuses it on its own, whatever the client's profile says.
    let current_client = env.clone().set("PBI_BACKUP_RULES", "current");
    let out: BackupOutput = t.report(&current_client, exit_codes::SERVER_REFUSED, &backup).await;
    assert_eq!(out.results[0].error().unwrap().code, Some(codes::NOT_ADMIN));
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_current_rules_members_back_up_and_restore_over_but_not_as_new() {
    let t = Tenant::start(&current_scenario()).await;
    let env = t.env("tenantlake");
    let doctor: DoctorOutput = t.cli(&env, "--rules current doctor -w 'Members Only'").ok().await;
    assert_eq!(doctor.profile, Profile::Current);
    let later08 = doctor.findings.iter().find(|f| f.rule == "LATER-08").expect("LATER-08");
    assert_eq!(later08.status, Status::Pass);

    let out: BackupOutput =
        t.cli(&env, "--rules current backup -w 'Members Only' -d Team").ok().await;
    let file = out.results[0].file.clone();
    // Over the existing model: write permission, which a member has.
    let over = [
        "--rules",
        "current",
        "restore",
        "-w",
        "Members Only",
        "--file",
        &file,
        "--allow-overwrite",
    ];
    let done: RestoreOutput = t.report(&env, exit_codes::SUCCESS, &over).await;
    assert_eq!(done.database, "Team");
    // As a new model: admin only (LATER-07), blocked before anything is sent...
    let as_new =
        ["--rules", "current", "restore", "-w", "Members Only", "--file", &file, "--as", "Team 2"];
    let restores = t.stack.sim.count("restore");
    let err = t.failure(&env, exit_codes::PREFLIGHT_BLOCKED, &as_new).await;
    assert!(err.findings.iter().any(|f| f.rule == "LATER-07" && f.blocks()), "{err:?}");
    assert_eq!(t.stack.sim.count("restore"), restores);
    // ...and refused by the current service on its own.
    let err = t
        .failure(&env, exit_codes::SERVER_REFUSED, &[&as_new[..], &["--skip-preflight"]].concat())
        .await;
    assert_eq!(err.code, Some(codes::NOT_ADMIN), "{err:?}");
    assert!(err.message.contains("must be an admin"), "{err:?}");
    // A copy into the member's workspace, to restore it there, needs admin of the target under today's rules too
    // (SEED-09: the page still says "if they are also admin of the target workspace"); nothing is copied.
    let personal = t
        .report::<BackupOutput>(
            &env,
            exit_codes::SUCCESS,
            &["--rules", "current", "backup", "-w", "Personal Premium", "-d", "Forecast"],
        )
        .await
        .results[0]
        .file
        .clone();
    let copy = [
        "--rules",
        "current",
        "copy",
        "--from-workspace",
        "Personal Premium",
        "--to-workspace",
        "Members Only",
        "--file",
        &personal,
    ];
    let err = t.failure(&env, exit_codes::PREFLIGHT_BLOCKED, &copy).await;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-09" && f.blocks()), "{err:?}");
    let restore = [
        "--rules",
        "current",
        "restore",
        "-w",
        "Members Only",
        "--from-workspace",
        "Personal Premium",
        "--file",
        &personal,
    ];
    let err = t.failure(&env, exit_codes::PREFLIGHT_BLOCKED, &restore).await;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-09" && f.blocks()), "{err:?}");
    // The seed client blocks the member's backup that today's service takes.
    let seed = ["--rules", "seed", "backup", "-w", "Members Only", "-d", "Team"];
    let err = blocked_backup(&t, &env, &seed).await;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-07"), "{err:?}");
}

/// Out of the box (no flag, no variable, no `[rules]`), the client judges by today's rules.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_profile_is_todays() {
    let t = Tenant::start(&current_scenario()).await;
    let mut env = t.env("tenantlake");
    env.vars.retain(|(k, _)| k != "PBI_BACKUP_RULES");
    let text = t.cli(&env, "doctor -w 'Members Only'").exits(exit_codes::SUCCESS).await;
    assert!(text.stdout.contains("rules:   the current profile"), "{}", text.stdout);
    let out: BackupOutput = t.cli(&env, "backup -w 'Members Only' -d Team").ok().await;
    assert_eq!(out.succeeded, 1, "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_geo_is_refused_by_the_preview_and_advice_today() {
    let declared = "[powerbi]\nhome-region = \"West Europe\"\n";
    let seed = Tenant::rules().await;
    std::fs::write(seed.work.path().join("pbi-backup.toml"), declared).unwrap();
    let env = seed.env("tenantlake");
    let err = blocked_backup(&seed, &env, &["backup", "-w", "Asia Sales", "-d", "APAC"]).await;
    assert!(err.findings.iter().any(|f| f.rule == "SEED-04"), "{err:?}");

    let current = Tenant::start(&current_scenario()).await;
    let config = format!("{declared}\n[rules]\nprofile = \"current\"\n");
    std::fs::write(current.work.path().join("pbi-backup.toml"), config).unwrap();
    let env = current.env("tenantlake");
    let out: BackupOutput = current
        .report(&env, exit_codes::SUCCESS, &["backup", "-w", "Asia Sales", "-d", "APAC"])
        .await;
    let r = &out.results[0];
    assert!(r.ok(), "{r:?}");
    assert!(
        r.warnings.iter().any(|w| w.starts_with("SEED-04")),
        "the residency advice is said: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_or_a_raised_rule_that_does_not_exist_is_a_usage_error() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let run = t.cli(&env, "--rules newest doctor -w Finance --json").exits(exit_codes::USAGE).await;
    assert!(run.stderr.contains("seed") && run.stderr.contains("current"), "{}", run.stderr);
    std::fs::write(t.work.path().join("pbi-backup.toml"), "[preflight]\nraise = [\"LATER-99\"]\n")
        .unwrap();
    let err = t.cli(&env, "doctor -w Finance").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("LATER-99") && err.message.contains("SEED-01"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn region_names_compare_as_one_region_however_they_are_spelled() {
    // The tenant's home region in its programmatic spelling, the capacity's in its display name.
    let scenario =
        RULES.replacen("home-region = \"West Europe\"", "home-region = \"westeurope\"", 1);
    assert_ne!(scenario, RULES, "the scenario's home region moved");
    let t = Tenant::start(&scenario).await;
    std::fs::write(
        t.work.path().join("pbi-backup.toml"),
        "[powerbi]\nhome-region = \"westeurope\"\n",
    )
    .unwrap();
    let env = t.env("financelake");
    // Neither the preflight nor the simulated service takes them for two regions (multi-geo).
    let doctor: DoctorOutput = t.cli(&env, "doctor -w Finance").ok().await;
    let seed04 = doctor.findings.iter().find(|f| f.rule == "SEED-04").expect("SEED-04");
    assert_eq!(seed04.status, Status::Pass, "{seed04:?}");
    let r = t.backup(&env, "Finance", "DB").await;
    assert!(r.ok(), "{r:?}");
    t.cli(&env, "backup -w Finance -d Budget --skip-preflight").exits(exit_codes::SUCCESS).await;
}

/// The rules scenario with a security group, `Backup Operators`, admin of Finance, and two apps in it: `group-bot`
/// with no role of its own, `short-bot` a viewer of Finance on its own; `viewer-bot`, a viewer of Finance, is not in it.
fn group_scenario() -> String {
    format!(
        "{RULES}\n[[principals]]\nkind = \"group\"\nname = \"Backup Operators\"\nid = \"backup-operators\"\nroles = {{ \"Finance\" = \"Admin\" }}\n\n[[principals]]\nkind = \"app\"\nname = \"group-bot\"\nid = \"b0b0b0b0-0000-4000-8000-000000000031\"\nsecret = \"group-secret\"\nmember-of = [\"Backup Operators\"]\n\n[[principals]]\nkind = \"app\"\nname = \"short-bot\"\nid = \"b0b0b0b0-0000-4000-8000-000000000032\"\nsecret = \"short-secret\"\nroles = {{ \"Finance\" = \"Viewer\" }}\nmember-of = [\"Backup Operators\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_through_a_security_group_is_not_blocked_and_the_service_lets_it_back_up() {
    let t = Tenant::start(&group_scenario()).await;
    let as_app = |id: &str, secret: &str| {
        t.env("financelake").set("AZURE_CLIENT_ID", id).set("AZURE_CLIENT_SECRET", secret)
    };
    for (who, id, secret) in [
        ("no role of its own", "b0b0b0b0-0000-4000-8000-000000000031", "group-secret"),
        ("a viewer on its own", "b0b0b0b0-0000-4000-8000-000000000032", "short-secret"),
    ] {
        let env = as_app(id, secret);
        for profile in ["seed", "current"] {
            let env = env.clone().set("PBI_BACKUP_RULES", profile);
            let doctor: DoctorOutput = t.cli(&env, "doctor -w Finance").ok().await;
            // The roles list shows the group, not its members: whether the caller is in it is not known.
            let role_rule = if profile == "seed" { "SEED-07" } else { "LATER-08" };
            let f = doctor.findings.iter().find(|f| f.rule == role_rule).expect(role_rule);
            assert_eq!(f.status, Status::Unknown, "{who}, {profile}: {f:?}");
            assert!(!doctor.blocked, "{who}, {profile}: {doctor:?}");
        }
        // And the service, which knows the group's members, takes the backup.
        let sent = t.stack.sim.count("backup");
        let file = format!("{}.abf", &id[id.len() - 2..]);
        let out: BackupOutput =
            t.cli(&env, "backup -w Finance -d Budget --file").arg(&file).ok().await;
        assert_eq!(out.succeeded, 1, "{who}: {out:?}");
        assert_eq!(t.stack.sim.count("backup"), sent + 1, "{who}");
    }
    // A viewer outside the group looks the same from the roles list (a viewer, and a group that is admin), so the
    // preflight cannot block it; the service, which knows, refuses it.
    let viewer = as_app("b0b0b0b0-0000-4000-8000-000000000002", "viewer-secret");
    let out: BackupOutput = t
        .report(&viewer, exit_codes::SERVER_REFUSED, &["backup", "-w", "Finance", "-d", "DB"])
        .await;
    assert_eq!(out.results[0].error().unwrap().code, Some(codes::NOT_ADMIN), "{out:?}");
}
