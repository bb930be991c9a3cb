//! `inspect`: from any seekable byte stream to a [`Report`].

use std::io::{self, Read, Seek, SeekFrom};

use crate::abf::{self, Fail, Image, Res, corrupt, truncated};
use crate::bound::{Expect, Spooler};
use crate::error::{Error, Result};
use crate::framing::{self, Window};
use crate::metadata;
use crate::report::{
    Container, Database, FileEntry, Format, Framing, Problem, ProblemKind, Report, Table,
};
use crate::sniff::{self, Sniffed};

/// What `inspect` reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InspectOptions {
    /// Also stream every file of the image: its CRC trailer (when the header says files carry one), its Xpress8
    /// decoding and decoded length; check that the padding is zero, that `metadata.sqlitedb` passes SQLite's
    /// integrity check, and the ZIP member's CRC-32. Without it only the header page, the directory, the log and the
    /// metadata files are read.
    pub full: bool,
    /// Also read the model's whole definition from its catalog ([`Report::definition`]).
    pub definition: bool,
    /// With `definition`: keep the roles' member names (left out by default).
    pub members: bool,
}

/// Inspects a backup: an `.abf` (raw or XPress9-framed), a `.pbix` or an `.xlsx`. The backup is the whole of
/// `reader`, from offset 0 to its end, whatever its current position.
///
/// Damage and unrecognised input are reported in [`Report::problems`] with `valid: false`; the only errors are
/// I/O errors of `reader`. Memory stays bounded whatever the input: every allocation is capped by the stream length
/// or by a documented limit ([`MAX_XML_LEN`](crate::MAX_XML_LEN), [`MAX_METADATA_LEN`](crate::MAX_METADATA_LEN),
/// [`MAX_XPRESS9_CHUNK`](crate::MAX_XPRESS9_CHUNK)); an XPress9-framed image is decoded into memory up to 64 MiB
/// and into a temporary file beyond that.
///
/// # Errors
/// [`Error::Io`] when reading or seeking `reader` fails.
pub fn inspect<R: Read + Seek>(mut reader: R, options: InspectOptions) -> Result<Report> {
    let mut report = Report {
        valid: false,
        format: Format { container: Container::Unknown, framing: None },
        encrypted: false,
        database: Database::default(),
        tables: Vec::new(),
        files: Vec::new(),
        problems: Vec::new(),
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
        definition: None,
    };
    match run(&mut reader, options, &mut report) {
        Ok(()) => {}
        Err(Fail::Io(e)) => return Err(Error::Io(e)),
        Err(Fail::Damage(p)) => report.problems.push(p),
    }
    report.valid = report.problems.is_empty();
    Ok(report)
}

fn head<R: Read + Seek>(r: &mut R) -> Res<Vec<u8>> {
    r.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(sniff::XPRESS9_SIGNATURE_LEN as usize);
    r.by_ref().take(sniff::XPRESS9_SIGNATURE_LEN).read_to_end(&mut head)?;
    Ok(head)
}

fn zip_fail(part: &str, e: zip::result::ZipError) -> Fail {
    match e {
        zip::result::ZipError::Io(e)
            if !matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData) =>
        {
            Fail::Io(e)
        }
        other => corrupt(part, format!("the zip does not read: {other}")),
    }
}

fn run<R: Read + Seek>(r: &mut R, options: InspectOptions, report: &mut Report) -> Res<()> {
    let len = r.seek(SeekFrom::End(0))?;
    let head = head(r)?;
    match sniff::sniff(&head) {
        Sniffed::Unknown => Err(Fail::Damage(Problem::new(
            ProblemKind::NotAbf,
            "file",
            "not an abf/pbix/xlsx: the file starts with neither a backup signature nor a zip header",
        ))),
        Sniffed::Zip => {
            report.format.container = Container::Zip;
            run_zip(r, options, report)
        }
        _ => {
            report.format.container = Container::Abf;
            run_model(r, len, options, report)
        }
    }
}

