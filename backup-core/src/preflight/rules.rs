//! The workspace rules, one function per group. Each adds its verdicts to [`Findings`], which decides their
//! severity through [`super::severity`]; none decides one itself.

use super::{Basis, Findings, Operation, RuleId, Status, TenantFacts, WorkspaceFacts};
use crate::service::powerbi::{Group, WorkspaceRole};

/// Regions compare without regard to case, spaces and punctuation (`West Europe` is `westeurope`).
fn same_region(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

/// LATER-23: a workspace the caller cannot see (or a My workspace).
pub(super) fn visible(out: &mut Findings<'_>, name: &str, nearest: &[String]) {
    let hint = match nearest {
        [] => String::new(),
        names => format!(
            "; did you mean {}?",
            names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ),
    };
    out.push(
        RuleId::Later23,
        Status::Fail,
        format!("workspace '{name}' is not among the workspaces the caller can see (or it is a My workspace){hint}"),
        "check the name, give the caller a role on the workspace, and move models out of My workspace",
    );
}

/// SEED-01: Premium or PPU.
pub(super) fn capacity(out: &mut Findings<'_>, ws: &WorkspaceFacts, group: &Group) {
    let name = &ws.name;
    let sku = ws.capacity.as_ref().map(|c| c.sku.as_str()).unwrap_or("");
    let premium = group.is_on_dedicated_capacity || sku.to_ascii_uppercase().starts_with("PP");
    if premium {
        out.push(
            RuleId::Seed01,
            Status::Pass,
            format!("workspace '{name}' is on a dedicated capacity (sku '{sku}')"),
            "",
        );
    } else {
        out.push(
            RuleId::Seed01,
            Status::Fail,
            format!("workspace '{name}' is not on a Premium or PPU capacity (isOnDedicatedCapacity is false)"),
            "assign the workspace to a Premium, Embedded, Fabric or PPU capacity",
        );
    }
}

/// LATER-30: the capacity is running.
pub(super) fn running(out: &mut Findings<'_>, ws: &WorkspaceFacts) {
    let name = &ws.name;
    if let Some(c) = &ws.capacity {
        if c.state.eq_ignore_ascii_case("Active") || c.state.is_empty() {
            out.push(
                RuleId::Later30,
                Status::Pass,
                format!("capacity '{}' is active", c.display_name),
                "",
            );
        } else {
            out.push(
                RuleId::Later30,
                Status::Fail,
                format!("capacity '{}' of '{name}' is {}", c.display_name, c.state),
                "resume the capacity",
            );
        }
    }
}

/// SEED-02: storage attached, enabled, and the account pbi-backup is configured with: the service writes a
/// workspace's backups into its linked account only, and pbi-backup reads, verifies and copies them in the account it
/// is configured with (one account per run, for now), so another would leave a backup unverified.
pub(super) fn storage_link(
    out: &mut Findings<'_>,
    ws: &WorkspaceFacts,
    group: &Group,
    tenant: &TenantFacts,
) {
    let name = &ws.name;
    if let (Some(_), Some(linked), Some(configured), Some(why)) = (
        &group.dataflow_storage_id,
        &ws.storage_account,
        &tenant.configured_account,
        &ws.storage_unreachable,
    ) {
        out.push(
            RuleId::Seed02,
            Status::Fail,
            format!(
                "the backups of '{name}' go to storage account '{linked}', the one it is attached to, which pbi-backup (configured with '{configured}') cannot reach: {why}"
            ),
            &format!(
                "give pbi-backup a credential for '{linked}' ([storage.accounts.{linked}] with key-env or sas-env, or an Entra sign-in for storage), or run it with PBI_BACKUP_ADLS_ACCOUNT={linked} and that account's credential"
            ),
        );
        return;
    }
    match (&group.dataflow_storage_id, &ws.storage_account) {
        (Some(_), Some(account)) if ws.storage_enabled == Some(false) => out.push(
            RuleId::Seed02,
            Status::Fail,
            format!(
                "workspace '{name}' is attached to storage account '{account}', which is disabled in Power BI (isEnabled false)"
            ),
            "a Power BI administrator enables the account (Admin portal > Azure connections), or attach the workspace to another: pbi-backup storage relink --workspace <name> --account <account>",
        ),
        (Some(_), Some(account)) => out.push(
            RuleId::Seed02,
            Status::Pass,
            format!("workspace '{name}' is attached to storage account '{account}'"),
            "",
        ),
        (Some(id), None) => out.push(
            RuleId::Seed02,
            Status::Pass,
            format!("workspace '{name}' is attached to dataflow storage {id}"),
            "",
        ),
        (None, _) => out.push(
            RuleId::Seed02,
            Status::Fail,
            format!("workspace '{name}' has no ADLS Gen2 storage attached (no dataflowStorageId)"),
            "attach a storage account: pbi-backup storage link --workspace <name> --account <account>, or Workspace settings > Azure connections",
        ),
    }
}

/// SEED-12: a link made for dataflows only, declared or inferred from a missing folder.
pub(super) fn dataflows_only(out: &mut Findings<'_>, ws: &WorkspaceFacts, group: &Group) {
    let name = &ws.name;
    if group.dataflow_storage_id.is_none() {
        return;
    }
    if ws.declared_dataflows_only {
        out.push(
            RuleId::Seed12,
            Status::Fail,
            format!("the storage link of '{name}' is declared dataflows-only (CDSA)"),
            "unlink and relink: pbi-backup storage relink --workspace <name>",
        );
    } else {
        folder_shows_link(out, ws, name);
    }
}

/// SEED-12 inferred from what the backup folder shows.
fn folder_shows_link(out: &mut Findings<'_>, ws: &WorkspaceFacts, name: &str) {
    use super::Folder;
    let relink = "if backups fail, unlink and relink: pbi-backup storage relink --workspace <name>";
    match ws.folder {
        Some(Folder::Absent) => out.push_with(
            RuleId::Seed12,
            Basis::Inferred,
            Status::Fail,
            format!(
                "workspace '{name}' is attached to storage but power-bi-backup/{name} does not exist: the link was probably made for dataflows only, before backup support"
            ),
            relink,
        ),
        // The service's empty folder and one pbi-backup's copy created look the same once a copy is in it.
        Some(Folder::OnlyPlaced) => out.push(
            RuleId::Seed12,
            Status::Unknown,
            format!(
                "power-bi-backup/{name} holds only files pbi-backup placed there: they cannot tell whether the service made the folder for a backup link"
            ),
            "if backups or restores fail there, unlink and relink: pbi-backup storage relink --workspace <name>",
        ),
        Some(Folder::Empty) => out.push(
            RuleId::Seed12,
            Status::Pass,
            format!(
                "power-bi-backup/{name} exists and is empty: the service made it when storage was attached for backups; no backup yet"
            ),
            "",
        ),
        Some(Folder::ServiceFiles) => out.push(
            RuleId::Seed12,
            Status::Pass,
            format!("the storage link of '{name}' supports backup (power-bi-backup/{name} holds backups)"),
            "",
        ),
        None => out.push(
            RuleId::Seed12,
            Status::Unknown,
            format!("whether the storage link of '{name}' was made for backups: power-bi-backup/{name} was not looked at"),
            "configure the storage account the workspace is attached to (PBI_BACKUP_ADLS_ACCOUNT or storage.account) so that its folder can be checked",
        ),
    }
}

/// SEED-04 (capacity in the home region), SEED-05 (storage in the home region), SEED-06 (residency note).
pub(super) fn regions(
    out: &mut Findings<'_>,
    ws: &WorkspaceFacts,
    group: &Group,
    tenant: &TenantFacts,
) {
    let name = &ws.name;
    let cap_region = ws.capacity.as_ref().map(|c| c.region.clone());
    let told = tenant.home_region_source.describe();
    match (&tenant.home_region, &cap_region) {
        (Some(home), Some(region)) if same_region(home, region) => out.push(
            RuleId::Seed04,
            Status::Pass,
            format!("capacity of '{name}' is in the home region '{home}' ({told})"),
            "",
        ),
        (Some(home), Some(region)) => out.push(
            RuleId::Seed04,
            Status::Fail,
            format!("capacity of '{name}' is in '{region}', not the tenant's home region '{home}' ({told}): multi-geo"),
            match out.profile() {
                super::Profile::Seed => "move the workspace to a capacity in the home region; the 2021 preview does not back up or restore on multi-geo capacities",
                super::Profile::Current => "backup and restore work on multi-geo capacities today; the backups are kept in the storage account's region: check data residency and egress cost (LATER-01)",
            },
        ),
        (None, _) => out.push(
            RuleId::Seed04,
            Status::Unknown,
            format!("the tenant's home region is not known (the service's home cluster did not tell it), so the capacity region of '{name}' cannot be checked"),
            "declare powerbi.home-region in pbi-backup.toml",
        ),
        (Some(_), None) => out.push(
            RuleId::Seed04,
            Status::Unknown,
            format!("the capacity of '{name}' is not visible to the caller"),
            "give the caller capacity access, or check the region by hand",
        ),
    }
    if group.dataflow_storage_id.is_none() {
        return;
    }
    // A declared location is the configured account's; any account's comes from Azure Resource Manager.
    let account = ws.storage_account.as_deref().unwrap_or("the linked account");
    let (location, _) = super::storage_location(ws, tenant);
    let location = location.as_ref();
    match (&tenant.home_region, location) {
        (Some(home), Some(loc)) if same_region(home, loc) => out.push(
            RuleId::Seed05,
            Status::Pass,
            format!("storage account '{account}' is in the home region '{home}'"),
            "",
        ),
        (Some(home), Some(loc)) => out.push(
            RuleId::Seed05,
            Status::Fail,
            format!("storage account '{account}' is in '{loc}', not the tenant's home region '{home}'"),
            "use a storage account in the tenant's home region",
        ),
        (None, _) => out.push(
            RuleId::Seed05,
            Status::Unknown,
            format!("the home region is not known, so the region of storage account '{account}' cannot be checked"),
            "declare powerbi.home-region in pbi-backup.toml",
        ),
        (Some(_), None) => out.push(
            RuleId::Seed05,
            Status::Unknown,
            format!("the region of storage account '{account}' is not known{}", arm_unknown(ws)),
            "grant the caller the Reader role on the storage account (Azure Resource Manager then tells its region), or declare storage.location with storage.account set to that account",
        ),
    }
    if let (Some(loc), Some(region)) = (location, &cap_region)
        && !same_region(loc, region)
    {
        out.push(
            RuleId::Seed06,
            Status::Fail,
            format!("backups of '{name}' are stored in '{loc}', outside the capacity's region '{region}'"),
            "check your data residency requirements",
        );
    }
}

/// SEED-07 (the preview: workspace admins only), LATER-08 (today: admin, member or contributor back up and restore
/// over a model) and LATER-07 (admin to restore a new model). Which of them blocks is the profile's choice.
pub(super) fn roles(out: &mut Findings<'_>, op: Operation, ws: &WorkspaceFacts) {
    let name = &ws.name;
    let role = ws.caller.as_ref().map(|u| &u.group_user_access_right);
    match role {
        Some(WorkspaceRole::Admin) => {
            out.push(RuleId::Seed07, Status::Pass, format!("the caller is an admin of '{name}'"), "")
        }
        Some(other) if by_group(ws, &is_admin) => out.push(
            RuleId::Seed07,
            Status::Unknown,
            through_group(other, name, "Admin"),
            "check in Manage access that the caller is in that group, or make it an admin of the workspace",
        ),
        Some(other) => out.push(
            RuleId::Seed07,
            Status::Fail,
            format!("the caller is {other}, not Admin, of workspace '{name}'"),
            "make the caller (user or service principal) an admin of the workspace",
        ),
        // Not listed: the caller has no role of its own (it may hold one through a group, which the list does not
        // expand), so "not found" is not "not admin".
        None if ws.roles_listed => out.push(
            RuleId::Seed07,
            Status::Unknown,
            format!("the caller (by its object id or UPN) has no role of its own in '{name}'"),
            "check in Manage access that the caller, or a group it belongs to, is an Admin of the workspace",
        ),
        None => out.push(
            RuleId::Seed07,
            Status::Unknown,
            format!("the roles of '{name}' could not be listed, or the caller's token does not say who it is"),
            "the workspace admin can check the caller's role in Manage access",
        ),
    }
    let unknown = if ws.roles_listed {
        format!("the caller (by its object id or UPN) has no role of its own in '{name}'")
    } else {
        format!(
            "the roles of '{name}' could not be listed, or the caller's token does not say who it is"
        )
    };
    match op {
        Operation::RestoreAsNew => match role {
            Some(WorkspaceRole::Admin) => out.push(
                RuleId::Later07,
                Status::Pass,
                format!("the caller is an admin of '{name}', who may restore a new model"),
                "",
            ),
            Some(other) if by_group(ws, &is_admin) => out.push(
                RuleId::Later07,
                Status::Unknown,
                through_group(other, name, "Admin"),
                "check in Manage access that the caller is in that group, or make it an admin of the workspace",
            ),
            Some(other) => out.push(
                RuleId::Later07,
                Status::Fail,
                format!("restoring a new model needs workspace admin; the caller is {other} of '{name}'"),
                "make the caller an admin, or restore over an existing model",
            ),
            None => out.push(RuleId::Later07, Status::Unknown, unknown, "check in Manage access that the caller is an Admin of the workspace"),
        },
        Operation::Doctor | Operation::Backup | Operation::Restore => match role {
            Some(r @ (WorkspaceRole::Admin | WorkspaceRole::Member | WorkspaceRole::Contributor)) => out.push(
                RuleId::Later08,
                Status::Pass,
                format!("the caller is {r} of '{name}', who may back up and restore over a model"),
                "",
            ),
            Some(other) if by_group(ws, &can_write) => out.push(
                RuleId::Later08,
                Status::Unknown,
                through_group(other, name, "Contributor or higher"),
                "check in Manage access that the caller is in that group, or give it the Contributor role or higher",
            ),
            Some(other) => out.push(
                RuleId::Later08,
                Status::Fail,
                format!("the caller is {other} of '{name}'; backing up or restoring over a model needs admin, member or contributor"),
                "give the caller the Contributor role or higher on the workspace, or write permission on the model",
            ),
            None => out.push(RuleId::Later08, Status::Unknown, unknown, "check in Manage access that the caller is at least a Contributor of the workspace"),
        },
        Operation::CopyInto | Operation::Relink => {}
    }
}
fn is_admin(r: &WorkspaceRole) -> bool {
    *r == WorkspaceRole::Admin
}

fn can_write(r: &WorkspaceRole) -> bool {
    matches!(r, WorkspaceRole::Admin | WorkspaceRole::Member | WorkspaceRole::Contributor)
}

/// Whether a security group in the workspace holds a role that `enough` accepts: the caller may hold it through the
/// group, which the roles list does not expand.
fn by_group(ws: &WorkspaceFacts, enough: &dyn Fn(&WorkspaceRole) -> bool) -> bool {
    ws.group_roles.iter().any(enough)
}

fn through_group(own: &WorkspaceRole, workspace: &str, needed: &str) -> String {
    format!(
        "the caller is {own} of '{workspace}' on its own, and a security group there is {needed}: the caller may hold that through a group (the roles list does not expand groups)"
    )
}

/// SEED-08: the folder named after the workspace.
pub(super) fn folder(out: &mut Findings<'_>, ws: &WorkspaceFacts) {
    let name = &ws.name;
    if let Err(e) = adls_store::StorePath::folder(crate::layout::BACKUP_FILESYSTEM, name)
        && !name.contains('/')
        && !name.contains('\\')
    {
        out.push(
            RuleId::Seed08,
            Status::Fail,
            format!("Power BI's backup folder for workspace '{name}' cannot be named: {e}"),
            "rename the workspace to a name that can be a folder name (at most 255 bytes, no control characters)",
        );
    } else if name.contains('/') || name.contains('\\') {
        out.push(
            RuleId::Seed08,
            Status::Fail,
            format!("workspace name '{name}' holds '/' or '\\': Power BI's backup folder for it cannot be known"),
            "rename the workspace without '/' and '\\'",
        );
    } else {
        out.push(
            RuleId::Seed08,
            Status::Pass,
            format!("backups of '{name}' live in power-bi-backup/{name}"),
            "",
        );
    }
}

/// SEED-13: relinking over an existing folder.
pub(super) fn relink(out: &mut Findings<'_>, op: Operation, ws: &WorkspaceFacts) {
    let name = &ws.name;
    if op == Operation::Relink && ws.folder.is_some_and(|f| f != super::Folder::Absent) {
        out.push(
            RuleId::Seed13,
            Status::Fail,
            format!("power-bi-backup/{name} exists; relinking would fail while it does"),
            "pbi-backup storage relink renames it first",
        );
    }
}

/// SEED-09: copies into another workspace's folder need storage ownership, and restoring them there admin of the
/// target workspace: the page states it in every revision ([D1]-[D5]), so under both profiles.
pub(super) fn copies(
    out: &mut Findings<'_>,
    op: Operation,
    ws: &WorkspaceFacts,
    tenant: &TenantFacts,
) {
    if op != Operation::CopyInto {
        return;
    }
    let name = out.workspace.to_owned();
    let role = ws.caller.as_ref().map(|u| &u.group_user_access_right);
    if let Some(role) = role.filter(|r| **r != WorkspaceRole::Admin) {
        out.push(
            RuleId::Seed09,
            Status::Fail,
            format!("restoring a backup copied from another workspace needs admin of the target; the caller is {role} of '{name}'"),
            "make the caller an admin of the target workspace",
        );
        return;
    }
    match tenant.storage_owner {
        Some(true) => out.push(
            RuleId::Seed09,
            Status::Pass,
            "the caller is declared owner of the storage account".into(),
            "",
        ),
        Some(false) => out.push(
            RuleId::Seed09,
            Status::Fail,
            format!("copying a backup into '{name}' needs owner rights on the storage account"),
            "have a storage account owner copy the file, or grant the caller the Owner role",
        ),
        None => out.push(
            RuleId::Seed09,
            Status::Unknown,
            "storage ownership is not declared; the copy will tell".into(),
            "declare preflight.storage-owner in pbi-backup.toml",
        ),
    }
}

/// SEED-10: storage owners see every backup.
pub(super) fn visibility_to_owners(out: &mut Findings<'_>, name: &str) {
    out.push(
        RuleId::Seed10,
        Status::Fail,
        format!("storage account owners can read every backup of '{name}'"),
        "encrypt backups with a password (--password-env, --password-file or --password-prompt) if that matters",
    );
}

/// LATER-05: restoring a new model needs the large storage format.
pub(super) fn storage_format(
    out: &mut Findings<'_>,
    op: Operation,
    ws: &WorkspaceFacts,
    group: &Group,
) {
    if matches!(op, Operation::RestoreAsNew | Operation::Doctor)
        && let Some(fmt) = &group.default_dataset_storage_format
        && !fmt.eq_ignore_ascii_case("Large")
    {
        out.push(
            RuleId::Later05,
            Status::Fail,
            format!(
                "workspace '{}' creates models in the {fmt} storage format; restore needs Large",
                ws.name
            ),
            "turn on large semantic model storage format in the workspace settings",
        );
    }
}

/// The memory per model of the SKUs the rules reference lists (Premium Gen2 table: P1 25 GB, P2 50 GB, P3 100 GB),
/// in bytes; other SKUs' limits are not in that source.
fn model_memory_limit(sku: &str) -> Option<u64> {
    let gb = match sku.trim().to_ascii_uppercase().as_str() {
        "P1" => 25,
        "P2" => 50,
        "P3" => 100,
        _ => return None,
    };
    Some(gb << 30)
}

/// LATER-11: a restore needs the model to fit the capacity's memory per model. The size is the backup's manifest's
/// (column segments at backup time: a lower bound, so a model that fails this cannot fit).
pub(super) fn memory(out: &mut Findings<'_>, op: Operation, ws: &WorkspaceFacts) {
    if !matches!(op, Operation::Restore | Operation::RestoreAsNew) {
        return;
    }
    let Some(size) = ws.restore_model_bytes else { return };
    let name = &ws.name;
    let gib = |b: u64| format!("{:.1} GB", b as f64 / f64::from(1u32 << 30));
    let Some(capacity) = &ws.capacity else {
        out.push(
            RuleId::Later11,
            Status::Unknown,
            format!("the capacity of '{name}' is not visible, so whether a {} model fits it is not known", gib(size)),
            "give the caller capacity access, or check the SKU's memory by hand",
        );
        return;
    };
    let sku = &capacity.sku;
    match model_memory_limit(sku) {
        Some(limit) if size > limit => out.push(
            RuleId::Later11,
            Status::Fail,
            format!(
                "the model takes at least {} in memory, more than the {} a {sku} capacity allows per model; the restore would fail with \"Resource governing\"",
                gib(size),
                gib(limit)
            ),
            "restore to a workspace on a larger capacity, or reduce the model and back it up again",
        ),
        Some(limit) => out.push(
            RuleId::Later11,
            Status::Pass,
            format!("the model ({} at backup) fits the {} per model of a {sku} capacity", gib(size), gib(limit)),
            "",
        ),
        None => out.push(
            RuleId::Later11,
            Status::Unknown,
            format!("the memory per model of a {sku} capacity is not in the sources this tool follows; the model took {} at backup", gib(size)),
            "check the SKU's memory per model against the model's size",
        ),
    }
}

/// Why Azure Resource Manager did not tell, for a message: empty when it was not asked.
fn arm_unknown(ws: &WorkspaceFacts) -> String {
    match &ws.arm {
        Some(Err(why)) => format!(" (Azure Resource Manager: {why})"),
        _ => String::new(),
    }
}

/// LATER-02 (no VNET), LATER-03 (no firewall, no private endpoint), LATER-04 (shared key allowed), LATER-15
/// (hierarchical namespace), LATER-16 (the Power BI tenant): the linked account as Azure Resource Manager describes it.
pub(super) fn storage_account(out: &mut Findings<'_>, op: Operation, ws: &WorkspaceFacts) {
    if matches!(op, Operation::CopyInto | Operation::Relink) {
        return;
    }
    let Some(arm) = &ws.arm else { return };
    let account = ws.storage_account.as_deref().unwrap_or("the linked account");
    let a = match arm {
        Ok(a) => a,
        Err(why) => {
            for rule in [
                RuleId::Later02,
                RuleId::Later03,
                RuleId::Later04,
                RuleId::Later15,
                RuleId::Later16,
            ] {
                out.push(
                    rule,
                    Status::Unknown,
                    format!(
                        "Azure Resource Manager did not describe storage account '{account}': {why}"
                    ),
                    "grant the caller the Reader role on the storage account or its subscription",
                );
            }
            return;
        }
    };
    network(out, account, a);
    let verdict = |bad: bool| if bad { Status::Fail } else { Status::Pass };
    let no_key = a.allow_shared_key == Some(false);
    out.push(
        RuleId::Later04,
        verdict(no_key),
        if no_key {
            format!("storage account '{account}' does not allow shared key access; backup and restore fail with \"Key based authentication is not permitted\"")
        } else {
            format!("storage account '{account}' allows shared key access")
        },
        if no_key { "allow storage account key access (Configuration, in the Azure portal)" } else { "" },
    );
    match a.hns {
        Some(false) => out.push(
            RuleId::Later15,
            Status::Fail,
            format!("storage account '{account}' has no hierarchical namespace: it is not ADLS Gen2"),
            "use an account with hierarchical namespace enabled (ADLS Gen2)",
        ),
        Some(true) => out.push(
            RuleId::Later15,
            Status::Pass,
            format!("storage account '{account}' has a hierarchical namespace"),
            "",
        ),
        None => out.push(
            RuleId::Later15,
            Status::Unknown,
            format!("Azure Resource Manager did not say whether '{account}' has a hierarchical namespace"),
            "check isHnsEnabled on the account",
        ),
    }
    match (&a.tenant_id, &ws.powerbi_tenant) {
        (Some(theirs), Some(ours)) if !theirs.eq_ignore_ascii_case(ours) => out.push(
            RuleId::Later16,
            Status::Fail,
            format!("storage account '{account}' belongs to tenant {theirs}, not the Power BI tenant {ours}"),
            "use a storage account of a subscription in the Power BI tenant",
        ),
        (Some(_), Some(ours)) => out.push(
            RuleId::Later16,
            Status::Pass,
            format!("storage account '{account}' is in the Power BI tenant {ours}"),
            "",
        ),
        _ => out.push(
            RuleId::Later16,
            Status::Unknown,
            format!("the tenant of storage account '{account}' or of Power BI is not known"),
            "check that the account's subscription is in the Power BI tenant",
        ),
    }
}

/// LATER-02 and LATER-03: Power BI must reach the account directly.
fn network(out: &mut Findings<'_>, account: &str, a: &crate::service::arm::ArmAccount) {
    let deny = a.default_action.as_deref().is_some_and(|d| d.eq_ignore_ascii_case("deny"));
    let verdict = |bad: bool| if bad { Status::Fail } else { Status::Pass };
    out.push(
        RuleId::Later02,
        verdict(a.vnet_rules > 0),
        if a.vnet_rules > 0 {
            format!("storage account '{account}' is in a virtual network ({} VNET rules); Power BI must reach it directly", a.vnet_rules)
        } else {
            format!("storage account '{account}' has no VNET rules")
        },
        if a.vnet_rules > 0 { "remove the account's virtual network rules (Networking, in the Azure portal)" } else { "" },
    );
    let public_off =
        a.public_network_access.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("disabled"));
    let firewalled = deny || public_off || a.private_endpoints > 0;
    out.push(
        RuleId::Later03,
        verdict(firewalled),
        if firewalled {
            format!(
                "storage account '{account}' is behind a firewall (default action {}, public network access {}, {} private endpoints); Power BI cannot reach it",
                a.default_action.as_deref().unwrap_or("?"),
                a.public_network_access.as_deref().unwrap_or("?"),
                a.private_endpoints
            )
        } else {
            format!("storage account '{account}' allows public network access, no private endpoint")
        },
        if firewalled { "allow access from all networks and remove private endpoints (Networking, in the Azure portal)" } else { "" },
    );
}
