//! Gathering the facts the rules are evaluated on: the Power BI REST API, the storage account, the configuration.

use futures::StreamExt;

use super::{
    Blocked, Fact, FactSource, Operation, TenantFacts, WorkspaceFacts, evaluate, warnings,
};
use crate::error::Result;
use crate::layout::backup_folder;
use crate::service::Context;
use crate::service::powerbi::{self, Group};

/// Gathers the facts about one workspace from the REST API, the storage and the configuration.
pub async fn gather_facts(session: &Context, name: &str) -> Result<(WorkspaceFacts, TenantFacts)> {
    let file = &session.settings.file;
    // The workspaces first: a sign-in that fails, fails here, once.
    let groups = session.groups().await?;
    // A declared home region overrides what the service tells.
    let (home_region, home_region_source) = match &file.powerbi.home_region {
        Some(r) => (Some(r.clone()), FactSource::Config),
        None => match session.home_region().await {
            Some(r) => (Some(r), FactSource::Service),
            None => (None, FactSource::Unknown),
        },
    };
    let tenant = TenantFacts {
        home_region,
        home_region_source,
        storage_location: file.storage.location.clone(),
        configured_account: session.settings.storage_account().map(str::to_owned),
        storage_owner: file.preflight.storage_owner,
        raise: session.settings.raise.clone(),
        profile: session.settings.profile,
    };
    let group: Option<Group> = match powerbi::find_group(&groups, name) {
        Ok(g) => Some(g),
        Err(crate::error::Error::NotFound { nearest, .. }) => {
            let facts =
                WorkspaceFacts { name: name.to_owned(), nearest, ..WorkspaceFacts::default() };
            return Ok((facts, tenant));
        }
        Err(_) => None,
    };
    let mut facts = WorkspaceFacts {
        name: name.to_owned(),
        declared_dataflows_only: file.preflight.dataflows_only.iter().any(|w| w == name),
        ..WorkspaceFacts::default()
    };
    let Some(group) = group else { return Ok((facts, tenant)) };
    if let Some(cap_id) = &group.capacity_id {
        // Capacities the caller cannot see are simply absent; the rules then say "unknown".
        if let Ok(caps) = session.capacities().await {
            facts.capacity = caps.into_iter().find(|c| c.id.eq_ignore_ascii_case(cap_id));
        }
    }
    let caller = session.caller_in(&group.id).await?;
    facts.roles_listed = caller.listed;
    facts.powerbi_tenant = caller.tenant;
    facts.caller = caller.user;
    facts.group_roles = caller.group_roles;
    storage_facts(session, &group, &mut facts).await;
    facts.group = Some(group);
    Ok((facts, tenant))
}

/// The facts about the storage account a workspace is attached to: its registration, what Azure Resource Manager
/// says of it, whether pbi-backup can reach it, and what its backup folder shows.
async fn storage_facts(session: &Context, group: &Group, facts: &mut WorkspaceFacts) {
    if group.dataflow_storage_id.is_some()
        && let Ok(accounts) = session.storage_accounts().await
    {
        let linked = crate::service::powerbi::linked_account(&accounts, group);
        facts.storage_enabled = linked.and_then(|a| a.is_enabled);
        facts.storage_account = linked.map(|a| a.name.clone());
    }
    if let Some(account) = &facts.storage_account {
        facts.arm = Some(session.arm_account(account).await);
    }
    if group.dataflow_storage_id.is_some() && facts.storage_account.is_some() {
        session.remember_linked_account(&group.name, facts.storage_account.clone()).await;
    }
    // The folder is looked for in the account the workspace is attached to, when pbi-backup can reach it; a
    // local store is not where Power BI keeps it.
    let store = match (session.settings.storage_account(), &facts.storage_account) {
        (Some(_), Some(attached)) => match session.account_store(attached) {
            Ok(store) => Some(store),
            Err(e) => {
                facts.storage_unreachable = Some(match session.settings.account_config(attached) {
                    Err(why) => why,
                    Ok(_) => e.to_string(),
                });
                None
            }
        },
        (Some(_), None) => session.store().ok(),
        (None, _) => None,
    };
    if let Some(store) = store
        && group.dataflow_storage_id.is_some()
        && let Ok(folder) = backup_folder(&group.name)
    {
        facts.folder = folder_state(store.as_ref(), &folder).await;
    }
}

/// Runs the rules relevant to `op`: the warnings when none blocks, [`Blocked`] when one does; an error when the
/// facts cannot be gathered.
pub(crate) async fn require(
    session: &Context,
    workspace: &str,
    op: Operation,
    what: &str,
) -> Result<std::result::Result<Vec<String>, Blocked>> {
    let (facts, tenant) = gather_facts(session, workspace).await?;
    Ok(verdict(evaluate(op, &facts, &tenant), what))
}

