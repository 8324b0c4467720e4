//! State service figures (issue #4), printed, never asserted:
//! * apply rate on one core, deltas included, at two call densities;
//! * memory per active channel with 100 PBXs × 2,000 channels;
//! * snapshot encode (the engine's save and a tenant's JSON view) with
//!   10,000 calls;
//! * restart: load a snapshot, then replay 1,000,000 events.
//!
//! The load is synthetic but shaped like the corpus's: two-leg calls, each
//! created, answered and hung up (6 events), with a fixed number in progress.
//! The "as a PBX sends them" runs add what `load-sample.ami` has per channel
//! besides: 21 `VarSet` and 2.5 `Newexten` (rounded to 2), which reach the
//! state service as `Unmapped` envelopes, and a device state change (0.6 in
//! the sample, rounded up); per call, the bridge its legs talk in (created,
//! entered, left, destroyed); their PBX has its 500 extensions listed, so
//! channel counts and device states show on extension entries. The last
//! apply row takes no shape from us: it applies the envelopes of
//! `load-sample.ami` themselves, as many PBXs one after another.
//! Run with `scripts/bench state` (release build).
//!
//! `decode` times what the service does before apply: decoding the
//! envelopes of `load-sample.ami` (VarSet-heavy, as a loaded PBX is) whole,
//! and as `envelope_for_apply` does (unused unmapped headers skipped).

use std::time::Instant;

use prost_types::Timestamp;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    BridgeCreated, BridgeDestroyed, BridgeEntered, BridgeLeft, BridgeSnapshot, CallerId,
    ChannelCreated, ChannelHungUp, ChannelSnapshot, ChannelState, ChannelStateChanged, DeviceState,
    DeviceStateChanged, EndpointListed, Envelope, Header, Unmapped,
};
use ringside_state::Engine;
use ringside_state::service::envelope_for_apply;

/// The same allocator as the `ringside` binary, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Generates one PBX's events: two-leg calls, `concurrent` in progress.
struct Load {
    tenant: String,
    pbx: String,
    sequence: u64,
    next_call: u64,
    active: std::collections::VecDeque<u64>,
    concurrent: usize,
    /// Add each channel's `VarSet`s and `Newexten`s.
    unmapped: bool,
}

impl Load {
    fn new(tenant: &str, pbx: &str, concurrent: usize) -> Self {
        Load {
            tenant: tenant.into(),
            pbx: pbx.into(),
            sequence: 0,
            next_call: 0,
            active: Default::default(),
            concurrent,
            unmapped: false,
        }
    }

    /// With each channel's `VarSet`s, `Newexten`s and device state.
    fn with_unmapped(mut self) -> Self {
        self.unmapped = true;
        self
    }

    /// The PBX's 500 extensions (`1000`…`1499`), as its resync lists them.
    fn extensions(&mut self, out: &mut Vec<Envelope>) {
        for ext in 1000..1500 {
            let env = self.env(Kind::EndpointListed(EndpointListed {
                name: ext.to_string(),
                aor: ext.to_string(),
                device_state: DeviceState::NotInuse as i32,
                device_state_raw: "Not in use".into(),
                ..Default::default()
            }));
            out.push(env);
        }
    }

    /// An `Unmapped` event of a channel, as the ingestor publishes it.
    fn unmapped(
        &mut self,
        name: &str,
        channel: &ChannelSnapshot,
        extra: &[(&str, &str)],
    ) -> Envelope {
        let mut headers = vec![
            header("Event", name),
            header("Channel", &channel.name),
            header("Uniqueid", &channel.uniqueid),
            header("Linkedid", &channel.linkedid),
            header("Context", "from-internal"),
        ];
        headers.extend(extra.iter().map(|(k, v)| header(k, v)));
        self.env(Kind::Unmapped(Unmapped {
            name: name.into(),
            headers,
        }))
    }

    fn env(&mut self, kind: Kind) -> Envelope {
        self.sequence += 1;
        Envelope {
            tenant: self.tenant.clone(),
            pbx: self.pbx.clone(),
            epoch: 1,
            sequence: self.sequence,
            received_at: Some(Timestamp {
                seconds: 1_800_000_000 + (self.sequence / 1000) as i64,
                nanos: 0,
            }),
            kind: Some(kind),
            ..Default::default()
        }
    }

