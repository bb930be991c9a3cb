//! The STREAM_STORAGE image: header page, VirtualDirectory, BackupLog and per-file access (abf.md §4–§6).

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

use crate::crc::{self, Bzip2Crc};
use crate::report::{Problem, ProblemKind};
use crate::xml::{self, Step};
use crate::xpress8;

/// Page size of the image.
pub(crate) const PAGE: u64 = 4096;
/// Largest VirtualDirectory or BackupLog this reader accepts (256 MiB); real ones are a few MiB at most.
pub const MAX_XML_LEN: u64 = 256 << 20;
/// Largest metadata file (`*.db.xml`, `metadata.sqlitedb`, `*.dim.xml`) read into memory, stored or decoded
/// (256 MiB); real ones are a few MiB at most.
pub const MAX_METADATA_LEN: u64 = 256 << 20;
/// The storage names of the entries the BackupLog does not list.
pub(crate) const SPECIAL_FILES: [&str; 3] = ["ADDITIONAL_LOG", "PARTITIONS", "LOG"];
const SIGNATURE_TEXT: &str = "STREAM_STORAGE_SIGNATURE_)!@#$%^&*(";

/// The 72-byte signature at offset 0: BOM + UTF-16LE text.
pub(crate) fn signature() -> Vec<u8> {
    let mut sig = vec![0xFF, 0xFE];
    sig.extend(SIGNATURE_TEXT.encode_utf16().flat_map(u16::to_le_bytes));
    sig
}

/// A reason to stop reading: an I/O failure of the reader, or damage.
#[derive(Debug)]
pub(crate) enum Fail {
    Io(io::Error),
    Damage(Problem),
}

impl From<Problem> for Fail {
    fn from(p: Problem) -> Self {
        Self::Damage(p)
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

pub(crate) fn corrupt(part: impl Into<String>, message: impl Into<String>) -> Fail {
    Fail::Damage(Problem::new(ProblemKind::Corrupt, part, message))
}

pub(crate) fn truncated(part: impl Into<String>, message: impl Into<String>) -> Fail {
    Fail::Damage(Problem::new(ProblemKind::Truncated, part, message))
}

/// Reads `len` bytes at `offset`, after checking the range against the stream length.
pub(crate) fn read_at<R: Read + Seek>(
    r: &mut R,
    stream_len: u64,
    offset: u64,
    len: u64,
    part: &str,
) -> Res<Vec<u8>> {
    let end = offset.checked_add(len).ok_or_else(|| corrupt(part, "offset and size overflow"))?;
    if end > stream_len {
        return Err(truncated(
            part,
            format!("range [{offset}, {end}) lies beyond the end of the stream at {stream_len}"),
        ));
    }
    let len = usize::try_from(len).map_err(|_| corrupt(part, "size does not fit in memory"))?;
    r.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len];
    read_exact_or_truncated(r, &mut buf, part)?;
    Ok(buf)
}

fn read_exact_or_truncated<R: Read>(r: &mut R, buf: &mut [u8], part: &str) -> Res<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated(part, "the stream ends early")
        } else {
            Fail::Io(e)
        }
    })
}

/// The BackupLogHeader of page 0.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) error_code: bool,
    pub(crate) encryption_flag: bool,
    pub(crate) apply_compression: bool,
    pub(crate) offset_header: u64,
    pub(crate) data_size: u64,
    pub(crate) files: u64,
    pub(crate) offset_data: u64,
}

fn parse_bool(part: &str, name: &str, v: &str) -> Res<bool> {
    match v.trim() {
        t if t.eq_ignore_ascii_case("true") => Ok(true),
        t if t.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(corrupt(part, format!("{name} is {other:?}, not true or false"))),
    }
}

fn parse_u64(part: &str, name: &str, v: &str) -> Res<u64> {
    v.trim().parse().map_err(|_| corrupt(part, format!("{name} is {v:?}, not a number")))
}

