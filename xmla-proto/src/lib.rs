//! XMLA and TMSL backup/restore messages for Analysis Services and Power BI, with no I/O.
//!
//! # Overview
//!
//! Backup and restore of a tabular model happen through one SOAP call, `Execute`, whose command is either an ASSL
//! element (`<Backup>`, `<Restore>`) or a TMSL JSON statement. This crate writes those requests ([`Request`]) and
//! reads them back (servers, such as the project's Power BI simulator, take what SSMS, `Invoke-ASCmd` and ADOMD
//! send). It reads the server's answer in one streaming pass into an [`Outcome`]: succeeded, succeeded with
//! warnings, or failed. An error that arrives inside an HTTP 200 is a failure, never a success.
//!
//! It does no I/O and knows nothing of HTTP: callers hand it bytes and send what it writes.
//!
//! ```
//! use xmla_proto::{Backup, Command, Outcome, Request, parse_response};
//!
//! let mut backup = Backup::new("Sales", "Sales_20260101T000000Z.abf");
//! backup.allow_overwrite = true;
//! let request = Request::execute(Command::backup_tmsl(backup));
//! let xml = request.to_xml()?;
//! assert!(xml.contains("&quot;allowOverwrite&quot;: true") || xml.contains("\"allowOverwrite\": true"));
//! assert_eq!(Request::parse(xml.as_bytes())?, request);
//!
//! let answer = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
//!   <ExecuteResponse xmlns="urn:schemas-microsoft-com:xml-analysis"><return>
//!   <root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"><Exception/><Messages>
//!   <Error ErrorCode="-1052311437" Description="We had to move the session" Source="PBI"/>
//!   </Messages></root></return></ExecuteResponse></soap:Body></soap:Envelope>"#;
//! let response = parse_response(answer)?;
//! let Outcome::Failed(failure) = response.outcome else { panic!("an error inside a 200 is a failure") };
//! assert_eq!(failure.errors[0].code, Some(0xC147_0073));
//! # Ok::<(), xmla_proto::Error>(())
//! ```
//!
//! # Crate features
//!
//! - `proptest`: `proptest` strategies for commands, requests and outcomes (used by this crate's tests and by
//!   servers that want to fuzz their handlers).

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
