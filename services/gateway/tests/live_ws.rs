//! `/ws` live views: snapshot + delta stitching against a stand-in for the
//! state service's side of docs/live-views.md.

mod support;

use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WAIT: Duration = Duration::from_secs(10);

/// Reads frames until a Delta with `seq == last`, checking that every
/// stitched segment is gap-free and duplicate-free. Returns the number of
/// InitialState frames seen (the first included if `first` is one).
async fn read_until(ws: &mut Ws, mut expected: Option<u64>, last: u64) -> usize {
    let mut initial_states = 0;
    loop {
        let frame = next_json(ws, WAIT).await.expect("the socket stays open");
        match frame["type"].as_str() {
            Some("InitialState") => {
                initial_states += 1;
                let seq = frame["seq"].as_u64().unwrap();
                expected = Some(seq + 1);
                if seq >= last {
                    return initial_states;
                }
            }
            Some("Delta") => {
                let seq = frame["seq"].as_u64().unwrap();
                assert_eq!(Some(seq), expected, "a gap or a duplicate: {frame}");
                expected = Some(seq + 1);
                if seq == last {
                    return initial_states;
                }
            }
            other => panic!("unexpected frame {other:?}: {frame}"),
        }
    }
}

async fn stitching_has_no_gap_and_no_duplicate(app: TestApp) {
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    for n in 0..50 {
        state.call("acme", "pbx1", &format!("c{n}"), n).await;
    }
    let token = app.login("viewer").await;
    // Deltas flow while clients connect and take their snapshots.
    let producer = {
        let state = state.clone();
        tokio::spawn(async move {
            for n in 50..1550u64 {
                state
                    .call("acme", "pbx1", &format!("c{}", n % 200), n)
                    .await;
                if n % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };
    let mut clients = Vec::new();
    for _ in 0..4 {
        let url = app.ws_url("ws");
        let token = token.clone();
        clients.push(tokio::spawn(async move {
            let mut ws = ws_connect(&url, &token).await;
            let first = next_json(&mut ws, WAIT).await.unwrap();
            assert_eq!(first["type"], "InitialState");
            let views: Vec<&str> = first["snapshot"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(views.len(), 8, "{views:?}");
            let seq = first["seq"].as_u64().unwrap();
            read_until(&mut ws, Some(seq + 1), 1550).await;
            seq
        }));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    producer.await.unwrap();
    let mut starts = Vec::new();
    for c in clients {
        starts.push(
            tokio::time::timeout(Duration::from_secs(30), c)
                .await
                .expect("clients finish")
                .unwrap(),
        );
    }
    assert!(
        starts.iter().any(|s| (50..1550).contains(s)),
        "some client took its snapshot while deltas were flowing: {starts:?}"
    );
}

#[tokio::test]
async fn snapshot_and_deltas_stitch_with_no_gap_and_no_duplicate_while_deltas_flow() {
    stitching_has_no_gap_and_no_duplicate(spawn_app(settings()).await).await;
}

#[tokio::test]
async fn snapshot_and_deltas_stitch_over_nats_jetstream() {
    let test = ringside_testkit::TestBus::nats().await;
    stitching_has_no_gap_and_no_duplicate(spawn_app_on(test, settings()).await).await;
}

#[tokio::test]
async fn a_gap_in_the_delta_sequence_brings_a_fresh_snapshot() {
    let app = spawn_app(settings()).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    state.call("acme", "pbx1", "c1", 1).await;
    let token = app.login("viewer").await;
    let mut ws = ws_connect(&app.ws_url("ws"), &token).await;
    let first = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (first["type"].as_str(), first["seq"].as_u64()),
        (Some("InitialState"), Some(1))
    );
    state.call("acme", "pbx1", "c2", 2).await;
    let d = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (
            d["type"].as_str(),
            d["seq"].as_u64(),
            d["op"].as_str(),
            d["key"].as_str()
        ),
        (Some("Delta"), Some(2), Some("upsert"), Some("c2"))
    );
    assert_eq!(d["value"]["id"], "c2");
    // Seq 3 is lost on the bus; seq 4 arrives.
    state
        .change("acme", "pbx1", "calls", "c2", None, true)
        .await;
    state.call("acme", "pbx1", "c4", 4).await;
    let fresh = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (fresh["type"].as_str(), fresh["seq"].as_u64()),
        (Some("InitialState"), Some(4))
    );
    let ids: Vec<&str> = fresh["snapshot"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["c1", "c4"],
        "the fresh snapshot includes the lost removal"
    );
    state
        .change("acme", "pbx1", "calls", "c4", None, false)
        .await;
    let d = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (d["seq"].as_u64(), d["op"].as_str()),
        (Some(5), Some("remove"))
    );
    assert!(d.get("value").is_none());
}

#[tokio::test]
async fn a_slow_client_does_not_hold_up_a_fast_one_and_gets_a_fresh_snapshot() {
    let mut s = settings();
    s.ws_queue = 256;
    let app = spawn_app(s).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    let token = app.login("viewer").await;
    let mut slow = ws_connect(&app.ws_url("ws"), &token).await;
    let mut fast = ws_connect(&app.ws_url("ws"), &token).await;
    assert_eq!(next_json(&mut slow, WAIT).await.unwrap()["seq"], 0);
    assert_eq!(next_json(&mut fast, WAIT).await.unwrap()["seq"], 0);
    // Big deltas (32 MB in all), so the slow client's socket buffers fill
    // and its queue overflows while it reads nothing.
    let padding = "x".repeat(8192);
    let total = 4000u64;
    let fast_reader = tokio::spawn(async move { read_until(&mut fast, Some(1), total).await });
    for n in 1..=total {
        let value =
            json!({"tenant": "acme", "pbx": "pbx1", "id": format!("c{}", n % 10), "pad": padding});
        state
            .change(
                "acme",
                "pbx1",
                "calls",
                &format!("c{}", n % 10),
                Some(value),
                false,
            )
            .await;
        if n % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let fast_resyncs = tokio::time::timeout(Duration::from_secs(60), fast_reader)
        .await
        .expect("the fast client is not held up")
        .unwrap();
    assert_eq!(
        fast_resyncs, 0,
        "the fast client got every delta, without a fresh snapshot"
    );
    // The slow client now reads: its queue overflowed, so its stream has a
    // fresh InitialState, and it still ends up current.
    let resyncs = read_until(&mut slow, Some(1), total).await;
    assert!(resyncs >= 1, "the slow client was sent a fresh snapshot");
}

#[tokio::test]
async fn websocket_authentication_failures_get_an_error_and_a_close() {
    let mut s = settings();
    s.ws_auth_timeout = Duration::from_millis(300);
    let app = spawn_app(s).await;
    FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    let mut ws = ws_connect(&app.ws_url("ws"), "not-a-token").await;
    let e = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("Error"), Some("unauthorized"))
    );
    assert!(
        next_json(&mut ws, WAIT).await.is_none(),
        "closed after the error"
    );

    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url("ws"))
        .await
        .unwrap();
    let e = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(e["code"], "unauthorized", "silence past the timeout");
    assert!(next_json(&mut ws, WAIT).await.is_none());

    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url("ws"))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws, WAIT).await.unwrap()["code"],
        "unauthorized"
    );

    // A bearer header on the upgrade works without an auth message.
    let token = app.login("viewer").await;
    let mut request = app.ws_url("ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        next_json(&mut ws, WAIT).await.unwrap()["type"],
        "InitialState"
    );
}

