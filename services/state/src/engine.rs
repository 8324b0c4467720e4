//! The engine: the projection plus what the service publishes from it —
//! numbered deltas and call records — and the state a snapshot persists.
//!
//! Like the projection it is pure and synchronous: `apply` takes one
//! envelope and returns what to publish. The service, `ringside replay` and
//! the tests drive the same engine, so "restart from a snapshot and replay"
//! is checked on exactly the code that runs.
//!
//! Determinism is what makes restarts invisible to clients: the deltas (and
//! their sequence numbers) and records that follow from a persisted engine
//! and a run of envelopes are always the same, so after a restart the
//! service re-publishes what it had published before the crash with the
//! same numbers, and clients drop what they already have.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{ChannelSnapshot, Envelope};

use crate::by_pbx::{ByPbx, slot_of};
use crate::deltas::{self, Delta, Entry, Op, Published, View, ViewSet};
use crate::pbx::{PbxView, call_key, newexten_uniqueid};
use crate::projection::event_time_ms;
use crate::records::{self, CallNotes, CallRecord};
use crate::views::{Snapshot, TrunkKind};
use crate::{Applied, Projection};

/// What one envelope produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub applied: Applied,
    /// In the tenant's sequence order.
    pub deltas: Vec<Delta>,
    /// Calls that ended with this envelope.
    pub records: Vec<CallRecord>,
}

/// The persisted part of an [`Engine`] (what a snapshot holds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    projection: Projection,
    /// Last delta sequence per tenant.
    seqs: BTreeMap<String, u64>,
    /// Notes of calls in progress, by PBX, then linkedid.
    #[serde(with = "crate::by_pbx::triples")]
    notes: ByPbx<BTreeMap<String, CallNotes>>,
    /// The last stream sequence applied (set by the service).
    stream_seq: u64,
}

/// What was last published for one PBX (derived; rebuilt on load).
#[derive(Debug)]
struct PublishedPbx {
    /// Shared by every delta of the PBX.
    tenant: Arc<str>,
    pbx: Arc<str>,
    views: Published,
}

impl PublishedPbx {
    fn new(tenant: &str, pbx: &str, views: Published) -> Self {
        PublishedPbx {
            tenant: tenant.into(),
            pbx: pbx.into(),
            views,
        }
    }
}

/// Projection + deltas + call records.
#[derive(Debug, Default)]
pub struct Engine {
    state: Persisted,
    published: ByPbx<PublishedPbx>,
    /// Re-derive whole views even for channel events (tests compare the two
    /// ways).
    whole_views_only: bool,
}

