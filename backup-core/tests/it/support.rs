//! Starting a simulated tenant and clients for it.

use std::net::SocketAddr;
use std::sync::Arc;

use backup_core::{ClientOptions, Credential, Endpoint, ServiceUrls, TokenSource, XmlaClient};
use test_fixtures::pbi_sim::{Scenario, SimStack};
use url::Url;

pub const RULES: &str = include_str!("../../../test-fixtures/scenarios/rules.toml");
pub const BOT: &str = "b0b0b0b0-0000-4000-8000-000000000001";
pub const BOT_SECRET: &str = "bot-secret";

pub struct Tenant {
    pub stack: SimStack,
    _dir: tempfile::TempDir,
}

impl Tenant {
    pub async fn start() -> Tenant {
        Self::start_with(Scenario::parse(RULES).expect("the rules scenario parses")).await
    }

    pub async fn start_with(scenario: Scenario) -> Tenant {
        let dir = tempfile::tempdir().expect("temp dir");
        let stack = SimStack::start(scenario, dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("sim starts");
        Tenant { stack, _dir: dir }
    }

    pub fn base(&self) -> Url {
        Url::parse(&format!("{}/", self.stack.sim.base_url())).expect("url")
    }

    pub fn options(&self) -> ClientOptions {
        ClientOptions {
            urls: ServiceUrls {
                powerbi_api: Some(self.base()),
                authority: self.base(),
                aas: Some(self.base()),
            },
            command_timeout: None,
        }
    }

    pub fn tokens(&self, client_id: &str, secret: &str) -> Arc<TokenSource> {
        let credential = Credential::ClientSecret {
            tenant_id: self.stack.sim.tenant_id(),
            client_id: client_id.into(),
            secret: secret.to_owned().into(),
        };
        Arc::new(TokenSource::new(credential, &self.base()).expect("token source"))
    }

    /// The service principal as admin, on a workspace by name.
    pub fn workspace(&self, name: &str) -> XmlaClient {
        XmlaClient::new(Endpoint::workspace(name), self.tokens(BOT, BOT_SECRET), self.options())
            .expect("client")
    }

    pub fn client(&self, endpoint: &str, credential: Credential) -> XmlaClient {
        let tokens = Arc::new(TokenSource::new(credential, &self.base()).expect("token source"));
        XmlaClient::new(Endpoint::parse(endpoint).expect("endpoint"), tokens, self.options())
            .expect("client")
    }
}
