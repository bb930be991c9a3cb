//! `storage status|link|unlink|relink`: a workspace's link to its ADLS Gen2 account.

use adls_store::{PutMode, Store, StoreExt, StorePath};
use futures::StreamExt;

use super::{BACKUP_FILESYSTEM, Session, backup_folder};
use crate::error::{Error, Result};
use crate::output::{StorageChange, StorageStatus};
use crate::powerbi::ZERO_GUID;

/// The link, the folder and its backups, for each workspace.
pub async fn storage_status(
    session: &Session,
    workspaces: &[String],
) -> Result<Vec<StorageStatus>> {
    let api = session.api()?;
    let accounts = api.storage_accounts().await.unwrap_or_default();
    let mut out = Vec::new();
    for w in workspaces {
        let g = api.group_by_name(w).await?;
        let account = g.dataflow_storage_id.as_ref().map(|id| {
            accounts
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(id))
                .map(|a| a.name.clone())
                .unwrap_or_else(|| id.clone())
        });
        // Only the attached account holds the workspace's folder; another configured account says nothing of it.
        let other_account = matches!(
            (session.settings.storage_account(), &account),
            (Some(configured), Some(attached)) if !configured.eq_ignore_ascii_case(attached)
        );
        let (folder_exists, backups) = if session.settings.has_store() && !other_account {
            let store = session.store()?;
            // A folder that cannot be listed is unknown, not absent.
            match store.list_all(&backup_folder(&g.name)?).await {
                Ok(files) => {
                    let abf = files
                        .iter()
                        .filter(|f| f.path.file_name().is_some_and(super::is_abf))
                        .count();
                    (Some(!files.is_empty()), Some(abf))
                }
                Err(adls_store::Error::NotFound { .. }) => (Some(false), Some(0)),
                Err(_) => (None, None),
            }
        } else {
            (None, None)
        };
        out.push(StorageStatus { workspace: g.name, account, folder_exists, backups });
    }
    Ok(out)
}

/// Attaches a workspace to a registered storage account (by account name).
pub async fn storage_link(
    session: &Session,
    workspace: &str,
    account: &str,
) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    let accounts = api.storage_accounts().await?;
    let a = accounts.iter().find(|a| a.name == account).ok_or_else(|| Error::NotFound {
        what: "storage account",
        name: account.to_owned(),
        nearest: crate::nearest(account, accounts.iter().map(|a| a.name.as_str())),
    })?;
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
    api.assign_storage(&g.id, &a.id).await?;
    Ok(StorageChange {
        workspace: g.name,
        actions: vec![format!("attached to storage account '{account}'")],
        renamed_folder_to: None,
    })
}

/// Detaches a workspace's storage.
pub async fn storage_unlink(session: &Session, workspace: &str) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    api.assign_storage(&g.id, ZERO_GUID).await?;
    Ok(StorageChange {
        workspace: g.name,
        actions: vec!["detached from its storage account".into()],
        renamed_folder_to: None,
    })
}

