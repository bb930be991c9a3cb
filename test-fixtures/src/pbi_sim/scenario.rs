//! The scenario file: a TOML description of a tenant, read once when a simulator starts with an empty state folder.
//!
//! Every key is documented in `test-fixtures/scenarios/README.md`; every file in that folder is parsed by a test.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole tenant.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// The tenant itself.
    pub tenant: Tenant,
    /// Capacities (Premium, PPU, Embedded, Fabric).
    #[serde(default)]
    pub capacities: Vec<Capacity>,
    /// ADLS Gen2 accounts registered for dataflow (and so backup) storage.
    #[serde(default)]
    pub storage_accounts: Vec<StorageAccount>,
    /// Workspaces.
    #[serde(default)]
    pub workspaces: Vec<Workspace>,
    /// Users and service principals with their workspace roles.
    #[serde(default)]
    pub principals: Vec<Principal>,
    /// Datasets (semantic models).
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// Azure Analysis Services servers.
    #[serde(default)]
    pub aas_servers: Vec<AasServer>,
    /// A plain-HTTP msmdpump endpoint in front of one workspace's models.
    #[serde(default)]
    pub pump: Option<Pump>,
}

/// The tenant.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tenant {
    /// Tenant (directory) id.
    pub id: String,
    /// Home region, e.g. `West Europe`.
    pub home_region: String,
    /// Lifetime of issued Entra tokens, seconds (default 3600).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u64,
    /// The storage account registered at tenant level, if any. A workspace whose `storage` names it is linked at
    /// tenant level; any other account is a workspace-level link.
    #[serde(default)]
    pub tenant_storage: Option<String>,
    /// Which version of the service the tenant is: `seed` (the 2021 preview text, the default) or `current` (the
    /// page as revised through 2024). See `ServiceProfile`.
    #[serde(default)]
    pub service_profile: ServiceProfile,
    /// REST calls the tenant is served per second (all callers together) before it answers 429 with `Retry-After`;
    /// none: no limit.
    #[serde(default)]
    pub rest_calls_per_second: Option<f64>,
    /// How many items `GET groups` and `GET groups/{id}/users` return when the caller sends no `$top`; none: all.
    /// The REST reference documents `$top` and `$skip` on both and no default page, so this is the scenario's.
    #[serde(default)]
    pub rest_default_page: Option<usize>,
    /// How fast a backup or restore runs, MB of the model's `size-mb` per second; none: at once.
    #[serde(default)]
    pub backup_mb_per_second: Option<f64>,
}

/// The version of the Power BI backup page the simulated service follows.
///
/// - `seed` (\[D1\], 2021 preview): "workspace admins can back up and restore"; multi-geo capacities are not
///   supported.
/// - `current` (\[D4\]/\[D5\]): backup by admins, members and contributors; restore over an existing model with write
///   permission (admin, member, contributor); "To restore a new dataset, the user must be an admin of the
///   workspace"; multi-geo is only cost and residency advice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceProfile {
    /// The 2021 preview.
    #[default]
    Seed,
    /// The page as documented today.
    Current,
}

fn default_token_lifetime() -> u64 {
    3600
}

/// A capacity.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capacity {
    /// Display name; workspaces refer to capacities by it.
    pub name: String,
    /// Object id; derived from the name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// `P1`…`P5`, `A1`…`A6`, `EM1`…`EM3`, `F2`…`F2048`, `PPU`, or `Shared`.
    pub sku: String,
    /// Region, e.g. `West Europe`.
    pub region: String,
    /// `Active` (default), `Suspended`, ….
    #[serde(default = "default_state")]
    pub state: String,
    /// Memory available to one model, GB; derived from the SKU when absent.
    #[serde(default)]
    pub max_model_gb: Option<f64>,
    /// The XMLA endpoint's setting: `read-write` (the default here) or `read-only`, which refuses backup and restore
    /// with the text semantic-link-labs #446 quotes (LATER-12).
    #[serde(default)]
    pub xmla: XmlaSetting,
    /// Backup and restore commands the capacity runs at once; one more is refused for load (the text of a refresh
    /// the capacity throttles). None: no limit.
    #[serde(default)]
    pub max_concurrent_operations: Option<u32>,
    /// How the limit changes during a run, as a capacity's other work comes and goes: after the capacity started
    /// `after-operations` backups and restores, it runs at most `max-concurrent-operations` at once.
    #[serde(default)]
    pub limit_changes: Vec<LimitChange>,
}

