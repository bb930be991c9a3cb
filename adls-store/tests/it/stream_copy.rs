//! A copy streamed through the client (`stream_copy`, the fallback when the service may not read the source): the
//! read and the write share one transfer's budget of requests in flight, so the copy holds no more memory than an
//! upload or a download alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adls_store::{AdlsStore, Credential, PutMode, Store, StoreExt, StorePath, conformance};
use test_fixtures::dfs::{Fault, Op};

use crate::adls::{FS, config_for, env};

/// 24 chunks each way: enough requests to fill every slot.
const CHUNK: usize = 64 << 10;
const LEN: usize = 24 * CHUNK;
const CONCURRENCY: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_copy_gives_each_side_half_of_the_requests_in_flight() {
    let env = env().await;
    let mut config =
        config_for(&env.emu, Credential::AccountKey(env.emu.account_key().to_owned().into()));
    config.chunk_size = CHUNK;
    config.read_chunk_size = CHUNK;
    config.concurrency = CONCURRENCY;
    let store = AdlsStore::new(config).unwrap();
    store.ensure_filesystem(FS).await.unwrap();
    let from = StorePath::file(FS, "Finance", "model.abf").unwrap();
    let to = StorePath::file(FS, "Finance Copy", "model.abf").unwrap();
    let data = conformance::pattern(LEN, 3);
    // Each read and append waits in the emulator, so that requests overlap as far as the client lets them.
    let faults = env.emu.faults();
    faults.inject(Op::Read, Fault::Delay(Duration::from_millis(40)), 1000);
    faults.inject(Op::Append, Fault::Delay(Duration::from_millis(40)), 1000);

    // An upload and a download alone each use all their concurrency, and the emulator sees it.
    store.put(&from, data.clone(), PutMode::Create).await.unwrap();
    store.get_bytes(&from).await.unwrap();
    let (appends, reads) = (faults.peak_in_flight(Op::Append), faults.peak_in_flight(Op::Read));
    assert!(appends > CONCURRENCY / 2, "an upload alone had {appends} appends at once");
    assert!(reads > CONCURRENCY / 2, "a download alone had {reads} reads at once");

    faults.reset_peaks();
    let seen = AtomicU64::new(0);
    let meta = adls_store::stream_copy((&store, &from), (&store, &to), PutMode::Create, |n| {
        seen.fetch_add(n, Ordering::Relaxed);
    })
    .await
    .unwrap();

    let (appends, reads) = (faults.peak_in_flight(Op::Append), faults.peak_in_flight(Op::Read));
    assert!(
        (2..=CONCURRENCY / 2).contains(&appends) && (2..=CONCURRENCY / 2).contains(&reads),
        "the copy had {reads} reads and {appends} appends at once: each side should have half of {CONCURRENCY}, \
         in parallel"
    );
    assert_eq!(seen.into_inner(), LEN as u64, "every chunk was reported");
    assert_eq!(meta.sha256, store.head(&from).await.unwrap().sha256);
    assert_eq!(store.get_bytes(&to).await.unwrap(), data);
}
