//! The inspection report: one serde type shared by the library, the CLI's `--json` output and the tests.

use serde::{Deserialize, Serialize};

/// What `inspect` found: the JSON shape
/// `{"valid", "format", "encrypted", "database", "tables", "files", "problems"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// True when no problem was found (an encrypted backup is never `valid`: it cannot be checked).
    pub valid: bool,
    /// The outer container and the framing of the model stream.
    pub format: Format,
    /// The header page's `EncryptionFlag`: the backup needs a password and was not read further.
    pub encrypted: bool,
    /// The database name and compatibility level, when found.
    pub database: Database,
    /// The model's user-visible tables (engine-internal `H$`/`R$`/`U$` tables left out), with their partitions.
    pub tables: Vec<Table>,
    /// Every VirtualDirectory entry, in stored order.
    pub files: Vec<FileEntry>,
    /// Every problem found; empty exactly when `valid` is true.
    pub problems: Vec<Problem>,
    /// The names of the model's shared Power Query expressions (`metadata.sqlitedb` table `Expression`), for the
    /// restore rule that a table and an expression must not share a name. Not part of the JSON shape.
    #[serde(skip)]
    pub expressions: Vec<String>,
    /// The model's roles (`metadata.sqlitedb` table `Role`), for the restore rule on role permissions. Not part of
    /// the JSON shape.
    #[serde(skip)]
    pub roles: Vec<Role>,
    /// The catalog's `Model.DefaultPowerBIDataSourceVersion` when the column exists (older models lack it), for the
    /// restore rule that only enhanced-metadata (V3) models restore. TOM's enum reads 0 PowerBI_V1, 1 PowerBI_V2,
    /// 2 PowerBI_V3; that the catalog stores the same numbers is unconfirmed. Not part of the JSON shape.
    #[serde(skip)]
    pub data_source_version: Option<i64>,
    /// The model's whole definition, when asked for ([`crate::InspectOptions::definition`]) and readable. Not part
    /// of `inspect`'s JSON shape.
    #[serde(skip)]
    pub definition: Option<crate::Definition>,
}

impl Report {
    /// Encrypted, and nothing found wrong in what could be read: unreadable without the password, not damaged.
    pub fn locked(&self) -> bool {
        self.encrypted && self.problems.iter().all(|p| p.kind == ProblemKind::Encrypted)
    }
}

/// A role of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role name.
    pub name: String,
    /// The catalog's `ModelPermission` value, when the catalog has the column. TOM's enum reads 1 None, 2 Read,
    /// 3 ReadRefresh, 4 Refresh, 5 Administrator; that the catalog stores the same numbers is unconfirmed.
    pub model_permission: Option<i64>,
}

impl Role {
    /// The role's permission, decoded from the catalog's number ([`ModelPermission::from_catalog`]).
    pub fn permission(&self) -> Option<ModelPermission> {
        self.model_permission.map(ModelPermission::from_catalog)
    }
}

/// A role's permission on the model, as TOM's `ModelPermission` enum numbers it (1 None, 2 Read, 3 ReadRefresh,
/// 4 Refresh, 5 Administrator). That the catalog (`metadata.sqlitedb`, table `Role`) stores these same numbers is
/// unconfirmed; this is the one place the numbers are read and written.
///
/// ```
/// use abf_format::ModelPermission;
/// assert_eq!(ModelPermission::from_catalog(2), ModelPermission::Read);
/// assert_eq!("readrefresh".parse::<ModelPermission>(), Ok(ModelPermission::ReadRefresh));
/// assert_eq!(ModelPermission::Administrator.catalog_value(), 5);
/// assert_eq!(ModelPermission::from_catalog(9).to_string(), "ModelPermission 9");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelPermission {
    /// 1.
    None,
    /// 2: the only permission Power BI Premium takes for a role.
    Read,
    /// 3.
    ReadRefresh,
    /// 4.
    Refresh,
    /// 5.
    Administrator,
    /// A number TOM does not name.
    Other(i64),
}

