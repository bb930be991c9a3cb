//! The [`Store`] trait, its blanket [`StoreExt`], and the types they exchange.

use std::fmt::{Debug, Display};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::download::{DownloadOptions, Downloaded};
use crate::readahead::{read_ahead, verify_stream};
use crate::{Error, Result, StorePath};

/// What a store knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Where the file is.
    pub path: StorePath,
    /// Its length in bytes.
    pub size: u64,
    /// When it was last written, when the backend reports it.
    pub last_modified: Option<time::OffsetDateTime>,
    /// The backend's version tag, when it has one.
    pub etag: Option<String>,
    /// The SHA-256 kept with the file (lowercase hex), when known. Listings do not report it; [`Store::head`] does.
    pub sha256: Option<String>,
}

/// Where a store's service can read a file itself, for a copy made inside the service ([`ServerCopy::copy_from_source`]):
/// the file's URL and what authorises reading it. It may hold a secret (a SAS in the URL, or a bearer token) and
/// lasts a few hours; `Debug` shows neither the query nor the token.
#[derive(Clone)]
pub struct CopySource {
    pub(crate) meta: ObjectMeta,
    pub(crate) url: url::Url,
    /// `Bearer …`, sent as `x-ms-copy-source-authorization`.
    pub(crate) authorization: Option<String>,
}

impl Debug for CopySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.url.clone();
        shown.set_query(None);
        f.debug_struct("CopySource")
            .field("meta", &self.meta)
            .field("url", &shown.as_str())
            .field("authorization", &self.authorization.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// What to do when the destination of a write, copy or rename exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Replace it.
    #[default]
    Overwrite,
    /// Fail with [`Error::AlreadyExists`].
    Create,
}

/// A read in progress: the file's metadata, the byte range being read, and the bytes as a stream.
pub struct GetResult {
    /// The file read.
    pub meta: ObjectMeta,
    /// The range of the file that `stream` yields.
    pub range: Range<u64>,
    /// The bytes, in order. When the whole file is read and a SHA-256 is kept with it, the stream ends with
    /// [`Error::Integrity`] instead of `None` if the bytes do not match.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl GetResult {
    /// A read of `range` of the file `meta` describes; a read of the whole file (`whole`) ends with
    /// [`Error::Integrity`] when its bytes do not match the SHA-256 kept with it. Every backend's `get_range` ends here.
    pub(crate) fn new(
        path: &StorePath,
        meta: ObjectMeta,
        range: Range<u64>,
        whole: bool,
        stream: BoxStream<'static, Result<Bytes>>,
    ) -> Self {
        let stream = if whole {
            verify_stream(stream, path.clone(), meta.size, meta.sha256.clone())
        } else {
            stream
        };
        Self { meta, range, stream }
    }
}

/// Refuses a write to a folder path: only files are written.
pub(crate) fn writable(path: &StorePath) -> Result<()> {
    if path.is_folder() {
        return Err(Error::Precondition {
            path: path.to_string(),
            detail: "a folder cannot be written".into(),
        });
    }
    Ok(())
}

/// Refuses a rename between filesystems, which neither ADLS nor the local layout can do in one step.
pub(crate) fn same_filesystem(from: &StorePath, to: &StorePath) -> Result<()> {
    if from.filesystem() != to.filesystem() {
        return Err(Error::Precondition {
            path: from.to_string(),
            detail: format!("cannot rename across filesystems to '{to}'"),
        });
    }
    Ok(())
}

/// The bytes a read asks for: `range`, or the whole file of `size` bytes; refused when it lies outside the file.
pub(crate) fn read_range(
    path: &StorePath,
    range: Option<Range<u64>>,
    size: u64,
) -> Result<Range<u64>> {
    let range = range.unwrap_or(0..size);
    if range.start > range.end || range.end > size {
        return Err(Error::Precondition {
            path: path.to_string(),
            detail: format!(
                "range {}..{} is outside the file of {size} bytes",
                range.start, range.end
            ),
        });
    }
    Ok(range)
}

