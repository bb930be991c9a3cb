//! [`Credential`]: how pbi-backup signs in, to the storage and to the services: one type for the whole project, its
//! secrets in `secrecy` types, one reading of the settings that choose it ([`Credential::from_settings`]) and one
//! function that turns it into a sign-in through Microsoft's `azure_identity` 1.x ([`Credential::sign_in`]).
//! `Debug` never shows a secret.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core_v1::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core_v1::credentials::TokenCredential;
use azure_core_v1::http::{ClientOptions, RetryOptions, Transport};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::auto::AutoCredential;
use super::certificate::CertificateAssertion;
use super::patient::EntraSignIn;
use super::sdk_http::SdkHttp;

/// The public cloud's Entra authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Which managed identity signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedIdentity {
    /// The host's system-assigned identity.
    System,
    /// A user-assigned identity, by its client id.
    ClientId(String),
    /// A user-assigned identity, by its Azure resource id.
    ResourceId(String),
    /// A user-assigned identity, by its object (principal) id.
    ObjectId(String),
}

impl ManagedIdentity {
    fn describe(&self) -> String {
        match self {
            ManagedIdentity::System => "the system-assigned managed identity".into(),
            ManagedIdentity::ClientId(id) => format!("the managed identity with client id {id}"),
            ManagedIdentity::ResourceId(id) => format!("the managed identity {id}"),
            ManagedIdentity::ObjectId(id) => format!("the managed identity with object id {id}"),
        }
    }

    fn user_assigned(&self) -> Option<azure_identity::UserAssignedId> {
        use azure_identity::UserAssignedId as U;
        match self {
            ManagedIdentity::System => None,
            ManagedIdentity::ClientId(id) => Some(U::ClientId(id.clone())),
            ManagedIdentity::ResourceId(id) => Some(U::ResourceId(id.clone())),
            ManagedIdentity::ObjectId(id) => Some(U::ObjectId(id.clone())),
        }
    }
}

/// How to sign in. Secrets come from the environment, files or a prompt, never from the command line.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// An Entra application with a client secret.
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// An Entra application with a certificate: a PEM file (key and certificate) or a PKCS#12 file.
    ClientCertificate {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The certificate file.
        path: PathBuf,
        /// The PKCS#12 file's password, when it has one.
        password: Option<SecretString>,
    },
    /// Workload identity federation: a token from another issuer (an AKS service account, GitHub Actions), read
    /// from a file each time, exchanged for an Entra token.
    WorkloadIdentity {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id of the app or user-assigned identity that trusts the issuer.
        client_id: String,
        /// The file the platform keeps the federated token in (`AZURE_FEDERATED_TOKEN_FILE`).
        token_file: PathBuf,
    },
    /// The managed identity of the Azure host (a VM through IMDS; App Service, Functions and Container Apps through
    /// `IDENTITY_ENDPOINT`).
    ManagedIdentity(ManagedIdentity),
    /// The Azure CLI's signed-in account (`az login`).
    AzureCli,
    /// The Azure Developer CLI's signed-in account (`azd auth login`).
    AzureDeveloperCli,
    /// `auto` when no application credential is in the settings: the managed identity, then the Azure CLI, then
    /// azd, the first that signs in kept for the run (the tail of the Azure SDKs' default credential).
    Auto(ManagedIdentity),
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

/// What the settings say about an Entra sign-in, before a kind is chosen: the variables the Azure SDKs read
/// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
/// `AZURE_CLIENT_CERTIFICATE_PASSWORD`, `AZURE_FEDERATED_TOKEN_FILE`) or the configuration file's equivalents.
#[derive(Debug, Default, Clone)]
pub struct EntraSettings {
    /// Directory (tenant) id.
    pub tenant_id: Option<String>,
    /// Application (client) id; for a managed identity, the user-assigned identity's client id.
    pub client_id: Option<String>,
    /// The client secret.
    pub secret: Option<SecretString>,
    /// The certificate file.
    pub certificate: Option<PathBuf>,
    /// The certificate file's password.
    pub certificate_password: Option<SecretString>,
    /// The federated token file.
    pub federated_token_file: Option<PathBuf>,
    /// The user-assigned managed identity's resource id (`managed-identity-resource-id`).
    pub managed_identity_resource_id: Option<String>,
}

