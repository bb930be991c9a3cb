//! The outer layers around a written image: ZIP members (stored and deflated, pbix and xlsx names), the ZIP CRC,
//! ZIPs without a model, and the encryption flag.

use std::io::{Cursor, Write};

use abf_format::{
    Container, Framing, InspectOptions, ModelSpec, ProblemKind, Report, TableSpec, WriterOptions,
    inspect,
};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

fn image() -> Vec<u8> {
    let model = ModelSpec {
        name: "Zipped".into(),
        compatibility_level: 1550,
        tables: vec![TableSpec { name: "T".into(), partitions: vec!["P1".into(), "P2".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let data = b"zip member data ".repeat(500);
    let extra: &[(&str, &[u8])] = &[(r"Zipped.0.db\T.tbl\0.T.c.idf", &data)];
    abf_format::write_model(
        Cursor::new(Vec::new()),
        &model,
        extra,
        WriterOptions { compress: true, crc: true },
    )
    .unwrap()
    .into_inner()
}

pub(crate) fn zip_with(members: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, SimpleFileOptions::default().compression_method(method)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn read(bytes: Vec<u8>, full: bool) -> Report {
    inspect(Cursor::new(bytes), InspectOptions { full, ..Default::default() }).unwrap()
}

#[test]
fn model_members_read_stored_and_deflated() {
    let image = image();
    let plain = read(image.clone(), true);
    assert!(plain.valid, "{:?}", plain.problems);
    for (member, container) in
        [("DataModel", Container::Pbix), ("xl/model/item.data", Container::Xlsx)]
    {
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let zip = zip_with(&[("Version", b"1.28"), (member, &image)], method);
            for full in [false, true] {
                let r = read(zip.clone(), full);
                assert!(r.valid, "{member} {method:?}: {:?}", r.problems);
                assert_eq!(r.format.container, container);
                assert_eq!(r.format.framing, Some(Framing::StreamStorage));
                assert_eq!(r.files, plain.files);
                assert_eq!(r.tables, plain.tables);
            }
        }
    }
}

#[test]
fn zip_crc_catches_damage_the_image_cannot() {
    let image = image();
    let zip = zip_with(&[("DataModel", &image)], CompressionMethod::Stored);
    // Flip a zero byte of the header page's padding: the image's own checks cannot see it.
    let at = zip.windows(4096).position(|w| w.starts_with(&image[..100])).unwrap() + 4000;
    let mut damaged = zip.clone();
    damaged[at] ^= 0x01;
    assert!(read(damaged.clone(), false).valid, "a quick inspect reads no padding and no zip crc");
    let r = read(damaged, true);
    assert!(!r.valid);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].part, "zip member DataModel");
}

#[test]
fn zips_without_a_model_are_named() {
    let r = read(
        zip_with(&[("Connections", b"{}"), ("Version", b"1")], CompressionMethod::Stored),
        true,
    );
    assert_eq!((r.format.container, r.problems[0].kind), (Container::Pbix, ProblemKind::NoModel));
    let r = read(zip_with(&[("readme.txt", b"hello")], CompressionMethod::Deflated), true);
    assert_eq!((r.format.container, r.problems[0].kind), (Container::Zip, ProblemKind::NotAbf));
    assert!(r.problems[0].message.starts_with("not an abf/pbix/xlsx"));
    // A model member that is not a model stream.
    let r = read(zip_with(&[("DataModel", &[7u8; 500])], CompressionMethod::Stored), true);
    assert_eq!((r.format.container, r.format.framing), (Container::Pbix, None));
    assert_eq!(
        (r.problems[0].kind, r.problems[0].part.as_str()),
        (ProblemKind::Corrupt, "model stream")
    );
    // A ZIP cut short.
    let zip = zip_with(&[("DataModel", &image())], CompressionMethod::Stored);
    let r = read(zip[..zip.len() / 2].to_vec(), false);
    assert!(!r.valid);
}

/// Rewrites the header page's XML (UTF-16LE after the 72-byte signature).
fn edit_header(bytes: &mut [u8], from: &str, to: &str) {
    let end = bytes[72..4096].chunks_exact(2).position(|c| c == [0, 0]).unwrap() * 2 + 72;
    let text = String::from_utf16(
        &bytes[72..end]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(text.contains(from), "{text}");
    let new: Vec<u8> = text.replace(from, to).encode_utf16().flat_map(u16::to_le_bytes).collect();
    bytes[72..4096].fill(0);
    bytes[72..72 + new.len()].copy_from_slice(&new);
}

#[test]
fn encrypted_backup_is_reported_and_not_read() {
    let mut bytes = image();
    edit_header(
        &mut bytes,
        "<EncryptionFlag>false</EncryptionFlag>",
        "<EncryptionFlag>true</EncryptionFlag>",
    );
    // Make everything past the header unreadable, as encryption would.
    for b in &mut bytes[4096..] {
        *b ^= 0x5A;
    }
    for full in [false, true] {
        let r = read(bytes.clone(), full);
        assert!(r.encrypted);
        assert!(!r.valid);
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].kind, ProblemKind::Encrypted);
        assert!(r.problems[0].message.starts_with("encrypted backup: password required"));
        assert!(r.files.is_empty() && r.tables.is_empty() && r.database.name.is_none());
    }
}

#[test]
fn header_disagreements_are_found() {
    let mut bytes = image();
    let files = read(bytes.clone(), false).files.len();
    edit_header(
        &mut bytes,
        &format!("<Files>{files}</Files>"),
        &format!("<Files>{}</Files>", files + 1),
    );
    let r = read(bytes, false);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].part, "virtual directory");
    assert!(r.problems[0].message.contains("announces"), "{}", r.problems[0].message);
}
