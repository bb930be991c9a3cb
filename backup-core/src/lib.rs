//! Orchestration, preflight and the XMLA client of pbi-backup.
//!
//! # Layers
//!
//! backup-core stands on three layers, each a module folder, each importing only from the layers below it (the
//! tidy checks in `xtask/src/tidy.rs` enforce it, as the test `backup_core_keeps_its_layers`):
//!
//! - **The ground** (modules at the crate root): plain data and what every layer reads: [`config`] (the settings,
//!   resolved once), [`error`](Error), [`rule`] (the rule table, profiles, findings), [`manifest`], [`layout`]
//!   (where backups live and how they are named), [`retention`], [`credential`], and small helpers.
//! - **[`service`]**: everything that talks to a service, and knows no rule: the HTTP layer, signing in, the Power
//!   BI REST client, Azure Resource Manager, the XMLA client with its routing, and the [`service::Context`] of one
//!   command that holds them.
//! - **[`preflight`]**: facts and rules: gathering a tenant's facts through the service layer, and evaluating every
//!   rule of the service on them.
//! - **[`ops`]**: the operations of the `pbi-backup` command (backup, restore, list, download, upload, copy,
//!   prune, verify, inspect, storage, doctor, run). Each takes a [`ops::Context`] and returns a report type from
//!   [`output`], which the CLI prints as text or JSON and whose exit code it exits with.

#![deny(missing_docs)]

pub mod cloud;
pub mod config;
pub mod credential;
mod error;
pub mod layout;
pub mod manifest;
mod names;
pub mod progress;
pub mod retention;
pub mod retry;
pub mod rule;
pub mod server_texts;
mod urls;

pub mod service;

pub mod preflight;

pub mod ops;

pub use credential::{Credential, DEFAULT_AUTHORITY};
pub use error::{Error, Result, Service};
pub use names::nearest;
pub use ops::{output, report};
pub use service::auth::{AAS_SCOPE, POWERBI_SCOPE, REFRESH_MARGIN, TokenSource};
pub use service::xmla::{
    ClientOptions, Endpoint, RouteCache, ServiceUrls, WorkspaceInfo, XmlaClient,
};
pub use service::{arm, home_region, powerbi};
