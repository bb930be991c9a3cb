//! What every command reports: the JSON documents of `--json` (one per command) and the exit codes. They live here,
//! not in the CLI, so that tests decode exactly what the binary wrote.

use serde::{Deserialize, Serialize};

use super::Failure;
use crate::error::{Error, Service};
use crate::preflight::Finding;

/// Every exit code with what it means, for documentation (the man page's EXIT STATUS): [`exit_codes::ALL`].
pub fn exit_status_meanings() -> &'static [(i32, &'static str)] {
    exit_codes::ALL
}

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
    /// Another run of the same policy and shard holds the run lock; this one did nothing.
    pub const LOCKED: i32 = 7;
    /// Stopped by Ctrl-C.
    pub const INTERRUPTED: i32 = 130;

    /// Every code with what it means, as the man page's EXIT STATUS lists them.
    pub const ALL: &[(i32, &str)] = &[
        (SUCCESS, "everything asked for was done"),
        (
            FAILURE,
            "a failure none of the other codes describe: the network, an outcome that is unknown, a local disk",
        ),
        (USAGE, "the command line, the configuration or a name given was wrong; nothing was sent"),
        (PREFLIGHT_BLOCKED, "a preflight rule blocked the operation; nothing was sent"),
        (
            SERVER_REFUSED,
            "the server refused: Power BI, Analysis Services, the storage account, or the sign-in",
        ),
        (
            INTEGRITY,
            "a file is not whole (a hash or the container check failed), or a restored model differs from its backup",
        ),
        (PARTIAL, "a bulk run where some items succeeded and some failed"),
        (
            LOCKED,
            "run: another run of the same policy and shard holds the run lock; this one did nothing",
        ),
        (INTERRUPTED, "interrupted (Ctrl-C); a server-side operation may still be running"),
    ];
}

impl Error {
    /// The exit code this error ends the program with: the one place an error becomes an exit code.
    pub fn exit_code(&self) -> i32 {
        use exit_codes::*;
        match self {
            Error::Usage(_) | Error::NotFound { .. } | Error::Request(_) => USAGE,
            Error::Server { .. } | Error::Refused { .. } | Error::Auth(_) => SERVER_REFUSED,
            Error::Integrity(_) | Error::ManifestUnreadable { .. } => INTEGRITY,
            Error::Storage(e) => match e {
                adls_store::Error::Integrity { .. } => INTEGRITY,
                adls_store::Error::PermissionDenied { .. } => SERVER_REFUSED,
                adls_store::Error::Locked { .. } => LOCKED,
                adls_store::Error::NotFound { .. }
                | adls_store::Error::InvalidPath(_)
                | adls_store::Error::Config(_) => USAGE,
                _ => FAILURE,
            },
            Error::Cancelled { .. } => INTERRUPTED,
            // A file the user named that is not there is a usage error; a disk that fails or fills is not.
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => USAGE,
            Error::Io { .. }
            | Error::Internal(_)
            | Error::Unreachable { .. }
            | Error::OutcomeUnknown { .. }
            | Error::Protocol { .. }
            | Error::BadAnswer { .. } => FAILURE,
        }
    }

    /// The kind of error, as JSON names it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Io { .. } => ErrorKind::Io,
            Error::Auth(_) => ErrorKind::Auth,
            Error::Refused { .. } | Error::Server { .. } => ErrorKind::ServerRefused,
            Error::BadAnswer { .. } => ErrorKind::BadAnswer,
            Error::Unreachable { .. } => ErrorKind::Unreachable,
            Error::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Request(_) => ErrorKind::Request,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            // The store's own hash check failing is the same finding as ours: a file that is not whole.
            Error::Storage(adls_store::Error::Integrity { .. }) => ErrorKind::Integrity,
            Error::Storage(adls_store::Error::Locked { .. }) => ErrorKind::Locked,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Integrity(_) | Error::ManifestUnreadable { .. } => ErrorKind::Integrity,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// The kind of an error, a stable name in JSON (`"kind": "not_found"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command line, the configuration or a value was wrong.
    Usage,
    /// A workspace, dataset or file that does not exist.
    NotFound,
    /// A local file or folder could not be read or written.
    Io,
    /// Signing in failed.
    Auth,
    /// A service refused.
    ServerRefused,
    /// A service answered something that cannot be used.
    BadAnswer,
    /// The server could not be reached; nothing was sent.
    Unreachable,
    /// Sent, with no complete answer: the outcome is not known.
    OutcomeUnknown,
    /// An answer that is not XMLA.
    Protocol,
    /// A request that could not be written.
    Request,
    /// Stopped by the user.
    Cancelled,
    /// A file is not whole, or a restored model differs from its backup.
    Integrity,
    /// Storage failed.
    Storage,
    /// A preflight rule blocked; nothing was sent.
    PreflightBlocked,
    /// The program itself could not go on.
    Internal,
    /// Another run holds the run lock.
    Locked,
}

