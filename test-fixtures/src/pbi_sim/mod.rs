//! `pbi-sim`: a Power BI service simulator on loopback, for tests and for trying automation before it meets a tenant.
//!
//! One HTTP server serves what a backup tool talks to:
//! - an Entra token endpoint for client credentials (`POST /{tenant}/oauth2/v2.0/token`), knowing the scenario's
//!   service principals;
//! - the Power BI REST subset (`/v1.0/myorg/groups`, `capacities`, `groups/{id}/users`, `groups/{id}/datasets`,
//!   `dataflowStorageAccounts`, `groups/{id}/AssignToDataflowStorage`, `resources`, and `PATCH groups/{id}` to rename);
//! - the XMLA routing calls (workspace routing, `getDatabaseName`, `clusterResolve`, `generateastoken`, the legacy
//!   `GetOrInsertClusterUrisByTenantLocation`) and the XMLA endpoints (`/webapi/xmla`, `/xmla?vs=…`,
//!   `/olap/msmdpump.dll`), which execute Discover, Backup and Restore in ASSL and TMSL;
//! - backups written as real `.abf` containers into the linked storage account, in `power-bi-backup/<workspace>/`,
//!   through the same `Store` trait the product uses (in the binary: the DFS emulator, over HTTP).
//!
//! It enforces the SEED rules of `power-bi-rules.md` and answers each refusal as the service does: an XMLA error with a
//! code and a description a person can act on. The codes are the simulator's own (the service's real codes for these
//! refusals are not public).

// Handlers refuse with a ready `Response`; boxing each would only add noise to a test server.
#![allow(clippy::result_large_err)]

mod arm;
mod assertion;
mod auth;
mod rest;
pub mod scenario;
mod stack;
mod state;
mod xmla;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use adls_store::Store;
use axum::Router;

pub use scenario::Scenario;
pub use stack::{DEMO_SCENARIO, SimStack};
pub use state::ZERO_GUID;
pub use xmla::codes;

use state::State;

/// Name of the filesystem Power BI writes backups to.
pub const BACKUP_FILESYSTEM: &str = "power-bi-backup";

/// How to start a simulator.
pub struct SimConfig {
    /// The tenant, used when `state_dir` holds no saved state.
    pub scenario: Scenario,
    /// Where the state is saved (and read from on a restart).
    pub state_dir: PathBuf,
    /// Storage account name → the store that serves it.
    pub stores: HashMap<String, Arc<dyn Store>>,
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The storage tokens the tenant's accounts accept: the simulated Entra adds each storage token it issues (one
    /// tenant's tokens are good for each of its accounts).
    pub storage_tokens: crate::dfs::SharedTokens,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("state_dir", &self.state_dir)
            .field("listen", &self.listen)
            .finish()
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub state_dir: PathBuf,
    pub stores: HashMap<String, Arc<dyn Store>>,
    pub tokens: auth::Tokens,
    pub base_url: String,
    /// One lock per model: backup and restore commands of one model run one at a time, as a server's locks
    /// would; other models' run alongside.
    pub model_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Backup and restore commands on each capacity (by id).
    pub capacity_operations: Mutex<HashMap<String, CapacityOperations>>,
    /// The REST rate limit's bucket: calls left, and when it was last filled.
    pub rest_bucket: Mutex<Option<(f64, std::time::Instant)>>,
    pub counters: Mutex<HashMap<&'static str, u64>>,
    /// When set, `/webapi/xmla` answers 401 to MWC tokens (to exercise a client's legacy fallback).
    pub refuse_mwc: std::sync::atomic::AtomicBool,
    /// When set, `TMSCHEMA_TABLES` answers an error (a fault switch for a client's handling of a failed listing).
    pub fail_table_listing: std::sync::atomic::AtomicBool,
    /// A table every restore leaves out of the model it restores (a restore that loses a table, for drills).
    pub drop_on_restore: Mutex<Option<String>>,
    /// A table every restore brings back with half its rows (a restore that loses data, for drills).
    pub halve_rows_on_restore: Mutex<Option<String>>,
    /// When set, a dataset deletion is held unanswered until the switch is cleared, then answered 503 with nothing
    /// deleted (so that a test can kill a client while it waits on one).
    pub stall_dataset_deletes: std::sync::atomic::AtomicBool,
    /// How many of the next REST calls are turned away with 429 and `Retry-After: 1`, as the service throttles.
    pub throttle_rest: std::sync::atomic::AtomicU32,
    /// How many of the next `/webapi/xmla` posts are answered 503 with `Retry-After: 1`, before anything runs.
    pub busy_xmla: std::sync::atomic::AtomicU32,
    /// How many of the next token requests are answered 503 (a page, not an OAuth error), as a front end that
    /// cannot reach Entra does.
    pub busy_token: std::sync::atomic::AtomicU32,
    /// Storage tokens the accounts accept (see [`SimConfig::storage_tokens`]).
    pub storage_tokens: crate::dfs::SharedTokens,
    /// The secret of the App Service style identity endpoint (`IDENTITY_HEADER`).
    pub identity_header: String,
    /// The most recent requests, oldest first (at most [`REQUEST_LOG_LIMIT`]).
    pub requests: Mutex<std::collections::VecDeque<Request>>,
    /// Where every exchange is written, one JSON line each, when `PBI_SIM_TRAFFIC_DIR` names a folder: the contract
    /// check (`test-fixtures/contracts/check.py`) holds them to the published API description.
    pub traffic: Option<Mutex<std::fs::File>>,
}

