//! `ringside ingestor`: the AMI ingestor service against NATS JetStream.

use ringside_ami_ingestor::{Deps, PbxSettings};

use crate::commands::common::SettingsArgs;

/// Run the AMI ingestor: watch PBXs and publish their events to NATS.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// A PBX to watch, in addition to the configured ones (repeatable):
    /// `ami://USER:SECRET@HOST:PORT?tenant=T&id=P[&tls=1][&auth=md5]`.
    #[arg(long, value_name = "URL", value_parser = parse_pbx)]
    pub pbx: Vec<PbxSettings>,
}

fn parse_pbx(text: &str) -> Result<PbxSettings, String> {
    PbxSettings::from_url(text).map_err(|e| e.to_string())
}

/// Runs until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings, or NATS unreachable at start.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut settings = args.settings.load()?;
    settings.ingestor.pbx.extend(args.pbx);
    crate::commands::service::run(settings, "ingestor", |running| async move {
        let settings = running.settings;
        let (bus, topology) = crate::bus::connect(&settings.bus, "ingestor").await?;
        running
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if settings.ingestor.pbx.is_empty() {
            tracing::info!(
                "no PBX configured: waiting for PBXs in the ringside_pbx registry bucket"
            );
        }
        tracing::info!(nats = %settings.bus.nats.url.split('@').next_back().unwrap_or_default(), pbxs = settings.ingestor.pbx.len(), "ingestor running");
        ringside_ami_ingestor::run(settings.ingestor, Deps { bus, topology }, running.shutdown)
            .await
    })
}
