//! One module per command. Each exposes an `Args` type (clap derive) and a
//! `run(args) -> anyhow::Result<()>`; `main` reports the error chain.
//!
//! Commands are synchronous functions. One that needs async I/O builds its
//! tokio runtime inside its own `run` and blocks on it, so commands that do
//! not need a runtime (`ami decode`) never start one.

pub mod admin;
pub mod ami;
pub mod common;
pub mod events;
pub mod gateway;
pub mod ingestor;
pub mod monolith;
pub mod pbx_sim;
pub mod provisioning;
pub mod replay;
pub mod service;
pub mod state;

use crate::cli::Command;

/// Runs the parsed command to completion.
///
/// # Errors
/// Whatever the command reports; `main` prints the chain and exits non-zero.
pub fn run(command: Option<Command>, monolith: monolith::Args) -> anyhow::Result<()> {
    let Some(command) = command else {
        return monolith::run(monolith);
    };
    match command {
        Command::Admin(args) => admin::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Provisioning(args) => provisioning::run(args),
        Command::Ami(args) => ami::run(args),
        Command::Events(args) => events::run(args),
        Command::Ingestor(args) => ingestor::run(args),
        Command::PbxSim(args) => pbx_sim::run(args),
        Command::Replay(args) => replay::run(args),
        Command::State(args) => state::run(args),
    }
}
