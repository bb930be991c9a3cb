//! `auto`'s runtime part: the managed identity, then the Azure CLI, then the Azure Developer CLI, as the Azure SDKs'
//! default credential orders them (learn.microsoft.com/azure/developer/intro/azure-identity-default-credential). The
//! first that signs in is kept for the rest of the run; when none does, the error lists why each could not.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azure_core_v1::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core_v1::error::{Error, ErrorKind};

/// How long `auto` waits for the managed identity endpoint before it tries the next credential, when nothing in
/// the environment says the host has one (`IDENTITY_ENDPOINT`): a host without IMDS never answers at all.
const IMDS_PROBE: Duration = Duration::from_secs(3);

/// How the error of a chain that found nothing starts.
pub(crate) const NO_CREDENTIAL: &str = "auto found no credential that signs in";

type Member = (String, Result<Arc<dyn TokenCredential>, String>);

/// A chain of credentials; see the module.
#[derive(Debug)]
pub(crate) struct AutoCredential {
    members: Vec<Member>,
    chosen: OnceLock<usize>,
}

impl AutoCredential {
    /// The members in order, each with its description; a member that could not be made is skipped with its
    /// reason.
    pub(crate) fn new(members: Vec<Member>) -> Self {
        Self { members, chosen: OnceLock::new() }
    }

    /// The member that signed in, once one has.
    pub(crate) fn chosen(&self) -> Option<&str> {
        self.chosen.get().map(|&i| self.members[i].0.as_str())
    }
}

#[async_trait::async_trait]
impl TokenCredential for AutoCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core_v1::Result<AccessToken> {
        if let Some(&i) = self.chosen.get()
            && let (_, Ok(c)) = &self.members[i]
        {
            return c.get_token(scopes, options).await;
        }
        let mut why = Vec::new();
        for (i, (name, member)) in self.members.iter().enumerate() {
            let c = match member {
                Ok(c) => c,
                Err(e) => {
                    why.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let attempt = c.get_token(scopes, options.clone());
            let result = if i == 0 && std::env::var_os("IDENTITY_ENDPOINT").is_none() {
                match tokio::time::timeout(IMDS_PROBE, attempt).await {
                    Ok(r) => r,
                    Err(_) => {
                        why.push(format!(
                            "{name}: the managed identity endpoint (IMDS) did not answer within {} s",
                            IMDS_PROBE.as_secs()
                        ));
                        continue;
                    }
                }
            } else {
                attempt.await
            };
            match result {
                Ok(token) => {
                    let _ = self.chosen.set(i);
                    tracing::info!(credential = %name, "signed in");
                    return Ok(token);
                }
                Err(e) => why.push(format!("{name}: {}", e.to_string().replace('\n', " "))),
            }
        }
        Err(Error::with_message(
            ErrorKind::Credential,
            format!(
                "{NO_CREDENTIAL} ({}); to sign in as an application set AZURE_CLIENT_SECRET, \
                 AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE beside its AZURE_CLIENT_ID, or choose a \
                 credential with PBI_BACKUP_AUTH",
                why.join("; ")
            ),
        ))
    }
}