impl ErrorKind {
    /// The name JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Io => "io",
            ErrorKind::Auth => "auth",
            ErrorKind::ServerRefused => "server_refused",
            ErrorKind::BadAnswer => "bad_answer",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Request => "request",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Integrity => "integrity",
            ErrorKind::Storage => "storage",
            ErrorKind::PreflightBlocked => "preflight_blocked",
            ErrorKind::Internal => "internal",
            ErrorKind::Locked => "locked",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What every command's report says of how the run went: its exit code. The CLI prints the report and exits with
/// it; no command decides an exit code anywhere else. There is no default: a new report says what it exits with.
pub trait CommandOutput: Serialize {
    /// The exit code of the run this report describes.
    fn exit_code(&self) -> i32;
}

/// An error as JSON reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorInfo {
    /// [`Error::kind`].
    pub kind: ErrorKind,
    /// The message (never holds a secret).
    pub message: String,
    /// The server's error code, for server refusals.
    pub code: Option<u32>,
    /// The exit code it maps to.
    pub exit_code: i32,
    /// The service that refused, when `kind` is `server_refused` and it was not the XMLA server's own error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// The HTTP status of a refusal, when it came as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The service's own error code of a REST or routing refusal (`PowerBIEntityNotFound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<String>,
    /// The rule a documented server refusal enforces (`LATER-10` for the `/forceRestore` advice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Preflight findings that blocked, when `kind` is `preflight_blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            kind: e.kind(),
            message: e.to_string(),
            code: match e {
                Error::Server { failure, .. } => failure.errors.first().and_then(|m| m.code),
                _ => None,
            },
            exit_code: e.exit_code(),
            service: match e {
                Error::Refused { service, .. } => Some(*service),
                _ => None,
            },
            http_status: match e {
                Error::Refused { status, .. } => *status,
                _ => None,
            },
            rule: match e {
                Error::Server { failure, .. } => {
                    crate::server_texts::failure_rule(failure).map(|r| r.rule.as_str().to_owned())
                }
                _ => None,
            },
            service_code: match e {
                Error::Refused { code, .. } => code.clone(),
                _ => None,
            },
            findings: Vec::new(),
        }
    }
}

impl Failure {
    /// The exit code the run ends with: the error's, or preflight blocked.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Error(e) => e.exit_code(),
            Failure::Blocked(_) => exit_codes::PREFLIGHT_BLOCKED,
        }
    }

    /// The kind, as JSON names it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Failure::Error(e) => e.kind(),
            Failure::Blocked(_) => ErrorKind::PreflightBlocked,
        }
    }
}

impl From<&Failure> for ErrorInfo {
    fn from(f: &Failure) -> Self {
        match f {
            Failure::Error(e) => ErrorInfo::from(e),
            Failure::Blocked(b) => ErrorInfo {
                kind: ErrorKind::PreflightBlocked,
                message: b.to_string(),
                code: None,
                exit_code: exit_codes::PREFLIGHT_BLOCKED,
                service: None,
                http_status: None,
                service_code: None,
                rule: None,
                findings: b.findings.clone(),
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

/// How a backup was verified after the server said it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupVerification {
    /// Read back whole from storage and hashed; the manifest records the hash.
    Verified,
    /// Not read back: where this server keeps its backups is not known here (only Power BI's `power-bi-backup`
    /// folders are).
    SkippedNotPowerBi,
    /// Not read back: no storage is configured here for the server's backups.
    SkippedNoStorage,
}

impl BackupVerification {
    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Verified => "verified: read back whole and hashed",
            Self::SkippedNotPowerBi => {
                "not read back: where this server keeps its backups is not known here (only Power BI's power-bi-backup folders are)"
            }
            Self::SkippedNoStorage => {
                "not read back: the server's backup storage is not configured here"
            }
        }
    }
}

/// How a file was checked before a restore was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestCheck {
    /// Hashed, and the hash and size matched its manifest.
    Verified,
    /// To be checked while it is copied into the target folder (a plan that copies).
    AtCopy,
    /// Not checked: no manifest beside it, and `--allow-unverified` was given.
    SkippedNoManifest,
    /// Not checked: where this server keeps its backups is not known here (only Power BI's folders are).
    SkippedNotPowerBi,
}

