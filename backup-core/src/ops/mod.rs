//! The operations, the top layer: each takes a [`Context`] and typed options, and returns a typed report (see
//! [`output`]).

mod backup;
mod definition;
mod dispatch;
mod doctor;
mod drill;
mod files;
pub mod output;
mod overview;
pub mod pacing;
mod prune;
mod remote;
pub mod report;
mod restore;
mod restore_all;
mod run;
mod run_lock;
pub mod schedule;
pub mod skip;
mod storage;

use adls_store::{Store, StorePath};
use futures::StreamExt;

pub use crate::layout::{
    BACKUP_FILESYSTEM, backup_folder, backup_path, default_file_name, rfc3339, time_from_file_name,
};
pub use crate::manifest::read_manifest;
pub use crate::preflight::gather_facts;
pub use crate::service::Context;
pub use abf_format::InspectOptions;
pub use backup::{
    BackupOptions, BackupPlan, DatasetSelector, backup, backup_dry_run, execute_backup, plan_backup,
};
pub use definition::{BackupRef, TMDL_MARKER, definition, diff, write_tmdl};
pub use doctor::doctor;
pub use drill::{DrillOptions, drill};
pub use files::{copy, download, inspect_local, inspect_remote, list, upload, verify};
pub use overview::overview;
pub use prune::{PruneOptions, prune};
pub use remote::RemoteReader;
pub use restore::{RestoreOptions, RestorePlan, execute, plan_restore, restore};
pub use restore_all::{plan_restore_all, restore_all};
pub use run::{RunOptions, run};
pub use storage::{storage_link, storage_relink, storage_status, storage_unlink};

use crate::error::{Error, Result};
use crate::preflight::Blocked;

/// Why an operation stopped: an error of the layers below, or a rule of the service that blocked it before
/// anything was sent (an outcome of the operations, not an error: the preflight did its job).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// An error.
    #[error(transparent)]
    Error(#[from] Error),
    /// A preflight rule blocked it; nothing was sent.
    #[error("{0}")]
    Blocked(Blocked),
}

impl From<Blocked> for Failure {
    fn from(b: Blocked) -> Self {
        Failure::Blocked(b)
    }
}

impl From<adls_store::Error> for Failure {
    fn from(e: adls_store::Error) -> Self {
        Failure::Error(e.into())
    }
}

impl From<adls_store::PathError> for Failure {
    fn from(e: adls_store::PathError) -> Self {
        Failure::Error(e.into())
    }
}

/// The result of an operation that a preflight rule may block.
pub type Outcome<T> = std::result::Result<T, Failure>;
use crate::layout::is_abf;
use crate::manifest::Manifest;
use crate::progress::{Progress, Unit};
use crate::retry::RetryPolicy;
use crate::service::xmla::XmlaClient;

/// Sends a backup or restore; while the capacity refuses it for load (nothing ran), sends it again as
/// [`RetryPolicy::capacity_load`] says until `budget` has been waited, and says in a warning that it waited and how
/// long. Any other answer is returned as it came.
pub(crate) async fn execute_patiently(
    client: &XmlaClient,
    command: xmla_proto::Command,
    catalog: Option<&str>,
    budget: std::time::Duration,
    warnings: &mut Vec<String>,
) -> Result<Vec<xmla_proto::Message>> {
    let what = command.describe();
    let started = std::time::Instant::now();
    let mut retrying = RetryPolicy::capacity_load(budget).start();
    loop {
        let answer = client.execute(command.clone(), catalog).await;
        let for_load = matches!(&answer, Err(Error::Server { failure, .. })
            if crate::server_texts::refused_for_load(failure));
        match for_load.then(|| retrying.next_wait(None)).flatten() {
            Some(wait) => {
                tracing::info!(
                    what,
                    wait_s = wait.as_secs(),
                    "the capacity refused it for load; sending it again after a wait"
                );
                tokio::time::sleep(wait).await;
            }
            None => {
                let refusals = retrying.retries();
                if refusals > 0 {
                    warnings.push(format!(
                        "the capacity refused the {what} for load {refusals} time(s); it was sent again after {} s in all",
                        started.elapsed().as_secs()
                    ));
                }
                return answer;
            }
        }
    }
}

