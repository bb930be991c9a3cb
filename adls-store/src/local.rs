//! [`LocalStore`]: the embedded default backend, the ADLS layout under a root folder.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::readahead::Hashes;
use crate::store::{read_range, same_filesystem, writable};
use crate::{
    Error, GetResult, Incomplete, MultipartUpload, ObjectMeta, PutMode, Result, Store, StorePath,
};

const TMP_DIR: &str = ".tmp";
const META_DIR: &str = ".meta";
const READ_CHUNK: usize = 1 << 20;

/// Files on the local disk, laid out as in ADLS: `root/filesystem/workspace/file`.
///
/// A write goes to `root/.tmp/` and is synced, then renamed to its final name, so an interrupted write leaves nothing
/// under the final name. The SHA-256 of each file is kept beside it under `root/.meta/filesystem/workspace/file`
/// (filesystem names cannot start with `.`, so these folders never clash with data).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    locks: crate::lock::LocalLocks,
}

impl LocalStore {
    /// A store rooted at `root`, which is created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(TMP_DIR))
            .map_err(|e| Error::from_io("create", root.display(), &e))?;
        Ok(Self { root, locks: crate::lock::LocalLocks::default() })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_path(&self, path: &StorePath) -> PathBuf {
        let mut p = self.root.join(path.filesystem()).join(path.workspace());
        if let Some(f) = path.file_name() {
            p.push(f);
        }
        p
    }

    fn meta_path(&self, path: &StorePath) -> PathBuf {
        let mut p = self.root.join(META_DIR).join(path.filesystem()).join(path.workspace());
        if let Some(f) = path.file_name() {
            p.push(format!("{f}.sha256"));
        }
        p
    }

    async fn check_filesystem(&self, path: &StorePath) -> Result<()> {
        match tokio::fs::metadata(self.root.join(path.filesystem())).await {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(Error::NotFound { path: path.filesystem().to_owned() }),
        }
    }

    /// The SHA-256 kept with the file: `None` when none is kept; an unreadable one is an error, not "no hash" (which
    /// would switch verification off).
    async fn read_sha(&self, path: &StorePath) -> Result<Option<String>> {
        match tokio::fs::read_to_string(self.meta_path(path)).await {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from_io("read the hash of", path, &e)),
        }
    }

    async fn write_sha(&self, path: &StorePath, sha: &str) -> Result<()> {
        let meta = self.meta_path(path);
        if let Some(dir) = meta.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| Error::from_io("create", path, &e))?;
        }
        let temp = self.root.join(TMP_DIR).join(uuid::Uuid::new_v4().simple().to_string());
        // Synced before the rename, as the data is: a crash must not leave an empty hash beside whole data.
        let mut f =
            tokio::fs::File::create(&temp).await.map_err(|e| Error::from_io("write", path, &e))?;
        f.write_all(sha.as_bytes()).await.map_err(|e| Error::from_io("write", path, &e))?;
        f.sync_all().await.map_err(|e| Error::from_io("write", path, &e))?;
        drop(f);
        tokio::fs::rename(&temp, &meta).await.map_err(|e| Error::from_io("write", path, &e))
    }

    async fn meta_of(&self, path: &StorePath) -> Result<ObjectMeta> {
        let md = tokio::fs::metadata(self.data_path(path))
            .await
            .map_err(|e| Error::from_io("stat", path, &e))?;
        if !md.is_file() {
            return Err(Error::NotFound { path: path.to_string() });
        }
        Ok(ObjectMeta {
            path: path.clone(),
            size: md.len(),
            last_modified: md.modified().ok().map(time::OffsetDateTime::from),
            etag: None,
            sha256: self.read_sha(path).await?,
        })
    }

    /// [`LocalStore::place`], keeping `sha` with the file: before the data when replacing (so the new data is never
    /// seen with no hash), after it when creating (so a refused create leaves the existing hash alone).
    async fn place_with_sha(
        &self,
        temp: &Path,
        path: &StorePath,
        mode: PutMode,
        sha: Option<&str>,
    ) -> Result<()> {
        match (mode, sha) {
            (PutMode::Overwrite, Some(sha)) => {
                self.write_sha(path, sha).await?;
                self.place(temp, path, mode).await
            }
            (PutMode::Create, Some(sha)) => {
                self.place(temp, path, mode).await?;
                self.write_sha(path, sha).await
            }
            (_, None) => {
                let _ = tokio::fs::remove_file(self.meta_path(path)).await;
                self.place(temp, path, mode).await
            }
        }
    }

    /// Moves `temp` to the final name of `path`, honouring `mode` (a hard link refuses an existing target atomically).
    async fn place(&self, temp: &Path, path: &StorePath, mode: PutMode) -> Result<()> {
        let dest = self.data_path(path);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| Error::from_io("create", path, &e))?;
        }
        match mode {
            PutMode::Overwrite => {
                tokio::fs::rename(temp, &dest)
                    .await
                    .map_err(|e| Error::from_io("rename", path, &e))?;
            }
            PutMode::Create => {
                tokio::fs::hard_link(temp, &dest)
                    .await
                    .map_err(|e| Error::from_io("rename", path, &e))?;
                let _ = tokio::fs::remove_file(temp).await;
            }
        }
        if let Some(dir) = dest.parent() {
            // Make the rename durable.
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
        }
        Ok(())
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local store at {}", self.root.display())
    }
}