fn run_zip<R: Read + Seek>(r: &mut R, options: InspectOptions, report: &mut Report) -> Res<()> {
    const PART: &str = "zip";
    let mut archive = zip::ZipArchive::new(&mut *r).map_err(|e| zip_fail(PART, e))?;
    let (name, container) = if archive.index_for_name("DataModel").is_some() {
        ("DataModel", Container::Pbix)
    } else if archive.index_for_name("xl/model/item.data").is_some() {
        ("xl/model/item.data", Container::Xlsx)
    } else if archive.index_for_name("Connections").is_some() {
        report.format.container = Container::Pbix;
        return Err(Fail::Damage(Problem::new(
            ProblemKind::NoModel,
            PART,
            "no embedded data model: a live-connection report (it has a Connections member and no DataModel)",
        )));
    } else {
        return Err(Fail::Damage(Problem::new(
            ProblemKind::NotAbf,
            PART,
            "not an abf/pbix/xlsx: the zip holds neither DataModel nor xl/model/item.data",
        )));
    };
    report.format.container = container;
    let part = format!("zip member {name}");
    let idx = archive.index_for_name(name).unwrap_or_default();
    let (stored, start, size) = {
        let f = archive.by_index_raw(idx).map_err(|e| zip_fail(&part, e))?;
        (f.compression() == zip::CompressionMethod::Stored, f.data_start(), f.compressed_size())
    };
    if options.full && stored {
        // The member's CRC-32 covers the whole model stream: zip checks it when the member is read to its end (a
        // compressed member is read to its end below, through the bounds).
        let mut f = archive.by_index(idx).map_err(|e| zip_fail(&part, e))?;
        match io::copy(&mut f, &mut io::sink()) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                report.problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    &part,
                    format!("does not read back: {e}"),
                ));
            }
            Err(e) => return Err(Fail::Io(e)),
        }
    }
    match (stored, start) {
        (true, Some(start)) => {
            drop(archive);
            let mut window = Window::new(&mut *r, start, size);
            run_model(&mut window, size, options, report)
        }
        _ => {
            // A compressed member is decoded through the bounds of bound.rs (memory up to 64 MiB, then a
            // temporary file): its declared size, its first bytes, its header page, the expansion ratio.
            let mut f = archive.by_index(idx).map_err(|e| zip_fail(&part, e))?;
            let mut spool = Spooler::new(&part, Expect::ModelStream, size);
            spool.declared(f.size())?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                        ) =>
                    {
                        return Err(corrupt(&part, format!("does not decompress: {e}")));
                    }
                    Err(e) => return Err(Fail::Io(e)),
                };
                spool.write(&buf[..n])?;
            }
            drop(f);
            drop(archive);
            let (mut spool, copied) = spool.finish()?;
            run_model(&mut spool, copied, options, report)
        }
    }
}

fn run_model<M: Read + Seek>(
    m: &mut M,
    len: u64,
    options: InspectOptions,
    report: &mut Report,
) -> Res<()> {
    let head = head(m)?;
    match sniff::sniff(&head) {
        Sniffed::StreamStorage => {
            report.format.framing = Some(Framing::StreamStorage);
            run_image(m, len, options, report)
        }
        sniffed @ (Sniffed::Xpress9 | Sniffed::Xpress9Multithreaded) => {
            let multithreaded = sniffed == Sniffed::Xpress9Multithreaded;
            report.format.framing =
                Some(if multithreaded { Framing::Xpress9Multithreaded } else { Framing::Xpress9 });
            let (mut image, image_len) = framing::decode_xpress9(m, len, multithreaded)?;
            let inner = head_of(&mut image)?;
            if sniff::sniff(&inner) != Sniffed::StreamStorage {
                return Err(corrupt(
                    "xpress9 stream",
                    "the decoded stream is not a stream storage image",
                ));
            }
            run_image(&mut image, image_len, options, report)
        }
        Sniffed::Zip | Sniffed::Unknown if len < 72 => Err(truncated(
            "model stream",
            format!("{len} bytes is too short for any backup signature"),
        )),
        Sniffed::Zip | Sniffed::Unknown => Err(corrupt(
            "model stream",
            "starts with neither the stream storage nor an xpress9 signature",
        )),
    }
}

