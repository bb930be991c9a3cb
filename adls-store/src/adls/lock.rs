//! Run locks on ADLS Gen2: Blob leases on a small file (the Lease Blob operation of the Blob API; DFS has none).

use std::time::Duration;

use async_trait::async_trait;
use azure_core::prelude::LeaseBreakPeriod;
use azure_core::request_options::{LeaseDuration, LeaseId};
use bytes::Bytes;

use super::AdlsStore;
use super::error::map_err;
use crate::lock::LOCK_FILE_TEXT;
use crate::{Error, LockId, Locks, PutMode, Result, StoreExt, StorePath};

fn lease_id(path: &StorePath, id: &LockId) -> Result<LeaseId> {
    id.0.parse::<LeaseId>().map_err(|_| Error::Locked {
        path: path.to_string(),
        detail: "the lock id is not a lease id".into(),
    })
}

#[async_trait]
impl Locks for AdlsStore {
    async fn acquire(&self, path: &StorePath, ttl: Duration) -> Result<LockId> {
        // A lease needs a blob: the lock file is made once, as any file, and never written again.
        match self.put(path, Bytes::from_static(LOCK_FILE_TEXT), PutMode::Create).await {
            Ok(_) | Err(Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let seconds = u8::try_from(ttl.as_secs().clamp(15, 60)).unwrap_or(60);
        let got = self
            .blob(path)
            .acquire_lease(LeaseDuration::Seconds(seconds))
            .await
            .map_err(|e| map_err("lock", path, e))?;
        Ok(LockId(got.lease_id.to_string()))
    }

    async fn renew(&self, path: &StorePath, id: &LockId) -> Result<()> {
        self.blob(path)
            .blob_lease_client(lease_id(path, id)?)
            .renew()
            .await
            .map(drop)
            .map_err(|e| map_err("renew the lock", path, e))
    }

    async fn release(&self, path: &StorePath, id: &LockId) -> Result<()> {
        self.blob(path)
            .blob_lease_client(lease_id(path, id)?)
            .release()
            .await
            .map(drop)
            .map_err(|e| map_err("release the lock", path, e))
    }

    async fn break_lock(&self, path: &StorePath) -> Result<()> {
        match self
            .blob(path)
            .break_lease()
            .lease_break_period(LeaseBreakPeriod::from(Duration::ZERO))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_err("break the lock", path, e) {
                // No lease (or no lock file) to break: nothing holds it.
                Error::Locked { detail, .. } if detail == "LeaseNotPresentWithLeaseOperation" => {
                    Ok(())
                }
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}
