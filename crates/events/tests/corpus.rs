//! Normalization on the real Asterisk 22 corpus (`../shared/ami-corpus/`):
//! every event and list entry of every transcript gets a kind; what stays
//! `Unmapped` is reported per file, and none of it is an event a view
//! depends on. Field-level checks on real messages; every envelope survives a
//! protobuf round trip.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ringside_ami::codec::decode_all;
use ringside_ami::{Message, MessageKind};
use ringside_events::{Ctx, Normalizer, Stamp, envelope, kind_name};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    ChannelState, DeviceState, Envelope, HangupCause, QualifyStatus, RegistrationStatus,
    RtcpDirection,
};
use ringside_proto::prost::Message as _;

/// Event and list-entry names the state service's views are built from: none
/// of them may end up `Unmapped`.
const VIEW_EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "NewCallerid",
    "NewConnectedLine",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeCreate",
    "BridgeEnter",
    "BridgeLeave",
    "BridgeDestroy",
    "Hold",
    "Unhold",
    "BlindTransfer",
    "AttendedTransfer",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueMemberPause",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "ConfbridgeStart",
    "ConfbridgeJoin",
    "ConfbridgeLeave",
    "ConfbridgeEnd",
    "ConfbridgeTalking",
    "ConfbridgeMute",
    "ConfbridgeUnmute",
    "ContactStatus",
    "PeerStatus",
    "DeviceStateChange",
    "Registry",
    "FullyBooted",
    "Shutdown",
    "Reload",
    "RTCPSent",
    "RTCPReceived",
    "Cdr",
    // list entries of the resync actions
    "EndpointList",
    "ContactList",
    "OutboundRegistrationDetail",
    "PeerEntry",
    "CoreShowChannel",
    "BridgeListItem",
    "QueueParams",
    "QueueMember",
    "QueueEntry",
    "ConfbridgeList",
];

fn transcript(name: &str) -> Vec<u8> {
    std::fs::read(ringside_testkit::corpus::dir().join(format!("{name}.ami"))).unwrap()
}

/// The list action an entry answers, from the recorder's ActionIDs
/// (`mon-7-iaxpeerlist` → `iaxpeerlist`), as an ingestor would know it.
fn action_of(msg: &Message) -> &str {
    msg.action_id()
        .and_then(|id| id.splitn(3, '-').nth(2))
        .unwrap_or_default()
}

/// One normalized message: the message and its kind.
struct Normalized {
    msg: Message,
    kind: Kind,
}

/// Decodes a transcript and normalizes every event and list entry, list
/// entries in the context of a resync of their action.
fn normalize_transcript(bytes: &[u8], normalizer: &mut Normalizer) -> Vec<Normalized> {
    let (items, err) = decode_all(bytes);
    assert!(err.is_none(), "transcript ends cleanly: {err:?}");
    let mut out = Vec::new();
    for item in items {
        let msg = item.expect("the corpus decodes without error");
        let ctx = ctx_of(&msg);
        let kind = normalizer.normalize(&msg, &ctx);
        let is_event = matches!(msg.kind(), MessageKind::Event | MessageKind::ListItem);
        assert_eq!(kind.is_some(), is_event, "{msg:?}");
        if let Some(kind) = kind {
            out.push(Normalized { msg, kind });
        }
    }
    out
}

fn normalize_name(name: &str) -> Vec<Normalized> {
    normalize_transcript(&transcript(name), &mut Normalizer::new())
}

