//! How the tool signs in: one credential type for the whole of backup-core, its secrets in `secrecy` types. The
//! service layer (`service/auth.rs`) turns it into an SDK credential, in one function.

use std::fmt;

use secrecy::SecretString;

/// The public cloud's Entra authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// How to sign in.
#[derive(Clone)]
pub enum Credential {
    /// A service principal with a client secret (the secret comes from the environment or a file, never argv).
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// The signed-in Azure CLI account (`az login`).
    AzureCli,
    /// The managed identity of the Azure VM or service this runs on.
    ManagedIdentity,
    /// azure_identity's environment credential (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, or a
    /// workload identity).
    Environment,
    /// HTTP basic authentication, for msmdpump endpoints only.
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
                .field("secret", &"********")
                .finish(),
            Credential::AzureCli => f.write_str("AzureCli"),
            Credential::ManagedIdentity => f.write_str("ManagedIdentity"),
            Credential::Environment => f.write_str("Environment"),
            Credential::Basic { user, .. } => {
                f.debug_struct("Basic").field("user", user).field("password", &"********").finish()
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
            Credential::Basic { user, .. } => format!("basic authentication as {user}"),
            Credential::Anonymous => "no authentication".into(),
        }
    }
}
