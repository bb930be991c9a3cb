//! Hostile input: arbitrary bytes, mutations of valid containers, and headers with arbitrary length fields. The
//! reader must never panic, must answer `Ok` (a `Cursor` has no I/O errors), and must keep memory bounded.
//!
//! Memory is checked twice. The `cap` allocator in `main.rs` bounds the whole binary (an allocation sized from a
//! damaged length field would exceed it and abort the run). And `memory_peak_stays_small` re-runs this binary with
//! only `memory_probe` in it, which inspects inputs whose length fields claim up to 2^64 bytes, the decompression
//! bombs of `bombs` (and every sample,
//! when `PBI_BACKUP_SAMPLES` is set) and reports the process's peak heap; that must stay under 48 MiB.
//! Structurally, every read is capped by the stream length (or a documented limit) before anything is allocated.

use std::io::Cursor;

use abf_format::{
    InspectOptions, ModelSpec, Report, TableSpec, WriterOptions, inspect, write_model,
};
use proptest::prelude::*;

fn check(bytes: Vec<u8>) -> Report {
    let mut last = None;
    for full in [false, true] {
        let report =
            inspect(Cursor::new(bytes.clone()), InspectOptions { full, ..Default::default() })
                .unwrap();
        assert_eq!(report.valid, report.problems.is_empty());
        last = Some(report);
    }
    last.unwrap()
}

