//! Signing in with Entra ID: the project's [`Credential`] type, made into Microsoft's `azure_identity` 1.x
//! credentials over our own HTTP client ([`sdk_http`]), a certificate credential without openssl
//! ([`certificate`]), `auto`'s chain ([`auto`]) and the patience and deadline around every sign-in ([`patient`]).

pub(crate) mod auto;
pub(crate) mod certificate;
pub(crate) mod credential;
pub(crate) mod patient;
pub(crate) mod sdk_http;

pub use credential::{
    Credential, DEFAULT_AUTHORITY, ENTRA_KINDS, EntraSettings, ManagedIdentity, SignInOptions,
};
pub use patient::{EntraSignIn, SignInError};
