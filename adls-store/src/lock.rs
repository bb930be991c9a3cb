//! Run locks: the storage's own lock on a small file, held by one run at a time, that ends by itself when its holder
//! stops renewing it (a killed process).
//!
//! - ADLS Gen2: a Blob lease (`PUT ?comp=lease`, 15–60 s, renewed while held) on a file created empty-ish beside the
//!   backups; another holder's acquire answers `409 LeaseAlreadyPresent`, which is [`Error::Locked`]. Breaking one
//!   (`x-ms-lease-action: break`, period 0) ends it at once.
//! - Local disk: an exclusive operating-system lock on the file (`File::try_lock`), which ends with the process that
//!   holds it; there is nothing to renew, and nothing another process can break.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Error, Result, StorePath};

/// A held lock, as its store knows it (a lease id; a key of the local store's held files).
#[derive(Clone, PartialEq, Eq)]
pub struct LockId(pub(crate) String);

impl std::fmt::Debug for LockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockId(..)")
    }
}

/// What a lock file holds (it is written once, when created, and never while a lock is held).
pub(crate) const LOCK_FILE_TEXT: &[u8] = b"pbi-backup run lock: held through the storage's own lock (a Blob lease) \
while a run of one policy and shard is in progress; it ends by itself when that run stops. Nothing else is kept here.\n";

/// The locks of a store.
#[async_trait]
pub trait Locks: Send + Sync {
    /// Takes the lock `path` for `ttl` (created when missing), or fails with [`Error::Locked`] while another holder
    /// has it. ADLS takes `ttl` from 15 to 60 s.
    async fn acquire(&self, path: &StorePath, ttl: Duration) -> Result<LockId>;

    /// Keeps a held lock for another `ttl`; [`Error::Locked`] when it was lost (broken, or expired and taken).
    async fn renew(&self, path: &StorePath, id: &LockId) -> Result<()>;

    /// Gives a held lock up.
    async fn release(&self, path: &StorePath, id: &LockId) -> Result<()>;

    /// Ends whoever holds `path` at once (for the person who knows that holder is gone); nothing when none does.
    async fn break_lock(&self, path: &StorePath) -> Result<()>;
}

/// The local store's held lock files, by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalLocks {
    held: Arc<Mutex<HashMap<String, File>>>,
}

impl LocalLocks {
    pub(crate) fn acquire(&self, file: &std::path::Path, shown: &StorePath) -> Result<LockId> {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::from_io("lock", shown, &e))?;
        }
        let mut open = std::fs::OpenOptions::new();
        open.read(true).write(true).create(true).truncate(false);
        let f = open.open(file).map_err(|e| Error::from_io("lock", shown, &e))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: shown.to_string(),
                    detail: "another process on this machine holds it".into(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::from_io("lock", shown, &e)),
        }
        if f.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            use std::io::Write as _;
            let _ = (&f).write_all(LOCK_FILE_TEXT);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.held.lock().expect("lock table").insert(id.clone(), f);
        Ok(LockId(id))
    }

    pub(crate) fn renew(&self, id: &LockId, shown: &StorePath) -> Result<()> {
        if self.held.lock().expect("lock table").contains_key(&id.0) {
            Ok(())
        } else {
            Err(Error::Locked { path: shown.to_string(), detail: "this lock is not held".into() })
        }
    }

    pub(crate) fn release(&self, id: &LockId) {
        // Dropping the file ends the operating system's lock.
        self.held.lock().expect("lock table").remove(&id.0);
    }
}
