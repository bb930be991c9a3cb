//! The container writer: a raw STREAM_STORAGE image with optional per-file Xpress8 compression and CRC trailers,
//! and [`write_model`], which writes a whole backup of a described model.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::abf::{PAGE, signature};
use crate::crc::Bzip2Crc;
use crate::error::{Error, Result};
use crate::xml::escape;
use crate::xpress8;

/// The `ServerRoot` written in the BackupLog; file paths are written below it.
const SERVER_ROOT: &str = r"\\?\C:\pbi-backup\Data";

/// How [`AbfWriter`] stores files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Store model files as Xpress8 (MS-XCA Plain LZ77) chunks: the header's `ApplyCompression`. The directory is
    /// then written in UTF-16LE, as real compressed backups have it.
    pub compress: bool,
    /// Append a CRC-32/BZIP2 trailer to every file: the header's `ErrorCode`.
    pub crc: bool,
}

impl Default for WriterOptions {
    /// Uncompressed, with CRC trailers (the shape of a recent Power BI Desktop image).
    fn default() -> Self {
        Self { compress: false, crc: true }
    }
}

#[derive(Debug)]
struct Written {
    storage: String,
    path: Option<String>,
    size: u64,
    stored: u64,
    offset: u64,
}

/// Writes an `.abf` image to a `Write + Seek` (the header page is written last, once the directory's place is known).
///
/// Add files with [`add_file`](Self::add_file) or [`add_file_from`](Self::add_file_from) (streamed: memory is one
/// 64 KiB buffer), then call [`finish`](Self::finish).
#[derive(Debug)]
pub struct AbfWriter<W: Write + Seek> {
    w: W,
    base: u64,
    pos: u64,
    options: WriterOptions,
    object_name: String,
    files: Vec<Written>,
}

fn utf16_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn check_text(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidInput {
            what: what.to_string(),
            reason: format!(
                "{s:?} is empty or holds control characters, which the xml catalog cannot carry"
            ),
        });
    }
    Ok(())
}

impl<W: Write + Seek> AbfWriter<W> {
    /// Starts an image at the current position of `w`, for the database whose ID is `object_name`.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails; [`Error::InvalidInput`] for an empty or control-character name.
    pub fn new(mut w: W, object_name: &str, options: WriterOptions) -> Result<Self> {
        check_text("a database id", object_name)?;
        let base = w.stream_position()?;
        w.write_all(&[0; PAGE as usize])?;
        let mut writer = Self {
            w,
            base,
            pos: PAGE,
            options,
            object_name: object_name.to_string(),
            files: Vec::new(),
        };
        writer.write_special("PARTITIONS", &utf16_bom("<Partitions/>"))?;
        Ok(writer)
    }

    fn write_special(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let offset = self.pos;
        self.w.write_all(data)?;
        let mut stored = data.len() as u64;
        if self.options.crc {
            self.w.write_all(&crate::crc::bzip2(data).to_le_bytes())?;
            stored += 4;
        }
        self.pos += stored;
        self.files.push(Written {
            storage: name.to_string(),
            path: None,
            size: data.len() as u64,
            stored,
            offset,
        });
        Ok(())
    }

