//! Ringside's own administration: PBX servers (`/pbx/`, the AMI secret
//! write-only), users, tenants (platform admins) and the audit log.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringside_provisioning::{Actor, AuditFilter, PbxServerInput, TenantInput, UserInput};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::crud::{crud_routes, same_out};
use super::reports::parse_instant;
use super::{
    AdminState, ListQuery, PageBody, TenantQuery, actor, api_error, from_body, parse_id, to_value,
};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::error::extract::{Json as JsonBody, Path, Query};

/// The web UI calls the file apply mode `local`.
fn pbx_in(body: &mut Value) {
    if body.get("apply_mode").and_then(Value::as_str) == Some("local") {
        body["apply_mode"] = Value::String("file".to_owned());
    }
}

/// Users need no adaptation.
fn user_in(_body: &mut Value) {}

crud_routes!(
    "PBX servers", "PBX server", PbxServerInput,
    paths: ("/api/v1/pbx/", "/api/v1/pbx/{id}"),
    handlers: (list_pbx, create_pbx, get_pbx, update_pbx, delete_pbx),
    provisioning: (list_pbx_servers, create_pbx_server, get_pbx_server, update_pbx_server, delete_pbx_server),
    adapt: (pbx_in, same_out)
);
crud_routes!(
    "users", "user", UserInput,
    paths: ("/api/v1/users/", "/api/v1/users/{id}"),
    handlers: (list_users, create_users, get_users, update_users, delete_users),
    provisioning: (list_users, create_user, get_user, update_user, delete_user),
    adapt: (user_in, same_out)
);

/// Every tenant (platform admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = PageBody),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Platform admins only", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "platform"
)]
pub async fn list_tenants(
    State(s): State<AdminState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<PageBody>, ApiError> {
    let actor = actor(&auth.0, None)?;
    let page = s
        .provisioning
        .list_tenants(&actor, q.page())
        .await
        .map_err(api_error)?;
    Ok(Json(PageBody {
        items: page.items.iter().map(to_value).collect::<Result<_, _>>()?,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Creates a tenant (platform admins). `slug` (or the UI's `id`) is its
/// permanent short name.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/",
    request_body(content = Object, description = "`{\"slug\", \"name\"}` (`id` is accepted for `slug`)"),
    responses(
        (status = 201, description = "Created", body = Object),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Platform admins only", body = crate::error::ErrorBody),
        (status = 409, description = "The slug is taken", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "platform"
)]
pub async fn create_tenant(
    State(s): State<AdminState>,
    auth: Auth,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = actor(&auth.0, None)?;
    if let Some(object) = body.as_object_mut()
        && !object.contains_key("slug")
        && let Some(id) = object.remove("id")
    {
        object.insert("slug".to_owned(), id);
    }
    let input: TenantInput = from_body(body)?;
    let out = s
        .provisioning
        .create_tenant(&actor, input)
        .await
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, Json(to_value(&out)?)))
}

/// Filters of `GET /audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Rows per page, 1–1000 (default 50).
    pub limit: Option<u32>,
    /// Rows skipped.
    pub offset: Option<u64>,
    /// Platform admins: another tenant's log.
    pub tenant: Option<String>,
    /// Entity kind (`customer`, `did`, `pbx_server`…).
    pub entity: Option<String>,
    /// One entity (UUID).
    pub entity_id: Option<String>,
    /// The user name of whoever made the change.
    pub actor: Option<String>,
    /// `created`, `updated`, `deleted`, `allocated`, …
    pub action: Option<String>,
    /// From this instant (RFC 3339 or Unix milliseconds).
    pub from: Option<String>,
    /// Before this instant (RFC 3339 or Unix milliseconds).
    pub to: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The tenant's audit log, newest first (administrators). Each row also has
/// `at` (= `at_ms`) and `details` (= `changes`) for the web UI.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page", body = PageBody),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Administrators only", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid filter", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "platform"
)]
pub async fn audit(
    State(s): State<AdminState>,
    auth: Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<PageBody>, ApiError> {
    let actor: Actor = actor(&auth.0, q.tenant.as_deref())?;
    let entity_id = non_empty(q.entity_id)
        .map(|id| {
            uuid::Uuid::parse_str(&id)
                .map_err(|_| ApiError::validation("entity_id", "invalid", "not a UUID"))
        })
        .transpose()?;
    let filter = AuditFilter {
        entity: non_empty(q.entity),
        entity_id,
        actor: non_empty(q.actor),
        action: non_empty(q.action),
        from_ms: non_empty(q.from)
            .map(|t| parse_instant("from", &t))
            .transpose()?,
        to_ms: non_empty(q.to)
            .map(|t| parse_instant("to", &t))
            .transpose()?,
    };
    let list = ListQuery {
        limit: q.limit,
        offset: q.offset,
        tenant: None,
    };
    let page = s
        .provisioning
        .audit_log(&actor, &filter, list.page())
        .await
        .map_err(api_error)?;
    let mut items = Vec::with_capacity(page.items.len());
    for entry in &page.items {
        let mut value = to_value(entry)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("at".to_owned(), Value::from(entry.at_ms));
            object.insert("details".to_owned(), entry.changes.clone());
        }
        items.push(value);
    }
    Ok(Json(PageBody {
        items,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Registers the PBX, user, tenant and audit routes.
pub(super) fn routes(router: Router<AdminState>) -> Router<AdminState> {
    router
        .route("/pbx/", get(list_pbx).post(create_pbx))
        .route("/pbx", get(list_pbx).post(create_pbx))
        .route("/pbx/{id}", get(get_pbx).put(update_pbx).delete(delete_pbx))
        .route("/users/", get(list_users).post(create_users))
        .route("/users", get(list_users).post(create_users))
        .route(
            "/users/{id}",
            get(get_users).put(update_users).delete(delete_users),
        )
        .route("/tenants/", get(list_tenants).post(create_tenant))
        .route("/tenants", get(list_tenants).post(create_tenant))
        .route("/audit", get(audit))
        .route("/audit/", get(audit))
}
