//! The bus contract: every behaviour is written once against `Arc<dyn Bus>` and
//! run against both implementations — `in_process::*` and `nats::*` (a real
//! server at `RINGSIDE_TEST_NATS_URL`, default `nats://127.0.0.1:4222`). The NATS
//! instances fail, never skip, when no server is there.
//!
//! Isolation: each test gets a random prefix, so its streams are
//! `<prefix>_RINGSIDE_…`, its subjects live under `<prefix>.ringside.v1`, and
//! its buckets are `<prefix>_…`; all of them are deleted when the test ends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use ringside_bus::{
    Bus, BusError, ConnectionState, ConsumerSpec, Delivered, KvChange, KvConfig, NatsSettings,
    Outgoing, PbxId, ReadSpec, StartPosition, Storage, StreamRole, TenantId, Token, Topology,
    connect_nats,
};
use ringside_testkit::{NatsServer, TestBus, random_prefix, test_retention};

const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// harness

struct Env {
    bus: Arc<dyn Bus>,
    topology: Topology,
    /// Deletes this test's streams and buckets when dropped.
    _test: TestBus,
}

fn env_of(test: TestBus) -> Env {
    Env {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
        _test: test,
    }
}

fn in_process_env() -> Env {
    env_of(TestBus::in_process())
}

async fn nats_env() -> Env {
    env_of(TestBus::nats().await)
}

impl Env {
    fn ev(&self, tenant: &str, pbx: &str, kind: &str) -> String {
        self.topology
            .subjects()
            .events(&tenant_id(tenant), &pbx_id(pbx), &token(kind))
    }

    fn stream(&self, role: StreamRole) -> String {
        self.topology.stream_name(role)
    }
}

fn tenant_id(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn pbx_id(s: &str) -> PbxId {
    PbxId::new(s).unwrap()
}

fn token(s: &str) -> Token {
    Token::new(s).unwrap()
}

fn msg(payload: &str) -> Outgoing {
    Outgoing::new(Bytes::copy_from_slice(payload.as_bytes()))
}

fn text(payload: &Bytes) -> &str {
    std::str::from_utf8(payload).unwrap()
}

async fn next_of<T>(stream: &mut BoxStream<'static, T>) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("nothing arrived in time")
        .expect("the stream ended")
}

async fn collect_until_end(
    mut stream: BoxStream<'static, Result<Delivered, BusError>>,
) -> Vec<Delivered> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(item)) => out.push(item.unwrap()),
            Ok(None) => return out,
            Err(_) => panic!("read did not end; got {} messages", out.len()),
        }
    }
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::in_process_env()).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::nats_env().await).await;
                }
            )*
        }
    };
}

contract!(
    publish_is_acked_with_increasing_sequences_per_stream,
    a_repeated_msg_id_is_stored_once,
    pipelined_publishes_are_stored_in_call_order,
    a_batch_is_stored_in_order_with_an_ack_per_message,
    batches_of_many_producers_in_flight_together_all_complete,
    publishing_where_no_stream_captures_fails_with_no_stream,
    core_subscribers_see_exactly_what_their_wildcards_match,
    durable_publishes_reach_core_subscribers_too,
    a_request_gets_the_reply_of_its_server,
    a_request_without_responders_fails_with_no_responders,
    a_request_nobody_answers_times_out,
    a_queue_group_gives_each_message_to_exactly_one_member,
    a_durable_consumer_resumes_after_its_last_ack,
    an_unacked_delivery_is_redelivered_after_ack_wait,
    a_cumulative_ack_stands_for_every_earlier_delivery,
    a_consumer_reopened_with_cumulative_acks_continues_after_its_last_ack,
    start_positions_apply_when_a_consumer_is_created,
    a_consumer_filter_selects_subjects,
    read_stream_returns_a_filtered_range_and_ends_when_caught_up,
    read_stream_follows_new_messages_unless_asked_to_stop,
    kv_values_have_revisions_and_compare_and_set,
    kv_watch_sees_changes_matching_its_pattern,
    invalid_tokens_subjects_and_names_are_refused,
    unknown_streams_are_not_found,
    the_bus_reports_itself_connected,
);

// ---------------------------------------------------------------------------
// the contract

async fn publish_is_acked_with_increasing_sequences_per_stream(env: Env) {
    let bus = &env.bus;
    let subjects = env.topology.subjects();
    let (acme, pbx1) = (tenant_id("acme"), pbx_id("pbx1"));

    let first = bus
        .publish(&env.ev("acme", "pbx1", "ChannelCreated"), msg("1"))
        .await
        .unwrap();
    let second = bus
        .publish(&env.ev("acme", "pbx2", "Hangup"), msg("2"))
        .await
        .unwrap();
    assert_eq!(first.stream, env.stream(StreamRole::Events));
    assert_eq!((first.sequence, first.duplicate), (1, false));
    assert_eq!((second.sequence, second.duplicate), (2, false));

    // Each stream counts on its own.
    let raw = bus
        .publish(&subjects.ami_raw(&acme, &pbx1), msg("Event: X"))
        .await
        .unwrap();
    assert_eq!((raw.stream, raw.sequence), (env.stream(StreamRole::Ami), 1));
    let call = bus
        .publish(&subjects.calls_completed(&acme), msg("cdr"))
        .await
        .unwrap();
    assert_eq!(
        (call.stream, call.sequence),
        (env.stream(StreamRole::Calls), 1)
    );
    let prov = bus
        .publish(&subjects.prov(&acme, &token("Extension")), msg("p"))
        .await
        .unwrap();
    assert_eq!(
        (prov.stream, prov.sequence),
        (env.stream(StreamRole::Prov), 1)
    );
}

