//! Writes a backup of a one-table model whose data file holds `GIB` GiB; used by `cargo xtask bench storage` to
//! measure what a remote `inspect` reads of a large backup.
//!
//! ```text
//! make_abf OUT.abf GIB
//! ```

#![allow(clippy::print_stderr, reason = "a command-line tool")]

use std::io::{BufWriter, Read};

use abf_format::{AbfWriter, ModelSpec, TableSpec, WriterOptions};

/// Endless bytes that do not repeat within a MiB (a multiplicative hash of the position).
struct Filler(u64);

impl Read for Filler {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for b in buf.iter_mut() {
            *b = (self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
            self.0 += 1;
        }
        Ok(buf.len())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(gib)) = (args.first(), args.get(1).and_then(|g| g.parse::<u64>().ok()))
    else {
        eprintln!("usage: make_abf OUT.abf GIB");
        std::process::exit(2)
    };
    let model = ModelSpec {
        name: "Bench".into(),
        compatibility_level: 1600,
        tables: vec![TableSpec { name: "Facts".into(), partitions: vec!["Facts".into()] }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: Some(2),
    };
    let written = std::fs::File::create(out)
        .map_err(abf_format::Error::from)
        .and_then(|f| {
            AbfWriter::for_model(
                BufWriter::with_capacity(8 << 20, f),
                &model,
                WriterOptions::default(),
            )
        })
        .and_then(|mut w| {
            w.add_file_from("Bench.0.db/Facts.0.tbl/1.Facts.0.idf", Filler(0).take(gib << 30))?;
            w.finish()
        });
    if let Err(e) = written {
        eprintln!("make_abf: {e}");
        std::process::exit(1)
    }
}
