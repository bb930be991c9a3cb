//! The operations: each takes a [`Session`] and typed options, returns a typed report (see [`crate::output`]).

mod backup;
mod files;
mod prune;
mod remote;
mod restore;
mod run;
pub mod schedule;
pub mod skip;
mod storage;

use std::sync::{Arc, OnceLock};

use adls_store::{Store, StorePath};
use futures::StreamExt;

pub use crate::preflight::{doctor, gather_facts};
pub use backup::{BackupOptions, DatasetSelector, backup, backup_preflight};
pub use files::{copy, download, inspect_local, inspect_remote, list, upload, verify};
pub use prune::{PruneOptions, prune};
pub use remote::RemoteReader;
pub use restore::{RestoreOptions, RestorePlan, execute, plan_restore, restore};
pub use run::{RunOptions, run};
pub use storage::{storage_link, storage_relink, storage_status, storage_unlink};

use crate::auth::TokenSource;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::powerbi::PowerBiApi;
use crate::progress::{NoProgress, Progress, Unit};
use crate::xmla::{ClientOptions, Endpoint, XmlaClient};

/// The filesystem Power BI keeps backups in.
pub const BACKUP_FILESYSTEM: &str = "power-bi-backup";

/// Settings plus the clients built from them on first use.
pub struct Session {
    /// The resolved settings.
    pub settings: Settings,
    progress: Arc<dyn Progress>,
    tokens: OnceLock<Arc<TokenSource>>,
    store: OnceLock<Arc<dyn Store>>,
    /// Stores of other accounts workspaces are attached to, by account name.
    account_stores: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Store>>>,
    /// Workspace name → the storage account it is attached to, as first asked (one REST lookup per workspace in
    /// a run, not one per dataset).
    linked_accounts: tokio::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    /// The home region as the service told it, asked once per run (`None` inside: it did not tell).
    home_region: tokio::sync::OnceCell<Option<String>>,
    /// Storage account name → what Azure Resource Manager said of it, asked once per run.
    arm_accounts: tokio::sync::Mutex<
        std::collections::HashMap<String, std::result::Result<crate::arm::ArmAccount, String>>,
    >,
    /// The tenant's lists as first read in this run (a bulk run reads each once, not once per workspace). Only the
    /// reading paths use them; a command that changes a link reads the API.
    groups: tokio::sync::OnceCell<Vec<crate::powerbi::Group>>,
    capacities: tokio::sync::OnceCell<Vec<crate::powerbi::Capacity>>,
    storage_accounts: tokio::sync::OnceCell<Vec<crate::powerbi::StorageAccount>>,
    /// Power BI routes resolved in this run, shared by its XMLA clients.
    routes: crate::xmla::RouteCache,
    /// A limit on each XMLA command; none by default.
    pub command_timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Session {
    /// A session reporting no progress.
    pub fn new(settings: Settings) -> Session {
        Session::with_progress(settings, Arc::new(NoProgress))
    }

    /// A session reporting progress to `progress`.
    pub fn with_progress(settings: Settings, progress: Arc<dyn Progress>) -> Session {
        Session {
            settings,
            progress,
            tokens: OnceLock::new(),
            store: OnceLock::new(),
            account_stores: std::sync::Mutex::new(std::collections::HashMap::new()),
            linked_accounts: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            home_region: tokio::sync::OnceCell::new(),
            arm_accounts: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            groups: tokio::sync::OnceCell::new(),
            capacities: tokio::sync::OnceCell::new(),
            storage_accounts: tokio::sync::OnceCell::new(),
            routes: crate::xmla::RouteCache::default(),
            command_timeout: None,
        }
    }

    /// Where progress goes.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// The token source (built on first use).
    pub fn tokens(&self) -> Result<Arc<TokenSource>> {
        if let Some(t) = self.tokens.get() {
            return Ok(t.clone());
        }
        let t =
            Arc::new(TokenSource::new(self.settings.credential()?, &self.settings.urls.authority)?);
        Ok(self.tokens.get_or_init(|| t).clone())
    }

    /// The Power BI REST client.
    pub fn api(&self) -> Result<PowerBiApi> {
        PowerBiApi::new(self.settings.powerbi_api.clone(), self.tokens()?)
    }

    /// The workspaces the caller sees, read once per run (a failed read is not kept).
    pub async fn groups(&self) -> Result<Vec<crate::powerbi::Group>> {
        let api = self.api()?;
        Ok(self.groups.get_or_try_init(|| api.groups()).await?.clone())
    }

    /// The capacities the caller sees, read once per run.
    pub async fn capacities(&self) -> Result<Vec<crate::powerbi::Capacity>> {
        let api = self.api()?;
        Ok(self.capacities.get_or_try_init(|| api.capacities()).await?.clone())
    }

    /// The registered storage accounts, read once per run.
    pub async fn storage_accounts(&self) -> Result<Vec<crate::powerbi::StorageAccount>> {
        let api = self.api()?;
        Ok(self.storage_accounts.get_or_try_init(|| api.storage_accounts()).await?.clone())
    }

    /// The tenant's home region as the service tells it (asked once per run); `None` when it did not tell.
    pub async fn home_region(&self) -> Option<String> {
        self.home_region
            .get_or_init(|| async {
                let asked = async { self.api()?.home_region().await };
                asked.await.unwrap_or_else(|e: Error| {
                    tracing::debug!(error = %e, "the home cluster could not be read");
                    None
                })
            })
            .await
            .clone()
    }

    /// What Azure Resource Manager says of storage account `account`, or why it does not (asked once per account
    /// per run).
    pub async fn arm_account(
        &self,
        account: &str,
    ) -> std::result::Result<crate::arm::ArmAccount, String> {
        let key = account.to_ascii_lowercase();
        let mut known = self.arm_accounts.lock().await;
        if let Some(k) = known.get(&key) {
            return k.clone();
        }
        let asked = async {
            let client = crate::arm::ArmClient::new(self.settings.arm.clone(), self.tokens()?)?;
            client.storage_account(account).await
        };
        let answer = match asked.await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(format!(
                "no subscription the caller can read holds an account named '{account}'"
            )),
            Err(e) => Err(e.to_string()),
        };
        known.insert(key, answer.clone());
        answer
    }

