//! Cross-check with the independent Python reader pbixray (`PBI_BACKUP_PYTHON` names a python that has it):
//! table names, file count and stored/original sizes must agree on every readable sample.

use std::path::{Path, PathBuf};
use std::process::Command;

use abf_format::{InspectOptions, Report, WriterOptions, inspect};
use serde::Deserialize;

use crate::support::{python, samples_dir};

/// A relationship as pbixray lists it: from table and column, to table and column, active (0/1).
type RelationshipRow = (String, String, String, String, i64);

/// One line of `tests/pbixray_dump.py`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seen {
    path: String,
    error: Option<String>,
    tables: Option<Vec<String>>,
    catalog_tables: Option<Vec<String>>,
    catalog_expressions: Option<Vec<String>>,
    catalog_roles: Option<Vec<(String, Option<i64>)>>,
    catalog_version: Option<i64>,
    parameters: Option<Vec<String>>,
    files: Option<Vec<(u64, u64)>>,
    /// (table, name, DAX) of each measure.
    measures: Option<Vec<(String, String, String)>>,
    /// (from table, from column, to table, to column, active 0/1) of each relationship.
    relationships: Option<Vec<RelationshipRow>>,
    /// (table, M) of each table's Power Query.
    power_query: Option<Vec<(String, Option<String>)>>,
    /// (table, column) of each column pbixray's schema lists.
    columns: Option<Vec<(String, String)>>,
}

fn run_pbixray(python: &Path, files: &[PathBuf]) -> Vec<Seen> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pbixray_dump.py");
    let out = Command::new(python)
        .arg(script)
        .args(files)
        .output()
        .expect("PBI_BACKUP_PYTHON does not run");
    assert!(
        out.status.success(),
        "pbixray_dump.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Vec<Seen> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad line from pbixray_dump.py ({e}): {l}"))
        })
        .collect();
    assert_eq!(seen.len(), files.len());
    seen
}

/// (stored, original) sizes of the logged files, sorted; the special entries are not in pbixray's file log.
fn sizes(report: &Report) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = report
        .files
        .iter()
        .filter(|f| !["ADDITIONAL_LOG", "PARTITIONS", "LOG"].contains(&f.name.as_str()))
        .map(|f| (f.stored_size, f.size))
        .collect();
    v.sort_unstable();
    v
}

fn compare(seen: &Seen, report: &Report) {
    let ctx = &seen.path;
    assert!(report.valid, "{ctx}: {:?}", report.problems);
    let mut theirs = seen.files.clone().unwrap_or_default();
    theirs.sort_unstable();
    assert_eq!(sizes(report), theirs, "{ctx}: file sizes differ");
    let ours: Vec<String> = report.tables.iter().map(|t| t.name.clone()).collect();
    match &seen.catalog_tables {
        // The same catalog query on the SQLite bytes pbixray extracted: same tables, same order.
        Some(catalog) => assert_eq!(&ours, catalog, "{ctx}"),
        // No SQLite (Excel 1103): pbixray's own table list, in its order.
        None => assert_eq!(Some(&ours), seen.tables.as_ref(), "{ctx}"),
    }
    // pbixray's `.tables` comes from column storage; here no sample has a measure-only table, so the sets agree.
    let mut theirs = seen.tables.clone().unwrap_or_default();
    theirs.sort();
    let mut ours = ours;
    ours.sort();
    assert_eq!(ours, theirs, "{ctx}");
    // Python's sqlite on the catalog pbixray extracted: the same expressions and roles (the samples have no roles).
    if let Some(expressions) = &seen.catalog_expressions {
        assert_eq!(&report.expressions, expressions, "{ctx}");
    }
    if let Some(roles) = &seen.catalog_roles {
        let ours: Vec<(String, Option<i64>)> =
            report.roles.iter().map(|r| (r.name.clone(), r.model_permission)).collect();
        assert_eq!(&ours, roles, "{ctx}");
    }
    if seen.catalog_tables.is_some() {
        assert_eq!(report.data_source_version, seen.catalog_version, "{ctx}");
    }
    // pbixray's M parameters are shared expressions: each must be among the catalog's expressions.
    for p in seen.parameters.iter().flatten() {
        assert!(
            report.expressions.contains(p),
            "{ctx}: parameter {p:?} not in {:?}",
            report.expressions
        );
    }
}

