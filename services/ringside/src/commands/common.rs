//! What the commands that talk to the bus share: `--config` and `--nats-url`,
//! and a small async runtime.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use futures::{Stream, StreamExt};
use ringside_bus::StartPosition;

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

/// Where a stream read starts: `--since` back from now, or `otherwise`.
pub fn start_at(since: Option<Duration>, otherwise: StartPosition) -> StartPosition {
    match since {
        Some(back) => StartPosition::FromTime(SystemTime::now() - back),
        None => otherwise,
    }
}

/// The next item, or `None` on Ctrl-C.
pub async fn next_or_interrupt<S: Stream + Unpin>(items: &mut S) -> Option<S::Item> {
    tokio::select! {
        next = items.next() => next,
        _ = tokio::signal::ctrl_c() => None,
    }
}

/// What a write to stdout means for the command: `Ok(true)` go on,
/// `Ok(false)` stop quietly (the reader went away, as `| head` does).
///
/// # Errors
/// Any other write error.
pub fn keep_writing(written: io::Result<()>) -> anyhow::Result<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}
