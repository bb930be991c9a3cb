//! Per-file "Xpress8" compression: 4 KiB chunks of MS-XCA Plain LZ77.
//!
//! A compressed file is a sequence of chunks `u16 LE uncompressed`, `u16 LE compressed`, payload. Equal sizes mean the
//! payload is stored verbatim; otherwise it is Plain LZ77 ([MS-XCA] 2.3 and 2.4). Each chunk is independent.

/// The uncompressed size of every chunk the writer makes (the largest seen in real files).
pub(crate) const CHUNK_LEN: usize = 4096;

/// Why a Plain LZ77 payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The input ended before the declared output size was produced.
    Truncated,
    /// A match points before the start of the output or past the declared size.
    BadMatch,
}

fn read_u16(input: &[u8], pos: &mut usize) -> Result<usize, DecodeError> {
    let bytes = input.get(*pos..*pos + 2).ok_or(DecodeError::Truncated)?;
    *pos += 2;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]) as usize)
}

fn read_u32(input: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let bytes = input.get(*pos..*pos + 4).ok_or(DecodeError::Truncated)?;
    *pos += 4;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn read_u8(input: &[u8], pos: &mut usize) -> Result<usize, DecodeError> {
    let b = *input.get(*pos).ok_or(DecodeError::Truncated)?;
    *pos += 1;
    Ok(b as usize)
}

/// Decodes one Plain LZ77 payload that must produce exactly `expected` bytes, appended to `out`.
///
/// Decoding stops as soon as `expected` bytes exist: real encoders may end with flag bits that announce absent
/// literals, so the input is not required to be consumed to its end.
pub(crate) fn decode_lz77(
    input: &[u8],
    expected: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let start = out.len();
    let end = start + expected;
    let mut pos = 0usize;
    let mut flags = 0u32;
    let mut flag_count = 0u32;
    let mut half_byte_pos: Option<usize> = None;
    while out.len() < end {
        if flag_count == 0 {
            flags = read_u32(input, &mut pos)?;
            flag_count = 32;
        }
        flag_count -= 1;
        if flags & (1 << flag_count) == 0 {
            out.push(read_u8(input, &mut pos)? as u8);
            continue;
        }
        let token = read_u16(input, &mut pos)?;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            length = match half_byte_pos.take() {
                None => {
                    half_byte_pos = Some(pos);
                    read_u8(input, &mut pos)? & 0x0F
                }
                Some(at) => input[at] as usize >> 4,
            };
            if length == 15 {
                length = read_u8(input, &mut pos)?;
                if length == 255 {
                    length = read_u16(input, &mut pos)?;
                    if length == 0 {
                        length = read_u32(input, &mut pos)? as usize;
                    }
                    length = length.checked_sub(15 + 7).ok_or(DecodeError::BadMatch)?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        let here = out.len() - start;
        if offset > here || length > end - out.len() {
            return Err(DecodeError::BadMatch);
        }
        let from = out.len() - offset;
        for i in 0..length {
            let b = out[from + i];
            out.push(b);
        }
    }
    Ok(())
}

const HASH_BITS: u32 = 12;
/// Matches reach back at most this far (13 offset bits).
const MAX_OFFSET: usize = 8192;

fn hash3(bytes: &[u8]) -> usize {
    let v = u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// A Plain LZ77 encoder: greedy matching with a one-entry hash table, correct rather than tight.
struct Lz77Writer {
    out: Vec<u8>,
    flags: u32,
    flag_count: u32,
    flag_pos: usize,
    half_byte_pos: Option<usize>,
}

impl Lz77Writer {
    fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(&[0; 4]);
        Self { out, flags: 0, flag_count: 0, flag_pos: 0, half_byte_pos: None }
    }

    fn push_flag(&mut self, bit: u32) {
        if self.flag_count == 32 {
            self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&self.flags.to_le_bytes());
            self.flag_pos = self.out.len();
            self.out.extend_from_slice(&[0; 4]);
            self.flags = 0;
            self.flag_count = 0;
        }
        self.flags = (self.flags << 1) | bit;
        self.flag_count += 1;
    }

    fn literal(&mut self, b: u8) {
        self.push_flag(0);
        self.out.push(b);
    }

    fn matched(&mut self, offset: usize, length: usize) {
        debug_assert!((1..=MAX_OFFSET).contains(&offset) && length >= 3);
        self.push_flag(1);
        let m = length - 3;
        let low = m.min(7);
        let token = ((offset - 1) << 3) as u16 | low as u16;
        self.out.extend_from_slice(&token.to_le_bytes());
        if m < 7 {
            return;
        }
        let n = m - 7;
        let nibble = n.min(15) as u8;
        match self.half_byte_pos.take() {
            None => {
                self.half_byte_pos = Some(self.out.len());
                self.out.push(nibble);
            }
            Some(at) => self.out[at] |= nibble << 4,
        }
        if n < 15 {
            return;
        }
        let k = n - 15;
        if k < 255 {
            self.out.push(k as u8);
            return;
        }
        self.out.push(255);
        if let Ok(m16) = u16::try_from(m) {
            self.out.extend_from_slice(&m16.to_le_bytes());
        } else {
            self.out.extend_from_slice(&0u16.to_le_bytes());
            self.out.extend_from_slice(&(m as u32).to_le_bytes());
        }
    }

    fn finish(mut self) -> Vec<u8> {
        // Unused flag bits are set, as in [MS-XCA]: a decoder that does not know the size stops on them.
        let unused = 32 - self.flag_count;
        let flags =
            if unused == 32 { u32::MAX } else { (self.flags << unused) | ((1u32 << unused) - 1) };
        self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&flags.to_le_bytes());
        self.out
    }
}

/// How many earlier positions with the same 3-byte hash are tried per position.
const CHAIN_DEPTH: usize = 24;

/// Encodes `input` as one Plain LZ77 payload: greedy, taking the longest match among the last [`CHAIN_DEPTH`]
/// positions with the same 3-byte hash.
pub(crate) fn encode_lz77(input: &[u8]) -> Vec<u8> {
    let mut w = Lz77Writer::new(input.len() + input.len() / 8 + 8);
    let mut head = vec![usize::MAX; 1 << HASH_BITS];
    let mut prev = vec![usize::MAX; input.len()];
    let insert = |i: usize, head: &mut [usize], prev: &mut [usize]| {
        if i + 3 <= input.len() {
            let h = hash3(&input[i..]);
            prev[i] = head[h];
            head[h] = i;
        }
    };
    let mut i = 0;
    while i < input.len() {
        let mut best = (0usize, 0usize);
        if i + 3 <= input.len() {
            let mut candidate = head[hash3(&input[i..])];
            let max = input.len() - i;
            for _ in 0..CHAIN_DEPTH {
                if candidate == usize::MAX || i - candidate > MAX_OFFSET {
                    break;
                }
                let len = input[candidate..]
                    .iter()
                    .zip(&input[i..i + max])
                    .take_while(|(a, b)| a == b)
                    .count();
                if len > best.0 {
                    best = (len, i - candidate);
                    if len == max {
                        break;
                    }
                }
                candidate = prev[candidate];
            }
        }
        if best.0 >= 3 {
            w.matched(best.1, best.0);
            for k in i..i + best.0 {
                insert(k, &mut head, &mut prev);
            }
            i += best.0;
        } else {
            insert(i, &mut head, &mut prev);
            w.literal(input[i]);
            i += 1;
        }
    }
    w.finish()
}

/// Compresses a whole file into Xpress8 chunks (without any CRC trailer).
pub(crate) fn compress_file(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    for chunk in data.chunks(CHUNK_LEN) {
        let packed = encode_lz77(chunk);
        let raw_len = chunk.len() as u16;
        if packed.len() >= chunk.len() {
            out.extend_from_slice(&raw_len.to_le_bytes());
            out.extend_from_slice(&raw_len.to_le_bytes());
            out.extend_from_slice(chunk);
        } else {
            out.extend_from_slice(&raw_len.to_le_bytes());
            out.extend_from_slice(&(packed.len() as u16).to_le_bytes());
            out.extend_from_slice(&packed);
        }
    }
    out
}

/// Why an Xpress8 file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileError {
    /// A chunk header or payload runs past the end of the stored bytes.
    Truncated { chunk: usize },
    /// A chunk's payload did not decode.
    Chunk { chunk: usize, error: DecodeError },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { chunk } => {
                write!(f, "xpress8 chunk {chunk} runs past the stored bytes")
            }
            Self::Chunk { chunk, error: DecodeError::Truncated } => {
                write!(f, "xpress8 chunk {chunk} ends before its declared size")
            }
            Self::Chunk { chunk, error: DecodeError::BadMatch } => {
                write!(f, "xpress8 chunk {chunk} has a match outside its window")
            }
        }
    }
}

