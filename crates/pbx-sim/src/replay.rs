//! Replay of a recorded transcript to every client that logs in.
//!
//! The session answers the client's own `Challenge`/`Login` (so any secret
//! handling works), then this module streams the transcript's bytes from
//! just after its banner and login exchange, byte for byte. With
//! `NAME.timing.jsonl` beside the transcript (`{"t_ms","offset","len"}` per
//! recorded read) the bytes go out at the recorded pace, scaled by the
//! speed factor; without it, or at [`Speed::Max`], as fast as the client
//! reads (the writer's bounded queue is the back-pressure).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringside_ami::{AmiCodec, MessageKind};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::config::{ReplayConfig, Speed};
use crate::error::SimError;
use crate::hub::Outbound;

/// One recorded read of the server's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Chunk {
    /// Milliseconds since the recorded connect (fractional in the corpus).
    t_ms: f64,
    offset: usize,
    len: usize,
}

/// A loaded transcript.
#[derive(Debug)]
pub(crate) struct Transcript {
    bytes: Bytes,
    /// Where the part after banner and login answer starts.
    start: usize,
    chunks: Option<Vec<Chunk>>,
}

/// Reads the transcript and its timing file.
///
/// # Errors
/// [`SimError::Replay`] when either file cannot be read (a timing file that
/// is absent is not an error; one that cannot be parsed is).
pub(crate) fn load(cfg: &ReplayConfig) -> Result<Transcript, SimError> {
    let err = |path: &Path, source| SimError::Replay {
        path: path.to_owned(),
        source,
    };
    let bytes = Bytes::from(std::fs::read(&cfg.path).map_err(|e| err(&cfg.path, e))?);
    let start = body_start(&bytes);
    let timing = timing_path(&cfg.path);
    let chunks = match std::fs::read_to_string(&timing) {
        Ok(text) => Some(parse_timing(&text).map_err(|e| err(&timing, e))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(&timing, e)),
    };
    Ok(Transcript {
        bytes,
        start,
        chunks,
    })
}

/// `NAME.ami` → `NAME.timing.jsonl`.
fn timing_path(path: &Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.timing.jsonl"))
}

fn parse_timing(text: &str) -> Result<Vec<Chunk>, std::io::Error> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).map_err(|e| bad(e.to_string()))?;
            let field = |k: &str| {
                v[k].as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| bad(format!("timing line without numeric {k:?}: {l}")))
            };
            Ok(Chunk {
                t_ms: field("t_ms")?,
                offset: field("offset")? as usize,
                len: field("len")? as usize,
            })
        })
        .collect()
}

/// Skips the banner and the recorded client's own login exchange: the
/// responses before (and including) `Authentication accepted`, looking at
/// no more than the first three messages.
fn body_start(bytes: &[u8]) -> usize {
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::from(bytes);
    let mut start = 0;
    for _ in 0..4 {
        let Ok(Some(Ok(msg))) = codec.decode(&mut buf) else {
            break;
        };
        let consumed = codec.stats().bytes as usize;
        match msg.kind() {
            MessageKind::Banner => start = consumed,
            MessageKind::Response => {
                start = consumed;
                if msg.get("Message") == Some("Authentication accepted") {
                    break;
                }
            }
            _ => break,
        }
    }
    start
}

/// Streams the transcript into a session's queue (until the end, or
/// forever when `looped`), then closes the connection as the recorded
/// server did.
pub(crate) async fn stream(
    t: Arc<Transcript>,
    speed: Speed,
    looped: bool,
    tx: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
) {
    let factor = match speed {
        Speed::Recorded => Some(1.0),
        Speed::Factor(f) if f > 0.0 => Some(f),
        _ => None,
    };
    let out = Out {
        tx,
        cancel,
        budget: Arc::new(Semaphore::new(BUDGET)),
    };
    loop {
        let sent = match (factor, &t.chunks) {
            (Some(f), Some(chunks)) => paced(&t, chunks, f, &out).await,
            _ => flat_out(&t, &out).await,
        };
        if !sent || !looped {
            break;
        }
    }
    let _ = out.tx.send(Outbound::Close).await;
}

/// Bytes of transcript allowed in the session's queue at once.
const BUDGET: usize = 256 * 1024;
const PIECE: usize = 32 * 1024;

/// Where replayed bytes go, and the budget that paces them.
struct Out {
    tx: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    budget: Arc<Semaphore>,
}

impl Out {
    /// Queues bytes once the budget allows; false when the session is gone.
    async fn send(&self, b: Bytes) -> bool {
        for piece in (0..b.len())
            .step_by(PIECE)
            .map(|at| b.slice(at..(at + PIECE).min(b.len())))
        {
            let permits = piece.len().min(BUDGET) as u32;
            let sent = tokio::select! {
                _ = self.cancel.cancelled() => false,
                permit = self.budget.clone().acquire_many_owned(permits) => match permit {
                    Ok(p) => self.tx.send(Outbound::Paced(piece, p)).await.is_ok(),
                    Err(_) => false,
                },
            };
            if !sent {
                return false;
            }
        }
        true
    }
}

async fn flat_out(t: &Transcript, out: &Out) -> bool {
    out.send(t.bytes.slice(t.start..)).await
}

async fn paced(t: &Transcript, chunks: &[Chunk], factor: f64, out: &Out) -> bool {
    let total = t.bytes.len();
    let relevant = chunks
        .iter()
        .filter(|c| c.offset + c.len > t.start && c.offset < total);
    let base = relevant.clone().next().map_or(0.0, |c| c.t_ms);
    let began = tokio::time::Instant::now();
    let mut written = t.start;
    for c in relevant {
        let due = Duration::from_secs_f64((c.t_ms - base).max(0.0) / 1000.0 / factor);
        tokio::select! {
            _ = out.cancel.cancelled() => return false,
            _ = tokio::time::sleep_until(began + due) => {}
        }
        let from = c.offset.max(written);
        let to = (c.offset + c.len).min(total);
        if from < to {
            if !out.send(t.bytes.slice(from..to)).await {
                return false;
            }
            written = to;
        }
    }
    // Bytes the timing file does not cover (a truncated timing file).
    if written < total {
        return out.send(t.bytes.slice(written..)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_starts_after_the_banner_and_the_login_exchange() {
        let plain = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\nEvent: FullyBooted\r\n\r\n";
        assert!(plain[body_start(plain)..].starts_with(b"Event: FullyBooted"));
        let md5 = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nChallenge: 1\r\n\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\nEvent: X\r\n\r\n";
        assert!(md5[body_start(md5)..].starts_with(b"Event: X"));
        let bare = b"Event: X\r\n\r\n";
        assert_eq!(body_start(bare), 0);
    }

    #[test]
    fn timing_lines_parse_and_bad_ones_are_errors() {
        let c = parse_timing("{\"t_ms\": 0.476, \"offset\": 0, \"len\": 30}\n\n").unwrap();
        assert_eq!(
            c,
            [Chunk {
                t_ms: 0.476,
                offset: 0,
                len: 30
            }]
        );
        assert!(parse_timing("{\"t_ms\": 5}").is_err());
        assert_eq!(
            timing_path(Path::new("/x/basic-calls.ami")),
            Path::new("/x/basic-calls.timing.jsonl")
        );
    }
}
