//! The model's definition, read offline from the catalog in `metadata.sqlitedb`: tables, columns, measures,
//! partitions, hierarchies, calculation items, relationships, roles, shared expressions, perspectives and cultures;
//! its canonical form and fingerprint; and what changed between two definitions.
//!
//! The catalog stores the tabular object model (TOM) as tables of the same names, and TOM's enums as numbers. Each
//! number read here is named from the TOM reference on learn.microsoft.com (`Microsoft.AnalysisServices.Tabular`):
//! `DataType`, `ColumnType`, `PartitionSourceType`, `RelationshipEndCardinality`, `CrossFilteringBehavior`,
//! `ModelPermission`, `ExpressionKind`. A number the reference does not list is shown as `unknown(n)`, never
//! guessed. That the catalog stores TOM's own numbers is confirmed for the samples (their partitions' M
//! expressions have kind 4, `M`; their relationships' ends read as TOM's cardinalities), not by a published source.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// A model's definition: the JSON shape of `pbi-backup definition --json`. Keys may be added, none renamed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The database's compatibility level.
    pub compatibility_level: Option<u32>,
    /// `Model.DefaultPowerBIDataSourceVersion` as stored (older catalogs lack it).
    pub data_source_version: Option<i64>,
    /// The model's culture (`Model.Culture`).
    pub culture: Option<String>,
    /// Tables in catalog order.
    pub tables: Vec<DefTable>,
    /// Relationships.
    pub relationships: Vec<DefRelationship>,
    /// Roles.
    pub roles: Vec<DefRole>,
    /// Shared expressions: Power Query parameters and queries.
    pub expressions: Vec<DefExpression>,
    /// Perspectives' names.
    pub perspectives: Vec<String>,
    /// Cultures' names.
    pub cultures: Vec<String>,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefTable {
    /// Name.
    pub name: String,
    /// Added by the engine or Power BI Desktop (auto date/time: `LocalDateTable_…`, `DateTableTemplate_…`, or a
    /// private table), not by the model's author.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Columns (the engine's `RowNumber` column left out).
    pub columns: Vec<DefColumn>,
    /// Measures.
    pub measures: Vec<DefMeasure>,
    /// Partitions.
    pub partitions: Vec<DefPartition>,
    /// Hierarchies, each with its levels' column names in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hierarchies: Vec<DefHierarchy>,
    /// The calculation items when the table is a calculation group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calculation_items: Vec<DefCalculationItem>,
}

/// A column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefColumn {
    /// Name.
    pub name: String,
    /// `string`, `int64`, `double`, `datetime`, `decimal`, `boolean`, `binary`, `variant`, `automatic`, `unknown`.
    pub data_type: String,
    /// `data`, `calculated` or `calculated_table_column`.
    pub kind: String,
    /// The DAX expression of a calculated column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefMeasure {
    /// Name.
    pub name: String,
    /// Its DAX.
    pub expression: String,
    /// Display folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_folder: Option<String>,
    /// Format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_string: Option<String>,
}

/// A partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefPartition {
    /// Name.
    pub name: String,
    /// `m`, `calculated`, `query`, `entity`, `policy_range`, `calculation_group`, `none`, `inferred`, `parquet`.
    pub kind: String,
    /// Its source expression (M, DAX or a query).
    pub expression: String,
}

/// A hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefHierarchy {
    /// Name.
    pub name: String,
    /// The levels' columns, by ordinal.
    pub levels: Vec<String>,
}

/// A calculation item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefCalculationItem {
    /// Name.
    pub name: String,
    /// Its DAX.
    pub expression: String,
}

/// A relationship.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DefRelationship {
    /// The "from" (many) end's table.
    pub from_table: String,
    /// Its column.
    pub from_column: String,
    /// The "to" (one) end's table.
    pub to_table: String,
    /// Its column.
    pub to_column: String,
    /// Whether it is active.
    pub active: bool,
    /// `many_to_one`, `one_to_one`, `many_to_many`, `one_to_many`.
    pub cardinality: String,
    /// `single` (one direction), `both` or `automatic`.
    pub cross_filter: String,
}

