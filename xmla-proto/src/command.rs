//! The backup and restore commands, their options, and their ASSL form.
//!
//! A command is one value whatever syntax carries it: [`Backup`] and [`Restore`] are parsed from ASSL and from TMSL
//! into the same types, and [`Syntax`] records which one a message used.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::password::Password;
use crate::writer::XmlWriter;
use crate::xml::{Element, check_chars, check_name, parse_bool, preview};

/// The ASSL engine namespace of `Backup` and `Restore`.
pub const ENGINE_NS: &str = "http://schemas.microsoft.com/analysisservices/2003/engine";
/// Namespace of `ReadWriteMode`.
pub const DDL100_NS: &str = "http://schemas.microsoft.com/analysisservices/2008/engine/100";
/// Namespace of `DbStorageLocation`.
pub const DDL100_100_NS: &str = "http://schemas.microsoft.com/analysisservices/2008/engine/100/100";

/// Which language carries a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// Analysis Services Scripting Language: XML elements inside `<Command>`.
    Assl,
    /// Tabular Model Scripting Language: JSON inside `<Command><Statement>`.
    Tmsl,
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Syntax::Assl => "ASSL",
            Syntax::Tmsl => "TMSL",
        })
    }
}

/// What a backup or restore does with roles and their members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// Roles without their members (the server's default).
    SkipMembership,
    /// Roles and members.
    CopyAll,
    /// No security definitions.
    IgnoreSecurity,
}

impl Security {
    /// The ASSL spelling.
    pub fn assl(self) -> &'static str {
        match self {
            Security::SkipMembership => "SkipMembership",
            Security::CopyAll => "CopyAll",
            Security::IgnoreSecurity => "IgnoreSecurity",
        }
    }

    /// The TMSL spelling. Only `copyAll` appears in Microsoft's examples; the other two follow the same camel case
    /// (unconfirmed, so the parser takes either casing).
    pub fn tmsl(self) -> &'static str {
        match self {
            Security::SkipMembership => "skipMembership",
            Security::CopyAll => "copyAll",
            Security::IgnoreSecurity => "ignoreSecurity",
        }
    }
}

impl FromStr for Security {
    type Err = Error;
    /// Takes the ASSL and the TMSL spellings, in any letter case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skipmembership" => Ok(Security::SkipMembership),
            "copyall" => Ok(Security::CopyAll),
            "ignoresecurity" => Ok(Security::IgnoreSecurity),
            _ => Err(Error::InvalidValue {
                field: "Security",
                preview: preview(s),
                reason: "use SkipMembership, CopyAll or IgnoreSecurity".into(),
            }),
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.assl())
    }
}

/// Whether a restored database accepts writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadWriteMode {
    /// The default.
    ReadWrite,
    /// Read-only.
    ReadOnly,
    /// Read-only, exclusive to this server. TMSL only.
    ReadOnlyExclusive,
}

impl ReadWriteMode {
    /// The ASSL spelling, if ASSL has one.
    pub fn assl(self) -> Option<&'static str> {
        match self {
            ReadWriteMode::ReadWrite => Some("ReadWrite"),
            ReadWriteMode::ReadOnly => Some("ReadOnly"),
            ReadWriteMode::ReadOnlyExclusive => None,
        }
    }

    /// The TMSL spelling.
    pub fn tmsl(self) -> &'static str {
        match self {
            ReadWriteMode::ReadWrite => "readWrite",
            ReadWriteMode::ReadOnly => "readOnly",
            ReadWriteMode::ReadOnlyExclusive => "readOnlyExclusive",
        }
    }
}

impl FromStr for ReadWriteMode {
    type Err = Error;
    /// Takes the ASSL and TMSL spellings, in any letter case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "readwrite" => Ok(ReadWriteMode::ReadWrite),
            "readonly" => Ok(ReadWriteMode::ReadOnly),
            "readonlyexclusive" => Ok(ReadWriteMode::ReadOnlyExclusive),
            _ => Err(Error::InvalidValue {
                field: "ReadWriteMode",
                preview: preview(s),
                reason: "use ReadWrite, ReadOnly or ReadOnlyExclusive".into(),
            }),
        }
    }
}

