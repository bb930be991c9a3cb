//! Mapping the crate's errors to the store's [`Error`], and retrying a read whose body broke.

use std::fmt;
use std::time::Instant;

use azure_core::error::ErrorKind;

use crate::{Error, RetryConfig};

pub(super) fn config_err(what: &str, e: impl fmt::Display) -> Error {
    Error::Config(crate::redact(&format!("{what}: {e}")))
}

/// Maps a crate error to the store's error.
pub(super) fn map_err(
    operation: &'static str,
    path: &dyn fmt::Display,
    e: azure_core::Error,
) -> Error {
    let path = path.to_string();
    let detail = || crate::redact(&chain(&e));
    match e.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            let code = error_code.as_deref().unwrap_or("");
            match u16::from(*status) {
                404 => Error::NotFound { path },
                409 if code.ends_with("AlreadyExists") => Error::AlreadyExists { path },
                409 | 412 if code.starts_with("Lease") => {
                    Error::Locked { path, detail: code.to_owned() }
                }
                401 | 403 => Error::PermissionDenied {
                    path,
                    detail: format!("{} {code}", u16::from(*status)),
                },
                409 | 412 | 416 => {
                    Error::Precondition { path, detail: format!("{} {code}", u16::from(*status)) }
                }
                400 if code == "InvalidFlushPosition" => {
                    Error::Precondition { path, detail: code.to_owned() }
                }
                400 if code == "Md5Mismatch" => Error::Integrity {
                    path,
                    expected: "the Content-MD5 sent".into(),
                    actual: "a different MD5 computed by the service".into(),
                },
                s => {
                    Error::transport(operation, path, format!("status {s} {code} ({})", chain(&e)))
                }
            }
        }
        ErrorKind::Credential => Error::PermissionDenied { path, detail: detail() },
        _ => Error::transport(operation, path, detail()),
    }
}

/// The error and its causes, `: `-separated, without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

pub(super) fn is_io(e: &azure_core::Error) -> bool {
    matches!(e.kind(), ErrorKind::Io)
}

/// Runs `attempt` again after a body-level I/O failure (a response cut in the middle), which the pipeline's retry
/// policy does not see because the crate reads the body after the pipeline returns.
pub(super) async fn retry_io<T, F, Fut>(
    retry: &RetryConfig,
    mut attempt: F,
) -> azure_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = azure_core::Result<T>>,
{
    let start = Instant::now();
    let mut n = 0;
    loop {
        match attempt().await {
            Err(e) if is_io(&e) && retry.may_retry(n + 1, start.elapsed()) => {
                n += 1;
                tracing::debug!(
                    retry = n,
                    "retrying after a broken body: {}",
                    crate::redact(&e.to_string())
                );
                tokio::time::sleep(retry.backoff(n)).await;
            }
            other => return other,
        }
    }
}
