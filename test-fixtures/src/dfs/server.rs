//! The HTTP side: routing, authentication, fault injection, streamed bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
// The emulator is a test stand-in for Unix hosts (CI and developers); the product itself builds everywhere.
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use md5::Digest;
use time::OffsetDateTime;

use super::state::{ApiError, ApiResult, Conditions, Listed, PathEntry, State, err};
use super::{EmulatorConfig, Fault, Faults, Op, auth};

mod blocks;
mod lease;

type Body = UnsyncBoxBody<Bytes, io::Error>;

const CHUNK: usize = 1 << 20;
const DEFAULT_PAGE: usize = 5000;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    key: Vec<u8>,
    pub(crate) state: Mutex<State>,
    pub(crate) faults: Faults,
    tokens: super::SharedTokens,
    /// Blob leases (in memory only).
    pub(crate) leases: Mutex<lease::Leases>,
}

pub(crate) async fn spawn(
    config: EmulatorConfig,
) -> io::Result<(SocketAddr, SocketAddr, Arc<Shared>, tokio::task::JoinHandle<()>)> {
    let key = STANDARD.decode(&config.account_key).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("the account key is not base64: {e}"))
    })?;
    std::fs::create_dir_all(&config.root)?;
    let state = State::new(config.root.clone())?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let tokens = config.tokens.clone();
    let shared = Arc::new(Shared {
        config,
        key,
        state: Mutex::new(state),
        faults: Faults::default(),
        tokens,
        leases: Mutex::new(lease::Leases::default()),
    });
    // Its token endpoint over TLS too (azure_identity signs in at https authorities only); same handler.
    let acceptor = crate::tls::acceptor(&shared.config.root.join("entra-ca.pem"))?;
    let tls = tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await?;
    let tls_addr = tls.local_addr()?;
    let plain = accept_loop(listener, shared.clone());
    let secure = tls_accept_loop(tls, acceptor, shared.clone());
    let task = tokio::spawn(async move {
        tokio::join!(plain, secure);
    });
    Ok((addr, tls_addr, shared, task))
}

