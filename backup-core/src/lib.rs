#![doc = include_str!("../README.md")]
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
