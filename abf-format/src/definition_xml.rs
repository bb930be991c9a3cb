//! The definition of a model below compatibility level 1200 (Power Pivot workbooks, SQL Server 2012/2014 tabular
//! models: levels 1100 and 1103), read from its ASSL object files instead of a catalog:
//! - each table is a `*.dim.xml` `Dimension`: its `Attribute`s are the columns (the `RowNumber` attribute left out,
//!   as the catalog reader leaves the `RowNumber` column out), typed by their `KeyColumn`'s `DataType`, calculated
//!   when bound by an `ExpressionBinding` (its `Expression` is the DAX); its `Hierarchies` are the hierarchies; its
//!   `Relationships` (ddl300) are the relationships, each end a `DimensionID` and an `AttributeID`;
//! - each partition is a `*.prt.xml` `Partition` in its measure group's folder, bound by a `QueryBinding` (`kind`
//!   `query`, its `QueryDefinition` the expression);
//! - the measures are the `CREATE MEASURE 'Table'[Name] = expression;` statements of the cube's `*.scr.xml`
//!   `MdxScript` commands.
//!
//! Sources: the ASSL reference on learn.microsoft.com (`Dimension`, `Attribute`, `KeyColumn`/`DataItem` `DataType`,
//! `ExpressionBinding`, `QueryBinding`, and the SQL Server 2012 `Relationship`/`RelationshipEnd`/`Multiplicity`
//! pages: `One` is the primary key end, `Many` the foreign key end). Where they are silent, and the sample
//! workbook (`samples/abf/pbixray/*.xlsx`) is what this follows: that the measures are `CREATE MEASURE` statements
//! of the MDX script, and that a relationship whose `Visible` is `false` is an inactive one. Level 1103 has no
//! bidirectional filtering: every relationship filters one way (`single`).

use std::collections::BTreeMap;

use crate::definition::{
    DefColumn, DefHierarchy, DefMeasure, DefPartition, DefRelationship, DefTable, Definition,
};
use crate::metadata;
use crate::xml::{self, Step};

/// One object file of the image: its path as the backup log names it, and its bytes.
pub(crate) struct ObjectFile {
    pub(crate) path: String,
    pub(crate) bytes: Vec<u8>,
}

/// A dimension as read: its id, its table, its attributes' ids and names, and its relationships.
#[derive(Default)]
struct Dimension {
    id: String,
    table: DefTable,
    /// Attribute id → column name (they differ when a column was renamed).
    attribute_names: BTreeMap<String, String>,
    relationships: Vec<Relationship>,
    hierarchy_levels: Vec<Vec<String>>,
}

/// A relationship as stored: ends by dimension and attribute ids.
#[derive(Default)]
struct Relationship {
    visible: Option<bool>,
    ends: [End; 2],
}

#[derive(Default)]
struct End {
    multiplicity: String,
    dimension: String,
    attribute: String,
}

/// The definition in `files` (`*.dim.xml`, `*.prt.xml`, `*.scr.xml`); an error names the file that does not read.
pub(crate) fn read(files: &[ObjectFile]) -> Result<Definition, String> {
    let mut dimensions = Vec::new();
    let mut partitions: Vec<(String, DefPartition)> = Vec::new();
    let mut measures: Vec<(String, DefMeasure)> = Vec::new();
    for f in files {
        let name = metadata::file_name(&f.path);
        let text = xml::decode_text(&f.bytes).map_err(|e| format!("{name}: {e}"))?;
        if name.ends_with(".dim.xml") {
            dimensions.push(dimension(&text).map_err(|e| format!("{name}: {e}"))?);
        } else if name.ends_with(".prt.xml") {
            let owner = metadata::partition_owner(&f.path).unwrap_or_default().to_owned();
            partitions.push((owner, partition(&text).map_err(|e| format!("{name}: {e}"))?));
        } else if name.ends_with(".scr.xml") {
            for command in script_commands(&text).map_err(|e| format!("{name}: {e}"))? {
                measures.extend(create_measures(&command));
            }
        }
    }
    let mut definition = Definition::default();
    for d in &dimensions {
        definition
            .relationships
            .extend(d.relationships.iter().filter_map(|r| relationship(r, &dimensions)));
    }
    for mut d in dimensions {
        d.table.partitions =
            partitions.iter().filter(|(owner, _)| *owner == d.id).map(|(_, p)| p.clone()).collect();
        d.table.measures = measures
            .iter()
            .filter(|(table, _)| *table == d.table.name)
            .map(|(_, m)| m.clone())
            .collect();
        let names = &d.attribute_names;
        for (h, levels) in d.table.hierarchies.iter_mut().zip(&d.hierarchy_levels) {
            h.levels = levels
                .iter()
                .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
                .collect();
        }
        definition.tables.push(d.table);
    }
    Ok(definition)
}

