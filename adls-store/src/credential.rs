//! [`Credential`]: how pbi-backup signs in, to the storage and to the services: one type for the whole project,
//! its secrets in `secrecy` types, and one function that turns it into an Azure SDK credential
//! ([`Credential::token_credential`]). `Debug` never shows a secret.

use std::fmt;
use std::sync::Arc;

use azure_core::auth::TokenCredential;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::sign_in::PatientCredential;

/// The public cloud's Entra authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// How to sign in. Secrets come from the environment, files or a prompt, never from the command line.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// An Entra service principal with a client secret.
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// The Azure CLI's signed-in account (`az login`).
    AzureCli,
    /// The managed identity of the Azure VM or service this runs on.
    ManagedIdentity,
    /// Whatever the environment variables of `azure_identity::EnvironmentCredential` describe (`AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or a federated token file).
    Environment,
    /// Storage only: SharedKey with the account key (base64).
    AccountKey(SecretString),
    /// Storage only: a SAS query string (with or without the leading `?`).
    Sas(SecretString),
    /// XMLA only: HTTP basic authentication, for msmdpump endpoints.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: SecretString,
    },
    /// No authentication (a loopback test server or an anonymous msmdpump).
    Anonymous,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret { tenant_id, client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("secret", &"REDACTED")
                .finish(),
            Credential::AzureCli => f.write_str("AzureCli"),
            Credential::ManagedIdentity => f.write_str("ManagedIdentity"),
            Credential::Environment => f.write_str("Environment"),
            Credential::AccountKey(_) => f.write_str("AccountKey(REDACTED)"),
            Credential::Sas(_) => f.write_str("Sas(REDACTED)"),
            Credential::Basic { user, .. } => {
                f.debug_struct("Basic").field("user", user).field("password", &"REDACTED").finish()
            }
            Credential::Anonymous => f.write_str("Anonymous"),
        }
    }
}

impl Credential {
    /// A short description for logs and `doctor`, without secrets.
    pub fn describe(&self) -> String {
        match self {
            Credential::ClientSecret { client_id, tenant_id, .. } => {
                format!("service principal {client_id} in tenant {tenant_id}")
            }
            Credential::AzureCli => "the Azure CLI account".into(),
            Credential::ManagedIdentity => "the managed identity".into(),
            Credential::Environment => "the credential in AZURE_* environment variables".into(),
            Credential::AccountKey(_) => "the storage account key".into(),
            Credential::Sas(_) => "a SAS token".into(),
            Credential::Basic { user, .. } => format!("basic authentication as {user}"),
            Credential::Anonymous => "no authentication".into(),
        }
    }

    /// The Azure SDK credential of an Entra sign-in at `authority`, which signs in again while the token endpoint
    /// cannot answer ([`PatientCredential`]); `None` for a credential that is not an Entra sign-in (a key, a SAS,
    /// basic, anonymous). The one place a [`Credential`] becomes an SDK credential; the error says what to set.
    pub fn token_credential(
        &self,
        authority: &Url,
    ) -> Result<Option<Arc<dyn TokenCredential>>, String> {
        let mut options = azure_identity::TokenCredentialOptions::default();
        options.set_authority_host(authority.to_string());
        let inner: Arc<dyn TokenCredential> = match self {
            Credential::ClientSecret { tenant_id, client_id, secret } => {
                Arc::new(azure_identity::ClientSecretCredential::new(
                    azure_core::new_http_client(),
                    authority.clone(),
                    tenant_id.clone(),
                    client_id.clone(),
                    secret.expose_secret().to_owned(),
                ))
            }
            Credential::AzureCli => Arc::new(
                azure_identity::AzureCliCredential::create()
                    .map_err(|e| format!("the Azure CLI credential cannot be used ({e}); run az login"))?,
            ),
            Credential::ManagedIdentity => {
                Arc::new(azure_identity::VirtualMachineManagedIdentityCredential::new(options))
            }
            Credential::Environment => {
                Arc::new(azure_identity::EnvironmentCredential::create(options).map_err(|e| {
                    format!(
                        "no usable credential in the environment ({e}); set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
                    )
                })?)
            }
            Credential::AccountKey(_)
            | Credential::Sas(_)
            | Credential::Basic { .. }
            | Credential::Anonymous => return Ok(None),
        };
        Ok(Some(Arc::new(PatientCredential::new(inner))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_shows_in_debug_or_description() {
        let secret = || SecretString::from("s3cr3t-value".to_owned());
        for c in [
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: secret(),
            },
            Credential::AccountKey(secret()),
            Credential::Sas(secret()),
            Credential::Basic { user: "u".into(), password: secret() },
        ] {
            let shown = format!("{c:?} {}", c.describe());
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
    }

    #[test]
    fn only_entra_sign_ins_become_token_credentials() {
        let authority = Url::parse(DEFAULT_AUTHORITY).unwrap();
        let key = Credential::AccountKey(SecretString::from("a2V5".to_owned()));
        assert!(key.token_credential(&authority).unwrap().is_none());
        assert!(Credential::Anonymous.token_credential(&authority).unwrap().is_none());
        let sp = Credential::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: SecretString::from("x".to_owned()),
        };
        assert!(sp.token_credential(&authority).unwrap().is_some());
    }
}
