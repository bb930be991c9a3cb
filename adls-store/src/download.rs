//! Downloads to a local file: verified, atomic, optionally resumable, and light on the page cache.

use std::fmt::{self, Debug};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use sha2::Digest;

use crate::readahead::DigestWorker;
use crate::{Error, ObjectMeta, Result, Store, StorePath};

/// How [`StoreExt::download_to_file_with`](crate::StoreExt::download_to_file_with) downloads.
#[derive(Clone, Default)]
pub struct DownloadOptions {
    /// Download through this file and keep it when the transfer breaks, so that a later call with the same `partial`
    /// continues from its length (the bytes it holds are hashed again, not trusted). It is removed when the bytes fail
    /// verification or the file changed during the read. Without it, a temporary name beside the destination is used
    /// and removed on any error.
    pub partial: Option<PathBuf>,
    /// The size and SHA-256 (lowercase hex) the file must have, from a manifest for instance. Without it, the hash
    /// kept with the file is used when there is one.
    pub expected: Option<(u64, String)>,
    /// Called with each count of bytes added to the local file, the resumed part first.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Debug for DownloadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("partial", &self.partial)
            .field("expected", &self.expected)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What a finished download was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// [`DownloadOptions::expected`].
    Expected,
    /// The SHA-256 kept with the file in the store.
    Stored,
    /// Nothing: no expectation was given and the store keeps no hash for the file.
    Unverified,
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The file in the store, as it was when the download started.
    pub meta: ObjectMeta,
    /// The SHA-256 of the local file (lowercase hex).
    pub sha256: String,
    /// How many bytes a kept partial file already held.
    pub resumed_from: u64,
    /// What the bytes were checked against.
    pub verified: Verified,
}

pub(crate) async fn to_file<S: Store + ?Sized>(
    store: &S,
    path: &StorePath,
    local: &Path,
    opts: &DownloadOptions,
) -> Result<Downloaded> {
    let meta = store.head(path).await?;
    let (expected, verified) = match (&opts.expected, &meta.sha256) {
        (Some(e), _) => (Some(e.clone()), Verified::Expected),
        (None, Some(sha)) => (Some((meta.size, sha.clone())), Verified::Stored),
        (None, None) => (None, Verified::Unverified),
    };
    // A size that differs is known before anything is transferred.
    if let Some((size, _)) = &expected
        && *size != meta.size
    {
        return Err(Error::Integrity {
            path: path.to_string(),
            expected: format!("{size} bytes"),
            actual: format!("{} bytes in the store", meta.size),
        });
    }
    let dir = local.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (temp, keep_partial) = match &opts.partial {
        Some(p) => (p.clone(), true),
        None => {
            (dir.join(format!("{}{}", crate::PARTIAL_PREFIX, uuid::Uuid::new_v4().simple())), false)
        }
    };
    // Two downloads into one partial would interleave their bytes: the partial is locked for the whole download
    // (and the lock is the partial's, so it goes with the file when it is renamed into place).
    let _lock = if keep_partial { Some(lock_partial(&temp)?) } else { None };
    let mismatch = |expected: String, actual: String| Error::Integrity {
        path: path.to_string(),
        expected,
        actual,
    };
    // The bytes received, against the size and the hash they must have.
    let check = |written: u64, sha256: &str| {
        if written != meta.size {
            return Err(mismatch(format!("{} bytes", meta.size), format!("{written} bytes")));
        }
        match &expected {
            Some((_, want)) if want != sha256 => Err(mismatch(want.clone(), sha256.to_owned())),
            _ => Ok(()),
        }
    };
    // Without a partial to keep, the bytes go into a file with no name (Linux's `O_TMPFILE`), linked into place once
    // they verified: no other process can open it by a name, so what is linked is what was hashed, and the file is
    // not read back from the disk.
    if !keep_partial && let Some(file) = unnamed::create(dir) {
        let (sha256, written, file) =
            fill(store, path, &meta, file, sha2::Sha256::new(), 0, local, opts).await?;
        check(written, &sha256)?;
        let (into, folder) = (local.to_owned(), dir.to_owned());
        tokio::task::spawn_blocking(move || unnamed::link_into_place(&file, &into, &folder))
            .await
            .map_err(|e| Error::transport("link", local.display(), e))?
            .map_err(|e| Error::from_io("link", local.display(), &e))?;
        sync_folder(dir);
        return Ok(Downloaded { meta: meta.clone(), sha256, resumed_from: 0, verified });
    }
    let outcome = async {
        let (sha256, written, resumed_from) = transfer(store, path, &meta, &temp, opts).await?;
        check(written, &sha256)?;
        // What is renamed into place is what was checked: the file, which has a name others could open, is hashed
        // again from the disk, so bytes that another writer (one that ignores the lock) put into it are caught, not
        // reported verified.
        let (_, on_disk) =
            hash_local_file(&temp).await.map_err(|e| Error::from_io("read", temp.display(), &e))?;
        if on_disk != sha256 {
            return Err(mismatch(
                format!("{sha256} (the bytes received)"),
                format!("{on_disk} (the file written; something else wrote to it)"),
            ));
        }
        tokio::fs::rename(&temp, local)
            .await
            .map_err(|e| Error::from_io("rename", local.display(), &e))?;
        sync_folder(dir);
        Ok(Downloaded { meta: meta.clone(), sha256, resumed_from, verified })
    }
    .await;
    if let Err(e) = &outcome {
        // A kept partial survives a broken transfer; never bytes that failed verification, nor bytes of a file that
        // was replaced while it was read.
        // An empty partial holds nothing to continue: it is not left behind either.
        let empty = tokio::fs::metadata(&temp).await.is_ok_and(|m| m.len() == 0);
        if !keep_partial
            || empty
            || matches!(e, Error::Integrity { .. } | Error::Precondition { .. })
        {
            let _ = tokio::fs::remove_file(&temp).await;
        }
    }
    outcome
}