impl EntraSettings {
    /// The settings in the variables the Azure SDKs read, through `var` (the environment, or a test's map).
    pub fn from_lookup(var: &dyn Fn(&str) -> Option<String>) -> EntraSettings {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        EntraSettings {
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            secret: var("AZURE_CLIENT_SECRET").map(SecretString::from),
            certificate: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            certificate_password: var("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(SecretString::from),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            managed_identity_resource_id: None,
        }
    }
}

/// How a sign-in goes, whatever the credential.
#[derive(Debug, Clone)]
pub struct SignInOptions {
    /// How long a sign-in may take in all, retries included, before it fails naming the host.
    pub deadline: Duration,
    /// A PEM file of certificate authorities trusted for signing in, besides the platform's (`SSL_CERT_FILE`
    /// replaces the platform's; this adds to them).
    pub ca_file: Option<PathBuf>,
}

impl Default for SignInOptions {
    fn default() -> Self {
        Self { deadline: Duration::from_secs(120), ca_file: None }
    }
}

/// The names `auth` takes (in `[powerbi]` and `[storage]`, `PBI_BACKUP_AUTH`, `PBI_BACKUP_ADLS_AUTH`).
pub const ENTRA_KINDS: &str =
    "auto, client-secret, client-certificate, workload-identity, managed-identity, cli, azd";

impl Credential {
    /// The Entra credential `kind` names (`auto` when `None`), from `settings`; the error says which setting is
    /// missing. `auto` follows the order of the Azure SDKs' default credential: a client secret, a certificate or a
    /// federated token file when the settings hold one, else [`Credential::Auto`] (managed identity, Azure CLI,
    /// azd).
    pub fn from_settings(kind: Option<&str>, s: &EntraSettings) -> Result<Credential, String> {
        let tenant = || s.tenant_id.clone().ok_or("AZURE_TENANT_ID (or tenant-id)");
        let client = || s.client_id.clone().ok_or("AZURE_CLIENT_ID (or client-id)");
        let need = |kind: &str, missing: Vec<&str>| {
            format!("signing in with {kind} needs {}", missing.join(" and "))
        };
        let app = |kind: &str| match (tenant(), client()) {
            (Ok(t), Ok(c)) => Ok((t, c)),
            (t, c) => Err(need(kind, [t.err(), c.err()].into_iter().flatten().collect())),
        };
        let managed = || match (&s.managed_identity_resource_id, &s.client_id) {
            (Some(r), _) => ManagedIdentity::ResourceId(r.clone()),
            (None, Some(c)) => ManagedIdentity::ClientId(c.clone()),
            (None, None) => ManagedIdentity::System,
        };
        let secret = |kind: &str| {
            let (tenant_id, client_id) = app(kind)?;
            let secret = s
                .secret
                .clone()
                .ok_or_else(|| need(kind, vec!["AZURE_CLIENT_SECRET (or client-secret-file)"]))?;
            Ok(Credential::ClientSecret { tenant_id, client_id, secret })
        };
        let certificate = |kind: &str| {
            let (tenant_id, client_id) = app(kind)?;
            let path = s.certificate.clone().ok_or_else(|| {
                need(kind, vec!["AZURE_CLIENT_CERTIFICATE_PATH (or client-certificate)"])
            })?;
            Ok(Credential::ClientCertificate {
                tenant_id,
                client_id,
                path,
                password: s.certificate_password.clone(),
            })
        };
        let workload = |kind: &str| {
            let (tenant_id, client_id) = app(kind)?;
            let token_file = s.federated_token_file.clone().ok_or_else(|| {
                need(kind, vec!["AZURE_FEDERATED_TOKEN_FILE (or federated-token-file)"])
            })?;
            Ok(Credential::WorkloadIdentity { tenant_id, client_id, token_file })
        };
        match kind.unwrap_or("auto") {
            "auto" if s.secret.is_some() => secret("a client secret"),
            "auto" if s.certificate.is_some() => certificate("a certificate"),
            "auto" if s.federated_token_file.is_some() => workload("workload identity"),
            "auto" => Ok(Credential::Auto(managed())),
            "client-secret" => secret("client-secret"),
            "client-certificate" => certificate("client-certificate"),
            "workload-identity" => workload("workload-identity"),
            "managed-identity" => Ok(Credential::ManagedIdentity(managed())),
            "cli" => Ok(Credential::AzureCli),
            "azd" => Ok(Credential::AzureDeveloperCli),
            _ => Err(format!("is not one of {ENTRA_KINDS}")),
        }
    }
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
            Credential::ClientCertificate { tenant_id, client_id, path, password } => f
                .debug_struct("ClientCertificate")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("path", path)
                .field("password", &password.as_ref().map(|_| "REDACTED"))
                .finish(),
            Credential::WorkloadIdentity { tenant_id, client_id, token_file } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            Credential::ManagedIdentity(m) => f.debug_tuple("ManagedIdentity").field(m).finish(),
            Credential::AzureCli => f.write_str("AzureCli"),
            Credential::AzureDeveloperCli => f.write_str("AzureDeveloperCli"),
            Credential::Auto(m) => f.debug_tuple("Auto").field(m).finish(),
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
                format!("application {client_id} with a client secret, in tenant {tenant_id}")
            }
            Credential::ClientCertificate { client_id, tenant_id, path, .. } => format!(
                "application {client_id} with the certificate {}, in tenant {tenant_id}",
                path.display()
            ),
            Credential::WorkloadIdentity { client_id, tenant_id, token_file } => format!(
                "application {client_id} through workload identity (token file {}), in tenant {tenant_id}",
                token_file.display()
            ),
            Credential::ManagedIdentity(m) => m.describe(),
            Credential::AzureCli => "the Azure CLI account".into(),
            Credential::AzureDeveloperCli => "the Azure Developer CLI account".into(),
            Credential::Auto(m) => {
                format!("auto: {}, else the Azure CLI account, else the azd account", m.describe())
            }
            Credential::AccountKey(_) => "the storage account key".into(),
            Credential::Sas(_) => "a SAS token".into(),
            Credential::Basic { user, .. } => format!("basic authentication as {user}"),
            Credential::Anonymous => "no authentication".into(),
        }
    }

    /// The Entra sign-in of this credential at `authority`, which asks again while the token endpoint cannot answer
    /// and gives up after `deadline` ([`EntraSignIn`]); `None` for a credential that is not an Entra sign-in (a key,
    /// a SAS, basic, anonymous). The one place a [`Credential`] becomes an SDK credential; the error says what to
    /// set or fix.
    pub fn sign_in(
        &self,
        authority: &Url,
        options: &SignInOptions,
    ) -> Result<Option<EntraSignIn>, String> {
        let deadline = options.deadline;
        let (inner, chain): (Arc<dyn TokenCredential>, _) = match self {
            Credential::Auto(m) => {
                let sdk =
                    |e: azure_core_v1::Error| format!("{} cannot be used: {e}", self.describe());
                let chain = Arc::new(auto(m, client_options(authority, options)?, &sdk));
                (chain.clone(), Some(chain))
            }
            _ => match self.sdk_credential(authority, options)? {
                Some(inner) => (inner, None),
                None => return Ok(None),
            },
        };
        Ok(Some(EntraSignIn::new(inner, chain, self.describe(), authority.clone(), deadline)))
    }

    /// The SDK credential alone.
    pub(crate) fn sdk_credential(
        &self,
        authority: &Url,
        sign_in: &SignInOptions,
    ) -> Result<Option<Arc<dyn TokenCredential>>, String> {
        let options = client_options(authority, sign_in)?;
        let sdk = |e: azure_core_v1::Error| format!("{} cannot be used: {e}", self.describe());
        let credential: Arc<dyn TokenCredential> = match self {
            Credential::ClientSecret { tenant_id, client_id, secret } => {
                azure_identity::ClientSecretCredential::new(
                    tenant_id,
                    client_id.clone(),
                    secret.expose_secret().to_owned().into(),
                    Some(azure_identity::ClientSecretCredentialOptions { client_options: options }),
                )
                .map_err(sdk)?
            }
            Credential::ClientCertificate { tenant_id, client_id, path, password } => {
                let audience = token_endpoint(authority, tenant_id)?;
                let assertion =
                    CertificateAssertion::load(path, password.as_ref(), client_id, audience)?;
                azure_identity::ClientAssertionCredential::new(
                    tenant_id.clone(),
                    client_id.clone(),
                    assertion,
                    Some(azure_identity::ClientAssertionCredentialOptions {
                        client_options: options,
                    }),
                )
                .map_err(sdk)?
            }
            Credential::WorkloadIdentity { tenant_id, client_id, token_file } => {
                azure_identity::WorkloadIdentityCredential::new(Some(
                    azure_identity::WorkloadIdentityCredentialOptions {
                        credential_options: azure_identity::ClientAssertionCredentialOptions {
                            client_options: options,
                        },
                        client_id: Some(client_id.clone()),
                        tenant_id: Some(tenant_id.clone()),
                        token_file_path: Some(token_file.clone()),
                    },
                ))
                .map_err(sdk)?
            }
            Credential::ManagedIdentity(m) => managed_identity(m, options).map_err(sdk)?,
            Credential::AzureCli => azure_identity::AzureCliCredential::new(None).map_err(sdk)?,
            Credential::AzureDeveloperCli => {
                azure_identity::AzureDeveloperCliCredential::new(None).map_err(sdk)?
            }
            Credential::Auto(m) => Arc::new(auto(m, options, &sdk)),
            Credential::AccountKey(_)
            | Credential::Sas(_)
            | Credential::Basic { .. }
            | Credential::Anonymous => return Ok(None),
        };
        Ok(Some(credential))
    }
}

