//! The crate's error type.
//!
//! Policy: damage to a backup is data, not an error. `inspect` puts it in [`crate::Report::problems`] (a
//! [`crate::Problem`] with a kind, the part concerned and a message) and returns `Ok`; only a failure of the
//! underlying reader (I/O) is an `Err`. The writer returns `Err` for I/O errors, invalid
//! input and SQLite failures while it builds `metadata.sqlitedb`.

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the underlying stream failed.
    #[error("i/o error on the backup stream: {0}")]
    Io(#[from] std::io::Error),
    /// The writer was given something the format cannot hold.
    #[error("cannot write {what}: {reason}")]
    InvalidInput {
        /// The thing that was rejected.
        what: String,
        /// Why, and what to do about it.
        reason: String,
    },
    /// A file could not be read out of the image: damage, encryption, or a framing [`crate::read_file`] does not
    /// read. The text names the part and the problem.
    #[error("cannot read from the backup: {0}")]
    Unreadable(String),
    /// SQLite failed while building or reading `metadata.sqlitedb`.
    #[error("sqlite failed on metadata.sqlitedb: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