/// A role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefRole {
    /// Name.
    pub name: String,
    /// `none`, `read`, `read_refresh`, `refresh` or `administrator`.
    pub model_permission: String,
    /// Row filters by table.
    pub table_filters: Vec<DefTableFilter>,
    /// How many members it has.
    pub member_count: usize,
    /// The members' names, only when asked for (`--members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// A role's row filter on a table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefTableFilter {
    /// The table.
    pub table: String,
    /// Its DAX filter.
    pub expression: String,
}

/// A shared expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefExpression {
    /// Name.
    pub name: String,
    /// `m`, else `unknown(n)`.
    pub kind: String,
    /// The expression.
    pub expression: String,
}

/// TOM `DataType` (learn.microsoft.com/dotnet/api/microsoft.analysisservices.tabular.datatype): the catalog's
/// number and the name the definition shows.
pub(crate) const DATA_TYPES: [(i64, &str); 10] = [
    (1, "automatic"),
    (2, "string"),
    (6, "int64"),
    (8, "double"),
    (9, "datetime"),
    (10, "decimal"),
    (11, "boolean"),
    (17, "binary"),
    (19, "unknown"),
    (20, "variant"),
];

fn data_type(n: Option<i64>) -> String {
    match DATA_TYPES.iter().find(|(k, _)| Some(*k) == n) {
        Some((_, name)) => (*name).to_owned(),
        None => unknown(n),
    }
}

/// TOM `ColumnType` (…tabular.columntype): 1 Data, 2 Calculated, 3 RowNumber, 4 CalculatedTableColumn.
fn column_kind(n: Option<i64>) -> String {
    match n {
        Some(1) => "data".into(),
        Some(2) => "calculated".into(),
        Some(4) => "calculated_table_column".into(),
        other => unknown(other),
    }
}

/// TOM `PartitionSourceType` (…tabular.partitionsourcetype).
fn partition_kind(n: Option<i64>) -> String {
    match n {
        Some(1) => "query".into(),
        Some(2) => "calculated".into(),
        Some(3) => "none".into(),
        Some(4) => "m".into(),
        Some(5) => "entity".into(),
        Some(6) => "policy_range".into(),
        Some(7) => "calculation_group".into(),
        Some(8) => "inferred".into(),
        Some(9) => "parquet".into(),
        other => unknown(other),
    }
}

/// TOM `RelationshipEndCardinality` (…tabular.relationshipendcardinality): 0 None, 1 One, 2 Many.
fn cardinality(from: Option<i64>, to: Option<i64>) -> String {
    let end = |n| match n {
        Some(1) => Some("one"),
        Some(2) => Some("many"),
        _ => None,
    };
    match (end(from), end(to)) {
        (Some(f), Some(t)) => format!("{f}_to_{t}"),
        _ => format!("unknown({}:{})", from.unwrap_or(-1), to.unwrap_or(-1)),
    }
}

/// TOM `CrossFilteringBehavior` (…tabular.crossfilteringbehavior): 1 OneDirection, 2 BothDirections, 3 Automatic.
fn cross_filter(n: Option<i64>) -> String {
    match n {
        Some(1) => "single".into(),
        Some(2) => "both".into(),
        Some(3) => "automatic".into(),
        other => unknown(other),
    }
}

/// TOM `ModelPermission` (…tabular.modelpermission): 1 None, 2 Read, 3 ReadRefresh, 4 Refresh, 5 Administrator.
fn model_permission(n: Option<i64>) -> String {
    match n {
        Some(1) => "none".into(),
        Some(2) => "read".into(),
        Some(3) => "read_refresh".into(),
        Some(4) => "refresh".into(),
        Some(5) => "administrator".into(),
        other => unknown(other),
    }
}

/// TOM `ExpressionKind` (…tabular.expressionkind) lists one member, M (0, which every sample's shared expressions
/// carry); any other number is shown as unknown.
fn expression_kind(n: Option<i64>) -> String {
    match n {
        Some(0) => "m".into(),
        other => unknown(other),
    }
}

fn unknown(n: Option<i64>) -> String {
    match n {
        Some(n) => format!("unknown({n})"),
        None => "unknown".into(),
    }
}

/// Names Power BI Desktop gives the tables of auto date/time.
fn auto_date_table(name: &str) -> bool {
    name.starts_with("LocalDateTable_") || name.starts_with("DateTableTemplate_")
}