async fn pipelined_publishes_are_stored_in_call_order(env: Env) {
    let bus = &env.bus;
    // Different subjects (as an ingestor's event kinds are), one stream.
    let kinds = [
        "ChannelCreated",
        "ChannelHungUp",
        "DialBegan",
        "BridgeEntered",
    ];
    let mut acks = Vec::new();
    for i in 0..400u32 {
        let subject = env.ev("acme", "pbx1", kinds[i as usize % kinds.len()]);
        let ack = bus
            .publish_pipelined(
                &subject,
                msg(&i.to_string()).with_msg_id(format!("p-{i}")).unwrap(),
            )
            .await
            .unwrap();
        acks.push(ack);
    }
    let acks = futures::future::join_all(acks).await;
    let sequences: Vec<u64> = acks.into_iter().map(|a| a.unwrap().sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "acks in call order"
    );
    assert_eq!(
        numbers_stored(&env, StreamRole::Events).await,
        (0..400).collect::<Vec<_>>()
    );
}

async fn a_batch_is_stored_in_order_with_an_ack_per_message(env: Env) {
    let bus = &env.bus;
    let subjects = env.topology.subjects();
    let raw = subjects.ami_raw(&tenant_id("acme"), &pbx_id("pbx1"));
    let nowhere = subjects.view(&tenant_id("acme"), &token("calls"));
    // As an ingestor's publisher sends them: event kinds of one stream, with
    // a raw frame (another stream), a subject no stream captures and a
    // message id sent twice in the middle.
    let mut batch: Vec<(String, Outgoing)> = (0..300u32)
        .map(|i| {
            let subject = env.ev("acme", "pbx1", ["Newstate", "Hangup"][i as usize % 2]);
            (
                subject,
                msg(&i.to_string()).with_msg_id(format!("b-{i}")).unwrap(),
            )
        })
        .collect();
    batch.insert(100, (raw.clone(), msg("raw").with_msg_id("r-1").unwrap()));
    batch.insert(200, (nowhere, msg("lost")));
    let again = batch[10].clone();
    batch.insert(250, again);
    let refs: Vec<(&str, &Outgoing)> = batch.iter().map(|(s, m)| (s.as_str(), m)).collect();

    let sent = bus.publish_batch(&refs).await;
    assert!(sent.error.is_none(), "{:?}", sent.error);
    assert_eq!(sent.handed, batch.len());
    let acks = sent.acks.await;
    assert_eq!(acks.len(), batch.len());
    assert!(
        matches!(&acks[200], Err(BusError::NoStream { .. })),
        "{:?}",
        acks[200]
    );
    let duplicate = acks[250].as_ref().unwrap();
    assert!(duplicate.duplicate);
    assert_eq!(duplicate.sequence, acks[10].as_ref().unwrap().sequence);
    assert_eq!(
        acks[100].as_ref().unwrap().stream,
        env.stream(StreamRole::Ami)
    );
    let events: Vec<u64> = acks
        .iter()
        .enumerate()
        .filter(|(i, _)| ![100, 200, 250].contains(i))
        .map(|(_, a)| a.as_ref().unwrap().sequence)
        .collect();
    assert!(
        events.windows(2).all(|w| w[0] < w[1]),
        "acks in batch order"
    );

    assert_eq!(
        numbers_stored(&env, StreamRole::Events).await,
        (0..300).collect::<Vec<_>>(),
        "each once, in order"
    );
    let raw_stored = collect_until_end(
        bus.read_stream(ReadSpec::new(env.stream(StreamRole::Ami)).until_caught_up())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(raw_stored.len(), 1);
    assert_eq!(raw_stored[0].subject, raw);
}

/// Eight producers (an ingestor's four PBXs, events and raw frames) each hand
/// over a batch of 1,024 and only then await its acks, so 8,192 publishes wait
/// for acks at once, and a KV write (a lease renewal) goes in the middle. All of
/// it completes: the bus puts no connection-wide bound on pending acks under
/// its producers' windows (async-nats's default of 5,000 wedged this for good).
async fn batches_of_many_producers_in_flight_together_all_complete(env: Env) {
    const PRODUCERS: u32 = 8;
    const BATCH: u32 = 1024;
    let kv = env
        .bus
        .kv(&env.topology.bucket_name("leases"), KvConfig::default())
        .await
        .unwrap();
    let batches: Vec<Vec<(String, Outgoing)>> = (0..PRODUCERS)
        .map(|producer| {
            let subject = env.ev("acme", &format!("pbx{producer}"), "Newstate");
            (0..BATCH)
                .map(|i| (subject.clone(), msg(&(producer * BATCH + i).to_string())))
                .collect()
        })
        .collect();
    let all = async {
        let handed = futures::future::join_all(batches.iter().map(|batch| {
            let refs: Vec<(&str, &Outgoing)> = batch.iter().map(|(s, m)| (s.as_str(), m)).collect();
            let bus = env.bus.clone();
            async move { bus.publish_batch(&refs).await }
        }))
        .await;
        let renewed = kv.put("pbx0", "replica-a".into()).await;
        let acks = futures::future::join_all(handed.into_iter().map(|sent| {
            assert!(sent.error.is_none(), "{:?}", sent.error);
            assert_eq!(sent.handed, BATCH as usize);
            sent.acks
        }))
        .await;
        (renewed, acks)
    };
    let (renewed, acks) = tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("publishing wedged: batches or the KV write never completed");
    renewed.unwrap();
    let acked = acks.iter().flatten().filter(|a| a.is_ok()).count();
    assert_eq!(acked, (PRODUCERS * BATCH) as usize);
    let mut stored = numbers_stored(&env, StreamRole::Events).await;
    stored.sort_unstable();
    assert_eq!(stored, (0..PRODUCERS * BATCH).collect::<Vec<_>>());
}

/// The payloads of a stream, numbers as text, in stream order.
async fn numbers_stored(env: &Env, role: StreamRole) -> Vec<u32> {
    let read = env
        .bus
        .read_stream(ReadSpec::new(env.stream(role)).until_caught_up())
        .await
        .unwrap();
    collect_until_end(read)
        .await
        .iter()
        .map(|d| text(&d.payload).parse().unwrap())
        .collect()
}

async fn a_repeated_msg_id_is_stored_once(env: Env) {
    let bus = &env.bus;
    let subject = env.ev("acme", "pbx1", "Newstate");
    let with_id = |payload: &str, id: &str| msg(payload).with_msg_id(id).unwrap();

    let first = bus
        .publish(&subject, with_id("a", "pbx1-e7-1"))
        .await
        .unwrap();
    let again = bus
        .publish(&subject, with_id("a-again", "pbx1-e7-1"))
        .await
        .unwrap();
    let other = bus
        .publish(&subject, with_id("b", "pbx1-e7-2"))
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);
    assert_eq!(other.sequence, first.sequence + 1);

    let stored = collect_until_end(
        bus.read_stream(ReadSpec::new(env.stream(StreamRole::Events)).until_caught_up())
            .await
            .unwrap(),
    )
    .await;
    let payloads: Vec<_> = stored.iter().map(|d| text(&d.payload)).collect();
    assert_eq!(payloads, ["a", "b"]);
    assert_eq!(stored[0].headers.msg_id(), Some("pbx1-e7-1"));
}

