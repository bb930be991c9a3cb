//! The HTTP calls before XMLA: Power BI workspace routing, token exchange and cluster resolution, and Azure Analysis
//! Services cluster resolution.
//!
//! All of it is undocumented by Microsoft and follows the third-party readings in the protocol reference (§5.2,
//! §5.3). Every JSON field is optional, unknown fields are ignored (and logged at debug level), and names are
//! matched case-insensitively.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use url::Url;

use super::Target;
use crate::error::{Error, Result, Service};
use crate::service::auth::{AuthHeader, POWERBI_SCOPE, TokenSource};
use crate::service::http::{self, str_field};
use crate::urls::check_plain_http;

/// Routing calls are short; a hung one is an error, not a wait.
const ROUTING_TIMEOUT: Duration = Duration::from_secs(60);
/// Negotiation flags: plain XML, no compression, no binary XML.
const PLAIN_FLAGS: &str = "0,0,0,0,0";

/// A workspace as the XMLA routing call lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInfo {
    /// Workspace object id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `Group`, `User` (My workspace) or `Folder`.
    pub kind: String,
    /// `Premium` or `Shared`.
    pub capacity_sku: String,
    /// Capacity object id, when on a capacity.
    pub capacity_id: Option<String>,
    /// `capacityUri` as sent.
    pub capacity_uri: Option<String>,
}

fn log_unknown(what: &str, obj: &Map<String, Value>, known: &[&str]) {
    for k in obj.keys() {
        if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            tracing::debug!(call = what, field = %k, "ignoring an unknown field");
        }
    }
}

/// Sends a routing call and returns its JSON; a refusal names the call, the status and the service's code.
async fn call_json(
    rb: reqwest::RequestBuilder,
    service: Service,
    what: &str,
    url: &Url,
) -> Result<Value> {
    let body = http::fetch_patiently(rb.timeout(ROUTING_TIMEOUT), service, what, url)
        .await?
        .ok(service, what, url)?;
    let value = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    if value.is_null() && !body.is_empty() {
        return Err(bad_answer(service, what, format!("not json: {}", http::body_preview(&body))));
    }
    Ok(value)
}

fn bad_answer(service: Service, what: &str, detail: impl Into<String>) -> Error {
    Error::BadAnswer { service, what: what.to_owned(), detail: detail.into() }
}

pub(crate) struct PowerBiRouter<'a> {
    pub http: &'a reqwest::Client,
    pub tokens: &'a TokenSource,
    pub api: Url,
    /// What this run resolved already.
    pub routes: &'a super::RouteCache,
}