/// The definition in `metadata.sqlitedb` bytes; `members` keeps role members' names.
pub(crate) fn read(bytes: &[u8], members: bool) -> Result<Definition, String> {
    let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    conn.deserialize_read_exact(rusqlite::MAIN_DB, bytes, bytes.len(), true)
        .map_err(|e| format!("does not open as sqlite: {e}"))?;
    Catalog { conn: &conn }
        .definition(members)
        .map_err(|e| format!("its catalog cannot be read: {e}"))
}

struct Catalog<'a> {
    conn: &'a rusqlite::Connection,
}

type Row = BTreeMap<String, rusqlite::types::Value>;

impl Catalog<'_> {
    /// Every row of `table` with the `columns` it has (a column an older catalog lacks reads as NULL); none when the
    /// catalog has no such table.
    fn rows(&self, table: &str, columns: &[&str]) -> rusqlite::Result<Vec<Row>> {
        let present: BTreeSet<String> = self
            .conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if present.is_empty() {
            return Ok(Vec::new());
        }
        let select: Vec<String> = columns
            .iter()
            .map(|c| if present.contains(*c) { format!("[{c}]") } else { "NULL".into() })
            .collect();
        let sql = format!("SELECT {} FROM [{table}] ORDER BY rowid", select.join(", "));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            let mut row = Row::new();
            for (i, c) in columns.iter().enumerate() {
                row.insert((*c).to_owned(), r.get::<_, rusqlite::types::Value>(i)?);
            }
            Ok(row)
        })?;
        rows.collect()
    }

    fn definition(&self, members: bool) -> rusqlite::Result<Definition> {
        let model = self.rows("Model", &["Culture", "DefaultPowerBIDataSourceVersion"])?;
        let all = self.rows("Table", &["ID", "Name", "SystemFlags", "IsPrivate"])?;
        // The engine's own H$/R$/U$ tables (SystemFlags bit 0) are storage, not the model.
        let tables: Vec<&Row> =
            all.iter().filter(|t| int(t, "SystemFlags").unwrap_or(0) & 1 == 0).collect();
        let names = Names {
            tables: tables.iter().filter_map(|t| Some((int(t, "ID")?, text(t, "Name")?))).collect(),
            columns: BTreeMap::new(),
        };
        let children = Children::read(self)?;
        let names = Names { columns: children.column_names(), ..names };
        let mut out = Definition {
            culture: model.first().and_then(|m| text(m, "Culture")),
            data_source_version: model
                .first()
                .and_then(|m| int(m, "DefaultPowerBIDataSourceVersion")),
            ..Definition::default()
        };
        out.tables = tables.iter().filter_map(|t| children.table(t, &names)).collect();
        out.relationships = self.relationships(&names)?;
        out.roles = self.roles(&names, members)?;
        for e in self.rows("Expression", &["Name", "Kind", "Expression"])? {
            out.expressions.push(DefExpression {
                name: text(&e, "Name").unwrap_or_default(),
                kind: expression_kind(int(&e, "Kind")),
                expression: text(&e, "Expression").unwrap_or_default(),
            });
        }
        out.perspectives =
            self.rows("Perspective", &["Name"])?.iter().filter_map(|p| text(p, "Name")).collect();
        out.cultures =
            self.rows("Culture", &["Name"])?.iter().filter_map(|c| text(c, "Name")).collect();
        Ok(out)
    }

    fn relationships(&self, names: &Names) -> rusqlite::Result<Vec<DefRelationship>> {
        let columns = [
            "IsActive",
            "CrossFilteringBehavior",
            "FromTableID",
            "FromColumnID",
            "FromCardinality",
            "ToTableID",
            "ToColumnID",
            "ToCardinality",
        ];
        Ok(self
            .rows("Relationship", &columns)?
            .iter()
            .map(|r| {
                let (from_table, from_column) =
                    names.end(int(r, "FromTableID"), int(r, "FromColumnID"));
                let (to_table, to_column) = names.end(int(r, "ToTableID"), int(r, "ToColumnID"));
                DefRelationship {
                    from_table,
                    from_column,
                    to_table,
                    to_column,
                    active: int(r, "IsActive").unwrap_or(1) != 0,
                    cardinality: cardinality(int(r, "FromCardinality"), int(r, "ToCardinality")),
                    cross_filter: cross_filter(int(r, "CrossFilteringBehavior")),
                }
            })
            .collect())
    }

    fn roles(&self, names: &Names, members: bool) -> rusqlite::Result<Vec<DefRole>> {
        let filters = self.rows("TablePermission", &["RoleID", "TableID", "FilterExpression"])?;
        let memberships = self.rows("RoleMembership", &["RoleID", "MemberName"])?;
        Ok(self
            .rows("Role", &["ID", "Name", "ModelPermission"])?
            .iter()
            .map(|r| {
                let id = int(r, "ID");
                let member_names: Vec<String> = memberships
                    .iter()
                    .filter(|m| int(m, "RoleID") == id)
                    .map(|m| text(m, "MemberName").unwrap_or_default())
                    .collect();
                DefRole {
                    name: text(r, "Name").unwrap_or_default(),
                    model_permission: model_permission(int(r, "ModelPermission")),
                    table_filters: filters
                        .iter()
                        .filter(|f| int(f, "RoleID") == id)
                        .filter_map(|f| {
                            let expression =
                                text(f, "FilterExpression").filter(|e| !e.is_empty())?;
                            let table = int(f, "TableID")
                                .and_then(|t| names.tables.get(&t))
                                .cloned()
                                .unwrap_or_default();
                            Some(DefTableFilter { table, expression })
                        })
                        .collect(),
                    member_count: member_names.len(),
                    members: members.then_some(member_names),
                }
            })
            .collect())
    }
}

