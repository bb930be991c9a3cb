//! [`EntraSignIn`]: signing in patiently and within a deadline. A token endpoint that cannot answer now is asked
//! again; one that never answers is given up on, naming its host, after the deadline; a refusal is final and
//! carries Entra's own words (`AADSTS7000215: Invalid client secret provided…`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core_v1::credentials::{AccessToken, TokenCredential};
use azure_core_v1::error::ErrorKind;
use url::Url;

use super::auto::AutoCredential;
use crate::RetryConfig;

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    /// Entra (or the managed identity endpoint, the CLI) refused: the text says why, in its own words.
    Refused(String),
    /// `auto` found no credential that signs in: a matter of configuration; the text says what each said.
    NoCredential(String),
    /// No answer: the host could not be reached, or did not answer in time. `host` is the authority's.
    Unreachable {
        /// The host that did not answer.
        host: String,
        /// What happened.
        reason: String,
    },
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInError::Refused(r) | SignInError::NoCredential(r) => f.write_str(r),
            SignInError::Unreachable { host, reason } => {
                write!(f, "{host} did not answer: {reason}")
            }
        }
    }
}

/// An Entra sign-in: an SDK credential (azure_identity 1.x) asked again, with the storage's backoff
/// ([`RetryConfig`]), while its token endpoint cannot answer (unreachable, a 5xx or 429, an answer that is not
/// Entra's), and given up after `deadline` in all. Cloning shares the credential and its token cache.
#[derive(Debug, Clone)]
pub struct EntraSignIn {
    inner: Arc<dyn TokenCredential>,
    chain: Option<Arc<AutoCredential>>,
    described: String,
    authority: Url,
    deadline: Duration,
    retry: RetryConfig,
}

impl EntraSignIn {
    pub(crate) fn new(
        inner: Arc<dyn TokenCredential>,
        chain: Option<Arc<AutoCredential>>,
        described: String,
        authority: Url,
        deadline: Duration,
    ) -> Self {
        let retry = RetryConfig { retry_timeout: deadline, ..RetryConfig::default() };
        Self { inner, chain, described, authority, deadline, retry }
    }

    /// Who signed in: for `auto`, the credential it settled on (once a token was got), else the description.
    pub fn signed_in_with(&self) -> String {
        match self.chain.as_ref().and_then(|c| c.chosen()) {
            Some(chosen) => format!("{chosen} (chosen by auto)"),
            None => self.described.clone(),
        }
    }

    /// Who signs in, as [`crate::Credential::describe`] says it.
    pub fn described(&self) -> &str {
        &self.described
    }

    /// A token for `scope`.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, SignInError> {
        let what = format!("a token for {scope} from {}", self.host());
        let attempt = crate::speaking(&what, self.patient_token(scope));
        match tokio::time::timeout(self.deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(SignInError::Unreachable {
                host: self.host(),
                reason: format!(
                    "no token within {} s (the sign-in deadline; PBI_BACKUP_SIGN_IN_TIMEOUT sets it){}",
                    self.deadline.as_secs(),
                    proxied(&self.authority)
                ),
            }),
        }
    }

    fn host(&self) -> String {
        self.authority.host_str().unwrap_or("the Entra authority").to_owned()
    }

    async fn patient_token(&self, scope: &str) -> Result<AccessToken, SignInError> {
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let e = match self.inner.get_token(&[scope], None).await {
                Ok(token) => return Ok(token),
                Err(e) => e,
            };
            let transient = transient(&e);
            if transient && self.retry.may_retry(retries + 1, started.elapsed()) {
                retries += 1;
                let wait = self.retry.backoff(retries);
                tracing::info!(
                    error = %one_line(&e),
                    wait_s = wait.as_secs_f32(),
                    "the token endpoint cannot answer now; signing in again"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let exhausted = self.chain.as_ref().is_some_and(|c| c.chosen().is_none())
                && e.to_string().contains(super::auto::NO_CREDENTIAL);
            return Err(if exhausted {
                SignInError::NoCredential(one_line(&e))
            } else if transient || untrusted(&e) {
                SignInError::Unreachable { host: self.host(), reason: one_line(&e) }
            } else {
                SignInError::Refused(format!(
                    "{} could not sign in: {}",
                    self.described,
                    one_line(&e)
                ))
            });
        }
    }
}

/// The error and its causes on one line, without repeats (the SDK nests the same text).
fn one_line(e: &azure_core_v1::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().replace('\n', " ");
        let text = text.trim().to_owned();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// True when the connection failed on the server's certificate (an authority the trust store does not hold).
fn untrusted(e: &azure_core_v1::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut connecting = false;
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<azure_core_v1::Error>() {
            connecting |= matches!(e.kind(), ErrorKind::Connection);
        }
        source = s.source();
    }
    connecting && one_line(e).to_ascii_lowercase().contains("certificate")
}

/// True when a sign-in failed without anyone refusing it: no connection, a broken answer, a 5xx or 429, or an
/// answer that is not an OAuth error (a proxy's 503 page). A 4xx with Entra's error is a refusal (RFC 6749, 5.2).
fn transient(e: &azure_core_v1::Error) -> bool {
    // A certificate the connection does not trust fails the same way each time: said at once, not waited out.
    if untrusted(e) {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut transient = false;
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<azure_core_v1::Error>() {
            match e.kind() {
                ErrorKind::HttpResponse { status, .. } => {
                    let code = u16::from(*status);
                    return code >= 500 || code == 429 || code == 408;
                }
                ErrorKind::Connection | ErrorKind::Io | ErrorKind::DataConversion => {
                    transient = true
                }
                _ => {}
            }
        }
        source = s.source();
    }
    transient
}

/// The storage client (the 0.21 SDK line) signs in through the same [`EntraSignIn`].
#[async_trait::async_trait]
impl azure_core::auth::TokenCredential for EntraSignIn {
    async fn get_token(
        &self,
        scopes: &[&str],
    ) -> azure_core::Result<azure_core::auth::AccessToken> {
        let scope = scopes.first().copied().unwrap_or_default();
        match self.token(scope).await {
            Ok(t) => {
                Ok(azure_core::auth::AccessToken::new(t.token.secret().to_owned(), t.expires_on))
            }
            Err(e) => {
                let kind = match e {
                    SignInError::Unreachable { .. } => azure_core::error::ErrorKind::Io,
                    SignInError::Refused(_) | SignInError::NoCredential(_) => {
                        azure_core::error::ErrorKind::Credential
                    }
                };
                Err(azure_core::Error::message(kind, e.to_string()))
            }
        }
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        // The SDK credential keeps its cache to itself and renews 5 minutes before expiry; nothing to clear.
        Ok(())
    }
}

/// When a proxy variable applies to `url`'s scheme (as reqwest reads them), the proxy it names, host and port only
/// (a proxy URL may carry a password): a sign-in that hangs there may be the proxy's doing.
fn proxied(url: &Url) -> String {
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let Some((name, value)) =
        names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (n, v)))
    else {
        return String::new();
    };
    let shown = Url::parse(&value)
        .ok()
        .and_then(|p| Some(format!("{}:{}", p.host_str()?, p.port_or_known_default()?)))
        .unwrap_or_else(|| "an address that is not a URL".to_owned());
    format!(
        "; {name} sends it through the proxy {shown} unless NO_PROXY names the host: check that proxy"
    )
}
