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

use serde::{Deserialize, Serialize};

use crate::powerbi::{Capacity, Group, GroupUser};

pub use backup_file::{BackupFileContext, backup_file_findings};
pub(crate) use facts::require;
pub use facts::{doctor, gather_facts};

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
    /// Whether `power-bi-backup/<workspace>` exists (`None`: storage not reachable or not configured).
    pub folder_exists: Option<bool>,
    /// Declared in `preflight.dataflows-only`.
    pub declared_dataflows_only: bool,
}

/// Facts about the tenant and the tool's configuration.
#[derive(Debug, Clone, Default)]
pub struct TenantFacts {
    /// Declared home region.
    pub home_region: Option<String>,
    /// Declared storage account region.
    pub storage_location: Option<String>,
    /// The storage account the tool is configured with.
    pub configured_account: Option<String>,
    /// Declared storage ownership (for copies).
    pub storage_owner: Option<bool>,
    /// Rule ids raised to blocking.
    pub raise: Vec<String>,
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
    /// How its failure weighs.
    pub class: Class,
    /// What it says, in a few words.
    pub title: &'static str,
}

/// Every rule the preflight checks.
pub const RULES: &[Rule] = &[
    Rule {
        id: "SEED-01",
        class: Class::Blocks,
        title: "Premium, Embedded, Fabric or PPU capacity",
    },
    Rule {
        id: "SEED-02",
        class: Class::Blocks,
        title: "an ADLS Gen2 account attached to the workspace",
    },
    Rule { id: "SEED-04", class: Class::Blocks, title: "the capacity in the tenant's home region" },
    Rule { id: "SEED-05", class: Class::Blocks, title: "the storage account in the home region" },
    Rule {
        id: "SEED-06",
        class: Class::Note,
        title: "backups stored outside the capacity's region",
    },
    Rule { id: "SEED-07", class: Class::Blocks, title: "the caller is a workspace admin" },
    Rule {
        id: "SEED-08",
        class: Class::Blocks,
        title: "a backup folder named after the workspace",
    },
    Rule { id: "SEED-09", class: Class::Blocks, title: "owner rights on storage to copy backups" },
    Rule { id: "SEED-10", class: Class::Note, title: "storage owners can read every backup" },
    Rule {
        id: "SEED-12",
        class: Class::Blocks,
        title: "a storage link made for backups, not dataflows only",
    },
    Rule { id: "SEED-13", class: Class::Note, title: "relinking needs the old folder renamed" },
    Rule {
        id: "LATER-05",
        class: Class::Warns,
        title: "large semantic model storage format to restore",
    },
    Rule { id: "LATER-06", class: Class::Warns, title: "enhanced metadata (V3) models only" },
    Rule { id: "LATER-07", class: Class::Warns, title: "workspace admin to restore a new model" },
    Rule { id: "LATER-09", class: Class::Warns, title: "roles with the read permission only" },
    Rule {
        id: "LATER-23",
        class: Class::Blocks,
        title: "a workspace the caller can see, not My workspace",
    },
    Rule { id: "LATER-25", class: Class::Warns, title: "compatibility level 1500 or higher" },
    Rule { id: "LATER-26", class: Class::Warns, title: "no table and expression of one name" },
    Rule { id: "LATER-30", class: Class::Warns, title: "a running capacity" },
];

/// The rule of an id (ids compare without regard to case).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// How much a failed rule matters: the one place this is decided. A blocking rule seen to fail blocks; a note
/// informs; anything else warns, and blocks when `raise` lists it.
pub fn severity(id: &str, basis: Basis, raise: &[String]) -> Severity {
    let raised = raise.iter().any(|r| r.eq_ignore_ascii_case(id));
    match (rule(id).map(|r| r.class), basis) {
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
    raise: &'a [String],
}

impl<'a> Findings<'a> {
    pub(crate) fn new(workspace: &'a str, raise: &'a [String]) -> Self {
        Findings { findings: Vec::new(), workspace, raise }
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
        self.findings.push(Finding {
            rule: rule.into(),
            severity: severity(rule, basis, self.raise),
            status,
            workspace: self.workspace.into(),
            message,
            remedy: if status == Status::Pass { String::new() } else { remedy.into() },
        });
    }

    pub(crate) fn into_vec(self) -> Vec<Finding> {
        self.findings
    }
}

/// Evaluates every rule relevant to `op` for one workspace.
pub fn evaluate(op: Operation, ws: &WorkspaceFacts, tenant: &TenantFacts) -> Vec<Finding> {
    let mut out = Findings::new(&ws.name, &tenant.raise);
    let Some(group) = &ws.group else {
        rules::visible(&mut out, &ws.name);
        return out.into_vec();
    };
    rules::capacity(&mut out, ws, group);
    rules::storage_link(&mut out, ws, group);
    rules::regions(&mut out, ws, group, tenant);
    rules::roles(&mut out, op, ws);
    rules::folder(&mut out, ws);
    rules::dataflows_only(&mut out, ws, group);
    rules::relink(&mut out, op, ws);
    rules::copies(&mut out, op, tenant);
    if op == Operation::Doctor || op == Operation::Backup {
        rules::visibility_to_owners(&mut out, &ws.name);
    }
    rules::running(&mut out, ws);
    rules::storage_format(&mut out, op, ws, group);
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
            folder_exists: Some(true),
            declared_dataflows_only: false,
        }
    }

    fn tenant() -> TenantFacts {
        TenantFacts {
            home_region: Some("westeurope".into()),
            storage_location: Some("West Europe".into()),
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
        w.folder_exists = Some(false);
        let f = evaluate(Operation::Backup, &w, &tenant());
        let cdsa = f.iter().find(|f| f.rule == "SEED-12").unwrap();
        assert_eq!((cdsa.status, cdsa.severity), (Status::Fail, Severity::Warn));
        let missing = WorkspaceFacts { name: "Nope".into(), ..WorkspaceFacts::default() };
        let f = evaluate(Operation::Backup, &missing, &tenant());
        assert!(f[0].blocks() && f[0].message.contains("Nope"));
    }
}