#[tokio::test]
async fn clients_only_see_their_tenant_and_platform_admins_may_pick_one() {
    let mut s = settings();
    s.ws_heartbeat = Duration::from_millis(200);
    let app = spawn_app(s).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme", "beta"]).await;
    state.call("beta", "pbxb", "b1", 1).await;
    let (op, root) = (app.login("op").await, app.login("root").await);
    let mut ws = ws_connect(&app.ws_url("ws"), &op).await;
    let first = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(first["snapshot"]["calls"], json!([]));
    state.call("beta", "pbxb", "b2", 2).await;
    state.call("acme", "pbx1", "a1", 1).await;
    let d = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (d["key"].as_str(), d["seq"].as_u64()),
        (Some("a1"), Some(1)),
        "beta's deltas never arrive"
    );
    ws.send(Message::Text(
        json!({"type": "subscribe", "tenant": "beta"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let e = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("Error"), Some("not_found"))
    );

    // Heartbeats flow.
    let beat = loop {
        match tokio::time::timeout(WAIT, futures::StreamExt::next(&mut ws))
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "Heartbeat" {
                    break v;
                }
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(beat["ts"].as_u64().unwrap() > 1_700_000_000_000);

    let mut admin = ws_connect(&app.ws_url("ws"), &root).await;
    assert_eq!(
        next_json(&mut admin, WAIT).await.unwrap()["type"],
        "InitialState"
    );
    admin
        .send(Message::Text(
            json!({"type": "subscribe", "tenant": "beta"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let beta = next_json(&mut admin, WAIT).await.unwrap();
    assert_eq!(beta["type"], "InitialState");
    assert_eq!(beta["snapshot"]["calls"].as_array().unwrap().len(), 2);
    // A PBX filter.
    admin
        .send(Message::Text(
            json!({"type": "subscribe", "tenant": "beta", "pbx": "pbxz"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let filtered = next_json(&mut admin, WAIT).await.unwrap();
    assert_eq!(filtered["snapshot"]["calls"], json!([]));
}