async fn tls_accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let (shared, acceptor) = (shared.clone(), acceptor.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One parsed request.
struct Req {
    method: hyper::Method,
    headers: hyper::HeaderMap,
    query: HashMap<String, String>,
    fs: Option<String>,
    path: String,
    body: Incoming,
}

impl Req {
    fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn conditions(&self) -> Conditions {
        Conditions {
            if_match: self.h("if-match").map(str::to_owned),
            if_none_match: self.h("if-none-match").map(str::to_owned),
        }
    }
    fn properties(&self) -> String {
        self.h("x-ms-properties").unwrap_or("").to_owned()
    }
    fn is_true(&self, name: &str) -> bool {
        self.q(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn classify(r: &Req) -> Op {
    use hyper::Method as M;
    if r.fs.is_none() || r.path.is_empty() {
        return if r.method == M::GET
            && (r.q("resource") == Some("filesystem") || r.q("comp") == Some("list"))
        {
            Op::List
        } else {
            Op::Filesystem
        };
    }
    match r.method {
        M::PUT if r.headers.contains_key("x-ms-rename-source") => Op::Rename,
        M::PUT if r.q("comp") == Some("block") => Op::PutBlock,
        M::PUT if r.q("comp") == Some("blocklist") => Op::PutBlockList,
        M::PUT if r.q("comp") == Some("lease") => Op::Lease,
        M::PUT if r.headers.contains_key("x-ms-copy-source") => Op::PutBlobFromUrl,
        M::PUT => Op::Create,
        M::PATCH => match r.q("action") {
            Some("append") => Op::Append,
            Some("flush") => Op::Flush,
            _ => Op::SetProperties,
        },
        M::GET => Op::Read,
        M::HEAD => Op::Head,
        M::DELETE => Op::Delete,
        _ => Op::Any,
    }
}

/// Serves one request: the token endpoint, or authentication, fault injection and routing.
async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, io::Error> {
    let (parts, body) = req.into_parts();
    let stamp = Stamp::of(&parts.headers);
    let is_head = parts.method == hyper::Method::HEAD;

    // Token endpoint: POST /{tenant}/oauth2/v2.0/token.
    if parts.method == hyper::Method::POST && parts.uri.path().ends_with("/oauth2/v2.0/token") {
        return Ok(stamp.decorate(token_endpoint(&shared, body).await));
    }
    if let Err(e) = check_credentials(&shared, &parts) {
        return Ok(stamp.decorate(error_response(&e, is_head)));
    }

    let r = parse_request(&shared, parts, body);
    let op = classify(&r);
    let _serving = shared.faults.serving(op);
    let writes =
        matches!(r.method, hyper::Method::PUT | hyper::Method::PATCH | hyper::Method::DELETE);
    let cut_response = match injected_fault(&shared, op).await {
        Injected::Answer(resp) => return Ok(stamp.decorate(resp)),
        Injected::CutRequest(after) => return Err(cut_request_body(r.body, after).await),
        Injected::CutResponse(after) => Some(after),
        Injected::Proceed => None,
    };
    let routed = route(&shared, r, op, cut_response).await;
    // What a write changed is journaled on disk before it is answered: a server killed after answering loses
    // nothing it acknowledged. The data files are written before the answer too; neither is synced to the device,
    // which only a power loss would need.
    if writes && let Err(e) = shared.state.lock().expect("state lock").journal() {
        tracing::error!(error = %e, "the dfs emulator cannot save its namespace");
        return Ok(stamp.decorate(error_response(
            &err(
                500,
                "InternalError",
                "The server encountered an internal error. Please retry the request.",
            ),
            is_head,
        )));
    }
    match routed {
        Ok(resp) if op == Op::List && cut_response.is_some() => {
            // A listing breaks off in its body, after the headers: the client sees a truncated page.
            Ok(stamp.decorate(cut_body(resp, cut_response.unwrap_or(0)).await))
        }
        Ok(_) if cut_response.is_some() && op != Op::Read => {
            // The operation was applied but its answer is lost.
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "injected fault: response cut"))
        }
        Ok(resp) => Ok(stamp.decorate(resp)),
        Err(e) => Ok(stamp.decorate(error_response(&e, is_head))),
    }
}

/// The headers every answer carries; two of them echo the request's.
struct Stamp {
    version: Option<HeaderValue>,
    client_request_id: Option<HeaderValue>,
}

impl Stamp {
    /// Keeps the request's `x-ms-version` and `x-ms-client-request-id`.
    fn of(headers: &hyper::HeaderMap) -> Self {
        Stamp {
            version: headers.get("x-ms-version").cloned(),
            client_request_id: headers.get("x-ms-client-request-id").cloned(),
        }
    }

    /// Adds the request id, version, date and server headers (and the client's request id).
    fn decorate(&self, mut resp: Response<Body>) -> Response<Body> {
        let h = resp.headers_mut();
        h.insert("x-ms-request-id", hv(&uuid::Uuid::new_v4().to_string()));
        h.insert(
            "x-ms-version",
            self.version.clone().unwrap_or_else(|| HeaderValue::from_static("2022-11-02")),
        );
        h.insert("date", hv(&http_date(OffsetDateTime::now_utc())));
        h.insert(
            "server",
            HeaderValue::from_static(
                "Windows-Azure-HDFS/1.0 Microsoft-HTTPAPI/2.0 (pbi-backup dfs-emulator)",
            ),
        );
        if let Some(id) = &self.client_request_id {
            h.insert("x-ms-client-request-id", id.clone());
        }
        resp
    }
}

/// Answers a token request, unless an injected fault answers instead.
async fn token_endpoint(shared: &Shared, body: Incoming) -> Response<Body> {
    if let Some(fault) = shared.faults.take(Op::Token)
        && let Some(resp) = apply_simple_fault(&fault).await
    {
        return resp;
    }
    token(shared, body).await
}

/// Checks the request's SharedKey signature or bearer token.
fn check_credentials(shared: &Shared, parts: &hyper::http::request::Parts) -> ApiResult<()> {
    let tokens = shared.tokens.0.lock().expect("tokens lock");
    let verdict = auth::authenticate(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &shared.config.account,
        &shared.key,
        |t| tokens.contains(t),
    );
    drop(tokens);
    match verdict {
        Ok(_) => Ok(()),
        Err((status, code, message)) => Err(err(status, code, message)),
    }
}

/// Splits the path into filesystem and path (dropping a leading account) and parses the query.
fn parse_request(shared: &Shared, parts: hyper::http::request::Parts, body: Incoming) -> Req {
    let mut segments: Vec<String> =
        parts.uri.path().split('/').filter(|s| !s.is_empty()).map(decode).collect();
    if segments.first().is_some_and(|s| *s == shared.config.account) {
        segments.remove(0);
    }
    let fs = (!segments.is_empty()).then(|| segments.remove(0));
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
            .collect();
    let path = segments.join("/");
    Req { method: parts.method, headers: parts.headers, query, fs, path, body }
}

/// What the injected fault for one operation asks of the request.
enum Injected {
    /// Answer with this instead of serving the request.
    Answer(Response<Body>),
    /// Read this many bytes of the request body, then drop the connection.
    CutRequest(u64),
    /// Serve the request, but cut the answer after this many bytes.
    CutResponse(u64),
    /// Serve the request as usual (after any injected delay).
    Proceed,
}

/// Takes the injected fault for `op`, if any, and applies a status or a delay.
async fn injected_fault(shared: &Shared, op: Op) -> Injected {
    match shared.faults.take(op) {
        Some(Fault::CutResponseBody { after_bytes }) => Injected::CutResponse(after_bytes),
        Some(Fault::CutRequestBody { after_bytes }) => Injected::CutRequest(after_bytes),
        Some(fault) => match apply_simple_fault(&fault).await {
            Some(resp) => Injected::Answer(resp),
            None => Injected::Proceed,
        },
        None => Injected::Proceed,
    }
}

/// Reads part of the body, then gives the error that drops the connection without answering.
async fn cut_request_body(mut body: Incoming, after: u64) -> io::Error {
    let mut seen = 0u64;
    while seen < after {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => break,
        }
    }
    io::Error::new(io::ErrorKind::ConnectionReset, "injected fault: request body cut")
}

async fn apply_simple_fault(fault: &Fault) -> Option<Response<Body>> {
    match fault {
        Fault::Status { status, code, retry_after } => {
            let mut resp = error_response(&err(*status, code, "injected fault"), false);
            if let Some(secs) = retry_after {
                resp.headers_mut().insert("retry-after", hv(&secs.to_string()));
            }
            Some(resp)
        }
        Fault::Delay(d) => {
            tokio::time::sleep(*d).await;
            None
        }
        _ => None,
    }
}

async fn route(shared: &Shared, r: Req, op: Op, cut: Option<u64>) -> ApiResult<Response<Body>> {
    use hyper::Method as M;
    let Some(fs) = r.fs.clone() else {
        return account_level(shared, &r);
    };
    if r.path.is_empty() {
        return filesystem_level(shared, &r, &fs).await;
    }
    if op != Op::Lease && matches!(r.method, M::PUT | M::PATCH | M::DELETE) {
        // A leased blob is written or deleted only with its lease id (a rename's source with its own header).
        let leases = shared.leases.lock().expect("lease lock");
        leases.guard(&fs, &r.path, r.h("x-ms-lease-id"))?;
        if op == Op::Rename
            && let Ok((source_fs, source)) = rename_source(shared, &r)
        {
            leases.guard(&source_fs, &source, r.h("x-ms-source-lease-id"))?;
        }
    }
    match (&r.method, op) {
        (_, Op::Lease) => lease::lease(shared, &r, &fs),
        (_, Op::Rename) => rename(shared, &r, &fs),
        (_, Op::PutBlock) => blocks::put_block(shared, r, &fs).await,
        (_, Op::PutBlockList) => blocks::put_block_list(shared, r, &fs).await,
        (_, Op::PutBlobFromUrl) => blocks::put_blob_from_url(shared, r, &fs).await,
        (&M::PUT, _) => create(shared, &r, &fs),
        (&M::PATCH, Op::Append) => append(shared, r, &fs).await,
        (&M::PATCH, Op::Flush) => flush(shared, &r, &fs),
        (&M::PATCH, _) => patch_other(shared, &r, &fs),
        (&M::GET, _) => read(shared, &r, &fs, cut),
        (&M::HEAD, _) => head(shared, &r, &fs),
        (&M::DELETE, _) => {
            shared.state.lock().expect("state lock").delete(
                &fs,
                &r.path,
                r.is_true("recursive"),
                &r.conditions(),
            )?;
            Ok(empty(200))
        }
        _ => Err(err(
            400,
            "UnsupportedHttpVerb",
            "The resource doesn't support the specified HTTP verb.",
        )),
    }
}

fn account_level(shared: &Shared, r: &Req) -> ApiResult<Response<Body>> {
    let list = shared.state.lock().expect("state lock").list_fs();
    if r.q("comp") == Some("list") {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Containers>",
        );
        for (name, etag, lm) in &list {
            xml.push_str(&format!(
                "<Container><Name>{}</Name><Properties><Last-Modified>{}</Last-Modified><Etag>\"{}\"</Etag><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties></Container>",
                xml_escape(name), http_date(*lm), etag
            ));
        }
        xml.push_str("</Containers><NextMarker /></EnumerationResults>");
        return Ok(bytes_response(200, "application/xml", xml.into()));
    }
    let filesystems: Vec<_> = list
        .iter()
        .map(|(name, etag, lm)| serde_json::json!({"name": name, "lastModified": http_date(*lm), "etag": etag}))
        .collect();
    Ok(json_response(200, &serde_json::json!({ "filesystems": filesystems })))
}

