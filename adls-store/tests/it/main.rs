//! Integration tests of `adls-store`: the behaviour suite on every backend, then backend-specific cases.

mod adls;
mod crate_defects;
mod faults;
mod local;
mod python;
mod server_copy;
mod stream_copy;
