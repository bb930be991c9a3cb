//! pbi-sim's Azure Resource Manager subset read by Microsoft's own client, `azure-mgmt-storage`, so that its shapes
//! are held to a client nobody here wrote (as the DFS emulator is held to the storage SDK).
//!
//! `PBI_BACKUP_PYTHON` names a python with `azure-mgmt-storage` installed (`.ci/run` builds one). Unset, the test says
//! plainly that it did not run and returns, unless `PBI_BACKUP_REQUIRE_PYTHON=1`, when it fails.

#![allow(clippy::print_stderr, reason = "the test says when it did not run")]

use std::net::SocketAddr;

use serde_json::Value;
use test_fixtures::pbi_sim::{Scenario, SimStack};

const RULES: &str = include_str!("../../scenarios/rules.toml");
const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

const SCRIPT: &str = r#"
import json, sys
from azure.core.credentials import AccessToken
from azure.mgmt.storage import StorageManagementClient

base, token, sub, rg, name = sys.argv[1:6]

class Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken(token, 4102444800)

client = StorageManagementClient(Token(), sub, base_url=base)
# Plain http to the loopback simulator: the SDK refuses bearer tokens over http unless told otherwise.
a = client.storage_accounts.get_properties(rg, name, enforce_https=False)
listed = sorted(x.name for x in client.storage_accounts.list(enforce_https=False))
acls = a.network_rule_set
print(json.dumps({
    "listed": listed,
    "name": a.name,
    "location": a.location,
    "kind": a.kind,
    "is_hns_enabled": a.is_hns_enabled,
    "allow_shared_key_access": a.allow_shared_key_access,
    "default_action": acls.default_action,
    "vnet_rules": [r.virtual_network_resource_id for r in (acls.virtual_network_rules or [])],
    "public_network_access": a.public_network_access,
    "private_endpoints": [p.name for p in (a.private_endpoint_connections or [])],
    "dfs": a.primary_endpoints.dfs,
}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_mgmt_storage_reads_the_simulated_storage_accounts() {
    let Some(python) = std::env::var_os("PBI_BACKUP_PYTHON") else {
        assert!(
            std::env::var("PBI_BACKUP_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "PBI_BACKUP_REQUIRE_PYTHON=1 but PBI_BACKUP_PYTHON is not set"
        );
        eprintln!("azure-mgmt-storage cross-check did not run: PBI_BACKUP_PYTHON is not set");
        return;
    };
    let scenario = RULES.replace(
        "name = \"financelake\"\nlocation = \"West Europe\"",
        "name = \"financelake\"\nlocation = \"North Europe\"\nhierarchical-namespace = false\nshared-key-access = false\nnetwork-default-action = \"Deny\"\nvnet-rules = [\"backend\"]\nprivate-endpoints = [\"pe-finance\"]\npublic-network-access = \"Disabled\"",
    );
    assert_ne!(scenario, RULES);
    let dir = tempfile::tempdir().unwrap();
    let stack =
        SimStack::start(Scenario::parse(&scenario).unwrap(), dir.path(), LOOPBACK).await.unwrap();
    let base = stack.sim.base_url();
    let token = stack
        .token_as(
            "b0b0b0b0-0000-4000-8000-000000000001",
            "bot-secret",
            "https://management.azure.com/.default",
        )
        .await;
    let http = reqwest::Client::new();
    let subs: Value = http
        .get(format!("{base}/subscriptions?api-version=2022-12-01"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = subs["value"][0]["subscriptionId"].as_str().expect("a subscription").to_owned();
    assert_eq!(subs["value"][0]["tenantId"].as_str(), Some(stack.sim.tenant_id().as_str()));

    let script = dir.path().join("arm.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let args = [base.clone() + "/", token, sub, "rg-financelake".into(), "financelake".into()];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(&script).args(args).output().expect("run python")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("python printed JSON");
    assert_eq!(r["listed"], serde_json::json!(["aaslake", "financelake", "tenantlake"]));
    assert_eq!(r["name"], "financelake");
    assert_eq!(r["location"], "northeurope");
    assert_eq!(r["kind"], "StorageV2");
    assert_eq!(r["is_hns_enabled"], false);
    assert_eq!(r["allow_shared_key_access"], false);
    assert_eq!(r["default_action"], "Deny");
    assert!(r["vnet_rules"][0].as_str().is_some_and(|s| s.ends_with("/subnets/backend")), "{r}");
    assert_eq!(r["public_network_access"], "Disabled");
    assert_eq!(r["private_endpoints"], serde_json::json!(["pe-finance"]));
    assert_eq!(r["dfs"], "https://financelake.dfs.core.windows.net/");
}
