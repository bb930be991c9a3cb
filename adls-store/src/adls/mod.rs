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

mod policy;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::prelude::{IfMatchCondition, Range as AzRange};
use azure_core::{Context, ExponentialRetryOptions, RetryOptions, TransportOptions};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_datalake::Properties;
use azure_storage_datalake::clients::{
    DataLakeClient, DataLakeClientBuilder, FileClient, FileSystemClient,
};
use azure_storage_datalake::operations::ListPathsResponse;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use url::Url;

use crate::store::{Hashes, read_range, same_filesystem, writable};
use crate::{
    Error, GetResult, Incomplete, MultipartUpload, ObjectMeta, PutMode, Result, RetryConfig, Store,
    StorePath,
};
use policy::{FixupPolicy, SEGMENT, StoreContentMd5};

/// The custom property holding a file's SHA-256 (lowercase hex).
pub const SHA256_PROPERTY: &str = "sha256";

/// How [`AdlsStore`] authenticates.
///
/// `Debug` never shows a secret.
#[derive(Clone)]
#[non_exhaustive]
pub enum AdlsCredential {
    /// SharedKey with the account key (base64).
    AccountKey(String),
    /// A SAS query string (with or without the leading `?`).
    Sas(String),
    /// An Entra service principal with a client secret (`azure_identity::ClientSecretCredential`).
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The client secret.
        client_secret: String,
        /// The authority host; `None` for `https://login.microsoftonline.com/`.
        authority_host: Option<Url>,
    },
    /// The Azure CLI's signed-in account (`az login`).
    AzureCli,
    /// The managed identity of the Azure VM or service.
    ManagedIdentity,
    /// Whatever the environment variables of `azure_identity::EnvironmentCredential` describe
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or a federated token file).
    Environment,
}

impl fmt::Debug for AdlsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdlsCredential::AccountKey(_) => f.write_str("AccountKey(REDACTED)"),
            AdlsCredential::Sas(_) => f.write_str("Sas(REDACTED)"),
            AdlsCredential::ClientSecret { tenant_id, client_id, authority_host, .. } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("client_secret", &"REDACTED")
                .field("authority_host", &authority_host.as_ref().map(Url::as_str))
                .finish(),
            AdlsCredential::AzureCli => f.write_str("AzureCli"),
            AdlsCredential::ManagedIdentity => f.write_str("ManagedIdentity"),
            AdlsCredential::Environment => f.write_str("Environment"),
        }
    }
}

/// Configuration of an [`AdlsStore`].
#[derive(Debug, Clone)]
pub struct AdlsConfig {
    /// The storage account name.
    pub account: String,
    /// A custom DFS endpoint, path-style (`http://127.0.0.1:10004/devstoreaccount1/`); `None` for
    /// `https://{account}.dfs.core.windows.net/`.
    pub endpoint: Option<Url>,
    /// How to authenticate.
    pub credential: AdlsCredential,
    /// Bytes per append. Default 8 MiB. A file holds at most 50,000 appends: after every 20,000 appends of one upload
    /// the append size doubles (at most 4,000 MiB), so 8 MiB appends reach about 780 GiB.
    pub chunk_size: usize,
    /// Bytes per ranged read. Default 4 MiB (the crate collects each response body in memory, growing it as it
    /// arrives, so smaller reads keep the peak low).
    pub read_chunk_size: usize,
    /// Appends or ranged reads in flight per transfer. Default 8. Memory per transfer is about
    /// `chunk_size × (concurrency + 1)` for uploads and `2 × read_chunk_size × concurrency` for downloads.
    pub concurrency: usize,
    /// Entries per list page asked of the service (`None`: the service's default, 5,000).
    pub list_page_size: Option<u32>,
    /// Store the MD5 of the whole file as its Content-MD5 on flush (`x-ms-content-md5`), as azcopy `--put-md5` does,
    /// so that other tools can check it. Default true. MD5 runs at about 600 MiB/s on one core, which bounds the
    /// upload speed; the SHA-256 property is always kept.
    pub store_content_md5: bool,
    /// Also send a transactional `Content-MD5` with each append (the service verifies it). Default false: TLS
    /// already protects the transfer and the whole-file SHA-256 is checked end to end.
    pub transactional_md5: bool,
    /// Retries.
    pub retry: RetryConfig,
    /// Connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// The longest pause while reading a response. Default 60 s.
    pub read_timeout: Duration,
}

