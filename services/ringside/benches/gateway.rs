//! Gateway benchmark (issue #6): AMI from a simulated PBX over TCP, read as
//! WebSocket frames the way a browser reads them; figures printed, never
//! asserted.
//!
//! How it is measured: pbx-sim replays a synthetic transcript at a paced
//! rate (one chunk per millisecond, as `services/ami-ingestor/benches/ingest.rs`
//! paces `load-sample.ami`); a proxy between pbx-sim and the ingestor
//! writes into each message the time at which it hands it to the ingestor's
//! socket ("AMI read"); the clients take the stamp out of the frame they read
//! and subtract it from the time they read it. Same process, same monotonic
//! clock. "Sent" is what the proxy stamped inside the measurement window,
//! "received" what the client read with a stamp inside it.
//!
//! Scenarios (each bounded): `raw` (`/ws/ami` rate sweep and latency at
//! 10,000/s), `live` (`/ws` deltas at 10,000 events/s, monolithic and NATS),
//! `fanout` (1,000 clients at ~1,000 deltas/s), `rest` (`GET
//! /api/v1/live/calls` at 2,000/s with 2,000 live calls).
//! `cargo bench -p ringside --bench gateway [-- raw live fanout rest]`.
//! `BENCH_TIMELINE=1` also prints, per client, the worst latency of each
//! 100 ms of stamps (to see when a tail forms); `BENCH_DUMP=n` the first n
//! frames; `BENCH_LIVE_PER_MS=n` runs `live` at n thousand events/s.
//!
//! Two runtimes share the machine: the product (pbx-sim, proxy, ingestor,
//! state, gateway) on `ringside-server` threads, the clients on
//! `bench-client` threads, so the CPU of the server side can be read apart.

mod support;

use std::path::Path;
use std::time::Duration;

use support::client::{self, Feed, Seen};
use support::clock::{self, now_ns};
use support::product::{Mode, Product};
use support::transcript::{self, Kind};

/// The same allocator as the `ringside` binary, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECOND: u64 = 1_000_000_000;

