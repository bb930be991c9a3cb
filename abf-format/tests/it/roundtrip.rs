//! The writer's output reads back fully valid, with the same database, tables, files and sizes.

use std::io::{Cursor, Read};

use abf_format::{
    AbfWriter, InspectOptions, ModelSpec, Report, RoleSpec, TableSpec, WriterOptions, inspect,
    write_model,
};
use proptest::prelude::*;

fn read_back(bytes: Vec<u8>) -> Report {
    let report =
        inspect(Cursor::new(bytes), InspectOptions { full: true, ..Default::default() }).unwrap();
    assert!(report.valid, "{:?}", report.problems);
    report
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Compressible: a short pattern repeated, so Xpress8 matches (long ones too) are exercised.
        (proptest::collection::vec(any::<u8>(), 1..12), 0usize..2000).prop_map(|(pat, n)| pat
            .iter()
            .copied()
            .cycle()
            .take(n * pat.len())
            .collect()),
        (any::<u8>(), 0usize..20_000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn model() -> impl Strategy<Value = ModelSpec> {
    let table =
        ("[A-Za-z][A-Za-z0-9 _$&<>'\"-]{0,20}", proptest::collection::vec("[ -~]{1,16}", 0..3))
            .prop_map(|(name, partitions)| TableSpec { name, partitions });
    (
        "[A-Za-z0-9][A-Za-z0-9 _.&-]{0,24}",
        1100u32..1700,
        proptest::collection::vec(table, 0..5),
        proptest::collection::vec("[A-Za-z][A-Za-z0-9 _#-]{0,20}", 0..3),
        proptest::collection::vec(("[A-Za-z][A-Za-z0-9 _-]{0,20}", 1i64..=5), 0..3),
        proptest::option::of(0i64..=2),
    )
        .prop_map(|(name, compatibility_level, tables, expressions, roles, version)| {
            ModelSpec {
                name,
                compatibility_level,
                tables,
                expressions,
                roles: roles
                    .into_iter()
                    .map(|(name, model_permission)| RoleSpec {
                        name,
                        model_permission,
                        members: Vec::new(),
                    })
                    .collect(),
                data_source_version: version,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_models_and_files_round_trip(
        model in model(),
        files in proptest::collection::vec(("[A-Za-z0-9 ()$._-]{1,30}", content()), 0..6),
        compress: bool,
        crc: bool,
    ) {
        // Distinct paths below the database folder, as the engine lays them out.
        let files: Vec<(String, Vec<u8>)> =
            files.into_iter().enumerate().map(|(i, (name, data))| (format!("db\\{i}.{name}"), data)).collect();
        let extra: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
        let out = write_model(Cursor::new(Vec::new()), &model, &extra, WriterOptions { compress, crc }).unwrap();
        let bytes = out.into_inner();
        prop_assert_eq!(bytes.len() % 4096, 0);
        let report = read_back(bytes);
        prop_assert_eq!(report.database.name.as_deref(), Some(model.name.as_str()));
        prop_assert_eq!(report.database.compatibility_level, Some(model.compatibility_level));
        prop_assert_eq!(report.tables.len(), model.tables.len());
        for (got, want) in report.tables.iter().zip(&model.tables) {
            prop_assert_eq!(&got.name, &want.name);
            prop_assert_eq!(&got.partitions, &want.partitions);
        }
        prop_assert_eq!(&report.expressions, &model.expressions);
        let roles: Vec<(String, Option<i64>)> =
            report.roles.iter().map(|r| (r.name.clone(), r.model_permission)).collect();
        let want: Vec<(String, Option<i64>)> =
            model.roles.iter().map(|r| (r.name.clone(), Some(r.model_permission))).collect();
        prop_assert_eq!(roles, want);
        prop_assert_eq!(report.data_source_version, model.data_source_version);
        // PARTITIONS, db.xml, metadata.sqlitedb, the extra files, LOG.
        prop_assert_eq!(report.files.len(), files.len() + 4);
        prop_assert_eq!(&report.files[0].name, "PARTITIONS");
        prop_assert_eq!(&report.files.last().unwrap().name, "LOG");
        for ((path, data), entry) in files.iter().zip(&report.files[3..]) {
            prop_assert_eq!(&entry.name, path);
            prop_assert_eq!(entry.size, data.len() as u64);
            if !compress {
                prop_assert_eq!(entry.stored_size, data.len() as u64 + if crc { 4 } else { 0 });
            }
        }
    }
}

#[test]
fn streamed_large_file_compresses_and_verifies() {
    let big: Vec<u8> = (0..600_000u32).map(|i| (i / 7 % 13) as u8 ^ (i % 3) as u8).collect();
    for compress in [false, true] {
        let mut w =
            AbfWriter::new(Cursor::new(Vec::new()), "Big", WriterOptions { compress, crc: true })
                .unwrap();
        w.add_file("Big.0.db.xml", b"<Load><ObjectDefinition><Database><Name>Big</Name></Database></ObjectDefinition></Load>")
            .unwrap();
        w.add_file_from(r"Big.0.db\t.tbl\big.idf", Cursor::new(&big)).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let report = read_back(bytes);
        let entry = report.files.iter().find(|f| f.name.ends_with("big.idf")).unwrap();
        assert_eq!(entry.size, 600_000);
        if compress {
            assert!(entry.stored_size < 300_000, "xpress8 left {} bytes", entry.stored_size);
        } else {
            assert_eq!(entry.stored_size, 600_004);
        }
        assert_eq!(report.database.name.as_deref(), Some("Big"));
        assert_eq!(report.database.compatibility_level, None);
    }
}

#[test]
fn writer_rejects_what_the_catalog_cannot_hold() {
    let mut w = AbfWriter::new(Cursor::new(Vec::new()), "X", WriterOptions::default()).unwrap();
    w.add_file("a", b"1").unwrap();
    let dup = w.add_file("a", b"2").unwrap_err();
    assert_eq!(
        dup.to_string(),
        "cannot write file a: the path was already added; give each file a distinct path"
    );
    assert!(matches!(w.add_file("bad\0name", b""), Err(abf_format::Error::InvalidInput { .. })));
    assert!(AbfWriter::new(Cursor::new(Vec::new()), "", WriterOptions::default()).is_err());
}

#[test]
fn report_json_has_the_agreed_shape_and_round_trips() {
    let model = ModelSpec {
        name: "Shape".into(),
        compatibility_level: 1567,
        tables: vec![TableSpec { name: "T".into(), partitions: vec!["P".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let out = write_model(Cursor::new(Vec::new()), &model, &[], WriterOptions::default()).unwrap();
    let report = read_back(out.into_inner());
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["database", "encrypted", "files", "format", "problems", "tables", "valid"]);
    assert_eq!(json["database"], serde_json::json!({"name": "Shape", "compatibility_level": 1567}));
    assert_eq!(json["tables"], serde_json::json!([{"name": "T", "partitions": ["P"]}]));
    assert_eq!(
        json["format"],
        serde_json::json!({"container": "abf", "framing": "stream_storage"})
    );
    assert_eq!(
        json["files"][0],
        serde_json::json!({"name": "PARTITIONS", "size": 28, "stored_size": 32})
    );
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn for_model_then_streamed_data_files() {
    let model = ModelSpec {
        name: "Sim Model #1".into(),
        compatibility_level: 1604,
        tables: vec![
            TableSpec {
                name: "Orders".into(),
                partitions: vec!["Orders 2024".into(), "Orders 2025".into()],
            },
            TableSpec { name: "Empty".into(), partitions: vec![] },
        ],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let mut w = AbfWriter::for_model(
        Cursor::new(Vec::new()),
        &model,
        WriterOptions { compress: true, crc: false },
    )
    .unwrap();
    let column = std::io::repeat(42).take(100_000);
    w.add_file_from(r"Sim_Model__1.0.db\Orders (3).tbl\1.prt\0.Orders.Qty.0.idf", column).unwrap();
    let report = read_back(w.finish().unwrap().into_inner());
    assert_eq!(report.database.name.as_deref(), Some("Sim Model #1"));
    assert_eq!(report.database.compatibility_level, Some(1604));
    let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "PARTITIONS",
            "Sim_Model__1.0.db.xml",
            r"Sim_Model__1.0.db\metadata.sqlitedb",
            r"Sim_Model__1.0.db\Orders (3).tbl\1.prt\0.Orders.Qty.0.idf",
            "LOG"
        ]
    );
    assert_eq!(report.files[3].size, 100_000);
    assert!(report.files[3].stored_size < 2_000, "{}", report.files[3].stored_size);
    assert_eq!(report.tables[0].partitions, ["Orders 2024", "Orders 2025"]);
    assert!(report.tables[1].partitions.is_empty());
}

#[test]
fn tabular_model_without_its_catalog_is_invalid() {
    let db = b"<Load><ObjectDefinition><Database><Name>N</Name><CompatibilityLevel>1600</CompatibilityLevel>\
        </Database></ObjectDefinition></Load>";
    let mut w = AbfWriter::new(Cursor::new(Vec::new()), "N", WriterOptions::default()).unwrap();
    w.add_file("N.0.db.xml", db).unwrap();
    let report = inspect(
        Cursor::new(w.finish().unwrap().into_inner()),
        InspectOptions { full: false, ..Default::default() },
    )
    .unwrap();
    assert!(!report.valid);
    assert_eq!(report.database.compatibility_level, Some(1600));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].message.contains("metadata.sqlitedb"),
        "{}",
        report.problems[0].message
    );
}

/// A role's members are written as `RoleMembership` rows and read back with the definition; a role without members
/// reads as none.
#[test]
fn role_members_round_trip_through_the_catalog() {
    use abf_format::{InspectOptions, inspect, write_model_with};
    let model = ModelSpec {
        name: "Sales".into(),
        compatibility_level: 1600,
        tables: vec![TableSpec { name: "Orders".into(), partitions: vec!["Orders".into()] }],
        expressions: Vec::new(),
        roles: vec![
            RoleSpec {
                name: "Controllers".into(),
                model_permission: 2,
                members: vec!["ann@contoso.com".into(), "bo@contoso.com".into()],
            },
            RoleSpec { name: "Auditors".into(), model_permission: 2, members: Vec::new() },
        ],
        data_source_version: Some(2),
    };
    let image = write_model_with(
        std::io::Cursor::new(Vec::new()),
        &model,
        None,
        &[],
        WriterOptions::default(),
    )
    .unwrap()
    .into_inner();
    let options = InspectOptions { definition: true, members: true, ..Default::default() };
    let report = inspect(std::io::Cursor::new(image), options).unwrap();
    let roles = report.definition.expect("a definition").roles;
    let of = |name: &str| roles.iter().find(|r| r.name == name).unwrap();
    assert_eq!(of("Controllers").member_count, 2);
    assert_eq!(
        of("Controllers").members.as_deref(),
        Some(&["ann@contoso.com".to_owned(), "bo@contoso.com".to_owned()][..])
    );
    assert_eq!(of("Auditors").member_count, 0);
}