/// A change of a capacity's limit (see [`Capacity::limit_changes`]).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LimitChange {
    /// Backups and restores the capacity started before the change.
    pub after_operations: u64,
    /// The limit from then on.
    pub max_concurrent_operations: u32,
}

/// A capacity's XMLA endpoint setting.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum XmlaSetting {
    /// Read and write: backup and restore work.
    #[default]
    ReadWrite,
    /// Read only: backup and restore are refused.
    ReadOnly,
}

fn default_state() -> String {
    "Active".into()
}

/// A registered storage account.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageAccount {
    /// Account name.
    pub name: String,
    /// The Power BI id of the registration; derived from the name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Azure region of the account.
    pub location: String,
    /// `allowSharedKeyAccess` (default true). False: the service refuses backup and restore with "Key based
    /// authentication is not permitted on this storage account" (LATER-04).
    #[serde(default = "yes")]
    pub shared_key_access: bool,
    /// Whether the registration is enabled in Power BI (`isEnabled`, default true). A disabled account cannot be
    /// assigned to a workspace ("storage account must be enabled", the REST reference of AssignToDataflowStorage).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Azure Resource Manager: the subscription holding the account (derived from the tenant when absent).
    #[serde(default)]
    pub subscription: Option<String>,
    /// ARM: the Entra tenant of that subscription (the scenario's tenant when absent; LATER-16).
    #[serde(default)]
    pub arm_tenant: Option<String>,
    /// ARM `isHnsEnabled` (default true; LATER-15).
    #[serde(default = "yes")]
    pub hierarchical_namespace: bool,
    /// ARM `networkAcls.defaultAction`: `Allow` (default) or `Deny` (a firewall; LATER-03).
    #[serde(default = "allow")]
    pub network_default_action: String,
    /// ARM `networkAcls.virtualNetworkRules`, as subnet names (LATER-02).
    #[serde(default)]
    pub vnet_rules: Vec<String>,
    /// ARM `privateEndpointConnections`, as private endpoint names (LATER-03).
    #[serde(default)]
    pub private_endpoints: Vec<String>,
    /// ARM `publicNetworkAccess`: `Enabled` (default) or `Disabled` (LATER-03).
    #[serde(default = "enabled_text")]
    pub public_network_access: String,
}

fn yes() -> bool {
    true
}

fn allow() -> String {
    "Allow".into()
}

fn enabled_text() -> String {
    "Enabled".into()
}

/// How a workspace is linked to storage.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// Linked with backup support (the folder exists).
    #[default]
    Full,
    /// Linked before backup support existed, for dataflows only (CDSA): backup fails until unlinked and relinked.
    DataflowsOnly,
}

/// A workspace.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Workspace {
    /// Name.
    pub name: String,
    /// Object id; derived from the name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Capacity name; absent means shared capacity.
    #[serde(default)]
    pub capacity: Option<String>,
    /// Storage account name linked at workspace level; absent means none (or the tenant's, see `tenant.tenant-storage`).
    #[serde(default)]
    pub storage: Option<String>,
    /// How that link was made.
    #[serde(default)]
    pub link: LinkKind,
    /// `Large` (default) or `Small` default dataset storage format.
    #[serde(default = "default_format")]
    pub storage_format: String,
}

fn default_format() -> String {
    "Large".into()
}

