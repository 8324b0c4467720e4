//! Events and spellings the Asterisk 22 corpus does not contain, built from
//! the Asterisk AMI documentation (docs.asterisk.org, AMI_Events) and from
//! what older versions send: the documented events a view needs
//! (AttendedTransfer, ConfbridgeTalking, Shutdown, QueueEntry,
//! ConfbridgeList), chan_sip's PeerEntry/PeerStatus/Registry, and Asterisk
//! ≤ 11 names and headers.

use std::time::SystemTime;

use ringside_ami::Message;
use ringside_ami::codec::decode_all;
use ringside_events::lifecycle::{self, list_result};
use ringside_events::{Ctx, Normalizer, Stamp, envelope, kind_name};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    ChannelState, DialStatus, PeerStatus, QualifyStatus, RegistrationStatus, SyncOutcome,
    SyncReason,
};

fn msg(headers: &[(&str, &str)]) -> Message {
    Message::from_headers(headers.iter().copied()).unwrap()
}

fn live(headers: &[(&str, &str)]) -> Kind {
    Normalizer::new()
        .normalize(&msg(headers), &Ctx::live())
        .expect("an event")
}

fn listed(action: &str, headers: &[(&str, &str)]) -> Kind {
    Normalizer::new()
        .normalize(&msg(headers), &Ctx::sync("s1", action))
        .expect("a list entry")
}

const ALICE: &[(&str, &str)] = &[
    ("Channel", "PJSIP/alice-00000001"),
    ("ChannelState", "6"),
    ("ChannelStateDesc", "Up"),
    ("CallerIDNum", "1001"),
    ("CallerIDName", "Alice"),
    ("ConnectedLineNum", "1002"),
    ("ConnectedLineName", "Bob"),
    ("Language", "en"),
    ("AccountCode", ""),
    ("Context", "internal"),
    ("Exten", "8000"),
    ("Priority", "2"),
    ("Uniqueid", "1700000000.1"),
    ("Linkedid", "1700000000.1"),
];

fn with(
    head: &[(&'static str, &'static str)],
    tail: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    head.iter().chain(ALICE).chain(tail).copied().collect()
}

#[test]
fn attended_transfer_as_documented_maps_every_snapshot() {
    let headers: Vec<(&str, &str)> = vec![
        ("Event", "AttendedTransfer"),
        ("Privilege", "call,all"),
        ("Result", "Success"),
        ("OrigTransfererChannel", "PJSIP/alice-00000001"),
        ("OrigTransfererChannelState", "6"),
        ("OrigTransfererUniqueid", "1700000000.1"),
        ("OrigBridgeUniqueid", "b-1"),
        ("OrigBridgeType", "basic"),
        ("OrigBridgeNumChannels", "2"),
        ("SecondTransfererChannel", "PJSIP/alice-00000003"),
        ("SecondTransfererUniqueid", "1700000000.3"),
        ("SecondBridgeUniqueid", "b-2"),
        ("DestType", "Bridge"),
        ("DestBridgeUniqueid", "b-2"),
        ("TransfereeChannel", "PJSIP/bob-00000002"),
        ("TransfereeUniqueid", "1700000000.2"),
        ("IsExternal", "No"),
    ];
    let Kind::AttendedTransferred(t) = live(&headers) else {
        panic!()
    };
    assert_eq!(t.result, "Success");
    let orig = t.orig_transferer.unwrap();
    assert_eq!(orig.uniqueid, "1700000000.1");
    assert_eq!(orig.state(), ChannelState::Up);
    let orig_bridge = t.orig_bridge.unwrap();
    assert_eq!(orig_bridge.uniqueid, "b-1");
    assert_eq!(orig_bridge.num_channels, Some(2));
    assert_eq!(t.second_transferer.unwrap().name, "PJSIP/alice-00000003");
    assert_eq!(t.second_bridge.unwrap().uniqueid, "b-2");
    assert_eq!(t.dest_type, "Bridge");
    assert_eq!(t.dest_bridge_uniqueid, "b-2");
    assert_eq!(t.transferee.unwrap().uniqueid, "1700000000.2");
    assert!(t.local_one.is_none(), "absent snapshot stays unset");
    assert_eq!(t.is_external, Some(false));
}

