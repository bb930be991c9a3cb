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
    /// A workspace, dataset or file that does not exist.
    #[error("{what} '{name}' not found{}", if nearest.is_empty() { String::new() } else { format!("; did you mean {}?", nearest.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")) })]
    NotFound {
        /// `workspace`, `dataset`, `backup file`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The closest existing names.
        nearest: Vec<String>,
    },
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
    /// A preflight rule blocked the operation; nothing was sent.
    #[error("preflight blocked the {what}: {}", findings.iter().filter(|f| f.blocks()).map(|f| format!("{} {}; {}", f.rule, f.message, f.remedy)).collect::<Vec<_>>().join(" | "))]
    Preflight {
        /// What was about to run.
        what: String,
        /// Every finding (the blocking ones say why).
        findings: Vec<crate::preflight::Finding>,
    },
    /// A file is not whole, or a restored model differs from its backup.
    #[error("integrity check failed: {0}")]
    Integrity(String),
}

impl From<adls_store::PathError> for Error {
    fn from(e: adls_store::PathError) -> Self {
        Error::Storage(adls_store::Error::InvalidPath(e))
    }
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

/// Up to three names closest to `name` (case-insensitive edit distance, or containment), best first.
pub fn nearest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| {
            let cl = c.to_lowercase();
            let d = if cl == lower {
                0
            } else if cl.contains(&lower) || lower.contains(&cl) {
                1
            } else {
                strsim::levenshtein(&cl, &lower)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(2))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c.to_owned()).collect()
}
