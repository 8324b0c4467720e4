//! `ringside state`: the state service against NATS JetStream.

use std::sync::atomic::Ordering;

use ringside_state::grpc::GrpcServer;
use ringside_state::service::{Deps, StateService};

use crate::commands::common::SettingsArgs;
use crate::commands::service;

/// Run the state service: project the events stream into live views, serve
/// snapshots, publish deltas and call records.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs until SIGINT/SIGTERM, then saves a last snapshot.
///
/// # Errors
/// Invalid settings, NATS unreachable at start, or an unreadable snapshot.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    settings
        .state
        .validate()
        .map_err(crate::settings::SettingsError::new)?;
    service::run(settings, "state", |running| async move {
        let (bus, topology) = crate::bus::connect(&running.settings.bus, "state").await?;
        let deps = Deps { bus, topology };
        // Bound before the service starts: a taken port fails the start.
        let grpc = match running.settings.state.grpc_listen {
            Some(addr) => Some(GrpcServer::bind(addr, deps.clone()).await?),
            None => None,
        };
        let state = StateService::start(running.settings.state.clone(), deps).await?;
        running.ready.store(true, Ordering::Relaxed);
        tracing::info!(shard = %running.settings.state.shard(), "state service running");
        let Some(grpc) = grpc else {
            return state.run_until(running.shutdown).await;
        };
        tracing::info!(addr = %grpc.local_addr()?, "state gRPC API (no authentication: internal network only)");
        // Either half failing stops the other.
        let stop = running.shutdown.clone();
        let served = tokio::spawn(async move {
            let result = grpc.run_until(stop.clone()).await;
            stop.cancel();
            result
        });
        let applied = state.run_until(running.shutdown.clone()).await;
        running.shutdown.cancel();
        let served = served.await.map_err(anyhow::Error::from).and_then(|r| r);
        applied.and(served)
    })
}