async fn filesystem_level(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    use hyper::Method as M;
    let blob = r.q("restype") == Some("container");
    let container_code = |mut e: ApiError| {
        if blob {
            e.code = match e.code {
                "FilesystemNotFound" => "ContainerNotFound",
                "FilesystemAlreadyExists" => "ContainerAlreadyExists",
                c => c,
            };
        }
        e
    };
    let mut state = shared.state.lock().expect("state lock");
    match r.method {
        M::PUT => {
            if !valid_fs_name(fs) {
                return Err(err(
                    400,
                    "InvalidResourceName",
                    "The specifed resource name contains invalid characters.",
                ));
            }
            let (etag, lm) = state.create_fs(fs, &r.properties()).map_err(container_code)?;
            let mut resp = empty(201);
            set_tags(&mut resp, &etag, lm);
            resp.headers_mut().insert("x-ms-namespace-enabled", HeaderValue::from_static("true"));
            Ok(resp)
        }
        M::GET if r.q("resource") == Some("filesystem") => {
            drop(state);
            list_paths(shared, r, fs)
        }
        M::GET if r.q("comp") == Some("list") => {
            drop(state);
            list_blobs(shared, r, fs)
        }
        M::GET | M::HEAD => {
            let (etag, lm, props) = state.get_fs(fs).map_err(container_code)?;
            let mut resp = empty(200);
            set_tags(&mut resp, &etag, lm);
            let h = resp.headers_mut();
            h.insert("x-ms-properties", hv(&props));
            h.insert("x-ms-namespace-enabled", HeaderValue::from_static("true"));
            h.insert("x-ms-lease-status", HeaderValue::from_static("unlocked"));
            h.insert("x-ms-lease-state", HeaderValue::from_static("available"));
            h.insert("x-ms-has-immutability-policy", HeaderValue::from_static("false"));
            h.insert("x-ms-has-legal-hold", HeaderValue::from_static("false"));
            Ok(resp)
        }
        M::PATCH => {
            let (etag, lm) = state.set_fs_properties(fs, &r.properties())?;
            let mut resp = empty(200);
            set_tags(&mut resp, &etag, lm);
            Ok(resp)
        }
        M::DELETE => {
            state.delete_fs(fs).map_err(container_code)?;
            Ok(empty(202))
        }
        _ => Err(err(
            400,
            "UnsupportedHttpVerb",
            "The resource doesn't support the specified HTTP verb.",
        )),
    }
}