impl AdlsConfig {
    /// A configuration with the defaults documented on each field.
    pub fn new(account: impl Into<String>, credential: AdlsCredential) -> Self {
        Self {
            account: account.into(),
            endpoint: None,
            credential,
            chunk_size: 8 << 20,
            read_chunk_size: 4 << 20,
            concurrency: 8,
            list_page_size: None,
            store_content_md5: true,
            transactional_md5: false,
            retry: RetryConfig::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Reads the configuration from the environment (secrets never come from the command line):
    ///
    /// - `PBI_BACKUP_ADLS_ACCOUNT` (required): the account name;
    /// - `PBI_BACKUP_ADLS_ENDPOINT` (optional): a custom DFS endpoint;
    /// - `PBI_BACKUP_ADLS_AUTH` (optional): `key`, `sas`, `client-secret`, `cli`, `managed-identity` or
    ///   `environment`; when unset: `key` if `AZURE_STORAGE_KEY` is set, else `sas` if `AZURE_STORAGE_SAS_TOKEN` is
    ///   set, else `environment`;
    /// - `AZURE_STORAGE_KEY`, `AZURE_STORAGE_SAS_TOKEN`, and for `client-secret` `AZURE_TENANT_ID`,
    ///   `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_AUTHORITY_HOST`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`AdlsConfig::from_env`] over any lookup function (for tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let need = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::Config(format!("set the environment variable {name}")))
        };
        let account = need("PBI_BACKUP_ADLS_ACCOUNT")?;
        let auth = var("PBI_BACKUP_ADLS_AUTH").unwrap_or_else(|| {
            if var("AZURE_STORAGE_KEY").is_some() {
                "key".into()
            } else if var("AZURE_STORAGE_SAS_TOKEN").is_some() {
                "sas".into()
            } else {
                "environment".into()
            }
        });
        let credential = match auth.as_str() {
            "key" => AdlsCredential::AccountKey(need("AZURE_STORAGE_KEY")?),
            "sas" => AdlsCredential::Sas(need("AZURE_STORAGE_SAS_TOKEN")?),
            "client-secret" => AdlsCredential::ClientSecret {
                tenant_id: need("AZURE_TENANT_ID")?,
                client_id: need("AZURE_CLIENT_ID")?,
                client_secret: need("AZURE_CLIENT_SECRET")?,
                authority_host: match var("AZURE_AUTHORITY_HOST") {
                    Some(h) => Some(Url::parse(&h).map_err(|e| {
                        Error::Config(format!("AZURE_AUTHORITY_HOST '{h}' is not a URL: {e}"))
                    })?),
                    None => None,
                },
            },
            "cli" => AdlsCredential::AzureCli,
            "managed-identity" => AdlsCredential::ManagedIdentity,
            "environment" => AdlsCredential::Environment,
            other => {
                return Err(Error::Config(format!(
                    "PBI_BACKUP_ADLS_AUTH '{other}' is not one of key, sas, client-secret, cli, managed-identity, environment"
                )));
            }
        };
        let mut config = AdlsConfig::new(account, credential);
        if let Some(e) = var("PBI_BACKUP_ADLS_ENDPOINT").filter(|e| !e.is_empty()) {
            // The value may carry a pasted SAS or password: it is shown redacted, and one that does is refused (the
            // endpoint is printed in messages; credentials come from their own variables).
            let url = Url::parse(&e).map_err(|err| {
                Error::Config(format!(
                    "PBI_BACKUP_ADLS_ENDPOINT '{}' is not a URL: {err}",
                    crate::redact(&e)
                ))
            })?;
            if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
                return Err(Error::Config(
                    "PBI_BACKUP_ADLS_ENDPOINT carries a query or a user name; give the endpoint alone and the SAS in AZURE_STORAGE_SAS_TOKEN".into(),
                ));
            }
            config.endpoint = Some(url);
        }
        Ok(config)
    }
}

