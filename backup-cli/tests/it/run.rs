//! The unattended job: `run` by policies, reruns that do only what is missing, `--if-changed`, `--shard`, and a
//! service that pushes back (REST throttling, a capacity's limit of commands at once).

use std::collections::BTreeSet;

use backup_core::output::{BackupOutput, BackupVerification, RunOutput, exit_codes};
use test_fixtures::tenant::BulkTenant;

use crate::support::{BOT, BOT_SECRET, Tenant, with_config, words};

fn small_tenant() -> BulkTenant {
    BulkTenant {
        workspaces: 4,
        models_per_workspace: 3,
        capacities: 2,
        per_capacity_limit: None,
        size_mb: 1,
        rest_per_second: None,
        mb_per_second: None,
        uneven: false,
    }
}

const NIGHTLY: &str = r#"
[[policy]]
name = "nightly"
workspaces = ["WS-*"]
exclude-workspaces = ["WS-004"]
exclude-datasets = ["Model-03"]
verify-container = true
retention = { keep-last = 1 }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_run_backs_up_verifies_prunes_and_a_rerun_does_only_what_is_missing() {
    let t = Tenant::start(&small_tenant().scenario()).await;
    let (env, dir) = with_config(&t.env("lake"), NIGHTLY);
    let summary = dir.path().join("summary.md");
    let metrics = dir.path().join("pbi_backup.prom");
    let report = dir.path().join("report.json");
    let args = [
        "run",
        "--summary",
        summary.to_str().unwrap(),
        "--prometheus",
        metrics.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let out: RunOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    // Three workspaces (WS-004 excluded) of two models (Model-03 excluded), each backed up, verified, checked.
    assert_eq!((out.backed_up, out.skipped, out.failed), (6, 0, 0), "{out:?}");
    let policy = &out.policies[0];
    let backup = policy.backup.as_ref().unwrap();
    let chosen: BTreeSet<(String, String)> =
        backup.results.iter().map(|r| (r.workspace.clone(), r.dataset.clone())).collect();
    assert!(!chosen.iter().any(|(w, d)| w == "WS-004" || d == "Model-03"), "{chosen:?}");
    assert!(backup.results.iter().all(|r| r.verification == Some(BackupVerification::Verified)));
    assert_eq!(policy.verified.len(), 6);
    assert!(policy.verified.iter().all(|v| v.valid && v.container.is_some()), "{policy:?}");
    assert_eq!(policy.pruned.len(), 3, "one prune per workspace: {policy:?}");
    let saved: RunOutput = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(saved, out);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("# pbi-backup run succeeded"), "{text}");
    assert!(text.contains("| nightly | 6 | 0 | 0 | 0 |"), "{text}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let line = r#"pbi_backup_result{policy="nightly",workspace="WS-001",dataset="Model-01",result="ok"} 1"#;
    assert!(prom.contains(line), "{prom}");
    assert!(prom.contains(r#"pbi_backup_datasets{shard="",result="ok"} 6"#), "{prom}");
    prometheus_reads(&metrics, 6);
    // Only the config and the three reports: no temporary file is left beside them.
    let mut names: Vec<String> = dir
        .path()
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, words("pbi-backup.toml pbi_backup.prom report.json summary.md"));

    // A rerun in the same day: nothing is sent again, and every dataset says why.
    let backups = t.stack.sim.count("backup");
    let out: RunOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    assert_eq!((out.backed_up, out.skipped, out.failed), (0, 6, 0), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), backups, "a backup was sent again");
    let results = &out.policies[0].backup.as_ref().unwrap().results;
    assert!(results.iter().all(|r| r.skipped().is_some_and(|s| s.contains("this period"))));
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains(r#"result="skipped"} 1"#), "{prom}");
    assert!(prom.contains("pbi_backup_last_success_timestamp_seconds{"), "{prom}");

    // A backup that is no longer what its manifest says is not taken for done: it is made again.
    let store = t.stack.store("lake").unwrap();
    let file = &results.iter().find(|r| r.workspace == "WS-002").unwrap().file;
    let path = adls_store::StorePath::file("power-bi-backup", "WS-002", file).unwrap();
    adls_store::StoreExt::put(
        &store,
        &path,
        b"not the backup".to_vec().into(),
        adls_store::PutMode::Overwrite,
    )
    .await
    .unwrap();
    crate::commands::next_second().await;
    let out: RunOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    assert_eq!((out.backed_up, out.skipped), (1, 5), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_what_it_cannot_run_and_names_the_remedy() {
    let t = Tenant::start(&small_tenant().scenario()).await;
    let env = t.env("lake");
    let (no_policy, _d1) = with_config(&env, "");
    let err = t.cli(&no_policy, "run").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("[[policy]]"), "{err:?}");
    let (nameless, _d2) = with_config(&env, "[[policy]]\nworkspaces = [\"WS-*\"]\n");
    let err = t.cli(&nameless, "run").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("has no name"), "{err:?}");
    let (good, _d3) = with_config(&env, NIGHTLY);
    let err = t.cli(&good, "run --policy nightyl").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("did you mean 'nightly'"), "{err:?}");
    let run = t.cli(&good, "run --shard 3/2 --json").exits(exit_codes::USAGE).await;
    assert!(run.stderr.contains("K/N") || run.stdout.contains("K/N"), "{run:?}");
    // A password variable that is not set: the policy fails, naming it, and nothing is sent.
    let (secret, _d4) = with_config(
        &env,
        "[[policy]]\nname = \"sealed\"\nworkspaces = [\"WS-001\"]\npassword-env = \"NIGHTLY_PASSWORD\"\n",
    );
    let backups = t.stack.sim.count("backup");
    let out: RunOutput = t.cli(&secret, "run").json(exit_codes::USAGE).await;
    assert!(out.policies[0].errors[0].message.contains("NIGHTLY_PASSWORD"), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), backups);
}