impl fmt::Display for ReadWriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tmsl())
    }
}

/// A backup `Location` (multidimensional remote partitions; ASSL only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupLocation {
    /// Backup file for the remote partitions.
    pub file: String,
    /// The remote data source.
    pub data_source_id: Option<String>,
}

/// A restore `Folder` remapping (ASSL only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FolderMapping {
    /// Folder recorded in the backup.
    pub original: String,
    /// Folder to use instead.
    pub new: String,
}

/// A restore `Location` (multidimensional remote partitions; ASSL only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreLocation {
    /// Backup file for the remote partitions.
    pub file: Option<String>,
    /// The data source.
    pub data_source_id: Option<String>,
    /// `Remote` or `Local`.
    pub data_source_type: Option<String>,
    /// Connection string of the remote instance.
    pub connection_string: Option<String>,
    /// Folder remappings.
    pub folders: Vec<FolderMapping>,
}

/// A `Backup` command. Defaults are the server's: compression on, overwrite off, no password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// In ASSL the database **ID** (`Object/DatabaseID`); in TMSL the database **name**.
    pub database: String,
    /// The backup file, relative to the server's backup folder (on Power BI: the workspace's folder).
    pub file: String,
    /// ASSL only; TMSL backup has no `security`.
    pub security: Option<Security>,
    /// Compress the backup (default true).
    pub apply_compression: bool,
    /// Overwrite an existing file (default false).
    pub allow_overwrite: bool,
    /// Encrypt the backup with this password.
    pub password: Option<Password>,
    /// Back up remote partitions too (multidimensional, ASSL only; needs at least one location).
    pub backup_remote_partitions: bool,
    /// Locations of remote partitions (ASSL only).
    pub locations: Vec<BackupLocation>,
}

impl Backup {
    /// A backup of `database` into `file` with every option at its default.
    pub fn new(database: impl Into<String>, file: impl Into<String>) -> Self {
        Backup {
            database: database.into(),
            file: file.into(),
            security: None,
            apply_compression: true,
            allow_overwrite: false,
            password: None,
            backup_remote_partitions: false,
            locations: Vec::new(),
        }
    }

    pub(crate) fn validate(&self, syntax: Syntax) -> Result<()> {
        let Backup {
            database,
            file,
            security,
            apply_compression: _,
            allow_overwrite: _,
            password,
            backup_remote_partitions,
            locations,
        } = self;
        check_name(if syntax == Syntax::Assl { "DatabaseID" } else { "database" }, database)?;
        check_name("File", file)?;
        if let Some(p) = password {
            check_chars("Password", p.expose()).map_err(|_| password_chars_error())?;
        }
        if syntax == Syntax::Tmsl {
            if security.is_some() {
                return Err(Error::InvalidCommand(
                    "a TMSL backup has no security option; send it as ASSL or drop the option"
                        .into(),
                ));
            }
            if *backup_remote_partitions || !locations.is_empty() {
                return Err(Error::InvalidCommand(
                    "remote partitions and locations exist only in ASSL backups; send it as ASSL"
                        .into(),
                ));
            }
        }
        if *backup_remote_partitions && locations.is_empty() {
            return Err(Error::InvalidCommand(
                "BackupRemotePartitions needs at least one location; add one or turn it off".into(),
            ));
        }
        for BackupLocation { file, data_source_id } in locations {
            check_name("Location/File", file)?;
            if let Some(d) = data_source_id {
                check_chars("Location/DataSourceID", d)?;
            }
        }
        Ok(())
    }

