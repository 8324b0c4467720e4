//! One module per command. Each exposes an `Args` type (clap derive) and a
//! `run(args) -> anyhow::Result<()>`; `main` reports the error chain.
//!
//! Commands are synchronous functions. One that needs async I/O builds its
//! tokio runtime inside its own `run` and blocks on it, so commands that do
//! not need a runtime (`ami decode`) never start one.

pub mod ami;
pub mod common;
pub mod events;
pub mod ingestor;
pub mod pbx_sim;
pub mod replay;
pub mod service;
pub mod state;

use crate::cli::Command;

/// Runs the parsed command to completion.
///
/// # Errors
/// Whatever the command reports; `main` prints the chain and exits non-zero.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ami(args) => ami::run(args),
        Command::Events(args) => events::run(args),
        Command::Ingestor(args) => ingestor::run(args),
        Command::PbxSim(args) => pbx_sim::run(args),
        Command::Replay(args) => replay::run(args),
        Command::State(args) => state::run(args),
    }
}