/// A `Dimension` definition: the table, its columns, hierarchies and relationships.
fn dimension(text: &str) -> Result<Dimension, String> {
    let mut d = Dimension::default();
    let mut column = DefColumn::default();
    let mut attribute_id = String::new();
    let mut row_number = false;
    let mut inferred = String::new();
    let mut relationship = Relationship::default();
    let mut hierarchy = DefHierarchy::default();
    let mut levels: Vec<String> = Vec::new();
    xml::walk(text, |step| {
        let (stack, closing) = match &step {
            Step::Open(s) => (*s, None),
            Step::Close(s, t) => (*s, Some(*t)),
        };
        let Some(at) = stack.iter().position(|e| e == "Dimension") else { return };
        let path: Vec<&str> = stack[at + 1..].iter().map(String::as_str).collect();
        let Some(text) = closing else {
            if path == ["Attributes", "Attribute"] {
                (column, attribute_id, row_number, inferred) = (
                    DefColumn { kind: "data".into(), ..DefColumn::default() },
                    String::new(),
                    false,
                    String::new(),
                );
            }
            return;
        };
        let text = text.trim();
        match path.as_slice() {
            ["Name"] => d.table.name = text.to_owned(),
            ["ID"] => d.id = text.to_owned(),
            ["Attributes", "Attribute", "Name"] => column.name = text.to_owned(),
            ["Attributes", "Attribute", "ID"] => attribute_id = text.to_owned(),
            ["Attributes", "Attribute", "Type"] => row_number = text == "RowNumber",
            ["Attributes", "Attribute", "InferredDatatype"] => inferred = text.to_owned(),
            ["Attributes", "Attribute", "KeyColumns", "KeyColumn", "DataType"] => {
                column.data_type = data_type(text)
            }
            ["Attributes", "Attribute", "KeyColumns", "KeyColumn", "Source", "Expression"] => {
                column.kind = "calculated".into();
                column.expression = Some(text.to_owned());
            }
            ["Attributes", "Attribute"] => {
                if column.data_type == "automatic" && !inferred.is_empty() {
                    column.data_type = data_type(&inferred);
                }
                if !attribute_id.is_empty() {
                    d.attribute_names.insert(attribute_id.clone(), column.name.clone());
                }
                if !row_number {
                    d.table.columns.push(std::mem::take(&mut column));
                }
            }
            ["Hierarchies", "Hierarchy", "Name"] => hierarchy.name = text.to_owned(),
            ["Hierarchies", "Hierarchy", "Levels", "Level", "SourceAttributeID"] => {
                levels.push(text.to_owned())
            }
            ["Hierarchies", "Hierarchy"] => {
                d.table.hierarchies.push(std::mem::take(&mut hierarchy));
                d.hierarchy_levels.push(std::mem::take(&mut levels));
            }
            ["Relationships", "Relationship", "Visible"] => {
                relationship.visible = Some(text.eq_ignore_ascii_case("true"))
            }
            ["Relationships", "Relationship", end, field @ ..] => {
                let i = match *end {
                    "FromRelationshipEnd" => 0,
                    "ToRelationshipEnd" => 1,
                    _ => return,
                };
                let e = &mut relationship.ends[i];
                match field {
                    ["Multiplicity"] => e.multiplicity = text.to_owned(),
                    ["DimensionID"] => e.dimension = text.to_owned(),
                    ["Attributes", "Attribute", "AttributeID"] if e.attribute.is_empty() => {
                        e.attribute = text.to_owned()
                    }
                    _ => {}
                }
            }
            ["Relationships", "Relationship"] => {
                d.relationships.push(std::mem::take(&mut relationship))
            }
            _ => {}
        }
    })?;
    if d.table.name.is_empty() {
        return Err("the Dimension has no Name".into());
    }
    Ok(d)
}

/// ASSL `DataType` (the `DataItem` reference) as the definition names types; `Empty` (a calculated column's key)
/// is `automatic`, to be replaced by the attribute's inferred type.
fn data_type(assl: &str) -> String {
    match assl {
        "WChar" | "Char" => "string",
        "BigInt" | "Integer" | "SmallInt" | "TinyInt" | "UnsignedBigInt" | "UnsignedInt"
        | "UnsignedSmallInt" | "UnsignedTinyInt" => "int64",
        "Double" | "Single" => "double",
        "Date" => "datetime",
        "Boolean" | "Bool" => "boolean",
        "Currency" => "decimal",
        "Binary" => "binary",
        "Empty" => "automatic",
        other => return format!("unknown({other})"),
    }
    .to_owned()
}

