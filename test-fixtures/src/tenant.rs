//! The test tenant every crate's tests start: pbi-sim with its storage accounts, from a scenario, on loopback,
//! its state in a temporary folder that goes when the tenant does.

use std::net::SocketAddr;

use crate::pbi_sim::{Scenario, SimStack};

/// The scenario of the rules tests (`scenarios/rules.toml`): a workspace breaking each rule, and good ones.
pub const RULES_SCENARIO: &str = include_str!("../scenarios/rules.toml");
/// The demo tenant (`scenarios/demo.toml`).
pub const DEMO_SCENARIO: &str = include_str!("../scenarios/demo.toml");
/// The service principal of both scenarios (`backup-bot`), admin of the workspaces that back up.
pub const BOT: &str = "b0b0b0b0-0000-4000-8000-000000000001";
/// `backup-bot`'s client secret.
pub const BOT_SECRET: &str = "bot-secret";

/// A running simulated tenant.
#[derive(Debug)]
pub struct TestTenant {
    /// pbi-sim and the DFS emulators of its storage accounts.
    pub stack: SimStack,
    _state: tempfile::TempDir,
}

impl TestTenant {
    /// The rules scenario.
    pub async fn rules() -> TestTenant {
        TestTenant::start(RULES_SCENARIO).await
    }

    /// A tenant from a scenario's text.
    ///
    /// # Panics
    /// When the scenario does not parse or the servers do not start: a test cannot go on without them.
    pub async fn start(scenario: &str) -> TestTenant {
        let scenario = Scenario::parse(scenario).expect("the scenario parses");
        TestTenant::start_with(scenario).await
    }

    /// A tenant from a parsed scenario.
    ///
    /// # Panics
    /// When the servers do not start.
    pub async fn start_with(scenario: Scenario) -> TestTenant {
        let state = tempfile::tempdir().expect("temp dir");
        let stack = SimStack::start(scenario, state.path(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the simulated tenant starts");
        TestTenant { stack, _state: state }
    }

    /// The base URL of every simulated service, with a trailing slash.
    pub fn base(&self) -> String {
        format!("{}/", self.stack.sim.base_url())
    }

    /// The variables that sign `backup-bot` in against this tenant, without storage.
    pub fn bot_env(&self) -> Vec<(String, String)> {
        let base = self.base();
        [
            ("PBI_BACKUP_POWERBI_API", base.clone()),
            ("PBI_BACKUP_AUTHORITY", base.clone()),
            ("PBI_BACKUP_AAS_BASE", base.clone()),
            ("PBI_BACKUP_ARM_URL", base),
            ("AZURE_TENANT_ID", self.stack.sim.tenant_id()),
            ("AZURE_CLIENT_ID", BOT.to_owned()),
            ("AZURE_CLIENT_SECRET", BOT_SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// [`Self::bot_env`] with the storage account `account` of the scenario configured.
    ///
    /// # Panics
    /// When the scenario has no such account.
    pub fn bot_env_with_storage(&self, account: &str) -> Vec<(String, String)> {
        let storage = self.stack.storage_env(account);
        assert!(!storage.is_empty(), "no storage account '{account}' in the scenario");
        let mut env = self.bot_env();
        for (k, v) in storage {
            env.retain(|(n, _)| *n != k);
            env.push((k, v));
        }
        env
    }
}
