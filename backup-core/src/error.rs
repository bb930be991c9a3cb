//! The error type of backup-core.
//!
//! Policy: a variant says what failed in terms a person running a backup understands, and what to do about it.
//! Messages never hold a token, key, SAS signature or password: credentials are never formatted into an error, and
//! URLs are shown without their query string. Each variant maps to one exit code, in [`Error::exit_code`]
//! (`output.rs`), and nowhere else.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use xmla_proto::Failure;

/// A service the tool talks to, as a refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Service {
    /// `https://api.powerbi.com/v1.0/myorg/...`.
    PowerBiRest,
    /// Power BI's XMLA routing calls (workspace routing, token exchange, cluster resolution).
    XmlaRouting,
    /// An XMLA endpoint (Power BI, Analysis Services, msmdpump).
    Xmla,
    /// Azure Analysis Services cluster resolution.
    AasRouting,
    /// Azure Resource Manager (`https://management.azure.com/`).
    Arm,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::PowerBiRest => "the Power BI REST API",
            Service::XmlaRouting => "Power BI's XMLA routing",
            Service::Xmla => "the XMLA endpoint",
            Service::AasRouting => "Azure Analysis Services routing",
            Service::Arm => "Azure Resource Manager",
        })
    }
}

/// Why an operation did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line, the configuration or a value given is wrong; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// A workspace, dataset or file that does not exist.
    #[error("{what} '{name}' not found{}", did_you_mean(nearest))]
    NotFound {
        /// `workspace`, `dataset`, `backup file`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The closest existing names.
        nearest: Vec<String>,
    },
    /// A local file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Signing in failed.
    #[error("signing in failed: {0}")]
    Auth(String),
    /// A service refused a call (HTTP status, and the service's error code and message when it sent them).
    #[error("{service} refused {what}{}{}{}: {message}",
        url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default(),
        status.map(|s| format!(" with HTTP {s}")).unwrap_or_default(),
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Refused {
        /// Which service.
        service: Service,
        /// What was asked, e.g. "listing workspaces".
        what: String,
        /// Where the call went (no query string), when it is worth showing.
        url: Option<String>,
        /// The HTTP status, when the refusal came as one.
        status: Option<u16>,
        /// The service's error code (`PowerBIEntityNotFound`, `WorkspaceNotOnPbiPremium`).
        code: Option<String>,
        /// The service's message, or the start of its body, and what to do.
        message: String,
    },
    /// A service answered something this client cannot use (not JSON, a field missing).
    #[error("{service} gave an answer to {what} that cannot be used: {detail}")]
    BadAnswer {
        /// Which service.
        service: Service,
        /// What was asked.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
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
        /// What was asked, e.g. "backup of 'Sales' to 'Sales.abf' (TMSL)".
        what: String,
    },
    /// The XMLA server carried out nothing: it answered with errors. A documented refusal also names its rule and
    /// remedy.
    #[error("the server refused the {what}: {failure}{}", rule_hint(failure))]
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
    /// A file is not whole, or a restored model differs from its backup.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// A manifest that does not read as one (not JSON, or not a manifest's fields): its backup is unverified.
    #[error("integrity check failed: the manifest {path} does not read: {reason}")]
    ManifestUnreadable {
        /// The manifest.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// The program itself could not go on (a worker thread stopped, the runtime did not start).
    #[error("{0}")]
    Internal(String),
}

fn rule_hint(failure: &Failure) -> String {
    crate::server_texts::failure_rule(failure)
        .map(|r| format!(" ({}: {})", r.rule, r.remedy))
        .unwrap_or_default()
}

fn did_you_mean(nearest: &[String]) -> String {
    if nearest.is_empty() {
        return String::new();
    }
    let names: Vec<String> = nearest.iter().map(|n| format!("'{n}'")).collect();
    format!("; did you mean {}?", names.join(", "))
}

impl Error {
    /// A local I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// A refusal with more said after the service's message (what it leaves behind, and the command that
    /// finishes the job); any other error as it is.
    pub(crate) fn saying(self, more: &str) -> Error {
        match self {
            Error::Refused { service, what, url, status, code, message } => Error::Refused {
                service,
                what,
                url,
                status,
                code,
                message: format!("{message}; {more}"),
            },
            other => other,
        }
    }

    /// Whether this is a service refusing the caller's token (HTTP 401), which signing in again may cure.
    pub(crate) fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Refused { status: Some(401), .. })
    }
}

impl From<adls_store::PathError> for Error {
    fn from(e: adls_store::PathError) -> Self {
        Error::Storage(adls_store::Error::InvalidPath(e))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