fn valid_container(compress: bool, crc: bool) -> Vec<u8> {
    let model = ModelSpec {
        name: "Fuzz".into(),
        compatibility_level: 1550,
        tables: vec![TableSpec { name: "A".into(), partitions: vec!["A".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let data = b"0123456789abcdef".repeat(64);
    let extra: &[(&str, &[u8])] = &[(r"Fuzz.0.db\A.tbl\0.A.x.idf", &data)];
    write_model(Cursor::new(Vec::new()), &model, extra, WriterOptions { compress, crc })
        .unwrap()
        .into_inner()
}

/// A mutation: overwrite, flip, truncate, insert or splice a length-like value.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Number { at: usize, value: u64 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::from(u32::MAX)), any::<u64>()]
        )
            .prop_map(|(at, value)| Mutation::Number { at, value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let pos = |at: usize| at % bytes.len();
    match m {
        Mutation::Flip { at, bit } => {
            let i = pos(*at);
            bytes[i] ^= 1 << bit;
        }
        Mutation::Set { at, byte } => {
            let i = pos(*at);
            bytes[i] = *byte;
        }
        Mutation::Truncate { at } => {
            let i = pos(*at);
            bytes.truncate(i);
        }
        Mutation::Insert { at, bytes: ins } => {
            let i = pos(*at);
            bytes.splice(i..i, ins.iter().copied());
        }
        Mutation::Number { at, value } => {
            let i = pos(*at);
            let v = value.to_le_bytes();
            let n = (bytes.len() - i).min(8);
            bytes[i..i + n].copy_from_slice(&v[..n]);
        }
    }
}

/// A header page whose numbers come from the test, over `body_len` bytes of files.
pub(crate) fn header_page(
    offset_header: u64,
    data_size: u64,
    files: u64,
    offset_data: u64,
    flags: (bool, bool),
) -> Vec<u8> {
    let mut page = vec![0xFF, 0xFE];
    page.extend("STREAM_STORAGE_SIGNATURE_)!@#$%^&*(".encode_utf16().flat_map(u16::to_le_bytes));
    let xml = format!(
        "<BackupLog><ErrorCode>{}</ErrorCode><EncryptionFlag>false</EncryptionFlag><ApplyCompression>{}</ApplyCompression>\
         <m_cbOffsetHeader>{offset_header}</m_cbOffsetHeader><DataSize>{data_size}</DataSize><Files>{files}</Files>\
         <m_cbOffsetData>{offset_data}</m_cbOffsetData></BackupLog>",
        flags.0, flags.1
    );
    page.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
    page.resize(4096, 0);
    page
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000), prefix in 0usize..5) {
        // Half the time behind a real signature, so the parsers past the sniffing are reached.
        let mut input = match prefix {
            0 => header_page(4096, 100, 1, 4096, (true, false)),
            1 => {
                let mut s: Vec<u8> = "This backup was created using XPress9 compression."
                    .encode_utf16().flat_map(u16::to_le_bytes).collect();
                s.extend_from_slice(&[0, 0]);
                s
            }
            2 => b"PK\x03\x04".to_vec(),
            _ => Vec::new(),
        };
        input.extend(bytes);
        check(input);
    }

    #[test]
    fn mutated_containers_never_panic(
        compress: bool,
        crc: bool,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = valid_container(compress, crc);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check(bytes);
    }

    #[test]
    fn headers_with_arbitrary_lengths_never_panic(
        offset_header in prop_oneof![any::<u64>(), 0u64..20_000],
        data_size in prop_oneof![any::<u64>(), 0u64..20_000],
        files in any::<u64>(),
        offset_data in prop_oneof![any::<u64>(), Just(4096u64)],
        flags: (bool, bool),
        tail in proptest::collection::vec(any::<u8>(), 0..12_000),
    ) {
        let mut bytes = header_page(offset_header, data_size, files, offset_data, flags);
        bytes.extend(tail);
        let report = check(bytes);
        // Random bytes never make a valid directory.
        prop_assert!(!report.valid);
    }
}

#[test]
fn truncations_of_a_small_container_are_reported() {
    for (compress, crc) in [(false, true), (true, true), (false, false)] {
        let bytes = valid_container(compress, crc);
        assert!(check(bytes.clone()).valid);
        // Every 97th length: a cut inside the files or the directory breaks a range; one inside the final
        // padding leaves a length that is not a multiple of 4096.
        for cut in (0..bytes.len()).step_by(97) {
            let r = check(bytes[..cut].to_vec());
            assert!(!r.valid, "cut at {cut} of {} went unnoticed", bytes.len());
        }
    }
}

/// Inputs whose length fields announce far more than the stream holds.
fn oversized_claims() -> Vec<Vec<u8>> {
    let mut inputs = Vec::new();
    for size in [u64::from(u32::MAX), u64::MAX, 1 << 40, 700 << 20] {
        inputs.push(header_page(4096, size, 1, 4096, (true, false)));
        inputs.push(header_page(size, 4096, size, 4096, (true, true)));
        let mut xpress9: Vec<u8> = "This backup was created using XPress9 compression."
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        xpress9.extend_from_slice(&[0, 0]);
        xpress9.extend_from_slice(&(size as u32).to_le_bytes());
        xpress9.extend_from_slice(&(size as u32).to_le_bytes());
        xpress9.extend_from_slice(&[0; 64]);
        inputs.push(xpress9);
        let mut mt: Vec<u8> = "This backup was created using multithreaded XPrs9."
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        mt.extend_from_slice(&[0, 0]);
        for v in [size, size, size, size, size] {
            mt.extend_from_slice(&v.to_le_bytes());
        }
        inputs.push(mt);
    }
    // A valid container whose LOG entry claims a huge size.
    let mut bytes = valid_container(false, false);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if let Some(at) = text.find("<Path>LOG</Path><Size>") {
        let at = at + "<Path>LOG</Path><Size>".len();
        bytes[at..at + 4].copy_from_slice(b"9999");
    }
    inputs.push(bytes);
    inputs
}

/// Peak heap allowed to the probe below when it runs alone in its own process.
const PROBE_PEAK: usize = 48 << 20;

#[test]
fn oversized_length_fields_are_reported() {
    for input in oversized_claims() {
        assert!(!check(input).valid);
    }
}

/// Runs alone in a child process (see `memory_peak_stays_small`): inspects the oversized claims and, when
/// `PBI_BACKUP_SAMPLES` is set, every sample in full mode, then prints the process's peak heap. Run in the normal
/// suite it only checks the reports.
#[test]
// The parent test reads the peak from this test's stdout.
#[allow(clippy::print_stdout)]
fn memory_probe() {
    let probe = std::env::var_os("ABF_FORMAT_MEMORY_PROBE").is_some();
    for input in oversized_claims() {
        assert!(!check(input).valid);
    }
    for (name, bomb, _) in crate::bombs::bombs() {
        assert!(!check(bomb).valid, "{name}");
    }
    if probe {
        println!("peak after oversized claims and bombs: {}", crate::peak_allocated());
        if let Some(dir) = std::env::var_os("PBI_BACKUP_SAMPLES") {
            let dir = std::path::PathBuf::from(dir);
            for sub in ["pbixray", "derived"] {
                let mut files: Vec<_> =
                    std::fs::read_dir(dir.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
                files.sort();
                for path in
                    files.iter().filter(|p| p.extension().is_some_and(|x| x != "md" && x != "txt"))
                {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if name.starts_with("LICENSE") {
                        continue;
                    }
                    let f = std::fs::File::open(path).unwrap();
                    let report =
                        inspect(f, InspectOptions { full: true, ..Default::default() }).unwrap();
                    println!(
                        "peak after {sub}/{name} (valid: {}): {}",
                        report.valid,
                        crate::peak_allocated()
                    );
                }
            }
        }
        println!("peak: {}", crate::peak_allocated());
    }
    assert!(crate::peak_allocated() < crate::MEMORY_LIMIT);
}

#[test]
fn memory_peak_stays_small() {
    if std::env::var_os("ABF_FORMAT_MEMORY_PROBE").is_some() {
        return; // this is the child: only `memory_probe` matters here
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["hostile::memory_probe", "--exact", "--nocapture", "--test-threads=1"])
        .env("ABF_FORMAT_MEMORY_PROBE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "memory probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak: "))
        .unwrap_or_else(|| panic!("the memory probe printed no peak: {stdout}"))
        .trim()
        .parse()
        .unwrap();
    assert!(peak > 0 && peak < PROBE_PEAK, "peak heap {peak} bytes, over {PROBE_PEAK}:\n{stdout}");
}

#[test]
fn not_a_backup_is_said_plainly() {
    let r = check(b"hello, this is a text file".to_vec());
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].kind, abf_format::ProblemKind::NotAbf);
    assert!(r.problems[0].message.starts_with("not an abf/pbix/xlsx"), "{}", r.problems[0].message);
    let r = check(Vec::new());
    assert_eq!(r.problems[0].kind, abf_format::ProblemKind::NotAbf);
}
