//! Preflight: every rule of the Power BI backup documentation that a client can check, evaluated before anything
//! is sent.
//!
//! Facts come from the Power BI REST API (workspaces, capacities, roles, storage links), from the storage account
//! (does the backup folder exist), and from the configuration for what no API tells (the tenant's home region, the
//! storage account's region, dataflows-only links). Rules of the preview text (`SEED-*`) block; rules from later
//! revisions (`LATER-*`) warn unless `preflight.raise` lists them. A fact that cannot be found makes a rule
//! `unknown`, which never blocks but says what to declare.

use serde::{Deserialize, Serialize};

use crate::powerbi::{Capacity, Group, GroupUser};

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

fn same_region(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

struct Out<'a> {
    findings: Vec<Finding>,
    ws: &'a str,
    raise: &'a [String],
}

impl Out<'_> {
    fn push(&mut self, rule: &str, status: Status, message: String, remedy: &str) {
        let mut severity = if rule.starts_with("SEED") { Severity::Block } else { Severity::Warn };
        if rule == "SEED-10" || rule == "SEED-06" {
            severity = Severity::Info;
        }
        if severity == Severity::Warn && self.raise.iter().any(|r| r.eq_ignore_ascii_case(rule)) {
            severity = Severity::Block;
        }
        self.findings.push(Finding {
            rule: rule.into(),
            severity,
            status,
            workspace: self.ws.into(),
            message,
            remedy: if status == Status::Pass { String::new() } else { remedy.into() },
        });
    }
}

