//! The generated PBX: calls show up as events and in the list answers,
//! state and events agree, and a seed fixes the whole run.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ringside_ami::{Message, MessageKind};
use ringside_pbx_sim::{Engine, SimConfig};
use support::{Client, action, config, spawn};

fn busy() -> SimConfig {
    SimConfig {
        calls_per_second: 1.0,
        ..config()
    }
}

#[tokio::test(start_paused = true)]
async fn core_show_channels_lists_a_call_while_it_is_up_and_not_after_its_hangup() {
    let sim = spawn(busy()).await;
    let mut c = Client::logged_in(&sim).await;
    // An answered call: the second BridgeEnter of a basic bridge.
    let (channel, bridge) = loop {
        let ev = c.event("BridgeEnter").await;
        if ev.get("BridgeType") == Some("basic") && ev.get("BridgeNumChannels") == Some("2") {
            break (
                ev.get("Channel").unwrap().to_owned(),
                ev.get("BridgeUniqueid").unwrap().to_owned(),
            );
        }
    };
    let (_, items, _) = c.list(action("CoreShowChannels", "csc-1", &[])).await;
    let item = items
        .iter()
        .find(|m| m.get("Channel") == Some(channel.as_str()))
        .unwrap_or_else(|| panic!("{channel} is not listed while bridged"));
    assert_eq!(item.get("BridgeId"), Some(bridge.as_str()));
    assert_eq!(item.get("ChannelStateDesc"), Some("Up"));
    let (_, bridges, _) = c.list(action("BridgeList", "bl-1", &[])).await;
    assert!(
        bridges
            .iter()
            .any(|b| b.get("BridgeUniqueid") == Some(bridge.as_str()))
    );
    assert!(sim.state().channel(&channel).is_some());

    loop {
        let ev = c.event("Hangup").await;
        if ev.get("Channel") == Some(channel.as_str()) {
            break;
        }
    }
    let (_, items, _) = c.list(action("CoreShowChannels", "csc-2", &[])).await;
    assert!(
        items
            .iter()
            .all(|m| m.get("Channel") != Some(channel.as_str()))
    );
    assert!(sim.state().channel(&channel).is_none());
    sim.shutdown().await;
}

/// The fields that identify an event in a run.
fn key(m: &Message) -> String {
    let mut k = m.name().to_owned();
    for h in [
        "Channel",
        "Uniqueid",
        "Linkedid",
        "DestChannel",
        "DialStatus",
        "Cause",
        "Device",
        "State",
        "Variable",
        "Value",
    ] {
        if let Some(v) = m.get(h) {
            k.push_str(&format!("|{h}={v}"));
        }
    }
    k
}

