//! Orchestration, preflight and the XMLA client of pbi-backup.
//!
//! # Overview
//!
//! [`XmlaClient`] sends Backup, Restore and Discover to a Power BI workspace (`powerbi://`), an Azure Analysis
//! Services server (`asazure://`) or any `http(s)://` XMLA endpoint, signing in through [`TokenSource`]. Every
//! answer is judged by xmla-proto: errors inside an HTTP 200 are failures.

#![deny(missing_docs)]

mod auth;
mod error;
mod xmla;

pub use auth::{
    AAS_SCOPE, Credential, DEFAULT_AUTHORITY, POWERBI_SCOPE, REFRESH_MARGIN, TokenSource,
};
pub use error::{Error, Result};
pub use xmla::{ClientOptions, Endpoint, ServiceUrls, WorkspaceInfo, XmlaClient};
