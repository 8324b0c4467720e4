//! One ingestor drives 200 simulated PBXs over real NATS: every PBX gets its
//! connection and a complete resync.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use ringside_bus::{ReadSpec, StartPosition, StreamRole, TenantId};
use ringside_pbx_sim::SimConfig;
use ringside_proto::events::v1::Envelope;
use ringside_proto::events::v1::envelope::Kind;
use ringside_testkit::TestBus;
use support::*;

const PBXS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ingestor_resynchronises_200_pbxs() {
    let test = TestBus::nats().await;
    let sims = ringside_pbx_sim::start_many(
        SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            username: "lab".into(),
            secret: "labsecret".into(),
            endpoints: 5,
            trunks: 1,
            calls_per_second: 0.0,
            ..SimConfig::default()
        },
        PBXS,
    )
    .await
    .unwrap();
    let pbxs = sims
        .iter()
        .enumerate()
        .map(|(i, sim)| pbx(sim, &format!("pbx-{i}")))
        .collect();
    let mut settings = settings(pbxs);
    settings.lease.renew_every = Duration::from_secs(2);
    settings.lease.ttl = Duration::from_secs(10);
    let ingestor = Ingestor::spawn(settings, test.bus.clone(), test.topology.clone());

    let filter =
        test.topology
            .subjects()
            .events_filter(Some(&TenantId::new(TENANT).unwrap()), None, None);
    let spec = ReadSpec::new(test.topology.stream_name(StreamRole::Events))
        .start(StartPosition::All)
        .filter(filter);
    let mut events = test.bus.read_stream(spec).await.unwrap();
    let mut synced = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while synced.len() < PBXS {
        let item = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {PBXS} PBXs resynchronised in 60 s",
                    synced.len()
                )
            })
            .expect("the stream goes on")
            .expect("reading events");
        let envelope = Envelope::decode(item.payload).unwrap();
        if let Some(Kind::SyncCompleted(done)) = &envelope.kind {
            let endpoints = done
                .lists
                .iter()
                .find(|l| l.action == "PJSIPShowEndpoints")
                .unwrap();
            assert_eq!(
                endpoints.entries,
                5 + 1,
                "{}: every endpoint listed",
                envelope.pbx
            );
            synced.insert(envelope.pbx.clone());
        }
    }
    assert_eq!(
        sims.iter().map(|s| s.logged_in()).sum::<usize>(),
        PBXS,
        "one connection per PBX"
    );
    ingestor.stop().await;
    for sim in sims {
        sim.shutdown().await;
    }
}
