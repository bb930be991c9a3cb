//! The rowsets: Discover (`DBSCHEMA_CATALOGS`, `TMSCHEMA_TABLES`) and the DMV statements that ask for the same.

use super::answer::{self, Row};
use super::request::Discover;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::respond::{failure, xml_response};
use super::{Ctx, codes, find_model, msg, not_found};

use crate::pbi_sim::Shared;
use crate::pbi_sim::state::{ModelState, State as SimState};

fn owner_of(ctx: &Ctx) -> String {
    match ctx {
        Ctx::Workspace { workspace_id, .. } => workspace_id.clone(),
        Ctx::Aas { server, .. } => format!("aas:{server}"),
    }
}

fn catalog_rows(state: &SimState, owner: &str) -> Vec<Row> {
    let mut models: Vec<&ModelState> = state.models.iter().filter(|m| m.owner == owner).collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models
        .into_iter()
        .map(|m| Row {
            columns: vec![
                ("CATALOG_NAME".into(), Some(m.name.clone())),
                ("DESCRIPTION".into(), None),
                ("ROLES".into(), Some("*".into())),
                ("DATE_MODIFIED".into(), Some(m.modified.clone())),
                ("COMPATIBILITY_LEVEL".into(), Some(m.compatibility_level.to_string())),
                ("DATABASE_ID".into(), Some(m.id.clone())),
            ],
        })
        .collect()
}

fn table_rows(model: &ModelState) -> Vec<Row> {
    model
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| Row {
            columns: vec![
                ("ID".into(), Some((i + 1).to_string())),
                ("ModelID".into(), Some("1".into())),
                ("Name".into(), Some(t.name.clone())),
                ("IsHidden".into(), Some("false".into())),
                ("RowCount".into(), Some(t.rows.to_string())),
                ("ColumnCount".into(), Some(t.columns.len().to_string())),
            ],
        })
        .collect()
}

/// `DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS`: one segment per column, the scenario's `size-mb` shared among them as
/// `USED_SIZE`. Every column the rowset's references name (the SQL Server 2012 rowset page, and MS-SSAS 3.1.4.2.2.1.3.60.1
/// for the paging columns, which are null on a server without paging); the values are the simulator's.
fn segment_rows(db: &str, model: &ModelState) -> Vec<Row> {
    let columns: Vec<(&str, &str, u64)> = model
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().map(move |c| (t.name.as_str(), c.as_str(), t.rows)))
        .collect();
    let total = model.size_mb << 20;
    let count = columns.len() as u64;
    columns
        .iter()
        .enumerate()
        .map(|(i, (table, column, rows))| {
            // The remainder goes to the first segment, so that the sizes add up to the model's.
            let share = total / count + if i == 0 { total % count } else { 0 };
            Row {
                columns: vec![
                    ("DATABASE_NAME".into(), Some(db.to_owned())),
                    ("CUBE_NAME".into(), Some("Model".into())),
                    ("MEASURE_GROUP_NAME".into(), Some((*table).to_owned())),
                    ("PARTITION_NAME".into(), Some((*table).to_owned())),
                    ("DIMENSION_NAME".into(), Some((*table).to_owned())),
                    ("TABLE_ID".into(), Some(format!("{table} ({i})"))),
                    ("COLUMN_ID".into(), Some((*column).to_owned())),
                    ("SEGMENT_NUMBER".into(), Some("0".into())),
                    ("TABLE_PARTITION_NUMBER".into(), Some("0".into())),
                    ("RECORDS_COUNT".into(), Some(rows.to_string())),
                    ("ALLOCATED_SIZE".into(), Some(share.to_string())),
                    ("USED_SIZE".into(), Some(share.to_string())),
                    // "Currently, this value is always NOSPLIT" (MS-SSAS).
                    ("COMPRESSION_TYPE".into(), Some("NOSPLIT".into())),
                    ("BITS_COUNT".into(), Some((64 - rows.leading_zeros()).to_string())),
                    ("BOOKMARK_BITS_COUNT".into(), Some("0".into())),
                    ("VERTIPAQ_STATE".into(), Some("COMPLETED".into())),
                    ("ISPAGEABLE".into(), None),
                    ("ISRESIDENT".into(), None),
                    ("TEMPERATURE".into(), None),
                    ("LAST_ACCESSED".into(), None),
                ],
            }
        })
        .collect()
}

