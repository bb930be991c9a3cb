//! XMLA routing calls and the XMLA endpoints: requests parsed with xmla-proto, Backup and Restore executed against
//! the linked storage with the SEED rules enforced, answers written with xmla-proto.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use adls_store::{PutMode, Store, StoreExt, StorePath};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::Digest;
use xmla_proto::{
    Backup, Command, Discover, Message, Method, Request, Restore, Row, SessionHeader, Syntax,
};

use super::auth::{Audience, auth_value};
use super::rest::api_error;
use super::scenario::LinkKind;
use super::state::{ModelState, State as SimState, now_string};
use super::{BACKUP_FILESYSTEM, Shared};

/// The simulator's error codes. The service's real codes for these refusals are not public; these are stable and
/// distinct so that a client can tell them apart.
pub mod codes {
    /// SEED-01: the workspace is not on Premium or PPU.
    pub const NOT_PREMIUM: u32 = 0xC147_0101;
    /// SEED-02: no storage account linked.
    pub const NO_STORAGE: u32 = 0xC147_0102;
    /// SEED-07: the caller is not a workspace admin.
    pub const NOT_ADMIN: u32 = 0xC147_0103;
    /// SEED-04: the capacity is outside the tenant's home region (multi-geo).
    pub const MULTI_GEO: u32 = 0xC147_0104;
    /// SEED-12: the storage link is for dataflows only.
    pub const DATAFLOWS_ONLY: u32 = 0xC147_0105;
    /// The backup file exists and AllowOverwrite is not set.
    pub const FILE_EXISTS: u32 = 0xC147_0106;
    /// The backup file to restore is not in the workspace's folder.
    pub const FILE_MISSING: u32 = 0xC147_0107;
    /// The database to restore exists and AllowOverwrite is not set.
    pub const DATABASE_EXISTS: u32 = 0xC147_0108;
    /// LATER-10: not enough memory for an in-place restore; forceRestore would unload the old model.
    pub const NOT_ENOUGH_MEMORY: u32 = 0xC147_0109;
    /// LATER-09: roles without read permission and no ignoreIncompatibilities.
    pub const INCOMPATIBLE_ROLES: u32 = 0xC147_010A;
    /// The backup is encrypted and the password is missing or wrong.
    pub const PASSWORD: u32 = 0xC147_010B;
    /// LATER-11: the model is larger than the capacity allows, even unloaded.
    pub const RESOURCE_GOVERNING: u32 = 0xC147_010C;
    /// The file name cannot be used.
    pub const BAD_FILE_NAME: u32 = 0xC147_010D;
    /// The backup file is not a whole `.abf`.
    pub const CORRUPT_BACKUP: u32 = 0xC147_010E;
    /// LATER-26: a table and a shared expression have the same name.
    pub const NAME_CLASH: u32 = 0xC147_010F;
    /// LATER-06: the model is not in the enhanced metadata format (V3).
    pub const NOT_V3: u32 = 0xC147_0110;
    /// The database does not exist or the caller cannot see it (AMO's documented text).
    pub const DATABASE_NOT_FOUND: u32 = 0xC10A_0004;
    /// A statement or request type the simulator does not execute.
    pub const UNSUPPORTED: u32 = 0xC147_01FF;
}

const SOURCE: &str = "Microsoft SQL Server Analysis Services";

fn msg(code: u32, description: impl Into<String>) -> Message {
    Message {
        code: Some(code),
        description: description.into(),
        source: Some(SOURCE.into()),
        help_file: None,
    }
}

/// A simulated side file inside each backup, carrying what a restore needs beyond the catalog (columns, rows,
/// roles, size). Real backups do not have it; a backup without it is restored from its catalog alone.
const SIM_MODEL_FILE: &str = "SimModel.json";

/// Who is asking, through which door.
#[derive(Debug, Clone)]
enum Ctx {
    Workspace { principal: String, workspace_id: String, admin_by_door: bool },
    Aas { principal: String, server: String },
}

