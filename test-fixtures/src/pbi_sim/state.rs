//! The simulator's state: what the scenario declared plus everything changed since, saved as JSON in the state
//! folder after every change so that it survives a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scenario::{self, LinkKind, Scenario, ServiceProfile, derived_id, sku_model_limit_gb};

/// The all-zero GUID that unassigns storage.
pub const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityState {
    pub id: String,
    pub name: String,
    pub sku: String,
    pub region: String,
    pub state: String,
    pub max_model_gb: Option<f64>,
    #[serde(default)]
    pub xmla: scenario::XmlaSetting,
    #[serde(default)]
    pub max_concurrent_operations: Option<u32>,
    #[serde(default)]
    pub limit_changes: Vec<scenario::LimitChange>,
}

impl CapacityState {
    /// The backups and restores it runs at once after it started `started` of them; `None`: no limit.
    pub fn limit_after(&self, started: u64) -> Option<u32> {
        self.limit_changes
            .iter()
            .filter(|c| started >= c.after_operations)
            .max_by_key(|c| c.after_operations)
            .map(|c| c.max_concurrent_operations)
            .or(self.max_concurrent_operations)
    }
}

impl CapacityState {
    /// Premium-class capacities serve XMLA (Premium, Embedded A/EM, Fabric F, PPU).
    pub fn is_premium(&self) -> bool {
        !self.sku.eq_ignore_ascii_case("Shared") && self.model_limit_gb().is_some()
    }

    pub fn model_limit_gb(&self) -> Option<f64> {
        self.max_model_gb.or_else(|| sku_model_limit_gb(&self.sku))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountState {
    pub id: String,
    pub name: String,
    pub location: String,
    #[serde(default = "shared_key_default")]
    pub shared_key_access: bool,
    /// Served as `isEnabled`; a disabled account cannot be assigned.
    #[serde(default = "shared_key_default")]
    pub enabled: bool,
    /// What Azure Resource Manager says of it.
    #[serde(default)]
    pub arm: ArmState,
}

/// The account as Azure Resource Manager describes it (the scenario's keys of the same names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmState {
    pub subscription: String,
    pub tenant: Option<String>,
    pub hierarchical_namespace: bool,
    pub network_default_action: String,
    pub vnet_rules: Vec<String>,
    pub private_endpoints: Vec<String>,
    pub public_network_access: String,
}

impl Default for ArmState {
    fn default() -> Self {
        ArmState {
            subscription: String::new(),
            tenant: None,
            hierarchical_namespace: true,
            network_default_action: "Allow".into(),
            vnet_rules: Vec::new(),
            private_endpoints: Vec::new(),
            public_network_access: "Enabled".into(),
        }
    }
}

fn shared_key_default() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkspaceState {
    pub id: String,
    pub name: String,
    pub capacity_id: Option<String>,
    /// Linked storage account name.
    pub storage: Option<String>,
    pub link: LinkKind,
    pub storage_format: String,
    /// Set when an automatic rename of the backup folder failed (a folder of the new name existed).
    pub folder_rename_failed_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PrincipalState {
    pub kind: String,
    pub name: String,
    pub id: String,
    /// The object id (the `oid` claim); apps are listed in `groups/{id}/users` by it.
    #[serde(default)]
    pub object_id: String,
    pub secret: Option<String>,
    /// Workspace id → role.
    pub roles: BTreeMap<String, String>,
    pub aas_admin_of: Vec<String>,
    /// Reader on the storage accounts' subscriptions (Azure Resource Manager).
    #[serde(default = "shared_key_default")]
    pub arm_reader: bool,
    /// The registered certificate (PEM).
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub federated_credentials: Vec<scenario::FederatedCredential>,
    /// `system` or `user` for a managed identity.
    #[serde(default)]
    pub managed_identity: Option<String>,
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The ids of the groups it is a member of.
    #[serde(default)]
    pub member_of: Vec<String>,
}

/// A model as the simulator keeps it; also what a backup file carries (in `SimModel.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelState {
    pub id: String,
    pub name: String,
    /// Workspace id, or `aas:<server>`.
    pub owner: String,
    pub compatibility_level: u32,
    pub size_mb: u64,
    pub tables: Vec<scenario::Table>,
    pub roles: Vec<scenario::Role>,
    #[serde(default)]
    pub relationships: Vec<scenario::Relationship>,
    pub modified: String,
    /// Its refresh history, oldest first (`POST .../refreshes` adds one).
    #[serde(default)]
    pub refreshes: Vec<RefreshState>,
}

/// One refresh of a model, as "Get Refresh History In Group" lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshState {
    pub request_id: String,
    pub start_time: String,
    pub end_time: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AasState {
    pub name: String,
    pub region: String,
    pub storage: String,
    pub container: String,
}

/// Everything that is saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub tenant_id: String,
    pub home_region: String,
    pub token_lifetime_seconds: u64,
    pub tenant_storage: Option<String>,
    #[serde(default)]
    pub service_profile: ServiceProfile,
    #[serde(default)]
    pub rest_calls_per_second: Option<f64>,
    pub rest_default_page: Option<usize>,
    #[serde(default)]
    pub backup_mb_per_second: Option<f64>,
    pub capacities: Vec<CapacityState>,
    pub accounts: Vec<AccountState>,
    pub workspaces: Vec<WorkspaceState>,
    pub principals: Vec<PrincipalState>,
    pub models: Vec<ModelState>,
    pub aas_servers: Vec<AasState>,
    pub pump: Option<scenario::Pump>,
}