impl ManifestCheck {
    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Verified => "verified against the manifest",
            Self::AtCopy => "checked against the manifest as it is copied",
            Self::SkippedNoManifest => {
                "not verified: no manifest beside the file (--allow-unverified)"
            }
            Self::SkippedNotPowerBi => {
                "not verified: where this server keeps its backups is not known here (only Power BI's power-bi-backup folders are)"
            }
        }
    }
}

/// What a transferred file was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferVerification {
    /// The hash and size its manifest records.
    Manifest,
    /// The hash the store keeps with the file (no manifest).
    StoredHash,
    /// Read back after the upload: it hashes like the bytes sent (no manifest).
    ReadBack,
    /// Read back after the copy: it hashes like the source.
    Source,
    /// Nothing: no manifest and no stored hash.
    Unverified,
}

impl TransferVerification {
    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Manifest => "verified against the manifest",
            Self::StoredHash => "verified against the hash kept with the file",
            Self::ReadBack => "verified: read back, hashes like the bytes sent",
            Self::Source => "verified: the copy hashes like the source",
            Self::Unverified => "not verified: no manifest and no stored hash",
        }
    }
}

/// `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorOutput {
    /// The facts the rules were evaluated on, each with its source (`service`, `arm`, `config`, `unknown`).
    pub facts: Vec<crate::preflight::Fact>,
    /// Every finding, workspace by workspace.
    pub findings: Vec<Finding>,
    /// Whether any finding blocks backup or restore.
    pub blocked: bool,
    /// Where backups are kept, as configured.
    pub storage: String,
    /// The rule profile the findings were evaluated under.
    pub profile: crate::preflight::Profile,
    /// Who signed in to Power BI, when someone did.
    pub signed_in: Option<SignedIn>,
}

/// Who signed in: the credential (for `auto`, the one it chose) and the identity its token names. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIn {
    /// The credential, described.
    pub credential: String,
    /// The object id (`oid`).
    pub oid: Option<String>,
    /// The application id (`appid`), for an app or managed identity.
    pub appid: Option<String>,
    /// The user principal name (`upn`), for a user.
    pub upn: Option<String>,
}

/// One dataset's backup. In JSON its outcome is three fields, as it always was: `ok`, `error` (when it failed) and
/// `skipped` (when it was not backed up again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "BackupResultJson", try_from = "BackupResultJson")]
pub struct BackupResult {
    /// Workspace (or server) name.
    pub workspace: String,
    /// Dataset name.
    pub dataset: String,
    /// Backup file name.
    pub file: String,
    /// Backed up, skipped, or failed.
    pub outcome: BackupOutcome,
    /// Size in bytes, as read back.
    pub size: Option<u64>,
    /// SHA-256, as read back.
    pub sha256: Option<String>,
    /// The manifest written beside the file.
    pub manifest: Option<String>,
    /// Whether the file was read back and hashed, or why not (`None` when the backup failed).
    pub verification: Option<BackupVerification>,
    /// Warnings from the server and the preflight.
    pub warnings: Vec<String>,
    /// When the backup was made (RFC 3339, UTC): this run's, or for a skipped dataset its newest verified backup's.
    pub finished: Option<String>,
    /// How long this run's backup took, from the moment its capacity had a slot for it to its manifest, in
    /// milliseconds (waiting for a slot not counted).
    pub duration_ms: Option<u64>,
    /// When the dataset's newest verified backup before this run was made (RFC 3339), when the run looked for it
    /// (`run`, `--if-changed`): what a failed dataset still has.
    pub last_verified: Option<String>,
}

