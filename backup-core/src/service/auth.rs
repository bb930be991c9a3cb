//! Signing in: Entra ID tokens through azure_identity, cached and refreshed before they expire.

use std::collections::HashMap;
use std::fmt;

use adls_store::{EntraSignIn, SignInError, SignInOptions};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use crate::credential::Credential;
use crate::error::{Error, Result};

/// Scope of Power BI REST and XMLA tokens.
pub const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";
/// Scope of Azure Analysis Services tokens in the public cloud: the `*` is literal, not a wildcard.
pub const AAS_SCOPE: &str = "https://*.asazure.windows.net/.default";

/// The scope of Azure Analysis Services tokens for a server at `host` (`<region>.asazure.windows.net`): the
/// server's own domain with a literal `*` for the region, so a server outside the public cloud is asked for in its
/// cloud (Azure PowerShell's environment list gives China's domain as `asazure.chinacloudapi.cn`; that the scope
/// keeps the public one's shape there is this client's reading). A host of another shape takes the public cloud's
/// [`AAS_SCOPE`].
pub fn aas_scope(host: &str) -> String {
    let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    match host.split_once('.') {
        Some((region, domain))
            if !region.is_empty() && domain.starts_with("asazure.") && domain.contains('.') =>
        {
            format!("https://*.{domain}/.default")
        }
        _ => AAS_SCOPE.to_owned(),
    }
}
/// Scope of Azure Resource Manager tokens.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// A token is renewed when it has less than this left, so a request never starts with a token about to lapse.
pub const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// What an HTTP request carries to prove who sends it.
#[derive(Clone)]
pub(crate) enum AuthHeader {
    Bearer(SecretString),
    /// Power BI's MWC token: `Authorization: MwcToken <token>`.
    Mwc(SecretString),
    Basic {
        user: String,
        password: SecretString,
    },
    None,
}

impl AuthHeader {
    pub(crate) fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            AuthHeader::Bearer(t) => rb.bearer_auth(t.expose_secret()),
            AuthHeader::Mwc(t) => {
                rb.header(reqwest::header::AUTHORIZATION, format!("MwcToken {}", t.expose_secret()))
            }
            AuthHeader::Basic { user, password } => {
                rb.basic_auth(user, Some(password.expose_secret()))
            }
            AuthHeader::None => rb,
        }
    }
}

