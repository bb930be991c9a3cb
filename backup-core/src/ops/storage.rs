//! `storage status|link|unlink|relink`: a workspace's link to its ADLS Gen2 account.

use std::sync::Arc;

use adls_store::{Store, StoreExt, StorePath};

use super::output::{StorageChange, StorageStatus};
use super::{BACKUP_FILESYSTEM, Context, backup_folder};
use crate::error::{Error, Result};
use crate::service::powerbi::{WorkspaceRole, ZERO_GUID};

/// The link, the folder and its backups, for each workspace.
pub async fn storage_status(
    session: &Context,
    workspaces: &[String],
) -> Result<Vec<StorageStatus>> {
    let api = session.api()?;
    let accounts = api.storage_accounts().await.unwrap_or_default();
    let mut out = Vec::new();
    for w in workspaces {
        let g = api.group_by_name(w).await?;
        let account = g.dataflow_storage_id.as_ref().map(|id| {
            crate::service::powerbi::linked_account(&accounts, &g)
                .map_or_else(|| id.clone(), |a| a.name.clone())
        });
        // Only the attached account holds the workspace's folder: it is looked for there, when pbi-backup can reach
        // that account; another account says nothing of it.
        let store = match (session.settings.storage_account(), &account) {
            (Some(_), Some(attached)) => session.account_store(attached).ok(),
            _ if session.settings.has_store() => Some(session.store()?),
            _ => None,
        };
        let (folder_exists, backups) = if let Some(store) = store {
            // A folder that cannot be looked at is unknown, not absent; an empty one exists.
            let folder = backup_folder(&g.name)?;
            match store.folder_exists(&folder).await {
                Ok(false) => (Some(false), Some(0)),
                Ok(true) => match store.list_all(&folder).await {
                    Ok(files) => {
                        let abf = files
                            .iter()
                            .filter(|f| f.path.file_name().is_some_and(super::is_abf))
                            .count();
                        (Some(true), Some(abf))
                    }
                    Err(_) => (Some(true), None),
                },
                Err(_) => (None, None),
            }
        } else {
            (None, None)
        };
        out.push(StorageStatus { workspace: g.name, account, folder_exists, backups });
    }
    Ok(out)
}

/// The registered storage account named `account`.
/// The registered account to attach a workspace to; one the service lists as disabled is refused before anything
/// changes, as the service would refuse the attach ("storage account must be enabled").
fn find_account<'a>(
    accounts: &'a [crate::service::powerbi::StorageAccount],
    account: &str,
) -> Result<&'a crate::service::powerbi::StorageAccount> {
    let a = accounts.iter().find(|a| a.name.eq_ignore_ascii_case(account)).ok_or_else(|| {
        Error::NotFound {
            what: "storage account",
            name: account.to_owned(),
            nearest: crate::names::nearest(account, accounts.iter().map(|a| a.name.as_str())),
        }
    })?;
    if a.is_enabled == Some(false) {
        return Err(Error::Usage(format!(
            "storage account '{}' is registered in Power BI but disabled, and a disabled account cannot be attached: a Power BI administrator enables it (Admin portal > Azure connections), or name another account",
            a.name
        )));
    }
    Ok(a)
}

/// Attaches a workspace to a registered storage account (by account name). A backup folder left from an earlier
/// link makes the service refuse the attach (SEED-13), so it is renamed first, as `relink` does.
pub async fn storage_link(
    session: &Context,
    workspace: &str,
    account: &str,
) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    let accounts = api.storage_accounts().await?;
    let a = find_account(&accounts, account)?;
    // Attaching again to the same account is refused by the service (its backup folder exists): nothing to do.
    if g.dataflow_storage_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(&a.id)) {
        return Ok(StorageChange {
            workspace: g.name,
            actions: vec![format!(
                "already attached to storage account '{account}'; nothing was changed"
            )],
            renamed_folder_to: None,
        });
    }
    // The folder can be cleared only in an account pbi-backup can reach; in another, a refusal says how to run it
    // there.
    require_admin(session, &g).await?;
    let here =
        session.settings.storage_account().is_some() && session.account_store(&a.name).is_ok();
    let cleared =
        if here { Some(clear_folder(session, &g.name, Some(&a.name)).await?) } else { None };
    if let Err(e) = api.assign_storage(&g.id, &a.id).await {
        // The workspace was left as it was (detached, or attached elsewhere): the folder goes back.
        return Err(match &cleared {
            Some(c) => c.undo(still_detached(e, &g.name, &a.name)).await,
            None => e.saying(&format!(
                "if power-bi-backup/{0} exists in '{1}' (SEED-13), rename it first by running the link with that account configured: PBI_BACKUP_ADLS_ACCOUNT={1} pbi-backup storage link --workspace '{0}' --account {1}",
                g.name, a.name
            )),
        });
    }
    let renamed = cleared.as_ref().and_then(Cleared::renamed_to);
    let mut actions = cleared.map(|c| c.actions).unwrap_or_default();
    actions.push(format!("attached to storage account '{}'", a.name));
    Ok(StorageChange { workspace: g.name, actions, renamed_folder_to: renamed })
}