/// How one dataset's backup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupOutcome {
    /// Backed up (and, when storage is configured, read back whole).
    Backed,
    /// Not backed up again, and nothing was sent: a verified backup of this period, or a model unchanged since its
    /// last verified backup (the reason).
    Skipped(String),
    /// It failed, and why.
    Failed(ErrorInfo),
}

impl BackupResult {
    /// Whether the dataset has its backup: backed up now, or skipped because it had one.
    pub fn ok(&self) -> bool {
        !matches!(self.outcome, BackupOutcome::Failed(_))
    }

    /// Why it failed.
    pub fn error(&self) -> Option<&ErrorInfo> {
        match &self.outcome {
            BackupOutcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Why it was not backed up again.
    pub fn skipped(&self) -> Option<&str> {
        match &self.outcome {
            BackupOutcome::Skipped(why) => Some(why),
            _ => None,
        }
    }
}

/// [`BackupResult`] as JSON has it (the shape documented in README, unchanged).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupResultJson {
    workspace: String,
    dataset: String,
    file: String,
    ok: bool,
    size: Option<u64>,
    sha256: Option<String>,
    manifest: Option<String>,
    verification: Option<BackupVerification>,
    warnings: Vec<String>,
    error: Option<ErrorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_verified: Option<String>,
}

impl From<BackupResult> for BackupResultJson {
    fn from(r: BackupResult) -> Self {
        let BackupResult {
            workspace,
            dataset,
            file,
            outcome,
            size,
            sha256,
            manifest,
            verification,
            warnings,
            finished,
            duration_ms,
            last_verified,
        } = r;
        let (ok, error, skipped) = match outcome {
            BackupOutcome::Backed => (true, None, None),
            BackupOutcome::Skipped(why) => (true, None, Some(why)),
            BackupOutcome::Failed(e) => (false, Some(e), None),
        };
        BackupResultJson {
            workspace,
            dataset,
            file,
            ok,
            size,
            sha256,
            manifest,
            verification,
            warnings,
            error,
            skipped,
            finished,
            duration_ms,
            last_verified,
        }
    }
}

impl TryFrom<BackupResultJson> for BackupResult {
    type Error = String;

