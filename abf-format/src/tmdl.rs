//! A definition as a TMDL folder, the text format Microsoft documents for Power BI projects and Tabular Editor
//! ("Tabular Model Definition Language (TMDL)", learn.microsoft.com/analysis-services/tmdl/tmdl-overview):
//! `database.tmdl`, `model.tmdl`, `tables/<name>.tmdl`, `relationships.tmdl`, `roles/<name>.tmdl` and
//! `expressions.tmdl`, tab-indented, names quoted with `'` when they are not plain identifiers, multi-line
//! expressions on the lines below their property. Only what [`Definition`] holds is written, so a folder of nightly
//! exports shows in `git diff` what changed in the model.
//!
//! File names: characters that no file name may hold (`<>:"/\|?*`, control characters, `%`) are percent-encoded; the
//! overview describes the folder layout but not this escaping, so it follows the common percent form.

use std::fmt::Write as _;

use crate::definition::{DefColumn, DefMeasure, DefPartition, DefTable, Definition};

/// The files of the TMDL folder: (path relative to the folder, with `/` separators; text).
pub fn to_tmdl(d: &Definition, database: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut db = format!("database {}\n", name(database));
    if let Some(level) = d.compatibility_level {
        let _ = writeln!(db, "\tcompatibilityLevel: {level}");
    }
    files.push(("database.tmdl".to_owned(), db));
    let mut model = "model Model\n".to_owned();
    if let Some(c) = &d.culture {
        let _ = writeln!(model, "\tculture: {c}");
    }
    for p in &d.perspectives {
        let _ = write!(model, "\nref perspective {}\n", name(p));
    }
    for c in &d.cultures {
        let _ = write!(model, "\nref cultureInfo {}\n", name(c));
    }
    files.push(("model.tmdl".to_owned(), model));
    for t in &d.tables {
        files.push((format!("tables/{}.tmdl", file_name(&t.name)), table(t)));
    }
    if !d.relationships.is_empty() {
        let mut s = String::new();
        for (i, r) in d.relationships.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            let _ = writeln!(
                s,
                "relationship {}",
                name(&format!(
                    "{}.{} to {}.{}",
                    r.from_table, r.from_column, r.to_table, r.to_column
                ))
            );
            if !r.active {
                s.push_str("\tisActive: false\n");
            }
            match r.cross_filter.as_str() {
                "both" => s.push_str("\tcrossFilteringBehavior: bothDirections\n"),
                "automatic" => s.push_str("\tcrossFilteringBehavior: automatic\n"),
                _ => {}
            }
            match r.cardinality.as_str() {
                "one_to_one" => s.push_str("\tfromCardinality: one\n"),
                "many_to_many" => s.push_str("\ttoCardinality: many\n"),
                "one_to_many" => s.push_str("\tfromCardinality: one\n\ttoCardinality: many\n"),
                _ => {}
            }
            let _ = writeln!(s, "\tfromColumn: {}.{}", name(&r.from_table), name(&r.from_column));
            let _ = writeln!(s, "\ttoColumn: {}.{}", name(&r.to_table), name(&r.to_column));
        }
        files.push(("relationships.tmdl".to_owned(), s));
    }
    for r in &d.roles {
        let mut s = format!("role {}\n", name(&r.name));
        let permission = match r.model_permission.as_str() {
            "read_refresh" => "readRefresh",
            other => other,
        };
        let _ = writeln!(s, "\tmodelPermission: {permission}");
        for f in &r.table_filters {
            s.push('\n');
            s.push_str(&expression_line(
                1,
                &format!("tablePermission {}", name(&f.table)),
                &f.expression,
            ));
        }
        files.push((format!("roles/{}.tmdl", file_name(&r.name)), s));
    }
    if !d.expressions.is_empty() {
        let mut s = String::new();
        for (i, e) in d.expressions.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&expression_line(
                0,
                &format!("expression {}", name(&e.name)),
                &e.expression,
            ));
        }
        files.push(("expressions.tmdl".to_owned(), s));
    }
    files
}

fn table(t: &DefTable) -> String {
    let mut s = format!("table {}\n", name(&t.name));
    if t.internal {
        s.push_str("\tisPrivate\n");
    }
    for m in &t.measures {
        s.push('\n');
        s.push_str(&measure(m));
    }
    for c in &t.columns {
        s.push('\n');
        s.push_str(&column(c));
    }
    for h in &t.hierarchies {
        let _ = write!(s, "\n\thierarchy {}\n", name(&h.name));
        for l in &h.levels {
            let _ = write!(s, "\n\t\tlevel {}\n\t\t\tcolumn: {}\n", name(l), name(l));
        }
    }
    for i in &t.calculation_items {
        s.push('\n');
        s.push_str(&expression_line(
            1,
            &format!("calculationItem {}", name(&i.name)),
            &i.expression,
        ));
    }
    for p in &t.partitions {
        s.push('\n');
        s.push_str(&partition(p));
    }
    s
}

