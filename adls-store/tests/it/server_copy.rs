//! Copies made by the service (Put Block From URL, then Put Block List), within one account and between two, with
//! each kind of credential: the bytes never pass through the client, and the copy keeps the source's SHA-256.

use adls_store::{AdlsStore, Credential, Error, PutMode, Store, StoreExt, StorePath, conformance};
use test_fixtures::dfs::{DfsEmulator, EmulatorConfig, Fault, Op, SharedTokens};

use crate::adls::{FS, config_for, env};

/// A store whose copies ask for blocks of 256 KiB, so that a small file takes several.
fn small_blocks(emu: &DfsEmulator, credential: Credential) -> AdlsStore {
    let mut config = config_for(emu, credential);
    config.copy_block_size = 256 << 10;
    AdlsStore::new(config).unwrap()
}

/// Bytes of `len` that cross every block boundary at an odd offset.
const LEN: usize = (1 << 20) + 17;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_account_the_service_copies_block_by_block() {
    let env = env().await;
    let store =
        small_blocks(&env.emu, Credential::AccountKey(env.emu.account_key().to_owned().into()));
    store.ensure_filesystem(FS).await.unwrap();
    let from = StorePath::file(FS, "Finance", "Sales Model #1 ü.abf").unwrap();
    let to = StorePath::file(FS, "Finance Copy", "Sales Model #1 ü.abf").unwrap();
    let data = conformance::pattern(LEN, 7);
    store.put(&from, data.clone(), PutMode::Create).await.unwrap();
    let appends = env.emu.request_count(Op::Append);

    store.copy(&from, &to, PutMode::Create).await.unwrap();

    assert_eq!(env.emu.request_count(Op::Append), appends, "no byte was uploaded by the client");
    assert_eq!(env.emu.request_count(Op::PutBlock), 5, "ceil((1 MiB + 17) / 256 KiB) blocks");
    assert_eq!(env.emu.request_count(Op::PutBlockList), 1);
    assert_eq!(store.head(&to).await.unwrap().sha256, store.head(&from).await.unwrap().sha256);
    // A whole read checks the bytes against the SHA-256 the copy kept.
    assert_eq!(store.get_bytes(&to).await.unwrap(), data);
    let err = store.copy(&from, &to, PutMode::Create).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(store.list_incomplete(&to.folder_path()).await.unwrap().is_empty());

    // An empty file is copied too (a block list of no blocks).
    let empty = StorePath::file(FS, "Finance", "empty.abf").unwrap();
    store.put(&empty, bytes::Bytes::new(), PutMode::Create).await.unwrap();
    let empty_copy = to.folder_path().join("empty.abf").unwrap();
    store.copy(&empty, &empty_copy, PutMode::Overwrite).await.unwrap();
    assert_eq!(store.head(&empty_copy).await.unwrap().size, 0);
}

/// Two emulators, two accounts, one Entra tenant (each accepts the tokens the other issued).
async fn two_accounts(root: &std::path::Path) -> (DfsEmulator, DfsEmulator) {
    let tokens = SharedTokens::default();
    let start = |name: &str| {
        let mut config = EmulatorConfig::new(root.join(name));
        config.account = name.to_owned();
        config.tokens = tokens.clone();
        DfsEmulator::start_with(config)
    };
    (start("sourcelake").await.unwrap(), start("targetlake").await.unwrap())
}

fn entra(emu: &DfsEmulator) -> Credential {
    Credential::ClientSecret {
        tenant_id: "00000000-0000-0000-0000-000000000001".into(),
        client_id: "pbi-backup-test".into(),
        secret: emu.client_secret().into(),
    }
}

