//! Deltas: what changed in the views, entry by entry, numbered per tenant.
//!
//! The [`Projection`](crate::Projection) keeps the views; after each applied
//! envelope the [`Engine`](crate::Engine) derives the affected PBX's entries
//! and compares them with what it published last ([`Published`]). Each
//! difference is one [`Delta`] (`upsert` with the whole new entry, or
//! `remove`), numbered by the tenant's delta sequence. A client that holds a
//! snapshot taken at sequence `n` and applies the deltas after `n` in order
//! has exactly the views (docs/live-views.md is the wire contract).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ringside_proto::events::v1::envelope::Kind;

use crate::pbx::newexten_uniqueid;
use crate::views::{
    Bridge, Call, Channel, Conference, Endpoint, PbxStatus, Queue, Snapshot, Trunk,
};

/// A view of the live state; the last token of its delta subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Pbxs,
    Endpoints,
    Trunks,
    Channels,
    Calls,
    Bridges,
    Queues,
    Conferences,
}

impl View {
    pub const ALL: [View; 8] = [
        View::Pbxs,
        View::Endpoints,
        View::Trunks,
        View::Channels,
        View::Calls,
        View::Bridges,
        View::Queues,
        View::Conferences,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Pbxs => "pbxs",
            View::Endpoints => "endpoints",
            View::Trunks => "trunks",
            View::Channels => "channels",
            View::Calls => "calls",
            View::Bridges => "bridges",
            View::Queues => "queues",
            View::Conferences => "conferences",
        }
    }
}

/// A set of views (a bit per [`View`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSet(u8);

impl ViewSet {
    pub const ALL: ViewSet = ViewSet(0xff);
    pub const NONE: ViewSet = ViewSet(0);

    pub const fn of(views: &[View]) -> ViewSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < views.len() {
            bits |= 1 << views[i] as u8;
            i += 1;
        }
        ViewSet(bits)
    }

    pub fn contains(self, view: View) -> bool {
        self.0 & (1 << view as u8) != 0
    }

    /// The views an event of this kind can change. Deriving only those
    /// after it keeps an event's cost proportional to what it can touch.
    /// Whatever is not listed (lifecycle, resync, kinds added later) may
    /// change anything.
    pub fn affected_by(kind: &Kind) -> ViewSet {
        use View::*;
        const PEERS: ViewSet = ViewSet::of(&[Endpoints, Trunks, Calls]);
        const CHANNELS: ViewSet = ViewSet::of(&[Channels, Calls, Endpoints, Bridges]);
        const BRIDGES: ViewSet = ViewSet::of(&[Bridges, Channels]);
        const QUEUES: ViewSet = ViewSet::of(&[Queues]);
        const CONFERENCES: ViewSet = ViewSet::of(&[Conferences]);
        // A device state, peer status or contact changes how an endpoint
        // or trunk shows, never which endpoints are trunks (what a call's
        // direction and trunk come from).
        const ENDPOINTS: ViewSet = ViewSet::of(&[Endpoints, Trunks]);
        match kind {
            Kind::DeviceStateChanged(_)
            | Kind::PeerStatusChanged(_)
            | Kind::ContactStatusChanged(_) => ENDPOINTS,
            Kind::EndpointListed(_)
            | Kind::SipPeerListed(_)
            | Kind::ContactListed(_)
            | Kind::OutboundRegistrationChanged(_)
            | Kind::OutboundRegistrationListed(_)
            | Kind::RegistryEntryListed(_)
            | Kind::Iax2PeerListed(_)
            | Kind::Iax2PeerStatusChanged(_) => PEERS,
            Kind::ChannelCreated(_)
            | Kind::ChannelStateChanged(_)
            | Kind::CallerIdChanged(_)
            | Kind::ConnectedLineChanged(_)
            | Kind::ChannelHungUp(_)
            | Kind::DialBegan(_)
            | Kind::DialEnded(_)
            | Kind::ChannelHeld(_)
            | Kind::ChannelUnheld(_)
            | Kind::BlindTransferred(_)
            | Kind::AttendedTransferred(_)
            | Kind::MusicOnHoldStarted(_)
            | Kind::MusicOnHoldStopped(_)
            // Entering or leaving a bridge also updates the channel from
            // its snapshot (state, answer time, name): its call and
            // extension can change too.
            | Kind::BridgeEntered(_)
            | Kind::BridgeLeft(_) => CHANNELS,
            Kind::Unmapped(u) if newexten_uniqueid(u).is_some() => CHANNELS,
            // Most of what a PBX sends (`VarSet` above all): re-deriving
            // the channel views for each made apply O(channels).
            Kind::Unmapped(_) => ViewSet::NONE,
            // Quality reports (one per channel every few seconds) and
            // Asterisk's own CDRs feed metrics and rating, not the views.
            Kind::RtcpReport(_) | Kind::CdrRecorded(_) => ViewSet::NONE,
            Kind::BridgeCreated(_)
            | Kind::BridgeDestroyed(_)
            | Kind::BridgeListed(_) => BRIDGES,
            Kind::QueueCallerJoined(_)
            | Kind::QueueCallerLeft(_)
            | Kind::QueueCallerAbandoned(_)
            | Kind::QueueMemberAdded(_)
            | Kind::QueueMemberRemoved(_)
            | Kind::QueueMemberStatusChanged(_)
            | Kind::QueueMemberPauseChanged(_)
            | Kind::AgentCalled(_)
            | Kind::AgentConnected(_)
            | Kind::AgentCompleted(_)
            | Kind::QueueParamsListed(_)
            | Kind::QueueMemberListed(_)
            | Kind::QueueEntryListed(_) => QUEUES,
            Kind::ConfbridgeStarted(_)
            | Kind::ConfbridgeJoined(_)
            | Kind::ConfbridgeLeft(_)
            | Kind::ConfbridgeEnded(_)
            | Kind::ConfbridgeTalkingChanged(_)
            | Kind::ConfbridgeMuted(_)
            | Kind::ConfbridgeUnmuted(_)
            | Kind::ConfbridgeParticipantListed(_)
            | Kind::ConfbridgeRoomListed(_) => CONFERENCES,
            _ => ViewSet::ALL,
        }
    }
}