    fn leg(&self, call: u64, leg: &str, state: ChannelState) -> ChannelSnapshot {
        let ext = 1000 + call % 500;
        ChannelSnapshot {
            name: format!("PJSIP/{ext}-{call:08x}{leg}"),
            uniqueid: format!("{}.{call}.{leg}", self.pbx),
            linkedid: format!("{}.{call}.a", self.pbx),
            state: state as i32,
            caller: Some(CallerId {
                num: ext.to_string(),
                name: format!("Ext {ext}"),
            }),
            exten: (2000 + call % 500).to_string(),
            context: "from-internal".into(),
            ..Default::default()
        }
    }

    /// The events of starting one call (and, at the target concurrency,
    /// ending the oldest).
    fn step(&mut self, out: &mut Vec<Envelope>) {
        let call = self.next_call;
        self.next_call += 1;
        for leg in ["a", "b"] {
            let channel = Some(self.leg(call, leg, ChannelState::Ring));
            let env = self.env(Kind::ChannelCreated(ChannelCreated {
                channel,
                ..Default::default()
            }));
            out.push(env);
        }
        if self.unmapped {
            for leg in ["a", "b"] {
                let channel = self.leg(call, leg, ChannelState::Ring);
                for priority in ["1", "2"] {
                    let env = self.unmapped(
                        "Newexten",
                        &channel,
                        &[
                            ("Exten", &channel.exten),
                            ("Priority", priority),
                            ("Application", "Dial"),
                        ],
                    );
                    out.push(env);
                }
                let device = channel.name.rsplit_once('-').map_or("", |(d, _)| d);
                let env = self.env(Kind::DeviceStateChanged(DeviceStateChanged {
                    device: device.into(),
                    state: DeviceState::Inuse as i32,
                    state_raw: "In use".into(),
                }));
                out.push(env);
                for i in 0..21 {
                    let var = format!("VAR_{i}");
                    let env =
                        self.unmapped("VarSet", &channel, &[("Variable", &var), ("Value", "1")]);
                    out.push(env);
                }
            }
        }
        for leg in ["a", "b"] {
            let channel = Some(self.leg(call, leg, ChannelState::Up));
            let env = self.env(Kind::ChannelStateChanged(ChannelStateChanged { channel }));
            out.push(env);
        }
        if self.unmapped {
            self.bridge(call, true, out);
        }
        self.active.push_back(call);
        if self.active.len() > self.concurrent {
            let old = self.active.pop_front().expect("not empty");
            if self.unmapped {
                self.bridge(old, false, out);
            }
            for leg in ["b", "a"] {
                let channel = Some(self.leg(old, leg, ChannelState::Up));
                let env = self.env(Kind::ChannelHungUp(ChannelHungUp {
                    channel,
                    cause_code: Some(16),
                    ..Default::default()
                }));
                out.push(env);
            }
        }
    }

    /// The bridge of an answered call: created and entered by both legs,
    /// or left by both and destroyed.
    fn bridge(&mut self, call: u64, up: bool, out: &mut Vec<Envelope>) {
        let bridge = Some(BridgeSnapshot {
            uniqueid: format!("bridge-{call}"),
            r#type: "basic".into(),
            technology: "simple_bridge".into(),
            ..Default::default()
        });
        if up {
            let env = self.env(Kind::BridgeCreated(BridgeCreated {
                bridge: bridge.clone(),
            }));
            out.push(env);
        }
        for leg in if up { ["a", "b"] } else { ["b", "a"] } {
            let channel = Some(self.leg(call, leg, ChannelState::Up));
            let kind = if up {
                Kind::BridgeEntered(BridgeEntered {
                    bridge: bridge.clone(),
                    channel,
                    ..Default::default()
                })
            } else {
                Kind::BridgeLeft(BridgeLeft {
                    bridge: bridge.clone(),
                    channel,
                })
            };
            let env = self.env(kind);
            out.push(env);
        }
        if !up {
            let env = self.env(Kind::BridgeDestroyed(BridgeDestroyed { bridge }));
            out.push(env);
        }
    }