#[tokio::test(flavor = "multi_thread")]
async fn if_changed_skips_an_unchanged_model_and_backs_up_a_refreshed_one() {
    let t = Tenant::start(&small_tenant().scenario()).await;
    let env = t.env("lake");
    let first = t.backup(&env, "WS-001", "Model-01").await;
    let backups = t.stack.sim.count("backup");
    let args = words("backup -w WS-001 -d Model-01 --if-changed");
    let out: BackupOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    assert_eq!((out.succeeded, out.skipped, out.failed), (0, 1, 0), "{out:?}");
    assert!(out.results[0].skipped().unwrap().contains("no refresh since"), "{out:?}");
    assert_eq!(out.results[0].file, first.file);
    assert_eq!(t.stack.sim.count("backup"), backups, "an unchanged model was backed up");

    // A refresh through the REST API leaves the model's modified time (no source says it moves it) and is in the
    // dataset's refresh history: the next run backs it up, and the one after skips it again.
    let token = t
        .stack
        .token_as(BOT, BOT_SECRET, "https://analysis.windows.net/powerbi/api/.default")
        .await;
    let api = format!("{}/v1.0/myorg/groups", t.stack.sim.base_url());
    let group = id_named(&api, &token, "WS-001").await;
    let dataset = id_named(&format!("{api}/{group}/datasets"), &token, "Model-01").await;
    let refresh = reqwest::Client::new()
        .post(format!("{api}/{group}/datasets/{dataset}/refreshes"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"notifyOption": "NoNotification"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status().as_u16(), 202);
    crate::commands::next_second().await;
    let out: BackupOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    assert_eq!((out.succeeded, out.skipped), (1, 0), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), backups + 1);
    crate::commands::next_second().await;
    let out: BackupOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    assert_eq!((out.succeeded, out.skipped), (0, 1), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), backups + 1);
}

/// The `id` of the item named `name` in a REST listing (`{"value": [...]}`).
async fn id_named(url: &str, token: &str, name: &str) -> String {
    let answer = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    let list: serde_json::Value = answer.json().await.unwrap();
    let item = list["value"].as_array().unwrap().iter().find(|i| i["name"] == name).unwrap();
    item["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_cover_every_dataset_exactly_once() {
    let t = Tenant::start(&small_tenant().scenario()).await;
    let env = t.env("lake");
    let mut seen: Vec<(String, String)> = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let args = ["backup", "-w", "WS-*", "--all", "--shard", shard];
        let out: BackupOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
        assert!(out.failed == 0, "{out:?}");
        seen.extend(out.results.iter().map(|r| (r.workspace.clone(), r.dataset.clone())));
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 12, "a dataset was backed up by two shards, or none: {seen:?}");
    assert_eq!(unique.len(), 12);
}

