//! Request authentication: SharedKey verified for real, SAS accepted by the presence of `sig`, bearer tokens accepted
//! when this emulator's token endpoint issued them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha2::Sha256;

/// What authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: SharedKey account:signature`, verified.
    SharedKey,
    /// A SAS query (`sig=` present).
    Sas,
    /// `Authorization: Bearer token`, issued by the token endpoint.
    Bearer,
}

/// Why a request was refused: (status, error code, message).
pub type Refusal = (u16, &'static str, String);

/// The SharedKey string-to-sign of a Blob/DFS request, as the service computes it.
pub fn string_to_sign(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    account: &str,
) -> String {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_length = match h("content-length") {
        "0" => "",
        other => other,
    };
    let mut s = String::new();
    for part in [
        method,
        h("content-encoding"),
        h("content-language"),
        content_length,
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    ] {
        s.push_str(part);
        s.push('\n');
    }
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_owned(),
            )
        })
        .collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(&k);
        s.push(':');
        s.push_str(&v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(raw_path);
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        let k = k.to_ascii_lowercase();
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v.into_owned()),
            None => params.push((k, vec![v.into_owned()])),
        }
    }
    params.sort();
    for (k, mut values) in params {
        values.sort();
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&values.join(","));
    }
    s
}

/// `base64(HMAC-SHA256(key, text))`.
pub fn sign(key: &[u8], text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks the credentials of a request.
pub fn authenticate(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    account: &str,
    key: &[u8],
    token_is_known: impl Fn(&str) -> bool,
) -> Result<AuthKind, Refusal> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        if let Some(rest) = auth.strip_prefix("SharedKey ") {
            let Some((acct, signature)) = rest.split_once(':') else {
                return Err((403, "AuthenticationFailed", "malformed SharedKey header".into()));
            };
            if acct != account {
                return Err((403, "AuthenticationFailed", format!("unknown account '{acct}'")));
            }
            let expected =
                sign(key, &string_to_sign(method, raw_path, raw_query, headers, account));
            if expected.as_bytes() != signature.trim().as_bytes() {
                return Err((
                    403,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.".into(),
                ));
            }
            return Ok(AuthKind::SharedKey);
        }
        if let Some(token) = auth.strip_prefix("Bearer ") {
            if token_is_known(token.trim()) {
                return Ok(AuthKind::Bearer);
            }
            return Err((
                401,
                "InvalidAuthenticationInfo",
                "the bearer token was not issued by this emulator".into(),
            ));
        }
        return Err((401, "InvalidAuthenticationInfo", "unsupported authorization scheme".into()));
    }
    if url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "sig" && !v.is_empty())
    {
        return Ok(AuthKind::Sas);
    }
    Err((401, "NoAuthenticationInformation", "the request carries no credentials".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_matches_the_documented_layout() {
        let mut h = HeaderMap::new();
        h.insert("x-ms-version", "2022-11-02".parse().unwrap());
        h.insert("x-ms-date", "Sat, 28 Nov 2026 04:00:00 GMT".parse().unwrap());
        h.insert("content-length", "0".parse().unwrap());
        let s = string_to_sign(
            "PUT",
            "/devstoreaccount1/fs/a%20b",
            Some("resource=file&A=2&a=1"),
            &h,
            "devstoreaccount1",
        );
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sat, 28 Nov 2026 04:00:00 GMT\nx-ms-version:2022-11-02\n\
             /devstoreaccount1/devstoreaccount1/fs/a%20b\na:1,2\nresource:file"
        );
    }
}
