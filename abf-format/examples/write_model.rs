//! Writes a small demo backup: `cargo run -p abf-format --example write_model -- OUT.abf [--compress] [--no-crc]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: write_model OUT.abf [--compress] [--no-crc]")?;
    let mut options = abf_format::WriterOptions::default();
    for arg in args {
        match arg.as_str() {
            "--compress" => options.compress = true,
            "--no-crc" => options.crc = false,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let model = abf_format::ModelSpec {
        name: "Demo".into(),
        compatibility_level: 1600,
        tables: vec![abf_format::TableSpec {
            name: "Sales".into(),
            partitions: vec!["Sales".into()],
        }],
        expressions: Vec::new(),
        roles: Vec::new(),
        data_source_version: None,
    };
    let data = b"column data ".repeat(900);
    let extra: &[(&str, &[u8])] =
        &[(r"Demo.0.db\Sales (10).tbl\1.prt\0.Sales (10).Amount.0.idf", &data)];
    abf_format::write_model(std::fs::File::create(out)?, &model, extra, options)?;
    Ok(())
}
