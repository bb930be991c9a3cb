//! The service layer: everything that talks to a service, and knows no rule. One HTTP layer (`http`), signing in
//! (`auth`), the Power BI REST client ([`powerbi`]), Azure Resource Manager ([`arm`]), the tenant's home region
//! ([`home_region`]), the XMLA client with its routing (`xmla`), and the [`Context`] of a command that holds them.
//!
//! Architecture invariant: nothing here imports `preflight` or `ops`, nor the rules' vocabulary (`rule`,
//! `server_texts`): the tidy test `backup_core_keeps_its_layers` (`xtask/src/tidy.rs`).

pub mod arm;
pub(crate) mod auth;
mod context;
pub mod home_region;
pub(crate) mod http;
pub mod powerbi;
pub(crate) mod xmla;

pub use context::{Caller, Context};