    /// An XMLA client for `endpoint`.
    pub fn xmla(&self, endpoint: Endpoint) -> Result<XmlaClient> {
        let options = ClientOptions {
            urls: self.settings.urls.clone(),
            command_timeout: self.command_timeout,
            routes: self.routes.clone(),
        };
        XmlaClient::new(endpoint, self.tokens()?, options)
    }

    /// The backup store (built on first use).
    pub fn store(&self) -> Result<Arc<dyn Store>> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let s = self.settings.store()?;
        Ok(self.store.get_or_init(|| s).clone())
    }

    /// The store of storage account `account` (built on first use): the configured store for the configured
    /// account, else one reached as [`Settings::account_config`] says.
    pub fn account_store(&self, account: &str) -> Result<Arc<dyn Store>> {
        if self.settings.storage_account().is_some_and(|c| c.eq_ignore_ascii_case(account)) {
            return self.store();
        }
        let key = account.to_ascii_lowercase();
        if let Some(s) = self.account_stores.lock().expect("poisoned").get(&key) {
            return Ok(s.clone());
        }
        let config = self.settings.account_config(account).map_err(Error::Usage)?;
        let store: Arc<dyn Store> = Arc::new(adls_store::AdlsStore::new(config)?);
        self.account_stores.lock().expect("poisoned").insert(key, store.clone());
        Ok(store)
    }

    /// Remembers the storage account `workspace` is attached to, as the preflight found it, so that its jobs do not
    /// ask the REST API again.
    pub(crate) async fn remember_linked_account(&self, workspace: &str, account: Option<String>) {
        self.linked_accounts.lock().await.insert(workspace.to_owned(), account);
    }

    /// The store that holds `workspace`'s backups: that of the storage account it is attached to (asked of the
    /// REST API), or the configured store when that cannot be told (no ADLS account configured, the API cannot
    /// answer, the workspace is not attached).
    pub async fn workspace_store(&self, workspace: &str) -> Result<Arc<dyn Store>> {
        if self.settings.storage_account().is_none() {
            return self.store();
        }
        // `Ok(None)`: not attached; an error: the API could not tell (not remembered, so a later job asks again).
        let lookup = async {
            let group = crate::powerbi::find_group(&self.groups().await?, workspace)?;
            if group.dataflow_storage_id.is_none() {
                return Ok(None);
            }
            let accounts = self.storage_accounts().await?;
            Ok::<_, Error>(
                crate::powerbi::linked_account(&accounts, &group).map(|a| a.name.clone()),
            )
        };
        // Held across the lookup, so that parallel jobs of one workspace ask once.
        let mut known = self.linked_accounts.lock().await;
        let linked = match known.get(workspace) {
            Some(l) => l.clone(),
            None => match lookup.await {
                Ok(l) => {
                    known.insert(workspace.to_owned(), l.clone());
                    l
                }
                Err(e) => {
                    tracing::debug!(error = %e, workspace, "the workspace's storage account could not be asked");
                    None
                }
            },
        };
        drop(known);
        match linked {
            Some(account) => self.account_store(&account),
            None => self.store(),
        }
    }
}