/// A snapshot that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable state snapshot: {0}")]
pub struct LoadError(#[from] serde_json::Error);

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one envelope and says what to publish.
    pub fn apply(&mut self, env: &Envelope) -> Output {
        // The endpoint a contact named before this event: a contact that
        // moves to another endpoint (or goes) changes that one's entry too.
        let contact_was = match &env.kind {
            Some(Kind::ContactStatusChanged(c)) => self
                .state
                .projection
                .live_view(&env.tenant, &env.pbx)
                .and_then(|live| live.contact_endpoint(&c.aor, &c.uri))
                .map(str::to_owned),
            _ => None,
        };
        let applied = self.state.projection.apply(env);
        let mut out = Output {
            applied,
            deltas: Vec::new(),
            records: Vec::new(),
        };
        if applied != Applied::Applied {
            return out;
        }
        take_notes(&mut self.state.notes, env);
        let seq = match self.state.seqs.get_mut(&env.tenant) {
            Some(seq) => seq,
            None => self.state.seqs.entry(env.tenant.clone()).or_default(),
        };

        let views = match &env.kind {
            // The reference checks the shortcuts below too.
            _ if self.whole_views_only => ViewSet::ALL,
            // A resync entry goes to the staging view: nothing visible
            // changes until SyncCompleted swaps it in.
            Some(Kind::SyncStarted(_) | Kind::SyncCompleted(_)) => ViewSet::ALL,
            Some(_) if env.sync => ViewSet::NONE,
            Some(kind) => ViewSet::affected_by(kind),
            None => ViewSet::NONE,
        };
        if views == ViewSet::NONE {
            // Most of what a PBX sends (`VarSet`) and every resync entry.
            return out;
        }
        let published = self
            .published
            .get_or_insert_with(&env.tenant, &env.pbx, || {
                PublishedPbx::new(&env.tenant, &env.pbx, Published::default())
            });
        let mut changes = Vec::new();
        let mut removed = Vec::new();
        let live = self.state.projection.live_view(&env.tenant, &env.pbx);
        let keyed = match (&env.kind, live) {
            (Some(kind), Some(live)) if !env.sync && !self.whole_views_only => derive_keyed(
                kind,
                live,
                contact_was.as_deref(),
                &mut published.views,
                &mut changes,
                &mut removed,
            ),
            _ => false,
        };
        if !keyed {
            let new =
                deltas::published_of(self.state.projection.views_of(&env.tenant, &env.pbx, views));
            for (view, new) in View::ALL.into_iter().zip(new) {
                if views.contains(view) {
                    let slot = &mut published.views[view as usize];
                    let old = std::mem::replace(slot, new);
                    deltas::diff(view, old, slot, &mut changes, &mut removed);
                }
            }
        }

        out.deltas = changes
            .into_iter()
            .map(|(view, op, key, value)| {
                *seq += 1;
                Delta {
                    tenant: Arc::clone(&published.tenant),
                    seq: *seq,
                    pbx: Arc::clone(&published.pbx),
                    view,
                    op,
                    key,
                    value,
                }
            })
            .collect();

        let notes = self
            .state
            .notes
            .get_or_insert_with(&env.tenant, &env.pbx, BTreeMap::new);
        for delta in &out.deltas {
            if let Some(Entry::Call(call)) = delta.value.as_deref() {
                notes_of(notes, &call.id).saw(call);
            }
        }
        let at = event_time_ms(env);
        let observed_end = matches!(env.kind, Some(Kind::ChannelHungUp(_)));
        for entry in removed {
            if let Entry::Call(call) = &*entry {
                let notes = notes.remove(&call.id).unwrap_or_default();
                out.records
                    .push(records::record(call, notes, at, !observed_end));
            }
        }
        if matches!(env.kind, Some(Kind::SyncCompleted(_))) {
            // Notes of calls the resync did not find will never be used.
            let calls = &published.views[View::Calls as usize];
            notes.retain(|id, _| calls.contains_key(id));
        }
        out
    }

    /// An engine that re-derives every view after every event: the
    /// reference that the keyed derivation of channel events, and the
    /// views [`ViewSet::affected_by`] says an event can change, are tested
    /// against.
    #[doc(hidden)]
    pub fn deriving_whole_views(mut self) -> Self {
        self.whole_views_only = true;
        self
    }

    /// The views of a tenant (or one of its PBXs) and the delta sequence
    /// they include.
    pub fn snapshot(&self, tenant: &str, pbx: Option<&str>) -> (u64, Snapshot) {
        let mut out = Snapshot::default();
        for (t, p) in self.state.projection.pbx_ids() {
            if t == tenant && pbx.is_none_or(|want| want == p) {
                out.merge(self.state.projection.snapshot_of(t, p));
            }
        }
        (self.seq(tenant), out)
    }

    /// The last delta sequence of a tenant (0 before any).
    pub fn seq(&self, tenant: &str) -> u64 {
        self.state.seqs.get(tenant).copied().unwrap_or(0)
    }

    /// The tenants seen.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.state.seqs.keys().map(String::as_str)
    }

    /// The projection (read-only).
    pub fn projection(&self) -> &Projection {
        &self.state.projection
    }

    /// The last stream sequence applied, as set by [`Engine::set_stream_seq`].
    pub fn stream_seq(&self) -> u64 {
        self.state.stream_seq
    }

    /// Notes the stream sequence of the envelope just applied.
    pub fn set_stream_seq(&mut self, seq: u64) {
        self.state.stream_seq = seq;
    }

    /// The engine's state as bytes (JSON), for a snapshot.
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&self.state).expect("engine state is always serializable")
    }

    /// An engine from [`Engine::save`]'s bytes.
    ///
    /// # Errors
    /// [`LoadError`] when the bytes are not a saved engine.
    pub fn load(bytes: &[u8]) -> Result<Self, LoadError> {
        let state: Persisted = serde_json::from_slice(bytes)?;
        let mut published = ByPbx::default();
        for (t, p) in state.projection.pbx_ids() {
            let views = deltas::published_of(state.projection.snapshot_of(t, p));
            published.insert(t, p, PublishedPbx::new(t, p, views));
        }
        Ok(Engine {
            state,
            published,
            whole_views_only: false,
        })
    }
}