pub fn now_string() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A scenario's principal as the simulator keeps it: roles by workspace id, an object id (derived when absent).
fn principal_state(
    p: &scenario::Principal,
    workspaces: &[WorkspaceState],
    all: &[scenario::Principal],
) -> PrincipalState {
    let ws_id = |name: &str| workspaces.iter().find(|w| w.name == name).map(|w| w.id.clone());
    PrincipalState {
        kind: p.kind.clone(),
        name: p.name.clone(),
        id: p.id.clone(),
        object_id: p.object_id.clone().unwrap_or_else(|| scenario::derived_id("object", &p.id)),
        secret: p.secret.clone(),
        roles: p.roles.iter().filter_map(|(ws, r)| Some((ws_id(ws)?, r.clone()))).collect(),
        aas_admin_of: p.aas_admin_of.clone(),
        arm_reader: p.arm_reader,
        certificate: p.certificate.clone(),
        federated_credentials: p.federated_credentials.clone(),
        managed_identity: p.managed_identity.clone(),
        resource_id: p.resource_id.clone(),
        member_of: p
            .member_of
            .iter()
            .filter_map(|g| all.iter().find(|q| &q.name == g && q.kind == "group"))
            .map(|g| g.id.clone())
            .collect(),
    }
}

fn account_state(a: &scenario::StorageAccount, tenant_id: &str) -> AccountState {
    AccountState {
        id: a.id.clone().unwrap_or_else(|| derived_id("storage", &a.name)),
        name: a.name.clone(),
        location: a.location.clone(),
        shared_key_access: a.shared_key_access,
        enabled: a.enabled,
        arm: ArmState {
            // One subscription per tenant unless named: an account of another tenant is in
            // another subscription.
            subscription: a.subscription.clone().unwrap_or_else(|| {
                let tenant = a.arm_tenant.as_deref().unwrap_or(tenant_id);
                scenario::derived_id("subscription", tenant)
            }),
            tenant: a.arm_tenant.clone(),
            hierarchical_namespace: a.hierarchical_namespace,
            network_default_action: a.network_default_action.clone(),
            vnet_rules: a.vnet_rules.clone(),
            private_endpoints: a.private_endpoints.clone(),
            public_network_access: a.public_network_access.clone(),
        },
    }
}