impl PowerBiRouter<'_> {
    fn url(&self, path: &str) -> Result<Url> {
        self.api.join(path).map_err(|e| Error::Usage(format!("invalid power bi api url: {e}")))
    }

    async fn bearer(&self) -> Result<SecretString> {
        self.tokens.token(POWERBI_SCOPE).await
    }

    /// The routing call: the workspace by name (or by `<name> - <id>` for duplicate names).
    ///
    /// The list is kept for the run ([`super::RouteCache`]); a name not in a kept list asks again (a workspace made
    /// since).
    pub(crate) async fn find_workspace(&self, name: &str) -> Result<WorkspaceInfo> {
        if let Some(all) = self.routes.workspaces()
            && let Ok(ws) = crate::names::find_one(&all, name, "workspace", |w| {
                (w.name.as_str(), w.id.as_str())
            })
        {
            return check_workspace(ws.clone());
        }
        const WHAT: &str = "workspace routing";
        let token = self.bearer().await?;
        let url = self.url("powerbi/databases/v201606/workspaces?PreferClientRouting=true")?;
        let rb = self.http.get(url.clone()).bearer_auth(token.expose_secret());
        let value = match call_json(rb, Service::XmlaRouting, WHAT, &url).await {
            Ok(v) => v,
            // ADOMD retries without the query only after a 404.
            Err(Error::Refused { status: Some(404), .. }) => {
                let url = self.url("powerbi/databases/v201606/workspaces")?;
                let rb = self.http.get(url.clone()).bearer_auth(token.expose_secret());
                call_json(rb, Service::XmlaRouting, WHAT, &url).await?
            }
            Err(e) => return Err(e),
        };
        let list = value.as_array().ok_or_else(|| {
            bad_answer(Service::XmlaRouting, WHAT, format!("not a json array: {value}"))
        })?;
        let all: Vec<WorkspaceInfo> =
            list.iter().filter_map(Value::as_object).map(workspace_info).collect();
        self.routes.put_workspaces(&all);
        let ws =
            crate::names::find_one(&all, name, "workspace", |w| (w.name.as_str(), w.id.as_str()))?;
        check_workspace(ws.clone())
    }

    /// The modern path, in ADOMD.NET's order (fabric-emulator's recording of the real client,
    /// `internal/api/xmla.go`): workspace routing, the token exchange, `getDatabaseName` when a dataset is named
    /// (pbi_scanner calls it on every connection too), cluster resolution, then `/webapi/xmla`.
    ///
    /// Headers: `x-ms-xmlaworkspaceobjectid` is not sent here. pbi_scanner (`src/powerbi_resolver.cpp`) sends it only
    /// with the Bearer scheme of the legacy path, and our protocol notes list it only among the optional headers that
    /// client mirrors from ADOMD; where the two readings differ we follow the client seen working against the
    /// service. The User-Agent is pbi-backup's own ([`crate::service::http`]), not ADOMD's `ASClient/.NET-Core`: the service
    /// is not known to require the latter, and a service log should show which tool called.
    pub(crate) async fn mwc_target(
        &self,
        workspace: &str,
        catalog: Option<&str>,
    ) -> Result<Target> {
        let ws = self.find_workspace(workspace).await?;
        let capacity_id = ws.capacity_id.clone().ok_or_else(|| {
            bad_answer(
                Service::XmlaRouting,
                "workspace routing",
                format!("workspace '{}' has no capacity in the routing answer", ws.name),
            )
        })?;
        let mwc = self.exchange_token(&ws, &capacity_id, catalog).await?;
        if let Some(dataset) = catalog
            && !self.routes.was_listed(workspace, dataset)
        {
            // The answer (the database id) is not needed on this path, whose catalog is the dataset's name; an
            // empty one means the dataset is not there, said before anything else is sent. A dataset the REST API
            // listed in this run is known to be there.
            let id = self.database_name(&ws, dataset, &self.bearer().await?).await?;
            tracing::debug!(dataset, database_id = %id, "dataset found");
        }
        let (fqdn, core) = match self.routes.cluster(&capacity_id) {
            Some(cluster) => cluster,
            None => {
                let cluster = self.resolve_cluster(&ws, &capacity_id).await?;
                self.routes.put_cluster(&capacity_id, &cluster);
                cluster
            }
        };
        let xmla = xmla_url(&self.api, &fqdn, Service::XmlaRouting)?;
        let mut headers = vec![
            ("x-ms-xmlaserver", core),
            ("x-ms-xmlacaps-negotiation-flags", PLAIN_FLAGS.to_owned()),
            ("x-ms-xmlaintendedusage", "0".to_owned()),
        ];
        if let Some(c) = catalog {
            headers.push(("x-ms-xmladatabase", c.to_owned()));
        }
        Ok(Target {
            url: xmla,
            auth: AuthHeader::Mwc(SecretString::from(mwc)),
            headers,
            catalog: catalog.map(str::to_owned),
        })
    }

    /// Cluster resolution for a capacity: its FQDN and core server name. It goes to the host of `capacityUri` when
    /// that is a URL, else to the API host.
    async fn resolve_cluster(
        &self,
        ws: &WorkspaceInfo,
        capacity_id: &str,
    ) -> Result<(String, String)> {
        const WHAT: &str = "cluster resolution";
        let resolve_base = ws
            .capacity_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| u.has_host())
            .unwrap_or_else(|| self.api.clone());
        let url = resolve_base.join("/webapi/clusterResolve").map_err(|e| {
            bad_answer(Service::XmlaRouting, WHAT, format!("invalid capacity url: {e}"))
        })?;
        check_plain_http(&url)?;
        let body = json!({"serverName": capacity_id, "databaseName": null, "premiumPublicXmlaEndpoint": true});
        let rb = self.http.post(url.clone()).json(&body);
        let cluster = call_json(rb, Service::XmlaRouting, WHAT, &url).await?;
        let cluster = cluster.as_object().cloned().unwrap_or_default();
        log_unknown(WHAT, &cluster, &["clusterFQDN", "coreServerName", "tenantId"]);
        let fqdn = str_field(&cluster, "clusterFQDN")
            .ok_or_else(|| bad_answer(Service::XmlaRouting, WHAT, "no clusterFQDN"))?;
        Ok((fqdn, str_field(&cluster, "coreServerName").unwrap_or_default()))
    }

    /// The token exchange (`generateastoken`): an MWC token for the workspace and dataset. It may answer 307 with a
    /// Location; up to three are followed.
    async fn exchange_token(
        &self,
        ws: &WorkspaceInfo,
        capacity_id: &str,
        catalog: Option<&str>,
    ) -> Result<String> {
        let what = format!("the token exchange for workspace '{}'", ws.name);
        let token = self.bearer().await?;
        let body = json!({
            "applyAuxiliaryPermission": false,
            "auxiliaryPermissionOwner": null,
            "bypassBuildPermission": false,
            "capacityObjectId": capacity_id,
            "datasetName": catalog,
            "intendedUsage": 0,
            "sourceCapacityObjectId": null,
            "workspaceObjectId": ws.id,
        });
        let mut url = self.url("metadata/v201606/generateastoken?PreferClientRouting=true")?;
        for _ in 0..4 {
            let rb = self
                .http
                .post(url.clone())
                .bearer_auth(token.expose_secret())
                .json(&body)
                .timeout(ROUTING_TIMEOUT);
            let answer = http::fetch(rb, Service::XmlaRouting, &what, &url).await?;
            if answer.status.is_redirection()
                && let Some(loc) =
                    answer.headers.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok())
            {
                url = url.join(loc).map_err(|e| {
                    bad_answer(Service::XmlaRouting, &what, format!("a redirect to a bad url: {e}"))
                })?;
                check_plain_http(&url)?;
                continue;
            }
            let body = answer.ok(Service::XmlaRouting, &what, &url)?;
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let obj = value.as_object().cloned().unwrap_or_default();
            log_unknown("token exchange", &obj, &["Token"]);
            return str_field(&obj, "Token")
                .ok_or_else(|| bad_answer(Service::XmlaRouting, &what, "no Token"));
        }
        Err(bad_answer(Service::XmlaRouting, &what, "redirected more than three times"))
    }

    /// The legacy path: the tenant's fixed cluster and the `sobe_wowvirtualserver` database naming.
    pub(crate) async fn legacy_target(
        &self,
        workspace: &str,
        catalog: Option<&str>,
    ) -> Result<Target> {
        let ws = self.find_workspace(workspace).await?;
        let token = self.bearer().await?;
        let database_id = match catalog {
            Some(dataset) => Some(self.database_name(&ws, dataset, &token).await?),
            None => None,
        };
        const WHAT: &str = "the cluster lookup";
        let url = self.url("spglobalservice/GetOrInsertClusterUrisByTenantLocation")?;
        let rb = self
            .http
            .put(url.clone())
            .bearer_auth(token.expose_secret())
            .header("Content-Length", "0");
        let v = call_json(rb, Service::XmlaRouting, WHAT, &url).await?;
        let fixed = v
            .as_object()
            .and_then(|o| str_field(o, "FixedClusterUri"))
            .ok_or_else(|| bad_answer(Service::XmlaRouting, WHAT, "no FixedClusterUri"))?;
        let mut xmla = Url::parse(&fixed)
            .and_then(|u| u.join("xmla"))
            .map_err(|e| bad_answer(Service::XmlaRouting, WHAT, format!("an unusable uri: {e}")))?;
        check_plain_http(&xmla)?;
        xmla.query_pairs_mut().append_pair("vs", "sobe_wowvirtualserver");
        if let Some(id) = &database_id {
            xmla.query_pairs_mut().append_pair("db", id);
        }
        Ok(Target {
            url: xmla,
            auth: AuthHeader::Bearer(token),
            // pbi_scanner sends the workspace id with the Bearer scheme only, as here.
            headers: vec![
                ("x-ms-xmlacaps-negotiation-flags", PLAIN_FLAGS.to_owned()),
                ("x-ms-xmlaworkspaceobjectid", ws.id.clone()),
            ],
            catalog: database_id.map(|id| format!("sobe_wowvirtualserver-{id}")),
        })
    }

    /// `getDatabaseName`: the database id of a dataset (the legacy path's catalog).
    async fn database_name(
        &self,
        ws: &WorkspaceInfo,
        dataset: &str,
        token: &SecretString,
    ) -> Result<String> {
        const WHAT: &str = "the database name lookup";
        let url =
            self.url(&format!("powerbi/databases/v201606/workspaces/{}/getDatabaseName", ws.id))?;
        let body = json!({"datasetName": dataset, "workspaceType": ws.kind});
        let rb = self.http.post(url.clone()).bearer_auth(token.expose_secret()).json(&body);
        let v = call_json(rb, Service::XmlaRouting, WHAT, &url).await?;
        let id = v.as_array().and_then(|a| {
            a.iter().filter_map(Value::as_object).find_map(|o| str_field(o, "databaseName"))
        });
        id.ok_or_else(|| Error::NotFound {
            what: "dataset",
            name: format!("{dataset} in workspace {}", ws.name),
            nearest: Vec::new(),
        })
    }
}

