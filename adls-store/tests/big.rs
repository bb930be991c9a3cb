//! A multi-GiB round trip through the ADLS backend and the emulator, with the peak memory of the process checked.
//!
//! It is its own test binary (not a module of `tests/it`) so that no other test shares the process whose peak
//! resident memory (`VmHWM`) it measures.

#![allow(clippy::print_stdout, reason = "the test reports its measurements")]

use std::time::Instant;

use adls_store::{AdlsConfig, AdlsStore, Credential, PutMode, Store, StorePath};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use test_fixtures::dfs::DfsEmulator;

const GIB: u64 = 1 << 30;
const PART: usize = 8 << 20;

/// Peak resident set of this process, in bytes (`VmHWM` of /proc/self/status).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Part `i` of the test file: a cheap pseudo-random fill, different for every part.
fn part(i: u64, len: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(len);
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    while buf.len() + 8 <= len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.resize(len, 0xAB);
    buf.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_round_trip_with_flat_memory() {
    let size: u64 = std::env::var("PBI_BACKUP_BIG_TEST_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2 * GIB);
    let root = tempfile::tempdir().unwrap();
    let emu = DfsEmulator::start(root.path()).await.unwrap();
    let mut config =
        AdlsConfig::new(emu.account(), Credential::AccountKey(emu.account_key().to_owned().into()));
    config.endpoint = Some(emu.endpoint().parse().unwrap());
    let store = AdlsStore::new(config).unwrap();
    store.ensure_filesystem("power-bi-backup").await.unwrap();
    let path = StorePath::file("power-bi-backup", "Big Workspace", "big model.abf").unwrap();

    let start = Instant::now();
    let mut sent = Sha256::new();
    let mut upload = store.put_multipart(&path, PutMode::Overwrite).await.unwrap();
    let mut offset = 0u64;
    let mut i = 0u64;
    while offset < size {
        let len = (size - offset).min(PART as u64) as usize;
        let data = part(i, len);
        sent.update(&data);
        upload.put_part(data).await.unwrap();
        offset += len as u64;
        i += 1;
    }
    let meta = upload.complete().await.unwrap();
    let up = start.elapsed();
    let peak_after_upload = peak_rss();
    let sent = hex::encode(sent.finalize());
    assert_eq!(meta.size, size);
    assert_eq!(meta.sha256.as_deref(), Some(sent.as_str()));

    let start = Instant::now();
    let read = store.get_range(&path, None).await.unwrap();
    assert_eq!(
        read.meta.sha256.as_deref(),
        Some(sent.as_str()),
        "the SHA-256 is kept with the file"
    );
    let mut got = Sha256::new();
    let mut len = 0u64;
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len() as u64;
        got.update(&chunk);
    }
    let down = start.elapsed();
    assert_eq!(len, size);
    assert_eq!(hex::encode(got.finalize()), sent, "downloaded bytes hash as uploaded");

    let peak = peak_rss();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "round trip of {:.0} MiB: upload {:.1} s ({:.0} MiB/s), download {:.1} s ({:.0} MiB/s), peak RSS {:.0} MiB ({:.0} MiB after the upload)",
        mib(size),
        up.as_secs_f64(),
        mib(size) / up.as_secs_f64(),
        down.as_secs_f64(),
        mib(size) / down.as_secs_f64(),
        mib(peak),
        mib(peak_after_upload)
    );
    assert!(peak < 256 << 20, "peak RSS {:.0} MiB is over 256 MiB", mib(peak));
}
