//! Preflight: every rule of the Power BI backup documentation that a client can check, evaluated before anything
//! is sent.
//!
//! - [`RULES`] (in [`crate::rule`], the ground layer) lists every rule with its class, and [`severity`] is the one function that decides how much a failed
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

use serde::{Deserialize, Serialize};

use crate::service::powerbi::{Capacity, Group, GroupUser};

pub use crate::rule::{
    Class, Finding, Profile, ProfileSeverity, RULES, Rule, RuleId, Severity, Status,
};
pub use backup_file::{BackupFileContext, backup_file_findings};
pub use facts::{facts_of, gather_facts};
pub(crate) use facts::{require, verdict};

/// A rule of the service blocked an operation before anything was sent: what was about to run, and every
/// finding (the blocking ones say why). The operations layer reports it as its own outcome (the operations' `Failure`), not as
/// an error of the layers below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// What was about to run.
    pub what: String,
    /// Every finding; at least one blocks.
    pub findings: Vec<Finding>,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why: Vec<String> = self
            .findings
            .iter()
            .filter(|x| x.blocks())
            .map(|x| format!("{} {}; {}", x.rule, x.message, x.remedy))
            .collect();
        write!(f, "preflight blocked the {}: {}", self.what, why.join(" | "))
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
    /// The roles security groups hold in the workspace (the caller may be in one).
    pub group_roles: Vec<crate::service::powerbi::WorkspaceRole>,
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
    pub arm: Option<std::result::Result<crate::service::arm::ArmAccount, String>>,
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
    pub raise: Vec<RuleId>,
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

/// Whether a finding was seen or only inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// From facts found or declared.
    Seen,
    /// Inferred from a sign (a folder that is missing suggests a dataflows-only link): it warns unless raised.
    Inferred,
}

