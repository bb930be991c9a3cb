//! Uploads or downloads one file through `adls-store`'s ADLS backend; used by `cargo xtask bench storage`.
//!
//! ```text
//! transfer upload|download LOCAL_FILE FILESYSTEM/WORKSPACE/FILE [--chunk-mib N] [--read-chunk-mib N]
//!     [--concurrency N] [--md5|--no-md5]
//! transfer stream - FILESYSTEM/WORKSPACE/FILE [...]
//! transfer copy|stream-copy FILESYSTEM/WORKSPACE/TO FILESYSTEM/WORKSPACE/FROM [...]
//! transfer hash LOCAL_FILE -
//! ```
//!
//! `copy` is made by the storage service (`Store::copy`); `stream-copy` reads the source and writes the target
//! through this process. Both print `client-bytes N`: what this process read and wrote meanwhile (`rchar + wchar` of
//! `/proc/self/io`, sockets included), the bytes that went through it. `hash` is the SHA-256 of a local file alone,
//! with the `sha2` crate adls-store uses: the cost of the hash without any transfer.
//!
//! `--chunk-mib` sets the append size of uploads, `--read-chunk-mib` the ranged reads of downloads (default 4 MiB:
//! [`AdlsConfig::read_chunk_size`] says why).
//!
//! `stream` reads the whole file through the verified stream and discards it (no local file, no sync): the
//! transfer and integrity check alone, comparable with `curl -o /dev/null`.
//!
//! The account, endpoint and credentials come from the environment ([`AdlsConfig::from_env`]:
//! `PBI_BACKUP_ADLS_ACCOUNT`, `PBI_BACKUP_ADLS_ENDPOINT`, `AZURE_STORAGE_KEY`, …), never from the command line.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::path::PathBuf;
use std::time::Instant;

use adls_store::{AdlsConfig, AdlsStore, PutMode, Store, StoreExt, StorePath};

fn usage() -> ! {
    eprintln!(
        "usage: transfer upload|download LOCAL_FILE FILESYSTEM/WORKSPACE/FILE [--chunk-mib N] [--read-chunk-mib N] [--concurrency N] [--md5|--no-md5]\n       transfer stream - FILESYSTEM/WORKSPACE/FILE [...]\n       transfer copy|stream-copy FILESYSTEM/WORKSPACE/TO FILESYSTEM/WORKSPACE/FROM [...]\n       transfer hash LOCAL_FILE -"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        usage();
    }
    let (op, local, remote) = (args[0].as_str(), PathBuf::from(&args[1]), args[2].as_str());
    let mut config = AdlsConfig::from_env().unwrap_or_else(|e| {
        eprintln!("transfer: {e}");
        std::process::exit(2)
    });
    let mut rest = args[3..].iter();
    while let Some(flag) = rest.next() {
        if flag == "--no-md5" || flag == "--md5" {
            config.store_content_md5 = flag == "--md5";
            continue;
        }
        let value: usize = rest.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--chunk-mib" => config.chunk_size = value << 20,
            "--read-chunk-mib" => config.read_chunk_size = value << 20,
            "--concurrency" => config.concurrency = value,
            _ => usage(),
        }
    }
    if op == "hash" {
        return hash(&local).await;
    }
    let path = store_path(remote);
    let store = AdlsStore::new(config).unwrap_or_else(|e| {
        eprintln!("transfer: {e}");
        std::process::exit(2)
    });
    let start = Instant::now();
    let result = match op {
        "upload" => match store.ensure_filesystem(path.filesystem()).await {
            Ok(()) => store.upload_file(&local, &path, PutMode::Overwrite).await,
            Err(e) => Err(e),
        },
        "download" => store.download_to_file(&path, &local).await,
        "stream" => stream(&store, &path).await,
        "copy" | "stream-copy" => {
            let to = store_path(&args[1]);
            let before = client_bytes();
            let copied = if op == "copy" {
                store.copy(&path, &to, PutMode::Overwrite).await
            } else {
                adls_store::stream_copy((&store, &path), (&store, &to), PutMode::Overwrite, drop)
                    .await
                    .map(drop)
            };
            println!("client-bytes {}", client_bytes() - before);
            match copied {
                Ok(()) => store.head(&to).await,
                Err(e) => Err(e),
            }
        }
        _ => usage(),
    };
    match result {
        Ok(meta) => println!(
            "{op} {} bytes in {:.2} s, sha256 {}",
            meta.size,
            start.elapsed().as_secs_f64(),
            meta.sha256.unwrap_or_default()
        ),
        Err(e) => {
            eprintln!("transfer: {e}");
            std::process::exit(1)
        }
    }
}

fn store_path(remote: &str) -> StorePath {
    let parts: Vec<&str> = remote.splitn(3, '/').collect();
    if parts.len() != 3 {
        usage();
    }
    StorePath::file(parts[0], parts[1], parts[2]).unwrap_or_else(|e| {
        eprintln!("transfer: {e}");
        std::process::exit(2)
    })
}

/// Bytes this process read and wrote so far, through any file or socket (`/proc/self/io`: `rchar + wchar`).
fn client_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .filter_map(|l| l.strip_prefix("rchar: ").or_else(|| l.strip_prefix("wchar: ")))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum()
}

/// The SHA-256 of a local file, as adls-store hashes one ([`hash_local_file`](adls_store::hash_local_file)).
async fn hash(local: &std::path::Path) {
    let start = Instant::now();
    match adls_store::hash_local_file(local).await {
        Ok((size, sha)) => {
            println!("hash {size} bytes in {:.2} s, sha256 {sha}", start.elapsed().as_secs_f64())
        }
        Err(e) => {
            eprintln!("transfer: {}: {e}", local.display());
            std::process::exit(1)
        }
    }
}

async fn stream(store: &AdlsStore, path: &StorePath) -> adls_store::Result<adls_store::ObjectMeta> {
    use futures::StreamExt;
    let read = store.get(path).await?;
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        chunk?;
    }
    Ok(read.meta)
}
