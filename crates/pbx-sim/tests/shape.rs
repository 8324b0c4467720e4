//! The shape test: run the simulator long enough to produce every kind of
//! call and every list answer, then compare event names and header keys with
//! the real-Asterisk corpus.
//!
//! Every name the simulator sends must exist in the corpus, and per name its
//! keys must be a subset of the corpus's keys, except for a small allow-list
//! of messages the corpus never captured:
//! * `ConfbridgeTalking`: the lab turned talk detection on, but sipp sent no
//!   audio, so no recording has one; its headers are app_confbridge's
//!   (conference, bridge and channel blocks, `TalkingStatus`, `Admin`);
//! * `QueueEntry`: QueueStatus was never asked while a caller waited;
//! * `ConfbridgeListRooms`/`ConfbridgeList` and their `...Complete`: no room
//!   was active when the recorder asked.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ringside_ami::MessageKind;
use ringside_pbx_sim::SimConfig;
use support::{
    Client, Orders, Shapes, action, add_order, add_shape, config, corpus_orders, corpus_shapes,
    is_subsequence, spawn,
};

const NOT_IN_CORPUS: [&str; 6] = [
    "ConfbridgeTalking",
    "QueueEntry",
    "ConfbridgeListRooms",
    "ConfbridgeListRoomsComplete",
    "ConfbridgeList",
    "ConfbridgeListComplete",
];

/// The list and status actions a monitor sends on (re)connect.
const SYNC: [&str; 16] = [
    "PJSIPShowEndpoints",
    "PJSIPShowRegistrationsOutbound",
    "PJSIPShowRegistrationsInbound",
    "PJSIPShowContacts",
    "PJSIPShowAors",
    "IAXpeerlist",
    "IAXpeers",
    "IAXregistry",
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "QueueSummary",
    "ConfbridgeListRooms",
    "DeviceStateList",
    "ExtensionStateList",
    "Status",
];

