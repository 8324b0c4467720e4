//! Wrapping a kind into an [`Envelope`], and the kind's name for subjects.

use std::time::SystemTime;

use ringside_ami::Message;
use ringside_proto::events::v1::Envelope;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::prost_types::Timestamp;

use crate::Ctx;

/// Where and when an event was read: the envelope fields that do not come
/// from the message. Named fields, because epoch and sequence are both `u64`
/// and must not be swapped silently.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub tenant: &'a str,
    pub pbx: &'a str,
    /// Connection epoch of the PBX.
    pub epoch: u64,
    /// Monotonic per (pbx, epoch).
    pub sequence: u64,
    /// When the ingestor read the message.
    pub received_at: SystemTime,
    /// W3C `traceparent` of the ingestor's span, or empty.
    pub traceparent: &'a str,
}

/// Builds the envelope of `kind`.
///
/// `source` is the AMI message the kind was made from (`None` for the
/// ingestor's own kinds): its `Timestamp:` header (manager.conf
/// `timestampevents = yes`) becomes `pbx_time`; without one `pbx_time` stays
/// unset. `ctx.sync` marks a resync list entry (`sync`, `sync_id`);
/// SyncStarted/SyncCompleted carry the sync id but are not entries.
pub fn envelope(
    stamp: &Stamp<'_>,
    source: Option<&Message>,
    ctx: &Ctx<'_>,
    kind: Kind,
) -> Envelope {
    let head = Head::new(stamp, source, ctx, &kind);
    Envelope {
        tenant: stamp.tenant.to_owned(),
        pbx: stamp.pbx.to_owned(),
        epoch: stamp.epoch,
        sequence: stamp.sequence,
        received_at: Some(head.received_at),
        pbx_time: head.pbx_time,
        sync: head.sync,
        sync_id: head.sync_id.to_owned(),
        traceparent: stamp.traceparent.to_owned(),
        tracestate: String::new(),
        kind: Some(kind),
    }
}

/// The kind name (subject token) of an event without a typed kind, which
/// [`encode_unmapped`] writes without building its `Kind`.
pub const UNMAPPED: &str = "Unmapped";

/// The encoded envelope of `kind`: byte for byte what
/// `envelope(stamp, source, ctx, kind).encode_to_vec()` gives (a test checks
/// it on the whole corpus), without copying the stamp's strings into an
/// [`Envelope`] first. The ingestor encodes every event this way.
pub fn encode_envelope(
    stamp: &Stamp<'_>,
    source: Option<&Message>,
    ctx: &Ctx<'_>,
    kind: &Kind,
) -> Vec<u8> {
    let head = Head::new(stamp, source, ctx, kind);
    let len = head.encoded_len() + kind.encoded_len();
    let mut buf = Vec::with_capacity(len);
    head.encode(&mut buf);
    kind.encode(&mut buf);
    debug_assert_eq!(buf.len(), len, "Head::encoded_len is what it writes");
    buf
}

/// The encoded envelope of an event without a typed kind: byte for byte
/// what `envelope(stamp, Some(m), ctx, Kind::Unmapped(..)).encode_to_vec()`
/// gives (a test checks it on the whole corpus), written straight from the
/// message's text.
///
/// VarSet alone is about 60% of a real PBX's events and has no typed kind.
/// Building the `Unmapped` message first copies every header into two owned
/// strings, only to encode and drop them; without that copy, normalizing and
/// encoding a loaded PBX's traffic takes 37% less time (`benches/encode.rs`).
/// `Unmapped` is the envelope's highest field number, so prost would write it
/// last: the rest of the envelope is written first and the kind appended.
pub fn encode_unmapped(stamp: &Stamp<'_>, m: &Message, ctx: &Ctx<'_>) -> Vec<u8> {
    use ringside_proto::prost::encoding::{WireType, encode_key, encode_varint};

    /// Tags of `Envelope.kind.unmapped`, `Unmapped.name`, `Unmapped.headers`,
    /// `Header.key` and `Header.value` (envelope.proto, common.proto).
    const UNMAPPED: u32 = 1000;
    const NAME: u32 = 1;
    const HEADERS: u32 = 2;
    const KEY: u32 = 1;
    const VALUE: u32 = 2;

    fn header_len(h: &ringside_ami::Header<'_>) -> usize {
        string_len(KEY, h.key) + h.value.map_or(0, |v| field_len(VALUE, v.len()))
    }

    let head = Head::new(stamp, Some(m), ctx, &Kind::Unmapped(Default::default()));
    let name = m.name();
    let unmapped_len = string_len(NAME, name)
        + m.headers()
            .map(|h| field_len(HEADERS, header_len(&h)))
            .sum::<usize>();
    let len = head.encoded_len() + field_len(UNMAPPED, unmapped_len);
    let mut buf = Vec::with_capacity(len);
    head.encode(&mut buf);
    encode_key(UNMAPPED, WireType::LengthDelimited, &mut buf);
    encode_varint(unmapped_len as u64, &mut buf);
    put_string(NAME, name, &mut buf);
    for h in m.headers() {
        encode_key(HEADERS, WireType::LengthDelimited, &mut buf);
        encode_varint(header_len(&h) as u64, &mut buf);
        put_string(KEY, h.key, &mut buf);
        if let Some(value) = h.value {
            put_field(VALUE, value.as_bytes(), &mut buf);
        }
    }
    debug_assert_eq!(buf.len(), len, "the lengths are what is written");
    buf
}