    fn try_from(j: BackupResultJson) -> std::result::Result<Self, String> {
        let outcome = match (j.ok, j.error, j.skipped) {
            (true, None, None) => BackupOutcome::Backed,
            (true, None, Some(why)) => BackupOutcome::Skipped(why),
            (false, Some(e), None) => BackupOutcome::Failed(e),
            (ok, error, skipped) => {
                return Err(format!(
                    "a backup result with ok {ok}, {} and {}: not one outcome",
                    if error.is_some() { "an error" } else { "no error" },
                    if skipped.is_some() { "a reason to skip" } else { "no reason to skip" }
                ));
            }
        };
        Ok(BackupResult {
            workspace: j.workspace,
            dataset: j.dataset,
            file: j.file,
            outcome,
            size: j.size,
            sha256: j.sha256,
            manifest: j.manifest,
            verification: j.verification,
            warnings: j.warnings,
            finished: j.finished,
            duration_ms: j.duration_ms,
            last_verified: j.last_verified,
        })
    }
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
    /// How many were not backed up again (see [`BackupResult::skipped`]).
    #[serde(default)]
    pub skipped: usize,
    /// Per capacity (or server): the backups at once it started with and learned, and its refusals for load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacities: Vec<super::pacing::CapacityPace>,
}

impl CommandOutput for BackupOutput {
    /// Success, partial, or the first failure's code when nothing succeeded (a dataset skipped as done counts as
    /// done).
    fn exit_code(&self) -> i32 {
        bulk_exit_code(self.succeeded + self.skipped, self.results.iter().filter_map(|r| r.error()))
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
    /// Whether the file was checked against its manifest before anything was sent, or why not.
    pub manifest_check: ManifestCheck,
    /// The SHA-256 the file was checked to have, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Tables the manifest recorded that the restored model lacks.
    pub missing_tables: Vec<String>,
    /// Tables the restored model has that the manifest did not record.
    pub extra_tables: Vec<String>,
    /// Whether the tables were compared (false when there was no manifest or no table list).
    pub tables_compared: bool,
    /// How the restored roles differ from what the manifest recorded, given the restore's security (with
    /// `CopyAll` every role keeps its members; with `SkipMembership` they are left empty; with `IgnoreSecurity`
    /// there are none): one sentence per role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_differences: Vec<String>,
    /// Whether the roles were compared (false when the manifest did not record them or they could not be listed).
    #[serde(default)]
    pub roles_compared: bool,
    /// Tables whose row count after the restore differs from the one the manifest recorded: one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_count_differences: Vec<String>,
    /// Whether the row counts were compared (false when the manifest did not record them or they could not be
    /// read).
    #[serde(default)]
    pub row_counts_compared: bool,
    /// Set when the restore is done but the restored model could not be listed to compare it with the manifest:
    /// whether it matches is unknown (exit 1), which a warning says and why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub comparison_unknown: bool,
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
    /// For a restore: everything it would do, checked as far as can be without changing anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RestorePlanOutput>,
    /// For a backup planned with a Power BI sign-in: every backup it would make (or skip, and why), each with its
    /// own request; `request` above is the first one's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<PlannedBackup>,
}

/// One backup of a plan, as `backup --dry-run` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedBackup {
    /// Workspace (or server).
    pub workspace: String,
    /// Dataset.
    pub dataset: String,
    /// The file it would write.
    pub file: String,
    /// The capacity whose slots it would wait for (Power BI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// Why it would not be backed up again (a verified backup of this period); `--if-changed` is decided when the
    /// run asks the model's modified time, so a plan does not show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    /// The XMLA request it would send (password masked).
    pub request: String,
}

/// A restore's plan, as `restore --dry-run` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorePlanOutput {
    /// Target workspace (or server).
    pub workspace: String,
    /// The backup file.
    pub file: String,
    /// The database it would restore (its new name with `--as`), when known.
    pub database: Option<String>,
    /// Whether a model of that name exists (so the restore would replace it); `None` when not asked.
    pub replaces_existing: Option<bool>,
    /// The file it would copy into the target folder first.
    pub copy_from: Option<String>,
    /// How the file was (or will be) checked against its manifest.
    pub manifest_check: ManifestCheck,
    /// The SHA-256 the file was checked to have, when it was.
    pub sha256: Option<String>,
    /// Every rule evaluated (workspace and backup file).
    pub findings: Vec<Finding>,
    /// What would be reported as warnings.
    pub warnings: Vec<String>,
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
    /// Whether the stored file is the one whose bytes were hashed and matched its manifest (`state` is
    /// `verified`).
    pub verified: bool,
    /// Verified, changed since it was verified, or never verified.
    pub state: crate::manifest::VerifiedState,
    /// The manifest's SHA-256.
    pub sha256: Option<String>,
    /// The SHA-256 of the model's definition, from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// Whether the definition differs from the one of the dataset's previous backup in the folder; `None` when
    /// either has no fingerprint, or there is no previous backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_changed: Option<bool>,
    /// When it was last drilled, and whether that drill passed (from the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drilled_at: Option<String>,
    /// Whether the last drill passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_passed: Option<bool>,
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
    /// What the bytes that arrived were checked against.
    pub verification: TransferVerification,
    /// The preflight's warnings (copy), or that it did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `restore --all`: one report of every dataset's restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreAllOutput {
    /// One per dataset, by name.
    pub results: Vec<RestoreAllResult>,
    /// How many restored and matched their backups.
    pub restored: usize,
    /// How many did not.
    pub failed: usize,
}

/// One dataset of `restore --all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreAllResult {
    /// The dataset.
    pub dataset: String,
    /// Its restore's report, when it ran.
    pub restore: Option<RestoreOutput>,
    /// Why it did not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl RestoreAllResult {
    /// Restored, and the restored model matches its backup.
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.restore.as_ref().is_some_and(|r| r.exit_code() == exit_codes::SUCCESS)
    }
}

