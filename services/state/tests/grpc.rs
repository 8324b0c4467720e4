//! The `ringside.state.v1.State` gRPC API, through a real tonic client on a
//! loopback port, served over a real bus (the in-process one) by a real
//! `StateService` fed with corpus envelopes published as the ingestor
//! publishes them: snapshots, stitched deltas (and their errors), call
//! filters and lookups, bad input, and tenant isolation.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use ringside_bus::{Outgoing, PbxId, TenantId, Token};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{CallerId, ChannelCreated, ChannelSnapshot, Envelope};
use ringside_proto::state::v1 as pb;
use ringside_proto::state::v1::state_client::StateClient;
use ringside_state::Engine;
use ringside_state::grpc::GrpcServer;
use ringside_state::replay::Replayer;
use ringside_state::service::{Deps, StateService, StateSettings};
use ringside_testkit::{TestBus, corpus};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

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

/// A state service and its gRPC API, both running until dropped.
struct App {
    test: TestBus,
    client: StateClient<Channel>,
    stop: CancellationToken,
    /// Where the gRPC API listens.
    addr: std::net::SocketAddr,
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn spawn_app() -> App {
    let test = TestBus::in_process();
    let deps = Deps {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
    };
    let stop = CancellationToken::new();
    let settings = StateSettings {
        snapshot_every_events: u64::MAX,
        snapshot_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let service = StateService::start(settings, deps.clone()).await.unwrap();
    tokio::spawn(service.run_until(stop.clone()));
    let server = GrpcServer::bind("127.0.0.1:0".parse().unwrap(), deps)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run_until(stop.clone()));
    let client = StateClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    App {
        test,
        client,
        stop,
        addr,
    }
}

/// What the engine would hold after `envs` (the reference).
fn straight(envs: &[Envelope]) -> Engine {
    let mut engine = Engine::new();
    for env in envs {
        engine.apply(env);
    }
    engine
}

/// The tenant's snapshot once the service has applied up to `seq`.
async fn snapshot_at(app: &mut App, tenant: &str, seq: u64) -> pb::Snapshot {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = app
            .client
            .get_snapshot(pb::GetSnapshotRequest {
                tenant: tenant.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if s.seq == Some(seq) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tenant} stuck at {:?}, waiting for {seq}",
            s.seq
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client's copy of the views: (pbx, view, key) → the entry's bytes.
type Entries = BTreeMap<(String, i32, String), Vec<u8>>;

fn entries(s: &pb::Snapshot) -> Entries {
    let mut out = Entries::new();
    let mut put = |pbx: &str, view: pb::View, key: String, bytes: Vec<u8>| {
        out.insert((pbx.to_owned(), view as i32, key), bytes);
    };
    for e in &s.pbxs {
        put(&e.pbx, pb::View::Pbxs, e.pbx.clone(), e.encode_to_vec());
    }
    for e in &s.endpoints {
        put(
            &e.pbx,
            pb::View::Endpoints,
            e.name.clone(),
            e.encode_to_vec(),
        );
    }
    for e in &s.trunks {
        let kind = match e.kind() {
            pb::TrunkKind::PjsipRegistration => "pjsip_registration",
            pb::TrunkKind::PjsipEndpoint => "pjsip_endpoint",
            pb::TrunkKind::Iax2Peer => "iax2_peer",
            pb::TrunkKind::Iax2Registration => "iax2_registration",
            pb::TrunkKind::Unspecified => panic!("a trunk without a kind"),
        };
        let key = format!("{kind}:{}", e.name);
        put(&e.pbx, pb::View::Trunks, key, e.encode_to_vec());
    }
    for e in &s.channels {
        put(
            &e.pbx,
            pb::View::Channels,
            e.uniqueid.clone(),
            e.encode_to_vec(),
        );
    }
    for e in &s.calls {
        put(&e.pbx, pb::View::Calls, e.id.clone(), e.encode_to_vec());
    }
    for e in &s.bridges {
        put(&e.pbx, pb::View::Bridges, e.id.clone(), e.encode_to_vec());
    }
    for e in &s.queues {
        put(&e.pbx, pb::View::Queues, e.name.clone(), e.encode_to_vec());
    }
    for e in &s.conferences {
        put(
            &e.pbx,
            pb::View::Conferences,
            e.name.clone(),
            e.encode_to_vec(),
        );
    }
    out
}

/// What a client does with a delta.
fn apply(entries: &mut Entries, d: &pb::Delta) {
    use pb::delta::Value;
    let key = (d.pbx.clone(), d.view, d.key.clone());
    match (d.op(), &d.value) {
        (pb::Op::Upsert, Some(v)) => {
            let bytes = match v {
                Value::PbxStatus(e) => e.encode_to_vec(),
                Value::Endpoint(e) => e.encode_to_vec(),
                Value::Trunk(e) => e.encode_to_vec(),
                Value::Channel(e) => e.encode_to_vec(),
                Value::Call(e) => e.encode_to_vec(),
                Value::Bridge(e) => e.encode_to_vec(),
                Value::Queue(e) => e.encode_to_vec(),
                Value::Conference(e) => e.encode_to_vec(),
            };
            entries.insert(key, bytes);
        }
        (pb::Op::Remove, None) => {
            entries.remove(&key);
        }
        other => panic!("malformed delta {other:?}"),
    }
}

/// The API's connections send small messages at once (`TCP_NODELAY`): a
/// streamed delta must not wait for the client's delayed ACK of the one
/// before, up to 40 ms, under Nagle's algorithm.
#[tokio::test]
async fn accepted_connections_send_without_nagle_delay() {
    let mut app = spawn_app().await;
    app.client
        .get_snapshot(pb::GetSnapshotRequest {
            tenant: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let port = app.addr.port();
    let flags = ringside_testkit::sockets::tcp_nodelay_flags(|local, _| local.port() == port);
    assert!(!flags.is_empty(), "found no accepted connection");
    assert!(
        flags.iter().all(|&on| on),
        "TCP_NODELAY is off on an accepted connection"
    );
}

#[tokio::test]
async fn a_snapshot_has_the_views_and_the_sequence_they_include() {
    let mut app = spawn_app().await;
    let envs = envelopes("acme", "boot-and-sync.ami");
    publish(&app.test, &envs).await;
    let reference = straight(&envs);
    let s = snapshot_at(&mut app, "acme", reference.seq("acme")).await;
    let (_, want) = reference.snapshot("acme", None);
    assert!(!want.endpoints.is_empty() && !want.trunks.is_empty());
    assert_eq!(
        s.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>(),
        want.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    assert_eq!(
        s.trunks
            .iter()
            .map(|t| (&t.name, &t.status))
            .collect::<Vec<_>>(),
        want.trunks
            .iter()
            .map(|t| (&t.name, &t.status))
            .collect::<Vec<_>>()
    );
    assert!(
        s.endpoints
            .iter()
            .all(|e| e.status() != pb::EndpointStatus::Unspecified)
    );
    assert_eq!(s.pbxs.len(), 1);
    assert!(!s.pbxs[0].stale, "the resync completed");

    // One PBX only.
    let other = app
        .client
        .get_snapshot(pb::GetSnapshotRequest {
            tenant: "acme".into(),
            pbx: Some("pbx-9".into()),
            at_ms: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other.pbxs.is_empty() && other.endpoints.is_empty());
}

#[tokio::test]
async fn watched_deltas_stitch_to_a_snapshot_without_gap_or_duplicate() {
    let mut app = spawn_app().await;
    let envs = envelopes("acme", "basic-calls.ami");
    let (first, rest) = envs.split_at(envs.len() / 2);
    publish(&app.test, first).await;
    let half = straight(first).seq("acme");
    snapshot_at(&mut app, "acme", half).await;

    // Open the stream first, then take the snapshot.
    let mut stream = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "acme".into(),
            after_seq: None,
        })
        .await
        .unwrap()
        .into_inner();
    let snapshot = snapshot_at(&mut app, "acme", half).await;
    let mut client = entries(&snapshot);

    publish(&app.test, rest).await;
    let reference = straight(&envs);
    let end = reference.seq("acme");
    assert!(end > half);
    let mut seq = half;
    while seq < end {
        let d = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("deltas keep coming")
            .expect("the stream is open")
            .expect("no error");
        assert_eq!(d.tenant, "acme");
        assert_eq!(d.seq, seq + 1, "no gap, no duplicate");
        seq = d.seq;
        apply(&mut client, &d);
    }
    let last = snapshot_at(&mut app, "acme", end).await;
    assert_eq!(client, entries(&last));
}

#[tokio::test]
async fn watching_after_a_sequence_resumes_there_and_refuses_a_gone_one() {
    let mut app = spawn_app().await;
    let envs = envelopes("acme", "basic-calls.ami");
    let (first, rest) = envs.split_at(envs.len() / 2);
    publish(&app.test, first).await;
    let half = straight(first).seq("acme");
    snapshot_at(&mut app, "acme", half).await;

    let behind = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "acme".into(),
            after_seq: Some(half - 1),
        })
        .await
        .expect_err("deltas before the stitch point are gone");
    assert_eq!(behind.code(), Code::OutOfRange);
    let ahead = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "acme".into(),
            after_seq: Some(half + 1000),
        })
        .await
        .expect_err("a sequence the tenant has not reached");
    assert_eq!(ahead.code(), Code::OutOfRange);

    let mut stream = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "acme".into(),
            after_seq: Some(half),
        })
        .await
        .unwrap()
        .into_inner();
    publish(&app.test, &rest[..20]).await;
    let d = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(d.seq, half + 1);
}

