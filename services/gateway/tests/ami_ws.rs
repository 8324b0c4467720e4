//! `/ws/ami` with a real WebSocket client, against a simulated PBX and the
//! real ingestor on the in-process bus.

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringside_ami_ingestor::actions::ActionAudit;
use ringside_ami_ingestor::{Deps, IngestorSettings, PbxSettings};
use ringside_bus::{TenantId, Token};
use ringside_pbx_sim::SimConfig;
use ringside_testkit::TestBus;
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Reads frames until one satisfies `pred`.
async fn until(ws: &mut Ws, within: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = next_json(ws, deadline - tokio::time::Instant::now())
            .await
            .expect("the socket stays open");
        if pred(&frame) {
            return frame;
        }
    }
}

async fn send(ws: &mut Ws, action: Value) {
    ws.send(Message::Text(action.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn raw_ami_is_relayed_as_amiws_json_and_actions_round_trip_by_role() {
    let sim = ringside_pbx_sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: "lab".into(),
        secret: "labsecret".into(),
        endpoints: 5,
        trunks: 1,
        calls_per_second: 4.0,
        seed: 7,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let test = TestBus::in_process();
    let (bus, topology) = (test.bus.clone(), test.topology.clone());
    let pbx = PbxSettings::from_url(&format!(
        "ami://lab:labsecret@{}?tenant=acme&id=pbx1",
        sim.local_addr()
    ))
    .unwrap();
    let mut ingestor_settings = IngestorSettings {
        pbx: vec![pbx],
        ..IngestorSettings::default()
    };
    ingestor_settings.action_timeout = Duration::from_secs(5);
    ingestor_settings.lease.renew_every = Duration::from_millis(200);
    let stop_ingestor = CancellationToken::new();
    let ingestor = tokio::spawn(ringside_ami_ingestor::run(
        ingestor_settings,
        Deps {
            bus: bus.clone(),
            topology: topology.clone(),
        },
        stop_ingestor.clone(),
    ));
    let app = spawn_app_on(test, settings()).await;
    let mut audit = app
        .bus
        .subscribe(&app.subjects.prov(
            &TenantId::new("acme").unwrap(),
            &Token::new("ami_action").unwrap(),
        ))
        .await
        .unwrap();

    let (op, admin, beta) = (
        app.login("op").await,
        app.login("admin").await,
        app.login("beta-op").await,
    );
    let mut other_tenant = ws_connect(&app.ws_url("ws/ami"), &beta).await;
    let mut ws = ws_connect(&app.ws_url("ws/ami"), &op).await;

    // Raw frames arrive in amiws form.
    let event = until(&mut ws, Duration::from_secs(30), |f| {
        f["type"] == 3 && f["data"]["Event"].is_string()
    })
    .await;
    assert_eq!(event["server_name"], "pbx1");
    assert_eq!(event["ssl"], false);
    let server_id = event["server_id"].as_u64().unwrap();
    assert!(server_id >= 1);
    assert!(
        event["data"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.is_string() || v.is_array())
    );

    // Ping to that server: the answer comes back with the client's ActionID.
    send(
        &mut ws,
        json!({"Action": "Ping", "ActionID": "mine-1", "AMIServerID": server_id}),
    )
    .await;
    let pong = until(&mut ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "mine-1"
    })
    .await;
    assert_eq!(
        (pong["type"].as_u64(), pong["server_id"].as_u64()),
        (Some(4), Some(server_id))
    );
    assert_eq!(pong["data"]["Response"], "Success");
    // The ingestor audited it with the user.
    let record: ActionAudit = loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), audit.next())
            .await
            .unwrap()
            .unwrap();
        let record: ActionAudit = serde_json::from_slice(&msg.payload).unwrap();
        if record.action == "Ping" {
            break record;
        }
    };
    assert_eq!(
        (record.requested_by.as_str(), record.result.as_str()),
        ("op@acme", "ok")
    );

    // Without AMIServerID: every PBX of the tenant.
    send(&mut ws, json!({"Action": "Ping", "ActionID": "mine-2"})).await;
    let pong = until(&mut ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "mine-2"
    })
    .await;
    assert_eq!(
        (
            pong["server_name"].as_str(),
            pong["data"]["Response"].as_str()
        ),
        (Some("pbx1"), Some("Success"))
    );

    // An operator may not send Command: refused by the gateway, audited.
    send(&mut ws, json!({"Action": "Command", "Command": "core show version", "ActionID": "mine-3", "AMIServerID": server_id})).await;
    let refused = until(&mut ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "mine-3"
    })
    .await;
    assert_eq!(refused["data"]["Response"], "Error");
    assert!(
        refused["data"]["Message"]
            .as_str()
            .unwrap()
            .contains("tenant_admin"),
        "{refused}"
    );
    let record: ActionAudit = loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), audit.next())
            .await
            .unwrap()
            .unwrap();
        let record: ActionAudit = serde_json::from_slice(&msg.payload).unwrap();
        if record.action == "Command" {
            break record;
        }
    };
    assert_eq!(
        (record.requested_by.as_str(), record.result.as_str()),
        ("op@acme", "forbidden")
    );

    // An admin may, but not what the deny list forbids.
    let mut admin_ws = ws_connect(&app.ws_url("ws/ami"), &admin).await;
    send(&mut admin_ws, json!({"Action": "Command", "Command": "core show version", "ActionID": "a-1", "AMIServerID": "pbx1"})).await;
    let answer = until(&mut admin_ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "a-1"
    })
    .await;
    assert_ne!(answer["data"]["Response"], "Error", "{answer}");
    send(&mut admin_ws, json!({"Action": "Command", "Command": "core stop now", "ActionID": "a-2", "AMIServerID": server_id})).await;
    let denied = until(&mut admin_ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "a-2"
    })
    .await;
    assert_eq!(denied["data"]["Response"], "Error");
    assert!(
        denied["data"]["Message"]
            .as_str()
            .unwrap()
            .starts_with("denied"),
        "{denied}"
    );

    // Bad input and unknown servers are answered, not dropped.
    send(&mut ws, json!({"ActionID": "mine-4"})).await;
    let bad = until(&mut ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "mine-4"
    })
    .await;
    assert!(bad["data"]["Message"].as_str().unwrap().contains("Action"));
    send(
        &mut ws,
        json!({"Action": "Ping", "ActionID": "mine-5", "AMIServerID": 999}),
    )
    .await;
    let unknown = until(&mut ws, Duration::from_secs(10), |f| {
        f["data"]["ActionID"] == "mine-5"
    })
    .await;
    assert_eq!(unknown["data"]["Response"], "Error");

    // Another tenant's client saw none of it.
    let frame = tokio::time::timeout(Duration::from_millis(500), other_tenant.next()).await;
    assert!(frame.is_err(), "beta got a frame: {frame:?}");

    stop_ingestor.cancel();
    ingestor.await.unwrap().unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn the_ami_websocket_refuses_a_bad_token() {
    let app = spawn_app(settings()).await;
    let mut ws = ws_connect(&app.ws_url("ws/ami"), "bad").await;
    let e = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("Error"), Some("unauthorized"))
    );
    assert!(next_json(&mut ws, Duration::from_secs(5)).await.is_none());
}