/// Records what the views do not keep but a call record needs.
fn take_notes(notes: &mut ByPbx<BTreeMap<String, CallNotes>>, env: &Envelope) {
    fn of<'n>(
        notes: &'n mut ByPbx<BTreeMap<String, CallNotes>>,
        env: &Envelope,
        linkedid: &str,
    ) -> &'n mut CallNotes {
        notes_of(
            notes.get_or_insert_with(&env.tenant, &env.pbx, BTreeMap::new),
            linkedid,
        )
    }
    match &env.kind {
        Some(Kind::DialEnded(d)) => {
            if let Some(c) = d.caller.as_ref().or(d.destination.as_ref()) {
                of(notes, env, &c.linkedid).dialed(d.status());
            }
        }
        Some(Kind::ChannelHungUp(h)) => {
            if let Some(c) = &h.channel {
                let linkedid = if c.linkedid.is_empty() {
                    &c.uniqueid
                } else {
                    &c.linkedid
                };
                of(notes, env, linkedid).hung_up(
                    c.uniqueid == *linkedid,
                    h.cause_code,
                    &h.cause_text,
                );
            }
        }
        _ => {}
    }
}

/// The notes of a call, made empty the first time.
fn notes_of<'a>(notes: &'a mut BTreeMap<String, CallNotes>, linkedid: &str) -> &'a mut CallNotes {
    slot_of(notes, linkedid, CallNotes::default)
}

/// Derives only the entries an event can change, found by their keys, so
/// that its cost does not grow with the PBX's size; false when its kind
/// needs the affected views derived whole.
///
/// `contact_was` is the endpoint a contact event's contact named before it.
fn derive_keyed(
    kind: &Kind,
    live: &PbxView,
    contact_was: Option<&str>,
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
) -> bool {
    if let Some(endpoint) = endpoint_touched(kind) {
        let mut names = Keys::default();
        if let Some(name) = endpoint {
            names.add(Cow::Borrowed(name));
        }
        keyed_endpoint_changes(live, names, published, changes, removed);
        return true;
    }
    if let Kind::ContactStatusChanged(c) = kind {
        // The endpoints that list the contact: the one it names (now and
        // before) and those of its AOR.
        let mut names = Keys::default();
        for name in [
            Some(c.endpoint_name.as_str()),
            live.contact_endpoint(&c.aor, &c.uri),
        ]
        .into_iter()
        .flatten()
        .chain(live.endpoints_of_aor(&c.aor))
        .filter(|n| !n.is_empty())
        {
            names.add(Cow::Borrowed(name));
        }
        if let Some(was) = contact_was.filter(|n| !n.is_empty()) {
            names.add_copy(was);
        }
        keyed_endpoint_changes(live, names, published, changes, removed);
        return true;
    }
    let touched = channels_touched(kind);
    if touched.iter().any(Option::is_some) {
        keyed_changes(
            live,
            touched.into_iter().flatten(),
            published,
            changes,
            removed,
        );
        return true;
    }
    if let Some(name) = queue_touched(kind) {
        keyed_one(View::Queues, name, published, changes, removed, &|k| {
            live.queue_entry(k).map(Entry::Queue)
        });
        return true;
    }
    if let Some(name) = conference_touched(kind) {
        keyed_one(View::Conferences, name, published, changes, removed, &|k| {
            live.conference_entry(k).map(Entry::Conference)
        });
        return true;
    }
    match kind {
        Kind::BridgeCreated(b) => {
            // A new bridge has no channel yet, and a channel's entry does
            // not change when its bridge is created.
            let Some(id) = b.bridge.as_ref().map(|b| b.uniqueid.as_str()) else {
                return true;
            };
            keyed_bridge_changes(live, id, Keys::default(), published, changes, removed);
            true
        }
        Kind::BridgeDestroyed(b) => {
            let Some(id) = b.bridge.as_ref().map(|b| b.uniqueid.as_str()) else {
                return true;
            };
            // The channels that were in it lose their bridge: those the
            // published bridge listed. A bridge never published (its
            // creation was missed) is handled whole.
            let Some(Entry::Bridge(old)) = published[View::Bridges as usize].get(id).map(|e| &**e)
            else {
                return false;
            };
            let mut channels = Keys::default();
            for uid in &old.channels {
                channels.add_copy(uid);
            }
            keyed_bridge_changes(live, id, channels, published, changes, removed);
            true
        }
        _ => false,
    }
}

