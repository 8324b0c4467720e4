//! The admin REST routes (`/api/v1/customers/`, `/pbx/{id}/deployments`,
//! `/reports/cdr`, …) over the provisioning service.
//!
//! The gateway only translates here: the token's [`Principal`] becomes
//! provisioning's [`Actor`], the request becomes a call on the
//! [`Provisioning`] facade, and its [`Error`] becomes the API's one error
//! shape. Role checks, validation, tenant scoping, audit rows and domain
//! events all live in provisioning, so REST and gRPC cannot drift apart.
//! What is gateway-specific is the wire format the web UI and the Asterisk
//! Admin API clients already speak (a tariff's `increment`, a DID's
//! `customer_id`, RFC 3339 report periods), the CSV download, deployments
//! (dry run, apply and rollback through provisioning's `Deployer`) and the
//! conference (AMI `Originate`s through the ingestor).
//!
//! [`admin_router`] is what the process that runs the gateway passes as
//! [`GatewayDeps::admin`](crate::GatewayDeps::admin); [`ProvisioningAccounts`]
//! is its [`Accounts`]; [`AdminDoc`] documents the routes in OpenAPI.
//!
//! Module map: [`crud`] (the operator's entities, DID allocation),
//! [`platform`] (PBX servers, users, tenants, audit), [`deployments`]
//! (history, dry run, apply, rollback), [`reports`] (CDR report and CSV,
//! dashboard), [`conference`].

pub mod conference;
pub mod crud;
pub mod deployments;
pub mod platform;
pub mod reports;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::routing::{get, post};
use ringside_bus::{Bus, Subjects};
use ringside_provisioning::apply::{ApplySettings, Deployer};
use ringside_provisioning::{Actor, Error, Page, Provisioning};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::auth::{Accounts, Principal, Role};
use crate::error::{ApiError, FieldError};

/// What every admin handler shares (cheap to clone).
#[derive(Clone)]
pub struct AdminState {
    /// The provisioning facade.
    pub provisioning: Arc<Provisioning>,
    /// Applies configuration (one per process: it serializes applies per
    /// PBX, so a process that also applies elsewhere shares it).
    pub deployer: Arc<Deployer>,
    /// The bus, for the AMI actions of a conference.
    pub bus: Arc<dyn Bus>,
    /// The subject layout (the provisioning service's topology).
    pub subjects: Subjects,
}

impl AdminState {
    /// The state over `provisioning`, with a [`Deployer`] of default
    /// [`ApplySettings`]. The subjects are those of `provisioning`'s
    /// topology, which is the gateway's in every composition of the services.
    pub fn new(provisioning: Arc<Provisioning>, bus: Arc<dyn Bus>) -> Self {
        let subjects = provisioning.topology().subjects().clone();
        let deployer = Arc::new(Deployer::new(
            provisioning.clone(),
            ApplySettings::default(),
        ));
        AdminState {
            provisioning,
            deployer,
            bus,
            subjects,
        }
    }
}

/// The admin routes, relative to `/api/v1`, with no fallback (the gateway
/// adds its own after merging them). `bus` carries the conference's
/// `Originate`s to the ingestors.
pub fn admin_router(provisioning: Arc<Provisioning>, bus: Arc<dyn Bus>) -> Router<()> {
    admin_routes(AdminState::new(provisioning, bus))
}

/// [`admin_router`] over a given state (e.g. a [`Deployer`] shared with the
/// gRPC service).
pub fn admin_routes(state: AdminState) -> Router<()> {
    let mut router = Router::new();
    router = crud::routes(router);
    router = platform::routes(router);
    router
        .route(
            "/pbx/{id}/deployments",
            get(deployments::history).post(deployments::deploy),
        )
        .route(
            "/pbx/{id}/deployments/{dep}/rollback",
            post(deployments::rollback),
        )
        .route("/reports/cdr", get(reports::cdr))
        .route("/dashboard/stats", get(reports::dashboard))
        .route("/conference/", post(conference::conference))
        .route("/conference", post(conference::conference))
        .with_state(state)
}