    pub(crate) fn write_assl(&self, w: &mut XmlWriter) {
        let Backup {
            database,
            file,
            security,
            apply_compression,
            allow_overwrite,
            password,
            backup_remote_partitions,
            locations,
        } = self;
        w.start("Backup", &[("xmlns", ENGINE_NS)]);
        w.start("Object", &[]);
        w.leaf("DatabaseID", database);
        w.end("Object");
        w.leaf("File", file);
        if let Some(s) = security {
            w.leaf("Security", s.assl());
        }
        if !apply_compression {
            w.leaf("ApplyCompression", "false");
        }
        if *allow_overwrite {
            w.leaf("AllowOverwrite", "true");
        }
        if let Some(p) = password {
            w.leaf("Password", p.expose());
        }
        if *backup_remote_partitions {
            w.leaf("BackupRemotePartitions", "true");
        }
        if !locations.is_empty() {
            w.start("Locations", &[]);
            for BackupLocation { file, data_source_id } in locations {
                w.start("Location", &[]);
                w.leaf("File", file);
                if let Some(d) = data_source_id {
                    w.leaf("DataSourceID", d);
                }
                w.end("Location");
            }
            w.end("Locations");
        }
        w.end("Backup");
    }

    pub(crate) fn parse_assl(el: &Element) -> Result<Backup> {
        let mut backup = Backup::new("", "");
        let mut seen = Seen::new("Backup");
        let mut database = None;
        let mut file = None;
        for child in &el.children {
            seen.once(&child.name)?;
            match child.name.as_str() {
                "Object" => {
                    let id = child.child("DatabaseID").ok_or_else(|| {
                        Error::Shape(
                            "<Backup><Object> must name a database with <DatabaseID>".into(),
                        )
                    })?;
                    if let Some(other) = child.children.iter().find(|c| c.name != "DatabaseID") {
                        return Err(Error::Shape(format!(
                            "<Backup><Object> may only hold <DatabaseID>: a backup is of a whole database, not of <{}>",
                            other.name
                        )));
                    }
                    database = Some(id.simple_text()?.to_owned());
                }
                "File" => file = Some(child.simple_text()?.to_owned()),
                "Security" => backup.security = Some(child.simple_text()?.parse()?),
                "ApplyCompression" => {
                    backup.apply_compression = parse_bool("ApplyCompression", child.simple_text()?)?
                }
                "AllowOverwrite" => {
                    backup.allow_overwrite = parse_bool("AllowOverwrite", child.simple_text()?)?
                }
                "Password" => backup.password = non_empty_password(child.simple_text()?),
                "BackupRemotePartitions" => {
                    backup.backup_remote_partitions =
                        parse_bool("BackupRemotePartitions", child.simple_text()?)?
                }
                "Locations" => {
                    for loc in &child.children {
                        if loc.name != "Location" {
                            return Err(unknown_child("Locations", &loc.name));
                        }
                        let mut l = BackupLocation::default();
                        let mut seen = Seen::new("Location");
                        for c in &loc.children {
                            seen.once(&c.name)?;
                            match c.name.as_str() {
                                "File" => l.file = c.simple_text()?.to_owned(),
                                "DataSourceID" => {
                                    l.data_source_id = Some(c.simple_text()?.to_owned())
                                }
                                other => return Err(unknown_child("Location", other)),
                            }
                        }
                        backup.locations.push(l);
                    }
                }
                other => return Err(unknown_child("Backup", other)),
            }
        }
        backup.database = database.ok_or_else(|| missing("Backup", "Object"))?;
        backup.file = file.ok_or_else(|| missing("Backup", "File"))?;
        Ok(backup)
    }
}

/// A `Restore` command. Defaults are the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// The backup file, relative to the server's backup folder (on Power BI: the workspace's folder).
    pub file: String,
    /// Name for the restored database; `None` keeps the name stored in the backup. TMSL requires it.
    pub database_name: Option<String>,
    /// ID for the restored database (ASSL only).
    pub database_id: Option<String>,
    /// Must match the option used at backup time (Azure Analysis Services).
    pub security: Option<Security>,
    /// Overwrite an existing database of that name.
    pub allow_overwrite: bool,
    /// Password of an encrypted backup.
    pub password: Option<Password>,
    /// Remote partition locations (ASSL only).
    pub locations: Vec<RestoreLocation>,
    /// On-premises storage folder.
    pub db_storage_location: Option<String>,
    /// Read-write mode of the restored database.
    pub read_write_mode: Option<ReadWriteMode>,
    /// Power BI only, TMSL only: drop roles that lack read permission instead of failing.
    pub ignore_incompatibilities: bool,
    /// Power BI only, TMSL only: restore with the existing model unloaded when memory is short.
    pub force_restore: bool,
}

