//! Files in workspace folders: `list`, `download`, `upload`, `copy`, `verify`, `inspect`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adls_store::{DownloadOptions, PutMode, Store, StoreExt, StorePath, Verified};

use super::output::{ListOutput, ListedBackup, TransferOutput, TransferVerification, VerifyOutput};
use super::remote::RemoteReader;
use super::{
    Context, Outcome, backup_folder, backup_path, hash_file, read_manifest, rfc3339,
    time_from_file_name,
};
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_SUFFIX, Manifest, StoredVersion, VerifiedState};
use crate::preflight::{Operation, require};
use crate::progress::{Task, Unit};

/// The `.abf` files of a workspace folder with what their manifests say, newest first.
pub async fn list(session: &Context, workspace: &str) -> Result<ListOutput> {
    let store = session.workspace_store(workspace).await?;
    let folder = backup_folder(workspace)?;
    let files = match store.list_all(&folder).await {
        Ok(f) => f,
        Err(adls_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    // No files (a folder that is missing lists as empty in some stores): a misspelt workspace is said so, with the
    // nearest names, when the REST API can tell; a real one simply has no backups here.
    if files.is_empty() && session.settings.credential().is_ok() {
        super::missing_folder(session, workspace).await?;
    }
    let mut backups = Vec::new();
    for f in &files {
        let Some(name) = f.path.file_name() else { continue };
        if !super::is_abf(name) {
            continue;
        }
        // A manifest that does not read leaves the backup unverified; the storage failing is an error, not "no
        // manifest" (which would show every backup unverified, or pass the newest by).
        let manifest = match read_manifest(store.as_ref(), &f.path).await {
            Ok(m) => m,
            Err(Error::ManifestUnreadable { .. }) => None,
            Err(e) => return Err(e),
        };
        let state = crate::manifest::state(manifest.as_ref(), f);
        backups.push(ListedBackup {
            name: name.to_owned(),
            size: f.size,
            time: manifest
                .as_ref()
                .map(|m| m.created.clone())
                .or_else(|| time_from_file_name(name).map(|(_, t)| rfc3339(t)))
                .or_else(|| f.last_modified.map(rfc3339)),
            dataset: manifest
                .as_ref()
                .map(|m| m.dataset.name.clone())
                .or_else(|| time_from_file_name(name).map(|(d, _)| d)),
            verified: state == VerifiedState::Verified,
            state,
            definition: manifest
                .as_ref()
                .and_then(|m| m.definition.as_ref())
                .map(|d| d.sha256.clone()),
            definition_changed: None,
            drilled_at: manifest.as_ref().and_then(|m| m.drilled_at.clone()),
            drill_passed: manifest.as_ref().and_then(|m| m.drill_passed),
            sha256: manifest.map(|m| m.sha256),
        });
    }
    // By instant, not by text: a manifest may write its time with any offset.
    let instant = |b: &ListedBackup| {
        b.time.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    backups.sort_by(|a, b| instant(b).cmp(&instant(a)).then(a.name.cmp(&b.name)));
    // Each backup against the dataset's next older one that has a fingerprint.
    for i in 0..backups.len() {
        let older = backups[i + 1..]
            .iter()
            .find(|b| b.dataset == backups[i].dataset && b.definition.is_some())
            .and_then(|b| b.definition.clone());
        backups[i].definition_changed =
            backups[i].definition.as_ref().zip(older).map(|(now, before)| *now != before);
    }
    Ok(ListOutput { workspace: workspace.to_owned(), backups })
}

fn partial_name(local: &Path) -> PathBuf {
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(".pbi-backup-partial");
    local.with_file_name(name)
}

/// Downloads a backup for offline keeping: resumable (a `<file>.pbi-backup-partial` left by an interrupted run is
/// continued from its length), verified (against the manifest, else the hash kept with the file), atomic (the
/// final name appears only when the whole file is synced and verified). The manifest is saved beside it.
pub async fn download(
    session: &Context,
    workspace: &str,
    file: &str,
    local: &Path,
) -> Result<TransferOutput> {
    let store = session.workspace_store(workspace).await?;
    let path = backup_path(workspace, file)?;
    let meta = match store.head(&path).await {
        Ok(m) => m,
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(super::missing_file(session, &path).await);
        }
        Err(e) => return Err(e.into()),
    };
    let manifest = read_manifest(store.as_ref(), &path).await?;
    if local.exists() {
        return Err(Error::Usage(format!(
            "{} exists; remove it or choose another destination",
            local.display()
        )));
    }
    let task: Arc<dyn Task> = Arc::from(session.progress().start(
        &format!("downloading {file}"),
        Some(meta.size),
        Unit::Bytes,
    ));
    let progress_task = Arc::clone(&task);
    let options = DownloadOptions {
        partial: Some(partial_name(local)),
        expected: manifest.as_ref().map(|m| (m.size, m.sha256.clone())),
        progress: Some(Arc::new(move |n| progress_task.inc(n))),
    };
    let done = store.download_to_file_with(&path, local, &options).await.map_err(|e| match e {
        adls_store::Error::Integrity { path, expected, actual } => {
            let source =
                if manifest.is_some() { "the manifest" } else { "the hash kept with the file" };
            Error::Integrity(format!(
                "{path}: {source} says {expected}, but the download has {actual}; nothing was kept"
            ))
        }
        e => e.into(),
    })?;
    task.finish();
    let verification = match done.verified {
        Verified::Expected => TransferVerification::Manifest,
        Verified::Stored => TransferVerification::StoredHash,
        Verified::Unverified => TransferVerification::Unverified,
    };
    let (have, sha) = (done.meta.size, done.sha256);
    if let Some(m) = &manifest {
        let mp = local.with_file_name(format!(
            "{}{MANIFEST_SUFFIX}",
            local.file_name().unwrap_or_default().to_string_lossy()
        ));
        write_atomically(&mp, serde_json::to_vec_pretty(m).expect("plain data")).await?;
    }
    Ok(TransferOutput {
        source: path.to_string(),
        destination: local.display().to_string(),
        size: have,
        sha256: sha,
        warnings: Vec::new(),
        verification,
    })
}

/// Writes a small local file under its final name only when it is whole and synced: a temporary name beside it,
/// then a rename. A disk that fills leaves no half-written manifest behind.
async fn write_atomically(path: &Path, body: Vec<u8>) -> Result<()> {
    let final_path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut tmp = final_path.clone().into_os_string();
        tmp.push(".pbi-backup-tmp");
        let tmp = PathBuf::from(tmp);
        let written = (|| {
            use std::io::Write;
            let mut f = adls_store::owner_only(&mut std::fs::OpenOptions::new())
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &final_path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| io_err(&final_path, e))
    })
    .await
    .map_err(|e| Error::Internal(format!("writing {} stopped: {e}", path.display())))?
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

/// Refuses to write into a workspace folder that does not exist, unless `create` is set: Power BI creates the folder
/// when storage is attached, so a missing one is most likely a misspelt workspace name.
async fn require_folder(
    session: &Context,
    store: &dyn adls_store::Store,
    workspace: &str,
    create: bool,
) -> Result<()> {
    if create {
        // A folder is made only for a workspace that exists, when a Power BI sign-in can tell (a misspelt name
        // would otherwise get a folder of its own); the API failing is said, not taken for a yes.
        if session.settings.credential().is_ok() {
            crate::service::powerbi::find_group(&session.groups().await?, workspace)?;
        }
        return Ok(());
    }
    if store.folder_exists(&backup_folder(workspace)?).await? {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "the backup folder power-bi-backup/{workspace} does not exist; Power BI creates it when storage is attached to the workspace: check the workspace name, or pass --create-folder"
        )))
    }
}