async fn publishing_where_no_stream_captures_fails_with_no_stream(env: Env) {
    let view = env
        .topology
        .subjects()
        .view(&tenant_id("acme"), &token("calls"));
    let err = env.bus.publish(&view, msg("x")).await.unwrap_err();
    assert!(matches!(err, BusError::NoStream { .. }), "{err}");
}

async fn core_subscribers_see_exactly_what_their_wildcards_match(env: Env) {
    let bus = &env.bus;
    let subjects = env.topology.subjects();
    let root = subjects.root();
    let acme = tenant_id("acme");
    let calls = subjects.view(&acme, &token("calls"));
    let peers = subjects.view(&acme, &token("peers"));

    let mut exact = bus.subscribe(&calls).await.unwrap();
    let mut one_token = bus.subscribe(&format!("{root}.acme.view.*")).await.unwrap();
    let mut many_tokens = bus.subscribe(&format!("{root}.acme.>")).await.unwrap();

    let first = msg("calls-1")
        .with_header("x-origin", "state")
        .unwrap()
        .with_header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .unwrap();
    bus.publish_core(&calls, first).await.unwrap();
    bus.publish_core(&peers, msg("peers-1")).await.unwrap();
    bus.publish_core(
        &subjects.view(&tenant_id("other"), &token("calls")),
        msg("other"),
    )
    .await
    .unwrap();
    bus.publish_core(&format!("{calls}.deeper"), msg("deeper"))
        .await
        .unwrap();
    // Sentinels: messages from one publisher arrive in order, so once a
    // subscriber sees its sentinel it has seen everything it was going to.
    bus.publish_core(&calls, msg("end")).await.unwrap();

    let got = next_of(&mut exact).await;
    assert_eq!(
        (got.subject.as_str(), text(&got.payload)),
        (calls.as_str(), "calls-1")
    );
    assert_eq!(got.headers.get("x-origin"), Some("state"));
    assert_eq!(
        got.headers.traceparent(),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(got.stream_sequence, None);
    assert_eq!(text(&next_of(&mut exact).await.payload), "end");

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(text(&next_of(&mut one_token).await.payload).to_owned());
    }
    assert_eq!(seen, ["calls-1", "peers-1", "end"]);

    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(text(&next_of(&mut many_tokens).await.payload).to_owned());
    }
    assert_eq!(seen, ["calls-1", "peers-1", "deeper", "end"]);
}

async fn durable_publishes_reach_core_subscribers_too(env: Env) {
    let subject = env.ev("acme", "pbx1", "Hangup");
    let filter = env
        .topology
        .subjects()
        .events_filter(Some(&tenant_id("acme")), None, None);
    let mut tail = env.bus.subscribe(&filter).await.unwrap();
    env.bus.publish(&subject, msg("bye")).await.unwrap();
    let got = next_of(&mut tail).await;
    assert_eq!(
        (got.subject.as_str(), text(&got.payload)),
        (subject.as_str(), "bye")
    );
}