fn head_of<M: Read + Seek>(m: &mut M) -> Res<Vec<u8>> {
    let h = head(m)?;
    m.seek(SeekFrom::Start(0))?;
    Ok(h)
}

fn run_image<I: Read + Seek>(
    i: &mut I,
    len: u64,
    options: InspectOptions,
    report: &mut Report,
) -> Res<()> {
    let header = abf::read_header(i, len)?;
    if header.encryption_flag {
        report.encrypted = true;
        return Err(Fail::Damage(Problem::new(
            ProblemKind::Encrypted,
            "header page",
            "encrypted backup: password required; nothing past the header page was read",
        )));
    }
    let mut image = Image::open(i, len, header)?;
    report.problems.append(&mut image.problems);
    report.files = (0..image.dir.len())
        .map(|idx| FileEntry {
            name: image.display_name(idx),
            size: image.original_size(idx),
            stored_size: image.dir[idx].size,
        })
        .collect();
    let mut failed = vec![false; image.dir.len()];
    let paths: Vec<String> = (0..image.dir.len())
        .map(|idx| image.log_file(idx).map(|f| f.path.to_ascii_lowercase()).unwrap_or_default())
        .collect();
    read_database(&mut image, &paths, &mut failed, report)?;
    read_tables(&mut image, &paths, options, &mut failed, report)?;
    if options.full {
        verify_image(&mut image, &failed, &mut report.problems)?;
    }
    Ok(())
}

/// Reads one metadata file whole; damage goes to `problems` and marks the file in `failed`.
fn read_meta<R: Read + Seek>(
    image: &mut Image<R>,
    idx: usize,
    failed: &mut [bool],
    problems: &mut Vec<Problem>,
) -> Res<Option<Vec<u8>>> {
    match image.read_content(idx) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Fail::Damage(p)) => {
            failed[idx] = true;
            problems.push(p);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads the database name and compatibility level from the `*.db.xml` the log lists.
fn read_database<R: Read + Seek>(
    image: &mut Image<R>,
    paths: &[String],
    failed: &mut [bool],
    report: &mut Report,
) -> Res<()> {
    match paths.iter().position(|p| p.ends_with(".db.xml")) {
        None => report.problems.push(Problem::new(
            ProblemKind::Corrupt,
            "backup log",
            "lists no *.db.xml database definition",
        )),
        Some(idx) => {
            if let Some(bytes) = read_meta(image, idx, failed, &mut report.problems)? {
                match metadata::parse_db_xml(&bytes) {
                    Ok(db) => report.database = db,
                    Err(e) => report.problems.push(Problem::new(
                        ProblemKind::Corrupt,
                        format!("file {}", image.dir[idx].path),
                        format!("the database definition does not parse: {e}"),
                    )),
                }
            }
        }
    }
    Ok(())
}

/// Reads tables and partitions: from `metadata.sqlitedb` when the log lists one, else (below
/// compatibility level 1200) from the `*.dim.xml` and `*.prt.xml` files.
fn read_tables<R: Read + Seek>(
    image: &mut Image<R>,
    paths: &[String],
    options: InspectOptions,
    failed: &mut [bool],
    report: &mut Report,
) -> Res<()> {
    if let Some(idx) = paths.iter().position(|p| p.ends_with("metadata.sqlitedb")) {
        if let Some(bytes) = read_meta(image, idx, failed, &mut report.problems)? {
            match metadata::sqlite_tables(&bytes, options.full) {
                Ok(catalog) => {
                    if options.definition {
                        match crate::definition::read(&bytes, options.members) {
                            Ok(mut d) => {
                                d.compatibility_level = report.database.compatibility_level;
                                report.definition = Some(d);
                            }
                            Err(e) => report.problems.push(Problem::new(
                                ProblemKind::Corrupt,
                                format!("file {}", image.dir[idx].path),
                                format!("metadata.sqlitedb {e}"),
                            )),
                        }
                    }
                    report.tables = catalog.tables;
                    report.expressions = catalog.expressions;
                    report.roles = catalog.roles;
                    report.data_source_version = catalog.data_source_version;
                }
                Err(e) => report.problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    format!("file {}", image.dir[idx].path),
                    format!("metadata.sqlitedb {e}"),
                )),
            }
        }
    } else if report.database.compatibility_level.is_some_and(|level| level >= 1200) {
        // Tabular models (1200+) keep their catalog only in metadata.sqlitedb.
        report.problems.push(Problem::new(
            ProblemKind::Corrupt,
            "backup log",
            format!(
                "lists no metadata.sqlitedb, which a compatibility level {} model must have",
                report.database.compatibility_level.unwrap_or_default()
            ),
        ));
    } else {
        let (tables, objects) =
            read_xml_tables(image, paths, options.definition, failed, &mut report.problems)?;
        report.tables = tables;
        if options.definition {
            match crate::definition_xml::read(&objects) {
                Ok(mut d) => {
                    d.compatibility_level = report.database.compatibility_level;
                    report.definition = Some(d);
                }
                Err(e) => report.problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    "model definition",
                    format!("the object definition {e}"),
                )),
            }
        }
    }
    Ok(())
}