/// The bytes of a local file read at a time to hash it.
const HASH_READ: usize = 4 << 20;

/// The size and SHA-256 of a local file, read on a blocking thread: the one way a local file is hashed.
///
/// # Errors
/// When the file cannot be read.
pub async fn hash_local_file(file: &Path) -> std::io::Result<(u64, String)> {
    let path = file.to_owned();
    tokio::task::spawn_blocking(move || {
        use sha2::Digest as _;
        let mut f = File::open(&path)?;
        let mut hasher = sha2::Sha256::new();
        // Large reads: `io::copy` into the hasher reads 8 KiB at a time, and those syscalls cost more CPU than the
        // hash itself (a profile of a 1 GiB download showed 41% of its CPU there).
        let mut buf = vec![0u8; HASH_READ];
        let mut size = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((size, hex::encode(hasher.finalize())))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Transfers what `temp` lacks of the file and syncs it; returns its SHA-256, its length, and the length it had.
async fn transfer<S: Store + ?Sized>(
    store: &S,
    path: &StorePath,
    meta: &ObjectMeta,
    temp: &Path,
    opts: &DownloadOptions,
) -> Result<(String, u64, u64)> {
    let size = meta.size;
    // A partial left by a download of another file (or another version of this one) would only fail at the end,
    // after the whole transfer: its last bytes are compared with the store's, and it starts over if they differ.
    let mut keep = true;
    if let Some((at, local)) =
        local_tail(temp, size).await.map_err(|e| Error::from_io("read", temp.display(), &e))?
    {
        let read = store.get_range(path, Some(at..at + local.len() as u64)).await?;
        let remote: Vec<Bytes> = futures::TryStreamExt::try_collect(read.stream).await?;
        keep = remote.concat() == local;
    }
    let open = temp.to_owned();
    let (file, prefix, have) = tokio::task::spawn_blocking(move || open_partial(&open, size, keep))
        .await
        .map_err(|e| Error::transport("download", temp.display(), e))?
        .map_err(|e| Error::from_io("open", temp.display(), &e))?;
    let (sha, written, _file) = fill(store, path, meta, file, prefix, have, temp, opts).await?;
    Ok((sha, written, have))
}

/// Writes the bytes `file` lacks (it holds `have`, whose hash state is `prefix`), hashing them on the way, and syncs
/// it; returns the SHA-256, the length written in all, and the file. `shown` names it in errors.
#[allow(clippy::too_many_arguments, reason = "the parts of one download, shared by its two ways")]
async fn fill<S: Store + ?Sized>(
    store: &S,
    path: &StorePath,
    meta: &ObjectMeta,
    file: File,
    prefix: sha2::Sha256,
    have: u64,
    shown: &Path,
    opts: &DownloadOptions,
) -> Result<(String, u64, File)> {
    let size = meta.size;
    let progress = |n: u64| {
        if let Some(p) = &opts.progress {
            p(n);
        }
    };
    progress(have);
    let hash = DigestWorker::spawn_from(prefix);
    // Writes happen on their own thread, overlapping with the transfer and the hashing.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut cache = PageCache::new(have);
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
            cache.written(&file, chunk.len() as u64);
        }
        file.sync_all()?;
        cache.release(&file);
        Ok::<_, std::io::Error>(file)
    });
    let mut written = have;
    let mut failed = None;
    if have < size {
        match store.get_range(path, Some(have..size)).await {
            Ok(read) => {
                let mut stream = read.stream;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => {
                            hash.update(chunk.clone()).await;
                            let n = chunk.len() as u64;
                            // A send fails only when the writer stopped; its error is reported below.
                            if tx.send(chunk).await.is_err() {
                                break;
                            }
                            written += n;
                            progress(n);
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            Err(e) => failed = Some(e),
        }
    }
    drop(tx);
    let wrote = writer.await.map_err(|e| Error::transport("write", shown.display(), e))?;
    let file = wrote.map_err(|e| Error::from_io("write", shown.display(), &e))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let sha = hex::encode(hash.finish().await?);
    Ok((sha, written, file))
}

/// A rename or a link is durable once its folder is synced.
fn sync_folder(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Files with no name until they are linked into place (Linux `O_TMPFILE`, linked through `/proc/self/fd`).
#[cfg(target_os = "linux")]
mod unnamed {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};

    /// A new file with no name in `dir`, readable and writable by its owner alone; `None` when the file system or
    /// the system cannot make one, or cannot link it later (no `/proc`).
    pub(super) fn create(dir: &Path) -> Option<File> {
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600)).ok()?;
        Some(File::from(fd))
    }

    /// Gives `file` the name `local`, replacing a file there: linked under a fresh name beside it, then renamed over
    /// it (a link cannot replace a name).
    pub(super) fn link_into_place(file: &File, local: &Path, dir: &Path) -> std::io::Result<()> {
        let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
        let staged =
            dir.join(format!("{}{}", crate::PARTIAL_PREFIX, uuid::Uuid::new_v4().simple()));
        rustix::fs::linkat(CWD, proc.as_str(), CWD, &staged, AtFlags::SYMLINK_FOLLOW)?;
        std::fs::rename(&staged, local).inspect_err(|_| {
            let _ = std::fs::remove_file(&staged);
        })
    }
}