/// A workspace folder's listing; a folder that is not there lists nothing.
pub(crate) async fn list_folder(
    store: &dyn Store,
    folder: &StorePath,
) -> Result<Vec<adls_store::ObjectMeta>> {
    match adls_store::StoreExt::list_all(store, folder).await {
        Ok(f) => Ok(f),
        Err(adls_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Reads a file as a stream and returns its size and SHA-256: the one way a stored file is hashed.
///
/// With `size` unset the whole file is read, and the store checks its own kept hash on the way (a mismatch is an
/// error). With `size` set, the bytes `0..size` are read as a range, which the store does not check: `verify` must
/// report a damaged file's hash, not stop at the store's mismatch.
pub async fn hash_file(
    store: &dyn Store,
    path: &StorePath,
    size: Option<u64>,
    progress: &dyn Progress,
) -> Result<Hashed> {
    let got = store.get_range(path, size.map(|n| 0..n)).await?;
    let meta = got.meta.clone();
    let task = progress.start(&format!("reading back {path}"), Some(got.meta.size), Unit::Bytes);
    // Hashed on a thread of its own, as the store's verified stream is, so that the read-back runs at its speed.
    let hasher = adls_store::Sha256Worker::spawn();
    let mut read = 0u64;
    let mut stream = got.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        read += chunk.len() as u64;
        task.inc(chunk.len() as u64);
        hasher.update(chunk).await;
    }
    task.finish();
    Ok(Hashed { size: read, sha256: hasher.finish().await?, meta })
}

/// A stored file read and hashed.
#[derive(Debug, Clone)]
pub struct Hashed {
    /// The bytes read.
    pub size: u64,
    /// Their SHA-256, lowercase hex.
    pub sha256: String,
    /// The version that was read (a changed file fails the read: ranged reads are pinned to the ETag).
    pub meta: adls_store::ObjectMeta,
}

impl Hashed {
    /// Whether these are the bytes `manifest` describes.
    pub fn matches(&self, manifest: &Manifest) -> bool {
        self.size == manifest.size && self.sha256 == manifest.sha256
    }
}

/// What to say when a stored file is not there: the nearest backup names in its folder, or, when the folder itself
/// is missing, that the workspace is unknown (with the nearest workspace names, when a Power BI sign-in is
/// configured to ask for them) or has no backup folder here.
pub(crate) async fn missing_file(session: &Context, path: &StorePath) -> Error {
    let store = match session.workspace_store(path.workspace()).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    match adls_store::StoreExt::list_all(store.as_ref(), &path.folder_path()).await {
        Ok(files) if !files.is_empty() => {
            let name = path.file_name().unwrap_or_default();
            let names = files.iter().filter_map(|f| f.path.file_name()).filter(|n| is_abf(n));
            Error::NotFound {
                what: "backup file",
                name: path.to_string(),
                nearest: crate::names::nearest(name, names),
            }
        }
        Ok(_) | Err(adls_store::Error::NotFound { .. }) => {
            match missing_folder(session, path.workspace()).await {
                Ok(()) => Error::NotFound {
                    what: "backup file",
                    name: path.to_string(),
                    nearest: Vec::new(),
                },
                Err(e) => e,
            }
        }
        Err(e) => e.into(),
    }
}

/// A workspace whose backup folder is missing: `Ok` when the workspace exists (it has no backups here), else
/// [`Error::NotFound`] naming the nearest workspaces (asked of the REST API when a sign-in is configured; without
/// one, the folder is reported missing; when the API cannot answer, the folder is taken as empty).
pub(crate) async fn missing_folder(session: &Context, workspace: &str) -> Result<()> {
    if session.settings.credential().is_err() {
        return Err(Error::NotFound {
            what: "backup folder",
            name: format!("{BACKUP_FILESYSTEM}/{workspace}"),
            nearest: Vec::new(),
        });
    }
    // A storage command must not fail because the REST API does: when it cannot tell, the folder is simply empty.
    let groups = match session.api() {
        Ok(api) => match api.groups().await {
            Ok(groups) => groups,
            Err(e) => {
                tracing::debug!(error = %e, "the workspaces could not be listed to check a name");
                return Ok(());
            }
        },
        Err(_) => return Ok(()),
    };
    let group = crate::service::powerbi::find_group(&groups, workspace)?;
    // Found by a name that differs only in case: the folder is named as the workspace is (storage names are
    // case-sensitive), so say which.
    if group.name != workspace {
        return Err(Error::Usage(format!(
            "the workspace is named '{}', and its backup folder is {BACKUP_FILESYSTEM}/{}: name it --workspace '{}' (storage names are case-sensitive)",
            group.name, group.name, group.name
        )));
    }
    Ok(())
}

/// Whether the stored backup at `path` is verified now: its version is the one its manifest recorded, or its bytes
/// hash to its manifest now (which then records this version).
pub(crate) async fn verified_now(
    session: &Context,
    store: &dyn Store,
    path: &adls_store::StorePath,
) -> Result<bool> {
    let Some(mut manifest) = read_manifest(store, path).await? else { return Ok(false) };
    let meta = match store.head(path).await {
        Ok(m) => m,
        Err(adls_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if manifest.state(&meta) == crate::manifest::VerifiedState::Verified {
        return Ok(true);
    }
    let hashed = match hash_file(store, path, Some(meta.size), session.progress()).await {
        Ok(h) => h,
        Err(crate::error::Error::Storage(adls_store::Error::Integrity { .. })) => return Ok(false),
        Err(e) => return Err(e),
    };
    if !hashed.matches(&manifest) {
        return Ok(false);
    }
    manifest.verified_version = Some(crate::manifest::StoredVersion::of(&hashed.meta));
    manifest.failed_check = None;
    crate::manifest::write_manifest(store, path, &manifest).await?;
    Ok(true)
}
