//! The stamping proxy between pbx-sim and the ingestor.
//!
//! pbx-sim paces the transcript; this proxy forwards its bytes unchanged
//! except that every [`PLACEHOLDER`] becomes the 20-digit nanosecond time
//! (on the bench's [`clock`]) at which the message is written to the
//! ingestor's socket — the moment the ingestor can read it. It forwards
//! whole lines only (up to the last line end read; the banner is a lone
//! line), so a stamp is never split, and counts the stamped messages whose stamp falls in the
//! measurement window: that is the "sent" side of the loss count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::clock;
use super::transcript::PLACEHOLDER;

/// What the proxy counted, and the window it counts in (clock nanoseconds).
#[derive(Default)]
pub struct Stats {
    pub window_start: AtomicU64,
    pub window_end: AtomicU64,
    /// Stamped messages with a stamp inside the window.
    pub in_window: AtomicU64,
    /// Every stamped message.
    pub total: AtomicU64,
}

impl Stats {
    pub fn set_window(&self, start: u64, end: u64) {
        self.in_window.store(0, Ordering::SeqCst);
        self.window_start.store(start, Ordering::SeqCst);
        self.window_end.store(end, Ordering::SeqCst);
    }
}

/// Listens on a loopback port and relays every connection to `upstream`.
pub async fn start(upstream: SocketAddr) -> (SocketAddr, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let stats = Arc::new(Stats {
        window_end: AtomicU64::new(u64::MAX),
        ..Stats::default()
    });
    let counted = stats.clone();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let stats = counted.clone();
            tokio::spawn(async move {
                if let Ok(up) = TcpStream::connect(upstream).await {
                    relay(down, up, stats).await;
                }
            });
        }
    });
    (addr, stats)
}

async fn relay(down: TcpStream, up: TcpStream, stats: Arc<Stats>) {
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut down_read, mut down_write) = down.into_split();
    let (mut up_read, mut up_write) = up.into_split();
    // Actions (login, resync, pings) go up unchanged.
    let actions = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut down_read, &mut up_write).await;
    });
    let placeholder = memmem::Finder::new(PLACEHOLDER.as_bytes());
    let line_end = memmem::FinderRev::new(b"\r\n");
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 18];
    loop {
        let n = match up_read.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = line_end.rfind(&buf).map(|i| i + 2) else {
            continue;
        };
        let now = clock::now_ns();
        let mut stamped = 0u64;
        let mut at = 0;
        while let Some(i) = placeholder.find(&buf[at..end]) {
            let i = at + i;
            // One nanosecond apart, so that messages of one read differ
            // (the state service emits no delta for an unchanged field).
            let stamp = format!("{:020}", now + stamped);
            buf[i..i + PLACEHOLDER.len()].copy_from_slice(stamp.as_bytes());
            at = i + PLACEHOLDER.len();
            stamped += 1;
        }
        if down_write.write_all(&buf[..end]).await.is_err() {
            break;
        }
        buf.drain(..end);
        if stamped > 0 {
            stats.total.fetch_add(stamped, Ordering::Relaxed);
            let start = stats.window_start.load(Ordering::Relaxed);
            let stop = stats.window_end.load(Ordering::Relaxed);
            if (start..stop).contains(&now) {
                stats.in_window.fetch_add(stamped, Ordering::Relaxed);
            }
        }
    }
    actions.abort();
}
