//! Every injected fault ends either in success with identical bytes, or in a clear error with nothing under the
//! final name.

use std::time::{Duration, Instant};

use adls_store::{Error, PutMode, Store, StoreExt, StorePath, conformance};
use bytes::Bytes;
use test_fixtures::dfs::{Fault, Op};

use crate::adls::{FS, env};

const SIZE: usize = 6 * 1024 * 1024 + 12_345; // 7 chunks of 1 MiB

fn data() -> Bytes {
    conformance::pattern(SIZE, 42)
}

async fn setup() -> (crate::adls::Env, StorePath) {
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    (env, StorePath::file(FS, "faults", "model.abf").unwrap())
}

/// Nothing under the final name, and no upload leftovers.
fn assert_nothing_left(env: &crate::adls::Env, file: &str) {
    let paths = env.emu.paths(FS);
    assert!(!paths.iter().any(|p| p == &format!("faults/{file}")), "final name present: {paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains(adls_store::PARTIAL_PREFIX)),
        "upload leftovers: {paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_503_with_retry_after_on_reads_is_retried_after_the_wait() {
    let (env, p) = setup().await;
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    env.emu.faults().inject(Op::Read, Fault::busy(1), 2);
    let start = Instant::now();
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({:?})",
        start.elapsed()
    );
    assert_eq!(env.emu.faults().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_503s_in_a_row_are_ridden_out_by_the_default_retry_count() {
    let (mut env, p) = setup().await;
    // One read request (the file is smaller than a read chunk), turned away twelve times.
    let small = Bytes::from_static(b"a small file, read in one request");
    env.store.put(&p, small.clone(), PutMode::Overwrite).await.unwrap();
    // The default policy, its waits shortened (time is its binding limit, not the count).
    let mut retry = adls_store::RetryConfig::default();
    retry.backoff.init_backoff = Duration::from_millis(1);
    retry.backoff.max_backoff = Duration::from_millis(20);
    let mut config = crate::adls::config_for(
        &env.emu,
        adls_store::Credential::AccountKey(env.emu.account_key().to_owned().into()),
    );
    config.retry = retry;
    env.store = adls_store::AdlsStore::new(config).unwrap();
    let reads = env.emu.request_count(Op::Read);
    env.emu.faults().inject(Op::Read, Fault::busy(0), 12);
    assert!(env.store.get_bytes(&p).await.unwrap() == small);
    assert_eq!(env.emu.request_count(Op::Read) - reads, 13, "one request, retried twelve times");
    assert_eq!(env.emu.faults().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_500_on_appends_flush_and_create_is_retried() {
    let (env, p) = setup().await;
    env.emu.faults().inject(Op::Append, Fault::internal(), 3);
    env.emu.faults().inject(Op::Flush, Fault::internal(), 1);
    env.emu.faults().inject(Op::Create, Fault::busy(0), 1);
    env.emu.faults().inject(Op::Rename, Fault::internal(), 1);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    assert_eq!(env.emu.faults().pending(), 0);
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cut_mid_body_resumes_from_the_chunks_already_held() {
    let (env, p) = setup().await;
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    let reads_before = env.emu.request_count(Op::Read);
    env.emu.faults().inject(Op::Read, Fault::CutResponseBody { after_bytes: 100_000 }, 3);
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("model.abf");
    env.store.download_to_file(&p, &local).await.unwrap();
    assert!(std::fs::read(&local).unwrap() == data());
    let reads = env.emu.request_count(Op::Read) - reads_before;
    // 7 chunks + 3 cut attempts re-asked: only the broken chunks are fetched again.
    assert_eq!(reads, 7 + 3, "only the broken chunks were read again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_cut_mid_body_on_appends_is_retried() {
    let (env, p) = setup().await;
    env.emu.faults().inject(Op::Append, Fault::CutRequestBody { after_bytes: 64 * 1024 }, 2);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_of_applied_appends_and_flush_are_retried() {
    let (env, p) = setup().await;
    // The append and the flush happen, but their answers never arrive.
    env.emu.faults().inject(Op::Append, Fault::CutResponseBody { after_bytes: 0 }, 2);
    env.emu.faults().inject(Op::Flush, Fault::CutResponseBody { after_bytes: 0 }, 1);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_rename_answer_still_completes_the_upload() {
    let (env, p) = setup().await;
    env.emu.faults().inject(Op::Rename, Fault::CutResponseBody { after_bytes: 0 }, 1);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    assert_eq!(env.emu.faults().pending(), 0);
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
    assert_nothing_left_but(&env, "model.abf");
}

fn assert_nothing_left_but(env: &crate::adls::Env, file: &str) {
    let paths = env.emu.paths(FS);
    assert_eq!(paths, vec!["faults".to_owned(), format!("faults/{file}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_still_succeed() {
    let (env, p) = setup().await;
    env.emu.faults().inject(Op::Any, Fault::Delay(Duration::from_millis(300)), 6);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    env.emu.faults().inject(Op::Read, Fault::Delay(Duration::from_millis(300)), 4);
    assert!(env.store.get_bytes(&p).await.unwrap() == data());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_503_on_flush_fails_clearly_and_leaves_nothing() {
    let (env, p) = setup().await;
    env.emu.faults().inject(Op::Flush, Fault::busy(0), 100);
    let err = env.store.put(&p, data(), PutMode::Overwrite).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(
        err.to_string().contains("power-bi-backup/faults/model.abf")
            && err.to_string().contains("503"),
        "{err}"
    );
    env.emu.faults().clear();
    assert_nothing_left(&env, "model.abf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_append_failure_keeps_an_existing_file_unchanged() {
    let (env, p) = setup().await;
    env.store.put(&p, Bytes::from_static(b"previous backup"), PutMode::Overwrite).await.unwrap();
    env.emu.faults().inject(Op::Append, Fault::internal(), 1000);
    let err = env.store.put(&p, data(), PutMode::Overwrite).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    env.emu.faults().clear();
    assert_eq!(env.store.get_bytes(&p).await.unwrap(), Bytes::from_static(b"previous backup"));
    let paths = env.emu.paths(FS);
    assert!(
        !paths.iter().any(|p| p.contains(adls_store::PARTIAL_PREFIX)),
        "upload leftovers: {paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_read_cuts_fail_the_download_and_leave_nothing_locally() {
    let (env, p) = setup().await;
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    env.emu.faults().inject(Op::Read, Fault::CutResponseBody { after_bytes: 10 }, 1000);
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("model.abf");
    let err = env.store.download_to_file(&p, &local).await.unwrap_err();
    assert!(matches!(err, Error::Transport { operation: "read", .. }), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing is left locally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_bytes_fail_integrity_and_leave_nothing_locally() {
    let (env, p) = setup().await;
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    let file = env.emu.data_file(FS, "faults/model.abf").unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[SIZE / 2] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let err = env.store.get_bytes(&p).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    let out = tempfile::tempdir().unwrap();
    let err = env.store.download_to_file(&p, &out.path().join("model.abf")).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing is left locally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_during_a_download_is_a_precondition_error() {
    let (env, p) = setup().await;
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    let mut read = env.store.get(&p).await.unwrap();
    use futures::StreamExt;
    let first = read.stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    env.store.put(&p, conformance::pattern(SIZE, 7), PutMode::Overwrite).await.unwrap();
    let mut failed = None;
    while let Some(item) = read.stream.next().await {
        if let Err(e) = item {
            failed = Some(e);
            break;
        }
    }
    // Chunks already in flight may have completed; any chunk asked after the replacement fails on If-Match.
    let err = failed.expect("the download notices the replacement");
    assert!(matches!(err, Error::Precondition { .. } | Error::Integrity { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_survives_faults_on_pages() {
    let (env, _p) = setup().await;
    let folder = StorePath::folder(FS, "paged").unwrap();
    for i in 0..25 {
        env.store
            .put(
                &folder.join(&format!("{i:02}.abf")).unwrap(),
                Bytes::from_static(b"x"),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
    }
    env.emu.faults().set_page_size(Some(4));
    env.emu.faults().inject(Op::List, Fault::busy(0), 2);
    env.emu.faults().inject(Op::List, Fault::internal(), 1);
    let listed = env.store.list_all(&folder).await.unwrap();
    assert_eq!(listed.len(), 25);
}

/// Every fault on every upload step: a few occurrences end in success with identical bytes; a persistent one ends in
/// a clear error with nothing under the final name and no upload leftovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_upload_step() {
    let (mut env, p) = setup().await;
    env.store = three_retries(&env);
    let faults = [
        ("503", Fault::busy(0)),
        ("500", Fault::internal()),
        ("cut request", Fault::CutRequestBody { after_bytes: 1000 }),
        ("lost answer", Fault::CutResponseBody { after_bytes: 0 }),
    ];
    for op in [Op::Create, Op::Append, Op::Flush, Op::SetProperties, Op::Rename] {
        for (name, fault) in &faults {
            // Transient: two occurrences.
            env.emu.faults().clear();
            env.emu.faults().inject(op, fault.clone(), 2);
            env.store
                .put(&p, data(), PutMode::Overwrite)
                .await
                .unwrap_or_else(|e| panic!("{op:?} {name} x2: {e}"));
            assert!(
                env.store.get_bytes(&p).await.unwrap() == data(),
                "{op:?} {name} x2: bytes differ"
            );
            env.store.delete(&p).await.unwrap();
            // Persistent.
            env.emu.faults().clear();
            env.emu.faults().inject(op, fault.clone(), 10_000);
            let err = env.store.put(&p, data(), PutMode::Overwrite).await;
            env.emu.faults().clear();
            match err {
                Err(Error::Transport { .. }) => {
                    let paths = env.emu.paths(FS);
                    assert!(
                        !paths
                            .iter()
                            .any(|p| p.contains(adls_store::PARTIAL_PREFIX)
                                || p.ends_with("model.abf")),
                        "{op:?} {name} persistent left {paths:?}"
                    );
                }
                // A lost answer of an idempotent step is retried until the step is seen to have happened.
                Ok(_) if *name == "lost answer" => {
                    assert!(
                        env.store.get_bytes(&p).await.unwrap() == data(),
                        "{op:?} {name}: bytes differ"
                    );
                    env.store.delete(&p).await.unwrap();
                }
                other => panic!("{op:?} {name} persistent: {other:?}"),
            }
        }
    }
}

/// Every fault on reads: a few occurrences end in identical bytes; a persistent one in a clear error and no local file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_downloads() {
    let (mut env, p) = setup().await;
    env.store = three_retries(&env);
    env.store.put(&p, data(), PutMode::Overwrite).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("model.abf");
    let faults = [
        ("503", Fault::busy(0)),
        ("500", Fault::internal()),
        ("cut body", Fault::CutResponseBody { after_bytes: 4096 }),
        ("slow", Fault::Delay(Duration::from_millis(50))),
    ];
    for (name, fault) in &faults {
        env.emu.faults().clear();
        env.emu.faults().inject(Op::Read, fault.clone(), 2);
        env.store.download_to_file(&p, &local).await.unwrap_or_else(|e| panic!("{name} x2: {e}"));
        assert!(std::fs::read(&local).unwrap() == data(), "{name} x2: bytes differ");
        std::fs::remove_file(&local).unwrap();
        if *name == "slow" {
            continue;
        }
        env.emu.faults().inject(Op::Read, fault.clone(), 10_000);
        let err = env.store.download_to_file(&p, &local).await.unwrap_err();
        env.emu.faults().clear();
        assert!(matches!(err, Error::Transport { .. }), "{name} persistent: {err}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{name}: nothing is left locally"
        );
    }
}

/// A store that gives up after three retries, so that persistent faults fail fast.
fn three_retries(env: &crate::adls::Env) -> adls_store::AdlsStore {
    let mut config = crate::adls::config_for(
        &env.emu,
        adls_store::Credential::AccountKey(env.emu.account_key().to_owned().into()),
    );
    config.retry.max_retries = 3;
    adls_store::AdlsStore::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_broken_beyond_retries_keeps_its_partial_and_the_next_one_continues_it() {
    let (env, _) = setup().await;
    let p = StorePath::file(FS, "faults", "resume.abf").unwrap();
    let data = conformance::pattern(24 << 20, 5);
    env.store.put(&p, data.clone(), PutMode::Overwrite).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let (local, partial) = (out.path().join("resume.abf"), out.path().join("resume.abf.partial"));

    // Once the first bytes are on disk, every later read fails, more times than the retries allow.
    let (first_tx, mut first_rx) = tokio::sync::mpsc::channel::<()>(1);
    let options = adls_store::DownloadOptions {
        partial: Some(partial.clone()),
        progress: Some(std::sync::Arc::new(move |n| {
            if n > 0 {
                let _ = first_tx.try_send(());
            }
        })),
        ..Default::default()
    };
    let download = env.store.download_to_file_with(&p, &local, &options);
    let breaker = async {
        first_rx.recv().await;
        env.emu.faults().inject(Op::Read, Fault::internal(), 10_000);
    };
    let (result, ()) = tokio::join!(download, breaker);
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(!local.exists(), "a broken download appeared under the final name");
    let kept = std::fs::metadata(&partial).expect("the partial file is kept").len();
    assert!(kept > 0 && kept < data.len() as u64, "kept {kept} bytes");

    env.emu.faults().clear();
    let reads_before = env.emu.request_count(Op::Read);
    let options =
        adls_store::DownloadOptions { partial: Some(partial.clone()), ..Default::default() };
    let done = env.store.download_to_file_with(&p, &local, &options).await.unwrap();
    assert_eq!(done.resumed_from, kept);
    assert!(std::fs::read(&local).unwrap() == data, "the continued download differs");
    assert!(!partial.exists());
    // Only what the partial lacked was read (1 MiB chunks), after one read of the partial's last 64 KiB to check that
    // it belongs to this file.
    let reads = env.emu.request_count(Op::Read) - reads_before;
    assert_eq!(reads, 1 + (data.len() as u64 - kept).div_ceil(1 << 20), "reads after resuming");
}
