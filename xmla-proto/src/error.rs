//! The one error type of this crate.
//!
//! Policy: every variant names the thing that was wrong (which field, which element, which bytes) so that a user
//! reading it knows what to change. Messages are lowercase and never contain a password: values that may be secret
//! are never copied into an error.

/// Why a message could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name or value cannot be sent: it is empty where a value is required, or it holds a character that XML 1.0
    /// cannot carry.
    #[error("invalid {field} {preview}: {reason}")]
    InvalidValue {
        /// The element or property the value was meant for, e.g. `DatabaseName`.
        field: &'static str,
        /// A quoted, shortened, escaped preview of the value (never of a password).
        preview: String,
        /// Why it was refused, and what to do instead.
        reason: String,
    },
    /// The command combines options that its syntax cannot express.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The input is not well-formed XML.
    #[error("malformed xml at byte {position}: {message}")]
    Xml {
        /// Byte offset in the input where the reader stopped.
        position: u64,
        /// What the XML reader reported.
        message: String,
    },
    /// The XML is well-formed but does not have the shape of the message expected.
    #[error("unexpected message shape: {0}")]
    Shape(String),
    /// A TMSL statement that names `backup` or `restore` but does not follow the TMSL schema.
    #[error("invalid tmsl {command} command: {message}")]
    Tmsl {
        /// `backup` or `restore`.
        command: &'static str,
        /// What serde_json reported, with the offending key or type.
        message: String,
    },
    /// The body is not XML at all (an HTML error page, JSON, an empty body).
    #[error("the response is not xml: {0}")]
    NotXml(String),
    /// The body ends with the byte 0x01: the server asks the client to reconnect under the long-running-operation
    /// protocol, which this client does not implement.
    #[error(
        "the server sent a continuation marker (trailing byte 0x01), which asks for the undocumented long-running-operation protocol; this client does not support it, and the operation's outcome is unknown"
    )]
    ContinuationUnsupported,
    /// A request element or command this crate does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Reading the response stream failed.
    #[error("reading the response failed: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