/// Provisioning's actor for the caller, acting in `tenant` (the caller's own
/// unless a platform admin asked for another with `?tenant=`).
///
/// # Errors
/// As [`Principal::acting_tenant`]: 404 for another tenant, 422 for an
/// invalid one.
pub fn actor(who: &Principal, tenant: Option<&str>) -> Result<Actor, ApiError> {
    let tenant = who.acting_tenant(tenant)?;
    Ok(Actor {
        user_id: Uuid::parse_str(&who.user_id).ok(),
        username: who.username.clone(),
        tenant: tenant.as_str().to_owned(),
        role: match who.role {
            Role::Viewer => ringside_provisioning::Role::Viewer,
            Role::Operator => ringside_provisioning::Role::Operator,
            Role::TenantAdmin => ringside_provisioning::Role::TenantAdmin,
            Role::PlatformAdmin => ringside_provisioning::Role::PlatformAdmin,
        },
    })
}

/// Maps a provisioning error onto the API's: the four a caller can act on
/// keep their meaning; everything else is a 500 whose detail goes to the log
/// only (it may name tables, constraints or hosts).
pub fn api_error(error: Error) -> ApiError {
    match error {
        Error::Validation(v) => ApiError::validation_fields(
            v.fields
                .into_iter()
                .map(|f| FieldError {
                    field: f.field,
                    code: f.code.to_owned(),
                    message: f.message,
                })
                .collect(),
        ),
        Error::NotFound { entity } => ApiError::not_found(format!("{entity} not found")),
        Error::Conflict { entity, message } => ApiError::conflict(format!("{entity}: {message}")),
        Error::Forbidden(reason) => ApiError::forbidden(reason),
        other => ApiError::internal(other),
    }
}

/// An id from a path: anything that is not a UUID cannot exist, so it is a
/// 404 like another tenant's id.
///
/// # Errors
/// 404.
pub fn parse_id(id: &str, entity: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("{entity} not found")))
}

/// `?limit=&offset=` of list endpoints, and `?tenant=` for platform admins.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Rows per page, 1–1000 (default 50).
    pub limit: Option<u32>,
    /// Rows skipped (default 0).
    pub offset: Option<u64>,
    /// Platform admins: act on another tenant.
    pub tenant: Option<String>,
}

impl ListQuery {
    /// The page asked for (provisioning clamps the limit).
    pub fn page(&self) -> Page {
        let default = Page::default();
        Page {
            limit: self.limit.unwrap_or(default.limit),
            offset: self.offset.unwrap_or(default.offset),
        }
    }
}

/// `?tenant=` of single-item endpoints (platform admins).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Platform admins: act on another tenant.
    pub tenant: Option<String>,
}

/// The JSON of a list page: `{"items", "total", "limit", "offset"}`.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PageBody {
    /// The rows of this page.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// All matching rows.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The offset used.
    pub offset: u64,
}

/// Reads a request body into provisioning's input type. A body that does
/// not fit is a 422 naming the field when serde says which one.
///
/// # Errors
/// 422.
pub fn from_body<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        let field = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        match field {
            Some(field) => {
                let message = format!("{field} is required");
                ApiError::validation(&field, "required", message)
            }
            None => ApiError::validation("body", "invalid", text),
        }
    })
}

/// Serializes an answer row.
///
/// # Errors
/// 500 (never with provisioning's plain types).
pub fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// [`Accounts`] over provisioning's users: the login of the gateway checks
/// passwords against the same store the admin routes write.
pub struct ProvisioningAccounts {
    provisioning: Arc<Provisioning>,
}

impl ProvisioningAccounts {
    /// Accounts backed by `provisioning`.
    pub fn new(provisioning: Arc<Provisioning>) -> Self {
        ProvisioningAccounts { provisioning }
    }
}

#[async_trait]
impl Accounts for ProvisioningAccounts {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Option<Principal>> {
        // `Provisioning::authenticate` verifies argon2 inline (tens of
        // milliseconds of CPU); run the whole call on a blocking thread so a
        // burst of logins cannot stall the runtime's workers. Its database
        // I/O still runs on the runtime through the handle.
        let provisioning = self.provisioning.clone();
        let (username, password) = (username.to_owned(), password.to_owned());
        let handle = tokio::runtime::Handle::current();
        let user = tokio::task::spawn_blocking(move || {
            handle.block_on(provisioning.authenticate(&username, &password))
        })
        .await??;
        Ok(user.map(|u| Principal {
            user_id: u.id.to_string(),
            username: u.username,
            tenant: u.tenant,
            role: match u.role {
                ringside_provisioning::Role::Viewer => Role::Viewer,
                ringside_provisioning::Role::Operator => Role::Operator,
                ringside_provisioning::Role::TenantAdmin => Role::TenantAdmin,
                ringside_provisioning::Role::PlatformAdmin => Role::PlatformAdmin,
            },
        }))
    }
}

