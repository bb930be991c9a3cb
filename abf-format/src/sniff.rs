//! What the first bytes of a stream say it is: a stream storage image, an XPress9 stream (abf.md §2), a ZIP.

/// UTF-16LE text that starts a single-threaded XPress9 stream (followed by two zero bytes).
const XPRESS9_TEXT: &str = "This backup was created using XPress9 compression.";
/// UTF-16LE text that starts a multithreaded XPress9 stream.
const XPRESS9_MT_TEXT: &str = "This backup was created using multithreaded XPrs9.";
/// Length of either XPress9 signature, padding included.
pub(crate) const XPRESS9_SIGNATURE_LEN: u64 = 102;

/// The XPress9 signature bytes for one of the two framings.
pub(crate) fn xpress9_signature(multithreaded: bool) -> Vec<u8> {
    let text = if multithreaded { XPRESS9_MT_TEXT } else { XPRESS9_TEXT };
    let mut sig: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    sig.extend_from_slice(&[0, 0]);
    sig
}

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    StreamStorage,
    Xpress9,
    Xpress9Multithreaded,
    Zip,
    Unknown,
}

/// Recognises a stream from its first bytes (up to 102).
pub(crate) fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&crate::abf::signature()) {
        Sniffed::StreamStorage
    } else if head.starts_with(&xpress9_signature(false)[..100]) {
        Sniffed::Xpress9
    } else if head.starts_with(&xpress9_signature(true)[..100]) {
        Sniffed::Xpress9Multithreaded
    } else if head.starts_with(b"PK\x03\x04") {
        Sniffed::Zip
    } else {
        Sniffed::Unknown
    }
}
