//! Preflight: every rule of the Power BI backup documentation that a client can check, evaluated before anything
//! is sent.
//!
//! - [`RULES`] lists every rule with its class, and [`severity`] is the one function that decides how much a failed
//!   rule matters: rules of the preview text (`SEED-*`) block, rules from later revisions (`LATER-*`) warn unless
//!   `preflight.raise` lists them, notes inform. A finding only inferred (not seen) warns.
//! - `rules.rs`: one function per group of workspace rules (capacity, storage link, regions, roles, folder, copies),
//!   evaluated on [`WorkspaceFacts`] and [`TenantFacts`] by [`evaluate`].
//! - `backup_file.rs`: the rules about a backup file itself (LATER-06/09/25/26), from its container report.
//! - `facts.rs`: gathering the facts, from the Power BI REST API (workspaces, capacities, roles, storage links), the
//!   storage account (does the backup folder exist), and the configuration for what no API tells (the tenant's home
//!   region, the storage account's region, dataflows-only links).
//!
//! A fact that cannot be found makes a rule `unknown`, which never blocks but says what to declare.

mod backup_file;
mod facts;
mod rules;
mod server_texts;

use serde::{Deserialize, Serialize};

use crate::powerbi::{Capacity, Group, GroupUser};

pub use backup_file::{BackupFileContext, backup_file_findings};
pub use facts::{doctor, gather_facts};
pub(crate) use facts::{require, verdict};
pub use server_texts::{ServerRule, failure_rule, refused_for_load, server_rule};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Stops backup and restore before anything is sent.
    Block,
    /// Reported; the operation goes on.
    Warn,
    /// For information.
    Info,
}

/// What a rule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// The rule is broken.
    Fail,
    /// A fact is missing; the message says what to declare.
    Unknown,
}

/// One rule's verdict for one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable rule id (`SEED-01`, `LATER-30`, ...), as in the rules reference.
    pub rule: String,
    /// Severity when the rule fails.
    pub severity: Severity,
    /// The verdict.
    pub status: Status,
    /// The workspace it is about.
    pub workspace: String,
    /// What was found, naming the workspace and the fact.
    pub message: String,
    /// What to do (empty when the rule holds).
    pub remedy: String,
    /// When the rule does not hold: its severity under the other profile, if that differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differs: Option<ProfileSeverity>,
}

/// How a finding would weigh under another profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSeverity {
    /// The other profile.
    pub profile: Profile,
    /// The severity there.
    pub severity: Severity,
}

impl Finding {
    /// Whether this finding stops the operation.
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Block
    }
}

/// What is being checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `doctor`: everything.
    Doctor,
    /// A backup.
    Backup,
    /// A restore over an existing model.
    Restore,
    /// A restore as a new model.
    RestoreAsNew,
    /// Copying a backup into this workspace's folder from another's.
    CopyInto,
    /// Re-linking storage.
    Relink,
}

/// The facts about one workspace.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceFacts {
    /// The workspace, as `GET /groups` lists it.
    pub group: Option<Group>,
    /// The name asked for (also when the workspace was not found).
    pub name: String,
    /// Its capacity, as `GET /capacities` lists it.
    pub capacity: Option<Capacity>,
    /// The caller's entry in `GET /groups/{id}/users`, when found.
    pub caller: Option<GroupUser>,
    /// Whether the roles could be listed at all (false: the caller cannot see them).
    pub roles_listed: bool,
    /// The name of the storage account the workspace is attached to, if the registration was found.
    pub storage_account: Option<String>,
    /// Whether that registration is enabled (`isEnabled`; `None` when not said or not found).
    pub storage_enabled: Option<bool>,
    /// Why pbi-backup cannot reach that account with the credentials it was given (`None`: it can, or it has no
    /// ADLS account configured at all).
    pub storage_unreachable: Option<String>,
    /// For a restore: the model's size in memory when it was backed up (its manifest), in bytes.
    pub restore_model_bytes: Option<u64>,
    /// The linked storage account as Azure Resource Manager describes it, or why it could not be read; `None` when
    /// there was no account to look up.
    pub arm: Option<std::result::Result<crate::arm::ArmAccount, String>>,
    /// The Power BI tenant (the caller's token's `tid`).
    pub powerbi_tenant: Option<String>,
    /// What `power-bi-backup/<workspace>` shows (`None`: storage not reachable or not configured).
    pub folder: Option<Folder>,
    /// Declared in `preflight.dataflows-only`.
    pub declared_dataflows_only: bool,
    /// When the workspace was not found: the nearest names the caller can see.
    pub nearest: Vec<String>,
}

