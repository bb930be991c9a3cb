//! The one HTTP layer of backup-core: the client every call uses, what of a URL or a body may be shown, a call's
//! refusal read from the service's error body, and signing in again once when a token is refused.
//!
//! The Power BI REST client ([`crate::service::powerbi`]), the XMLA routing calls and the XMLA client all go through here, so
//! that a refusal reads the same whichever call it came from, and no secret reaches a message.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result, Service};
use crate::retry::RetryPolicy;
use crate::service::auth::TokenSource;
use crate::urls::{error_chain, redact_url};

/// The User-Agent of every call: the tool and its version.
pub(crate) const USER_AGENT: &str = concat!("pbi-backup/", env!("CARGO_PKG_VERSION"));

/// How a client treats a 3xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// Follow them (the Power BI REST API, as reqwest does by default).
    Follow,
    /// Hand them to the caller: a 3xx from an XMLA cluster means "resolve again", and the token exchange follows
    /// its own.
    Return,
}

/// The HTTP client: pooled, TCP keepalive (XMLA commands can run for hours), a connect timeout, `redirects`, and
/// `total` as the limit on a whole call when given.
pub(crate) fn client(total: Option<Duration>, redirects: Redirects) -> Result<reqwest::Client> {
    let policy = match redirects {
        Redirects::Follow => reqwest::redirect::Policy::default(),
        Redirects::Return => reqwest::redirect::Policy::none(),
    };
    let mut b = reqwest::Client::builder()
        .tcp_keepalive(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(30))
        .redirect(policy)
        .user_agent(USER_AGENT);
    if let Some(t) = total {
        b = b.timeout(t);
    }
    b.build().map_err(|e| Error::Internal(format!("cannot build the http client: {e}")))
}

/// The start of a body, for error messages.
pub(crate) fn body_preview(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    // Control characters are escaped so that the preview stays on one line; quotes are left as they are.
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() })
        .collect();
    if body.len() > MAX {
        s.push('…');
    }
    if s.is_empty() { "(empty body)".into() } else { format!("\"{s}\"") }
}

/// Looks a key up case-insensitively, as the routing answers' casing varies.
pub(crate) fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A string (or number) field, looked up case-insensitively.
pub(crate) fn str_field(obj: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    field(obj, name).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// The code and message of a service's error body: Power BI's `{"error": {"code", "message"}}`, or a `code` at the
/// top (the routing calls). The service's 401 and 403 bodies carry no `message`, only a `pbi.error` object
/// (`{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":…,"parameters":{},"details":[],…}}}`, as
/// public reports show it: MicrosoftDocs/powerbi-docs issues #1096 and #3234); its `details` values are the message
/// then. `None` when the body says nothing a person could read.
pub(crate) fn service_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let value = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let error = value.get("error").and_then(Value::as_object);
    let code = error
        .and_then(|e| str_field(e, "code"))
        .or_else(|| value.as_object().and_then(|o| str_field(o, "code")));
    let message = error
        .and_then(|e| str_field(e, "message"))
        .or_else(|| value.as_object().and_then(|o| str_field(o, "message")))
        .or_else(|| error.and_then(|e| e.get("pbi.error")).and_then(pbi_error_details));
    (code, message)
}

/// The `details` of a `pbi.error` object, as `code: value` pairs; `None` when there are none.
fn pbi_error_details(pbi: &Value) -> Option<String> {
    let details: Vec<String> = pbi
        .get("details")?
        .as_array()?
        .iter()
        .filter_map(|d| {
            let code = d.get("code").and_then(Value::as_str);
            let value = d.get("detail").and_then(|v| v.get("value")).and_then(Value::as_str);
            match (code, value) {
                (Some(c), Some(v)) => Some(format!("{c}: {v}")),
                (None, Some(v)) => Some(v.to_owned()),
                (Some(c), None) => Some(c.to_owned()),
                (None, None) => None,
            }
        })
        .collect();
    (!details.is_empty()).then(|| details.join("; "))
}

/// What to say of a refusal whose body has no message: what the status means and what to do.
fn unexplained(status: reqwest::StatusCode, body: &[u8]) -> String {
    match status.as_u16() {
        401 => "the service gave no message; it did not accept the caller: check that the app or user may use the \
                Power BI APIs (for an app, the tenant setting that lets service principals use the APIs, \
                'Service principals can use Fabric APIs', once 'Allow service principals to use Power BI APIs') and has a role \
                in the workspace"
            .to_owned(),
        403 => "the service gave no message; the caller is not allowed this call: it usually needs the Admin role \
                on the workspace (Manage access in the workspace)"
            .to_owned(),
        _ => body_preview(body),
    }
}

/// One call's answer: its status and whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