/// Reads and checks page 0. The stream must start with the STREAM_STORAGE signature (checked by the caller).
pub(crate) fn read_header<R: Read + Seek>(r: &mut R, stream_len: u64) -> Res<Header> {
    const PART: &str = "header page";
    let page = read_at(r, stream_len, 0, PAGE.min(stream_len), PART)?;
    if page.len() < PAGE as usize {
        return Err(truncated(
            PART,
            format!("the image is {stream_len} bytes, shorter than its 4096-byte header page"),
        ));
    }
    if page[..72] != signature()[..] {
        return Err(corrupt(PART, "missing the STREAM_STORAGE signature"));
    }
    let body = &page[72..];
    let end = body.chunks_exact(2).position(|c| c == [0, 0]).map_or(body.len(), |i| i * 2);
    let text = xml::decode_text(&body[..end]).map_err(|e| corrupt(PART, e))?;
    let mut fields: HashMap<String, String> = HashMap::new();
    xml::walk(&text, |s| {
        if let Step::Close(stack, t) = s
            && stack.len() == 2
        {
            fields.insert(stack[1].clone(), t.to_string());
        }
    })
    .map_err(|e| corrupt(PART, e))?;
    let get = |name: &str| {
        fields.get(name).ok_or_else(|| corrupt(PART, format!("BackupLogHeader has no {name}")))
    };
    let header = Header {
        error_code: parse_bool(PART, "ErrorCode", get("ErrorCode")?)?,
        encryption_flag: parse_bool(PART, "EncryptionFlag", get("EncryptionFlag")?)?,
        apply_compression: parse_bool(PART, "ApplyCompression", get("ApplyCompression")?)?,
        offset_header: parse_u64(PART, "m_cbOffsetHeader", get("m_cbOffsetHeader")?)?,
        data_size: parse_u64(PART, "DataSize", get("DataSize")?)?,
        files: parse_u64(PART, "Files", get("Files")?)?,
        offset_data: match fields.get("m_cbOffsetData") {
            Some(v) => parse_u64(PART, "m_cbOffsetData", v)?,
            None => PAGE,
        },
    };
    Ok(header)
}

/// One VirtualDirectory entry.
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) offset: u64,
}

/// One `FileList/BackupFile` of the BackupLog.
#[derive(Debug, Clone)]
pub(crate) struct LogFile {
    pub(crate) path: String,
    pub(crate) storage_path: String,
    pub(crate) size: u64,
}

/// The parts of the BackupLog (`LOG` entry) this crate uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackupLog {
    pub(crate) server_root: Option<String>,
    pub(crate) files: Vec<LogFile>,
}

/// An opened image: header, directory and log read and cross-checked.
#[derive(Debug)]
pub(crate) struct Image<R> {
    r: R,
    len: u64,
    pub(crate) header: Header,
    pub(crate) dir: Vec<DirEntry>,
    pub(crate) log: BackupLog,
    /// Log entry index by storage name.
    by_storage: HashMap<String, usize>,
    /// Non-fatal problems found while opening.
    pub(crate) problems: Vec<Problem>,
}

fn file_part(e: &DirEntry) -> String {
    format!("file {}", e.path)
}

impl<R: Read + Seek> Image<R> {
    /// Reads the directory and the log, given a header that says the image is not encrypted.
    pub(crate) fn open(mut r: R, len: u64, header: Header) -> Res<Self> {
        let mut problems = Vec::new();
        let dir = Self::read_directory(&mut r, len, &header, &mut problems)?;
        let mut image = Self {
            r,
            len,
            header,
            dir,
            log: BackupLog::default(),
            by_storage: HashMap::new(),
            problems: Vec::new(),
        };
        image.read_log(&mut problems)?;
        image.check_log(&mut problems);
        image.problems = problems;
        Ok(image)
    }