/// Uploads a kept `.abf` (and its manifest, when one lies beside it) into a workspace folder, for a restore. The
/// folder must exist unless `create_folder`.
pub async fn upload(
    session: &Context,
    local: &Path,
    workspace: &str,
    file: Option<&str>,
    overwrite: bool,
    create_folder: bool,
) -> Result<TransferOutput> {
    let name = match file {
        Some(f) => f.to_owned(),
        None => local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage(format!("{} names no file", local.display())))?,
    };
    check_abf_name(&name)?;
    let report = inspect_local(local, abf_format::InspectOptions::default())?;
    // A password-protected backup cannot be checked past its header, and is restorable with its password.
    let encrypted = report.container.as_ref().is_some_and(|r| r.encrypted);
    if !report.valid && !encrypted {
        return Err(Error::Integrity(format!(
            "{} is not a whole .abf backup: {}",
            local.display(),
            report
                .container
                .map(|r| r.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        )));
    }
    let manifest = local_manifest_checked(local).await?;
    let store = session.workspace_store(workspace).await?;
    store.ensure_filesystem(super::BACKUP_FILESYSTEM).await?;
    require_folder(session, store.as_ref(), workspace, create_folder).await?;
    let path = backup_path(workspace, &name)?;
    let mode = if overwrite { PutMode::Overwrite } else { PutMode::Create };
    if !overwrite && store.exists(&path).await? {
        return Err(Error::Usage(format!("{path} exists; pass --overwrite to replace it")));
    }
    let hashed =
        send_staged(session, store.as_ref(), local, (&path, mode), manifest.as_ref()).await?;
    let (size, sha) = (hashed.size, hashed.sha256.clone());
    let verification = put_manifest(store.as_ref(), &hashed, manifest, "upload").await?;
    Ok(TransferOutput {
        source: local.display().to_string(),
        destination: path.to_string(),
        size,
        sha256: sha,
        warnings: Vec::new(),
        verification,
    })
}

