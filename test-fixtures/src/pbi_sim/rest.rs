//! The Power BI REST subset a backup tool needs.

use std::collections::HashMap;
use std::sync::Arc;

use adls_store::{PutMode, StorePath};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Audience;
use super::state::{State as SimState, WorkspaceState, ZERO_GUID};
use super::{BACKUP_FILESYSTEM, Shared};

/// Whether a workspace folder exists, empty or not. A folder that cannot be looked at is taken as there: the
/// simulator then refuses rather than overwrites.
pub(crate) async fn folder_exists(store: &dyn adls_store::Store, folder: &StorePath) -> bool {
    store.folder_exists(folder).await.unwrap_or(true)
}

/// Moves a workspace folder: its files into a new folder of the new name, then the old folder away (the `Store`
/// trait renames files, not folders).
async fn move_folder(
    store: &dyn adls_store::Store,
    from: &StorePath,
    to: &StorePath,
) -> adls_store::Result<()> {
    use adls_store::StoreExt;
    store.create_folder(to).await?;
    for f in store.list_all(from).await? {
        let name = f.path.file_name().unwrap_or_default();
        store.rename(&f.path, &to.join(name)?, PutMode::Create).await?;
    }
    match store.delete(from).await {
        Ok(()) | Err(adls_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A REST error body. A 401 or 403 is shaped as the service's are seen (public reports in MicrosoftDocs/powerbi-docs
/// issues #1096 and #3234): a `code` and a `pbi.error` object, and no `message`, so `message` is dropped there and a
/// client cannot lean on it; other statuses carry `code` and `message`.
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        tracing::debug!(code, message, "refused without a message in the body");
        return (status, Json(crate::pbi_sim::auth::not_authorized_body(code))).into_response();
    }
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn workspace_json(state: &SimState, w: &WorkspaceState) -> Value {
    let capacity = w.capacity_id.as_deref().and_then(|c| state.capacity(c));
    let dedicated = capacity.is_some_and(|c| c.is_premium());
    // The Group object of the REST reference: `type` is not among the fields `GET groups` returns, and
    // `defaultDatasetStorageFormat` is there only for a workspace on dedicated capacity.
    let mut v = json!({
        "id": w.id,
        "name": w.name,
        "isReadOnly": false,
        "isOnDedicatedCapacity": dedicated,
    });
    if dedicated {
        v["defaultDatasetStorageFormat"] = json!(w.storage_format);
    }
    if let Some(c) = capacity {
        v["capacityId"] = json!(c.id);
    }
    if let Some(account) = w.storage.as_deref().and_then(|s| state.account(s)) {
        v["dataflowStorageId"] = json!(account.id);
    }
    v
}

/// `$skip` then `$top` of a list, as the REST reference documents them for `GET groups` and `GET groups/{id}/users`
/// ("Skips the first n results", "Returns only the first n results"); without `$top`, the scenario's default page.
/// A value that is not a whole number is a 400, as OData answers.
fn page(
    items: Vec<Value>,
    query: &HashMap<String, String>,
    default_page: Option<usize>,
) -> Result<Vec<Value>, Response> {
    let number = |name: &str| -> Result<Option<usize>, Response> {
        match query.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                let error = json!({"error": {"code": "InvalidRequest", "message": format!("{name} must be a whole number")}});
                (StatusCode::BAD_REQUEST, Json(error)).into_response()
            }),
        }
    };
    let skip = number("$skip")?.unwrap_or(0);
    let top = number("$top")?.or(default_page).unwrap_or(usize::MAX);
    Ok(items.into_iter().skip(skip).take(top).collect())
}

/// The workspaces the caller has a role in.
async fn groups(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    shared.count("rest-groups");
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let state = shared.state.lock().expect("poisoned");
    let value: Vec<Value> = state
        .workspaces
        .iter()
        .filter(|w| state.role(&grant.principal, &w.id).is_some())
        .map(|w| workspace_json(&state, w))
        .collect();
    let value = match page(value, &query, state.rest_default_page) {
        Ok(v) => v,
        Err(r) => return r,
    };
    Json(json!({"@odata.context": "groups", "value": value})).into_response()
}