impl Debug for GetResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A streamed write: parts go in order; nothing is visible under the final name until [`complete`] succeeds.
///
/// `put_part` returns as soon as the part is handed over; a backend that sends parts concurrently waits inside
/// `put_part` only while its bound of parts in flight is reached, so memory stays at part size × bound. Dropping an
/// upload without `complete` or `abort` discards it (in the background, on a best-effort basis).
///
/// [`complete`]: MultipartUpload::complete
#[async_trait]
pub trait MultipartUpload: Send + Debug {
    /// Appends `data` (of any length, possibly empty) to the file being written.
    async fn put_part(&mut self, data: Bytes) -> Result<()>;

    /// Waits for every part, checks and stores the SHA-256, and makes the file visible under its final name.
    async fn complete(self: Box<Self>) -> Result<ObjectMeta>;

    /// Discards everything written; nothing appears under the final name.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// A backup store: filesystems holding one folder per workspace, holding files.
///
/// # Contract
///
/// - A write is visible under its final name only when it is complete; a reader never sees a partial file, and an
///   interrupted or aborted write leaves nothing under the final name (nor changes a file already there).
/// - Every complete write keeps the SHA-256 of the bytes with the file. A read of the whole file checks it, and ends
///   with [`Error::Integrity`] when the bytes differ.
/// - [`Store::list`] yields the files directly inside a workspace folder, in name order, following however many pages
///   the backend needs; uploads in progress (names starting with [`PARTIAL_PREFIX`](crate::PARTIAL_PREFIX)) are not
///   listed. Listing a folder that does not exist yields nothing.
/// - [`Store::delete`] of a folder deletes it and everything in it; of a missing path, fails with
///   [`Error::NotFound`].
/// - Errors are the semantic variants of [`Error`]; transient failures are retried by the backend before they surface.
///
/// Implementors implement this trait only; [`StoreExt`] adds the conveniences to every store.
#[async_trait]
pub trait Store: Display + Debug + Send + Sync + 'static {
    /// Creates `filesystem` unless it exists.
    async fn ensure_filesystem(&self, filesystem: &str) -> Result<()>;

    /// The files in the workspace folder `folder`, streamed page by page.
    fn list(&self, folder: &StorePath) -> BoxStream<'static, Result<ObjectMeta>>;

    /// The metadata of the file at `path`.
    async fn head(&self, path: &StorePath) -> Result<ObjectMeta>;

    /// Reads `range` of the file at `path` (the whole file when `None`), as a stream.
    async fn get_range(&self, path: &StorePath, range: Option<Range<u64>>) -> Result<GetResult>;

    /// Starts a streamed write of the file at `path`.
    async fn put_multipart(
        &self,
        path: &StorePath,
        mode: PutMode,
    ) -> Result<Box<dyn MultipartUpload>>;