/// Uploads `local` under a staging name beside `path` and compares it there: the hash of the bytes sent (one read)
/// against `manifest`, and the stored bytes against the bytes sent; only then renames it over `path`, so that a file
/// that changed while it was sent (or a failed read-back) leaves a backup already there as it was.
async fn send_staged(
    session: &Context,
    store: &dyn Store,
    local: &Path,
    (path, mode): (&StorePath, PutMode),
    manifest: Option<&Manifest>,
) -> Result<super::Hashed> {
    let name = path.file_name().unwrap_or_default();
    let staged = staging_name(path)?;
    let size_hint = std::fs::metadata(local).ok().map(|m| m.len());
    let task: Arc<dyn Task> =
        Arc::from(session.progress().start(&format!("uploading {name}"), size_hint, Unit::Bytes));
    let progress_task = Arc::clone(&task);
    let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| progress_task.inc(n));
    let uploaded = store.upload_file_with(local, &staged, PutMode::Create, Some(progress)).await;
    task.finish();
    let meta = match uploaded {
        Ok(m) => m,
        Err(e) => {
            let _ = store.delete(&staged).await;
            return Err(e.into());
        }
    };
    let refuse = async |why: String| {
        let _ = store.delete(&staged).await;
        Err(Error::Integrity(format!("{why}; the upload was removed and {path} left as it was")))
    };
    // The bytes sent (hashed as they were read, one read) must be the bytes the manifest describes: the file may
    // have changed since it was checked.
    if let Some(m) = manifest
        && (meta.sha256.as_deref() != Some(m.sha256.as_str()) || meta.size != m.size)
    {
        return refuse(format!(
            "{} changed while it was sent: {} bytes with sha256 {} were sent, where its manifest has {} bytes with sha256 {}",
            local.display(),
            meta.size,
            meta.sha256.as_deref().unwrap_or("unknown"),
            m.size,
            m.sha256
        ))
        .await;
    }
    // Read back: the stored bytes must hash like the bytes that were sent.
    let hashed = match hash_file(store, &staged, None, session.progress()).await {
        Ok(h) => h,
        Err(e) => {
            let _ = store.delete(&staged).await;
            return Err(e);
        }
    };
    let (size, sha) = (hashed.size, hashed.sha256.clone());
    if meta.sha256.as_deref() != Some(sha.as_str()) || meta.size != size {
        return refuse(format!(
            "{path} read back as {size} bytes with sha256 {sha}, but {} bytes with sha256 {} were sent",
            meta.size,
            meta.sha256.as_deref().unwrap_or("unknown")
        ))
        .await;
    }
    promote(store, &staged, path, mode).await?;
    let hashed = super::Hashed { meta: store.head(path).await?, ..hashed };
    Ok(hashed)
}

