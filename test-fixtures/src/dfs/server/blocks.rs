//! The Blob calls that write a blob from blocks or from a URL, as the REST reference documents them (learn.microsoft.com
//! `rest/api/storageservices/put-block`, `put-block-from-url`, `put-block-list`, `put-blob-from-url`):
//!
//! - Put Block (`PUT ?comp=block&blockid=ID`, the bytes in the body) and Put Block From URL (the same with
//!   `x-ms-copy-source`, `Content-Length: 0`, optional `x-ms-source-range: bytes=A-B`) stage an uncommitted block: 201.
//!   `x-ms-source-if-match` copies only while the source's ETag matches, else 412 `SourceConditionNotMet`.
//! - Put Block List (`PUT ?comp=blocklist`, an XML `<BlockList>` of `<Latest>`/`<Uncommitted>`/`<Committed>` ids)
//!   makes the named blocks, in order, the blob's content: 201 with `ETag` and `Last-Modified`. `x-ms-meta-*` become
//!   the blob's metadata (which ADLS shows as the path's properties), `x-ms-blob-content-md5` its stored Content-MD5.
//! - Put Blob From URL (`PUT` with `x-ms-copy-source`, `x-ms-blob-type: BlockBlob`, `Content-Length: 0`) writes the
//!   whole blob from the source at once: 201.
//!
//! The source is read the way the service reads it: an HTTP GET of `x-ms-copy-source`, which "must be public or
//! authorized via a shared access signature", or carries `x-ms-copy-source-authorization: Bearer …` (version
//! 2020-10-02 and later). The request's own SharedKey never reaches the source. A source that refuses or is missing
//! fails the call with `CannotVerifyCopySource` and the source's status (the status mirroring is inferred; the
//! reference lists the code, not the statuses).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use hyper::Response;
use hyper::header::HeaderValue;
use md5::Digest;
use tokio::io::AsyncWriteExt;

use super::{Body, Req, Shared, disk, empty, set_tags};
use crate::dfs::staging::BlockBytes;
use crate::dfs::state::{ApiResult, BlockKind, err};

/// The version the emulator's own reads of a copy source announce.
const SOURCE_READ_VERSION: &str = "2022-11-02";

/// Put Block and Put Block From URL.
pub(super) async fn put_block(shared: &Shared, r: Req, fs: &str) -> ApiResult<Response<Body>> {
    let id = block_id(&r)?;
    let from_url = r.headers.contains_key("x-ms-copy-source");
    let range = match r.h("x-ms-source-range").filter(|_| from_url) {
        Some(v) => Some(source_range(v)?),
        None => None,
    };
    if from_url {
        zero_length(&r)?;
    }
    let want = range.map(|(a, b)| (a, b - a + 1));
    let path = r.path.clone();
    let place = shared.state.lock().expect("state lock").place_block(fs, &path, want)?;
    let len = if from_url {
        read_source(&r, range, &place).await
    } else {
        body_to_file(r.h("content-md5").map(str::to_owned), r.body, &place).await
    };
    let mut state = shared.state.lock().expect("state lock");
    match len {
        Ok(len) => state.block_done(fs, &path, id, place, len),
        Err(e) => {
            state.block_failed(fs, &path, &place);
            return Err(e);
        }
    }
    Ok(created())
}

/// `x-ms-source-range: bytes=A-B` (both given, `B >= A`).
fn source_range(v: &str) -> ApiResult<(u64, u64)> {
    match super::parse_range(v) {
        Some((a, Some(b))) if b >= a => Ok((a, b)),
        _ => Err(err(400, "InvalidHeaderValue", "x-ms-source-range must be bytes=A-B")),
    }
}

/// Put Block List.
pub(super) async fn put_block_list(shared: &Shared, r: Req, fs: &str) -> ApiResult<Response<Body>> {
    let (properties, md5, cond) = (metadata(&r), content_md5(&r), r.conditions());
    let path = r.path.clone();
    let body = r
        .body
        .collect()
        .await
        .map_err(|e| err(400, "InvalidInput", format!("request body broke: {e}")))?
        .to_bytes();
    let list = parse_block_list(&body)?;
    let (blocks, laid_out) =
        shared.state.lock().expect("state lock").listed_blocks(fs, &path, &list)?;
    let len = blocks.iter().map(|b| b.len).sum();
    let scratch = laid_out.is_none();
    let assembled = match laid_out {
        Some(staging) => staging,
        None => {
            let assembled = shared.state.lock().expect("state lock").scratch_file();
            tokio::task::spawn_blocking({
                let assembled = assembled.clone();
                move || concatenate(&blocks, &assembled)
            })
            .await
            .map_err(|e| disk(std::io::Error::other(e)))?
            .map_err(disk)?;
            assembled
        }
    };
    // A failed commit leaves the blocks as they were (a scratch assembly goes).
    commit(shared, fs, &path, &assembled, len, &cond, &properties, md5).inspect_err(|_| {
        if scratch {
            let _ = std::fs::remove_file(&assembled);
        }
    })
}

