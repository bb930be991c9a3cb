//! The Azure Resource Manager subset a backup tool reads about its storage accounts: the subscriptions the caller
//! sees (`GET /subscriptions`), the storage accounts of one (`GET /subscriptions/{id}/providers/Microsoft.Storage/
//! storageAccounts`, one page) and one account (`GET …/resourceGroups/{rg}/providers/Microsoft.Storage/
//! storageAccounts/{name}`), shaped as the Storage Accounts – Get Properties reference and the `StorageAccount`
//! model of the SDKs describe them. Any `api-version` is accepted.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Audience;
use super::state::AccountState;

/// ARM's spelling of a region: lower case, no spaces (`West Europe` is `westeurope`).
fn arm_location(display: &str) -> String {
    display.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

fn resource_group(account: &AccountState) -> String {
    format!("rg-{}", account.name)
}

fn account_json(a: &AccountState) -> Value {
    let sub = &a.arm.subscription;
    let rg = resource_group(a);
    let id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{}",
        a.name
    );
    let vnet: Vec<Value> = a
        .arm
        .vnet_rules
        .iter()
        .map(|subnet| {
            json!({
                "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/{subnet}"),
                "action": "Allow",
                "state": "Succeeded",
            })
        })
        .collect();
    let endpoints: Vec<Value> = a
        .arm
        .private_endpoints
        .iter()
        .map(|pe| {
            json!({
                "id": format!("{id}/privateEndpointConnections/{pe}"),
                "name": pe,
                "type": "Microsoft.Storage/storageAccounts/privateEndpointConnections",
                "properties": {
                    "privateEndpoint": {"id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/privateEndpoints/{pe}")},
                    "privateLinkServiceConnectionState": {"status": "Approved", "description": "", "actionRequired": "None"},
                    "provisioningState": "Succeeded",
                },
            })
        })
        .collect();
    json!({
        "id": id,
        "name": a.name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": arm_location(&a.location),
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "isHnsEnabled": a.arm.hierarchical_namespace,
            "allowSharedKeyAccess": a.shared_key_access,
            "publicNetworkAccess": a.arm.public_network_access,
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": true,
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": a.arm.network_default_action,
                "virtualNetworkRules": vnet,
                "ipRules": [],
            },
            "privateEndpointConnections": endpoints,
            "primaryEndpoints": {
                "blob": format!("https://{}.blob.core.windows.net/", a.name),
                "dfs": format!("https://{}.dfs.core.windows.net/", a.name),
            },
            "primaryLocation": arm_location(&a.location),
            "statusOfPrimary": "available",
        },
    })
}

/// The caller, when it may read the accounts; the refusal ARM sends otherwise.
fn reader(shared: &Shared, headers: &HeaderMap) -> Result<bool, Response> {
    let grant = shared.tokens.check_bearer(headers, Audience::Arm)?;
    let state = shared.state.lock().expect("poisoned");
    Ok(state.principal(&grant.principal).is_some_and(|p| p.arm_reader))
}

fn authorization_failed(scope: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": {
            "code": "AuthorizationFailed",
            "message": format!("The client does not have authorization to perform action 'Microsoft.Storage/storageAccounts/read' over scope '{scope}' or the scope is invalid."),
        }})),
    )
        .into_response()
}

async fn subscriptions(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let may_read = match reader(&shared, &headers) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let state = shared.state.lock().expect("poisoned");
    let mut subs: Vec<(String, String)> = state
        .accounts
        .iter()
        .filter(|_| may_read)
        .map(|a| {
            (
                a.arm.subscription.clone(),
                a.arm.tenant.clone().unwrap_or_else(|| state.tenant_id.clone()),
            )
        })
        .collect();
    subs.sort();
    subs.dedup();
    let value: Vec<Value> = subs
        .iter()
        .map(|(sub, tenant)| {
            json!({
                "id": format!("/subscriptions/{sub}"),
                "subscriptionId": sub,
                "tenantId": tenant,
                "displayName": format!("Subscription {sub}"),
                "state": "Enabled",
            })
        })
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn storage_accounts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(sub): Path<String>,
) -> Response {
    match reader(&shared, &headers) {
        Ok(true) => {}
        Ok(false) => return authorization_failed(&format!("/subscriptions/{sub}")),
        Err(r) => return r,
    }
    let state = shared.state.lock().expect("poisoned");
    let value: Vec<Value> = state
        .accounts
        .iter()
        .filter(|a| a.arm.subscription.eq_ignore_ascii_case(&sub))
        .map(account_json)
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn storage_account(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((sub, rg, name)): Path<(String, String, String)>,
) -> Response {
    let scope = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}"
    );
    match reader(&shared, &headers) {
        Ok(true) => {}
        Ok(false) => return authorization_failed(&scope),
        Err(r) => return r,
    }
    let state = shared.state.lock().expect("poisoned");
    match state.accounts.iter().find(|a| {
        a.name == name
            && a.arm.subscription.eq_ignore_ascii_case(&sub)
            && resource_group(a).eq_ignore_ascii_case(&rg)
    }) {
        Some(a) => Json(account_json(a)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {
                "code": "ResourceNotFound",
                "message": format!("The Resource 'Microsoft.Storage/storageAccounts/{name}' under resource group '{rg}' was not found."),
            }})),
        )
            .into_response(),
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/subscriptions", get(subscriptions))
        .route(
            "/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts",
            get(storage_accounts),
        )
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}",
            get(storage_account),
        )
}
