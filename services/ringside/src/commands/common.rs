//! What the commands that talk to the bus share: `--config` and `--nats-url`,
//! and a small async runtime.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::settings::{self, Settings};

/// Where the settings come from, and the common override.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// Configuration file (TOML); `RINGSIDE__SECTION__KEY` variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// NATS server URL (overrides `bus.nats.url`).
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
}

impl SettingsArgs {
    /// Loads the settings (file, then environment) and applies `--nats-url`.
    ///
    /// # Errors
    /// Invalid settings ([`settings::SettingsError`], exit 64).
    pub fn load(&self) -> anyhow::Result<Settings> {
        let mut settings = settings::load(self.config.as_deref(), &settings::process_env())?;
        if let Some(url) = &self.nats_url {
            settings.bus.nats.url = url.clone();
        }
        Ok(settings)
    }
}

/// A single-threaded runtime, for the command-line tools.
///
/// # Errors
/// The runtime cannot start (no threads, no file descriptors).
pub fn tool_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