/// The manifest lying beside a local file, checked against the file before anything is sent: a replaced backup
/// cannot come back.
async fn local_manifest_checked(local: &Path) -> Result<Option<Manifest>> {
    let path = local.with_file_name(format!(
        "{}{MANIFEST_SUFFIX}",
        local.file_name().unwrap_or_default().to_string_lossy()
    ));
    let manifest: Manifest = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Integrity(format!("{} does not read: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, e)),
    };
    let (size, sha) = adls_store::hash_local_file(local).await.map_err(|e| io_err(local, e))?;
    if manifest.sha256 != sha || manifest.size != size {
        return Err(Error::Integrity(format!(
            "{} does not match its manifest (sha256 {sha} vs {}); nothing was sent",
            local.display(),
            manifest.sha256
        )));
    }
    Ok(Some(manifest))
}

/// Writes the manifest of a file just stored under `path` (renamed to it), or removes a stale one: a manifest left
/// by the file an overwrite replaced describes other bytes, and list would call the new file verified.
pub(super) async fn put_manifest(
    store: &dyn Store,
    stored: &super::Hashed,
    manifest: Option<Manifest>,
    placed_by: &str,
) -> Result<TransferVerification> {
    let path = &stored.meta.path;
    let name = path.file_name().unwrap_or_default();
    let mp = path.folder_path().join(&Manifest::name_for(name))?;
    if let Some(mut m) = manifest {
        m.file = name.to_owned();
        m.placed_by = Some(placed_by.to_owned());
        // The copy was read back whole and hashed like the source: it is verified as this version.
        m.verified_version = Some(StoredVersion::of(&stored.meta));
        let body = serde_json::to_vec_pretty(&m).expect("plain data");
        store.put(&mp, body.into(), PutMode::Overwrite).await?;
        return Ok(TransferVerification::Manifest);
    }
    match store.delete(&mp).await {
        Ok(()) | Err(adls_store::Error::NotFound { .. }) => Ok(TransferVerification::ReadBack),
        Err(e) => Err(e.into()),
    }
}

fn check_abf_name(name: &str) -> Result<()> {
    if !super::is_abf(name) {
        return Err(Error::Usage(format!(
            "'{name}' is not an .abf file name; Power BI restores .abf backups only"
        )));
    }
    Ok(())
}

/// Renames a verified staging file over its final name (an upload's or a copy's); on failure the staging file goes,
/// and a target that exists without `--overwrite` is said as such.
async fn promote(
    store: &dyn Store,
    staged: &StorePath,
    to: &StorePath,
    mode: PutMode,
) -> Result<()> {
    if let Err(e) = store.rename(staged, to, mode).await {
        let _ = store.delete(staged).await;
        return Err(match e {
            adls_store::Error::AlreadyExists { .. } => {
                Error::Usage(format!("{to} exists; pass --overwrite to replace it"))
            }
            other => other.into(),
        });
    }
    Ok(())
}

/// Copies a file between workspace folders, each in the store of its workspace's account, then reads the copy back
/// and checks it against the source's hash; copies the manifest too.
///
/// The storage service makes the copy, within one account or between two (ADLS: the target's service reads the
/// source), so the bytes do not pass through pbi-backup before the read-back. They stream through pbi-backup (read
/// from one store, written to the other, never held whole) where a store has no such service (the local disk), or
/// when the target's service may not read the source (a warning says so).
pub(crate) async fn copy_verified(
    session: &Context,
    (source, from): (&dyn Store, &StorePath),
    (target, to): (&dyn Store, &StorePath),
    overwrite: bool,
) -> Result<TransferOutput> {
    let manifest = read_manifest(source, from).await?;
    let (src_size, src_sha) = match &manifest {
        Some(m) => (m.size, m.sha256.clone()),
        None => {
            let h = hash_file(source, from, None, session.progress()).await?;
            (h.size, h.sha256)
        }
    };
    let mode = if overwrite { PutMode::Overwrite } else { PutMode::Create };
    if !overwrite && adls_store::StoreExt::exists(target, to).await? {
        return Err(Error::Usage(format!("{to} exists; pass --overwrite to replace it")));
    }
    // The copy is made under a staging name beside the target and verified there; only a verified copy is renamed
    // over the target, so that a copy that fails (or a source changed since it was verified) leaves a good backup
    // already there as it was.
    let staged = staging_name(to)?;
    let mut warnings = Vec::new();
    let copied = copy_between(
        session,
        (source, from),
        (target, &staged),
        src_size,
        PutMode::Create,
        &mut warnings,
    )
    .await;
    if let Err(e) = copied {
        let _ = target.delete(&staged).await;
        return Err(e.into());
    }
    let against = if manifest.is_some() { "its manifest" } else { "the source as first read" };
    let differs = |sha: &str| {
        Error::Integrity(format!(
            "the copy of {from} does not match {against} (sha256 {sha} vs {src_sha}): {from} may have changed since it was verified; the copy was removed and {to} left as it was"
        ))
    };
    let copied = match hash_file(target, &staged, None, session.progress()).await {
        Ok(h) => h,
        Err(e) => {
            let _ = target.delete(&staged).await;
            // The copy keeps the source's recorded hash, which the bytes copied no longer match.
            return Err(match e {
                Error::Storage(adls_store::Error::Integrity { actual, .. }) => differs(&actual),
                other => other,
            });
        }
    };
    let (size, sha) = (copied.size, copied.sha256.clone());
    if size != src_size || sha != src_sha {
        let _ = target.delete(&staged).await;
        return Err(differs(&sha));
    }
    promote(target, &staged, to, mode).await?;
    let copied = super::Hashed { meta: target.head(to).await?, ..copied };
    put_manifest(target, &copied, manifest, "copy").await?;
    Ok(TransferOutput {
        source: from.to_string(),
        destination: to.to_string(),
        size,
        sha256: sha,
        warnings,
        verification: TransferVerification::Source,
    })
}

/// How the name of a copy being verified ends: `prune` removes one a killed copy left, once it is stale.
pub(crate) const STAGING_SUFFIX: &str = ".pbi-backup-staging";

/// A name beside `to` for a copy being verified: not a backup's name (`list`, `prune` and `restore` pass it by), and
/// one no other copy uses.
fn staging_name(to: &StorePath) -> Result<StorePath> {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let name = format!(
        "{}.{}-{nanos}{STAGING_SUFFIX}",
        to.file_name().unwrap_or_default(),
        std::process::id()
    );
    Ok(to.folder_path().join(&name)?)
}

/// A copy from one store to another or the same: made by the target's service when both stores have one (falling
/// back, with a warning, when that service may not read the source), by the store itself within one local store,
/// else streamed through this process, never held whole (`size`, the source's, is for the progress bar).
async fn copy_between(
    session: &Context,
    (source, from): (&dyn Store, &StorePath),
    (target, to): (&dyn Store, &StorePath),
    size: u64,
    mode: PutMode,
    warnings: &mut Vec<String>,
) -> adls_store::Result<()> {
    if let (Some(reader), Some(writer)) = (source.server_copy(), target.server_copy()) {
        let src = reader.copy_source(from).await?;
        let task = session.progress().start(
            &format!("copying {from} to {to} in the storage service"),
            None,
            Unit::Bytes,
        );
        let made = writer.copy_from_source(&src, to, mode).await;
        task.finish();
        match made {
            Ok(()) => return Ok(()),
            Err(adls_store::Error::PermissionDenied { detail, .. }) => warnings.push(format!(
                "the storage service of {to} may not read {from} ({detail}); the bytes went through pbi-backup instead"
            )),
            Err(e) => return Err(e),
        }
    }
    let task =
        session.progress().start(&format!("copying {from} to {to}"), Some(size), Unit::Bytes);
    adls_store::stream_copy((source, from), (target, to), mode, |n| task.inc(n)).await?;
    task.finish();
    Ok(())
}

/// `copy`: a backup from one workspace folder to another, each in its workspace's storage account.
///
/// Copying a backup into another workspace's folder to restore it there is what SEED-09 governs, so the target's
/// preflight runs first (as for `restore --from-workspace`), unless skipped or no Power BI sign-in is configured
/// (then a warning says it did not run).
pub async fn copy(
    session: &Context,
    from_workspace: &str,
    to_workspace: &str,
    file: &str,
    overwrite: bool,
    create_folder: bool,
    skip_preflight: bool,
) -> Outcome<TransferOutput> {
    check_abf_name(file)?;
    let from = backup_path(from_workspace, file)?;
    let source = session.workspace_store(from_workspace).await?;
    match source.head(&from).await {
        Ok(_) => {}
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(super::missing_file(session, &from).await.into());
        }
        Err(e) => return Err(e.into()),
    }
    let mut warnings = Vec::new();
    if skip_preflight {
        // The caller asked; the CLI says so.
    } else if session.settings.credential().is_ok() {
        warnings = require(session, to_workspace, Operation::CopyInto, "copy").await??;
    } else {
        warnings.push(format!(
            "the preflight of '{to_workspace}' (SEED-09) did not run: no Power BI sign-in is configured"
        ));
    }
    let target = session.workspace_store(to_workspace).await?;
    require_folder(session, target.as_ref(), to_workspace, create_folder).await?;
    let to = backup_path(to_workspace, file)?;
    let mut out =
        copy_verified(session, (source.as_ref(), &from), (target.as_ref(), &to), overwrite).await?;
    out.warnings.splice(0..0, warnings);
    Ok(out)
}

