//! Login, `auth/me`, health, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ringside_bus::{ConnectionState, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::{Auth, Role};
use crate::error::extract::Json as JsonBody;
use crate::error::{ApiError, FieldError};
use crate::http::ClientAddr;
use crate::live::{SnapshotRequest, fetch_snapshot};
use crate::state::AppState;

/// `POST /api/v1/auth/login` body.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Longest user name or password accepted (argon2 of a megabyte is a
/// denial of service).
const MAX_CREDENTIAL_LEN: usize = 1024;

/// Exchanges a user name and password for an access token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong user name or password", body = crate::error::ErrorBody),
        (status = 422, description = "Missing fields", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed attempts (see Retry-After)", body = crate::error::ErrorBody)
    ),
    tag = "auth"
)]
pub async fn login(
    State(state): State<AppState>,
    addr: Option<Extension<ClientAddr>>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let mut errors = Vec::new();
    for (field, value) in [("username", &body.username), ("password", &body.password)] {
        if value.is_empty() {
            errors.push(FieldError {
                field: field.into(),
                code: "required".into(),
                message: format!("{field} is required"),
            });
        } else if value.len() > MAX_CREDENTIAL_LEN {
            errors.push(FieldError {
                field: field.into(),
                code: "too_long".into(),
                message: format!("{field} is too long"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation_fields(errors));
    }
    let ip = addr.and_then(|Extension(a)| a.ip);
    if let Err(wait) = state.limiter.check(&body.username, ip) {
        tracing::warn!(username = %body.username, ip = ?ip, "login rate-limited");
        return Err(ApiError::rate_limited(wait));
    }
    let who = state
        .accounts
        .authenticate(&body.username, &body.password)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the account store failed");
            ApiError::unavailable("accounts are unavailable")
        })?;
    let Some(who) = who else {
        state.limiter.failed(&body.username, ip);
        tracing::info!(username = %body.username, ip = ?ip, "login failed");
        return Err(ApiError::unauthorized("wrong user name or password"));
    };
    state.limiter.succeeded(&body.username);
    tracing::info!(username = %who.username, tenant = %who.tenant, "logged in");
    Ok(Json(TokenResponse {
        access_token: state.tokens.issue(&who)?,
        token_type: "bearer",
        expires_in: state.tokens.ttl().as_secs(),
    }))
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Tenant.
    pub tenant: String,
    /// Role.
    pub role: Role,
}

/// Who the token belongs to.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "auth"
)]
pub async fn me(auth: Auth) -> Json<Me> {
    let p = auth.0;
    Json(Me {
        id: p.user_id,
        username: p.username,
        tenant: p.tenant,
        role: p.role,
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")), tag = "operations")]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the bus is connected and the state service answers a
/// snapshot request.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready", body = crate::error::ErrorBody)),
    tag = "operations"
)]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if *state.bus.connection().borrow() != ConnectionState::Connected {
        return Err(ApiError::unavailable("the bus is not connected"));
    }
    let tenant = TenantId::new(state.settings.ready_tenant.as_str()).map_err(ApiError::internal)?;
    fetch_snapshot(
        &state.bus,
        &state.subjects,
        &tenant,
        &SnapshotRequest::default(),
        state.settings.request_timeout,
    )
    .await?;
    Ok("ready")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text"), (status = 404, description = "No metrics in this process")), tag = "operations")]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(render) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            render(),
        )
            .into_response(),
        None => ApiError::not_found("no metrics recorder").into_response(),
    }
}

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of the gateway's own routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "Ringside API", description = "REST API of the Ringside gateway. WebSockets: see docs/api.md."),
    paths(
        login, me, healthz, readyz, metrics,
        crate::live::live_view,
        crate::actions::pbx_action,
        crate::actions::hangup_call,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::error::FieldError, crate::error::ErrorCode)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Log in; who am I"),
        (name = "live", description = "Live views (snapshots)"),
        (name = "actions", description = "AMI actions, role-gated"),
        (name = "operations", description = "Health and metrics")
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> Response {
    match crate::admin::openapi_with_admin().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `GET /api/v1/docs`: a page that renders the spec with a script served
/// beside it (no CDN, no inline script).
pub async fn docs_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("docs/index.html"),
    )
        .into_response()
}

/// `GET /api/v1/docs.js`.
pub async fn docs_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("docs/docs.js"),
    )
        .into_response()
}

/// `GET /api/v1/docs.css`.
pub async fn docs_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("docs/docs.css"),
    )
        .into_response()
}

/// Unknown `/api/…` paths: JSON 404, never the UI.
pub async fn api_not_found() -> (StatusCode, ApiError) {
    (
        StatusCode::NOT_FOUND,
        ApiError::not_found("no such endpoint"),
    )
}
