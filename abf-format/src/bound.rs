//! How far a decoder may go: every decoded model stream (an XPress9 stream, a deflated ZIP member) passes through a
//! [`Spooler`], which refuses a decompression bomb before it costs memory or temporary space.
//!
//! Three bounds, the tightest wins:
//! - the **expansion ratio**: at most [`MAX_EXPANSION`] decoded bytes per encoded byte (8 MiB whatever the input);
//!   the public samples decode at 2.8 to 20 to 1, and deflate cannot pass about 1,032 to 1;
//! - what the **container declares**: a ZIP member's uncompressed size, checked before anything is decoded;
//! - what the **header page declares**: a STREAM_STORAGE image ends with its VirtualDirectory
//!   (`m_cbOffsetHeader + DataSize`) and zeros to the page boundary (abf.md §4.1, §4.5); one page more is allowed.
//!
//! The first bytes must look like what the layer holds (a stream storage image, or for a ZIP member also an XPress9
//! stream) before more than a page is decoded. A full temporary folder is reported as such, naming the folder.

use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::abf::{self, Fail, PAGE, Res, corrupt};
use crate::report::{Problem, ProblemKind};
use crate::sniff::{self, Sniffed};

/// Largest ratio of decoded to encoded bytes accepted for a model stream (256 to 1).
pub const MAX_EXPANSION: u64 = 256;
/// Largest decoded image this reader produces from an XPress9 stream or a ZIP member (16 GiB). Past 64 MiB it is
/// spooled to a temporary file, not held in memory; the tighter bounds are below.
pub const MAX_IMAGE_LEN: u64 = 16 << 30;

/// Decoded bytes allowed whatever the encoded size (8 MiB), so that a tiny real model is never refused.
const MIN_ALLOWANCE: u64 = 8 << 20;
/// Decoded images up to this size stay in memory; beyond it they go to a temporary file.
const SPOOL_IN_MEMORY: usize = 64 << 20;

/// A decoded image: in memory while small, in a temporary file past 64 MiB.
pub(crate) type Spool = tempfile::SpooledTempFile;

/// What the decoded stream must start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A stream storage image (the output of XPress9).
    Image,
    /// A model stream: an image or an XPress9 stream (a ZIP member).
    ModelStream,
}

/// Why the decoder stopped.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Expansion { encoded: u64 },
    Declared,
    HeaderPage { end: u64 },
    ImageLen,
}

/// A bounded sink for one decoded stream.
pub(crate) struct Spooler {
    part: String,
    expect: Expect,
    spool: Spool,
    written: u64,
    limit: u64,
    why: Limit,
    /// The first page decoded, kept until the checks on it are made.
    head: Vec<u8>,
    head_checked: bool,
}

impl Spooler {
    /// A sink for the decoding of `encoded` bytes.
    pub(crate) fn new(part: impl Into<String>, expect: Expect, encoded: u64) -> Self {
        let allowance = encoded.saturating_mul(MAX_EXPANSION).max(MIN_ALLOWANCE);
        let (limit, why) = if allowance > MAX_IMAGE_LEN {
            (MAX_IMAGE_LEN, Limit::ImageLen)
        } else {
            (allowance, Limit::Expansion { encoded })
        };
        Self {
            part: part.into(),
            expect,
            spool: tempfile::spooled_tempfile(SPOOL_IN_MEMORY),
            written: 0,
            limit,
            why,
            head: Vec::new(),
            head_checked: false,
        }
    }

    /// The container declares `len` decoded bytes: refused now when over the bounds, else the new bound, and the
    /// temporary folder must have room for what will not fit in memory.
    pub(crate) fn declared(&mut self, len: u64) -> Res<()> {
        self.expect_more(len)?;
        self.limit = len;
        self.why = Limit::Declared;
        if len > SPOOL_IN_MEMORY as u64 {
            check_room(len)?;
        }
        Ok(())
    }

    /// `more` bytes are about to be decoded: refused when they would pass the bound.
    pub(crate) fn expect_more(&self, more: u64) -> Res<()> {
        match self.written.checked_add(more) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(self.refusal()),
        }
    }

    /// Appends decoded bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Res<()> {
        self.expect_more(bytes.len() as u64)?;
        if !self.head_checked {
            let want = PAGE as usize - self.head.len();
            self.head.extend_from_slice(&bytes[..want.min(bytes.len())]);
            if self.head.len() >= PAGE as usize {
                self.check_head()?;
            }
        }
        self.spool.write_all(bytes).map_err(spool_error)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The decoded stream, rewound, and its length. A stream shorter than a page gets its first-bytes check here.
    pub(crate) fn finish(mut self) -> Res<(Spool, u64)> {
        if !self.head_checked && self.head.len() >= sniff::XPRESS9_SIGNATURE_LEN as usize {
            self.check_head()?;
        }
        self.spool.seek(SeekFrom::Start(0))?;
        Ok((self.spool, self.written))
    }

    fn check_head(&mut self) -> Res<()> {
        self.head_checked = true;
        let sniffed = sniff::sniff(&self.head);
        let fits = match self.expect {
            Expect::Image => sniffed == Sniffed::StreamStorage,
            Expect::ModelStream => matches!(
                sniffed,
                Sniffed::StreamStorage | Sniffed::Xpress9 | Sniffed::Xpress9Multithreaded
            ),
        };
        if !fits {
            return Err(corrupt(
                &self.part,
                "decodes to something that is not a backup (no stream storage or xpress9 signature in its first \
                 bytes); nothing more was decoded",
            ));
        }
        if sniffed == Sniffed::StreamStorage && self.head.len() >= PAGE as usize {
            let header =
                abf::read_header(&mut Cursor::new(&self.head[..]), self.head.len() as u64)?;
            let end = header
                .offset_header
                .checked_add(header.data_size)
                .map(|e| e.div_ceil(PAGE).saturating_mul(PAGE).saturating_add(PAGE))
                .unwrap_or(u64::MAX);
            if end < self.limit {
                self.limit = end;
                self.why = Limit::HeaderPage { end };
            }
        }
        self.head = Vec::new();
        Ok(())
    }

    fn refusal(&self) -> Fail {
        let message = match self.why {
            Limit::Expansion { encoded } => format!(
                "would decode to more than {} bytes, over {MAX_EXPANSION} times its {encoded} bytes: a \
                 decompression bomb or damage; nothing more was decoded",
                self.limit
            ),
            Limit::Declared => format!(
                "decodes to more than the {} bytes its container declares; nothing more was decoded",
                self.limit
            ),
            Limit::HeaderPage { end } => format!(
                "decodes past byte {end}, where its header page says the image ends; nothing more was decoded"
            ),
            Limit::ImageLen => {
                return Fail::Damage(Problem::new(
                    ProblemKind::Unsupported,
                    &self.part,
                    format!("the decoded image would exceed the {}-byte limit", self.limit),
                ));
            }
        };
        corrupt(&self.part, message)
    }
}