/// Put Blob From URL.
pub(super) async fn put_blob_from_url(
    shared: &Shared,
    r: Req,
    fs: &str,
) -> ApiResult<Response<Body>> {
    zero_length(&r)?;
    if !r.h("x-ms-blob-type").is_some_and(|t| t.eq_ignore_ascii_case("BlockBlob")) {
        return Err(err(400, "InvalidHeaderValue", "x-ms-blob-type must be BlockBlob"));
    }
    shared.state.lock().expect("state lock").check_blob_target(fs, &r.path)?;
    let assembled = shared.state.lock().expect("state lock").scratch_file();
    let place = BlockBytes { file: assembled.clone(), offset: 0, len: 0 };
    let len = read_source(&r, None, &place).await.inspect_err(|_| {
        let _ = std::fs::remove_file(&assembled);
    })?;
    let (properties, md5, cond) = (metadata(&r), content_md5(&r), r.conditions());
    commit(shared, fs, &r.path, &assembled, len, &cond, &properties, md5).inspect_err(|_| {
        let _ = std::fs::remove_file(&assembled);
    })
}

#[allow(clippy::too_many_arguments)]
fn commit(
    shared: &Shared,
    fs: &str,
    path: &str,
    assembled: &Path,
    len: u64,
    cond: &crate::dfs::state::Conditions,
    properties: &str,
    md5: Option<String>,
) -> ApiResult<Response<Body>> {
    let committed = shared
        .state
        .lock()
        .expect("state lock")
        .commit_blob(fs, path, assembled, len, cond, properties, md5);
    let e = committed?;
    let mut resp = created();
    set_tags(&mut resp, &e.etag, e.last_modified);
    Ok(resp)
}

fn created() -> Response<Body> {
    let mut resp = empty(201);
    resp.headers_mut().insert("x-ms-request-server-encrypted", HeaderValue::from_static("true"));
    resp
}

/// The `blockid` query parameter: base64 of at most 64 bytes.
fn block_id(r: &Req) -> ApiResult<String> {
    let id = r.q("blockid").unwrap_or("");
    match STANDARD.decode(id) {
        Ok(raw) if !raw.is_empty() && raw.len() <= 64 => Ok(id.to_owned()),
        _ => Err(err(
            400,
            "InvalidQueryParameterValue",
            "blockid must be base64 of at most 64 bytes",
        )),
    }
}

fn zero_length(r: &Req) -> ApiResult<()> {
    match r.h("content-length") {
        None | Some("0") => Ok(()),
        Some(_) => Err(err(
            400,
            "InvalidHeaderValue",
            "a copy from a URL takes Content-Length: 0 and no body",
        )),
    }
}

/// `x-ms-meta-NAME: value` headers, as the path properties ADLS shows them (`NAME=base64(value)`, comma-separated).
fn metadata(r: &Req) -> String {
    let mut pairs: Vec<String> = r
        .headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-ms-meta-")?;
            Some(format!("{name}={}", STANDARD.encode(v.as_bytes())))
        })
        .collect();
    pairs.sort();
    pairs.join(",")
}

fn content_md5(r: &Req) -> Option<String> {
    r.h("x-ms-blob-content-md5").map(str::to_owned)
}

/// Reads `x-ms-copy-source` (the bytes `range`, inclusive, or all) into its place, as the service would: over HTTP,
/// with only the authorisation the source URL or `x-ms-copy-source-authorization` carries.
async fn read_source(r: &Req, range: Option<(u64, u64)>, to: &BlockBytes) -> ApiResult<u64> {
    let source = r.h("x-ms-copy-source").unwrap_or("");
    let url = url::Url::parse(source)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| err(400, "InvalidHeaderValue", "x-ms-copy-source is not an http(s) URL"))?;
    let mut get = source_client()?.get(url).header("x-ms-version", SOURCE_READ_VERSION);
    if let Some(auth) = r.h("x-ms-copy-source-authorization") {
        if !auth.starts_with("Bearer ") {
            return Err(err(
                400,
                "InvalidHeaderValue",
                "x-ms-copy-source-authorization takes only the Bearer scheme",
            ));
        }
        get = get.header("authorization", auth);
    }
    if let Some((a, b)) = range {
        get = get.header("x-ms-range", format!("bytes={a}-{b}"));
    }
    // "x-ms-source-if-match: copy the source blob only if its ETag matches" (Put Block From URL): asked of the
    // source as its own If-Match; a source that changed answers 412, and so does the copy.
    let if_match = r.h("x-ms-source-if-match");
    if let Some(etag) = if_match {
        get = get.header("if-match", etag);
    }
    let want = range.map(|(a, b)| b - a + 1);
    let mut resp = get.send().await.map_err(|_| {
        err(500, "CannotVerifyCopySource", "The source of the copy could not be read.")
    })?;
    let status = resp.status().as_u16();
    if status == 412 && if_match.is_some() {
        return Err(err(
            412,
            "SourceConditionNotMet",
            "The source condition specified using HTTP conditional header(s) is not met.",
        ));
    }
    if !(200..300).contains(&status) {
        return Err(err(
            status,
            "CannotVerifyCopySource",
            format!("The source of the copy answered {status}."),
        ));
    }
    let mut out = sink(to).await?;
    let mut len = 0u64;
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|_| err(500, "CannotVerifyCopySource", "The source of the copy broke off."))?;
        let Some(chunk) = chunk else { break };
        len += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(disk)?;
    }
    out.flush().await.map_err(disk)?;
    if want.is_some_and(|w| w != len) {
        return Err(err(416, "InvalidSourceRange", "The range given is not within the source."));
    }
    Ok(len)
}