/// The envelope's fields before its kind (tags 1 to 10), borrowed: the one
/// place their rules live; [`envelope`] copies them into owned strings.
struct Head<'a> {
    stamp: &'a Stamp<'a>,
    received_at: Timestamp,
    pbx_time: Option<Timestamp>,
    sync: bool,
    sync_id: &'a str,
}

impl<'a> Head<'a> {
    fn new(stamp: &'a Stamp<'a>, source: Option<&Message>, ctx: &'a Ctx<'a>, kind: &Kind) -> Self {
        let bracket = matches!(kind, Kind::SyncStarted(_) | Kind::SyncCompleted(_));
        Head {
            stamp,
            received_at: Timestamp::from(stamp.received_at),
            pbx_time: source
                .and_then(|m| m.get("Timestamp"))
                .and_then(parse_ami_timestamp),
            sync: ctx.sync.is_some() && !bracket,
            sync_id: ctx.sync.map_or("", |s| s.id),
        }
    }

    fn encoded_len(&self) -> usize {
        use ringside_proto::prost::encoding::{bool, message, uint64};
        let s = self.stamp;
        string_len(1, s.tenant)
            + string_len(2, s.pbx)
            + if s.epoch != 0 {
                uint64::encoded_len(3, &s.epoch)
            } else {
                0
            }
            + if s.sequence != 0 {
                uint64::encoded_len(4, &s.sequence)
            } else {
                0
            }
            + message::encoded_len(5, &self.received_at)
            + self
                .pbx_time
                .as_ref()
                .map_or(0, |t| message::encoded_len(6, t))
            + if self.sync {
                bool::encoded_len(7, &true)
            } else {
                0
            }
            + string_len(8, self.sync_id)
            + string_len(9, s.traceparent)
    }

    /// Written in tag order, as prost writes them; proto3 defaults are not
    /// written. `tracestate` (10) is always empty here.
    fn encode(&self, buf: &mut Vec<u8>) {
        use ringside_proto::prost::encoding::{bool, message, uint64};
        let s = self.stamp;
        put_string(1, s.tenant, buf);
        put_string(2, s.pbx, buf);
        if s.epoch != 0 {
            uint64::encode(3, &s.epoch, buf);
        }
        if s.sequence != 0 {
            uint64::encode(4, &s.sequence, buf);
        }
        message::encode(5, &self.received_at, buf);
        if let Some(t) = &self.pbx_time {
            message::encode(6, t, buf);
        }
        if self.sync {
            bool::encode(7, &true, buf);
        }
        put_string(8, self.sync_id, buf);
        put_string(9, s.traceparent, buf);
    }
}

/// A length-delimited field of `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    use ringside_proto::prost::encoding::{encoded_len_varint, key_len};
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A proto3 string: not written when empty.
fn string_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        field_len(tag, value.len())
    }
}