/// `verify`: the file's hash against its manifest, and the container check (streamed through ranged reads).
pub async fn verify(
    session: &Context,
    workspace: &str,
    file: &str,
    full: bool,
) -> Result<VerifyOutput> {
    let store = session.workspace_store(workspace).await?;
    let path = backup_path(workspace, file)?;
    let manifest = read_manifest(store.as_ref(), &path).await?;
    let meta = match store.head(&path).await {
        Ok(m) => m,
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(super::missing_file(session, &path).await);
        }
        Err(e) => return Err(e.into()),
    };
    // A ranged read of the whole file: a whole read would end in the store's own hash check failing, and verify
    // must report a damaged file (its hash, the container check), not stop at the first mismatch.
    let hashed = hash_file(store.as_ref(), &path, Some(meta.size), session.progress()).await?;
    let sha = hashed.sha256.clone();
    let hash_ok = manifest.as_ref().map(|m| hashed.matches(m));
    // The manifest records the outcome: this version verified (so that list, prune and restore know it), or the
    // check that failed, which wins over an older success until a later check passes.
    let version = StoredVersion::of(&hashed.meta);
    if let Some(m) = &manifest {
        let mut updated = m.clone();
        if hashed.matches(m) {
            updated.verified_version = Some(version);
            updated.failed_check = None;
        } else {
            updated.verified_version = None;
            updated.failed_check = Some(crate::manifest::FailedCheck {
                at: super::rfc3339(time::OffsetDateTime::now_utc()),
                found: format!(
                    "{} bytes with sha256 {sha}, where the manifest has {} bytes with sha256 {}",
                    hashed.size, m.size, m.sha256
                ),
                version,
            });
        }
        if &updated != m {
            crate::manifest::write_manifest(store.as_ref(), &path, &updated).await?;
        }
    }
    let stored_ok = meta.sha256.as_ref().is_none_or(|kept| kept == &sha);
    let options = abf_format::InspectOptions { full, ..Default::default() };
    let container = inspect_remote(session, workspace, file, options).await?;
    // An encrypted backup's container cannot be read without its password: the hashes are all that is checked.
    let container_ok = container.valid || container.encrypted;
    let valid = hash_ok != Some(false) && stored_ok && container_ok;
    Ok(VerifyOutput {
        file: path.to_string(),
        valid,
        sha256: Some(sha),
        expected_sha256: manifest.map(|m| m.sha256),
        hash_ok,
        container: Some(container),
    })
}

