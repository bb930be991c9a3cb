//! The XMLA client: resolves an endpoint to an HTTP target, sends one SOAP request, reads the answer through
//! xmla-proto.
//!
//! Every server answer goes through [`xmla_proto::parse_response`]: an error inside an HTTP 200 is a
//! [`Error::Server`], never a success. A request that was sent but got no complete answer is
//! [`Error::OutcomeUnknown`], never a failure or a success.

mod endpoint;
mod routing;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;
use xmla_proto::{Catalog, Command, Discover, Message, Outcome, Request, Row};

use crate::urls::check_plain_http;
pub use endpoint::Endpoint;
pub use routing::WorkspaceInfo;

pub use crate::config::ServiceUrls;
use crate::error::{Error, Result, Service};
use crate::retry::RetryPolicy;
use crate::service::auth::{AuthHeader, TokenSource};
use crate::service::http;

/// Client settings.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Service base URLs.
    pub urls: ServiceUrls,
    /// A limit on one XMLA command. `None` (the default): wait as long as the server works, however many hours.
    pub command_timeout: Option<Duration>,
    /// Resolved Power BI routes, shared by the clients of one run (see [`RouteCache`]).
    pub routes: RouteCache,
}

/// How long a resolved Power BI route (cluster, MWC token) is used before it is resolved again. The service does not
/// document the MWC token's lifetime; five minutes stays well inside the hour ADOMD is seen to keep one.
const ROUTE_TTL: Duration = Duration::from_secs(5 * 60);

/// Power BI routes resolved by the modern path, shared by the clients of one run, each kept `ROUTE_TTL`:
///
/// - the routing call's list of workspaces and each capacity's cluster, once for all the workspaces and datasets
///   of the run while fresh (the route to a workspace is the workspace's, not its datasets');
/// - the token exchange, once per workspace and catalog (its token names the dataset);
/// - `getDatabaseName` only for a dataset the run has not already seen listed by the REST API (its answer is not
///   used on this path; it only says early that a dataset is missing).
///
/// A route is dropped, with the cluster and the list it came from, when the cluster refuses its token or says it
/// moved.
#[derive(Clone, Default)]
pub struct RouteCache(Arc<std::sync::Mutex<Routes>>);

#[derive(Default)]
struct Routes {
    targets: HashMap<RouteKey, (Target, Instant)>,
    workspaces: Option<(Vec<WorkspaceInfo>, Instant)>,
    clusters: HashMap<String, ((String, String), Instant)>,
    listed: std::collections::HashSet<RouteKey>,
}

/// A workspace (lower-cased) and the catalog a route was resolved for.
type RouteKey = (String, Option<String>);

impl std::fmt::Debug for RouteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.targets.len()).unwrap_or(0);
        write!(f, "RouteCache({n} routes)")
    }
}

impl RouteCache {
    fn key(workspace: &str, catalog: Option<&str>) -> RouteKey {
        (workspace.to_lowercase(), catalog.map(str::to_owned))
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.0.lock().expect("poisoned")
    }

    fn get(&self, workspace: &str, catalog: Option<&str>) -> Option<Target> {
        let routes = self.routes();
        let (target, at) = routes.targets.get(&Self::key(workspace, catalog))?;
        (at.elapsed() < ROUTE_TTL).then(|| target.clone())
    }

    fn put(&self, workspace: &str, catalog: Option<&str>, target: &Target) {
        self.routes()
            .targets
            .insert(Self::key(workspace, catalog), (target.clone(), Instant::now()));
    }

    fn forget(&self, workspace: &str, catalog: Option<&str>) {
        let mut routes = self.routes();
        routes.targets.remove(&Self::key(workspace, catalog));
        routes.workspaces = None;
        routes.clusters.clear();
    }

    /// The routing call's list of workspaces, while fresh.
    pub(crate) fn workspaces(&self) -> Option<Vec<WorkspaceInfo>> {
        let routes = self.routes();
        let (list, at) = routes.workspaces.as_ref()?;
        (at.elapsed() < ROUTE_TTL).then(|| list.clone())
    }

    pub(crate) fn put_workspaces(&self, list: &[WorkspaceInfo]) {
        self.routes().workspaces = Some((list.to_vec(), Instant::now()));
    }