/// A block's place, written from its offset in 4 MiB pieces (each write of a `tokio::fs::File` is a blocking task).
async fn sink(to: &BlockBytes) -> ApiResult<tokio::io::BufWriter<tokio::fs::File>> {
    use tokio::io::AsyncSeekExt;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&to.file)
        .await
        .map_err(disk)?;
    file.seek(std::io::SeekFrom::Start(to.offset)).await.map_err(disk)?;
    Ok(tokio::io::BufWriter::with_capacity(4 << 20, file))
}

/// One client for every source read, without a proxy (the sources are loopback URLs in tests).
fn source_client() -> ApiResult<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| reqwest::Client::builder().no_proxy().build().ok())
        .as_ref()
        .ok_or_else(|| err(500, "InternalError", "the emulator cannot build an HTTP client"))
}

/// Streams a Put Block body into `to`, checking `Content-MD5` when sent.
async fn body_to_file(
    want_md5: Option<String>,
    mut body: hyper::body::Incoming,
    to: &BlockBytes,
) -> ApiResult<u64> {
    let mut out = sink(to).await?;
    let mut md5 = want_md5.as_ref().map(|_| md5::Md5::new());
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| err(400, "InvalidInput", format!("request body broke: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if let Some(m) = md5.as_mut() {
                m.update(data);
            }
            len += data.len() as u64;
            out.write_all(data).await.map_err(disk)?;
        }
    }
    out.flush().await.map_err(disk)?;
    if let (Some(want), Some(m)) = (want_md5, md5)
        && STANDARD.encode(m.finalize()) != want
    {
        return Err(err(
            400,
            "Md5Mismatch",
            "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
        ));
    }
    Ok(len)
}

/// The ids of a `<BlockList>` body, in order, with how each is named.
fn parse_block_list(xml: &[u8]) -> ApiResult<Vec<(BlockKind, String)>> {
    use quick_xml::events::Event;
    let invalid = || err(400, "InvalidXmlDocument", "The block list is not valid XML.");
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut kind = None;
    let mut list = Vec::new();
    loop {
        match reader.read_event().map_err(|_| invalid())? {
            Event::Start(e) => {
                kind = match e.local_name().as_ref() {
                    b"Latest" => Some(BlockKind::Latest),
                    b"Committed" => Some(BlockKind::Committed),
                    b"Uncommitted" => Some(BlockKind::Uncommitted),
                    _ => None,
                }
            }
            Event::Text(t) => {
                if let Some(k) = kind {
                    let id = t.decode().map_err(|_| invalid())?.trim().to_owned();
                    list.push((k, id));
                }
            }
            Event::End(_) => kind = None,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(list)
}

/// Writes the blocks' bytes one after the other into `to`.
fn concatenate(blocks: &[BlockBytes], to: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    let mut out = std::fs::File::create(to)?;
    for b in blocks {
        let mut from = std::fs::File::open(&b.file)?;
        from.seek(std::io::SeekFrom::Start(b.offset))?;
        let copied = std::io::copy(&mut from.take(b.len), &mut out)?;
        if copied != b.len {
            return Err(std::io::Error::other("a staged block is shorter than recorded"));
        }
    }
    // Not synced to the device, as no write of the emulator is (ARCHITECTURE.md).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_list_keeps_its_order_and_kinds() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>QQ==</Latest><Uncommitted>Qg==</Uncommitted><Committed>Qw==</Committed></BlockList>"#;
        assert_eq!(
            parse_block_list(xml).unwrap(),
            vec![
                (BlockKind::Latest, "QQ==".to_owned()),
                (BlockKind::Uncommitted, "Qg==".to_owned()),
                (BlockKind::Committed, "Qw==".to_owned()),
            ]
        );
        assert_eq!(parse_block_list(b"<BlockList><Latest>QQ==</Lat").unwrap_err().status, 400);
    }
}
