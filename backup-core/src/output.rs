//! What every command reports: the JSON documents of `--json` (one per command) and the exit codes. They live here,
//! not in the CLI, so that tests decode exactly what the binary wrote.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::preflight::Finding;

/// Exit codes of `pbi-backup`. Stable: scripts rely on them.
pub mod exit_codes {
    /// Everything asked for was done.
    pub const SUCCESS: i32 = 0;
    /// Something failed that none of the codes below describe (a network failure, an unknown outcome).
    pub const FAILURE: i32 = 1;
    /// The command line, the configuration or a name given was wrong; nothing was sent.
    pub const USAGE: i32 = 2;
    /// A preflight rule blocked the operation; nothing was sent.
    pub const PREFLIGHT_BLOCKED: i32 = 3;
    /// The server (Power BI, Analysis Services, or the storage account) refused.
    pub const SERVER_REFUSED: i32 = 4;
    /// A file is not whole: a hash or the container check failed, or a restored model differs from its backup.
    pub const INTEGRITY: i32 = 5;
    /// A bulk run where some items succeeded and some failed.
    pub const PARTIAL: i32 = 6;
    /// Stopped by Ctrl-C.
    pub const INTERRUPTED: i32 = 130;
}

impl Error {
    /// The exit code this error ends the program with.
    pub fn exit_code(&self) -> i32 {
        use exit_codes::*;
        match self {
            Error::Config(_) | Error::NotFound { .. } | Error::Request(_) => USAGE,
            Error::Preflight { .. } => PREFLIGHT_BLOCKED,
            Error::Server { .. } | Error::Routing(_) | Error::Http { .. } | Error::Auth(_) => {
                SERVER_REFUSED
            }
            Error::Integrity(_) => INTEGRITY,
            Error::Storage(e) => match e {
                adls_store::Error::Integrity { .. } => INTEGRITY,
                adls_store::Error::PermissionDenied { .. } => SERVER_REFUSED,
                adls_store::Error::NotFound { .. }
                | adls_store::Error::InvalidPath(_)
                | adls_store::Error::Config(_) => USAGE,
                _ => FAILURE,
            },
            Error::Cancelled { .. } => INTERRUPTED,
            Error::Unreachable { .. } | Error::OutcomeUnknown { .. } | Error::Protocol { .. } => {
                FAILURE
            }
        }
    }

    /// A short, stable name of the kind of error, for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::NotFound { .. } => "not_found",
            Error::Auth(_) => "auth",
            Error::Routing(_) => "routing",
            Error::Unreachable { .. } => "unreachable",
            Error::OutcomeUnknown { .. } => "outcome_unknown",
            Error::Http { .. } => "http",
            Error::Server { .. } => "server_refused",
            Error::Protocol { .. } => "protocol",
            Error::Request(_) => "request",
            Error::Cancelled { .. } => "cancelled",
            // The store's own hash check failing is the same finding as ours: a file that is not whole.
            Error::Storage(adls_store::Error::Integrity { .. }) => "integrity",
            Error::Storage(_) => "storage",
            Error::Preflight { .. } => "preflight_blocked",
            Error::Integrity(_) => "integrity",
        }
    }
}

/// An error as JSON reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorInfo {
    /// [`Error::kind`].
    pub kind: String,
    /// The message (never holds a secret).
    pub message: String,
    /// The server's error code, for server refusals.
    pub code: Option<u32>,
    /// The exit code it maps to.
    pub exit_code: i32,
    /// Preflight findings that blocked, when `kind` is `preflight_blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            kind: e.kind().into(),
            message: e.to_string(),
            code: match e {
                Error::Server { failure, .. } => failure.errors.first().and_then(|m| m.code),
                _ => None,
            },
            exit_code: e.exit_code(),
            findings: match e {
                Error::Preflight { findings, .. } => findings.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// The document printed when a command fails as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorOutput {
    /// The error.
    pub error: ErrorInfo,
}

/// `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorOutput {
    /// Every finding, workspace by workspace.
    pub findings: Vec<Finding>,
    /// Whether any finding blocks backup or restore.
    pub blocked: bool,
    /// Where backups are kept, as configured.
    pub storage: String,
}

/// One dataset's backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupResult {
    /// Workspace (or server) name.
    pub workspace: String,
    /// Dataset name.
    pub dataset: String,
    /// Backup file name.
    pub file: String,
    /// Whether the backup was made (and, when storage is configured, read back whole).
    pub ok: bool,
    /// Size in bytes, as read back.
    pub size: Option<u64>,
    /// SHA-256, as read back.
    pub sha256: Option<String>,
    /// The manifest written beside the file.
    pub manifest: Option<String>,
    /// `verified`, or why verification was skipped.
    pub verification: String,
    /// Warnings from the server and the preflight.
    pub warnings: Vec<String>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
}

/// `backup` (one dataset or many).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupOutput {
    /// One result per dataset.
    pub results: Vec<BackupResult>,
    /// How many succeeded.
    pub succeeded: usize,
    /// How many failed.
    pub failed: usize,
}