async fn collect(mut c: Client, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = c.next().await.unwrap();
        // The session's own security event names its TCP port.
        if m.kind() == MessageKind::Event && m.get("Service") != Some("AMI") {
            out.push(key(&m));
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_event_sequence() {
    let cfg = SimConfig {
        calls_per_second: 3.0,
        ..config()
    };
    let (a, b) = (spawn(cfg.clone()).await, spawn(cfg).await);
    let (ca, cb) = (Client::logged_in(&a).await, Client::logged_in(&b).await);
    let (ea, eb) = tokio::join!(collect(ca, 3000), collect(cb, 3000));
    // The clients logged in at slightly different virtual instants: align on
    // the first call both saw begin.
    let first = ea
        .iter()
        .find(|k| k.starts_with("Newchannel|") && eb.contains(k))
        .expect("a call both runs saw")
        .clone();
    let (ia, ib) = (
        ea.iter().position(|k| *k == first).unwrap(),
        eb.iter().position(|k| *k == first).unwrap(),
    );
    let n = 2000;
    assert_eq!(ea[ia..ia + n], eb[ib..ib + n]);
    a.shutdown().await;
    b.shutdown().await;

    let other = spawn(SimConfig {
        seed: 8,
        calls_per_second: 3.0,
        ..config()
    })
    .await;
    let ec = collect(Client::logged_in(&other).await, 500).await;
    assert_ne!(ea[..500], ec[..], "another seed gives another run");
    other.shutdown().await;
}

fn run(cfg: &SimConfig, secs: u64) -> Vec<Message> {
    let mut e = Engine::new(cfg);
    let mut out = Vec::new();
    for s in 1..=secs {
        e.advance(Duration::from_secs(s));
        out.extend(e.take_events());
    }
    out
}

#[test]
fn a_stepped_engine_is_byte_identical_for_a_seed_and_start_time() {
    let cfg = SimConfig {
        calls_per_second: 3.0,
        endpoints: 30,
        ..config()
    };
    let (a, b) = (run(&cfg, 200), run(&cfg, 200));
    assert!(a.len() > 10_000, "a busy run: {} events", a.len());
    let bytes = |v: &[Message]| v.iter().map(Message::to_bytes).collect::<Vec<_>>();
    assert_eq!(bytes(&a), bytes(&b));
    let c = run(&SimConfig { seed: 99, ..cfg }, 200);
    assert_ne!(bytes(&a[..1000]), bytes(&c[..1000]));
}

#[test]
fn channels_and_bridges_in_the_model_are_exactly_those_the_events_announced() {
    let cfg = SimConfig {
        calls_per_second: 4.0,
        endpoints: 40,
        trunks: 3,
        ..config()
    };
    let mut e = Engine::new(&cfg);
    let (mut chans, mut bridges) = (BTreeSet::new(), BTreeSet::new());
    for s in 1..=300 {
        e.advance(Duration::from_millis(s * 1000 + 137));
        for m in e.take_events() {
            let ch = m.get("Channel").map(str::to_owned);
            let br = m.get("BridgeUniqueid").map(str::to_owned);
            match m.name() {
                "Newchannel" => assert!(chans.insert(ch.unwrap()), "channel announced twice"),
                "Hangup" => assert!(chans.remove(&ch.unwrap()), "hangup of an unknown channel"),
                "BridgeCreate" => assert!(bridges.insert(br.unwrap())),
                "BridgeDestroy" => assert!(bridges.remove(&br.unwrap())),
                _ => {}
            }
        }
        let st = e.snapshot();
        let model: BTreeSet<_> = st.channels.iter().map(|c| c.name.clone()).collect();
        assert_eq!(model, chans, "at {s} s");
        let model: BTreeSet<_> = st.bridges.iter().map(|b| b.uniqueid.clone()).collect();
        assert_eq!(model, bridges, "at {s} s");
        for c in &st.channels {
            if let Some(b) = &c.bridge {
                assert!(bridges.contains(b), "{} in a destroyed bridge", c.name);
            }
        }
    }
    assert!(e.snapshot().processed_calls > 800);
}

#[tokio::test(start_paused = true)]
async fn an_extension_that_unregisters_is_unavailable_in_the_endpoint_list() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let peer = loop {
        let ev = c.event("PeerStatus").await;
        if ev.get("ChannelType") == Some("PJSIP") && ev.get("PeerStatus") == Some("Unreachable") {
            break ev
                .get("Peer")
                .unwrap()
                .trim_start_matches("PJSIP/")
                .to_owned();
        }
    };
    let (_, items, _) = c.list(action("PJSIPShowEndpoints", "ep", &[])).await;
    let ep = items
        .iter()
        .find(|m| m.get("ObjectName") == Some(peer.as_str()))
        .unwrap();
    assert_eq!(ep.get("DeviceState"), Some("Unavailable"));
    assert_eq!(ep.get("Contacts"), Some(""));
    let (_, contacts, _) = c.list(action("PJSIPShowContacts", "ct", &[])).await;
    assert!(
        contacts
            .iter()
            .all(|m| m.get("Endpoint") != Some(peer.as_str()))
    );
    assert!(!sim.state().registered_endpoints().contains(&peer.as_str()));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_async_originate_rings_answers_and_reports_with_its_action_id() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action(
            "Originate",
            "orig-1",
            &[
                ("Channel", "PJSIP/1004"),
                ("Context", "internal"),
                ("Exten", "1005"),
                ("Priority", "1"),
                ("CallerID", "\"AMI Test\" <5000>"),
                ("ChannelId", "lab-orig-1"),
                ("Async", "true"),
            ],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let ev = c.event("OriginateResponse").await;
    assert_eq!(ev.action_id(), Some("orig-1"));
    assert_eq!(ev.get("Response"), Some("Success"));
    assert_eq!(ev.get("Reason"), Some("4"));
    assert_eq!(ev.get("Uniqueid"), Some("lab-orig-1"));
    assert_eq!(ev.get("CallerIDNum"), Some("5000"));
    // Then the originated channel dials 1005 like any caller.
    let dial = c.event("DialBegin").await;
    assert_eq!(dial.get("Uniqueid"), Some("lab-orig-1"));
    assert!(dial.get("DestChannel").unwrap().starts_with("PJSIP/1005-"));

    // Unregistered endpoint: failure with no channel (1019, 1020 never register).
    c.request(action(
        "Originate",
        "orig-2",
        &[
            ("Channel", "PJSIP/1020"),
            ("Context", "internal"),
            ("Exten", "100"),
            ("Priority", "1"),
            ("Async", "true"),
        ],
    ))
    .await;
    let ev = c.event("OriginateResponse").await;
    assert_eq!(ev.action_id(), Some("orig-2"));
    assert_eq!(ev.get("Response"), Some("Failure"));
    assert_eq!(ev.get("Reason"), Some("0"));
    assert_eq!(ev.get("Uniqueid"), Some("<unknown>"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_sync_originate_answers_once_the_call_is_up() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    c.send(&action(
        "Originate",
        "sync-1",
        &[
            ("Channel", "PJSIP/1003"),
            ("Application", "Wait"),
            ("Data", "30"),
        ],
    ))
    .await;
    let r = c.response("sync-1").await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let st = sim.state();
    let ch = st
        .channels
        .iter()
        .find(|c| c.name.starts_with("PJSIP/1003-"))
        .expect("the originated channel exists");
    assert_eq!(ch.state, "Up");
    assert_eq!(ch.application, "Wait");
    let r = c
        .request(action(
            "Originate",
            "sync-2",
            &[
                ("Channel", "PJSIP/1019"),
                ("Application", "Wait"),
                ("Data", "1"),
            ],
        ))
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Originate failed"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn hangup_by_regex_lists_the_channels_it_hung_up() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    for (id, ep) in [("a", "PJSIP/1006"), ("b", "PJSIP/1007")] {
        c.send(&action(
            "Originate",
            id,
            &[("Channel", ep), ("Application", "Wait"), ("Data", "60")],
        ))
        .await;
        c.response(id).await;
    }
    let (r, items, done) = c
        .list(action(
            "Hangup",
            "hr",
            &[("Channel", "/^PJSIP\\/100[67]-.*$/"), ("Cause", "16")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Channels hung up will follow"));
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|m| m.name() == "ChannelHungup"));
    assert_eq!(done.unwrap().name(), "ChannelsHungupListComplete");
    assert!(sim.state().channels.is_empty());
    let r = c
        .request(action(
            "Hangup",
            "h404",
            &[("Channel", "PJSIP/1006-deadbeef")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("No such channel"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn redirect_sends_a_channel_to_music_on_hold_and_hangs_up_its_peer() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    c.request(action(
        "Originate",
        "o",
        &[
            ("Channel", "PJSIP/1008"),
            ("Context", "internal"),
            ("Exten", "1009"),
            ("Priority", "1"),
            ("Async", "true"),
        ],
    ))
    .await;
    let enter = loop {
        let ev = c.event("BridgeEnter").await;
        if ev.get("BridgeNumChannels") == Some("2") {
            break ev;
        }
    };
    let callee = sim
        .state()
        .channels
        .iter()
        .find(|c| c.name.starts_with("PJSIP/1009-"))
        .unwrap()
        .name
        .clone();
    assert!(enter.get("BridgeUniqueid").is_some());
    let r = c
        .request(action(
            "Redirect",
            "rd",
            &[
                ("Channel", &callee),
                ("Context", "internal"),
                ("Exten", "101"),
                ("Priority", "1"),
            ],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Redirect successful"));
    let moh = c.event("MusicOnHoldStart").await;
    assert_eq!(moh.get("Channel"), Some(callee.as_str()));
    let st = sim.state();
    assert_eq!(st.channels.len(), 1, "only the redirected channel is left");
    assert_eq!(st.channels[0].exten, "101");
    assert!(st.bridges.is_empty());
    sim.shutdown().await;
}

#[test]
fn rtp_statistics_are_written_like_chan_pjsip_leading_spaces_included() {
    let mut corpus = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
    for (_, bytes) in support::corpus_transcripts() {
        for m in support::decode(&bytes) {
            if let (Some(var), Some(value)) = (m.get("Variable"), m.get("Value"))
                && var.starts_with("RTPAUDIOQOS")
                && var != "RTPAUDIOQOS"
            {
                corpus
                    .entry(var.to_owned())
                    .or_default()
                    .insert(value.to_owned());
            }
        }
    }
    let mut seen = BTreeSet::new();
    for m in run(
        &SimConfig {
            calls_per_second: 2.0,
            ..config()
        },
        60,
    ) {
        let (Some(var), Some(value)) = (m.get("Variable"), m.get("Value")) else {
            continue;
        };
        if let Some(real) = corpus.get(var) {
            assert!(
                real.contains(value),
                "{var}: {value:?} is not a value Asterisk wrote"
            );
            seen.insert(var.to_owned());
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
}
