//! The small HTTP listener of services that have no HTTP port of their own
//! (ingestor, state, provisioning): `/metrics` for Prometheus, `/healthz`
//! (the process answers: liveness) and `/readyz` (the service says it can do
//! its work: readiness). The gateway merges [`router`] into its own port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::{MetricsHandle, TelemetryError};

/// Whether the service is ready to take work (connected to the bus, caught
/// up, …). Called on every `/readyz`, so it must be cheap.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct Routes {
    metrics: MetricsHandle,
    ready: Readiness,
}

/// `/metrics`, `/healthz` and `/readyz` as an axum router, to serve alone or
/// merge into another.
pub fn router(metrics: MetricsHandle, ready: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Routes { metrics, ready })
}

async fn metrics_text(State(routes): State<Routes>) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        routes.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(routes): State<Routes>) -> Response {
    if (routes.ready)() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// A bound metrics/health listener; [`MetricsServer::local_addr`] is the real
/// address (tests bind port 0).
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr`.
    ///
    /// # Errors
    /// [`TelemetryError::Listener`] if the address cannot be bound.
    pub async fn bind(addr: SocketAddr) -> Result<MetricsServer, TelemetryError> {
        let failed = |source| TelemetryError::Listener {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        Ok(MetricsServer { listener, addr })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then finishes the requests in
    /// flight.
    ///
    /// # Errors
    /// [`TelemetryError::Listener`] if serving fails.
    pub async fn serve(
        self,
        metrics: MetricsHandle,
        ready: Readiness,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TelemetryError> {
        let addr = self.addr;
        axum::serve(self.listener, router(metrics, ready))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| TelemetryError::Listener {
                addr: addr.to_string(),
                source,
            })
    }
}

/// Binds `addr` and serves `/metrics`, `/healthz`, `/readyz` until
/// `shutdown` completes.
///
/// # Errors
/// As [`MetricsServer::bind`] and [`MetricsServer::serve`].
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: MetricsHandle,
    ready: impl Fn() -> bool + Send + Sync + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    MetricsServer::bind(addr)
        .await?
        .serve(metrics, Arc::new(ready), shutdown)
        .await
}
