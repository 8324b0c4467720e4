//! `ringside-gateway` is the only door into Ringside: REST under `/api/v1`,
//! JWT authentication with roles, the live-view WebSocket (`/ws`), the
//! amiws-compatible raw AMI WebSocket (`/ws/ami`), OpenAPI, health, metrics
//! and the embedded web UI — all under a configurable base path, optionally
//! over TLS.
//!
//! It holds no state of its own beyond caches: live views come from the state
//! service (snapshot request + view deltas on the bus), actions go to the
//! ingestors (request/reply on the bus), users come from [`Accounts`], which
//! the process that runs the gateway implements. It must never let a caller
//! see or touch another tenant's data: every bus subject it uses is built
//! from the tenant of the caller's token.
//!
//! Module map: [`settings`], [`auth`] (roles, tokens, [`Auth`] extractor,
//! login limiter), [`error`] (the one error shape), [`live`] (REST
//! snapshots, served from `replica`: per-tenant views kept by the delta
//! feed), [`actions`] (AMI actions, role gate, audit), [`ws`] (`/ws`
//! stitching), [`ami_ws`] (`/ws/ami`), [`http`] (client address, security
//! headers, CORS), [`web`] (static UI), [`api`] (login, health, OpenAPI).

pub mod actions;
pub mod admin;
pub mod ami_ws;
pub mod api;
pub mod auth;
pub mod error;
mod grpc;
pub mod http;
pub mod live;
mod replica;
pub mod settings;
pub mod state;
mod tls;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ringside_bus::{Bus, Subjects};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::{Accounts, Auth, Principal, Role};
pub use error::{ApiError, ErrorCode, FieldError};
pub use settings::GatewaySettings;

use crate::settings::{Cidr, normalize_base_path};
use crate::state::AppState;

/// Milliseconds since the Unix epoch (0 for a clock before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the gateway needs from the process that runs it.
#[derive(Clone)]
pub struct GatewayDeps {
    /// The bus (NATS or in-process).
    pub bus: Arc<dyn Bus>,
    /// The subject layout (the topology's).
    pub subjects: Subjects,
    /// The user store (password checks).
    pub accounts: Arc<dyn Accounts>,
    /// Renders Prometheus text for `/metrics`.
    pub metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// Extra routes merged under `/api/v1` (provisioning CRUD). They can use
    /// [`Auth`] and [`ApiError`]; paths are relative to `/api/v1` (e.g.
    /// `/customers/`).
    pub admin: Option<Router<()>>,
    /// The provisioning store, for the admin gRPC API
    /// (`ringside.provisioning.v1`); without it only the state API is served.
    pub provisioning: Option<Arc<ringside_provisioning::Provisioning>>,
}

