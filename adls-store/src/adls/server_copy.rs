//! Copies made by the service: the bytes go from the source's account to the target's without passing through this
//! process, within one account or between two.
//!
//! ADLS Gen2's DFS API has no copy, but the Blob API works on hierarchical-namespace accounts. The target's service is
//! asked, block after block, to read a range of the source (Put Block From URL, `x-ms-source-range`), then to commit
//! the blocks (Put Block List) as a temporary sibling (`.partial-…`), which is then renamed to the final name as an
//! upload is. The source must be readable by the target's service with what the request carries, since the
//! request's own SharedKey never authorises the source (learn.microsoft.com `rest/api/storageservices/put-block-from-url`):
//!
//! - with an account key: a service SAS for reading that one blob, valid for [`SOURCE_SAS_LIFETIME`];
//! - with a SAS: that SAS (it must allow reading);
//! - with Entra: the token, as `x-ms-copy-source-authorization: Bearer …` (service version 2020-10-02 and later).
//!
//! The copy keeps the source's SHA-256 (as the metadata that ADLS shows as the `sha256` property); the caller reads
//! the copy back and hashes it before calling it verified.

use std::time::Duration;

use azure_core::Context;
use azure_core::prelude::Range as AzRange;
use azure_core::request_options::Metadata;
use azure_storage::shared_access_signature::service_sas::BlobSasPermissions;
use azure_storage_blobs::blob::{BlobBlockType, BlockList};
use azure_storage_blobs::prelude::{BlobClient, BlockId};
use futures::{StreamExt, TryStreamExt};

use super::error::map_err;
use super::policy::{CopySourceAuthorization, CopySourceIfMatch};
use super::{AdlsStore, SHA256_PROPERTY};
use crate::Credential;
use crate::store::writable;
use crate::{CopySource, Error, PutMode, Result, Store as _, StorePath};

/// The default bytes each Put Block From URL asks the service to read ([`AdlsConfig::copy_block_size`](super::AdlsConfig)): 100 MiB, within the largest block of every service
/// version since 2016-05-31 (Put Block takes 4,000 MiB since 2019-12-12; the Put Block From URL page gives no size).
pub(super) const COPY_BLOCK: u64 = 100 << 20;

/// How long the SAS made for a copy's source (with an account key) stays valid.
pub(super) const SOURCE_SAS_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// The scope of a token for Azure Storage.
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

impl AdlsStore {
    /// The Blob API's client of `path` (the crate encodes each segment).
    pub(super) fn blob(&self, path: &StorePath) -> BlobClient {
        let name = match path.file_name() {
            Some(file) => format!("{}/{file}", path.workspace()),
            None => path.workspace().to_owned(),
        };
        self.blobs.container_client(path.filesystem()).blob_client(name)
    }

    /// The URL another service reads `path` from, and what authorises that read.
    pub(super) async fn source_of(&self, path: &StorePath) -> Result<CopySource> {
        let meta = self.head(path).await?;
        let blob = self.blob(path);
        let failed = |e| map_err("copy", path, e);
        let (url, authorization) = match &self.config.credential {
            Credential::AccountKey(_) => {
                let permissions = BlobSasPermissions { read: true, ..Default::default() };
                let expiry = time::OffsetDateTime::now_utc() + SOURCE_SAS_LIFETIME;
                let sas =
                    blob.shared_access_signature(permissions, expiry).await.map_err(failed)?;
                (blob.generate_signed_blob_url(&sas).map_err(failed)?, None)
            }
            Credential::Sas(sas) => {
                let mut url = blob.url().map_err(failed)?;
                url.set_query(Some(
                    secrecy::ExposeSecret::expose_secret(sas).trim_start_matches('?'),
                ));
                (url, None)
            }
            _ => {
                let credential = self.token.as_ref().ok_or_else(|| Error::PermissionDenied {
                    path: path.to_string(),
                    detail: "no Entra credential to authorise the copy's source".into(),
                })?;
                let token =
                    azure_core::auth::TokenCredential::get_token(credential, &[STORAGE_SCOPE])
                        .await
                        .map_err(failed)?;
                (blob.url().map_err(failed)?, Some(format!("Bearer {}", token.token.secret())))
            }
        };
        Ok(CopySource { meta, url, authorization })
    }

    /// Makes `to` a copy of `source`, inside the service: blocks into a temporary sibling, then a rename.
    pub(super) async fn copy_in_service(
        &self,
        source: &CopySource,
        to: &StorePath,
        mode: PutMode,
    ) -> Result<()> {
        writable(to)?;
        if mode == PutMode::Create && self.head(to).await.is_ok() {
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        let temp = to.partial_sibling();
        let done = match self.assemble(source, &temp).await {
            Ok(()) => self.rename_file(&temp, to, mode).await,
            Err(e) => Err(e),
        };
        if done.is_err() {
            // Nothing may stay behind: a failed copy leaves neither the final name nor the temporary one.
            let _ = self.delete(&temp).await;
        }
        done
    }

    /// Put Block From URL for each block of the source (as many at once as the store's concurrency), then
    /// Put Block List with the source's SHA-256 as metadata.
    async fn assemble(&self, source: &CopySource, temp: &StorePath) -> Result<()> {
        let blob = self.blob(temp);
        let size = source.meta.size;
        // At least 1: `AdlsStore::new` refuses 0.
        let block = self.config.copy_block_size;
        let blocks: Vec<(BlockId, AzRange)> = (0..size)
            .step_by(usize::try_from(block).unwrap_or(usize::MAX))
            .enumerate()
            .map(|(i, start)| {
                (
                    BlockId::new(format!("{i:016}")),
                    AzRange::new(start, start.saturating_add(block).min(size)),
                )
            })
            .collect();
        let ids: Vec<BlockId> = blocks.iter().map(|(id, _)| id.clone()).collect();
        futures::stream::iter(blocks)
            .map(|(id, range)| {
                let mut context = Context::new();
                if let Some(auth) = &source.authorization {
                    context.insert(CopySourceAuthorization(auth.clone()));
                }
                // Every block from the version whose hash the commit records.
                if let Some(etag) = &source.meta.etag {
                    context.insert(CopySourceIfMatch(etag.clone()));
                }
                blob.put_block_url(id, source.url.clone())
                    .range(range)
                    .context(context)
                    .into_future()
            })
            .buffer_unordered(self.config.concurrency)
            .try_for_each(|_| async { Ok(()) })
            .await
            .map_err(|e| map_err("copy", temp, e))?;
        let list =
            BlockList { blocks: ids.into_iter().map(BlobBlockType::new_uncommitted).collect() };
        let mut commit = blob.put_block_list(list);
        if let Some(sha) = &source.meta.sha256 {
            let mut metadata = Metadata::new();
            metadata.insert(SHA256_PROPERTY, sha.clone());
            commit = commit.metadata(metadata);
        }
        commit.await.map_err(|e| map_err("copy", temp, e))?;
        Ok(())
    }
}