    /// Moves the file `from` to `to` in the same filesystem.
    async fn rename(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()>;

    /// Deletes a file, or a workspace folder with everything in it.
    async fn delete(&self, path: &StorePath) -> Result<()>;

    /// Uploads that never completed, left in `folder` by a writer that stopped without completing or aborting (a
    /// killed process). An upload still running is listed too: judge by [`Incomplete::last_modified`]. The local
    /// store keeps every upload in progress in one folder of its own and lists all of them for any `folder`.
    async fn list_incomplete(&self, folder: &StorePath) -> Result<Vec<Incomplete>>;

    /// Deletes an upload that [`Store::list_incomplete`] listed.
    async fn delete_incomplete(&self, incomplete: &Incomplete) -> Result<()>;

    /// Creates the workspace folder `folder`, empty, unless it exists (what it holds then is kept). The filesystem
    /// must exist.
    async fn create_folder(&self, folder: &StorePath) -> Result<()>;

    /// Whether the workspace folder `folder` exists, empty or not (a missing filesystem: it does not).
    async fn folder_exists(&self, folder: &StorePath) -> Result<bool>;

    /// Renames the workspace folder `from`, with whatever it holds (files, subfolders, uploads in progress), to `to`
    /// in the same filesystem, in one call: nothing is copied and nothing is deleted. Fails with
    /// [`Error::AlreadyExists`] when `to` exists and [`Error::NotFound`] when `from` does not.
    async fn rename_folder(&self, from: &StorePath, to: &StorePath) -> Result<()>;

    /// Removes the workspace folder `folder` only if it is empty, in one call that cannot delete a file: `true` when
    /// removed, `false` when it holds something; [`Error::NotFound`] when it is not there.
    async fn remove_empty_folder(&self, folder: &StorePath) -> Result<bool>;

    /// The store's run locks ([`Locks`](crate::Locks)).
    fn locks(&self) -> &dyn crate::Locks;

    /// Copies made by the store's service, without the bytes passing through this process; `None` (the default)
    /// when the store has no such service (the local disk): a copy then streams ([`StoreExt::copy`]).
    fn server_copy(&self) -> Option<&dyn ServerCopy> {
        None
    }

    /// This store with half its requests in flight per transfer (at least one), for one side of a transfer that
    /// reads one store while it writes another ([`stream_copy`]): the two sides together then hold no more memory
    /// than one transfer. `None` (the default) for a store with nothing to halve (the local disk).
    fn halved(&self) -> Option<Box<dyn Store>> {
        None
    }
}

/// Copies a store's service makes itself (a capability: [`Store::server_copy`]). As with any write, nothing is
/// visible under the target's name until the copy is complete, and the copy keeps the source's SHA-256; the caller
/// verifies the bytes.
#[async_trait]
pub trait ServerCopy: Send + Sync {
    /// Copies the file `from` to `to` in this store (which may be in another workspace folder).
    async fn copy(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()>;

    /// How this store's service can be asked to read the file at `path` for a copy made by another store's service
    /// ([`ServerCopy::copy_from_source`]).
    async fn copy_source(&self, path: &StorePath) -> Result<CopySource>;

    /// Makes `to` a copy of `source` inside this store's service.
    async fn copy_from_source(
        &self,
        source: &CopySource,
        to: &StorePath,
        mode: PutMode,
    ) -> Result<()>;
}

/// Copies `from` in `source` to `to` in `target` through this process, streamed and never held whole: each side
/// gets half of its store's requests in flight ([`Store::halved`]), so the copy stays within one transfer's memory.
/// The read is verified against the source's SHA-256 and the write keeps it, as any read and write do. `on_chunk`
/// is told the length of each chunk as it goes (for progress).
pub async fn stream_copy(
    (source, from): (&dyn Store, &StorePath),
    (target, to): (&dyn Store, &StorePath),
    mode: PutMode,
    on_chunk: impl Fn(u64) + Send + Sync,
) -> Result<ObjectMeta> {
    let (source_half, target_half) = (source.halved(), target.halved());
    let source = source_half.as_deref().unwrap_or(source);
    let target = target_half.as_deref().unwrap_or(target);
    let read = source.get(from).await?;
    let counted = read.stream.inspect_ok(|chunk| on_chunk(chunk.len() as u64)).boxed();
    target.put_stream(to, counted, mode).await
}

/// An upload that never completed (see [`Store::list_incomplete`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// Where it lies, for people: `filesystem/workspace/.partial-…` in ADLS, the file's path in the local store.
    pub location: String,
    /// Its size, where the store tells it: `None` in ADLS when nothing was flushed, as the service lists only
    /// flushed bytes and an upload appends without flushing until it completes.
    pub size: Option<u64>,
    /// When it was created or last changed, as the store reports it.
    pub last_modified: Option<time::OffsetDateTime>,
    /// The folder it was listed in.
    pub(crate) folder: StorePath,
    /// Its name in the store's folder for uploads in progress.
    pub(crate) name: String,
}

/// Conveniences available on every [`Store`]; implementors must not implement it.
#[async_trait]
pub trait StoreExt: Store {
    /// Copies the file `from` to `to` in this store: by its service when it has one ([`Store::server_copy`]), else
    /// streamed through this process, verified against the source's SHA-256 either way.
    async fn copy(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        match self.server_copy() {
            Some(service) => service.copy(from, to, mode).await,
            None => {
                let read = self.get(from).await?;
                self.put_stream(to, read.stream, mode).await.map(drop)
            }
        }
    }

    /// Reads the whole file as one stream, verified against its SHA-256.
    async fn get(&self, path: &StorePath) -> Result<GetResult> {
        self.get_range(path, None).await
    }