    /// Reads the VirtualDirectory the header points at and checks it against the header, the
    /// image length and the placement rules.
    fn read_directory(
        r: &mut R,
        len: u64,
        header: &Header,
        problems: &mut Vec<Problem>,
    ) -> Res<Vec<DirEntry>> {
        const DIR: &str = "virtual directory";
        if header.data_size > MAX_XML_LEN {
            return Err(corrupt(
                DIR,
                format!("DataSize {} exceeds the {MAX_XML_LEN}-byte limit", header.data_size),
            ));
        }
        if header.offset_header < header.offset_data || header.offset_data < PAGE {
            return Err(corrupt(
                "header page",
                format!(
                    "m_cbOffsetHeader {} lies before m_cbOffsetData {} or the data inside page 0",
                    header.offset_header, header.offset_data
                ),
            ));
        }
        let raw = read_at(r, len, header.offset_header, header.data_size, DIR)?;
        let text = xml::decode_text(&raw).map_err(|e| corrupt(DIR, e))?;
        let dir = parse_directory(&text)?;
        if dir.len() as u64 != header.files {
            problems.push(Problem::new(
                ProblemKind::Corrupt,
                DIR,
                format!(
                    "the header announces {} files but the directory lists {}",
                    header.files,
                    dir.len()
                ),
            ));
        }
        if !len.is_multiple_of(PAGE) {
            problems.push(Problem::new(
                ProblemKind::Truncated,
                "image",
                format!("the image is {len} bytes, not a multiple of the 4096-byte page"),
            ));
        }
        Self::check_placement(&dir, header, problems)?;
        Ok(dir)
    }