    /// Adds a file whose original path (below the server's data folder, `\`-separated) is `path`.
    ///
    /// # Errors
    /// As [`add_file_from`](Self::add_file_from).
    pub fn add_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.add_file_from(path, data)
    }

    /// Adds a file, streaming its content from `data`.
    ///
    /// # Errors
    /// [`Error::Io`] when reading `data` or writing fails; [`Error::InvalidInput`] for an empty path, a path with
    /// control characters, or a path added twice.
    pub fn add_file_from(&mut self, path: &str, mut data: impl Read) -> Result<()> {
        check_text("a file path", path)?;
        if self.files.iter().any(|f| f.path.as_deref() == Some(path)) {
            return Err(Error::InvalidInput {
                what: format!("file {path}"),
                reason: "the path was already added; give each file a distinct path".into(),
            });
        }
        let offset = self.pos;
        let mut crc = Bzip2Crc::default();
        let (mut size, mut stored) = (0u64, 0u64);
        let piece = if self.options.compress { xpress8::CHUNK_LEN } else { 1 << 16 };
        let mut buf = vec![0u8; piece];
        loop {
            let mut n = 0;
            while n < piece {
                match data.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if n == 0 {
                break;
            }
            size += n as u64;
            let framed;
            let out: &[u8] = if self.options.compress {
                framed = xpress8::compress_file(&buf[..n]);
                &framed
            } else {
                &buf[..n]
            };
            self.w.write_all(out)?;
            crc.update(out);
            stored += out.len() as u64;
            if n < piece {
                break;
            }
        }
        if self.options.crc {
            self.w.write_all(&crc.finish().to_le_bytes())?;
            stored += 4;
        }
        self.pos += stored;
        let storage = storage_name(self.files.len());
        self.files.push(Written { storage, path: Some(path.to_string()), size, stored, offset });
        Ok(())
    }

    fn pad_to_page(&mut self) -> Result<()> {
        let pad = (PAGE - self.pos % PAGE) % PAGE;
        self.w.write_all(&vec![0; pad as usize])?;
        self.pos += pad;
        Ok(())
    }

    /// Writes the BackupLog, the directory and the header page, and returns the writer positioned at the end.
    ///
    /// # Errors
    /// [`Error::Io`] when writing or seeking fails.
    pub fn finish(mut self) -> Result<W> {
        let log = self.backup_log();
        self.write_special("LOG", &utf16_bom(&log))?;
        self.pad_to_page()?;
        let mut dir = String::from("<VirtualDirectory>");
        for f in &self.files {
            dir.push_str(&format!(
                "<BackupFile><Path>{}</Path><Size>{}</Size><m_cbOffsetHeader>{}</m_cbOffsetHeader><Delete>false</Delete>\
                 <CreatedTimestamp>0</CreatedTimestamp><Access>0</Access><LastWriteTime>0</LastWriteTime></BackupFile>",
                escape(&f.storage),
                f.stored,
                f.offset
            ));
        }
        dir.push_str("</VirtualDirectory>");
        let dir_bytes: Vec<u8> = if self.options.compress {
            dir.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else {
            dir.into_bytes()
        };
        let dir_offset = self.pos;
        self.w.write_all(&dir_bytes)?;
        self.pos += dir_bytes.len() as u64;
        self.pad_to_page()?;
        let header = format!(
            "<BackupLog><BackupRestoreSyncVersion>140</BackupRestoreSyncVersion><Fault>false</Fault>\
             <faultcode>0</faultcode><ErrorCode>{}</ErrorCode><EncryptionFlag>false</EncryptionFlag>\
             <EncryptionKey>0</EncryptionKey><ApplyCompression>{}</ApplyCompression>\
             <m_cbOffsetHeader>{dir_offset}</m_cbOffsetHeader><DataSize>{}</DataSize><Files>{}</Files>\
             <ObjectID>00000000-0000-0000-0000-000000000000</ObjectID><m_cbOffsetData>{PAGE}</m_cbOffsetData></BackupLog>",
            self.options.crc,
            self.options.compress,
            dir_bytes.len(),
            self.files.len()
        );
        let mut page = signature();
        page.extend(header.encode_utf16().flat_map(u16::to_le_bytes));
        page.resize(PAGE as usize, 0);
        let end = self.base + self.pos;
        self.w.seek(SeekFrom::Start(self.base))?;
        self.w.write_all(&page)?;
        self.w.seek(SeekFrom::Start(end))?;
        self.w.flush()?;
        Ok(self.w)
    }

    fn backup_log(&self) -> String {
        let name = escape(&self.object_name);
        let mut log = format!(
            "<BackupLog><BackupRestoreSyncVersion>11.53</BackupRestoreSyncVersion><ServerRoot>{SERVER_ROOT}</ServerRoot>\
             <SvrEncryptPwdFlag>true</SvrEncryptPwdFlag><ServerEnableBinaryXML>false</ServerEnableBinaryXML>\
             <ServerEnableCompression>{}</ServerEnableCompression><CompressionFlag>{}</CompressionFlag>\
             <EncryptionFlag>false</EncryptionFlag><ObjectName>{name}</ObjectName><ObjectId>{name}</ObjectId>\
             <Write>ReadWrite</Write><OlapInfo>false</OlapInfo><IsTabular>true</IsTabular><Collations/>\
             <Languages><Language>1033</Language></Languages><FileGroups>",
            self.options.compress, self.options.compress
        );
        let is_db = |p: &str| {
            let p = p.to_ascii_lowercase();
            p.ends_with(".db.xml") || p.ends_with(".cryptkey.bin")
        };
        let root = escape(SERVER_ROOT);
        for (class, wanted, version) in [(100_002, true, 0), (100_069, false, -1)] {
            log.push_str(&format!(
                "<FileGroup><Class>{class}</Class><ID>{name}</ID><Name>{name}</Name>\
                 <ObjectVersion>{version}</ObjectVersion><PersistLocation>{version}</PersistLocation>\
                 <PersistLocationPath>{root}\\{name}.0.db</PersistLocationPath><StorageLocationPath/>\
                 <ObjectID>00000000-0000-0000-0000-000000000000</ObjectID><FileList>"
            ));
            for f in &self.files {
                let Some(path) = &f.path else { continue };
                if is_db(path) != wanted {
                    continue;
                }
                log.push_str(&format!(
                    "<BackupFile><Path>{}\\{}</Path><StoragePath>{}</StoragePath><LastWriteTime>0</LastWriteTime>\
                     <Size>{}</Size></BackupFile>",
                    escape(SERVER_ROOT),
                    escape(path),
                    escape(&f.storage),
                    f.size
                ));
            }
            log.push_str("</FileList></FileGroup>");
        }
        log.push_str("</FileGroups></BackupLog>");
        log
    }
}

/// A 20-hex-character storage name, distinct for every index.
fn storage_name(index: usize) -> String {
    let mixed = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:04X}{:016X}", index & 0xFFFF, mixed)
}

