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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{ChannelSnapshot, Envelope};

use crate::deltas::{self, Delta, Entry, Op, Published, View, ViewSet};
use crate::pbx::{PbxView, call_key};
use crate::projection::event_time_ms;
use crate::records::{self, CallNotes, CallRecord};
use crate::views::Snapshot;
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
    /// Notes of calls in progress, by (tenant, pbx, linkedid).
    #[serde(with = "crate::persist::pairs")]
    notes: BTreeMap<(String, String, String), CallNotes>,
    /// The last stream sequence applied (set by the service).
    stream_seq: u64,
}

/// Projection + deltas + call records.
#[derive(Debug, Default)]
pub struct Engine {
    state: Persisted,
    /// What was last published per tenant, then PBX (derived; rebuilt on
    /// load). Nested rather than keyed by a pair so that an event finds its
    /// PBX's maps by `&str`, without building an owned key.
    published: BTreeMap<String, BTreeMap<String, Published>>,
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
        let applied = self.state.projection.apply(env);
        let mut out = Output {
            applied,
            deltas: Vec::new(),
            records: Vec::new(),
        };
        if applied != Applied::Applied {
            return out;
        }
        self.take_notes(env);

        let views = match &env.kind {
            // A resync entry goes to the staging view: nothing visible
            // changes until SyncCompleted swaps it in.
            Some(Kind::SyncStarted(_) | Kind::SyncCompleted(_)) => ViewSet::ALL,
            Some(_) if env.sync => ViewSet::NONE,
            Some(kind) => ViewSet::affected_by(kind),
            None => ViewSet::NONE,
        };
        let published = published_of(&mut self.published, &env.tenant, &env.pbx);
        let mut changes = Vec::new();
        let mut removed = Vec::new();
        let channels = match &env.kind {
            Some(kind) if !env.sync && !self.whole_views_only => channel_snapshots(kind),
            _ => Vec::new(),
        };
        let live = self.state.projection.live_view(&env.tenant, &env.pbx);
        if let (false, Some(live)) = (channels.is_empty(), live) {
            // A channel event changes a few entries: derive only those, so
            // its cost does not grow with the PBX's size.
            keyed_changes(live, &channels, published, &mut changes, &mut removed);
        } else {
            let new =
                deltas::entries_of(self.state.projection.views_of(&env.tenant, &env.pbx, views));
            for (view, new) in View::ALL.into_iter().zip(new) {
                if views.contains(view) {
                    let old = std::mem::replace(&mut published[view as usize], new);
                    deltas::diff(
                        view,
                        old,
                        &published[view as usize],
                        &mut changes,
                        &mut removed,
                    );
                }
            }
        }

        let seq = match self.state.seqs.get_mut(&env.tenant) {
            Some(seq) => seq,
            None => self.state.seqs.entry(env.tenant.clone()).or_default(),
        };
        out.deltas = changes
            .into_iter()
            .map(|(view, op, key, value)| {
                *seq += 1;
                Delta {
                    tenant: env.tenant.clone(),
                    seq: *seq,
                    pbx: env.pbx.clone(),
                    view,
                    op,
                    key,
                    value,
                }
            })
            .collect();

        for delta in &out.deltas {
            if let Some(Entry::Call(call)) = &delta.value {
                self.state
                    .notes
                    .entry((env.tenant.clone(), env.pbx.clone(), call.id.clone()))
                    .or_default()
                    .saw(call);
            }
        }
        let at = event_time_ms(env);
        let observed_end = matches!(env.kind, Some(Kind::ChannelHungUp(_)));
        for entry in removed {
            if let Entry::Call(call) = entry {
                let notes = self
                    .state
                    .notes
                    .remove(&(env.tenant.clone(), env.pbx.clone(), call.id.clone()))
                    .unwrap_or_default();
                out.records
                    .push(records::record(&call, &notes, at, !observed_end));
            }
        }
        if matches!(env.kind, Some(Kind::SyncCompleted(_))) {
            // Notes of calls the resync did not find will never be used.
            self.state.notes.retain(|(t, p, id), _| {
                *t != env.tenant
                    || *p != env.pbx
                    || published[View::Calls as usize].contains_key(id)
            });
        }
        out
    }

    /// An engine that re-derives whole views after every event (the
    /// reference the keyed derivation of channel events is tested against).
    #[doc(hidden)]
    pub fn deriving_whole_views(mut self) -> Self {
        self.whole_views_only = true;
        self
    }

    /// Records what the views do not keep but a call record needs.
    fn take_notes(&mut self, env: &Envelope) {
        let key = |linkedid: &str| (env.tenant.clone(), env.pbx.clone(), linkedid.to_owned());
        match &env.kind {
            Some(Kind::DialEnded(d)) => {
                if let Some(c) = d.caller.as_ref().or(d.destination.as_ref()) {
                    self.state
                        .notes
                        .entry(key(&c.linkedid))
                        .or_default()
                        .dialed(d.status());
                }
            }
            Some(Kind::ChannelHungUp(h)) => {
                if let Some(c) = &h.channel {
                    let linkedid = if c.linkedid.is_empty() {
                        &c.uniqueid
                    } else {
                        &c.linkedid
                    };
                    self.state.notes.entry(key(linkedid)).or_default().hung_up(
                        c.uniqueid == *linkedid,
                        h.cause_code,
                        &h.cause_text,
                    );
                }
            }
            _ => {}
        }
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
        let mut published = BTreeMap::new();
        for (t, p) in state.projection.pbx_ids() {
            *published_of(&mut published, t, p) =
                deltas::entries_of(state.projection.snapshot_of(t, p));
        }
        Ok(Engine {
            state,
            published,
            whole_views_only: false,
        })
    }
}