const SEGMENT_COLUMNS: &[&str] = &[
    "DATABASE_NAME",
    "CUBE_NAME",
    "MEASURE_GROUP_NAME",
    "PARTITION_NAME",
    "DIMENSION_NAME",
    "TABLE_ID",
    "COLUMN_ID",
    "SEGMENT_NUMBER",
    "TABLE_PARTITION_NUMBER",
    "RECORDS_COUNT",
    "ALLOCATED_SIZE",
    "USED_SIZE",
    "COMPRESSION_TYPE",
    "BITS_COUNT",
    "BOOKMARK_BITS_COUNT",
    "VERTIPAQ_STATE",
    "ISPAGEABLE",
    "ISRESIDENT",
    "TEMPERATURE",
    "LAST_ACCESSED",
];

fn rowset(columns: &[&str], rows: &[Row], headers: &HeaderMap) -> Response {
    xml_response(StatusCode::OK, answer::rowset(columns, rows), headers)
}

const CATALOG_COLUMNS: &[&str] = &[
    "CATALOG_NAME",
    "DESCRIPTION",
    "ROLES",
    "DATE_MODIFIED",
    "COMPATIBILITY_LEVEL",
    "DATABASE_ID",
];
const TABLE_COLUMNS: &[&str] = &["ID", "ModelID", "Name", "IsHidden", "RowCount", "ColumnCount"];
const ROLE_COLUMNS: &[&str] = &["ID", "ModelID", "Name", "ModelPermission"];
const MEMBERSHIP_COLUMNS: &[&str] = &["ID", "RoleID", "MemberName", "MemberType"];

/// `TMSCHEMA_ROLES`: TOM's ModelPermission numbers (1 None, 2 Read, 3 ReadRefresh, 4 Refresh, 5 Administrator).
fn role_rows(m: &ModelState) -> Vec<Row> {
    m.roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let permission = match r.permission.to_ascii_lowercase().as_str() {
                "none" => 1,
                "read" => 2,
                "readrefresh" => 3,
                "refresh" => 4,
                _ => 5,
            };
            Row {
                columns: vec![
                    ("ID".into(), Some((i + 1).to_string())),
                    ("ModelID".into(), Some("1".into())),
                    ("Name".into(), Some(r.name.clone())),
                    ("ModelPermission".into(), Some(permission.to_string())),
                ],
            }
        })
        .collect()
}

/// `TMSCHEMA_ROLE_MEMBERSHIPS`: one row per member, `RoleID` the role's row in `TMSCHEMA_ROLES`.
fn membership_rows(m: &ModelState) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, r) in m.roles.iter().enumerate() {
        for member in &r.members {
            rows.push(Row {
                columns: vec![
                    ("ID".into(), Some((rows.len() + 1).to_string())),
                    ("RoleID".into(), Some((i + 1).to_string())),
                    ("MemberName".into(), Some(member.clone())),
                    ("MemberType".into(), Some("1".into())),
                ],
            });
        }
    }
    rows
}

