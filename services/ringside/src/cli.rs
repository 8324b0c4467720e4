//! The command line: one top-level subcommand per mode of the binary.
//!
//! Each command's arguments are declared beside its code, in
//! `commands/<name>.rs`; this file only lists them. Adding a command is a
//! variant here, a module under `commands/`, and one arm in
//! [`crate::commands::run`].

use clap::{Parser, Subcommand};

use crate::commands;

/// Ringside: real-time operations for Asterisk fleets.
#[derive(Debug, Parser)]
#[command(
    name = "ringside",
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Without a command, the whole product runs in this one process
    /// (monolithic mode).
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub monolith: commands::monolith::Args,
}

/// The modes of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Asterisk Manager Interface tools for operators.
    Ami(commands::ami::AmiArgs),
    /// Normalized events on the bus.
    Events(commands::events::EventsArgs),
    /// Run the AMI ingestor service (PBX connections → normalized events on NATS).
    Ingestor(commands::ingestor::Args),
    /// Run a simulated PBX that speaks AMI (a seeded model, or a transcript replay).
    PbxSim(commands::pbx_sim::Args),
    /// Replay recorded AMI transcripts into the state views (`--dump-state` prints them).
    Replay(commands::replay::Args),
    /// Run the state service (events → live views, snapshots, deltas, call records).
    State(commands::state::Args),
    /// Run the gateway (REST, WebSockets, web UI) against NATS and PostgreSQL.
    Gateway(commands::gateway::Args),
    /// Run the provisioning service (PBX registry, call rating) against NATS and PostgreSQL.
    Provisioning(commands::provisioning::Args),
    /// Administration: users.
    Admin(commands::admin::Args),
}

impl Command {
    /// Long-running services set up their own telemetry (see
    /// `commands::service`).
    pub fn is_service(&self) -> bool {
        matches!(
            self,
            Command::Ingestor(_)
                | Command::State(_)
                | Command::Gateway(_)
                | Command::Provisioning(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
