//! The rowsets: Discover (`DBSCHEMA_CATALOGS`, the `TMSCHEMA_*` the client reads, the two storage rowsets) and the
//! DMV statements that ask for the same. Each carries the columns its reference lists, no more: the `TMSCHEMA_*`
//! rowsets the properties of their objects in MS-SSAS-T §2.2.5 (Table, Role, RoleMembership); a row count is not
//! one of them, so it is served only by `DISCOVER_STORAGE_TABLES` (MS-SSAS §3.1.4.2.2.1.3.58).

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
                ("DataCategory".into(), None),
                ("Description".into(), None),
                ("IsHidden".into(), Some("false".into())),
                ("TableStorageID".into(), Some((i + 1).to_string())),
                ("ModifiedTime".into(), Some(model.modified.clone())),
                ("StructureModifiedTime".into(), Some(model.modified.clone())),
                ("SystemFlags".into(), Some("0".into())),
                ("ShowAsVariationsOnly".into(), Some("false".into())),
                ("IsPrivate".into(), Some("false".into())),
            ],
        })
        .collect()
}

/// `DISCOVER_STORAGE_TABLES`: one row per table with its `ROWS_COUNT`, and one per column for the engine's own
/// hierarchy storage (`H$<table>$<column>`), whose counts are the column's distinct values, not the table's rows.
/// The reference lists the columns and says the rowset holds "the tables used to store the table attributes"; the
/// `H$` rows and their naming follow what the community's storage analysers (VertiPaq Analyzer) show, since no
/// Microsoft page names them.
fn storage_table_rows(db: &str, model: &ModelState) -> Vec<Row> {
    let row = |table: &str, id: String, rows: u64| Row {
        columns: vec![
            ("DATABASE_NAME".into(), Some(db.to_owned())),
            ("CUBE_NAME".into(), Some("Model".into())),
            ("MEASURE_GROUP_NAME".into(), Some(table.to_owned())),
            ("PARTITION_NAME".into(), Some(table.to_owned())),
            ("DIMENSION_NAME".into(), Some(table.to_owned())),
            ("TABLE_ID".into(), Some(id)),
            ("TABLE_PARTITIONS_COUNT".into(), Some("1".into())),
            ("HINT_TABLE_TYPE".into(), None),
            ("ROWS_COUNT".into(), Some(rows.to_string())),
            ("RIVIOLATION_COUNT".into(), Some("0".into())),
        ],
    };
    let mut rows = Vec::new();
    for (i, t) in model.tables.iter().enumerate() {
        let id = format!("{} ({})", t.name, 100 + i);
        for (j, c) in t.columns.iter().enumerate() {
            let distinct = t.rows / (j as u64 + 2);
            rows.push(row(&t.name, format!("H${id}${c} ({})", 200 + j), distinct));
        }
        rows.push(row(&t.name, id, t.rows));
    }
    rows
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

/// The columns of `DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS` with their types, as MS-SSAS §3.1.4.2.2.1.3.60.1 gives
/// them. `PARTITION_NAME` is in the SQL Server 2012 page only (DBTYPE_WSTR); no page reached gives the type of
/// `ISRESIDENT`, `TEMPERATURE` and `LAST_ACCESSED`, which stay `xsd:string`.
const SEGMENT_COLUMNS: &[(&str, &str)] = &[
    ("DATABASE_NAME", STRING),
    ("CUBE_NAME", STRING),
    ("MEASURE_GROUP_NAME", STRING),
    ("PARTITION_NAME", STRING),
    ("DIMENSION_NAME", STRING),
    ("TABLE_ID", STRING),
    ("COLUMN_ID", STRING),
    ("SEGMENT_NUMBER", LONG),
    ("TABLE_PARTITION_NUMBER", LONG),
    ("RECORDS_COUNT", LONG),
    ("ALLOCATED_SIZE", UNSIGNED_LONG),
    ("USED_SIZE", UNSIGNED_LONG),
    ("COMPRESSION_TYPE", STRING),
    ("BITS_COUNT", LONG),
    ("BOOKMARK_BITS_COUNT", LONG),
    ("VERTIPAQ_STATE", STRING),
    ("ISPAGEABLE", BOOLEAN),
    ("ISRESIDENT", STRING),
    ("TEMPERATURE", STRING),
    ("LAST_ACCESSED", STRING),
];

const STRING: &str = "xsd:string";
const LONG: &str = "xsd:long";
const UNSIGNED_LONG: &str = "xsd:unsignedLong";
const BOOLEAN: &str = "xsd:boolean";
const DATE_TIME: &str = "xsd:dateTime";

fn rowset(columns: &[(&str, &str)], rows: &[Row], headers: &HeaderMap) -> Response {
    xml_response(StatusCode::OK, answer::rowset(columns, rows), headers)
}

/// `DBSCHEMA_CATALOGS`: `DATE_MODIFIED` is DBTYPE_DBTIMESTAMP (the rowset's page); the modern columns have no page.
const CATALOG_COLUMNS: &[(&str, &str)] = &[
    ("CATALOG_NAME", STRING),
    ("DESCRIPTION", STRING),
    ("ROLES", STRING),
    ("DATE_MODIFIED", DATE_TIME),
    ("COMPATIBILITY_LEVEL", STRING),
    ("DATABASE_ID", STRING),
];
/// `TMSCHEMA_TABLES`, typed as MS-SSAS-T §2.2.5.3 types the Table object's properties; `IsPrivate` is a Boolean
/// value on the INFO.TABLES page, which lists the same columns.
const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("ID", UNSIGNED_LONG),
    ("ModelID", UNSIGNED_LONG),
    ("Name", STRING),
    ("DataCategory", STRING),
    ("Description", STRING),
    ("IsHidden", BOOLEAN),
    ("TableStorageID", UNSIGNED_LONG),
    ("ModifiedTime", DATE_TIME),
    ("StructureModifiedTime", DATE_TIME),
    ("SystemFlags", LONG),
    ("ShowAsVariationsOnly", BOOLEAN),
    ("IsPrivate", BOOLEAN),
];
/// `TMSCHEMA_ROLES`: no page reached types its columns, so they stay `xsd:string`.
const ROLE_COLUMNS: &[(&str, &str)] = &[
    ("ID", STRING),
    ("ModelID", STRING),
    ("Name", STRING),
    ("Description", STRING),
    ("ModelPermission", STRING),
    ("ModifiedTime", STRING),
];
/// `TMSCHEMA_ROLE_MEMBERSHIPS`, typed as MS-SSAS-T §2.2.5.22 types the RoleMembership object's properties
/// (`MemberType` is an "enumeration" there, with no XML type: `xsd:string`).
const MEMBERSHIP_COLUMNS: &[(&str, &str)] = &[
    ("ID", UNSIGNED_LONG),
    ("RoleID", UNSIGNED_LONG),
    ("MemberName", STRING),
    ("MemberID", STRING),
    ("IdentityProvider", STRING),
    ("MemberType", STRING),
    ("ModifiedTime", DATE_TIME),
];
/// `DISCOVER_STORAGE_TABLES`, typed as MS-SSAS §3.1.4.2.2.1.3.58.1 types them.
const STORAGE_TABLE_COLUMNS: &[(&str, &str)] = &[
    ("DATABASE_NAME", STRING),
    ("CUBE_NAME", STRING),
    ("MEASURE_GROUP_NAME", STRING),
    ("PARTITION_NAME", STRING),
    ("DIMENSION_NAME", STRING),
    ("TABLE_ID", STRING),
    ("TABLE_PARTITIONS_COUNT", LONG),
    ("HINT_TABLE_TYPE", STRING),
    ("ROWS_COUNT", LONG),
    ("RIVIOLATION_COUNT", LONG),
];

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
                    ("Description".into(), None),
                    ("ModelPermission".into(), Some(permission.to_string())),
                    ("ModifiedTime".into(), Some(m.modified.clone())),
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
                    ("MemberID".into(), Some(format!("member-{}", rows.len() + 1))),
                    // Entra members on Power BI (MS-SSAS-T's note on IdentityProvider).
                    ("IdentityProvider".into(), Some("AzureAD".into())),
                    // TOM's RoleMemberType: 1 Auto.
                    ("MemberType".into(), Some("1".into())),
                    ("ModifiedTime".into(), Some(m.modified.clone())),
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
        kind @ ("DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS" | "DISCOVER_STORAGE_TABLES") => {
            // "If omitted the current database is used" (the rowset reference).
            let db = d
                .restrictions
                .iter()
                .find(|(k, _)| k == "DATABASE_NAME")
                .map(|(_, v)| v.clone())
                .or_else(|| d.catalog.clone())
                .unwrap_or_default();
            match find_model(&state, &owner, &db) {
                Some(m) if kind == "DISCOVER_STORAGE_TABLES" => {
                    rowset(STORAGE_TABLE_COLUMNS, &storage_table_rows(&db, m), headers)
                }
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
