//! The [`Store`] trait, its blanket [`StoreExt`], and the types they exchange.

use std::fmt::{Debug, Display};
use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    /// Copies the file `from` to `to` (which may be in another workspace folder).
    async fn copy(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()>;

    /// Moves the file `from` to `to` in the same filesystem.
    async fn rename(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()>;

    /// Deletes a file, or a workspace folder with everything in it.
    async fn delete(&self, path: &StorePath) -> Result<()>;
}

/// Conveniences available on every [`Store`]; implementors must not implement it.
#[async_trait]
pub trait StoreExt: Store {
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
    async fn upload_file(
        &self,
        local: &Path,
        path: &StorePath,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        const PART: usize = 8 << 20;
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::from_io("open", local.display(), &e))?;
        let mut upload = self.put_multipart(path, mode).await?;
        loop {
            let mut buf = bytes::BytesMut::with_capacity(PART);
            let read = async {
                while buf.len() < PART {
                    if file.read_buf(&mut buf).await? == 0 {
                        break;
                    }
                }
                Ok::<_, std::io::Error>(())
            }
            .await;
            if let Err(e) = read {
                let _ = upload.abort().await;
                return Err(Error::from_io("read", local.display(), &e));
            }
            if buf.is_empty() {
                break;
            }
            if let Err(e) = upload.put_part(buf.freeze()).await {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        upload.complete().await
    }

    /// Downloads `path` to the local file `local`, verified against the stored SHA-256.
    ///
    /// The bytes go to a temporary name beside `local` and are synced, then renamed; on any error (integrity included)
    /// the temporary file is removed and `local` is left as it was.
    async fn download_to_file(&self, path: &StorePath, local: &Path) -> Result<ObjectMeta> {
        let dir = local.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = dir.join(format!("{}{}", crate::PARTIAL_PREFIX, uuid::Uuid::new_v4().simple()));
        let outcome = async {
            let result = self.get(path).await?;
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| Error::from_io("create", temp.display(), &e))?;
            let mut stream = result.stream;
            let mut written = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Error::from_io("write", temp.display(), &e))?;
            }
            if written != result.meta.size {
                return Err(Error::Integrity {
                    path: path.to_string(),
                    expected: format!("{} bytes", result.meta.size),
                    actual: format!("{written} bytes"),
                });
            }
            file.sync_all().await.map_err(|e| Error::from_io("sync", temp.display(), &e))?;
            drop(file);
            tokio::fs::rename(&temp, local)
                .await
                .map_err(|e| Error::from_io("rename", local.display(), &e))?;
            Ok(result.meta)
        }
        .await;
        if outcome.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        outcome
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

/// SHA-256 and MD5 of a byte stream, computed as it passes.
#[derive(Clone, Default)]
pub(crate) struct Hashes {
    pub(crate) sha256: sha2::Sha256,
    pub(crate) md5: md5::Md5,
    pub(crate) len: u64,
}

impl Hashes {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.md5.update(data);
        self.len += data.len() as u64;
    }

    /// (SHA-256 as lowercase hex, MD5 as raw bytes).
    pub(crate) fn finish(self) -> (String, [u8; 16]) {
        (hex::encode(self.sha256.finalize()), self.md5.finalize().into())
    }
}

/// Wraps a whole-file stream so that it ends with [`Error::Integrity`] when the bytes do not hash to `expected`, or are
/// not `size` bytes long.
pub(crate) fn verify_stream(
    stream: BoxStream<'static, Result<Bytes>>,
    path: StorePath,
    size: u64,
    expected: Option<String>,
) -> BoxStream<'static, Result<Bytes>> {
    let Some(expected) = expected else { return stream };
    let state = (stream, sha2::Sha256::new(), 0u64, Some((path, expected)));
    futures::stream::unfold(state, move |(mut stream, mut sha, mut len, check)| async move {
        let check = check?;
        match stream.next().await {
            Some(Ok(chunk)) => {
                sha.update(&chunk);
                len += chunk.len() as u64;
                Some((Ok(chunk), (stream, sha, len, Some(check))))
            }
            Some(Err(e)) => Some((Err(e), (stream, sha, len, None))),
            None => {
                let (path, expected) = check;
                let actual = hex::encode(sha.finalize_reset());
                if len != size {
                    let err = Error::Integrity {
                        path: path.to_string(),
                        expected: format!("{size} bytes"),
                        actual: format!("{len} bytes"),
                    };
                    Some((Err(err), (stream, sha, len, None)))
                } else if actual != expected {
                    Some((
                        Err(Error::Integrity { path: path.to_string(), expected, actual }),
                        (stream, sha, len, None),
                    ))
                } else {
                    None
                }
            }
        }
    })
    .boxed()
}