    /// A capacity's cluster (FQDN, core server name), while fresh.
    pub(crate) fn cluster(&self, capacity_id: &str) -> Option<(String, String)> {
        let routes = self.routes();
        let (cluster, at) = routes.clusters.get(&capacity_id.to_ascii_lowercase())?;
        (at.elapsed() < ROUTE_TTL).then(|| cluster.clone())
    }

    pub(crate) fn put_cluster(&self, capacity_id: &str, cluster: &(String, String)) {
        self.routes()
            .clusters
            .insert(capacity_id.to_ascii_lowercase(), (cluster.clone(), Instant::now()));
    }

    /// Records that the REST API listed `dataset` in `workspace` in this run.
    pub fn listed(&self, workspace: &str, dataset: &str) {
        self.routes().listed.insert(Self::key(workspace, Some(dataset)));
    }

    pub(crate) fn was_listed(&self, workspace: &str, dataset: &str) -> bool {
        self.routes().listed.contains(&Self::key(workspace, Some(dataset)))
    }
}

/// One resolved place to post XMLA to.
#[derive(Clone)]
pub(crate) struct Target {
    pub url: Url,
    pub auth: AuthHeader,
    pub headers: Vec<(&'static str, String)>,
    /// Replaces the `Catalog` property (the legacy Power BI path names the database `sobe_wowvirtualserver-<id>`).
    pub catalog: Option<String>,
}

/// Sends XMLA requests to one endpoint.
pub struct XmlaClient {
    endpoint: Endpoint,
    tokens: Arc<TokenSource>,
    http: reqwest::Client,
    options: ClientOptions,
}

impl std::fmt::Debug for XmlaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlaClient")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl XmlaClient {
    /// A client for `endpoint`, signing in through `tokens`.
    pub fn new(
        endpoint: Endpoint,
        tokens: Arc<TokenSource>,
        options: ClientOptions,
    ) -> Result<Self> {
        let http = XmlaClient::http_client(options.command_timeout)?;
        XmlaClient::with_http(endpoint, tokens, options, http)
    }

    /// The HTTP client XMLA clients send through: it returns redirects (routing reads them) and waits at most
    /// `command_timeout` for an answer. Clients of one command share one, made by this.
    pub fn http_client(command_timeout: Option<Duration>) -> Result<reqwest::Client> {
        http::client(command_timeout, http::Redirects::Return)
    }

