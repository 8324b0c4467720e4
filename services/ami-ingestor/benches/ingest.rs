//! Ingest benchmark: the real-Asterisk `load-sample.ami` transcript replayed by
//! pbx-sim (looping) through the ingestor into the bus, at a sweep of paced
//! rates, on NATS JetStream (127.0.0.1:4222, or `RINGSIDE_TEST_NATS_URL`) and
//! on the in-process bus. For each rate it prints the events/s acknowledged by
//! the bus, the latency from AMI read to ack (p50/p99) and the events dropped
//! (buffer bound reached). The highest rate with nothing dropped is the
//! sustainable throughput; past it the latency is just queueing.
//!
//! The JetStream streams are on file storage, as deployments keep them
//! (`retention.storage`).
//!
//! `cargo bench -p ringside-ami-ingestor --bench ingest` (also in scripts/bench).
//! The simulator runs in the same process and shares the machine's cores, so
//! the figures are a floor for the ingestor alone. The simulators have a
//! runtime of their own, so the CPU time of the ingestor's threads (the
//! in-process bus included; the NATS server is another process) is printed
//! per event: a rate depends on how busy the machine is, that cost less.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ringside_ami_ingestor::{Deps, IngestorSettings, PbxSettings};
use ringside_bus::Storage;
use ringside_pbx_sim::{ReplayConfig, SimConfig, Speed};
use ringside_testkit::{TestBus, nats_url};
use tokio_util::sync::CancellationToken;

/// The same allocator as the `ringside` binary, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LATENCY: &str = "ringside_ingest_publish_latency_seconds";
const TRANSCRIPT: &str = "load-sample.ami";

/// Name prefix of the ingestor runtime's threads (at most 15 bytes).
const INGESTOR_THREADS: &str = "ingestor";
/// Name of the simulators' runtime's threads.
const SIM_THREADS: &str = "pbx-sim";

struct Figures {
    events_per_second: f64,
    /// CPU time of the ingestor's threads per acknowledged event.
    cpu_us_per_event: f64,
    p50_ms: f64,
    p99_ms: f64,
    dropped: u64,
}

/// Drains the recorder: latency samples and the dropped count since the last call.
fn drain(snapshotter: &Snapshotter) -> (Vec<f64>, u64) {
    let (mut values, mut dropped) = (Vec::new(), 0);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match value {
            DebugValue::Histogram(samples) if key.key().name() == LATENCY => {
                values.extend(samples.into_iter().map(|v| v.into_inner()));
            }
            DebugValue::Counter(n) if key.key().name() == "ringside_ingest_dropped_total" => {
                dropped += n
            }
            _ => {}
        }
    }
    (values, dropped)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One measurement: `pbxs` simulated PBXs replaying at `speed` each, one
/// ingestor watching all of them.
async fn phase(
    test: &TestBus,
    sim_runtime: &tokio::runtime::Handle,
    snapshotter: &Snapshotter,
    speed: Speed,
    pbxs: usize,
    measure: Duration,
) -> Figures {
    let sims = sim_runtime
        .spawn(ringside_pbx_sim::start_many(
            SimConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                username: "bench".into(),
                secret: "bench".into(),
                replay: Some(ReplayConfig {
                    path: ringside_testkit::corpus::path(TRANSCRIPT),
                    speed,
                    looped: true,
                }),
                ..SimConfig::default()
            },
            pbxs,
        ))
        .await
        .expect("the simulators' runtime")
        .expect("the simulators start");
    let pbx = sims
        .iter()
        .enumerate()
        .map(|(i, sim)| {
            PbxSettings::from_url(&format!(
                "ami://bench:bench@{}?tenant=bench&id=pbx-{i}",
                sim.local_addr()
            ))
            .unwrap()
        })
        .collect();
    let settings = IngestorSettings {
        pbx,
        ..IngestorSettings::default()
    };
    let shutdown = CancellationToken::new();
    let deps = Deps {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
    };
    let task = tokio::spawn(ringside_ami_ingestor::run(settings, deps, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await; // connect, resync, warm up
    drain(snapshotter); // the warm-up does not count
    let cpu_before = ringside_testkit::cpu::threads_cpu_seconds(INGESTOR_THREADS);
    tokio::time::sleep(measure).await;
    let (mut samples, dropped) = drain(snapshotter);
    let cpu = ringside_testkit::cpu::threads_cpu_seconds(INGESTOR_THREADS) - cpu_before;
    shutdown.cancel();
    let _ = task.await;
    for sim in sims {
        let _ = sim_runtime.spawn(sim.shutdown()).await;
    }
    samples.sort_by(f64::total_cmp);
    Figures {
        events_per_second: samples.len() as f64 / measure.as_secs_f64(),
        cpu_us_per_event: cpu * 1e6 / samples.len().max(1) as f64,
        p50_ms: quantile(&samples, 0.50) * 1e3,
        p99_ms: quantile(&samples, 0.99) * 1e3,
        dropped,
    }
}

/// Events per second of the transcript at its recorded pace.
fn recorded_rate() -> f64 {
    let bytes = std::fs::read(ringside_testkit::corpus::path(TRANSCRIPT)).unwrap();
    let (messages, _) = ringside_ami::codec::decode_all(&bytes);
    let timing =
        std::fs::read_to_string(ringside_testkit::corpus::path("load-sample.timing.jsonl"))
            .unwrap();
    let last_ms = timing
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["t_ms"].as_f64())
        .fold(0.0, f64::max);
    messages.len() as f64 / (last_ms / 1e3)
}