/// The published maps of one PBX, made empty the first time.
fn published_of<'a>(
    published: &'a mut BTreeMap<String, BTreeMap<String, Published>>,
    tenant: &str,
    pbx: &str,
) -> &'a mut Published {
    if !published.contains_key(tenant) {
        published.insert(tenant.to_owned(), BTreeMap::new());
    }
    let pbxs = published.get_mut(tenant).expect("inserted above");
    if !pbxs.contains_key(pbx) {
        pbxs.insert(pbx.to_owned(), Published::default());
    }
    pbxs.get_mut(pbx).expect("inserted above")
}

/// The channels a channel event names (empty for any other kind, and for
/// `Newexten`, which names its channel only in unmapped headers).
fn channel_snapshots(kind: &Kind) -> Vec<&ChannelSnapshot> {
    fn one(c: &Option<ChannelSnapshot>) -> Vec<&ChannelSnapshot> {
        c.iter().collect()
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
        Kind::DialBegan(d) => d.caller.iter().chain(d.destination.iter()).collect(),
        Kind::DialEnded(d) => d.caller.iter().chain(d.destination.iter()).collect(),
        Kind::BridgeEntered(b) => one(&b.channel),
        Kind::BridgeLeft(b) => one(&b.channel),
        _ => Vec::new(),
    }
}

/// The changes a channel event made: its channels, their calls (the
/// linkedid now and before), their extensions' channel counts and the
/// bridges they were or are in — in the order a whole-view diff gives.
fn keyed_changes(
    live: &PbxView,
    channels: &[&ChannelSnapshot],
    published: &mut Published,
    changes: &mut Vec<deltas::Change>,
    removed: &mut Vec<Entry>,
) {
    let mut uniqueids = BTreeSet::new();
    let mut calls = BTreeSet::new();
    let mut endpoints = BTreeSet::new();
    let mut bridges = BTreeSet::new();
    // The extension a channel name counts for (PJSIP endpoints that are
    // not trunks show their channel count).
    let extension_of = |name: &str| {
        let (device, _) = name.rsplit_once('-')?;
        match device.split_once('/') {
            Some(("PJSIP", ext)) if !live.is_pjsip_trunk(ext) => Some(ext.to_owned()),
            _ => None,
        }
    };
    for snap in channels {
        uniqueids.insert(snap.uniqueid.clone());
        calls.insert(if snap.linkedid.is_empty() {
            snap.uniqueid.clone()
        } else {
            snap.linkedid.clone()
        });
        endpoints.extend(extension_of(&snap.name));
    }
    for uid in &uniqueids {
        // What the channel was (a rename or a new linkedid moves it from
        // one extension or call to another; a hangup may not name it).
        if let Some(Entry::Channel(old)) = published[View::Channels as usize].get(uid) {
            endpoints.extend(extension_of(&old.name));
            calls.insert(call_key(old).to_owned());
            if !old.bridge.is_empty() {
                bridges.insert(old.bridge.clone());
            }
        }
        if let Some(ch) = live.channel_entry(uid)
            && !ch.bridge.is_empty()
        {
            bridges.insert(ch.bridge.clone());
        }
    }
    let mut keyed = |view: View, keys: BTreeSet<String>, derive: &dyn Fn(&str) -> Option<Entry>| {
        let map = &mut published[view as usize];
        for key in keys {
            let new = derive(&key);
            match (map.get(&key), new) {
                (None, None) => {}
                (Some(_), None) => {
                    let old = map.remove(&key).expect("present");
                    changes.push((view, Op::Remove, key, None));
                    removed.push(old);
                }
                (old, Some(new)) => {
                    if old != Some(&new) {
                        changes.push((view, Op::Upsert, key.clone(), Some(new.clone())));
                        map.insert(key, new);
                    }
                }
            }
        }
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
