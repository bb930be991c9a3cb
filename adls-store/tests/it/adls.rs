//! The ADLS Gen2 backend, through the real `azure_storage_datalake` client, against the DFS emulator on loopback.

use std::time::Duration;

use adls_store::{AdlsConfig, AdlsStore, Credential, RetryConfig, conformance};
use test_fixtures::dfs::DfsEmulator;

pub const FS: &str = "power-bi-backup";

pub struct Env {
    pub emu: DfsEmulator,
    pub store: AdlsStore,
    _root: tempfile::TempDir,
}

/// Fast retries so fault tests do not wait long.
pub fn quick_retry() -> RetryConfig {
    let mut retry = RetryConfig::default();
    retry.backoff.init_backoff = Duration::from_millis(10);
    retry.backoff.max_backoff = Duration::from_secs(2);
    retry.max_retries = 5;
    retry
}

pub fn config_for(emu: &DfsEmulator, credential: Credential) -> AdlsConfig {
    let mut config = AdlsConfig::new(emu.account(), credential);
    config.endpoint = Some(emu.endpoint().parse().unwrap());
    config.authority = Some(emu.authority_host().parse().unwrap());
    config.sign_in_options.ca_file = Some(emu.ca_file());
    config.chunk_size = 1 << 20;
    config.read_chunk_size = 1 << 20;
    config.concurrency = 4;
    config.retry = quick_retry();
    config
}