/// The queue a live queue event changes (a call center's member states
/// change with every call: one queue is derived, not all of them).
fn queue_touched(kind: &Kind) -> Option<&str> {
    match kind {
        Kind::QueueCallerJoined(j) => Some(&j.queue),
        Kind::QueueCallerLeft(l) => Some(&l.queue),
        Kind::QueueCallerAbandoned(a) => Some(&a.queue),
        Kind::QueueMemberAdded(m) => m.member.as_ref().map(|m| m.queue.as_str()),
        Kind::QueueMemberRemoved(m) => m.member.as_ref().map(|m| m.queue.as_str()),
        Kind::QueueMemberStatusChanged(m) => m.member.as_ref().map(|m| m.queue.as_str()),
        Kind::QueueMemberPauseChanged(m) => m.member.as_ref().map(|m| m.queue.as_str()),
        Kind::AgentCalled(c) => c.agent.as_ref().map(|a| a.queue.as_str()),
        Kind::AgentConnected(c) => c.agent.as_ref().map(|a| a.queue.as_str()),
        Kind::AgentCompleted(c) => c.agent.as_ref().map(|a| a.queue.as_str()),
        _ => None,
    }
}

/// The conference a live conference event changes (talk detection fires
/// whenever someone starts or stops speaking).
fn conference_touched(kind: &Kind) -> Option<&str> {
    match kind {
        Kind::ConfbridgeStarted(e) => Some(&e.conference),
        Kind::ConfbridgeEnded(e) => Some(&e.conference),
        Kind::ConfbridgeJoined(e) => Some(&e.conference),
        Kind::ConfbridgeLeft(e) => Some(&e.conference),
        Kind::ConfbridgeTalkingChanged(e) => Some(&e.conference),
        Kind::ConfbridgeMuted(e) => Some(&e.conference),
        Kind::ConfbridgeUnmuted(e) => Some(&e.conference),
        _ => None,
    }
}

/// The change of one entry of one view.
fn keyed_one(
    view: View,
    key: &str,
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
    derive: &dyn Fn(&str) -> Option<Entry>,
) {
    let mut keys = Keys::default();
    keys.add(Cow::Borrowed(key));
    update_keyed(
        &mut published[view as usize],
        view,
        keys,
        derive,
        changes,
        removed,
    );
}

/// The changes of a bridge created or destroyed: its entry, and the
/// entries of `channels` (those that were in it).
fn keyed_bridge_changes(
    live: &PbxView,
    id: &str,
    channels: Keys<'_>,
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
) {
    update_keyed(
        &mut published[View::Channels as usize],
        View::Channels,
        channels,
        &|k| live.channel_entry(k).map(Entry::Channel),
        changes,
        removed,
    );
    keyed_one(View::Bridges, id, published, changes, removed, &|k| {
        live.bridge_entry(k).map(Entry::Bridge)
    });
}