fn measure(m: &DefMeasure) -> String {
    let mut s = expression_line(1, &format!("measure {}", name(&m.name)), &m.expression);
    if let Some(f) = &m.format_string {
        let _ = writeln!(s, "\t\tformatString: {f}");
    }
    if let Some(d) = &m.display_folder {
        let _ = writeln!(s, "\t\tdisplayFolder: {d}");
    }
    s
}

fn column(c: &DefColumn) -> String {
    let head = format!("column {}", name(&c.name));
    let mut s = match &c.expression {
        Some(e) => expression_line(1, &head, e),
        None => format!("\t{head}\n"),
    };
    let _ = writeln!(s, "\t\tdataType: {}", data_type(&c.data_type));
    s
}

fn partition(p: &DefPartition) -> String {
    let kind = match p.kind.as_str() {
        "policy_range" => "policyRange",
        "calculation_group" => "calculationGroup",
        other => other,
    };
    let mut s = format!("\tpartition {} = {kind}\n", name(&p.name));
    s.push_str("\t\tsource =\n");
    for line in p.expression.lines() {
        let _ = writeln!(s, "\t\t\t\t{line}");
    }
    s
}

/// TMDL's names of the data types.
fn data_type(t: &str) -> &str {
    match t {
        "datetime" => "dateTime",
        other => other,
    }
}

/// `head = expression` at `depth` tabs: on one line when the expression has one, else on the lines below, two
/// levels deeper.
fn expression_line(depth: usize, head: &str, expression: &str) -> String {
    let indent = "\t".repeat(depth);
    let lines: Vec<&str> = expression.lines().collect();
    if lines.len() <= 1 {
        return format!("{indent}{head} = {}\n", expression.trim());
    }
    let mut s = format!("{indent}{head} =\n");
    for line in lines {
        let _ = writeln!(s, "{indent}\t\t{line}");
    }
    s
}

/// A name as TMDL writes it: as it is when it is a plain identifier, else in single quotes with quotes doubled.
fn name(n: &str) -> String {
    let plain = !n.is_empty()
        && n.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit());
    if plain { n.to_owned() } else { format!("'{}'", n.replace('\'', "''")) }
}

/// A name as a file name: characters no file system takes (and `%`) percent-encoded.
fn file_name(n: &str) -> String {
    let mut s = String::new();
    for c in n.chars() {
        if matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' | '%') || c.is_control()
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(s, "%{b:02X}");
            }
        } else {
            s.push(c);
        }
    }
    if s.ends_with('.') || s.ends_with(' ') {
        s.push_str("%20");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::DefRelationship;

    #[test]
    fn a_definition_becomes_the_documented_folder() {
        let d = Definition {
            compatibility_level: Some(1600),
            tables: vec![DefTable {
                name: "Internet Sales".into(),
                columns: vec![DefColumn {
                    name: "Amount".into(),
                    data_type: "double".into(),
                    kind: "data".into(),
                    expression: None,
                }],
                measures: vec![DefMeasure {
                    name: "Total".into(),
                    expression: "SUM('Internet Sales'[Amount])".into(),
                    ..Default::default()
                }],
                partitions: vec![DefPartition {
                    name: "P".into(),
                    kind: "m".into(),
                    expression: "let\n    S = 1\nin\n    S".into(),
                }],
                ..Default::default()
            }],
            relationships: vec![DefRelationship {
                from_table: "Internet Sales".into(),
                from_column: "Key".into(),
                to_table: "Product".into(),
                to_column: "Key".into(),
                active: false,
                cardinality: "many_to_one".into(),
                cross_filter: "both".into(),
            }],
            ..Default::default()
        };
        let files = to_tmdl(&d, "Sales/EU");
        let get = |p: &str| {
            files
                .iter()
                .find(|(n, _)| n == p)
                .map(|(_, t)| t.as_str())
                .unwrap_or_else(|| panic!("{p}: {files:?}"))
        };
        assert_eq!(get("database.tmdl"), "database 'Sales/EU'\n\tcompatibilityLevel: 1600\n");
        let table = get("tables/Internet Sales.tmdl");
        assert!(table.starts_with("table 'Internet Sales'\n"), "{table}");
        assert!(table.contains("\tmeasure Total = SUM('Internet Sales'[Amount])\n"), "{table}");
        assert!(table.contains("\tcolumn Amount\n\t\tdataType: double\n"), "{table}");
        assert!(table.contains("\tpartition P = m\n\t\tsource =\n\t\t\t\tlet\n"), "{table}");
        let rel = get("relationships.tmdl");
        assert!(
            rel.contains("\tisActive: false\n\tcrossFilteringBehavior: bothDirections\n"),
            "{rel}"
        );
        assert!(
            rel.contains("\tfromColumn: 'Internet Sales'.Key\n\ttoColumn: Product.Key\n"),
            "{rel}"
        );
        assert_eq!(file_name("a/b:c%"), "a%2Fb%3Ac%25");
        assert_eq!(name("It's"), "'It''s'");
    }
}