/// Hands out tokens per scope, from a cache, renewing them [`REFRESH_MARGIN`] before they expire.
pub struct TokenSource {
    credential: Credential,
    /// The Entra authority, named when it cannot be reached.
    authority: Url,
    options: SignInOptions,
    cloud: crate::cloud::Cloud,
    sign_in: Mutex<Option<EntraSignIn>>,
    cache: Mutex<HashMap<String, (SecretString, OffsetDateTime)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource").field("credential", &self.credential).finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Signs in with `credential` at the Entra host `authority`, through `sign_in` when given (the run's one
    /// sign-in, shared with the storage), else one made of `credential` with `options` ([`Credential::sign_in`]).
    pub fn new(
        credential: Credential,
        sign_in: Option<EntraSignIn>,
        authority: &Url,
        options: SignInOptions,
    ) -> Result<Self> {
        let sign_in = match sign_in {
            Some(s) => Some(s),
            None => credential.sign_in(authority, &options).map_err(Error::Auth)?,
        };
        Ok(TokenSource {
            credential,
            authority: authority.clone(),
            options,
            cloud: crate::cloud::Cloud::Public,
            sign_in: Mutex::new(sign_in),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Tokens for `cloud`'s resources: [`POWERBI_SCOPE`] and `ARM_SCOPE` are asked of it as its own.
    pub fn in_cloud(mut self, cloud: crate::cloud::Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// The credential this source signs in with.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Who signed in: for `auto`, the credential it settled on.
    pub async fn signed_in_with(&self) -> String {
        match &*self.sign_in.lock().await {
            Some(s) => s.signed_in_with(),
            None => self.credential.describe(),
        }
    }

    /// The header to send for `scope`.
    pub(crate) async fn header(&self, scope: &str) -> Result<AuthHeader> {
        match &self.credential {
            Credential::Basic { user, password } => {
                return Ok(AuthHeader::Basic { user: user.clone(), password: password.clone() });
            }
            Credential::Anonymous => return Ok(AuthHeader::None),
            _ => {}
        }
        Ok(AuthHeader::Bearer(self.token(scope).await?))
    }

    /// Forgets every token, so the next call signs in again (after a server refused a token it had issued: revoked,
    /// or expired earlier than it said). The SDK credential keeps a cache it does not let clear, so a new one is made.
    pub async fn invalidate(&self) {
        self.cache.lock().await.clear();
        if let Ok(Some(fresh)) = self.credential.sign_in(&self.authority, &self.options) {
            *self.sign_in.lock().await = Some(fresh);
        }
    }

    /// A token for `scope`, renewed when less than [`REFRESH_MARGIN`] of it is left.
    pub async fn token(&self, scope: &str) -> Result<SecretString> {
        let arm = self.cloud.arm_scope();
        let scope = match scope {
            POWERBI_SCOPE => self.cloud.powerbi_scope(),
            ARM_SCOPE => arm.as_str(),
            other => other,
        };
        let Some(sign_in) = self.sign_in.lock().await.clone() else {
            return Err(Error::Auth(format!(
                "{} cannot get Entra tokens",
                self.credential.describe()
            )));
        };
        let mut cache = self.cache.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some((token, expires)) = cache.get(scope)
            && *expires - REFRESH_MARGIN > now
        {
            return Ok(token.clone());
        }
        let token = sign_in.token(scope).await.map_err(|e| match e {
            // The token endpoint not answering is a network failure (exit 1), not a refused sign-in.
            SignInError::Unreachable { host, reason } => Error::Unreachable {
                url: host,
                reason: format!(
                    "{} could not get a token for {scope}: {reason}",
                    sign_in.signed_in_with()
                ),
            },
            // Entra's AADSTS code and text are in the refusal; the request carried the secret in its body, never in
            // what an error prints.
            SignInError::Refused(reason) => Error::Auth(format!("{reason} (token for {scope})")),
            SignInError::NoCredential(reason) => {
                Error::Usage(format!("no credential to sign in with: {reason}"))
            }
        })?;
        let secret = SecretString::from(token.token.secret().to_owned());
        cache.insert(scope.to_owned(), (secret.clone(), token.expires_on));
        Ok(secret)
    }
}

/// Who a token speaks for, read from its own claims (a JWT's payload; one's own token needs no signature check).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Identity {
    /// The object id in Entra: how `groups/{id}/users` lists a service principal.
    pub oid: Option<String>,
    /// The user principal name (users): how `groups/{id}/users` lists a user.
    pub upn: Option<String>,
    /// The application id (apps).
    pub appid: Option<String>,
    /// The Entra tenant that issued the token: the Power BI tenant (LATER-16 compares the storage account's).
    #[serde(default)]
    pub tid: Option<String>,
}

impl Identity {
    /// The claims of `token`, or `None` when it is not a JWT (an opaque token tells nothing).
    pub fn of(token: &SecretString) -> Option<Identity> {
        use base64::Engine as _;
        let payload = token.expose_secret().split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Whether `identifier` (from `groups/{id}/users`) is this caller: the object id for a service principal, the
    /// UPN for a user, compared without case.
    pub fn is(&self, identifier: &str) -> bool {
        [&self.oid, &self.upn].into_iter().flatten().any(|v| v.eq_ignore_ascii_case(identifier))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_analysis_services_scope_follows_the_servers_cloud() {
        for (host, scope) in [
            ("westeurope.asazure.windows.net", AAS_SCOPE),
            ("chinanorth2.asazure.chinacloudapi.cn", "https://*.asazure.chinacloudapi.cn/.default"),
            (
                "usgovvirginia.asazure.usgovcloudapi.net",
                "https://*.asazure.usgovcloudapi.net/.default",
            ),
            ("WestUS.AsAzure.Windows.Net", AAS_SCOPE),
            ("127.0.0.1:8080", AAS_SCOPE),
            ("localhost", AAS_SCOPE),
        ] {
            assert_eq!(super::aas_scope(host), scope, "{host}");
        }
    }

    use super::*;

    #[test]
    fn the_caller_is_read_from_its_own_token() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = |payload: &str| {
            SecretString::from(format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(payload)))
        };
        let app = Identity::of(&token(r#"{"oid":"0A-B","appid":"c1","tid":"t"}"#)).unwrap();
        assert!(app.is("0a-b") && !app.is("c1"), "{app:?}");
        let user = Identity::of(&token(r#"{"oid":"o2","upn":"Ann@Contoso.com"}"#)).unwrap();
        assert!(user.is("ann@contoso.com") && user.is("o2"), "{user:?}");
        assert_eq!(Identity::of(&SecretString::from("opaque-token".to_owned())), None);
        assert_eq!(Identity::of(&token("not json")), None);
    }
}