#[test]
fn every_corpus_event_gets_a_kind_and_none_a_view_needs_is_unmapped() {
    let mut seen_view_events: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for (file, bytes) in ringside_testkit::corpus::transcripts() {
        let mut normalizer = Normalizer::new();
        let normalized = normalize_transcript(&bytes, &mut normalizer);
        let stats = normalizer.stats();
        println!(
            "{file}: {} events, {} typed, {} unmapped",
            normalized.len(),
            stats.typed,
            stats.unmapped
        );
        for (name, n) in &stats.unmapped_by_name {
            println!("    Unmapped {name}: {n}");
        }
        for n in &normalized {
            if let Some(view) = VIEW_EVENTS
                .iter()
                .find(|v| v.eq_ignore_ascii_case(n.msg.name()))
            {
                *seen_view_events.entry(view).or_default() += 1;
            }
        }
        for view in VIEW_EVENTS {
            let unmapped: u64 = stats
                .unmapped_by_name
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(view))
                .map(|(_, n)| n)
                .sum();
            if unmapped > 0 {
                failures.push(format!("{file}: {unmapped} {view} unmapped"));
            }
        }
    }
    let absent: Vec<_> = VIEW_EVENTS
        .iter()
        .filter(|v| !seen_view_events.contains_key(*v))
        .collect();
    println!("view events not in the corpus (covered by tests/variants.rs): {absent:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    // The corpus does exercise most of them.
    assert!(seen_view_events.len() >= 40, "{seen_view_events:?}");
}

#[test]
fn first_newchannel_of_basic_calls_carries_the_channel_identity() {
    let all = normalize_name("basic-calls");
    let created = all
        .iter()
        .find(|n| n.msg.name() == "Newchannel")
        .expect("a Newchannel");
    let Kind::ChannelCreated(c) = &created.kind else {
        panic!("{:?}", created.kind)
    };
    let ch = c.channel.as_ref().unwrap();
    assert_eq!(ch.name, "PJSIP/1002-00000000");
    assert_eq!(ch.uniqueid, "lab-pbx-1795394246.0");
    assert_eq!(ch.linkedid, "lab-pbx-1795394246.0");
    assert_eq!(ch.state(), ChannelState::Ring);
    assert_eq!(ch.state_code, Some(4));
    assert_eq!(ch.state_desc, "Ring");
    let caller = ch.caller.as_ref().unwrap();
    assert_eq!(
        (caller.num.as_str(), caller.name.as_str()),
        ("1002", "Ext 1002")
    );
    let connected = ch.connected.as_ref().unwrap();
    assert_eq!(connected.num, "<unknown>", "kept as sent, not interpreted");
    assert_eq!(ch.context, "internal");
    assert_eq!(ch.exten, "1001");
    assert_eq!(ch.priority, Some(1));
    assert_eq!(ch.account_code, "", "empty AccountCode stays empty");
    // A live event: none of the resync-only fields.
    assert_eq!(c.duration_seconds, None);
    assert_eq!(c.application, "");
}

#[test]
fn hangup_carries_cause_16_normal_clearing() {
    let all = normalize_name("basic-calls");
    let hung_up = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::ChannelHungUp(h) => Some(h),
            _ => None,
        })
        .unwrap();
    assert_eq!(hung_up.cause_code, Some(16));
    assert_eq!(hung_up.cause(), HangupCause::NormalClearing);
    assert_eq!(hung_up.cause_text, "Normal Clearing");
    assert_eq!(
        hung_up.channel.as_ref().unwrap().uniqueid,
        "lab-pbx-1795394246.0"
    );
}

#[test]
fn failed_calls_keep_busy_and_unavailable_causes() {
    let all = normalize_name("failures");
    let causes: Vec<_> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::ChannelHungUp(h) => Some(h.cause()),
            _ => None,
        })
        .collect();
    assert!(causes.contains(&HangupCause::UserBusy), "{causes:?}");
    let statuses: Vec<_> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::DialEnded(d) => Some(d.status_raw.as_str()),
            _ => None,
        })
        .collect();
    assert!(statuses.contains(&"BUSY"), "{statuses:?}");
    assert!(statuses.contains(&"CONGESTION"), "{statuses:?}");
}