/// A relationship with its ends named: the many end is "from", as the catalog's are.
fn relationship(r: &Relationship, dimensions: &[Dimension]) -> Option<DefRelationship> {
    let name = |e: &End| -> Option<(String, String)> {
        let d = dimensions.iter().find(|d| d.id == e.dimension)?;
        let column =
            d.attribute_names.get(&e.attribute).cloned().unwrap_or_else(|| e.attribute.clone());
        Some((d.table.name.clone(), column))
    };
    let [from, to] = &r.ends;
    let ((from_table, from_column), (to_table, to_column)) = (name(from)?, name(to)?);
    let end = |m: &str| m.to_ascii_lowercase();
    Some(DefRelationship {
        from_table,
        from_column,
        to_table,
        to_column,
        active: r.visible.unwrap_or(true),
        cardinality: format!("{}_to_{}", end(&from.multiplicity), end(&to.multiplicity)),
        cross_filter: "single".into(),
    })
}

/// A `Partition` definition: its name and its query.
fn partition(text: &str) -> Result<DefPartition, String> {
    let mut p = DefPartition { kind: "query".into(), ..DefPartition::default() };
    xml::walk(text, |step| {
        let Step::Close(stack, text) = step else { return };
        let Some(at) = stack.iter().position(|e| e == "Partition") else { return };
        match stack[at + 1..].iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["Name"] => p.name = text.trim().to_owned(),
            ["Source", "QueryDefinition"] => p.expression = text.trim().to_owned(),
            _ => {}
        }
    })?;
    if p.name.is_empty() {
        return Err("the Partition has no Name".into());
    }
    Ok(p)
}

/// The text of each command of an `MdxScript`.
fn script_commands(text: &str) -> Result<Vec<String>, String> {
    let mut commands = Vec::new();
    xml::walk(text, |step| {
        if let Step::Close(stack, text) = step
            && stack.len() >= 3
            && stack[stack.len() - 3..] == ["Commands", "Command", "Text"]
        {
            commands.push(text.to_owned());
        }
    })?;
    Ok(commands)
}

/// The `CREATE MEASURE` statements of a script command: (table, measure).
fn create_measures(command: &str) -> Vec<(String, DefMeasure)> {
    statements(command)
        .iter()
        .filter_map(|s| {
            let rest = strip_keywords(s, &["CREATE", "MEASURE"])?;
            let (table, rest) = quoted_name(rest)?;
            let (name, rest) = bracketed_name(rest.trim_start())?;
            let expression = rest.trim_start().strip_prefix('=')?.trim();
            Some((
                table,
                DefMeasure { name, expression: expression.to_owned(), ..DefMeasure::default() },
            ))
        })
        .collect()
}

/// The statements of a script, split at the `;` outside strings, quoted names, bracketed names and comments, each
/// with its comments left out and trimmed.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '[' => {
                let close = if c == '[' { ']' } else { c };
                current.push(c);
                while let Some(d) = chars.next() {
                    current.push(d);
                    if d == close {
                        // A doubled closing character is an escaped one.
                        if chars.peek() == Some(&close) {
                            current.push(close);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
                current.push(' ');
            }
            ';' => out.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    out.push(current.trim().to_owned());
    out.retain(|s| !s.is_empty());
    out
}

/// `s` after the `words` (case-insensitive, separated by white space), or `None`.
fn strip_keywords<'s>(mut s: &'s str, words: &[&str]) -> Option<&'s str> {
    for w in words {
        s = s.trim_start();
        let head = s.get(..w.len())?;
        if !head.eq_ignore_ascii_case(w) {
            return None;
        }
        s = &s[w.len()..];
        if !s.starts_with(char::is_whitespace) {
            return None;
        }
    }
    Some(s.trim_start())
}

/// A table name, `'quoted'` (`''` an escaped quote) or bare up to the `[`, and the rest.
fn quoted_name(s: &str) -> Option<(String, &str)> {
    match s.strip_prefix('\'') {
        Some(body) => delimited(body, '\''),
        None => {
            let end = s.find('[')?;
            Some((s[..end].trim().to_owned(), &s[end..]))
        }
    }
}

/// A `[bracketed]` name (`]]` an escaped bracket) and the rest.
fn bracketed_name(s: &str) -> Option<(String, &str)> {
    delimited(s.strip_prefix('[')?, ']')
}