pub(super) fn discover(shared: &Shared, ctx: &Ctx, d: &Discover, headers: &HeaderMap) -> Response {
    let state = shared.state.lock().expect("poisoned");
    let owner = owner_of(ctx);
    match d.request_type.to_ascii_uppercase().as_str() {
        "DBSCHEMA_CATALOGS" => {
            let mut rows = catalog_rows(&state, &owner);
            if let Some((_, name)) = d.restrictions.iter().find(|(k, _)| k == "CATALOG_NAME") {
                rows.retain(|r| r.get("CATALOG_NAME") == Some(name.as_str()));
            }
            rowset(CATALOG_COLUMNS, &rows, headers)
        }
        kind @ ("TMSCHEMA_TABLES" | "TMSCHEMA_ROLES" | "TMSCHEMA_ROLE_MEMBERSHIPS") => {
            let db = d
                .restrictions
                .iter()
                .find(|(k, _)| k == "DatabaseName")
                .map(|(_, v)| v.clone())
                .or_else(|| d.catalog.clone());
            let Some(db) = db else {
                return failure(
                    vec![msg(
                        codes::UNSUPPORTED,
                        format!("{kind} needs a database: set Catalog or restrict DatabaseName"),
                    )],
                    Vec::new(),
                    headers,
                );
            };
            if kind == "TMSCHEMA_TABLES"
                && shared.fail_table_listing.load(std::sync::atomic::Ordering::SeqCst)
            {
                return failure(
                    vec![msg(codes::UNSUPPORTED, "TMSCHEMA_TABLES failed (a fault switched on)")],
                    Vec::new(),
                    headers,
                );
            }
            match (find_model(&state, &owner, &db), kind) {
                (Some(m), "TMSCHEMA_TABLES") => rowset(TABLE_COLUMNS, &table_rows(m), headers),
                (Some(m), "TMSCHEMA_ROLES") => rowset(ROLE_COLUMNS, &role_rows(m), headers),
                (Some(m), _) => rowset(MEMBERSHIP_COLUMNS, &membership_rows(m), headers),
                (None, _) => failure(vec![not_found(&db)], Vec::new(), headers),
            }
        }
        "DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS" => {
            // "If omitted the current database is used" (the rowset reference).
            let db = d
                .restrictions
                .iter()
                .find(|(k, _)| k == "DATABASE_NAME")
                .map(|(_, v)| v.clone())
                .or_else(|| d.catalog.clone())
                .unwrap_or_default();
            match find_model(&state, &owner, &db) {
                Some(m) => rowset(SEGMENT_COLUMNS, &segment_rows(&db, m), headers),
                None => failure(vec![not_found(&db)], Vec::new(), headers),
            }
        }
        other => failure(
            vec![msg(
                codes::UNSUPPORTED,
                format!("the simulator does not serve the rowset {other}"),
            )],
            Vec::new(),
            headers,
        ),
    }
}

pub(super) fn statement(
    shared: &Shared,
    ctx: &Ctx,
    text: &str,
    catalog: Option<&str>,
    session: Option<String>,
    headers: &HeaderMap,
) -> Response {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() {
        // ADOMD opens a session with an empty statement.
        return xml_response(StatusCode::OK, answer::success(session.as_deref(), &[]), headers);
    }
    let compact: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if compact == "select * from $system.dbschema_catalogs" {
        let state = shared.state.lock().expect("poisoned");
        return rowset(CATALOG_COLUMNS, &catalog_rows(&state, &owner_of(ctx)), headers);
    }
    if compact == "select * from $system.tmschema_tables" {
        let state = shared.state.lock().expect("poisoned");
        let Some(db) = catalog else {
            return failure(
                vec![msg(codes::UNSUPPORTED, "set the Catalog property to the database")],
                Vec::new(),
                headers,
            );
        };
        return match find_model(&state, &owner_of(ctx), db) {
            Some(m) => rowset(TABLE_COLUMNS, &table_rows(m), headers),
            None => failure(vec![not_found(db)], Vec::new(), headers),
        };
    }
    failure(
        vec![msg(
            codes::UNSUPPORTED,
            "the simulator executes Backup, Restore, DBSCHEMA_CATALOGS and TMSCHEMA_TABLES only",
        )],
        Vec::new(),
        headers,
    )
}
