//! `prune`: retention in the style of restic's `forget`. A dry run unless `apply`; the newest verified backup of
//! each dataset is never deleted; a file whose time cannot be read is never deleted.

use super::files::delete_backup;
use super::output::{ErrorInfo, PruneDecision, PruneOutput, StaleUpload};
use super::{Context, backup_folder, backup_path, read_manifest, rfc3339, time_from_file_name};
use crate::error::Result;
use crate::retention::{BackupItem, RetentionPolicy, plan};

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Workspace folders.
    pub workspaces: Vec<String>,
    /// Only these datasets' backups (every dataset's when empty).
    pub datasets: Vec<String>,
    /// The policy.
    pub policy: RetentionPolicy,
    /// Delete (otherwise only report).
    pub apply: bool,
    /// Also report (and with `apply`, delete) uploads that never completed and were last changed longer ago than
    /// this; `None` leaves them alone.
    pub stale_uploads_after: Option<time::Duration>,
    /// Keep every backup made at or after this time (`run` passes its start: another run's backups in progress
    /// are never pruned).
    pub spare_after: Option<time::OffsetDateTime>,
}

/// The reason a backup made after the run began is kept.
const SPARED_AS_NEW: &str = "made after this run began";

/// What the workspace folders hold: the backups prune decides on, the files it cannot date, and manifests whose
/// backup is gone.
struct Found {
    items: Vec<BackupItem>,
    skipped: Vec<String>,
    orphans: Vec<adls_store::StorePath>,
}