/// `auto`'s chain: the managed identity, the Azure CLI, azd.
fn auto(
    m: &ManagedIdentity,
    options: ClientOptions,
    sdk: &dyn Fn(azure_core_v1::Error) -> String,
) -> AutoCredential {
    AutoCredential::new(vec![
        (m.describe(), managed_identity(m, options).map_err(sdk)),
        (
            Credential::AzureCli.describe(),
            azure_identity::AzureCliCredential::new(None).map(|c| c as _).map_err(sdk),
        ),
        (
            Credential::AzureDeveloperCli.describe(),
            azure_identity::AzureDeveloperCliCredential::new(None).map(|c| c as _).map_err(sdk),
        ),
    ])
}

fn managed_identity(
    m: &ManagedIdentity,
    client_options: ClientOptions,
) -> azure_core_v1::Result<Arc<dyn TokenCredential>> {
    let c = azure_identity::ManagedIdentityCredential::new(Some(
        azure_identity::ManagedIdentityCredentialOptions {
            user_assigned_id: m.user_assigned(),
            client_options,
        },
    ))?;
    Ok(c)
}

/// The token endpoint of `tenant` at `authority`: where a client assertion is addressed (its `aud`).
fn token_endpoint(authority: &Url, tenant: &str) -> Result<String, String> {
    authority
        .join(&format!("{tenant}/oauth2/v2.0/token"))
        .map(|u| u.to_string())
        .map_err(|e| format!("the tenant id '{tenant}' does not make a token URL: {e}"))
}