fn valid_fs_name(fs: &str) -> bool {
    (3..=63).contains(&fs.len())
        && fs.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !fs.starts_with('-')
        && !fs.ends_with('-')
        && !fs.contains("--")
}

fn page_size(shared: &Shared, r: &Req) -> usize {
    let asked = r
        .q("maxresults")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_PAGE);
    let mut size = asked.min(DEFAULT_PAGE);
    if let Some(cap) = shared.faults.page_size() {
        size = size.min(cap.max(1));
    }
    size
}

fn list_paths(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let mut directory = r.q("directory").unwrap_or("").to_owned();
    if let Some(abs) = directory.strip_prefix('/') {
        // The Rust crate's DirectoryClient sends "/{account}/{fs}/{dir}".
        let mut rest = abs;
        if let Some(x) = rest.strip_prefix(&format!("{}/", shared.config.account)) {
            rest = x;
        }
        rest = rest.strip_prefix(&format!("{fs}/")).unwrap_or(if rest == fs { "" } else { rest });
        directory = rest.to_owned();
    }
    let directory = directory.trim_end_matches('/').to_owned();
    let after = match r.q("continuation") {
        Some(c) if !c.is_empty() => Some(
            String::from_utf8(
                hex::decode(c)
                    .ok()
                    .ok_or_else(|| err(400, "InvalidQueryParameterValue", "bad continuation"))?,
            )
            .map_err(|_| err(400, "InvalidQueryParameterValue", "bad continuation"))?,
        ),
        _ => None,
    };
    let size = page_size(shared, r);
    let (entries, next) = shared.state.lock().expect("state lock").list(
        fs,
        &directory,
        r.is_true("recursive"),
        after.as_deref(),
        size,
    )?;
    let paths: Vec<serde_json::Value> = entries.iter().map(path_json).collect();
    let mut resp = json_response(200, &serde_json::json!({ "paths": paths }));
    if let Some(next) = next {
        resp.headers_mut().insert("x-ms-continuation", hv(&hex::encode(next.as_bytes())));
    }
    Ok(resp)
}

