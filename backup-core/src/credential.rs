//! How the tool signs in: the project's one credential type, defined beside the storage client that also signs in
//! with it (`adls_store::Credential`), its secrets in `secrecy` types. `Credential::sign_in` is the one
//! function that makes an Azure SDK credential of it; the service layer's `TokenSource` caches its tokens.

pub use adls_store::{Credential, DEFAULT_AUTHORITY};