/// The text of `body` up to the first `close` that is not doubled (a doubled one is one escaped `close`), and what
/// follows it; `None` when no `close` ends it.
fn delimited(body: &str, close: char) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != close {
            name.push(c);
        } else if chars.next_if(|(_, d)| *d == close).is_some() {
            name.push(close);
        } else {
            return Some((name, &body[i + c.len_utf8()..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_are_read_from_the_script_whatever_their_text_holds() {
        let script = "CALCULATE;\n-- a comment; with a semicolon\nCREATE MEASURE 'It''s'[A]=SUM([x]);\n\
            CREATE MEASURE 'T'[B ]]1] = IF([a] < 1, \"x;y\", BLANK())\n; /* ; */ CREATE KPI CURRENTCUBE.[A] AS 1;\n\
            create measure T[C]=1";
        let got = create_measures(script);
        let shown: Vec<(&str, &str, &str)> =
            got.iter().map(|(t, m)| (t.as_str(), m.name.as_str(), m.expression.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("It's", "A", "SUM([x])"),
                ("T", "B ]1", "IF([a] < 1, \"x;y\", BLANK())"),
                ("T", "C", "1")
            ]
        );
        assert!(create_measures("CREATE MEMBER CURRENTCUBE.Measures.[x] AS 1;").is_empty());
        assert!(create_measures("CREATE MEASURE 'unterminated[x]=1").is_empty());
    }

    #[test]
    fn a_dimension_gives_its_columns_hierarchies_and_relationships() {
        let dim = |id: &str, name: &str, extra: &str| {
            ObjectFile {
            path: format!("DB.0.db\\{id}.1.dim.xml"),
            bytes: format!(
                "<Load><ObjectDefinition><Dimension><Name>{name}</Name><ID>{id}</ID><Attributes>\
                 <Attribute><Name>RowNumber</Name><ID>RowNumber</ID><Type>RowNumber</Type><KeyColumns><KeyColumn><DataType>Integer</DataType></KeyColumn></KeyColumns></Attribute>\
                 <Attribute><Name>Key</Name><ID>Key</ID><KeyColumns><KeyColumn><DataType>Integer</DataType><Source><TableID>t</TableID></Source></KeyColumn></KeyColumns></Attribute>\
                 <Attribute><Name>Shown</Name><ID>CalculatedColumn1</ID><InferredDatatype>WChar</InferredDatatype><KeyColumns><KeyColumn><DataType>Empty</DataType><Source><Expression>[Key] &amp; \"!\"</Expression></Source></KeyColumn></KeyColumns></Attribute>\
                 </Attributes>{extra}</Dimension></ObjectDefinition></Load>"
            )
            .into_bytes(),
        }
        };
        let relationships = "<Hierarchies><Hierarchy><Name>H</Name><Levels><Level><SourceAttributeID>CalculatedColumn1</SourceAttributeID></Level></Levels></Hierarchy></Hierarchies>\
            <Relationships><Relationship><ID>r</ID><Visible>false</Visible>\
            <FromRelationshipEnd><Multiplicity>Many</Multiplicity><DimensionID>F</DimensionID><Attributes><Attribute><AttributeID>CalculatedColumn1</AttributeID></Attribute></Attributes></FromRelationshipEnd>\
            <ToRelationshipEnd><Multiplicity>One</Multiplicity><DimensionID>D</DimensionID><Attributes><Attribute><AttributeID>Key</AttributeID></Attribute></Attributes></ToRelationshipEnd>\
            </Relationship></Relationships>";
        let files = [dim("F", "Facts", relationships), dim("D", "Dim", "")];
        let d = read(&files).unwrap();
        let facts = &d.tables[0];
        let columns: Vec<(&str, &str, &str)> = facts
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(columns, [("Key", "int64", "data"), ("Shown", "string", "calculated")]);
        assert_eq!(facts.columns[1].expression.as_deref(), Some("[Key] & \"!\""));
        assert_eq!(facts.hierarchies[0].levels, ["Shown"]);
        let r = &d.relationships[0];
        assert_eq!(
            (
                r.from_table.as_str(),
                r.from_column.as_str(),
                r.to_table.as_str(),
                r.to_column.as_str()
            ),
            ("Facts", "Shown", "Dim", "Key")
        );
        assert_eq!((r.active, r.cardinality.as_str()), (false, "many_to_one"));
        let broken = ObjectFile { path: "x.dim.xml".into(), bytes: b"<Load><Dimension>".to_vec() };
        assert!(read(&[broken]).unwrap_err().contains("x.dim.xml"));
    }
}