/// Inspects a local file (and checks it against a manifest lying beside it).
pub fn inspect_local(local: &Path, options: abf_format::InspectOptions) -> Result<VerifyOutput> {
    let f = std::fs::File::open(local).map_err(|e| Error::io(local, e))?;
    let report = abf_format::inspect(std::io::BufReader::new(f), options).map_err(|e| match e {
        abf_format::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            Error::io(std::env::temp_dir(), io)
        }
        abf_format::Error::Io(io) => Error::io(local, io),
        other => Error::Integrity(format!("cannot read {}: {other}", local.display())),
    })?;
    Ok(VerifyOutput {
        file: local.display().to_string(),
        // An encrypted backup is not damaged for want of its password (its report says it is encrypted).
        valid: report.valid || report.locked(),
        sha256: None,
        expected_sha256: None,
        hash_ok: None,
        container: Some(report),
    })
}

/// Inspects a file in a workspace folder without downloading it whole: only the parts the reader asks for are
/// fetched, through ranged reads.
pub async fn inspect_remote(
    session: &Context,
    workspace: &str,
    file: &str,
    options: abf_format::InspectOptions,
) -> Result<abf_format::Report> {
    inspect_path(session, &backup_path(workspace, file)?, options).await
}

/// [`inspect_remote`] of a stored file named by its path.
pub(crate) async fn inspect_path(
    session: &Context,
    path: &StorePath,
    options: abf_format::InspectOptions,
) -> Result<abf_format::Report> {
    let path = path.clone();
    let store = session.workspace_store(path.workspace()).await?;
    let meta = match store.head(&path).await {
        Ok(m) => m,
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(super::missing_file(session, &path).await);
        }
        Err(e) => return Err(e.into()),
    };
    let handle = tokio::runtime::Handle::current();
    let mut reader = RemoteReader::new(store.clone(), path.clone(), meta.size, handle);
    let shown = path.to_string();
    tokio::task::spawn_blocking(move || {
        let report = abf_format::inspect(&mut reader, options);
        tracing::debug!(file = shown, size = meta.size, fetched = reader.fetched, "inspected");
        report
    })
    .await
    .map_err(|e| Error::Integrity(format!("the inspection of {path} stopped: {e}")))?
    .map_err(|e| match e {
        // Damage is in the report; an error is the storage failing under the reader, and says so (not "damaged"),
        // or the temporary folder the decoder spools to being full.
        abf_format::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            Error::io(std::env::temp_dir(), io)
        }
        abf_format::Error::Io(io) => match io
            .into_inner()
            .map(|inner| inner.downcast::<adls_store::Error>())
        {
            Some(Ok(storage)) => Error::Storage(*storage),
            Some(Err(other)) => Error::Storage(adls_store::Error::transport("read", &path, other)),
            None => Error::Storage(adls_store::Error::transport("read", &path, "the read failed")),
        },
        e => Error::Integrity(format!("cannot read {path}: {e}")),
    })
}

/// Deletes a backup and its manifest.
pub(crate) async fn delete_backup(store: &dyn Store, path: &StorePath) -> Result<()> {
    store.delete(path).await?;
    let mp = path.folder_path().join(&Manifest::name_for(path.file_name().unwrap_or_default()))?;
    match store.delete(&mp).await {
        Ok(()) | Err(adls_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
