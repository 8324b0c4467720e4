//! `ringside ami …`: the operator's AMI tools.

pub mod decode;
mod filter;
mod json;
pub mod log;
pub mod tail;

use clap::{Args, Subcommand};

/// Asterisk Manager Interface tools.
#[derive(Debug, Args)]
pub struct AmiArgs {
    #[command(subcommand)]
    pub command: AmiCommand,
}

#[derive(Debug, Subcommand)]
pub enum AmiCommand {
    /// Decode a recorded AMI byte stream into JSON Lines, one per message.
    Decode(decode::Args),
    /// Connect to a live PBX and print its AMI stream, reconnecting as needed.
    Tail(tail::Args),
    /// Print the stored raw AMI stream of a PBX from the bus (the AMI log).
    Log(log::Args),
}

/// Runs one `ami` subcommand.
///
/// # Errors
/// As the subcommand.
pub fn run(args: AmiArgs) -> anyhow::Result<()> {
    match args.command {
        AmiCommand::Decode(args) => decode::run(args),
        AmiCommand::Tail(args) => tail::run(args),
        AmiCommand::Log(args) => log::run(args),
    }
}
