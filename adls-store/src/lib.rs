#![doc = include_str!("../README.md")]

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