/// Moves every file of a folder into another (there is no folder rename in the store API); the old folder is removed.
async fn move_folder(store: &dyn Store, from: &StorePath, to: &StorePath) -> Result<usize> {
    let mut files = Vec::new();
    let mut stream = store.list(from);
    while let Some(f) = stream.next().await {
        files.push(f?);
    }
    for f in &files {
        let name = f.path.file_name().unwrap_or_default();
        store.rename(&f.path, &to.join(name)?, PutMode::Create).await?;
    }
    match store.delete(from).await {
        Ok(()) | Err(adls_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(files.len())
}

/// Unlinks and relinks a workspace's storage (as a dataflows-only link needs, rule SEED-12). The existing backup
/// folder is renamed first, because relinking fails while it exists (rule SEED-13); the report says what it was
/// renamed to.
pub async fn storage_relink(session: &Session, workspace: &str) -> Result<StorageChange> {
    let api = session.api()?;
    let g = api.group_by_name(workspace).await?;
    let storage_id = g.dataflow_storage_id.clone().ok_or_else(|| {
        Error::Usage(format!(
            "workspace '{}' has no storage to relink; attach one with: pbi-backup storage link --workspace <name> --account <account>",
            g.name
        ))
    })?;
    let accounts = api.storage_accounts().await.unwrap_or_default();
    let linked =
        accounts.iter().find(|a| a.id.eq_ignore_ascii_case(&storage_id)).map(|a| a.name.clone());
    // The folder must be renamed in the account the workspace is attached to: renaming in another would leave the
    // real folder in place, and the re-attach would fail after the detach, leaving the workspace detached.
    if let (Some(linked), Some(configured)) = (&linked, session.settings.storage_account())
        && !linked.eq_ignore_ascii_case(configured)
    {
        return Err(Error::Usage(format!(
            "workspace '{}' is attached to storage account '{linked}', but pbi-backup is configured with '{configured}'; set PBI_BACKUP_ADLS_ACCOUNT (or storage.account) to '{linked}' and run the relink again; nothing was changed",
            g.name
        )));
    }
    // A local store is not where Power BI looks: the folder it would rename there is not the one that blocks.
    if session.settings.has_store() && session.settings.storage_account().is_none() {
        return Err(Error::Usage(format!(
            "storage relink renames the backup folder in the storage account of '{}'{}, but pbi-backup is configured with {}; set PBI_BACKUP_ADLS_ACCOUNT (or storage.account) instead; nothing was changed",
            g.name,
            linked.as_deref().map(|l| format!(" ('{l}')")).unwrap_or_default(),
            session.settings.store_description()
        )));
    }
    let store = session.store()?;
    let mut actions = Vec::new();
    let mut renamed = None;
    let folder = backup_folder(&g.name)?;
    // A folder that cannot be listed is not taken for absent: detaching, then failing to re-attach because it is
    // there, would leave the workspace detached.
    let exists = match store.list(&folder).next().await {
        Some(Ok(_)) => true,
        None | Some(Err(adls_store::Error::NotFound { .. })) => false,
        Some(Err(e)) => return Err(e.into()),
    };
    if exists {
        let stamp = super::default_file_name("x", time::OffsetDateTime::now_utc());
        let stamp = stamp.trim_start_matches("x_").trim_end_matches(".abf");
        let new_name = format!("{} (before relink {stamp})", g.name);
        let to = StorePath::folder(BACKUP_FILESYSTEM, &new_name)?;
        let moved = move_folder(store.as_ref(), &folder, &to).await?;
        actions.push(format!(
            "renamed power-bi-backup/{} to power-bi-backup/{new_name} ({moved} files)",
            g.name
        ));
        renamed = Some(format!("power-bi-backup/{new_name}"));
    } else {
        // Power BI creates the folder when storage is attached, so a workspace without backups yet has an empty one;
        // it lists as nothing but would still make the re-attach fail after the detach. Removed, it holds nothing.
        match store.delete(&folder).await {
            Ok(()) => actions.push(format!("removed the empty folder power-bi-backup/{}", g.name)),
            Err(adls_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    api.assign_storage(&g.id, ZERO_GUID).await?;
    actions.push("detached from its storage account".into());
    api.assign_storage(&g.id, &storage_id).await.map_err(|e| match e {
        Error::Refused { service, what, url, status, code, message } => Error::Refused {
            service,
            what,
            url,
            status,
            code,
            message: format!(
                "{message}; workspace '{}' is now detached from its storage: attach it again with pbi-backup storage link --workspace '{}' --account {}",
                g.name,
                g.name,
                linked.as_deref().unwrap_or("<account>")
            ),
        },
        other => other,
    })?;
    actions.push("attached again to the same account".into());
    // The declaration that made the preflight block (SEED-12) would go on blocking the relinked workspace.
    let preflight = &session.settings.file.preflight;
    if preflight.dataflows_only.iter().any(|w| w == &g.name || w == workspace) {
        let file = session
            .settings
            .config_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "pbi-backup.toml".into());
        actions.push(format!(
            "the link now supports backup: remove '{}' from preflight.dataflows-only in {file}",
            g.name
        ));
    }
    Ok(StorageChange { workspace: g.name, actions, renamed_folder_to: renamed })
}
