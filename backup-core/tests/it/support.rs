//! Starting a simulated tenant and clients for it.

use std::ops::Deref;
use std::sync::Arc;

use adls_store::SignInOptions;
use backup_core::{ClientOptions, Credential, Endpoint, ServiceUrls, TokenSource, XmlaClient};
use test_fixtures::pbi_sim::Scenario;
use test_fixtures::tenant::TestTenant;
pub use test_fixtures::tenant::{BOT, BOT_SECRET, RULES_SCENARIO as RULES};
use url::Url;

/// The shared [`TestTenant`], with the clients of backup-core aimed at it.
pub struct Tenant(TestTenant);

impl Deref for Tenant {
    type Target = TestTenant;

    fn deref(&self) -> &TestTenant {
        &self.0
    }
}

impl Tenant {
    pub async fn start() -> Tenant {
        Tenant(TestTenant::rules().await)
    }

    pub async fn start_with(scenario: Scenario) -> Tenant {
        Tenant(TestTenant::start_with(scenario).await)
    }

    pub fn base(&self) -> Url {
        Url::parse(&self.0.base()).expect("url")
    }

    /// The simulated Entra, over TLS.
    pub fn authority(&self) -> Url {
        Url::parse(&self.stack.sim.authority_url()).expect("url")
    }

    /// Signing in trusts the simulator's certificate authority.
    pub fn sign_in(&self) -> SignInOptions {
        SignInOptions { ca_file: Some(self.stack.sim.ca_file().to_owned()), ..Default::default() }
    }

    pub fn options(&self) -> ClientOptions {
        ClientOptions {
            urls: ServiceUrls {
                powerbi_api: Some(self.base()),
                authority: self.authority(),
                aas: Some(self.base()),
            },
            command_timeout: None,
            routes: Default::default(),
        }
    }

    pub fn tokens(&self, client_id: &str, secret: &str) -> Arc<TokenSource> {
        let credential = Credential::ClientSecret {
            tenant_id: self.stack.sim.tenant_id(),
            client_id: client_id.into(),
            secret: secret.to_owned().into(),
        };
        Arc::new(
            TokenSource::new(credential, None, &self.authority(), self.sign_in())
                .expect("token source"),
        )
    }

    /// The service principal as admin, on a workspace by name.
    pub fn workspace(&self, name: &str) -> XmlaClient {
        XmlaClient::new(Endpoint::workspace(name), self.tokens(BOT, BOT_SECRET), self.options())
            .expect("client")
    }

    pub fn client(&self, endpoint: &str, credential: Credential) -> XmlaClient {
        let tokens = Arc::new(
            TokenSource::new(credential, None, &self.authority(), self.sign_in())
                .expect("token source"),
        );
        XmlaClient::new(Endpoint::parse(endpoint).expect("endpoint"), tokens, self.options())
            .expect("client")
    }
}