#[async_trait]
impl crate::Locks for LocalStore {
    async fn acquire(&self, path: &StorePath, _ttl: std::time::Duration) -> Result<crate::LockId> {
        self.locks.acquire(&self.data_path(path), path)
    }

    async fn renew(&self, path: &StorePath, id: &crate::LockId) -> Result<()> {
        self.locks.renew(id, path)
    }

    async fn release(&self, _path: &StorePath, id: &crate::LockId) -> Result<()> {
        self.locks.release(id);
        Ok(())
    }

    async fn break_lock(&self, path: &StorePath) -> Result<()> {
        Err(Error::Config(format!(
            "the lock {path} on the local disk is held by a running process on this machine and ends when it ends; it \
             cannot be broken, stop that process instead"
        )))
    }
}

#[async_trait]
impl Store for LocalStore {
    fn locks(&self) -> &dyn crate::Locks {
        self
    }

    async fn ensure_filesystem(&self, filesystem: &str) -> Result<()> {
        crate::path::validate_filesystem(filesystem)?;
        tokio::fs::create_dir_all(self.root.join(filesystem))
            .await
            .map_err(|e| Error::from_io("create", filesystem, &e))
    }

    fn list(&self, folder: &StorePath) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = self.clone();
        let folder = folder.folder_path();
        futures::stream::once(async move {
            this.check_filesystem(&folder).await?;
            let dir = this.data_path(&folder);
            let mut names = Vec::new();
            match tokio::fs::read_dir(&dir).await {
                Ok(mut entries) => {
                    while let Some(entry) = entries
                        .next_entry()
                        .await
                        .map_err(|e| Error::from_io("list", &folder, &e))?
                    {
                        let is_file = entry.file_type().await.map(|t| t.is_file()).unwrap_or(false);
                        if let (true, Ok(name)) = (is_file, entry.file_name().into_string()) {
                            names.push(name);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::from_io("list", &folder, &e)),
            }
            names.sort();
            let paths: Vec<StorePath> = names.iter().filter_map(|n| folder.join(n).ok()).collect();
            Ok(futures::stream::iter(paths).then(move |p| {
                let this = this.clone();
                async move { this.meta_of(&p).await }
            }))
        })
        .try_flatten()
        .boxed()
    }

    async fn head(&self, path: &StorePath) -> Result<ObjectMeta> {
        if path.is_folder() {
            return Err(Error::NotFound { path: path.to_string() });
        }
        self.meta_of(path).await
    }

    async fn get_range(&self, path: &StorePath, range: Option<Range<u64>>) -> Result<GetResult> {
        let meta = self.head(path).await?;
        let whole = range.is_none();
        let range = read_range(path, range, meta.size)?;
        let mut file = tokio::fs::File::open(self.data_path(path))
            .await
            .map_err(|e| Error::from_io("read", path, &e))?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| Error::from_io("read", path, &e))?;
        let err_path = path.clone();
        let remaining = range.end - range.start;
        let stream =
            futures::stream::try_unfold((file, remaining), move |(mut file, remaining)| {
                let err_path = err_path.clone();
                async move {
                    if remaining == 0 {
                        return Ok(None);
                    }
                    let want = remaining.min(READ_CHUNK as u64) as usize;
                    let mut buf = bytes::BytesMut::with_capacity(want);
                    while buf.len() < want {
                        let n = (&mut file)
                            .take((want - buf.len()) as u64)
                            .read_buf(&mut buf)
                            .await
                            .map_err(|e| Error::from_io("read", &err_path, &e))?;
                        if n == 0 {
                            return Err(Error::transport(
                                "read",
                                &err_path,
                                "the file is shorter than its length",
                            ));
                        }
                    }
                    Ok(Some((buf.freeze(), (file, remaining - want as u64))))
                }
            })
            .boxed();
        Ok(GetResult::new(path, meta, range, whole, stream))
    }