    /// Checks that the files lie contiguous from `m_cbOffsetData`, all before the directory, each
    /// long enough for its CRC trailer.
    fn check_placement(dir: &[DirEntry], header: &Header, problems: &mut Vec<Problem>) -> Res<()> {
        let mut expected = header.offset_data;
        for e in dir {
            let end = e
                .offset
                .checked_add(e.size)
                .ok_or_else(|| corrupt(file_part(e), "offset and size overflow"))?;
            if e.offset != expected {
                problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    file_part(e),
                    format!("stored at {} but the previous file ends at {expected}", e.offset),
                ));
            }
            if e.offset < header.offset_data || end > header.offset_header {
                return Err(corrupt(
                    file_part(e),
                    format!(
                        "range [{}, {end}) lies outside the files section [{}, {})",
                        e.offset, header.offset_data, header.offset_header
                    ),
                ));
            }
            if header.error_code && e.size < 4 {
                return Err(corrupt(file_part(e), "shorter than its 4-byte crc trailer"));
            }
            expected = end;
        }
        Ok(())
    }

    /// Reads the BackupLog from the directory's `LOG` entry and indexes its files by storage name.
    fn read_log(&mut self, problems: &mut Vec<Problem>) -> Res<()> {
        const DIR: &str = "virtual directory";
        const LOG: &str = "backup log";
        let log_idx = self
            .dir
            .iter()
            .position(|e| e.path == "LOG")
            .ok_or_else(|| corrupt(DIR, "no LOG entry"))?;
        if self.dir[log_idx].size > MAX_XML_LEN {
            return Err(corrupt(
                LOG,
                format!("{} bytes exceeds the {MAX_XML_LEN}-byte limit", self.dir[log_idx].size),
            ));
        }
        let stored = self.read_stored(log_idx)?;
        let text = xml::decode_text(&stored).map_err(|e| corrupt(LOG, e))?;
        self.log = parse_log(&text)?;
        for (i, f) in self.log.files.iter().enumerate() {
            if self.by_storage.insert(f.storage_path.clone(), i).is_some() {
                problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    LOG,
                    format!("storage name {} is listed twice", f.storage_path),
                ));
            }
        }
        Ok(())
    }

    /// Cross-checks the directory and the log: every file listed, stored sizes matching logged
    /// ones, no logged file missing from the directory.
    fn check_log(&self, problems: &mut Vec<Problem>) {
        const LOG: &str = "backup log";
        let crc_len = if self.header.error_code { 4 } else { 0 };
        let mut listed = 0;
        for e in &self.dir {
            if SPECIAL_FILES.contains(&e.path.as_str()) {
                continue;
            }
            match self.by_storage.get(&e.path) {
                None => problems.push(Problem::new(
                    ProblemKind::Corrupt,
                    file_part(e),
                    "the directory entry is missing from the backup log",
                )),
                Some(&i) => {
                    listed += 1;
                    let logged = self.log.files[i].size;
                    if !self.header.apply_compression && logged.checked_add(crc_len) != Some(e.size)
                    {
                        problems.push(Problem::new(
                            ProblemKind::Corrupt,
                            file_part(e),
                            format!("stored size {} does not match the logged size {logged} (+{crc_len})", e.size),
                        ));
                    }
                }
            }
        }
        if listed != self.log.files.len() {
            problems.push(Problem::new(
                ProblemKind::Corrupt,
                LOG,
                format!(
                    "the log lists {} files but only {listed} are in the directory",
                    self.log.files.len()
                ),
            ));
        }
    }

    /// The log entry for a directory entry.
    pub(crate) fn log_file(&self, idx: usize) -> Option<&LogFile> {
        self.by_storage.get(&self.dir[idx].path).map(|&i| &self.log.files[i])
    }

    /// True when the directory entry is stored with Xpress8 chunks.
    pub(crate) fn is_compressed(&self, idx: usize) -> bool {
        self.header.apply_compression && !SPECIAL_FILES.contains(&self.dir[idx].path.as_str())
    }

    fn crc_len(&self) -> u64 {
        if self.header.error_code { 4 } else { 0 }
    }

    /// The stored bytes of an entry with its CRC trailer checked and removed.
    pub(crate) fn read_stored(&mut self, idx: usize) -> Res<Vec<u8>> {
        let e = self.dir[idx].clone();
        let part = file_part(&e);
        let mut bytes = read_at(&mut self.r, self.len, e.offset, e.size, &part)?;
        if self.header.error_code {
            let body_len = bytes.len() - 4;
            let stored = u32::from_le_bytes([
                bytes[body_len],
                bytes[body_len + 1],
                bytes[body_len + 2],
                bytes[body_len + 3],
            ]);
            let actual = crc::bzip2(&bytes[..body_len]);
            if stored != actual {
                return Err(Fail::Damage(Problem::new(
                    ProblemKind::CrcMismatch,
                    part,
                    format!("crc-32/bzip2 is {actual:08x}, the trailer says {stored:08x}"),
                )));
            }
            bytes.truncate(body_len);
        }
        Ok(bytes)
    }

    /// The original content of an entry: CRC checked, Xpress8 decoded, length checked against the log.
    pub(crate) fn read_content(&mut self, idx: usize) -> Res<Vec<u8>> {
        let e = self.dir[idx].clone();
        let part = file_part(&e);
        if e.size > MAX_METADATA_LEN {
            return Err(Fail::Damage(Problem::new(
                ProblemKind::Unsupported,
                part,
                format!(
                    "{} bytes exceeds the {MAX_METADATA_LEN}-byte limit for metadata read into memory",
                    e.size
                ),
            )));
        }
        let stored = self.read_stored(idx)?;
        let logged = self.log_file(idx).map(|f| f.size);
        if !self.is_compressed(idx) {
            return Ok(stored);
        }
        let declared =
            xpress8::declared_len(&stored).map_err(|err| corrupt(&part, err.to_string()))?;
        if let Some(logged) = logged
            && logged != declared
        {
            return Err(corrupt(
                &part,
                format!("xpress8 chunks declare {declared} bytes, the log says {logged}"),
            ));
        }
        if declared > MAX_METADATA_LEN {
            return Err(corrupt(
                &part,
                format!("xpress8 chunks declare {declared} bytes, over the limit"),
            ));
        }
        // Grown as chunks decode: a damaged file fails before its declared size is ever allocated.
        let mut out = Vec::with_capacity(stored.len());
        xpress8::decode_file(&stored, |c| out.extend_from_slice(c))
            .map_err(|err| corrupt(&part, err.to_string()))?;
        Ok(out)
    }

    /// Streams one entry: CRC check and, when compressed, a full Xpress8 decode checked against the logged size.
    /// Memory: one 64 KiB buffer, or one chunk (at most 64 KiB in and out) when compressed.
    pub(crate) fn verify_file(&mut self, idx: usize) -> Res<()> {
        let e = self.dir[idx].clone();
        let part = file_part(&e);
        let compressed = self.is_compressed(idx);
        let logged = self.log_file(idx).map(|f| f.size);
        let body_len = e.size - self.crc_len();
        if e.offset.checked_add(e.size).is_none_or(|end| end > self.len) {
            return Err(truncated(&part, "the file runs past the end of the image"));
        }
        self.r.seek(SeekFrom::Start(e.offset))?;
        let mut crc = Bzip2Crc::default();
        let mut remaining = body_len;
        let mut decoded = 0u64;
        if compressed {
            let mut payload = Vec::new();
            let mut out = Vec::with_capacity(1 << 16);
            let mut chunk = 0usize;
            while remaining > 0 {
                if remaining < 4 {
                    return Err(corrupt(
                        &part,
                        format!("xpress8 chunk {chunk} header runs past the stored bytes"),
                    ));
                }
                let mut header = [0u8; 4];
                read_exact_or_truncated(&mut self.r, &mut header, &part)?;
                crc.update(&header);
                remaining -= 4;
                let raw = u16::from_le_bytes([header[0], header[1]]) as usize;
                let packed = u16::from_le_bytes([header[2], header[3]]) as u64;
                if packed > remaining {
                    return Err(corrupt(
                        &part,
                        format!("xpress8 chunk {chunk} runs past the stored bytes"),
                    ));
                }
                payload.resize(packed as usize, 0);
                read_exact_or_truncated(&mut self.r, &mut payload, &part)?;
                crc.update(&payload);
                remaining -= packed;
                if raw != packed as usize {
                    out.clear();
                    xpress8::decode_lz77(&payload, raw, &mut out).map_err(|error| {
                        corrupt(&part, xpress8::FileError::Chunk { chunk, error }.to_string())
                    })?;
                }
                decoded += raw as u64;
                chunk += 1;
            }
        } else {
            let mut buf = vec![0u8; 1 << 16];
            while remaining > 0 {
                let n = remaining.min(buf.len() as u64) as usize;
                read_exact_or_truncated(&mut self.r, &mut buf[..n], &part)?;
                crc.update(&buf[..n]);
                remaining -= n as u64;
            }
            decoded = body_len;
        }
        if self.header.error_code {
            let mut trailer = [0u8; 4];
            read_exact_or_truncated(&mut self.r, &mut trailer, &part)?;
            let stored = u32::from_le_bytes(trailer);
            let actual = crc.finish();
            if stored != actual {
                return Err(Fail::Damage(Problem::new(
                    ProblemKind::CrcMismatch,
                    part,
                    format!("crc-32/bzip2 is {actual:08x}, the trailer says {stored:08x}"),
                )));
            }
        }
        if compressed
            && let Some(logged) = logged
            && logged != decoded
        {
            return Err(corrupt(
                part,
                format!("xpress8 decodes to {decoded} bytes, the log says {logged}"),
            ));
        }
        Ok(())
    }

    /// Checks that the gap after the last file and everything after the directory are zero (abf.md §4.5), streaming.
    pub(crate) fn verify_padding(&mut self) -> Res<()> {
        let files_end =
            self.dir.iter().map(|e| e.offset + e.size).max().unwrap_or(self.header.offset_data);
        let dir_end = self.header.offset_header + self.header.data_size;
        for (part, from, to) in [
            ("padding before the virtual directory", files_end, self.header.offset_header),
            ("padding after the virtual directory", dir_end, self.len),
        ] {
            if from >= to {
                continue;
            }
            self.r.seek(SeekFrom::Start(from))?;
            let mut buf = vec![0u8; 1 << 16];
            let mut remaining = to - from;
            while remaining > 0 {
                let n = remaining.min(buf.len() as u64) as usize;
                read_exact_or_truncated(&mut self.r, &mut buf[..n], part)?;
                if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                    let at = to - remaining + i as u64;
                    return Err(corrupt(part, format!("non-zero byte at offset {at}")));
                }
                remaining -= n as u64;
            }
        }
        Ok(())
    }

    /// The report name of an entry: the log path relative to `ServerRoot`, else the storage name.
    pub(crate) fn display_name(&self, idx: usize) -> String {
        match self.log_file(idx) {
            None => self.dir[idx].path.clone(),
            Some(f) => {
                let root = self.log.server_root.as_deref().unwrap_or("");
                if !root.is_empty()
                    && let Some(rest) = f.path.strip_prefix(root)
                {
                    let rest = rest.trim_start_matches('\\');
                    if !rest.is_empty() {
                        return rest.to_string();
                    }
                }
                f.path.clone()
            }
        }
    }

    /// The original size of an entry.
    pub(crate) fn original_size(&self, idx: usize) -> u64 {
        match self.log_file(idx) {
            Some(f) => f.size,
            None => self.dir[idx].size.saturating_sub(self.crc_len()),
        }
    }
}

