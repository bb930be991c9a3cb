//! Every sample under `PBI_BACKUP_SAMPLES` (see the samples README): format, file count and sizes, database,
//! compatibility level, tables, and for the damaged copies the problem found.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use abf_format::{Container, Framing, InspectOptions, ProblemKind, Report, inspect};

use crate::support::samples_dir;

const SPECIAL: [&str; 3] = ["ADDITIONAL_LOG", "PARTITIONS", "LOG"];
const SUPPLIER_TABLES: [&str; 10] = [
    "Category",
    "Date",
    "DateTableTemplate_f2e4f67c-f8aa-4a08-93eb-bbcdc50b0513",
    "Defect",
    "Defect Type",
    "LocalDateTable_8d496f27-d102-4ce8-aa94-32e3d194e0e4",
    "Material Type",
    "Metrics",
    "Plant",
    "Vendor",
];

/// What the samples README says about one intact sample.
struct Intact {
    file: &'static str,
    container: Container,
    framing: Framing,
    entries: usize,
    /// Total original size of the logged files (special entries excluded), when the README gives it.
    logged_total: Option<u64>,
    name: Option<&'static str>,
    level: u32,
    tables: &'static [&'static str],
    /// Every entry carries a CRC trailer and no Xpress8: stored = original + 4.
    crc_uncompressed: bool,
}

const INTACT: &[Intact] = &[
    Intact {
        file: "pbixray/DataModel.abf",
        container: Container::Abf,
        framing: Framing::StreamStorage,
        entries: 336,
        logged_total: Some(565_648),
        name: Some("0ee076b5-e86c-420a-a30b-9112cf84aada"),
        level: 1400,
        tables: &SUPPLIER_TABLES,
        crc_uncompressed: false,
    },
    Intact {
        file: "pbixray/DataModel_uncompressed.abf",
        container: Container::Abf,
        framing: Framing::StreamStorage,
        entries: 337,
        logged_total: Some(599_625),
        name: Some("0a592551-1fdd-4ecc-8eb6-8240e618bc13"),
        level: 1550,
        tables: &SUPPLIER_TABLES,
        crc_uncompressed: true,
    },
    Intact {
        file: "pbixray/abc.pbix",
        container: Container::Pbix,
        framing: Framing::Xpress9,
        entries: 46,
        logged_total: None,
        name: None,
        level: 1550,
        tables: &["ABC", "BrokenColumns"],
        crc_uncompressed: true,
    },
    Intact {
        file: "pbixray/Adventure Works, Internet Sales.pbix",
        container: Container::Pbix,
        framing: Framing::Xpress9,
        entries: 1263,
        logged_total: Some(5_321_949),
        name: None,
        level: 1520,
        tables: &[
            "Currency",
            "Customer",
            "Date",
            "Geography",
            "Internet Sales",
            "Product",
            "Promotion",
            "Sales Territory",
            "Test Virtual Table",
        ],
        crc_uncompressed: false,
    },
    Intact {
        file: "pbixray/Excalidraw.pbix",
        container: Container::Pbix,
        framing: Framing::Xpress9,
        entries: 83,
        logged_total: None,
        name: None,
        level: 1550,
        tables: &["DateTableTemplate_1e3b87bf-2609-48e2-b0bd-00fd6f2c5fb5", "Fruit", "Fruit_RLE"],
        crc_uncompressed: true,
    },
    Intact {
        file: "pbixray/Supplier Quality Analysis Sample-no-PV.xlsx",
        container: Container::Xlsx,
        framing: Framing::StreamStorage,
        entries: 208,
        logged_total: None,
        name: Some("Microsoft_SQLServer_AnalysisServices"),
        level: 1103,
        tables: &[
            "Category",
            "Date",
            "Defect",
            "Defect Type",
            "Material Type",
            "Metrics",
            "Plant",
            "Vendor",
        ],
        crc_uncompressed: false,
    },
    Intact {
        file: "pbixray/empty-schema-calc-only.pbix",
        container: Container::Pbix,
        framing: Framing::Xpress9,
        entries: 28,
        logged_total: None,
        name: None,
        level: 1465,
        tables: &["Date"],
        crc_uncompressed: false,
    },
    Intact {
        file: "pbixray/directquery-parameters.pbix",
        container: Container::Pbix,
        framing: Framing::Xpress9,
        entries: 77,
        logged_total: None,
        name: None,
        level: 1465,
        tables: &["DimDate", "DimProduct", "DimReseller", "FactResellerSales"],
        crc_uncompressed: false,
    },
];

