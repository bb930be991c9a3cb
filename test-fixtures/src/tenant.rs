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

/// The id of a bulk tenant's capacity `c` (1-based).
fn capacity_id(c: usize) -> String {
    format!("b0b0b0b0-0000-4000-8000-{c:012}")
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
    /// A tenant as tenants are: each capacity its own limit (1 to 4 at once, from [`UNEVEN_LIMITS`], whatever
    /// `per_capacity_limit` says), models of many sizes (`size_mb` times a factor from [`UNEVEN_SIZES`]), and every
    /// thirteenth workspace on no capacity (shared), which the rules refuse.
    pub uneven: bool,
}

/// The capacities' limits of an uneven tenant, in turn.
pub const UNEVEN_LIMITS: [u32; 7] = [1, 4, 2, 3, 1, 2, 4];
/// The factors of an uneven tenant's model sizes, in turn (0.2 to 6 times `size_mb`).
pub const UNEVEN_SIZES: [f64; 9] = [0.2, 1.0, 0.5, 3.0, 1.0, 6.0, 0.3, 2.0, 1.5];

/// What an uneven (or even) bulk tenant allows: the least wall time its eligible backups can take.
#[derive(Debug, Clone, PartialEq)]
pub struct Makespan {
    /// Seconds: per capacity, its backups' total time over its limit (or its longest backup, when longer); the
    /// largest.
    pub ideal_seconds: f64,
    /// Models the rules allow to back up.
    pub eligible: usize,
    /// Models in workspaces the rules refuse.
    pub refused: usize,
    /// Each capacity's name, id and limit.
    pub capacities: Vec<(String, String, u32)>,
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
                "\n[[capacities]]\nname = \"P1-{c}\"\nid = \"{}\"\nsku = \"P1\"\nregion = \"West Europe\"\n",
                capacity_id(c)
            );
            if let Some(l) = self.limit_of(c) {
                let _ = writeln!(s, "max-concurrent-operations = {l}");
            }
        }
        s.push_str("\n[[storage-accounts]]\nname = \"lake\"\nlocation = \"West Europe\"\n");
        let names: Vec<String> = (1..=self.workspaces).map(|w| format!("WS-{w:03}")).collect();
        for (i, w) in names.iter().enumerate() {
            match self.capacity_of(i) {
                Some(c) => {
                    let _ = write!(
                        s,
                        "\n[[workspaces]]\nname = \"{w}\"\ncapacity = \"P1-{c}\"\nstorage = \"lake\"\n"
                    );
                }
                None => {
                    let _ = write!(s, "\n[[workspaces]]\nname = \"{w}\"\nstorage = \"lake\"\n");
                }
            }
        }
        let roles: Vec<String> = names.iter().map(|w| format!("\"{w}\" = \"Admin\"")).collect();
        let _ = write!(
            s,
            "\n[[principals]]\nkind = \"app\"\nname = \"backup-bot\"\nid = \"{BOT}\"\nsecret = \"{BOT_SECRET}\"\nroles = {{ {} }}\n",
            roles.join(", ")
        );
        for (i, w) in names.iter().enumerate() {
            for m in 1..=self.models_per_workspace {
                let _ = write!(
                    s,
                    "\n[[datasets]]\nworkspace = \"{w}\"\nname = \"Model-{m:02}\"\nsize-mb = {}\ntables = [{{ name = \"T\", columns = [\"C\"], rows = 1 }}]\n",
                    self.size_of(i, m)
                );
            }
        }
        s
    }

    /// The limit of capacity `c` (1-based).
    fn limit_of(&self, c: usize) -> Option<u32> {
        if self.uneven {
            Some(UNEVEN_LIMITS[(c - 1) % UNEVEN_LIMITS.len()])
        } else {
            self.per_capacity_limit
        }
    }

    /// The capacity (1-based) of workspace `i` (0-based); `None`: shared, refused by the rules.
    fn capacity_of(&self, i: usize) -> Option<usize> {
        if self.uneven && i % 13 == 12 {
            return None;
        }
        Some(i % self.capacities.max(1) + 1)
    }

    /// The size of model `m` (1-based) of workspace `i` (0-based), MB.
    fn size_of(&self, i: usize, m: usize) -> u64 {
        if !self.uneven {
            return self.size_mb;
        }
        let factor = UNEVEN_SIZES[(i * 7 + m * 5) % UNEVEN_SIZES.len()];
        ((self.size_mb as f64 * factor).round() as u64).max(1)
    }

    /// The least wall time the tenant's eligible backups take at its backup speed (`None` without one).
    pub fn makespan(&self) -> Option<Makespan> {
        let speed = self.mb_per_second.filter(|s| *s > 0.0)?;
        let mut work = vec![(0.0f64, 0.0f64); self.capacities.max(1)];
        let (mut eligible, mut refused) = (0, 0);
        for i in 0..self.workspaces {
            for m in 1..=self.models_per_workspace {
                let Some(c) = self.capacity_of(i) else {
                    refused += 1;
                    continue;
                };
                eligible += 1;
                let seconds = self.size_of(i, m) as f64 / speed;
                let (total, longest) = &mut work[c - 1];
                *total += seconds;
                *longest = longest.max(seconds);
            }
        }
        let mut ideal: f64 = 0.0;
        let mut capacities = Vec::new();
        for (c, (total, longest)) in work.iter().enumerate() {
            let limit = self.limit_of(c + 1);
            let slots = limit.map_or(f64::INFINITY, f64::from);
            ideal = ideal.max((total / slots).max(*longest));
            capacities.push((format!("P1-{}", c + 1), capacity_id(c + 1), limit.unwrap_or(0)));
        }
        Some(Makespan { ideal_seconds: ideal, eligible, refused, capacities })
    }
}