fn path_json((name, e): &Listed) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": name,
        "contentLength": if e.is_dir { "0".to_owned() } else { e.committed.to_string() },
        "etag": e.etag,
        "lastModified": http_date(e.last_modified),
        "owner": "$superuser",
        "group": "$superuser",
        "permissions": if e.is_dir { "rwxr-x---" } else { "rw-r-----" },
        "creationTime": (e.created.unix_timestamp_nanos() / 100 + 116_444_736_000_000_000).to_string(),
    });
    if e.is_dir {
        v["isDirectory"] = serde_json::Value::String("true".into());
    }
    v
}

fn list_blobs(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let prefix = r.q("prefix").unwrap_or("");
    let size = page_size(shared, r);
    let (entries, next) = shared.state.lock().expect("state lock").list_prefix(
        fs,
        prefix,
        r.q("marker").filter(|m| !m.is_empty()),
        size,
    )?;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://127.0.0.1/{}/\" ContainerName=\"{}\"><Prefix>{}</Prefix><MaxResults>{}</MaxResults><Blobs>",
        xml_escape(&shared.config.account),
        xml_escape(fs),
        xml_escape(prefix),
        size
    );
    for (name, e) in &entries {
        xml.push_str(&format!(
            "<Blob><Name>{}</Name><Properties><Creation-Time>{}</Creation-Time><Last-Modified>{}</Last-Modified><Etag>{}</Etag><ResourceType>{}</ResourceType><Content-Length>{}</Content-Length><Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>{}</Blob>",
            xml_escape(name),
            http_date(e.created),
            http_date(e.last_modified),
            e.etag,
            if e.is_dir { "directory" } else { "file" },
            if e.is_dir { 0 } else { e.committed },
            if e.is_dir { "<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata>" } else { "<Metadata />" }
        ));
    }
    xml.push_str("</Blobs>");
    match next {
        Some(n) => xml.push_str(&format!("<NextMarker>{}</NextMarker>", xml_escape(&n))),
        None => xml.push_str("<NextMarker />"),
    }
    xml.push_str("</EnumerationResults>");
    Ok(bytes_response(200, "application/xml", xml.into()))
}

fn create(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let is_dir = match r.q("resource") {
        Some("file") => false,
        Some("directory") => true,
        _ => {
            return Err(err(
                400,
                "InvalidQueryParameterValue",
                "resource must be file or directory",
            ));
        }
    };
    let e = shared.state.lock().expect("state lock").create_path(
        fs,
        &r.path,
        is_dir,
        &r.conditions(),
        &r.properties(),
    )?;
    let mut resp = empty(201);
    set_tags(&mut resp, &e.etag, e.last_modified);
    Ok(resp)
}

fn rename(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let (src_fs, src) = rename_source(shared, r)?;
    shared.state.lock().expect("state lock").rename(fs, &src_fs, &src, &r.path, &r.conditions())?;
    Ok(empty(201))
}

/// The filesystem and path `x-ms-rename-source` names (an account segment and a SAS are dropped).
fn rename_source(shared: &Shared, r: &Req) -> ApiResult<(String, String)> {
    let source = r.h("x-ms-rename-source").unwrap_or("");
    let source = source.split_once('?').map_or(source, |(p, _)| p);
    let decoded = percent_encoding::percent_decode_str(source).decode_utf8_lossy().into_owned();
    let mut parts: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if parts.first() == Some(&shared.config.account.as_str()) && parts.len() > 2 {
        parts.remove(0);
    }
    if parts.len() < 2 {
        return Err(err(400, "InvalidSourceUri", "The source URI is invalid."));
    }
    Ok((parts[0].to_owned(), parts[1..].join("/")))
}

/// The largest `position` taken: ADLS Gen2's largest file (about 190.7 TiB, rounded up to 2^48 bytes); beyond it
/// `position + length` could overflow, and the service refuses such a value as invalid.
const MAX_POSITION: u64 = 1 << 48;

/// The `position` query parameter of an append or flush.
fn position(r: &Req) -> ApiResult<u64> {
    r.q("position").and_then(|p| p.parse().ok()).filter(|p| *p <= MAX_POSITION).ok_or_else(|| {
        err(
            400,
            "InvalidQueryParameterValue",
            "position is required and at most the largest file size",
        )
    })
}