/// Names by id: tables, and columns with their table's id.
struct Names {
    tables: BTreeMap<i64, String>,
    columns: BTreeMap<i64, (i64, String)>,
}

impl Names {
    /// A relationship end's table and column names (the table from the column when the row does not name it).
    fn end(&self, table: Option<i64>, column: Option<i64>) -> (String, String) {
        let column = column.and_then(|c| self.columns.get(&c));
        let table = table
            .and_then(|t| self.tables.get(&t))
            .cloned()
            .or_else(|| column.and_then(|(t, _)| self.tables.get(t).cloned()));
        (table.unwrap_or_default(), column.map(|(_, n)| n.clone()).unwrap_or_default())
    }
}

/// The rows that belong to tables: columns, measures, partitions, hierarchies and their levels, calculation groups
/// and their items.
struct Children {
    columns: Vec<Row>,
    measures: Vec<Row>,
    partitions: Vec<Row>,
    hierarchies: Vec<Row>,
    levels: Vec<Row>,
    groups: Vec<Row>,
    items: Vec<Row>,
}

impl Children {
    fn read(c: &Catalog<'_>) -> rusqlite::Result<Children> {
        let column_fields = [
            "ID",
            "TableID",
            "ExplicitName",
            "InferredName",
            "ExplicitDataType",
            "InferredDataType",
            "Type",
            "Expression",
        ];
        Ok(Children {
            columns: c.rows("Column", &column_fields)?,
            measures: c.rows(
                "Measure",
                &["TableID", "Name", "Expression", "DisplayFolder", "FormatString"],
            )?,
            partitions: c.rows("Partition", &["TableID", "Name", "Type", "QueryDefinition"])?,
            hierarchies: c.rows("Hierarchy", &["ID", "TableID", "Name"])?,
            levels: c.rows("Level", &["HierarchyID", "Ordinal", "ColumnID"])?,
            groups: c.rows("CalculationGroup", &["ID", "TableID"])?,
            items: c.rows(
                "CalculationItem",
                &["CalculationGroupID", "Name", "Expression", "Ordinal"],
            )?,
        })
    }

    fn column_names(&self) -> BTreeMap<i64, (i64, String)> {
        self.columns
            .iter()
            .filter_map(|c| {
                let name = text(c, "ExplicitName").or_else(|| text(c, "InferredName"))?;
                Some((int(c, "ID")?, (int(c, "TableID")?, name)))
            })
            .collect()
    }