/// The uniqueids of the channels a channel event names (none for any other
/// kind).
fn channels_touched(kind: &Kind) -> [Option<&str>; 2] {
    fn id(c: &Option<ChannelSnapshot>) -> Option<&str> {
        c.as_ref().map(|c| c.uniqueid.as_str())
    }
    fn one(c: &Option<ChannelSnapshot>) -> [Option<&str>; 2] {
        [id(c), None]
    }
    match kind {
        Kind::ChannelCreated(c) => one(&c.channel),
        Kind::ChannelStateChanged(c) => one(&c.channel),
        Kind::CallerIdChanged(c) => one(&c.channel),
        Kind::ConnectedLineChanged(c) => one(&c.channel),
        Kind::ChannelHungUp(c) => one(&c.channel),
        Kind::ChannelHeld(c) => one(&c.channel),
        Kind::ChannelUnheld(c) => one(&c.channel),
        Kind::MusicOnHoldStarted(c) => one(&c.channel),
        Kind::MusicOnHoldStopped(c) => one(&c.channel),
        Kind::DialBegan(d) => [id(&d.caller), id(&d.destination)],
        Kind::DialEnded(d) => [id(&d.caller), id(&d.destination)],
        Kind::BridgeEntered(b) => one(&b.channel),
        Kind::BridgeLeft(b) => one(&b.channel),
        Kind::Unmapped(u) => [newexten_uniqueid(u), None],
        _ => [None, None],
    }
}

/// The keys of the entries an event touches in one view: few, kept in key
/// order without duplicates. Keys are borrowed from the event or the live
/// view where they can be; only a key found in what was published before
/// (a channel's old call or bridge) is copied, and only when it is new.
#[derive(Default)]
struct Keys<'a>(Vec<Cow<'a, str>>);

impl<'a> Keys<'a> {
    fn add(&mut self, key: Cow<'a, str>) {
        if let Err(at) = self.0.binary_search(&key) {
            self.0.insert(at, key);
        }
    }

    fn add_copy(&mut self, key: &str) {
        if let Err(at) = self.0.binary_search_by(|k| k.as_ref().cmp(key)) {
            self.0.insert(at, Cow::Owned(key.to_owned()));
        }
    }
}

/// The extension a channel name counts for (PJSIP endpoints that are not
/// trunks show their channel count).
fn extension_of<'s>(live: &PbxView, name: &'s str) -> Option<&'s str> {
    let (device, _) = name.rsplit_once('-')?;
    match device.split_once('/') {
        Some(("PJSIP", ext)) if !live.is_pjsip_trunk(ext) => Some(ext),
        _ => None,
    }
}

