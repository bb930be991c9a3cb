//! [`AdlsUpload`]: an upload in progress, as parallel appends to a temporary file, one flush, and a rename.

use std::fmt;

use async_trait::async_trait;
use azure_core::Context;
use azure_storage_datalake::Properties;
use azure_storage_datalake::clients::FileClient;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::error::map_err;
use super::policy::StoreContentMd5;
use super::{AdlsStore, SHA256_PROPERTY};
use crate::readahead::Hashes;
use crate::{Error, MultipartUpload, ObjectMeta, PutMode, Result, Store, StorePath};

/// An upload in progress: a temporary file receiving appends.
pub(super) struct AdlsUpload {
    pub(super) store: AdlsStore,
    pub(super) path: StorePath,
    pub(super) temp: StorePath,
    pub(super) temp_client: FileClient,
    pub(super) mode: PutMode,
    pub(super) buffer: BytesMut,
    pub(super) position: u64,
    pub(super) in_flight: FuturesUnordered<tokio::task::JoinHandle<Result<()>>>,
    pub(super) hashes: Hashes,
    pub(super) appends: u64,
    pub(super) done: bool,
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
}
