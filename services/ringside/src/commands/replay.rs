//! `ringside replay FILE.ami [FILE2.ami …] --dump-state`: runs recorded AMI
//! transcripts through decode → normalize → projection in one process and
//! prints the final views as JSON (top-level keys `endpoints`, `trunks`,
//! `channels`, `calls`, `bridges`, `queues`, `conferences`, plus `pbxs` with
//! the connection state).
//!
//! With `--calls-out FILE` the call records of the calls that ended are
//! written as JSON Lines. A transcript's recorded TCP reads
//! (`NAME.timing.jsonl` beside `NAME.ami`) are used when present, so times
//! and durations are the recorded ones.
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

    /// Write the call records of the calls that ended, as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub calls_out: Option<PathBuf>,
}

/// Runs the replay.
///
/// # Errors
/// A file that cannot be read, or stdout closed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut contents = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        contents.push((bytes, recorded_reads(file)?));
    }
    let transcripts: Vec<ringside_state::replay::TimedTranscript<'_>> = contents
        .iter()
        .map(|(bytes, reads)| (bytes.as_slice(), reads.as_slice()))
        .collect();
    let replayer = ringside_state::replay::replay_timed(&transcripts, &args.tenant, &args.pbx);
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
    if let Some(path) = &args.calls_out {
        let mut text = String::new();
        for record in replayer.records() {
            text.push_str(&serde_json::to_string(record).context("encoding a call record")?);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "wrote {} call record(s) to {}",
            replayer.records().len(),
            path.display()
        );
    }
    Ok(())
}

/// The transcript's recorded TCP reads (`NAME.timing.jsonl` beside
/// `NAME.ami`, as the recorder writes them), so replayed times and call
/// durations are real; none when there is no such file.
fn recorded_reads(file: &std::path::Path) -> anyhow::Result<Vec<ringside_state::replay::Read>> {
    let timing = file.with_extension("timing.jsonl");
    match std::fs::read_to_string(&timing) {
        Ok(text) => ringside_state::replay::parse_reads(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", timing.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", timing.display())),
    }
}
