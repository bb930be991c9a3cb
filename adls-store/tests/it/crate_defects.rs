//! The `azure_storage_datalake` 0.21 defects that `AdlsStore` works around, shown on the emulator with the bare crate,
//! next to the same operation through the store. If one of these starts passing with the bare crate, the workaround
//! can go.

use adls_store::{PutMode, Store, StoreExt, StorePath};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_datalake::clients::DataLakeClientBuilder;
use bytes::Bytes;

use crate::adls::{FS, env};

fn bare_client(env: &crate::adls::Env) -> azure_storage_datalake::clients::FileSystemClient {
    let location =
        CloudLocation::Custom { account: env.emu.account().to_owned(), uri: env.emu.endpoint() };
    let credentials = StorageCredentials::access_key(
        env.emu.account().to_owned(),
        env.emu.account_key().to_owned(),
    );
    DataLakeClientBuilder::with_location(location, credentials).build().file_system_client(FS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_crate_sends_hash_and_question_mark_raw() {
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    let fs = bare_client(&env);
    fs.get_file_client("ws/q#1.abf").create().await.unwrap();
    // '#' started a fragment: the service saw "ws/q".
    assert!(env.emu.paths(FS).contains(&"ws/q".to_owned()), "{:?}", env.emu.paths(FS));
    // The store keeps the name.
    let p = StorePath::file(FS, "ws", "q#1.abf").unwrap();
    env.store.put(&p, Bytes::from_static(b"x"), PutMode::Overwrite).await.unwrap();
    assert!(env.emu.paths(FS).contains(&"ws/q#1.abf".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_crate_rename_of_a_name_with_a_space_fails() {
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    let fs = bare_client(&env);
    let f = fs.get_file_client("ws/a b.abf");
    f.create().await.unwrap();
    // x-ms-rename-source is form-encoded ("a+b"), which a service decoding percent-encoding reads as "a+b".
    let err = f.rename("ws/c.abf").await.unwrap_err();
    assert!(
        err.to_string().contains("404") || format!("{err:?}").contains("SourcePathNotFound"),
        "{err:?}"
    );
    // Through the store, the same rename works.
    let from = StorePath::file(FS, "ws", "a b.abf").unwrap();
    let to = StorePath::file(FS, "ws", "c.abf").unwrap();
    env.store.rename(&from, &to, PutMode::Overwrite).await.unwrap();
    assert!(env.store.exists(&to).await.unwrap());
}
