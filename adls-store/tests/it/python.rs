//! Cross-client: what adls-store writes, the Python SDK (`azure-storage-file-datalake`) reads byte-identical, and what
//! the Python SDK writes, adls-store reads. Both talk to the same DFS emulator.
//!
//! `PBI_BACKUP_PYTHON` names a python with the SDK installed (`.ci/run` builds one). Unset, the test says plainly that
//! it did not run and returns, unless `PBI_BACKUP_REQUIRE_PYTHON=1`, when it fails.

#![allow(clippy::print_stderr, reason = "the test says when it did not run")]

use std::collections::BTreeMap;
use std::process::Command;

use adls_store::{PutMode, Store, StoreExt, StorePath, conformance};
use sha2::{Digest, Sha256};

use crate::adls::{FS, env};

/// The python of `PBI_BACKUP_PYTHON`; unset, the test says it did not run (and fails if Python is required).
fn python(test: &str) -> Option<std::ffi::OsString> {
    let python = std::env::var_os("PBI_BACKUP_PYTHON");
    if python.is_none() {
        assert!(
            std::env::var("PBI_BACKUP_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "PBI_BACKUP_REQUIRE_PYTHON=1 but PBI_BACKUP_PYTHON is not set"
        );
        eprintln!("python {test} test did not run: PBI_BACKUP_PYTHON is not set");
    }
    python
}

/// Runs a Python script with the emulator's account key and `args`; what it printed, as JSON.
async fn run_script<const N: usize>(
    python: std::ffi::OsString,
    script: std::path::PathBuf,
    args: [String; N],
) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&script)
            .args(args)
            .env("AZURE_STORAGE_KEY", test_fixtures::dfs::DEFAULT_ACCOUNT_KEY)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

const SCRIPT: &str = r#"
import hashlib, json, os, sys
from azure.storage.filedatalake import DataLakeServiceClient

account_url, fs_name, manifest_path = sys.argv[1:4]
manifest = json.load(open(manifest_path, encoding="utf-8"))
svc = DataLakeServiceClient(
    account_url=account_url,
    credential={"account_name": manifest["account"], "account_key": os.environ["AZURE_STORAGE_KEY"]},
    max_single_get_size=1024 * 1024,
    max_chunk_get_size=1024 * 1024,
)
fs = svc.get_file_system_client(fs_name)
result = {"read": {}, "written": {}, "listed": []}
for name in manifest["read"]:
    f = fs.get_file_client(name)
    data = f.download_file(max_concurrency=4).readall()
    props = f.get_file_properties()
    md5 = props.content_settings.content_md5
    result["read"][name] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "md5_ok": md5 is not None and bytes(md5) == hashlib.md5(data).digest(),
        "meta_sha256": props.metadata.get("sha256"),
    }
for i, (name, size) in enumerate(manifest["write"].items()):
    data = os.urandom(size)
    f = fs.get_file_client(name)
    # The last file goes without overwrite: appends to a path never created, then a flush with If-None-Match: *.
    f.upload_data(data, overwrite=(i + 1 < len(manifest["write"])), chunk_size=1024 * 1024, max_concurrency=4)
    result["written"][name] = hashlib.sha256(data).hexdigest()