/// Elsewhere every download goes through a named partial file, hashed again before it is renamed.
#[cfg(not(target_os = "linux"))]
mod unnamed {
    use std::fs::File;
    use std::path::Path;

    pub(super) fn create(_dir: &Path) -> Option<File> {
        None
    }

    pub(super) fn link_into_place(_file: &File, _local: &Path, _dir: &Path) -> std::io::Result<()> {
        Err(std::io::Error::other("no unnamed files here"))
    }
}

/// Opens (creating) the partial file and locks it for this process, or says that another download holds it.
fn lock_partial(temp: &Path) -> Result<File> {
    let file = crate::positional::owner_only(&mut std::fs::OpenOptions::new())
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(temp)
        .map_err(|e| Error::from_io("open", temp.display(), &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Precondition {
            path: temp.display().to_string(),
            detail: "another download is writing this partial file now; wait for it to finish, or download to another folder".into(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::from_io("lock", temp.display(), &e)),
    }
}

/// How many of a partial file's last bytes are compared with the store before it is continued.
const TAIL_CHECK: u64 = 64 << 10;

/// The last bytes of the partial file `temp` and where they start, when it exists, is not empty and is no longer
/// than `size`.
async fn local_tail(temp: &Path, size: u64) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    let temp = temp.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = match File::open(&temp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len == 0 || len > size {
            return Ok(None);
        }
        let n = len.min(TAIL_CHECK);
        let mut buf = vec![0u8; n as usize];
        crate::positional::read_exact_at(&file, &mut buf, len - n)?;
        Ok(Some((len - n, buf)))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Opens (or creates) the partial file for appending, keeping what it holds when `keep` and it is no longer than
/// `size`, and returns it with the SHA-256 state of the kept bytes and their count.
fn open_partial(temp: &Path, size: u64, keep: bool) -> std::io::Result<(File, sha2::Sha256, u64)> {
    let mut file = crate::positional::owner_only(&mut std::fs::OpenOptions::new())
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(temp)?;
    let mut have = file.metadata()?.len();
    if have > size || !keep {
        file.set_len(0)?;
        have = 0;
    }
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    while read < have {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    // The file may have shrunk while it was read; what was hashed is what is kept.
    file.set_len(read)?;
    file.seek(std::io::SeekFrom::Start(read))?;
    Ok((file, hasher, read))
}

/// Keeps a long download from filling the page cache with dirty pages that would all be written at the final sync.
///
/// After each window of [`PageCache::WINDOW`] bytes, `POSIX_FADV_DONTNEED` over the last two windows starts the
/// writeback of the newest (Linux starts writeback of dirty pages in the range) and drops the one before, whose
/// writeback has had a window's time to finish. After the final sync, the whole file is dropped. It is advice: a
/// failure changes nothing but memory use, and the final sync reports any write error.
struct PageCache {
    /// Where the previous window starts.
    previous: u64,
    /// Where the current window starts.
    current: u64,
    /// The end of the bytes written.
    end: u64,
    /// Where this download's writing started.
    start: u64,
}

impl PageCache {
    const WINDOW: u64 = 32 << 20;

    fn new(start: u64) -> Self {
        Self { previous: start, current: start, end: start, start }
    }

    fn written(&mut self, file: &File, n: u64) {
        self.end += n;
        if self.end - self.current >= Self::WINDOW {
            advise_done(file, self.previous, self.end);
            self.previous = self.current;
            self.current = self.end;
        }
    }

    fn release(&self, file: &File) {
        advise_done(file, self.start, self.end);
    }
}

#[cfg(target_os = "linux")]
fn advise_done(file: &File, from: u64, to: u64) {
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_done(_file: &File, _from: u64, _to: u64) {}