async fn append(shared: &Shared, r: Req, fs: &str) -> ApiResult<Response<Body>> {
    let position = position(&r)?;
    let expected_len: Option<u64> = r.h("content-length").and_then(|v| v.parse().ok());
    let want_md5 = r.h("content-md5").map(str::to_owned);
    let flush_after = r.is_true("flush");
    let (data, data_id) =
        shared.state.lock().expect("state lock").begin_append(fs, &r.path, position)?;
    let file = Arc::new(std::fs::OpenOptions::new().write(true).open(&data).map_err(disk)?);
    let mut md5 = want_md5.as_ref().map(|_| md5::Md5::new());
    let mut body = r.body;
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut offset = position;
    let mut received = 0u64;
    loop {
        let frame = body.frame().await;
        let done = match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(m) = md5.as_mut() {
                        m.update(data);
                    }
                    received += data.len() as u64;
                    buf.extend_from_slice(data);
                }
                false
            }
            Some(Err(e)) => {
                return Err(err(400, "InvalidInput", format!("request body broke: {e}")));
            }
            None => true,
        };
        if buf.len() >= CHUNK || (done && !buf.is_empty()) {
            let chunk = buf.split().freeze();
            let f = file.clone();
            let at = offset;
            offset += chunk.len() as u64;
            tokio::task::spawn_blocking(move || f.write_all_at(&chunk, at))
                .await
                .map_err(|e| disk(io::Error::other(e)))?
                .map_err(disk)?;
            if buf.capacity() < CHUNK {
                buf.reserve(CHUNK);
            }
        }
        if done {
            break;
        }
    }
    if expected_len.is_some_and(|n| n != received) {
        return Err(err(400, "InvalidInput", "the body is shorter than Content-Length"));
    }
    if let (Some(want), Some(m)) = (&want_md5, md5) {
        let got = STANDARD.encode(m.finalize());
        if got != *want {
            return Err(err(
                400,
                "Md5Mismatch",
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            ));
        }
    }
    let mut state = shared.state.lock().expect("state lock");
    state.finish_append(fs, &r.path, data_id, position, received);
    let mut resp = empty(202);
    if flush_after {
        let e = state.flush(
            fs,
            &r.path,
            position + received,
            false,
            &Conditions::default(),
            None,
            None,
        )?;
        set_tags(&mut resp, &e.etag, e.last_modified);
    }
    if let Some(m) = want_md5 {
        resp.headers_mut().insert("content-md5", hv(&m));
    }
    resp.headers_mut().insert("x-ms-request-server-encrypted", HeaderValue::from_static("true"));
    Ok(resp)
}

fn flush(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let position = position(r)?;
    let props = r.h("x-ms-properties");
    let e = shared.state.lock().expect("state lock").flush(
        fs,
        &r.path,
        position,
        r.is_true("retainuncommitteddata"),
        &r.conditions(),
        r.h("x-ms-content-md5").map(str::to_owned),
        props,
    )?;
    let mut resp = empty(200);
    set_tags(&mut resp, &e.etag, e.last_modified);
    resp.headers_mut().insert("x-ms-request-server-encrypted", HeaderValue::from_static("true"));
    Ok(resp)
}

fn patch_other(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let mut state = shared.state.lock().expect("state lock");
    let e = match r.q("action") {
        Some("setProperties") => {
            state.set_properties(fs, &r.path, &r.conditions(), &r.properties())?
        }
        Some("setAccessControl") => state.view(fs, &r.path)?.entry,
        Some("setAccessControlRecursive") => {
            state.view(fs, &r.path)?;
            return Ok(json_response(
                200,
                &serde_json::json!({"directoriesSuccessful":0,"filesSuccessful":0,"failureCount":0,"failedEntries":[]}),
            ));
        }
        _ => return Err(err(400, "InvalidQueryParameterValue", "unknown action")),
    };
    let mut resp = empty(200);
    set_tags(&mut resp, &e.etag, e.last_modified);
    Ok(resp)
}

fn path_headers(resp: &mut Response<Body>, e: &PathEntry) {
    set_tags(resp, &e.etag, e.last_modified);
    let h = resp.headers_mut();
    h.insert(
        "x-ms-resource-type",
        HeaderValue::from_static(if e.is_dir { "directory" } else { "file" }),
    );
    h.insert("x-ms-owner", HeaderValue::from_static("$superuser"));
    h.insert("x-ms-group", HeaderValue::from_static("$superuser"));
    h.insert(
        "x-ms-permissions",
        HeaderValue::from_static(if e.is_dir { "rwxr-x---" } else { "rw-r-----" }),
    );
    h.insert("x-ms-properties", hv(&e.properties));
    h.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    h.insert("x-ms-creation-time", hv(&http_date(e.created)));
    h.insert("x-ms-server-encrypted", HeaderValue::from_static("true"));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert("content-type", HeaderValue::from_static("application/octet-stream"));
    if e.is_dir {
        h.insert("x-ms-meta-hdi_isfolder", HeaderValue::from_static("true"));
    }
    // Custom properties also appear as blob metadata, as on the real service.
    for (k, v) in parse_properties(&e.properties) {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(format!("x-ms-meta-{k}").as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(name, value);
        }
    }
    if let Some(md5) = &e.content_md5 {
        h.insert("content-md5", hv(md5));
    }
}