fn print(label: &str, f: &Figures) {
    println!(
        "{label:<46} {:>9.0} events/s acked   p50 {:>8.2} ms   p99 {:>8.2} ms   dropped {:<7} ingestor CPU {:>5.1} µs/event",
        f.events_per_second, f.p50_ms, f.p99_ms, f.dropped, f.cpu_us_per_event
    );
}

/// Runs the rate sweep on one bus, the offered rate split over `pbxs` PBXs;
/// stops after the first rate that drops or falls short.
async fn sweep(
    name: &str,
    make: impl AsyncFn() -> TestBus,
    sim_runtime: &tokio::runtime::Handle,
    snapshotter: &Snapshotter,
    pbxs: usize,
    measure: Duration,
) {
    let recorded = recorded_rate();
    // Finer around the JetStream target (50,000/s), where a doubling step
    // would only say "somewhere between 40,000 and 80,000", and past the
    // in-process one (300,000/s), to show how far past it the bus goes.
    for target in [
        10_000.0, 20_000.0, 40_000.0, 50_000.0, 60_000.0, 80_000.0, 160_000.0, 320_000.0,
        400_000.0, 480_000.0,
    ] {
        let bus = make().await;
        let per_pbx = target / pbxs as f64;
        let figures = phase(
            &bus,
            sim_runtime,
            snapshotter,
            Speed::Factor(per_pbx / recorded),
            pbxs,
            measure,
        )
        .await;
        let server = bus
            .server_version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        print(
            &format!("{name}{server}, {pbxs} PBX(s), offered {target:.0}/s"),
            &figures,
        );
        if figures.dropped > 0 || figures.events_per_second < target * 0.9 {
            break;
        }
    }
}

fn main() {
    // As the `ringside` binary does first (its `main.rs` says why): with
    // transparent huge pages, page zeroing stalls would be measured that the
    // product does not have.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only metrics recorder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(INGESTOR_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let sims = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SIM_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let sim_runtime = sims.handle();
    runtime.block_on(async {
        let measure = Duration::from_secs(4);
        println!("ingest: {TRANSCRIPT} replayed in a loop through pbx-sim → ingestor → bus ({measure:?} per rate)");
        // `cargo bench --bench ingest -- in-process` runs only the named bus.
        let wanted = |name: &str| {
            let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
            filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        };
        // One PBX (one worker task: one core at most), then a small fleet.
        for pbxs in [1, 4] {
            if wanted("JetStream") {
                let on_file = async || TestBus::nats_with(&nats_url(), Duration::from_secs(5), Storage::File).await;
                sweep("JetStream", on_file, sim_runtime, &snapshotter, pbxs, measure).await;
            }
            if wanted("in-process") {
                sweep("in-process", async || TestBus::in_process(), sim_runtime, &snapshotter, pbxs, measure).await;
            }
        }
    });
}
