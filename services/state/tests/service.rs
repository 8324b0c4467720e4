//! The state service on a real bus (the in-process one and real NATS
//! JetStream): snapshot requests with the sequence they include, deltas on
//! `view.<view>` that stitch to them, call records on `calls.completed`,
//! restart from a snapshot after a kill with nothing lost or applied twice,
//! time travel, sharding and a poison message.
//!
//! The events are the envelopes the ingestor would publish for a corpus
//! transcript (made by the replayer), published on the events stream as
//! the ingestor publishes them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use prost::Message as _;
use ringside_bus::{Outgoing, PbxId, ReadSpec, StreamRole, TenantId, Token};
use ringside_proto::events::v1::Envelope;
use ringside_state::deltas::{self, Delta, Entry, View};
use ringside_state::records::CallRecord;
use ringside_state::replay::Replayer;
use ringside_state::service::{Deps, SnapshotReply, StateService, StateSettings, Step};
use ringside_state::{Engine, Snapshot};
use ringside_testkit::{TestBus, corpus};

const WAIT: Duration = Duration::from_secs(10);

fn envelopes(tenant: &str, transcript: &str) -> Vec<Envelope> {
    let bytes = std::fs::read(corpus::path(transcript)).unwrap();
    let mut r = Replayer::new(tenant, "pbx-1").keeping_envelopes();
    r.transcript(&bytes);
    r.envelopes().to_vec()
}

async fn publish(test: &TestBus, envs: &[Envelope]) {
    let subjects = test.topology.subjects();
    for env in envs {
        let kind = ringside_events::kind_name(env.kind.as_ref().unwrap());
        let subject = subjects.events(
            &TenantId::new(&env.tenant).unwrap(),
            &PbxId::new(&env.pbx).unwrap(),
            &Token::new(kind).unwrap(),
        );
        let id = format!("{}.{}.{}.{}", env.tenant, env.pbx, env.epoch, env.sequence);
        let msg = Outgoing::new(env.encode_to_vec()).with_msg_id(&id).unwrap();
        test.bus.publish(&subject, msg).await.unwrap();
    }
}

fn settings() -> StateSettings {
    StateSettings {
        // Tests decide when snapshots are taken.
        snapshot_every_events: u64::MAX,
        snapshot_every: Duration::from_secs(3600),
        snapshot_chunk_bytes: 16 * 1024,
        ..Default::default()
    }
}

fn deps(test: &TestBus) -> Deps {
    Deps {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
    }
}

/// Steps until nothing arrives for a while.
async fn drain(service: &mut StateService) -> usize {
    let mut applied = 0;
    loop {
        match service.step(Duration::from_millis(300)).await.unwrap() {
            Step::Idle => return applied,
            Step::Applied(_) => applied += 1,
            _ => {}
        }
    }
}

async fn request(test: &TestBus, tenant: &str, body: serde_json::Value) -> SnapshotReply {
    let subject = test
        .topology
        .subjects()
        .state_snapshot(&TenantId::new(tenant).unwrap());
    let reply = test
        .bus
        .request(&subject, Outgoing::new(body.to_string()), WAIT)
        .await
        .expect("the state service answers");
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.payload)))
}

fn entries(snapshot: Snapshot) -> BTreeMap<(String, View, String), Entry> {
    let mut out = BTreeMap::new();
    let pbxs: BTreeSet<String> = snapshot.pbxs.iter().map(|p| p.pbx.clone()).collect();
    assert!(pbxs.len() <= 1, "one PBX in these tests");
    let pbx = pbxs.into_iter().next().unwrap_or_default();
    for (view, map) in View::ALL.into_iter().zip(deltas::entries_of(snapshot)) {
        for (key, entry) in map {
            out.insert((pbx.clone(), view, key), entry);
        }
    }
    out
}

/// Steps the service and collects the deltas it publishes until `until_seq`.
/// A step is never cancelled half-way (a cancelled pull would leave its
/// messages to be redelivered only after the ack wait): deltas are drained
/// between steps.
async fn serve_and_collect(
    service: &mut StateService,
    deltas: &mut futures::stream::BoxStream<'static, ringside_bus::Delivered>,
    until_seq: u64,
) -> Vec<Delta> {
    use futures::FutureExt as _;
    let mut got: Vec<Delta> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.last().is_none_or(|d| d.seq < until_seq) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} deltas by the deadline",
            got.len()
        );
        service.step(Duration::from_millis(20)).await.unwrap();
        while let Some(Some(msg)) = deltas.next().now_or_never() {
            got.push(serde_json::from_slice(&msg.payload).unwrap());
        }
    }
    got
}

