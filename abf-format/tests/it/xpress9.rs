//! Synthetic XPress9-framed streams (single-threaded and multithreaded) made with the `ripbi-xpress9` encoder
//! around an image from the crate's writer. No real multithreaded file is public (abf.md §3.2).

use std::io::Cursor;

use abf_format::{
    Framing, InspectOptions, ModelSpec, ProblemKind, Report, TableSpec, WriterOptions, inspect,
    write_model,
};

fn image() -> Vec<u8> {
    let model = ModelSpec {
        name: "Framed".into(),
        compatibility_level: 1601,
        tables: vec![TableSpec { name: "Facts".into(), partitions: vec!["Facts".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i / 4093) as u8).collect();
    let extra: &[(&str, &[u8])] =
        &[(r"Framed.0.db\Facts (1).tbl\1.prt\0.Facts.Value.0.idf", &data)];
    write_model(Cursor::new(Vec::new()), &model, extra, WriterOptions::default())
        .unwrap()
        .into_inner()
}

pub(crate) fn signature(text: &str) -> Vec<u8> {
    let mut sig: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    sig.extend_from_slice(&[0, 0]);
    sig
}

/// Envelopes (`u32 uncompressed`, `u32 compressed`, block) for `chunks`, all in one encoder session.
pub(crate) fn session(chunks: &[&[u8]]) -> Vec<u8> {
    let mut encoder = ripbi_xpress9::Encoder::new().unwrap();
    let mut out = Vec::new();
    for chunk in chunks {
        let block = encoder.encode_chunk(chunk).unwrap();
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(&(block.len() as u32).to_le_bytes());
        out.extend_from_slice(&block);
    }
    out
}

fn single_threaded(image: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = signature("This backup was created using XPress9 compression.");
    let chunks: Vec<&[u8]> = image.chunks(chunk).collect();
    out.extend(session(&chunks));
    out
}

/// One prefix group of one chunk, then `threads` main groups of `per` chunks each.
fn multithreaded(image: &[u8], chunk: usize, threads: usize, per: usize) -> Vec<u8> {
    let chunks: Vec<&[u8]> = image.chunks(chunk).collect();
    assert_eq!(chunks.len(), 1 + threads * per, "test layout");
    let mut out = signature("This backup was created using multithreaded XPrs9.");
    for v in [per as u64, 1, 1, threads as u64, chunk as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend(session(&chunks[..1]));
    for group in chunks[1..].chunks(per) {
        out.extend(session(group));
    }
    out
}

fn read(bytes: Vec<u8>) -> Report {
    inspect(Cursor::new(bytes), InspectOptions { full: true, ..Default::default() }).unwrap()
}

#[test]
fn single_threaded_stream_reads_like_its_image() {
    let image = image();
    let plain = read(image.clone());
    assert!(plain.valid, "{:?}", plain.problems);
    let framed = single_threaded(&image, 64 << 10);
    let report = read(framed);
    assert!(report.valid, "{:?}", report.problems);
    assert_eq!(report.format.framing, Some(Framing::Xpress9));
    assert_eq!(report.files, plain.files);
    assert_eq!(report.tables, plain.tables);
    assert_eq!(report.database.compatibility_level, Some(1601));
}

#[test]
fn multithreaded_stream_reads_like_its_image() {
    let image = image();
    let chunk = image.len().div_ceil(7);
    let framed = multithreaded(&image, chunk, 3, 2);
    let report = read(framed);
    assert!(report.valid, "{:?}", report.problems);
    assert_eq!(report.format.framing, Some(Framing::Xpress9Multithreaded));
    assert_eq!(report.files, read(image).files);
}

#[test]
fn damaged_block_header_and_payload_are_found_without_panics() {
    let image = image();
    let framed = single_threaded(&image, 64 << 10);
    // Offset 102 is the first envelope; its block header starts 8 bytes later.
    let mut header_flip = framed.clone();
    header_flip[102 + 8 + 5] ^= 0x10;
    let r = read(header_flip);
    assert!(!r.valid);
    assert_eq!(
        (r.problems[0].kind, r.problems[0].part.as_str()),
        (ProblemKind::Corrupt, "xpress9 chunk 0")
    );
    assert!(r.problems[0].message.contains("crc-32c"), "{}", r.problems[0].message);
    // Payload damage has no checksum; it shows as a decoding failure or, failing that, in the image's own checks.
    let mut payload_flip = framed.clone();
    payload_flip[102 + 8 + 32 + 200] ^= 0xFF;
    assert!(!read(payload_flip).valid);
    // A stream cut inside a chunk.
    let cut = framed[..framed.len() - 1000].to_vec();
    let r = read(cut);
    assert_eq!(r.problems[0].kind, ProblemKind::Truncated);
    // A thread table announcing absurd counts.
    let mut mt = multithreaded(&image, image.len().div_ceil(7), 3, 2);
    mt[102..110].copy_from_slice(&u64::MAX.to_le_bytes());
    let r = read(mt);
    assert_eq!(r.problems[0].part, "xpress9 thread table");
}
