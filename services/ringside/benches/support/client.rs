//! Clients as a browser and a script are: a WebSocket client that reads
//! every frame (tokio-tungstenite), and a keep-alive HTTP/1.1 client that
//! pipelines on raw TCP (no HTTP client crate in the workspace).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use memchr::memmem::Finder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::clock::{self, now_ns, stamp_after};

/// What one WebSocket client saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Frames in all.
    pub frames: u64,
    /// `Delta` frames (live views) or event frames (raw AMI) in the window.
    pub in_window_frames: u64,
    /// Stamped frames whose stamp is in the window.
    pub stamped: u64,
    /// Their latencies (frame read time − stamp), ns.
    pub latencies: Vec<u64>,
    /// `InitialState` frames after the first (overflow resyncs).
    pub resnapshots: u64,
    /// Age of the last stamped frame read, whatever its stamp (ns): how far
    /// behind the feed is when it cannot keep up.
    pub last_lag: u64,
    /// A sample stamped-looking frame that did not parse, for diagnosis.
    pub sample: Option<String>,
}

/// Which frames carry a stamp.
#[derive(Debug, Clone, Copy)]
pub enum Feed {
    /// `/ws/ami`: `VarSet` events with the stamp in `Value`.
    Ami,
    /// `/ws`: `channels` upserts with the stamp in `caller_name`.
    Live,
}

/// Connects to `path`, authenticates with the first message and reads until
/// the clock passes `until`, counting frames stamped in `[start, end)`.
pub async fn watch(
    addr: SocketAddr,
    path: &str,
    token: String,
    feed: Feed,
    window: (u64, u64),
    until: u64,
) -> Seen {
    let mut seen = Seen::default();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .expect("the WebSocket upgrade");
    ws.send(Message::Text(
        serde_json::json!({"type": "auth", "token": token})
            .to_string()
            .into(),
    ))
    .await
    .expect("the auth message");
    let key = match feed {
        Feed::Ami => Finder::new(b"\"Value\":\""),
        Feed::Live => Finder::new(b"\"caller_name\":\""),
    };
    let upsert = Finder::new(b"\"upsert\"");
    let channels = Finder::new(b"\"channels\"");
    let initial = Finder::new(b"\"InitialState\"");
    let mut initial_states = 0u64;
    // BENCH_TIMELINE=1: the worst latency of each 100 ms of stamps, to see
    // when a tail forms (printed to stderr at the end).
    let mut timeline: Option<Vec<u64>> = std::env::var_os("BENCH_TIMELINE").map(|_| Vec::new());
    let mut dump: usize = std::env::var("BENCH_DUMP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    loop {
        let left = until.saturating_sub(now_ns());
        if left == 0 {
            break;
        }
        let next = tokio::time::timeout(Duration::from_nanos(left), ws.next()).await;
        let Ok(Some(Ok(msg))) = next else { break };
        let Message::Text(text) = msg else { continue };
        let read_at = now_ns();
        seen.frames += 1;
        let text = text.as_str();
        let bytes = text.as_bytes();
        if dump > 0 {
            dump -= 1;
            eprintln!("frame: {}", text.chars().take(600).collect::<String>());
        }
        if (window.0..window.1).contains(&read_at) {
            seen.in_window_frames += 1;
        }
        if let Feed::Live = feed {
            if text.len() > 100_000 || initial.find(bytes).is_some() {
                if initial.find(bytes).is_some() {
                    initial_states += 1;
                }
                continue;
            }
            if upsert.find(bytes).is_none() || channels.find(bytes).is_none() {
                continue;
            }
        }
        let stamp = stamp_after(text, &key);
        if let Some(stamp) = stamp {
            seen.last_lag = read_at.saturating_sub(stamp);
        }
        match stamp {
            Some(stamp) if (window.0..window.1).contains(&stamp) => {
                seen.stamped += 1;
                seen.latencies.push(read_at.saturating_sub(stamp));
                if let Some(timeline) = &mut timeline {
                    let slot = ((stamp - window.0) / 100_000_000) as usize;
                    if timeline.len() <= slot {
                        timeline.resize(slot + 1, 0);
                    }
                    timeline[slot] = timeline[slot].max(read_at.saturating_sub(stamp));
                }
            }
            Some(_) => {}
            None => {
                if seen.sample.is_none() && key.find(bytes).is_some() {
                    seen.sample = Some(text.chars().take(400).collect());
                }
            }
        }
    }
    seen.resnapshots = initial_states.saturating_sub(1);
    if let Some(timeline) = timeline {
        let ms: Vec<String> = timeline
            .iter()
            .map(|ns| format!("{}", ns / 1_000_000))
            .collect();
        eprintln!("worst ms per 100 ms of stamps: {}", ms.join(" "));
    }
    let _ = ws.close(None).await;
    seen
}

/// Results of a paced HTTP run.
#[derive(Debug, Default)]
pub struct HttpRun {
    /// Latencies from the scheduled send time to the full response, ns.
    pub latencies: Vec<u64>,
    pub non_200: u64,
    pub unanswered: u64,
    pub body_bytes: u64,
}

/// Sends `GET path` at `rate` per second for `duration` on one keep-alive
/// connection, pipelined: requests leave on schedule whatever the answers
/// do (no coordinated omission), answers are matched in order.
pub async fn paced_get(
    addr: SocketAddr,
    path: &str,
    token: &str,
    rate: f64,
    duration: Duration,
) -> HttpRun {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the gateway");
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    );
    let total = (rate * duration.as_secs_f64()) as usize;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let writer = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due).await;
            let scheduled = now_ns().saturating_sub(due.elapsed().as_nanos() as u64);
            if tx.send(scheduled).is_err() || write.write_all(request.as_bytes()).await.is_err() {
                break;
            }
        }
        write
    });
    let mut run = HttpRun::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 16];
    let mut pending: VecDeque<u64> = VecDeque::new();
    let head_end = Finder::new(b"\r\n\r\n");
    let give_up = now_ns() + duration.as_nanos() as u64 + 10_000_000_000;
    let mut answered = 0usize;
    while answered < total {
        // Parse every complete response in the buffer.
        while let Some(h) = head_end.find(&buf) {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            let status_ok = head.starts_with("http/1.1 200");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() < h + 4 + length {
                break;
            }
            buf.drain(..h + 4 + length);
            while let Ok(s) = rx.try_recv() {
                pending.push_back(s);
            }
            let Some(scheduled) = pending.pop_front() else {
                break;
            };
            run.latencies.push(now_ns().saturating_sub(scheduled));
            run.body_bytes += length as u64;
            if !status_ok {
                run.non_200 += 1;
            }
            answered += 1;
        }
        let left = give_up.saturating_sub(now_ns());
        if left == 0 || answered >= total {
            break;
        }
        match tokio::time::timeout(Duration::from_nanos(left), read.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let _ = writer.await;
    run.unanswered = (total - answered) as u64;
    run
}

/// p50/p99/max of samples, in ms.
pub fn summary(samples: &mut [u64]) -> String {
    samples.sort_unstable();
    format!(
        "p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms",
        clock::ms(clock::quantile(samples, 0.50)),
        clock::ms(clock::quantile(samples, 0.99)),
        clock::ms(samples.last().copied().unwrap_or(0)),
    )
}
