//! The simulated Entra token endpoint (client credentials) and bearer/MWC token checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::Shared;

/// Who a token speaks for, and for what.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub principal: String,
    pub audience: Audience,
    pub expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    PowerBi,
    Aas,
    /// Azure Resource Manager (`https://management.azure.com/.default`).
    Arm,
    /// Azure Storage (`https://storage.azure.com/.default`): the token goes to the tenant's storage accounts.
    Storage,
}

impl Audience {
    /// The audience a scope or managed-identity `resource` names, as Entra reads it (`<resource>/.default`).
    fn of(scope: &str) -> Option<Audience> {
        if scope.contains("analysis.windows.net/powerbi/api") {
            Some(Audience::PowerBi)
        } else if scope.contains("asazure.windows.net") {
            Some(Audience::Aas)
        } else if scope.contains("management.azure.com")
            || scope.contains("management.core.windows.net")
        {
            Some(Audience::Arm)
        } else if scope.contains("storage.azure.com") {
            Some(Audience::Storage)
        } else {
            None
        }
    }
}

/// An MWC token: a principal's access to one workspace (and optionally one dataset).
#[derive(Debug, Clone)]
pub(crate) struct MwcGrant {
    pub principal: String,
    pub workspace_id: String,
    pub expires: Instant,
}

#[derive(Default)]
pub(crate) struct Tokens {
    bearer: Mutex<HashMap<String, Grant>>,
    mwc: Mutex<HashMap<String, MwcGrant>>,
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}.{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Tokens {
    /// A bearer token shaped as Entra's: a JWT whose payload carries the tenant (`tid`), the caller's object id
    /// (`oid`), the app id (`appid`, apps) or the UPN (`upn`, users), the audience and the expiry. Its signature is
    /// random and checked by lookup: nobody outside verifies it.
    pub(crate) fn issue(
        &self,
        principal: &super::state::PrincipalState,
        tenant_id: &str,
        audience: Audience,
        lifetime: Duration,
    ) -> String {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let aud = match audience {
            Audience::PowerBi => "https://analysis.windows.net/powerbi/api",
            Audience::Aas => "https://*.asazure.windows.net",
            Audience::Arm => "https://management.azure.com",
            Audience::Storage => "https://storage.azure.com",
        };
        let mut claims = json!({
            "aud": aud,
            "iss": format!("https://sts.windows.net/{tenant_id}/"),
            "iat": now,
            "nbf": now,
            "exp": now + i64::try_from(lifetime.as_secs()).unwrap_or(3600),
            "tid": tenant_id,
            "oid": principal.object_id,
            "idtyp": if principal.kind == "app" { "app" } else { "user" },
        });
        if principal.kind == "app" {
            claims["appid"] = json!(principal.id);
        } else {
            claims["upn"] = json!(principal.id);
        }
        let token = format!(
            "{}.{}.{}",
            b64(&json!({"typ": "JWT", "alg": "RS256"})),
            b64(&claims),
            random_token("sim").replace('.', "")
        );
        let principal = &principal.id;
        let grant =
            Grant { principal: principal.to_owned(), audience, expires: Instant::now() + lifetime };
        self.bearer.lock().expect("poisoned").insert(token.clone(), grant);
        token
    }

    pub(crate) fn issue_mwc(
        &self,
        principal: &str,
        workspace_id: &str,
        lifetime: Duration,
    ) -> String {
        let token = random_token("mwc");
        let grant = MwcGrant {
            principal: principal.to_owned(),
            workspace_id: workspace_id.to_owned(),
            expires: Instant::now() + lifetime,
        };
        self.mwc.lock().expect("poisoned").insert(token.clone(), grant);
        token
    }

    /// The grant of a valid, unexpired bearer token, or why not.
    pub(crate) fn check_bearer(
        &self,
        headers: &HeaderMap,
        audience: Audience,
    ) -> Result<Grant, Response> {
        let token = auth_value(headers, "Bearer").ok_or_else(|| unauthorized("no bearer token"))?;
        let grants = self.bearer.lock().expect("poisoned");
        let grant = grants
            .get(&token)
            .ok_or_else(|| unauthorized("the token is not one this tenant issued"))?;
        if grant.expires <= Instant::now() {
            return Err(unauthorized("the token has expired"));
        }
        if grant.audience != audience {
            return Err(unauthorized("the token was issued for another resource"));
        }
        Ok(grant.clone())
    }

    pub(crate) fn check_mwc(&self, headers: &HeaderMap) -> Result<MwcGrant, Response> {
        let token = auth_value(headers, "MwcToken").ok_or_else(|| unauthorized("no MwcToken"))?;
        let grants = self.mwc.lock().expect("poisoned");
        let grant = grants.get(&token).ok_or_else(|| unauthorized("unknown MwcToken"))?;
        if grant.expires <= Instant::now() {
            return Err(unauthorized("the MwcToken has expired"));
        }
        Ok(grant.clone())
    }

    /// Makes every token issued so far expire now (tests of token refresh).
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for g in self.bearer.lock().expect("poisoned").values_mut() {
            g.expires = now;
        }
        for g in self.mwc.lock().expect("poisoned").values_mut() {
            g.expires = now;
        }
    }
}