/// The sum of the declared uncompressed chunk sizes, walking only the chunk headers.
pub(crate) fn declared_len(stored: &[u8]) -> Result<u64, FileError> {
    let mut pos = 0;
    let mut total = 0u64;
    let mut chunk = 0;
    while pos < stored.len() {
        let header = stored.get(pos..pos + 4).ok_or(FileError::Truncated { chunk })?;
        let raw = u16::from_le_bytes([header[0], header[1]]);
        let packed = u16::from_le_bytes([header[2], header[3]]) as usize;
        pos += 4 + packed;
        if pos > stored.len() {
            return Err(FileError::Truncated { chunk });
        }
        total += u64::from(raw);
        chunk += 1;
    }
    Ok(total)
}

/// Decodes a whole Xpress8 file, feeding each decoded chunk to `sink`.
pub(crate) fn decode_file(stored: &[u8], mut sink: impl FnMut(&[u8])) -> Result<u64, FileError> {
    let mut pos = 0;
    let mut total = 0u64;
    let mut chunk = 0;
    let mut buf = Vec::with_capacity(CHUNK_LEN);
    while pos < stored.len() {
        let header = stored.get(pos..pos + 4).ok_or(FileError::Truncated { chunk })?;
        let raw = u16::from_le_bytes([header[0], header[1]]) as usize;
        let packed = u16::from_le_bytes([header[2], header[3]]) as usize;
        let payload =
            stored.get(pos + 4..pos + 4 + packed).ok_or(FileError::Truncated { chunk })?;
        pos += 4 + packed;
        buf.clear();
        if raw == packed {
            buf.extend_from_slice(payload);
        } else {
            decode_lz77(payload, raw, &mut buf)
                .map_err(|error| FileError::Chunk { chunk, error })?;
        }
        sink(&buf);
        total += raw as u64;
        chunk += 1;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let packed = encode_lz77(data);
        let mut out = Vec::new();
        decode_lz77(&packed, data.len(), &mut out).unwrap();
        assert_eq!(out, data);
        let file = compress_file(data);
        assert_eq!(declared_len(&file).unwrap(), data.len() as u64);
        let mut out = Vec::new();
        decode_file(&file, |c| out.extend_from_slice(c)).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn round_trips_runs_text_and_long_matches() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"abcabcabcabcabcabcabc");
        round_trip(&[0u8; 10_000]);
        round_trip(&[7u8; 300]);
        round_trip(&[7u8; 70_000]);
        let text: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8 ^ (i / 97) as u8).collect();
        round_trip(&text);
        round_trip("the quick brown fox jumps over the lazy dog ".repeat(200).as_bytes());
    }

    #[test]
    fn known_vector_from_ms_xca() {
        // [MS-XCA] 3.1 example: "abcdefghijklmnopqrstuvwxyz" as literals.
        let packed = [
            0x3f, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
            0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
            0x79, 0x7a,
        ];
        let mut out = Vec::new();
        decode_lz77(&packed, 26, &mut out).unwrap();
        assert_eq!(out, b"abcdefghijklmnopqrstuvwxyz");
        // [MS-XCA] 3.2 example: "abc" repeated 100 times, with a long match.
        let packed = [0xff, 0xff, 0xff, 0x1f, 0x61, 0x62, 0x63, 0x17, 0x00, 0x0f, 0xff, 0x26, 0x01];
        let mut out = Vec::new();
        decode_lz77(&packed, 300, &mut out).unwrap();
        assert_eq!(out, b"abc".repeat(100));
    }

    #[test]
    fn damaged_payloads_are_errors() {
        let mut out = Vec::new();
        assert_eq!(decode_lz77(&[0, 0, 0], 1, &mut out), Err(DecodeError::Truncated));
        // A match as the very first token points before the output.
        let mut out = Vec::new();
        assert_eq!(
            decode_lz77(&[0, 0, 0, 0x80, 0x00, 0x00], 3, &mut out),
            Err(DecodeError::BadMatch)
        );
        assert_eq!(declared_len(&[4, 0, 9, 0, 1]), Err(FileError::Truncated { chunk: 0 }));
    }
}
