//! TMSL `backup` and `restore`: JSON carried in `<Statement>`.
//!
//! The reader is strict where the schema is clear (unknown keys and wrongly typed values are refused, so the invalid
//! reference example V15 is rejected) and lenient where the sources disagree (the casing of `security` values).

use serde::{Deserialize, Serialize};

use crate::command::{Backup, ReadWriteMode, Restore, Security};
use crate::error::{Error, Result};
use crate::password::Password;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TmslBackup {
    database: String,
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow_overwrite: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apply_compression: Option<bool>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TmslRestore {
    database: String,
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow_overwrite: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    read_write_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    db_storage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ignore_incompatibilities: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    force_restore: Option<bool>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum TmslCommand {
    #[serde(rename = "backup")]
    Backup(TmslBackup),
    #[serde(rename = "restore")]
    Restore(TmslRestore),
}

/// Writes a backup as TMSL JSON. Options at their default are omitted.
pub(crate) fn write_backup(b: &Backup) -> String {
    let Backup {
        database,
        file,
        security: _,
        apply_compression,
        allow_overwrite,
        password,
        backup_remote_partitions: _,
        locations: _,
    } = b;
    let cmd = TmslCommand::Backup(TmslBackup {
        database: database.clone(),
        file: file.clone(),
        password: password.as_ref().map(|p| p.expose().to_owned()),
        allow_overwrite: allow_overwrite.then_some(true),
        apply_compression: (!apply_compression).then_some(false),
    });
    serde_json::to_string_pretty(&cmd).expect("plain data serialises")
}

/// Writes a restore as TMSL JSON. Options at their default are omitted.
pub(crate) fn write_restore(r: &Restore) -> String {
    let Restore {
        file,
        database_name,
        database_id: _,
        security,
        allow_overwrite,
        password,
        locations: _,
        db_storage_location,
        read_write_mode,
        ignore_incompatibilities,
        force_restore,
    } = r;
    let cmd = TmslCommand::Restore(TmslRestore {
        database: database_name.clone().unwrap_or_default(),
        file: file.clone(),
        password: password.as_ref().map(|p| p.expose().to_owned()),
        allow_overwrite: allow_overwrite.then_some(true),
        read_write_mode: read_write_mode.map(|m| m.tmsl().to_owned()),
        db_storage_location: db_storage_location.clone(),
        security: security.map(|s| s.tmsl().to_owned()),
        ignore_incompatibilities: ignore_incompatibilities.then_some(true),
        force_restore: force_restore.then_some(true),
    });
    serde_json::to_string_pretty(&cmd).expect("plain data serialises")
}

/// A parsed TMSL statement.
pub(crate) enum Parsed {
    Backup(Backup),
    Restore(Restore),
    /// Not a backup or restore: some other TMSL command, or not TMSL at all.
    Other,
}

/// Reads a statement. Text that is not a JSON object naming `backup` or `restore` is [`Parsed::Other`]; one that
/// names them but breaks the schema is an error.
pub(crate) fn parse(statement: &str) -> Result<Parsed> {
    let trimmed = statement.trim();
    if !trimmed.starts_with('{') {
        return Ok(Parsed::Other);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) else {
        return Ok(Parsed::Other);
    };
    let Some(obj) = value.as_object() else { return Ok(Parsed::Other) };
    let command: &'static str = if obj.contains_key("backup") {
        "backup"
    } else if obj.contains_key("restore") {
        "restore"
    } else {
        return Ok(Parsed::Other);
    };
    let err = |e: serde_json::Error| Error::Tmsl { command, message: e.to_string() };
    match serde_json::from_value::<TmslCommand>(value).map_err(err)? {
        TmslCommand::Backup(t) => {
            let mut b = Backup::new(t.database, t.file);
            b.password = t.password.filter(|p| !p.is_empty()).map(Password::new);
            b.allow_overwrite = t.allow_overwrite.unwrap_or(false);
            b.apply_compression = t.apply_compression.unwrap_or(true);
            Ok(Parsed::Backup(b))
        }
        TmslCommand::Restore(t) => {
            let mut r = Restore::new(t.file);
            r.database_name = Some(t.database);
            r.password = t.password.filter(|p| !p.is_empty()).map(Password::new);
            r.allow_overwrite = t.allow_overwrite.unwrap_or(false);
            r.read_write_mode =
                t.read_write_mode.map(|m| m.parse::<ReadWriteMode>()).transpose()?;
            r.db_storage_location = t.db_storage_location;
            r.security = t.security.map(|s| s.parse::<Security>()).transpose()?;
            r.ignore_incompatibilities = t.ignore_incompatibilities.unwrap_or(false);
            r.force_restore = t.force_restore.unwrap_or(false);
            Ok(Parsed::Restore(r))
        }
    }
}