/// A workspace as the routing call lists it.
fn workspace_info(w: &Map<String, Value>) -> WorkspaceInfo {
    log_unknown(
        "workspace routing",
        w,
        &["id", "name", "type", "capacitySku", "capacityUri", "capacityObjectId"],
    );
    let capacity_uri = str_field(w, "capacityUri");
    let capacity_id = str_field(w, "capacityObjectId")
        .or_else(|| capacity_uri.as_deref().and_then(first_path_segment));
    WorkspaceInfo {
        id: str_field(w, "id").unwrap_or_default(),
        name: str_field(w, "name").unwrap_or_default(),
        kind: str_field(w, "type").unwrap_or_else(|| "Group".into()),
        capacity_sku: str_field(w, "capacitySku").unwrap_or_default(),
        capacity_id,
        capacity_uri,
    }
}

/// `/webapi/xmla` on a resolved cluster, in the scheme of the base the routing went to.
fn xmla_url(base: &Url, fqdn: &str, service: Service) -> Result<Url> {
    let scheme = if base.scheme() == "http" { "http" } else { "https" };
    let xmla = Url::parse(&format!("{scheme}://{fqdn}/webapi/xmla")).map_err(|e| {
        bad_answer(service, "cluster resolution", format!("an unusable host '{fqdn}': {e}"))
    })?;
    check_plain_http(&xmla)?;
    Ok(xmla)
}

