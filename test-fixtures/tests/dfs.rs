//! The DFS emulator through raw HTTP: authentication, the append/flush rules, ranges, conditions, the token
//! endpoint, faults, and the standalone binary.

use std::io::BufRead;

use reqwest::{Method, StatusCode};
use test_fixtures::dfs::{DfsEmulator, Fault, Op, sign, string_to_sign};

struct Client {
    http: reqwest::Client,
    base: String,
    account: String,
    key: Vec<u8>,
}

impl Client {
    fn new(emu: &DfsEmulator, key_b64: &str) -> Self {
        use base64::Engine as _;
        Self {
            // No pooled connections: a fault that cuts a body closes its connection, and a reused one would make
            // the next request fail by a race this test is not about.
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            base: format!("http://{}", emu.addr()),
            account: emu.account().to_owned(),
            key: base64::engine::general_purpose::STANDARD.decode(key_b64).unwrap(),
        }
    }

    /// Sends a SharedKey-signed request; `path_and_query` is the raw, encoded path after the host.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let url: url::Url = format!("{}{}", self.base, path_and_query).parse().unwrap();
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("x-ms-version", "2022-11-02".parse().unwrap());
        map.insert("x-ms-date", "Sat, 28 Nov 2026 04:00:00 GMT".parse().unwrap());
        map.insert("content-length", body.len().to_string().parse().unwrap());
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let to_sign = string_to_sign(method.as_str(), url.path(), url.query(), &map, &self.account);
        let auth = format!("SharedKey {}:{}", self.account, sign(&self.key, &to_sign));
        map.insert("authorization", auth.parse().unwrap());
        self.http.request(method, url).headers(map).body(body).send().await.unwrap()
    }

    /// Like `send`, but a connection that broke before the response head arrived is an `Err`.
    async fn try_send(
        &self,
        method: Method,
        path_and_query: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let url: url::Url = format!("{}{}", self.base, path_and_query).parse().unwrap();
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("x-ms-version", "2022-11-02".parse().unwrap());
        map.insert("x-ms-date", "Sat, 28 Nov 2026 04:00:00 GMT".parse().unwrap());
        map.insert("content-length", "0".parse().unwrap());
        let to_sign = string_to_sign(method.as_str(), url.path(), url.query(), &map, &self.account);
        let auth = format!("SharedKey {}:{}", self.account, sign(&self.key, &to_sign));
        map.insert("authorization", auth.parse().unwrap());
        self.http.request(method, url).headers(map).send().await
    }
}

