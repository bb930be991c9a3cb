//! The context of one command: its settings, and the clients built from them, each once (on first use, since a
//! command that reads only local files needs no sign-in), shared by every job of the command.

use std::sync::{Arc, OnceLock};

use adls_store::Store;

use super::arm::ArmClient;
use super::auth::TokenSource;
use super::powerbi::PowerBiApi;
use super::xmla::{ClientOptions, Endpoint, XmlaClient};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::progress::{NoProgress, Progress};

/// Settings plus the clients built from them on first use.
pub struct Context {
    /// The resolved settings.
    pub settings: Settings,
    progress: Arc<dyn Progress>,
    tokens: OnceLock<Arc<TokenSource>>,
    store: OnceLock<Arc<dyn Store>>,
    /// Stores of other accounts workspaces are attached to, by account name.
    account_stores: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Store>>>,
    /// Workspace name → the storage account it is attached to, as first asked (one REST lookup per workspace in
    /// a run, not one per dataset).
    linked_accounts: tokio::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    /// The home region as the service told it, asked once per run (`None` inside: it did not tell).
    home_region: tokio::sync::OnceCell<Option<String>>,
    /// Storage account name → what Azure Resource Manager said of it, asked once per run.
    arm_accounts: tokio::sync::Mutex<
        std::collections::HashMap<
            String,
            std::result::Result<crate::service::arm::ArmAccount, String>,
        >,
    >,
    /// The tenant's lists as first read in this run (a bulk run reads each once, not once per workspace). Only the
    /// reading paths use them; a command that changes a link reads the API.
    groups: tokio::sync::OnceCell<Vec<crate::service::powerbi::Group>>,
    capacities: tokio::sync::OnceCell<Vec<crate::service::powerbi::Capacity>>,
    storage_accounts: tokio::sync::OnceCell<Vec<crate::service::powerbi::StorageAccount>>,
    /// Power BI routes resolved in this run, shared by its XMLA clients.
    routes: crate::service::xmla::RouteCache,
    /// The Power BI REST client, Azure Resource Manager's, and the HTTP client every XMLA client of the command
    /// shares (its connections are pooled), each built once.
    api: OnceLock<PowerBiApi>,
    arm: OnceLock<ArmClient>,
    xmla_http: OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Context {
    /// A session reporting no progress.
    pub fn new(settings: Settings) -> Context {
        Context::with_progress(settings, Arc::new(NoProgress))
    }

    /// A session reporting progress to `progress`.
    pub fn with_progress(settings: Settings, progress: Arc<dyn Progress>) -> Context {
        Context {
            settings,
            progress,
            tokens: OnceLock::new(),
            store: OnceLock::new(),
            account_stores: std::sync::Mutex::new(std::collections::HashMap::new()),
            linked_accounts: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            home_region: tokio::sync::OnceCell::new(),
            arm_accounts: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            groups: tokio::sync::OnceCell::new(),
            capacities: tokio::sync::OnceCell::new(),
            storage_accounts: tokio::sync::OnceCell::new(),
            routes: crate::service::xmla::RouteCache::default(),
            api: OnceLock::new(),
            arm: OnceLock::new(),
            xmla_http: OnceLock::new(),
        }
    }

    /// Where progress goes.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// The token source (built on first use).
    pub fn tokens(&self) -> Result<Arc<TokenSource>> {
        if let Some(t) = self.tokens.get() {
            return Ok(t.clone());
        }
        let t = Arc::new(
            TokenSource::new(
                self.settings.credential()?,
                self.settings.sign_in()?,
                &self.settings.urls.authority,
                self.settings.sign_in_options.clone(),
            )?
            .in_cloud(self.settings.cloud),
        );
        Ok(self.tokens.get_or_init(|| t).clone())
    }

    /// The Power BI REST client.
    pub fn api(&self) -> Result<PowerBiApi> {
        if let Some(api) = self.api.get() {
            return Ok(api.clone());
        }
        let api = PowerBiApi::new(self.settings.powerbi_api.clone(), self.tokens()?)?;
        Ok(self.api.get_or_init(|| api).clone())
    }

    /// The Azure Resource Manager client.
    fn arm(&self) -> Result<ArmClient> {
        if let Some(arm) = self.arm.get() {
            return Ok(arm.clone());
        }
        let arm = ArmClient::new(self.settings.arm.clone(), self.tokens()?)?;
        Ok(self.arm.get_or_init(|| arm).clone())
    }

    /// The workspaces the caller sees, read once per run (a failed read is not kept).
    pub async fn groups(&self) -> Result<Vec<crate::service::powerbi::Group>> {
        let api = self.api()?;
        Ok(self.groups.get_or_try_init(|| api.groups()).await?.clone())
    }

    /// The capacities the caller sees, read once per run.
    pub async fn capacities(&self) -> Result<Vec<crate::service::powerbi::Capacity>> {
        let api = self.api()?;
        Ok(self.capacities.get_or_try_init(|| api.capacities()).await?.clone())
    }

    /// The registered storage accounts, read once per run.
    pub async fn storage_accounts(&self) -> Result<Vec<crate::service::powerbi::StorageAccount>> {
        let api = self.api()?;
        Ok(self.storage_accounts.get_or_try_init(|| api.storage_accounts()).await?.clone())
    }

    /// The tenant's home region as the service tells it (asked once per run); `None` when it did not tell.
    pub async fn home_region(&self) -> Option<String> {
        self.home_region
            .get_or_init(|| async {
                let asked = async { self.api()?.home_region().await };
                asked.await.unwrap_or_else(|e: Error| {
                    tracing::debug!(error = %e, "the home cluster could not be read");
                    None
                })
            })
            .await
            .clone()
    }

    /// What Azure Resource Manager says of storage account `account`, or why it does not (asked once per account
    /// per run).
    pub async fn arm_account(
        &self,
        account: &str,
    ) -> std::result::Result<crate::service::arm::ArmAccount, String> {
        let key = account.to_ascii_lowercase();
        let mut known = self.arm_accounts.lock().await;
        if let Some(k) = known.get(&key) {
            return k.clone();
        }
        let asked = async { self.arm()?.storage_account(account).await };
        let answer = match asked.await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(format!(
                "no subscription the caller can read holds an account named '{account}'"
            )),
            Err(e) => Err(e.to_string()),
        };
        known.insert(key, answer.clone());
        answer
    }