pub(crate) fn auth_value(headers: &HeaderMap, scheme: &str) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (s, rest) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim().to_owned())
}

pub(crate) fn unauthorized(why: &str) -> Response {
    tracing::debug!(why, "token refused");
    (
        StatusCode::UNAUTHORIZED,
        [("WWW-Authenticate", "Bearer realm=\"pbi-sim\"")],
        Json(not_authorized_body("TokenExpired")),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion: Option<String>,
    client_assertion_type: Option<String>,
    scope: Option<String>,
}

/// Entra's error answer: `error`, `error_description` (starting `AADSTS<n>:`) and `error_codes` ([n]), as the
/// identity platform documents its error responses.
fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    let code: Option<u64> = description
        .strip_prefix("AADSTS")
        .and_then(|d| d.split(':').next())
        .and_then(|n| n.parse().ok());
    let body = json!({
        "error": error,
        "error_description": description,
        "error_codes": code.into_iter().collect::<Vec<_>>(),
        "timestamp": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    (status, Json(body)).into_response()
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    shared.count("token");
    let owed = shared
        .busy_token
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok();
    if owed {
        shared.count("token-busy");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/html")],
            "<html><body>Service Unavailable</body></html>",
        )
            .into_response();
    }
    let (tenant_id, lifetime, principal) = {
        let state = shared.state.lock().expect("poisoned");
        let principal = form.client_id.as_deref().and_then(|id| state.principal(id)).cloned();
        (state.tenant_id.clone(), state.token_lifetime_seconds, principal)
    };
    if !tenant.eq_ignore_ascii_case(&tenant_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found. Check the tenant id."),
        );
    }
    if form.grant_type.as_deref() != Some("client_credentials") {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: only client_credentials is simulated",
        );
    }
    let Some(principal) = principal.filter(|p| p.kind == "app") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory. Check the client id.",
        );
    };
    let proved = match (&form.client_assertion, &form.client_assertion_type) {
        (Some(assertion), Some(t)) if t == JWT_BEARER => {
            super::assertion::check(assertion, &principal, &tenant_id)
        }
        (Some(_), _) => Err((
            "invalid_request",
            format!("AADSTS50027: client_assertion_type must be {JWT_BEARER}"),
        )),
        (None, _) if principal.secret.is_some() && principal.secret == form.client_secret => Ok(()),
        (None, _) => Err((
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is the client secret value.".into(),
        )),
    };
    if let Err((error, description)) = proved {
        return aad_error(StatusCode::UNAUTHORIZED, error, &description);
    }
    let scope = form.scope.unwrap_or_default();
    let Some(audience) = Audience::of(&scope) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("AADSTS70011: The scope '{scope}' is not one this simulator serves"),
        );
    };
    let access_token = shared.issue(&principal, &tenant_id, audience, lifetime);
    Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct IdentityQuery {
    resource: Option<String>,
    client_id: Option<String>,
    object_id: Option<String>,
    principal_id: Option<String>,
    msi_res_id: Option<String>,
    mi_res_id: Option<String>,
}