fn put_field(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    use ringside_proto::prost::encoding::{WireType, encode_key, encode_varint};
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A proto3 string: not written when empty.
fn put_string(tag: u32, value: &str, buf: &mut Vec<u8>) {
    if !value.is_empty() {
        put_field(tag, value.as_bytes(), buf);
    }
}

/// Asterisk's `Timestamp: 1795395695.191787` (seconds since the epoch with a
/// fraction), read exactly (no float rounding).
pub fn parse_ami_timestamp(v: &str) -> Option<Timestamp> {
    let v = v.trim();
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let seconds: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        let scale = 10i32.pow(9 - frac.len() as u32);
        frac.parse::<i32>().ok()? * scale
    };
    Some(Timestamp { seconds, nanos })
}

/// The PascalCase name of a kind: the `<EventKind>` token of
/// `ringside.v1.<tenant>.<pbx>.ev.<EventKind>`.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Connected(_) => "Connected",
        Kind::Disconnected(_) => "Disconnected",
        Kind::FullyBooted(_) => "FullyBooted",
        Kind::Shutdown(_) => "Shutdown",
        Kind::Reload(_) => "Reload",
        Kind::SyncStarted(_) => "SyncStarted",
        Kind::SyncCompleted(_) => "SyncCompleted",
        Kind::EndpointListed(_) => "EndpointListed",
        Kind::DeviceStateChanged(_) => "DeviceStateChanged",
        Kind::PeerStatusChanged(_) => "PeerStatusChanged",
        Kind::SipPeerListed(_) => "SipPeerListed",
        Kind::ContactStatusChanged(_) => "ContactStatusChanged",
        Kind::ContactListed(_) => "ContactListed",
        Kind::OutboundRegistrationChanged(_) => "OutboundRegistrationChanged",
        Kind::OutboundRegistrationListed(_) => "OutboundRegistrationListed",
        Kind::RegistryEntryListed(_) => "RegistryEntryListed",
        Kind::Iax2PeerListed(_) => "Iax2PeerListed",
        Kind::Iax2PeerStatusChanged(_) => "Iax2PeerStatusChanged",
        Kind::ChannelCreated(_) => "ChannelCreated",
        Kind::ChannelStateChanged(_) => "ChannelStateChanged",
        Kind::CallerIdChanged(_) => "CallerIdChanged",
        Kind::ConnectedLineChanged(_) => "ConnectedLineChanged",
        Kind::ChannelHungUp(_) => "ChannelHungUp",
        Kind::DialBegan(_) => "DialBegan",
        Kind::DialEnded(_) => "DialEnded",
        Kind::ChannelHeld(_) => "ChannelHeld",
        Kind::ChannelUnheld(_) => "ChannelUnheld",
        Kind::BlindTransferred(_) => "BlindTransferred",
        Kind::AttendedTransferred(_) => "AttendedTransferred",
        Kind::MusicOnHoldStarted(_) => "MusicOnHoldStarted",
        Kind::MusicOnHoldStopped(_) => "MusicOnHoldStopped",
        Kind::BridgeCreated(_) => "BridgeCreated",
        Kind::BridgeEntered(_) => "BridgeEntered",
        Kind::BridgeLeft(_) => "BridgeLeft",
        Kind::BridgeDestroyed(_) => "BridgeDestroyed",
        Kind::BridgeListed(_) => "BridgeListed",
        Kind::QueueCallerJoined(_) => "QueueCallerJoined",
        Kind::QueueCallerLeft(_) => "QueueCallerLeft",
        Kind::QueueCallerAbandoned(_) => "QueueCallerAbandoned",
        Kind::QueueMemberAdded(_) => "QueueMemberAdded",
        Kind::QueueMemberRemoved(_) => "QueueMemberRemoved",
        Kind::QueueMemberStatusChanged(_) => "QueueMemberStatusChanged",
        Kind::QueueMemberPauseChanged(_) => "QueueMemberPauseChanged",
        Kind::AgentCalled(_) => "AgentCalled",
        Kind::AgentConnected(_) => "AgentConnected",
        Kind::AgentCompleted(_) => "AgentCompleted",
        Kind::QueueParamsListed(_) => "QueueParamsListed",
        Kind::QueueMemberListed(_) => "QueueMemberListed",
        Kind::QueueEntryListed(_) => "QueueEntryListed",
        Kind::ConfbridgeStarted(_) => "ConfbridgeStarted",
        Kind::ConfbridgeJoined(_) => "ConfbridgeJoined",
        Kind::ConfbridgeLeft(_) => "ConfbridgeLeft",
        Kind::ConfbridgeEnded(_) => "ConfbridgeEnded",
        Kind::ConfbridgeTalkingChanged(_) => "ConfbridgeTalkingChanged",
        Kind::ConfbridgeMuted(_) => "ConfbridgeMuted",
        Kind::ConfbridgeUnmuted(_) => "ConfbridgeUnmuted",
        Kind::ConfbridgeParticipantListed(_) => "ConfbridgeParticipantListed",
        Kind::ConfbridgeRoomListed(_) => "ConfbridgeRoomListed",
        Kind::RtcpReport(_) => "RtcpReport",
        Kind::CdrRecorded(_) => "CdrRecorded",
        Kind::Unmapped(_) => UNMAPPED,
    }
}