/// A user, a service principal or a security group.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Principal {
    /// `app` (service principal), `user` or `group` (a security group: it holds roles for its members and never
    /// signs in).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Application id (apps) or user principal name (users).
    pub id: String,
    /// The principal's object id in Entra (the `oid` claim of its tokens; how `groups/{id}/users` lists an app);
    /// derived from `id` when absent, and never equal to it.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Client secret (apps only), for the simulated Entra token endpoint.
    #[serde(default)]
    pub secret: Option<String>,
    /// Workspace name → `Admin`, `Member`, `Contributor` or `Viewer`.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, String>,
    /// AAS server names this principal administers.
    #[serde(default)]
    pub aas_admin_of: Vec<String>,
    /// Whether Azure Resource Manager shows it the storage accounts (the Reader role on their subscriptions; default
    /// true). False: `GET /subscriptions` lists none and a storage account listing answers 403 AuthorizationFailed.
    #[serde(default = "yes")]
    pub arm_reader: bool,
    /// The certificate registered for the app (PEM): a client assertion signed with its key signs the app in.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The app's federated credentials: a token from `issuer` about `subject` for one of `audiences` signs it in.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// `system` or `user`: the app is a managed identity of the host the simulator stands for, signed in through
    /// its managed identity endpoints (IMDS, App Service).
    #[serde(default)]
    pub managed_identity: Option<String>,
    /// A user-assigned managed identity's Azure resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The names of the `group` principals it is a member of: it holds their workspace roles too.
    #[serde(default)]
    pub member_of: Vec<String>,
}

/// A federated identity credential of an app ("Workload identity federation", learn.microsoft.com/entra/workload-id/
/// workload-identity-federation).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FederatedCredential {
    /// The external issuer (`iss` of its tokens).
    pub issuer: String,
    /// The external identity (`sub`).
    pub subject: String,
    /// The audiences accepted (`aud`); Microsoft recommends `api://AzureADTokenExchange`, the default.
    #[serde(default = "exchange_audience")]
    pub audiences: Vec<String>,
}

fn exchange_audience() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_owned()]
}

/// A dataset.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Dataset {
    /// Workspace name (or AAS server name when `aas = true`).
    pub workspace: String,
    /// Name.
    pub name: String,
    /// Object id; derived when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Compatibility level (default 1600).
    #[serde(default = "default_compat")]
    pub compatibility_level: u32,
    /// Size in memory, MB.
    #[serde(default = "default_size")]
    pub size_mb: u64,
    /// Tables.
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Relationships between its tables' columns.
    #[serde(default)]
    pub relationships: Vec<Relationship>,
    /// Whether `workspace` names an AAS server.
    #[serde(default)]
    pub aas: bool,
}

fn default_compat() -> u32 {
    1600
}

fn default_size() -> u64 {
    10
}

/// A table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Table {
    /// Name.
    pub name: String,
    /// Column names.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Row count.
    #[serde(default)]
    pub rows: u64,
    /// Measures.
    #[serde(default)]
    pub measures: Vec<Measure>,
}

/// A measure of a table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Measure {
    /// Name.
    pub name: String,
    /// Its DAX.
    pub expression: String,
}

/// A relationship: `from` and `to` as `Table[Column]` (many to one, single direction, active).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Relationship {
    /// The many side, `Table[Column]`.
    pub from: String,
    /// The one side, `Table[Column]`.
    pub to: String,
}

/// A role.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Role {
    /// Name.
    pub name: String,
    /// `read` (the only one Power BI supports), `none`, `readRefresh`, `refresh` or `administrator`.
    pub permission: String,
    /// Its members (user principal names or group names): kept by a backup, restored with `CopyAll`, dropped by
    /// `SkipMembership` (the engine's default) and gone with the role under `IgnoreSecurity`.
    #[serde(default)]
    pub members: Vec<String>,
}

