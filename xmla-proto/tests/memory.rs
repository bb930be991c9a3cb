//! Memory bounds, in a test binary of its own so that the allocator counts this test alone.

use std::alloc::System;

use cap::Cap;
use xmla_proto::{Row, read_response};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Peak heap allowed for the whole binary while it parses a rowset a hundred times larger.
const MAX_PEAK: usize = 4 * 1024 * 1024;

/// A 100 MB rowset generated on the fly: rows are handed out one at a time, none kept by the reader.
#[test]
fn a_large_rowset_streams_in_bounded_memory() {
    struct Rowset {
        rows_left: u64,
        pending: Vec<u8>,
        pos: usize,
        phase: u8,
    }
    impl std::io::Read for Rowset {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.pos == self.pending.len() {
                self.pos = 0;
                self.pending.clear();
                match self.phase {
                    0 => {
                        self.pending.extend_from_slice(
                            br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><DiscoverResponse xmlns="urn:schemas-microsoft-com:xml-analysis"><return><root xmlns="urn:schemas-microsoft-com:xml-analysis:rowset">"#,
                        );
                        self.phase = 1;
                    }
                    1 if self.rows_left > 0 => {
                        self.rows_left -= 1;
                        let n = self.rows_left;
                        self.pending.extend_from_slice(
                            format!("<row><CATALOG_NAME>Model {n:012}</CATALOG_NAME><DESCRIPTION>{}</DESCRIPTION></row>", "x".repeat(150)).as_bytes(),
                        );
                    }
                    1 => {
                        self.pending.extend_from_slice(
                            b"</root></return></DiscoverResponse></soap:Body></soap:Envelope>",
                        );
                        self.phase = 2;
                    }
                    _ => return Ok(0),
                }
            }
            let n = out.len().min(self.pending.len() - self.pos);
            out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    let rows = 500_000; // ~225 bytes each: about 110 MB
    let input =
        std::io::BufReader::new(Rowset { rows_left: rows, pending: Vec::new(), pos: 0, phase: 0 });
    let mut last: Option<Row> = None;
    let mut count = 0u64;
    let summary = read_response(input, |row| {
        count += 1;
        last = Some(row);
    })
    .unwrap();
    assert_eq!(summary.row_count, rows);
    assert_eq!(count, rows);
    assert_eq!(last.unwrap().get("CATALOG_NAME"), Some("Model 000000000000"));
    let peak = ALLOC.max_allocated();
    assert!(
        peak < MAX_PEAK,
        "peak heap {peak} bytes while reading a 110 MB rowset; the bound is {MAX_PEAK}"
    );
}
