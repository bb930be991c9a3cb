//! The simulated Entra token endpoint (client credentials) and bearer/MWC token checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
    scope: Option<String>,
}

fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

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
    if principal.secret.is_none() || principal.secret != form.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is the client secret value.",
        );
    }
    let scope = form.scope.unwrap_or_default();
    let audience = if scope.contains("analysis.windows.net/powerbi/api") {
        Audience::PowerBi
    } else if scope.contains("asazure.windows.net") {
        Audience::Aas
    } else if scope.contains("management.azure.com")
        || scope.contains("management.core.windows.net")
    {
        Audience::Arm
    } else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("AADSTS70011: The scope '{scope}' is not one this simulator serves"),
        );
    };
    let access_token =
        shared.tokens.issue(&principal, &tenant_id, audience, Duration::from_secs(lifetime));
    Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
    .into_response()
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

/// The body of a 401 or 403.
pub(crate) fn not_authorized_body(code: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "pbi.error": {
        "code": code, "parameters": {}, "details": [], "exceptionCulprit": 1
    }}})
}