/// An Azure Analysis Services server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AasServer {
    /// Server name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Storage account holding its backup container.
    pub storage: String,
    /// Container of its backups; files live in the container's folder named after the server.
    #[serde(default = "default_container")]
    pub container: String,
}

fn default_container() -> String {
    "aas-backups".into()
}

/// A plain-HTTP msmdpump endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pump {
    /// The workspace whose models it serves.
    pub workspace: String,
    /// Basic-authentication user; absent means anonymous.
    #[serde(default)]
    pub user: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Scenario::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks scenario text.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        for w in &self.workspaces {
            if let Some(c) = &w.capacity
                && !self.capacities.iter().any(|k| &k.name == c)
            {
                return Err(format!(
                    "workspace '{}' names capacity '{c}', which is not declared",
                    w.name
                ));
            }
            if let Some(s) = &w.storage
                && !self.storage_accounts.iter().any(|a| &a.name == s)
            {
                return Err(format!(
                    "workspace '{}' names storage account '{s}', which is not declared",
                    w.name
                ));
            }
        }
        if let Some(s) = &self.tenant.tenant_storage
            && !self.storage_accounts.iter().any(|a| &a.name == s)
        {
            return Err(format!("tenant-storage names '{s}', which is not declared"));
        }
        for p in &self.principals {
            if !matches!(p.kind.as_str(), "app" | "user" | "group") {
                return Err(format!(
                    "principal '{}' has kind '{}'; use app, user or group",
                    p.name, p.kind
                ));
            }
            for g in &p.member_of {
                if !self.principals.iter().any(|q| &q.name == g && q.kind == "group") {
                    return Err(format!(
                        "principal '{}' is a member of '{g}', which is not a declared group",
                        p.name
                    ));
                }
            }
            for (ws, role) in &p.roles {
                if !self.workspaces.iter().any(|w| &w.name == ws) {
                    return Err(format!(
                        "principal '{}' has a role in '{ws}', which is not declared",
                        p.name
                    ));
                }
                if !matches!(role.as_str(), "Admin" | "Member" | "Contributor" | "Viewer") {
                    return Err(format!(
                        "principal '{}' has role '{role}'; use Admin, Member, Contributor or Viewer",
                        p.name
                    ));
                }
            }
        }
        for d in &self.datasets {
            let known = if d.aas {
                self.aas_servers.iter().any(|s| s.name == d.workspace)
            } else {
                self.workspaces.iter().any(|w| w.name == d.workspace)
            };
            if !known {
                return Err(format!(
                    "dataset '{}' is in '{}', which is not declared",
                    d.name, d.workspace
                ));
            }
        }
        for a in &self.aas_servers {
            if !self.storage_accounts.iter().any(|s| s.name == a.storage) {
                return Err(format!(
                    "aas server '{}' names storage '{}', which is not declared",
                    a.name, a.storage
                ));
            }
        }
        Ok(())
    }
}

/// A stable GUID-shaped id derived from a kind and a name, so scenarios need not spell ids out.
pub fn derived_id(kind: &str, name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{kind}:{name}").as_bytes());
    let b = &h[..16];
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Memory one model may use on a SKU, GB (Premium Gen2 table; `None` for shared capacity).
pub fn sku_model_limit_gb(sku: &str) -> Option<f64> {
    let gb = match sku.to_ascii_uppercase().as_str() {
        "P1" | "A4" | "F64" => 25.0,
        "P2" | "A5" | "F128" => 50.0,
        "P3" | "A6" | "F256" | "PPU" => 100.0,
        "P4" | "F512" => 200.0,
        "P5" | "F1024" | "F2048" => 400.0,
        "A1" | "EM1" | "F8" => 3.0,
        "A2" | "EM2" | "F16" => 5.0,
        "A3" | "EM3" | "F32" => 10.0,
        "F2" | "F4" => 3.0,
        _ => return None,
    };
    Some(gb)
}
