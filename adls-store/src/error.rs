//! The one error type of `adls-store`.
//!
//! # Policy
//!
//! - Variants are semantic, so callers match on what happened (`NotFound`, `AlreadyExists`, …), never on a backend's
//!   status codes. Each backend maps its own failures into them in one place.
//! - A message names the object (`filesystem/workspace/file`) and, where there is one, the remedy. It is lowercase and
//!   has no trailing period.
//! - A message never contains an account key, a SAS signature or a token. Backend errors are reduced to a status, a
//!   service error code and a redacted text before they are stored here (see [`redact`]).

use std::fmt;

/// `Result` with [`Error`] as its default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of a [`Store`](crate::Store) operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path or name was refused before any I/O.
    #[error(transparent)]
    InvalidPath(#[from] crate::path::PathError),

    /// The file, folder or filesystem does not exist.
    #[error("'{path}' was not found")]
    NotFound {
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
    },

    /// The target exists and the operation was asked not to replace it.
    #[error("'{path}' already exists")]
    AlreadyExists {
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
    },

    /// The credentials were refused or lack a permission for this object.
    #[error(
        "permission denied for '{path}': {detail}; check the credentials and their role on the account"
    )]
    PermissionDenied {
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
        /// What the service or the operating system said, redacted.
        detail: String,
    },

    /// A precondition (ETag, `If-None-Match`, an append position) did not hold.
    #[error("precondition failed for '{path}': {detail}")]
    Precondition {
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
        /// What did not hold.
        detail: String,
    },

    /// A lock is held by someone else, or a lock this process held was lost (broken, or expired and taken).
    #[error("'{path}' is locked: {detail}")]
    Locked {
        /// The lock file, as `filesystem/workspace/file`.
        path: String,
        /// What the store said.
        detail: String,
    },

    /// The bytes read or written do not match the stored or computed hash.
    #[error("integrity check failed for '{path}': expected sha-256 {expected}, got {actual}")]
    Integrity {
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
        /// The SHA-256 kept with the file (lowercase hex), or the expected length.
        expected: String,
        /// The SHA-256 of the bytes that arrived (lowercase hex), or the length that arrived.
        actual: String,
    },

    /// The network, the service or the local disk failed, after retries where the failure was retryable.
    #[error("{operation} '{path}' failed: {detail}")]
    Transport {
        /// What was being done (`upload`, `read`, `list`, …).
        operation: &'static str,
        /// The object, as `filesystem/workspace[/file]`.
        path: String,
        /// The cause, redacted.
        detail: String,
    },

    /// The backend is configured wrongly (missing account, malformed endpoint, unusable credentials).
    #[error("storage configuration: {0}")]
    Config(String),
}

impl Error {
    /// A [`Error::Transport`] with a redacted cause (for callers that read through a store, too).
    pub fn transport(
        operation: &'static str,
        path: impl fmt::Display,
        detail: impl fmt::Display,
    ) -> Self {
        Error::Transport { operation, path: path.to_string(), detail: redact(&detail.to_string()) }
    }

    /// Maps a local I/O error on `path` to the matching variant.
    pub(crate) fn from_io(
        operation: &'static str,
        path: impl fmt::Display,
        err: &std::io::Error,
    ) -> Self {
        use std::io::ErrorKind as K;
        let path = path.to_string();
        match err.kind() {
            K::NotFound => Error::NotFound { path },
            K::AlreadyExists => Error::AlreadyExists { path },
            K::PermissionDenied => Error::PermissionDenied { path, detail: err.to_string() },
            _ => Error::transport(operation, path, err),
        }
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Removes secrets from a text that may quote a URL or a header: the values of `sig`, `se`-style SAS query
/// parameters are kept short, and `sig=`, `SharedKey …:`, `Bearer …`, `access_token` and `client_secret` values are
/// replaced by `REDACTED`.
///
/// ```
/// use adls_store::redact;
/// let text = "GET http://h/a?sv=1&sig=abc%2Bdef&x=1 Authorization: Bearer eyJ0.x.y";
/// assert_eq!(redact(text), "GET http://h/a?sv=1&sig=REDACTED&x=1 Authorization: Bearer REDACTED");
/// assert_eq!(redact("SharedKey devstoreaccount1:c2lnbmF0dXJl"), "SharedKey devstoreaccount1:REDACTED");
/// ```
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for (marker, stop) in [
        ("sig=", &['&', ' ', '"', '\'', '\n', ')', ','][..]),
        ("Bearer ", &[' ', '"', '\'', '\n', ',', ')'][..]),
        ("access_token\":\"", &['"'][..]),
        ("client_secret=", &['&', ' ', '"', '\n'][..]),
        ("AccountKey=", &[';', ' ', '"', '\n'][..]),
    ] {
        out = redact_after(&out, marker, stop);
    }
    // SharedKey account:signature
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("SharedKey ") {
        let (head, tail) = rest.split_at(i + "SharedKey ".len());
        result.push_str(head);
        match tail.find(':') {
            Some(colon) if !tail[..colon].contains(char::is_whitespace) => {
                result.push_str(&tail[..=colon]);
                let after = &tail[colon + 1..];
                let end = after.find([' ', '"', '\n', ',']).unwrap_or(after.len());
                result.push_str("REDACTED");
                rest = &after[end..];
            }
            _ => rest = tail,
        }
    }
    result.push_str(rest);
    result
}

fn redact_after(text: &str, marker: &str, stop: &[char]) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        result.push_str(head);
        let end = tail.find(stop).unwrap_or(tail.len());
        if end > 0 {
            result.push_str("REDACTED");
        }
        rest = &tail[end..];
    }
    result.push_str(rest);
    result
}
