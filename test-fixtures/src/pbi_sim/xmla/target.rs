//! The SEED checks a Backup or Restore passes before it touches storage, and where the command's files live.

use std::sync::Arc;

use super::answer::Message;
use adls_store::{Store, StorePath};

use super::{Ctx, codes, msg, not_found};

use crate::pbi_sim::scenario::{LinkKind, ServiceProfile, XmlaSetting};
use crate::pbi_sim::state::State as SimState;
use crate::pbi_sim::{BACKUP_FILESYSTEM, Shared};

/// Where a command's files live and what the caller may do there, after the SEED checks.
pub(super) struct Target {
    pub(super) owner: String,
    pub(super) owner_name: String,
    pub(super) store: Arc<dyn Store>,
    pub(super) filesystem: String,
    pub(super) folder: String,
    pub(super) limit_gb: Option<f64>,
    /// Power BI rules (roles need read permission) apply; Analysis Services has no such limit.
    pub(super) power_bi: bool,
    /// Under the `current` service: the caller's workspace role, for the rule that only an admin restores a new
    /// model (known once the restore knows whether the model exists). `None`: no such rule applies.
    pub(super) new_model_needs_admin: Option<String>,
}

/// What the command does, for the role rules of the `current` service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Backup,
    Restore,
}

/// The SEED checks of a backup or restore, in the order the service's documentation gives them, and where the
/// command's files live.
pub(super) fn target_for(
    shared: &Shared,
    state: &SimState,
    ctx: &Ctx,
    action: Action,
) -> Result<Target, Message> {
    match ctx {
        Ctx::Workspace { principal, workspace_id, admin_by_door } => {
            workspace_target(shared, state, principal, workspace_id, *admin_by_door, action)
        }
        Ctx::Aas { principal, server } => {
            let srv = state
                .aas_servers
                .iter()
                .find(|a| &a.name == server)
                .ok_or_else(|| not_found(server))?;
            let admin = state
                .principal(principal)
                .is_some_and(|p| p.aas_admin_of.iter().any(|s| s == server));
            if !admin {
                return Err(msg(
                    codes::NOT_ADMIN,
                    format!("'{principal}' is not an administrator of the server '{server}'."),
                ));
            }
            let store =
                shared.stores.get(&srv.storage).cloned().ok_or_else(|| not_found(&srv.storage))?;
            Ok(Target {
                owner: format!("aas:{server}"),
                owner_name: server.clone(),
                store,
                filesystem: srv.container.clone(),
                folder: server.clone(),
                limit_gb: None,
                power_bi: false,
                new_model_needs_admin: None,
            })
        }
    }
}