    /// The Power BI routes this run resolved (and the datasets the REST API listed).
    pub fn routes(&self) -> &crate::service::xmla::RouteCache {
        &self.routes
    }

    /// An XMLA client for `endpoint`.
    pub fn xmla(&self, endpoint: Endpoint) -> Result<XmlaClient> {
        let options = ClientOptions {
            urls: self.settings.urls.clone(),
            command_timeout: self.settings.command_timeout,
            routes: self.routes.clone(),
        };
        let http = match self.xmla_http.get() {
            Some(h) => h.clone(),
            None => {
                let h = XmlaClient::http_client(self.settings.command_timeout)?;
                self.xmla_http.get_or_init(|| h).clone()
            }
        };
        XmlaClient::with_http(endpoint, self.tokens()?, options, http)
    }

    /// The backup store (built on first use).
    pub fn store(&self) -> Result<Arc<dyn Store>> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let s = self.settings.store()?;
        Ok(self.store.get_or_init(|| s).clone())
    }

    /// The store of storage account `account` (built on first use): the configured store for the configured
    /// account, else one reached as [`Settings::account_config`] says.
    pub fn account_store(&self, account: &str) -> Result<Arc<dyn Store>> {
        if self.settings.storage_account().is_some_and(|c| c.eq_ignore_ascii_case(account)) {
            return self.store();
        }
        let key = account.to_ascii_lowercase();
        if let Some(s) = self.account_stores.lock().expect("poisoned").get(&key) {
            return Ok(s.clone());
        }
        let config = self.settings.account_config(account).map_err(Error::Usage)?;
        let store: Arc<dyn Store> = Arc::new(adls_store::AdlsStore::new(config)?);
        self.account_stores.lock().expect("poisoned").insert(key, store.clone());
        Ok(store)
    }

    /// Remembers the storage account `workspace` is attached to, as the preflight found it, so that its jobs do not
    /// ask the REST API again.
    pub(crate) async fn remember_linked_account(&self, workspace: &str, account: Option<String>) {
        self.linked_accounts.lock().await.insert(workspace.to_owned(), account);
    }

    /// The store that holds `workspace`'s backups: that of the storage account it is attached to (asked of the
    /// REST API), or the configured store when there is nothing to ask (no ADLS account configured, no Power BI
    /// sign-in configured, a workspace not attached or not found by the API). A sign-in or an API that fails is an
    /// error: looking in the configured account instead would report another account's folder (often: "no
    /// backups") as the workspace's.
    pub async fn workspace_store(&self, workspace: &str) -> Result<Arc<dyn Store>> {
        if self.settings.storage_account().is_none() || self.settings.credential().is_err() {
            return self.store();
        }
        // `Ok(None)`: not attached; an error: the API could not tell (not remembered, so a later job asks again).
        let lookup = async {
            let group = crate::service::powerbi::find_group(&self.groups().await?, workspace)?;
            if group.dataflow_storage_id.is_none() {
                return Ok(None);
            }
            let accounts = self.storage_accounts().await?;
            Ok::<_, Error>(
                crate::service::powerbi::linked_account(&accounts, &group).map(|a| a.name.clone()),
            )
        };
        // Held across the lookup, so that parallel jobs of one workspace ask once.
        let mut known = self.linked_accounts.lock().await;
        let linked = match known.get(workspace) {
            Some(l) => l.clone(),
            None => match lookup.await {
                Ok(l) => {
                    known.insert(workspace.to_owned(), l.clone());
                    l
                }
                // A workspace the API does not know keeps its folder where it was configured (backups of a deleted
                // workspace are still listed and restored from there).
                Err(Error::NotFound { .. }) => None,
                Err(e) => {
                    return Err(e.saying(&format!(
                        "the storage account of workspace '{workspace}' could not be learned, so nothing was looked at"
                    )));
                }
            },
        };
        drop(known);
        match linked {
            Some(account) => self.account_store(&account),
            None => self.store(),
        }
    }
}