/// Sends one call and reads its whole body. Nothing answering is [`Error::Unreachable`]; a body cut short is
/// [`Error::BadAnswer`]. The status is the caller's to judge ([`Answer::ok`]).
pub(crate) async fn fetch(
    rb: reqwest::RequestBuilder,
    service: Service,
    what: &str,
    url: &Url,
) -> Result<Answer> {
    // A call that does not end within 10 s says what it waits for (its deadline is the client's).
    let waiting = format!("{what} ({})", adls_store::shown_url(url));
    adls_store::speaking(&waiting, async {
        let response = rb.send().await.map_err(|e| Error::Unreachable {
            url: redact_url(url),
            reason: format!("{what}: {}", error_chain(&e)),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| Error::BadAnswer {
            service,
            what: what.to_owned(),
            detail: format!("the answer broke off: {}", error_chain(&e)),
        })?;
        Ok(Answer { status, headers, body })
    })
    .await
}

/// [`fetch`], sending the call again when the service turns it away for load (HTTP 429 or 503), as
/// [`RetryPolicy::SERVICE`] says: such an answer means the call was not carried out, so sending it again is safe;
/// nothing that only had to wait is reported failed.
pub(crate) async fn fetch_patiently(
    rb: reqwest::RequestBuilder,
    service: Service,
    what: &str,
    url: &Url,
) -> Result<Answer> {
    let mut retrying = RetryPolicy::SERVICE.start();
    loop {
        let this = rb.try_clone().ok_or_else(|| {
            Error::Internal(format!("{what}: the request body cannot be sent twice"))
        })?;
        let answer = fetch(this, service, what, url).await?;
        if !matches!(answer.status.as_u16(), 429 | 503) {
            return Ok(answer);
        }
        let Some(wait) = retrying.next_wait(retry_after(&answer.headers)) else {
            return Ok(answer);
        };
        tracing::info!(
            what,
            status = answer.status.as_u16(),
            wait_s = wait.as_secs_f32(),
            "the service is busy; waiting"
        );
        tokio::time::sleep(wait).await;
    }
}

/// `Retry-After` in seconds (the form Power BI sends); an HTTP date is not read (the backoff applies).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Answer {
    /// The body of a 2xx answer; any other status is the service's refusal, with its code and message.
    pub(crate) fn ok(self, service: Service, what: &str, url: &Url) -> Result<Bytes> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let (code, message) = service_error(&self.body);
        let message = message.unwrap_or_else(|| unexplained(self.status, &self.body));
        Err(Error::Refused {
            service,
            what: what.to_owned(),
            url: Some(redact_url(url)),
            status: Some(self.status.as_u16()),
            code,
            message,
        })
    }
}

/// Runs `attempt`; when a service refuses the token (HTTP 401: revoked, or expired earlier than it said), signs in
/// again and runs it once more. The one place that retries a refused token.
pub(crate) async fn signed_in<T>(
    tokens: &TokenSource,
    what: &str,
    mut attempt: impl AsyncFnMut() -> Result<T>,
) -> Result<T> {
    match attempt().await {
        Err(e) if e.is_unauthorized() => {
            tracing::info!(what, "the token was refused; signing in again");
            tokens.invalidate().await;
            attempt().await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_read_code_and_message_in_either_shape() {
        let pbi = br#"{"error":{"code":"PowerBIEntityNotFound","message":"not there"}}"#;
        let known = |c: &str, m: &str| (Some(c.to_owned()), Some(m.to_owned()));
        assert_eq!(service_error(pbi), known("PowerBIEntityNotFound", "not there"));
        let routing = br#"{"code":"WorkspaceNotFound","message":"no such"}"#;
        assert_eq!(service_error(routing), known("WorkspaceNotFound", "no such"));
        assert_eq!(service_error(b"<html>busy</html>"), (None, None));
        assert_eq!(service_error(b""), (None, None));
        // The service's 401 body: a code and a pbi.error, no message.
        let bare = br#"{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":"PowerBINotAuthorizedException","parameters":{},"details":[],"exceptionCulprit":1}}}"#;
        assert_eq!(service_error(bare), (Some("PowerBINotAuthorizedException".into()), None));
        let detailed = br#"{"error":{"code":"Unauthorized","pbi.error":{"code":"Unauthorized","details":[{"code":"Reason","detail":{"type":1,"value":"not an admin"}}]}}}"#;
        assert_eq!(service_error(detailed), known("Unauthorized", "Reason: not an admin"));
        let status = reqwest::StatusCode::from_u16;
        assert!(unexplained(status(403).unwrap(), bare).contains("Admin role"));
        assert_eq!(unexplained(status(502).unwrap(), b""), "(empty body)");
    }

    #[test]
    fn urls_and_chains_lose_their_query() {
        let u = Url::parse("https://user:pw@h.example/p?sig=SECRET#f").unwrap();
        assert_eq!(redact_url(&u), "https://user@h.example/p");
        let e = std::io::Error::other("GET https://h/p?sig=SECRET failed");
        assert!(!error_chain(&e).contains("SECRET"));
    }
}