async fn snapshot_then_deltas_stitch_to_the_views(test: TestBus) {
    let envs = envelopes("acme", "basic-calls.ami");
    let (first, rest) = envs.split_at(envs.len() / 2);
    let mut service = StateService::start(settings(), deps(&test)).await.unwrap();
    publish(&test, first).await;
    assert_eq!(drain(&mut service).await, first.len());

    // A client: subscribe first, then ask for the snapshot.
    let mut deltas = test
        .bus
        .subscribe(&format!("{}.acme.view.>", test.topology.subjects().root()))
        .await
        .unwrap();
    let (snapshot, ()) = tokio::join!(request(&test, "acme", serde_json::json!({})), async {
        service.step(WAIT).await.unwrap();
    });
    let seq = snapshot.seq.expect("a live snapshot has a sequence");
    assert!(seq > 0);
    let mut client = entries(snapshot.snapshot);

    publish(&test, rest).await;
    let mut straight = Engine::new();
    for env in &envs {
        straight.apply(env);
    }
    let final_seq = straight.seq("acme");
    let got = serve_and_collect(&mut service, &mut deltas, final_seq).await;
    let mut expect = seq;
    for d in got.iter().filter(|d| d.seq > seq) {
        expect += 1;
        assert_eq!(d.seq, expect, "no gap, no duplicate");
        deltas::apply_to(&mut client, d);
    }
    assert_eq!(client, entries(straight.snapshot("acme", None).1));
    // And the service's own answer now agrees.
    let (now, ()) = tokio::join!(request(&test, "acme", serde_json::json!({})), async {
        service.step(WAIT).await.unwrap();
    });
    assert_eq!(now.seq, Some(final_seq));
    assert_eq!(entries(now.snapshot), client);
}

async fn read_records(test: &TestBus) -> Vec<CallRecord> {
    let mut stream = test
        .bus
        .read_stream(ReadSpec::new(test.topology.stream_name(StreamRole::Calls)).until_caught_up())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(msg) = stream.next().await {
        out.push(serde_json::from_slice(&msg.unwrap().payload).unwrap());
    }
    out
}

async fn a_kill_mid_stream_loses_nothing_and_applies_nothing_twice(test: TestBus) {
    let envs = envelopes("acme", "basic-calls.ami");
    let third = envs.len() / 3;
    publish(&test, &envs[..third]).await;
    let mut a = StateService::start(settings(), deps(&test)).await.unwrap();
    drain(&mut a).await;
    a.save_snapshot().await.unwrap();
    // More is applied and acked after the snapshot, then the process dies
    // (dropped: no last snapshot).
    publish(&test, &envs[third..2 * third]).await;
    drain(&mut a).await;
    drop(a);

    publish(&test, &envs[2 * third..]).await;
    let mut b = StateService::start(settings(), deps(&test)).await.unwrap();
    drain(&mut b).await;

    let mut straight = Engine::new();
    let mut expected_records = Vec::new();
    for env in &envs {
        expected_records.extend(straight.apply(env).records);
    }
    assert_eq!(
        b.engine().snapshot("acme", None),
        straight.snapshot("acme", None)
    );
    assert_eq!(b.engine().seq("acme"), straight.seq("acme"));
    // Every call record stored once (the re-published ones were dropped by
    // their message id).
    let stored = read_records(&test).await;
    assert_eq!(stored, expected_records);
}

async fn time_travel_rebuilds_a_past_snapshot(test: TestBus) {
    let envs = envelopes("acme", "basic-calls.ami");
    let (first, rest) = envs.split_at(envs.len() / 2);
    publish(&test, first).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(50)).await;
    publish(&test, rest).await;
    let mut service = StateService::start(settings(), deps(&test)).await.unwrap();
    drain(&mut service).await;

    let mut past = Engine::new();
    for env in first {
        past.apply(env);
    }
    let (reply, ()) = tokio::join!(
        request(&test, "acme", serde_json::json!({"at_ms": at})),
        async {
            service.step(WAIT).await.unwrap();
        }
    );
    assert_eq!(reply.seq, None, "time travel is not stitched to deltas");
    assert_eq!(reply.snapshot, past.snapshot("acme", None).1);
    assert_ne!(reply.snapshot, service.engine().snapshot("acme", None).1);
}