#[test]
fn confbridge_talking_reads_talking_status() {
    let on = with(
        &[
            ("Event", "ConfbridgeTalking"),
            ("Conference", "8000"),
            ("BridgeUniqueid", "c-1"),
        ],
        &[("TalkingStatus", "on"), ("Admin", "No")],
    );
    let Kind::ConfbridgeTalkingChanged(t) = live(&on) else {
        panic!()
    };
    assert_eq!(t.conference, "8000");
    assert_eq!(t.talking, Some(true));
    assert_eq!(t.talking_status, "on");
    assert_eq!(t.channel.unwrap().uniqueid, "1700000000.1");
    assert_eq!(t.bridge.unwrap().uniqueid, "c-1");
    let off = with(
        &[("Event", "ConfbridgeTalking"), ("Conference", "8000")],
        &[("TalkingStatus", "off")],
    );
    let Kind::ConfbridgeTalkingChanged(t) = live(&off) else {
        panic!()
    };
    assert_eq!(t.talking, Some(false));
}

#[test]
fn confbridge_list_entries_are_participants_and_rooms() {
    let entry = with(
        &[
            ("Event", "ConfbridgeList"),
            ("ActionID", "a1"),
            ("Conference", "8001"),
        ],
        &[
            ("Admin", "No"),
            ("MarkedUser", "No"),
            ("WaitMarked", "No"),
            ("EndMarked", "No"),
            ("Waiting", "No"),
            ("Muted", "Yes"),
            ("Talking", "No"),
            ("AnsweredTime", "12"),
        ],
    );
    let Kind::ConfbridgeParticipantListed(p) = listed("ConfbridgeList", &entry) else {
        panic!()
    };
    assert_eq!(p.conference, "8001");
    assert_eq!(p.muted, Some(true));
    assert_eq!(p.talking, Some(false));
    assert_eq!(p.answered_time, Some(12));
    assert_eq!(p.channel.unwrap().name, "PJSIP/alice-00000001");

    let room = [
        ("Event", "ConfbridgeListRooms"),
        ("ActionID", "a2"),
        ("Conference", "8001"),
        ("Parties", "2"),
        ("Marked", "0"),
        ("Locked", "No"),
        ("Muted", "No"),
    ];
    let Kind::ConfbridgeRoomListed(r) = listed("ConfbridgeListRooms", &room) else {
        panic!()
    };
    assert_eq!((r.parties, r.locked), (Some(2), Some(false)));
}

#[test]
fn shutdown_says_clean_and_restart() {
    let Kind::Shutdown(s) = live(&[
        ("Event", "Shutdown"),
        ("Privilege", "system,all"),
        ("Shutdown", "Cleanly"),
        ("Restart", "True"),
    ]) else {
        panic!()
    };
    assert_eq!(s.shutdown, "Cleanly");
    assert_eq!(s.clean, Some(true));
    assert_eq!(s.restart, Some(true));
}

#[test]
fn queue_entry_is_a_waiting_caller() {
    let Kind::QueueEntryListed(e) = listed(
        "QueueStatus",
        &[
            ("Event", "QueueEntry"),
            ("Queue", "support"),
            ("Position", "1"),
            ("Channel", "PJSIP/1004-0000007b"),
            ("Uniqueid", "lab-pbx-1795396673.130"),
            ("CallerIDNum", "1004"),
            ("CallerIDName", "Ext 1004"),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Wait", "7"),
            ("Priority", "0"),
            ("ActionID", "a3"),
        ],
    ) else {
        panic!()
    };
    assert_eq!(e.queue, "support");
    assert_eq!(e.position, Some(1));
    assert_eq!(e.uniqueid, "lab-pbx-1795396673.130");
    assert_eq!(e.caller.unwrap().num, "1004");
    assert_eq!(e.wait, Some(7));
}

#[test]
fn chan_sip_peer_entry_status_and_registry_map() {
    let entry = [
        ("Event", "PeerEntry"),
        ("ActionID", "a4"),
        ("Channeltype", "SIP"),
        ("ObjectName", "trunk-a"),
        ("ChanObjectType", "peer"),
        ("IPaddress", "192.0.2.10"),
        ("IPport", "5060"),
        ("Dynamic", "no"),
        ("Status", "LAGGED (2100 ms)"),
        ("Description", "trunk"),
    ];
    let Kind::SipPeerListed(p) = listed("SIPpeers", &entry) else {
        panic!()
    };
    assert_eq!(p.name, "trunk-a");
    assert_eq!(p.port, Some(5060));
    assert_eq!(p.status(), QualifyStatus::Lagged);
    assert_eq!(p.latency_ms, Some(2100));
    assert_eq!(p.description, "trunk");

    let Kind::PeerStatusChanged(s) = live(&[
        ("Event", "PeerStatus"),
        ("Privilege", "system,all"),
        ("ChannelType", "SIP"),
        ("Peer", "SIP/1001"),
        ("PeerStatus", "Registered"),
        ("Address", "192.0.2.20:5060"),
    ]) else {
        panic!()
    };
    assert_eq!(s.status(), PeerStatus::Registered);
    assert_eq!(s.address, "192.0.2.20:5060");

    let Kind::OutboundRegistrationChanged(r) = live(&[
        ("Event", "Registry"),
        ("Privilege", "system,all"),
        ("ChannelType", "SIP"),
        ("Username", "pbx"),
        ("Domain", "sip.example.net"),
        ("Status", "Request Sent"),
    ]) else {
        panic!()
    };
    assert_eq!(r.status(), RegistrationStatus::RequestSent);
    assert_eq!(r.status_raw, "Request Sent");
}

