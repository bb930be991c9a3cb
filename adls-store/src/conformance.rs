//! The behaviour suite: one async function per part of the [`Store`] contract, run by every backend's tests.
//!
//! Each function panics (with a message) when the store breaks the contract. Each works in its own workspace folder
//! of `filesystem`, so they can run one after another against the same store. [`run_all`] runs them all.

#![allow(clippy::missing_panics_doc)]

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::{DownloadOptions, Error, Incomplete, PutMode, Store, StoreExt, StorePath, Verified};

fn path(fs: &str, ws: &str, file: &str) -> StorePath {
    StorePath::file(fs, ws, file).expect("valid test path")
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(seed as u32 % 31) as u8 ^ seed)
        .collect()
}

/// Runs every function of the suite.
pub async fn run_all(store: &dyn Store, fs: &str) {
    ensure_filesystem_is_idempotent(store, fs).await;
    put_get_head_delete(store, fs).await;
    ranged_read(store, fs).await;
    multipart_parts_of_any_size(store, fs).await;
    empty_file(store, fs).await;
    put_mode_create_refuses_existing(store, fs).await;
    abort_leaves_nothing(store, fs).await;
    list_folder(store, fs).await;
    copy_and_rename(store, fs).await;
    server_copy(store, fs).await;
    delete_folder_is_recursive(store, fs).await;
    missing_objects(store, fs).await;
    awkward_names(store, fs).await;
    download_to_file(store, fs).await;
    download_resumes_and_verifies(store, fs).await;
    incomplete_uploads(store, fs).await;
    upload_file_in_parts(store, fs).await;
    empty_folders(store, fs).await;
    rename_folder(store, fs).await;
    locks(store, fs).await;
}

/// A run lock is held by one holder at a time: a second acquire is [`Error::Locked`](crate::Error::Locked) until the
/// first is released; renewing keeps it; a released lock can be taken again, and breaking one that nobody holds is
/// no error.
pub async fn locks(store: &dyn Store, fs: &str) {
    use std::time::Duration;
    store.ensure_filesystem(fs).await.unwrap();
    let path = StorePath::file(fs, ".conf-locks", "policy shard 1 of 2.lock").unwrap();
    let locks = store.locks();
    let first = locks.acquire(&path, Duration::from_secs(15)).await.unwrap();
    let second = locks.acquire(&path, Duration::from_secs(15)).await;
    assert!(
        matches!(second, Err(crate::Error::Locked { .. })),
        "a held lock was taken again: {second:?}"
    );
    locks.renew(&path, &first).await.unwrap();
    assert!(matches!(
        locks.acquire(&path, Duration::from_secs(15)).await,
        Err(crate::Error::Locked { .. })
    ));
    locks.release(&path, &first).await.unwrap();
    let again = locks.acquire(&path, Duration::from_secs(15)).await.unwrap();
    locks.release(&path, &again).await.unwrap();
    // The lock file is never taken for a backup, and holding no lock it can be broken harmlessly where breaking exists.
    assert!(store.head(&path).await.is_ok());
}

/// A folder renamed keeps every file with its hash under the new name, and the old name is gone; a target that
/// exists is refused (and both folders are left as they were); a missing source is `NotFound`.
pub async fn rename_folder(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let from = StorePath::folder(fs, "conf-rename ü #1").unwrap();
    let to = StorePath::folder(fs, "conf-rename ü #1 (before relink)").unwrap();
    let taken = StorePath::folder(fs, "conf-rename taken").unwrap();
    let names = ["a.abf", "b.abf.manifest.json"];
    for (i, n) in names.iter().enumerate() {
        store
            .put(&from.join(n).unwrap(), pattern(1000 + i, i as u8), PutMode::Create)
            .await
            .unwrap();
    }
    let hashes: Vec<_> = {
        let mut v = Vec::new();
        for n in names {
            v.push(store.head(&from.join(n).unwrap()).await.unwrap().sha256);
        }
        v
    };
    store.put(&taken.join("x.abf").unwrap(), pattern(5, 9), PutMode::Create).await.unwrap();
    let err = store.rename_folder(&from, &taken).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(store.list_all(&from).await.unwrap().len(), 2, "a refused rename moved files");
    assert_eq!(
        store.list_all(&taken).await.unwrap().len(),
        1,
        "a refused rename changed its target"
    );

    store.rename_folder(&from, &to).await.expect("rename folder");
    assert!(!store.folder_exists(&from).await.unwrap(), "the old folder is still there");
    for (i, n) in names.iter().enumerate() {
        let p = to.join(n).unwrap();
        assert_eq!(store.get_bytes(&p).await.unwrap(), pattern(1000 + i, i as u8));
        assert_eq!(store.head(&p).await.unwrap().sha256, hashes[i], "the rename lost a hash");
    }
    let err =
        store.rename_folder(&from, &StorePath::folder(fs, "conf-rename nowhere").unwrap()).await;
    assert!(matches!(err, Err(Error::NotFound { .. })), "{err:?}");
    store.delete(&to).await.unwrap();
    store.delete(&taken).await.unwrap();
}