fn code(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn start() -> (tempfile::TempDir, DfsEmulator) {
    let dir = tempfile::tempdir().unwrap();
    let emu = DfsEmulator::start(dir.path()).await.unwrap();
    (dir, emu)
}

#[tokio::test]
async fn shared_key_is_verified_and_a_wrong_key_refused() {
    let (_dir, emu) = start().await;
    let good = Client::new(&emu, emu.account_key());
    let resp =
        good.send(Method::PUT, "/devstoreaccount1/backups?resource=filesystem", &[], vec![]).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["x-ms-namespace-enabled"], "true");
    for header in ["x-ms-request-id", "x-ms-version", "date", "server", "etag", "last-modified"] {
        assert!(resp.headers().contains_key(header), "missing {header}");
    }
    let wrong = Client::new(&emu, "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IQ==");
    let resp = wrong
        .send(Method::HEAD, "/devstoreaccount1/backups?resource=filesystem", &[], vec![])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&resp), "AuthenticationFailed");
    // No credentials at all.
    let resp = reqwest::get(format!("{}/devstoreaccount1/backups?resource=filesystem", good.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A SAS query is accepted.
    let resp = reqwest::get(format!(
        "{}/devstoreaccount1/backups?restype=container&sv=2023-11-03&sig=abc",
        good.base
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn appends_in_any_order_then_a_contiguous_flush() {
    let (_dir, emu) = start().await;
    let c = Client::new(&emu, emu.account_key());
    c.send(Method::PUT, "/devstoreaccount1/fs1?resource=filesystem", &[], vec![]).await;
    let f = "/devstoreaccount1/fs1/ws%20a/file%23%3F%25.abf";
    let resp =
        c.send(Method::PUT, &format!("{f}?resource=file"), &[("if-none-match", "*")], vec![]).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp =
        c.send(Method::PUT, &format!("{f}?resource=file"), &[("if-none-match", "*")], vec![]).await;
    assert_eq!((resp.status(), code(&resp).as_str()), (StatusCode::CONFLICT, "PathAlreadyExists"));
    // Second half first.
    let resp = c
        .send(Method::PATCH, &format!("{f}?action=append&position=5"), &[], b"world".to_vec())
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = c.send(Method::PATCH, &format!("{f}?action=flush&position=10"), &[], vec![]).await;
    assert_eq!(
        (resp.status(), code(&resp).as_str()),
        (StatusCode::BAD_REQUEST, "InvalidFlushPosition")
    );
    // A position no file can reach is an invalid value, not an overflow.
    for action in ["append", "flush"] {
        let resp = c
            .send(
                Method::PATCH,
                &format!("{f}?action={action}&position=18446744073709551615"),
                &[],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(
            (resp.status(), code(&resp).as_str()),
            (StatusCode::BAD_REQUEST, "InvalidQueryParameterValue"),
            "{action}"
        );
    }
    // A wrong transactional MD5 is refused.
    let resp = c
        .send(
            Method::PATCH,
            &format!("{f}?action=append&position=0"),
            &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
            b"hello".to_vec(),
        )
        .await;
    assert_eq!((resp.status(), code(&resp).as_str()), (StatusCode::BAD_REQUEST, "Md5Mismatch"));
    let resp = c
        .send(Method::PATCH, &format!("{f}?action=append&position=0"), &[], b"hello".to_vec())
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = c
        .send(
            Method::PATCH,
            &format!("{f}?action=flush&position=10&close=true"),
            &[("x-ms-content-md5", "5eB63bbbe01eeed093cb22bb8f5acdc3")],
            vec![],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c.send(Method::GET, f, &[("x-ms-range", "bytes=3-7")], vec![]).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], "bytes 3-7/10");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"lowor");
    let resp =
        c.send(Method::GET, f, &[("x-ms-range", "bytes=0-18446744073709551614")], vec![]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"helloworld");
    let resp = c.send(Method::GET, f, &[("range", "bytes=10-")], vec![]).await;
    assert_eq!(
        (resp.status(), code(&resp).as_str()),
        (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange")
    );
    let resp = c.send(Method::HEAD, f, &[], vec![]).await;
    assert_eq!(resp.headers()["content-length"], "10");
    assert_eq!(resp.headers()["content-md5"], "5eB63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(resp.headers()["x-ms-resource-type"], "file");
    // The name on disk is decoded; its parent folder was created.
    assert_eq!(emu.paths("fs1"), vec!["ws a".to_owned(), "ws a/file#?%.abf".to_owned()]);
}

#[tokio::test]
async fn listing_pages_and_recursive_delete() {
    let (_dir, emu) = start().await;
    let c = Client::new(&emu, emu.account_key());
    c.send(Method::PUT, "/devstoreaccount1/fs2?resource=filesystem", &[], vec![]).await;
    for i in 0..7 {
        c.send(Method::PUT, &format!("/devstoreaccount1/fs2/dir/f{i}?resource=file"), &[], vec![])
            .await;
    }
    let mut names = Vec::new();
    let mut continuation = String::new();
    let mut pages = 0;
    loop {
        let q = if continuation.is_empty() {
            String::new()
        } else {
            format!("&continuation={continuation}")
        };
        let resp = c.send(Method::GET, &format!("/devstoreaccount1/fs2?resource=filesystem&recursive=false&directory=dir&maxResults=3{q}"), &[], vec![]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let next = resp.headers().get("x-ms-continuation").map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = resp.json().await.unwrap();
        for p in body["paths"].as_array().unwrap() {
            names.push(p["name"].as_str().unwrap().to_owned());
            assert!(
                p["owner"].is_string() && p["permissions"].is_string() && p["etag"].is_string()
            );
        }
        pages += 1;
        match next {
            Some(n) => continuation = n,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("dir/f{i}")).collect::<Vec<_>>());
    // A directory renamed onto one that holds something: PathAlreadyExists, as public clients report it.
    c.send(Method::PUT, "/devstoreaccount1/fs2/other/x?resource=file", &[], vec![]).await;
    let resp = c
        .send(
            Method::PUT,
            "/devstoreaccount1/fs2/dir",
            &[("x-ms-rename-source", "/fs2/other")],
            vec![],
        )
        .await;
    assert_eq!((resp.status(), code(&resp).as_str()), (StatusCode::CONFLICT, "PathAlreadyExists"));
    c.send(Method::DELETE, "/devstoreaccount1/fs2/other?recursive=true", &[], vec![]).await;
    let resp = c.send(Method::DELETE, "/devstoreaccount1/fs2/dir", &[], vec![]).await;
    assert_eq!((resp.status(), code(&resp).as_str()), (StatusCode::CONFLICT, "DirectoryNotEmpty"));
    let resp =
        c.send(Method::DELETE, "/devstoreaccount1/fs2/dir?recursive=true", &[], vec![]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(emu.paths("fs2").is_empty());
}

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens_the_emulator_accepts() {
    let (_dir, emu) = start().await;
    let base = format!("http://{}", emu.addr());
    let http = reqwest::Client::new();
    let token_url = format!("{base}/tenant-1/oauth2/v2.0/token");
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a"),
            ("client_secret", "wrong"),
            ("scope", "https://storage.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a"),
            ("client_secret", emu.client_secret()),
            ("scope", "https://storage.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["token_type"], "Bearer");
    let resp = http
        .put(format!("{base}/devstoreaccount1/fs3?resource=filesystem"))
        .bearer_auth(&token)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = http
        .head(format!("{base}/devstoreaccount1/fs3?resource=filesystem"))
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_are_switched_per_test() {
    let (_dir, emu) = start().await;
    let c = Client::new(&emu, emu.account_key());
    emu.faults().inject(Op::Filesystem, Fault::busy(7), 1);
    let resp = c.send(Method::PUT, "/devstoreaccount1/fs4?resource=filesystem", &[], vec![]).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    let resp = c.send(Method::PUT, "/devstoreaccount1/fs4?resource=filesystem", &[], vec![]).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "the fault was used once");
    c.send(Method::PUT, "/devstoreaccount1/fs4/f?resource=file", &[], vec![]).await;
    c.send(
        Method::PATCH,
        "/devstoreaccount1/fs4/f?action=append&position=0",
        &[],
        vec![7u8; 100_000],
    )
    .await;
    c.send(Method::PATCH, "/devstoreaccount1/fs4/f?action=flush&position=100000", &[], vec![])
        .await;
    emu.faults().inject(Op::Read, Fault::CutResponseBody { after_bytes: 1000 }, 1);
    // The cut may land before the response head is flushed (the request fails) or after it (the body fails).
    match c.try_send(Method::GET, "/devstoreaccount1/fs4/f").await {
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.bytes().await.is_err(), "the body is cut");
        }
    }
    emu.faults().inject(Op::Read, Fault::internal(), 1);
    let resp = c.send(Method::GET, "/devstoreaccount1/fs4/f", &[], vec![]).await;
    assert_eq!(
        (resp.status(), code(&resp).as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
    );
    let resp = c.send(Method::GET, "/devstoreaccount1/fs4/f", &[], vec![]).await;
    assert_eq!(resp.bytes().await.unwrap().len(), 100_000);
    assert_eq!(emu.request_count(Op::Read), 3);
    assert_eq!(emu.faults().pending(), 0);
}

#[test]
fn the_standalone_binary_serves_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-emulator"))
        .args(["--port", "0", "--root"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let addr = banner.trim().rsplit(' ').next().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        reqwest::get(format!("http://{addr}/devstoreaccount1/x?restype=container&sig=s"))
            .await
            .unwrap()
            .status()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(banner.starts_with("dfs-emulator listening on 127.0.0.1:"), "{banner}");
    assert_eq!(status, StatusCode::NOT_FOUND, "a missing container is 404 ContainerNotFound");
}

/// The standalone emulator on `root`: the child and its endpoint.
fn start_binary(root: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-emulator"))
        .args(["--port", "0", "--root"])
        .arg(root)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let addr = banner.trim().rsplit(' ').next().unwrap().to_owned();
    (child, format!("http://{addr}/devstoreaccount1"))
}

fn store_at(endpoint: &str) -> adls_store::AdlsStore {
    let mut config = adls_store::AdlsConfig::new(
        "devstoreaccount1",
        adls_store::Credential::AccountKey(
            test_fixtures::dfs::DEFAULT_ACCOUNT_KEY.to_owned().into(),
        ),
    );
    config.endpoint = Some(endpoint.parse().unwrap());
    adls_store::AdlsStore::new(config).unwrap()
}

/// Every file of `ws`: name, ETag, SHA-256 of the bytes.
async fn snapshot(
    store: &adls_store::AdlsStore,
    ws: &str,
) -> Vec<(String, Option<String>, String)> {
    use adls_store::StoreExt;
    use sha2::Digest;
    let mut out = Vec::new();
    for m in store.list_all(&adls_store::StorePath::folder("killfs", ws).unwrap()).await.unwrap() {
        let bytes = store.get_bytes(&m.path).await.unwrap();
        out.push((m.path.to_string(), m.etag.clone(), hex::encode(sha2::Sha256::digest(&bytes))));
    }
    out
}

#[test]
fn the_binary_killed_after_acknowledged_writes_loses_none_of_them() {
    use adls_store::{PutMode, Store, StoreExt, StorePath};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut kills = 0;
    let (mut child, endpoint) = start_binary(dir.path(), &[]);
    let store = store_at(&endpoint);
    let expected = runtime.block_on(async {
        store.ensure_filesystem("killfs").await.unwrap();
        for (i, size) in [0usize, 1, 5 << 20, 9 << 20].into_iter().enumerate() {
            let p = StorePath::file("killfs", "ws", &format!("f{i}.abf")).unwrap();
            store.put(&p, vec![i as u8 + 1; size].into(), PutMode::Create).await.unwrap();
        }
        let (a, b) = (
            StorePath::file("killfs", "ws", "f1.abf").unwrap(),
            StorePath::file("killfs", "ws", "renamed.abf").unwrap(),
        );
        store.rename(&a, &b, PutMode::Create).await.unwrap();
        store.delete(&StorePath::file("killfs", "ws", "f0.abf").unwrap()).await.unwrap();
        snapshot(&store, "ws").await
    });
    assert_eq!(expected.len(), 3, "{expected:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    kills += 1;

    // Started again on the same root: every acknowledged write is there, with its ETag.
    let (mut child, endpoint) = start_binary(dir.path(), &[]);
    let store = store_at(&endpoint);
    let after = runtime.block_on(async {
        let after = snapshot(&store, "ws").await;
        // An upload that was never completed when the server dies is not a file afterwards.
        let p = StorePath::file("killfs", "ws", "unfinished.abf").unwrap();
        let mut upload = store.put_multipart(&p, PutMode::Create).await.unwrap();
        upload.put_part(vec![7u8; 3 << 20].into()).await.unwrap();
        std::mem::forget(upload);
        after
    });
    assert_eq!(after, expected, "a write acknowledged before the kill was lost");
    child.kill().unwrap();
    child.wait().unwrap();
    kills += 1;

    let (child, endpoint) = start_binary(dir.path(), &[]);
    let store = store_at(&endpoint);
    let (after, incomplete) = runtime.block_on(async {
        let after = snapshot(&store, "ws").await;
        let folder = StorePath::folder("killfs", "ws").unwrap();
        (after, store.list_incomplete(&folder).await.unwrap().len())
    });
    assert_eq!(after, expected, "the unfinished upload changed the files");
    assert_eq!(incomplete, 1, "the unfinished upload is listed as one");

    // SIGTERM: a clean stop that saves the namespace (the journal folded into the snapshot).
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by SIGTERM"), "{out:?}");
    assert!(!dir.path().join("namespace.journal").exists(), "the clean stop left the journal");

    // Started with fault switches: the first listing is refused as the switch says, and the files are all there.
    let (mut child, endpoint) = start_binary(dir.path(), &["--fault", "list:403:1"]);
    let store = store_at(&endpoint);
    let (refused, after) = runtime.block_on(async {
        let folder = StorePath::folder("killfs", "ws").unwrap();
        let refused = store.list_all(&folder).await.is_err();
        (refused, snapshot(&store, "ws").await)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    kills += 1;
    assert!(refused, "--fault list:403:1 did not refuse the first listing");
    assert_eq!(after, expected);
    assert_eq!(kills, 3);
}

#[test]
fn the_binary_refuses_a_fault_switch_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-emulator"))
        .args(["--port", "0", "--fault", "reads:503"])
        .arg("--root")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'reads' is not a kind of request"), "{err}");
}