/// `x-ms-lease-state`, `-status` and (when leased) `-duration` of a path.
fn lease_headers(shared: &Shared, resp: &mut Response<Body>, fs: &str, path: &str) {
    let (state, status, duration) = shared.leases.lock().expect("lease lock").describe(fs, path);
    let h = resp.headers_mut();
    h.insert("x-ms-lease-state", HeaderValue::from_static(state));
    h.insert("x-ms-lease-status", HeaderValue::from_static(status));
    if let Some(d) = duration {
        h.insert("x-ms-lease-duration", HeaderValue::from_static(d));
    }
}

fn parse_properties(props: &str) -> Vec<(String, String)> {
    props
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            let v = STANDARD.decode(v.trim()).ok()?;
            Some((k.trim().to_owned(), String::from_utf8(v).ok()?))
        })
        .collect()
}

fn head(shared: &Shared, r: &Req, fs: &str) -> ApiResult<Response<Body>> {
    let view = shared.state.lock().expect("state lock").view(fs, &r.path)?;
    let mut resp = empty(200);
    path_headers(&mut resp, &view.entry);
    lease_headers(shared, &mut resp, fs, &r.path);
    let len = if view.entry.is_dir { 0 } else { view.entry.committed };
    resp.headers_mut().insert("content-length", hv(&len.to_string()));
    if r.q("action") == Some("getAccessControl") {
        resp.headers_mut()
            .insert("x-ms-acl", HeaderValue::from_static("user::rw-,group::r--,other::---"));
    }
    Ok(resp)
}

/// Parses `bytes=a-b` / `bytes=a-`.
fn parse_range(v: &str) -> Option<(u64, Option<u64>)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a = a.trim().parse().ok()?;
    let b: Option<u64> = if b.trim().is_empty() { None } else { Some(b.trim().parse().ok()?) };
    // `bytes=10-5` is not a range (and would make the length negative).
    if b.is_some_and(|b| b < a) {
        return None;
    }
    Some((a, b))
}

fn read(shared: &Shared, r: &Req, fs: &str, cut: Option<u64>) -> ApiResult<Response<Body>> {
    let view = shared.state.lock().expect("state lock").view(fs, &r.path)?;
    if view.entry.is_dir {
        return Err(err(400, "PathIsDirectory", "The specified path is a directory."));
    }
    if let Some(m) = r.h("if-match")
        && m.trim() != "*"
        && m.trim().trim_matches('"') != view.entry.etag
    {
        return Err(err(
            412,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        ));
    }
    let size = view.entry.committed;
    let range_header = r.h("x-ms-range").or_else(|| r.h("range"));
    let (start, end, partial) = match range_header.map(parse_range) {
        Some(Some((a, b))) => {
            if a >= size {
                let mut resp = error_response(
                    &err(
                        416,
                        "InvalidRange",
                        "The range specified is invalid for the current size of the resource.",
                    ),
                    false,
                );
                resp.headers_mut().insert("content-range", hv(&format!("bytes */{size}")));
                return Ok(resp);
            }
            let end = b.map_or(size, |b| b.saturating_add(1).min(size));
            (a, end, true)
        }
        Some(None) => {
            return Err(err(
                400,
                "InvalidHeaderValue",
                "The value for the range header is invalid.",
            ));
        }
        None => (0, size, false),
    };
    let len = end - start;
    let file = std::fs::File::open(&view.data).map_err(disk)?;
    let mut resp = Response::new(file_body(file, start, len, cut));
    *resp.status_mut() = if partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    path_headers(&mut resp, &view.entry);
    lease_headers(shared, &mut resp, fs, &r.path);
    let h = resp.headers_mut();
    h.insert("content-length", hv(&len.to_string()));
    if partial {
        h.insert("content-range", hv(&format!("bytes {start}-{}/{size}", end.saturating_sub(1))));
        if let Some(md5) = &view.entry.content_md5 {
            h.remove("content-md5");
            h.insert("x-ms-blob-content-md5", hv(md5));
        }
    }
    Ok(resp)
}

