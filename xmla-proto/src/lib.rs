#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod command;
mod error;
mod password;
mod request;
mod response;
mod tmsl;
mod writer;
mod xml;

#[cfg(feature = "proptest")]
pub mod strategies;

pub use command::{
    Backup, BackupLocation, Command, DDL100_100_NS, DDL100_NS, ENGINE_NS, FolderMapping,
    ReadWriteMode, Restore, RestoreLocation, Security, Syntax,
};
pub use error::{Error, Result};
pub use password::{PASSWORD_MASK, Password};
pub use request::{
    DBSCHEMA_CATALOGS, Discover, Execute, MAX_REQUEST_BYTES, Method, Properties, Request,
    SOAP_ACTION_DISCOVER, SOAP_ACTION_EXECUTE, SOAP_NS, SessionHeader, TMSCHEMA_TABLES, XMLA_NS,
};
pub use response::{
    Catalog, EMPTY_NS, EXCEPTION_NS, Failure, Fault, MAX_MESSAGES, Message, Outcome, ROWSET_NS,
    Response, Row, Summary, parse_response, read_response, write_failure, write_fault,
    write_rowset, write_success,
};
