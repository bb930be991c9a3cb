//! Integration tests of xmla-proto: one binary, one module per concern.

mod requests;
mod responses;
mod roundtrip;
mod vectors;

/// Reads a vector fixture from `tests/vectors/`.
pub fn vector(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