impl CommandOutput for RestoreAllOutput {
    /// 0 when every dataset restored and matched; 6 (partial) when some did; else the first failure's code.
    fn exit_code(&self) -> i32 {
        if self.failed == 0 {
            return exit_codes::SUCCESS;
        }
        if self.restored > 0 {
            return exit_codes::PARTIAL;
        }
        self.results
            .iter()
            .find_map(|r| match (&r.error, &r.restore) {
                (Some(e), _) => Some(e.exit_code),
                (None, Some(out)) => Some(out.exit_code()),
                _ => None,
            })
            .unwrap_or(exit_codes::FAILURE)
    }
}

/// `restore --all --dry-run`: every dataset's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreAllPlanOutput {
    /// Always true.
    pub dry_run: bool,
    /// One plan per dataset.
    pub plans: Vec<RestorePlanOutput>,
}

impl CommandOutput for RestoreAllPlanOutput {
    fn exit_code(&self) -> i32 {
        exit_codes::SUCCESS
    }
}

/// `list --all-workspaces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewOutput {
    /// Every dataset, workspace by workspace.
    pub datasets: Vec<DatasetOverview>,
    /// How many are older than `--older-than` (or have no verified backup).
    pub stale: usize,
    /// Workspaces that could not be looked at, and why.
    pub errors: Vec<String>,
}

/// One dataset in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetOverview {
    /// The workspace.
    pub workspace: String,
    /// The dataset.
    pub dataset: String,
    /// Its newest verified backup.
    pub newest_verified: Option<String>,
    /// When that backup was made.
    pub time: Option<String>,
    /// Its age in hours.
    pub age_hours: Option<f64>,
    /// Its size.
    pub size: Option<u64>,
    /// How many backups of the dataset the folder holds.
    pub backups: usize,
    /// When one of its backups was last drilled.
    pub last_drill: Option<String>,
    /// Whether that drill passed.
    pub drill_passed: Option<bool>,
    /// Older than `--older-than`, or without a verified backup.
    pub stale: bool,
}

impl CommandOutput for OverviewOutput {
    /// 1 when a dataset is stale (as a monitor's check fails), else 0.
    fn exit_code(&self) -> i32 {
        if self.stale > 0 || !self.errors.is_empty() {
            exit_codes::FAILURE
        } else {
            exit_codes::SUCCESS
        }
    }
}

/// `drill`: `{"results": [...], "restorable", "failed"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillOutput {
    /// One per dataset drilled.
    pub results: Vec<DrillResult>,
    /// How many restored and matched their backup.
    pub restorable: usize,
    /// How many did not.
    pub failed: usize,
}

/// One dataset's drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillResult {
    /// The workspace whose backup was drilled.
    pub workspace: String,
    /// The dataset.
    pub dataset: String,
    /// The backup restored, when one was.
    pub file: Option<String>,
    /// Whether it restored and the restored model matched the manifest (tables, roles and row counts).
    pub restorable: bool,
    /// Whether the tables could be compared.
    pub tables_compared: bool,
    /// Tables missing from or extra in the restored model (`missing: T`, `extra: T`).
    pub tables_differing: Vec<String>,
    /// Roles that differ (member counts, missing roles).
    pub roles_differing: Vec<String>,
    /// Tables whose row count differs from the one recorded at backup.
    pub row_counts_differing: Vec<String>,
    /// When the drill began (RFC 3339 UTC): its scratch model's name and the manifest's `drilled_at` carry it.
    #[serde(default)]
    pub drilled_at: String,
    /// Whether the scratch model is gone again.
    pub scratch_removed: bool,
    /// How long the drill took.
    pub duration_ms: u64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl CommandOutput for DrillOutput {
    /// An integrity failure (5) when a backup did not restore or did not match.
    fn exit_code(&self) -> i32 {
        if self.failed == 0 { exit_codes::SUCCESS } else { exit_codes::INTEGRITY }
    }
}

/// `definition`: the JSON shape is the definition's own (`compatibility_level`, `tables`, `relationships`,
/// `roles`, `expressions`, …) with `file` and `fingerprint` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionOutput {
    /// The backup read.
    pub file: String,
    /// The definition.
    #[serde(flatten)]
    pub definition: abf_format::Definition,
    /// Its fingerprint.
    pub fingerprint: abf_format::Fingerprint,
}