#[test]
fn peer_entry_without_a_channel_type_is_told_by_its_list_action() {
    let entry = [
        ("Event", "PeerEntry"),
        ("ActionID", "a5"),
        ("ObjectName", "x"),
    ];
    assert_eq!(kind_name(&listed("SIPpeers", &entry)), "SipPeerListed");
    assert_eq!(kind_name(&listed("IAXpeerlist", &entry)), "Iax2PeerListed");
    assert_eq!(kind_name(&listed("Other", &entry)), "Unmapped");
}

#[test]
fn asterisk_1_4_newstate_uses_state_and_callerid() {
    let Kind::ChannelStateChanged(s) = live(&[
        ("Event", "Newstate"),
        ("Privilege", "call,all"),
        ("Channel", "SIP/1001-0a1b2c3d"),
        ("State", "Ringing"),
        ("CallerID", "1001"),
        ("CallerIDName", "Alice"),
        ("Uniqueid", "1234567890.12"),
    ]) else {
        panic!()
    };
    let ch = s.channel.unwrap();
    assert_eq!(ch.state(), ChannelState::Ringing);
    assert_eq!(ch.state_desc, "Ringing");
    assert_eq!(ch.state_code, None, "no code was sent");
    assert_eq!(ch.caller.unwrap().num, "1001");
    assert_eq!(ch.linkedid, "", "no Linkedid before 1.8: not invented");
}

#[test]
fn asterisk_11_dial_event_maps_to_dial_began_and_ended() {
    let begin = [
        ("Event", "Dial"),
        ("Privilege", "call,all"),
        ("SubEvent", "Begin"),
        ("Channel", "SIP/1001-00000001"),
        ("Destination", "SIP/1002-00000002"),
        ("CallerIDNum", "1001"),
        ("CallerIDName", "Alice"),
        ("UniqueID", "1400000000.1"),
        ("DestUniqueID", "1400000000.2"),
        ("Dialstring", "1002"),
    ];
    let Kind::DialBegan(d) = live(&begin) else {
        panic!()
    };
    assert_eq!(d.caller.unwrap().uniqueid, "1400000000.1");
    let dest = d.destination.unwrap();
    assert_eq!(dest.name, "SIP/1002-00000002");
    assert_eq!(dest.uniqueid, "1400000000.2");
    assert_eq!(d.dial_string, "1002");

    let Kind::DialEnded(d) = live(&[
        ("Event", "Dial"),
        ("SubEvent", "End"),
        ("Channel", "SIP/1001-00000001"),
        ("UniqueID", "1400000000.1"),
        ("DialStatus", "ANSWER"),
    ]) else {
        panic!()
    };
    assert_eq!(d.status(), DialStatus::Answer);
}

#[test]
fn asterisk_11_renamed_queue_and_hold_events_map() {
    let join = [
        ("Event", "Join"),
        ("Channel", "SIP/1004-1"),
        ("Uniqueid", "1.1"),
        ("Queue", "support"),
        ("Position", "1"),
        ("Count", "1"),
    ];
    assert_eq!(kind_name(&live(&join)), "QueueCallerJoined");
    let paused = [
        ("Event", "QueueMemberPaused"),
        ("Queue", "sales"),
        ("Location", "SIP/1006"),
        ("MemberName", "Frank"),
        ("Paused", "1"),
    ];
    let Kind::QueueMemberPauseChanged(p) = live(&paused) else {
        panic!()
    };
    let member = p.member.unwrap();
    assert_eq!(member.interface, "SIP/1006");
    assert_eq!(member.paused, Some(true));
    let unhold = [
        ("Event", "Hold"),
        ("Status", "Off"),
        ("Channel", "SIP/1001-1"),
        ("Uniqueid", "1.1"),
    ];
    assert_eq!(kind_name(&live(&unhold)), "ChannelUnheld");
    let moh = [
        ("Event", "MusicOnHold"),
        ("State", "Start"),
        ("Channel", "SIP/1001-1"),
        ("UniqueID", "1.1"),
        ("Class", "default"),
    ];
    let Kind::MusicOnHoldStarted(m) = live(&moh) else {
        panic!()
    };
    assert_eq!(m.music_class, "default");
    assert_eq!(
        m.channel.unwrap().state_desc,
        "",
        "`State: Start` is not a channel state"
    );
}