src, dst = manifest["rename"]
fs.get_file_client(src).rename_file(fs_name + "/" + dst)
result["listed"] = sorted(p.name for p in fs.get_paths(path=manifest["folder"], recursive=False))
print(json.dumps(result))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_and_adls_store_read_each_others_files() {
    let Some(python) = python("cross-client") else { return };
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    let ws = "Cross Client ü & +#?%";
    let folder = StorePath::folder(FS, ws).unwrap();

    // adls-store writes, with the opt-in Content-MD5 that Python checks.
    let mut config = crate::adls::config_for(
        &env.emu,
        adls_store::Credential::AccountKey(env.emu.account_key().to_owned().into()),
    );
    config.store_content_md5 = true;
    let md5_store = adls_store::AdlsStore::new(config).unwrap();
    let ours: BTreeMap<&str, usize> = [
        ("Sales Model (2024) ü.abf", 5 * 1024 * 1024 + 17),
        ("q#1?x=2 %41+.abf", 1000),
        ("empty.abf", 0),
        ("to rename.abf", 4096),
    ]
    .into_iter()
    .collect();
    let mut expected = BTreeMap::new();
    for (i, (name, size)) in ours.iter().enumerate() {
        let data = conformance::pattern(*size, i as u8 + 10);
        expected.insert(format!("{ws}/{name}"), hex::encode(Sha256::digest(&data)));
        md5_store.put(&folder.join(name).unwrap(), data, PutMode::Overwrite).await.unwrap();
    }

    // Python reads them, writes its own, renames one of ours.
    let theirs: BTreeMap<String, usize> = [
        ("python big ü.abf", 3 * 1024 * 1024 + 5),
        ("py+plus #1?.abf", 777),
        ("no overwrite.abf", 2 * 1024 * 1024),
    ]
    .into_iter()
    .map(|(n, s)| (format!("{ws}/{n}"), s))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let manifest = serde_json::json!({
        "account": env.emu.account(),
        "read": expected.keys().filter(|k| !k.ends_with("to rename.abf")).collect::<Vec<_>>(),
        "write": theirs,
        "rename": [format!("{ws}/to rename.abf"), format!("{ws}/renamed by python ü.abf")],
        "folder": ws,
    });
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let script = dir.path().join("cross.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let account_url = env.emu.endpoint().trim_end_matches('/').to_owned();
    let args = [account_url, FS.to_owned(), manifest_path.display().to_string()];
    let result = run_script(python, script, args).await;

    for (name, sha) in expected.iter().filter(|(k, _)| !k.ends_with("to rename.abf")) {
        let r = &result["read"][name];
        assert_eq!(r["sha256"].as_str(), Some(sha.as_str()), "python read {name} byte-identical");
        assert_eq!(
            r["meta_sha256"].as_str(),
            Some(sha.as_str()),
            "python sees the sha256 property of {name}"
        );
        assert_eq!(
            r["md5_ok"].as_bool(),
            Some(true),
            "the Content-MD5 stored on flush matches for {name}"
        );
    }

    // adls-store reads what Python wrote and renamed.
    for name in theirs.keys() {
        let file = name.rsplit_once('/').unwrap().1;
        let data = env.store.get_bytes(&folder.join(file).unwrap()).await.unwrap();
        assert_eq!(
            Some(hex::encode(Sha256::digest(&data)).as_str()),
            result["written"][name].as_str(),
            "{name}"
        );
    }
    let renamed =
        env.store.get_bytes(&folder.join("renamed by python ü.abf").unwrap()).await.unwrap();
    assert_eq!(renamed, conformance::pattern(4096, 13));
    assert!(!env.store.exists(&folder.join("to rename.abf").unwrap()).await.unwrap());

    // Both list the same folder the same way.
    let ours_listed: Vec<String> = env
        .store
        .list_all(&folder)
        .await
        .unwrap()
        .into_iter()
        .map(|m| format!("{ws}/{}", m.path.file_name().unwrap()))
        .collect();
    let theirs_listed: Vec<String> = result["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ours_listed, theirs_listed);
    assert_eq!(ours_listed.len(), 7);
}

/// The standard development connection string, as Azurite documents it, typed here rather than taken from the
/// emulator: any tool configured with it (Storage Explorer, azcopy, the SDKs) must be able to sign for the emulator.
const DEVELOPMENT_CONNECTION_STRING: &str = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";

const CONNECTION_STRING_SCRIPT: &str = r#"
import sys
from azure.storage.filedatalake import DataLakeServiceClient

svc = DataLakeServiceClient.from_connection_string(sys.argv[1])
fs = svc.get_file_system_client(sys.argv[2])
fs.get_file_client("dev key/signed.txt").upload_data(b"published key", overwrite=True)
print(",".join(sorted(p.name + ("/" if p.is_directory else "") for p in fs.get_paths())))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_signs_with_the_published_development_connection_string() {
    let Some(python) = python("connection-string") else { return };
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    // An empty folder made by adls-store is a directory to the Python SDK too.
    env.store.create_folder(&StorePath::folder(FS, "made empty").unwrap()).await.unwrap();
    let port = env.emu.endpoint().parse::<url::Url>().unwrap().port().unwrap();
    let conn = DEVELOPMENT_CONNECTION_STRING.replace("{port}", &port.to_string());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("conn.py");
    std::fs::write(&script, CONNECTION_STRING_SCRIPT).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(&script).arg(&conn).arg(FS).output().expect("run python")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK could not use the published development connection string: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "dev key/,dev key/signed.txt,made empty/"
    );
    let written = StorePath::file(FS, "dev key", "signed.txt").unwrap();
    assert_eq!(env.store.get_bytes(&written).await.unwrap(), "published key");
}

/// The Blob SDK (`azure-storage-blob`, which `azure-storage-file-datalake` installs) copying from a URL, with a SAS it
/// signs itself: blocks from ranges committed in order, a whole blob from a URL, and a source without authorisation.
const COPY_SCRIPT: &str = r#"
import datetime, hashlib, json, os, sys
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobSasPermissions, BlobServiceClient, generate_blob_sas

account_url, account, fs_name, src_name = sys.argv[1:5]
key = os.environ["AZURE_STORAGE_KEY"]
container = BlobServiceClient(account_url, credential={"account_name": account, "account_key": key}).get_container_client(fs_name)
src = container.get_blob_client(src_name)
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
sas = generate_blob_sas(account, fs_name, src_name, account_key=key, permission=BlobSasPermissions(read=True), expiry=expiry)
src_url = src.url + "?" + sas
size = src.get_blob_properties().size
sha = lambda blob: hashlib.sha256(blob.download_blob().readall()).hexdigest()
out = {}
blocks = container.get_blob_client("Python Copies/from blocks ü.abf")
cut = size // 3
blocks.stage_block_from_url("block-0001", src_url, source_offset=cut, source_length=size - cut)
blocks.stage_block_from_url("block-0000", src_url, source_offset=0, source_length=cut)
blocks.commit_block_list([BlobBlock(block_id="block-0000"), BlobBlock(block_id="block-0001")], metadata={"sha256": "from python"})
out["blocks"] = sha(blocks)
out["blocks_meta"] = blocks.get_blob_properties().metadata.get("sha256")
swapped = container.get_blob_client("Python Copies/swapped.abf")
swapped.stage_block_from_url("part-0", src_url, source_offset=0, source_length=cut)
swapped.stage_block_from_url("part-1", src_url, source_offset=cut, source_length=size - cut)
swapped.commit_block_list([BlobBlock(block_id="part-1"), BlobBlock(block_id="part-0")])
out["swapped"] = sha(swapped)
whole = container.get_blob_client("Python Copies/whole.abf")
whole.upload_blob_from_url(src_url, overwrite=True)
out["whole"] = sha(whole)
try:
    container.get_blob_client("Python Copies/refused.abf").stage_block_from_url("block-0000", src.url, source_offset=0, source_length=10)
    out["refused"] = None
except HttpResponseError as e:
    out["refused"] = [e.status_code, e.error_code]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_blob_sdk_copies_from_a_url_as_the_service_documents() {
    let Some(python) = python("copy-from-URL") else { return };
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    let src = StorePath::file(FS, "Finance", "Sales #1.abf").unwrap();
    let data = conformance::pattern(3 * 1024 * 1024 + 7, 21);
    env.store.put(&src, data.clone(), PutMode::Create).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("copy_from_url.py");
    std::fs::write(&script, COPY_SCRIPT).unwrap();
    let account_url = env.emu.endpoint().trim_end_matches('/').to_owned();
    let args =
        [account_url, env.emu.account().to_owned(), FS.to_owned(), "Finance/Sales #1.abf".into()];
    let result = run_script(python, script, args).await;
    let sha = hex::encode(Sha256::digest(&data));
    assert_eq!(result["blocks"].as_str(), Some(sha.as_str()), "blocks from ranges, in list order");
    assert_eq!(result["blocks_meta"].as_str(), Some("from python"));
    // Blocks committed in another order than their source ranges: the blob is the list's order.
    let cut = data.len() / 3;
    let swapped = [&data[cut..], &data[..cut]].concat();
    assert_eq!(result["swapped"].as_str(), Some(hex::encode(Sha256::digest(&swapped)).as_str()));
    assert_eq!(result["whole"].as_str(), Some(sha.as_str()), "Put Blob From URL");
    let refused = &result["refused"];
    assert_eq!(refused[1].as_str(), Some("CannotVerifyCopySource"), "{result}");
    assert!(matches!(refused[0].as_u64(), Some(401 | 403)), "{result}");
    // adls-store reads the Python copies, and sees the metadata as the property.
    let copy = StorePath::file(FS, "Python Copies", "whole.abf").unwrap();
    assert_eq!(env.store.get_bytes(&copy).await.unwrap(), data);
}

const LEASE_SCRIPT: &str = r#"
import json, os, sys
from azure.core.exceptions import HttpResponseError
from azure.storage.filedatalake import DataLakeServiceClient

account_url, account, fs_name, path = sys.argv[1:5]
svc = DataLakeServiceClient(
    account_url=account_url,
    credential={"account_name": account, "account_key": os.environ["AZURE_STORAGE_KEY"]},
)
f = svc.get_file_system_client(fs_name).get_file_client(path)
out = {}
def code(call):
    try:
        call()
        return "ok"
    except HttpResponseError as e:
        return e.error_code
out["acquire_while_held"] = code(lambda: f.acquire_lease(lease_duration=15))
out["delete_while_held"] = code(lambda: f.delete_file())
lease = f.get_file_properties().lease
out["state"], out["status"], out["duration"] = lease.state, lease.status, lease.duration
from azure.storage.filedatalake import DataLakeLeaseClient
out["break_time"] = DataLakeLeaseClient(f).break_lease(lease_break_period=0)
out["state_after_break"] = f.get_file_properties().lease.state
print(json.dumps(out))
"#;

/// The emulator's Blob leases, as the Python SDK sees them: a lock adls-store holds refuses Python's acquire and
/// delete with the documented codes, shows as leased, and Python's break ends it (adls-store's renewal then fails and
/// its acquire succeeds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_sees_and_breaks_a_lock_adls_store_holds() {
    let Some(python) = python("lease") else { return };
    let env = env().await;
    env.store.ensure_filesystem(FS).await.unwrap();
    let path = StorePath::file(FS, ".locks", "nightly ü.lock").unwrap();
    let held = env.store.locks().acquire(&path, std::time::Duration::from_secs(60)).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lease.py");
    std::fs::write(&script, LEASE_SCRIPT).unwrap();
    let account_url = env.emu.endpoint().trim_end_matches('/').to_owned();
    let args =
        [account_url, env.emu.account().to_owned(), FS.to_owned(), ".locks/nightly ü.lock".into()];
    let out = run_script(python, script, args).await;
    assert_eq!(out["acquire_while_held"], "LeaseAlreadyPresent", "{out}");
    assert_eq!(out["delete_while_held"], "LeaseIdMissing", "{out}");
    assert_eq!(
        (&out["state"], &out["status"], &out["duration"]),
        (&"leased".into(), &"locked".into(), &"fixed".into()),
        "{out}"
    );
    assert_eq!(out["break_time"], 0, "{out}");
    assert_eq!(out["state_after_break"], "broken", "{out}");

    let renewed = env.store.locks().renew(&path, &held).await;
    assert!(matches!(renewed, Err(adls_store::Error::Locked { .. })), "{renewed:?}");
    let again = env.store.locks().acquire(&path, std::time::Duration::from_secs(15)).await.unwrap();
    env.store.locks().release(&path, &again).await.unwrap();
}