/// The SDK's options: our transport, no retries of its own (the [`EntraSignIn`] asks again, within its deadline),
/// and the authority as a custom cloud (the Azure SDKs would otherwise read `AZURE_AUTHORITY_HOST` themselves).
fn client_options(authority: &Url, sign_in: &SignInOptions) -> Result<ClientOptions, String> {
    let http =
        SdkHttp::new(Duration::from_secs(10), Duration::from_secs(30), sign_in.ca_file.as_deref())?;
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = authority.as_str().trim_end_matches('/').to_owned();
    Ok(ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        retry: RetryOptions::none(),
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EntraSettings {
        EntraSettings {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            ..Default::default()
        }
    }

    #[test]
    fn no_secret_shows_in_debug_or_description() {
        let secret = || SecretString::from("s3cr3t-value".to_owned());
        for c in [
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: secret(),
            },
            Credential::ClientCertificate {
                tenant_id: "t".into(),
                client_id: "c".into(),
                path: "/x.pfx".into(),
                password: Some(secret()),
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
    fn auto_follows_the_default_credential_order() {
        let mut s = settings();
        assert!(matches!(
            Credential::from_settings(None, &s).unwrap(),
            Credential::Auto(ManagedIdentity::ClientId(c)) if c == "c"
        ));
        s.federated_token_file = Some("/token".into());
        assert!(matches!(
            Credential::from_settings(None, &s).unwrap(),
            Credential::WorkloadIdentity { .. }
        ));
        s.certificate = Some("/cert.pem".into());
        assert!(matches!(
            Credential::from_settings(Some("auto"), &s).unwrap(),
            Credential::ClientCertificate { .. }
        ));
        s.secret = Some(SecretString::from("x".to_owned()));
        assert!(matches!(
            Credential::from_settings(None, &s).unwrap(),
            Credential::ClientSecret { .. }
        ));
        s.managed_identity_resource_id = Some("/subscriptions/s/r".into());
        assert!(matches!(
            Credential::from_settings(Some("managed-identity"), &s).unwrap(),
            Credential::ManagedIdentity(ManagedIdentity::ResourceId(_))
        ));
        let none = EntraSettings::default();
        assert!(matches!(
            Credential::from_settings(Some("managed-identity"), &none).unwrap(),
            Credential::ManagedIdentity(ManagedIdentity::System)
        ));
    }

    #[test]
    fn a_chosen_kind_names_what_it_misses() {
        let err = Credential::from_settings(Some("client-certificate"), &EntraSettings::default())
            .unwrap_err();
        assert!(err.contains("AZURE_TENANT_ID") && err.contains("AZURE_CLIENT_ID"), "{err}");
        let err = Credential::from_settings(Some("workload-identity"), &settings()).unwrap_err();
        assert!(err.contains("AZURE_FEDERATED_TOKEN_FILE"), "{err}");
        let err = Credential::from_settings(Some("kerberos"), &settings()).unwrap_err();
        assert!(err.contains(ENTRA_KINDS), "{err}");
    }

    #[test]
    fn only_entra_sign_ins_become_sign_ins() {
        let authority = Url::parse("https://login.example/").unwrap();
        let o = SignInOptions::default();
        let key = Credential::AccountKey(SecretString::from("a2V5".to_owned()));
        assert!(key.sign_in(&authority, &o).unwrap().is_none());
        assert!(Credential::Anonymous.sign_in(&authority, &o).unwrap().is_none());
        let sp = Credential::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: SecretString::from("x".to_owned()),
        };
        assert!(sp.sign_in(&authority, &o).unwrap().is_some());
    }
}