/// Who the caller is in one workspace: its own entry of `GET groups/{id}/users`, found by the object id or UPN of
/// its own Power BI token.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Whether the roles could be listed and the token said who the caller is (false: the role is not known).
    pub listed: bool,
    /// The caller's tenant (its token's `tid`).
    pub tenant: Option<String>,
    /// Its entry, when it has a role of its own (one held through a group is not listed).
    pub user: Option<super::powerbi::GroupUser>,
    /// The roles security groups hold in the workspace: the caller may hold one of them through a group, which the
    /// list does not expand.
    pub group_roles: Vec<super::powerbi::WorkspaceRole>,
}

impl Context {
    /// The caller's role in the workspace `group_id`. The service lists a service principal by its object id and a
    /// user by UPN (fidelity.md): both are read from the caller's own token; an opaque token tells neither, and then
    /// no guess is taken. Roles that cannot be listed are not an error: the caller is then not known.
    pub async fn caller_in(&self, group_id: &str) -> Result<Caller> {
        let Ok(users) = self.api()?.group_users(group_id).await else {
            return Ok(Caller::default());
        };
        let me = match self.tokens()?.token(super::auth::POWERBI_SCOPE).await {
            Ok(token) => super::auth::Identity::of(&token),
            Err(_) => None,
        };
        let group_roles = users
            .iter()
            .filter(|u| {
                u.principal_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Group"))
            })
            .map(|u| u.group_user_access_right.clone())
            .collect();
        Ok(match me {
            Some(me) => Caller {
                listed: true,
                tenant: me.tid.clone(),
                user: users.into_iter().find(|u| me.is(&u.identifier)),
                group_roles,
            },
            None => Caller::default(),
        })
    }
}