/// One entry of a view, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Entry {
    Pbx(PbxStatus),
    Endpoint(Endpoint),
    Trunk(Trunk),
    Channel(Channel),
    Call(Call),
    Bridge(Bridge),
    Queue(Queue),
    Conference(Conference),
}

/// `upsert` or `remove`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Upsert,
    Remove,
}

/// One change of one view entry (the JSON of `ringside.v1.<tenant>.view.<view>`).
///
/// The tenant and PBX are shared with every other delta of that PBX, and
/// the entry with what the engine keeps as published: a delta costs no
/// copy of either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub tenant: Arc<str>,
    /// The tenant's delta sequence: 1, 2, 3… without holes.
    pub seq: u64,
    pub pbx: Arc<str>,
    pub view: View,
    pub op: Op,
    /// The entry's key within (tenant, pbx, view): see [`key_of`].
    pub key: String,
    /// The whole new entry for `upsert`; absent for `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Arc<Entry>>,
}

/// The derived entries of one PBX, by view, then key, as last published.
pub type Published = [BTreeMap<String, Arc<Entry>>; 8];

/// The key of an entry within its PBX and view.
pub fn key_of(entry: &Entry) -> String {
    match entry {
        Entry::Pbx(p) => p.pbx.clone(),
        Entry::Endpoint(e) => e.name.clone(),
        Entry::Trunk(t) => format!("{}:{}", t.kind.as_str(), t.name),
        Entry::Channel(c) => c.uniqueid.clone(),
        Entry::Call(c) => c.id.clone(),
        Entry::Bridge(b) => b.id.clone(),
        Entry::Queue(q) => q.name.clone(),
        Entry::Conference(c) => c.name.clone(),
    }
}

/// The entries of a one-PBX snapshot, by view and key.
pub fn entries_of(snapshot: Snapshot) -> [BTreeMap<String, Entry>; 8] {
    let Snapshot {
        pbxs,
        endpoints,
        trunks,
        channels,
        calls,
        bridges,
        queues,
        conferences,
    } = snapshot;
    fn keyed(entries: impl Iterator<Item = Entry>) -> BTreeMap<String, Entry> {
        entries.map(|e| (key_of(&e), e)).collect()
    }
    [
        keyed(pbxs.into_iter().map(Entry::Pbx)),
        keyed(endpoints.into_iter().map(Entry::Endpoint)),
        keyed(trunks.into_iter().map(Entry::Trunk)),
        keyed(channels.into_iter().map(Entry::Channel)),
        keyed(calls.into_iter().map(Entry::Call)),
        keyed(bridges.into_iter().map(Entry::Bridge)),
        keyed(queues.into_iter().map(Entry::Queue)),
        keyed(conferences.into_iter().map(Entry::Conference)),
    ]
}

/// [`entries_of`], each entry shared (what the engine keeps as published).
pub(crate) fn published_of(snapshot: Snapshot) -> Published {
    entries_of(snapshot).map(|view| view.into_iter().map(|(k, e)| (k, Arc::new(e))).collect())
}

/// One change, before it is numbered.
pub type Change = (View, Op, String, Option<Arc<Entry>>);

/// The changes of one view from `old` to `new`, in key order. Removed
/// entries are handed back whole through `removed` (call records are made
/// from ended calls).
pub fn diff(
    view: View,
    old: BTreeMap<String, Arc<Entry>>,
    new: &BTreeMap<String, Arc<Entry>>,
    out: &mut Vec<Change>,
    removed: &mut Vec<Arc<Entry>>,
) {
    let mut a = old.into_iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.as_str().cmp(kb.as_str()),
        };
        match order {
            std::cmp::Ordering::Less => {
                let (key, value) = a.next().expect("peeked");
                out.push((view, Op::Remove, key, None));
                removed.push(value);
            }
            std::cmp::Ordering::Greater => {
                let (key, value) = b.next().expect("peeked");
                out.push((view, Op::Upsert, key.clone(), Some(Arc::clone(value))));
            }
            std::cmp::Ordering::Equal => {
                let (_, va) = a.next().expect("peeked");
                let (key, vb) = b.next().expect("peeked");
                if va != *vb {
                    out.push((view, Op::Upsert, key.clone(), Some(Arc::clone(vb))));
                }
            }
        }
    }
}

/// Applies deltas to a snapshot-derived entry map: what a client does.
/// Used by tests to check that snapshot + deltas = the views.
pub fn apply_to(entries: &mut BTreeMap<(String, View, String), Entry>, delta: &Delta) {
    let key = (delta.pbx.to_string(), delta.view, delta.key.clone());
    match (&delta.op, &delta.value) {
        (Op::Upsert, Some(v)) => {
            entries.insert(key, Entry::clone(v));
        }
        _ => {
            entries.remove(&key);
        }
    }
}