/// What a workspace's backup folder shows about its storage link (SEED-12's inference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// `power-bi-backup/<workspace>` does not exist: a link made for backups would have created it.
    Absent,
    /// It exists and holds nothing: the service created it when storage was attached; no backup yet.
    Empty,
    /// It holds files the service put there (backups it wrote).
    ServiceFiles,
    /// It holds only files pbi-backup placed (copies, uploads), which create the folder whatever the link: it tells
    /// nothing.
    OnlyPlaced,
}

/// The linked storage account's region and where it came from: a declared `storage.location` for the configured
/// account (a declaration overrides), else Azure Resource Manager's `location`.
pub(crate) fn storage_location(
    ws: &WorkspaceFacts,
    tenant: &TenantFacts,
) -> (Option<String>, FactSource) {
    let configured = match (&tenant.configured_account, &ws.storage_account) {
        (Some(c), Some(linked)) => c.eq_ignore_ascii_case(linked),
        _ => false,
    };
    if let (true, Some(loc)) = (configured, &tenant.storage_location) {
        return (Some(loc.clone()), FactSource::Config);
    }
    match &ws.arm {
        Some(Ok(a)) if a.location.is_some() => (a.location.clone(), FactSource::Arm),
        _ => (None, FactSource::Unknown),
    }
}

/// Facts about the tenant and the tool's configuration.
#[derive(Debug, Clone, Default)]
pub struct TenantFacts {
    /// The tenant's home region: declared (`powerbi.home-region`), else learned from the service's home cluster.
    pub home_region: Option<String>,
    /// Where [`TenantFacts::home_region`] came from.
    pub home_region_source: FactSource,
    /// Declared storage account region.
    pub storage_location: Option<String>,
    /// The storage account the tool is configured with.
    pub configured_account: Option<String>,
    /// Declared storage ownership (for copies).
    pub storage_owner: Option<bool>,
    /// Rule ids raised to blocking.
    pub raise: Vec<String>,
    /// The rule profile in force.
    pub profile: Profile,
}

/// Where a fact came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactSource {
    /// Read from Power BI (REST, routing or XMLA) or the storage account.
    Service,
    /// Read from Azure Resource Manager.
    Arm,
    /// Declared in the configuration.
    Config,
    /// Not known: no source told it (the finding's remedy says how to supply it).
    #[default]
    Unknown,
}

impl FactSource {
    /// How a message names the source.
    pub fn describe(self) -> &'static str {
        match self {
            FactSource::Service => "as the service tells it",
            FactSource::Arm => "as Azure Resource Manager tells it",
            FactSource::Config => "as declared in the configuration",
            FactSource::Unknown => "not known",
        }
    }
}

/// One fact the rules were evaluated on, for `doctor --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    /// The workspace it is about; `None` for the tenant.
    pub workspace: Option<String>,
    /// `home_region`, `capacity_region`, `capacity_sku`, `storage_account`, `storage_enabled`,
    /// `storage_location`, `caller_role`, `backup_folder`.
    pub name: String,
    /// Its value, when known.
    pub value: Option<String>,
    /// Where it came from.
    pub source: FactSource,
}

/// Which version of the service's rules applies (`power-bi-rules.md`, "Rule profiles").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The 2021 preview the product was specified against: admins only, multi-geo refused. The default.
    #[default]
    Seed,
    /// The service as documented today (revision [D5]): admins, members and contributors back up; restore as a
    /// new model needs admin; multi-geo is residency advice; the later rules that block there block.
    Current,
}

impl Profile {
    /// The other profile, for saying where a finding differs.
    pub fn other(self) -> Profile {
        match self {
            Profile::Seed => Profile::Current,
            Profile::Current => Profile::Seed,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Seed => "seed",
            Profile::Current => "current",
        })
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "seed" => Ok(Profile::Seed),
            "current" => Ok(Profile::Current),
            _ => Err(format!(
                "'{s}' is not a rule profile; use seed (the 2021 preview, the default) or current (the service as documented today)"
            )),
        }
    }
}