    fn table(&self, t: &Row, names: &Names) -> Option<DefTable> {
        let (id, name) = (int(t, "ID")?, text(t, "Name")?);
        let of = |r: &&Row| int(r, "TableID") == Some(id);
        Some(DefTable {
            internal: int(t, "IsPrivate").unwrap_or(0) != 0 || auto_date_table(&name),
            // The engine's RowNumber column (ColumnType 3) is not the author's.
            columns: self
                .columns
                .iter()
                .filter(of)
                .filter(|c| int(c, "Type") != Some(3))
                .map(column)
                .collect(),
            measures: self
                .measures
                .iter()
                .filter(of)
                .map(|m| DefMeasure {
                    name: text(m, "Name").unwrap_or_default(),
                    expression: text(m, "Expression").unwrap_or_default(),
                    display_folder: text(m, "DisplayFolder").filter(|s| !s.is_empty()),
                    format_string: text(m, "FormatString").filter(|s| !s.is_empty()),
                })
                .collect(),
            partitions: self
                .partitions
                .iter()
                .filter(of)
                .map(|p| DefPartition {
                    name: text(p, "Name").unwrap_or_default(),
                    kind: partition_kind(int(p, "Type")),
                    expression: text(p, "QueryDefinition").unwrap_or_default(),
                })
                .collect(),
            hierarchies: self
                .hierarchies
                .iter()
                .filter(of)
                .map(|h| self.hierarchy(h, names))
                .collect(),
            calculation_items: self.calculation_items(id),
            name,
        })
    }

    fn hierarchy(&self, h: &Row, names: &Names) -> DefHierarchy {
        let hid = int(h, "ID");
        let mut own: Vec<&Row> =
            self.levels.iter().filter(|l| int(l, "HierarchyID") == hid).collect();
        own.sort_by_key(|l| int(l, "Ordinal").unwrap_or(0));
        DefHierarchy {
            name: text(h, "Name").unwrap_or_default(),
            levels: own
                .iter()
                .filter_map(|l| names.columns.get(&int(l, "ColumnID")?).map(|(_, n)| n.clone()))
                .collect(),
        }
    }

    fn calculation_items(&self, table: i64) -> Vec<DefCalculationItem> {
        let groups: Vec<i64> = self
            .groups
            .iter()
            .filter(|g| int(g, "TableID") == Some(table))
            .filter_map(|g| int(g, "ID"))
            .collect();
        let mut items: Vec<&Row> = self
            .items
            .iter()
            .filter(|i| int(i, "CalculationGroupID").is_some_and(|g| groups.contains(&g)))
            .collect();
        items.sort_by_key(|i| int(i, "Ordinal").unwrap_or(0));
        items
            .iter()
            .map(|i| DefCalculationItem {
                name: text(i, "Name").unwrap_or_default(),
                expression: text(i, "Expression").unwrap_or_default(),
            })
            .collect()
    }
}

fn column(c: &Row) -> DefColumn {
    let explicit = int(c, "ExplicitDataType");
    let kind = int(c, "Type");
    DefColumn {
        name: text(c, "ExplicitName").or_else(|| text(c, "InferredName")).unwrap_or_default(),
        // Automatic (1) means the engine inferred it.
        data_type: data_type(if explicit == Some(1) {
            int(c, "InferredDataType")
        } else {
            explicit
        }),
        kind: column_kind(kind),
        expression: if kind == Some(2) { text(c, "Expression") } else { None },
    }
}

