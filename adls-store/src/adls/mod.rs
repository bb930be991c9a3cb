//! [`AdlsStore`]: ADLS Gen2 through `azure_storage_datalake` 0.21, around its known defects.
//!
//! - One pooled `reqwest` client with connect and read timeouts (the crate's default client has no pool and no
//!   timeouts).
//! - Downloads only as ranged reads of `chunk_size`, `concurrency` at a time, in order (the crate buffers a whole
//!   response body, so an unranged read would hold the whole file in memory). Each chunk is retried on its own, so a
//!   broken download resumes from the chunks it already holds.
//! - Uploads as: create a temporary sibling (`.partial-…`), parallel appends of `chunk_size` (at most `concurrency` in
//!   flight), one flush with the whole file's MD5, the SHA-256 set as the custom property `sha256`, then a rename to
//!   the final name. An interrupted upload leaves nothing under the final name.
//! - Every path segment is fully percent-encoded before it reaches the crate (which sends `#`, `?` and `%` raw), and the
//!   crate's form-encoded `x-ms-rename-source` is re-encoded by a pipeline policy.
//! - `CloudLocation::Custom` with a trailing slash for custom endpoints (the crate drops the account segment without
//!   it).

mod config;
mod error;
mod lock;
mod policy;
mod server_copy;
mod upload;

pub use config::AdlsConfig;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::prelude::{IfMatchCondition, Range as AzRange};
use azure_core::{ExponentialRetryOptions, RetryOptions, TransportOptions};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::BlobServiceClient;
use azure_storage_datalake::Properties;
use azure_storage_datalake::clients::{
    DataLakeClient, DataLakeClientBuilder, FileClient, FileSystemClient,
};
use azure_storage_datalake::operations::ListPathsResponse;
use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use url::Url;

use secrecy::ExposeSecret;

use crate::readahead::Hashes;
use crate::store::{ServerCopy, read_range, same_filesystem, writable};
use crate::{
    CopySource, Error, GetResult, Incomplete, MultipartUpload, ObjectMeta, PutMode, Result, Store,
    StorePath,
};
use crate::{Credential, DEFAULT_AUTHORITY, EntraSignIn};
use error::{config_err, is_io, map_err, retry_io};
use policy::{FixupPolicy, SEGMENT};
use upload::AdlsUpload;

/// The custom property holding a file's SHA-256 (lowercase hex).
pub const SHA256_PROPERTY: &str = "sha256";

/// ADLS Gen2 (hierarchical namespace) through `azure_storage_datalake` 0.21.
#[derive(Clone)]
pub struct AdlsStore {
    client: DataLakeClient,
    /// The Blob API of the same account, for what DFS cannot do (copies made by the service).
    blobs: BlobServiceClient,
    /// The Entra credential, when the store signs in with one (to authorise a copy's source).
    token: Option<EntraSignIn>,
    config: Arc<AdlsConfig>,
    display: String,
}

impl fmt::Debug for AdlsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdlsStore")
            .field("endpoint", &self.display)
            .field("config", &self.config)
            .finish()
    }
}

impl fmt::Display for AdlsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ADLS Gen2 at {}", self.display)
    }
}