/// Checks the bearer token and the caller's membership of workspace `id`, then answers with `f`.
fn in_member_workspace(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
    f: impl FnOnce(&SimState, &WorkspaceState) -> Response,
) -> Response {
    let grant = match shared.tokens.check_bearer(headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let state = shared.state.lock().expect("poisoned");
    match member_workspace(&state, &grant.principal, id) {
        Ok(w) => f(&state, w),
        Err(r) => r,
    }
}

fn member_workspace<'a>(
    state: &'a SimState,
    principal: &str,
    id: &str,
) -> Result<&'a WorkspaceState, Response> {
    let w = state.workspace(id).ok_or_else(|| {
        api_error(StatusCode::NOT_FOUND, "ItemNotFound", &format!("workspace {id} not found"))
    })?;
    if state.role(principal, &w.id).is_none() {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "PowerBINotAuthorizedException",
            &format!("the caller has no role in workspace {id}"),
        ));
    }
    Ok(w)
}

async fn group(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    in_member_workspace(&shared, &headers, &id, |state, w| {
        Json(workspace_json(state, w)).into_response()
    })
}

/// Renames a workspace. Its backup folder is renamed with it, unless a folder of the new name exists: then the
/// workspace is renamed and the folder keeps the old name (the documented failure of the automatic rename).
async fn rename_group(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some(new_name) = body.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body must carry a name");
    };
    let (old_name, storage) = {
        let state = shared.state.lock().expect("poisoned");
        let w = match member_workspace(&state, &grant.principal, &id) {
            Ok(w) => w,
            Err(r) => return r,
        };
        if state.role(&grant.principal, &w.id) != Some("Admin") {
            return api_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "only workspace admins can rename a workspace",
            );
        }
        if state.workspaces.iter().any(|o| o.name == new_name && o.id != w.id) {
            return api_error(
                StatusCode::CONFLICT,
                "DuplicateWorkspaceName",
                &format!("a workspace named '{new_name}' exists"),
            );
        }
        (w.name.clone(), w.storage.clone())
    };
    let mut rename_failed = false;
    if let Some(store) = storage.as_deref().and_then(|s| shared.stores.get(s)) {
        let (Ok(from), Ok(to)) = (
            StorePath::folder(BACKUP_FILESYSTEM, &old_name),
            StorePath::folder(BACKUP_FILESYSTEM, &new_name),
        ) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidName",
                "the workspace name cannot name a folder",
            );
        };
        if folder_exists(store.as_ref(), &from).await {
            rename_failed = folder_exists(store.as_ref(), &to).await
                || move_folder(store.as_ref(), &from, &to).await.is_err();
        }
    }
    let mut state = shared.state.lock().expect("poisoned");
    if let Some(w) = state.workspace_mut(&id) {
        w.name = new_name;
        w.folder_rename_failed_from = rename_failed.then_some(old_name);
    }
    shared.save(&state);
    StatusCode::OK.into_response()
}

async fn capacities(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        return r;
    }
    let state = shared.state.lock().expect("poisoned");
    let value: Vec<Value> = state
        .capacities
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "displayName": c.name,
                "sku": c.sku,
                "state": c.state,
                "region": c.region,
                "capacityUserAccessRight": "Assign",
            })
        })
        .collect();
    Json(json!({"value": value})).into_response()
}