/// A created folder exists and lists empty; an absent one does not exist; creating an existing folder keeps its
/// files; a folder whose files were all deleted one by one may remain (ADLS keeps the directory).
pub async fn empty_folders(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let folder = StorePath::folder(fs, "conf-empty ü #1").unwrap();
    assert!(!store.folder_exists(&folder).await.expect("exists? (absent)"), "absent folder exists");
    store.create_folder(&folder).await.expect("create folder");
    assert!(store.folder_exists(&folder).await.expect("exists? (empty)"), "created folder missing");
    assert!(store.list_all(&folder).await.unwrap().is_empty(), "a new folder lists files");
    let p = folder.join("kept.abf").unwrap();
    store.put(&p, pattern(10, 3), PutMode::Create).await.unwrap();
    store.create_folder(&folder).await.expect("create an existing folder");
    assert_eq!(store.get_bytes(&p).await.unwrap(), pattern(10, 3), "creating again lost a file");
    assert!(!store.remove_empty_folder(&folder).await.unwrap(), "a folder with a file was removed");
    assert_eq!(store.get_bytes(&p).await.unwrap(), pattern(10, 3));
    store.delete(&p).await.unwrap();
    // A folder emptied file by file may remain (ADLS keeps directories); removing it empty works.
    if store.folder_exists(&folder).await.unwrap() {
        assert!(store.remove_empty_folder(&folder).await.unwrap(), "an empty folder stayed");
    }
    assert!(!store.folder_exists(&folder).await.unwrap(), "a removed folder exists");
    assert!(matches!(store.remove_empty_folder(&folder).await, Err(crate::Error::NotFound { .. })));
    let missing_fs = StorePath::folder("conf-no-such-filesystem", "w").unwrap();
    assert!(!store.folder_exists(&missing_fs).await.expect("exists? (no filesystem)"));
}

/// `ensure_filesystem` creates once and is a no-op afterwards.
pub async fn ensure_filesystem_is_idempotent(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.expect("first ensure_filesystem");
    store.ensure_filesystem(fs).await.expect("second ensure_filesystem");
}

/// A written file reads back identical, with its size and SHA-256; deleting it makes it not found.
pub async fn put_get_head_delete(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-basic", "model.abf");
    let data = pattern(300_000, 1);
    let meta = store.put(&p, data.clone(), PutMode::Overwrite).await.expect("put");
    assert_eq!(meta.size, data.len() as u64);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    let head = store.head(&p).await.expect("head");
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.sha256.as_deref(), Some(sha.as_str()), "the SHA-256 is kept with the file");
    assert_eq!(store.get_bytes(&p).await.expect("get"), data);
    // Overwrite replaces.
    let data2 = pattern(1000, 2);
    store.put(&p, data2.clone(), PutMode::Overwrite).await.expect("overwrite");
    assert_eq!(store.get_bytes(&p).await.unwrap(), data2);
    store.delete(&p).await.expect("delete");
    assert!(store.head(&p).await.unwrap_err().is_not_found());
    assert!(!store.exists(&p).await.unwrap());
    store.delete(&p.folder_path()).await.unwrap();
}

