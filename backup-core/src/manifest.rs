//! The manifest written beside every backup: what was backed up, when, with which options, its size and SHA-256,
//! and the model's tables as the server listed them.

use serde::{Deserialize, Serialize};

/// The `format` value of manifests this version writes.
pub const MANIFEST_FORMAT: &str = "pbi-backup/manifest/1";
/// Manifests are named `<file>` + this.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// A name with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedId {
    /// Name.
    pub name: String,
    /// Object id, when known.
    pub id: Option<String>,
}

/// The options the backup was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestOptions {
    /// ApplyCompression.
    pub apply_compression: bool,
    /// AllowOverwrite.
    pub allow_overwrite: bool,
    /// Whether a password was given (the password itself is never written).
    pub encrypted: bool,
    /// Security, when set (Analysis Services: restore must use the same).
    pub security: Option<String>,
    /// ASSL or TMSL.
    pub syntax: String,
}

/// A backup manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The pbi-backup version that wrote it.
    pub tool_version: String,
    /// Where the backup was taken from (endpoint, without secrets).
    pub endpoint: String,
    /// The workspace (or server).
    pub workspace: NamedId,
    /// The dataset.
    pub dataset: NamedId,
    /// The backup file name.
    pub file: String,
    /// When the server finished the backup (RFC 3339, UTC).
    pub created: String,
    /// Size in bytes, as read back from storage.
    pub size: u64,
    /// SHA-256 (lowercase hex), as read back from storage.
    pub sha256: String,
    /// Options.
    pub options: ManifestOptions,
    /// The model's tables as the server listed them before the backup, sorted.
    pub tables: Vec<String>,
    /// How the file came to its folder when pbi-backup put it there rather than the service: `copy` or `upload`.
    /// Such a file says nothing of whether the workspace's storage link supports backup (SEED-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_by: Option<String>,
}

impl Manifest {
    /// The manifest's file name for a backup file.
    pub fn name_for(file: &str) -> String {
        format!("{file}{MANIFEST_SUFFIX}")
    }
}
