//! Ordering, resync and reconnect rules of the projection.

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    CallerId, ChannelCreated, ChannelHungUp, ChannelSnapshot, ChannelState, Connected,
    Disconnected, Envelope, SyncCompleted, SyncListResult, SyncOutcome, SyncStarted,
};
use ringside_state::replay::{Replayer, replay};
use ringside_state::{Applied, Projection, Snapshot};
use ringside_testkit::corpus;

const TENANT: &str = "lab";
const PBX: &str = "lab-pbx";

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus::path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The views as JSON without what legitimately differs between two
/// connections: times (synthetic per epoch in a replay) and the connection
/// status.
fn comparable(s: &Snapshot) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| !k.ends_with("_ms"));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(s).expect("serializes");
    v.as_object_mut().expect("object").remove("pbxs");
    strip(&mut v);
    v
}

/// hold-transfer cut 52 s in: its resync done, three channels up (1002 and
/// 1003 talking, 1010 in music on hold).
fn hold_transfer_midway() -> Vec<u8> {
    let bytes = read("hold-transfer.ami");
    let timing = String::from_utf8(read("hold-transfer.timing.jsonl")).expect("UTF-8");
    let end = timing
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("timing line"))
        .find(|c| c["t_ms"].as_f64().expect("t_ms") <= 52_500.0)
        .map(|c| (c["offset"].as_u64().unwrap() + c["len"].as_u64().unwrap()) as usize)
        .expect("chunks");
    bytes[..end].to_vec()
}

#[test]
fn a_reconnect_and_resync_give_the_same_views_as_a_fresh_start() {
    let fresh = replay(&[&read("hold-transfer.ami")], TENANT, PBX);
    let twice = replay(
        &[&read("hold-transfer.ami"), &read("hold-transfer.ami")],
        TENANT,
        PBX,
    );
    let a = fresh.projection().snapshot();
    let b = twice.projection().snapshot();
    assert!(!b.pbxs[0].stale);
    assert_eq!(b.pbxs[0].epoch, 2);
    assert!(
        !a.channels.is_empty(),
        "the scenario ends with live channels"
    );
    assert_eq!(comparable(&a), comparable(&b));
}

#[test]
fn no_ghost_channel_survives_a_resync_that_no_longer_lists_it() {
    let midway = hold_transfer_midway();
    let cut = replay(&[&midway], TENANT, PBX);
    let before = cut.projection().snapshot();
    assert_eq!(before.channels.len(), 3, "{:?}", before.channels);
    assert_eq!(before.calls.len(), 2);

    // The connection drops; the next one (basic-calls starts idle) resyncs.
    let reconnected = replay(&[&midway, &read("basic-calls.ami")], TENANT, PBX);
    let after = reconnected.projection().snapshot();
    let fresh = replay(&[&read("basic-calls.ami")], TENANT, PBX);
    for ghost in &before.channels {
        assert!(
            after.channels.iter().all(|c| c.uniqueid != ghost.uniqueid),
            "{} survived the resync",
            ghost.name
        );
    }
    assert_eq!(
        comparable(&after),
        comparable(&fresh.projection().snapshot())
    );
}

#[test]
fn a_disconnected_pbx_keeps_its_views_marked_stale_until_the_next_resync() {
    let mut r = Replayer::new(TENANT, PBX);
    r.transcript(&hold_transfer_midway());
    assert!(!r.projection().snapshot().pbxs[0].stale);
    r.disconnected("connection reset");
    let s = r.projection().snapshot();
    assert!(s.pbxs[0].stale);
    assert_eq!(s.channels.len(), 3, "last known views stay visible");
    r.transcript(&read("basic-calls.ami"));
    let s = r.projection().snapshot();
    assert!(!s.pbxs[0].stale);
    assert!(s.channels.is_empty());
}

#[test]
fn events_of_an_older_epoch_and_redeliveries_are_ignored() {
    let mut first = Replayer::new(TENANT, PBX).keeping_envelopes();
    first.transcript(&hold_transfer_midway());
    let old: Vec<Envelope> = first.envelopes().to_vec();

    let mut p = replay(
        &[&hold_transfer_midway(), &read("basic-calls.ami")],
        TENANT,
        PBX,
    )
    .into_projection();
    let before = p.snapshot();
    for env in &old {
        assert_eq!(p.apply(env), Applied::OlderEpoch);
    }
    assert_eq!(p.snapshot(), before);

    // Within one epoch a sequence applies once.
    let mut p = Projection::new();
    for env in &old {
        assert_eq!(p.apply(env), Applied::Applied);
    }
    let once = p.snapshot();
    for env in &old[old.len() / 2..] {
        assert_eq!(p.apply(env), Applied::Duplicate);
    }
    assert_eq!(p.snapshot(), once);
}

// Hand-made streams.

fn env(epoch: u64, sequence: u64, sync_id: Option<&str>, entry: bool, kind: Kind) -> Envelope {
    Envelope {
        tenant: TENANT.into(),
        pbx: PBX.into(),
        epoch,
        sequence,
        sync: entry,
        sync_id: sync_id.unwrap_or_default().into(),
        kind: Some(kind),
        ..Default::default()
    }
}