/// Ranged reads return exactly the bytes asked for.
pub async fn ranged_read(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-range", "r.abf");
    let data = pattern(5 * 1024 * 1024 + 123, 3);
    store.put(&p, data.clone(), PutMode::Overwrite).await.unwrap();
    for range in [
        0..1,
        0..data.len(),
        10..5_000_000,
        data.len() - 7..data.len(),
        4_194_303..4_194_305,
        17..17,
    ] {
        let r = store
            .get_range(&p, Some(range.start as u64..range.end as u64))
            .await
            .expect("get_range");
        assert_eq!(r.range, range.start as u64..range.end as u64);
        let parts: Vec<Bytes> = r.stream.try_collect().await.expect("ranged stream");
        assert_eq!(Bytes::from(parts.concat()), data.slice(range.clone()), "range {range:?}");
    }
    let err = store.get_range(&p, Some(0..data.len() as u64 + 1)).await.err();
    assert!(
        matches!(err, Some(Error::Precondition { .. })),
        "a range past the end is refused: {err:?}"
    );
    store.delete(&p.folder_path()).await.unwrap();
}

/// Parts of any size, empty ones included, make one file in order.
pub async fn multipart_parts_of_any_size(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-multipart", "parts.abf");
    let sizes = [0usize, 1, 7, 65_536, 3 * 1024 * 1024 + 5, 0, 9 * 1024 * 1024 + 1, 100];
    let mut all = Vec::new();
    let mut upload = store.put_multipart(&p, PutMode::Overwrite).await.expect("put_multipart");
    for (i, size) in sizes.iter().enumerate() {
        let part = pattern(*size, i as u8);
        all.extend_from_slice(&part);
        upload.put_part(part).await.expect("put_part");
    }
    assert!(!store.exists(&p).await.unwrap(), "nothing is visible before complete");
    let meta = upload.complete().await.expect("complete");
    assert_eq!(meta.size, all.len() as u64);
    let back = store.get(&p).await.unwrap();
    let mut got = Vec::with_capacity(all.len());
    let mut s = back.stream;
    while let Some(c) = s.next().await {
        got.extend_from_slice(&c.expect("chunk"));
    }
    assert!(got == all, "multipart content differs");
    store.delete(&p.folder_path()).await.unwrap();
}

/// An empty file is a file.
pub async fn empty_file(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-empty", "empty.abf");
    store.put(&p, Bytes::new(), PutMode::Overwrite).await.expect("put empty");
    assert_eq!(store.head(&p).await.unwrap().size, 0);
    assert!(store.get_bytes(&p).await.unwrap().is_empty());
    store.delete(&p.folder_path()).await.unwrap();
}

/// `PutMode::Create` refuses an existing file and leaves it unchanged.
pub async fn put_mode_create_refuses_existing(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-create", "once.abf");
    store.put(&p, pattern(10, 1), PutMode::Create).await.expect("first create");
    let err = store.put(&p, pattern(20, 2), PutMode::Create).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(store.get_bytes(&p).await.unwrap(), pattern(10, 1));
    store.delete(&p.folder_path()).await.unwrap();
}

/// An aborted upload leaves nothing under the final name, and a file already there unchanged.
pub async fn abort_leaves_nothing(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-abort", "aborted.abf");
    let mut upload = store.put_multipart(&p, PutMode::Overwrite).await.unwrap();
    upload.put_part(pattern(1 << 20, 1)).await.unwrap();
    upload.abort().await.expect("abort");
    assert!(!store.exists(&p).await.unwrap());
    assert!(
        store.list_all(&p.folder_path()).await.unwrap().is_empty(),
        "no upload leftovers are listed"
    );

    store.put(&p, pattern(100, 9), PutMode::Overwrite).await.unwrap();
    let mut upload = store.put_multipart(&p, PutMode::Overwrite).await.unwrap();
    upload.put_part(pattern(5000, 1)).await.unwrap();
    upload.abort().await.unwrap();
    assert_eq!(store.get_bytes(&p).await.unwrap(), pattern(100, 9));
    store.delete(&p.folder_path()).await.unwrap();
}

/// Listing yields the files of one folder, in name order, with sizes; a missing folder lists as empty.
pub async fn list_folder(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let names = ["b.abf", "a.abf", "c d.abf", "z"];
    for (i, n) in names.iter().enumerate() {
        store.put(&path(fs, "conf-list", n), pattern(i * 10, 1), PutMode::Overwrite).await.unwrap();
    }
    store
        .put(&path(fs, "conf-list-other", "x.abf"), pattern(1, 1), PutMode::Overwrite)
        .await
        .unwrap();
    let folder = StorePath::folder(fs, "conf-list").unwrap();
    let listed = store.list_all(&folder).await.expect("list");
    let got: Vec<(&str, u64)> =
        listed.iter().map(|m| (m.path.file_name().unwrap(), m.size)).collect();
    assert_eq!(got, vec![("a.abf", 10), ("b.abf", 0), ("c d.abf", 20), ("z", 30)]);
    let missing = StorePath::folder(fs, "conf-list-missing").unwrap();
    assert!(store.list_all(&missing).await.expect("list missing").is_empty());
    store.delete(&folder).await.unwrap();
    store.delete(&StorePath::folder(fs, "conf-list-other").unwrap()).await.unwrap();
}