#[test]
fn cdr_unique_id_is_read_whatever_its_case() {
    let all = normalize_name("basic-calls");
    let cdr = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::CdrRecorded(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(cdr.uniqueid, "lab-pbx-1795394246.0");
    assert_eq!(cdr.channel, "PJSIP/1002-00000000");
    assert_eq!(cdr.destination_channel, "PJSIP/1001-00000001");
    assert_eq!(cdr.disposition_raw, "ANSWERED");
    assert_eq!(cdr.duration, Some(3));
    assert_eq!(cdr.billable_seconds, Some(2));
    assert_eq!(cdr.caller_id, "\"Ext 1002\" <1002>");
    assert!(cdr.extra.is_empty(), "{:?}", cdr.extra);
}

#[test]
fn non_numeric_uniqueid_from_originate_is_kept() {
    let all = normalize_name("actions");
    let created = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::ChannelCreated(c) if n.msg.name() == "Newchannel" => c
                .channel
                .as_ref()
                .filter(|ch| ch.uniqueid == "lab-orig-1")
                .cloned(),
            _ => None,
        })
        .expect("the Originate with ChannelId lab-orig-1");
    assert_eq!(created.linkedid, "lab-orig-1");
    assert_eq!(created.name, "PJSIP/1004-00000014");
    assert_eq!(created.state(), ChannelState::Down);
}

#[test]
fn core_show_channel_entry_is_a_channel_created_with_sync_fields() {
    let all = normalize_name("actions");
    let entry = all
        .iter()
        .find(|n| n.msg.name() == "CoreShowChannel")
        .expect("a CoreShowChannel entry");
    let Kind::ChannelCreated(c) = &entry.kind else {
        panic!("{:?}", entry.kind)
    };
    let ch = c.channel.as_ref().unwrap();
    assert_eq!(ch.uniqueid, "lab-orig-1");
    assert_eq!(ch.state(), ChannelState::Up);
    assert_eq!(c.application, "Wait");
    assert_eq!(c.application_data, "20");
    assert_eq!(c.duration, "00:00:05");
    assert_eq!(c.duration_seconds, Some(5));
    assert_eq!(c.bridge_id, "");
}

#[test]
fn iax2_peer_entry_status_is_parsed_with_its_latency() {
    let all = normalize_name("failures");
    let peers: Vec<_> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::Iax2PeerListed(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(peers.len(), 3, "{peers:?}");
    let carrier = peers.iter().find(|p| p.name == "carrier-iax").unwrap();
    assert_eq!(carrier.status(), QualifyStatus::Reachable);
    assert_eq!(carrier.latency_ms, Some(1));
    assert_eq!(carrier.status_raw, "OK (1 ms)");
    assert_eq!(carrier.username, "pbxa");
    assert_eq!(carrier.ip_address, "127.0.0.2");
    assert_eq!(carrier.port, Some(4569));
    assert_eq!(carrier.dynamic, Some(false));
    let branch = peers.iter().find(|p| p.name == "branch-iax").unwrap();
    assert_eq!(branch.status(), QualifyStatus::Unreachable);
    assert_eq!(branch.latency_ms, None);
    let phone = peers.iter().find(|p| p.name == "iaxphone").unwrap();
    assert_eq!(phone.ip_address, "", "(null) is no address");
    assert_eq!(phone.port, None);
    assert_eq!(phone.status(), QualifyStatus::Unknown);
}

#[test]
fn iaxpeers_entries_split_name_and_user() {
    // actions.ami has `IAXpeers` answers: `Channeltype: IAX2`,
    // `ObjectName: carrier-iax/pbxa`, no ActionID.
    let all = normalize_name("actions");
    let peer = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::Iax2PeerListed(p)
                if n.msg.get("Channeltype") == Some("IAX2") && p.name == "carrier-iax" =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .expect("IAXpeers entry for carrier-iax");
    assert_eq!(peer.username, "pbxa");
    assert_eq!(peer.port, Some(4569));
}

#[test]
fn outbound_registration_detail_status_is_parsed() {
    let all = normalize_name("basic-calls");
    let regs: BTreeMap<_, _> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::OutboundRegistrationListed(r) => Some((r.name.clone(), r.clone())),
            _ => None,
        })
        .collect();
    let carrier = &regs["carrier-reg"];
    assert_eq!(carrier.status(), RegistrationStatus::Registered);
    assert_eq!(carrier.status_raw, "Registered");
    assert_eq!(carrier.client_uri, "sip:pbxa@127.0.0.2:5060");
    assert_eq!(carrier.server_uri, "sip:127.0.0.2:5060");
    assert_eq!(carrier.expiration, Some(120));
    assert_eq!(carrier.outbound_auth, "carrier-auth");
    assert_eq!(regs["itsp-down-reg"].status(), RegistrationStatus::Rejected);
}