/// Samples checked by their own test below, not by the `INTACT` table.
const OTHERS: [&str; 4] = [
    "pbixray/live-connection-pbiservice.pbix",
    "derived/trunc_half.abf",
    "derived/bitflip_data.abf",
    "derived/trunc_dm.pbix",
];

fn open(dir: &Path, file: &str, full: bool) -> Report {
    let f = File::open(dir.join(file)).unwrap_or_else(|e| panic!("cannot open sample {file}: {e}"));
    inspect(f, InspectOptions { full, ..Default::default() })
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn sorted_names(report: &Report) -> Vec<String> {
    let mut names: Vec<String> = report.tables.iter().map(|t| t.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn every_sample_file_is_described() {
    let Some(dir) = samples_dir() else { return };
    for sub in ["pbixray", "derived"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy());
            if name.ends_with(".abf") || name.ends_with(".pbix") || name.ends_with(".xlsx") {
                assert!(
                    INTACT.iter().any(|s| s.file == name) || OTHERS.contains(&name.as_str()),
                    "sample {name} has no expectation in tests/it/samples.rs: add one"
                );
            }
        }
    }
}

#[test]
fn intact_samples_read_fully_valid() {
    let Some(dir) = samples_dir() else { return };
    for s in INTACT {
        for full in [false, true] {
            let r = open(&dir, s.file, full);
            let ctx = format!("{} (full: {full})", s.file);
            assert!(r.valid, "{ctx}: {:?}", r.problems);
            assert!(r.problems.is_empty(), "{ctx}");
            assert!(!r.encrypted, "{ctx}");
            assert_eq!(r.format.container, s.container, "{ctx}");
            assert_eq!(r.format.framing, Some(s.framing), "{ctx}");
            assert_eq!(r.files.len(), s.entries, "{ctx}");
            let logged: Vec<_> =
                r.files.iter().filter(|f| !SPECIAL.contains(&f.name.as_str())).collect();
            assert!(
                logged.len() + 2 <= r.files.len() && logged.len() + 3 >= r.files.len(),
                "{ctx}"
            );
            if let Some(total) = s.logged_total {
                assert_eq!(logged.iter().map(|f| f.size).sum::<u64>(), total, "{ctx}");
            }
            if s.crc_uncompressed {
                for f in &r.files {
                    assert_eq!(f.stored_size, f.size + 4, "{ctx}: {}", f.name);
                }
            }
            if let Some(name) = s.name {
                assert_eq!(r.database.name.as_deref(), Some(name), "{ctx}");
            } else {
                // Power BI Desktop names the database with a GUID.
                let name = r.database.name.as_deref().unwrap_or_default();
                assert_eq!(name.len(), 36, "{ctx}: {name}");
                assert_eq!(name.matches('-').count(), 4, "{ctx}: {name}");
            }
            assert_eq!(r.database.compatibility_level, Some(s.level), "{ctx}");
            assert_eq!(sorted_names(&r), s.tables, "{ctx}");
            for t in &r.tables {
                assert_eq!(t.partitions.len(), 1, "{ctx}: table {}", t.name);
            }
            assert!(r.files.iter().any(|f| f.name.ends_with(".db.xml")), "{ctx}");
        }
    }
}

#[test]
fn directquery_and_calculated_partitions_are_named() {
    let Some(dir) = samples_dir() else { return };
    let r = open(&dir, "pbixray/directquery-parameters.pbix", false);
    let partitions: Vec<&str> =
        r.tables.iter().flat_map(|t| t.partitions.iter().map(String::as_str)).collect();
    assert_eq!(partitions.len(), 4);
    assert!(partitions.iter().all(|p| !p.is_empty()));
}

#[test]
fn live_connection_report_has_no_model() {
    let Some(dir) = samples_dir() else { return };
    let r = open(&dir, "pbixray/live-connection-pbiservice.pbix", true);
    assert!(!r.valid);
    assert_eq!(r.format.container, Container::Pbix);
    assert_eq!(r.format.framing, None);
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].kind, ProblemKind::NoModel);
    assert!(r.problems[0].message.contains("live-connection"), "{}", r.problems[0].message);
    assert!(r.files.is_empty() && r.tables.is_empty());
}

