//! Orchestration, preflight and the XMLA client of pbi-backup.
//!
//! # Overview
//!
//! [`XmlaClient`] sends Backup, Restore and Discover to a Power BI workspace (`powerbi://`), an Azure Analysis
//! Services server (`asazure://`) or any `http(s)://` XMLA endpoint, signing in through [`TokenSource`]. Every
//! answer is judged by xmla-proto: errors inside an HTTP 200 are failures.
//!
//! [`ops`] holds the operations of the `pbi-backup` command (backup, restore, list, download, upload, copy,
//! prune, verify, inspect, storage, doctor). Each takes a [`ops::Session`] (settings plus clients built on first
//! use) and returns a report type from [`output`], which the CLI prints as text or JSON. [`preflight`] evaluates the
//! service's rules before anything is sent.

#![deny(missing_docs)]

pub mod arm;
mod auth;
pub mod config;
mod error;
pub mod home_region;
mod http;
pub mod manifest;
mod names;
pub mod ops;
pub mod output;
pub mod powerbi;
pub mod preflight;
pub mod progress;
pub mod report;
pub mod retention;
mod xmla;

pub use auth::{
    AAS_SCOPE, Credential, DEFAULT_AUTHORITY, POWERBI_SCOPE, REFRESH_MARGIN, TokenSource,
};
pub use error::{Error, Result, Service};
pub use names::nearest;
pub use xmla::{ClientOptions, Endpoint, RouteCache, ServiceUrls, WorkspaceInfo, XmlaClient};
