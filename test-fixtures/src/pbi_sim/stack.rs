//! A whole simulated tenant: the Power BI simulator and one DFS emulator per storage account, wired together the
//! way the service is (backups go to storage over the DFS API, through adls-store's ADLS backend).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use adls_store::{AdlsConfig, AdlsStore, Credential, Store};
use url::Url;

use super::{PbiSim, Scenario, SimConfig};
use crate::dfs::{DEFAULT_ACCOUNT_KEY, DfsEmulator, EmulatorConfig};

/// The demo scenario shipped with the simulator (`test-fixtures/scenarios/demo.toml`).
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.toml");

/// A running simulated tenant.
pub struct SimStack {
    /// The Power BI service.
    pub sim: PbiSim,
    /// Storage account name → its DFS endpoint.
    pub emulators: HashMap<String, DfsEmulator>,
    state_dir: PathBuf,
}

impl std::fmt::Debug for SimStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStack")
            .field("sim", &self.sim)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl SimStack {
    /// A token from the simulated Entra endpoint for the app `client_id` (client credentials), for tests that call
    /// the simulated services directly.
    ///
    /// # Panics
    /// When the endpoint does not answer with a token.
    pub async fn token_as(&self, client_id: &str, secret: &str, scope: &str) -> String {
        let url = format!("{}/{}/oauth2/v2.0/token", self.sim.base_url(), self.sim.tenant_id());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ];
        let answer = reqwest::Client::new().post(url).form(&form).send().await.expect("token");
        let v: serde_json::Value = answer.json().await.expect("a token answer");
        v["access_token"].as_str().expect("a token").to_owned()
    }

    /// Starts every piece on `127.0.0.1` (the simulator on `listen`, emulators on free ports), keeping all state
    /// under `state_dir` (`state.json`, and `dfs/<account>/` for the storage).
    pub async fn start(
        scenario: Scenario,
        state_dir: &Path,
        listen: SocketAddr,
    ) -> std::io::Result<SimStack> {
        let mut emulators = HashMap::new();
        let mut stores: HashMap<String, Arc<dyn Store>> = HashMap::new();
        // One Entra tenant: a storage token from any account's token endpoint is good for every account, and the
        // tenant's service principal signs in to storage with the secret it uses for Power BI.
        let tokens = crate::dfs::SharedTokens::default();
        let app_secret =
            scenario.principals.iter().find(|p| p.kind == "app").and_then(|p| p.secret.clone());
        for account in &scenario.storage_accounts {
            let mut config = EmulatorConfig::new(state_dir.join("dfs").join(&account.name));
            config.account = account.name.clone();
            config.account_key = DEFAULT_ACCOUNT_KEY.to_owned();
            config.tokens = tokens.clone();
            if let Some(secret) = &app_secret {
                config.client_secret = secret.clone();
            }
            let emulator = DfsEmulator::start_with(config).await?;
            let store = storage_store(&emulator).map_err(std::io::Error::other)?;
            stores.insert(account.name.clone(), Arc::new(store));
            emulators.insert(account.name.clone(), emulator);
        }
        let sim = PbiSim::start(SimConfig {
            scenario,
            state_dir: state_dir.to_owned(),
            stores,
            listen,
            storage_tokens: tokens,
        })
        .await?;
        Ok(SimStack { sim, emulators, state_dir: state_dir.to_owned() })
    }

    /// The environment variables that point adls-store (and so `pbi-backup`) at an account's emulator with its
    /// account key.
    pub fn storage_env(&self, account: &str) -> Vec<(String, String)> {
        let Some(e) = self.emulators.get(account) else { return Vec::new() };
        vec![
            ("PBI_BACKUP_ADLS_ACCOUNT".into(), e.account().to_owned()),
            ("PBI_BACKUP_ADLS_ENDPOINT".into(), e.endpoint()),
            ("PBI_BACKUP_ADLS_AUTH".into(), "key".into()),
            ("AZURE_STORAGE_KEY".into(), e.account_key().to_owned()),
        ]
    }

    /// An adls-store client for an account's emulator.
    pub fn store(&self, account: &str) -> Option<AdlsStore> {
        storage_store(self.emulators.get(account)?).ok()
    }

    /// Where the state lives.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

fn storage_store(emulator: &DfsEmulator) -> Result<AdlsStore, String> {
    let mut config = AdlsConfig::new(
        emulator.account(),
        Credential::AccountKey(emulator.account_key().to_owned().into()),
    );
    config.endpoint = Some(Url::parse(&emulator.endpoint()).map_err(|e| e.to_string())?);
    AdlsStore::new(config).map_err(|e| e.to_string())
}