async fn gather(session: &Context, options: &PruneOptions) -> Result<Found> {
    let mut found = Found { items: Vec::new(), skipped: Vec::new(), orphans: Vec::new() };
    for ws in &options.workspaces {
        // Each workspace's backups are in the storage account it is attached to.
        let store = session.workspace_store(ws).await?;
        let files = super::list_folder(store.as_ref(), &backup_folder(ws)?).await?;
        if options.datasets.is_empty() {
            found.orphans.extend(orphan_manifests(&files));
        }
        for f in files {
            let Some(name) = f.path.file_name().map(str::to_owned) else { continue };
            if !super::is_abf(&name) {
                continue;
            }
            let manifest = match read_manifest(store.as_ref(), &f.path).await {
                Ok(m) => m,
                // A manifest that does not read as one: the file is judged by its name, unverified.
                Err(crate::error::Error::ManifestUnreadable { .. }) => None,
                // The storage failing: deciding without the manifest could lose the backup the safety rule keeps
                // (the newest verified one), so nothing is decided.
                Err(e) => return Err(e),
            };
            let from_manifest = manifest.as_ref().and_then(|m| {
                let t = time::OffsetDateTime::parse(
                    &m.created,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                Some((m.dataset.name.clone(), t))
            });
            let Some((dataset, time)) = from_manifest.or_else(|| time_from_file_name(&name)) else {
                found.skipped.push(f.path.to_string());
                continue;
            };
            if !options.datasets.is_empty() && !options.datasets.contains(&dataset) {
                continue;
            }
            // Verified only while the stored file is the version whose bytes were hashed: a file replaced since
            // (of any size) is not the backup the safety rule keeps.
            let verified = crate::manifest::state(manifest.as_ref(), &f)
                == crate::manifest::VerifiedState::Verified;
            let drilled = manifest.as_ref().is_some_and(|m| m.drill_passed == Some(true));
            found.items.push(BackupItem {
                workspace: ws.clone(),
                dataset,
                file: name,
                time,
                verified,
                drilled,
            });
        }
    }
    Ok(found)
}

/// Plans (and with `apply`, carries out) the deletions.
pub async fn prune(session: &Context, options: &PruneOptions) -> Result<PruneOutput> {
    let Found { items, skipped, orphans } = gather(session, options).await?;
    let mut decisions = plan(&items, &options.policy, time::OffsetDateTime::now_utc())
        .map_err(|e| crate::error::Error::Usage(e.to_string()))?;
    if let Some(after) = options.spare_after {
        for d in decisions.iter_mut().filter(|d| !d.keep && d.item.time >= after) {
            d.keep = true;
            d.reasons.push(SPARED_AS_NEW.to_owned());
        }
    }
    let mut out = PruneOutput {
        dry_run: !options.apply,
        decisions: Vec::new(),
        deleted: Vec::new(),
        skipped,
        failed: Vec::new(),
        stale_uploads: Vec::new(),
        orphan_manifests: orphans.iter().map(ToString::to_string).collect(),
    };
    // Before anything of a dataset is deleted, one backup it keeps must be verified at that moment.
    let held =
        if options.apply { unconfirmed_groups(session, &decisions).await? } else { Vec::new() };
    for d in decisions {
        let item = &d.item;
        let group_held = held.iter().any(|(w, ds)| *w == item.workspace && *ds == item.dataset);
        out.decisions.push(PruneDecision {
            workspace: item.workspace.clone(),
            dataset: item.dataset.clone(),
            file: item.file.clone(),
            time: rfc3339(item.time),
            keep: d.keep,
            reasons: d.reasons.clone(),
        });
        if options.apply && !d.keep && group_held {
            out.failed.push(ErrorInfo::from(&crate::error::Error::Integrity(format!(
                "{}/{} was not deleted: no backup of dataset '{}' that prune keeps passes verification now, so nothing of it is deleted; run pbi-backup verify on its backups",
                item.workspace, item.file, item.dataset
            ))));
        } else if options.apply && !d.keep {
            let path = backup_path(&item.workspace, &item.file)?;
            let store = session.workspace_store(&item.workspace).await?;
            // One failed deletion neither hides the ones done nor stops the others.
            match delete_backup(store.as_ref(), &path).await {
                Ok(()) => out.deleted.push(path.to_string()),
                Err(e) => out.failed.push(ErrorInfo::from(&e)),
            }
        }
    }
    if options.apply {
        delete_orphans(session, &orphans, &mut out).await?;
    }
    if let Some(after) = options.stale_uploads_after {
        // Reported with the rest, so that the deletions already done are not hidden by a failed listing.
        if let Err(e) = stale_uploads(session, options, after, &mut out).await {
            out.failed.push(ErrorInfo::from(&e));
        }
    }
    Ok(out)
}

/// The manifests of a folder's listing whose `.abf` is not listed (a deletion interrupted between the two files).
fn orphan_manifests(files: &[adls_store::ObjectMeta]) -> Vec<adls_store::StorePath> {
    let names: std::collections::BTreeSet<&str> =
        files.iter().filter_map(|f| f.path.file_name()).collect();
    files
        .iter()
        .filter(|f| {
            f.path
                .file_name()
                .and_then(|n| n.strip_suffix(crate::manifest::MANIFEST_SUFFIX))
                .is_some_and(|abf| super::is_abf(abf) && !names.contains(abf))
        })
        .map(|f| f.path.clone())
        .collect()
}

/// Deletes the orphan manifests; one already gone counts as deleted.
async fn delete_orphans(
    session: &Context,
    orphans: &[adls_store::StorePath],
    out: &mut PruneOutput,
) -> Result<()> {
    for m in orphans {
        let store = session.workspace_store(m.workspace()).await?;
        match store.delete(m).await {
            Ok(()) | Err(adls_store::Error::NotFound { .. }) => out.deleted.push(m.to_string()),
            Err(e) => out.failed.push(ErrorInfo::from(&crate::error::Error::from(e))),
        }
    }
    Ok(())
}

/// The (workspace, dataset) groups that would lose backups while none of the backups they keep is verified now:
/// for each group with a deletion, the kept backups are tried newest first; one whose stored version is the one its
/// manifest recorded as verified counts (asked of the store now, not taken from the listing), and one whose version
/// changed or was never recorded is hashed now and counts when it matches its manifest (which then records it).
async fn unconfirmed_groups(
    session: &Context,
    decisions: &[crate::retention::Decision],
) -> Result<Vec<(String, String)>> {
    let mut held = Vec::new();
    let mut groups: Vec<(&str, &str)> = decisions
        .iter()
        .filter(|d| !d.keep)
        .map(|d| (d.item.workspace.as_str(), d.item.dataset.as_str()))
        .collect();
    groups.sort();
    groups.dedup();
    for (ws, ds) in groups {
        let store = session.workspace_store(ws).await?;
        let mut kept: Vec<&BackupItem> = decisions
            .iter()
            .filter(|d| d.keep && d.item.workspace == ws && d.item.dataset == ds)
            .map(|d| &d.item)
            .collect();
        kept.sort_by_key(|item| std::cmp::Reverse(item.time));
        let mut confirmed = false;
        for item in kept {
            let path = backup_path(&item.workspace, &item.file)?;
            if super::verified_now(session, store.as_ref(), &path).await? {
                confirmed = true;
                break;
            }
        }
        if !confirmed {
            held.push((ws.to_owned(), ds.to_owned()));
        }
    }
    Ok(held)
}

/// Finds uploads that never completed and were last changed before `now - after`; deletes them with `apply`.
/// One without a time is left alone: it may be running.
async fn stale_uploads(
    session: &Context,
    options: &PruneOptions,
    after: time::Duration,
    out: &mut PruneOutput,
) -> Result<()> {
    let cutoff = time::OffsetDateTime::now_utc() - after;
    // The local store lists its uploads in progress for every folder: each is reported once.
    let mut seen = std::collections::BTreeSet::new();
    for ws in &options.workspaces {
        let store = session.workspace_store(ws).await?;
        for upload in store.list_incomplete(&backup_folder(ws)?).await? {
            let stale = upload.last_modified.is_some_and(|t| t < cutoff);
            if !stale || !seen.insert(upload.location.clone()) {
                continue;
            }
            out.stale_uploads.push(StaleUpload {
                location: upload.location.clone(),
                size: upload.size,
                last_modified: upload.last_modified.map(rfc3339),
            });
            if options.apply {
                match store.delete_incomplete(&upload).await {
                    Ok(()) => out.deleted.push(upload.location.clone()),
                    Err(e) => out.failed.push(ErrorInfo::from(&crate::error::Error::from(e))),
                }
            }
        }
        // Copies a killed copy left under their staging name (a name only pbi-backup makes).
        for f in super::list_folder(store.as_ref(), &backup_folder(ws)?).await? {
            let staged =
                f.path.file_name().is_some_and(|n| n.ends_with(super::files::STAGING_SUFFIX));
            if !staged || f.last_modified.is_none_or(|t| t >= cutoff) {
                continue;
            }
            out.stale_uploads.push(StaleUpload {
                location: f.path.to_string(),
                size: Some(f.size),
                last_modified: f.last_modified.map(rfc3339),
            });
            if options.apply {
                match store.delete(&f.path).await {
                    Ok(()) => out.deleted.push(f.path.to_string()),
                    Err(e) => out.failed.push(ErrorInfo::from(&crate::error::Error::from(e))),
                }
            }
        }
    }
    Ok(())
}