/// The warnings of findings none of which blocks; [`Blocked`] when one does.
pub(crate) fn verdict(
    findings: Vec<super::Finding>,
    what: &str,
) -> std::result::Result<Vec<String>, Blocked> {
    if findings.iter().any(|f| f.blocks()) {
        return Err(Blocked { what: what.to_owned(), findings });
    }
    Ok(warnings(&findings))
}

/// What the backup folder shows of the link (SEED-12's inference): absent, empty (made at attach time), holding
/// what the service wrote, or holding only what pbi-backup placed (its manifests say `placed_by`), which is no
/// evidence: the tool can write a folder into a dataflows-only link's account too. `None`: it could not be looked at.
async fn folder_state(
    store: &dyn adls_store::Store,
    folder: &adls_store::StorePath,
) -> Option<super::Folder> {
    use super::Folder;
    match store.folder_exists(folder).await {
        Ok(true) => {}
        Ok(false) => return Some(Folder::Absent),
        Err(_) => return None,
    }
    let mut entries = store.list(folder);
    let mut state = Folder::Empty;
    while let Some(entry) = entries.next().await {
        let Ok(entry) = entry else { return None };
        let name = entry.path.file_name().unwrap_or_default();
        if name.ends_with(crate::manifest::MANIFEST_SUFFIX) {
            state = Folder::OnlyPlaced;
            continue;
        }
        let placed = crate::layout::is_abf(name)
            && crate::manifest::read_manifest(store, &entry.path)
                .await
                .ok()
                .flatten()
                .is_some_and(|m| m.placed_by.is_some());
        if !placed {
            return Some(Folder::ServiceFiles);
        }
        state = Folder::OnlyPlaced;
    }
    Some(state)
}

/// The facts about one workspace the rules read, each with where it came from.
pub fn facts_of(ws: &WorkspaceFacts, tenant: &TenantFacts) -> Vec<Fact> {
    let from_service = |v: Option<String>| {
        let source = if v.is_some() { FactSource::Service } else { FactSource::Unknown };
        (v, source)
    };
    let attached = ws.group.as_ref().is_some_and(|g| g.dataflow_storage_id.is_some());
    let storage_location = super::storage_location(ws, tenant);
    let arm = |f: &dyn Fn(&crate::service::arm::ArmAccount) -> Option<String>| match &ws.arm {
        Some(Ok(a)) => match f(a) {
            Some(v) => (Some(v), FactSource::Arm),
            None => (None, FactSource::Unknown),
        },
        _ => (None, FactSource::Unknown),
    };
    let folder = ws.folder.map(|f| {
        match f {
            super::Folder::Absent => "absent",
            super::Folder::Empty => "empty",
            super::Folder::ServiceFiles => "holds backups",
            super::Folder::OnlyPlaced => "holds only files pbi-backup placed",
        }
        .to_owned()
    });
    let mut list = vec![
        ("capacity_region", from_service(ws.capacity.as_ref().map(|c| c.region.clone()))),
        ("capacity_sku", from_service(ws.capacity.as_ref().map(|c| c.sku.clone()))),
        (
            "caller_role",
            from_service(ws.caller.as_ref().map(|c| c.group_user_access_right.to_string())),
        ),
    ];
    if attached {
        list.extend([
            ("storage_account", from_service(ws.storage_account.clone())),
            ("storage_enabled", from_service(ws.storage_enabled.map(|e| e.to_string()))),
            ("storage_location", storage_location),
            ("backup_folder", from_service(folder)),
            ("storage_hierarchical_namespace", arm(&|a| a.hns.map(|h| h.to_string()))),
            (
                "storage_shared_key_access",
                arm(&|a| Some(a.allow_shared_key.unwrap_or(true).to_string())),
            ),
            ("storage_network_default_action", arm(&|a| a.default_action.clone())),
            ("storage_vnet_rules", arm(&|a| Some(a.vnet_rules.to_string()))),
            ("storage_private_endpoints", arm(&|a| Some(a.private_endpoints.to_string()))),
            ("storage_public_network_access", arm(&|a| a.public_network_access.clone())),
            ("storage_tenant", arm(&|a| a.tenant_id.clone())),
        ]);
    }
    list.into_iter()
        .map(|(name, (value, source))| Fact {
            workspace: Some(ws.name.clone()),
            name: name.to_owned(),
            value,
            source,
        })
        .collect()
}