    /// A client for `endpoint` sending through `http` (made by [`XmlaClient::http_client`]).
    pub fn with_http(
        endpoint: Endpoint,
        tokens: Arc<TokenSource>,
        options: ClientOptions,
        http: reqwest::Client,
    ) -> Result<Self> {
        if let Endpoint::Http { url } = &endpoint {
            check_plain_http(url)?;
        }
        Ok(XmlaClient { endpoint, tokens, http, options })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Runs one command. Returns the server's warnings on success; an answer with errors is [`Error::Server`].
    pub async fn execute(&self, command: Command, catalog: Option<&str>) -> Result<Vec<Message>> {
        let what = command.describe();
        let request = Request::execute(command).with_catalog(catalog.map(str::to_owned));
        let response = self.send(&request, &what).await?;
        match response.outcome {
            Outcome::Succeeded => Ok(Vec::new()),
            Outcome::SucceededWithWarnings(w) => Ok(w),
            Outcome::Failed(failure) => Err(Error::Server { what, failure: Box::new(failure) }),
        }
    }

    /// Reads a schema rowset.
    pub async fn discover(&self, discover: Discover) -> Result<Vec<Row>> {
        let what = format!("discover of {}", discover.request_type);
        let response = self.send(&Request::discover(discover), &what).await?;
        match response.outcome {
            Outcome::Failed(failure) => Err(Error::Server { what, failure: Box::new(failure) }),
            _ => Ok(response.rows),
        }
    }

    /// The databases (datasets) the caller can see.
    pub async fn databases(&self) -> Result<Vec<Catalog>> {
        Ok(self
            .discover(Discover::catalogs())
            .await?
            .iter()
            .filter_map(Catalog::from_row)
            .collect())
    }

    /// The tables of a tabular model, as the server lists them (`TMSCHEMA_TABLES`), sorted.
    pub async fn tables(&self, database: &str) -> Result<Vec<String>> {
        let rows = self.discover(Discover::tables(database)).await?;
        let mut names: Vec<String> =
            rows.iter().filter_map(|r| r.get("Name").map(str::to_owned)).collect();
        names.sort();
        Ok(names)
    }

    /// The size of a model's column segments in memory, in bytes: the sum of `USED_SIZE` over
    /// `DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS`. Dictionaries and hierarchies are not counted, so it is a lower
    /// bound of the memory the model takes (and a restore needs).
    pub async fn model_size(&self, database: &str) -> Result<u64> {
        let rows = self.discover(Discover::storage_segments(database)).await?;
        Ok(rows.iter().filter_map(|r| r.get("USED_SIZE")?.trim().parse::<u64>().ok()).sum())
    }

    /// How many rows each table of a tabular model holds, from `DISCOVER_STORAGE_TABLES`' `ROWS_COUNT` (the
    /// reference's row count; `TMSCHEMA_TABLES` has none). A table's rows are the rows named for it
    /// (`DIMENSION_NAME`) other than the engine's own structures, whose `TABLE_ID` starts `H$`, `R$` or `U$`
    /// (hierarchies, relationships, user hierarchies: named by the community's storage analysers, not by a
    /// Microsoft page), summed over the rows left, since the reference counts rows per partition. A table with no
    /// storage (DirectQuery) is not listed.
    pub async fn row_counts(&self, database: &str) -> Result<BTreeMap<String, u64>> {
        let rows = self.discover(Discover::storage_tables(database)).await?;
        let mut counts = BTreeMap::new();
        for r in &rows {
            let (Some(table), Some(id)) = (r.get("DIMENSION_NAME"), r.get("TABLE_ID")) else {
                continue;
            };
            if ["H$", "R$", "U$"].iter().any(|p| id.starts_with(p)) {
                continue;
            }
            let Some(n) = r.get("ROWS_COUNT").and_then(|n| n.trim().parse::<u64>().ok()) else {
                continue;
            };
            *counts.entry(table.to_owned()).or_insert(0) += n;
        }
        Ok(counts)
    }

    /// The roles of a tabular model and how many members each has (`TMSCHEMA_ROLES`, `TMSCHEMA_ROLE_MEMBERSHIPS`),
    /// sorted by name.
    pub async fn roles(&self, database: &str) -> Result<Vec<crate::manifest::RoleMembers>> {
        let roles = self.discover(Discover::roles(database)).await?;
        let members = self.discover(Discover::role_memberships(database)).await?;
        let mut out: Vec<crate::manifest::RoleMembers> = roles
            .iter()
            .filter_map(|r| {
                let id = r.get("ID")?;
                let count = members.iter().filter(|m| m.get("RoleID") == Some(id)).count();
                Some(crate::manifest::RoleMembers {
                    name: r.get("Name")?.to_owned(),
                    members: count,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Sends a request and reads the whole answer. The outcome inside is the caller's to judge.
    ///
    /// A refused token signs in again once (`http::signed_in`, which also resolves again: a fresh MWC token on
    /// Power BI); a cluster that moved (3xx) is resolved again once; a Power BI cluster that still refuses the MWC
    /// token is tried once through the legacy virtual-server path.
    pub async fn send(&self, request: &Request, what: &str) -> Result<xmla_proto::Response> {
        let catalog = request.catalog().map(str::to_owned);
        let catalog = catalog.as_deref();
        let modern = http::signed_in(&self.tokens, what, async || {
            self.resolve_and_post(request, what, catalog, false).await
        })
        .await;
        match modern {
            Err(e) if e.is_unauthorized() && matches!(self.endpoint, Endpoint::PowerBi { .. }) => {
                tracing::info!(
                    "the xmla cluster refused the MWC token; trying the legacy virtual-server path"
                );
                self.resolve_and_post(request, what, catalog, true).await
            }
            other => other,
        }
    }

    /// Resolves the endpoint and posts; a cluster that moved is resolved again once.
    async fn resolve_and_post(
        &self,
        request: &Request,
        what: &str,
        catalog: Option<&str>,
        legacy: bool,
    ) -> Result<xmla_proto::Response> {
        let target = self.resolve(catalog, legacy).await?;
        let mut posted = match self.post(&target, request, what).await {
            Ok(p) => p,
            // A refused token is not used again: the next try (after signing in again) resolves anew.
            Err(e) => {
                if e.is_unauthorized() {
                    self.forget_route(catalog);
                }
                return Err(e);
            }
        };
        // Busy (503) means nothing ran: wait as asked (or back off) and post again, as the policy says.
        let mut retrying = RetryPolicy::XMLA_BUSY.start();
        while let Posted::Busy(asked) = posted {
            let Some(wait) = retrying.next_wait(asked) else { break };
            tracing::info!(what, wait_s = wait.as_secs_f32(), "the xmla endpoint is busy; waiting");
            tokio::time::sleep(wait).await;
            posted = self.post(&target, request, what).await?;
        }
        match posted {
            Posted::Answer(r) => Ok(r),
            Posted::Busy(_) => Err(self.refusal(
                crate::urls::redact_url(&target.url),
                503,
                None,
                b"the endpoint stayed busy",
                what,
            )),
            Posted::Moved => {
                tracing::info!("the cluster moved; resolving it again");
                self.forget_route(catalog);
                let target = self.resolve(catalog, legacy).await?;
                match self.post(&target, request, what).await? {
                    Posted::Answer(r) => Ok(r),
                    Posted::Busy(_) | Posted::Moved => Err(Error::BadAnswer {
                        service: Service::Xmla,
                        what: what.to_owned(),
                        detail: "the cluster moved, and was busy or moved again after".into(),
                    }),
                }
            }
        }
    }

    /// Posts one request to a resolved target and reads the answer; past 10 s it says what it waits for (a backup
    /// of a large model runs for long; its deadline is the command timeout).
    async fn post(&self, target: &Target, request: &Request, what: &str) -> Result<Posted> {
        let waiting = format!("the {what} ({})", adls_store::shown_url(&target.url));
        adls_store::speaking(&waiting, self.post_now(target, request, what)).await
    }

    async fn post_now(&self, target: &Target, request: &Request, what: &str) -> Result<Posted> {
        let mut request = request.clone();
        if let Some(c) = &target.catalog {
            request.set_catalog(Some(c.clone()));
        }
        let body = request.to_xml().map_err(Error::Request)?;
        let mut rb = self
            .http
            .post(target.url.clone())
            .header("SOAPAction", request.soap_action())
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body);
        for (k, v) in &target.headers {
            rb = rb.header(*k, v);
        }
        rb = target.auth.apply(rb);
        let shown = crate::urls::redact_url(&target.url);
        tracing::debug!(url = %shown, what, "sending xmla request");
        let response = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Error::Unreachable {
                    url: shown,
                    reason: crate::urls::error_chain(&e),
                });
            }
            // The request could not be built (a name that an HTTP header cannot carry): it was never sent.
            Err(e) if e.is_builder() => {
                return Err(Error::Usage(format!(
                    "the {what} could not be sent to {shown}: {}; nothing was sent",
                    crate::urls::error_chain(&e)
                )));
            }
            Err(e) => {
                return Err(Error::OutcomeUnknown {
                    url: shown,
                    reason: crate::urls::error_chain(&e),
                    what: what.into(),
                });
            }
        };
        let status = response.status();
        if status.is_redirection() {
            return Ok(Posted::Moved);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_xml = content_type.as_deref().is_some_and(|c| c.contains("xml"));
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && !is_xml {
            return Ok(Posted::Busy(http::retry_after(response.headers())));
        }
        let bytes = response.bytes().await.map_err(|e| Error::OutcomeUnknown {
            url: shown.clone(),
            reason: format!("the answer broke off: {}", crate::urls::error_chain(&e)),
            what: what.into(),
        })?;
        if is_xml && (status.is_success() || status == reqwest::StatusCode::INTERNAL_SERVER_ERROR) {
            return read_answer(content_type.as_deref(), &bytes, what).map(Posted::Answer);
        }
        Err(self.refusal(shown, status.as_u16(), content_type.as_deref(), &bytes, what))
    }

    /// An answer that is not XMLA: the status, the content type and the start of the body, with what it most
    /// likely means.
    fn refusal(
        &self,
        url: String,
        status: u16,
        content_type: Option<&str>,
        bytes: &[u8],
        what: &str,
    ) -> Error {
        let mut message = http::body_preview(bytes);
        if let Some(c) = content_type {
            message = format!("({c}) {message}");
        }
        if String::from_utf8_lossy(bytes).contains("error in xmla in dedicated") {
            message.push_str(
                " (this is what a paused capacity answers: resume the capacity and retry)",
            );
        }
        if status == 401 || status == 403 {
            message.push_str(&format!(
                " (signed in as {}; check that it has a role on the workspace or server)",
                self.tokens.credential().describe()
            ));
        }
        Error::Refused {
            service: Service::Xmla,
            what: format!("the {what}"),
            url: Some(url),
            status: Some(status),
            code: None,
            message,
        }
    }

    async fn resolve(&self, catalog: Option<&str>, legacy: bool) -> Result<Target> {
        match &self.endpoint {
            Endpoint::PowerBi { host, workspace, .. } => {
                let api = match &self.options.urls.powerbi_api {
                    Some(u) => u.clone(),
                    None => Url::parse(&format!("https://{host}/")).map_err(|e| {
                        Error::Usage(format!("invalid power bi host '{host}': {e}"))
                    })?,
                };
                let r = routing::PowerBiRouter {
                    http: &self.http,
                    tokens: &self.tokens,
                    api,
                    routes: &self.options.routes,
                };
                if legacy {
                    r.legacy_target(workspace, catalog).await
                } else if let Some(target) = self.options.routes.get(workspace, catalog) {
                    Ok(target)
                } else {
                    let target = r.mwc_target(workspace, catalog).await?;
                    self.options.routes.put(workspace, catalog, &target);
                    Ok(target)
                }
            }
            Endpoint::Aas { host, server } => {
                let base = match &self.options.urls.aas {
                    Some(u) => u.clone(),
                    None => Url::parse(&format!("https://{host}/")).map_err(|e| {
                        Error::Usage(format!("invalid analysis services host '{host}': {e}"))
                    })?,
                };
                let scope = crate::service::auth::aas_scope(host);
                routing::aas_target(&self.http, &self.tokens, (&base, &scope), server).await
            }
            Endpoint::Http { url } => Ok(Target {
                url: url.clone(),
                auth: self.tokens.header(crate::service::auth::POWERBI_SCOPE).await?,
                headers: vec![("X-Transport-Caps-Negotiation-Flags", "0,0,0,0,0".into())],
                catalog: None,
            }),
        }
    }

    /// Drops the cached route of this client's workspace and `catalog`.
    fn forget_route(&self, catalog: Option<&str>) {
        if let Endpoint::PowerBi { workspace, .. } = &self.endpoint {
            self.options.routes.forget(workspace, catalog);
        }
    }

    /// Workspace routing facts for a Power BI endpoint (id, capacity SKU), as the XMLA routing call reports them.
    pub async fn workspace_info(&self) -> Result<Option<WorkspaceInfo>> {
        let Endpoint::PowerBi { host, workspace, .. } = &self.endpoint else { return Ok(None) };
        let api = match &self.options.urls.powerbi_api {
            Some(u) => u.clone(),
            None => Url::parse(&format!("https://{host}/"))
                .map_err(|e| Error::Usage(format!("invalid power bi host '{host}': {e}")))?,
        };
        let r = routing::PowerBiRouter {
            http: &self.http,
            tokens: &self.tokens,
            api,
            routes: &self.options.routes,
        };
        Ok(Some(r.find_workspace(workspace).await?))
    }
}

/// What a post came back with: an XMLA answer, a cluster that moved, or an endpoint too busy to start anything
/// (HTTP 503 without an XMLA body; with the `Retry-After` it asked for).
enum Posted {
    Answer(xmla_proto::Response),
    Moved,
    Busy(Option<Duration>),
}

/// Reads an XML answer; a content type this client never asks for (compressed or binary XML) is refused.
fn read_answer(
    content_type: Option<&str>,
    bytes: &[u8],
    what: &str,
) -> Result<xmla_proto::Response> {
    if let Some(c) = content_type
        && !c.starts_with("text/xml")
        && !c.starts_with("application/xml")
    {
        return Err(Error::Protocol {
            what: what.into(),
            source: xmla_proto::Error::Unsupported(format!(
                "the content type {c} (compressed or binary xml), which this client never asks for"
            )),
        });
    }
    xmla_proto::parse_response(bytes)
        .map_err(|source| Error::Protocol { what: what.into(), source })
}
