//! `ringside replay FILE.ami [FILE2.ami …] --dump-state`: runs recorded AMI
//! transcripts through decode → normalize → projection in one process and
//! prints the final views as JSON (top-level keys `endpoints`, `trunks`,
//! `channels`, `calls`, `bridges`, `queues`, `conferences`, plus `pbxs` with
//! the connection state).
//!
//! Several files are successive connections of the same PBX: between two of
//! them the replay goes through disconnect, reconnect and resync as the live
//! path does. How the ingestor's sequencing is simulated is described in
//! `ringside_state::replay`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

/// Replay recorded AMI transcripts into the state views.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `.ami` transcripts, in connection order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Tenant the PBX belongs to.
    #[arg(long, default_value = "default")]
    pub tenant: String,

    /// The PBX's id.
    #[arg(long, default_value = "pbx")]
    pub pbx: String,

    /// Print the final snapshot as JSON on stdout.
    #[arg(long)]
    pub dump_state: bool,
}

/// Runs the replay.
///
/// # Errors
/// A file that cannot be read, or stdout closed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut contents = Vec::with_capacity(args.files.len());
    for file in &args.files {
        contents.push(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    let slices: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let replayer = ringside_state::replay::replay(&slices, &args.tenant, &args.pbx);
    let stats = replayer.stats();
    eprintln!(
        "replayed {} connection(s), {} envelopes, {} decode error(s), {} failed login(s)",
        stats.connections, stats.envelopes, stats.decode_errors, stats.failed_logins
    );
    if args.dump_state {
        let snapshot = replayer.projection().snapshot();
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &snapshot).context("writing the snapshot")?;
        writeln!(out).context("writing the snapshot")?;
    }
    Ok(())
}