async fn group_users(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    in_member_workspace(&shared, &headers, &id, |state, w| {
        let value: Vec<Value> = state
            .principals
            .iter()
            .filter_map(|p| {
                let role = p.roles.get(&w.id)?;
                // "For principal type User, provide the UPN. Otherwise provide the object ID of the principal."
                let identifier = if p.kind == "user" { &p.id } else { &p.object_id };
                // A group is listed as itself, not expanded into its members.
                let principal_type = match p.kind.as_str() {
                    "app" => "App",
                    "group" => "Group",
                    _ => "User",
                };
                Some(json!({
                    "identifier": identifier,
                    "displayName": p.name,
                    "principalType": principal_type,
                    "groupUserAccessRight": role,
                }))
            })
            .collect();
        match page(value, &query, state.rest_default_page) {
            Ok(value) => Json(json!({"value": value})).into_response(),
            Err(r) => r,
        }
    })
}

async fn group_datasets(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    in_member_workspace(&shared, &headers, &id, |state, w| {
        let value: Vec<Value> = state
            .models
            .iter()
            .filter(|m| m.owner == w.id)
            .map(|m| {
                json!({
                    "id": m.id,
                    "name": m.name,
                    "configuredBy": "pbi-sim",
                    "isRefreshable": true,
                    "targetStorageMode": if w.storage_format == "Large" { "PremiumFiles" } else { "Abf" },
                })
            })
            .collect();
        Json(json!({"value": value})).into_response()
    })
}

/// The state and the workspace id of `id` when the caller's token is good and its role there is one of `roles`;
/// else the answer that refuses it (401, 404 for a workspace it cannot see, 403 with `refusal`).
fn allowed<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    id: &str,
    roles: &[&str],
    refusal: &str,
) -> Result<(std::sync::MutexGuard<'a, SimState>, String), Response> {
    let grant = shared.tokens.check_bearer(headers, Audience::PowerBi)?;
    let state = shared.state.lock().expect("poisoned");
    let workspace = member_workspace(&state, &grant.principal, id)?.id.clone();
    if !state.role(&grant.principal, &workspace).is_some_and(|r| roles.contains(&r)) {
        return Err(api_error(StatusCode::FORBIDDEN, "Unauthorized", refusal));
    }
    Ok((state, workspace))
}

/// `POST /groups/{id}/datasets/{dataset}/refreshes` ("Refresh Dataset In Group": 202 Accepted, the refresh runs
/// after). The simulator refreshes at once and adds the refresh to the model's history, completed. It does not move
/// the model's modified time (`DATE_MODIFIED`): no source says a data refresh does, so a client that took it for
/// the signal of new data fails here. Who may refresh is the simulator's reading of the roles that can write
/// (admin, member, contributor).
async fn refresh_dataset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, dataset)): Path<(String, String)>,
) -> Response {
    let refusal = "only admins, members and contributors can refresh a dataset";
    let (mut state, workspace) =
        match allowed(&shared, &headers, &id, &["Admin", "Member", "Contributor"], refusal) {
            Ok(a) => a,
            Err(r) => return r,
        };
    let Some(model) = state
        .models
        .iter_mut()
        .find(|m| m.owner == workspace && m.id.eq_ignore_ascii_case(&dataset))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("dataset {dataset} not found in workspace {id}"),
        );
    };
    let now = super::state::now_string();
    model.refreshes.push(super::state::RefreshState {
        request_id: uuid::Uuid::new_v4().to_string(),
        start_time: now.clone(),
        end_time: now,
        status: "Completed".into(),
    });
    shared.count("refresh");
    shared.save(&state);
    StatusCode::ACCEPTED.into_response()
}

