//! gRPC for clients, on the gateway's own port: the state API
//! (`ringside.state.v1.State`) and, when the process has the provisioning
//! store, the admin API (`ringside.provisioning.v1.Provisioning`), with
//! server reflection and gRPC-Web.
//!
//! One listener serves REST, WebSockets and gRPC: HTTP/2 with prior
//! knowledge (native gRPC clients) and HTTP/1.1 (gRPC-Web from browsers)
//! are told apart per connection, over TLS too (ALPN offers `h2`).
//!
//! Authentication is the REST API's: `authorization: Bearer <access_token>`
//! in the call's metadata, checked by [`Authenticate`] before any service
//! sees the call. The state service behind the bus trusts its callers, so
//! [`TenantScopedState`] rewrites each request's tenant to the one the
//! caller may act on (their own; another only for a platform admin, and a
//! tenant they may not see is `NOT_FOUND`, as over REST). Reflection needs
//! no token: it describes the API, not data.

use std::sync::Arc;

use ringside_proto::provisioning::v1::provisioning_server::ProvisioningServer;
use ringside_proto::state::v1 as pb;
use ringside_proto::state::v1::state_server::{State, StateServer};
use ringside_provisioning::Provisioning;
use ringside_state::grpc::StateApi;
use tonic::service::Interceptor;
use tonic::{Request, Response, Status};

use crate::auth::{Principal, Tokens};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The gRPC services as an axum router, to merge into the gateway's.
pub(crate) fn router(state: &AppState, provisioning: Option<Arc<Provisioning>>) -> axum::Router {
    let auth = Authenticate {
        tokens: state.tokens.clone(),
    };
    let api = StateApi::over(state.bus.clone(), state.subjects.clone())
        .with_timeout(state.settings.request_timeout)
        .closing_on(state.shutdown.clone());
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ringside_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the embedded descriptor set is valid");
    let mut routes = tonic::service::Routes::new(StateServer::with_interceptor(
        TenantScopedState { inner: api },
        auth.clone(),
    ))
    .add_service(reflection);
    if let Some(provisioning) = provisioning {
        routes = routes.add_service(ProvisioningServer::with_interceptor(
            ringside_provisioning::ProvisioningApi::new(provisioning),
            auth,
        ));
    }
    routes
        .prepare()
        .into_axum_router()
        .layer(tonic_web::GrpcWebLayer::new())
}

/// Checks the bearer token of every call and hands the caller on in the
/// request's extensions: the [`Principal`], and provisioning's `Actor` in
/// the caller's own tenant.
#[derive(Clone)]
pub(crate) struct Authenticate {
    tokens: Arc<Tokens>,
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Status::unauthenticated("an `authorization: Bearer <token>` is required")
            })?;
        let who = self.tokens.verify(token.trim()).map_err(status_of)?;
        let actor = crate::admin::actor(&who, None).map_err(status_of)?;
        request.extensions_mut().insert(actor);
        request.extensions_mut().insert(who);
        Ok(request)
    }
}

/// The state API with each request's tenant set to the caller's.
struct TenantScopedState {
    inner: StateApi,
}

/// A state API request, which names its tenant.
trait NamesTenant {
    fn tenant(&mut self) -> &mut String;
}

macro_rules! names_tenant {
    ($($request:ty),*) => {
        $(impl NamesTenant for $request {
            fn tenant(&mut self) -> &mut String {
                &mut self.tenant
            }
        })*
    };
}

names_tenant!(
    pb::GetSnapshotRequest,
    pb::WatchDeltasRequest,
    pb::ListCallsRequest,
    pb::GetCallRequest
);

/// The request with its tenant set to the one the caller acts on: their
/// own when it names none; another only for a platform admin (else
/// `NOT_FOUND`, as over REST).
fn scoped<T: NamesTenant>(mut request: Request<T>) -> Result<Request<T>, Status> {
    let who = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("not authenticated"))?;
    let asked = request.get_mut().tenant();
    let tenant = who
        .acting_tenant((!asked.is_empty()).then_some(asked.as_str()))
        .map_err(status_of)?;
    *asked = tenant.as_str().to_owned();
    Ok(request)
}

#[tonic::async_trait]
impl State for TenantScopedState {
    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::Snapshot>, Status> {
        self.inner.get_snapshot(scoped(request)?).await
    }

    type WatchDeltasStream = <StateApi as State>::WatchDeltasStream;

    async fn watch_deltas(
        &self,
        request: Request<pb::WatchDeltasRequest>,
    ) -> Result<Response<Self::WatchDeltasStream>, Status> {
        self.inner.watch_deltas(scoped(request)?).await
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        self.inner.list_calls(scoped(request)?).await
    }

    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::Call>, Status> {
        self.inner.get_call(scoped(request)?).await
    }
}

/// The gRPC status of a REST error, with the same message.
fn status_of(error: ApiError) -> Status {
    let message = error.message;
    match error.code {
        ErrorCode::NotFound => Status::not_found(message),
        ErrorCode::Unauthorized => Status::unauthenticated(message),
        ErrorCode::Forbidden => Status::permission_denied(message),
        ErrorCode::Validation | ErrorCode::BadRequest => Status::invalid_argument(message),
        ErrorCode::Conflict => Status::already_exists(message),
        ErrorCode::RateLimited => Status::resource_exhausted(message),
        ErrorCode::Unavailable => Status::unavailable(message),
        ErrorCode::Internal => Status::internal(message),
    }
}