fn channel(id: &str) -> ChannelSnapshot {
    ChannelSnapshot {
        name: format!("PJSIP/{id}-00000001"),
        uniqueid: id.into(),
        linkedid: id.into(),
        state: ChannelState::Up as i32,
        state_desc: "Up".into(),
        caller: Some(CallerId {
            num: id.into(),
            name: String::new(),
        }),
        ..Default::default()
    }
}

fn created(id: &str) -> Kind {
    Kind::ChannelCreated(ChannelCreated {
        channel: Some(channel(id)),
        ..Default::default()
    })
}

fn hung_up(id: &str) -> Kind {
    Kind::ChannelHungUp(ChannelHungUp {
        channel: Some(channel(id)),
        ..Default::default()
    })
}

fn completed(action: &str, outcome: SyncOutcome) -> Kind {
    Kind::SyncCompleted(SyncCompleted {
        lists: vec![SyncListResult {
            action: action.into(),
            outcome: outcome as i32,
            entries: 0,
            message: String::new(),
        }],
    })
}

fn uniqueids(p: &Projection) -> Vec<String> {
    p.snapshot()
        .channels
        .into_iter()
        .map(|c| c.uniqueid)
        .collect()
}

#[test]
fn live_events_during_a_resync_reach_both_views_in_stream_order() {
    let mut p = Projection::new();
    let s = Some("1-1");
    p.apply(&env(
        1,
        1,
        None,
        false,
        Kind::Connected(Connected::default()),
    ));
    p.apply(&env(
        1,
        2,
        s,
        false,
        Kind::SyncStarted(SyncStarted::default()),
    ));
    // Live before the listing: in both views.
    p.apply(&env(1, 3, None, false, created("a")));
    assert_eq!(uniqueids(&p), ["a"]);
    assert!(p.snapshot().pbxs[0].syncing);
    // Listed, then hung up while the resync is still open.
    p.apply(&env(1, 4, s, true, created("b")));
    p.apply(&env(1, 5, s, true, created("c")));
    p.apply(&env(1, 6, None, false, hung_up("c")));
    // Entries are staged, not shown before the swap.
    assert_eq!(uniqueids(&p), ["a"]);
    assert_eq!(
        p.apply(&env(
            1,
            7,
            s,
            false,
            completed("CoreShowChannels", SyncOutcome::Ok)
        )),
        Applied::Applied
    );
    assert_eq!(uniqueids(&p), ["a", "b"]);
    assert!(!p.snapshot().pbxs[0].stale);
    // An entry of a resync that is not open is not applied.
    assert_eq!(
        p.apply(&env(1, 8, s, true, created("d"))),
        Applied::UnknownSync
    );
    assert_eq!(uniqueids(&p), ["a", "b"]);
}

#[test]
fn a_list_that_failed_keeps_its_part_of_the_old_views() {
    let mut p = Projection::new();
    p.apply(&env(
        1,
        1,
        Some("1-1"),
        false,
        Kind::SyncStarted(SyncStarted::default()),
    ));
    p.apply(&env(1, 2, Some("1-1"), true, created("a")));
    p.apply(&env(
        1,
        3,
        Some("1-1"),
        false,
        completed("CoreShowChannels", SyncOutcome::Ok),
    ));
    p.apply(&env(
        1,
        4,
        None,
        false,
        Kind::Disconnected(Disconnected::default()),
    ));
    // The next connection may not list channels (permission denied).
    p.apply(&env(
        2,
        1,
        Some("2-1"),
        false,
        Kind::SyncStarted(SyncStarted::default()),
    ));
    p.apply(&env(
        2,
        2,
        Some("2-1"),
        false,
        completed("CoreShowChannels", SyncOutcome::PermissionDenied),
    ));
    assert_eq!(uniqueids(&p), ["a"]);
    // A list that succeeded empty does replace.
    p.apply(&env(
        2,
        3,
        Some("2-2"),
        false,
        Kind::SyncStarted(SyncStarted::default()),
    ));
    p.apply(&env(
        2,
        4,
        Some("2-2"),
        false,
        completed("CoreShowChannels", SyncOutcome::Empty),
    ));
    assert!(uniqueids(&p).is_empty());
}

#[test]
fn a_resync_of_a_dead_connection_never_completes() {
    let mut p = Projection::new();
    p.apply(&env(
        1,
        1,
        Some("1-1"),
        false,
        Kind::SyncStarted(SyncStarted::default()),
    ));
    p.apply(&env(1, 2, Some("1-1"), true, created("ghost")));
    // A new epoch starts before the resync of epoch 1 completed.
    p.apply(&env(
        2,
        1,
        None,
        false,
        Kind::Connected(Connected::default()),
    ));
    assert_eq!(
        p.apply(&env(
            1,
            3,
            Some("1-1"),
            false,
            completed("CoreShowChannels", SyncOutcome::Ok)
        )),
        Applied::OlderEpoch
    );
    assert!(uniqueids(&p).is_empty());
    assert!(p.snapshot().pbxs[0].stale);
}
