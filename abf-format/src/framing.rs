//! The outer layers: the XPress9 envelopes (abf.md §2–§3), and a byte window over a ZIP member.

use std::io::{self, Read, Seek, SeekFrom};

use crate::abf::{Fail, Res, corrupt, read_at, truncated};
use crate::bound::{Expect, Spool, Spooler};
use crate::crc;
use crate::sniff::XPRESS9_SIGNATURE_LEN;

const XPRESS9_MAGIC: u32 = 0x4E86_D72A;
const BLOCK_HEADER_LEN: usize = 32;
/// Largest uncompressed size of one XPress9 chunk this reader accepts (64 MiB; real files use 2 MiB).
pub const MAX_XPRESS9_CHUNK: u64 = 64 << 20;
/// A read-only window `[start, start + len)` over a seekable stream.
#[derive(Debug)]
pub(crate) struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: Seek> Window<R> {
    pub(crate) fn new(inner: R, start: u64, len: u64) -> Self {
        Self { inner, start, len, pos: 0 }
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let n = (self.len - self.pos).min(buf.len() as u64) as usize;
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<R: Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the window",
            )),
        }
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// One decoder session: the chunks of a single-threaded stream, or one thread group of a multithreaded one.
struct Session {
    decoder: ripbi_xpress9::Decoder,
    next_block: u32,
    signature: Option<u32>,
}

impl Session {
    fn new() -> Res<Self> {
        let decoder = ripbi_xpress9::Decoder::new()
            .map_err(|e| Fail::Io(io::Error::new(io::ErrorKind::OutOfMemory, e.to_string())))?;
        Ok(Self { decoder, next_block: 0, signature: None })
    }
}

/// Where decoded chunks go.
struct Output {
    /// One chunk's decoded bytes.
    buf: Vec<u8>,
    spool: Spooler,
}

/// Reads and decodes one chunk envelope at `*pos`, appending its output to `out`.
fn decode_chunk<R: Read + Seek>(
    r: &mut R,
    len: u64,
    pos: &mut u64,
    index: usize,
    session: &mut Session,
    out: &mut Output,
) -> Res<()> {
    let part = format!("xpress9 chunk {index}");
    let envelope = read_at(r, len, *pos, 8, &part)?;
    let uncompressed = u64::from(u32_at(&envelope, 0));
    let compressed = u64::from(u32_at(&envelope, 4));
    if uncompressed > MAX_XPRESS9_CHUNK {
        return Err(corrupt(
            &part,
            format!("announces {uncompressed} bytes, over the {MAX_XPRESS9_CHUNK}-byte limit"),
        ));
    }
    if compressed < BLOCK_HEADER_LEN as u64 {
        return Err(corrupt(
            &part,
            format!("{compressed} bytes cannot hold its 32-byte block header"),
        ));
    }
    // Nothing is read, allocated or decoded past the bounds (bound.rs).
    out.spool.expect_more(uncompressed)?;
    let remaining = len - *pos - 8;
    if compressed > remaining {
        return Err(truncated(
            &part,
            format!("announces {compressed} bytes but only {remaining} remain"),
        ));
    }
    let payload = read_at(r, len, *pos + 8, compressed, &part)?;
    // Block header checks (abf.md §3.3): they need no decoding.
    let crc = crc::castagnoli(&payload[..28]);
    if u32_at(&payload, 28) != crc {
        return Err(corrupt(&part, "block header crc-32c does not match"));
    }
    if u32_at(&payload, 0) != XPRESS9_MAGIC {
        return Err(corrupt(&part, "block header has no xpress9 magic"));
    }
    if u64::from(u32_at(&payload, 4)) != uncompressed {
        return Err(corrupt(&part, "block header size differs from the envelope's"));
    }
    if u64::from(u32_at(&payload, 8)).div_ceil(8) != compressed {
        return Err(corrupt(&part, "block header bit length differs from the envelope's size"));
    }
    if u32_at(&payload, 12) >> 20 != 0 {
        return Err(corrupt(&part, "block header has reserved flag bits set"));
    }
    let signature = u32_at(&payload, 20);
    if *session.signature.get_or_insert(signature) != signature {
        return Err(corrupt(&part, "block header session signature changed within a session"));
    }
    if u32_at(&payload, 24) != session.next_block {
        return Err(corrupt(
            &part,
            format!(
                "block index {} where {} was expected",
                u32_at(&payload, 24),
                session.next_block
            ),
        ));
    }
    session.next_block = session.next_block.wrapping_add(1);
    out.buf.clear();
    out.buf.resize(uncompressed as usize, 0);
    session
        .decoder
        .decode_chunk(&payload, &mut out.buf)
        .map_err(|e| corrupt(&part, format!("does not decode: {e}")))?;
    out.spool.write(&out.buf)?;
    *pos += 8 + compressed;
    Ok(())
}

/// Decodes an XPress9-framed model stream (single-threaded or multithreaded) into an image.
pub(crate) fn decode_xpress9<R: Read + Seek>(
    r: &mut R,
    len: u64,
    multithreaded: bool,
) -> Res<(Spool, u64)> {
    let mut out =
        Output { buf: Vec::new(), spool: Spooler::new("xpress9 stream", Expect::Image, len) };
    let mut pos = XPRESS9_SIGNATURE_LEN;
    let mut index = 0usize;
    if !multithreaded {
        let mut session = Session::new()?;
        while pos < len {
            decode_chunk(r, len, &mut pos, index, &mut session, &mut out)?;
            index += 1;
        }
        if index == 0 {
            return Err(truncated("xpress9 stream", "holds no chunk"));
        }
    } else {
        const PART: &str = "xpress9 thread table";
        let table = read_at(r, len, pos, 40, PART)?;
        let field =
            |i: usize| u64::from_le_bytes(table[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let (main_per, prefix_per, prefix_threads, main_threads) =
            (field(0), field(1), field(2), field(3));
        pos += 40;
        // Every envelope takes at least 8 + 32 bytes, so the counts are bounded by the stream length.
        let max_chunks = (len - pos) / 40;
        let count = |per: u64, threads: u64| per.checked_mul(threads).filter(|&n| n <= max_chunks);
        let (Some(prefix), Some(main)) =
            (count(prefix_per, prefix_threads), count(main_per, main_threads))
        else {
            return Err(corrupt(PART, "announces more chunks than the stream can hold"));
        };
        if prefix + main > max_chunks {
            return Err(corrupt(PART, "announces more chunks than the stream can hold"));
        }
        for (per, threads) in [(prefix_per, prefix_threads), (main_per, main_threads)] {
            for _ in 0..threads {
                let mut session = Session::new()?;
                for _ in 0..per {
                    decode_chunk(r, len, &mut pos, index, &mut session, &mut out)?;
                    index += 1;
                }
            }
        }
        // Anything after the announced chunks must be zero padding.
        r.seek(SeekFrom::Start(pos))?;
        let mut tail = [0u8; 4096];
        loop {
            let n = r.read(&mut tail)?;
            if n == 0 {
                break;
            }
            if tail[..n].iter().any(|&b| b != 0) {
                return Err(corrupt(
                    "xpress9 stream",
                    "non-zero bytes after the last announced chunk",
                ));
            }
        }
    }
    out.spool.finish()
}
