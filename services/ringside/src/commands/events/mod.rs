//! `ringside events …`: the normalized event stream.

pub mod tail;

use clap::{Args, Subcommand};

/// Normalized events on the bus.
#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print normalized events from the bus as JSON Lines.
    Tail(tail::Args),
}

/// Runs one `events` subcommand.
///
/// # Errors
/// As the subcommand.
pub fn run(args: EventsArgs) -> anyhow::Result<()> {
    match args.command {
        EventsCommand::Tail(args) => tail::run(args),
    }
}