    fn events(&mut self, n: usize) -> Vec<Envelope> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            self.step(&mut out);
        }
        out
    }
}

fn header(key: &str, value: &str) -> Header {
    Header {
        key: key.into(),
        value: Some(value.into()),
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Events are generated in batches outside the timed part: generating
/// them all first would time a walk through hundreds of MB of envelopes
/// (and their page faults) rather than the engine.
const BATCH: usize = 10_000;

/// What a timed apply run has done so far.
#[derive(Default)]
struct Applied {
    events: usize,
    deltas: usize,
    records: usize,
    time: std::time::Duration,
}

impl Applied {
    /// Applies `envs` in order; only the engine's work is timed.
    fn timed(&mut self, engine: &mut Engine, envs: &[Envelope]) {
        let started = Instant::now();
        for e in envs {
            let out = engine.apply(e);
            self.deltas += out.deltas.len();
            self.records += out.records.len();
        }
        self.time += started.elapsed();
        self.events += envs.len();
    }

    /// `events/s (… events, … deltas, … call records, … s)`.
    fn figures(&self) -> String {
        let secs = self.time.as_secs_f64();
        format!(
            "{:.0} events/s ({} events, {} deltas, {} call records, {secs:.2} s)",
            self.events as f64 / secs,
            self.events,
            self.deltas,
            self.records
        )
    }
}

fn apply_rate(concurrent: usize, events: usize, unmapped: bool) {
    let mut load = Load::new("bench", "pbx-1", concurrent);
    if unmapped {
        load = load.with_unmapped();
    }
    let mut engine = Engine::new();
    // Up to the target concurrency before timing.
    let mut warm = Vec::new();
    if unmapped {
        load.extensions(&mut warm);
    }
    while load.next_call <= concurrent as u64 {
        load.step(&mut warm);
    }
    for e in &warm {
        engine.apply(e);
    }
    let mut applied = Applied::default();
    while applied.events < events {
        let envs = load.events(BATCH.min(events - applied.events));
        applied.timed(&mut engine, &envs);
    }
    println!(
        "apply, 1 PBX, {concurrent} calls in progress{}: {}",
        if unmapped {
            ", as a PBX sends them"
        } else {
            ""
        },
        applied.figures(),
    );
}

/// The apply rate on what Asterisk itself sent: the envelopes of
/// `load-sample.ami` (sipp's calls, with the sync lists, queue and
/// conference events, `VarSet`s and device states of a real PBX), decoded
/// as the service decodes them. The recording is applied again and again,
/// each time as a new PBX of the tenant (a replay under the same name would
/// re-create channels that exist), until `events` have been applied.
fn apply_recorded(events: usize) {
    use ringside_proto::prost::Message as _;
    let bytes = std::fs::read(ringside_testkit::corpus::path("load-sample.ami"))
        .expect("the AMI corpus (set RINGSIDE_AMI_CORPUS)");
    let mut replayer = ringside_state::replay::Replayer::new("bench", "pbx-0").keeping_envelopes();
    replayer.transcript(&bytes);
    let recorded: Vec<Envelope> = replayer
        .envelopes()
        .iter()
        .map(|e| envelope_for_apply(&e.encode_to_vec()).expect("an envelope"))
        .collect();
    let mut engine = Engine::new();
    let (mut applied, mut pbxs) = (Applied::default(), 0usize);
    while applied.events < events {
        let pbx = format!("pbx-{pbxs}");
        let envs: Vec<Envelope> = recorded
            .iter()
            .map(|e| Envelope {
                pbx: pbx.clone(),
                ..e.clone()
            })
            .collect();
        applied.timed(&mut engine, &envs);
        pbxs += 1;
    }
    println!(
        "apply, load-sample.ami's {} envelopes as {pbxs} PBXs one after another: {}",
        recorded.len(),
        applied.figures(),
    );
}

fn memory_per_channel() {
    let before = rss_bytes();
    let mut engine = Engine::new();
    let mut channels = 0usize;
    for p in 0..100 {
        let mut load = Load::new("bench", &format!("pbx-{p}"), usize::MAX);
        let mut out = Vec::new();
        // 1,000 calls × 2 legs, created and answered, none ended.
        while load.next_call < 1000 {
            load.step(&mut out);
        }
        for e in &out {
            engine.apply(e);
        }
        channels += 2000;
    }
    let after = rss_bytes();
    let (_, snapshot) = engine.snapshot("bench", None);
    assert_eq!(snapshot.channels.len(), channels);
    println!(
        "memory: {channels} active channels (100 PBXs × 2,000) take {:.0} MiB of RSS: {:.0} bytes per channel (views + published copy + call notes)",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        (after.saturating_sub(before)) as f64 / channels as f64
    );
}

fn snapshot_encode() {
    let mut load = Load::new("bench", "pbx-1", usize::MAX);
    let mut out = Vec::new();
    while load.next_call < 10_000 {
        load.step(&mut out);
    }
    let mut engine = Engine::new();
    for e in &out {
        engine.apply(e);
    }
    let started = Instant::now();
    let saved = engine.save();
    let save = started.elapsed();
    let started = Instant::now();
    let (seq, snapshot) = engine.snapshot("bench", None);
    let json = serde_json::to_vec(&snapshot).unwrap();
    let view = started.elapsed();
    println!(
        "snapshot of 10,000 calls: engine save {:.1} ms ({} KiB); tenant views as JSON {:.1} ms ({} KiB, seq {seq})",
        save.as_secs_f64() * 1000.0,
        saved.len() / 1024,
        view.as_secs_f64() * 1000.0,
        json.len() / 1024
    );
}

fn restart() {
    let mut load = Load::new("bench", "pbx-1", 200);
    let before = load.events(100_000);
    let after = load.events(1_000_000);
    let mut engine = Engine::new();
    for e in &before {
        engine.apply(e);
    }
    let saved = engine.save();
    drop(engine);
    let started = Instant::now();
    let mut engine = Engine::load(&saved).expect("loads");
    let loaded = started.elapsed();
    for e in &after {
        engine.apply(e);
    }
    let total = started.elapsed();
    println!(
        "restart: load snapshot {:.1} ms, then replay {} events: {:.2} s in all",
        loaded.as_secs_f64() * 1000.0,
        after.len(),
        total.as_secs_f64()
    );
}

fn decode() {
    use ringside_proto::prost::Message as _;
    let bytes = std::fs::read(ringside_testkit::corpus::path("load-sample.ami"))
        .expect("the AMI corpus (set RINGSIDE_AMI_CORPUS)");
    let mut replayer = ringside_state::replay::Replayer::new("bench", "pbx-1").keeping_envelopes();
    replayer.transcript(&bytes);
    let encoded: Vec<Vec<u8>> = replayer
        .envelopes()
        .iter()
        .map(|e| e.encode_to_vec())
        .collect();
    const ROUNDS: usize = 200;
    let time = |decode: &dyn Fn(&[u8]) -> Envelope| {
        let started = Instant::now();
        for _ in 0..ROUNDS {
            for e in &encoded {
                std::hint::black_box(decode(e));
            }
        }
        started.elapsed().as_secs_f64() * 1e9 / (ROUNDS * encoded.len()) as f64
    };
    let whole = time(&|b| Envelope::decode(b).expect("an envelope"));
    let for_apply = time(&|b| envelope_for_apply(b).expect("an envelope"));
    println!(
        "decode, the {} envelopes of load-sample.ami: whole {whole:.0} ns each, for apply {for_apply:.0} ns each",
        encoded.len()
    );
}

fn main() {
    // As the `ringside` binary does first (its `main.rs` says why): with
    // transparent huge pages, page zeroing stalls would be measured that the
    // product does not have.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // `cargo bench` passes `--bench`; any other argument filters by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    // Memory first: it is read as the growth of RSS, and the allocator
    // keeps what earlier runs freed, which would hide part of it.
    if wants("memory") {
        memory_per_channel();
    }
    if wants("apply") {
        apply_rate(10, 300_000, false);
        apply_rate(200, 300_000, false);
        apply_rate(2000, 60_000, false);
        apply_rate(200, 1_000_000, true);
        apply_rate(2000, 1_000_000, true);
        apply_recorded(1_000_000);
    }
    if wants("snapshot") {
        snapshot_encode();
    }
    if wants("restart") {
        restart();
    }
    if wants("decode") {
        decode();
    }
}
