//! Locating external test inputs, with the skip-or-require rule.

// Telling the person running the tests that a suite was skipped is the point of these messages.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;

/// The folder named by `var`, or `None` after saying plainly that the test did not run. With `require_var=1` a
/// missing variable fails the test instead.
fn required(var: &str, require_var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => {
            assert!(
                std::env::var(require_var).as_deref() != Ok("1"),
                "{var} is not set but {require_var}=1: set {var} to run this test"
            );
            eprintln!("skipped: {var} not set");
            None
        }
    }
}

/// `PBI_BACKUP_SAMPLES` (the samples folder), honouring `PBI_BACKUP_REQUIRE_SAMPLES=1`.
pub(crate) fn samples_dir() -> Option<PathBuf> {
    let dir = required("PBI_BACKUP_SAMPLES", "PBI_BACKUP_REQUIRE_SAMPLES")?;
    assert!(
        dir.join("pbixray").is_dir(),
        "PBI_BACKUP_SAMPLES={} has no pbixray/ folder",
        dir.display()
    );
    Some(dir)
}

/// `PBI_BACKUP_PYTHON` (a python with pbixray installed), honouring `PBI_BACKUP_REQUIRE_PYTHON=1`.
pub(crate) fn python() -> Option<PathBuf> {
    required("PBI_BACKUP_PYTHON", "PBI_BACKUP_REQUIRE_PYTHON")
}