impl Restore {
    /// A restore of `file` with every option at its default.
    pub fn new(file: impl Into<String>) -> Self {
        Restore {
            file: file.into(),
            database_name: None,
            database_id: None,
            security: None,
            allow_overwrite: false,
            password: None,
            locations: Vec::new(),
            db_storage_location: None,
            read_write_mode: None,
            ignore_incompatibilities: false,
            force_restore: false,
        }
    }

    /// The syntax this restore must be written in: TMSL when it asks for an option that exists only there, else
    /// ASSL.
    pub fn required_syntax(&self) -> Syntax {
        if self.ignore_incompatibilities
            || self.force_restore
            || self.read_write_mode == Some(ReadWriteMode::ReadOnlyExclusive)
        {
            Syntax::Tmsl
        } else {
            Syntax::Assl
        }
    }

    pub(crate) fn validate(&self, syntax: Syntax) -> Result<()> {
        let Restore {
            file,
            database_name,
            database_id,
            security: _,
            allow_overwrite: _,
            password,
            locations,
            db_storage_location,
            read_write_mode,
            ignore_incompatibilities,
            force_restore,
        } = self;
        check_name("File", file)?;
        if let Some(n) = database_name {
            check_name("DatabaseName", n)?;
        }
        if let Some(id) = database_id {
            check_name("DatabaseID", id)?;
        }
        if let Some(p) = password {
            check_chars("Password", p.expose()).map_err(|_| password_chars_error())?;
        }
        if let Some(d) = db_storage_location {
            check_chars("DbStorageLocation", d)?;
        }
        match syntax {
            Syntax::Assl => {
                let mut tmsl_only = Vec::new();
                if *ignore_incompatibilities {
                    tmsl_only.push("ignoreIncompatibilities");
                }
                if *force_restore {
                    tmsl_only.push("forceRestore");
                }
                if *read_write_mode == Some(ReadWriteMode::ReadOnlyExclusive) {
                    tmsl_only.push("readWriteMode readOnlyExclusive");
                }
                if !tmsl_only.is_empty() {
                    return Err(Error::InvalidCommand(format!(
                        "{} exist only in TMSL; send the restore as TMSL",
                        tmsl_only.join(" and ")
                    )));
                }
            }
            Syntax::Tmsl => {
                if database_name.is_none() {
                    return Err(Error::InvalidCommand(
                        "a TMSL restore must name the database; give a database name".into(),
                    ));
                }
                if database_id.is_some() || !locations.is_empty() {
                    return Err(Error::InvalidCommand(
                        "DatabaseID and locations exist only in ASSL restores; send it as ASSL"
                            .into(),
                    ));
                }
            }
        }
        for RestoreLocation {
            file,
            data_source_id,
            data_source_type,
            connection_string,
            folders,
        } in locations
        {
            for (field, v) in [
                ("Location/File", file),
                ("Location/DataSourceID", data_source_id),
                ("Location/DataSourceType", data_source_type),
                ("Location/ConnectionString", connection_string),
            ] {
                if let Some(v) = v {
                    check_chars(field, v)?;
                }
            }
            for FolderMapping { original, new } in folders {
                check_chars("Folder/Original", original)?;
                check_chars("Folder/New", new)?;
            }
        }
        Ok(())
    }