/// The definition read offline agrees with pbixray's reading of the same file: the same measures with the same DAX,
/// the same relationships, each Power Query among the partitions' M expressions, each column pbixray lists among
/// ours. Returns how many objects were compared.
fn compare_definition(seen: &Seen, path: &Path) -> usize {
    let ctx = &seen.path;
    let report = inspect(
        std::fs::File::open(path).unwrap(),
        InspectOptions { definition: true, ..Default::default() },
    )
    .unwrap();
    // Below compatibility level 1200 (Excel's 1103) the definition is read from the XML metadata, as pbixray
    // reads it.
    let d = report.definition.as_ref().unwrap_or_else(|| panic!("{ctx}: no definition"));
    let mut compared = 0;
    let xml_metadata = report.database.compatibility_level.is_some_and(|l| l < 1200);
    if let (true, Some(theirs)) = (xml_metadata, &seen.measures) {
        // pbixray reads an XML-metadata model's measures from the cube: one `_Count <table>` per table (the
        // measure groups' row counts), with no DAX. Ours are the DAX measures of the MDX script, which pbixray does
        // not read; what both see is one measure group per table.
        let mut counted: Vec<String> = theirs
            .iter()
            .map(|(t, m, e)| {
                assert!(
                    m == &format!("_Count {t}") && e.is_empty(),
                    "{ctx}: measure {t}[{m}] = {e}"
                );
                t.clone()
            })
            .collect();
        let mut tables: Vec<String> = d.tables.iter().map(|t| t.name.clone()).collect();
        counted.sort();
        tables.sort();
        assert_eq!(tables, counted, "{ctx}: the cube's measure groups");
        compared += tables.len();
    } else if let Some(theirs) = &seen.measures {
        let mut ours: Vec<(String, String, String)> = d
            .tables
            .iter()
            .flat_map(|t| {
                t.measures.iter().map(|m| (t.name.clone(), m.name.clone(), m.expression.clone()))
            })
            .collect();
        let mut theirs = theirs.clone();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{ctx}: measures");
        compared += ours.len();
    }
    if let Some(theirs) = &seen.relationships {
        // pbixray leaves out the relationships of auto date/time's internal tables; ours keep them, marked by the
        // table's `internal`, so the comparison does too.
        let internal = |name: &str| d.tables.iter().any(|t| t.name == name && t.internal);
        let mut ours: Vec<RelationshipRow> = d
            .relationships
            .iter()
            .filter(|r| !internal(&r.from_table) && !internal(&r.to_table))
            .map(|r| {
                let (ft, fc, tt, tc) = (&r.from_table, &r.from_column, &r.to_table, &r.to_column);
                (ft.clone(), fc.clone(), tt.clone(), tc.clone(), i64::from(r.active))
            })
            .collect();
        let mut theirs = theirs.clone();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{ctx}: relationships");
        compared += ours.len();
    }
    for (table, m) in seen.power_query.iter().flatten().filter_map(|(t, m)| Some((t, m.as_ref()?)))
    {
        let found = d.tables.iter().any(|t| {
            &t.name == table && t.partitions.iter().any(|p| p.kind == "m" && &p.expression == m)
        }) || d.expressions.iter().any(|e| &e.name == table && &e.expression == m);
        assert!(found, "{ctx}: the M of {table} is not among our partitions or expressions");
        compared += 1;
    }
    for (table, column) in seen.columns.iter().flatten() {
        let found = d
            .tables
            .iter()
            .any(|t| &t.name == table && t.columns.iter().any(|c| &c.name == column));
        assert!(found, "{ctx}: column {table}[{column}] is not in our definition");
        compared += 1;
    }
    compared
}

