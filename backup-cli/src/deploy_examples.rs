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
        // Secrets are references, never values.
        let secret = env.iter().find(|e| e["name"] == "AZURE_CLIENT_SECRET").unwrap();
        assert!(secret.get("value").is_none() && secret.get("secretRef").is_some(), "{name}");
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

/// The platforms' own schemas: the Kubernetes API's (strict, 1.27, the oldest version the CronJob claims) and
/// GitHub's workflow schema.
#[test]
fn the_deploy_files_pass_their_platforms_validators() {
    let (Some(kubernetes), Some(jsonschema)) =
        (validator("kubernetes-validate"), validator("check-jsonschema"))
    else {
        return;
    };
    let cronjob = deploy().join("kubernetes/cronjob.yaml");
    passes(&kubernetes, &["--strict", "-k", "1.27.0", cronjob.to_str().unwrap()]);
    let workflow = deploy().join("github-actions/nightly.yml");
    passes(
        &jsonschema,
        &["--builtin-schema", "vendor.github-workflows", workflow.to_str().unwrap()],
    );
}