/// How a rule's failure weighs when it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Blocks backup and restore (the preview's rules).
    Blocks,
    /// Warns, and blocks when `preflight.raise` lists it (later revisions, and what is unconfirmed).
    Warns,
    /// Informs; never blocks.
    Note,
}

/// Whether a finding was seen or only inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// From facts found or declared.
    Seen,
    /// Inferred from a sign (a folder that is missing suggests a dataflows-only link): it warns unless raised.
    Inferred,
}

/// One rule of the reference (`power-bi-rules.md`), as this tool checks it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: &'static str,
    /// How its failure weighs under the `seed` profile.
    pub seed: Class,
    /// How its failure weighs under the `current` profile.
    pub current: Class,
    /// What it says, in a few words.
    pub title: &'static str,
}

impl Rule {
    /// Its class under `profile`.
    pub fn class(&self, profile: Profile) -> Class {
        match profile {
            Profile::Seed => self.seed,
            Profile::Current => self.current,
        }
    }
}

const fn rule_of(id: &'static str, seed: Class, current: Class, title: &'static str) -> Rule {
    Rule { id, seed, current, title }
}

const B: Class = Class::Blocks;
const W: Class = Class::Warns;
const N: Class = Class::Note;

/// Every rule the preflight checks, with its class under each profile: the table "Rule profiles" of
/// `power-bi-rules.md`, read rule by rule. LATER-23 blocks under both: a workspace the caller cannot see cannot be
/// backed up by it at all.
#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    rule_of("SEED-01", B, B, "Premium, Embedded, Fabric or PPU capacity"),
    rule_of("SEED-02", B, B, "an ADLS Gen2 account attached to the workspace"),
    rule_of("SEED-04", B, W, "the capacity in the tenant's home region (today: advice, LATER-01)"),
    rule_of("SEED-05", B, W, "the storage account in the home region (today: LATER-17)"),
    rule_of("SEED-06", N, N, "backups stored outside the capacity's region"),
    rule_of("SEED-07", B, N, "only workspace admins back up and restore (today: LATER-07/08)"),
    rule_of("SEED-08", B, B, "a backup folder named after the workspace"),
    rule_of("SEED-09", B, B, "storage owner, and admin of the target (today: LATER-07/08)"),
    rule_of("SEED-10", N, N, "storage owners can read every backup"),
    rule_of("SEED-12", B, W, "a storage link made for backups, not dataflows only"),
    rule_of("SEED-13", N, N, "relinking needs the old folder renamed"),
    rule_of("LATER-05", W, B, "large semantic model storage format to restore"),
    rule_of("LATER-06", W, B, "enhanced metadata (V3) models only"),
    rule_of("LATER-07", W, B, "workspace admin to restore a new model"),
    rule_of("LATER-08", W, B, "admin, member or contributor to back up or restore over a model"),
    rule_of("LATER-02", W, B, "the storage account not in a VNET"),
    rule_of("LATER-03", W, B, "no firewall, no private endpoint on the storage account"),
    rule_of("LATER-04", W, B, "shared key access allowed on the storage account"),
    rule_of("LATER-09", W, W, "roles with the read permission only"),
    rule_of("LATER-11", W, W, "the model fits the capacity's memory"),
    rule_of("LATER-15", W, B, "a storage account with hierarchical namespace"),
    rule_of("LATER-16", W, B, "the storage account in the Power BI tenant"),
    rule_of("LATER-23", B, B, "a workspace the caller can see, not My workspace"),
    rule_of("LATER-25", W, B, "compatibility level 1500 or higher"),
    rule_of("LATER-26", W, B, "no table and expression of one name"),
    rule_of("LATER-30", W, W, "a running capacity"),
];

/// Refuses rule ids this tool does not check, naming the ones it does.
pub fn check_rule_ids(ids: &[String]) -> crate::Result<()> {
    let unknown: Vec<&str> =
        ids.iter().map(String::as_str).filter(|id| rule(id).is_none()).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let valid: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    Err(crate::Error::Usage(format!(
        "preflight.raise names {} this tool does not check ({}); the rules it checks are {}",
        if unknown.len() == 1 { "a rule" } else { "rules" },
        unknown.join(", "),
        valid.join(", ")
    )))
}