pub async fn env() -> Env {
    let root = tempfile::tempdir().unwrap();
    let emu = DfsEmulator::start(root.path()).await.unwrap();
    let store = AdlsStore::new(config_for(
        &emu,
        Credential::AccountKey(emu.account_key().to_owned().into()),
    ))
    .unwrap();
    Env { emu, store, _root: root }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_suite() {
    let env = env().await;
    conformance::run_all(&env.store, FS).await;
}

mod auth {
    use super::*;
    use adls_store::{Error, PutMode, Store, StoreExt, StorePath};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_account_key_is_refused_without_leaking_it() {
        let env = env().await;
        let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
        let store =
            AdlsStore::new(config_for(&env.emu, Credential::AccountKey(wrong.to_owned().into())))
                .unwrap();
        let err = store.ensure_filesystem(FS).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        assert!(!err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong), "{err:?}");
        assert!(!format!("{store:?}").contains(wrong));
        // The right key still works.
        env.store.ensure_filesystem(FS).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sas_token_works() {
        let env = env().await;
        env.store.ensure_filesystem(FS).await.unwrap();
        let sas =
            "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=c2VjcmV0LXNpZw%3D%3D";
        let store =
            AdlsStore::new(config_for(&env.emu, Credential::Sas(sas.to_owned().into()))).unwrap();
        let p = StorePath::file(FS, "sas ws", "a b.abf").unwrap();
        store.put(&p, conformance::pattern(3_000_000, 1), PutMode::Overwrite).await.unwrap();
        assert_eq!(store.get_bytes(&p).await.unwrap(), conformance::pattern(3_000_000, 1));
        assert!(!format!("{store:?}").contains("c2VjcmV0"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_secret_credential_runs_end_to_end() {
        let env = env().await;
        let credential = Credential::ClientSecret {
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "pbi-backup-test".into(),
            secret: env.emu.client_secret().into(),
        };
        let store = AdlsStore::new(config_for(&env.emu, credential)).unwrap();
        // The token endpoint cannot answer twice (503): the store signs in again after a backoff.
        env.emu.faults().inject(
            test_fixtures::dfs::Op::Token,
            test_fixtures::dfs::Fault::busy(1),
            2,
        );
        store.ensure_filesystem(FS).await.unwrap();
        assert_eq!(env.emu.faults().pending(), 0, "the busy answers were not all seen");
        let p = StorePath::file(FS, "entra", "m.abf").unwrap();
        store.put(&p, conformance::pattern(2_500_000, 2), PutMode::Overwrite).await.unwrap();
        assert_eq!(store.get_bytes(&p).await.unwrap(), conformance::pattern(2_500_000, 2));
        assert_eq!(
            env.emu.request_count(test_fixtures::dfs::Op::Token),
            3,
            "two busy answers, then one token, cached and reused"
        );

        let bad = Credential::ClientSecret {
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "pbi-backup-test".into(),
            secret: "not-the-secret-zz9".into(),
        };
        let store = AdlsStore::new(config_for(&env.emu, bad)).unwrap();
        let err = store.head(&p).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        assert_eq!(
            env.emu.request_count(test_fixtures::dfs::Op::Token),
            4,
            "a refused secret is not asked again"
        );
        assert!(!format!("{err:?}").contains("not-the-secret-zz9"), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn config_from_env_lookup_reaches_the_emulator() {
        let env = env().await;
        let (endpoint, key) = (env.emu.endpoint(), env.emu.account_key().to_owned());
        let config = AdlsConfig::from_lookup(|name| match name {
            "PBI_BACKUP_ADLS_ACCOUNT" => Some("devstoreaccount1".into()),
            "PBI_BACKUP_ADLS_ENDPOINT" => Some(endpoint.trim_end_matches('/').to_owned()),
            "AZURE_STORAGE_KEY" => Some(key.clone()),
            _ => None,
        })
        .unwrap();
        let store = AdlsStore::new(config).unwrap();
        store.ensure_filesystem(FS).await.unwrap();
        assert!(store.to_string().ends_with("/devstoreaccount1/"), "{store}");
    }
}

mod listing {
    use super::*;
    use adls_store::{PutMode, Store, StoreExt, StorePath};
    use test_fixtures::dfs::Op;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_thousand_files_across_continuation_pages() {
        let env = env().await;
        env.emu.faults().set_page_size(Some(700));
        let before = env.emu.request_count(Op::List);
        conformance::list_many(&env.store, FS, 5000).await;
        // 5,000 files in pages of 700 = 8 pages for the listing, twice (before and after the delete: 1 page).
        assert!(env.emu.request_count(Op::List) - before >= 8, "continuation pages were followed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folder_check_whose_answer_breaks_off_is_asked_for_again() {
        let env = env().await;
        env.store.ensure_filesystem(FS).await.unwrap();
        let folder = StorePath::folder(FS, "cut").unwrap();
        let file = folder.join("b.abf").unwrap();
        env.store.put(&file, vec![1; 10].into(), adls_store::PutMode::Create).await.unwrap();
        env.emu.faults().inject(
            Op::List,
            test_fixtures::dfs::Fault::CutResponseBody { after_bytes: 20 },
            2,
        );
        assert!(env.store.folder_exists(&folder).await.expect("the check is asked for again"));
        assert_eq!(env.emu.faults().pending(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listing_cut_in_the_middle_is_asked_for_again() {
        let env = env().await;
        env.store.ensure_filesystem(FS).await.unwrap();
        let folder = StorePath::folder(FS, "cut").unwrap();
        let mut names = std::collections::BTreeSet::new();
        for i in 0..25 {
            let p = folder.join(&format!("b{i:02}.abf")).unwrap();
            env.store.put(&p, vec![i as u8; 10].into(), PutMode::Create).await.unwrap();
            names.insert(p.to_string());
        }
        env.emu.faults().set_page_size(Some(10));
        // The second page's answer breaks off after 100 bytes, twice.
        env.emu.faults().inject(Op::List, test_fixtures::dfs::Fault::Delay(Duration::ZERO), 1);
        env.emu.faults().inject(
            Op::List,
            test_fixtures::dfs::Fault::CutResponseBody { after_bytes: 100 },
            2,
        );
        let listed = env.store.list_all(&folder).await.expect("the listing is asked for again");
        let got: Vec<String> = listed.iter().map(|m| m.path.to_string()).collect();
        assert_eq!(got.len(), 25, "a page was listed twice or lost: {got:?}");
        assert_eq!(got.into_iter().collect::<std::collections::BTreeSet<_>>(), names);
        assert_eq!(env.emu.faults().pending(), 0);
    }
}

mod download {
    use adls_store::{DownloadOptions, Error, PutMode, Store, StoreExt, StorePath};
    use test_fixtures::dfs::{Fault, Op};

    use super::*;

    /// Without a partial to keep, the bytes go into a file with no name: while the transfer waits, the folder holds
    /// nothing another tool could open and write into; once verified, only the file, whole, replacing the old one.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_download_without_a_partial_has_no_name_until_it_is_verified() {
        use sha2::Digest as _;
        let env = env().await;
        env.store.ensure_filesystem(FS).await.unwrap();
        let p = StorePath::file(FS, "dl", "n.abf").unwrap();
        let data = conformance::pattern(6 << 20, 11);
        env.store.put(&p, data.clone(), PutMode::Create).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("n.abf");
        std::fs::write(&local, b"an older copy").unwrap();
        for _ in 0..4 {
            env.emu.faults().inject(Op::Read, Fault::Delay(Duration::ZERO), 1);
        }
        env.emu.faults().inject(Op::Read, Fault::Delay(Duration::from_millis(1500)), 1);
        let download = {
            let (store, p, local) = (env.store.clone(), p.clone(), local.clone());
            tokio::spawn(async move { store.download_to_file(&p, &local).await })
        };
        let started = std::time::Instant::now();
        while env.emu.faults().pending() > 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "the reads never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let names = |d: &std::path::Path| -> Vec<String> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), ["n.abf"], "a named file appeared during the transfer");
        assert_eq!(
            std::fs::read(&local).unwrap(),
            b"an older copy",
            "the old copy was touched before the end"
        );
        let done = download.await.unwrap().unwrap();
        assert_eq!(done.sha256, Some(hex::encode(sha2::Sha256::digest(&data))));
        assert_eq!(std::fs::read(&local).unwrap(), data);
        assert_eq!(names(dir.path()), ["n.abf"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_changed_on_disk_during_the_download_is_not_renamed_into_place() {
        let env = env().await;
        env.store.ensure_filesystem(FS).await.unwrap();
        let p = StorePath::file(FS, "dl", "m.abf").unwrap();
        let data = conformance::pattern(6 << 20, 9);
        env.store.put(&p, data.clone(), PutMode::Create).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (local, partial) = (dir.path().join("m.abf"), dir.path().join("m.abf.partial"));
        // Four 1 MiB reads go through; the fifth waits, while another writer (one that ignores the lock) changes
        // bytes already written.
        for _ in 0..4 {
            env.emu.faults().inject(Op::Read, Fault::Delay(Duration::ZERO), 1);
        }
        env.emu.faults().inject(Op::Read, Fault::Delay(Duration::from_millis(1500)), 1);
        let options = DownloadOptions { partial: Some(partial.clone()), ..Default::default() };
        let download = {
            let (store, p, local) = (env.store.clone(), p.clone(), local.clone());
            tokio::spawn(async move { store.download_to_file_with(&p, &local, &options).await })
        };
        let started = std::time::Instant::now();
        while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
            assert!(started.elapsed() < Duration::from_secs(20), "the first chunks never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        {
            use std::io::{Seek, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&partial).unwrap();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.write_all(b"not the stored bytes").unwrap();
        }
        let err = download.await.unwrap().expect_err("a changed file was reported verified");
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
        assert!(err.to_string().contains("something else wrote to it"), "{err}");
        assert!(!local.exists(), "the changed file was renamed into place");
        assert!(!partial.exists(), "bytes that failed verification were kept");
        // Downloaded again, it is whole.
        let options = DownloadOptions { partial: Some(partial.clone()), ..Default::default() };
        env.store.download_to_file_with(&p, &local, &options).await.unwrap();
        assert_eq!(std::fs::read(&local).unwrap(), data);
    }
}
