//! The XMLA doors: each authenticates a request its own way, and `run` parses it, dispatches the command and writes
//! the answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::answer;
use super::request::{Command, Method, Request, Session};
use super::respond::{failure, fault, xml_response};

use super::backup::backup;
use super::discover::{discover, statement};
use super::restore::restore;
use super::{Ctx, codes, msg};

use crate::pbi_sim::Shared;
use crate::pbi_sim::auth::{Audience, auth_value, unauthorized};
use crate::pbi_sim::rest::api_error;

/// What a backup or restore of a model weighs on its capacity: which capacity (with its limit of commands at once),
/// and how long the command runs (the model's `size-mb` at the scenario's `backup-mb-per-second`; a model not there
/// yet, as a restore as a new model, takes no time).
struct Load {
    owner: String,
    /// The capacity, as the state holds it (its limit depends on how many it started).
    capacity: Option<crate::pbi_sim::state::CapacityState>,
    duration: std::time::Duration,
}

impl Load {
    fn of(shared: &Shared, ctx: &Ctx, database: &str) -> Load {
        let state = shared.state.lock().expect("poisoned");
        let (owner, capacity) = match ctx {
            Ctx::Workspace { workspace_id, .. } => {
                let capacity = state
                    .workspace(workspace_id)
                    .and_then(|w| w.capacity_id.as_deref())
                    .and_then(|id| state.capacities.iter().find(|c| c.id.eq_ignore_ascii_case(id)))
                    .cloned();
                (workspace_id.clone(), capacity)
            }
            Ctx::Aas { server, .. } => (format!("aas:{server}"), None),
        };
        let size_mb = super::find_model(&state, &owner, database).map_or(0, |m| m.size_mb);
        let duration = match state.backup_mb_per_second {
            Some(speed) if speed > 0.0 => {
                std::time::Duration::from_secs_f64(size_mb as f64 / speed)
            }
            _ => std::time::Duration::ZERO,
        };
        Load { owner, capacity, duration }
    }

    /// A place on the capacity; `None` when it runs as many commands as it may.
    fn slot(&self, shared: &Arc<Shared>) -> Option<Option<crate::pbi_sim::CapacitySlot>> {
        match &self.capacity {
            Some(capacity) => shared.capacity_slot(capacity).map(Some),
            None => Some(None),
        }
    }
}

/// A command refused for load: the text Power BI gives a refresh the capacity throttles (the refresh
/// troubleshooting page); that a backup or restore gets the same is the simulator's guess.
fn throttled(shared: &Shared, headers: &HeaderMap) -> Response {
    shared.count("xmla-throttled");
    failure(
        vec![msg(
            codes::THROTTLED,
            "The operation was throttled by Power BI Premium because there were too many datasets being processed concurrently on the capacity. Try again later.",
        )],
        Vec::new(),
        headers,
    )
}

/// `/webapi/xmla`: MwcToken (Power BI) or bearer (Azure Analysis Services, server in `x-ms-xmlaserver`).
pub(super) async fn xmla_cluster(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let owed = shared
        .busy_xmla
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if owed {
        shared.count("xmla-busy");
        let mut r =
            (StatusCode::SERVICE_UNAVAILABLE, "the service is busy; retry later").into_response();
        r.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return r;
    }
    let ctx = if auth_value(&headers, "MwcToken").is_some() {
        if shared.refuse_mwc.load(std::sync::atomic::Ordering::SeqCst) {
            return unauthorized("MWC tokens are refused by this simulator's switch");
        }
        match shared.tokens.check_mwc(&headers) {
            Ok(g) => Ctx::Workspace {
                principal: g.principal,
                workspace_id: g.workspace_id,
                admin_by_door: false,
            },
            Err(r) => return r,
        }
    } else {
        let grant = match shared.tokens.check_bearer(&headers, Audience::Aas) {
            Ok(g) => g,
            Err(r) => return r,
        };
        let server = headers
            .get("x-ms-xmlaserver")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_end_matches(":rw")
            .to_owned();
        Ctx::Aas { principal: grant.principal, server }
    };
    shared.count("xmla");
    run(shared, ctx, &headers, &body).await
}

