//! pbx-sim → ingestor → real NATS (and the in-process bus): events arrive in
//! order with no gap, every connection is resynchronised, and actions are
//! served.

mod support;

use std::time::Duration;

use ringside_ami_ingestor::actions::{ActionReply, ActionRequest, TenantActionReply};
use ringside_bus::Outgoing;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{SyncOutcome, SyncReason};
use ringside_testkit::TestBus;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

async fn events_flow_in_order_with_no_gap(test: TestBus) {
    let sim = sim(20.0, 7).await;
    let ingestor = Ingestor::spawn(
        settings(vec![pbx(&sim, "pbx-1")]),
        test.bus.clone(),
        test.topology.clone(),
    );
    let events = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 1
            && seen.iter().filter(|e| kind(e) == "ChannelHungUp").count() >= 3
    })
    .await;
    ingestor.stop().await;
    let (raw, stored) = read_raw_frames(&test.bus, &test.topology, "pbx-1").await;

    // One epoch, starting with the connection and its resync.
    assert!(
        events
            .iter()
            .all(|e| e.epoch == events[0].epoch && e.tenant == TENANT && e.pbx == "pbx-1")
    );
    assert_eq!(kind(&events[0]), "Connected");
    let Some(Kind::SyncStarted(started)) = &events[1].kind else {
        panic!("the second event is SyncStarted, got {}", kind(&events[1]));
    };
    assert_eq!(started.reason(), SyncReason::Connected);
    assert_contiguous(&events);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.sequence,
            i as u64 + 1,
            "events are stored in sequence order"
        );
    }
    // The resync's entries are marked and bracketed by its id.
    let sync_id = &events[1].sync_id;
    let completed = events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::SyncCompleted(c)) => Some((e, c)),
            _ => None,
        })
        .unwrap();
    assert_eq!(&completed.0.sync_id, sync_id);
    let outcome = |action: &str| {
        completed
            .1
            .lists
            .iter()
            .find(|l| l.action == action)
            .unwrap_or_else(|| panic!("{action} in SyncCompleted"))
            .outcome()
    };
    assert_eq!(outcome("PJSIPShowEndpoints"), SyncOutcome::Ok);
    assert_eq!(outcome("CoreShowChannels"), SyncOutcome::Ok);
    // Asterisk 22 has no chan_sip: "unknown command" means not loaded.
    assert_eq!(outcome("SIPpeers"), SyncOutcome::NotLoaded);
    let endpoints = events
        .iter()
        .filter(|e| e.sync && &e.sync_id == sync_id && kind(e) == "EndpointListed")
        .count();
    assert_eq!(
        endpoints,
        10 + 2,
        "every extension and trunk endpoint was listed"
    );
    // Live calls followed.
    let created: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::ChannelCreated(c)) if !e.sync => {
                Some(c.channel.as_ref().map(|c| c.uniqueid.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(!created.is_empty(), "live calls were seen");
    // The raw log holds the frames they came from, in the same order; a
    // read burst is stored as one message, so there are fewer messages
    // than frames (the resync's answers alone arrive in bursts).
    let raw_created: Vec<Option<String>> = raw
        .iter()
        .filter(|(name, _)| name == "Newchannel")
        .map(|(_, uniqueid)| uniqueid.clone())
        .collect();
    assert!(
        raw_created.starts_with(&created),
        "raw Newchannel frames {raw_created:?}, ChannelCreated events {created:?}"
    );
    assert!(
        stored < raw.len(),
        "{} raw frames in {stored} stored messages",
        raw.len()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn events_reach_nats_in_order_with_no_gap() {
    events_flow_in_order_with_no_gap(TestBus::nats().await).await;
}

#[tokio::test]
async fn events_reach_the_in_process_bus_in_order_with_no_gap() {
    events_flow_in_order_with_no_gap(TestBus::in_process()).await;
}

#[tokio::test]
async fn a_restarted_pbx_is_resynchronised_under_a_new_epoch() {
    let test = TestBus::nats().await;
    let sim = sim(5.0, 11).await;
    let ingestor = watching(&test, vec![pbx(&sim, "pbx-1")]).await;
    sim.disconnect_all();
    let events = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 2
    })
    .await;
    ingestor.stop().await;

    let epochs: Vec<u64> = {
        let mut e: Vec<u64> = events.iter().map(|e| e.epoch).collect();
        e.dedup();
        e
    };
    assert_eq!(epochs.len(), 2, "two connections");
    assert!(epochs[1] > epochs[0], "epochs increase");
    let last_of_first = events.iter().rfind(|e| e.epoch == epochs[0]).unwrap();
    assert_eq!(
        kind(last_of_first),
        "Disconnected",
        "the first connection ends with Disconnected"
    );
    let second: Vec<_> = events.iter().filter(|e| e.epoch == epochs[1]).collect();
    assert_eq!(kind(second[0]), "Connected");
    assert_eq!(kind(second[1]), "SyncStarted");
    assert_eq!(second[0].sequence, 1, "sequences restart with the epoch");
    assert_contiguous(&events);
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_are_answered_with_their_list_events_and_dangerous_ones_are_denied() {
    let test = TestBus::nats().await;
    let sim = sim(0.0, 3).await;
    let ingestor = watching(&test, vec![pbx(&sim, "pbx-1")]).await;
    let subject = {
        let (tenant, pbx) = ids("pbx-1");
        test.topology.subjects().ami_action(&tenant, &pbx)
    };
    let ask = |headers: &[(&str, &str)]| {
        let (bus, subject, request) = (test.bus.clone(), subject.clone(), ask_json(headers));
        async move {
            let answer = bus
                .request(&subject, request, Duration::from_secs(10))
                .await
                .expect("the ingestor answers");
            serde_json::from_slice::<ActionReply>(&answer.payload).unwrap()
        }
    };

    let endpoints = ask(&[("Action", "PJSIPShowEndpoints")]).await;
    assert!(endpoints.error.is_none(), "{:?}", endpoints.error);
    assert_eq!(endpoints.response.unwrap().get("EventList"), Some("start"));
    assert_eq!(
        endpoints.events.len(),
        12 + 1,
        "12 endpoints and the Complete event"
    );
    assert_eq!(
        endpoints.events.last().unwrap().name,
        "EndpointListComplete"
    );

    let stop = ask(&[("Action", "Command"), ("Command", "core stop now")]).await;
    assert_eq!(stop.error.unwrap().code, "denied");
    let shell = ask(&[
        ("Action", "Originate"),
        ("Channel", "PJSIP/1001"),
        ("Application", "System"),
        ("Data", "id"),
    ])
    .await;
    assert_eq!(shell.error.unwrap().code, "denied");
    let garbage = test
        .bus
        .request(
            &subject,
            Outgoing::new(&b"not json"[..]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let garbage: ActionReply = serde_json::from_slice(&garbage.payload).unwrap();
    assert_eq!(garbage.error.unwrap().code, "invalid");

    ingestor.stop().await;
    sim.shutdown().await;
}

fn ask_json(headers: &[(&str, &str)]) -> Outgoing {
    let request = ActionRequest {
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        requested_by: "alice@acme".into(),
        timeout_ms: Some(3000),
    };
    Outgoing::new(serde_json::to_vec(&request).unwrap())
}

#[tokio::test]
async fn a_resync_can_be_requested_over_the_bus() {
    let test = TestBus::nats().await;
    let sim = sim(0.0, 4).await;
    let ingestor = watching(&test, vec![pbx(&sim, "pbx-1")]).await;
    let subject = {
        let (tenant, pbx) = ids("pbx-1");
        test.topology.subjects().ami_resync(&tenant, &pbx)
    };
    let answer = test
        .bus
        .request(
            &subject,
            Outgoing::new(&b"alice@acme"[..]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(&answer.payload[..], br#"{"ok":true}"#);
    let events = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 2
    })
    .await;
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::SyncStarted(s)) => Some((s.reason(), s.detail.clone(), e.epoch)),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 2);
    assert_eq!(started[1].0, SyncReason::Requested);
    assert_eq!(started[1].1, "alice@acme", "who asked is recorded");
    assert_eq!(
        started[0].2, started[1].2,
        "same connection: no reconnect needed"
    );
    ingestor.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_tenant_action_reaches_every_pbx_and_a_disconnected_one_answers_not_connected() {
    let test = TestBus::nats().await;
    let (one, two) = (sim(0.0, 21).await, sim(0.0, 22).await);
    let ingestor = watching(&test, vec![pbx(&one, "pbx-1"), pbx(&two, "pbx-2")]).await;
    let (tenant, _) = ids("pbx-1");
    let fan_out = test.topology.subjects().tenant_action(&tenant);
    let answer = test
        .bus
        .request(
            &fan_out,
            ask_json(&[("Action", "Ping")]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let replies: TenantActionReply = serde_json::from_slice(&answer.payload).unwrap();
    let mut pbxs: Vec<_> = replies
        .replies
        .iter()
        .map(|r| {
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.response.as_ref().unwrap().get("Ping"), Some("Pong"));
            r.pbx.clone()
        })
        .collect();
    pbxs.sort();
    assert_eq!(pbxs, ["pbx-1", "pbx-2"]);

    // pbx-2 goes away: its owner still answers, with a clear error.
    two.shutdown().await;
    read_events(&test.bus, &test.topology, "pbx-2", WAIT, |seen| {
        seen.iter().any(|e| kind(e) == "Disconnected")
    })
    .await;
    let direct = test
        .topology
        .subjects()
        .ami_action(&tenant, &ids("pbx-2").1);
    let answer = test
        .bus
        .request(
            &direct,
            ask_json(&[("Action", "Ping")]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let reply: ActionReply = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(reply.error.unwrap().code, "not_connected");
    ingestor.stop().await;
    one.shutdown().await;
}

#[tokio::test]
async fn pbxs_added_changed_and_removed_in_the_registry_are_picked_up_without_a_restart() {
    let test = TestBus::nats().await;
    let (first, second) = (sim(0.0, 31).await, sim(0.0, 32).await);
    let ingestor = Ingestor::spawn(
        settings(Vec::new()),
        test.bus.clone(),
        test.topology.clone(),
    );
    let registry = test
        .bus
        .kv(
            &test.topology.bucket_name(ringside_ami_ingestor::PBX_BUCKET),
            ringside_bus::KvConfig::default(),
        )
        .await
        .unwrap();
    let entry = |sim: &ringside_pbx_sim::Simulator| {
        let addr = sim.local_addr();
        serde_json::json!({
            "tenant": TENANT, "id": "pbx-9", "host": addr.ip().to_string(), "port": addr.port(),
            "username": "lab", "secret": "labsecret"
        })
        .to_string()
    };

    registry
        .put("acme.pbx-9", entry(&first).into())
        .await
        .unwrap();
    read_events(&test.bus, &test.topology, "pbx-9", WAIT, |seen| {
        syncs_completed(seen) >= 1
    })
    .await;
    assert_eq!(first.logged_in(), 1);

    // Moved to another address: the old connection ends, a new one starts.
    registry
        .put("acme.pbx-9", entry(&second).into())
        .await
        .unwrap();
    let events = read_events(&test.bus, &test.topology, "pbx-9", WAIT, |seen| {
        syncs_completed(seen) >= 2
    })
    .await;
    assert!(events.last().unwrap().epoch > events[0].epoch);
    assert_eq!(second.logged_in(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while first.logged_in() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old connection was closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Removed: the connection ends.
    registry.delete("acme.pbx-9").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while second.logged_in() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection was closed after removal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ingestor.stop().await;
    first.shutdown().await;
    second.shutdown().await;
}
