//! Reading one file out of a plain `.abf` image, by the name the BackupLog gives it.

use std::io::{Read, Seek, SeekFrom};

use crate::abf::{self, Fail, Image};
use crate::error::{Error, Result};
use crate::sniff::{self, Sniffed};

/// The original content of the file whose logged name (as [`crate::FileEntry::name`] shows it) is `name`, or whose
/// name ends with `\name`; `Ok(None)` when the image holds no such file.
///
/// Reads plain STREAM_STORAGE images (what Analysis Services and Power BI write as `.abf`): the header page, the
/// directory, the log and that one file, CRC-checked and decompressed. Damage, encryption and other framings are an
/// [`Error::Unreadable`] naming what was found. Memory is bounded by [`crate::MAX_METADATA_LEN`].
pub fn read_file<R: Read + Seek>(mut reader: R, name: &str) -> Result<Option<Vec<u8>>> {
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    reader.by_ref().take(sniff::XPRESS9_SIGNATURE_LEN).read_to_end(&mut head)?;
    if sniff::sniff(&head) != Sniffed::StreamStorage {
        return Err(Error::Unreadable(
            "read_file reads plain .abf images; this is another framing (inspect tells which)"
                .into(),
        ));
    }
    let result = (|| -> abf::Res<Option<Vec<u8>>> {
        let header = abf::read_header(&mut reader, len)?;
        if header.encryption_flag {
            return Err(Fail::Damage(crate::Problem::new(
                crate::ProblemKind::Encrypted,
                "header page",
                "encrypted backup: its files cannot be read without the password",
            )));
        }
        let mut image = Image::open(&mut reader, len, header)?;
        let wanted_suffix = format!("\\{name}");
        let found = (0..image.dir.len()).find(|&i| {
            let shown = image.display_name(i);
            shown == name || shown.ends_with(&wanted_suffix)
        });
        match found {
            Some(idx) => Ok(Some(image.read_content(idx)?)),
            None => Ok(None),
        }
    })();
    match result {
        Ok(v) => Ok(v),
        Err(Fail::Io(e)) => Err(Error::Io(e)),
        Err(Fail::Damage(p)) => Err(Error::Unreadable(p.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::{ModelSpec, TableSpec, WriterOptions, write_model};

    fn image(compress: bool) -> Vec<u8> {
        let model = ModelSpec {
            name: "Sales".into(),
            compatibility_level: 1600,
            tables: vec![TableSpec { name: "T".into(), partitions: vec!["P".into()] }],
            expressions: Vec::new(),
            roles: Vec::new(),
            data_source_version: None,
        };
        let extra: &[(&str, &[u8])] = &[("Side.json", b"{\"a\":1}")];
        write_model(Cursor::new(Vec::new()), &model, extra, WriterOptions { compress, crc: true })
            .unwrap()
            .into_inner()
    }

    #[test]
    fn reads_a_file_back_by_name_compressed_or_not() {
        for compress in [false, true] {
            let img = image(compress);
            assert_eq!(
                read_file(Cursor::new(&img), "Side.json").unwrap().as_deref(),
                Some(&b"{\"a\":1}"[..])
            );
            assert_eq!(read_file(Cursor::new(&img), "absent.bin").unwrap(), None);
        }
    }

    #[test]
    fn refuses_what_is_not_a_plain_image_and_damage() {
        let err = read_file(Cursor::new(b"PK\x03\x04 not an abf".to_vec()), "x").unwrap_err();
        assert!(err.to_string().contains("plain .abf images"), "{err}");
        let mut img = image(false);
        img.truncate(img.len() / 2);
        assert!(matches!(
            read_file(Cursor::new(&img), "Side.json"),
            Err(Error::Unreadable(_)) | Err(Error::Io(_))
        ));
    }
}