/// `diff`: what changed from `a` to `b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffOutput {
    /// The first backup.
    pub a: String,
    /// The second.
    pub b: String,
    /// Whether the definitions are the same.
    pub equal: bool,
    /// Every difference.
    pub changes: Vec<abf_format::Change>,
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
    /// Manifests whose `.abf` is gone (a deletion interrupted between the two files); with `--apply` they are
    /// deleted too (and listed in `deleted`). Not looked for with `--dataset`: a manifest without its backup cannot
    /// be told to be that dataset's without reading it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphan_manifests: Vec<String>,
}

/// An upload that never completed, found by `prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleUpload {
    /// Where it lies.
    pub location: String,
    /// Its size, where the store tells it (ADLS lists only flushed bytes, and an upload in progress has flushed
    /// none, so its size is unknown there).
    pub size: Option<u64>,
    /// When it was last changed (RFC 3339), when known.
    pub last_modified: Option<String>,
}

impl CommandOutput for PruneOutput {
    /// Success, partial when some deletions failed, or the first failure's code when every deletion failed.
    fn exit_code(&self) -> i32 {
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

impl CommandOutput for DoctorOutput {
    /// Preflight blocked when any finding blocks.
    fn exit_code(&self) -> i32 {
        if self.blocked { exit_codes::PREFLIGHT_BLOCKED } else { exit_codes::SUCCESS }
    }
}

impl CommandOutput for RestoreOutput {
    /// An integrity failure when the restored model's tables, roles or row counts differ from the manifest's; an
    /// unknown outcome
    /// when they could not be listed to be compared.
    fn exit_code(&self) -> i32 {
        if !(self.missing_tables.is_empty()
            && self.extra_tables.is_empty()
            && self.role_differences.is_empty()
            && self.row_count_differences.is_empty())
        {
            exit_codes::INTEGRITY
        } else if self.comparison_unknown {
            exit_codes::FAILURE
        } else {
            exit_codes::SUCCESS
        }
    }
}

impl CommandOutput for DefinitionOutput {
    fn exit_code(&self) -> i32 {
        exit_codes::SUCCESS
    }
}

impl CommandOutput for DiffOutput {
    /// 0 when the definitions are equal, 1 when they differ, as `diff` does.
    fn exit_code(&self) -> i32 {
        if self.equal { exit_codes::SUCCESS } else { exit_codes::FAILURE }
    }
}

impl CommandOutput for VerifyOutput {
    /// An integrity failure when anything checked does not hold.
    fn exit_code(&self) -> i32 {
        if self.valid { exit_codes::SUCCESS } else { exit_codes::INTEGRITY }
    }
}

impl CommandOutput for abf_format::Report {
    /// `inspect --json` prints the container report itself: an integrity failure when it is not whole. An encrypted
    /// backup with nothing else wrong is not damaged: it is reported `encrypted` (and not `valid`, as it could not be
    /// checked past its header page), and the command succeeds.
    fn exit_code(&self) -> i32 {
        if self.valid || self.locked() { exit_codes::SUCCESS } else { exit_codes::INTEGRITY }
    }
}

/// Reports whose command either did all it said or failed as a whole (an error, with its own code).
macro_rules! succeeds_when_reported {
    ($($t:ty),* $(,)?) => {
        $(impl CommandOutput for $t {
            /// Success: a failure is an error, not this report.
            fn exit_code(&self) -> i32 {
                exit_codes::SUCCESS
            }
        })*
    };
}

succeeds_when_reported!(
    ListOutput,
    TransferOutput,
    DryRunOutput,
    StorageChange,
    Vec<StorageStatus>,
    Written
);

/// A command whose output is the text it wrote (shell completions, the man page), not a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written;

impl CommandOutput for ErrorOutput {
    /// The error's own code.
    fn exit_code(&self) -> i32 {
        self.error.exit_code
    }
}

impl ErrorOutput {
    /// A command line that does not parse (the text is the parser's own).
    pub fn usage(message: String) -> ErrorOutput {
        ErrorOutput {
            error: ErrorInfo {
                kind: ErrorKind::Usage,
                message,
                code: None,
                exit_code: exit_codes::USAGE,
                service: None,
                http_status: None,
                service_code: None,
                rule: None,
                findings: Vec::new(),
            },
        }
    }
}

/// `run`: each policy's backups, verifications and prunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOutput {
    /// When the run began (RFC 3339, UTC).
    pub started: String,
    /// When it ended.
    pub finished: String,
    /// Its wall time, in milliseconds.
    pub duration_ms: u64,
    /// The share of the tenant this run took (`--shard K/N`), when split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// One entry per policy, in the config file's order.
    pub policies: Vec<PolicyRun>,
    /// Datasets backed up and verified by this run.
    pub backed_up: usize,
    /// Datasets not backed up again (done this period, or unchanged).
    pub skipped: usize,
    /// Failures of any step (a backup, a verification, a deletion, a policy that could not start).
    pub failed: usize,
}

/// One policy of a `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRun {
    /// The policy's name.
    pub name: String,
    /// Its backups (`None` when they could not start; then `error` says why).
    pub backup: Option<BackupOutput>,
    /// The container checks of its new backups (`verify-container = true`).
    pub verified: Vec<VerifyOutput>,
    /// Verifications that could not run.
    pub verify_failed: Vec<ErrorInfo>,
    /// Its retention, applied once per workspace (empty when the policy has none).
    pub pruned: Vec<PruneOutput>,
    /// Why the policy could not run at all, or a prune could not start.
    pub errors: Vec<ErrorInfo>,
    /// Its wall time, in milliseconds.
    pub duration_ms: u64,
    /// Its drills (`drill = "week"`): one per dataset with a verified backup, drilled or not due (empty when the
    /// policy has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<PolicyDrill>,
}

