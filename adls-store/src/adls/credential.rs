//! [`AdlsCredential`]: how the store authenticates, with a `Debug` that never shows a secret.

use std::fmt;

use url::Url;

/// How [`AdlsStore`](super::AdlsStore) authenticates.
///
/// `Debug` never shows a secret.
#[derive(Clone)]
#[non_exhaustive]
pub enum AdlsCredential {
    /// SharedKey with the account key (base64).
    AccountKey(String),
    /// A SAS query string (with or without the leading `?`).
    Sas(String),
    /// An Entra service principal with a client secret (`azure_identity::ClientSecretCredential`).
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The client secret.
        client_secret: String,
        /// The authority host; `None` for `https://login.microsoftonline.com/`.
        authority_host: Option<Url>,
    },
    /// The Azure CLI's signed-in account (`az login`).
    AzureCli,
    /// The managed identity of the Azure VM or service.
    ManagedIdentity,
    /// Whatever the environment variables of `azure_identity::EnvironmentCredential` describe
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or a federated token file).
    Environment,
}

impl fmt::Debug for AdlsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdlsCredential::AccountKey(_) => f.write_str("AccountKey(REDACTED)"),
            AdlsCredential::Sas(_) => f.write_str("Sas(REDACTED)"),
            AdlsCredential::ClientSecret { tenant_id, client_id, authority_host, .. } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("client_secret", &"REDACTED")
                .field("authority_host", &authority_host.as_ref().map(Url::as_str))
                .finish(),
            AdlsCredential::AzureCli => f.write_str("AzureCli"),
            AdlsCredential::ManagedIdentity => f.write_str("ManagedIdentity"),
            AdlsCredential::Environment => f.write_str("Environment"),
        }
    }
}
