//! Signing in: Entra ID tokens through azure_identity, cached and refreshed before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use azure_core::auth::TokenCredential;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use crate::credential::Credential;
use crate::error::{Error, Result};

/// Scope of Power BI REST and XMLA tokens.
pub const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";
/// Scope of Azure Analysis Services tokens: the `*` is literal, not a wildcard.
pub const AAS_SCOPE: &str = "https://*.asazure.windows.net/.default";
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
    inner: Option<Arc<dyn TokenCredential>>,
    cache: Mutex<HashMap<String, (SecretString, OffsetDateTime)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource").field("credential", &self.credential).finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Signs in with `credential` at the Entra host `authority` (the SDK credential comes from
    /// [`Credential::token_credential`]).
    pub fn new(credential: Credential, authority: &Url) -> Result<Self> {
        // Signing in is asked again while the token endpoint cannot answer (a 503), as the storage does.
        let inner = credential.token_credential(authority).map_err(Error::Auth)?;
        Ok(TokenSource {
            credential,
            authority: authority.clone(),
            inner,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The credential this source signs in with.
    pub fn credential(&self) -> &Credential {
        &self.credential
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

    /// Forgets every cached token, so the next call signs in again (after a server refused a token it had issued:
    /// revoked, or expired earlier than it said).
    pub async fn invalidate(&self) {
        self.cache.lock().await.clear();
        if let Some(inner) = &self.inner {
            let _ = inner.clear_cache().await;
        }
    }

    /// A token for `scope`, renewed when less than [`REFRESH_MARGIN`] of it is left.
    pub async fn token(&self, scope: &str) -> Result<SecretString> {
        let Some(inner) = &self.inner else {
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
        // The credential keeps its own cache with a 20 s margin; ours is wider, so clear theirs to really renew.
        if cache.contains_key(scope) {
            let _ = inner.clear_cache().await;
        }
        let token = inner.get_token(&[scope]).await.map_err(|e| {
            let refusal = adls_store::entra_refusal(&e);
            // The token endpoint not answering is a network failure (exit 1), not a refused sign-in.
            if refusal.is_none() && matches!(e.kind(), azure_core::error::ErrorKind::Io) {
                return Error::Unreachable {
                    url: crate::urls::redact_url(&self.authority),
                    reason: format!(
                        "{} could not get a token for {scope}: {}",
                        self.credential.describe(),
                        crate::urls::error_chain(&e)
                    ),
                };
            }
            // The whole chain: Entra's AADSTS code and text sit below "request token error". The request carried
            // the secret in its body, never in what an error prints.
            let reason = match refusal {
                Some(r) => format!("{}: {r}", crate::urls::error_chain(&e)),
                None => crate::urls::error_chain(&e),
            };
            Error::Auth(format!(
                "{} could not get a token for {scope}: {reason}",
                self.credential.describe()
            ))
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
