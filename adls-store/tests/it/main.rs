//! Integration tests of `adls-store`: the behaviour suite on every backend, then backend-specific cases.

mod adls;
mod faults;
mod local;
mod python;
