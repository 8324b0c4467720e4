//! `ringside gateway`: the HTTP/WebSocket door against NATS and the
//! provisioning database (PostgreSQL in deployments).
//!
//! The gateway reads and writes the admin data through the provisioning
//! library on the shared database (validation, roles, audit and domain
//! events are the library's); `ringside provisioning` runs the background
//! side (PBX registry, rating). Live views come from the state service over
//! the bus, AMI actions go to the ingestors over the bus.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use ringside_gateway::GatewayDeps;
use ringside_gateway::admin::{ProvisioningAccounts, admin_router};
use ringside_provisioning::Provisioning;

use crate::commands::common::SettingsArgs;
use crate::commands::provisioning::sample_pool;
use crate::commands::service;

/// Run the gateway: REST `/api/v1`, WebSockets, the web UI, `/metrics`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings (a default or short JWT secret included), NATS or the
/// database unreachable at start, the listen address taken.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    settings
        .gateway
        .validate()
        .map_err(|e| crate::settings::SettingsError::new(format!("[gateway]: {e}")))?;
    service::run(settings, "gateway", |running| async move {
        let settings = running.settings;
        let (bus, topology) = crate::bus::connect(&settings.bus, "gateway").await?;
        let provisioning = Arc::new(
            Provisioning::open(&settings.provisioning, bus.clone(), topology.clone())
                .await
                .context("opening the provisioning database")?,
        );
        sample_pool(&provisioning, &running.shutdown);
        let metrics = running.telemetry.metrics();
        let deps = GatewayDeps {
            bus: bus.clone(),
            subjects: topology.subjects().clone(),
            accounts: Arc::new(ProvisioningAccounts::new(provisioning.clone())),
            metrics: Some(Arc::new(move || metrics.render())),
            admin: Some(admin_router(provisioning.clone(), bus)),
            provisioning: Some(provisioning),
        };
        let server =
            ringside_gateway::bind(settings.gateway.clone(), deps, running.shutdown.clone())
                .await
                .context("starting the gateway")?;
        running.ready.store(true, Ordering::Relaxed);
        tracing::info!(addr = %server.local_addr().context("the gateway's address")?, "gateway running");
        server.serve().await
    })
}