/// The service pushes back: 4 REST calls a second for the tenant, and capacities that run one backup at once while
/// the client is allowed two per capacity. Everything is backed up; nothing that only had to wait fails.
#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_capacity_limits_only_make_the_run_wait() {
    let tenant = BulkTenant {
        per_capacity_limit: Some(1),
        rest_per_second: Some(4.0),
        mb_per_second: Some(4.0),
        ..small_tenant()
    };
    let t = Tenant::start(&tenant.scenario()).await;
    let (env, _dir) = with_config(
        &t.env("lake"),
        "[backup]\nconcurrency = 4\nper-capacity = 2\n\n[[policy]]\nname = \"all\"\nworkspaces = [\"WS-*\"]\ndatasets = [\"Model-01\", \"Model-02\"]\n",
    );
    let out: RunOutput = t.cli(&env, "run").ok().await;
    assert_eq!((out.backed_up, out.failed), (8, 0), "{out:?}");
    assert!(t.stack.sim.count("rest-throttled") > 0, "the REST rate never throttled");
    assert!(t.stack.sim.count("xmla-throttled") > 0, "no capacity was ever at its limit");
    let waited = out.policies[0]
        .backup
        .as_ref()
        .unwrap()
        .results
        .iter()
        .any(|r| r.warnings.iter().any(|w| w.contains("refused the backup for load")));
    assert!(waited, "the refusals for load are not reported: {out:?}");
    // Configured at 2, each capacity was seen to take 1, and no more than 1 ran on it at once.
    let paces = &out.policies[0].backup.as_ref().unwrap().capacities;
    assert_eq!(paces.len(), 2, "{paces:?}");
    for p in paces {
        assert_eq!((p.start, p.learned, p.peak), (2, 1, 1), "{p:?}");
        assert!(
            p.refused_for_load >= 1 && p.name.as_deref().is_some_and(|n| n.starts_with("P1-")),
            "{p:?}"
        );
    }
}

/// pbi-sim's capacities change their limits during a run, as their other work comes and goes: one falls from 3 to 1,
/// the other rises from 1 to 3. The run, configured at 2 on each, follows both ways, fails nothing, never runs more
/// than a capacity takes, and reports what it learned (in its JSON and its Prometheus file).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_follows_capacities_whose_limits_change_both_ways() {
    let tenant = BulkTenant {
        workspaces: 4,
        models_per_workspace: 6,
        per_capacity_limit: Some(1),
        mb_per_second: Some(8.0),
        ..small_tenant()
    };
    let change = |from: u32, to: u32| {
        format!(
            "max-concurrent-operations = {from}\nlimit-changes = [{{ after-operations = 4, max-concurrent-operations = {to} }}]\n"
        )
    };
    let scenario = tenant
        .scenario()
        .replacen("max-concurrent-operations = 1\n", &change(3, 1), 1)
        .replacen("max-concurrent-operations = 1\n", &change(1, 3), 1);
    assert_eq!(scenario.matches("limit-changes").count(), 2, "{scenario}");
    let t = Tenant::start(&scenario).await;
    let (env, dir) = with_config(
        &t.env("lake"),
        "[backup]\nper-capacity = 2\n\n[[policy]]\nname = \"all\"\nworkspaces = [\"WS-*\"]\n",
    );
    let metrics = dir.path().join("pbi-backup.prom");
    let out: RunOutput = t.cli(&env, "run --prometheus").arg(metrics.to_str().unwrap()).ok().await;
    assert_eq!((out.backed_up, out.failed), (24, 0), "{out:?}");
    let paces = &out.policies[0].backup.as_ref().unwrap().capacities;
    let pace = |name: &str| {
        paces
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name}: {paces:?}"))
    };
    // P1-1 took 3 at first, then 1: the run ran more than one on it early, and ended at 1.
    let falling = pace("P1-1");
    assert!(falling.peak >= 2 && falling.peak <= 3 && falling.learned == 1, "{falling:?}");
    // P1-2 took 1 at first, then 3: the run came down to 1, then grew past it again.
    let rising = pace("P1-2");
    assert!(rising.peak >= 2 && rising.peak <= 3 && rising.learned >= 2, "{rising:?}");
    assert!(falling.refused_for_load >= 1 && rising.refused_for_load >= 1, "{paces:?}");
    // Every request to the Power BI side (sign-in, REST, XMLA routing, XMLA), refused ones included, per model:
    // the backup, its row counts (`DISCOVER_STORAGE_TABLES`, for drills) and their share of the rest.
    let requests = t.stack.sim.count("requests");
    assert!(requests <= 6 * 24, "{requests} requests for 24 models");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.lines().any(|l| l.starts_with("pbi_backup_capacity_concurrency{")
            && l.contains(&falling.capacity)
            && l.ends_with(" 1.0")),
        "{prom}"
    );
}