/// A dataset a policy drills: drilled in this run (`drill`), or not due because a drill of it passed in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDrill {
    /// The workspace.
    pub workspace: String,
    /// The dataset.
    pub dataset: String,
    /// When its last passed drill was (this run's when it passed), RFC 3339 UTC; `None` when none ever passed.
    pub last_passed: Option<String>,
    /// This run's drill; `None` when it was not due.
    pub drill: Option<DrillResult>,
}

impl DrillResult {
    /// What the restored model did not match: its tables, then its roles, then its row counts.
    pub fn differences(&self) -> impl Iterator<Item = &String> {
        self.tables_differing.iter().chain(&self.roles_differing).chain(&self.row_counts_differing)
    }
}

impl PolicyDrill {
    /// This run's drill, when it did not pass.
    pub fn failed(&self) -> Option<&DrillResult> {
        self.drill.as_ref().filter(|d| !d.restorable)
    }

    /// What went wrong with this run's drill, in one sentence; `None` when it passed or was not due.
    pub fn failure(&self) -> Option<String> {
        let d = self.failed()?;
        let why = match &d.error {
            Some(e) => e.message.clone(),
            None => d.differences().cloned().collect::<Vec<_>>().join("; "),
        };
        Some(format!(
            "the drill of '{}' in '{}' failed: {}",
            self.dataset,
            self.workspace,
            if why.is_empty() { "the restored model could not be compared".into() } else { why }
        ))
    }
}

impl RunOutput {
    /// Every failure of the run, first to last.
    pub fn failures(&self) -> Vec<ErrorInfo> {
        let mut out = Vec::new();
        for p in &self.policies {
            out.extend(p.errors.iter().cloned());
            if let Some(b) = &p.backup {
                out.extend(b.results.iter().filter_map(|r| r.error().cloned()));
            }
            for v in p.verified.iter().filter(|v| !v.valid) {
                out.push(ErrorInfo::from(&Error::Integrity(format!(
                    "{} did not pass verification after its backup",
                    v.file
                ))));
            }
            out.extend(p.verify_failed.iter().cloned());
            out.extend(p.pruned.iter().flat_map(|pr| pr.failed.iter().cloned()));
            out.extend(
                p.drills
                    .iter()
                    .filter_map(|d| d.failure())
                    .map(|f| ErrorInfo::from(&Error::Integrity(f))),
            );
        }
        out
    }
}

impl CommandOutput for RunOutput {
    /// Success; partial (6) when some step failed and something succeeded; else the first failure's code.
    fn exit_code(&self) -> i32 {
        let failures = self.failures();
        bulk_exit_code(self.backed_up + self.skipped, failures.iter())
    }
}
