//! Backup storage: ADLS Gen2 and local disk behind one async trait.
//!
//! # Overview
//!
//! A [`Store`] holds filesystems (containers); each holds one folder per Power BI workspace, named after it, holding
//! the `.abf` files. [`StorePath`] is the validated address `filesystem / workspace / file`. Two backends:
//!
//! - [`LocalStore`]: the local disk, laid out the same way under a root folder; the embedded default.
//! - [`AdlsStore`]: ADLS Gen2 through `azure_storage_datalake` 0.21, worked around its known defects (pooled client
//!   with timeouts, ranged parallel downloads, parallel appends, correct percent-encoding, a fixed rename).
//!
//! Every complete write keeps the SHA-256 of its bytes with the file; every whole-file read checks it.
//! Failures are one matchable [`Error`]; retries follow one [`RetryConfig`].
//!
//! The ADLS backend is configured by an [`AdlsConfig`] (or [`AdlsConfig::from_env`]): the account, an optional custom
//! endpoint (path-style, for loopback), the Entra authority, and one [`Credential`]: account key, SAS, or an Entra sign-in (client
//! secret, certificate, workload identity, managed identity, Azure CLI, azd, `auto`). [`Credential`] is the whole
//! project's credential type (backup-core signs in to Power BI with it too), and [`Credential::sign_in`] the one
//! function that makes an Azure SDK (azure_identity 1.x) credential of it. Secrets are `secrecy` types, come from configuration or the environment,
//! never from the command line, and never appear in an error message or a `Debug` output.
//!
//! # Testing
//!
//! Every backend's tests run the same behaviour suite (`conformance`, feature `conformance`): the local disk, and
//! ADLS through the real `azure_storage_datalake` client against the DFS emulator of `test-fixtures` on
//! `127.0.0.1:0`, which also injects faults.
//!
//! ```
//! use adls_store::{LocalStore, PutMode, Store, StoreExt, StorePath};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> adls_store::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = LocalStore::new(dir.path())?;
//! store.ensure_filesystem("power-bi-backup").await?;
//! let path = StorePath::file("power-bi-backup", "Sales", "Sales Model.abf")?;
//! store.put(&path, bytes::Bytes::from_static(b"abf bytes"), PutMode::Overwrite).await?;
//! assert_eq!(store.get_bytes(&path).await?, &b"abf bytes"[..]);
//! assert_eq!(store.list_all(&path.folder_path()).await?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! # Crate features
//!
//! - `conformance`: the behaviour suite `conformance`, one async function per part of the contract, which every
//!   backend's tests run.

mod adls;
#[cfg(feature = "conformance")]
pub mod conformance;
mod download;
mod entra;
mod error;
mod local;
mod lock;
mod path;
mod patience;
mod positional;
mod readahead;
mod retry;
mod store;

pub use adls::{AdlsConfig, AdlsStore, SHA256_PROPERTY};
pub use download::{DownloadOptions, Downloaded, Verified, hash_local_file};
pub use entra::{
    Credential, DEFAULT_AUTHORITY, ENTRA_KINDS, EntraSettings, EntraSignIn, ManagedIdentity,
    SignInError, SignInOptions,
};
pub use error::{Error, Result, redact};
pub use local::LocalStore;
pub use lock::{LockId, Locks};
pub use path::{
    MAX_NAME_BYTES, NameKind, PARTIAL_PREFIX, PathError, PathReason, StorePath, validate_filesystem,
};
pub use patience::{SPEAK_AFTER, shown_url, speaking};
pub use positional::owner_only;
pub use readahead::Sha256Worker;
pub use retry::{BackoffConfig, RetryConfig};
pub use store::{
    CopySource, GetResult, Incomplete, MultipartUpload, ObjectMeta, PutMode, ServerCopy, Store,
    StoreExt, stream_copy,
};