/// The OpenAPI document of the admin routes. The gateway's `/api/v1/
/// openapi.json` serves [`crate::api::ApiDoc`]; [`openapi_with_admin`] is
/// the two merged.
#[derive(OpenApi)]
#[openapi(
    paths(
        crud::list_customers, crud::create_customers, crud::get_customers, crud::update_customers, crud::delete_customers,
        crud::list_providers, crud::create_providers, crud::get_providers, crud::update_providers, crud::delete_providers,
        crud::list_gateways, crud::create_gateways, crud::get_gateways, crud::update_gateways, crud::delete_gateways,
        crud::list_dids, crud::create_dids, crud::get_dids, crud::update_dids, crud::delete_dids,
        crud::list_routes, crud::create_routes, crud::get_routes, crud::update_routes, crud::delete_routes,
        crud::list_extensions, crud::create_extensions, crud::get_extensions, crud::update_extensions, crud::delete_extensions,
        crud::list_tariffs, crud::create_tariffs, crud::get_tariffs, crud::update_tariffs, crud::delete_tariffs,
        crud::allocate_did, crud::deallocate_did,
        platform::list_pbx, platform::create_pbx, platform::get_pbx, platform::update_pbx, platform::delete_pbx,
        platform::list_users, platform::create_users, platform::get_users, platform::update_users, platform::delete_users,
        platform::list_tenants, platform::create_tenant, platform::audit,
        deployments::history, deployments::deploy, deployments::rollback,
        reports::cdr, reports::dashboard,
        conference::conference,
    ),
    components(schemas(
        PageBody,
        deployments::DeployRequest, deployments::DryRun, deployments::Applied,
        conference::ConferenceRequest, conference::ConferenceResult, conference::NumberResult,
    )),
    tags(
        (name = "admin", description = "The operator's admin data (provisioning)"),
        (name = "platform", description = "PBX servers, users, tenants, audit log"),
        (name = "deployments", description = "Asterisk configuration: history, dry run, rollback"),
        (name = "reports", description = "CDR report, CSV export, dashboard"),
        (name = "conference", description = "Conferences between numbers")
    )
)]
pub struct AdminDoc;

/// The gateway's OpenAPI document with the admin routes: what
/// `/api/v1/openapi.json` should serve when the admin routes are mounted.
pub fn openapi_with_admin() -> utoipa::openapi::OpenApi {
    let mut doc = crate::api::ApiDoc::openapi();
    doc.merge(AdminDoc::openapi());
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_name_the_missing_field() {
        #[derive(Debug, Deserialize)]
        struct T {
            #[allow(dead_code)]
            pattern: String,
        }
        let e = from_body::<T>(serde_json::json!({})).unwrap_err();
        assert_eq!(e.details[0].field, "pattern");
        assert_eq!(e.details[0].code, "required");
        let e = from_body::<T>(serde_json::json!({"pattern": 5})).unwrap_err();
        assert_eq!(e.details[0].field, "body");
    }

    #[test]
    fn the_actor_carries_the_callers_identity_and_only_admins_change_tenant() {
        let who = Principal {
            user_id: Uuid::nil().to_string(),
            username: "ann".into(),
            tenant: "acme".into(),
            role: Role::Operator,
        };
        let a = actor(&who, None).unwrap();
        assert_eq!(a.user_id, Some(Uuid::nil()));
        assert_eq!(a.tenant, "acme");
        assert_eq!(a.role, ringside_provisioning::Role::Operator);
        assert!(actor(&who, Some("beta")).is_err());
        let root = Principal {
            role: Role::PlatformAdmin,
            ..who
        };
        assert_eq!(actor(&root, Some("beta")).unwrap().tenant, "beta");
    }

    #[test]
    fn the_merged_document_has_the_gateways_and_the_admin_routes() {
        let doc = serde_json::to_value(openapi_with_admin()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/v1/auth/login"));
        assert!(paths.contains_key("/api/v1/customers/{id}"));
        assert!(paths.contains_key("/api/v1/pbx/{id}/deployments"));
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let e = api_error(Error::Internal("table secret_stuff missing".into()));
        assert_eq!(e.code, crate::ErrorCode::Internal);
        assert!(!e.message.contains("secret_stuff"));
        let e = api_error(Error::NotFound { entity: "customer" });
        assert_eq!(e.code, crate::ErrorCode::NotFound);
    }
}