#[test]
fn event_names_match_whatever_their_case() {
    let old = [
        ("Event", "Newcallerid"),
        ("Channel", "SIP/1-1"),
        ("Uniqueid", "1.1"),
        ("CallerIDNum", "5000"),
    ];
    assert_eq!(kind_name(&live(&old)), "CallerIdChanged");
}

#[test]
fn responses_banner_and_list_completion_are_not_events() {
    let bytes = b"Asterisk Call Manager/11.0.0\r\n\
        Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n\
        Event: PeerlistComplete\r\nActionID: 2\r\nEventList: Complete\r\nListItems: 3\r\n\r\n\
        Response: Success\r\nMessage: Command output follows\r\nOutput: x\r\n\r\n";
    let (items, err) = decode_all(bytes);
    assert!(err.is_none());
    let mut n = Normalizer::new();
    for item in items {
        assert_eq!(n.normalize(&item.unwrap(), &Ctx::live()), None);
    }
    assert_eq!(n.stats().not_events, 4);
}

#[test]
fn unmapped_keeps_every_header_in_order_even_without_a_colon() {
    let bytes = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: a\r\nVariable: b\r\nnot a header\r\nValue:   spaced\r\n\r\n";
    let (items, _) = decode_all(bytes);
    // No banner here: find the event wherever the decoder put it.
    let event = items
        .into_iter()
        .filter_map(Result::ok)
        .find(|m| m.name() == "VarSet")
        .expect("the VarSet event");
    let Some(Kind::Unmapped(u)) = Normalizer::new().normalize(&event, &Ctx::live()) else {
        panic!()
    };
    assert_eq!(u.name, "VarSet");
    let got: Vec<_> = u
        .headers
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_deref()))
        .collect();
    let want: Vec<_> = event.headers().map(|h| (h.key, h.value)).collect();
    assert_eq!(got, want);
    assert!(got.iter().filter(|(k, _)| *k == "Variable").count() == 2);
}

#[test]
fn timestamp_header_becomes_pbx_time_and_sync_brackets_carry_the_sync_id() {
    let m = msg(&[
        ("Event", "FullyBooted"),
        ("Privilege", "system,all"),
        ("Timestamp", "1795395695.191787"),
        ("Status", "Fully Booted"),
    ]);
    let kind = Normalizer::new().normalize(&m, &Ctx::live()).unwrap();
    let stamp = Stamp {
        tenant: "t",
        pbx: "p",
        epoch: 1,
        sequence: 7,
        received_at: SystemTime::UNIX_EPOCH,
        traceparent: "",
    };
    let env = envelope(&stamp, Some(&m), &Ctx::live(), kind);
    let t = env.pbx_time.unwrap();
    assert_eq!((t.seconds, t.nanos), (1_795_395_695, 191_787_000));
    assert_eq!((env.epoch, env.sequence), (1, 7));
    assert!(!env.sync);

    let started = lifecycle::sync_started(SyncReason::Connected, "");
    let env = envelope(&stamp, None, &Ctx::sync("s9", ""), started);
    assert!(!env.sync, "SyncStarted is not a list entry");
    assert_eq!(env.sync_id, "s9");
    assert_eq!(env.pbx_time, None);
}

#[test]
fn sync_completed_records_each_list_outcome() {
    let denied = msg(&[("Response", "Error"), ("Message", "Permission denied")]);
    // As Asterisk 22 sends it: a bare LF inside the value (corpus README, 3).
    let (items, _) = decode_all(
        b"Asterisk Call Manager/11.0.0\r\nResponse: Error\r\nActionID: c1\r\nMessage: No Contacts found\n\r\n\r\n",
    );
    let empty = items
        .into_iter()
        .filter_map(Result::ok)
        .find(|m| m.get("Response").is_some())
        .unwrap();
    let kind = lifecycle::sync_completed(vec![
        list_result("CoreShowChannels", &denied, 0),
        list_result("PJSIPShowContacts", &empty, 0),
    ]);
    let Kind::SyncCompleted(done) = kind else {
        panic!()
    };
    assert_eq!(done.lists[0].outcome(), SyncOutcome::PermissionDenied);
    assert_eq!(done.lists[1].outcome(), SyncOutcome::Empty);
    assert_eq!(
        done.lists[1].message, "No Contacts found",
        "trailing LF trimmed"
    );
}