fn parse_directory(text: &str) -> Res<Vec<DirEntry>> {
    const DIR: &str = "virtual directory";
    let mut out = Vec::new();
    let mut cur: [Option<String>; 3] = [None, None, None];
    let mut err = None;
    let mut root_ok = true;
    xml::walk(text, |s| match s {
        Step::Open(stack) => {
            if stack.len() == 1 && stack[0] != "VirtualDirectory" {
                root_ok = false;
            }
            if stack.len() == 2 && stack[1] == "BackupFile" {
                cur = [None, None, None];
            }
        }
        Step::Close(stack, t) => {
            if stack.len() == 3 && stack[1] == "BackupFile" {
                let slot = match stack[2].as_str() {
                    "Path" => 0,
                    "Size" => 1,
                    "m_cbOffsetHeader" => 2,
                    _ => return,
                };
                cur[slot] = Some(t.to_string());
            } else if stack.len() == 2 && stack[1] == "BackupFile" {
                match std::mem::take(&mut cur) {
                    [Some(path), Some(size), Some(offset)] => {
                        match (size.trim().parse::<u64>(), offset.trim().parse::<u64>()) {
                            (Ok(size), Ok(offset)) => out.push(DirEntry { path, size, offset }),
                            _ => {
                                err = Some(format!(
                                    "entry {path} has a non-numeric Size or m_cbOffsetHeader"
                                ))
                            }
                        }
                    }
                    _ => {
                        err = Some(format!(
                            "entry {} lacks Path, Size or m_cbOffsetHeader",
                            out.len()
                        ))
                    }
                }
            }
        }
    })
    .map_err(|e| corrupt(DIR, e))?;
    if !root_ok {
        return Err(corrupt(DIR, "the root element is not <VirtualDirectory>"));
    }
    if let Some(e) = err {
        return Err(corrupt(DIR, e));
    }
    Ok(out)
}

