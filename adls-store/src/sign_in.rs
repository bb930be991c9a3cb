//! Signing in to Entra patiently: a token endpoint that cannot answer now is asked again.

use std::sync::Arc;

use azure_core::auth::{AccessToken, TokenCredential};

use crate::RetryConfig;

/// A token credential that asks again, with the storage's backoff ([`RetryConfig`]), while Entra's token endpoint
/// cannot answer: unreachable, or an answer that is not an OAuth error (a 503 or 429 page). A refusal (an OAuth
/// error such as `invalid_client`) is final unless it is `temporarily_unavailable` or `server_error` (RFC 6749,
/// 5.2 and 4.1.2.1). The HTTP pipeline of `azure_core` retries the storage's answers, not the sign-in before them.
#[derive(Debug)]
pub struct PatientCredential {
    inner: Arc<dyn TokenCredential>,
    retry: RetryConfig,
}

impl PatientCredential {
    /// Wraps `inner` with the default [`RetryConfig`].
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self { inner, retry: RetryConfig::default() }
    }
}

#[async_trait::async_trait]
impl TokenCredential for PatientCredential {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        crate::speaking("a storage token from Entra", self.patient_token(scopes)).await
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.inner.clear_cache().await
    }
}

impl PatientCredential {
    async fn patient_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        let started = std::time::Instant::now();
        let mut retries = 0;
        loop {
            match self.inner.get_token(scopes).await {
                Ok(token) => return Ok(token),
                Err(e)
                    if transient_sign_in_failure(&e)
                        && self.retry.may_retry(retries + 1, started.elapsed()) =>
                {
                    retries += 1;
                    let wait = self.retry.backoff(retries);
                    tracing::info!(
                        error = %e,
                        wait_s = wait.as_secs_f32(),
                        "the token endpoint cannot answer now; signing in again"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Entra's reason for refusing a sign-in (`AADSTS7000215: Invalid client secret provided...`): the OAuth error
/// response's `error_description`, which the error carries but does not print; `None` when Entra did not refuse (the
/// token endpoint could not be reached, or answered something else). The one reading of an Entra refusal: backup-core's
/// sign-in uses it too.
pub fn entra_refusal(e: &azure_core::Error) -> Option<String> {
    use oauth2::RequestTokenError;
    use oauth2::basic::BasicErrorResponse;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(RequestTokenError::ServerResponse(r)) =
            s.downcast_ref::<RequestTokenError<azure_core::Error, BasicErrorResponse>>()
        {
            return r.error_description().map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
        }
        source = s.source();
    }
    None
}

/// True when a sign-in failed without Entra refusing it (see [`PatientCredential`]).
fn transient_sign_in_failure(e: &azure_core::Error) -> bool {
    use oauth2::RequestTokenError;
    use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(t) =
            s.downcast_ref::<RequestTokenError<azure_core::Error, BasicErrorResponse>>()
        {
            return match t {
                RequestTokenError::ServerResponse(r) => matches!(
                    r.error(),
                    BasicErrorResponseType::Extension(code)
                        if code == "temporarily_unavailable" || code == "server_error"
                ),
                RequestTokenError::Request(_)
                | RequestTokenError::Parse(..)
                | RequestTokenError::Other(_) => true,
            };
        }
        source = s.source();
    }
    // The transport failing before any answer (the managed identity endpoint) is transient too.
    matches!(e.kind(), azure_core::error::ErrorKind::Io)
}
