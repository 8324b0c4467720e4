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

use serde::{Deserialize, Serialize};

use crate::views::{Bridge, Call, Channel, Conference, Endpoint, PbxStatus, Queue, Snapshot, Trunk};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub tenant: String,
    /// The tenant's delta sequence: 1, 2, 3… without holes.
    pub seq: u64,
    pub pbx: String,
    pub view: View,
    pub op: Op,
    /// The entry's key within (tenant, pbx, view): see [`key_of`].
    pub key: String,
    /// The whole new entry for `upsert`; absent for `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Entry>,
}

/// The derived entries of one PBX as last published, by (view, key).
pub type Published = BTreeMap<(View, String), Entry>;

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

/// The entries of a one-PBX snapshot, by (view, key).
pub fn entries_of(snapshot: Snapshot) -> Published {
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
    let all = pbxs
        .into_iter()
        .map(|e| (View::Pbxs, Entry::Pbx(e)))
        .chain(endpoints.into_iter().map(|e| (View::Endpoints, Entry::Endpoint(e))))
        .chain(trunks.into_iter().map(|e| (View::Trunks, Entry::Trunk(e))))
        .chain(channels.into_iter().map(|e| (View::Channels, Entry::Channel(e))))
        .chain(calls.into_iter().map(|e| (View::Calls, Entry::Call(e))))
        .chain(bridges.into_iter().map(|e| (View::Bridges, Entry::Bridge(e))))
        .chain(queues.into_iter().map(|e| (View::Queues, Entry::Queue(e))))
        .chain(conferences.into_iter().map(|e| (View::Conferences, Entry::Conference(e))));
    all.map(|(view, entry)| ((view, key_of(&entry)), entry))
        .collect()
}

/// The changes from `old` to `new`, in (view, key) order, without sequence
/// numbers (the caller numbers them). Removed entries come back with their
/// last value in `removed` (call records are made from ended calls).
pub fn diff(old: &Published, new: &Published, removed: &mut Vec<Entry>) -> Vec<(View, Op, String, Option<Entry>)> {
    let mut out = Vec::new();
    let mut a = old.iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((ka, va)), None) => {
                out.push((ka.0, Op::Remove, ka.1.clone(), None));
                removed.push((*va).clone());
                a.next();
            }
            (None, Some((kb, vb))) => {
                out.push((kb.0, Op::Upsert, kb.1.clone(), Some((*vb).clone())));
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    out.push((ka.0, Op::Remove, ka.1.clone(), None));
                    removed.push((*va).clone());
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push((kb.0, Op::Upsert, kb.1.clone(), Some((*vb).clone())));
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        out.push((kb.0, Op::Upsert, kb.1.clone(), Some((*vb).clone())));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
    out
}

/// Applies deltas to a snapshot-derived entry map: what a client does.
/// Used by tests to check that snapshot + deltas = the views.
pub fn apply_to(entries: &mut BTreeMap<(String, View, String), Entry>, delta: &Delta) {
    let key = (delta.pbx.clone(), delta.view, delta.key.clone());
    match (&delta.op, &delta.value) {
        (Op::Upsert, Some(v)) => {
            entries.insert(key, v.clone());
        }
        _ => {
            entries.remove(&key);
        }
    }
}