    async fn put_multipart(
        &self,
        path: &StorePath,
        mode: PutMode,
    ) -> Result<Box<dyn MultipartUpload>> {
        writable(path)?;
        self.check_filesystem(path).await?;
        if mode == PutMode::Create
            && tokio::fs::try_exists(self.data_path(path)).await.unwrap_or(false)
        {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        let temp = self.root.join(TMP_DIR).join(uuid::Uuid::new_v4().simple().to_string());
        let file =
            tokio::fs::File::create(&temp).await.map_err(|e| Error::from_io("create", path, &e))?;
        Ok(Box::new(LocalUpload {
            store: self.clone(),
            path: path.clone(),
            mode,
            temp: Some(temp),
            file: Some(file),
            hashes: Hashes::new(false),
        }))
    }

    async fn rename(&self, from: &StorePath, to: &StorePath, mode: PutMode) -> Result<()> {
        same_filesystem(from, to)?;
        let sha = self.meta_of(from).await?.sha256;
        if from == to {
            // Onto itself: nothing moves (and the hash removal below would drop the file's own hash).
            return match mode {
                PutMode::Overwrite => Ok(()),
                PutMode::Create => Err(Error::AlreadyExists { path: to.to_string() }),
            };
        }
        // `place` renames the file (or, for `Create`, links it and removes the source name).
        self.place_with_sha(&self.data_path(from), to, mode, sha.as_deref()).await?;
        let _ = tokio::fs::remove_file(self.meta_path(from)).await;
        Ok(())
    }

    async fn delete(&self, path: &StorePath) -> Result<()> {
        let data = self.data_path(path);
        if path.is_folder() {
            self.check_filesystem(path).await?;
            tokio::fs::remove_dir_all(&data)
                .await
                .map_err(|e| Error::from_io("delete", path, &e))?;
            let _ = tokio::fs::remove_dir_all(self.meta_path(path)).await;
        } else {
            let md =
                tokio::fs::metadata(&data).await.map_err(|e| Error::from_io("delete", path, &e))?;
            if !md.is_file() {
                return Err(Error::NotFound { path: path.to_string() });
            }
            tokio::fs::remove_file(&data).await.map_err(|e| Error::from_io("delete", path, &e))?;
            let _ = tokio::fs::remove_file(self.meta_path(path)).await;
        }
        Ok(())
    }

    async fn list_incomplete(&self, folder: &StorePath) -> Result<Vec<Incomplete>> {
        self.incomplete(folder).await
    }

    async fn delete_incomplete(&self, incomplete: &Incomplete) -> Result<()> {
        let name = &incomplete.name;
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(Error::Precondition {
                path: incomplete.location.clone(),
                detail: "not an upload in progress of this store".into(),
            });
        }
        let path = self.root.join(TMP_DIR).join(name);
        tokio::fs::remove_file(&path)
            .await
            .map_err(|e| Error::from_io("delete", path.display(), &e))
    }