async fn a_request_gets_the_reply_of_its_server(env: Env) {
    let subjects = env.topology.subjects();
    let action = subjects.ami_action(&tenant_id("acme"), &pbx_id("pbx1"));
    let pattern = format!("{}.acme.*.ami.action", subjects.root());
    let mut requests = env.bus.serve(&pattern, None).await.unwrap();
    let server = tokio::spawn(async move {
        let request = requests.next().await.unwrap();
        assert!(request.expects_reply());
        let answer = format!("re:{}", text(&request.msg.payload));
        let trace = request
            .msg
            .headers
            .traceparent()
            .unwrap_or("none")
            .to_owned();
        request
            .respond(msg(&answer).with_header("x-trace-seen", &trace).unwrap())
            .await
            .unwrap();
    });
    let request = msg("Action: Ping")
        .with_header("traceparent", "00-aa-bb-01")
        .unwrap();
    let reply = env.bus.request(&action, request, WAIT).await.unwrap();
    assert_eq!(text(&reply.payload), "re:Action: Ping");
    assert_eq!(reply.headers.get("x-trace-seen"), Some("00-aa-bb-01"));
    server.await.unwrap();
}

async fn a_request_without_responders_fails_with_no_responders(env: Env) {
    let subject = env.topology.subjects().tenant_action(&tenant_id("nobody"));
    let err = env.bus.request(&subject, msg("x"), WAIT).await.unwrap_err();
    assert!(matches!(err, BusError::NoResponders { .. }), "{err}");
}

async fn a_request_nobody_answers_times_out(env: Env) {
    let subject = env.topology.subjects().tenant_action(&tenant_id("acme"));
    let _silent = env.bus.serve(&subject, None).await.unwrap();
    let err = env
        .bus
        .request(&subject, msg("x"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Timeout), "{err}");
    assert!(err.is_transient());
}

async fn a_queue_group_gives_each_message_to_exactly_one_member(env: Env) {
    const N: usize = 40;
    let subject = env.topology.subjects().tenant_action(&tenant_id("acme"));
    let a = env.bus.serve(&subject, Some("ingestors")).await.unwrap();
    let b = env.bus.serve(&subject, Some("ingestors")).await.unwrap();
    let mut everyone = env.bus.subscribe(&subject).await.unwrap();
    for i in 0..N {
        env.bus
            .publish_core(&subject, msg(&i.to_string()))
            .await
            .unwrap();
    }
    // A plain subscriber sees every message besides the group.
    for _ in 0..N {
        next_of(&mut everyone).await;
    }
    let mut members = futures::stream::select(a.map(|r| ('a', r)), b.map(|r| ('b', r))).boxed();
    let mut payloads = BTreeSet::new();
    let (mut to_a, mut to_b) = (0, 0);
    for _ in 0..N {
        let (member, request) = next_of(&mut members).await;
        assert!(!request.expects_reply());
        payloads.insert(text(&request.msg.payload).parse::<usize>().unwrap());
        if member == 'a' { to_a += 1 } else { to_b += 1 }
    }
    // N deliveries covering N distinct messages: nobody got a message twice.
    assert_eq!(payloads, (0..N).collect::<BTreeSet<_>>());
    assert!(
        to_a > 0 && to_b > 0,
        "one member got everything: a={to_a} b={to_b}"
    );
}

async fn publish_numbered(env: &Env, subject: &str, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        env.bus.publish(subject, msg(&i.to_string())).await.unwrap();
    }
}

async fn a_durable_consumer_resumes_after_its_last_ack(env: Env) {
    let subject = env.ev("acme", "pbx1", "Newchannel");
    publish_numbered(&env, &subject, 1..=5).await;
    let spec = ConsumerSpec::new(env.stream(StreamRole::Events), "state");

    let mut consumer = env.bus.consumer(spec.clone()).await.unwrap();
    assert_eq!(consumer.name(), "state");
    for expected in 1..=3u64 {
        let delivery = consumer
            .next_within(WAIT)
            .await
            .unwrap()
            .expect("a delivery");
        assert_eq!(delivery.msg.stream_sequence, Some(expected));
        assert_eq!(text(&delivery.msg.payload), expected.to_string());
        assert!(delivery.msg.published_at.is_some());
        delivery.ack().await.unwrap();
    }
    drop(consumer);

    // Same durable name: continues after the last ack; the start position of a
    // resumed consumer is ignored.
    let mut resumed = env
        .bus
        .consumer(spec.start(StartPosition::New))
        .await
        .unwrap();
    for expected in 4..=5u64 {
        let delivery = resumed
            .next_within(WAIT)
            .await
            .unwrap()
            .expect("a delivery");
        assert_eq!(delivery.msg.stream_sequence, Some(expected));
        delivery.ack().await.unwrap();
    }
    assert!(resumed.next_within(Duration::ZERO).await.unwrap().is_none());
}

