//! Synthetic AMI transcripts for pbx-sim's replay, written to a temp dir.
//!
//! pbx-sim replays `NAME.ami` at the pace of `NAME.timing.jsonl` (one chunk
//! per recorded read), looping; the bench writes one chunk per millisecond so
//! the offered rate is `messages per chunk × 1000`. Every message that is
//! measured carries [`PLACEHOLDER`] where a time goes: the stamping proxy
//! ([`super::proxy`]) overwrites it with the moment it hands the message to
//! the ingestor, so the client can compute latency from the frame alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Twenty `~`: overwritten in flight with a 20-digit nanosecond stamp.
pub const PLACEHOLDER: &str = "~~~~~~~~~~~~~~~~~~~~";

const HEAD: &str =
    "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n";

/// What the transcript contains.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `VarSet` events (the most common event on a real PBX, ignored by the
    /// live views), each with a stamp in `Value`.
    Raw,
    /// Calls that come and go: per channel a `Newchannel`, eight
    /// `NewCallerid` and a `Hangup`; the caller name carries the stamp, so
    /// every `channels` upsert delta is measurable.
    Live,
    /// `channels` live channels that never hang up (re-announced each loop).
    Standing { channels: usize },
}

fn channel_event(out: &mut String, event: &str, i: usize, name: &str, extra: &str) {
    let _ = write!(
        out,
        "Event: {event}\r\nPrivilege: call,all\r\nSystemName: bench\r\nChannel: PJSIP/{ext}-{i:08x}\r\n\
ChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: {ext}\r\nCallerIDName: {name}\r\n\
ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n\
Context: internal\r\nExten: 2000\r\nPriority: 1\r\nUniqueid: bench-{i}.0\r\nLinkedid: bench-{i}.0\r\n{extra}\r\n",
        ext = 1000 + i % 9000,
    );
}

fn messages(kind: Kind, count: usize) -> Vec<String> {
    let mut all = Vec::with_capacity(count);
    match kind {
        Kind::Raw => {
            for i in 0..count {
                let mut m = String::new();
                channel_event(&mut m, "VarSet", i % 512, "Bench", "");
                // Replace the blank line with the VarSet fields.
                m.truncate(m.len() - 2);
                let _ = write!(m, "Variable: BENCH_SENT\r\nValue: {PLACEHOLDER}\r\n\r\n");
                all.push(m);
            }
        }
        Kind::Live => {
            let mut i = 0;
            while all.len() < count {
                let mut m = String::new();
                channel_event(&mut m, "Newchannel", i, PLACEHOLDER, "");
                all.push(std::mem::take(&mut m));
                for _ in 0..8 {
                    channel_event(
                        &mut m,
                        "NewCallerid",
                        i,
                        PLACEHOLDER,
                        "CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n",
                    );
                    all.push(std::mem::take(&mut m));
                }
                channel_event(
                    &mut m,
                    "Hangup",
                    i,
                    "Bench",
                    "Cause: 16\r\nCause-txt: Normal Clearing\r\n",
                );
                all.push(m);
                i += 1;
            }
        }
        Kind::Standing { channels } => {
            for i in 0..channels {
                let mut m = String::new();
                channel_event(&mut m, "Newchannel", i, "Standing", "");
                all.push(m);
            }
        }
    }
    all
}

/// Writes `dir/NAME.ami` and its timing file: `per_chunk` messages every
/// `chunk_ms` milliseconds, `chunks` chunks per loop (a `Standing`
/// transcript has exactly its channels). Returns the `.ami` path.
///
/// # Panics
/// When `dir` cannot be written (a bench, not a library).
pub fn write(
    dir: &Path,
    name: &str,
    kind: Kind,
    per_chunk: usize,
    chunk_ms: f64,
    chunks: usize,
) -> PathBuf {
    let count = match kind {
        Kind::Standing { channels } => channels,
        _ => per_chunk * chunks,
    };
    let msgs = messages(kind, count);
    let mut bytes = String::from(HEAD);
    let mut timing = String::new();
    for (chunk, group) in msgs.chunks(per_chunk.max(1)).enumerate() {
        let offset = bytes.len();
        for m in group {
            bytes.push_str(m);
        }
        let _ = writeln!(
            timing,
            "{{\"t_ms\":{:.3},\"offset\":{offset},\"len\":{}}}",
            chunk as f64 * chunk_ms,
            bytes.len() - offset
        );
    }
    let path = dir.join(format!("{name}.ami"));
    std::fs::write(&path, bytes).expect("writing the transcript");
    std::fs::write(dir.join(format!("{name}.timing.jsonl")), timing).expect("writing the timing");
    path
}
