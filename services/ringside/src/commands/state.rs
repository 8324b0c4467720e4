//! `ringside state`: the state service against NATS JetStream.

use std::sync::atomic::Ordering;

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
        let state =
            StateService::start(running.settings.state.clone(), Deps { bus, topology }).await?;
        running.ready.store(true, Ordering::Relaxed);
        tracing::info!(shard = %running.settings.state.shard(), "state service running");
        state.run_until(running.shutdown).await
    })
}