/// The `.abf`, `.pbix` and `.xlsx` files of the samples' `pbixray/` folder, sorted.
fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("pbixray"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pbix" || x == "xlsx" || x == "abf"))
        .collect();
    files.sort();
    files
}

#[test]
fn definitions_agree_with_pbixray() {
    let Some(python) = python() else { return };
    let Some(dir) = samples_dir() else { return };
    let files = sample_files(&dir);
    let mut compared = 0;
    let mut measures = 0;
    for (seen, path) in run_pbixray(&python, &files).iter().zip(&files) {
        if seen.error.is_some() {
            continue;
        }
        compared += compare_definition(seen, path);
        measures += seen.measures.as_ref().map_or(0, Vec::len);
    }
    assert!(
        measures > 0 && compared > 100,
        "too little compared: {compared} objects, {measures} measures"
    );
}

#[test]
fn samples_agree_with_pbixray() {
    let Some(python) = python() else { return };
    let Some(dir) = samples_dir() else { return };
    let files = sample_files(&dir);
    assert!(files.len() >= 9, "expected the 9 pbixray samples, found {}", files.len());
    let (mut compared, mut parameters) = (0, 0);
    for seen in run_pbixray(&python, &files) {
        let report = inspect(
            std::fs::File::open(&seen.path).unwrap(),
            InspectOptions { full: true, ..Default::default() },
        )
        .unwrap();
        if let Some(error) = &seen.error {
            // pbixray refuses only the live-connection report; so must we.
            assert!(error.starts_with("LiveConnectionError"), "{}: {error}", seen.path);
            assert!(!report.valid, "{}", seen.path);
            continue;
        }
        compare(&seen, &report);
        compared += 1;
        parameters += seen.parameters.as_ref().map_or(0, Vec::len);
    }
    assert_eq!(compared, files.len() - 1);
    assert!(parameters > 0, "no sample has M parameters: the expression check compared nothing");
}

#[test]
fn pbixray_reads_what_the_writer_writes() {
    let Some(python) = python() else { return };
    let model = abf_format::ModelSpec {
        name: "Written".into(),
        compatibility_level: 1600,
        tables: vec![
            abf_format::TableSpec {
                name: "Sales".into(),
                partitions: vec!["Sales-1".into(), "Sales-2".into()],
            },
            abf_format::TableSpec { name: "Customer".into(), partitions: vec!["Customer".into()] },
        ],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let data = b"column data ".repeat(900);
    let extra: &[(&str, &[u8])] =
        &[(r"Written.0.db\Sales (10).tbl\1.prt\0.Sales (10).Amount.0.idf", &data)];
    let mut paths = Vec::new();
    for (i, (compress, crc)) in
        [(false, true), (false, false), (true, true), (true, false)].into_iter().enumerate()
    {
        let path = dir.path().join(format!("written-{i}.abf"));
        let f = std::fs::File::create(&path).unwrap();
        abf_format::write_model(f, &model, extra, WriterOptions { compress, crc }).unwrap();
        paths.push(path);
    }
    for seen in run_pbixray(&python, &paths) {
        assert_eq!(seen.error, None, "{}", seen.path);
        let report = inspect(
            std::fs::File::open(&seen.path).unwrap(),
            InspectOptions { full: true, ..Default::default() },
        )
        .unwrap();
        assert!(report.valid, "{}: {:?}", seen.path, report.problems);
        let mut theirs = seen.files.clone().unwrap_or_default();
        theirs.sort_unstable();
        assert_eq!(sizes(&report), theirs, "{}", seen.path);
        assert_eq!(
            seen.catalog_tables.as_deref(),
            Some(&["Sales".to_string(), "Customer".to_string()][..])
        );
    }
}