/// Refuses My workspace and workspaces not on Premium/PPU, as ADOMD does (`WorkspaceNotOnPbiPremium`).
fn check_workspace(ws: WorkspaceInfo) -> Result<WorkspaceInfo> {
    let refused = |code: &str, message: String| Error::Refused {
        service: Service::XmlaRouting,
        what: format!("workspace '{}'", ws.name),
        url: None,
        status: None,
        code: Some(code.to_owned()),
        message,
    };
    if ws.kind.eq_ignore_ascii_case("User") {
        return Err(refused(
            "PersonalWorkspace",
            "a My workspace is not served by the XMLA endpoint; move the model to a workspace on a Premium or PPU capacity".into(),
        ));
    }
    if !ws.capacity_sku.eq_ignore_ascii_case("Premium") {
        return Err(refused(
            "WorkspaceNotOnPbiPremium",
            format!(
                "the workspace is not on a Premium or PPU capacity (capacitySku '{}'); backup and restore need one: assign the workspace to a Premium capacity or PPU",
                ws.capacity_sku
            ),
        ));
    }
    Ok(ws)
}

/// The capacity object id is the first path segment of `capacityUri`, which may be a URL or a bare path.
fn first_path_segment(uri: &str) -> Option<String> {
    let path = match Url::parse(uri) {
        Ok(u) if u.has_host() => u.path().to_owned(),
        _ => uri.to_owned(),
    };
    path.split('/').find(|s| !s.is_empty()).map(str::to_owned)
}

/// Azure Analysis Services: cluster resolution (JSON body first, then the form body of the official cmdlet), then a
/// bearer token for `scope` (`https://*.asazure.windows.net` in the public cloud: [`crate::service::auth::aas_scope`]).
pub(crate) async fn aas_target(
    http: &reqwest::Client,
    tokens: &TokenSource,
    (base, scope): (&Url, &str),
    server: &str,
) -> Result<Target> {
    const WHAT: &str = "cluster resolution";
    let url = base
        .join("/webapi/clusterResolve")
        .map_err(|e| Error::Usage(format!("invalid analysis services url: {e}")))?;
    check_plain_http(&url)?;
    let json_try = call_json(
        http.post(url.clone()).json(&json!({"serverName": server})),
        Service::AasRouting,
        WHAT,
        &url,
    )
    .await;
    let value = match json_try {
        Ok(v) => v,
        Err(first) => {
            tracing::debug!(error = %first, "json cluster resolution failed; trying the form body");
            let rb = http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(format!(
                    "ServerName={}",
                    percent_encoding::utf8_percent_encode(
                        server,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ));
            call_json(rb, Service::AasRouting, WHAT, &url).await?
        }
    };
    let obj = value.as_object().cloned().unwrap_or_default();
    log_unknown("aas cluster resolution", &obj, &["clusterFQDN", "coreServerName", "tenantId"]);
    let fqdn = str_field(&obj, "clusterFQDN").ok_or_else(|| {
        bad_answer(Service::AasRouting, WHAT, format!("no clusterFQDN for server '{server}'"))
    })?;
    let core = str_field(&obj, "coreServerName").unwrap_or_else(|| server.to_owned());
    let xmla = xmla_url(base, &fqdn, Service::AasRouting)?;
    Ok(Target {
        url: xmla,
        auth: tokens.header(scope).await?,
        headers: vec![
            ("x-ms-xmlaserver", core),
            ("x-ms-xmlacaps-negotiation-flags", PLAIN_FLAGS.to_owned()),
        ],
        catalog: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_id_from_uri_forms() {
        assert_eq!(first_path_segment("https://h.example/1111-22/").as_deref(), Some("1111-22"));
        assert_eq!(first_path_segment("1111-22/").as_deref(), Some("1111-22"));
        assert_eq!(first_path_segment("/1111-22").as_deref(), Some("1111-22"));
        assert_eq!(first_path_segment(""), None);
    }
}