impl State {
    pub fn from_scenario(s: &Scenario) -> State {
        let capacities: Vec<CapacityState> = s
            .capacities
            .iter()
            .map(|c| CapacityState {
                id: c.id.clone().unwrap_or_else(|| derived_id("capacity", &c.name)),
                name: c.name.clone(),
                sku: c.sku.clone(),
                region: c.region.clone(),
                state: c.state.clone(),
                max_model_gb: c.max_model_gb,
                xmla: c.xmla,
                max_concurrent_operations: c.max_concurrent_operations,
                limit_changes: c.limit_changes.clone(),
            })
            .collect();
        let workspaces: Vec<WorkspaceState> = s
            .workspaces
            .iter()
            .map(|w| WorkspaceState {
                id: w.id.clone().unwrap_or_else(|| derived_id("workspace", &w.name)),
                name: w.name.clone(),
                capacity_id: w
                    .capacity
                    .as_ref()
                    .and_then(|c| capacities.iter().find(|k| &k.name == c))
                    .map(|c| c.id.clone()),
                storage: w.storage.clone(),
                link: w.link,
                storage_format: w.storage_format.clone(),
                folder_rename_failed_from: None,
            })
            .collect();
        let ws_id = |name: &str| workspaces.iter().find(|w| w.name == name).map(|w| w.id.clone());
        let principals =
            s.principals.iter().map(|p| principal_state(p, &workspaces, &s.principals)).collect();
        let models = s
            .datasets
            .iter()
            .map(|d| ModelState {
                // A Power BI model's id is a GUID; an Analysis Services database deployed from Visual Studio keeps
                // its name as its ID (a guess where no source says; a scenario can declare another).
                id: d.id.clone().unwrap_or_else(|| {
                    if d.aas {
                        d.name.clone()
                    } else {
                        derived_id("dataset", &format!("{}/{}", d.workspace, d.name))
                    }
                }),
                name: d.name.clone(),
                owner: if d.aas {
                    format!("aas:{}", d.workspace)
                } else {
                    ws_id(&d.workspace).unwrap_or_default()
                },
                compatibility_level: d.compatibility_level,
                size_mb: d.size_mb,
                tables: d.tables.clone(),
                roles: d.roles.clone(),
                relationships: d.relationships.clone(),
                modified: now_string(),
                refreshes: Vec::new(),
            })
            .collect();
        State {
            tenant_id: s.tenant.id.clone(),
            home_region: s.tenant.home_region.clone(),
            token_lifetime_seconds: s.tenant.token_lifetime_seconds,
            tenant_storage: s.tenant.tenant_storage.clone(),
            service_profile: s.tenant.service_profile,
            rest_calls_per_second: s.tenant.rest_calls_per_second,
            rest_default_page: s.tenant.rest_default_page,
            backup_mb_per_second: s.tenant.backup_mb_per_second,
            capacities,
            accounts: s.storage_accounts.iter().map(|a| account_state(a, &s.tenant.id)).collect(),
            workspaces,
            principals,
            models,
            aas_servers: s
                .aas_servers
                .iter()
                .map(|a| AasState {
                    name: a.name.clone(),
                    region: a.region.clone(),
                    storage: a.storage.clone(),
                    container: a.container.clone(),
                })
                .collect(),
            pump: s.pump.clone(),
        }
    }

    pub fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Loads the saved state, if there is one.
    pub fn load(dir: &Path) -> std::io::Result<Option<State>> {
        match std::fs::read(Self::file(dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                std::io::Error::other(format!("{} is corrupt: {e}", Self::file(dir).display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves atomically: temporary file, then rename.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, Self::file(dir))
    }

    pub fn workspace(&self, id: &str) -> Option<&WorkspaceState> {
        self.workspaces.iter().find(|w| w.id.eq_ignore_ascii_case(id))
    }

    pub fn workspace_mut(&mut self, id: &str) -> Option<&mut WorkspaceState> {
        self.workspaces.iter_mut().find(|w| w.id.eq_ignore_ascii_case(id))
    }

    pub fn capacity(&self, id: &str) -> Option<&CapacityState> {
        self.capacities.iter().find(|c| c.id.eq_ignore_ascii_case(id.trim_end_matches('/')))
    }

    pub fn principal(&self, id: &str) -> Option<&PrincipalState> {
        self.principals.iter().find(|p| p.id.eq_ignore_ascii_case(id))
    }

    pub fn account(&self, name: &str) -> Option<&AccountState> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The principal's role in the workspace: its own, or the highest a group it is a member of holds there.
    pub fn role(&self, principal: &str, workspace_id: &str) -> Option<&str> {
        const RANK: [&str; 4] = ["Viewer", "Contributor", "Member", "Admin"];
        let p = self.principal(principal)?;
        let groups = p.member_of.iter().filter_map(|g| self.principal(g));
        std::iter::once(p)
            .chain(groups)
            .filter_map(|q| q.roles.get(workspace_id).map(String::as_str))
            .max_by_key(|r| RANK.iter().position(|k| k == r))
    }
}