/// ADLS Gen2 (hierarchical namespace) through `azure_storage_datalake` 0.21.
#[derive(Clone)]
pub struct AdlsStore {
    client: DataLakeClient,
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

fn config_err(what: &str, e: impl fmt::Display) -> Error {
    Error::Config(crate::redact(&format!("{what}: {e}")))
}

impl AdlsStore {
    /// Builds the store: the pooled HTTP client, the credentials, the pipeline.
    pub fn new(config: AdlsConfig) -> Result<Self> {
        if config.chunk_size == 0 || config.read_chunk_size == 0 || config.concurrency == 0 {
            return Err(Error::Config(
                "chunk_size, read_chunk_size and concurrency must be at least 1".into(),
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
        let credentials = match &config.credential {
            AdlsCredential::AccountKey(key) => {
                StorageCredentials::access_key(config.account.clone(), key.clone())
            }
            AdlsCredential::Sas(sas) => StorageCredentials::sas_token(sas.trim_start_matches('?'))
                .map_err(|e| config_err("the SAS token is malformed", e))?,
            AdlsCredential::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
                authority_host,
            } => {
                let authority = authority_host.clone().unwrap_or_else(|| {
                    Url::parse("https://login.microsoftonline.com/").expect("a valid constant URL")
                });
                StorageCredentials::token_credential(Arc::new(
                    azure_identity::ClientSecretCredential::new(
                        http.clone(),
                        authority,
                        tenant_id.clone(),
                        client_id.clone(),
                        client_secret.clone(),
                    ),
                ))
            }
            AdlsCredential::AzureCli => StorageCredentials::token_credential(Arc::new(
                azure_identity::AzureCliCredential::create()
                    .map_err(|e| config_err("Azure CLI credential", e))?,
            )),
            AdlsCredential::ManagedIdentity => StorageCredentials::token_credential(Arc::new(
                azure_identity::VirtualMachineManagedIdentityCredential::new(
                    azure_identity::TokenCredentialOptions::default(),
                ),
            )),
            AdlsCredential::Environment => StorageCredentials::token_credential(Arc::new(
                azure_identity::EnvironmentCredential::create(
                    azure_identity::TokenCredentialOptions::default(),
                )
                .map_err(|e| config_err("environment credential", e))?,
            )),
        };
        let (location, display) = match &config.endpoint {
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
        let client = DataLakeClientBuilder::with_location(location, credentials)
            .client_options(options)
            .build();
        Ok(Self { client, config: Arc::new(config), display })
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

/// The path inside the filesystem, every segment percent-encoded, as the crate must receive it.
fn encoded(path: &StorePath) -> String {
    let ws = percent_encoding::utf8_percent_encode(path.workspace(), SEGMENT).to_string();
    match path.file_name() {
        Some(f) => format!("{ws}/{}", percent_encoding::utf8_percent_encode(f, SEGMENT)),
        None => ws,
    }
}

/// Maps a crate error to the store's error.
fn map_err(operation: &'static str, path: &dyn fmt::Display, e: azure_core::Error) -> Error {
    let path = path.to_string();
    let detail = || crate::redact(&chain(&e));
    match e.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            let code = error_code.as_deref().unwrap_or("");
            match u16::from(*status) {
                404 => Error::NotFound { path },
                409 if code.ends_with("AlreadyExists") => Error::AlreadyExists { path },
                401 | 403 => Error::PermissionDenied {
                    path,
                    detail: format!("{} {code}", u16::from(*status)),
                },
                409 | 412 | 416 => {
                    Error::Precondition { path, detail: format!("{} {code}", u16::from(*status)) }
                }
                400 if code == "InvalidFlushPosition" => {
                    Error::Precondition { path, detail: code.to_owned() }
                }
                400 if code == "Md5Mismatch" => Error::Integrity {
                    path,
                    expected: "the Content-MD5 sent".into(),
                    actual: "a different MD5 computed by the service".into(),
                },
                s => {
                    Error::transport(operation, path, format!("status {s} {code} ({})", chain(&e)))
                }
            }
        }
        ErrorKind::Credential => Error::PermissionDenied { path, detail: detail() },
        _ => Error::transport(operation, path, detail()),
    }
}

/// The error and its causes, `: `-separated, without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn is_io(e: &azure_core::Error) -> bool {
    matches!(e.kind(), ErrorKind::Io)
}

/// Runs `attempt` again after a body-level I/O failure (a response cut in the middle), which the pipeline's retry
/// policy does not see because the crate reads the body after the pipeline returns.
async fn retry_io<T, F, Fut>(retry: &RetryConfig, mut attempt: F) -> azure_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = azure_core::Result<T>>,
{
    let start = Instant::now();
    let mut n = 0;
    loop {
        match attempt().await {
            Err(e) if is_io(&e) && retry.may_retry(n + 1, start.elapsed()) => {
                n += 1;
                tracing::debug!(
                    retry = n,
                    "retrying after a broken body: {}",
                    crate::redact(&e.to_string())
                );
                tokio::time::sleep(retry.backoff(n)).await;
            }
            other => return other,
        }
    }
}

fn sha_from(properties: Option<&Properties>) -> Option<String> {
    properties.and_then(|p| p.get(SHA256_PROPERTY)).map(|v| v.to_string())
}

#[async_trait]
impl Store for AdlsStore {
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

    async fn copy(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        // Streamed (and verified against the source's kept hash) through the same upload path as any write.
        let source = self.get_range(from, None).await?;
        crate::StoreExt::put_stream(self, to, source.stream, mode).await.map(drop)
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
                        size: u64::try_from(p.content_length).unwrap_or(0),
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
}

impl AdlsStore {
    /// The listing pages of a workspace folder (not recursive).
    fn list_pages(
        &self,
        folder: &StorePath,
    ) -> impl futures::Stream<Item = azure_core::Result<ListPathsResponse>> + Send + 'static {
        let mut builder = self
            .fs(folder.filesystem())
            .list_paths()
            .directory(folder.workspace().to_owned())
            .recursive(false);
        if let Some(n) = self.config.list_page_size {
            builder = builder.max_results(std::num::NonZeroU32::new(n.max(1)).expect("at least 1"));
        }
        builder.into_stream()
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

/// An upload in progress: a temporary file receiving appends.
struct AdlsUpload {
    store: AdlsStore,
    path: StorePath,
    temp: StorePath,
    temp_client: FileClient,
    mode: PutMode,
    buffer: BytesMut,
    position: u64,
    in_flight: FuturesUnordered<tokio::task::JoinHandle<Result<()>>>,
    hashes: Hashes,
    appends: u64,
    done: bool,
}

/// Appends after which the append size doubles, to stay under the service's 50,000 appends per file.
const APPENDS_PER_DOUBLING: u64 = 20_000;
/// The service's largest append.
const MAX_APPEND: usize = 4000 << 20;

/// The size of the next append after `appends` appends of `chunk` bytes or more.
fn append_size(chunk: usize, appends: u64) -> usize {
    let doublings = (appends / APPENDS_PER_DOUBLING).min(12) as u32;
    chunk.saturating_mul(1usize << doublings).min(MAX_APPEND).max(chunk.min(MAX_APPEND))
}

impl fmt::Debug for AdlsUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdlsUpload")
            .field("path", &self.path)
            .field("position", &self.position)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl AdlsUpload {
    /// Sends `chunk` as an append at the current position, waiting first while the bound of appends in flight is
    /// reached.
    async fn send(&mut self, chunk: Bytes) -> Result<()> {
        while self.in_flight.len() >= self.store.config.concurrency {
            self.wait_one().await?;
        }
        let client = self.temp_client.clone();
        let position = self.position as i64;
        self.position += chunk.len() as u64;
        self.appends += 1;
        let path = self.path.clone();
        self.in_flight.push(tokio::spawn(async move {
            client.append(position, chunk).await.map(drop).map_err(|e| map_err("upload", &path, e))
        }));
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<()> {
        match self.in_flight.next().await {
            Some(Ok(result)) => result,
            Some(Err(join)) => Err(Error::transport(
                "upload",
                &self.path,
                format!("an append task failed: {join}"),
            )),
            None => Ok(()),
        }
    }

    async fn finish(&mut self) -> Result<ObjectMeta> {
        while !self.buffer.is_empty() {
            let chunk = append_size(self.store.config.chunk_size, self.appends);
            let part = self.buffer.split_to(self.buffer.len().min(chunk)).freeze();
            self.send(part).await?;
        }
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        let (sha, md5) = self.hashes.finish().await?;
        let mut ctx = Context::new();
        if let Some(md5) = md5 {
            ctx.insert(StoreContentMd5(base64::engine::general_purpose::STANDARD.encode(md5)));
        }
        self.temp_client
            .flush(self.position as i64)
            .close(true)
            .context(ctx.clone())
            .await
            .map_err(|e| map_err("upload", &self.path, e))?;
        let mut props = Properties::new();
        props.insert(SHA256_PROPERTY, sha.clone());
        self.temp_client
            .set_properties(props)
            .context(ctx)
            .await
            .map_err(|e| map_err("upload", &self.path, e))?;
        match self.store.rename_file(&self.temp, &self.path, self.mode).await {
            Ok(()) => {}
            // A rename whose answer was lost and that was retried finds its source gone: it happened if the file
            // under the final name is the one just written.
            Err(Error::NotFound { .. })
                if self
                    .store
                    .head(&self.path)
                    .await
                    .is_ok_and(|m| m.sha256.as_deref() == Some(sha.as_str())) => {}
            Err(e) => return Err(e),
        }
        self.done = true;
        Ok(ObjectMeta {
            path: self.path.clone(),
            size: self.position,
            last_modified: None,
            etag: None,
            sha256: Some(sha),
        })
    }

    async fn discard(&mut self) -> Result<()> {
        self.done = true;
        for task in self.in_flight.iter() {
            task.abort();
        }
        while self.in_flight.next().await.is_some() {}
        let mut pages = self.temp_client.delete().into_stream();
        while let Some(page) = pages.next().await {
            match page.map_err(|e| map_err("abort", &self.path, e)) {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Drop for AdlsUpload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for task in self.in_flight.iter() {
            task.abort();
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let client = self.temp_client.clone();
            handle.spawn(async move {
                let mut pages = client.delete().into_stream();
                while let Some(Ok(_)) = pages.next().await {}
            });
        }
    }
}

#[async_trait]
impl MultipartUpload for AdlsUpload {
    async fn put_part(&mut self, data: Bytes) -> Result<()> {
        if self.done {
            return Err(Error::transport("upload", &self.path, "upload already ended"));
        }
        self.hashes.update(&data).await;
        if self.buffer.is_empty()
            && data.len() >= append_size(self.store.config.chunk_size, self.appends)
        {
            // Large parts go out without a copy.
            let mut data = data;
            while data.len() >= append_size(self.store.config.chunk_size, self.appends) {
                let part = data.split_to(append_size(self.store.config.chunk_size, self.appends));
                self.send(part).await?;
            }
            self.buffer.extend_from_slice(&data);
        } else {
            self.buffer.extend_from_slice(&data);
            while self.buffer.len() >= append_size(self.store.config.chunk_size, self.appends) {
                let part = self
                    .buffer
                    .split_to(append_size(self.store.config.chunk_size, self.appends))
                    .freeze();
                self.send(part).await?;
            }
        }
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<ObjectMeta> {
        match self.finish().await {
            Ok(meta) => Ok(meta),
            Err(e) => {
                let _ = self.discard().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.discard().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_grow_to_stay_under_the_service_limit() {
        let mib = 1 << 20;
        assert_eq!(append_size(8 * mib, 0), 8 * mib);
        assert_eq!(append_size(8 * mib, 19_999), 8 * mib);
        assert_eq!(append_size(8 * mib, 20_000), 16 * mib);
        assert_eq!(append_size(8 * mib, 40_000), 32 * mib);
        assert_eq!(append_size(3000 * mib, 20_000), 4000 * mib);
        let total: u64 = (0..50_000u64).map(|i| append_size(8 * mib, i) as u64).sum();
        assert!(total > 780 << 30, "50,000 appends from 8 MiB carry {} GiB", total >> 30);
    }

    #[test]
    fn segments_are_fully_encoded() {
        let p = StorePath::file("fsx", "Sales & Co ü", "q#1?x=2 %41+.abf").unwrap();
        assert_eq!(encoded(&p), "Sales%20%26%20Co%20%C3%BC/q%231%3Fx%3D2%20%2541%2B.abf");
    }

    #[test]
    fn an_endpoint_carrying_a_sas_or_a_user_is_refused_without_showing_it() {
        for endpoint in [
            "https://acct.dfs.core.windows.net/?sv=2023&sig=SeCrEtSiG",
            "https://user:SeCrEtSiG@acct.dfs.core.windows.net/",
        ] {
            let vars = [
                ("PBI_BACKUP_ADLS_ACCOUNT", "acct"),
                ("AZURE_STORAGE_KEY", "a2V5"),
                ("PBI_BACKUP_ADLS_ENDPOINT", endpoint),
            ];
            let lookup = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned());
            let err = AdlsConfig::from_lookup(lookup).unwrap_err().to_string();
            assert!(
                err.contains("PBI_BACKUP_ADLS_ENDPOINT") && !err.contains("SeCrEtSiG"),
                "{err}"
            );
        }
    }

    #[test]
    fn config_from_lookup_never_shows_secrets() {
        let vars = |name: &str| match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some("acct".to_owned()),
            "AZURE_STORAGE_KEY" => Some("c2VjcmV0LWtleQ==".to_owned()),
            _ => None,
        };
        let config = AdlsConfig::from_lookup(vars).unwrap();
        assert!(matches!(config.credential, AdlsCredential::AccountKey(_)));
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
        let err = AdlsConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "storage configuration: set the environment variable PBI_BACKUP_ADLS_ACCOUNT"
        );
        let bad = |name: &str| match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some("acct".to_owned()),
            "PBI_BACKUP_ADLS_AUTH" => Some("password".to_owned()),
            _ => None,
        };
        assert!(
            AdlsConfig::from_lookup(bad)
                .unwrap_err()
                .to_string()
                .contains("'password' is not one of")
        );
    }
}
