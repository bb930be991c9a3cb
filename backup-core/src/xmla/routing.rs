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

use super::{Target, check_plain_http, error_chain};
use crate::auth::{AAS_SCOPE, AuthHeader, POWERBI_SCOPE, TokenSource};
use crate::error::{Error, Result, body_preview, redact_url};

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

/// Looks a key up case-insensitively, logging fields we do not know at debug level.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn str_field(obj: &Map<String, Value>, name: &str) -> Option<String> {
    field(obj, name).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn log_unknown(what: &str, obj: &Map<String, Value>, known: &[&str]) {
    for k in obj.keys() {
        if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            tracing::debug!(call = what, field = %k, "ignoring an unknown field");
        }
    }
}

/// Sends a routing call and returns its JSON, or an error that names the call, the status and what came back.
async fn call_json(rb: reqwest::RequestBuilder, what: &str, url: &Url) -> Result<(u16, Value)> {
    let shown = redact_url(url);
    let response = rb.timeout(ROUTING_TIMEOUT).send().await.map_err(|e| Error::Unreachable {
        url: shown.clone(),
        reason: format!("{what}: {}", error_chain(&e)),
    })?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Routing(format!("{what} at {shown}: {}", error_chain(&e))))?;
    let value = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = value
            .get("error")
            .and_then(|e| e.as_object())
            .and_then(|e| str_field(e, "code"))
            .or_else(|| value.as_object().and_then(|o| str_field(o, "code")));
        let message = value
            .get("error")
            .and_then(|e| e.as_object())
            .and_then(|e| str_field(e, "message"))
            .unwrap_or_else(|| body_preview(&bytes));
        if status == 401 {
            // Its own variant, so that the client can sign in again and retry.
            return Err(Error::Http { url: shown, status, content_type: None, body: message });
        }
        return Err(Error::Routing(match code {
            Some(code) => format!("{what} failed at {shown}: HTTP {status} {code}: {message}"),
            None => format!("{what} failed at {shown}: HTTP {status}: {message}"),
        }));
    }
    if value.is_null() && !bytes.is_empty() {
        return Err(Error::Routing(format!(
            "{what} at {shown} did not answer json: {}",
            body_preview(&bytes)
        )));
    }
    Ok((status, value))
}

pub(crate) struct PowerBiRouter<'a> {
    pub http: &'a reqwest::Client,
    pub tokens: &'a TokenSource,
    pub api: Url,
}

