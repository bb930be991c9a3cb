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
            // Entra is HTTPS only: the simulator's authority has a certificate from its own CA, trusted for
            // signing in as a company CA would be.
            ("PBI_BACKUP_AUTHORITY", self.stack.sim.authority_url()),
            ("PBI_BACKUP_CA_FILE", self.stack.sim.ca_file().display().to_string()),
            ("PBI_BACKUP_AAS_BASE", base.clone()),
            ("PBI_BACKUP_ARM_URL", base),
            ("AZURE_TENANT_ID", self.stack.sim.tenant_id()),
            ("AZURE_CLIENT_ID", BOT.to_owned()),
            ("AZURE_CLIENT_SECRET", BOT_SECRET.to_owned()),
            // The client judged by the rules of the service it talks to (the default is today's, `current`).
            ("PBI_BACKUP_RULES", self.stack.sim.service_profile().to_owned()),
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

/// A tenant of many models, for the unattended job's tests and `cargo xtask bench tenant`: `workspaces`
/// workspaces named `WS-001`… spread round-robin over `capacities` P1 capacities in the home region (each running at
/// most `per_capacity_limit` backup and restore commands at once, when set), `models_per_workspace` models each
/// (`Model-01`…, `size_mb` MB, one table), all linked to one storage account `lake`, and `backup-bot` admin of every
/// workspace. `rest_per_second` and `mb_per_second` set the tenant's REST rate and backup speed, when given.
#[derive(Debug, Clone)]
pub struct BulkTenant {
    /// Workspaces.
    pub workspaces: usize,
    /// Models in each.
    pub models_per_workspace: usize,
    /// Capacities.
    pub capacities: usize,
    /// Backup and restore commands a capacity runs at once.
    pub per_capacity_limit: Option<u32>,
    /// Each model's `size-mb`.
    pub size_mb: u64,
    /// The tenant's REST calls per second.
    pub rest_per_second: Option<f64>,
    /// Backup speed, MB per second.
    pub mb_per_second: Option<f64>,
}

impl BulkTenant {
    /// The scenario's text.
    pub fn scenario(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from(
            "[tenant]\nid = \"0a0b0c0d-1111-2222-3333-444455556666\"\nhome-region = \"West Europe\"\ntenant-storage = \"lake\"\n",
        );
        if let Some(r) = self.rest_per_second {
            let _ = writeln!(s, "rest-calls-per-second = {r:?}");
        }
        if let Some(m) = self.mb_per_second {
            let _ = writeln!(s, "backup-mb-per-second = {m:?}");
        }
        for c in 1..=self.capacities {
            let _ = write!(
                s,
                "\n[[capacities]]\nname = \"P1-{c}\"\nsku = \"P1\"\nregion = \"West Europe\"\n"
            );
            if let Some(l) = self.per_capacity_limit {
                let _ = writeln!(s, "max-concurrent-operations = {l}");
            }
        }
        s.push_str("\n[[storage-accounts]]\nname = \"lake\"\nlocation = \"West Europe\"\n");
        let names: Vec<String> = (1..=self.workspaces).map(|w| format!("WS-{w:03}")).collect();
        for (i, w) in names.iter().enumerate() {
            let capacity = i % self.capacities.max(1) + 1;
            let _ = write!(
                s,
                "\n[[workspaces]]\nname = \"{w}\"\ncapacity = \"P1-{capacity}\"\nstorage = \"lake\"\n"
            );
        }
        let roles: Vec<String> = names.iter().map(|w| format!("\"{w}\" = \"Admin\"")).collect();
        let _ = write!(
            s,
            "\n[[principals]]\nkind = \"app\"\nname = \"backup-bot\"\nid = \"{BOT}\"\nsecret = \"{BOT_SECRET}\"\nroles = {{ {} }}\n",
            roles.join(", ")
        );
        for w in &names {
            for m in 1..=self.models_per_workspace {
                let _ = write!(
                    s,
                    "\n[[datasets]]\nworkspace = \"{w}\"\nname = \"Model-{m:02}\"\nsize-mb = {}\ntables = [{{ name = \"T\", columns = [\"C\"], rows = 1 }}]\n",
                    self.size_mb
                );
            }
        }
        s
    }
}