fn app_state(
    settings: &GatewaySettings,
    deps: &GatewayDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<AppState> {
    settings.validate()?;
    let base_path = normalize_base_path(&settings.base_path)?;
    let trusted = settings
        .trusted_proxies
        .iter()
        .map(|c| Cidr::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let rl = &settings.login_rate_limit;
    Ok(AppState {
        settings: Arc::new(settings.clone()),
        base_path: base_path.into(),
        bus: deps.bus.clone(),
        subjects: deps.subjects.clone(),
        accounts: deps.accounts.clone(),
        metrics: deps.metrics.clone(),
        tokens: Arc::new(auth::Tokens::new(
            settings.jwt_secret.as_bytes(),
            settings.token_ttl,
        )),
        limiter: Arc::new(auth::LoginLimiter::new(rl.per_user, rl.per_ip, rl.window)),
        hub: Arc::new(ws::LiveHub::default()),
        replicas: Arc::default(),
        server_ids: Arc::new(ami_ws::ServerIds::default()),
        trusted_proxies: trusted.into(),
        provisioning: deps.provisioning.clone(),
        shutdown,
    })
}

/// The gateway's routes, relative to the base path.
fn routes(state: AppState, admin: Option<Router<()>>, grpc: Router) -> Router {
    let mut api = Router::new()
        .route("/auth/login", post(api::login))
        .route("/auth/me", get(api::me))
        .route("/live/{view}", get(live::live_view))
        .route("/pbx/{id}/actions", post(actions::pbx_action))
        .route("/calls/{id}/hangup", post(actions::hangup_call))
        .route("/openapi.json", get(api::openapi_json))
        .route("/docs", get(api::docs_page))
        .route("/docs.js", get(api::docs_js))
        .route("/docs.css", get(api::docs_css))
        .with_state(state.clone());
    if let Some(admin) = admin {
        api = api.merge(admin);
    }
    // Latency by route template (a route layer: it sees the matched path).
    let api = api
        .route_layer(axum::middleware::from_fn(ringside_telemetry::http_metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint") });
    let mut app = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/ws", get(ws::ws_live))
        .route("/ws/ami", get(ami_ws::ws_ami))
        .route_layer(axum::middleware::from_fn(ringside_telemetry::http_metrics))
        // gRPC paths (`/ringside.state.v1.State/…`) never clash with these;
        // merged before the fallback, which would otherwise clash with
        // tonic's own.
        .merge(grpc.with_state::<AppState>(()))
        .fallback(web::static_ui)
        .with_state(state.clone())
        .nest("/api/v1", api);
    for (name, value) in http::security_headers(&state.settings) {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    if let Some(cors) = http::cors(&state.settings) {
        app = app.layer(cors);
    }
    app.layer(axum::middleware::from_fn_with_state(state, http::context))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(ringside_telemetry::server_span::<axum::body::Body>),
        )
}

/// Serves `inner` under `base` (`/a/b/`): the prefix is stripped before
/// routing, `/a/b` redirects to `/a/b/`, anything else is 404.
fn under_base(base: &str, inner: Router) -> Router {
    let prefix: Arc<str> = base.trim_end_matches('/').into();
    Router::new().fallback(move |mut request: Request| {
        let (prefix, inner) = (prefix.clone(), inner.clone());
        async move {
            let path = request.uri().path();
            if path == &*prefix {
                let query = request
                    .uri()
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                return (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, format!("{prefix}/{query}"))],
                )
                    .into_response();
            }
            let Some(rest) = path.strip_prefix(&*prefix).filter(|r| r.starts_with('/')) else {
                return ApiError::not_found("outside the gateway's base path").into_response();
            };
            let rewritten = match request.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            match rewritten.parse() {
                Ok(uri) => *request.uri_mut() = uri,
                Err(_) => return ApiError::bad_request("invalid path").into_response(),
            }
            let response: Response = match inner.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            response
        }
    })
}

/// The whole HTTP application (REST, WebSockets, UI) for `settings`.
/// Testable with `tower::ServiceExt::oneshot`; [`run`] serves it.
///
/// # Errors
/// Invalid settings (see [`GatewaySettings::validate`]).
pub fn router(settings: GatewaySettings, deps: GatewayDeps) -> anyhow::Result<Router> {
    build_router(&settings, deps, CancellationToken::new())
}

fn build_router(
    settings: &GatewaySettings,
    deps: GatewayDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<Router> {
    let state = app_state(settings, &deps, shutdown)?;
    let base = state.base_path.clone();
    let grpc = grpc::router(&state, state.provisioning.clone());
    let app = routes(state, deps.admin, grpc);
    Ok(if &*base == "/" {
        app
    } else {
        under_base(&base, app)
    })
}

/// A bound gateway, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
}

impl Server {
    /// The address actually bound (port 0 resolved).
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` (given to [`bind`]) fires; WebSocket clients
    /// are closed then too.
    ///
    /// # Errors
    /// The server failed.
    pub async fn serve(self) -> anyhow::Result<()> {
        use axum::serve::ListenerExt as _;
        let make = self.app.into_make_service_with_connect_info::<SocketAddr>();
        let stop = self.shutdown.clone();
        match self.tls {
            // TCP_NODELAY: a WebSocket frame or a small answer goes out at
            // once instead of waiting, under Nagle's algorithm, for the
            // client's delayed ACK of the previous one (up to 40 ms).
            None => axum::serve(self.listener.tap_io(no_delay), make)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .context("serving HTTP"),
            Some(config) => {
                // `tap_io` (a no-op here: `TlsListener` set TCP_NODELAY before
                // the handshake) makes the listener a `TapIo`, for which axum
                // provides the peer address as `ConnectInfo<SocketAddr>`.
                let listener = tls::TlsListener::new(self.listener, config, self.shutdown.clone())
                    .tap_io(|_| {});
                axum::serve(listener, make)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
                    .context("serving HTTPS")
            }
        }
    }
}

/// Sends small writes at once (see [`Server::serve`]).
pub(crate) fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

/// Checks the settings and binds the listener.
///
/// # Errors
/// Invalid settings (a weak JWT secret outside monolithic mode…), unreadable
/// TLS material, or the address cannot be bound.
pub async fn bind(
    settings: GatewaySettings,
    deps: GatewayDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<Server> {
    let app = build_router(&settings, deps, shutdown.clone()).context("gateway settings")?;
    let tls = settings
        .tls
        .as_ref()
        .map(tls::server_config)
        .transpose()
        .context("gateway TLS")?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    Ok(Server {
        listener,
        app,
        tls,
        shutdown,
    })
}

/// Runs the gateway until `shutdown`.
///
/// # Errors
/// As [`bind`] and [`Server::serve`].
pub async fn run(
    settings: GatewaySettings,
    deps: GatewayDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let server = bind(settings, deps, shutdown).await?;
    tracing::info!(addr = %server.local_addr()?, tls = server.tls.is_some(), "gateway listening");
    server.serve().await
}