async fn an_unacked_delivery_is_redelivered_after_ack_wait(env: Env) {
    let subject = env.ev("acme", "pbx1", "Hangup");
    publish_numbered(&env, &subject, 1..=1).await;
    let spec = ConsumerSpec::new(env.stream(StreamRole::Events), "rater")
        .ack_wait(Duration::from_millis(300));

    let mut consumer = env.bus.consumer(spec.clone()).await.unwrap();
    let first = consumer
        .next_within(WAIT)
        .await
        .unwrap()
        .expect("a delivery");
    assert_eq!(
        (first.msg.stream_sequence, first.delivery_count),
        (Some(1), 1)
    );
    drop(first); // not acked
    drop(consumer);

    // A new handle on the same durable gets it again once ack_wait passed.
    let mut resumed = env.bus.consumer(spec).await.unwrap();
    let again = resumed
        .next_within(WAIT)
        .await
        .unwrap()
        .expect("a redelivery");
    assert_eq!(
        (again.msg.stream_sequence, again.delivery_count),
        (Some(1), 2)
    );
    again.ack().await.unwrap();

    publish_numbered(&env, &subject, 2..=2).await;
    let next = resumed
        .next_within(WAIT)
        .await
        .unwrap()
        .expect("a delivery");
    assert_eq!(
        (next.msg.stream_sequence, next.delivery_count),
        (Some(2), 1)
    );
    next.nak().await.unwrap();
    let naked = resumed
        .next_within(WAIT)
        .await
        .unwrap()
        .expect("a redelivery after nak");
    assert_eq!(
        (naked.msg.stream_sequence, naked.delivery_count),
        (Some(2), 2)
    );
    naked.ack().await.unwrap();
}

/// The sequences of the next `n` deliveries, each within [`WAIT`].
async fn next_sequences(
    consumer: &mut Box<dyn ringside_bus::Consumer>,
    n: usize,
) -> Vec<(u64, ringside_bus::Delivery)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let delivery = consumer
            .next_within(WAIT)
            .await
            .unwrap()
            .expect("a delivery");
        out.push((delivery.msg.stream_sequence.unwrap(), delivery));
    }
    out
}

async fn a_cumulative_ack_stands_for_every_earlier_delivery(env: Env) {
    let subject = env.ev("acme", "pbx1", "Newstate");
    publish_numbered(&env, &subject, 1..=6).await;
    let ack_wait = Duration::from_millis(300);
    // One message per pull: what NATS prefetched would sit out the ack
    // wait in the handle while the test sleeps.
    let spec = ConsumerSpec::new(env.stream(StreamRole::Events), "cumulative")
        .ack_wait(ack_wait)
        .prefetch(1)
        .cumulative_acks();

    let mut consumer = env.bus.consumer(spec.clone()).await.unwrap();
    let mut first = next_sequences(&mut consumer, 4).await;
    let seqs: Vec<u64> = first.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    // Only the fourth is acked; the three before it are covered by it.
    let (_, fourth) = first.pop().unwrap();
    fourth.ack().await.unwrap();
    drop(first);
    tokio::time::sleep(ack_wait * 2).await;
    let (seq, fifth) = next_sequences(&mut consumer, 1).await.pop().unwrap();
    assert_eq!((seq, fifth.delivery_count), (5, 1), "1–3 came again");

    // A nak still gives back the one delivery (NATS may deliver the next
    // message before it: the nak is not waited for).
    fifth.nak().await.unwrap();
    let mut again = next_sequences(&mut consumer, 2).await;
    again.sort_by_key(|(seq, _)| *seq);
    let seqs: Vec<(u64, u64)> = again.iter().map(|(s, d)| (*s, d.delivery_count)).collect();
    assert_eq!(seqs, [(5, 2), (6, 1)]);
    let (_, sixth) = again.pop().unwrap();
    sixth.ack().await.unwrap();
    drop(again);
    drop(consumer);

    // Nothing is left to deliver, even after the ack wait.
    tokio::time::sleep(ack_wait * 2).await;
    let mut resumed = env.bus.consumer(spec).await.unwrap();
    let left = resumed.next_within(ack_wait).await.unwrap();
    assert!(
        left.is_none(),
        "{:?}",
        left.map(|d| (d.msg.stream_sequence, d.delivery_count))
    );
}

async fn a_consumer_reopened_with_cumulative_acks_continues_after_its_last_ack(env: Env) {
    let subject = env.ev("acme", "pbx1", "Newexten");
    publish_numbered(&env, &subject, 1..=5).await;
    let ack_wait = Duration::from_millis(300);
    let each = ConsumerSpec::new(env.stream(StreamRole::Events), "upgraded").ack_wait(ack_wait);

    let mut consumer = env.bus.consumer(each.clone()).await.unwrap();
    let taken = next_sequences(&mut consumer, 3).await;
    let mut taken = taken.into_iter();
    for _ in 0..2 {
        let (_, delivery) = taken.next().unwrap();
        delivery.ack().await.unwrap();
    }
    drop(taken); // the third is not acked
    drop(consumer);

    // Reopened with cumulative acks: on from the third (delivered again),
    // and one ack of the last covers them all.
    let mut upgraded = env.bus.consumer(each.cumulative_acks()).await.unwrap();
    let mut rest = next_sequences(&mut upgraded, 3).await;
    let seqs: Vec<u64> = rest.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    let (_, last) = rest.pop().unwrap();
    last.ack().await.unwrap();
    drop(rest);
    tokio::time::sleep(ack_wait * 2).await;
    assert!(upgraded.next_within(ack_wait).await.unwrap().is_none());
}