/// Evaluates every rule relevant to `op` for one workspace.
pub fn evaluate(op: Operation, ws: &WorkspaceFacts, tenant: &TenantFacts) -> Vec<Finding> {
    let mut out = Out { findings: Vec::new(), ws: &ws.name, raise: &tenant.raise };
    let name = &ws.name;
    let Some(group) = &ws.group else {
        out.push(
            "LATER-23",
            Status::Fail,
            format!("workspace '{name}' is not among the workspaces the caller can see (or it is a My workspace)"),
            "check the name, give the caller a role on the workspace, and move models out of My workspace",
        );
        if let Some(f) = out.findings.last_mut() {
            f.severity = Severity::Block;
        }
        return out.findings;
    };

    // SEED-01: Premium or PPU.
    let sku = ws.capacity.as_ref().map(|c| c.sku.as_str()).unwrap_or("");
    let premium = group.is_on_dedicated_capacity || sku.to_ascii_uppercase().starts_with("PP");
    if premium {
        out.push(
            "SEED-01",
            Status::Pass,
            format!("workspace '{name}' is on a dedicated capacity (sku '{sku}')"),
            "",
        );
    } else {
        out.push(
            "SEED-01",
            Status::Fail,
            format!("workspace '{name}' is not on a Premium or PPU capacity (isOnDedicatedCapacity is false)"),
            "assign the workspace to a Premium, Embedded, Fabric or PPU capacity",
        );
    }

    // SEED-02: storage linked.
    match (&group.dataflow_storage_id, &ws.storage_account) {
        (Some(_), Some(account)) => out.push(
            "SEED-02",
            Status::Pass,
            format!("workspace '{name}' is attached to storage account '{account}'"),
            "",
        ),
        (Some(id), None) => out.push(
            "SEED-02",
            Status::Pass,
            format!("workspace '{name}' is attached to dataflow storage {id}"),
            "",
        ),
        (None, _) => out.push(
            "SEED-02",
            Status::Fail,
            format!("workspace '{name}' has no ADLS Gen2 storage attached (no dataflowStorageId)"),
            "attach a storage account: pbi-backup storage link --workspace <name> --account <account>, or Workspace settings > Azure connections",
        ),
    }

    // SEED-04 and SEED-05, SEED-06: regions.
    let cap_region = ws.capacity.as_ref().map(|c| c.region.clone());
    match (&tenant.home_region, &cap_region) {
        (Some(home), Some(region)) if same_region(home, region) => {
            out.push("SEED-04", Status::Pass, format!("capacity of '{name}' is in the home region '{home}'"), "")
        }
        (Some(home), Some(region)) => out.push(
            "SEED-04",
            Status::Fail,
            format!("capacity of '{name}' is in '{region}', not the tenant's home region '{home}' (multi-geo)"),
            "move the workspace to a capacity in the home region; multi-geo capacities cannot back up or restore",
        ),
        (None, _) => out.push(
            "SEED-04",
            Status::Unknown,
            format!("the tenant's home region is not known, so the capacity region of '{name}' cannot be checked"),
            "declare powerbi.home-region in pbi-backup.toml",
        ),
        (Some(_), None) => out.push(
            "SEED-04",
            Status::Unknown,
            format!("the capacity of '{name}' is not visible to the caller"),
            "give the caller capacity access, or check the region by hand",
        ),
    }
    if group.dataflow_storage_id.is_some() {
        match (&tenant.home_region, &tenant.storage_location) {
            (Some(home), Some(loc)) if same_region(home, loc) => out.push(
                "SEED-05",
                Status::Pass,
                format!("the storage account is in the home region '{home}'"),
                "",
            ),
            (Some(home), Some(loc)) => out.push(
                "SEED-05",
                Status::Fail,
                format!("the storage account is in '{loc}', not the tenant's home region '{home}'"),
                "use a storage account in the tenant's home region",
            ),
            _ => out.push(
                "SEED-05",
                Status::Unknown,
                "the storage account's region or the home region is not declared".into(),
                "declare storage.location and powerbi.home-region in pbi-backup.toml",
            ),
        }
        if let (Some(loc), Some(region)) = (&tenant.storage_location, &cap_region)
            && !same_region(loc, region)
        {
            out.push(
                "SEED-06",
                Status::Fail,
                format!("backups of '{name}' are stored in '{loc}', outside the capacity's region '{region}'"),
                "check your data residency requirements",
            );
        }
    }

    // SEED-07 / LATER-07 / LATER-08: roles.
    let role = ws.caller.as_ref().map(|u| u.group_user_access_right.as_str());
    match role {
        Some("Admin") => {
            out.push("SEED-07", Status::Pass, format!("the caller is an admin of '{name}'"), "")
        }
        Some(other) => out.push(
            "SEED-07",
            Status::Fail,
            format!("the caller is {other}, not Admin, of workspace '{name}'"),
            "make the caller (user or service principal) an admin of the workspace",
        ),
        // The API lists a service principal by an identifier that may be its object id rather than the app id the
        // tool knows (unconfirmed), so "not found" is not "not admin".
        None if ws.roles_listed => out.push(
            "SEED-07",
            Status::Unknown,
            format!("the caller is not listed by its application id among the roles of '{name}'"),
            "check in Manage access that the caller (or its service principal object) is an Admin of the workspace",
        ),
        None => out.push(
            "SEED-07",
            Status::Unknown,
            format!("the roles of '{name}' could not be listed"),
            "the workspace admin can check the caller's role in Manage access",
        ),
    }
    if op == Operation::RestoreAsNew && role.is_some_and(|r| r != "Admin") {
        out.push(
            "LATER-07",
            Status::Fail,
            format!(
                "restoring a new model needs workspace admin; the caller is {} of '{name}'",
                role.unwrap_or("?")
            ),
            "make the caller an admin, or restore over an existing model",
        );
    }

    // SEED-08 / LATER-22: the folder named after the workspace.
    if name.contains('/') || name.contains('\\') {
        out.push(
            "SEED-08",
            Status::Fail,
            format!("workspace name '{name}' holds '/' or '\\': Power BI's backup folder for it cannot be known"),
            "rename the workspace without '/' and '\\'",
        );
    } else {
        out.push(
            "SEED-08",
            Status::Pass,
            format!("backups of '{name}' live in power-bi-backup/{name}"),
            "",
        );
    }

    // SEED-12: dataflows-only link.
    if group.dataflow_storage_id.is_some() {
        if ws.declared_dataflows_only {
            out.push(
                "SEED-12",
                Status::Fail,
                format!("the storage link of '{name}' is declared dataflows-only (CDSA)"),
                "unlink and relink: pbi-backup storage relink --workspace <name>",
            );
        } else if ws.folder_exists == Some(false) {
            let mut f = Finding {
                rule: "SEED-12".into(),
                severity: Severity::Warn,
                status: Status::Fail,
                workspace: name.clone(),
                message: format!(
                    "workspace '{name}' is attached to storage but power-bi-backup/{name} does not exist: the link was probably made for dataflows only, before backup support"
                ),
                remedy: "if backups fail, unlink and relink: pbi-backup storage relink --workspace <name>".into(),
            };
            if tenant.raise.iter().any(|r| r.eq_ignore_ascii_case("SEED-12")) {
                f.severity = Severity::Block;
            }
            out.findings.push(f);
        } else {
            out.push(
                "SEED-12",
                Status::Pass,
                format!("the storage link of '{name}' supports backup"),
                "",
            );
        }
    }

    // SEED-13: relinking over an existing folder.
    if op == Operation::Relink && ws.folder_exists == Some(true) {
        out.findings.push(Finding {
            rule: "SEED-13".into(),
            severity: Severity::Info,
            status: Status::Fail,
            workspace: name.clone(),
            message: format!("power-bi-backup/{name} exists; relinking would fail while it does"),
            remedy: "pbi-backup storage relink renames it first".into(),
        });
    }

    // SEED-09: copies into another workspace need storage ownership and admin there.
    if op == Operation::CopyInto {
        match tenant.storage_owner {
            Some(true) => out.push(
                "SEED-09",
                Status::Pass,
                "the caller is declared owner of the storage account".into(),
                "",
            ),
            Some(false) => out.push(
                "SEED-09",
                Status::Fail,
                format!("copying a backup into '{name}' needs owner rights on the storage account"),
                "have a storage account owner copy the file, or grant the caller the Owner role",
            ),
            None => out.push(
                "SEED-09",
                Status::Unknown,
                "storage ownership is not declared; the copy will tell".into(),
                "declare preflight.storage-owner in pbi-backup.toml",
            ),
        }
    }

    // SEED-10: storage owners see every backup.
    if op == Operation::Doctor || op == Operation::Backup {
        out.push(
            "SEED-10",
            Status::Fail,
            format!("storage account owners can read every backup of '{name}'"),
            "encrypt backups with a password (--password-env, --password-file or --password-prompt) if that matters",
        );
    }

    // LATER-30: the capacity must be running.
    if let Some(c) = &ws.capacity {
        if c.state.eq_ignore_ascii_case("Active") || c.state.is_empty() {
            out.push(
                "LATER-30",
                Status::Pass,
                format!("capacity '{}' is active", c.display_name),
                "",
            );
        } else {
            out.push(
                "LATER-30",
                Status::Fail,
                format!("capacity '{}' of '{name}' is {}", c.display_name, c.state),
                "resume the capacity",
            );
        }
    }

    // LATER-05: restore needs the large storage format.
    if matches!(op, Operation::RestoreAsNew | Operation::Doctor)
        && let Some(fmt) = &group.default_dataset_storage_format
        && !fmt.eq_ignore_ascii_case("Large")
    {
        out.push(
            "LATER-05",
            Status::Fail,
            format!(
                "workspace '{name}' creates models in the {fmt} storage format; restore needs Large"
            ),
            "turn on large semantic model storage format in the workspace settings",
        );
    }

    out.findings
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