/// Where a command's files live and what the caller may do there, after the SEED checks.
struct Target {
    owner: String,
    owner_name: String,
    store: Arc<dyn Store>,
    filesystem: String,
    folder: String,
    limit_gb: Option<f64>,
    /// Power BI rules (roles need read permission) apply; Analysis Services has no such limit.
    power_bi: bool,
}

fn xml_response(status: StatusCode, body: String, headers: &HeaderMap) -> Response {
    let mut bytes = body.into_bytes();
    if headers.get("x-ms-accepts-continuations").and_then(|v| v.to_str().ok()) == Some("1") {
        bytes.push(0);
    }
    (
        status,
        [
            ("Content-Type", "text/xml; charset=utf-8"),
            ("x-ms-xmlacaps-negotiation-flags", "0,0,0,0,0"),
        ],
        bytes,
    )
        .into_response()
}

fn failure(errors: Vec<Message>, warnings: Vec<Message>, headers: &HeaderMap) -> Response {
    let body = xmla_proto::write_failure(&errors, &warnings).unwrap_or_else(|e| {
        xmla_proto::write_failure(&[msg(codes::UNSUPPORTED, e.to_string())], &[])
            .expect("plain text")
    });
    xml_response(StatusCode::OK, body, headers)
}

fn fault(code: &str, text: &str, headers: &HeaderMap) -> Response {
    let f = xmla_proto::Fault { code: code.into(), string: text.into(), actor: None };
    let body = xmla_proto::write_fault(&f, &[]).unwrap_or_default();
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, body, headers)
}

fn capacity_uri(shared: &Shared, capacity_id: &str) -> String {
    format!("{}/{capacity_id}/", shared.base_url)
}

// ---- Routing ----