async fn shards_split_tenants(test: TestBus) {
    let mut tenants: Vec<String> = Vec::new();
    for n in 0.. {
        let t = format!("t{n}");
        let s0 = StateSettings {
            shard_index: 0,
            shard_count: 2,
            ..settings()
        };
        if tenants.len() < 2 && (tenants.is_empty() || s0.owns(&t) != s0.owns(&tenants[0])) {
            tenants.push(t);
        }
        if tenants.len() == 2 {
            break;
        }
    }
    let envs: Vec<Envelope> = tenants
        .iter()
        .flat_map(|t| envelopes(t, "boot-and-sync.ami"))
        .collect();
    publish(&test, &envs).await;
    let mut shards = Vec::new();
    for i in 0..2 {
        let s = StateSettings {
            shard_index: i,
            shard_count: 2,
            ..settings()
        };
        let mut service = StateService::start(s, deps(&test)).await.unwrap();
        drain(&mut service).await;
        shards.push(service);
    }
    for t in &tenants {
        let holders: Vec<usize> = (0..2)
            .filter(|i| !shards[*i].engine().snapshot(t, None).1.endpoints.is_empty())
            .collect();
        assert_eq!(holders.len(), 1, "{t} is kept by exactly one shard");
        // Only its shard answers, and the answer has its views.
        let (s0, s1) = shards.split_at_mut(1);
        let (reply, (), ()) = tokio::join!(
            request(&test, t, serde_json::json!({})),
            async {
                let _ = s0[0].step(Duration::from_millis(500)).await;
            },
            async {
                let _ = s1[0].step(Duration::from_millis(500)).await;
            }
        );
        assert!(!reply.snapshot.endpoints.is_empty());
        assert!(reply.snapshot.endpoints.iter().all(|e| e.tenant == *t));
    }
}

async fn a_message_that_is_not_an_envelope_is_skipped(test: TestBus) {
    let envs = envelopes("acme", "boot-and-sync.ami");
    publish(&test, &envs[..5]).await;
    let subject = test.topology.subjects().events(
        &TenantId::new("acme").unwrap(),
        &PbxId::new("pbx-1").unwrap(),
        &Token::new("Connected").unwrap(),
    );
    test.bus
        .publish(&subject, Outgoing::new(&b"\xff\xffnot protobuf"[..]))
        .await
        .unwrap();
    publish(&test, &envs[5..]).await;
    let mut service = StateService::start(settings(), deps(&test)).await.unwrap();
    drain(&mut service).await;
    let mut straight = Engine::new();
    for env in &envs {
        straight.apply(env);
    }
    assert_eq!(
        service.engine().snapshot("acme", None),
        straight.snapshot("acme", None)
    );
}

async fn a_bad_request_gets_an_error_answer(test: TestBus) {
    let mut service = StateService::start(settings(), deps(&test)).await.unwrap();
    let subject = test
        .topology
        .subjects()
        .state_snapshot(&TenantId::new("acme").unwrap());
    let (reply, ()) = tokio::join!(
        test.bus.request(&subject, Outgoing::new("{not json"), WAIT),
        async {
            service.step(WAIT).await.unwrap();
        }
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.unwrap().payload).unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

/// Snapshot requests keep arriving while events flow, and the loop's steps
/// are cut short at random (as `select!` does to a step that loses a race):
/// every event is still applied once and in order. A cancelled wait must
/// not cancel a pull whose message the server already sent; such a message
/// would come back after its successors and be taken for a duplicate.
async fn steps_cut_short_lose_no_event(test: TestBus) {
    let envs = envelopes("acme", "basic-calls.ami");
    let mut service = StateService::start(settings(), deps(&test)).await.unwrap();
    let asker = {
        let bus = test.bus.clone();
        let subject = test
            .topology
            .subjects()
            .state_snapshot(&TenantId::new("acme").unwrap());
        tokio::spawn(async move {
            loop {
                let _ = bus.request(&subject, Outgoing::new("{}"), WAIT).await;
            }
        })
    };
    publish(&test, &envs).await;
    let mut straight = Engine::new();
    for env in &envs {
        straight.apply(env);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut cut = 0u32;
    while service.engine().seq("acme") < straight.seq("acme") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at delta {} of {}",
            service.engine().seq("acme"),
            straight.seq("acme")
        );
        cut = cut.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let patience = Duration::from_micros(u64::from(cut % 3_000));
        let _ = tokio::time::timeout(patience, service.step(Duration::from_millis(50))).await;
    }
    asker.abort();
    assert_eq!(
        entries(service.engine().snapshot("acme", None).1),
        entries(straight.snapshot("acme", None).1)
    );
}

macro_rules! on_both_buses {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(ringside_testkit::TestBus::in_process()).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(ringside_testkit::TestBus::nats().await).await;
                }
            )*
        }
    };
}

on_both_buses!(
    snapshot_then_deltas_stitch_to_the_views,
    a_kill_mid_stream_loses_nothing_and_applies_nothing_twice,
    time_travel_rebuilds_a_past_snapshot,
    shards_split_tenants,
    a_message_that_is_not_an_envelope_is_skipped,
    a_bad_request_gets_an_error_answer,
    steps_cut_short_lose_no_event,
);