/// The legacy virtual-server door: `/xmla?vs=sobe_wowvirtualserver&db=<database id>` with an Entra bearer token.
pub(super) async fn xmla_legacy(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let grant = match shared.tokens.check_bearer(&headers, Audience::PowerBi) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if q.get("vs").map(String::as_str) != Some("sobe_wowvirtualserver") {
        return api_error(StatusCode::NOT_FOUND, "NotFound", "unknown virtual server");
    }
    let workspace_id = {
        let state = shared.state.lock().expect("poisoned");
        let Some(db) = q.get("db") else {
            return fault(
                "XMLAnalysisError",
                "the legacy endpoint needs a database (db=)",
                &headers,
            );
        };
        match state.models.iter().find(|m| m.id.eq_ignore_ascii_case(db)) {
            Some(m) => m.owner.clone(),
            None => {
                return fault("XMLAnalysisError", &format!("database {db} not found"), &headers);
            }
        }
    };
    shared.count("legacy-xmla");
    run(
        shared,
        Ctx::Workspace { principal: grant.principal, workspace_id, admin_by_door: false },
        &headers,
        &body,
    )
    .await
}

/// msmdpump-style plain HTTP door in front of one workspace (basic authentication when the scenario sets a user).
pub(super) async fn xmla_pump(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (pump, ws_id) = {
        let state = shared.state.lock().expect("poisoned");
        let Some(pump) = state.pump.clone() else {
            return api_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "this scenario has no msmdpump endpoint",
            );
        };
        let Some(ws) = state.workspaces.iter().find(|w| w.name == pump.workspace) else {
            return api_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the pump's workspace no longer exists",
            );
        };
        (pump, ws.id.clone())
    };
    if let Some(user) = &pump.user {
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", pump.password.clone().unwrap_or_default()));
        if auth_value(&headers, "Basic").as_deref() != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [("WWW-Authenticate", "Basic realm=\"msmdpump\"")],
                "",
            )
                .into_response();
        }
    }
    shared.count("pump");
    let principal = pump.user.unwrap_or_else(|| "anonymous".into());
    run(
        shared,
        Ctx::Workspace { principal, workspace_id: ws_id, admin_by_door: true },
        &headers,
        &body,
    )
    .await
}

async fn run(shared: Arc<Shared>, ctx: Ctx, headers: &HeaderMap, body: &[u8]) -> Response {
    // A paused capacity answers HTTP 500 with this text (rule LATER-30, third-party observation).
    if let Ctx::Workspace { workspace_id, .. } = &ctx {
        let state = shared.state.lock().expect("poisoned");
        let paused = state
            .workspace(workspace_id)
            .and_then(|w| w.capacity_id.as_deref())
            .and_then(|c| state.capacity(c))
            .is_some_and(|c| !c.state.eq_ignore_ascii_case("Active"));
        if paused {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("Content-Type", "text/plain")],
                "error in xmla in dedicated",
            )
                .into_response();
        }
    }
    let request = match Request::parse(body) {
        Ok(r) => r,
        Err(e) => {
            return fault(
                "XMLAnalysisError.0xc10e0002",
                &format!("the request could not be read: {e}"),
                headers,
            );
        }
    };
    let session = match &request.session {
        Some(Session::Begin) => Some(uuid::Uuid::new_v4().to_string().to_uppercase()),
        Some(Session::Use(id)) => Some(id.clone()),
        _ => None,
    };
    match request.method {
        Method::Discover(d) => discover(&shared, &ctx, &d, headers),
        Method::Execute { command, catalog } => match command {
            Command::Statement(s) => {
                statement(&shared, &ctx, &s, catalog.as_deref(), session, headers)
            }
            Command::Backup(b, syntax) => {
                let load = Load::of(&shared, &ctx, &b.database);
                let Some(_slot) = load.slot(&shared) else {
                    return throttled(&shared, headers);
                };
                let lock = shared.model_lock(&load.owner, &b.database);
                let _guard = lock.lock().await;
                tokio::time::sleep(load.duration).await;
                shared.count("backup");
                match backup(&shared, &ctx, &b, syntax).await {
                    Ok(()) => xml_response(
                        StatusCode::OK,
                        answer::success(session.as_deref(), &[]),
                        headers,
                    ),
                    Err(m) => failure(vec![m], Vec::new(), headers),
                }
            }
            Command::Restore(r) => {
                // Without a name the engine takes the one in the file: those restores share one lock.
                let name = r.database_name.as_deref().unwrap_or_default();
                let load = Load::of(&shared, &ctx, name);
                let Some(_slot) = load.slot(&shared) else {
                    return throttled(&shared, headers);
                };
                let lock = shared.model_lock(&load.owner, name);
                let _guard = lock.lock().await;
                shared.count("restore");
                // It takes as long as the file's model at the tenant's speed (`restore` waits it out).
                match restore(&shared, &ctx, &r).await {
                    Ok(warnings) => xml_response(
                        StatusCode::OK,
                        answer::success(session.as_deref(), &warnings),
                        headers,
                    ),
                    Err(m) => failure(vec![m], Vec::new(), headers),
                }
            }
        },
    }
}
