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