#[test]
fn device_state_change_list_item_and_live_event_map_to_the_same_kind() {
    let all = normalize_name("basic-calls");
    let item = all
        .iter()
        .find(|n| n.msg.name() == "DeviceStateChange" && n.msg.kind() == MessageKind::ListItem)
        .unwrap();
    let live = all
        .iter()
        .find(|n| n.msg.name() == "DeviceStateChange" && n.msg.kind() == MessageKind::Event)
        .unwrap();
    assert_eq!(kind_name(&item.kind), "DeviceStateChanged");
    assert_eq!(kind_name(&live.kind), kind_name(&item.kind));
    let (Kind::DeviceStateChanged(i), Kind::DeviceStateChanged(l)) = (&item.kind, &live.kind)
    else {
        unreachable!()
    };
    assert_eq!(i.device, "PJSIP/carrier-pjsip");
    assert_eq!(i.state(), DeviceState::NotInuse);
    assert_eq!(i.state_raw, "NOT_INUSE");
    assert_eq!(l.device, "PJSIP/1001");
    assert_eq!(l.state(), DeviceState::Ringing);
}

#[test]
fn endpoint_list_entries_say_which_endpoints_are_trunks() {
    let all = normalize_name("basic-calls");
    let endpoints: BTreeMap<_, _> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::EndpointListed(e) => Some((e.name.clone(), e.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(endpoints.len(), 23);
    let ext = &endpoints["1001"];
    assert_eq!(ext.device_state(), DeviceState::NotInuse);
    assert_eq!(ext.device_state_raw, "Not in use");
    assert_eq!(ext.contacts, ["1001/sip:1001@127.0.0.1:5080"]);
    assert!(ext.outbound_auths.is_empty());
    assert_eq!(endpoints["1016"].device_state(), DeviceState::Unavailable);
    assert_eq!(endpoints["carrier-pjsip"].outbound_auths, ["carrier-auth"]);
}

#[test]
fn contact_list_and_contact_status_carry_aor_uri_status_and_rtt() {
    let all = normalize_name("basic-calls");
    let listed = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::ContactListed(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(listed.aor, "1001");
    assert_eq!(listed.endpoint, "1001");
    assert_eq!(listed.uri, "sip:1001@127.0.0.1:5080");
    assert_eq!(listed.status_raw, "Reachable");
    assert_eq!(listed.rtt_usec, Some(1526));
    assert_eq!(listed.user_agent, "sipp-lab-phone");
    assert_eq!(listed.via_address, "127.0.0.1:5099");

    let boot = normalize_name("boot-and-sync");
    let status = boot
        .iter()
        .find_map(|n| match &n.kind {
            Kind::ContactStatusChanged(c) if c.aor == "1001" && c.status_raw == "Reachable" => {
                Some(c)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(status.uri, "sip:1001@127.0.0.1:5080");
    assert_eq!(status.endpoint_name, "1001");
    assert_eq!(status.rtt_usec, Some(1526));
}

#[test]
fn iax2_peer_status_is_told_apart_from_pjsip_peer_status() {
    let all = normalize_name("trunks-sample");
    let iax: Vec<_> = all
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::Iax2PeerStatusChanged(p) => Some(p.status_raw.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(iax, ["Unreachable", "Reachable"]);
    let boot = normalize_name("boot-and-sync");
    assert!(boot.iter().any(|n| matches!(
        &n.kind,
        Kind::PeerStatusChanged(p) if p.peer == "PJSIP/1001" && p.channel_type == "PJSIP"
    )));
}

#[test]
fn queue_events_carry_member_and_caller() {
    let all = normalize_name("queue-conf-sample");
    let added = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::QueueMemberAdded(a) => a.member.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(added.queue, "sales");
    assert_eq!(added.interface, "PJSIP/1007");
    assert_eq!(added.name, "Gina");
    let listed = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::QueueMemberListed(m) => m.member.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(listed.queue, "support");
    assert_eq!(
        listed.interface, "PJSIP/1001",
        "Location of a QueueStatus entry"
    );
    assert_eq!(listed.status(), DeviceState::NotInuse);
    let abandoned = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::QueueCallerAbandoned(a) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(abandoned.queue, "sales");
    assert!(abandoned.hold_time.is_some());
    let params = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::QueueParamsListed(p) => Some(p),
            _ => None,
        })
        .unwrap();
    assert_eq!(params.hold_time, Some(0), "`Holdtime` read as HoldTime");
    assert_eq!(params.strategy, "rrmemory");
}

#[test]
fn rtcp_reports_are_summarised() {
    let all = normalize_name("queue-conf-sample");
    let received = all
        .iter()
        .find_map(|n| match &n.kind {
            Kind::RtcpReport(r) if r.direction() == RtcpDirection::Received => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        received.channel.as_ref().unwrap().name,
        "PJSIP/carrier-pjsip-0000005c"
    );
    assert_eq!(received.ssrc, "0x1202d745");
    assert_eq!(received.rtt, Some(0.0));
    assert_eq!(received.jitter, Some(1.0));
    assert_eq!(received.fraction_lost, Some(0));
    assert_eq!(received.cumulative_lost, Some(0));
    assert_eq!(received.reports.len(), 1);
    assert!(all.iter().any(|n| matches!(
        &n.kind,
        Kind::RtcpReport(r) if r.direction() == RtcpDirection::Sent && r.sent_packets.is_some()
    )));
}

#[test]
fn every_normalized_envelope_survives_a_protobuf_round_trip() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_394_000);
    let mut total = 0u64;
    for (file, bytes) in ringside_testkit::corpus::transcripts() {
        for (i, n) in normalize_transcript(&bytes, &mut Normalizer::new())
            .into_iter()
            .enumerate()
        {
            let seq = i as u64 + 1;
            let stamp = Stamp {
                tenant: "acme",
                pbx: "lab-pbx",
                epoch: 3,
                sequence: seq,
                received_at: start + Duration::from_millis(seq),
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            };
            let ctx = if n.msg.kind() == MessageKind::ListItem {
                Ctx::sync("sync-1", action_of(&n.msg))
            } else {
                Ctx::live()
            };
            let env = envelope(&stamp, Some(&n.msg), &ctx, n.kind);
            assert_eq!(env.sync, n.msg.kind() == MessageKind::ListItem);
            assert_eq!(env.pbx_time, None, "the lab runs timestampevents = no");
            let bytes = env.encode_to_vec();
            let back = Envelope::decode(bytes.as_slice()).unwrap();
            assert_eq!(back, env, "{file} #{i}");
            total += 1;
        }
    }
    assert!(total > 10_000, "{total}");
}

/// The stamp the envelope encoding tests write with.
/// A list entry as part of a resync, anything else live.
fn ctx_of(msg: &Message) -> Ctx<'_> {
    if msg.kind() == MessageKind::ListItem {
        Ctx::sync("sync-1", action_of(msg))
    } else {
        Ctx::live()
    }
}

/// Every other event carries a trace.
fn every_other_traced(n: usize) -> &'static str {
    if n.is_multiple_of(2) {
        ""
    } else {
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    }
}

fn test_stamp() -> Stamp<'static> {
    Stamp {
        tenant: "acme",
        pbx: "pbx-1",
        epoch: 1_795_395_000_000,
        sequence: 300,
        received_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_395_695_191_787),
        traceparent: "",
    }
}