fn int(row: &Row, column: &str) -> Option<i64> {
    match row.get(column)? {
        rusqlite::types::Value::Integer(i) => Some(*i),
        rusqlite::types::Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn text(row: &Row, column: &str) -> Option<String> {
    match row.get(column)? {
        rusqlite::types::Value::Text(t) => Some(t.clone()),
        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

impl Definition {
    /// The definition with every list in a fixed order (tables, their columns, measures, partitions, hierarchies;
    /// relationships, roles, expressions, perspectives and cultures by name), so that two definitions of one model
    /// compare equal however their catalogs stored them. Role members are left out.
    pub fn canonical(&self) -> Definition {
        let mut d = self.clone();
        d.tables.sort_by(|a, b| a.name.cmp(&b.name));
        for t in &mut d.tables {
            t.columns.sort_by(|a, b| a.name.cmp(&b.name));
            t.measures.sort_by(|a, b| a.name.cmp(&b.name));
            t.partitions.sort_by(|a, b| a.name.cmp(&b.name));
            t.hierarchies.sort_by(|a, b| a.name.cmp(&b.name));
        }
        d.relationships.sort();
        d.roles.sort_by(|a, b| a.name.cmp(&b.name));
        for r in &mut d.roles {
            r.members = None;
            r.table_filters.sort_by(|a, b| a.table.cmp(&b.table));
        }
        d.expressions.sort_by(|a, b| a.name.cmp(&b.name));
        d.perspectives.sort();
        d.cultures.sort();
        d
    }

    /// The fingerprint: SHA-256 (hex) of the canonical form's JSON, with the counts beside it.
    pub fn fingerprint(&self) -> Fingerprint {
        let canonical = serde_json::to_vec(&self.canonical()).unwrap_or_default();
        Fingerprint {
            sha256: hex::encode(sha2::Sha256::digest(&canonical)),
            tables: self.tables.len(),
            columns: self.tables.iter().map(|t| t.columns.len()).sum(),
            measures: self.tables.iter().map(|t| t.measures.len()).sum(),
            relationships: self.relationships.len(),
            roles: self.roles.len(),
        }
    }
}

/// A definition's fingerprint, as a manifest records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256 (hex) of the canonical form.
    pub sha256: String,
    /// Tables.
    pub tables: usize,
    /// Columns, all tables together.
    pub columns: usize,
    /// Measures, all tables together.
    pub measures: usize,
    /// Relationships.
    pub relationships: usize,
    /// Roles.
    pub roles: usize,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn table(name: String, columns: Vec<String>, measures: Vec<(String, String)>) -> DefTable {
        DefTable {
            name,
            columns: columns
                .into_iter()
                .map(|c| DefColumn {
                    name: c,
                    data_type: "string".into(),
                    kind: "data".into(),
                    expression: None,
                })
                .collect(),
            measures: measures
                .into_iter()
                .map(|(n, e)| DefMeasure { name: n, expression: e, ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    fn definition() -> impl Strategy<Value = Definition> {
        let names = || prop::collection::btree_set("[a-z]{1,6}", 0..5);
        let t = (
            "[A-Z][a-z]{0,5}",
            names(),
            prop::collection::btree_map("[a-z]{1,6}", "[A-Z()+ ]{0,12}", 0..4),
        )
            .prop_map(|(n, c, m)| table(n, c.into_iter().collect(), m.into_iter().collect()));
        prop::collection::vec(t, 0..5).prop_map(|mut tables| {
            tables.sort_by(|a, b| a.name.cmp(&b.name));
            tables.dedup_by(|a, b| a.name == b.name);
            Definition { tables, ..Default::default() }
        })
    }

    proptest! {
        #[test]
        fn the_fingerprint_does_not_depend_on_stored_order(d in definition(), seed in any::<u64>()) {
            let mut shuffled = d.clone();
            let mut rng = seed;
            let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); rng };
            let rotate = |v: usize, by: u64| if v == 0 { 0 } else { (by % v as u64) as usize };
            let by = next();
            let n = shuffled.tables.len();
            shuffled.tables.rotate_left(rotate(n, by));
            shuffled.tables.reverse();
            for t in &mut shuffled.tables {
                let (c, m) = (t.columns.len(), t.measures.len());
                t.columns.rotate_left(rotate(c, next()));
                t.measures.reverse();
                t.measures.rotate_left(rotate(m, next()));
            }
            prop_assert_eq!(d.fingerprint(), shuffled.fingerprint());
            prop_assert!(crate::compare(&d, &shuffled).is_empty());
        }

        #[test]
        fn a_changed_measure_changes_the_fingerprint_and_is_the_one_change(d in definition()) {
            let Some((ti, mi)) = d.tables.iter().enumerate().find_map(|(i, t)| (!t.measures.is_empty()).then_some((i, 0))) else {
                return Ok(());
            };
            let mut changed = d.clone();
            changed.tables[ti].measures[mi].expression.push_str(" + 1");
            prop_assert_ne!(d.fingerprint().sha256, changed.fingerprint().sha256);
            let changes = crate::compare(&d, &changed);
            prop_assert_eq!(changes.len(), 1);
            prop_assert_eq!(changes[0].object.as_str(), "measure");
            prop_assert_eq!(changes[0].change.as_str(), "changed");
        }
    }
}