#[test]
fn truncated_abf_names_the_directory() {
    let Some(dir) = samples_dir() else { return };
    for full in [false, true] {
        let r = open(&dir, "derived/trunc_half.abf", full);
        assert!(!r.valid);
        assert_eq!(r.format.framing, Some(Framing::StreamStorage));
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(p.kind, ProblemKind::Truncated);
        assert_eq!(p.part, "virtual directory");
        assert!(
            p.message.contains("[917504, 1011101)") && p.message.contains("505856"),
            "{}",
            p.message
        );
    }
}

#[test]
fn truncated_xpress9_stream_names_the_chunk() {
    let Some(dir) = samples_dir() else { return };
    for full in [false, true] {
        let r = open(&dir, "derived/trunc_dm.pbix", full);
        assert!(!r.valid);
        assert_eq!(r.format.container, Container::Pbix);
        assert_eq!(r.format.framing, Some(Framing::Xpress9));
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(p.kind, ProblemKind::Truncated);
        assert_eq!(p.part, "xpress9 chunk 0");
        assert!(p.message.contains("19455") && p.message.contains("18455"), "{}", p.message);
    }
}

#[test]
fn bit_flip_is_found_only_by_full_verification() {
    let Some(dir) = samples_dir() else { return };
    // The flipped byte is in a data file, which a quick inspect does not read.
    let quick = open(&dir, "derived/bitflip_data.abf", false);
    assert!(quick.valid, "{:?}", quick.problems);
    assert_eq!(quick.files.len(), 337);
    let full = open(&dir, "derived/bitflip_data.abf", true);
    assert!(!full.valid);
    assert_eq!(full.problems.len(), 1, "{:?}", full.problems);
    assert_eq!(full.problems[0].kind, ProblemKind::CrcMismatch);
    assert_eq!(full.problems[0].part, "file CA9BEC9522094CA6BD8C");
    assert_eq!(full.files, quick.files);
    assert_eq!(full.tables, quick.tables);
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn quick_inspect_reads_only_header_directory_log_and_metadata() {
    let Some(dir) = samples_dir() else { return };
    let path = dir.join("pbixray/DataModel_uncompressed.abf");
    let mut quick = Counting { inner: File::open(&path).unwrap(), read: 0 };
    assert!(
        inspect(&mut quick, InspectOptions { full: false, ..Default::default() }).unwrap().valid
    );
    let mut full = Counting { inner: File::open(&path).unwrap(), read: 0 };
    assert!(inspect(&mut full, InspectOptions { full: true, ..Default::default() }).unwrap().valid);
    // Header page 4,096 + directory 93,597 + LOG 310,764 + db.xml 3,757 + metadata.sqlitedb 269,316 + two 102-byte
    // signature sniffs = 681,734: the 330 data files (about 330 KB) are not read.
    assert!(quick.read <= 681_734, "quick inspect read {} bytes", quick.read);
    // Full verification reads every stored byte of the 1,011,712-byte file except the zero padding.
    assert!(full.read >= 1_000_000, "full inspect read {} bytes", full.read);
}