impl PowerBiRouter<'_> {
    fn url(&self, path: &str) -> Result<Url> {
        self.api.join(path).map_err(|e| Error::Config(format!("invalid power bi api url: {e}")))
    }

    async fn bearer(&self) -> Result<SecretString> {
        self.tokens.token(POWERBI_SCOPE).await
    }

    /// The routing call: the workspace by name (or by `<name> - <id>` for duplicate names).
    pub(crate) async fn find_workspace(&self, name: &str) -> Result<WorkspaceInfo> {
        let token = self.bearer().await?;
        let mut url = self.url("powerbi/databases/v201606/workspaces?PreferClientRouting=true")?;
        let rb = self.http.get(url.clone()).bearer_auth(token.expose_secret());
        let value = match call_json(rb, "workspace routing", &url).await {
            Ok((_, v)) => v,
            // ADOMD retries without the query only after a 404.
            Err(Error::Routing(m)) if m.contains("HTTP 404") => {
                url = self.url("powerbi/databases/v201606/workspaces")?;
                let rb = self.http.get(url.clone()).bearer_auth(token.expose_secret());
                call_json(rb, "workspace routing", &url).await?.1
            }
            Err(e) => return Err(e),
        };
        let list = value.as_array().ok_or_else(|| {
            Error::Routing(format!("workspace routing did not answer a json array: {value}"))
        })?;
        let mut all = Vec::new();
        for w in list.iter().filter_map(Value::as_object) {
            log_unknown(
                "workspace routing",
                w,
                &["id", "name", "type", "capacitySku", "capacityUri", "capacityObjectId"],
            );
            let capacity_uri = str_field(w, "capacityUri");
            let capacity_id = str_field(w, "capacityObjectId")
                .or_else(|| capacity_uri.as_deref().and_then(first_path_segment));
            all.push(WorkspaceInfo {
                id: str_field(w, "id").unwrap_or_default(),
                name: str_field(w, "name").unwrap_or_default(),
                kind: str_field(w, "type").unwrap_or_else(|| "Group".into()),
                capacity_sku: str_field(w, "capacitySku").unwrap_or_default(),
                capacity_id,
                capacity_uri,
            });
        }
        // "<name> - <workspace GUID>" addresses one of several workspaces with the same name.
        let by_id = name.rsplit_once(" - ").and_then(|(n, id)| {
            all.iter().find(|w| w.id.eq_ignore_ascii_case(id.trim()) && w.name == n).cloned()
        });
        if let Some(w) = by_id {
            return check_workspace(w);
        }
        let matches: Vec<&WorkspaceInfo> = all.iter().filter(|w| w.name == name).collect();
        match matches.as_slice() {
            [one] => check_workspace((*one).clone()),
            [] => {
                let lower = name.to_lowercase();
                let mut near: Vec<&str> = all
                    .iter()
                    .map(|w| w.name.as_str())
                    .filter(|n| {
                        let l = n.to_lowercase();
                        l.contains(&lower) || lower.contains(&l) || l == lower
                    })
                    .collect();
                near.truncate(5);
                let hint = if near.is_empty() {
                    "check the name and that the caller has a role on the workspace".to_owned()
                } else {
                    format!(
                        "did you mean {}?",
                        near.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
                    )
                };
                Err(Error::Routing(format!(
                    "workspace '{name}' not found (WorkspaceNotFound); {hint}"
                )))
            }
            many => Err(Error::Routing(format!(
                "{} workspaces are named '{name}' (WorkspaceNameDuplicated); address one as '{name} - <workspace id>': {}",
                many.len(),
                many.iter().map(|w| w.id.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The modern path: routing, database name, cluster resolution, MWC token, then `/webapi/xmla`.
    pub(crate) async fn mwc_target(
        &self,
        workspace: &str,
        catalog: Option<&str>,
    ) -> Result<Target> {
        let ws = self.find_workspace(workspace).await?;
        let capacity_id = ws.capacity_id.clone().ok_or_else(|| {
            Error::Routing(format!("workspace '{}' has no capacity in the routing answer", ws.name))
        })?;
        let token = self.bearer().await?;
        // Cluster resolution goes to the host of capacityUri when it is a URL, else to the API host.
        let resolve_base = ws
            .capacity_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| u.has_host())
            .unwrap_or_else(|| self.api.clone());
        let resolve_url = resolve_base
            .join("/webapi/clusterResolve")
            .map_err(|e| Error::Config(format!("invalid capacity url: {e}")))?;
        check_plain_http(&resolve_url)?;
        let body = json!({"serverName": capacity_id, "databaseName": null, "premiumPublicXmlaEndpoint": true});
        let rb = self.http.post(resolve_url.clone()).json(&body);
        let (_, cluster) = call_json(rb, "cluster resolution", &resolve_url).await?;
        let cluster = cluster.as_object().cloned().unwrap_or_default();
        log_unknown("cluster resolution", &cluster, &["clusterFQDN", "coreServerName", "tenantId"]);
        let fqdn = str_field(&cluster, "clusterFQDN")
            .ok_or_else(|| Error::Routing("cluster resolution answered no clusterFQDN".into()))?;
        let core = str_field(&cluster, "coreServerName").unwrap_or_default();

        let token_url = self.url("metadata/v201606/generateastoken?PreferClientRouting=true")?;
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
        // It may answer 307 with a Location; follow up to three.
        let mut url = token_url;
        let mwc = 'redirects: {
            for _ in 0..4 {
                let response = self
                    .http
                    .post(url.clone())
                    .bearer_auth(token.expose_secret())
                    .json(&body)
                    .timeout(ROUTING_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| Error::Unreachable {
                        url: redact_url(&url),
                        reason: error_chain(&e),
                    })?;
                if response.status().is_redirection()
                    && let Some(loc) = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                {
                    url = url.join(loc).map_err(|e| {
                        Error::Routing(format!("bad redirect from token exchange: {e}"))
                    })?;
                    check_plain_http(&url)?;
                    continue;
                }
                let status = response.status().as_u16();
                let bytes = response.bytes().await.map_err(|e| Error::Routing(error_chain(&e)))?;
                let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if !(200..300).contains(&status) {
                    return Err(Error::Routing(format!(
                        "token exchange for workspace '{}' failed: HTTP {status}: {}",
                        ws.name,
                        body_preview(&bytes)
                    )));
                }
                let obj = value.as_object().cloned().unwrap_or_default();
                log_unknown("token exchange", &obj, &["Token"]);
                break 'redirects str_field(&obj, "Token")
                    .ok_or_else(|| Error::Routing("token exchange answered no Token".into()))?;
            }
            return Err(Error::Routing("token exchange redirected more than three times".into()));
        };

        let scheme = if self.api.scheme() == "http" { "http" } else { "https" };
        let xmla = Url::parse(&format!("{scheme}://{fqdn}/webapi/xmla")).map_err(|e| {
            Error::Routing(format!("cluster resolution answered an unusable host '{fqdn}': {e}"))
        })?;
        check_plain_http(&xmla)?;
        let mut headers = vec![
            ("x-ms-xmlaserver", core),
            ("x-ms-xmlacaps-negotiation-flags", PLAIN_FLAGS.to_owned()),
            ("x-ms-xmlaintendedusage", "0".to_owned()),
            ("x-ms-xmlaworkspaceobjectid", ws.id.clone()),
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

    /// The legacy path: the tenant's fixed cluster and the `sobe_wowvirtualserver` database naming.
    pub(crate) async fn legacy_target(
        &self,
        workspace: &str,
        catalog: Option<&str>,
    ) -> Result<Target> {
        let ws = self.find_workspace(workspace).await?;
        let token = self.bearer().await?;
        let database_id = match catalog {
            Some(dataset) => {
                let url = self.url(&format!(
                    "powerbi/databases/v201606/workspaces/{}/getDatabaseName",
                    ws.id
                ))?;
                let body = json!({"datasetName": dataset, "workspaceType": ws.kind});
                let rb = self.http.post(url.clone()).bearer_auth(token.expose_secret()).json(&body);
                let (_, v) = call_json(rb, "database name lookup", &url).await?;
                let id = v.as_array().and_then(|a| {
                    a.iter().filter_map(Value::as_object).find_map(|o| str_field(o, "databaseName"))
                });
                Some(id.ok_or_else(|| {
                    Error::Routing(format!(
                        "dataset '{dataset}' not found in workspace '{}'",
                        ws.name
                    ))
                })?)
            }
            None => None,
        };
        let url = self.url("spglobalservice/GetOrInsertClusterUrisByTenantLocation")?;
        let rb = self
            .http
            .put(url.clone())
            .bearer_auth(token.expose_secret())
            .header("Content-Length", "0");
        let (_, v) = call_json(rb, "cluster lookup", &url).await?;
        let fixed = v
            .as_object()
            .and_then(|o| str_field(o, "FixedClusterUri"))
            .ok_or_else(|| Error::Routing("cluster lookup answered no FixedClusterUri".into()))?;
        let mut xmla = Url::parse(&fixed)
            .and_then(|u| u.join("xmla"))
            .map_err(|e| Error::Routing(format!("cluster lookup answered an unusable uri: {e}")))?;
        check_plain_http(&xmla)?;
        xmla.query_pairs_mut().append_pair("vs", "sobe_wowvirtualserver");
        if let Some(id) = &database_id {
            xmla.query_pairs_mut().append_pair("db", id);
        }
        Ok(Target {
            url: xmla,
            auth: AuthHeader::Bearer(token),
            headers: vec![("x-ms-xmlacaps-negotiation-flags", PLAIN_FLAGS.to_owned())],
            catalog: database_id.map(|id| format!("sobe_wowvirtualserver-{id}")),
        })
    }
}

/// Refuses My workspace and workspaces not on Premium/PPU, as ADOMD does (`WorkspaceNotOnPbiPremium`).
fn check_workspace(ws: WorkspaceInfo) -> Result<WorkspaceInfo> {
    if ws.kind.eq_ignore_ascii_case("User") {
        return Err(Error::Routing(format!(
            "'{}' is a My workspace, which the XMLA endpoint does not serve; move the model to a workspace on a Premium or PPU capacity",
            ws.name
        )));
    }
    if !ws.capacity_sku.eq_ignore_ascii_case("Premium") {
        return Err(Error::Routing(format!(
            "workspace '{}' is not on a Premium or PPU capacity (capacitySku '{}', WorkspaceNotOnPbiPremium); backup and restore need one: assign the workspace to a Premium capacity or PPU",
            ws.name, ws.capacity_sku
        )));
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
/// bearer token for `https://*.asazure.windows.net`.
pub(crate) async fn aas_target(
    http: &reqwest::Client,
    tokens: &TokenSource,
    base: &Url,
    server: &str,
) -> Result<Target> {
    let url = base
        .join("/webapi/clusterResolve")
        .map_err(|e| Error::Config(format!("invalid aas url: {e}")))?;
    check_plain_http(&url)?;
    let json_try = call_json(
        http.post(url.clone()).json(&json!({"serverName": server})),
        "cluster resolution",
        &url,
    )
    .await;
    let value = match json_try {
        Ok((_, v)) => v,
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
            call_json(rb, "cluster resolution", &url).await?.1
        }
    };
    let obj = value.as_object().cloned().unwrap_or_default();
    log_unknown("aas cluster resolution", &obj, &["clusterFQDN", "coreServerName", "tenantId"]);
    let fqdn = str_field(&obj, "clusterFQDN").ok_or_else(|| {
        Error::Routing(format!("cluster resolution for server '{server}' answered no clusterFQDN"))
    })?;
    let core = str_field(&obj, "coreServerName").unwrap_or_else(|| server.to_owned());
    let scheme = if base.scheme() == "http" { "http" } else { "https" };
    let xmla = Url::parse(&format!("{scheme}://{fqdn}/webapi/xmla")).map_err(|e| {
        Error::Routing(format!("cluster resolution answered an unusable host '{fqdn}': {e}"))
    })?;
    check_plain_http(&xmla)?;
    Ok(Target {
        url: xmla,
        auth: tokens.header(AAS_SCOPE).await?,
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
