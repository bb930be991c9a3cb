//! The run lock: one run of a policy and shard at a time. A `run` holds the storage's own lock (adls-store's
//! [`Locks`](adls_store::Locks): a Blob lease on ADLS, an operating-system lock on the local disk) on
//! `power-bi-backup/.pbi-backup-locks/<policy>[ shard K of N].lock` in every account the policy writes to, before it
//! backs up or prunes anything, and renews it while it runs. A second run finds it held and stops (exit 7); a lock
//! left by a killed run ends by itself within [`TTL`]; `--break-lock` ends it at once for the person who knows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use adls_store::{LockId, Store, StorePath};

use super::schedule::Shard;
use crate::error::{Error, Result};
use crate::layout::BACKUP_FILESYSTEM;

/// The folder of the lock files, beside the workspace folders. It holds no `.abf`, so `list` and `prune` find nothing
/// in it should a workspace ever bear its name.
pub(crate) const LOCK_FOLDER: &str = ".pbi-backup-locks";
/// How long a run's lock lasts unless renewed: a killed run's lock ends this long after its last renewal. It is
/// renewed every third of it.
pub(crate) const TTL: Duration = Duration::from_secs(60);

/// The lock file of a policy and shard.
pub(crate) fn lock_path(policy: &str, shard: Option<Shard>) -> Result<StorePath> {
    let name = match shard {
        Some(s) => format!("{policy} shard {} of {}.lock", s.index, s.count),
        None => format!("{policy}.lock"),
    };
    StorePath::file(BACKUP_FILESYSTEM, LOCK_FOLDER, &name).map_err(|e| {
        Error::Usage(format!(
            "policy name '{policy}' cannot name its run lock ({e}); rename the policy"
        ))
    })
}

/// How long a drill's lock lasts unless renewed: the least a Blob lease may last (Lease Blob: 15 to 60 s), so that a
/// drill killed mid-way holds up the next drill into its workspace for seconds, not a minute.
pub(crate) const DRILL_TTL: Duration = Duration::from_secs(15);

/// The lock of the drills into the workspace `target`.
fn drill_lock_path(target: &str) -> Result<StorePath> {
    StorePath::file(BACKUP_FILESYSTEM, LOCK_FOLDER, &format!("drills into {target}.lock")).map_err(
        |e| Error::Usage(format!("workspace name '{target}' cannot name a drill lock ({e})")),
    )
}

/// Takes the lock of the drills into `target` in `store` (the target workspace's account, which every drill into
/// it copies its backup to). Held, it means no other drill restores into `target`: every scratch model found there
/// is a killed drill's. Held by another, it is waited for while a killed drill's lock may last ([`DRILL_TTL`] and a
/// few seconds), saying so after a few seconds; held beyond that, another drill is running: the store's
/// [`adls_store::Error::Locked`] (exit 7).
pub(crate) async fn take_drill_lock(store: Arc<dyn Store>, target: &str) -> Result<RunLock> {
    let path = drill_lock_path(target)?;
    let what = format!("a drill into '{target}'");
    let started = tokio::time::Instant::now();
    let deadline = started + DRILL_TTL + Duration::from_secs(5);
    let mut said = false;
    loop {
        match RunLock::take(vec![store.clone()], path.clone(), (&what, DRILL_TTL), false).await {
            Err(Error::Storage(adls_store::Error::Locked { .. }))
                if tokio::time::Instant::now() < deadline =>
            {
                if !said && started.elapsed() >= Duration::from_secs(3) {
                    said = true;
                    tracing::info!(
                        lock = %path,
                        "waiting for the lock of the drills into '{target}': another drill holds it, or a killed one left it (that ends within {} s)",
                        DRILL_TTL.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// The locks a run holds; renewed in the background until [`RunLock::release`].
#[derive(Debug)]
pub(crate) struct RunLock {
    held: Arc<Vec<(Arc<dyn Store>, LockId)>>,
    path: StorePath,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl RunLock {
    /// Takes the lock of `path` for `ttl` in every store (after breaking it, with `break_lock`), or gives back what
    /// it took and fails with the store's [`adls_store::Error::Locked`], which says who to wait for and the remedy.
    pub(crate) async fn take(
        stores: Vec<Arc<dyn Store>>,
        path: StorePath,
        (what, ttl): (&str, Duration),
        break_lock: bool,
    ) -> Result<RunLock> {
        let mut held: Vec<(Arc<dyn Store>, LockId)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for store in stores {
            let shown = store.to_string();
            if seen.contains(&shown) {
                continue;
            }
            seen.push(shown.clone());
            let taken = async {
                store.ensure_filesystem(BACKUP_FILESYSTEM).await?;
                if break_lock {
                    tracing::warn!(lock = %path, store = %shown, "breaking the run lock (--break-lock)");
                    store.locks().break_lock(&path).await?;
                }
                store.locks().acquire(&path, ttl).await
            };
            match taken.await {
                Ok(id) => held.push((store, id)),
                Err(e) => {
                    release_all(&held, &path).await;
                    return Err(match e {
                        adls_store::Error::Locked { path, .. } => {
                            Error::Storage(adls_store::Error::Locked {
                                path,
                                detail: format!(
                                    "another run of {what} holds it in {shown}, so this run did nothing; it ends by itself within {} s after that run stops: wait, or pass --break-lock if you know that run is gone",
                                    ttl.as_secs()
                                ),
                            })
                        }
                        other => Error::Storage(other),
                    });
                }
            }
        }
        let held = Arc::new(held);
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(held.clone(), path.clone(), lost.clone(), ttl / 3));
        Ok(RunLock { held, path, lost, renewer })
    }

    /// The lock could not be renewed in some store: another run may have taken it since, so nothing more is
    /// deleted.
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Gives every lock back (a failure is logged: the lock then ends by itself).
    pub(crate) async fn release(self) {
        self.renewer.abort();
        release_all(&self.held, &self.path).await;
    }
}

async fn release_all(held: &[(Arc<dyn Store>, LockId)], path: &StorePath) {
    for (store, id) in held {
        if let Err(e) = store.locks().release(path, id).await {
            tracing::warn!(lock = %path, store = %store, error = %e, "the run lock was not released; it ends by itself");
        }
    }
}

async fn renew(
    held: Arc<Vec<(Arc<dyn Store>, LockId)>>,
    path: StorePath,
    lost: Arc<AtomicBool>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        for (store, id) in held.iter() {
            if let Err(e) = store.locks().renew(&path, id).await {
                tracing::error!(lock = %path, store = %store, error = %e, "the run lock could not be renewed; this run prunes nothing more");
                lost.store(true, Ordering::SeqCst);
            }
        }
    }
}