    /// Reads the whole file into memory. For small files; use [`StoreExt::download_to_file`] for backups.
    async fn get_bytes(&self, path: &StorePath) -> Result<Bytes> {
        let result = self.get(path).await?;
        let parts: Vec<Bytes> = result.stream.try_collect().await?;
        Ok(parts.concat().into())
    }

    /// Writes `data` as the whole content of `path`.
    async fn put(&self, path: &StorePath, data: Bytes, mode: PutMode) -> Result<ObjectMeta> {
        let mut upload = self.put_multipart(path, mode).await?;
        if let Err(e) = upload.put_part(data).await {
            let _ = upload.abort().await;
            return Err(e);
        }
        upload.complete().await
    }

    /// Writes everything `stream` yields as the content of `path`; an error from the stream aborts the upload.
    async fn put_stream(
        &self,
        path: &StorePath,
        mut stream: BoxStream<'_, Result<Bytes>>,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let mut upload = self.put_multipart(path, mode).await?;
        while let Some(part) = stream.next().await {
            let sent = match part {
                Ok(part) => upload.put_part(part).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        upload.complete().await
    }

    /// Uploads the local file `local` to `path`, reading 8 MiB at a time.
    ///
    /// One thread reads ahead of the transfer, so reading overlaps with hashing and sending; its buffers come back to
    /// it when the store is done with them, so a file of any size is read through a few reused buffers.
    async fn upload_file(
        &self,
        local: &Path,
        path: &StorePath,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        self.upload_file_with(local, path, mode, None).await
    }

    /// [`StoreExt::upload_file`], calling `progress` with each count of bytes handed to the store.
    async fn upload_file_with(
        &self,
        local: &Path,
        path: &StorePath,
        mode: PutMode,
        progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<ObjectMeta> {
        let file =
            std::fs::File::open(local).map_err(|e| Error::from_io("open", local.display(), &e))?;
        let mut upload = self.put_multipart(path, mode).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
        let reader = tokio::task::spawn_blocking(move || read_ahead(&file, &tx));
        let mut failed = None;
        while let Some(part) = rx.recv().await {
            let outcome = match part {
                Ok(part) => {
                    let n = part.len() as u64;
                    let sent = upload.put_part(part).await;
                    if let (Ok(()), Some(p)) = (&sent, &progress) {
                        p(n);
                    }
                    sent
                }
                Err(e) => Err(Error::from_io("read", local.display(), &e)),
            };
            if let Err(e) = outcome {
                failed = Some(e);
                break;
            }
        }
        // Dropping the receiver stops the reader at its next part.
        drop(rx);
        // A reader that died (a panic) closed the channel early: what arrived is not the whole file.
        if let Err(e) = reader.await
            && failed.is_none()
        {
            failed =
                Some(Error::transport("read", local.display(), format!("the reader stopped: {e}")));
        }
        if let Some(e) = failed {
            let _ = upload.abort().await;
            return Err(e);
        }
        upload.complete().await
    }

    /// Downloads `path` to the local file `local`, verified against the stored SHA-256.
    ///
    /// The bytes go to a temporary name beside `local` and are synced, then renamed; on any error (integrity included)
    /// the temporary file is removed and `local` is left as it was.
    async fn download_to_file(&self, path: &StorePath, local: &Path) -> Result<ObjectMeta> {
        crate::download::to_file(self, path, local, &DownloadOptions::default())
            .await
            .map(|d| d.meta)
    }

    /// Downloads `path` to the local file `local` as [`DownloadOptions`] say: resumable through a kept partial file,
    /// verified against an expected size and SHA-256 or the stored one, with progress. The final name appears only
    /// when the whole file is synced and verified; bytes that fail verification are never kept.
    async fn download_to_file_with(
        &self,
        path: &StorePath,
        local: &Path,
        options: &DownloadOptions,
    ) -> Result<Downloaded> {
        crate::download::to_file(self, path, local, options).await
    }

    /// Every file in the folder, collected.
    async fn list_all(&self, folder: &StorePath) -> Result<Vec<ObjectMeta>> {
        self.list(folder).try_collect().await
    }

    /// True when the file exists.
    async fn exists(&self, path: &StorePath) -> Result<bool> {
        match self.head(path).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<T: Store + ?Sized> StoreExt for T {}