/// Listing `count` files follows every page (`count` should exceed the backend's page size).
pub async fn list_many(store: &dyn Store, fs: &str, count: usize) {
    store.ensure_filesystem(fs).await.unwrap();
    let folder = StorePath::folder(fs, "conf-many").unwrap();
    futures::stream::iter(0..count)
        .map(|i| {
            let p = folder.join(&format!("f{i:05}.abf")).unwrap();
            async move {
                store.put(&p, Bytes::from(vec![1u8; i % 3]), PutMode::Overwrite).await.map(drop)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("writing many files");
    let listed = store.list_all(&folder).await.expect("list many");
    assert_eq!(listed.len(), count);
    for (i, m) in listed.iter().enumerate() {
        assert_eq!(m.path.file_name().unwrap(), format!("f{i:05}.abf"));
        assert_eq!(m.size, (i % 3) as u64);
    }
    store.delete(&folder).await.expect("delete many");
    assert!(store.list_all(&folder).await.unwrap().is_empty());
}

/// A store with server-side copies ([`Store::server_copy`]) makes them whole, keeping the SHA-256 and honouring
/// `PutMode`, from a source it describes itself; a store without them is still copied into by [`StoreExt::copy`]
/// (in [`copy_and_rename`]).
pub async fn server_copy(store: &dyn Store, fs: &str) {
    let Some(service) = store.server_copy() else { return };
    store.ensure_filesystem(fs).await.unwrap();
    let a = path(fs, "conf-server-copy", "a.abf");
    let b = path(fs, "conf-server-copy-2", "b.abf");
    let data = pattern(1_500_000, 6);
    let sha = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
    store.put(&a, data.clone(), PutMode::Overwrite).await.unwrap();
    let source = service.copy_source(&a).await.expect("the store describes its file as a source");
    service.copy_from_source(&source, &b, PutMode::Create).await.expect("copy from source");
    assert_eq!(store.get_bytes(&b).await.unwrap(), data);
    assert_eq!(store.head(&b).await.unwrap().sha256, sha, "the copy keeps the hash");
    let err = service.copy_from_source(&source, &b, PutMode::Create).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    service.copy(&b, &a, PutMode::Overwrite).await.expect("copy over");
    assert_eq!(store.get_bytes(&a).await.unwrap(), data);
    store.delete(&a).await.unwrap();
    store.delete(&b).await.unwrap();
}

/// Copy duplicates, rename moves; both keep the SHA-256 and honour `PutMode`.
pub async fn copy_and_rename(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let a = path(fs, "conf-copy", "a.abf");
    let b = path(fs, "conf-copy-2", "b.abf");
    let c = path(fs, "conf-copy", "c.abf");
    let data = pattern(2_000_000, 4);
    let sha = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
    store.put(&a, data.clone(), PutMode::Overwrite).await.unwrap();
    store.copy(&a, &b, PutMode::Overwrite).await.expect("copy");
    assert_eq!(store.get_bytes(&a).await.unwrap(), data);
    assert_eq!(store.get_bytes(&b).await.unwrap(), data);
    assert_eq!(store.head(&b).await.unwrap().sha256, sha, "the copy keeps the hash");
    let err = store.copy(&a, &b, PutMode::Create).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");

    store.rename(&a, &c, PutMode::Overwrite).await.expect("rename");
    assert!(!store.exists(&a).await.unwrap());
    assert_eq!(store.get_bytes(&c).await.unwrap(), data);
    assert_eq!(store.head(&c).await.unwrap().sha256, sha, "the rename keeps the hash");
    // Onto itself: nothing changes, the hash included.
    store.rename(&c, &c, PutMode::Overwrite).await.expect("rename onto itself");
    assert_eq!(store.get_bytes(&c).await.unwrap(), data);
    assert_eq!(store.head(&c).await.unwrap().sha256, sha, "a rename onto itself dropped the hash");
    store.put(&a, pattern(5, 5), PutMode::Overwrite).await.unwrap();
    let err = store.rename(&a, &c, PutMode::Create).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(
        store.get_bytes(&c).await.unwrap(),
        data,
        "a refused rename leaves the target alone"
    );
    store.rename(&a, &c, PutMode::Overwrite).await.expect("rename over");
    assert_eq!(store.get_bytes(&c).await.unwrap(), pattern(5, 5));
    let err = store.rename(&a, &c, PutMode::Overwrite).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    store.delete(&a.folder_path()).await.unwrap();
    store.delete(&b.folder_path()).await.unwrap();
}

/// Deleting a folder deletes everything in it.
pub async fn delete_folder_is_recursive(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let folder = StorePath::folder(fs, "conf-delete").unwrap();
    for i in 0..5 {
        store
            .put(&folder.join(&format!("{i}.abf")).unwrap(), pattern(10, i), PutMode::Overwrite)
            .await
            .unwrap();
    }
    store.delete(&folder).await.expect("delete folder");
    assert!(store.list_all(&folder).await.unwrap().is_empty());
    assert!(!store.exists(&folder.join("0.abf").unwrap()).await.unwrap());
}

/// Missing files and filesystems give `NotFound`.
pub async fn missing_objects(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-missing", "nope.abf");
    assert!(store.head(&p).await.unwrap_err().is_not_found());
    assert!(store.get(&p).await.unwrap_err().is_not_found());
    assert!(store.delete(&p).await.unwrap_err().is_not_found());
    assert!(
        store
            .copy(&p, &path(fs, "conf-missing", "x"), PutMode::Overwrite)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let other = path("no-such-filesystem-here", "ws", "a.abf");
    let err = store.put(&other, pattern(3, 1), PutMode::Overwrite).await.unwrap_err();
    assert!(err.is_not_found(), "writing into a missing filesystem: {err}");
}

/// Names with spaces, `+`, `#`, `?`, `%`, `&`, `=`, quotes, brackets, a leading dot and non-ASCII round-trip through
/// put, list, head, get, copy, rename and delete.
pub async fn awkward_names(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let workspaces = ["Sales & Finance (EU) ü", "100% #1?", "a+b=c"];
    let files = [
        "Sales Model (2024) ü.abf",
        "q#1?x=2 %41.abf",
        "plus+sign.abf",
        "percent%2Fslash.abf",
        "日本語 モデル.abf",
        ".hidden",
        "quote'\"[]{}~`!@$^;,.abf",
        "trailing space .abf",
    ];
    for ws in workspaces {
        let folder = StorePath::folder(fs, ws).unwrap();
        for (i, f) in files.iter().enumerate() {
            let p = folder.join(f).unwrap();
            let data = pattern(1000 + i, i as u8);
            store
                .put(&p, data.clone(), PutMode::Overwrite)
                .await
                .unwrap_or_else(|e| panic!("put {p}: {e}"));
            assert_eq!(
                store.head(&p).await.unwrap_or_else(|e| panic!("head {p}: {e}")).size,
                data.len() as u64
            );
            assert_eq!(
                store.get_bytes(&p).await.unwrap_or_else(|e| panic!("get {p}: {e}")),
                data,
                "{p}"
            );
        }
        let mut expected: Vec<&str> = files.to_vec();
        expected.sort();
        let listed = store.list_all(&folder).await.unwrap_or_else(|e| panic!("list {folder}: {e}"));
        let got: Vec<&str> = listed.iter().map(|m| m.path.file_name().unwrap()).collect();
        assert_eq!(got, expected, "listing {folder}");
        let src = folder.join(files[1]).unwrap();
        let copied = folder.join("copy of q#1? %.abf").unwrap();
        store
            .copy(&src, &copied, PutMode::Overwrite)
            .await
            .unwrap_or_else(|e| panic!("copy {src}: {e}"));
        let renamed = folder.join("renamed ü+1 #?.abf").unwrap();
        store
            .rename(&copied, &renamed, PutMode::Overwrite)
            .await
            .unwrap_or_else(|e| panic!("rename {copied}: {e}"));
        assert_eq!(store.get_bytes(&renamed).await.unwrap(), pattern(1001, 1));
        assert!(!store.exists(&copied).await.unwrap());
        store.delete(&src).await.unwrap_or_else(|e| panic!("delete {src}: {e}"));
        assert!(!store.exists(&src).await.unwrap());
        store.delete(&folder).await.unwrap_or_else(|e| panic!("delete {folder}: {e}"));
        assert!(store.list_all(&folder).await.unwrap().is_empty());
    }
}

/// `download_to_file` writes the file whole and verified, replacing the local file only at the end.
pub async fn download_to_file(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-download", "d.abf");
    let data = pattern(3_000_001, 6);
    store.put(&p, data.clone(), PutMode::Overwrite).await.unwrap();
    let dir = std::env::temp_dir()
        .join(format!("adls-store-conformance-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("d.abf");
    let meta = store.download_to_file(&p, &local).await.expect("download_to_file");
    assert_eq!(meta.size, data.len() as u64);
    assert!(std::fs::read(&local).unwrap() == data);
    let missing = path(fs, "conf-download", "missing.abf");
    assert!(store.download_to_file(&missing, &dir.join("m.abf")).await.unwrap_err().is_not_found());
    let leftovers: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "only the downloaded file remains: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    store.delete(&p.folder_path()).await.unwrap();
}

/// `download_to_file_with` continues a kept partial file, checks the result against the expectation or the stored
/// hash, and never keeps bytes that fail the check.
pub async fn download_resumes_and_verifies(store: &dyn Store, fs: &str) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-resume", "r.abf");
    let data = pattern(5_000_003, 9);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    store.put(&p, data.clone(), PutMode::Overwrite).await.unwrap();
    let dir = std::env::temp_dir()
        .join(format!("adls-store-conformance-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join("r.abf.partial");
    let third = data.len() / 3;

    // A partial holding the first third: the rest is fetched, and progress counts the whole file once.
    std::fs::write(&partial, &data[..third]).unwrap();
    let counted = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&counted);
    let options = DownloadOptions {
        partial: Some(partial.clone()),
        expected: None,
        progress: Some(Arc::new(move |n| {
            seen.fetch_add(n, Ordering::Relaxed);
        })),
    };
    let local = dir.join("r.abf");
    let done = store.download_to_file_with(&p, &local, &options).await.expect("resumed download");
    assert_eq!(done.resumed_from, third as u64);
    assert_eq!(done.sha256, sha);
    assert_eq!(done.verified, Verified::Stored);
    assert_eq!(counted.load(Ordering::Relaxed), data.len() as u64);
    assert!(std::fs::read(&local).unwrap() == data, "the resumed file differs");
    assert!(!partial.exists(), "the partial file is left behind");

    // A partial whose bytes are not the file's: an integrity error, and neither the partial nor a final file stays.
    let mut bad = data[..third].to_vec();
    bad[third / 2] ^= 0x55;
    std::fs::write(&partial, &bad).unwrap();
    let local = dir.join("bad.abf");
    let options = DownloadOptions { partial: Some(partial.clone()), ..Default::default() };
    let err = store.download_to_file_with(&p, &local, &options).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    assert!(!local.exists() && !partial.exists(), "bytes that failed the check were kept");

    // A partial of another file (its last bytes differ from the store's) is not continued: the download starts again
    // and succeeds, instead of failing verification after the whole transfer.
    std::fs::write(&partial, pattern(third, 77)).unwrap();
    let local = dir.join("other.abf");
    let done =
        store.download_to_file_with(&p, &local, &options).await.expect("other file's partial");
    assert_eq!((done.resumed_from, done.sha256.as_str()), (0, sha.as_str()));
    assert!(!partial.exists());

    // A partial longer than the file is not trusted: the download starts again.
    std::fs::write(&partial, pattern(data.len() + 10, 3)).unwrap();
    let local = dir.join("long.abf");
    let done = store.download_to_file_with(&p, &local, &options).await.expect("restarted download");
    assert_eq!((done.resumed_from, done.sha256.as_str()), (0, sha.as_str()));

    // An expectation (a manifest's) wins over the stored hash; a size that differs fails before any transfer.
    let local = dir.join("expected.abf");
    let wrong = DownloadOptions {
        expected: Some((data.len() as u64, "0".repeat(64))),
        ..Default::default()
    };
    let err = store.download_to_file_with(&p, &local, &wrong).await.unwrap_err();
    assert!(matches!(&err, Error::Integrity { actual, .. } if *actual == sha), "{err:?}");
    let short = DownloadOptions { expected: Some((7, sha.clone())), ..Default::default() };
    let err = store.download_to_file_with(&p, &local, &short).await.unwrap_err();
    assert!(err.to_string().contains("7 bytes"), "{err}");
    let right =
        DownloadOptions { expected: Some((data.len() as u64, sha.clone())), ..Default::default() };
    let done = store.download_to_file_with(&p, &local, &right).await.expect("expected download");
    assert_eq!(done.verified, Verified::Expected);

    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["r.abf", "other.abf", "long.abf", "expected.abf"].contains(&n.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "temporary files remain: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    store.delete(&p.folder_path()).await.unwrap();
}

/// An upload whose writer vanished (no complete, no abort, no drop: a killed process) is listed by
/// `list_incomplete`, never by `list`, and `delete_incomplete` removes it; it touches nothing else.
pub async fn incomplete_uploads(store: &dyn Store, fs: &str) {
    store.ensure_filesystem(fs).await.unwrap();
    let folder = StorePath::folder(fs, "conf-incomplete").unwrap();
    let kept = path(fs, "conf-incomplete", "kept.abf");
    store.put(&kept, pattern(1000, 4), PutMode::Overwrite).await.unwrap();
    let before = store.list_incomplete(&folder).await.expect("list_incomplete");

    let mut upload = store
        .put_multipart(&path(fs, "conf-incomplete", "vanished.abf"), PutMode::Create)
        .await
        .unwrap();
    upload.put_part(pattern(5000, 5)).await.unwrap();
    // What a killed process leaves: the writer never runs again.
    std::mem::forget(upload);

    let after = store.list_incomplete(&folder).await.expect("list_incomplete");
    let new: Vec<&Incomplete> = after.iter().filter(|i| !before.contains(i)).collect();
    assert_eq!(new.len(), 1, "one upload left behind: {after:?}");
    assert!(new[0].last_modified.is_some());
    let listed: Vec<String> =
        store.list_all(&folder).await.unwrap().iter().map(|m| m.path.to_string()).collect();
    assert_eq!(listed, vec![kept.to_string()], "list shows only complete files");

    // A made-up entry naming a complete file is not an upload in progress: the file stays.
    let impostor =
        Incomplete { name: "kept.abf".into(), location: kept.to_string(), ..new[0].clone() };
    assert!(store.delete_incomplete(&impostor).await.is_err());
    assert!(store.exists(&kept).await.unwrap(), "delete_incomplete removed a complete file");

    store.delete_incomplete(new[0]).await.expect("delete_incomplete");
    let last = store.list_incomplete(&folder).await.unwrap();
    assert!(!last.iter().any(|i| i.name == new[0].name), "still listed: {last:?}");
    store.delete(&folder).await.unwrap();
}

/// `upload_file_with` reads a file of several parts through its reused buffers, the bytes arrive whole, and progress
/// counts each byte once.
pub async fn upload_file_in_parts(store: &dyn Store, fs: &str) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    store.ensure_filesystem(fs).await.unwrap();
    let p = path(fs, "conf-upload-file", "u.abf");
    // Three 8 MiB parts and a short one: the reader's buffers are reused once the first parts are sent.
    let data = pattern((24 << 20) + 12_345, 8);
    let dir = std::env::temp_dir()
        .join(format!("adls-store-conformance-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("u.abf");
    std::fs::write(&local, &data).unwrap();
    let counted = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&counted);
    let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
        seen.fetch_add(n, Ordering::Relaxed);
    });
    let meta = store
        .upload_file_with(&local, &p, PutMode::Create, Some(progress))
        .await
        .expect("upload_file_with");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    assert_eq!((meta.size, meta.sha256.as_deref()), (data.len() as u64, Some(sha.as_str())));
    assert_eq!(counted.load(Ordering::Relaxed), data.len() as u64);
    assert!(store.get_bytes(&p).await.unwrap() == data, "the uploaded bytes differ");
    let missing = dir.join("missing.abf");
    let err =
        store.upload_file(&missing, &path(fs, "conf-upload-file", "m.abf"), PutMode::Create).await;
    assert!(err.is_err(), "a missing local file uploaded");
    assert!(!store.exists(&path(fs, "conf-upload-file", "m.abf")).await.unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    store.delete(&p.folder_path()).await.unwrap();
}