/// Attaching or detaching storage is for workspace admins only (`AssignToDataflowStorage`, `power-bi-rules.md`
/// [C6]). The caller's role is read before the folder is touched, so that a change the service will refuse moves
/// nothing; a role that cannot be read (held through a group, roles not listable) is left to the service to judge.
async fn require_admin(session: &Context, g: &crate::service::powerbi::Group) -> Result<()> {
    let caller = session.caller_in(&g.id).await?;
    match caller.user.map(|u| u.group_user_access_right) {
        Some(WorkspaceRole::Admin) | None => Ok(()),
        Some(role) => Err(Error::Usage(format!(
            "only workspace admins can attach or detach storage; the caller is {role} of '{}'; nothing was changed: ask an admin of the workspace to run it",
            g.name
        ))),
    }
}

/// Detaches a workspace's storage. The backup folder stays in the account; the report says that attaching again
/// needs it renamed first, and which command does it.
pub async fn storage_unlink(session: &Context, workspace: &str) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    let linked = match &g.dataflow_storage_id {
        Some(id) => api
            .storage_accounts()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .map(|a| a.name),
        None => None,
    };
    api.assign_storage(&g.id, ZERO_GUID).await?;
    let account = linked.as_deref().unwrap_or("<account>");
    Ok(StorageChange {
        workspace: g.name.clone(),
        actions: vec![
            "detached from its storage account".into(),
            format!(
                "its backups stay in power-bi-backup/{} of '{account}'; attaching again fails while that folder exists (SEED-13): pbi-backup storage link --workspace '{}' --account {account} renames it first",
                g.name, g.name
            ),
        ],
        renamed_folder_to: None,
    })
}

/// An attach that failed after the folder was cleared: what it means and the command that finishes the job.
fn still_detached(e: Error, workspace: &str, account: &str) -> Error {
    e.saying(&format!(
        "workspace '{workspace}' is not attached to storage: attach it with pbi-backup storage link --workspace '{workspace}' --account {account}"
    ))
}

/// Renames the backup folder of `workspace` out of the way (or removes it when empty), in the storage account
/// `account` that the workspace is (or will be) attached to, because attaching fails while it exists (SEED-13).
/// Returns what it did and the folder's new name.
async fn clear_folder(
    session: &Context,
    workspace: &str,
    account: Option<&str>,
) -> Result<Cleared> {
    // A local store is not where Power BI looks: the folder it would rename there is not the one that blocks.
    if session.settings.storage_account().is_none() {
        return Err(Error::Usage(format!(
            "attaching storage renames the backup folder in the storage account of '{workspace}'{}, but pbi-backup is configured with {}; set PBI_BACKUP_ADLS_ACCOUNT (or storage.account) instead; nothing was changed",
            account.map(|l| format!(" ('{l}')")).unwrap_or_default(),
            session.settings.store_description()
        )));
    }
    // The folder must be renamed in the account the workspace is attached to: renaming in another would leave the
    // real folder in place, and the attach would fail (after a detach, leaving the workspace detached).
    let store = match account {
        Some(linked) => session.account_store(linked).map_err(|e| {
            let why = session.settings.account_config(linked).err().unwrap_or_else(|| e.to_string());
            Error::Usage(format!(
                "workspace '{workspace}' is (to be) attached to storage account '{linked}', which pbi-backup cannot reach: {why}; nothing was changed"
            ))
        })?,
        None => session.store()?,
    };
    let folder = backup_folder(workspace)?;
    // A folder that cannot be looked at is not taken for absent: detaching, then failing to re-attach because it
    // is there, would leave the workspace detached.
    if !store.folder_exists(&folder).await? {
        return Ok(Cleared::nothing(store));
    }
    // Power BI creates the folder when storage is attached, so a workspace without backups yet has an empty one;
    // it would still make the attach fail. A non-recursive delete removes it only if it holds nothing at all.
    if store.remove_empty_folder(&folder).await? {
        let action = format!("removed the empty folder power-bi-backup/{workspace}");
        return Ok(Cleared { store, actions: vec![action], renamed: None });
    }
    // It holds something (backups, other tools' files, subfolders): the folder itself is renamed, in one call,
    // whatever it holds; nothing is copied or deleted.
    // The count is for the report only: a listing that fails does not stop the rename, and is not taken for none.
    let files = match store.list_all(&folder).await {
        Ok(f) => format!("{} files", f.len()),
        Err(e) => format!("its files could not be counted: {e}"),
    };
    let stamp = super::default_file_name("x", time::OffsetDateTime::now_utc());
    let stamp = stamp.trim_start_matches("x_").trim_end_matches(".abf");
    let (new_name, to) = free_folder(store.as_ref(), workspace, stamp).await?;
    store.rename_folder(&folder, &to).await?;
    let action =
        format!("renamed power-bi-backup/{workspace} to power-bi-backup/{new_name} ({files})");
    Ok(Cleared { store, actions: vec![action], renamed: Some((folder, to, new_name)) })
}