/// The rule of an id (ids compare without regard to case).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// How much a failed rule matters: the one place this is decided. Under `profile`, a blocking rule seen to fail
/// blocks; a note informs; anything else warns, and blocks when `raise` lists it (`raise` only makes stricter).
pub fn severity(id: &str, basis: Basis, profile: Profile, raise: &[String]) -> Severity {
    let raised = raise.iter().any(|r| r.eq_ignore_ascii_case(id));
    match (rule(id).map(|r| r.class(profile)), basis) {
        (Some(Class::Note), _) => Severity::Info,
        (Some(Class::Blocks), Basis::Seen) => Severity::Block,
        _ if raised => Severity::Block,
        _ => Severity::Warn,
    }
}

/// The findings of one workspace, as the rule groups add them.
pub(crate) struct Findings<'a> {
    findings: Vec<Finding>,
    workspace: &'a str,
    profile: Profile,
    raise: &'a [String],
}

impl<'a> Findings<'a> {
    pub(crate) fn new(workspace: &'a str, profile: Profile, raise: &'a [String]) -> Self {
        Findings { findings: Vec::new(), workspace, profile, raise }
    }

    /// The profile the rules are evaluated under.
    pub(crate) fn profile(&self) -> Profile {
        self.profile
    }

    /// Adds a verdict seen in the facts.
    pub(crate) fn push(&mut self, rule: &str, status: Status, message: String, remedy: &str) {
        self.push_with(rule, Basis::Seen, status, message, remedy);
    }

    /// Adds a verdict, seen or inferred; its severity comes from [`severity`].
    pub(crate) fn push_with(
        &mut self,
        rule: &str,
        basis: Basis,
        status: Status,
        message: String,
        remedy: &str,
    ) {
        debug_assert!(self::rule(rule).is_some(), "{rule} is not in RULES");
        let severity = severity(rule, basis, self.profile, self.raise);
        let other = self.profile.other();
        let elsewhere = self::severity(rule, basis, other, self.raise);
        self.findings.push(Finding {
            rule: rule.into(),
            severity,
            status,
            workspace: self.workspace.into(),
            message,
            remedy: if status == Status::Pass { String::new() } else { remedy.into() },
            differs: (status != Status::Pass && elsewhere != severity)
                .then_some(ProfileSeverity { profile: other, severity: elsewhere }),
        });
    }

    pub(crate) fn into_vec(self) -> Vec<Finding> {
        self.findings
    }
}

/// Evaluates every rule relevant to `op` for one workspace.
pub fn evaluate(op: Operation, ws: &WorkspaceFacts, tenant: &TenantFacts) -> Vec<Finding> {
    let mut out = Findings::new(&ws.name, tenant.profile, &tenant.raise);
    let Some(group) = &ws.group else {
        rules::visible(&mut out, &ws.name, &ws.nearest);
        return out.into_vec();
    };
    rules::capacity(&mut out, ws, group);
    rules::storage_link(&mut out, ws, group, tenant);
    rules::regions(&mut out, ws, group, tenant);
    rules::roles(&mut out, op, ws);
    rules::folder(&mut out, ws);
    rules::dataflows_only(&mut out, ws, group);
    rules::relink(&mut out, op, ws);
    rules::copies(&mut out, op, ws, tenant);
    if op == Operation::Doctor || op == Operation::Backup {
        rules::visibility_to_owners(&mut out, &ws.name);
    }
    rules::running(&mut out, ws);
    rules::storage_format(&mut out, op, ws, group);
    rules::memory(&mut out, op, ws);
    if group.dataflow_storage_id.is_some() {
        rules::storage_account(&mut out, op, ws);
    }
    out.into_vec()
}

