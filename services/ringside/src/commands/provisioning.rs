//! `ringside provisioning`: the provisioning service's background side
//! against NATS and PostgreSQL — it re-publishes every PBX server into the
//! ingestors' registry at start and rates call records into CDRs. The admin
//! API itself is served by the gateway through the same library.

use std::sync::atomic::Ordering;

use anyhow::Context as _;
use ringside_provisioning::Provisioning;

use crate::commands::common::SettingsArgs;
use crate::commands::service;

/// Run the provisioning service: PBX registry and call rating.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings; NATS or the database unreachable at start.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    service::run(settings, "provisioning", |running| async move {
        let settings = running.settings;
        let (bus, topology) = crate::bus::connect(&settings.bus, "provisioning").await?;
        let provisioning = Provisioning::open(&settings.provisioning, bus, topology)
            .await
            .context("opening the provisioning database")?;
        running.ready.store(true, Ordering::Relaxed);
        tracing::info!("provisioning running (PBX registry synchronised, rating call records)");
        provisioning
            .run_rater(running.shutdown)
            .await
            .context("rating call records")
    })
}