#[tokio::test(start_paused = true)]
async fn every_event_the_simulator_sends_has_the_names_and_headers_of_real_asterisk() {
    let sim = spawn(SimConfig {
        endpoints: 50,
        trunks: 3,
        calls_per_second: 4.0,
        seed: 42,
        ..config()
    })
    .await;
    let mut c = Client::logged_in(&sim).await;
    c.record = true;
    let started = tokio::time::Instant::now();
    let mut shapes = Shapes::new();
    let mut orders = Orders::new();
    let mut values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut round = 0;
    let mut last_sync = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(240) {
        if started.elapsed() >= last_sync + Duration::from_secs(20) {
            last_sync = started.elapsed();
            round += 1;
            exercise_actions(&mut c, &sim, round, &mut shapes, &mut orders).await;
            for m in std::mem::take(&mut c.skipped) {
                add_shape(&mut shapes, &m);
                add_order(&mut orders, &m);
            }
        }
        let m = c.next().await.expect("the simulator keeps the connection");
        add_shape(&mut shapes, &m);
        add_order(&mut orders, &m);
        for key in [
            "DialStatus",
            "Cause",
            "Status",
            "PeerStatus",
            "ContactStatus",
            "Reason",
        ] {
            if let (MessageKind::Event, Some(v)) = (m.kind(), m.get(key)) {
                values
                    .entry(key)
                    .or_default()
                    .insert(format!("{}:{v}", m.name()));
            }
        }
        if let Some(ch) = m.get("Channel") {
            values
                .entry("Tech")
                .or_default()
                .insert(ch.split('/').next().unwrap_or("").to_owned());
        }
    }
    sim.shutdown().await;

    // The run covered every kind of call and background change.
    let must = |name: &str| assert!(shapes.contains_key(name), "the run produced no {name}");
    for name in [
        "Newchannel",
        "Newexten",
        "VarSet",
        "DialBegin",
        "DialState",
        "DialEnd",
        "Newstate",
        "NewConnectedLine",
        "NewCallerid",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "HangupRequest",
        "SoftHangupRequest",
        "Hangup",
        "Cdr",
        "DeviceStateChange",
        "ExtensionStatus",
        "QueueMemberStatus",
        "QueueCallerJoin",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "ConfbridgeStart",
        "ConfbridgeJoin",
        "ConfbridgeTalking",
        "ConfbridgeLeave",
        "ConfbridgeEnd",
        "BlindTransfer",
        "Hold",
        "Unhold",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "ContactStatus",
        "PeerStatus",
        "Registry",
        "ChallengeSent",
        "SuccessfulAuth",
        "OriginateResponse",
        "QueueEntry",
        "ConfbridgeListRooms",
        "QueueMemberAdded",
        "QueueMemberPause",
        "QueueMemberRemoved",
        "UserEvent",
        "Reload",
        "RequestBadFormat",
    ] {
        must(name);
    }
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    for status in ["ANSWER", "BUSY", "NOANSWER", "CHANUNAVAIL", "CANCEL"] {
        assert!(
            v("DialStatus").contains(&format!("DialEnd:{status}")),
            "no DialEnd {status}: {:?}",
            v("DialStatus")
        );
    }
    for cause in ["16", "17", "19", "20", "21", "1"] {
        assert!(
            v("Cause").contains(&format!("Hangup:{cause}")),
            "no Hangup cause {cause}"
        );
    }
    assert!(
        v("PeerStatus").iter().any(|s| s.ends_with("Unreachable")),
        "no peer went down"
    );
    assert!(v("Tech").contains("IAX2") && v("Tech").contains("PJSIP"));

    let corpus = corpus_shapes();
    let mut unknown_names = Vec::new();
    let mut extra_keys = BTreeMap::new();
    let mut missing_keys = BTreeMap::new();
    for (name, keys) in &shapes {
        match corpus.get(name) {
            None => unknown_names.push(name.clone()),
            Some(real) => {
                let extra: Vec<_> = keys.difference(real).cloned().collect();
                let missing: Vec<_> = real.difference(keys).cloned().collect();
                if !extra.is_empty() {
                    extra_keys.insert(name.clone(), extra);
                }
                if !missing.is_empty() {
                    missing_keys.insert(name.clone(), missing);
                }
            }
        }
    }
    println!("event names the simulator sends that the corpus lacks: {unknown_names:?}");
    for name in &unknown_names {
        println!("  {name}: {:?}", shapes[name]);
    }
    println!("keys the simulator sends that the corpus lacks: {extra_keys:#?}");
    println!("keys the corpus has that the simulator never sends: {missing_keys:#?}");
    let not_sent: Vec<_> = corpus.keys().filter(|n| !shapes.contains_key(*n)).collect();
    println!("corpus names the simulator never sends: {not_sent:?}");

    // Header order too: each sequence the simulator sends must follow one the
    // corpus has (keys it omits, like an absent `Cause`, may be skipped).
    let corpus_orders = corpus_orders();
    let mut out_of_order = Vec::new();
    for (name, seqs) in &orders {
        let Some(real) = corpus_orders.get(name) else {
            continue;
        };
        for seq in seqs {
            if !real.iter().any(|r| is_subsequence(seq, r)) {
                out_of_order.push((name.clone(), seq.clone()));
            }
        }
    }
    println!("header sequences in no corpus order: {out_of_order:#?}");

    let unexpected: Vec<_> = unknown_names
        .iter()
        .filter(|n| !NOT_IN_CORPUS.contains(&n.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "names not in the corpus: {unexpected:?}"
    );
    assert!(
        extra_keys.is_empty(),
        "keys not in the corpus: {extra_keys:?}"
    );
    assert!(
        out_of_order.is_empty(),
        "headers out of corpus order: {out_of_order:?}"
    );
}

/// The actions a monitor and an operator send, so their answers and the
/// events they cause are part of the comparison.
async fn exercise_actions(
    c: &mut Client,
    sim: &ringside_pbx_sim::Simulator,
    round: usize,
    shapes: &mut Shapes,
    orders: &mut Orders,
) {
    for (i, name) in SYNC.iter().enumerate() {
        let (_, items, done) = c.list(action(name, &format!("r{round}-{i}"), &[])).await;
        for m in items.iter().chain(done.iter()) {
            add_shape(shapes, m);
            add_order(orders, m);
        }
    }
    let state = sim.state();
    if let Some(conf) = state.conferences.first() {
        let (_, items, done) = c
            .list(action(
                "ConfbridgeList",
                &format!("r{round}-cl"),
                &[("Conference", &conf.name)],
            ))
            .await;
        for m in items.iter().chain(done.iter()) {
            add_shape(shapes, m);
            add_order(orders, m);
        }
    }
    let id = |s: &str| format!("r{round}-{s}");
    match round % 4 {
        1 => {
            c.request(action(
                "Originate",
                &id("orig"),
                &[
                    ("Channel", "PJSIP/1001"),
                    ("Context", "internal"),
                    ("Exten", "101"),
                    ("Priority", "1"),
                    ("CallerID", "\"AMI Test\" <5000>"),
                    ("Variable", "FOO=bar"),
                    ("Async", "true"),
                ],
            ))
            .await;
            c.request(action(
                "Originate",
                &id("fail"),
                &[
                    ("Channel", "PJSIP/1050"),
                    ("Context", "internal"),
                    ("Exten", "100"),
                    ("Priority", "1"),
                    ("Async", "true"),
                ],
            ))
            .await;
        }
        2 => {
            if let Some(ch) = state.channels.iter().find(|ch| ch.bridge.is_some()) {
                c.request(action(
                    "BlindTransfer",
                    &id("bt"),
                    &[("Channel", &ch.name), ("Exten", "1002")],
                ))
                .await;
            }
            c.request(action(
                "QueueAdd",
                &id("qa"),
                &[
                    ("Queue", "sales"),
                    ("Interface", "PJSIP/1010"),
                    ("MemberName", "Judy"),
                ],
            ))
            .await;
            c.request(action(
                "QueuePause",
                &id("qp"),
                &[
                    ("Interface", "PJSIP/1010"),
                    ("Paused", "true"),
                    ("Reason", "coffee"),
                ],
            ))
            .await;
            c.request(action(
                "QueueRemove",
                &id("qr"),
                &[("Queue", "sales"), ("Interface", "PJSIP/1010")],
            ))
            .await;
        }
        3 => {
            if let Some(ch) = state.channels.iter().find(|ch| ch.state == "Up") {
                c.request(action(
                    "Redirect",
                    &id("rd"),
                    &[
                        ("Channel", &ch.name),
                        ("Context", "internal"),
                        ("Exten", "101"),
                        ("Priority", "1"),
                    ],
                ))
                .await;
            }
            if let Some(conf) = state.conferences.first()
                && let Some(p) = conf.participants.first()
            {
                c.request(action(
                    "ConfbridgeMute",
                    &id("cm"),
                    &[("Conference", &conf.name), ("Channel", p)],
                ))
                .await;
                c.request(action(
                    "ConfbridgeUnmute",
                    &id("cu"),
                    &[("Conference", &conf.name), ("Channel", p)],
                ))
                .await;
            }
            c.request(action(
                "UserEvent",
                &id("ue"),
                &[("UserEvent", "LabMarker"), ("Header1", "value one")],
            ))
            .await;
            c.request(action("Reload", &id("rl"), &[("Module", "app_queue.so")]))
                .await;
            c.request(action("NoSuchAction", &id("na"), &[])).await;
        }
        _ => {
            if let Some(ch) = state.channels.first() {
                c.request(action(
                    "Hangup",
                    &id("hg"),
                    &[("Channel", &ch.name), ("Cause", "16")],
                ))
                .await;
            }
            c.request(action(
                "Setvar",
                &id("sv"),
                &[("Variable", "GLOBALX"), ("Value", "1")],
            ))
            .await;
        }
    }
}
