//! Decompression bombs: streams that decode to far more than any backup they could be. Each is refused after a
//! bounded amount of decoding (abf-format's bound module: the first bytes, what the container and the header page
//! declare, and `MAX_EXPANSION`), so quickly, in little memory, and without a temporary file. `hostile`'s memory
//! probe inspects them too, under its peak limit.

use std::io::Cursor;
use std::time::{Duration, Instant};

use abf_format::{InspectOptions, MAX_EXPANSION, ProblemKind, Report, inspect};
use zip::CompressionMethod;

use crate::containers::zip_with;
use crate::hostile::header_page;
use crate::xpress9::{session, signature};

const XPRESS9: &str = "This backup was created using XPress9 compression.";
const MIB: usize = 1 << 20;

/// An XPress9 stream of `chunks` 2 MiB chunks, the first starting with `first`, the rest zeros.
fn xpress9_of(first: &[u8], chunks: usize) -> Vec<u8> {
    let mut start = vec![0u8; 2 * MIB];
    start[..first.len()].copy_from_slice(first);
    let zeros = vec![0u8; 2 * MIB];
    let mut parts: Vec<&[u8]> = vec![&start];
    parts.extend(std::iter::repeat_n(&zeros[..], chunks - 1));
    let mut out = signature(XPRESS9);
    out.extend(session(&parts));
    out
}

/// Every bomb with what refuses it: (name, bytes, words the problem's message holds).
pub(crate) fn bombs() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    // The envelope of a 64 MiB chunk of zeros announced for a few bytes: refused before the allocation.
    let mut huge_chunk = signature(XPRESS9);
    for _ in 0..256 {
        huge_chunk.extend_from_slice(&(64u32 << 20).to_le_bytes());
        huge_chunk.extend_from_slice(&146u32.to_le_bytes());
        huge_chunk.extend_from_slice(&[0x2A; 146]);
    }
    vec![
        ("xpress9 zeros", xpress9_of(&[], 24), "not a backup"),
        ("xpress9 chunks of 64 MiB", huge_chunk, "decompression bomb"),
        (
            "xpress9 header page, then zeros past its directory",
            xpress9_of(&header_page(8192, 4096, 0, 4096, (false, false)), 24),
            "header page says the image ends",
        ),
        (
            "xpress9 header page announcing a terabyte",
            xpress9_of(&header_page(1 << 40, 4096, 0, 4096, (false, false)), 24),
            "decompression bomb",
        ),
        (
            "pbix with a deflated DataModel of 16 MiB of zeros",
            zip_with(&[("DataModel", &vec![0u8; 16 * MIB])], CompressionMethod::Deflated),
            "decompression bomb",
        ),
        (
            "pbix with a deflated DataModel that is text",
            zip_with(
                &[("DataModel", &b"not a model ".repeat(100_000))],
                CompressionMethod::Deflated,
            ),
            "not a backup",
        ),
        (
            "pbix with a deflated image whose header ends early",
            zip_with(
                &[(
                    "DataModel",
                    &[header_page(8192, 4096, 0, 4096, (false, false)), vec![0; 4 * MIB]].concat(),
                )],
                CompressionMethod::Deflated,
            ),
            "header page says the image ends",
        ),
    ]
}

fn refused(name: &str, report: &Report, words: &str) {
    assert!(!report.valid, "{name}: accepted");
    let p = &report.problems[0];
    assert_eq!(p.kind, ProblemKind::Corrupt, "{name}: {p:?}");
    assert!(p.message.contains(words), "{name}: {:?} does not say {words:?}", p.message);
}

#[test]
fn bombs_are_refused_early() {
    assert_eq!(MAX_EXPANSION, 256, "the ratio README and ARCHITECTURE.md document");
    for (name, bytes, words) in bombs() {
        for full in [false, true] {
            let started = Instant::now();
            let report =
                inspect(Cursor::new(&bytes), InspectOptions { full, ..Default::default() })
                    .unwrap();
            let took = started.elapsed();
            refused(name, &report, words);
            // Generous for a debug build on a loaded machine; a release build takes milliseconds.
            assert!(took < Duration::from_secs(5), "{name}: took {took:?}");
        }
    }
}
