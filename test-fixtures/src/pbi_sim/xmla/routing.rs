//! The XMLA routing calls: workspace routing, `getDatabaseName`, `clusterResolve`, `generateastoken` and the legacy
//! cluster lookup, which tell a client where an XMLA endpoint is and give it a token for it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::pbi_sim::Shared;
use crate::pbi_sim::auth::Audience;
use crate::pbi_sim::rest::api_error;

fn capacity_uri(shared: &Shared, capacity_id: &str) -> String {
    format!("{}/{capacity_id}/", shared.base_url)
}

pub(super) async fn routing_workspaces(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let state = shared.state.lock().expect("poisoned");
    let list: Vec<Value> = state
        .workspaces
        .iter()
        .filter(|w| state.role(&grant.principal, &w.id).is_some())
        .map(|w| {
            let cap = w.capacity_id.as_deref().and_then(|c| state.capacity(c));
            let premium = cap.is_some_and(|c| c.is_premium());
            let mut v = json!({
                "id": w.id,
                "name": w.name,
                "type": "Group",
                "capacitySku": if premium { "Premium" } else { "Shared" },
            });
            if let Some(c) = cap.filter(|_| premium) {
                v["capacityUri"] = json!(capacity_uri(&shared, &c.id));
                v["capacityObjectId"] = json!(c.id);
            }
            v
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

pub(super) async fn get_database_name(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let state = shared.state.lock().expect("poisoned");
    let Some(ws) = state.workspace(&id).filter(|w| state.role(&grant.principal, &w.id).is_some())
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "WorkspaceNotFound",
            &format!("workspace {id} not found"),
        );
    };
    let name = body.get("datasetName").and_then(Value::as_str).unwrap_or_default();
    let list: Vec<Value> = state
        .models
        .iter()
        .filter(|m| m.owner == ws.id && m.name == name)
        .map(|m| json!({"datasetName": m.name, "databaseName": m.id}))
        .collect();
    Json(Value::Array(list)).into_response()
}

/// Accepts the JSON body (ADOMD, pbi_scanner, datahub) and the form body (the official AAS cmdlet).
pub(super) async fn cluster_resolve(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let server = if is_form {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k.eq_ignore_ascii_case("ServerName"))
            .map(|(_, v)| v.into_owned())
    } else {
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v.as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("serverName"))?
                .1
                .as_str()
                .map(str::to_owned)
        })
    };
    let Some(server) = server else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidRequest", "serverName is required");
    };
    let server = server.trim_end_matches('/').to_owned();
    let state = shared.state.lock().expect("poisoned");
    let host = shared.base_url.trim_start_matches("http://").to_owned();
    if let Some(c) = state.capacity(&server) {
        return Json(json!({"clusterFQDN": host, "coreServerName": format!("pbisim-{}", c.id), "tenantId": state.tenant_id}))
            .into_response();
    }
    if state.aas_servers.iter().any(|a| a.name == server) {
        return Json(json!({"clusterFQDN": host, "coreServerName": format!("{server}:rw"), "tenantId": state.tenant_id}))
            .into_response();
    }
    api_error(StatusCode::NOT_FOUND, "ServerNotFound", &format!("no capacity or server '{server}'"))
}

pub(super) async fn generate_as_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let ws_id =
        body.get("workspaceObjectId").and_then(Value::as_str).unwrap_or_default().to_owned();
    let lifetime = {
        let state = shared.state.lock().expect("poisoned");
        let Some(ws) = state.workspace(&ws_id) else {
            return api_error(
                StatusCode::NOT_FOUND,
                "WorkspaceNotFound",
                &format!("workspace {ws_id} not found"),
            );
        };
        if state.role(&grant.principal, &ws.id).is_none() {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "PowerBINotAuthorizedException",
                "the caller has no role in this workspace",
            );
        }
        if !ws
            .capacity_id
            .as_deref()
            .and_then(|c| state.capacity(c))
            .is_some_and(|c| c.is_premium())
        {
            return api_error(
                StatusCode::BAD_REQUEST,
                "WorkspaceNotOnPbiPremium",
                "the workspace is not on a Premium capacity",
            );
        }
        state.token_lifetime_seconds
    };
    let token = shared.tokens.issue_mwc(&grant.principal, &ws_id, Duration::from_secs(lifetime));
    Json(json!({"Token": token})).into_response()
}

/// The name of the tenant's home cluster, as the service names its clusters in host names seen in public code and
/// docs (`wabi-north-europe-redirect`, `wabi-us-east2-b-primary-redirect`, `wabi-south-east-asia-c-primary-redirect`,
/// `wabi-west-us3-a-primary-redirect`, `wabi-india-west-a-primary-redirect`). Regions those examples do not cover
/// are spelled by their words, hyphenated: the simulator's own guess.
fn cluster_label(region: &str) -> String {
    let key: String =
        region.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let known = match key.as_str() {
        "northeurope" => "north-europe",
        "westeurope" => "west-europe",
        "uksouth" => "uk-south",
        "eastus" => "us-east",
        "eastus2" => "us-east2",
        "northcentralus" => "us-north-central",
        "centralus" => "us-central",
        "westus3" => "west-us3",
        "southeastasia" => "south-east-asia",
        "brazilsouth" => "brazil-south",
        "koreacentral" => "korea-central",
        "westindia" => "india-west",
        _ => "",
    };
    if known.is_empty() {
        region.split_whitespace().map(str::to_ascii_lowercase).collect::<Vec<_>>().join("-")
    } else {
        known.to_owned()
    }
}

/// `GET /powerbi/globalservice/v201606/clusterdetails`: the tenant's home cluster (`{"clusterUrl": …}`, the one field
/// public clients read), named after the scenario's home region. Never dialled: the simulator's own address is
/// what `GetOrInsertClusterUrisByTenantLocation` gives, for the legacy XMLA door.
pub(super) async fn cluster_details(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        return r;
    }
    let home = shared.state.lock().expect("poisoned").home_region.clone();
    let url =
        format!("https://wabi-{}-b-primary-redirect.analysis.windows.net", cluster_label(&home));
    Json(json!({ "clusterUrl": url })).into_response()
}

pub(super) async fn legacy_cluster(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        return r;
    }
    Json(json!({
        "FixedClusterUri": format!("{}/", shared.base_url),
        "DynamicClusterUri": format!("{}/", shared.base_url),
        "TTLSeconds": 3600,
    }))
    .into_response()
}