/// Prometheus's own Python client parses the metrics file: every family is a gauge, six datasets report a result of
/// `ok`, and each has a last success time. `PBI_BACKUP_PYTHON` names a python with `prometheus-client` installed
/// (`.ci/run` builds one); unset, this says plainly that it did not run, unless `PBI_BACKUP_REQUIRE_PYTHON=1`.
#[allow(clippy::print_stderr, reason = "the check says when it did not run")]
fn prometheus_reads(metrics: &std::path::Path, ok: usize) {
    let Some(python) = std::env::var_os("PBI_BACKUP_PYTHON") else {
        assert!(
            std::env::var("PBI_BACKUP_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "PBI_BACKUP_REQUIRE_PYTHON=1 but PBI_BACKUP_PYTHON is not set"
        );
        eprintln!("prometheus-client cross-check did not run: PBI_BACKUP_PYTHON is not set");
        return;
    };
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
print(json.dumps({
    "types": sorted({f.type for f in families.values()}),
    "ok": sum(1 for s in families["pbi_backup_result"].samples if s.labels["result"] == "ok" and s.value == 1),
    "times": len(families["pbi_backup_last_success_timestamp_seconds"].samples),
}))
"#;
    let out =
        std::process::Command::new(python).args(["-c", script]).arg(metrics).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["types"], serde_json::json!(["gauge"]), "{v}");
    assert_eq!(v["ok"], ok, "{v}");
    assert_eq!(v["times"], ok, "{v}");
}

/// A policy over a workspace that backs up and one the preflight blocks: the run is partial (exit 6), the summary
/// and the metrics say which dataset failed and why, and the blocked one was never sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_partial_run_exits_6_and_its_reports_name_the_failure() {
    let t = Tenant::rules().await;
    let (env, dir) = with_config(
        &t.env("financelake"),
        "[[policy]]\nname = \"mixed\"\nworkspaces = [\"Finance\", \"Members Only\"]\ndatasets = [\"DB\", \"Team\"]\n",
    );
    let summary = dir.path().join("summary.md");
    let metrics = dir.path().join("m.prom");
    let backups = t.stack.sim.count("backup");
    let args =
        ["run", "--summary", summary.to_str().unwrap(), "--prometheus", metrics.to_str().unwrap()];
    let out: RunOutput = t.report(&env, exit_codes::PARTIAL, &args).await;
    assert_eq!((out.backed_up, out.failed), (1, 1), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), backups + 1, "the blocked dataset was sent");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("# pbi-backup run partly failed"), "{text}");
    assert!(text.contains("| mixed | Members Only | Team |"), "{text}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(r#"workspace="Members Only",dataset="Team",result="failed"} 1"#),
        "{prom}"
    );
    assert!(prom.contains(r#"pbi_backup_datasets{shard="",result="failed"} 1"#), "{prom}");

    // Named as a CI job's step summary ($GITHUB_STEP_SUMMARY), the summary goes after what the job wrote before.
    let step = dir.path().join("step-summary.md");
    let earlier = "## Build\n\nearlier step\n";
    std::fs::write(&step, earlier).unwrap();
    let env = env.set("GITHUB_STEP_SUMMARY", step.to_str().unwrap());
    let _: RunOutput =
        t.cli(&env, "run --summary").arg(step.to_str().unwrap()).json(exit_codes::PARTIAL).await;
    let text = std::fs::read_to_string(&step).unwrap();
    assert!(text.starts_with(earlier), "{text}");
    assert!(text.contains("# pbi-backup run partly failed"), "{text}");
    assert!(text.contains("| mixed | Members Only | Team |"), "{text}");
}

/// On an Analysis Services server `--if-changed` has no manifests to compare with: it says so, and backs up.
#[tokio::test(flavor = "multi_thread")]
async fn if_changed_on_analysis_services_says_it_backs_everything_up() {
    let t = Tenant::rules().await;
    let env = t.env("aaslake");
    let server = "asazure://westeurope.asazure.windows.net/aasprod";
    let args = ["backup", "--server", server, "-d", "AdventureWorks", "--if-changed", "--json"];
    let run = t.run(&env, &args).await.expecting(exit_codes::SUCCESS);
    assert!(run.stderr.contains("--if-changed applies to Power BI workspaces"), "{}", run.stderr);
    let out: BackupOutput = run.json();
    assert_eq!((out.succeeded, out.skipped), (1, 0), "{out:?}");
}

/// A workspace the preflight blocks is asked nothing over XMLA, not even the models' modified times that
/// `--if-changed` reads: nothing reaches its endpoint before its rules pass.
#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_workspace_is_asked_nothing_over_xmla() {
    let t = Tenant::rules().await;
    let env = t.env("tenantlake");
    t.stack.sim.clear_requests();
    let args = ["backup", "-w", "Asia Sales", "--all", "--if-changed", "--json"];
    t.run(&env, &args).await.expecting(exit_codes::PREFLIGHT_BLOCKED);
    let asked: Vec<String> = t
        .stack
        .sim
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| {
            p.contains("xmla") || p.contains("generateastoken") || p.contains("clusterResolve")
        })
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
}