/// Starts the product on `kind` at `per_chunk` messages per `chunk_ms`, lets
/// it warm up until the client sees frames, then measures for `measure`.
/// Returns what the clients saw and what the proxy sent.
struct Run {
    sent: u64,
    seen: Vec<Seen>,
    window_s: f64,
    server_cpu_s: f64,
    process_cpu_s: f64,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    clients: &tokio::runtime::Handle,
    dir: &Path,
    mode: Mode,
    kind: Kind,
    per_chunk: usize,
    chunk_ms: f64,
    chunks: usize,
    path: &'static str,
    feed: Feed,
    watchers: usize,
    measure: Duration,
) -> Run {
    let name = format!("t{}", now_ns());
    let file = transcript::write(dir, &name, kind, per_chunk, chunk_ms, chunks);
    let product = Product::start(mode, &file).await;
    // Connect the clients first, then give the stream time to flow.
    let warmup = 3 * SECOND;
    let start = now_ns() + warmup + watchers as u64 * 2_000_000;
    let end = start + measure.as_nanos() as u64;
    let until = end + 2 * SECOND; // drain
    let mut handles = Vec::with_capacity(watchers);
    for i in 0..watchers {
        let token = product.token.clone();
        let addr = product.addr;
        handles.push(clients.spawn(client::watch(addr, path, token, feed, (start, end), until)));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    product.stats.set_window(start, end);
    tokio::time::sleep(Duration::from_nanos(start.saturating_sub(now_ns()))).await;
    let (cpu0, srv0) = (
        support::process_cpu_seconds(),
        support::threads_cpu_seconds("ringside-server"),
    );
    tokio::time::sleep(Duration::from_nanos(end.saturating_sub(now_ns()))).await;
    let (cpu1, srv1) = (
        support::process_cpu_seconds(),
        support::threads_cpu_seconds("ringside-server"),
    );
    let mut seen = Vec::with_capacity(watchers);
    for h in handles {
        seen.push(h.await.expect("a client task"));
    }
    let sent = product
        .stats
        .in_window
        .load(std::sync::atomic::Ordering::SeqCst);
    product.stop().await;
    let _ = std::fs::remove_file(&file);
    Run {
        sent,
        seen,
        window_s: measure.as_secs_f64(),
        server_cpu_s: srv1 - srv0,
        process_cpu_s: cpu1 - cpu0,
    }
}

fn diagnose(seen: &[Seen]) {
    if let Some(s) = seen.iter().find_map(|s| s.sample.as_ref()) {
        println!("    (a frame whose stamp did not parse: {s})");
    }
}

async fn raw(clients: &tokio::runtime::Handle, dir: &Path) {
    println!(
        "/ws/ami raw relay, monolithic, one client: VarSet events (~480 bytes) paced by pbx-sim, \
stamped at the ingestor's socket; sent = stamped in a 3 s window, received = frames with those stamps"
    );
    let mut best = None;
    for rate in [25_000usize, 50_000, 100_000, 125_000, 150_000] {
        let r = run(
            clients,
            dir,
            Mode::Monolithic,
            Kind::Raw,
            rate / 1000,
            1.0,
            500,
            "/ws/ami",
            Feed::Ami,
            1,
            Duration::from_secs(3),
        )
        .await;
        let mut seen = r.seen;
        let got = seen[0].stamped;
        let lost = r.sent.saturating_sub(got);
        println!(
            "  offered {rate:>7}/s: sent {:>8.0}/s received {:>8.0}/s lost {lost:>7} ({:.2}%)  {}  server CPU {:.0}%",
            r.sent as f64 / r.window_s,
            got as f64 / r.window_s,
            100.0 * lost as f64 / r.sent.max(1) as f64,
            client::summary(&mut seen[0].latencies),
            100.0 * r.server_cpu_s / r.window_s,
        );
        if got == 0 {
            println!("    last frame's age {:.1} ms", clock::ms(seen[0].last_lag));
        }
        diagnose(&seen);
        if lost > 0 || got == 0 {
            break;
        }
        best = Some(r.sent as f64 / r.window_s);
    }
    match best {
        Some(b) => println!("  highest rate with no loss: {b:.0} messages/s (target ≥ 125,000)"),
        None => println!("  no rate without loss"),
    }
    let r = run(
        clients,
        dir,
        Mode::Monolithic,
        Kind::Raw,
        10,
        1.0,
        1000,
        "/ws/ami",
        Feed::Ami,
        1,
        Duration::from_secs(5),
    )
    .await;
    let mut seen = r.seen;
    println!(
        "  at 10,000/s for 5 s: AMI read → WebSocket frame {} over {} frames, lost {} (target p99 < 2 ms)",
        client::summary(&mut seen[0].latencies),
        seen[0].stamped,
        r.sent.saturating_sub(seen[0].stamped),
    );
    diagnose(&seen);
}

async fn live(clients: &tokio::runtime::Handle, dir: &Path) {
    // BENCH_LIVE_PER_MS=n offers n events per millisecond instead of 10 (to
    // see whether a tail depends on the load).
    let per_ms: usize = std::env::var("BENCH_LIVE_PER_MS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    println!(
        "/ws live views: calls of Newchannel + 8 NewCallerid + Hangup at {} AMI events/s; \
latency = AMI read (stamp in CallerIDName) → channels upsert Delta frame read",
        per_ms * 1000
    );
    for (mode, label, target) in [
        (Mode::Monolithic, "monolithic (in-process bus)", 5),
        (
            Mode::Nats,
            "microservices (NATS JetStream, ingestor + state + gateway)",
            15,
        ),
    ] {
        let r = run(
            clients,
            dir,
            mode,
            Kind::Live,
            per_ms,
            1.0,
            1000,
            "/ws",
            Feed::Live,
            1,
            Duration::from_secs(5),
        )
        .await;
        let mut seen = r.seen;
        let s = &mut seen[0];
        println!(
            "  {label}: {} stamped deltas of {} sent ({:.0} frames/s), {}, re-snapshots {}, last frame's age {:.1} ms (target p99 < {target} ms)",
            s.stamped,
            r.sent,
            s.in_window_frames as f64 / r.window_s,
            client::summary(&mut s.latencies),
            s.resnapshots,
            clock::ms(s.last_lag),
        );
        diagnose(&seen);
    }
}

async fn fanout(clients: &tokio::runtime::Handle, dir: &Path) {
    let watchers = 1000;
    println!(
        "fan-out, monolithic: {watchers} /ws clients, ~1,000 deltas/s (833 AMI events/s of the live transcript), 5 s"
    );
    let r = run(
        clients,
        dir,
        Mode::Monolithic,
        Kind::Live,
        1,
        1.2,
        1000,
        "/ws",
        Feed::Live,
        watchers,
        Duration::from_secs(5),
    )
    .await;
    let mut all: Vec<u64> = Vec::new();
    let (mut frames, mut resnap, mut short) = (0u64, 0u64, 0usize);
    let expected = r.seen.iter().map(|s| s.stamped).max().unwrap_or(0);
    for s in &r.seen {
        all.extend_from_slice(&s.latencies);
        frames += s.in_window_frames;
        resnap += s.resnapshots;
        if s.stamped < expected {
            short += 1;
        }
    }
    println!(
        "  delivered {:.0} frames/s per client on average ({:.0}/s in all); stamped deltas: {} ({} per client at most, {short} clients got fewer); re-snapshots {resnap}",
        frames as f64 / r.window_s / watchers as f64,
        frames as f64 / r.window_s,
        all.len(),
        expected,
    );
    println!(
        "  delivery (AMI read → frame read) {}",
        client::summary(&mut all)
    );
    println!(
        "  CPU over the window: server runtime (pbx-sim + ingestor + state + gateway) {:.0}% of a core; whole process (with the 1,000 clients) {:.0}%",
        100.0 * r.server_cpu_s / r.window_s,
        100.0 * r.process_cpu_s / r.window_s,
    );
}

async fn rest(dir: &Path) {
    let calls = 2000;
    println!(
        "GET /api/v1/live/calls, monolithic, {calls} live calls (standing channels re-announced at 1,000/s): \
2,000 requests/s over 8 pipelined keep-alive connections for 5 s, latency from the scheduled send time"
    );
    let file = transcript::write(
        dir,
        "standing",
        Kind::Standing { channels: calls },
        1,
        1.0,
        0,
    );
    let product = Product::start(Mode::Monolithic, &file).await;
    // Wait until the view holds every call.
    let deadline = now_ns() + 20 * SECOND;
    loop {
        let probe = client::paced_get(
            product.addr,
            "/api/v1/live/calls",
            &product.token,
            10.0,
            Duration::from_millis(100),
        )
        .await;
        let size = probe.body_bytes;
        if size > 0 && probe.non_200 == 0 {
            let n = count_calls(&product).await;
            if n >= calls {
                println!("  {n} calls in the view; answer size {size} bytes");
                break;
            }
        }
        if now_ns() > deadline {
            println!("  the view did not reach {calls} calls in 20 s; measuring anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let per_conn = 2000.0 / 8.0;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (addr, token) = (product.addr, product.token.clone());
        handles.push(tokio::spawn(async move {
            client::paced_get(
                addr,
                "/api/v1/live/calls",
                &token,
                per_conn,
                Duration::from_secs(5),
            )
            .await
        }));
    }
    let (mut all, mut non_200, mut unanswered) = (Vec::new(), 0, 0);
    for h in handles {
        let r = h.await.expect("an HTTP client");
        all.extend(r.latencies);
        non_200 += r.non_200;
        unanswered += r.unanswered;
    }
    println!(
        "  {} answered ({:.0}/s), {non_200} not 200, {unanswered} unanswered within 10 s after the run; {} (target: p99 at 2,000/s)",
        all.len(),
        all.len() as f64 / 5.0,
        client::summary(&mut all),
    );
    product.stop().await;
}

async fn count_calls(product: &Product) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(product.addr).await else {
        return 0;
    };
    let req = format!(
        "GET /api/v1/live/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        product.token
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text).await;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items.len(),
        Ok(v) => v["items"]
            .as_array()
            .or_else(|| v["calls"].as_array())
            .map_or(0, Vec::len),
        Err(_) => 0,
    }
}

fn main() {
    // As the `ringside` binary does first (its `main.rs` says why): with
    // transparent huge pages, page zeroing stalls would be measured that the
    // product does not have.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _ = clock::now_ns(); // the epoch
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ringside-server")
        .enable_all()
        .build()
        .expect("the server runtime");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("the client runtime");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| f == name);
    let dir = tempfile::tempdir().expect("a temp dir");
    let handle = clients.handle().clone();
    server.block_on(async {
        if wanted("raw") {
            raw(&handle, dir.path()).await;
        }
        if wanted("live") {
            live(&handle, dir.path()).await;
        }
        if wanted("fanout") {
            fanout(&handle, dir.path()).await;
        }
        if wanted("rest") {
            rest(dir.path()).await;
        }
    });
    server.shutdown_timeout(Duration::from_secs(2));
    clients.shutdown_timeout(Duration::from_secs(2));
}
