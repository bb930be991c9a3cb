//! Read and write Analysis Services backup (.abf) containers over `Read + Seek` (an XPress9-framed image past 64 MiB
//! is spooled to a temporary file while it is decoded).
//!
//! # Overview
//!
//! An `.abf` backup (Power BI Premium, Azure Analysis Services, SQL Server Analysis Services) is a STREAM_STORAGE
//! image: a 4 KiB header page, the backed-up files back to back, and a VirtualDirectory listing them. Power BI
//! Desktop `.pbix` files hold the same image in their `DataModel` ZIP member, usually wrapped in XPress9 framing;
//! Excel workbooks hold it in `xl/model/item.data`. The format and every check made here are described in the
//! project's `abf.md` reference.
//!
//! [`inspect`] reads any of these from a `Read + Seek` and returns a [`Report`]: format, encryption, database name
//! and compatibility level, tables and partitions, every file with its original and stored size, and every problem
//! found. Damage is data (`valid: false` plus [`Problem`]s); only I/O errors are `Err`. With
//! [`InspectOptions::full`] every file is streamed through its CRC and Xpress8 decoding; without it only the header,
//! directory, log and metadata files are read.
//!
//! The report serializes (serde) to
//! `{"valid", "format": {"container", "framing"}, "encrypted", "database": {"name", "compatibility_level"},
//! "tables": [{"name", "partitions": [names]}], "files": [{"name", "size", "stored_size"}],
//! "problems": [{"kind", "part", "message"}]}`, with `container` one of `abf`, `pbix`, `xlsx`, `zip`, `unknown`,
//! `framing` one of `stream_storage`, `xpress9`, `xpress9_multithreaded` or null, and `kind` one of `not_abf`,
//! `no_model`, `encrypted`, `truncated`, `corrupt`, `crc_mismatch`, `unsupported`. The same type deserializes it.
//!
//! [`AbfWriter`] writes a raw STREAM_STORAGE image (optionally with per-file Xpress8 compression and CRC trailers),
//! and [`write_model`] writes a whole backup of a described model (a `.db.xml` and a `metadata.sqlitedb`).
//!
//! ```
//! use abf_format::{inspect, write_model, InspectOptions, ModelSpec, TableSpec, WriterOptions};
//! use std::io::Cursor;
//!
//! let model = ModelSpec {
//!     name: "Sales".into(),
//!     compatibility_level: 1600,
//!     tables: vec![TableSpec { name: "Orders".into(), partitions: vec!["Orders-2024".into()] }],
//!     expressions: Vec::new(),
//!     roles: Vec::new(),
//!     data_source_version: Some(2),
//! };
//! let mut out = Cursor::new(Vec::new());
//! write_model(&mut out, &model, &[], WriterOptions::default())?;
//! let report = inspect(Cursor::new(out.into_inner()), InspectOptions { full: true, ..Default::default() })?;
//! assert!(report.valid, "{:?}", report.problems);
//! assert_eq!(report.database.name.as_deref(), Some("Sales"));
//! assert_eq!(report.tables[0].partitions, ["Orders-2024"]);
//! # Ok::<(), abf_format::Error>(())
//! ```
//!
//! # Crate features
//!
//! None. XPress9 decoding uses the `ripbi-xpress9` crate (Microsoft's MIT-licensed decoder, compiled with `cc`);
//! `metadata.sqlitedb` is read with bundled SQLite.

mod abf;
mod bound;
mod compare;
mod crc;
mod definition;
mod error;
mod extract;
mod framing;
mod inspect;
mod metadata;
mod report;
mod sniff;
mod tmdl;
mod writer;
mod xml;
mod xpress8;

pub use crate::{
    abf::{MAX_METADATA_LEN, MAX_XML_LEN},
    bound::{MAX_EXPANSION, MAX_IMAGE_LEN},
    compare::{Change, compare},
    definition::{
        DefCalculationItem, DefColumn, DefExpression, DefHierarchy, DefMeasure, DefPartition,
        DefRelationship, DefRole, DefTable, DefTableFilter, Definition, Fingerprint,
    },
    error::{Error, Result},
    extract::read_file,
    framing::MAX_XPRESS9_CHUNK,
    inspect::{InspectOptions, inspect},
    report::{
        Container, Database, FileEntry, Format, Framing, ModelPermission, Problem, ProblemKind,
        Report, Role, Table,
    },
    tmdl::to_tmdl,
    writer::{
        AbfWriter, ModelSpec, RoleSpec, TableSpec, WriterOptions, write_model, write_model_with,
    },
};