/// Tables of a multidimensional-era model, from its `*.dim.xml` files, with the partitions of
/// its `*.prt.xml` files attached to their owners; with `definition`, those files and the `*.scr.xml` scripts too,
/// for [`crate::definition_xml`].
fn read_xml_tables<R: Read + Seek>(
    image: &mut Image<R>,
    paths: &[String],
    definition: bool,
    failed: &mut [bool],
    problems: &mut Vec<Problem>,
) -> Res<(Vec<Table>, Vec<crate::definition_xml::ObjectFile>)> {
    let mut tables: Vec<(Option<String>, Table)> = Vec::new();
    let mut partitions: Vec<(String, String)> = Vec::new();
    let mut objects = Vec::new();
    for (idx, path) in paths.iter().enumerate() {
        let is_dim = path.ends_with(".dim.xml");
        let is_prt = path.ends_with(".prt.xml");
        let is_script = definition && path.ends_with(".scr.xml");
        if !is_dim && !is_prt && !is_script {
            continue;
        }
        let Some(bytes) = read_meta(image, idx, failed, problems)? else { continue };
        let original = image.log_file(idx).map(|f| f.path.clone()).unwrap_or_default();
        if definition {
            objects.push(crate::definition_xml::ObjectFile {
                path: original.clone(),
                bytes: bytes.clone(),
            });
        }
        if is_script {
            continue;
        }
        match metadata::object_name_and_id(&bytes) {
            Ok((Some(name), id)) if is_dim => {
                tables.push((id, Table { name, partitions: Vec::new() }))
            }
            Ok((Some(name), _)) => {
                if let Some(owner) = metadata::partition_owner(&original) {
                    partitions.push((owner.to_string(), name));
                }
            }
            Ok((None, _)) | Err(_) => problems.push(Problem::new(
                ProblemKind::Corrupt,
                format!("file {}", image.dir[idx].path),
                format!("{} has no readable Name", metadata::file_name(&original)),
            )),
        }
    }
    for (owner, name) in partitions {
        if let Some((_, t)) =
            tables.iter_mut().find(|(id, _)| id.as_deref() == Some(owner.as_str()))
        {
            t.partitions.push(name);
        }
    }
    Ok((tables.into_iter().map(|(_, t)| t).collect(), objects))
}

/// Checks the padding, then streams every file not already found damaged; damage goes to
/// `problems`.
fn verify_image<R: Read + Seek>(
    image: &mut Image<R>,
    failed: &[bool],
    problems: &mut Vec<Problem>,
) -> Res<()> {
    match image.verify_padding() {
        Ok(()) => {}
        Err(Fail::Damage(p)) => problems.push(p),
        Err(e) => return Err(e),
    }
    for (idx, already) in failed.iter().enumerate() {
        if *already {
            continue;
        }
        match image.verify_file(idx) {
            Ok(()) => {}
            Err(Fail::Damage(p)) => problems.push(p),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
