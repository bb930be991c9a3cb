//! The model's metadata: database name and compatibility level from `*.db.xml`, tables and partitions from
//! `metadata.sqlitedb` (compatibility 1200+) or from the `*.dim.xml` / `*.prt.xml` files (1100/1103) (abf.md §7).

use rusqlite::OptionalExtension;

use crate::report::{Database, Role, Table};

/// What the restore rules need of `metadata.sqlitedb`.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub tables: Vec<Table>,
    pub expressions: Vec<String>,
    pub roles: Vec<Role>,
    pub data_source_version: Option<i64>,
}
use crate::xml::{self, Step};

/// Reads `Database/Name` and `Database/CompatibilityLevel` (matched by local name) from a `*.db.xml`.
pub(crate) fn parse_db_xml(bytes: &[u8]) -> Result<Database, String> {
    let text = xml::decode_text(bytes)?;
    let mut db = Database::default();
    let mut level = None;
    xml::walk(&text, |s| {
        if let Step::Close(stack, t) = s {
            let n = stack.len();
            if n >= 2 && stack[n - 2] == "Database" {
                match stack[n - 1].as_str() {
                    "Name" if db.name.is_none() => db.name = Some(t.to_string()),
                    "CompatibilityLevel" if level.is_none() => level = Some(t.trim().to_string()),
                    _ => {}
                }
            }
        }
    })?;
    if let Some(level) = level {
        db.compatibility_level = Some(
            level.parse().map_err(|_| format!("CompatibilityLevel {level:?} is not a number"))?,
        );
    }
    Ok(db)
}

/// Tables (without engine-internal ones) and their partitions, the names of the shared expressions and the roles
/// (none when the catalog has no `Expression` or `Role` table), from `metadata.sqlitedb` bytes.
/// With `integrity_check`, SQLite's `PRAGMA integrity_check` must also answer `ok`.
pub(crate) fn sqlite_tables(bytes: &[u8], integrity_check: bool) -> Result<Catalog, String> {
    let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    conn.deserialize_read_exact(rusqlite::MAIN_DB, bytes, bytes.len(), true)
        .map_err(|e| format!("does not open as sqlite: {e}"))?;
    if integrity_check {
        let verdict: String = conn
            .query_row("PRAGMA integrity_check(1)", [], |row| row.get(0))
            .map_err(|e| format!("integrity check failed to run: {e}"))?;
        if verdict != "ok" {
            return Err(format!("fails sqlite's integrity check: {verdict}"));
        }
    }
    let query = |conn: &rusqlite::Connection| -> rusqlite::Result<Catalog> {
        let mut stmt =
            conn.prepare("SELECT ID, Name FROM [Table] WHERE (SystemFlags & 1) = 0 ORDER BY ID")?;
        let rows =
            stmt.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
        let mut ids = Vec::new();
        let mut tables = Vec::new();
        for row in rows {
            let (id, name) = row?;
            ids.push(id);
            tables.push(Table { name, partitions: Vec::new() });
        }
        let mut stmt = conn.prepare("SELECT TableID, Name FROM [Partition] ORDER BY ID")?;
        let rows =
            stmt.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
        for row in rows {
            let (table, name) = row?;
            if let Some(i) = ids.iter().position(|&id| id == table) {
                tables[i].partitions.push(name);
            }
        }
        let has = |table: &str| -> rusqlite::Result<bool> {
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        };
        let mut expressions = Vec::new();
        if has("Expression")? {
            let mut stmt = conn.prepare("SELECT Name FROM [Expression] ORDER BY rowid")?;
            for name in stmt.query_map([], |row| row.get::<_, String>(0))? {
                expressions.push(name?);
            }
        }
        let mut roles = Vec::new();
        if has("Role")? {
            let with_permission: i64 = conn.query_row(
                "SELECT count(*) FROM pragma_table_info('Role') WHERE name = 'ModelPermission'",
                [],
                |row| row.get(0),
            )?;
            let sql = if with_permission > 0 {
                "SELECT Name, ModelPermission FROM [Role] ORDER BY rowid"
            } else {
                "SELECT Name, NULL FROM [Role] ORDER BY rowid"
            };
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |row| {
                Ok(Role { name: row.get(0)?, model_permission: row.get(1)? })
            })?;
            for role in rows {
                roles.push(role?);
            }
        }
        let column = |table: &str, column: &str| -> rusqlite::Result<bool> {
            conn.query_row(
                "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                [table, column],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        };
        let data_source_version =
            if has("Model")? && column("Model", "DefaultPowerBIDataSourceVersion")? {
                conn.query_row(
                    "SELECT DefaultPowerBIDataSourceVersion FROM Model ORDER BY rowid LIMIT 1",
                    [],
                    |row| row.get::<_, Option<i64>>(0),
                )
                .optional()?
                .flatten()
            } else {
                None
            };
        Ok(Catalog { tables, expressions, roles, data_source_version })
    };
    query(&conn).map_err(|e| format!("catalog query failed: {e}"))
}

/// `Name` and `ID` children of the root element of an object definition file (`*.dim.xml`, `*.prt.xml`).
pub(crate) fn object_name_and_id(bytes: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    let text = xml::decode_text(bytes)?;
    let (mut name, mut id) = (None, None);
    xml::walk(&text, |s| {
        if let Step::Close(stack, t) = s {
            // Depth 2 is `<Dimension><Name>`; inside `<Load><ObjectDefinition><X>` it is depth 4.
            let n = stack.len();
            let top_level = n == 2 || (n == 4 && stack[1] == "ObjectDefinition");
            if top_level {
                match stack[n - 1].as_str() {
                    "Name" if name.is_none() => name = Some(t.trim().to_string()),
                    "ID" if id.is_none() => id = Some(t.trim().to_string()),
                    _ => {}
                }
            }
        }
    })?;
    Ok((name, id))
}

/// The last path component, split on `\` or `/`.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// The measure-group ID a `*.prt.xml` belongs to: its parent folder `<ID>.<version>.det`.
pub(crate) fn partition_owner(path: &str) -> Option<&str> {
    let mut parts = path.rsplit(['\\', '/']);
    parts.next()?;
    let folder = parts.next()?.strip_suffix(".det")?;
    let (id, version) = folder.rsplit_once('.')?;
    version.bytes().all(|b| b.is_ascii_digit()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_xml_name_and_level() {
        let xml = br#"<Load xmlns="x" xmlns:ddl200="y"><ObjectDefinition><Database><Name>Sales</Name><ID>S</ID>
            <ddl200:CompatibilityLevel>1550</ddl200:CompatibilityLevel></Database></ObjectDefinition></Load>"#;
        let db = parse_db_xml(xml).unwrap();
        assert_eq!(db.name.as_deref(), Some("Sales"));
        assert_eq!(db.compatibility_level, Some(1550));
        assert!(
            parse_db_xml(
                b"<Load><Database><CompatibilityLevel>x</CompatibilityLevel></Database></Load>"
            )
            .is_err()
        );
    }

    #[test]
    fn partition_owner_from_path() {
        assert_eq!(
            partition_owner(r"a.db\M.180.cub\Plant_0e.170.det\Plant_0e.58.prt.xml"),
            Some("Plant_0e")
        );
        assert_eq!(partition_owner(r"a.db\x.prt.xml"), None);
        assert_eq!(file_name(r"a\b\c.xml"), "c.xml");
    }
}