const WEEKLY_DRILL: &str = "[[policy]]\nname = \"drilled\"\nworkspaces = [\"Finance\"]\ndatasets = [\"Budget\"]\ndrill = \"week\"\ndrill-workspace = \"Finance Copy\"\n";

/// A policy with `drill = "week"` drills its dataset after the backup, leaves no scratch model, says so in the
/// report, the summary and the metrics; the next night's run, in the same week, does not drill it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_policy_drills_once_a_week_not_every_night() {
    let t = Tenant::rules().await;
    let (env, dir) = with_config(&t.env("financelake"), WEEKLY_DRILL);
    let summary = dir.path().join("summary.md");
    let metrics = dir.path().join("m.prom");
    let args =
        ["run", "--summary", summary.to_str().unwrap(), "--prometheus", metrics.to_str().unwrap()];
    let before = t.stack.sim.models("Finance Copy");
    let out: RunOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    let drills = &out.policies[0].drills;
    assert_eq!(drills.len(), 1, "{out:?}");
    let drilled = drills[0].drill.as_ref().expect("drilled in this run");
    assert!(drilled.restorable && drilled.scratch_removed, "{drilled:?}");
    assert!(drills[0].last_passed.is_some(), "{drills:?}");
    assert_eq!(t.stack.sim.models("Finance Copy"), before, "a scratch model is left");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("| drilled | Finance | Budget | passed |"), "{text}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(
            r#"pbi_backup_last_drill_success_timestamp_seconds{policy="drilled",workspace="Finance",dataset="Budget"}"#
        ),
        "{prom}"
    );
    // The next night (the same week): the backup is done for the day already, and the drill is not due.
    let (restores, deletes) = (t.stack.sim.count("restore"), t.stack.sim.count("delete-dataset"));
    let again: RunOutput = t.report(&env, exit_codes::SUCCESS, &args).await;
    let d = &again.policies[0].drills[0];
    assert!(d.drill.is_none() && d.last_passed == drills[0].last_passed, "{again:?}");
    assert_eq!(
        (t.stack.sim.count("restore"), t.stack.sim.count("delete-dataset")),
        (restores, deletes),
        "a drill was sent again"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("| drilled | Finance | Budget | not due |"), "{text}");
}

/// A drill that fails makes the run partial (exit 6) and leads the summary's failures; it is drilled again on the
/// next run, since no drill of it passed. A policy that drills into no workspace is refused before anything runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_drill_leads_the_summary_and_is_drilled_again() {
    let t = Tenant::rules().await;
    let (env, dir) = with_config(&t.env("financelake"), WEEKLY_DRILL);
    let summary = dir.path().join("summary.md");
    let args = ["run", "--summary", summary.to_str().unwrap()];
    t.stack.sim.halve_rows_on_restore(Some("Budget"));
    let out: RunOutput = t.report(&env, exit_codes::PARTIAL, &args).await;
    let d = &out.policies[0].drills[0];
    assert!(d.failed().is_some() && d.last_passed.is_none(), "{d:?}");
    let text = std::fs::read_to_string(&summary).unwrap();
    let failures = text.split("## Failures").nth(1).expect("a failures table");
    let first_row = failures.lines().find(|l| l.starts_with("| drilled")).unwrap();
    assert!(first_row.contains("the drill of 'Budget' in 'Finance' failed"), "{text}");
    assert!(first_row.contains("1200 rows after the restore"), "{text}");
    let restores = t.stack.sim.count("restore");
    let again: RunOutput = t.report(&env, exit_codes::PARTIAL, &args).await;
    assert!(again.policies[0].drills[0].drill.is_some(), "{again:?}");
    assert_eq!(t.stack.sim.count("restore"), restores + 1);

    let (nowhere, _d) =
        with_config(&env, &WEEKLY_DRILL.replace("drill-workspace = \"Finance Copy\"\n", ""));
    let err = t.cli(&nowhere, "run").fails(exit_codes::USAGE).await;
    assert!(err.message.contains("drill-workspace"), "{err:?}");
}