/// The warnings of findings that do not block, as one line each (`RULE: message; remedy`).
pub fn warnings(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.status == Status::Fail && f.severity == Severity::Warn)
        .map(|f| format!("{}: {}; {}", f.rule, f.message, f.remedy))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> WorkspaceFacts {
        WorkspaceFacts {
            group: Some(Group {
                id: "1".into(),
                name: "Sales".into(),
                is_on_dedicated_capacity: true,
                capacity_id: Some("c".into()),
                dataflow_storage_id: Some("s".into()),
                default_dataset_storage_format: Some("Large".into()),
                kind: None,
            }),
            name: "Sales".into(),
            capacity: Some(Capacity {
                id: "c".into(),
                display_name: "P1".into(),
                sku: "P1".into(),
                state: "Active".into(),
                region: "West Europe".into(),
            }),
            caller: Some(GroupUser {
                identifier: "app".into(),
                display_name: None,
                principal_type: Some("App".into()),
                group_user_access_right: "Admin".into(),
            }),
            roles_listed: true,
            storage_account: Some("acct".into()),
            storage_enabled: Some(true),
            storage_unreachable: None,
            restore_model_bytes: None,
            arm: None,
            powerbi_tenant: None,
            folder: Some(Folder::ServiceFiles),
            declared_dataflows_only: false,
            nearest: Vec::new(),
        }
    }

    fn tenant() -> TenantFacts {
        TenantFacts {
            home_region: Some("westeurope".into()),
            storage_location: Some("West Europe".into()),
            configured_account: Some("acct".into()),
            ..TenantFacts::default()
        }
    }

    #[test]
    fn a_good_workspace_passes_every_blocking_rule() {
        let f = evaluate(Operation::Backup, &good(), &tenant());
        assert!(f.iter().all(|f| !f.blocks()), "{f:#?}");
        assert!(
            f.iter().any(|f| f.rule == "SEED-04" && f.status == Status::Pass),
            "regions compare loosely"
        );
    }

    #[test]
    fn each_seed_rule_blocks_with_workspace_and_remedy() {
        type Mutation = Box<dyn Fn(&mut WorkspaceFacts, &mut TenantFacts)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "SEED-01",
                Box::new(|w, _| {
                    w.group.as_mut().unwrap().is_on_dedicated_capacity = false;
                    w.capacity.as_mut().unwrap().sku = "Shared".into();
                }),
            ),
            ("SEED-02", Box::new(|w, _| w.group.as_mut().unwrap().dataflow_storage_id = None)),
            (
                "SEED-04",
                Box::new(|w, _| w.capacity.as_mut().unwrap().region = "Southeast Asia".into()),
            ),
            ("SEED-05", Box::new(|_, t| t.storage_location = Some("East US".into()))),
            (
                "SEED-07",
                Box::new(|w, _| {
                    w.caller.as_mut().unwrap().group_user_access_right = "Member".into()
                }),
            ),
            ("SEED-12", Box::new(|w, _| w.declared_dataflows_only = true)),
        ];
        for (rule, mutate) in cases {
            let (mut w, mut t) = (good(), tenant());
            mutate(&mut w, &mut t);
            let f = evaluate(Operation::Backup, &w, &t);
            let hit = f
                .iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("{rule} missing: {f:#?}"));
            assert!(hit.blocks(), "{rule}: {hit:?}");
            assert!(hit.message.contains("Sales") || rule == "SEED-05", "{rule}: {}", hit.message);
            assert!(!hit.remedy.is_empty(), "{rule}");
        }
    }

    #[test]
    fn later_rules_warn_unless_raised_and_unknowns_never_block() {
        let mut w = good();
        w.capacity.as_mut().unwrap().state = "Suspended".into();
        let f = evaluate(Operation::Backup, &w, &tenant());
        let later = f.iter().find(|f| f.rule == "LATER-30").unwrap();
        assert!(!later.blocks() && later.status == Status::Fail);
        let mut t = tenant();
        t.raise = vec!["LATER-30".into()];
        assert!(
            evaluate(Operation::Backup, &w, &t).iter().any(|f| f.rule == "LATER-30" && f.blocks())
        );
        let f = evaluate(Operation::Backup, &good(), &TenantFacts::default());
        let unknown = f.iter().find(|f| f.rule == "SEED-04").unwrap();
        assert_eq!(unknown.status, Status::Unknown);
        assert!(!unknown.blocks() && unknown.remedy.contains("home-region"));
    }

    #[test]
    fn inferred_dataflows_only_link_warns_and_missing_workspace_blocks() {
        let mut w = good();
        w.folder = Some(Folder::Absent);
        let f = evaluate(Operation::Backup, &w, &tenant());
        let cdsa = f.iter().find(|f| f.rule == "SEED-12").unwrap();
        assert_eq!((cdsa.status, cdsa.severity), (Status::Fail, Severity::Warn));
        let missing = WorkspaceFacts { name: "Nope".into(), ..WorkspaceFacts::default() };
        let f = evaluate(Operation::Backup, &missing, &tenant());
        assert!(f[0].blocks() && f[0].message.contains("Nope"));
    }
}