const SAS: &str =
    "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=Y29weS1zZWNyZXQtc2ln";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_accounts_with_each_credential_the_target_reads_the_source() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = two_accounts(root.path()).await;
    type MakeCredential = fn(&DfsEmulator) -> Credential;
    let kinds: [(&str, MakeCredential); 3] = [
        ("key", |e| Credential::AccountKey(e.account_key().to_owned().into())),
        ("sas", |_| Credential::Sas(SAS.to_owned().into())),
        ("entra", entra),
    ];
    for (i, (kind, credential)) in kinds.into_iter().enumerate() {
        let source = small_blocks(&a, credential(&a));
        let target = small_blocks(&b, credential(&b));
        source.ensure_filesystem(FS).await.unwrap();
        target.ensure_filesystem(FS).await.unwrap();
        let from = StorePath::file(FS, "Finance", &format!("{kind} model.abf")).unwrap();
        let to = StorePath::file(FS, "Personal", &format!("{kind} model.abf")).unwrap();
        let data = conformance::pattern(LEN, i as u8);
        source.put(&from, data.clone(), PutMode::Create).await.unwrap();
        let (reads, appends) = (a.request_count(Op::Read), b.request_count(Op::Append));

        let (source_copy, target_copy) =
            (source.server_copy().unwrap(), target.server_copy().unwrap());
        let from_source = source_copy.copy_source(&from).await.unwrap();
        let shown = format!("{from_source:?}");
        assert!(!shown.contains("sig=") && !shown.contains("Bearer"), "{kind}: {shown}");
        target_copy.copy_from_source(&from_source, &to, PutMode::Create).await.unwrap();

        assert_eq!(
            a.request_count(Op::Read) - reads,
            5,
            "{kind}: the target's service read 5 blocks"
        );
        assert_eq!(
            b.request_count(Op::Append),
            appends,
            "{kind}: nothing was uploaded by the client"
        );
        assert_eq!(target.get_bytes(&to).await.unwrap(), data, "{kind}");
        assert!(b.paths(FS).iter().all(|p| !p.contains(".partial-")), "{kind}: {:?}", b.paths(FS));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_the_service_cannot_read_fails_the_copy_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = two_accounts(root.path()).await;
    let source = small_blocks(&a, entra(&a));
    let target = small_blocks(&b, Credential::AccountKey(b.account_key().to_owned().into()));
    source.ensure_filesystem(FS).await.unwrap();
    target.ensure_filesystem(FS).await.unwrap();
    let from = StorePath::file(FS, "Finance", "m.abf").unwrap();
    let to = StorePath::file(FS, "Personal", "m.abf").unwrap();
    source.put(&from, conformance::pattern(LEN, 3), PutMode::Create).await.unwrap();
    let from_source = source.server_copy().unwrap().copy_source(&from).await.unwrap();
    // The source's account refuses every read (as for a token without the role to read it).
    let refusal =
        Fault::Status { status: 403, code: "AuthorizationPermissionMismatch", retry_after: None };
    a.faults().inject(Op::Read, refusal, 100);

    let err = target
        .server_copy()
        .unwrap()
        .copy_from_source(&from_source, &to, PutMode::Create)
        .await
        .unwrap_err();

    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("CannotVerifyCopySource"), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Bearer ") && !text.contains("sig="), "{text}");
    assert!(
        b.paths(FS).iter().all(|p| !p.ends_with("m.abf") && !p.contains(".partial-")),
        "{:?}",
        b.paths(FS)
    );
}

/// A source replaced while the service copies it: the blocks are read with `x-ms-source-if-match` (the version
/// whose hash the copy records), so the copy fails on the change instead of mixing two versions, and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_replaced_during_the_copy_fails_it_instead_of_mixing_versions() {
    let env = env().await;
    let mut config =
        config_for(&env.emu, Credential::AccountKey(env.emu.account_key().to_owned().into()));
    config.copy_block_size = 256 << 10;
    config.concurrency = 1;
    let store = AdlsStore::new(config).unwrap();
    store.ensure_filesystem(FS).await.unwrap();
    let from = StorePath::file(FS, "Finance", "changing.abf").unwrap();
    let to = StorePath::file(FS, "Finance Copy", "changing.abf").unwrap();
    store.put(&from, conformance::pattern(LEN, 1), PutMode::Create).await.unwrap();
    // The third block waits; meanwhile the source is replaced by a file of the same size.
    for delay in [0, 0, 1500] {
        env.emu.faults().inject(
            Op::PutBlock,
            Fault::Delay(std::time::Duration::from_millis(delay)),
            1,
        );
    }
    let copying = store.copy(&from, &to, PutMode::Create);
    let replacing = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        store.put(&from, conformance::pattern(LEN, 2), PutMode::Overwrite).await.unwrap();
    };
    let (copied, ()) = tokio::join!(copying, replacing);
    let err = copied.expect_err("a copy of two versions was made");
    assert!(matches!(err, Error::Precondition { .. }), "{err}");
    assert!(!store.exists(&to).await.unwrap(), "the failed copy left a file");
}