/// A model to write with [`write_model`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The database name (also used, made path-safe, as its ID).
    pub name: String,
    /// The compatibility level written in the `.db.xml` (e.g. 1600).
    pub compatibility_level: u32,
    /// The tables, in catalog order.
    pub tables: Vec<TableSpec>,
    /// The names of shared Power Query expressions (parameters, functions, queries not loaded as tables).
    pub expressions: Vec<String>,
    /// The roles.
    pub roles: Vec<RoleSpec>,
    /// `Model.DefaultPowerBIDataSourceVersion` (TOM's enum: 0 V1, 1 V2, 2 V3); `None` leaves the column out, as in
    /// older models.
    pub data_source_version: Option<i64>,
}

/// A role of a [`ModelSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// The role name.
    pub name: String,
    /// The `ModelPermission` value written (TOM's enum: 1 None, 2 Read, 3 ReadRefresh, 4 Refresh, 5 Administrator).
    pub model_permission: i64,
    /// Its members' names, written as `RoleMembership` rows (a backup made with `SkipMembership` has none).
    pub members: Vec<String>,
}

/// A table of a [`ModelSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table name.
    pub name: String,
    /// Its partition names.
    pub partitions: Vec<String>,
}

fn database_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

/// The `.db.xml` definition for a model.
fn db_xml(model: &ModelSpec, id: &str) -> String {
    format!(
        "<Load xmlns=\"http://schemas.microsoft.com/analysisservices/2003/engine\" \
         xmlns:ddl200=\"http://schemas.microsoft.com/analysisservices/2010/engine/200\" \
         xmlns:ddl200_200=\"http://schemas.microsoft.com/analysisservices/2010/engine/200/200\">\
         <ObjectDefinition><Database><Name>{}</Name><ID>{}</ID><Language>1033</Language>\
         <ddl200:CompatibilityLevel>{}</ddl200:CompatibilityLevel>\
         <ddl200_200:StorageEngineUsed>TabularMetadata</ddl200_200:StorageEngineUsed>\
         </Database></ObjectDefinition></Load>",
        escape(&model.name),
        escape(id),
        model.compatibility_level
    )
}