    async fn create_folder(&self, folder: &StorePath) -> Result<()> {
        let folder = folder.folder_path();
        self.check_filesystem(&folder).await?;
        tokio::fs::create_dir_all(self.data_path(&folder))
            .await
            .map_err(|e| Error::from_io("create", &folder, &e))
    }

    /// The folder and its hashes' folder, each one `rename` of a directory; a target that exists is refused first
    /// (a rename would replace an empty one).
    async fn rename_folder(&self, from: &StorePath, to: &StorePath) -> Result<()> {
        let (from, to) = (from.folder_path(), to.folder_path());
        same_filesystem(&from, &to)?;
        if self.folder_exists(&to).await? {
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        tokio::fs::rename(self.data_path(&from), self.data_path(&to)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound { path: from.to_string() }
            } else {
                Error::from_io("rename", &from, &e)
            }
        })?;
        match tokio::fs::rename(self.meta_path(&from), self.meta_path(&to)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::from_io("rename", &from, &e)),
        }
    }

    async fn remove_empty_folder(&self, folder: &StorePath) -> Result<bool> {
        let folder = folder.folder_path();
        match tokio::fs::remove_dir(self.data_path(&folder)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
            Err(e) => Err(Error::from_io("remove", &folder, &e)),
        }
    }

    async fn folder_exists(&self, folder: &StorePath) -> Result<bool> {
        let folder = folder.folder_path();
        match tokio::fs::metadata(self.data_path(&folder)).await {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::from_io("stat", &folder, &e)),
        }
    }
}

impl LocalStore {
    /// The entries of `root/.tmp`, the uploads in progress of every folder.
    async fn incomplete(&self, folder: &StorePath) -> Result<Vec<Incomplete>> {
        let dir = self.root.join(TMP_DIR);
        let mut found = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(Error::from_io("list", dir.display(), &e)),
        };
        while let Some(entry) =
            entries.next_entry().await.map_err(|e| Error::from_io("list", dir.display(), &e))?
        {
            let Ok(md) = entry.metadata().await else { continue };
            let Ok(name) = entry.file_name().into_string() else { continue };
            if md.is_file() {
                found.push(Incomplete {
                    location: entry.path().display().to_string(),
                    size: Some(md.len()),
                    last_modified: md.modified().ok().map(time::OffsetDateTime::from),
                    folder: folder.folder_path(),
                    name,
                });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

struct LocalUpload {
    store: LocalStore,
    path: StorePath,
    mode: PutMode,
    temp: Option<PathBuf>,
    file: Option<tokio::fs::File>,
    hashes: Hashes,
}

impl fmt::Debug for LocalUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUpload")
            .field("path", &self.path)
            .field("written", &self.hashes.len)
            .finish()
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[async_trait]
impl MultipartUpload for LocalUpload {
    async fn put_part(&mut self, data: Bytes) -> Result<()> {
        if self.file.is_none() {
            return Err(Error::transport("upload", &self.path, "upload already ended"));
        }
        self.hashes.update(&data).await;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::transport("upload", &self.path, "upload already ended"))?;
        file.write_all(&data).await.map_err(|e| Error::from_io("upload", &self.path, &e))
    }

    async fn complete(mut self: Box<Self>) -> Result<ObjectMeta> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::transport("upload", &self.path, "upload already ended"))?;
        file.flush().await.map_err(|e| Error::from_io("upload", &self.path, &e))?;
        file.sync_all().await.map_err(|e| Error::from_io("upload", &self.path, &e))?;
        drop(file);
        let (sha, _md5) = self.hashes.finish().await?;
        let temp = self.temp.clone().expect("temp is set until complete or abort");
        self.store.place_with_sha(&temp, &self.path, self.mode, Some(&sha)).await?;
        self.temp = None;
        self.store.meta_of(&self.path).await
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file = None;
        if let Some(temp) = self.temp.take() {
            tokio::fs::remove_file(&temp)
                .await
                .map_err(|e| Error::from_io("abort", &self.path, &e))?;
        }
        Ok(())
    }
}