    pub(crate) fn write_assl(&self, w: &mut XmlWriter) {
        let Restore {
            file,
            database_name,
            database_id,
            security,
            allow_overwrite,
            password,
            locations,
            db_storage_location,
            read_write_mode,
            ignore_incompatibilities: _,
            force_restore: _,
        } = self;
        w.start("Restore", &[("xmlns", ENGINE_NS)]);
        if let Some(n) = database_name {
            w.leaf("DatabaseName", n);
        }
        if let Some(id) = database_id {
            w.leaf("DatabaseID", id);
        }
        w.leaf("File", file);
        if let Some(s) = security {
            w.leaf("Security", s.assl());
        }
        if *allow_overwrite {
            w.leaf("AllowOverwrite", "true");
        }
        if let Some(p) = password {
            w.leaf("Password", p.expose());
        }
        if !locations.is_empty() {
            w.start("Locations", &[]);
            for RestoreLocation {
                file,
                data_source_id,
                data_source_type,
                connection_string,
                folders,
            } in locations
            {
                w.start("Location", &[]);
                if let Some(v) = connection_string {
                    w.leaf("ConnectionString", v);
                }
                if let Some(v) = data_source_id {
                    w.leaf("DataSourceID", v);
                }
                if let Some(v) = data_source_type {
                    w.leaf("DataSourceType", v);
                }
                if let Some(v) = file {
                    w.leaf("File", v);
                }
                if !folders.is_empty() {
                    w.start("Folders", &[]);
                    for FolderMapping { original, new } in folders {
                        w.start("Folder", &[]);
                        w.leaf("Original", original);
                        w.leaf("New", new);
                        w.end("Folder");
                    }
                    w.end("Folders");
                }
                w.end("Location");
            }
            w.end("Locations");
        }
        if let Some(d) = db_storage_location {
            w.leaf_with("ddl100_100:DbStorageLocation", &[("xmlns:ddl100_100", DDL100_100_NS)], d);
        }
        if let Some(m) = read_write_mode {
            let text = m.assl().expect("validate refuses a mode ASSL cannot carry");
            w.leaf_with("ddl100:ReadWriteMode", &[("xmlns:ddl100", DDL100_NS)], text);
        }
        w.end("Restore");
    }

    pub(crate) fn parse_assl(el: &Element) -> Result<Restore> {
        let mut r = Restore::new("");
        let mut file = None;
        let mut seen = Seen::new("Restore");
        for child in &el.children {
            seen.once(&child.name)?;
            match child.name.as_str() {
                "DatabaseName" => {
                    // An empty DatabaseName means "the name stored in the backup", as if it were absent.
                    let n = child.simple_text()?;
                    r.database_name = (!n.is_empty()).then(|| n.to_owned());
                }
                "DatabaseID" => r.database_id = Some(child.simple_text()?.to_owned()),
                "File" => file = Some(child.simple_text()?.to_owned()),
                "Security" => r.security = Some(child.simple_text()?.parse()?),
                "AllowOverwrite" => {
                    r.allow_overwrite = parse_bool("AllowOverwrite", child.simple_text()?)?
                }
                "Password" => r.password = non_empty_password(child.simple_text()?),
                "DbStorageLocation" => {
                    r.db_storage_location = Some(child.simple_text()?.to_owned())
                }
                "ReadWriteMode" => {
                    let mode: ReadWriteMode = child.simple_text()?.parse()?;
                    if mode.assl().is_none() {
                        return Err(Error::InvalidValue {
                            field: "ReadWriteMode",
                            preview: preview(child.simple_text()?),
                            reason: "ASSL takes ReadWrite or ReadOnly".into(),
                        });
                    }
                    r.read_write_mode = Some(mode);
                }
                "Locations" => {
                    for loc in &child.children {
                        if loc.name != "Location" {
                            return Err(unknown_child("Locations", &loc.name));
                        }
                        r.locations.push(parse_restore_location(loc)?);
                    }
                }
                other => return Err(unknown_child("Restore", other)),
            }
        }
        r.file = file.ok_or_else(|| missing("Restore", "File"))?;
        Ok(r)
    }
}