/// What clearing a workspace's backup folder did, so that a failed link can undo it.
struct Cleared {
    store: Arc<dyn Store>,
    actions: Vec<String>,
    /// The folder, where it went, and its new name.
    renamed: Option<(StorePath, StorePath, String)>,
}

impl Cleared {
    /// Nothing was there to clear.
    fn nothing(store: Arc<dyn Store>) -> Cleared {
        Cleared { store, actions: Vec::new(), renamed: None }
    }

    /// The folder's new name, as the report shows it.
    fn renamed_to(&self) -> Option<String> {
        self.renamed.as_ref().map(|(_, _, name)| format!("power-bi-backup/{name}"))
    }

    /// After the service refused the link change and left the workspace as it was: puts the folder back, and says
    /// so in `e` (or where the folder is, when it cannot be put back).
    async fn undo(&self, e: Error) -> Error {
        let Some((folder, to, new_name)) = &self.renamed else { return e };
        match self.store.rename_folder(to, folder).await {
            Ok(()) => e.saying(&format!(
                "nothing was changed: power-bi-backup/{new_name} was renamed back to {folder}"
            )),
            Err(back) => e.saying(&format!(
                "the backups are in power-bi-backup/{new_name}, which could not be renamed back ({back}): rename it to {folder} to undo"
            )),
        }
    }
}

/// A folder name for the old backups no folder has: `<workspace> (before relink <time>)`, numbered when an earlier
/// rename in the same second took it.
async fn free_folder(
    store: &dyn Store,
    workspace: &str,
    stamp: &str,
) -> Result<(String, StorePath)> {
    for n in 1u32.. {
        let name = match n {
            1 => format!("{workspace} (before relink {stamp})"),
            n => format!("{workspace} (before relink {stamp} {n})"),
        };
        let path = StorePath::folder(BACKUP_FILESYSTEM, &name)?;
        if !store.folder_exists(&path).await? {
            return Ok((name, path));
        }
    }
    unreachable!("u32 names run out only after four billion renames in one second")
}

/// Unlinks and relinks a workspace's storage (as a dataflows-only link needs, rule SEED-12). The existing backup
/// folder is renamed first, because relinking fails while it exists (rule SEED-13); the report says what it was
/// renamed to. A workspace already detached is attached to `account`.
pub async fn storage_relink(
    session: &Context,
    workspace: &str,
    account: Option<&str>,
) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    let accounts = api.storage_accounts().await.unwrap_or_default();
    let (storage_id, name) = match (&g.dataflow_storage_id, account) {
        (_, Some(account)) => {
            let a = find_account(&accounts, account)?;
            (a.id.clone(), a.name.clone())
        }
        (Some(id), None) => {
            let linked = accounts.iter().find(|a| a.id.eq_ignore_ascii_case(id));
            (id.clone(), linked.map_or_else(|| "<account>".to_owned(), |a| a.name.clone()))
        }
        (None, None) => {
            return Err(Error::Usage(format!(
                "workspace '{}' is not attached to storage; name the account to attach: pbi-backup storage relink --workspace '{}' --account <account>",
                g.name, g.name
            )));
        }
    };
    require_admin(session, &g).await?;
    let known = (name != "<account>").then_some(name.as_str());
    let cleared = clear_folder(session, &g.name, known).await?;
    let renamed = cleared.renamed_to();
    if g.dataflow_storage_id.is_some()
        && let Err(e) = api.assign_storage(&g.id, ZERO_GUID).await
    {
        // Still attached as before: the folder goes back where the service expects it.
        return Err(cleared.undo(e).await);
    }
    let mut actions = cleared.actions.clone();
    if g.dataflow_storage_id.is_some() {
        actions.push("detached from its storage account".into());
    }
    api.assign_storage(&g.id, &storage_id).await.map_err(|e| still_detached(e, &g.name, &name))?;
    actions.push(format!("attached to storage account '{name}'"));
    if let Some(note) = declared_dataflows_only(session, &g.name, workspace) {
        actions.push(note);
    }
    Ok(StorageChange { workspace: g.name, actions, renamed_folder_to: renamed })
}

/// The declaration that made the preflight block (SEED-12) would go on blocking the relinked workspace: the note
/// that says to remove it.
fn declared_dataflows_only(session: &Context, name: &str, asked: &str) -> Option<String> {
    let preflight = &session.settings.file.preflight;
    if !preflight.dataflows_only.iter().any(|w| w == name || w == asked) {
        return None;
    }
    let file = session
        .settings
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pbi-backup.toml".into());
    Some(format!(
        "the link now supports backup: remove '{name}' from preflight.dataflows-only in {file}"
    ))
}
