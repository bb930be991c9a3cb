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
    /// The model's tables could not be listed at backup: `tables` is empty because nothing is known, and a restore
    /// cannot compare them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tables_unknown: bool,
    /// The stored object whose bytes were hashed and matched, as the store identifies its version. "Verified"
    /// holds only while the stored file is still that version ([`Manifest::state`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_version: Option<StoredVersion>,
    /// The model's roles and how many members each had at backup; `None` when they were not listed (a manifest
    /// from before they were recorded, or a listing that failed), so a restore cannot compare them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleMembers>>,
    /// How many rows each table held, read from the service right after the backup (`XmlaClient::row_counts`);
    /// `None` when not read. A drill compares the restored model's counts with these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_counts: Option<std::collections::BTreeMap<String, u64>>,
    /// The model's column segments in memory at backup, in bytes (`XmlaClient::model_size`, a lower bound of the
    /// memory a restore needs); `None` when not read. A restore checks it against the target capacity (LATER-11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_size_bytes: Option<u64>,
    /// The model's `DATE_MODIFIED` (`DBSCHEMA_CATALOGS`) as the server wrote it, read before the backup; `None`
    /// when not read. `backup --if-changed` skips the model while the server still gives this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_modified: Option<String>,
    /// The last check that found the stored bytes not matching this manifest. It wins over an older success: the
    /// backup is not verified again until a later check of it passes (which clears this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<FailedCheck>,
    /// The fingerprint of the model's definition, read from the stored backup after it was made; `None` when it
    /// could not be read (an encrypted backup, a model below level 1200, a manifest from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<abf_format::Fingerprint>,
    /// When the backup was last drilled (restored as a scratch model and compared), RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drilled_at: Option<String>,
    /// Whether that drill passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_passed: Option<bool>,
}

/// A check of a stored backup that failed: when, what it found, and which stored version it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedCheck {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What did not hold, in words (the hash found and the one expected).
    pub found: String,
    /// The stored version that was read.
    pub version: StoredVersion,
}

impl Manifest {
    /// The manifest's file name for a backup file.
    pub fn name_for(file: &str) -> String {
        format!("{file}{MANIFEST_SUFFIX}")
    }
}

/// A role of a model and how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMembers {
    /// The role's name.
    pub name: String,
    /// How many members it has.
    pub members: usize,
}

/// What identifies one version of a stored file: its ETag, and its last-modified time (to the nanosecond, as the
/// store reports it; a local folder has no ETag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredVersion {
    /// The store's version tag.
    pub etag: Option<String>,
    /// RFC 3339 with the fraction the store gave.
    pub last_modified: Option<String>,
}

impl StoredVersion {
    /// The version of the file `meta` describes.
    pub fn of(meta: &adls_store::ObjectMeta) -> StoredVersion {
        // A listing and a read may quote the tag differently (`0x8D…` and `"0x8D…"`): compared without quotes.
        let etag =
            meta.etag.as_deref().map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned());
        StoredVersion {
            etag,
            last_modified: meta
                .last_modified
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        }
    }

    /// Whether `meta` is this version: by ETag when both have one, else by last-modified time; `false` when
    /// neither can be compared (nothing says it is the same object).
    pub fn matches(&self, meta: &adls_store::ObjectMeta) -> bool {
        let now = StoredVersion::of(meta);
        match (&self.etag, &now.etag) {
            (Some(a), Some(b)) => a == b,
            _ => self.last_modified.is_some() && self.last_modified == now.last_modified,
        }
    }
}

/// Whether a stored backup is the one its manifest's hash was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedState {
    /// Hashed and matched, and the stored object is still that version.
    Verified,
    /// Hashed and matched once, but the stored object has changed since (other bytes, of any size, may be there).
    ChangedSinceVerified,
    /// No manifest, or a manifest that records no verified version (run `verify` to check it).
    NeverVerified,
    /// The last check of this stored version found bytes that do not match the manifest.
    FailedVerification,
}

impl Manifest {
    /// The state of the stored file `meta` against this manifest.
    pub fn state(&self, meta: &adls_store::ObjectMeta) -> VerifiedState {
        if self.failed_check.as_ref().is_some_and(|f| f.version.matches(meta)) {
            return VerifiedState::FailedVerification;
        }
        match &self.verified_version {
            None => VerifiedState::NeverVerified,
            Some(v) if v.matches(meta) && self.size == meta.size => VerifiedState::Verified,
            Some(_) => VerifiedState::ChangedSinceVerified,
        }
    }
}

/// [`Manifest::state`], for a file that may have no manifest.
pub fn state(manifest: Option<&Manifest>, meta: &adls_store::ObjectMeta) -> VerifiedState {
    manifest.map_or(VerifiedState::NeverVerified, |m| m.state(meta))
}

/// Writes `manifest` beside the backup `file` (the one home of where a manifest goes and how it is written);
/// returns its path.
pub async fn write_manifest(
    store: &dyn adls_store::Store,
    file: &adls_store::StorePath,
    manifest: &Manifest,
) -> crate::error::Result<adls_store::StorePath> {
    let path =
        file.folder_path().join(&Manifest::name_for(file.file_name().unwrap_or_default()))?;
    let body = serde_json::to_vec_pretty(manifest).expect("plain data");
    adls_store::StoreExt::put(store, &path, body.into(), adls_store::PutMode::Overwrite).await?;
    Ok(path)
}

/// Reads the manifest of a backup file, `None` when there is none.
pub async fn read_manifest(
    store: &dyn adls_store::Store,
    file: &adls_store::StorePath,
) -> crate::error::Result<Option<Manifest>> {
    let name = Manifest::name_for(file.file_name().unwrap_or_default());
    let path = file.folder_path().join(&name)?;
    match adls_store::StoreExt::get_bytes(store, &path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            crate::error::Error::ManifestUnreadable {
                path: path.to_string(),
                reason: e.to_string(),
            }
        }),
        Err(adls_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