/// The managed identity endpoint of an Azure VM (IMDS, `GET /metadata/identity/oauth2/token`, header
/// `Metadata: true`; learn.microsoft.com/entra/identity/managed-identities-azure-resources/
/// how-to-use-vm-token) and of App Service, Functions and Container Apps (`GET $IDENTITY_ENDPOINT`, header
/// `X-IDENTITY-HEADER: $IDENTITY_HEADER`; learn.microsoft.com/azure/app-service/overview-managed-identity). Both
/// answer `expires_on` as a string of Unix seconds.
async fn managed_identity(
    shared: &Shared,
    headers: &HeaderMap,
    q: IdentityQuery,
    app_service: bool,
) -> Response {
    shared.count(if app_service { "identity-app-service" } else { "identity-imds" });
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if app_service {
        if header("x-identity-header") != shared.identity_header {
            return (
                StatusCode::UNAUTHORIZED,
                Json(
                    json!({"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"}),
                ),
            )
                .into_response();
        }
    } else if !header("metadata").eq_ignore_ascii_case("true") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})),
        )
            .into_response();
    }
    let not_found = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Identity not found"})),
        )
            .into_response()
    };
    let (tenant_id, lifetime, principal) = {
        let state = shared.state.lock().expect("poisoned");
        let user =
            |p: &&super::state::PrincipalState| p.managed_identity.as_deref() == Some("user");
        let by_object = q.object_id.as_ref().or(q.principal_id.as_ref());
        let by_resource = if app_service { q.mi_res_id.as_ref() } else { q.msi_res_id.as_ref() };
        let found =
            state.principals.iter().find(|p| match (&q.client_id, by_object, by_resource) {
                (Some(c), _, _) => user(p) && p.id.eq_ignore_ascii_case(c),
                (_, Some(o), _) => user(p) && p.object_id.eq_ignore_ascii_case(o),
                (_, _, Some(r)) => {
                    user(p) && p.resource_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(r))
                }
                _ => p.managed_identity.as_deref() == Some("system"),
            });
        (state.tenant_id.clone(), state.token_lifetime_seconds, found.cloned())
    };
    let Some(principal) = principal else { return not_found() };
    let resource = q.resource.unwrap_or_default();
    let Some(audience) = Audience::of(&resource) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_resource", "error_description": format!("AADSTS500011: The resource principal named {resource} was not found in the tenant")})),
        )
            .into_response();
    };
    let access_token = shared.issue(&principal, &tenant_id, audience, lifetime);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Json(json!({
        "access_token": access_token,
        "client_id": principal.id,
        "expires_in": lifetime.to_string(),
        "expires_on": (now + i64::try_from(lifetime).unwrap_or(3600)).to_string(),
        "ext_expires_in": lifetime.to_string(),
        "not_before": now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn imds(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<IdentityQuery>,
) -> Response {
    managed_identity(&shared, &headers, q, false).await
}

async fn app_service(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<IdentityQuery>,
) -> Response {
    managed_identity(&shared, &headers, q, true).await
}

/// Where the App Service style identity endpoint is served (`IDENTITY_ENDPOINT` is this path on the simulator).
pub(crate) const APP_SERVICE_IDENTITY_PATH: &str = "/msi/token";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/metadata/identity/oauth2/token", get(imds))
        .route(APP_SERVICE_IDENTITY_PATH, get(app_service))
}

/// The body of a 401 or 403.
pub(crate) fn not_authorized_body(code: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "pbi.error": {
        "code": code, "parameters": {}, "details": [], "exceptionCulprit": 1
    }}})
}
