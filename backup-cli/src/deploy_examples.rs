//! The scheduler examples under `deploy/`, read as their schedulers would and every command line they hold run
//! through this binary's own argument parser: an example that stops parsing, or whose jobs do not split the tenant
//! into each share exactly once, fails here.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

use crate::cli::{Cli, Command};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml(relative: &str) -> Value {
    let text = std::fs::read_to_string(deploy().join(relative)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

/// The shard `argv` asks for (its `--shard`), after the parser took it as a `run`.
fn parsed_shard(argv: &[String]) -> Option<String> {
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Run(run) = cli.command else { panic!("{argv:?} is not a run") };
    run.shard.map(|s| s.to_string())
}

fn every_share(n: u32) -> Vec<String> {
    (1..=n).map(|k| format!("{k}/{n}")).collect()
}

#[test]
fn the_kubernetes_indexed_cronjob_gives_each_pod_its_own_shard() {
    let doc = yaml("kubernetes/cronjob.yaml");
    let job = &doc["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let n = u32::try_from(job["completions"].as_u64().unwrap()).unwrap();
    let command = strings(&job["template"]["spec"]["containers"][0]["command"]);
    let [shell, flag, script] = command.as_slice() else { panic!("{command:?}") };
    assert_eq!((shell.as_str(), flag.as_str()), ("/bin/sh", "-c"));
    // The pod's shell expands the script; `printf` stands in for the binary and prints the argv it would get.
    let script = script.replacen("exec pbi-backup ", "exec printf '%s\\0' pbi-backup ", 1);
    let mut shards = Vec::new();
    for index in 0..n {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let argv: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        shards.push(parsed_shard(&argv).expect("a shard"));
    }
    assert_eq!(shards, every_share(n));
    // No sign-in secret: Azure workload identity, through the service account its pods run as.
    let pod = &job["template"];
    assert_eq!(pod["metadata"]["labels"]["azure.workload.identity/use"], "true");
    let account = yaml("kubernetes/serviceaccount.yaml");
    assert_eq!(pod["spec"]["serviceAccountName"], account["metadata"]["name"]);
    assert!(account["metadata"]["annotations"]["azure.workload.identity/client-id"].is_string());
    let env = pod["spec"]["containers"][0]["env"].as_array().unwrap();
    let auth = env.iter().find(|e| e["name"] == "PBI_BACKUP_AUTH").unwrap();
    assert_eq!(auth["value"], "workload-identity");
    assert!(env.iter().all(|e| e["name"] != "AZURE_CLIENT_SECRET"));
}

#[test]
fn the_container_apps_jobs_take_one_shard_each_and_all_of_them() {
    let mut shards = Vec::new();
    let mut count = None;
    for entry in std::fs::read_dir(deploy().join("azure-container-apps")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".yaml") {
            continue;
        }
        let doc = yaml(&format!("azure-container-apps/{name}"));
        assert_eq!(doc["properties"]["configuration"]["triggerType"], "Schedule", "{name}");
        let container = &doc["properties"]["template"]["containers"][0];
        let argv = [strings(&container["command"]), strings(&container["args"])].concat();
        assert_eq!(parsed_shard(&argv), None, "{name}: the shard comes from PBI_BACKUP_SHARD");
        let env = container["env"].as_array().unwrap();
        let shard = env.iter().find(|e| e["name"] == "PBI_BACKUP_SHARD").expect("PBI_BACKUP_SHARD");
        let shard: backup_core::ops::schedule::Shard =
            shard["value"].as_str().unwrap().parse().unwrap();
        assert_eq!(*count.get_or_insert(shard.count), shard.count, "{name}");
        shards.push(shard.to_string());
        // No sign-in secret: the job's user-assigned managed identity signs in, and reads the Key Vault secrets.
        let value =
            |key: &str| env.iter().find(|e| e["name"] == key).and_then(|e| e["value"].as_str());
        assert_eq!(value("PBI_BACKUP_AUTH"), Some("managed-identity"), "{name}");
        assert!(value("AZURE_CLIENT_ID").is_some(), "{name}: the identity's client id");
        assert!(env.iter().all(|e| e["name"] != "AZURE_CLIENT_SECRET"), "{name}");
        assert_eq!(doc["identity"]["type"], "UserAssigned", "{name}");
        let identities = doc["identity"]["userAssignedIdentities"].as_object().unwrap();
        for secret in doc["properties"]["configuration"]["secrets"].as_array().unwrap() {
            assert!(secret.get("value").is_none(), "{name}: a secret's value is in the file");
            let by = secret["identity"].as_str().unwrap();
            assert!(identities.contains_key(by), "{name}: {by} is not the job's identity");
        }
        // Secrets are references, never values; the password the policy names is one.
        let password = env.iter().find(|e| e["name"] == "PBI_BACKUP_NIGHTLY_PASSWORD").unwrap();
        assert!(password.get("value").is_none() && password.get("secretRef").is_some(), "{name}");
    }
    shards.sort();
    assert_eq!(shards, every_share(count.expect("examples")));
}

#[test]
fn the_github_actions_matrix_covers_every_shard() {
    let doc = yaml("github-actions/nightly.yml");
    let job = &doc["jobs"]["backup"];
    let matrix: Vec<u64> = job["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let steps = job["steps"].as_array().unwrap();
    let line = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.starts_with("pbi-backup run"))
        .expect("a step that runs pbi-backup");
    // No sign-in secret: azure/login's OIDC exchange, before the run, and the Azure CLI session it leaves.
    assert_eq!(doc["permissions"]["id-token"], "write");
    let login = steps
        .iter()
        .position(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("azure/login@")));
    let run = steps
        .iter()
        .position(|s| s["run"].as_str().is_some_and(|r| r.starts_with("pbi-backup run")));
    assert!(login.is_some() && login < run, "{steps:?}");
    assert_eq!(job["env"]["PBI_BACKUP_AUTH"], "cli");
    assert!(job["env"].get("AZURE_CLIENT_SECRET").is_none());
    let n = u32::try_from(matrix.len()).unwrap();
    let mut shards = Vec::new();
    for k in &matrix {
        let expanded = line.replace("${{ matrix.shard }}", &k.to_string());
        let argv = shlex::split(&expanded).expect("a command line");
        shards.push(parsed_shard(&argv).expect("a shard"));
    }
    assert_eq!(shards, every_share(n));
}

/// The configuration the examples name loads, and its policies' retention holds.
#[test]
fn the_configuration_the_examples_name_loads() {
    let file = backup_core::config::ConfigFile::load(&deploy().join("pbi-backup.toml"))
        .unwrap_or_else(|e| panic!("deploy/pbi-backup.toml: {e}"));
    assert_eq!(file.policies.len(), 1);
    for p in &file.policies {
        p.retention.as_ref().expect("a retention").validate().unwrap();
    }
}

/// A validator installed beside `PBI_BACKUP_PYTHON` (`.ci/run` installs them); `None` when Python is not set up, which
/// the test says (and fails when `PBI_BACKUP_REQUIRE_PYTHON=1`).
#[allow(clippy::print_stderr, reason = "the test says when it did not run")]
fn validator(name: &str) -> Option<PathBuf> {
    let Some(python) = std::env::var_os("PBI_BACKUP_PYTHON") else {
        assert!(
            std::env::var("PBI_BACKUP_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "PBI_BACKUP_REQUIRE_PYTHON=1 but PBI_BACKUP_PYTHON is not set"
        );
        eprintln!("{name} did not run: PBI_BACKUP_PYTHON is not set");
        return None;
    };
    Some(Path::new(&python).with_file_name(name))
}

fn passes(tool: &Path, args: &[&str]) {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} {args:?}:\n{}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The platforms' own schemas: the Kubernetes API's (strict, 1.27, the oldest version the CronJob claims), Microsoft's
/// Container Apps models and GitHub's workflow schema.
#[test]
fn the_deploy_files_pass_their_platforms_validators() {
    let (Some(kubernetes), Some(jsonschema)) =
        (validator("kubernetes-validate"), validator("check-jsonschema"))
    else {
        return;
    };
    let cronjob = deploy().join("kubernetes/cronjob.yaml");
    passes(&kubernetes, &["--strict", "-k", "1.27.0", cronjob.to_str().unwrap()]);
    let account = deploy().join("kubernetes/serviceaccount.yaml");
    passes(&kubernetes, &["--strict", "-k", "1.27.0", account.to_str().unwrap()]);
    // The Container Apps jobs against Microsoft's own models (azure-mgmt-appcontainers), with the venv's python.
    let python = std::env::var_os("PBI_BACKUP_PYTHON").expect("checked by validator()");
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/container_apps_check.py");
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(deploy().join("azure-container-apps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    jobs.sort();
    let mut args = vec![check.to_str().unwrap()];
    args.extend(jobs.iter().map(|j| j.to_str().unwrap()));
    passes(Path::new(&python), &args);
    let workflow = deploy().join("github-actions/nightly.yml");
    passes(
        &jsonschema,
        &["--builtin-schema", "vendor.github-workflows", workflow.to_str().unwrap()],
    );
}