fn parse_restore_location(loc: &Element) -> Result<RestoreLocation> {
    let mut l = RestoreLocation::default();
    let mut seen = Seen::new("Location");
    for c in &loc.children {
        seen.once(&c.name)?;
        match c.name.as_str() {
            "File" => l.file = Some(c.simple_text()?.to_owned()),
            "DataSourceID" => l.data_source_id = Some(c.simple_text()?.to_owned()),
            "DataSourceType" => l.data_source_type = Some(c.simple_text()?.to_owned()),
            "ConnectionString" => l.connection_string = Some(c.simple_text()?.to_owned()),
            "Folders" => {
                for f in &c.children {
                    if f.name != "Folder" {
                        return Err(unknown_child("Folders", &f.name));
                    }
                    let original =
                        f.child("Original").ok_or_else(|| missing("Folder", "Original"))?;
                    let new = f.child("New").ok_or_else(|| missing("Folder", "New"))?;
                    l.folders.push(FolderMapping {
                        original: original.simple_text()?.to_owned(),
                        new: new.simple_text()?.to_owned(),
                    });
                }
            }
            other => return Err(unknown_child("Location", other)),
        }
    }
    Ok(l)
}

/// "If the Password element is not included or contains an empty string, the backup file is not encrypted."
fn non_empty_password(text: &str) -> Option<Password> {
    (!text.is_empty()).then(|| Password::new(text))
}

fn password_chars_error() -> Error {
    Error::InvalidValue {
        field: "Password",
        preview: crate::password::PASSWORD_MASK.into(),
        reason: "it holds a character XML 1.0 cannot carry; choose another password".into(),
    }
}

fn unknown_child(parent: &str, child: &str) -> Error {
    Error::Shape(format!("<{parent}> has no child element <{child}>"))
}

fn missing(parent: &str, child: &str) -> Error {
    Error::Shape(format!("<{parent}> is missing its required <{child}>"))
}

/// Refuses a child element that appears twice (the content models are `xs:all`: any order, each at most once).
struct Seen {
    parent: &'static str,
    names: Vec<String>,
}

impl Seen {
    fn new(parent: &'static str) -> Self {
        Seen { parent, names: Vec::new() }
    }

    fn once(&mut self, name: &str) -> Result<()> {
        if self.names.iter().any(|n| n == name) {
            return Err(Error::Shape(format!("<{}> holds <{name}> more than once", self.parent)));
        }
        self.names.push(name.to_owned());
        Ok(())
    }
}

/// One command inside `Execute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A backup, in either syntax.
    Backup(Backup, Syntax),
    /// A restore, in either syntax.
    Restore(Restore, Syntax),
    /// Any other `Statement`: MDX, DAX, DMV queries, other TMSL commands. Kept as text.
    Statement(String),
}

impl Command {
    /// A backup in ASSL (database named by ID), the form SSMS scripts.
    pub fn backup(backup: Backup) -> Self {
        Command::Backup(backup, Syntax::Assl)
    }

    /// A backup in TMSL (database named by name), the form Power BI's documentation and `Invoke-ASCmd` scripts use.
    pub fn backup_tmsl(backup: Backup) -> Self {
        Command::Backup(backup, Syntax::Tmsl)
    }

    /// A restore in the syntax its options need: TMSL for `ignoreIncompatibilities`, `forceRestore` or
    /// `readOnlyExclusive`, ASSL otherwise.
    pub fn restore(restore: Restore) -> Self {
        let syntax = restore.required_syntax();
        Command::Restore(restore, syntax)
    }

    /// A short description without secrets, e.g. `backup of 'Sales' to 'Sales.abf' (TMSL)`.
    pub fn describe(&self) -> String {
        match self {
            Command::Backup(b, s) => {
                format!("backup of {} to {} ({s})", preview(&b.database), preview(&b.file))
            }
            Command::Restore(r, s) => match &r.database_name {
                Some(n) => format!("restore of {} as {} ({s})", preview(&r.file), preview(n)),
                None => format!("restore of {} ({s})", preview(&r.file)),
            },
            Command::Statement(_) => "statement".into(),
        }
    }
}