/// `first`'s messages, then every corpus transcript's.
fn corpus_after(first: &[u8]) -> Vec<Result<Message, ringside_ami::codec::DecodeError>> {
    let mut bytes = first.to_vec();
    for (_, transcript) in ringside_testkit::corpus::transcripts() {
        bytes.extend_from_slice(&transcript);
    }
    decode_all(&bytes).0
}

/// The ingestor writes the envelope of an event without a typed kind straight
/// from the message (`encode_unmapped`). For every such event of the corpus,
/// live and as a resync entry, and for headers without a colon or a value,
/// those are exactly the bytes prost writes for the `Unmapped` kind.
#[test]
fn unmapped_envelopes_written_from_the_message_are_the_bytes_prost_writes() {
    let mut stamp = test_stamp();
    let odd =
        b"Event: Odd\r\nNoColonHere\r\nEmpty:\r\n: no key\r\nTimestamp: 1795395695.191787\r\n\r\n";
    let items = corpus_after(odd);
    let mut normalizer = Normalizer::new();
    let (mut checked, mut names) = (0, std::collections::BTreeSet::new());
    for msg in items.into_iter().filter_map(Result::ok) {
        let ctx = ctx_of(&msg);
        let Some(ringside_events::Normalized::Unmapped) = normalizer.normalize_typed(&msg, &ctx)
        else {
            continue;
        };
        stamp.sequence += 1;
        stamp.traceparent = every_other_traced(checked);
        let by_prost = envelope(
            &stamp,
            Some(&msg),
            &ctx,
            ringside_events::Normalized::Unmapped.into_kind(&msg),
        )
        .encode_to_vec();
        assert_eq!(
            ringside_events::encode_unmapped(&stamp, &msg, &ctx),
            by_prost,
            "{msg:?}"
        );
        checked += 1;
        names.insert(msg.name().to_owned());
    }
    assert!(
        names.contains("VarSet") && names.contains("Odd"),
        "{names:?}"
    );
    assert!(
        checked > 3_000,
        "the corpus's unmapped events were checked ({checked})"
    );
}