/// "Datasets - Get Refresh History In Group" (`GET groups/{groupId}/datasets/{datasetId}/refreshes?$top=N`): the
/// newest first, `$top` of them (all when absent); each with `requestId`, `id`, `refreshType`, `startTime`, `endTime`
/// and `status`, as the reference's `Refresh` lists them. Any role in the workspace may read it (the simulator's
/// reading).
async fn refresh_history(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, dataset)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let refusal = "the caller has no role in the workspace";
    let (state, workspace) = match allowed(
        &shared,
        &headers,
        &id,
        &["Admin", "Member", "Contributor", "Viewer"],
        refusal,
    ) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(model) =
        state.models.iter().find(|m| m.owner == workspace && m.id.eq_ignore_ascii_case(&dataset))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("dataset {dataset} not found in workspace {id}"),
        );
    };
    let top = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => usize::MAX,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "$top must be a positive number",
            );
        }
    };
    let value: Vec<serde_json::Value> = model
        .refreshes
        .iter()
        .rev()
        .take(top)
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({
                "requestId": r.request_id,
                "id": model.refreshes.len() - i,
                "refreshType": "ViaApi",
                "startTime": r.start_time,
                "endTime": r.end_time,
                "status": r.status,
            })
        })
        .collect();
    Json(serde_json::json!({ "value": value })).into_response()
}

/// "Datasets - Delete Dataset In Group" (`DELETE groups/{groupId}/datasets/{datasetId}`): 200 OK; the caller must be
/// an admin or member of the workspace (the simulator's reading of the page's required role).
async fn delete_dataset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, dataset)): Path<(String, String)>,
) -> Response {
    if shared.stall_dataset_deletes.load(std::sync::atomic::Ordering::SeqCst) {
        shared.count("delete-dataset-stalled");
        let held = std::time::Instant::now();
        while shared.stall_dataset_deletes.load(std::sync::atomic::Ordering::SeqCst)
            && held.elapsed() < std::time::Duration::from_secs(300)
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut r =
            (StatusCode::SERVICE_UNAVAILABLE, "held by the simulator's switch; nothing deleted")
                .into_response();
        r.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return r;
    }
    let refusal = "only admins and members can delete a dataset";
    let (mut state, workspace) =
        match allowed(&shared, &headers, &id, &["Admin", "Member"], refusal) {
            Ok(a) => a,
            Err(r) => return r,
        };
    let before = state.models.len();
    state.models.retain(|m| !(m.owner == workspace && m.id.eq_ignore_ascii_case(&dataset)));
    if state.models.len() == before {
        return api_error(
            StatusCode::NOT_FOUND,
            "ItemNotFound",
            &format!("dataset {dataset} not found in workspace {id}"),
        );
    }
    shared.count("delete-dataset");
    shared.save(&state);
    StatusCode::OK.into_response()
}

async fn storage_accounts(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        return r;
    }
    let state = shared.state.lock().expect("poisoned");
    let value: Vec<Value> = state
        .accounts
        .iter()
        .map(|a| json!({"id": a.id, "name": a.name, "isEnabled": a.enabled}))
        .collect();
    Json(json!({"value": value})).into_response()
}

