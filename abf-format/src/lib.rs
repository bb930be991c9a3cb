#![doc = include_str!("../README.md")]

mod abf;
mod bound;
mod compare;
mod crc;
mod definition;
mod definition_xml;
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