/// How much a failed rule matters: the one place this is decided. Under `profile`, a blocking rule seen to fail
/// blocks; a note informs; anything else warns, and blocks when `raise` lists it (`raise` only makes stricter).
pub fn severity(id: RuleId, basis: Basis, profile: Profile, raise: &[RuleId]) -> Severity {
    let raised = raise.contains(&id);
    match (id.rule().map(|r| r.class(profile)), basis) {
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
    raise: &'a [RuleId],
}

impl<'a> Findings<'a> {
    pub(crate) fn new(workspace: &'a str, profile: Profile, raise: &'a [RuleId]) -> Self {
        Findings { findings: Vec::new(), workspace, profile, raise }
    }

    /// The profile the rules are evaluated under.
    pub(crate) fn profile(&self) -> Profile {
        self.profile
    }

    /// Adds a verdict seen in the facts.
    pub(crate) fn push(&mut self, rule: RuleId, status: Status, message: String, remedy: &str) {
        self.push_with(rule, Basis::Seen, status, message, remedy);
    }

    /// Adds a verdict, seen or inferred; its severity comes from [`severity`].
    pub(crate) fn push_with(
        &mut self,
        rule: RuleId,
        basis: Basis,
        status: Status,
        message: String,
        remedy: &str,
    ) {
        let severity = severity(rule, basis, self.profile, self.raise);
        let other = self.profile.other();
        let elsewhere = self::severity(rule, basis, other, self.raise);
        self.findings.push(Finding {
            rule,
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
                group_user_access_right: crate::service::powerbi::WorkspaceRole::Admin,
            }),
            roles_listed: true,
            group_roles: Vec::new(),
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
    fn multi_geo_is_advice_today_and_its_remedy_says_so() {
        let mut w = good();
        w.capacity.as_mut().unwrap().region = "Southeast Asia".into();
        for (profile, blocks, words) in [
            (crate::rule::Profile::Seed, true, "does not back up or restore"),
            (crate::rule::Profile::Current, false, "work on multi-geo"),
        ] {
            let t = TenantFacts { profile, ..tenant() };
            let f = evaluate(Operation::Backup, &w, &t);
            let hit = f.iter().find(|f| f.rule == "SEED-04").unwrap();
            assert_eq!(hit.blocks(), blocks, "{profile}: {hit:?}");
            assert!(hit.remedy.contains(words), "{profile}: {}", hit.remedy);
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
        let cases: Vec<(RuleId, Mutation)> = vec![
            (
                RuleId::Seed01,
                Box::new(|w, _| {
                    w.group.as_mut().unwrap().is_on_dedicated_capacity = false;
                    w.capacity.as_mut().unwrap().sku = "Shared".into();
                }),
            ),
            (RuleId::Seed02, Box::new(|w, _| w.group.as_mut().unwrap().dataflow_storage_id = None)),
            (
                RuleId::Seed04,
                Box::new(|w, _| w.capacity.as_mut().unwrap().region = "Southeast Asia".into()),
            ),
            (RuleId::Seed05, Box::new(|_, t| t.storage_location = Some("East US".into()))),
            (
                RuleId::Seed07,
                Box::new(|w, _| {
                    w.caller.as_mut().unwrap().group_user_access_right =
                        crate::service::powerbi::WorkspaceRole::Member
                }),
            ),
            (RuleId::Seed12, Box::new(|w, _| w.declared_dataflows_only = true)),
        ];
        for (rule, mutate) in cases {
            let seed = TenantFacts { profile: crate::rule::Profile::Seed, ..tenant() };
            let (mut w, mut t) = (good(), seed);
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
        t.raise = vec![RuleId::Later30];
        assert!(
            evaluate(Operation::Backup, &w, &t).iter().any(|f| f.rule == "LATER-30" && f.blocks())
        );
        let f = evaluate(Operation::Backup, &good(), &TenantFacts::default());
        let unknown = f.iter().find(|f| f.rule == "SEED-04").unwrap();
        assert_eq!(unknown.status, Status::Unknown);
        assert!(!unknown.blocks() && unknown.remedy.contains("home-region"));
    }

    /// A caller whose own role falls short, in a workspace where a security group holds one that would do, may hold
    /// it through the group (the list does not expand groups): not known, so it does not block.
    #[test]
    fn a_role_a_group_holds_makes_a_short_own_role_unknown_not_a_block() {
        use crate::service::powerbi::WorkspaceRole;
        let mut w = good();
        w.caller.as_mut().unwrap().group_user_access_right = WorkspaceRole::Viewer;
        let rule = |w: &WorkspaceFacts, op: Operation, id: &str| {
            evaluate(op, w, &tenant()).into_iter().find(|f| f.rule == id).unwrap()
        };
        assert_eq!(rule(&w, Operation::Backup, "LATER-08").status, Status::Fail);
        assert_eq!(rule(&w, Operation::Backup, "SEED-07").status, Status::Fail);
        // A group with Viewer changes nothing; one with Admin makes each role rule unknown.
        w.group_roles = vec![WorkspaceRole::Viewer];
        assert_eq!(rule(&w, Operation::Backup, "LATER-08").status, Status::Fail);
        w.group_roles = vec![WorkspaceRole::Viewer, WorkspaceRole::Admin];
        for (op, id) in [
            (Operation::Backup, "LATER-08"),
            (Operation::Backup, "SEED-07"),
            (Operation::RestoreAsNew, "LATER-07"),
        ] {
            let f = rule(&w, op, id);
            assert_eq!(f.status, Status::Unknown, "{f:?}");
            assert!(!f.blocks() && f.message.contains("through a group"), "{f:?}");
        }
        // A group with Contributor is enough to back up, not to be admin.
        w.group_roles = vec![WorkspaceRole::Contributor];
        assert_eq!(rule(&w, Operation::Backup, "LATER-08").status, Status::Unknown);
        assert_eq!(rule(&w, Operation::RestoreAsNew, "LATER-07").status, Status::Fail);
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