/// A `metadata.sqlitedb` holding the model's `Model`, `Table`, `Partition`, `Expression`, `Role` and `RoleMembership`
/// catalog rows, and
/// with `definition` its tables' `Column` and `Measure` rows and its `Relationship` rows too.
fn metadata_sqlitedb(model: &ModelSpec, definition: Option<&crate::Definition>) -> Result<Vec<u8>> {
    let conn = rusqlite::Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE Model (ID INTEGER PRIMARY KEY, Name TEXT, Culture TEXT, DefaultMode INTEGER);
         CREATE TABLE [Table] (ID INTEGER PRIMARY KEY, ModelID INTEGER, Name TEXT, SystemFlags INTEGER,
             IsHidden INTEGER, Description TEXT);
         CREATE TABLE Partition (ID INTEGER PRIMARY KEY, TableID INTEGER, Name TEXT, Type INTEGER, Mode INTEGER,
             QueryDefinition TEXT);
         CREATE TABLE Expression (ID INTEGER PRIMARY KEY, ModelID INTEGER, Name TEXT, Kind INTEGER,
             Expression TEXT);
         CREATE TABLE Role (ID INTEGER PRIMARY KEY, ModelID INTEGER, Name TEXT, Description TEXT,
             ModelPermission INTEGER);
         CREATE TABLE RoleMembership (ID INTEGER PRIMARY KEY, RoleID INTEGER, MemberName TEXT,
             IdentityProvider TEXT);
         CREATE TABLE DBPROPERTIES (Name TEXT, Value TEXT);",
    )?;
    conn.execute(
        "INSERT INTO Model (ID, Name, Culture, DefaultMode) VALUES (1, 'Model', 'en-US', 0)",
        [],
    )?;
    if let Some(version) = model.data_source_version {
        conn.execute_batch("ALTER TABLE Model ADD COLUMN DefaultPowerBIDataSourceVersion INTEGER")?;
        conn.execute("UPDATE Model SET DefaultPowerBIDataSourceVersion = ?1", [version])?;
    }
    let mut next_id = 2i64;
    for table in &model.tables {
        let table_id = next_id;
        next_id += 1;
        conn.execute(
            "INSERT INTO [Table] (ID, ModelID, Name, SystemFlags, IsHidden) VALUES (?1, 1, ?2, 0, 0)",
            rusqlite::params![table_id, table.name],
        )?;
        for partition in &table.partitions {
            conn.execute(
                "INSERT INTO Partition (ID, TableID, Name, Type, Mode) VALUES (?1, ?2, ?3, 4, 0)",
                rusqlite::params![next_id, table_id, partition],
            )?;
            next_id += 1;
        }
    }
    if let Some(d) = definition {
        next_id = write_definition(&conn, d, next_id)?;
    }
    for expression in &model.expressions {
        conn.execute(
            "INSERT INTO Expression (ID, ModelID, Name, Kind, Expression) VALUES (?1, 1, ?2, 0, '\"\"')",
            rusqlite::params![next_id, expression],
        )?;
        next_id += 1;
    }
    for role in &model.roles {
        let role_id = next_id;
        conn.execute(
            "INSERT INTO Role (ID, ModelID, Name, ModelPermission) VALUES (?1, 1, ?2, ?3)",
            rusqlite::params![role_id, role.name, role.model_permission],
        )?;
        next_id += 1;
        for member in &role.members {
            conn.execute(
                "INSERT INTO RoleMembership (ID, RoleID, MemberName, IdentityProvider) VALUES (?1, ?2, ?3, 'AzureAD')",
                rusqlite::params![next_id, role_id, member],
            )?;
            next_id += 1;
        }
    }
    let data = conn.serialize(rusqlite::MAIN_DB)?;
    Ok(data.to_vec())
}

/// The columns, measures and relationships of `d` in the catalog `conn`, whose `Table` rows are already written
/// (matched by name); returns the next free id.
fn write_definition(
    conn: &rusqlite::Connection,
    d: &crate::Definition,
    mut next_id: i64,
) -> Result<i64> {
    conn.execute_batch(
        "CREATE TABLE [Column] (ID INTEGER PRIMARY KEY, TableID INTEGER, ExplicitName TEXT, InferredName TEXT,
             ExplicitDataType INTEGER, InferredDataType INTEGER, Type INTEGER, Expression TEXT, SystemFlags INTEGER);
         CREATE TABLE Measure (ID INTEGER PRIMARY KEY, TableID INTEGER, Name TEXT, Expression TEXT,
             DisplayFolder TEXT, FormatString TEXT);
         CREATE TABLE Relationship (ID INTEGER PRIMARY KEY, ModelID INTEGER, Name TEXT, IsActive INTEGER,
             CrossFilteringBehavior INTEGER, FromTableID INTEGER, FromColumnID INTEGER, FromCardinality INTEGER,
             ToTableID INTEGER, ToColumnID INTEGER, ToCardinality INTEGER);",
    )?;
    let table_id = |name: &str| -> rusqlite::Result<Option<i64>> {
        conn.query_row("SELECT ID FROM [Table] WHERE Name = ?1", [name], |r| r.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
    };
    let mut columns = std::collections::HashMap::new();
    for t in &d.tables {
        let Some(tid) = table_id(&t.name)? else { continue };
        for c in &t.columns {
            let data_type = crate::definition::DATA_TYPES
                .iter()
                .find(|(_, n)| *n == c.data_type)
                .map_or(2, |(k, _)| *k);
            let kind = if c.expression.is_some() { 2 } else { 1 };
            conn.execute(
                "INSERT INTO [Column] (ID, TableID, ExplicitName, ExplicitDataType, InferredDataType, Type, Expression,
                     SystemFlags) VALUES (?1, ?2, ?3, ?4, 19, ?5, ?6, 0)",
                rusqlite::params![next_id, tid, c.name, data_type, kind, c.expression],
            )?;
            columns.insert((t.name.clone(), c.name.clone()), next_id);
            next_id += 1;
        }
        for m in &t.measures {
            conn.execute(
                "INSERT INTO Measure (ID, TableID, Name, Expression, DisplayFolder, FormatString)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    next_id,
                    tid,
                    m.name,
                    m.expression,
                    m.display_folder,
                    m.format_string
                ],
            )?;
            next_id += 1;
        }
    }
    for r in &d.relationships {
        let from = columns.get(&(r.from_table.clone(), r.from_column.clone()));
        let to = columns.get(&(r.to_table.clone(), r.to_column.clone()));
        let (Some(from), Some(to)) = (from, to) else { continue };
        // Many to one, one direction: TOM's RelationshipEndCardinality 2 and 1, CrossFilteringBehavior 1.
        conn.execute(
            "INSERT INTO Relationship (ID, ModelID, Name, IsActive, CrossFilteringBehavior, FromTableID, FromColumnID,
                 FromCardinality, ToTableID, ToColumnID, ToCardinality)
                 VALUES (?1, 1, ?2, ?3, 1, ?4, ?5, 2, ?6, ?7, 1)",
            rusqlite::params![
                next_id,
                uuid_like(next_id),
                i64::from(r.active),
                table_id(&r.from_table)?,
                from,
                table_id(&r.to_table)?,
                to
            ],
        )?;
        next_id += 1;
    }
    Ok(next_id)
}