fn parse_log(text: &str) -> Res<BackupLog> {
    const LOG: &str = "backup log";
    let mut log = BackupLog::default();
    let mut cur: [Option<String>; 3] = [None, None, None];
    let mut err = None;
    let mut root_ok = true;
    xml::walk(text, |s| match s {
        Step::Open(stack) => {
            if stack.len() == 1 && stack[0] != "BackupLog" {
                root_ok = false;
            }
            if stack.last().is_some_and(|n| n == "BackupFile") {
                cur = [None, None, None];
            }
        }
        Step::Close(stack, t) => {
            let n = stack.len();
            if n == 2 && stack[1] == "ServerRoot" {
                log.server_root = Some(t.to_string());
            } else if n >= 2 && stack[n - 2] == "BackupFile" && n >= 3 && stack[n - 3] == "FileList"
            {
                let slot = match stack[n - 1].as_str() {
                    "Path" => 0,
                    "StoragePath" => 1,
                    "Size" => 2,
                    _ => return,
                };
                cur[slot] = Some(t.to_string());
            } else if n >= 2 && stack[n - 1] == "BackupFile" && stack[n - 2] == "FileList" {
                match std::mem::take(&mut cur) {
                    [Some(path), Some(storage_path), Some(size)] => {
                        match size.trim().parse::<u64>() {
                            Ok(size) => log.files.push(LogFile { path, storage_path, size }),
                            Err(_) => {
                                err = Some(format!("file {storage_path} has a non-numeric Size"))
                            }
                        }
                    }
                    _ => {
                        err = Some(format!(
                            "file entry {} lacks Path, StoragePath or Size",
                            log.files.len()
                        ))
                    }
                }
            }
        }
    })
    .map_err(|e| corrupt(LOG, e))?;
    if !root_ok {
        return Err(corrupt(LOG, "the root element is not <BackupLog>"));
    }
    if let Some(e) = err {
        return Err(corrupt(LOG, e));
    }
    Ok(log)
}
