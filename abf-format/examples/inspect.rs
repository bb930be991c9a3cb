//! Prints the JSON report of each file given on the command line: `cargo run -p abf-format --example inspect -- [--full] FILE...`.

// An example program: printing the report is its whole purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut full = false;
    for arg in std::env::args().skip(1) {
        if arg == "--full" {
            full = true;
            continue;
        }
        let report = abf_format::inspect(File::open(&arg)?, abf_format::InspectOptions { full })?;
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
