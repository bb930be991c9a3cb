//! The local-disk backend.

use adls_store::{Error, LocalStore, PutMode, Store, StoreExt, StorePath, conformance};

const FS: &str = "power-bi-backup";

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn behaviour_suite() {
    let (_dir, store) = store();
    conformance::run_all(&store, FS).await;
}

#[tokio::test]
async fn list_many() {
    let (_dir, store) = store();
    conformance::list_many(&store, FS, 300).await;
}

#[tokio::test]
async fn layout_is_filesystem_workspace_file() {
    let (dir, store) = store();
    store.ensure_filesystem(FS).await.unwrap();
    let p = StorePath::file(FS, "Sales Team", "Model.abf").unwrap();
    store.put(&p, bytes::Bytes::from_static(b"abc"), PutMode::Overwrite).await.unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(FS).join("Sales Team").join("Model.abf")).unwrap(),
        b"abc"
    );
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join(".tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "no temporary file remains after a complete write");
}

#[tokio::test]
async fn interrupted_write_leaves_nothing() {
    let (dir, store) = store();
    store.ensure_filesystem(FS).await.unwrap();
    let p = StorePath::file(FS, "ws", "big.abf").unwrap();
    let mut upload = store.put_multipart(&p, PutMode::Overwrite).await.unwrap();
    upload.put_part(conformance::pattern(1 << 20, 1)).await.unwrap();
    drop(upload); // interrupted: neither complete nor abort
    assert!(!store.exists(&p).await.unwrap());
    assert!(!dir.path().join(FS).join("ws").join("big.abf").exists());
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join(".tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "a dropped upload removes its temporary file");
}

#[tokio::test]
async fn corrupted_file_fails_integrity_and_download_leaves_nothing() {
    let (dir, store) = store();
    store.ensure_filesystem(FS).await.unwrap();
    let p = StorePath::file(FS, "ws", "m.abf").unwrap();
    store.put(&p, conformance::pattern(100_000, 1), PutMode::Overwrite).await.unwrap();
    let on_disk = dir.path().join(FS).join("ws").join("m.abf");
    let mut bytes = std::fs::read(&on_disk).unwrap();
    bytes[5000] ^= 0xff;
    std::fs::write(&on_disk, bytes).unwrap();
    let err = store.get_bytes(&p).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    assert!(
        err.to_string().starts_with("integrity check failed for 'power-bi-backup/ws/m.abf'"),
        "{err}"
    );
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("m.abf");
    let err = store.download_to_file(&p, &local).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing is left after a failed download"
    );
}

#[tokio::test]
async fn upload_file_streams_a_local_file() {
    let (_dir, store) = store();
    store.ensure_filesystem(FS).await.unwrap();
    let src = tempfile::NamedTempFile::new().unwrap();
    let data = conformance::pattern(20 * 1024 * 1024 + 3, 7);
    std::fs::write(src.path(), &data).unwrap();
    let p = StorePath::file(FS, "ws", "up.abf").unwrap();
    let meta = store.upload_file(src.path(), &p, PutMode::Overwrite).await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert!(store.get_bytes(&p).await.unwrap() == data);
}
