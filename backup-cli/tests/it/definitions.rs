//! `definition` and `diff` through the binary: on the real samples (offline), and on pbi-sim's backups read from
//! storage, where a change to the model shows as exactly that change.

// Saying plainly that the sample suite did not run is the point of the message.
#![allow(clippy::print_stderr)]

use backup_core::output::{BackupOutput, DefinitionOutput, DiffOutput, exit_codes};

use crate::support::{Env, Tenant};

/// `PBI_BACKUP_SAMPLES`, honouring `PBI_BACKUP_REQUIRE_SAMPLES=1`; `None` after saying the test did not run.
fn samples() -> Option<std::path::PathBuf> {
    match std::env::var_os("PBI_BACKUP_SAMPLES") {
        Some(v) if !v.is_empty() => Some(std::path::PathBuf::from(v)),
        _ => {
            assert!(
                std::env::var("PBI_BACKUP_REQUIRE_SAMPLES").as_deref() != Ok("1"),
                "PBI_BACKUP_SAMPLES is not set but PBI_BACKUP_REQUIRE_SAMPLES=1"
            );
            eprintln!("did not run: PBI_BACKUP_SAMPLES is not set");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_readable_sample_has_a_definition_and_the_damaged_ones_say_which_layer_failed() {
    let Some(dir) = samples() else { return };
    let t = Tenant::rules().await;
    let env = Env::default();
    let aw = dir.join("pbixray/Adventure Works, Internet Sales.pbix");
    let out: DefinitionOutput = t.cli(&env, "definition").arg(aw.to_str().unwrap()).ok().await;
    let sales =
        out.definition.tables.iter().find(|t| t.name == "Internet Sales").expect("Internet Sales");
    assert!(
        sales.measures.iter().any(|m| m.expression == "SUM('Internet Sales'[SalesAmount])"),
        "{sales:?}"
    );
    assert!(sales.partitions.iter().all(|p| p.kind == "m"), "{sales:?}");
    assert!(!out.definition.relationships.is_empty() && out.fingerprint.measures >= 5, "{out:?}");
    let mut read = 0;
    for entry in std::fs::read_dir(dir.join("pbixray")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".abf") || name.ends_with(".pbix") || name.ends_with(".xlsx")) {
            continue;
        }
        let run = t.cli(&env, "definition").arg(path.to_str().unwrap()).arg("--json").run().await;
        match run.code {
            0 => read += 1,
            // A live-connection report has no model.
            c if name.starts_with("live-connection") => {
                assert!(c == exit_codes::USAGE || c == exit_codes::INTEGRITY, "{name}: {run:?}");
            }
            _ => panic!("{name}: {run:?}"),
        }
    }
    assert!(read >= 8, "only {read} samples had a definition");
    // Excel's Power Pivot model (level 1103) keeps XML metadata, not a catalog: its DAX measures are statements of
    // the cube's MDX script, its relationships the dimensions' own.
    let xlsx = dir.join("pbixray/Supplier Quality Analysis Sample-no-PV.xlsx");
    let out: DefinitionOutput = t.cli(&env, "definition").arg(xlsx.to_str().unwrap()).ok().await;
    assert_eq!(out.definition.compatibility_level, Some(1103));
    let metrics = out.definition.tables.iter().find(|t| t.name == "Metrics").expect("Metrics");
    assert!(
        metrics
            .measures
            .iter()
            .any(|m| m.name == "Total Defect Qty" && m.expression == "SUM([Defect Qty])"),
        "{metrics:?}"
    );
    assert_eq!(metrics.measures.len(), 11, "{metrics:?}");
    assert_eq!(out.definition.relationships.len(), 7, "{:?}", out.definition.relationships);
    let category = out.definition.tables.iter().find(|t| t.name == "Category").expect("Category");
    assert!(
        category.columns.iter().any(|c| c.name == "Category"
            && c.kind == "calculated"
            && c.expression.as_deref() == Some("[Sub Category]")),
        "{category:?}"
    );
    for damaged in ["derived/trunc_half.abf", "derived/trunc_dm.pbix"] {
        let err = t
            .cli(&env, "definition")
            .arg(dir.join(damaged).to_str().unwrap())
            .fails(exit_codes::INTEGRITY)
            .await;
        assert!(err.message.contains("cannot be read"), "{damaged}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_of_two_samples_exits_1_and_of_one_with_itself_exits_0() {
    let Some(dir) = samples() else { return };
    let t = Tenant::rules().await;
    let env = Env::default();
    let (a, b) =
        (dir.join("pbixray/DataModel.abf"), dir.join("pbixray/DataModel_uncompressed.abf"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let same: DiffOutput = t.cli(&env, "diff").arg(a).arg(a).ok().await;
    assert!(same.equal && same.changes.is_empty(), "{same:?}");
    let differ: DiffOutput = t.cli(&env, "diff").arg(a).arg(b).json(exit_codes::FAILURE).await;
    assert!(!differ.equal, "{differ:?}");
    assert!(
        differ
            .changes
            .iter()
            .any(|c| c.object == "model" && c.property.as_deref() == Some("compatibility_level")),
        "{differ:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_backup_has_the_scenarios_definition_and_a_model_change_diffs_as_exactly_that() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    let first: BackupOutput =
        t.cli(&env, "backup -w Finance -d Budget --file Budget-1.abf").ok().await;
    assert_eq!(first.succeeded, 1, "{first:?}");
    let out: DefinitionOutput = t.cli(&env, "definition -w Finance --latest Budget").ok().await;
    let budget = out.definition.tables.iter().find(|t| t.name == "Budget").expect("Budget");
    assert_eq!(budget.measures.len(), 1, "{budget:?}");
    assert_eq!(budget.measures[0].expression, "SUM(Budget[Amount])");
    assert_eq!(
        budget.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Account", "Month", "Amount"]
    );
    let r = &out.definition.relationships;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].from_table.as_str(), r[0].to_table.as_str(), r[0].cardinality.as_str()),
        ("Budget", "Account", "many_to_one")
    );
    assert_eq!(out.definition.roles.len(), 2);

    // The author adds a measure; tonight's backup differs from last night's by exactly that.
    assert!(t.stack.sim.edit_tables("Finance", "Budget", |tables| {
        let budget = tables.iter_mut().find(|t| t.name == "Budget").unwrap();
        budget.measures.push(test_fixtures::pbi_sim::scenario::Measure {
            name: "Variance".into(),
            expression: "[Total Amount] - 100".into(),
        });
    }));
    // A later second, as tonight's backup is: `list` orders backups by the time their manifests record.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second: BackupOutput =
        t.cli(&env, "backup -w Finance -d Budget --file Budget-2.abf").ok().await;
    assert_eq!(second.succeeded, 1, "{second:?}");
    let d: DiffOutput =
        t.cli(&env, "diff -w Finance Budget-1.abf Budget-2.abf").json(exit_codes::FAILURE).await;
    assert_eq!(d.changes.len(), 1, "{d:?}");
    let c = &d.changes[0];
    assert_eq!(
        (c.object.as_str(), c.name.as_str(), c.change.as_str()),
        ("measure", "'Budget'[Variance]", "added")
    );
    let latest: DiffOutput =
        t.cli(&env, "diff -w Finance --latest Budget").json(exit_codes::FAILURE).await;
    assert_eq!(
        latest.changes, d.changes,
        "--latest compares the one before the newest with the newest"
    );
    // The manifests record each backup's definition fingerprint, and `list` says the model changed between them.
    let listed: backup_core::output::ListOutput = t.cli(&env, "list -w Finance").ok().await;
    let newest = listed.backups.iter().find(|b| b.name == "Budget-2.abf").expect("Budget-2");
    let older = listed.backups.iter().find(|b| b.name == "Budget-1.abf").expect("Budget-1");
    assert!(newest.definition.is_some() && newest.definition != older.definition, "{listed:?}");
    assert_eq!(
        (newest.definition_changed, older.definition_changed),
        (Some(true), None),
        "{listed:?}"
    );
    // Nightly TMDL exports into one folder: the second replaces the first's files and says the new measure.
    let tmdl = t.work.path().join("tmdl");
    let _: DefinitionOutput = t
        .cli(&env, "definition -w Finance --file Budget-1.abf --tmdl")
        .arg(tmdl.to_str().unwrap())
        .ok()
        .await;
    let before = std::fs::read_to_string(tmdl.join("tables/Budget.tmdl")).unwrap();
    assert!(
        before.contains("measure 'Total Amount' = SUM(Budget[Amount])")
            && !before.contains("Variance"),
        "{before}"
    );
    assert!(
        std::fs::read_to_string(tmdl.join("relationships.tmdl"))
            .unwrap()
            .contains("fromColumn: Budget.Account")
    );
    let _: DefinitionOutput = t
        .cli(&env, "definition -w Finance --file Budget-2.abf --tmdl")
        .arg(tmdl.to_str().unwrap())
        .ok()
        .await;
    let after = std::fs::read_to_string(tmdl.join("tables/Budget.tmdl")).unwrap();
    assert!(after.contains("measure Variance = [Total Amount] - 100"), "{after}");
    // A folder with someone else's files is not written into.
    let other = t.work.path().join("theirs");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let err = t
        .cli(&env, "definition -w Finance --file Budget-2.abf --tmdl")
        .arg(other.to_str().unwrap())
        .fails(exit_codes::USAGE)
        .await;
    assert!(err.message.contains("did not write"), "{err:?}");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    // The same backup against itself: equal, exit 0.
    let same: DiffOutput = t.cli(&env, "diff -w Finance Budget-2.abf Budget-2.abf").ok().await;
    assert!(same.equal);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_definition_of_a_large_stored_backup_is_read_with_a_few_ranged_reads() {
    let t = Tenant::rules().await;
    let env = t.env("financelake");
    // A 48 MiB backup: the catalog and a large data file, as a real model's backup is mostly column data.
    let model = abf_format::ModelSpec {
        name: "Large".into(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec {
            name: "Facts".into(),
            partitions: vec!["Facts".into()],
        }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: Some(2),
    };
    let definition = abf_format::Definition {
        tables: vec![abf_format::DefTable {
            name: "Facts".into(),
            measures: vec![abf_format::DefMeasure {
                name: "Rows".into(),
                expression: "COUNTROWS(Facts)".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let data: Vec<u8> =
        (0..48u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let extra: &[(&str, &[u8])] =
        &[(r"Large.0.db\Facts (1).tbl\1.prt\0.Facts (1).Id.0.idf", &data)];
    let path = t.work.path().join("Large.abf");
    let f = std::fs::File::create(&path).unwrap();
    abf_format::write_model_with(
        f,
        &model,
        Some(&definition),
        extra,
        abf_format::WriterOptions { compress: false, crc: true },
    )
    .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    t.cli(&env, "upload")
        .arg(path.to_str().unwrap())
        .then("-w Finance")
        .arg("--json")
        .exits(exit_codes::SUCCESS)
        .await;
    let run = t.cli(&env, "definition -w Finance --file Large.abf --json -vv").run().await;
    assert_eq!(run.code, exit_codes::SUCCESS, "{run:?}");
    let out: DefinitionOutput = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out.definition.tables[0].measures[0].expression, "COUNTROWS(Facts)");
    let fetched: u64 = run
        .stderr
        .split("fetched=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fetched= in the debug log: {}", run.stderr));
    eprintln!("definition of a {size}-byte stored backup fetched {fetched} bytes");
    assert!(size > 48 << 20 && fetched < 8 << 20, "{fetched} of {size} bytes read");
}