/// Attaches or (with the all-zero GUID) detaches a workspace's storage. Attaching creates the backup folder; it
/// fails while a backup folder of the workspace's name already exists (rule SEED-13: rename it first).
async fn assign_storage(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some(target) = body.get("dataflowStorageId").and_then(Value::as_str).map(str::to_owned)
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "the body must carry dataflowStorageId",
        );
    };
    let (ws_name, account) = {
        let state = shared.state.lock().expect("poisoned");
        let w = match member_workspace(&state, &grant.principal, &id) {
            Ok(w) => w,
            Err(r) => return r,
        };
        if state.role(&grant.principal, &w.id) != Some("Admin") {
            return api_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "only workspace admins can assign a workspace to dataflow storage",
            );
        }
        let account = if target == ZERO_GUID {
            None
        } else {
            match state.accounts.iter().find(|a| a.id.eq_ignore_ascii_case(&target)) {
                // The REST reference says only that the account "must be enabled"; the status and code of the
                // refusal are the simulator's own.
                Some(a) if !a.enabled => {
                    return api_error(
                        StatusCode::BAD_REQUEST,
                        "DataflowStorageAccountDisabled",
                        &format!("dataflow storage account '{}' is not enabled", a.name),
                    );
                }
                Some(a) => Some(a.name.clone()),
                None => {
                    return api_error(
                        StatusCode::NOT_FOUND,
                        "DataflowStorageAccountNotFound",
                        &format!("no dataflow storage account {target}"),
                    );
                }
            }
        };
        (w.name.clone(), account)
    };
    if let Some(account) = &account {
        let store = shared.stores.get(account).expect("checked at start");
        let Ok(folder) = StorePath::folder(BACKUP_FILESYSTEM, &ws_name) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidWorkspaceName",
                &format!("the workspace name '{ws_name}' cannot name a backup folder"),
            );
        };
        if let Err(e) = store.ensure_filesystem(BACKUP_FILESYSTEM).await {
            return api_error(StatusCode::BAD_GATEWAY, "StorageUnavailable", &e.to_string());
        }
        if folder_exists(store.as_ref(), &folder).await {
            return api_error(
                StatusCode::CONFLICT,
                "BackupFolderAlreadyExists",
                &format!(
                    "the folder 'power-bi-backup/{ws_name}' already exists in storage account '{account}'. Rename or move the existing backup folder before reconfiguring storage"
                ),
            );
        }
        // The folder the service creates at attach time: an empty directory.
        if let Err(e) = store.create_folder(&folder).await {
            return api_error(StatusCode::BAD_GATEWAY, "StorageUnavailable", &e.to_string());
        }
    }
    let mut state = shared.state.lock().expect("poisoned");
    if let Some(w) = state.workspace_mut(&id) {
        w.storage = account;
        w.link = super::scenario::LinkKind::Full;
    }
    shared.save(&state);
    StatusCode::OK.into_response()
}

async fn resources(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if q.get("resourceType").map(String::as_str) != Some("StorageAccount") {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "only resourceType=StorageAccount is simulated",
        );
    }
    let Some(folder) = q.get("folderObjectId") else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidRequest", "folderObjectId is required");
    };
    let state = shared.state.lock().expect("poisoned");
    let w = match member_workspace(&state, &grant.principal, folder) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let value: Vec<Value> = w
        .storage
        .iter()
        .map(|s| json!({"resourceName": s, "resourceType": "StorageAccount"}))
        .collect();
    Json(json!({"value": value})).into_response()
}

/// Throttling: while calls are owed, a REST call is answered 429 with `Retry-After`, as the Power BI REST API
/// answers past its rate.
pub(crate) async fn throttle(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use std::sync::atomic::Ordering;
    let owed = shared
        .throttle_rest
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    // Past the scenario's rate: told to wait until a call is free again (whole seconds, as the service sends).
    let wait = if owed {
        Some(1)
    } else {
        shared.take_rest_call().err().map(|w| w.as_secs_f64().ceil().max(1.0) as u64)
    };
    let Some(wait) = wait else {
        shared.count("rest");
        return next.run(request).await;
    };
    shared.count("rest-throttled");
    let mut r = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "the request was throttled; retry after the Retry-After interval",
    );
    r.headers_mut().insert("retry-after", axum::http::HeaderValue::from(wait));
    r
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1.0/myorg/groups", get(groups))
        .route("/v1.0/myorg/groups/{id}", get(group).patch(rename_group))
        .route("/v1.0/myorg/groups/{id}/users", get(group_users))
        .route("/v1.0/myorg/groups/{id}/datasets", get(group_datasets))
        .route("/v1.0/myorg/groups/{id}/datasets/{dataset}", delete(delete_dataset))
        .route(
            "/v1.0/myorg/groups/{id}/datasets/{dataset}/refreshes",
            post(refresh_dataset).get(refresh_history),
        )
        .route("/v1.0/myorg/groups/{id}/AssignToDataflowStorage", post(assign_storage))
        .route("/v1.0/myorg/capacities", get(capacities))
        .route("/v1.0/myorg/dataflowStorageAccounts", get(storage_accounts))
        .route("/v1.0/myorg/resources", get(resources))
}
