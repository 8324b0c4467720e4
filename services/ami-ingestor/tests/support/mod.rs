//! Helpers for the ingestor suites: a simulated PBX, an ingestor on a test
//! bus, and a reader of the events it published.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use ringside_ami_ingestor::{Deps, IngestorSettings, PbxSettings};
use ringside_bus::{Bus, PbxId, ReadSpec, StartPosition, StreamRole, TenantId, Topology};
use ringside_pbx_sim::{SimConfig, Simulator};
use ringside_proto::events::v1::Envelope;
use ringside_proto::events::v1::envelope::Kind;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TENANT: &str = "acme";

/// A simulator on a free port with `calls_per_second` generated calls.
pub async fn sim(calls_per_second: f64, seed: u64) -> Simulator {
    ringside_pbx_sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: "lab".into(),
        secret: "labsecret".into(),
        endpoints: 10,
        trunks: 2,
        calls_per_second,
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// The ingestor's view of a simulator.
pub fn pbx(sim: &Simulator, id: &str) -> PbxSettings {
    let addr = sim.local_addr();
    PbxSettings::from_url(&format!(
        "ami://lab:labsecret@{addr}?tenant={TENANT}&id={id}"
    ))
    .unwrap()
}

/// Settings for tests: short timeouts, quick reconnects.
pub fn settings(pbx: Vec<PbxSettings>) -> IngestorSettings {
    let mut s = IngestorSettings {
        pbx,
        ..IngestorSettings::default()
    };
    s.action_timeout = Duration::from_secs(5);
    s.ping_interval = Duration::from_secs(2);
    s.ping_timeout = Duration::from_secs(4);
    s.max_backoff = Duration::from_millis(500);
    s.lease.ttl = Duration::from_secs(3);
    s.lease.renew_every = Duration::from_millis(300);
    s
}

/// A running ingestor.
pub struct Ingestor {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Ingestor {
    pub fn spawn(settings: IngestorSettings, bus: Arc<dyn Bus>, topology: Topology) -> Ingestor {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ringside_ami_ingestor::run(
            settings,
            Deps { bus, topology },
            shutdown.clone(),
        ));
        Ingestor { shutdown, task }
    }

    /// Stops it cleanly (logoff, drain, release leases).
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Starts an ingestor watching `pbxs` and waits until each has completed its
/// first resync.
pub async fn watching(test: &ringside_testkit::TestBus, pbxs: Vec<PbxSettings>) -> Ingestor {
    let ids: Vec<String> = pbxs.iter().map(|p| p.id.clone()).collect();
    let ingestor = Ingestor::spawn(settings(pbxs), test.bus.clone(), test.topology.clone());
    for id in &ids {
        read_events(
            &test.bus,
            &test.topology,
            id,
            Duration::from_secs(20),
            |seen| syncs_completed(seen) >= 1,
        )
        .await;
    }
    ingestor
}

/// The tenant and id of a test PBX, as subject tokens.
pub fn ids(pbx: &str) -> (TenantId, PbxId) {
    (TenantId::new(TENANT).unwrap(), PbxId::new(pbx).unwrap())
}

/// The name of an event's kind (`ChannelCreated`…).
pub fn kind(e: &Envelope) -> &'static str {
    ringside_events::kind_name(e.kind.as_ref().unwrap())
}

/// Reads `pbx`'s events from the start of the stream until `done` says so;
/// panics after `within`.
pub async fn read_events(
    bus: &Arc<dyn Bus>,
    topology: &Topology,
    pbx: &str,
    within: Duration,
    mut done: impl FnMut(&[Envelope]) -> bool,
) -> Vec<Envelope> {
    let filter = topology.subjects().events_filter(
        Some(&TenantId::new(TENANT).unwrap()),
        Some(&PbxId::new(pbx).unwrap()),
        None,
    );
    let spec = ReadSpec::new(topology.stream_name(StreamRole::Events))
        .start(StartPosition::All)
        .filter(filter);
    let mut stream = bus
        .read_stream(spec)
        .await
        .expect("reading the events stream");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done(&seen) {
            return seen;
        }
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        match next {
            Ok(Some(Ok(d))) => seen.push(Envelope::decode(d.payload).expect("envelopes decode")),
            Ok(Some(Err(e))) => panic!("reading events failed: {e}"),
            Ok(None) => panic!("the events stream ended"),
            Err(_) => panic!(
                "condition not met within {within:?}; saw {} events, the last ones: {:?}",
                seen.len(),
                seen.iter()
                    .rev()
                    .take(40)
                    .rev()
                    .map(kind)
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// The raw AMI frames stored for `pbx` so far, in order, as (event or
/// response name, `Uniqueid`), and how many stored messages held them.
pub async fn read_raw_frames(
    bus: &Arc<dyn Bus>,
    topology: &Topology,
    pbx: &str,
) -> (Vec<(String, Option<String>)>, usize) {
    let filter = topology.subjects().ami_raw_filter(
        Some(&TenantId::new(TENANT).unwrap()),
        Some(&PbxId::new(pbx).unwrap()),
    );
    let spec = ReadSpec::new(topology.stream_name(StreamRole::Ami))
        .start(StartPosition::All)
        .filter(filter)
        .until_caught_up();
    let mut stream = bus.read_stream(spec).await.expect("reading the raw stream");
    let (mut frames, mut stored) = (Vec::new(), 0);
    while let Some(delivered) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the raw stream is read within 10 s")
    {
        let delivered = delivered.expect("reading raw frames");
        let read = ringside_ami::codec::read_frames(&delivered.payload, |m| {
            frames.push((m.name().to_owned(), m.get("Uniqueid").map(str::to_owned)));
        });
        assert_eq!(read.trailing, 0, "a stored message holds whole frames");
        stored += 1;
    }
    (frames, stored)
}

/// Number of SyncCompleted events seen.
pub fn syncs_completed(events: &[Envelope]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::SyncCompleted(_))))
        .count()
}

/// Asserts that, per epoch, sequences run 1, 2, 3… with no gap and no repeat.
pub fn assert_contiguous(events: &[Envelope]) {
    let mut by_epoch: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for e in events {
        by_epoch.entry(e.epoch).or_default().push(e.sequence);
    }
    for (epoch, mut seqs) in by_epoch {
        seqs.sort_unstable();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(
            seqs, expected,
            "epoch {epoch}: sequences must be 1..=n, each once"
        );
    }
}

/// Waits until the bus says it is connected again (after a server restart).
pub async fn wait_connected(bus: &Arc<dyn Bus>) {
    let mut state = bus.connection();
    tokio::time::timeout(
        Duration::from_secs(15),
        state.wait_for(|s| *s == ringside_bus::ConnectionState::Connected),
    )
    .await
    .expect("the bus reconnects within 15 s")
    .expect("the bus is alive");
}