/// A relationship's name: the catalog names them by GUID; a stable one per id is enough here.
fn uuid_like(id: i64) -> String {
    format!("00000000-0000-4000-8000-{id:012x}")
}

impl<W: Write + Seek> AbfWriter<W> {
    /// Starts a backup of `model`: writes its `.db.xml` (name, compatibility level) and a `metadata.sqlitedb`
    /// holding its tables and partitions. Add the data files with [`add_file_from`](Self::add_file_from) (streamed),
    /// then [`finish`](Self::finish).
    ///
    /// The database ID is the name with every character other than ASCII letters, digits, `-` and `_` replaced by
    /// `_`; files go below `<id>.0.db\`, e.g. `Sales.0.db\Orders (12).tbl\1.prt\0.Orders.Amount.0.idf`.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails, [`Error::Sqlite`] when building the catalog fails, [`Error::InvalidInput`]
    /// for an empty or control-character name.
    pub fn for_model(w: W, model: &ModelSpec, options: WriterOptions) -> Result<Self> {
        Self::for_model_with(w, model, None, options)
    }

    /// [`Self::for_model`] whose catalog also holds `definition`'s columns, measures and relationships (its tables
    /// matched to `model`'s by name).
    pub fn for_model_with(
        w: W,
        model: &ModelSpec,
        definition: Option<&crate::Definition>,
        options: WriterOptions,
    ) -> Result<Self> {
        check_text("a database name", &model.name)?;
        for t in &model.tables {
            check_text("a table name", &t.name)?;
            for p in &t.partitions {
                check_text("a partition name", p)?;
            }
        }
        for e in &model.expressions {
            check_text("an expression name", e)?;
        }
        for r in &model.roles {
            check_text("a role name", &r.name)?;
        }
        let id = database_id(&model.name);
        let mut writer = AbfWriter::new(w, &id, options)?;
        writer.add_file(&format!("{id}.0.db.xml"), db_xml(model, &id).as_bytes())?;
        writer.add_file(
            &format!("{id}.0.db\\metadata.sqlitedb"),
            &metadata_sqlitedb(model, definition)?,
        )?;
        Ok(writer)
    }
}

/// Writes a backup of `model` (see [`AbfWriter::for_model`]), then `extra_files` (original path, content), to `w`,
/// and returns `w` positioned after the image.
///
/// # Errors
/// As [`AbfWriter::for_model`] and [`AbfWriter::add_file`].
pub fn write_model<W: Write + Seek>(
    w: W,
    model: &ModelSpec,
    extra_files: &[(&str, &[u8])],
    options: WriterOptions,
) -> Result<W> {
    write_model_with(w, model, None, extra_files, options)
}

/// [`write_model`] with a definition's columns, measures and relationships in the catalog too.
pub fn write_model_with<W: Write + Seek>(
    w: W,
    model: &ModelSpec,
    definition: Option<&crate::Definition>,
    extra_files: &[(&str, &[u8])],
    options: WriterOptions,
) -> Result<W> {
    let mut writer = AbfWriter::for_model_with(w, model, definition, options)?;
    for (path, data) in extra_files {
        writer.add_file(path, data)?;
    }
    writer.finish()
}
