//! What every handler shares.

use std::sync::Arc;

use ringside_bus::{Bus, Subjects};

use crate::GatewaySettings;
use crate::ami_ws::ServerIds;
use crate::auth::{Accounts, LoginLimiter, Tokens};
use crate::settings::Cidr;
use crate::ws::LiveHub;

/// The gateway's shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Settings as loaded.
    pub settings: Arc<GatewaySettings>,
    /// The normalized base path (`/` or `/a/b/`).
    pub base_path: Arc<str>,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The subject layout.
    pub subjects: Subjects,
    /// The user store.
    pub accounts: Arc<dyn Accounts>,
    /// Prometheus text for `/metrics`.
    pub metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// Token signing and checking.
    pub tokens: Arc<Tokens>,
    /// Failed-login counters.
    pub limiter: Arc<LoginLimiter>,
    /// Per-tenant live feeds.
    pub hub: Arc<LiveHub>,
    /// Per-tenant live views for REST reads, kept by those feeds.
    pub replicas: Arc<crate::replica::Replicas>,
    /// amiws server numbers.
    pub server_ids: Arc<ServerIds>,
    /// Proxies whose forwarded headers are believed.
    pub trusted_proxies: Arc<[Cidr]>,
    /// The provisioning store when this process has it: live calls are
    /// priced from its tariffs.
    pub provisioning: Option<Arc<ringside_provisioning::Provisioning>>,
    /// Fires when the gateway stops: WebSocket clients are closed.
    pub shutdown: tokio_util::sync::CancellationToken,
}