/// The changes a channel event made: its channels, their calls (the
/// linkedid now and before), their extensions' channel counts and the
/// bridges they were or are in — in the order a whole-view diff gives.
///
/// What a channel is now is in the live view (the event is applied); what
/// it was, in the published entry (a rename or a new linkedid moves it
/// from one extension or call to another; a hangup removed it).
fn keyed_changes<'a>(
    live: &'a PbxView,
    touched: impl Iterator<Item = &'a str>,
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
) {
    let mut uniqueids = Keys::default();
    let mut calls = Keys::default();
    let mut endpoints = Keys::default();
    let mut bridges = Keys::default();
    for uid in touched {
        uniqueids.add(Cow::Borrowed(uid));
        if let Some(ch) = live.channel(uid) {
            calls.add(Cow::Borrowed(call_key(ch)));
            if let Some(ext) = extension_of(live, &ch.name) {
                endpoints.add(Cow::Borrowed(ext));
            }
            if !ch.bridge.is_empty() {
                bridges.add(Cow::Borrowed(&ch.bridge));
            }
        }
    }
    for uid in &uniqueids.0 {
        if let Some(Entry::Channel(old)) = published[View::Channels as usize]
            .get(uid.as_ref())
            .map(|e| &**e)
        {
            if let Some(ext) = extension_of(live, &old.name) {
                endpoints.add_copy(ext);
            }
            calls.add_copy(call_key(old));
            if !old.bridge.is_empty() {
                bridges.add_copy(&old.bridge);
            }
        }
    }
    let mut keyed = |view: View, keys: Keys<'_>, derive: &dyn Fn(&str) -> Option<Entry>| {
        update_keyed(
            &mut published[view as usize],
            view,
            keys,
            derive,
            changes,
            removed,
        );
    };
    keyed(View::Endpoints, endpoints, &|k| {
        live.endpoint_entry(k).map(Entry::Endpoint)
    });
    keyed(View::Channels, uniqueids, &|k| {
        live.channel_entry(k).map(Entry::Channel)
    });
    keyed(View::Calls, calls, &|k| live.call_entry(k).map(Entry::Call));
    keyed(View::Bridges, bridges, &|k| {
        live.bridge_entry(k).map(Entry::Bridge)
    });
}

/// The PJSIP endpoint a device state or peer status names (`PJSIP/1001`),
/// the one extension or trunk entry it can change; `Some(None)` for other
/// devices (`Queue:…`, `Custom:…`), which no view shows.
fn endpoint_touched(kind: &Kind) -> Option<Option<&str>> {
    let device = match kind {
        Kind::DeviceStateChanged(d) => &d.device,
        Kind::PeerStatusChanged(p) => &p.peer,
        _ => return None,
    };
    Some(device.strip_prefix("PJSIP/"))
}

/// The changes of a device state, peer status or contact: the entries of
/// the endpoints `names`, as extensions or as trunks. A PBX with thousands
/// of extensions changes device states with every call and contacts with
/// every re-registration; re-deriving them all for each made apply
/// O(endpoints + channels).
fn keyed_endpoint_changes(
    live: &PbxView,
    names: Keys<'_>,
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
) {
    let kind = TrunkKind::PjsipEndpoint.as_str();
    let mut trunks = Keys::default();
    for name in &names.0 {
        trunks.add(Cow::Owned(format!("{kind}:{name}")));
    }
    update_keyed(
        &mut published[View::Endpoints as usize],
        View::Endpoints,
        names,
        &|k| live.endpoint_entry(k).map(Entry::Endpoint),
        changes,
        removed,
    );
    update_keyed(
        &mut published[View::Trunks as usize],
        View::Trunks,
        trunks,
        &|k| {
            let name = k.strip_prefix(kind)?.strip_prefix(':')?;
            live.pjsip_trunk_entry(name).map(Entry::Trunk)
        },
        changes,
        removed,
    );
}

/// Brings the entries of `keys` in one view's published map up to date
/// with `derive`, noting each change in key order.
fn update_keyed(
    map: &mut BTreeMap<String, Arc<Entry>>,
    view: View,
    keys: Keys<'_>,
    derive: &dyn Fn(&str) -> Option<Entry>,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Arc<Entry>>,
) {
    for key in keys.0 {
        let new = derive(&key);
        match (map.get_mut(key.as_ref()), new) {
            (None, None) => {}
            (Some(_), None) => {
                let old = map.remove(key.as_ref()).expect("present");
                changes.push((view, Op::Remove, key.into_owned(), None));
                removed.push(old);
            }
            (Some(old), Some(new)) => {
                if **old != new {
                    let new = Arc::new(new);
                    *old = Arc::clone(&new);
                    changes.push((view, Op::Upsert, key.into_owned(), Some(new)));
                }
            }
            (None, Some(new)) => {
                let new = Arc::new(new);
                let key = key.into_owned();
                map.insert(key.clone(), Arc::clone(&new));
                changes.push((view, Op::Upsert, key, Some(new)));
            }
        }
    }
}