/// The answer with its body cut after `after` bytes (the headers kept, the length still announced).
async fn cut_body(resp: Response<Body>, after: u64) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let kept = bytes.slice(..(after as usize).min(bytes.len()));
    // The kept bytes go out first (hyper writes the headers with them), then the connection breaks.
    let frames = futures::stream::once(async move { Ok(Frame::data(kept)) }).chain(
        futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "injected fault: response body cut"))
        }),
    );
    let mut resp =
        Response::from_parts(parts, BodyExt::boxed_unsync(StreamBody::new(frames.boxed())));
    resp.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    resp
}

/// Streams `len` bytes of `file` from `start`, 1 MiB at a time; with `cut`, fails after that many bytes.
fn file_body(file: std::fs::File, start: u64, len: u64, cut: Option<u64>) -> Body {
    let file = Arc::new(file);
    let limit = cut.map_or(len, |c| c.min(len));
    let stream = futures::stream::unfold((file, start, 0u64), move |(file, at, sent)| async move {
        if sent >= limit {
            if cut.is_some() {
                let e = io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "injected fault: response body cut",
                );
                return Some((Err(e), (file, at, u64::MAX)));
            }
            return None;
        }
        if sent == u64::MAX {
            return None;
        }
        let want = (limit - sent).min(CHUNK as u64) as usize;
        let f = file.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                let n = f.read_at(&mut buf[filled..], at + filled as u64)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            Ok::<_, io::Error>(buf)
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        match read {
            Ok(buf) if buf.is_empty() => Some((
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "data file shorter than its length",
                )),
                (file, at, u64::MAX),
            )),
            Ok(buf) => {
                let n = buf.len() as u64;
                Some((Ok(Frame::data(Bytes::from(buf))), (file, at + n, sent + n)))
            }
            Err(e) => Some((Err(e), (file, at, u64::MAX))),
        }
    });
    BodyExt::boxed_unsync(StreamBody::new(stream.boxed()))
}

async fn token(shared: &Shared, body: Incoming) -> Response<Body> {
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return bytes_response(
                400,
                "application/json",
                Bytes::from_static(b"{\"error\":\"invalid_request\"}"),
            );
        }
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(
            400,
            &serde_json::json!({"error": "unsupported_grant_type", "error_description": "only client_credentials is supported"}),
        );
    }
    if form.get("client_secret") != Some(&shared.config.client_secret) {
        return json_response(
            401,
            &serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    let token = format!("emu-{}", uuid::Uuid::new_v4().simple());
    shared.tokens.0.lock().expect("tokens lock").insert(token.clone());
    json_response(
        200,
        &serde_json::json!({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token}),
    )
}

// ---- helpers ----

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn set_tags(resp: &mut Response<Body>, etag: &str, lm: OffsetDateTime) {
    resp.headers_mut().insert("etag", hv(&format!("\"{etag}\"")));
    resp.headers_mut().insert("last-modified", hv(&http_date(lm)));
}

fn empty(status: u16) -> Response<Body> {
    let mut resp =
        Response::new(Full::new(Bytes::new()).map_err(|e: Infallible| match e {}).boxed_unsync());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert("content-length", HeaderValue::from_static("0"));
    resp
}

fn bytes_response(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let len = body.len();
    let mut resp =
        Response::new(Full::new(body).map_err(|e: Infallible| match e {}).boxed_unsync());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    resp.headers_mut().insert("content-length", hv(&len.to_string()));
    resp
}

fn json_response(status: u16, value: &serde_json::Value) -> Response<Body> {
    bytes_response(status, "application/json;charset=utf-8", Bytes::from(value.to_string()))
}

fn error_response(e: &ApiError, is_head: bool) -> Response<Body> {
    let message = format!(
        "{}\nRequestId:{}\nTime:{}",
        e.message,
        uuid::Uuid::new_v4(),
        http_date(OffsetDateTime::now_utc())
    );
    let mut resp = if is_head {
        empty(e.status)
    } else {
        json_response(e.status, &serde_json::json!({"error": {"code": e.code, "message": message}}))
    };
    resp.headers_mut().insert("x-ms-error-code", hv(e.code));
    resp
}

fn disk(e: io::Error) -> ApiError {
    err(500, "InternalError", format!("emulator disk error: {e}"))
}

/// An HTTP date (RFC 9110's IMF-fixdate), as the service writes `Last-Modified` and `Date`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Text for an XML element or attribute.
fn xml_escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_and_a_backwards_one_is_refused() {
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=100-"), Some((100, None)));
        assert_eq!(parse_range("bytes=5-5"), Some((5, Some(5))));
        assert_eq!(parse_range("bytes=10-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }
}