#[tokio::test]
async fn a_missed_delta_ends_the_stream_with_data_loss() {
    let mut app = spawn_app().await;
    let envs = envelopes("acme", "boot-and-sync.ami");
    publish(&app.test, &envs).await;
    let seq = straight(&envs).seq("acme");
    snapshot_at(&mut app, "acme", seq).await;
    let mut stream = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "acme".into(),
            after_seq: Some(seq),
        })
        .await
        .unwrap()
        .into_inner();
    // A delta arrives with a hole before it (the live subjects are
    // at-most-once: as if seq + 1 had been lost on the way).
    let subject = app.test.topology.subjects().view(
        &TenantId::new("acme").unwrap(),
        &Token::new("calls").unwrap(),
    );
    let lost = serde_json::json!({
        "tenant": "acme", "seq": seq + 2, "pbx": "pbx-1", "view": "calls",
        "op": "remove", "key": "1700000000.1"
    });
    app.test
        .bus
        .publish_core(&subject, Outgoing::new(lost.to_string()))
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .expect("an error, not the end")
        .expect_err("a hole is an error");
    assert_eq!(err.code(), Code::DataLoss);
    assert!(stream.next().await.is_none(), "and the stream ends");
}

/// A channel of a synthetic call: `name` decides the trunk (any IAX2
/// channel is one), `state` the call's state.
fn leg(
    tenant: &str,
    seq: u64,
    name: &str,
    uniqueid: &str,
    linkedid: &str,
    state: &str,
) -> Envelope {
    Envelope {
        tenant: tenant.into(),
        pbx: "pbx-1".into(),
        epoch: 1,
        sequence: seq,
        received_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000 + seq as i64,
            nanos: 0,
        }),
        kind: Some(Kind::ChannelCreated(ChannelCreated {
            channel: Some(ChannelSnapshot {
                name: name.into(),
                uniqueid: uniqueid.into(),
                linkedid: linkedid.into(),
                state_desc: state.into(),
                caller: Some(CallerId {
                    num: "100".into(),
                    name: String::new(),
                }),
                exten: "200".into(),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Three calls in progress: internal and up, inbound and ringing, outbound
/// and up.
fn three_calls(tenant: &str) -> Vec<Envelope> {
    vec![
        leg(tenant, 1, "PJSIP/100-00000001", "c1.a", "c1.a", "Up"),
        leg(tenant, 2, "PJSIP/200-00000002", "c1.b", "c1.a", "Up"),
        leg(tenant, 3, "IAX2/branch-00000003", "c2.a", "c2.a", "Ring"),
        leg(tenant, 4, "PJSIP/300-00000004", "c2.b", "c2.a", "Ringing"),
        leg(tenant, 5, "PJSIP/100-00000005", "c3.a", "c3.a", "Up"),
        leg(tenant, 6, "IAX2/carrier-00000006", "c3.b", "c3.a", "Up"),
    ]
}

async fn list(app: &mut App, req: pb::ListCallsRequest) -> Vec<String> {
    let mut ids: Vec<String> = app
        .client
        .list_calls(req)
        .await
        .unwrap()
        .into_inner()
        .calls
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn list_calls_filters_by_state_direction_and_pbx() {
    let mut app = spawn_app().await;
    let envs = three_calls("acme");
    publish(&app.test, &envs).await;
    snapshot_at(&mut app, "acme", straight(&envs).seq("acme")).await;
    let req =
        |state: pb::CallState, direction: Option<&str>, pbx: Option<&str>| pb::ListCallsRequest {
            tenant: "acme".into(),
            pbx: pbx.map(str::to_owned),
            state: state as i32,
            direction: direction.map(str::to_owned),
        };
    use pb::CallState::{Ringing, Unspecified, Up};
    assert_eq!(
        list(&mut app, req(Unspecified, None, None)).await,
        ["c1.a", "c2.a", "c3.a"]
    );
    assert_eq!(list(&mut app, req(Up, None, None)).await, ["c1.a", "c3.a"]);
    assert_eq!(list(&mut app, req(Ringing, None, None)).await, ["c2.a"]);
    assert_eq!(
        list(&mut app, req(Unspecified, Some("inbound"), None)).await,
        ["c2.a"]
    );
    assert_eq!(
        list(&mut app, req(Up, Some("outbound"), None)).await,
        ["c3.a"]
    );
    assert_eq!(
        list(&mut app, req(Up, Some("internal"), Some("pbx-1"))).await,
        ["c1.a"]
    );
    assert!(
        list(&mut app, req(Unspecified, None, Some("pbx-2")))
            .await
            .is_empty()
    );

    let bad = app
        .client
        .list_calls(req(Unspecified, Some("sideways"), None))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let bad = app
        .client
        .list_calls(pb::ListCallsRequest {
            tenant: "acme".into(),
            state: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn get_call_finds_a_call_and_says_not_found_otherwise() {
    let mut app = spawn_app().await;
    let envs = three_calls("acme");
    publish(&app.test, &envs).await;
    snapshot_at(&mut app, "acme", straight(&envs).seq("acme")).await;
    let get = |pbx: &str, id: &str| pb::GetCallRequest {
        tenant: "acme".into(),
        pbx: pbx.into(),
        id: id.into(),
    };
    let call = app
        .client
        .get_call(get("pbx-1", "c3.a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(call.legs, ["c3.a", "c3.b"]);
    assert_eq!(call.direction, "outbound");
    assert_eq!(call.trunk, "carrier");
    assert_eq!(call.state(), pb::CallState::Up);
    assert_eq!(call.tenant, "acme");

    for (pbx, id) in [("pbx-1", "nope"), ("pbx-2", "c3.a")] {
        let err = app.client.get_call(get(pbx, id)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{pbx} {id}");
    }
    for (pbx, id) in [("", "c3.a"), ("pbx-1", ""), ("pbx.1", "c3.a")] {
        let err = app.client.get_call(get(pbx, id)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{pbx:?} {id:?}");
    }
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_entries() {
    let mut app = spawn_app().await;
    let a = three_calls("acme");
    publish(&app.test, &a).await;
    snapshot_at(&mut app, "acme", straight(&a).seq("acme")).await;

    // globex has nothing yet: its snapshot is empty, its calls unknown.
    let empty = snapshot_at(&mut app, "globex", 0).await;
    assert_eq!(
        empty,
        pb::Snapshot {
            seq: Some(0),
            ..Default::default()
        }
    );
    let err = app
        .client
        .get_call(pb::GetCallRequest {
            tenant: "globex".into(),
            pbx: "pbx-1".into(),
            id: "c1.a".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        app.client
            .list_calls(pb::ListCallsRequest {
                tenant: "globex".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .calls
            .is_empty()
    );

    // While acme's calls change, globex's stream carries only globex's.
    let mut stream = app
        .client
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: "globex".into(),
            after_seq: Some(0),
        })
        .await
        .unwrap()
        .into_inner();
    let more: Vec<Envelope> = envelopes("acme", "basic-calls.ami")
        .into_iter()
        .map(|mut e| {
            e.pbx = "pbx-2".into();
            e
        })
        .collect();
    publish(&app.test, &more).await;
    let g = three_calls("globex");
    publish(&app.test, &g).await;
    let want = straight(&g).seq("globex");
    for n in 1..=want {
        let d = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((d.tenant.as_str(), d.seq), ("globex", n));
    }
    let s = snapshot_at(&mut app, "globex", want).await;
    assert_eq!(s.calls.len(), 3);
    assert!(s.calls.iter().all(|c| c.tenant == "globex"));
    assert!(s.channels.iter().all(|c| c.tenant == "globex"));
}

#[tokio::test]
async fn bad_requests_are_refused_with_invalid_argument() {
    let mut app = spawn_app().await;
    for tenant in ["", "a.b", "acme>"] {
        let err = app
            .client
            .get_snapshot(pb::GetSnapshotRequest {
                tenant: tenant.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{tenant:?}");
        let err = app
            .client
            .watch_deltas(pb::WatchDeltasRequest {
                tenant: tenant.into(),
                after_seq: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{tenant:?}");
    }
    let err = app
        .client
        .get_snapshot(pb::GetSnapshotRequest {
            tenant: "acme".into(),
            pbx: Some("pbx 1".into()),
            at_ms: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = app
        .client
        .get_snapshot(pb::GetSnapshotRequest {
            tenant: "acme".into(),
            pbx: None,
            at_ms: Some(-1),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn without_a_state_service_the_api_is_unavailable() {
    let test = TestBus::in_process();
    let deps = Deps {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
    };
    let stop = CancellationToken::new();
    let server = GrpcServer::bind("127.0.0.1:0".parse().unwrap(), deps)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let running = tokio::spawn(server.run_until(stop.clone()));
    let mut client = StateClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = client
        .get_snapshot(pb::GetSnapshotRequest {
            tenant: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    // And it stops when told.
    stop.cancel();
    tokio::time::timeout(WAIT, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
