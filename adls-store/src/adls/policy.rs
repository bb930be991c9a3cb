//! A per-call pipeline policy that fixes what `azure_storage_datalake` 0.21 sends, before the request is signed.
//!
//! - `x-ms-rename-source`: the crate form-encodes it (a space becomes `+`, which the service reads as a plus). It is
//!   decoded and percent-encoded again, segment by segment.
//! - `x-ms-content-md5` on flush and setProperties: the crate has no option for it; the MD5 of the whole file travels
//!   in the request [`Context`] as [`StoreContentMd5`] and is set here, so the service stores it as the file's
//!   Content-MD5.
//! - `Content-MD5` on append (optional): a transactional MD5 of the body, which the service verifies.
//! - `x-ms-copy-source-authorization` on Put Block From URL: the Blob crate has no option for it; the token travels in
//!   the request [`Context`] as [`CopySourceAuthorization`].

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::{Context, Policy, PolicyResult, Request};
use base64::Engine as _;
use md5::Digest;

/// The base64 MD5 of a whole file, to be stored with it by a flush or setProperties.
#[derive(Debug, Clone)]
pub(crate) struct StoreContentMd5(pub(crate) String);

/// `Bearer …` for a copy's source, set as `x-ms-copy-source-authorization` (the Blob crate has no option for it).
#[derive(Clone)]
pub(crate) struct CopySourceAuthorization(pub(crate) String);

/// The source version a copy reads, sent as `x-ms-source-if-match` (the Blob crate has no option for it): a source
/// replaced while it is copied fails the block with 412 instead of mixing versions.
#[derive(Clone)]
pub(crate) struct CopySourceIfMatch(pub(crate) String);

#[derive(Debug)]
pub(crate) struct FixupPolicy {
    pub(crate) transactional_md5: bool,
}

/// Everything but unreserved characters is percent-encoded in a path segment.
pub(crate) const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Re-encodes a form-encoded `x-ms-rename-source` as a percent-encoded path.
pub(crate) fn fix_rename_source(value: &str) -> String {
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let form_decoded = percent_encoding::percent_decode_str(&path.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned();
    // What the crate form-encoded was itself an encoded URL path: decode once more to get the names.
    let names =
        percent_encoding::percent_decode_str(&form_decoded).decode_utf8_lossy().into_owned();
    let mut out: String = names
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[async_trait]
impl Policy for FixupPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        // A call (with its retries) that does not end within 10 s says what it waits for.
        let what = format!("the storage: {} {}", request.method(), crate::shown_url(request.url()));
        crate::speaking(&what, self.fix_and_send(ctx, request, next)).await
    }
}

impl FixupPolicy {
    async fn fix_and_send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        if let Some(source) = request.headers().get_optional_str(&"x-ms-rename-source".into()) {
            let fixed = fix_rename_source(source);
            request.insert_header("x-ms-rename-source", fixed);
        }
        if let Some(CopySourceAuthorization(auth)) = ctx.get::<CopySourceAuthorization>() {
            request.insert_header("x-ms-copy-source-authorization", auth.clone());
        }
        if let Some(CopySourceIfMatch(etag)) = ctx.get::<CopySourceIfMatch>() {
            request.insert_header("x-ms-source-if-match", etag.clone());
        }
        let action =
            request.url().query_pairs().find(|(k, _)| k == "action").map(|(_, v)| v.into_owned());
        match action.as_deref() {
            Some("flush" | "setProperties") => {
                if let Some(StoreContentMd5(md5)) = ctx.get::<StoreContentMd5>() {
                    request.insert_header("x-ms-content-md5", md5.clone());
                }
            }
            Some("append") if self.transactional_md5 => {
                if let azure_core::Body::Bytes(bytes) = request.body() {
                    let md5 =
                        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes));
                    request.insert_header("content-md5", md5);
                }
            }
            _ => {}
        }
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_source_is_percent_encoded() {
        // What the crate sends for "/devstoreaccount1/fs/ws/Sales Model+1 #?%.abf", pre-encoded by the store.
        let crate_header =
            "%2Fdevstoreaccount1%2Ffs%2Fws%2FSales%2520Model%252B1%2520%2523%253F%2525.abf";
        assert_eq!(
            fix_rename_source(crate_header),
            "/devstoreaccount1/fs/ws/Sales%20Model%2B1%20%23%3F%25.abf"
        );
        // A raw space that the crate turned into '+'.
        assert_eq!(fix_rename_source("%2Ffs%2Fa+b"), "/fs/a%20b");
    }
}