/// [`target_for`] a Power BI workspace.
fn workspace_target(
    shared: &Shared,
    state: &SimState,
    principal: &str,
    workspace_id: &str,
    admin_by_door: bool,
    action: Action,
) -> Result<Target, Message> {
    let ws = state.workspace(workspace_id).ok_or_else(|| not_found(workspace_id))?;
    let cap = ws.capacity_id.as_deref().and_then(|c| state.capacity(c));
    let Some(cap) = cap.filter(|c| c.is_premium()) else {
        return Err(msg(
            codes::NOT_PREMIUM,
            format!(
                "Backup and restore are only available for workspaces on Power BI Premium or Premium Per User. The workspace '{}' is not on such a capacity; assign it to a Premium capacity.",
                ws.name
            ),
        ));
    };
    // The preview refuses multi-geo; the page today only advises on residency and cost.
    if state.service_profile == ServiceProfile::Seed
        && !same_azure_region(&cap.region, &state.home_region)
    {
        return Err(msg(
            codes::MULTI_GEO,
            format!(
                "Backup and restore are not supported for multi-geo capacities: the workspace '{}' is on capacity '{}' in region '{}', and the tenant's home region is '{}'. Move the workspace to a capacity in the home region.",
                ws.name, cap.name, cap.region, state.home_region
            ),
        ));
    }
    if cap.xmla == XmlaSetting::ReadOnly {
        return Err(msg(
            codes::XMLA_READ_ONLY,
            "It looks like you can't make changes to this dataset. Make sure XMLA read/write support is enabled for the capacity.",
        ));
    }
    let role = state.role(principal, &ws.id).map(str::to_owned);
    if !admin_by_door {
        check_role(state.service_profile, action, principal, &ws.name, role.as_deref())?;
    }
    let Some(account) = ws.storage.clone() else {
        return Err(msg(
            codes::NO_STORAGE,
            format!(
                "The workspace '{}' is not connected to an Azure Data Lake Storage Gen2 account. Connect one at tenant or workspace level (Workspace settings, Azure connections) before backup or restore.",
                ws.name
            ),
        ));
    };
    if ws.link == LinkKind::DataflowsOnly {
        return Err(msg(
            codes::DATAFLOWS_ONLY,
            format!(
                "The storage account '{account}' of the workspace '{}' was connected for dataflows only. Disconnect it and connect it again to enable backup and restore.",
                ws.name
            ),
        ));
    }
    if state.account(&account).is_some_and(|a| !a.shared_key_access) {
        return Err(msg(
            codes::SHARED_KEY_DISABLED,
            "Key based authentication is not permitted on this storage account.",
        ));
    }
    let store = shared.stores.get(&account).cloned().ok_or_else(|| not_found(&account))?;
    Ok(Target {
        owner: ws.id.clone(),
        owner_name: ws.name.clone(),
        store,
        filesystem: BACKUP_FILESYSTEM.into(),
        folder: ws.name.clone(),
        limit_gb: cap.model_limit_gb(),
        power_bi: true,
        new_model_needs_admin: (state.service_profile == ServiceProfile::Current
            && action == Action::Restore
            && !admin_by_door)
            .then(|| role.unwrap_or_else(|| "no role".into())),
    })
}

/// Who may back up and restore: the preview's admins only, or today's admins, members and contributors (restore
/// over an existing model needs write permission, which those roles have; a new model needs admin, checked once
/// the restore knows whether the model exists).
fn check_role(
    profile: ServiceProfile,
    action: Action,
    principal: &str,
    workspace: &str,
    role: Option<&str>,
) -> Result<(), Message> {
    let allowed = match profile {
        ServiceProfile::Seed => role == Some("Admin"),
        ServiceProfile::Current => matches!(role, Some("Admin" | "Member" | "Contributor")),
    };
    if allowed {
        return Ok(());
    }
    let shown = role.unwrap_or("no role");
    Err(msg(
        codes::NOT_ADMIN,
        match (profile, action) {
            (ServiceProfile::Seed, _) => format!(
                "'{principal}' is not an admin of the workspace '{workspace}' ({shown}). Only workspace admins can back up and restore semantic models."
            ),
            (ServiceProfile::Current, Action::Backup) => format!(
                "'{principal}' cannot back up semantic models of the workspace '{workspace}' ({shown}). Backup is allowed to workspace admins, members and contributors, and to users with write permission on the semantic model."
            ),
            (ServiceProfile::Current, Action::Restore) => format!(
                "'{principal}' cannot restore into the workspace '{workspace}' ({shown}). Restoring over a semantic model needs write or admin permission on it."
            ),
        },
    ))
}

/// `File` is relative to the workspace folder; one leading `/` is taken as the same place (the Power BI page's TMSL
/// examples write `/Backup.abf`). Sub-folders are refused: whether the service takes them is unconfirmed.
pub(super) fn file_path(target: &Target, file: &str) -> Result<StorePath, Message> {
    let name = file.strip_prefix('/').unwrap_or(file);
    if name.contains('/') || name.contains('\\') {
        return Err(msg(
            codes::BAD_FILE_NAME,
            format!(
                "The file name '{file}' names a sub-folder; give a file name in the workspace's backup folder."
            ),
        ));
    }
    StorePath::file(&target.filesystem, &target.folder, name).map_err(|e| {
        msg(codes::BAD_FILE_NAME, format!("The file name '{file}' cannot be used: {e}"))
    })
}

/// Whether two spellings name one Azure region: the display name (`North Europe`) and the programmatic name
/// (`northeurope`) differ only by case and spaces (Azure's region list gives both for each region).
fn same_azure_region(a: &str, b: &str) -> bool {
    let key = |s: &str| -> String {
        s.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
    };
    key(a) == key(b)
}