/// Every name [`kind_name`] can return (for subscriptions and validation).
pub const KIND_NAMES: &[&str] = &[
    "Connected",
    "Disconnected",
    "FullyBooted",
    "Shutdown",
    "Reload",
    "SyncStarted",
    "SyncCompleted",
    "EndpointListed",
    "DeviceStateChanged",
    "PeerStatusChanged",
    "SipPeerListed",
    "ContactStatusChanged",
    "ContactListed",
    "OutboundRegistrationChanged",
    "OutboundRegistrationListed",
    "RegistryEntryListed",
    "Iax2PeerListed",
    "Iax2PeerStatusChanged",
    "ChannelCreated",
    "ChannelStateChanged",
    "CallerIdChanged",
    "ConnectedLineChanged",
    "ChannelHungUp",
    "DialBegan",
    "DialEnded",
    "ChannelHeld",
    "ChannelUnheld",
    "BlindTransferred",
    "AttendedTransferred",
    "MusicOnHoldStarted",
    "MusicOnHoldStopped",
    "BridgeCreated",
    "BridgeEntered",
    "BridgeLeft",
    "BridgeDestroyed",
    "BridgeListed",
    "QueueCallerJoined",
    "QueueCallerLeft",
    "QueueCallerAbandoned",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberStatusChanged",
    "QueueMemberPauseChanged",
    "AgentCalled",
    "AgentConnected",
    "AgentCompleted",
    "QueueParamsListed",
    "QueueMemberListed",
    "QueueEntryListed",
    "ConfbridgeStarted",
    "ConfbridgeJoined",
    "ConfbridgeLeft",
    "ConfbridgeEnded",
    "ConfbridgeTalkingChanged",
    "ConfbridgeMuted",
    "ConfbridgeUnmuted",
    "ConfbridgeParticipantListed",
    "ConfbridgeRoomListed",
    "RtcpReport",
    "CdrRecorded",
    UNMAPPED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_proto::prost::Message as _;
    use std::collections::BTreeSet;

    #[test]
    fn ami_timestamps_parse_exactly() {
        assert_eq!(
            parse_ami_timestamp("1795395695.191787"),
            Some(Timestamp {
                seconds: 1_795_395_695,
                nanos: 191_787_000
            })
        );
        assert_eq!(
            parse_ami_timestamp("12"),
            Some(Timestamp {
                seconds: 12,
                nanos: 0
            })
        );
        assert_eq!(parse_ami_timestamp("12.x"), None);
        assert_eq!(parse_ami_timestamp(""), None);
    }

    /// Every oneof field of Envelope decodes to a kind whose name is listed,
    /// and every listed name has a field: found by decoding an empty message
    /// under each possible tag, so a new kind cannot be forgotten here.
    #[test]
    fn kind_names_cover_every_kind_and_are_subject_tokens() {
        let mut found = BTreeSet::new();
        for tag in 11u32..=2047 {
            let mut buf = Vec::new();
            ringside_proto::prost::encoding::encode_key(
                tag,
                ringside_proto::prost::encoding::WireType::LengthDelimited,
                &mut buf,
            );
            buf.push(0);
            if let Some(kind) = Envelope::decode(buf.as_slice()).ok().and_then(|e| e.kind) {
                assert!(found.insert(kind_name(&kind)), "duplicate name at {tag}");
            }
        }
        let listed: BTreeSet<_> = KIND_NAMES.iter().copied().collect();
        assert_eq!(listed.len(), KIND_NAMES.len(), "KIND_NAMES has duplicates");
        assert_eq!(found, listed);
        for name in KIND_NAMES {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name} is not a subject token"
            );
        }
    }
}
