//! A bulk backup of 200 datasets across workspaces, a few of them refused: a partial run.

use std::fmt::Write as _;

use backup_core::output::{BackupOutput, ListOutput, exit_codes};
use test_fixtures::pbi_sim::codes;

use crate::support::{BOT, BOT_SECRET, Tenant, words};

const GOOD_WORKSPACES: usize = 4;
const PER_WORKSPACE: usize = 49;
/// Datasets in "Bulk Members", where the service principal is only a Member (SEED-07): the server refuses them.
const REFUSED: usize = 4;

fn bulk_scenario() -> String {
    let mut s = String::from(
        "[tenant]\nid = \"0a0b0c0d-1111-2222-3333-777777777777\"\nhome-region = \"West Europe\"\ntenant-storage = \"bulklake\"\n\n\
         [[capacities]]\nname = \"P2\"\nsku = \"P2\"\nregion = \"West Europe\"\n\n\
         [[storage-accounts]]\nname = \"bulklake\"\nlocation = \"West Europe\"\n\n",
    );
    let mut roles = Vec::new();
    for w in 1..=GOOD_WORKSPACES {
        let _ = write!(
            s,
            "[[workspaces]]\nname = \"Bulk {w}\"\ncapacity = \"P2\"\nstorage = \"bulklake\"\n\n"
        );
        roles.push(format!("\"Bulk {w}\" = \"Admin\""));
    }
    s.push_str(
        "[[workspaces]]\nname = \"Bulk Members\"\ncapacity = \"P2\"\nstorage = \"bulklake\"\n\n",
    );
    roles.push("\"Bulk Members\" = \"Member\"".into());
    // Not selected by the pattern.
    s.push_str("[[workspaces]]\nname = \"Other\"\ncapacity = \"P2\"\nstorage = \"bulklake\"\n\n");
    roles.push("\"Other\" = \"Admin\"".into());
    let _ = write!(
        s,
        "[[principals]]\nkind = \"app\"\nname = \"backup-bot\"\nid = \"{BOT}\"\nsecret = \"{BOT_SECRET}\"\nroles = {{ {} }}\n\n",
        roles.join(", ")
    );
    for w in 1..=GOOD_WORKSPACES {
        for d in 1..=PER_WORKSPACE {
            let _ = write!(
                s,
                "[[datasets]]\nworkspace = \"Bulk {w}\"\nname = \"Model {w}-{d:02}\"\ntables = [{{ name = \"T{d}\", columns = [\"C\"], rows = {d} }}]\n\n"
            );
        }
    }
    for d in 1..=REFUSED {
        let _ = write!(s, "[[datasets]]\nworkspace = \"Bulk Members\"\nname = \"Team {d}\"\n\n");
    }
    s.push_str("[[datasets]]\nworkspace = \"Other\"\nname = \"Untouched\"\n");
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_backup_of_200_datasets_with_a_few_refused_is_partial() {
    let t = Tenant::start(&bulk_scenario()).await;
    let env = t.env("bulklake");
    let args = words("backup --workspace Bulk* --all --skip-preflight --concurrency 8");
    let run = t.run(&env, &[&args[..], &["--json"]].concat()).await.expecting(exit_codes::PARTIAL);
    let out: BackupOutput = run.json();
    let good = GOOD_WORKSPACES * PER_WORKSPACE;
    assert_eq!(out.results.len(), good + REFUSED);
    assert_eq!(out.results.len(), 200);
    assert_eq!((out.succeeded, out.failed), (good, REFUSED));
    assert_eq!(out.results.iter().filter(|r| r.ok()).count(), out.succeeded);
    for r in &out.results {
        if r.workspace == "Bulk Members" {
            assert!(!r.ok(), "{r:?}");
            let e = r.error().expect("an error");
            assert_eq!(
                (e.code, e.exit_code),
                (Some(codes::NOT_ADMIN), exit_codes::SERVER_REFUSED),
                "{r:?}"
            );
        } else {
            assert!(r.ok() && r.error().is_none() && r.sha256.is_some(), "{r:?}");
            assert!(r.workspace.starts_with("Bulk "), "{r:?}");
        }
    }
    assert!(!out.results.iter().any(|r| r.dataset == "Untouched"));
    assert_eq!(t.stack.sim.count("backup"), 200);
    // Every workspace folder holds its backups, each with a manifest.
    for w in 1..=GOOD_WORKSPACES {
        let run = t
            .run(&env, &["list", "-w", &format!("Bulk {w}"), "--json"])
            .await
            .expecting(exit_codes::SUCCESS);
        let list: ListOutput = run.json();
        assert_eq!(list.backups.len(), PER_WORKSPACE);
        assert!(list.backups.iter().all(|b| b.verified));
    }
    assert!(
        run.elapsed < std::time::Duration::from_secs(50),
        "the bulk run took {:?}",
        run.elapsed
    );

    // Again with the preflight: the same few are blocked before anything is sent for them. The preflight runs once
    // per workspace (5 here), not once per dataset (200): the service throttles its REST API.
    crate::commands::next_second().await;
    let groups_before = t.stack.sim.count("rest-groups");
    let out: BackupOutput = t
        .cli(&env, "backup --workspace 'Bulk*' --all --concurrency 8")
        .json(exit_codes::PARTIAL)
        .await;
    assert_eq!((out.results.len(), out.succeeded, out.failed), (200, good, REFUSED));
    for r in out.results.iter().filter(|r| !r.ok()) {
        assert_eq!(r.workspace, "Bulk Members");
        let e = r.error().unwrap();
        assert_eq!(e.kind, "preflight_blocked");
        assert!(e.findings.iter().any(|f| f.rule == "SEED-07" && f.blocks()), "{e:?}");
    }
    assert_eq!(t.stack.sim.count("backup"), (200 + good) as u64);
    let groups_calls = t.stack.sim.count("rest-groups") - groups_before;
    assert!(
        groups_calls <= 1 + (GOOD_WORKSPACES + 1) as u64,
        "{groups_calls} workspace listings for 5 workspaces"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_a_bulk_run_exits_130() {
    let t = Tenant::start(&bulk_scenario()).await;
    let env = t.env("bulklake");
    let args: Vec<String> = words("backup -w Bulk* --all --skip-preflight --concurrency 2 --json")
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let child = crate::support::command(&env.vars, t.work.path(), &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Once some backups are done, and long before all 200 are, press Ctrl-C.
    let started = std::time::Instant::now();
    while t.stack.sim.count("backup") < 5 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the bulk run does not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let sent = t.stack.sim.count("backup");
    assert!(sent < 200, "the run was not interrupted: {sent} backups");
    assert_eq!(
        out.status.code(),
        Some(exit_codes::INTERRUPTED),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: backup_core::output::ErrorOutput =
        serde_json::from_slice(&out.stdout).expect("the error document");
    assert_eq!(
        (doc.error.kind.as_str(), doc.error.exit_code),
        ("cancelled", exit_codes::INTERRUPTED)
    );
    assert!(doc.error.message.contains("may still be running"), "{}", doc.error.message);
}