async fn routing_workspaces(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
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

async fn get_database_name(
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
async fn cluster_resolve(
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

async fn generate_as_token(
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

async fn legacy_cluster(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
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

// ---- XMLA doors ----

/// `/webapi/xmla`: MwcToken (Power BI) or bearer (Azure Analysis Services, server in `x-ms-xmlaserver`).
async fn xmla_cluster(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = if auth_value(&headers, "MwcToken").is_some() {
        if shared.refuse_mwc.load(std::sync::atomic::Ordering::SeqCst) {
            return super::auth::unauthorized("MWC tokens are refused by this simulator's switch");
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
async fn xmla_legacy(
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
async fn xmla_pump(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
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
        Some(SessionHeader::Begin) => Some(uuid::Uuid::new_v4().to_string().to_uppercase()),
        Some(SessionHeader::Session(id)) => Some(id.clone()),
        _ => None,
    };
    match request.method {
        Method::Discover(d) => discover(&shared, &ctx, &d, headers),
        Method::Execute(e) => match e.command {
            Command::Statement(s) => {
                statement(&shared, &ctx, &s, e.properties.catalog.as_deref(), session, headers)
            }
            Command::Backup(b, syntax) => {
                let _guard = shared.command_lock.lock().await;
                shared.count("backup");
                match backup(&shared, &ctx, &b, syntax).await {
                    Ok(()) => xml_response(
                        StatusCode::OK,
                        xmla_proto::write_success(session.as_deref(), &[]).unwrap_or_default(),
                        headers,
                    ),
                    Err(m) => failure(vec![m], Vec::new(), headers),
                }
            }
            Command::Restore(r, _) => {
                let _guard = shared.command_lock.lock().await;
                shared.count("restore");
                match restore(&shared, &ctx, &r).await {
                    Ok(warnings) => xml_response(
                        StatusCode::OK,
                        xmla_proto::write_success(session.as_deref(), &warnings)
                            .unwrap_or_default(),
                        headers,
                    ),
                    Err(m) => failure(vec![m], Vec::new(), headers),
                }
            }
        },
    }
}

fn owner_of(ctx: &Ctx) -> String {
    match ctx {
        Ctx::Workspace { workspace_id, .. } => workspace_id.clone(),
        Ctx::Aas { server, .. } => format!("aas:{server}"),
    }
}

fn catalog_rows(state: &SimState, owner: &str) -> Vec<Row> {
    let mut models: Vec<&ModelState> = state.models.iter().filter(|m| m.owner == owner).collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models
        .into_iter()
        .map(|m| Row {
            columns: vec![
                ("CATALOG_NAME".into(), Some(m.name.clone())),
                ("DESCRIPTION".into(), None),
                ("ROLES".into(), Some("*".into())),
                ("DATE_MODIFIED".into(), Some(m.modified.clone())),
                ("COMPATIBILITY_LEVEL".into(), Some(m.compatibility_level.to_string())),
                ("DATABASE_ID".into(), Some(m.id.clone())),
            ],
        })
        .collect()
}

fn table_rows(model: &ModelState) -> Vec<Row> {
    model
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| Row {
            columns: vec![
                ("ID".into(), Some((i + 1).to_string())),
                ("ModelID".into(), Some("1".into())),
                ("Name".into(), Some(t.name.clone())),
                ("IsHidden".into(), Some("false".into())),
                ("RowCount".into(), Some(t.rows.to_string())),
                ("ColumnCount".into(), Some(t.columns.len().to_string())),
            ],
        })
        .collect()
}

fn find_model<'a>(state: &'a SimState, owner: &str, name_or_id: &str) -> Option<&'a ModelState> {
    let name_or_id = name_or_id.strip_prefix("sobe_wowvirtualserver-").unwrap_or(name_or_id);
    state.models.iter().find(|m| {
        m.owner == owner && (m.name == name_or_id || m.id.eq_ignore_ascii_case(name_or_id))
    })
}

fn rowset(columns: &[&str], rows: &[Row], headers: &HeaderMap) -> Response {
    match xmla_proto::write_rowset(columns, rows) {
        Ok(body) => xml_response(StatusCode::OK, body, headers),
        Err(e) => failure(vec![msg(codes::UNSUPPORTED, e.to_string())], Vec::new(), headers),
    }
}

const CATALOG_COLUMNS: &[&str] = &[
    "CATALOG_NAME",
    "DESCRIPTION",
    "ROLES",
    "DATE_MODIFIED",
    "COMPATIBILITY_LEVEL",
    "DATABASE_ID",
];
const TABLE_COLUMNS: &[&str] = &["ID", "ModelID", "Name", "IsHidden", "RowCount", "ColumnCount"];

fn discover(shared: &Shared, ctx: &Ctx, d: &Discover, headers: &HeaderMap) -> Response {
    let state = shared.state.lock().expect("poisoned");
    let owner = owner_of(ctx);
    match d.request_type.to_ascii_uppercase().as_str() {
        "DBSCHEMA_CATALOGS" => {
            let mut rows = catalog_rows(&state, &owner);
            if let Some((_, name)) = d.restrictions.iter().find(|(k, _)| k == "CATALOG_NAME") {
                rows.retain(|r| r.get("CATALOG_NAME") == Some(name.as_str()));
            }
            rowset(CATALOG_COLUMNS, &rows, headers)
        }
        "TMSCHEMA_TABLES" => {
            let db = d
                .restrictions
                .iter()
                .find(|(k, _)| k == "DatabaseName")
                .map(|(_, v)| v.clone())
                .or_else(|| d.properties.catalog.clone());
            let Some(db) = db else {
                return failure(
                    vec![msg(
                        codes::UNSUPPORTED,
                        "TMSCHEMA_TABLES needs a database: set Catalog or restrict DatabaseName",
                    )],
                    Vec::new(),
                    headers,
                );
            };
            match find_model(&state, &owner, &db) {
                Some(m) => rowset(TABLE_COLUMNS, &table_rows(m), headers),
                None => failure(vec![not_found(&db)], Vec::new(), headers),
            }
        }
        other => failure(
            vec![msg(
                codes::UNSUPPORTED,
                format!("the simulator does not serve the rowset {other}"),
            )],
            Vec::new(),
            headers,
        ),
    }
}

fn not_found(db: &str) -> Message {
    msg(
        codes::DATABASE_NOT_FOUND,
        format!(
            "Either the database '{db}' does not exist, or you do not have permissions to access it."
        ),
    )
}

fn statement(
    shared: &Shared,
    ctx: &Ctx,
    text: &str,
    catalog: Option<&str>,
    session: Option<String>,
    headers: &HeaderMap,
) -> Response {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() {
        // ADOMD opens a session with an empty statement.
        return xml_response(
            StatusCode::OK,
            xmla_proto::write_success(session.as_deref(), &[]).unwrap_or_default(),
            headers,
        );
    }
    let compact: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if compact == "select * from $system.dbschema_catalogs" {
        let state = shared.state.lock().expect("poisoned");
        return rowset(CATALOG_COLUMNS, &catalog_rows(&state, &owner_of(ctx)), headers);
    }
    if compact == "select * from $system.tmschema_tables" {
        let state = shared.state.lock().expect("poisoned");
        let Some(db) = catalog else {
            return failure(
                vec![msg(codes::UNSUPPORTED, "set the Catalog property to the database")],
                Vec::new(),
                headers,
            );
        };
        return match find_model(&state, &owner_of(ctx), db) {
            Some(m) => rowset(TABLE_COLUMNS, &table_rows(m), headers),
            None => failure(vec![not_found(db)], Vec::new(), headers),
        };
    }
    failure(
        vec![msg(
            codes::UNSUPPORTED,
            "the simulator executes Backup, Restore, DBSCHEMA_CATALOGS and TMSCHEMA_TABLES only",
        )],
        Vec::new(),
        headers,
    )
}

/// The SEED checks of a backup or restore, in the order the service's documentation gives them, and where the
/// command's files live.
fn target_for(shared: &Shared, state: &SimState, ctx: &Ctx) -> Result<Target, Message> {
    match ctx {
        Ctx::Workspace { principal, workspace_id, admin_by_door } => {
            let ws = state.workspace(workspace_id).ok_or_else(|| not_found(workspace_id))?;
            let cap = ws.capacity_id.as_deref().and_then(|c| state.capacity(c));
            let Some(cap) = cap.filter(|c| c.is_premium()) else {
                return Err(msg(
                    codes::NOT_PREMIUM,
                    format!(
                        "Backup and restore are only available for workspaces on Power BI Premium or Premium Per User. The workspace '{}' is not on such a capacity; assign it to a Premium capacity.",
                        ws.name
                    ),
                ));
            };
            if !cap.region.eq_ignore_ascii_case(&state.home_region) {
                return Err(msg(
                    codes::MULTI_GEO,
                    format!(
                        "Backup and restore are not supported for multi-geo capacities: the workspace '{}' is on capacity '{}' in region '{}', and the tenant's home region is '{}'. Move the workspace to a capacity in the home region.",
                        ws.name, cap.name, cap.region, state.home_region
                    ),
                ));
            }
            if !admin_by_door && state.role(principal, &ws.id) != Some("Admin") {
                return Err(msg(
                    codes::NOT_ADMIN,
                    format!(
                        "'{principal}' is not an admin of the workspace '{}' ({}). Only workspace admins can back up and restore semantic models.",
                        ws.name,
                        state.role(principal, &ws.id).unwrap_or("no role")
                    ),
                ));
            }
            let Some(account) = ws.storage.clone() else {
                return Err(msg(
                    codes::NO_STORAGE,
                    format!(
                        "The workspace '{}' is not connected to an Azure Data Lake Storage Gen2 account. Connect one at tenant or workspace level (Workspace settings, Azure connections) before backup or restore.",
                        ws.name
                    ),
                ));
            };
            if ws.link == LinkKind::DataflowsOnly {
                return Err(msg(
                    codes::DATAFLOWS_ONLY,
                    format!(
                        "The storage account '{account}' of the workspace '{}' was connected for dataflows only. Disconnect it and connect it again to enable backup and restore.",
                        ws.name
                    ),
                ));
            }
            let store = shared.stores.get(&account).cloned().ok_or_else(|| not_found(&account))?;
            Ok(Target {
                owner: ws.id.clone(),
                owner_name: ws.name.clone(),
                store,
                filesystem: BACKUP_FILESYSTEM.into(),
                folder: ws.name.clone(),
                limit_gb: cap.model_limit_gb(),
                power_bi: true,
            })
        }
        Ctx::Aas { principal, server } => {
            let srv = state
                .aas_servers
                .iter()
                .find(|a| &a.name == server)
                .ok_or_else(|| not_found(server))?;
            let admin = state
                .principal(principal)
                .is_some_and(|p| p.aas_admin_of.iter().any(|s| s == server));
            if !admin {
                return Err(msg(
                    codes::NOT_ADMIN,
                    format!("'{principal}' is not an administrator of the server '{server}'."),
                ));
            }
            let store =
                shared.stores.get(&srv.storage).cloned().ok_or_else(|| not_found(&srv.storage))?;
            Ok(Target {
                owner: format!("aas:{server}"),
                owner_name: server.clone(),
                store,
                filesystem: srv.container.clone(),
                folder: server.clone(),
                limit_gb: None,
                power_bi: false,
            })
        }
    }
}

/// `File` is relative to the workspace folder; one leading `/` is taken as the same place (the Power BI page's TMSL
/// examples write `/Backup.abf`). Sub-folders are refused: whether the service takes them is unconfirmed.
fn file_path(target: &Target, file: &str) -> Result<StorePath, Message> {
    let name = file.strip_prefix('/').unwrap_or(file);
    if name.contains('/') || name.contains('\\') {
        return Err(msg(
            codes::BAD_FILE_NAME,
            format!(
                "The file name '{file}' names a sub-folder; give a file name in the workspace's backup folder."
            ),
        ));
    }
    StorePath::file(&target.filesystem, &target.folder, name).map_err(|e| {
        msg(codes::BAD_FILE_NAME, format!("The file name '{file}' cannot be used: {e}"))
    })
}

async fn backup(shared: &Shared, ctx: &Ctx, b: &Backup, syntax: Syntax) -> Result<(), Message> {
    let (target, model) = {
        let state = shared.state.lock().expect("poisoned");
        let target = target_for(shared, &state, ctx)?;
        let model = find_model(&state, &target.owner, &b.database)
            .cloned()
            .ok_or_else(|| not_found(&b.database))?;
        (target, model)
    };
    let _ = syntax;
    let path = file_path(&target, &b.file)?;
    if !b.allow_overwrite && target.store.head(&path).await.is_ok() {
        return Err(msg(
            codes::FILE_EXISTS,
            format!(
                "The file '{}' already exists in the backup folder of '{}'. Set AllowOverwrite to replace it, or choose another name.",
                b.file, target.owner_name
            ),
        ));
    }
    let mut side = serde_json::to_value(&model).unwrap_or(Value::Null);
    if let Some(p) = &b.password {
        side["password_sha256"] = json!(hex::encode(sha2::Sha256::digest(p.expose().as_bytes())));
    }
    let spec = abf_format::ModelSpec {
        name: model.name.clone(),
        compatibility_level: model.compatibility_level,
        tables: model
            .tables
            .iter()
            .map(|t| abf_format::TableSpec {
                name: t.name.clone(),
                partitions: vec![t.name.clone()],
            })
            .collect(),
        expressions: Vec::new(),
        // The catalog stores TOM's ModelPermission enum (1 None, 2 Read, 3 ReadRefresh, 4 Refresh, 5 Administrator).
        roles: model
            .roles
            .iter()
            .map(|r| abf_format::RoleSpec {
                name: r.name.clone(),
                model_permission: match r.permission.to_ascii_lowercase().as_str() {
                    "none" => 1,
                    "read" => 2,
                    "readrefresh" => 3,
                    "refresh" => 4,
                    _ => 5,
                },
            })
            .collect(),
        // Enhanced metadata (V3, needs compatibility level 1465 or higher), as Power BI Desktop writes today.
        data_source_version: (model.compatibility_level >= 1465).then_some(2),
    };
    let side = serde_json::to_vec_pretty(&side).unwrap_or_default();
    let options = abf_format::WriterOptions { compress: b.apply_compression, crc: true };
    let image = abf_format::write_model(
        Cursor::new(Vec::new()),
        &spec,
        &[(SIM_MODEL_FILE, &side)],
        options,
    )
    .map_err(|e| msg(codes::UNSUPPORTED, format!("The backup could not be written: {e}")))?
    .into_inner();
    target.store.put(&path, image.into(), PutMode::Overwrite).await.map_err(|e| {
        msg(codes::NO_STORAGE, format!("The backup could not be written to storage: {e}"))
    })?;
    Ok(())
}

async fn restore(shared: &Shared, ctx: &Ctx, r: &Restore) -> Result<Vec<Message>, Message> {
    let target = {
        let state = shared.state.lock().expect("poisoned");
        target_for(shared, &state, ctx)?
    };
    let path = file_path(&target, &r.file)?;
    let image = match target.store.get_bytes(&path).await {
        Ok(b) => b,
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(msg(
                codes::FILE_MISSING,
                format!(
                    "The backup file '{}' was not found in the folder '{}/{}'. Place the .abf file in the workspace's backup folder before restoring.",
                    r.file, target.filesystem, target.folder
                ),
            ));
        }
        Err(e) => {
            return Err(msg(codes::NO_STORAGE, format!("The backup file could not be read: {e}")));
        }
    };
    let report =
        abf_format::inspect(Cursor::new(&image[..]), abf_format::InspectOptions { full: true })
            .map_err(|e| {
                msg(
                    codes::CORRUPT_BACKUP,
                    format!("The backup file '{}' could not be read: {e}", r.file),
                )
            })?;
    if !report.valid {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        return Err(msg(
            codes::CORRUPT_BACKUP,
            format!("The backup file '{}' is damaged: {}", r.file, problems.join("; ")),
        ));
    }
    // LATER-06: the catalog says which metadata format the model is in (2 is V3); a model without the column is let
    // through, since the service's handling of it is not documented.
    if target.power_bi && report.data_source_version.is_some_and(|v| v != 2) {
        return Err(msg(
            codes::NOT_V3,
            format!(
                "The backup file '{}' holds a model that is not in the enhanced metadata format (V3). Only V3 models can be restored.",
                r.file
            ),
        ));
    }
    // LATER-26: names compare without regard to case, as Analysis Services compares them.
    if let Some(clash) = report
        .tables
        .iter()
        .find(|t| report.expressions.iter().any(|e| e.eq_ignore_ascii_case(&t.name)))
    {
        return Err(msg(
            codes::NAME_CLASH,
            format!(
                "The table '{}' and a Power Query expression have the same name. Rename one of them and back the model up again.",
                clash.name
            ),
        ));
    }
    let side: Option<Value> = abf_format::read_file(Cursor::new(&image[..]), SIM_MODEL_FILE)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let mut model: ModelState =
        match side.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok()) {
            Some(m) => m,
            None => ModelState {
                id: String::new(),
                name: report.database.name.clone().unwrap_or_else(|| "Model".into()),
                owner: String::new(),
                compatibility_level: report.database.compatibility_level.unwrap_or(1600),
                size_mb: (image.len() as u64).div_ceil(1 << 20),
                tables: report
                    .tables
                    .iter()
                    .map(|t| super::scenario::Table {
                        name: t.name.clone(),
                        columns: Vec::new(),
                        rows: 0,
                    })
                    .collect(),
                roles: report
                    .roles
                    .iter()
                    .map(|r| super::scenario::Role {
                        name: r.name.clone(),
                        permission: match r.model_permission {
                            Some(1) => "none",
                            Some(2) => "read",
                            Some(3) => "readRefresh",
                            Some(4) => "refresh",
                            _ => "administrator",
                        }
                        .into(),
                    })
                    .collect(),
                modified: String::new(),
            },
        };
    if let Some(hash) = side.as_ref().and_then(|v| v.get("password_sha256")).and_then(Value::as_str)
    {
        let given =
            r.password.as_ref().map(|p| hex::encode(sha2::Sha256::digest(p.expose().as_bytes())));
        if given.as_deref() != Some(hash) {
            return Err(msg(
                codes::PASSWORD,
                "The backup file is encrypted and the password is missing or wrong. Give the password used at backup time.",
            ));
        }
    }
    let name = r.database_name.clone().unwrap_or_else(|| model.name.clone());
    let mut warnings = Vec::new();
    let mut state = shared.state.lock().expect("poisoned");
    let existing = state.models.iter().position(|m| m.owner == target.owner && m.name == name);
    if existing.is_some() && !r.allow_overwrite {
        return Err(msg(
            codes::DATABASE_EXISTS,
            format!(
                "The semantic model '{name}' already exists in '{}'. Set AllowOverwrite to restore over it, or restore under another name.",
                target.owner_name
            ),
        ));
    }
    if let Some(limit_gb) = target.limit_gb {
        let limit_mb = (limit_gb * 1024.0) as u64;
        let existing_mb = existing.map(|i| state.models[i].size_mb).unwrap_or(0);
        if model.size_mb > limit_mb {
            return Err(msg(
                codes::RESOURCE_GOVERNING,
                format!(
                    "Resource governing: This operation was canceled because there wasn't enough memory to finish running it. More details: model size {} MB, memory limit {limit_mb} MB.",
                    model.size_mb
                ),
            ));
        }
        if !r.force_restore && model.size_mb + existing_mb > limit_mb {
            return Err(msg(
                codes::NOT_ENOUGH_MEMORY,
                "We cannot restore the semantic model backup right now because there is not enough memory to complete this operation. Please use the /forceRestore option to restore the semantic model with the existing semantic model unloaded and offline.",
            ));
        }
    }
    let incompatible: Vec<String> = model
        .roles
        .iter()
        .filter(|role| target.power_bi && !role.permission.eq_ignore_ascii_case("read"))
        .map(|role| role.name.clone())
        .collect();
    if !incompatible.is_empty() {
        if !r.ignore_incompatibilities {
            return Err(msg(
                codes::INCOMPATIBLE_ROLES,
                format!(
                    "The backup has roles without read permission ({}); Power BI Premium supports only the read permission for roles. Restore with ignoreIncompatibilities to drop them.",
                    incompatible.join(", ")
                ),
            ));
        }
        model.roles.retain(|role| !incompatible.contains(&role.name));
        warnings.push(Message {
            code: Some(codes::INCOMPATIBLE_ROLES),
            description: format!(
                "Roles dropped because they lack read permission: {}",
                incompatible.join(", ")
            ),
            source: Some(SOURCE.into()),
            help_file: None,
        });
    }
    model.name = name;
    model.owner = target.owner.clone();
    model.modified = now_string();
    match existing {
        Some(i) => {
            model.id = state.models[i].id.clone();
            state.models[i] = model;
        }
        None => {
            model.id = uuid::Uuid::new_v4().to_string();
            state.models.push(model);
        }
    }
    shared.save(&state);
    Ok(warnings)
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/powerbi/databases/v201606/workspaces", get(routing_workspaces))
        .route(
            "/powerbi/databases/v201606/workspaces/{id}/getDatabaseName",
            post(get_database_name),
        )
        .route("/webapi/clusterResolve", post(cluster_resolve))
        .route("/metadata/v201606/generateastoken", post(generate_as_token))
        .route("/spglobalservice/GetOrInsertClusterUrisByTenantLocation", put(legacy_cluster))
        .route("/webapi/xmla", post(xmla_cluster))
        .route("/xmla", post(xmla_legacy))
        .route("/olap/msmdpump.dll", post(xmla_pump))
}