/// The ingestor encodes typed events with `encode_envelope`, from borrowed
/// fields. For every typed event and list entry of the corpus (live and as
/// resync entries, with and without a trace, one with Asterisk's
/// `Timestamp:`), and for the sync brackets, which carry the sync id but are
/// not entries, those are exactly the bytes prost writes for the envelope.
#[test]
fn typed_envelopes_encoded_from_borrowed_fields_are_the_bytes_prost_writes() {
    use ringside_events::lifecycle;
    use ringside_proto::events::v1::SyncReason;

    let mut stamp = test_stamp();
    let stamped = b"Event: Hangup\r\nChannel: PJSIP/100-00000001\r\nUniqueid: 1.1\r\nCause: 16\r\nTimestamp: 1795395695.191787\r\n\r\n";
    let items = corpus_after(stamped);
    let mut normalizer = Normalizer::new();
    let check = |stamp: &Stamp<'_>, source: Option<&Message>, ctx: &Ctx<'_>, kind: Kind| {
        let ours = ringside_events::encode_envelope(stamp, source, ctx, &kind);
        let by_prost = envelope(stamp, source, ctx, kind).encode_to_vec();
        assert_eq!(ours, by_prost, "{source:?}");
    };
    let (mut checked, mut with_pbx_time) = (0, 0);
    for msg in items.into_iter().filter_map(Result::ok) {
        let ctx = ctx_of(&msg);
        let Some(ringside_events::Normalized::Typed(kind)) = normalizer.normalize_typed(&msg, &ctx)
        else {
            continue;
        };
        stamp.sequence += 1;
        stamp.traceparent = every_other_traced(checked);
        with_pbx_time += usize::from(msg.get("Timestamp").is_some());
        check(&stamp, Some(&msg), &ctx, kind);
        checked += 1;
    }
    let sync = Ctx::sync("sync-1", "PJSIPShowEndpoints");
    check(
        &stamp,
        None,
        &sync,
        lifecycle::sync_started(SyncReason::Connected, ""),
    );
    check(&stamp, None, &sync, lifecycle::sync_completed(Vec::new()));
    // Proto3 defaults (zero epoch and sequence, no tenant) are not written.
    let zero = Stamp {
        tenant: "",
        epoch: 0,
        sequence: 0,
        ..stamp
    };
    check(
        &zero,
        None,
        &Ctx::live(),
        lifecycle::connected("Asterisk Call Manager/9.0.0", None),
    );
    assert!(with_pbx_time >= 1, "a message with Timestamp: was checked");
    assert!(
        checked > 3_000,
        "the corpus's typed events were checked ({checked})"
    );
}