impl ModelPermission {
    const NAMED: [(ModelPermission, i64, &'static str); 5] = [
        (ModelPermission::None, 1, "None"),
        (ModelPermission::Read, 2, "Read"),
        (ModelPermission::ReadRefresh, 3, "ReadRefresh"),
        (ModelPermission::Refresh, 4, "Refresh"),
        (ModelPermission::Administrator, 5, "Administrator"),
    ];

    /// The permission a catalog number stands for.
    pub fn from_catalog(value: i64) -> Self {
        Self::NAMED.iter().find(|(_, v, _)| *v == value).map_or(Self::Other(value), |(p, _, _)| *p)
    }

    /// The number the catalog stores for it.
    pub fn catalog_value(self) -> i64 {
        match self {
            Self::Other(v) => v,
            named => Self::NAMED.iter().find(|(p, _, _)| *p == named).map_or(0, |(_, v, _)| *v),
        }
    }
}

impl std::fmt::Display for ModelPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Other(v) => write!(f, "ModelPermission {v}"),
            named => {
                let name =
                    Self::NAMED.iter().find(|(p, _, _)| p == named).map_or("?", |(_, _, n)| *n);
                f.write_str(name)
            }
        }
    }
}

impl std::str::FromStr for ModelPermission {
    type Err = String;

    /// TOM's names, without regard to case.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMED.iter().find(|(_, _, n)| n.eq_ignore_ascii_case(s)).map(|(p, _, _)| *p).ok_or_else(|| {
            format!("'{s}' is not a model permission; use None, Read, ReadRefresh, Refresh or Administrator")
        })
    }
}

/// The container kind and the framing of the model stream inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    /// The outermost layer of the file.
    pub container: Container,
    /// The framing of the model stream, when one was recognised.
    pub framing: Option<Framing>,
}

/// The outermost layer of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Container {
    /// A bare model stream (`.abf`).
    Abf,
    /// A ZIP whose model member is `DataModel` (Power BI Desktop), or a ZIP with a `Connections` member and no model.
    Pbix,
    /// A ZIP whose model member is `xl/model/item.data` (Excel).
    Xlsx,
    /// A ZIP with neither a model member nor a `Connections` member.
    Zip,
    /// Not a recognised container.
    Unknown,
}

/// The framing of the model stream (abf.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Framing {
    /// A raw STREAM_STORAGE image.
    StreamStorage,
    /// XPress9 single-threaded framing around an image.
    Xpress9,
    /// XPress9 "multithreaded" framing around an image.
    Xpress9Multithreaded,
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Container::Abf => "abf",
            Container::Pbix => "pbix",
            Container::Xlsx => "xlsx",
            Container::Zip => "zip",
            Container::Unknown => "unknown",
        })
    }
}

impl std::fmt::Display for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Framing::StreamStorage => "stream storage",
            Framing::Xpress9 => "xpress9",
            Framing::Xpress9Multithreaded => "xpress9 multithreaded",
        })
    }
}

/// Database name and compatibility level, from the `*.db.xml` definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The `Name` of the database (a GUID in Power BI Desktop files).
    pub name: Option<String>,
    /// The `CompatibilityLevel` (e.g. 1103, 1550).
    pub compatibility_level: Option<u32>,
}

/// A user-visible table and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The table name.
    pub name: String,
    /// The names of its partitions, in catalog order.
    pub partitions: Vec<String>,
}

/// One VirtualDirectory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The original path relative to the BackupLog's `ServerRoot` (e.g. `<db>.5.db.xml`,
    /// `<db>.4.db\metadata.sqlitedb`), or the storage name when the log does not list the entry (`LOG`,
    /// `PARTITIONS`, `ADDITIONAL_LOG`).
    pub name: String,
    /// The original size: the BackupLog `Size`, or the stored size less the CRC trailer for unlisted entries.
    pub size: u64,
    /// The stored size in the container (including Xpress8 framing and the CRC trailer).
    pub stored_size: u64,
}

/// A problem that makes the backup invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// What kind of damage.
    pub kind: ProblemKind,
    /// The part of the file concerned, e.g. `virtual directory`, `xpress9 chunk 3`, `file 73D8D7F41A7340489F01`.
    pub part: String,
    /// A lowercase sentence naming what was wrong.
    pub message: String,
}

/// The kinds of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file is not an abf, pbix or xlsx at all.
    NotAbf,
    /// A ZIP with no embedded model (e.g. a live-connection report).
    NoModel,
    /// The backup is encrypted; a password is needed to read further.
    Encrypted,
    /// A part ends before its declared size.
    Truncated,
    /// A part does not parse or breaks a structural rule of the format.
    Corrupt,
    /// A per-file CRC-32/BZIP2 trailer does not match.
    CrcMismatch,
    /// A part uses a feature this reader does not support.
    Unsupported,
}

impl Problem {
    pub(crate) fn new(
        kind: ProblemKind,
        part: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { kind, part: part.into(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}
