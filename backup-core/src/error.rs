//! The error type of backup-core.
//!
//! Policy: a variant says what failed in terms a person running a backup understands, and what to do about it.
//! Messages never hold a token, key, SAS signature or password: credentials are never formatted into an error, and
//! URLs are shown without their query string.

use xmla_proto::Failure;

/// Why an operation did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration or the arguments are wrong; nothing was sent.
    #[error("{0}")]
    Config(String),
    /// Signing in failed.
    #[error("signing in failed: {0}")]
    Auth(String),
    /// The Power BI or Analysis Services routing calls before XMLA refused or failed.
    #[error("{0}")]
    Routing(String),
    /// The server could not be reached; the command was not sent.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// Where the request went (no query string).
        url: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// The request was sent but no complete answer came back: the operation may have run, may still be running, or may
    /// have failed on the server.
    #[error(
        "no complete answer from {url} ({reason}); the {what} may still be running or may have finished on the server: check before retrying"
    )]
    OutcomeUnknown {
        /// Where the request went (no query string).
        url: String,
        /// What the client saw.
        reason: String,
        /// What was asked, e.g. "backup of 'Sales' to 'Sales.abf' (Tmsl)".
        what: String,
    },
    /// The server answered with an HTTP status and a body that is not an XMLA answer.
    #[error("{url} answered HTTP {status}{}: {body}", content_type.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Http {
        /// Where the request went (no query string).
        url: String,
        /// HTTP status code.
        status: u16,
        /// Response content type, when given.
        content_type: Option<String>,
        /// The start of the body, escaped.
        body: String,
    },
    /// The server carried out nothing: it answered with errors.
    #[error("the server refused the {what}: {failure}")]
    Server {
        /// What was asked.
        what: String,
        /// The errors the server sent.
        failure: Box<Failure>,
    },
    /// The server's answer could not be read as XMLA.
    #[error("the answer to the {what} could not be read: {source}")]
    Protocol {
        /// What was asked.
        what: String,
        /// What was wrong with it.
        #[source]
        source: xmla_proto::Error,
    },
    /// A request could not be written (a name XML cannot carry, options that do not combine).
    #[error(transparent)]
    Request(xmla_proto::Error),
    /// The user stopped the wait.
    #[error(
        "stopped waiting for the {what}; the server-side operation may still be running: check the workspace before retrying"
    )]
    Cancelled {
        /// What was asked.
        what: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] adls_store::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A URL as it may be shown: scheme, host, port and path, never the query (SAS signatures live there).
pub(crate) fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    u.to_string()
}

/// The start of a body, for error messages.
pub(crate) fn body_preview(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut s: String = text.chars().flat_map(char::escape_debug).collect();
    if body.len() > MAX {
        s.push('…');
    }
    if s.is_empty() { "(empty body)".into() } else { format!("\"{s}\"") }
}