/// The folder temporary files go to.
fn temp_folder() -> PathBuf {
    std::env::temp_dir()
}

/// A write to the spool failed: a full folder is named as such, with the remedy.
fn spool_error(e: io::Error) -> Fail {
    if e.kind() == io::ErrorKind::StorageFull {
        Fail::Io(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the temporary folder {} is full while decoding the backup; free space there or point TMPDIR at a \
                 larger folder",
                temp_folder().display()
            ),
        ))
    } else {
        Fail::Io(e)
    }
}

/// Refuses to start decoding `len` bytes into a temporary folder that cannot hold them.
fn check_room(len: u64) -> Res<()> {
    let folder = temp_folder();
    match free_space(&folder) {
        Some(free) if free < len => Err(Fail::Io(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the temporary folder {} has {free} bytes free, and decoding this backup needs {len}; free space \
                 there or point TMPDIR at a larger folder",
                folder.display()
            ),
        ))),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn free_space(folder: &std::path::Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(folder).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_space(_folder: &std::path::Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(f: Fail) -> Problem {
        match f {
            Fail::Damage(p) => p,
            Fail::Io(e) => panic!("an i/o error where damage was expected: {e}"),
        }
    }

    #[test]
    fn refuses_past_the_expansion_ratio_before_decoding() {
        let s = Spooler::new("x", Expect::Image, 1000);
        assert!(s.expect_more(MIN_ALLOWANCE).is_ok());
        let p = problem(s.expect_more(MIN_ALLOWANCE + 1).unwrap_err());
        assert_eq!(p.kind, ProblemKind::Corrupt);
        assert!(p.message.contains("256 times its 1000 bytes"), "{}", p.message);
        let big = Spooler::new("x", Expect::Image, 1 << 20);
        assert!(big.expect_more(256 << 20).is_ok());
        assert!(big.expect_more((256 << 20) + 1).is_err());
    }

    #[test]
    fn refuses_a_first_page_that_is_not_a_backup() {
        let mut s = Spooler::new("x", Expect::Image, 1 << 20);
        let p = problem(s.write(&vec![0u8; PAGE as usize]).unwrap_err());
        assert!(p.message.contains("not a backup"), "{}", p.message);
        // An XPress9 stream is a model stream, not an image.
        let mut sig = sniff::xpress9_signature(false);
        sig.resize(PAGE as usize, 0);
        assert!(Spooler::new("x", Expect::ModelStream, 1 << 20).write(&sig).is_ok());
        assert!(Spooler::new("x", Expect::Image, 1 << 20).write(&sig).is_err());
    }

    #[test]
    fn a_declared_size_over_the_ratio_is_refused_and_under_it_becomes_the_bound() {
        let mut s = Spooler::new("x", Expect::ModelStream, 100);
        assert!(s.declared(MIN_ALLOWANCE + 1).is_err());
        s.declared(200).unwrap();
        let mut sig = sniff::xpress9_signature(false);
        sig.resize(200, 0);
        s.write(&sig).unwrap();
        let p = problem(s.write(&[0]).unwrap_err());
        assert!(p.message.contains("200 bytes its container declares"), "{}", p.message);
    }

    #[test]
    fn an_image_ends_one_page_after_its_directory_at_most() {
        use crate::{ModelSpec, WriterOptions, write_model};
        let model = ModelSpec {
            name: "M".into(),
            compatibility_level: 1600,
            tables: Vec::new(),
            expressions: Vec::new(),
            roles: Vec::new(),
            data_source_version: None,
        };
        let mut image = Cursor::new(Vec::new());
        write_model(&mut image, &model, &[], WriterOptions::default()).unwrap();
        let image = image.into_inner();
        let mut s = Spooler::new("x", Expect::Image, 1 << 30);
        s.write(&image).unwrap();
        s.write(&vec![0u8; PAGE as usize]).unwrap();
        let p = match s.write(&[0]).unwrap_err() {
            Fail::Damage(p) => p,
            Fail::Io(e) => panic!("{e}"),
        };
        assert!(p.message.contains("header page says the image ends"), "{}", p.message);
    }
}