/// The environment variable naming the folder pbi-sim writes its traffic into, one JSON-lines file per simulator.
pub const TRAFFIC_DIR_ENV: &str = "PBI_SIM_TRAFFIC_DIR";

/// The traffic file of one simulator, in the folder `PBI_SIM_TRAFFIC_DIR` names; `None` when it names none.
fn traffic_file() -> std::io::Result<Option<Mutex<std::fs::File>>> {
    let Some(dir) = std::env::var_os(TRAFFIC_DIR_ENV) else { return Ok(None) };
    std::fs::create_dir_all(&dir)?;
    let path = Path::new(&dir).join(format!("pbi-sim-{}.jsonl", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    Ok(Some(Mutex::new(file)))
}

/// A message's body read whole: a body with the same bytes to send on, and their JSON when they are JSON.
async fn split<P>(
    (parts, body): (P, axum::body::Body),
) -> (P, (axum::body::Body, Option<serde_json::Value>)) {
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let json = serde_json::from_slice(&bytes).ok();
    (parts, (axum::body::Body::from(bytes), json))
}

/// Writes each exchange into [`Shared::traffic`] when there is one: method, path, query and status, and for the REST
/// API (`/v1.0/`) the request's and the answer's JSON bodies, read whole (they are small; XMLA's are not read).
async fn traffic(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(file) = &shared.traffic else { return next.run(req).await };
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let rest = path.starts_with("/v1.0/");
    let (req, request) = if rest {
        let (parts, (body, json)) = split(req.into_parts()).await;
        (axum::extract::Request::from_parts(parts, body), json)
    } else {
        (req, None)
    };
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let (resp, response) = if rest {
        let (parts, (body, json)) = split(resp.into_parts()).await;
        (axum::response::Response::from_parts(parts, body), json)
    } else {
        (resp, None)
    };
    let line = serde_json::json!({
        "method": method, "path": path, "query": query,
        "request": request, "status": status, "response": response,
    });
    let mut f = file.lock().expect("poisoned");
    if let Err(e) = std::io::Write::write_all(&mut *f, format!("{line}\n").as_bytes()) {
        tracing::error!(error = %e, "cannot write the simulator's traffic");
    }
    resp
}

/// How many requests [`PbiSim::requests`] keeps.
const REQUEST_LOG_LIMIT: usize = 10_000;

/// A request as the simulator received it: what a test needs to check a client's call order and headers. Header
/// values of `Authorization` are never kept; only the scheme is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `User-Agent` header, when sent.
    pub user_agent: Option<String>,
    /// The scheme of the `Authorization` header (`Bearer`, `MwcToken`, `Basic`), when sent.
    pub auth_scheme: Option<String>,
    /// The `x-ms-xmla*` headers sent, lower-cased names with their values.
    pub xmla_headers: Vec<(String, String)>,
}

impl Request {
    fn of(req: &axum::extract::Request) -> Request {
        let headers = req.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Request {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            user_agent: text("user-agent"),
            auth_scheme: text("authorization")
                .and_then(|a| a.split_whitespace().next().map(str::to_owned)),
            xmla_headers: headers
                .iter()
                .filter(|(k, _)| k.as_str().starts_with("x-ms-xmla"))
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
        }
    }

    /// The value of the `x-ms-xmla*` header `name`, when sent.
    pub fn xmla_header(&self, name: &str) -> Option<&str> {
        self.xmla_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Keeps every request in [`Shared::requests`], and counts it (`requests`).
async fn record(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    {
        let mut log = shared.requests.lock().expect("poisoned");
        if log.len() == REQUEST_LOG_LIMIT {
            log.pop_front();
        }
        log.push_back(Request::of(&req));
    }
    shared.count("requests");
    next.run(req).await
}

impl Shared {
    pub(crate) fn save(&self, state: &State) {
        if let Err(e) = state.save(&self.state_dir) {
            tracing::error!(error = %e, "cannot save the simulator state");
        }
    }

    /// A bearer token for `principal` (see [`auth::Tokens::issue`]); a storage token is added to the tokens the
    /// tenant's storage accounts accept.
    pub(crate) fn issue(
        &self,
        principal: &state::PrincipalState,
        tenant_id: &str,
        audience: auth::Audience,
        lifetime_seconds: u64,
    ) -> String {
        let lifetime = std::time::Duration::from_secs(lifetime_seconds);
        let token = self.tokens.issue(principal, tenant_id, audience, lifetime);
        if audience == auth::Audience::Storage {
            self.storage_tokens.0.lock().expect("poisoned").insert(token.clone());
        }
        token
    }

    pub(crate) fn count(&self, what: &'static str) {
        *self.counters.lock().expect("poisoned").entry(what).or_default() += 1;
    }

    /// Takes one REST call from the tenant's rate (`rest-calls-per-second`; a bucket of one second's calls that
    /// refills at the rate). `Err(wait)`: none left, and how long until one is.
    pub(crate) fn take_rest_call(&self) -> Result<(), std::time::Duration> {
        let rate = self.state.lock().expect("poisoned").rest_calls_per_second;
        let Some(rate) = rate.filter(|r| *r > 0.0) else { return Ok(()) };
        let burst = rate.max(1.0);
        let now = std::time::Instant::now();
        let mut bucket = self.rest_bucket.lock().expect("poisoned");
        let (left, at) = bucket.unwrap_or((burst, now));
        let left = (left + now.duration_since(at).as_secs_f64() * rate).min(burst);
        if left >= 1.0 {
            *bucket = Some((left - 1.0, now));
            Ok(())
        } else {
            *bucket = Some((left, now));
            Err(std::time::Duration::from_secs_f64((1.0 - left) / rate))
        }
    }

    /// The lock of one model (by owner and name), for its backup and restore commands.
    pub(crate) fn model_lock(&self, owner: &str, model: &str) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!("{owner}/{}", model.to_lowercase());
        self.model_locks.lock().expect("poisoned").entry(key).or_default().clone()
    }

    /// A place for one more backup or restore on `capacity`; `None` when it runs as many as its limit allows now.
    pub(crate) fn capacity_slot(
        self: &Arc<Self>,
        capacity: &state::CapacityState,
    ) -> Option<CapacitySlot> {
        let mut all = self.capacity_operations.lock().expect("poisoned");
        let ops = all.entry(capacity.id.clone()).or_default();
        if capacity.limit_after(ops.started).is_some_and(|l| ops.running >= l) {
            return None;
        }
        ops.running += 1;
        ops.started += 1;
        ops.peak = ops.peak.max(ops.running);
        Some(CapacitySlot { shared: self.clone(), capacity: capacity.id.clone() })
    }
}

/// A capacity's backup and restore commands: running now, started since the simulator started, and the most that
/// ran at once since [`PbiSim::take_capacity_peak`] last asked.
#[derive(Debug, Default)]
pub struct CapacityOperations {
    running: u32,
    started: u64,
    peak: u32,
}

/// One backup or restore running on a capacity; dropped when it ends.
pub(crate) struct CapacitySlot {
    shared: Arc<Shared>,
    capacity: String,
}

impl Drop for CapacitySlot {
    fn drop(&mut self) {
        let mut running = self.shared.capacity_operations.lock().expect("poisoned");
        if let Some(ops) = running.get_mut(&self.capacity) {
            ops.running = ops.running.saturating_sub(1);
        }
    }
}

/// A running simulator. Dropping it stops the server.
pub struct PbiSim {
    addr: SocketAddr,
    /// Where Entra is served over TLS.
    entra: SocketAddr,
    ca_file: PathBuf,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    entra_task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PbiSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PbiSim").field("addr", &self.addr).finish()
    }
}

impl PbiSim {
    /// Starts the simulator: loads the saved state from `state_dir`, or builds it from the scenario.
    pub async fn start(config: SimConfig) -> std::io::Result<PbiSim> {
        let SimConfig { scenario, state_dir, stores, listen, storage_tokens } = config;
        let (state, fresh) = match State::load(&state_dir)? {
            Some(saved) => (saved, false),
            None => (State::from_scenario(&scenario), true),
        };
        for account in &state.accounts {
            if !stores.contains_key(&account.name) {
                return Err(std::io::Error::other(format!(
                    "storage account '{}' of the scenario has no store",
                    account.name
                )));
            }
        }
        if fresh {
            prepare_storage(&state, &stores).await?;
            state.save(&state_dir)?;
        }
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            state_dir,
            stores,
            tokens: auth::Tokens::default(),
            base_url: format!("http://{addr}"),
            model_locks: Mutex::new(HashMap::new()),
            capacity_operations: Mutex::new(HashMap::new()),
            rest_bucket: Mutex::new(None),
            counters: Mutex::new(HashMap::new()),
            refuse_mwc: std::sync::atomic::AtomicBool::new(false),
            fail_table_listing: std::sync::atomic::AtomicBool::new(false),
            drop_on_restore: Mutex::new(None),
            halve_rows_on_restore: Mutex::new(None),
            stall_dataset_deletes: std::sync::atomic::AtomicBool::new(false),
            throttle_rest: std::sync::atomic::AtomicU32::new(0),
            busy_xmla: std::sync::atomic::AtomicU32::new(0),
            busy_token: std::sync::atomic::AtomicU32::new(0),
            storage_tokens,
            identity_header: uuid::Uuid::new_v4().simple().to_string(),
            requests: Mutex::new(std::collections::VecDeque::new()),
            traffic: traffic_file()?,
        });
        let app = router(shared.clone());
        let ca_file = shared.state_dir.join("entra-ca.pem");
        let (entra, entra_task) =
            crate::tls::serve(app.clone(), SocketAddr::new(addr.ip(), 0), &ca_file).await?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "pbi-sim stopped");
            }
        });
        Ok(PbiSim { addr, entra, ca_file, shared, task, entra_task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the Power BI API base, the Entra authority and the AAS base all at once.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `https://127.0.0.1:<port>/`: the Entra authority, over TLS (the same routes as [`Self::base_url`]).
    pub fn authority_url(&self) -> String {
        format!("https://{}/", self.entra)
    }

    /// The PEM file of the certificate authority that signed the TLS certificate of [`Self::authority_url`]: what
    /// `SSL_CERT_FILE` names for a client to trust it.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// `IDENTITY_ENDPOINT` of the App Service style managed identity endpoint.
    pub fn identity_endpoint(&self) -> String {
        format!("{}{}", self.base_url(), auth::APP_SERVICE_IDENTITY_PATH)
    }

    /// `IDENTITY_HEADER`: the secret that endpoint requires.
    pub fn identity_header(&self) -> &str {
        &self.shared.identity_header
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> String {
        self.shared.state.lock().expect("poisoned").tenant_id.clone()
    }

    /// How often something happened (`"backup"`, `"restore"`, `"token"`, `"xmla"`, `"legacy-xmla"`, ...).
    /// Every counter: requests served by kind since the simulator started.
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        let counters = self.shared.counters.lock().expect("poisoned");
        counters.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    pub fn count(&self, what: &str) -> u64 {
        self.shared.counters.lock().expect("poisoned").get(what).copied().unwrap_or(0)
    }

    /// The most backup and restore commands the capacity `id` ran at once since the last call (or the start); the
    /// count starts again from those running now.
    pub fn take_capacity_peak(&self, id: &str) -> u32 {
        let mut all = self.shared.capacity_operations.lock().expect("poisoned");
        all.iter_mut().find(|(c, _)| c.eq_ignore_ascii_case(id)).map_or(0, |(_, ops)| {
            let peak = ops.peak;
            ops.peak = ops.running;
            peak
        })
    }

    /// The requests received so far (the most recent 10,000), oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().expect("poisoned").iter().cloned().collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.shared.requests.lock().expect("poisoned").clear();
    }

    /// Which rules this service applies: `seed` (the 2021 preview) or `current` (as documented today), by the
    /// name the client's rule profiles use, so that a test can run the client with the service's own rules.
    pub fn service_profile(&self) -> &'static str {
        match self.shared.state.lock().expect("poisoned").service_profile {
            scenario::ServiceProfile::Seed => "seed",
            scenario::ServiceProfile::Current => "current",
        }
    }

    /// The names of the models in a workspace (by name), sorted.
    pub fn models(&self, workspace: &str) -> Vec<String> {
        let state = self.shared.state.lock().expect("poisoned");
        let Some(ws) = state.workspaces.iter().find(|w| w.name == workspace) else {
            return Vec::new();
        };
        let mut names: Vec<String> =
            state.models.iter().filter(|m| m.owner == ws.id).map(|m| m.name.clone()).collect();
        names.sort();
        names
    }

    /// Changes a model's tables as its author would (a measure added, a column renamed), and moves its modified
    /// time; false when the workspace has no such model.
    pub fn edit_tables(
        &self,
        workspace: &str,
        dataset: &str,
        edit: impl FnOnce(&mut Vec<scenario::Table>),
    ) -> bool {
        let mut state = self.shared.state.lock().expect("poisoned");
        let Some(ws) = state.workspaces.iter().find(|w| w.name == workspace).map(|w| w.id.clone())
        else {
            return false;
        };
        let Some(model) = state.models.iter_mut().find(|m| m.owner == ws && m.name == dataset)
        else {
            return false;
        };
        edit(&mut model.tables);
        model.modified = state::now_string();
        let _ = state.save(&self.shared.state_dir);
        true
    }

    /// Makes `/webapi/xmla` refuse MWC tokens with 401, as the live service sometimes does, so that clients fall
    /// back to the legacy virtual-server path.
    pub fn refuse_mwc_tokens(&self, refuse: bool) {
        self.shared.refuse_mwc.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes every token issued so far expire now, as if a long run had outlived them.
    pub fn expire_tokens(&self) {
        self.shared.tokens.expire_all();
    }

    /// Sets a capacity's state; anything but `Active` makes its XMLA endpoint answer like a paused capacity (HTTP 500
    /// "error in xmla in dedicated").
    pub fn set_capacity_state(&self, capacity: &str, state: &str) {
        let mut s = self.shared.state.lock().expect("poisoned");
        if let Some(c) = s.capacities.iter_mut().find(|c| c.name == capacity) {
            c.state = state.to_owned();
        }
        self.shared.save(&s);
    }

    /// Makes every restore leave the table `name` out of the model it restores (`None`: restores are whole again),
    /// so that a restore can really differ from its backup.
    pub fn drop_table_on_restore(&self, name: Option<&str>) {
        *self.shared.drop_on_restore.lock().expect("poisoned") = name.map(str::to_owned);
    }

    /// Makes every restore bring the table `name` back with half its rows (`None`: restores are whole again), so
    /// that a restored model can have every table and still not hold the backup's data.
    pub fn halve_rows_on_restore(&self, name: Option<&str>) {
        *self.shared.halve_rows_on_restore.lock().expect("poisoned") = name.map(str::to_owned);
    }

    /// Holds every dataset deletion unanswered while `stall` is set; once cleared, the held ones are answered 503
    /// with nothing deleted. Counted as `delete-dataset-stalled`.
    pub fn stall_dataset_deletes(&self, stall: bool) {
        self.shared.stall_dataset_deletes.store(stall, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes every `TMSCHEMA_TABLES` Discover fail (`true`) or work again (`false`).
    pub fn fail_table_listing(&self, fail: bool) {
        self.shared.fail_table_listing.store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    /// Turns the next `calls` REST calls away with HTTP 429 and `Retry-After: 1`.
    pub fn throttle_rest(&self, calls: u32) {
        self.shared.throttle_rest.store(calls, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers the next `calls` posts to `/webapi/xmla` with HTTP 503 and `Retry-After: 1`, running nothing.
    pub fn busy_xmla(&self, calls: u32) {
        self.shared.busy_xmla.store(calls, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers the next `calls` token requests with HTTP 503 and an HTML page, issuing nothing.
    pub fn busy_token(&self, calls: u32) {
        self.shared.busy_token.store(calls, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops the server.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for PbiSim {
    fn drop(&mut self) {
        self.task.abort();
        self.entra_task.abort();
    }
}

/// What the service has done to the storage of a tenant as the scenario describes it: the `power-bi-backup`
/// filesystem in every linked account, a folder for every workspace linked with backup support (none for a
/// dataflows-only link), and each AAS server's container.
async fn prepare_storage(
    state: &State,
    stores: &HashMap<String, Arc<dyn Store>>,
) -> std::io::Result<()> {
    let io = |e: adls_store::Error| std::io::Error::other(e.to_string());
    for w in &state.workspaces {
        let Some(store) = w.storage.as_deref().and_then(|a| stores.get(a)) else { continue };
        store.ensure_filesystem(BACKUP_FILESYSTEM).await.map_err(io)?;
        if w.link == scenario::LinkKind::Full {
            let folder = adls_store::StorePath::folder(BACKUP_FILESYSTEM, &w.name)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            store.create_folder(&folder).await.map_err(io)?;
        }
    }
    for a in &state.aas_servers {
        if let Some(store) = stores.get(&a.storage) {
            store.ensure_filesystem(&a.container).await.map_err(io)?;
        }
    }
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(arm::routes())
        .merge(
            rest::routes()
                .layer(axum::middleware::from_fn_with_state(shared.clone(), rest::throttle)),
        )
        .merge(xmla::routes())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), traffic))
        .with_state(shared)
}