impl AdlsStore {
    /// Builds the store: the pooled HTTP client, the credentials, the pipeline.
    pub fn new(config: AdlsConfig) -> Result<Self> {
        if config.chunk_size == 0
            || config.read_chunk_size == 0
            || config.concurrency == 0
            || config.copy_block_size == 0
        {
            return Err(Error::Config(
                "chunk_size, read_chunk_size, concurrency and copy_block_size must be at least 1"
                    .into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| config_err("cannot build the HTTP client", e))?;
        let http: Arc<dyn azure_core::HttpClient> = Arc::new(http);
        let (credentials, token) = credentials(&config)?;
        // Outside the public cloud, the account's host carries its cloud's suffix.
        let cloud_endpoint = match (&config.endpoint, &config.dns_suffix) {
            (None, Some(suffix)) if suffix != "core.windows.net" => Some(
                Url::parse(&format!("https://{}.dfs.{suffix}/", config.account))
                    .map_err(|e| config_err("the storage DNS suffix does not make a URL", e))?,
            ),
            (e, _) => e.clone(),
        };
        let (location, display) = match &cloud_endpoint {
            Some(endpoint) => {
                let mut uri = endpoint.to_string();
                if !uri.ends_with('/') {
                    uri.push('/');
                }
                (CloudLocation::Custom { account: config.account.clone(), uri: uri.clone() }, uri)
            }
            None => (
                CloudLocation::Public { account: config.account.clone() },
                format!("https://{}.dfs.core.windows.net/", config.account),
            ),
        };
        let blob_location = match &cloud_endpoint {
            Some(endpoint) => CloudLocation::Custom {
                account: config.account.clone(),
                uri: blob_endpoint(endpoint),
            },
            None => CloudLocation::Public { account: config.account.clone() },
        };
        let retry = &config.retry;
        let retry_options = RetryOptions::exponential(
            ExponentialRetryOptions::default()
                .initial_delay(retry.backoff.init_backoff)
                .max_retries(retry.max_retries)
                .max_total_elapsed(retry.retry_timeout)
                .max_delay(retry.backoff.max_backoff),
        );
        let options = azure_core::ClientOptions::new(TransportOptions::new(http))
            .retry(if retry.max_retries == 0 { RetryOptions::none() } else { retry_options })
            .per_call_policies(vec![Arc::new(FixupPolicy {
                transactional_md5: config.transactional_md5,
            }) as Arc<dyn azure_core::Policy>]);
        let blobs = azure_storage_blobs::prelude::ClientBuilder::with_location(
            blob_location,
            credentials.clone(),
        )
        .client_options(options.clone())
        .blob_service_client();
        let client = DataLakeClientBuilder::with_location(location, credentials)
            .client_options(options)
            .build();
        Ok(Self { client, blobs, token, config: Arc::new(config), display })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AdlsConfig {
        &self.config
    }

    fn fs(&self, filesystem: &str) -> FileSystemClient {
        self.client.file_system_client(filesystem)
    }

    fn file(&self, path: &StorePath) -> FileClient {
        self.fs(path.filesystem()).get_file_client(encoded(path))
    }
}

/// The Blob endpoint of a custom DFS endpoint: `.dfs.` becomes `.blob.` in the host, as the Python SDK derives it
/// (`filedatalake/_serialize.py`, `convert_dfs_url_to_blob_url`); an IP host stays as it is. Without a trailing
/// slash, which the Blob crate would double.
fn blob_endpoint(endpoint: &Url) -> String {
    let mut url = endpoint.clone();
    if let Some(host) = url.host_str().filter(|h| h.contains(".dfs.")).map(str::to_owned) {
        let _ = url.set_host(Some(&host.replacen(".dfs.", ".blob.", 1)));
    }
    url.as_str().trim_end_matches('/').to_owned()
}

/// The path inside the filesystem, every segment percent-encoded, as the crate must receive it.
fn encoded(path: &StorePath) -> String {
    let ws = percent_encoding::utf8_percent_encode(path.workspace(), SEGMENT).to_string();
    match path.file_name() {
        Some(f) => format!("{ws}/{}", percent_encoding::utf8_percent_encode(f, SEGMENT)),
        None => ws,
    }
}

fn sha_from(properties: Option<&Properties>) -> Option<String> {
    properties.and_then(|p| p.get(SHA256_PROPERTY)).map(|v| v.to_string())
}

#[async_trait]
impl Store for AdlsStore {
    fn locks(&self) -> &dyn crate::Locks {
        self
    }

    async fn ensure_filesystem(&self, filesystem: &str) -> Result<()> {
        crate::path::validate_filesystem(filesystem)?;
        let fs = self.fs(filesystem);
        match fs.get_properties().await {
            Ok(_) => return Ok(()),
            Err(e) => match map_err("check filesystem", &filesystem, e) {
                Error::NotFound { .. } => {}
                other => return Err(other),
            },
        }
        match fs.create().await {
            Ok(_) => Ok(()),
            Err(e) => match map_err("create filesystem", &filesystem, e) {
                Error::AlreadyExists { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn list(&self, folder: &StorePath) -> BoxStream<'static, Result<ObjectMeta>> {
        let folder = folder.folder_path();
        let pages = self.list_pages(&folder);
        let err_path = folder.clone();
        pages
            .map(move |page| match page {
                Ok(page) => {
                    let metas: Vec<Result<ObjectMeta>> = page
                        .paths
                        .into_iter()
                        .filter(|p| !p.is_directory)
                        .filter_map(|p| {
                            let name = p.name.rsplit('/').next().unwrap_or(&p.name).to_owned();
                            if name.starts_with(crate::PARTIAL_PREFIX) {
                                return None;
                            }
                            let path = folder.join(&name).ok()?;
                            Some(Ok(ObjectMeta {
                                path,
                                size: u64::try_from(p.content_length).unwrap_or(0),
                                last_modified: Some(p.last_modified),
                                etag: Some(p.etag.to_string()),
                                sha256: None,
                            }))
                        })
                        .collect();
                    futures::stream::iter(metas).left_stream()
                }
                Err(e) => match map_err("list", &err_path, e) {
                    // A folder that does not exist lists as empty.
                    Error::NotFound { .. } => futures::stream::iter(Vec::new()).left_stream(),
                    other => futures::stream::once(async move { Err(other) }).right_stream(),
                },
            })
            .flatten()
            .boxed()
    }

    async fn head(&self, path: &StorePath) -> Result<ObjectMeta> {
        if path.is_folder() {
            return Err(Error::NotFound { path: path.to_string() });
        }
        let r = self.file(path).get_properties().await.map_err(|e| map_err("stat", path, e))?;
        Ok(ObjectMeta {
            path: path.clone(),
            size: r.content_length.and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
            last_modified: Some(r.last_modified),
            etag: Some(r.etag),
            sha256: sha_from(r.properties.as_ref()),
        })
    }

    async fn get_range(&self, path: &StorePath, range: Option<Range<u64>>) -> Result<GetResult> {
        let meta = self.head(path).await?;
        let whole = range.is_none();
        let range = read_range(path, range, meta.size)?;
        let chunk = self.config.read_chunk_size as u64;
        let chunks: Vec<Range<u64>> = (range.start..range.end)
            .step_by(chunk as usize)
            .map(|a| a..(a + chunk).min(range.end))
            .collect();
        let file = self.file(path);
        let etag = meta.etag.clone();
        let retry = self.config.retry.clone();
        let err_path = path.clone();
        let stream = futures::stream::iter(chunks)
            .map(move |r| {
                let file = file.clone();
                let etag = etag.clone();
                let retry = retry.clone();
                let err_path = err_path.clone();
                async move {
                    let got = retry_io(&retry, || {
                        let mut read = file.read().range(AzRange::new(r.start, r.end));
                        if let Some(etag) = &etag {
                            read = read.if_match_condition(IfMatchCondition::Match(etag.clone()));
                        }
                        read.into_future()
                    })
                    .await
                    .map_err(|e| map_err("read", &err_path, e))?;
                    if got.data.len() as u64 != r.end - r.start {
                        return Err(Error::transport(
                            "read",
                            &err_path,
                            format!(
                                "asked for {} bytes at {}, got {}",
                                r.end - r.start,
                                r.start,
                                got.data.len()
                            ),
                        ));
                    }
                    Ok(got.data)
                }
            })
            .buffered(self.config.concurrency)
            .boxed();
        Ok(GetResult::new(path, meta, range, whole, stream))
    }

    async fn put_multipart(
        &self,
        path: &StorePath,
        mode: PutMode,
    ) -> Result<Box<dyn MultipartUpload>> {
        writable(path)?;
        if mode == PutMode::Create && crate::StoreExt::exists(self, path).await? {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        let temp = path.partial_sibling();
        let temp_client = self.file(&temp);
        if let Err(e) = temp_client.create().await {
            // The create may have happened with its answer lost: remove what it may have left.
            let mut pages = temp_client.delete().into_stream();
            while let Some(Ok(_)) = pages.next().await {}
            return Err(map_err("upload", path, e));
        }
        Ok(Box::new(AdlsUpload {
            store: self.clone(),
            path: path.clone(),
            temp,
            temp_client,
            mode,
            buffer: BytesMut::new(),
            position: 0,
            in_flight: FuturesUnordered::new(),
            hashes: Hashes::new(self.config.store_content_md5),
            appends: 0,
            done: false,
        }))
    }

    async fn rename(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        same_filesystem(from, to)?;
        if from.is_folder() || to.is_folder() {
            return Err(Error::Precondition {
                path: from.to_string(),
                detail: "only files are renamed".into(),
            });
        }
        if from.workspace() != to.workspace() {
            // The service requires the destination's parent folder to exist.
            self.ensure_folder(&to.folder_path()).await?;
        }
        self.rename_file(from, to, mode).await
    }

    async fn delete(&self, path: &StorePath) -> Result<()> {
        let fs = self.fs(path.filesystem());
        let mut pages = if path.is_folder() {
            fs.get_directory_client(encoded(path)).delete(true).into_stream()
        } else {
            // Deleting a file must not delete a folder of the same name.
            self.head(path).await?;
            fs.get_file_client(encoded(path)).delete().into_stream()
        };
        while let Some(page) = pages.next().await {
            page.map_err(|e| map_err("delete", path, e))?;
        }
        Ok(())
    }

    async fn list_incomplete(&self, folder: &StorePath) -> Result<Vec<Incomplete>> {
        let folder = folder.folder_path();
        let mut pages = self.list_pages(&folder);
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page.map_err(|e| map_err("list", &folder, e)) {
                Ok(page) => page,
                Err(Error::NotFound { .. }) => break,
                Err(e) => return Err(e),
            };
            for p in page.paths.into_iter().filter(|p| !p.is_directory) {
                let name = p.name.rsplit('/').next().unwrap_or(&p.name).to_owned();
                if name.starts_with(crate::PARTIAL_PREFIX) {
                    found.push(Incomplete {
                        location: format!("{folder}/{name}"),
                        size: u64::try_from(p.content_length).ok().filter(|n| *n > 0),
                        last_modified: Some(p.last_modified),
                        folder: folder.clone(),
                        name,
                    });
                }
            }
        }
        Ok(found)
    }

    async fn delete_incomplete(&self, incomplete: &Incomplete) -> Result<()> {
        let name = &incomplete.name;
        if !name.starts_with(crate::PARTIAL_PREFIX) || name.contains('/') {
            return Err(Error::Precondition {
                path: incomplete.location.clone(),
                detail: "not an upload in progress of this store".into(),
            });
        }
        let folder = &incomplete.folder;
        let segment = percent_encoding::utf8_percent_encode(name, SEGMENT);
        let client =
            self.fs(folder.filesystem()).get_file_client(format!("{}/{segment}", encoded(folder)));
        let mut pages = client.delete().into_stream();
        while let Some(page) = pages.next().await {
            page.map_err(|e| map_err("delete", &incomplete.location, e))?;
        }
        Ok(())
    }

    /// A directory (`PUT ?resource=directory`); creating one that exists keeps it and what it holds.
    async fn create_folder(&self, folder: &StorePath) -> Result<()> {
        let folder = folder.folder_path();
        self.fs(folder.filesystem())
            .get_directory_client(encoded(&folder))
            .create()
            .await
            .map_err(|e| map_err("create folder", &folder, e))?;
        Ok(())
    }

    /// One directory rename (hierarchical namespace: atomic, whatever the folder holds), refused by the service when
    /// the target exists (`If-None-Match: *`).
    async fn rename_folder(&self, from: &StorePath, to: &StorePath) -> Result<()> {
        let (from, to) = (from.folder_path(), to.folder_path());
        same_filesystem(&from, &to)?;
        let rename = self
            .fs(from.filesystem())
            .get_directory_client(encoded(&from))
            .rename_if_not_exists(encoded(&to));
        match rename.await {
            Ok(()) => Ok(()),
            Err(e) => Err(match map_err("rename folder", &from, e) {
                Error::AlreadyExists { .. } => Error::AlreadyExists { path: to.to_string() },
                other => other,
            }),
        }
    }

    /// A non-recursive delete: the service refuses one of a directory that is not empty (409 DirectoryNotEmpty).
    async fn remove_empty_folder(&self, folder: &StorePath) -> Result<bool> {
        let folder = folder.folder_path();
        let mut pages = self
            .fs(folder.filesystem())
            .get_directory_client(encoded(&folder))
            .delete(false)
            .into_stream();
        while let Some(page) = pages.next().await {
            if let Err(e) = page {
                let not_empty =
                    e.as_http_error().is_some_and(|h| h.error_code() == Some("DirectoryNotEmpty"));
                if not_empty {
                    return Ok(false);
                }
                return Err(map_err("delete folder", &folder, e));
            }
        }
        Ok(true)
    }

    fn halved(&self) -> Option<Box<dyn Store>> {
        let mut config = AdlsConfig::clone(&self.config);
        config.concurrency = (config.concurrency / 2).max(1);
        Some(Box::new(AdlsStore { config: Arc::new(config), ..self.clone() }))
    }

    fn server_copy(&self) -> Option<&dyn ServerCopy> {
        Some(self)
    }

    /// A listing of at most one entry: the service answers 404 for a directory (or filesystem) that is not there.
    async fn folder_exists(&self, folder: &StorePath) -> Result<bool> {
        let folder = folder.folder_path();
        // A listing whose answer breaks off is asked for again, as every listing is.
        let first = retry_io(&self.config.retry, || async {
            let mut pages = self
                .fs(folder.filesystem())
                .list_paths()
                .directory(folder.workspace().to_owned())
                .recursive(false)
                .max_results(std::num::NonZeroU32::new(1).expect("one"))
                .into_stream();
            pages.next().await.transpose()
        })
        .await;
        match first {
            Ok(_) => Ok(true),
            Err(e) => match map_err("list", &folder, e) {
                Error::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }
}

/// A copy is made by the target's service: it reads the source block by block (Put Block From URL), authorised by a
/// read-only SAS or the Entra token, commits the blocks with the source's SHA-256, and the store renames the result
/// into place as an upload.
#[async_trait]
impl ServerCopy for AdlsStore {
    async fn copy(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        let source = self.source_of(from).await?;
        self.copy_in_service(&source, to, mode).await
    }

    async fn copy_source(&self, path: &StorePath) -> Result<CopySource> {
        self.source_of(path).await
    }

    async fn copy_from_source(
        &self,
        source: &CopySource,
        to: &StorePath,
        mode: PutMode,
    ) -> Result<()> {
        self.copy_in_service(source, to, mode).await
    }
}

/// The storage credentials of `config`, and the Entra credential behind them when there is one.
fn credentials(config: &AdlsConfig) -> Result<(StorageCredentials, Option<EntraSignIn>)> {
    let authority = match &config.authority {
        Some(a) => a.clone(),
        None => Url::parse(DEFAULT_AUTHORITY).expect("a valid constant URL"),
    };
    let token = match &config.sign_in {
        Some(shared) => Some(shared.clone()),
        None => {
            config.credential.sign_in(&authority, &config.sign_in_options).map_err(Error::Config)?
        }
    };
    let credentials = match (&config.credential, &token) {
        (_, Some(token)) => StorageCredentials::token_credential(Arc::new(token.clone())),
        (Credential::AccountKey(key), None) => {
            StorageCredentials::access_key(config.account.clone(), key.expose_secret().to_owned())
        }
        (Credential::Sas(sas), None) => {
            StorageCredentials::sas_token(sas.expose_secret().trim_start_matches('?'))
                .map_err(|e| config_err("the SAS token is malformed", e))?
        }
        (other, None) => {
            return Err(Error::Config(format!(
                "the storage cannot be reached with {}; use a key, a SAS or an Entra sign-in",
                other.describe()
            )));
        }
    };
    Ok((credentials, token))
}

impl AdlsStore {
    /// The listing pages of a workspace folder (not recursive). A listing whose answer breaks off (a page cut in
    /// the middle, which the pipeline's retry policy does not see) is started again, with the storage's backoff,
    /// and what was listed before the break is not listed twice: the service lists names in order, so the pages
    /// of the new listing keep only the names after the last one already listed. (The continuation token of the
    /// SDK's builder is sent as `marker`, which the DFS endpoint does not read, so a page cannot be asked for alone.)
    fn list_pages(
        &self,
        folder: &StorePath,
    ) -> BoxStream<'static, azure_core::Result<ListPathsResponse>> {
        let mut builder = self
            .fs(folder.filesystem())
            .list_paths()
            .directory(folder.workspace().to_owned())
            .recursive(false);
        if let Some(n) = self.config.list_page_size {
            builder = builder.max_results(std::num::NonZeroU32::new(n.max(1)).expect("at least 1"));
        }
        struct Listing {
            pages: Option<BoxStream<'static, azure_core::Result<ListPathsResponse>>>,
            last: Option<String>,
            retries: u32,
            started: std::time::Instant,
        }
        let retry = self.config.retry.clone();
        let state =
            Listing { pages: None, last: None, retries: 0, started: std::time::Instant::now() };
        futures::stream::unfold(Some(state), move |state| {
            let builder = builder.clone();
            let retry = retry.clone();
            async move {
                let mut st = state?;
                loop {
                    let pages =
                        st.pages.get_or_insert_with(|| builder.clone().into_stream().boxed());
                    match pages.next().await {
                        None => return None,
                        Some(Ok(mut page)) => {
                            if let Some(last) = &st.last {
                                page.paths.retain(|p| p.name.as_str() > last.as_str());
                            }
                            if let Some(p) = page.paths.last() {
                                st.last = Some(p.name.clone());
                            }
                            return Some((Ok(page), Some(st)));
                        }
                        Some(Err(e))
                            if is_io(&e)
                                && retry.may_retry(st.retries + 1, st.started.elapsed()) =>
                        {
                            st.retries += 1;
                            tracing::debug!(
                                retry = st.retries,
                                "listing again after a broken page: {}",
                                crate::redact(&e.to_string())
                            );
                            tokio::time::sleep(retry.backoff(st.retries)).await;
                            st.pages = None;
                        }
                        Some(Err(e)) => return Some((Err(e), None)),
                    }
                }
            }
        })
        .boxed()
    }

    async fn ensure_folder(&self, folder: &StorePath) -> Result<()> {
        let dir = self.fs(folder.filesystem()).get_directory_client(encoded(folder));
        match dir.create_if_not_exists().await {
            Ok(_) => Ok(()),
            Err(e) => match map_err("create folder", folder, e) {
                Error::AlreadyExists { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn rename_file(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        let source = self.file(from);
        let builder = match mode {
            PutMode::Overwrite => source.rename(encoded(to)),
            PutMode::Create => source.rename_if_not_exists(encoded(to)),
        };
        match builder.await {
            Ok(()) => Ok(()),
            Err(e) => Err(match map_err("rename", from, e) {
                Error::AlreadyExists { .. } => Error::AlreadyExists { path: to.to_string() },
                other => other,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_fully_encoded() {
        let p = StorePath::file("fsx", "Sales & Co ü", "q#1?x=2 %41+.abf").unwrap();
        assert_eq!(encoded(&p), "Sales%20%26%20Co%20%C3%BC/q%231%3Fx%3D2%20%2541%2B.abf");
    }
}