impl BackupOutput {
    /// The exit code of the run: success, partial, or the first failure's code when nothing succeeded.
    pub fn exit_code(&self) -> i32 {
        bulk_exit_code(self.succeeded, self.results.iter().filter_map(|r| r.error.as_ref()))
    }
}

/// The exit code of a bulk run.
pub fn bulk_exit_code<'a>(
    succeeded: usize,
    mut errors: impl Iterator<Item = &'a ErrorInfo>,
) -> i32 {
    match (succeeded, errors.next()) {
        (_, None) => exit_codes::SUCCESS,
        (0, Some(e)) => e.exit_code,
        (_, Some(_)) => exit_codes::PARTIAL,
    }
}

/// `restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreOutput {
    /// Target workspace (or server).
    pub workspace: String,
    /// The backup file restored.
    pub file: String,
    /// The database restored (its new name when `--as` was given).
    pub database: String,
    /// When the file was copied from another workspace's folder first.
    pub copied_from: Option<String>,
    /// `verified against the manifest`, or why not.
    pub manifest_check: String,
    /// Tables the manifest recorded that the restored model lacks.
    pub missing_tables: Vec<String>,
    /// Tables the restored model has that the manifest did not record.
    pub extra_tables: Vec<String>,
    /// Whether the tables were compared (false when there was no manifest or no table list).
    pub tables_compared: bool,
    /// Warnings from the server and the preflight.
    pub warnings: Vec<String>,
}

/// `backup --dry-run` and `restore --dry-run`: the request that would be sent, with any password masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunOutput {
    /// Always true: nothing was sent.
    pub dry_run: bool,
    /// The SOAPAction header the request would carry.
    pub soap_action: String,
    /// The XMLA request (password masked).
    pub request: String,
}

/// A backup file in a workspace folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedBackup {
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// When it was written (RFC 3339), from the manifest, else the storage.
    pub time: Option<String>,
    /// The dataset, from the manifest or the file name.
    pub dataset: Option<String>,
    /// Whether a manifest with a SHA-256 of the same size is beside it (the file was read back whole at backup).
    pub verified: bool,
    /// The manifest's SHA-256.
    pub sha256: Option<String>,
}

/// `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOutput {
    /// The workspace folder listed.
    pub workspace: String,
    /// Its `.abf` files, newest first.
    pub backups: Vec<ListedBackup>,
}

/// `download`, `upload`, `copy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferOutput {
    /// Where from.
    pub source: String,
    /// Where to.
    pub destination: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of what arrived.
    pub sha256: String,
    /// `verified against the manifest`, `verified against the stored hash`, or why not.
    pub verification: String,
}

/// `verify` and `inspect` of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyOutput {
    /// The file.
    pub file: String,
    /// Whether everything checked holds.
    pub valid: bool,
    /// SHA-256 computed now.
    pub sha256: Option<String>,
    /// SHA-256 the manifest recorded.
    pub expected_sha256: Option<String>,
    /// Whether the hash matched (`None`: no manifest).
    pub hash_ok: Option<bool>,
    /// The container check.
    pub container: Option<abf_format::Report>,
}

/// One prune decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneDecision {
    /// Workspace.
    pub workspace: String,
    /// Dataset.
    pub dataset: String,
    /// File.
    pub file: String,
    /// RFC 3339 time of the backup.
    pub time: String,
    /// Kept or deleted.
    pub keep: bool,
    /// Why it is kept.
    pub reasons: Vec<String>,
}

/// `prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneOutput {
    /// True unless `--apply` was given.
    pub dry_run: bool,
    /// Every backup considered.
    pub decisions: Vec<PruneDecision>,
    /// Files deleted (empty on a dry run).
    pub deleted: Vec<String>,
    /// `.abf` files left alone because no time could be read for them.
    pub skipped: Vec<String>,
    /// Deletions that failed (each message names the file); the others went on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<ErrorInfo>,
    /// Uploads that never completed (a killed process left them) and are older than the limit; with `--apply` they
    /// are deleted too (and listed in `deleted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_uploads: Vec<StaleUpload>,
}

/// An upload that never completed, found by `prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleUpload {
    /// Where it lies.
    pub location: String,
    /// Its size as the store reports it.
    pub size: u64,
    /// When it was last changed (RFC 3339), when known.
    pub last_modified: Option<String>,
}

impl PruneOutput {
    /// The exit code of the run: success, partial when some deletions failed, or the first failure's code when
    /// every deletion failed.
    pub fn exit_code(&self) -> i32 {
        bulk_exit_code(self.deleted.len(), self.failed.iter())
    }
}

/// `storage status` for one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageStatus {
    /// Workspace.
    pub workspace: String,
    /// Attached storage account (name when known, else its id).
    pub account: Option<String>,
    /// Whether `power-bi-backup/<workspace>` exists (`None`: storage not configured, or configured for another
    /// account than the attached one).
    pub folder_exists: Option<bool>,
    /// `.abf` files in it.
    pub backups: Option<usize>,
}

/// `storage link|unlink|relink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageChange {
    /// Workspace.
    pub workspace: String,
    /// What was done, in order.
    pub actions: Vec<String>,
    /// The folder the old backups were moved to, on relink.
    pub renamed_folder_to: Option<String>,
}