/// Sends a backup or restore; while the capacity refuses it for load (nothing ran), sends it again after a backoff
/// (2 s, doubling, at most a minute) until `budget` has been waited, and says in a warning that it waited and how
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
    let mut backoff = std::time::Duration::from_secs(2);
    let mut refusals = 0u32;
    loop {
        match client.execute(command.clone(), catalog).await {
            Err(Error::Server { failure, .. })
                if crate::preflight::refused_for_load(&failure)
                    && started.elapsed() + backoff <= budget =>
            {
                refusals += 1;
                tracing::info!(
                    what,
                    wait_s = backoff.as_secs(),
                    "the capacity refused it for load; sending it again after a wait"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
            }
            other => {
                if refusals > 0 {
                    warnings.push(format!(
                        "the capacity refused the {what} for load {refusals} time(s); it was sent again after {} s in all",
                        started.elapsed().as_secs()
                    ));
                }
                return other;
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

/// The path of a file in a workspace's backup folder.
pub fn backup_path(workspace: &str, file: &str) -> Result<StorePath> {
    let file = file.strip_prefix('/').unwrap_or(file);
    Ok(StorePath::file(BACKUP_FILESYSTEM, workspace, file)?)
}

/// The folder of a workspace's backups.
pub fn backup_folder(workspace: &str) -> Result<StorePath> {
    Ok(StorePath::folder(BACKUP_FILESYSTEM, workspace)?)
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
pub(crate) async fn missing_file(session: &Session, path: &StorePath) -> Error {
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
                nearest: crate::nearest(name, names),
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
pub(crate) async fn missing_folder(session: &Session, workspace: &str) -> Result<()> {
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
    let group = crate::powerbi::find_group(&groups, workspace)?;
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
    session: &Session,
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
        Err(crate::Error::Storage(adls_store::Error::Integrity { .. })) => return Ok(false),
        Err(e) => return Err(e),
    };
    if !hashed.matches(&manifest) {
        return Ok(false);
    }
    manifest.verified_version = Some(crate::manifest::StoredVersion::of(&hashed.meta));
    let mp = path
        .folder_path()
        .join(&crate::manifest::Manifest::name_for(path.file_name().unwrap_or_default()))?;
    let body = serde_json::to_vec_pretty(&manifest).expect("plain data");
    adls_store::StoreExt::put(store, &mp, body.into(), adls_store::PutMode::Overwrite).await?;
    Ok(true)
}

/// Reads the manifest of a backup file, `None` when there is none.
pub async fn read_manifest(store: &dyn Store, file: &StorePath) -> Result<Option<Manifest>> {
    let name = Manifest::name_for(file.file_name().unwrap_or_default());
    let path = file.folder_path().join(&name)?;
    match adls_store::StoreExt::get_bytes(store, &path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Integrity(format!("the manifest {path} does not read: {e}"))),
        Err(adls_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The time in a default backup file name, `<dataset>_<yyyyMMddTHHmmssZ>.abf`.
pub fn time_from_file_name(file: &str) -> Option<(String, time::OffsetDateTime)> {
    let stem = file.strip_suffix(".abf")?;
    let (dataset, stamp) = stem.rsplit_once('_')?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(stamp, format).ok()?.assume_utc();
    Some((dataset.to_owned(), t))
}

/// Whether `name` is a backup file name: it ends in `.abf`, in any case (Power BI and the list, prune and restore
/// commands all take `X.ABF` as a backup).
pub(crate) fn is_abf(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".abf")
}

/// The default file name of a backup: `<dataset>_<UTC yyyyMMddTHHmmssZ>.abf`, with characters a file name cannot
/// hold replaced by `_`.
pub fn default_file_name(dataset: &str, now: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let safe: String = dataset
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{safe}_{}.abf", now.format(format).expect("a fixed format"))
}

/// RFC 3339.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_round_trip_their_time() {
        let t = time::macros::datetime!(2026-11-28 04:09:08 UTC);
        let name = default_file_name("Sales: EU/Q4", t);
        assert_eq!(name, "Sales_ EU_Q4_20261128T040908Z.abf");
        assert_eq!(time_from_file_name(&name), Some(("Sales_ EU_Q4".into(), t)));
        assert_eq!(time_from_file_name("manual.abf"), None);
        assert!(is_abf("Sales.abf") && is_abf("SALES.ABF") && is_abf("ü.Abf"));
        assert!(!is_abf("Sales.abf.manifest.json") && !is_abf("abf") && !is_abf("ü"));
    }
}