async fn start_positions_apply_when_a_consumer_is_created(env: Env) {
    let subject = env.ev("acme", "pbx1", "Newstate");
    let stream = env.stream(StreamRole::Events);
    publish_numbered(&env, &subject, 1..=2).await;
    let between = SystemTime::now();
    publish_numbered(&env, &subject, 3..=4).await;

    let first_seq = |start: StartPosition, name: &'static str| {
        let bus = env.bus.clone();
        let spec = ConsumerSpec::new(stream.clone(), name).start(start);
        async move {
            let mut consumer = bus.consumer(spec).await.unwrap();
            consumer
                .next_within(WAIT)
                .await
                .unwrap()
                .and_then(|d| d.msg.stream_sequence)
        }
    };
    assert_eq!(first_seq(StartPosition::All, "all").await, Some(1));
    assert_eq!(
        first_seq(StartPosition::FromSequence(2), "seq").await,
        Some(2)
    );
    assert_eq!(
        first_seq(StartPosition::FromTime(between), "time").await,
        Some(3)
    );

    let mut new_only = env
        .bus
        .consumer(ConsumerSpec::new(stream.clone(), "new").start(StartPosition::New))
        .await
        .unwrap();
    assert!(
        new_only
            .next_within(Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    publish_numbered(&env, &subject, 5..=5).await;
    let delivery = new_only
        .next_within(WAIT)
        .await
        .unwrap()
        .expect("the new message");
    assert_eq!(delivery.msg.stream_sequence, Some(5));
}

async fn a_consumer_filter_selects_subjects(env: Env) {
    for (pbx, payload) in [("pbx1", "a"), ("pbx2", "b"), ("pbx1", "c"), ("pbx2", "d")] {
        env.bus
            .publish(&env.ev("acme", pbx, "Newstate"), msg(payload))
            .await
            .unwrap();
    }
    let filter = env.topology.subjects().events_filter(
        Some(&tenant_id("acme")),
        Some(&pbx_id("pbx2")),
        None,
    );
    let mut consumer = env
        .bus
        .consumer(ConsumerSpec::new(env.stream(StreamRole::Events), "pbx2-only").filter(filter))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(delivery) = consumer
        .next_within(Duration::from_millis(500))
        .await
        .unwrap()
    {
        seen.push((
            delivery.msg.stream_sequence.unwrap(),
            text(&delivery.msg.payload).to_owned(),
        ));
        delivery.ack().await.unwrap();
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, [(2, "b".to_owned()), (4, "d".to_owned())]);
    assert!(
        consumer
            .next_within(Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
}

async fn read_stream_returns_a_filtered_range_and_ends_when_caught_up(env: Env) {
    for (pbx, payload) in [
        ("pbx1", "1"),
        ("pbx2", "2"),
        ("pbx1", "3"),
        ("pbx2", "4"),
        ("pbx1", "5"),
    ] {
        env.bus
            .publish(&env.ev("acme", pbx, "Newstate"), msg(payload))
            .await
            .unwrap();
    }
    let stream = env.stream(StreamRole::Events);
    let subjects = env.topology.subjects();

    let all = collect_until_end(
        env.bus
            .read_stream(ReadSpec::new(stream.clone()).until_caught_up())
            .await
            .unwrap(),
    )
    .await;
    let sequences: Vec<_> = all.iter().map(|d| d.stream_sequence.unwrap()).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    assert!(all.iter().all(|d| d.published_at.is_some()));

    let pbx1_from_2 = collect_until_end(
        env.bus
            .read_stream(
                ReadSpec::new(stream.clone())
                    .start(StartPosition::FromSequence(2))
                    .filter(subjects.events_filter(None, Some(&pbx_id("pbx1")), None))
                    .until_caught_up(),
            )
            .await
            .unwrap(),
    )
    .await;
    let got: Vec<_> = pbx1_from_2
        .iter()
        .map(|d| (d.stream_sequence.unwrap(), text(&d.payload)))
        .collect();
    assert_eq!(got, [(3, "3"), (5, "5")]);

    let nothing_new = collect_until_end(
        env.bus
            .read_stream(
                ReadSpec::new(stream)
                    .start(StartPosition::New)
                    .until_caught_up(),
            )
            .await
            .unwrap(),
    )
    .await;
    assert!(nothing_new.is_empty());
}

async fn read_stream_follows_new_messages_unless_asked_to_stop(env: Env) {
    let subject = env.ev("acme", "pbx1", "Newstate");
    publish_numbered(&env, &subject, 1..=1).await;
    let mut tail = env
        .bus
        .read_stream(ReadSpec::new(env.stream(StreamRole::Events)))
        .await
        .unwrap();
    assert_eq!(next_of(&mut tail).await.unwrap().stream_sequence, Some(1));
    publish_numbered(&env, &subject, 2..=3).await;
    assert_eq!(next_of(&mut tail).await.unwrap().stream_sequence, Some(2));
    assert_eq!(next_of(&mut tail).await.unwrap().stream_sequence, Some(3));
}

async fn kv_values_have_revisions_and_compare_and_set(env: Env) {
    let bucket = env.topology.bucket_name("config");
    let config = KvConfig {
        history: 5,
        storage: Storage::Memory,
        ..KvConfig::default()
    };
    let kv = env.bus.kv(&bucket, config.clone()).await.unwrap();
    assert_eq!(kv.bucket(), bucket);
    assert_eq!(kv.get("a").await.unwrap(), None);

    let r1 = kv.put("a", "1".into()).await.unwrap();
    let entry = kv.get("a").await.unwrap().unwrap();
    assert_eq!(
        (entry.key.as_str(), text(&entry.value), entry.revision),
        ("a", "1", r1)
    );
    let r2 = kv.put("a", "2".into()).await.unwrap();
    assert!(r2 > r1);

    let err = kv.create("a", "x".into()).await.unwrap_err();
    assert!(matches!(err, BusError::AlreadyExists { .. }), "{err}");
    let rb = kv.create("b", "x".into()).await.unwrap();
    assert!(rb > r2);

    let r3 = kv.update("a", "3".into(), r2).await.unwrap();
    let err = kv.update("a", "stale".into(), r2).await.unwrap_err();
    assert!(
        matches!(err, BusError::WrongRevision { current: Some(c) } if c == r3),
        "{err}"
    );
    assert_eq!(text(&kv.get("a").await.unwrap().unwrap().value), "3");
    kv.update("fresh", "v".into(), 0).await.unwrap();

    kv.delete("a").await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert_eq!(kv.keys().await.unwrap(), ["b", "fresh"]);
    // A deleted key can be created again.
    kv.create("a", "again".into()).await.unwrap();

    // Opening the bucket again is idempotent and sees the same data.
    let reopened = env.bus.kv(&bucket, config).await.unwrap();
    assert_eq!(text(&reopened.get("b").await.unwrap().unwrap().value), "x");
}

async fn kv_watch_sees_changes_matching_its_pattern(env: Env) {
    let kv = env
        .bus
        .kv(
            &env.topology.bucket_name("leases"),
            KvConfig {
                storage: Storage::Memory,
                ..KvConfig::default()
            },
        )
        .await
        .unwrap();
    kv.put("lease.before", "old".into()).await.unwrap();
    let mut changes = kv.watch("lease.*").await.unwrap();
    let r1 = kv.put("lease.pbx1", "replica-a".into()).await.unwrap();
    kv.put("other.x", "ignored".into()).await.unwrap();
    kv.delete("lease.pbx1").await.unwrap();
    kv.put("lease.pbx2", "replica-b".into()).await.unwrap();

    match next_of(&mut changes).await.unwrap() {
        KvChange::Put(entry) => {
            assert_eq!(
                (entry.key.as_str(), text(&entry.value), entry.revision),
                ("lease.pbx1", "replica-a", r1)
            );
        }
        other => panic!("expected a put, got {other:?}"),
    }
    let deleted = next_of(&mut changes).await.unwrap();
    assert!(
        matches!(&deleted, KvChange::Delete { key, revision } if key == "lease.pbx1" && *revision > r1),
        "{deleted:?}"
    );
    assert_eq!(next_of(&mut changes).await.unwrap().key(), "lease.pbx2");
}

async fn invalid_tokens_subjects_and_names_are_refused(env: Env) {
    for bad in ["a.b", "*", ">", "a b", "", "x\r\n"] {
        assert!(TenantId::new(bad).is_err(), "{bad:?}");
    }
    let invalid_subject = |r: Result<(), BusError>| {
        assert!(matches!(r, Err(BusError::InvalidSubject { .. })), "{r:?}");
    };
    invalid_subject(env.bus.publish("a..b", msg("x")).await.map(|_| ()));
    invalid_subject(
        env.bus
            .publish("ringside.v1.*.x", msg("x"))
            .await
            .map(|_| ()),
    );
    invalid_subject(env.bus.publish_core("a b", msg("x")).await);
    invalid_subject(env.bus.subscribe("a.>.b").await.map(|_| ()));
    invalid_subject(env.bus.serve("a.b", Some("bad group")).await.map(|_| ()));
    invalid_subject(env.bus.request("a.*", msg("x"), WAIT).await.map(|_| ()));

    let invalid_name = |r: Result<(), BusError>| {
        assert!(matches!(r, Err(BusError::InvalidName { .. })), "{r:?}");
    };
    invalid_name(env.bus.kv("a.b", KvConfig::default()).await.map(|_| ()));
    invalid_name(
        env.bus
            .consumer(ConsumerSpec::new(env.stream(StreamRole::Events), "a b"))
            .await
            .map(|_| ()),
    );
    let kv = env
        .bus
        .kv(
            &env.topology.bucket_name("names"),
            KvConfig {
                storage: Storage::Memory,
                ..KvConfig::default()
            },
        )
        .await
        .unwrap();
    invalid_name(kv.put(".x", "v".into()).await.map(|_| ()));
    invalid_name(kv.get("a*").await.map(|_| ()));
    invalid_name(kv.watch("a.>.b").await.map(|_| ()));

    assert!(matches!(
        msg("x").with_header("x-a", "1\r\nNats-Msg-Id: forged"),
        Err(BusError::InvalidHeader { .. })
    ));
    assert!(matches!(
        msg("x").with_header("a:b", "1"),
        Err(BusError::InvalidHeader { .. })
    ));
    // A message id is checked the same whether it is lent or moved in.
    assert!(matches!(
        msg("x").with_msg_id(String::from("id\r\nNats-Expected-Stream: forged")),
        Err(BusError::InvalidHeader { .. })
    ));
    assert!(matches!(
        msg("x").with_msg_id(String::new()),
        Err(BusError::InvalidHeader { .. })
    ));
}

async fn unknown_streams_are_not_found(env: Env) {
    let missing = env.topology.bucket_name("NO_SUCH_STREAM");
    let err = env
        .bus
        .consumer(ConsumerSpec::new(missing.clone(), "c"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, BusError::NotFound { .. }), "{err}");
    let err = env
        .bus
        .read_stream(ReadSpec::new(missing))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, BusError::NotFound { .. }), "{err}");
}

async fn the_bus_reports_itself_connected(env: Env) {
    assert_eq!(*env.bus.connection().borrow(), ConnectionState::Connected);
}

// ---------------------------------------------------------------------------
// NATS only: connection failures and a server that goes away

mod nats_faults {
    use tokio::time::Instant;

    use super::*;

    async fn wait_for_state(bus: &dyn Bus, wanted: ConnectionState) {
        let mut state = bus.connection();
        tokio::time::timeout(Duration::from_secs(10), state.wait_for(|s| *s == wanted))
            .await
            .unwrap_or_else(|_| panic!("the bus never became {wanted:?}"))
            .unwrap();
    }

    #[tokio::test]
    async fn connecting_where_no_server_listens_fails_clearly_and_quickly() {
        let port = ringside_testkit::free_port();
        let settings = NatsSettings {
            url: format!("nats://user:secret@127.0.0.1:{port}"),
            connect_timeout: Duration::from_secs(1),
            ..NatsSettings::default()
        };
        let topology = Topology::v1_prefixed(&random_prefix(), &test_retention(Storage::Memory));
        let started = Instant::now();
        let err = connect_nats(&settings, &topology).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        assert!(matches!(err, BusError::Unavailable(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("secret"), "the password leaked: {text}");
    }

    #[tokio::test]
    async fn publishing_fails_cleanly_while_the_server_is_down_and_no_acked_message_is_lost() {
        let mut server = NatsServer::start().await;
        let port = server.port();

        let topology = Topology::v1_prefixed(&random_prefix(), &test_retention(Storage::File));
        let request_timeout = Duration::from_millis(800);
        let settings = NatsSettings {
            url: format!("nats://127.0.0.1:{port}"),
            name: "ringside-bus-fault-test".to_owned(),
            request_timeout,
            max_reconnect_delay: Duration::from_millis(100),
            ..NatsSettings::default()
        };
        let bus: Arc<dyn Bus> = Arc::new(connect_nats(&settings, &topology).await.unwrap());
        let subject =
            topology
                .subjects()
                .events(&tenant_id("acme"), &pbx_id("pbx1"), &token("Newstate"));
        let publish = |i: u32| {
            let bus = bus.clone();
            let subject = subject.clone();
            async move {
                bus.publish(
                    &subject,
                    msg(&i.to_string())
                        .with_msg_id(format!("pbx1-1-{i}"))
                        .unwrap(),
                )
                .await
            }
        };

        let mut acked = Vec::new();
        for i in 1..=10 {
            acked.push((publish(i).await.unwrap().sequence, i));
        }

        server.stop();
        wait_for_state(&*bus, ConnectionState::Disconnected).await;

        // While it is down: a clean, transient error within the configured
        // timeout (plus scheduling slack) — no panic, no hang.
        for i in 11..=12 {
            let started = Instant::now();
            let err = publish(i).await.unwrap_err();
            assert!(err.is_transient(), "{err}");
            assert!(
                started.elapsed() < request_timeout + Duration::from_secs(1),
                "took {:?}",
                started.elapsed()
            );
        }
        let started = Instant::now();
        let result = bus
            .request(
                &topology.subjects().tenant_action(&tenant_id("acme")),
                msg("x"),
                request_timeout,
            )
            .await;
        assert!(matches!(&result, Err(e) if e.is_transient()), "{result:?}");
        assert!(started.elapsed() < request_timeout + Duration::from_secs(1));
        let view = topology
            .subjects()
            .view(&tenant_id("acme"), &token("calls"));
        let core = bus.publish_core(&view, msg("core")).await;
        assert!(
            core.is_ok() || core.as_ref().is_err_and(BusError::is_transient),
            "{core:?}"
        );

        // Same port, same store: the bus reconnects by itself.
        server.restart().await;
        wait_for_state(&*bus, ConnectionState::Connected).await;
        // Retrying what failed is safe: the msg_id makes a retry of a publish that
        // did reach the stream a duplicate.
        for i in 11..=13 {
            let ack = publish(i).await.unwrap();
            acked.push((ack.sequence, i));
        }

        let stored = collect_until_end(
            bus.read_stream(
                ReadSpec::new(topology.stream_name(StreamRole::Events)).until_caught_up(),
            )
            .await
            .unwrap(),
        )
        .await;
        let stored: Vec<(u64, u32)> = stored
            .iter()
            .map(|d| {
                (
                    d.stream_sequence.unwrap(),
                    text(&d.payload).parse().unwrap(),
                )
            })
            .collect();
        for entry in &acked {
            assert!(
                stored.contains(entry),
                "acked message {entry:?} is missing from {stored:?}"
            );
        }
        let numbers: Vec<u32> = stored.iter().map(|(_, i)| *i).collect();
        assert_eq!(
            numbers,
            (1..=13).collect::<Vec<_>>(),
            "no loss, no duplicate"
        );
        drop(server);
    }
}
