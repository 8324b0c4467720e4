//! The channel and contact tables of a [`PbxView`](super::PbxView), with the
//! indexes that keep an event's cost independent of the PBX's size.
//!
//! A channel event re-derives the entries it touches: its call (every
//! channel of a linkedid), its extension (how many channels a device has,
//! which contacts an endpoint has) and its bridge (the channels in it).
//! Scanning every channel or contact for those made apply O(channels); the
//! indexes answer them in O(log n + answer).
//!
//! Every mutation goes through these types, which keep the indexes in step
//! (a channel's linkedid, name or bridge can change under `modify`; a
//! contact's endpoint likewise). The indexes are derived data: they are not
//! serialized (a snapshot has the same JSON as before they existed) and are
//! rebuilt when a snapshot is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ContactRec, call_key};
use crate::views::Channel;

/// The device of a channel name: `PJSIP/1001` of `PJSIP/1001-0000002a`.
pub(crate) fn device_of(name: &str) -> Option<&str> {
    name.rsplit_once('-').map(|(device, _)| device)
}

/// What a channel is indexed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ChannelKeys {
    call: String,
    /// Empty when the name has no device part.
    device: String,
    bridge: String,
}

impl ChannelKeys {
    /// Becomes the keys of `ch`, reusing its buffers.
    fn set_from(&mut self, ch: &Channel) {
        self.call.clear();
        self.call.push_str(call_key(ch));
        self.device.clear();
        self.device.push_str(device_of(&ch.name).unwrap_or(""));
        self.bridge.clone_from(&ch.bridge);
    }

    fn same_as(&self, ch: &Channel) -> bool {
        self.call == call_key(ch)
            && self.device == device_of(&ch.name).unwrap_or("")
            && self.bridge == ch.bridge
    }
}

/// Live channels by uniqueid, indexed by call, device and bridge.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channels {
    by_uniqueid: BTreeMap<String, Channel>,
    /// Call key (linkedid, else uniqueid) → uniqueids of its legs.
    calls: HashMap<String, BTreeSet<String>>,
    /// Device (`PJSIP/1001`) → how many channels it has.
    devices: HashMap<String, u32>,
    /// Bridge id → uniqueids of the channels in it (channels in no bridge
    /// are not listed).
    bridges: HashMap<String, BTreeSet<String>>,
    /// The keys of the channel being modified, kept between calls so that
    /// `modify` (every event that touches a channel) allocates nothing.
    before: ChannelKeys,
}

impl Channels {
    pub(crate) fn get(&self, uniqueid: &str) -> Option<&Channel> {
        self.by_uniqueid.get(uniqueid)
    }

    /// In uniqueid order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Channel> {
        self.by_uniqueid.values()
    }

    /// Adds or replaces the channel of `ch.uniqueid`.
    pub(crate) fn insert(&mut self, ch: Channel) {
        if let Some(old) = self.by_uniqueid.remove(&ch.uniqueid) {
            self.unindex(&old);
        }
        self.index(&ch);
        self.by_uniqueid.insert(ch.uniqueid.clone(), ch);
    }

    pub(crate) fn remove(&mut self, uniqueid: &str) -> Option<Channel> {
        let old = self.by_uniqueid.remove(uniqueid)?;
        self.unindex(&old);
        Some(old)
    }

    /// Changes a channel in place (any field, the uniqueid excepted) and
    /// re-indexes it if its linkedid, name or bridge changed.
    pub(crate) fn modify<R>(
        &mut self,
        uniqueid: &str,
        f: impl FnOnce(&mut Channel) -> R,
    ) -> Option<R> {
        let ch = self.by_uniqueid.get_mut(uniqueid)?;
        let mut before = std::mem::take(&mut self.before);
        before.set_from(ch);
        let out = f(ch);
        debug_assert_eq!(ch.uniqueid, uniqueid, "modify must not change the key");
        if !before.same_as(ch) {
            let ch = ch.clone();
            self.unindex_keys(&ch.uniqueid, &before);
            self.index(&ch);
        }
        self.before = before;
        Some(out)
    }

    /// The legs of a call, in uniqueid order.
    pub(crate) fn of_call(&self, key: &str) -> impl Iterator<Item = &Channel> {
        self.calls
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.by_uniqueid.get(uid))
    }

    /// How many channels a device (`PJSIP/1001`) has.
    pub(crate) fn count_of_device(&self, device: &str) -> u32 {
        self.devices.get(device).copied().unwrap_or(0)
    }

    /// The uniqueids of the channels in a bridge, in uniqueid order.
    pub(crate) fn in_bridge(&self, id: &str) -> Vec<String> {
        if id.is_empty() {
            // Channels in no bridge are not indexed; a bridge without an id
            // is matched as it always was.
            return self
                .by_uniqueid
                .values()
                .filter(|c| c.bridge.is_empty())
                .map(|c| c.uniqueid.clone())
                .collect();
        }
        self.bridges
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn index(&mut self, ch: &Channel) {
        slot_of(&mut self.calls, call_key(ch)).insert(ch.uniqueid.clone());
        if let Some(device) = device_of(&ch.name).filter(|d| !d.is_empty()) {
            *slot_of(&mut self.devices, device) += 1;
        }
        if !ch.bridge.is_empty() {
            slot_of(&mut self.bridges, &ch.bridge).insert(ch.uniqueid.clone());
        }
    }

    fn unindex(&mut self, ch: &Channel) {
        let mut keys = std::mem::take(&mut self.before);
        keys.set_from(ch);
        self.unindex_keys(&ch.uniqueid, &keys);
        self.before = keys;
    }

    fn unindex_keys(&mut self, uniqueid: &str, keys: &ChannelKeys) {
        remove_from(&mut self.calls, &keys.call, uniqueid);
        if !keys.device.is_empty()
            && let Some(n) = self.devices.get_mut(keys.device.as_str())
        {
            *n -= 1;
            if *n == 0 {
                self.devices.remove(keys.device.as_str());
            }
        }
        if !keys.bridge.is_empty() {
            remove_from(&mut self.bridges, &keys.bridge, uniqueid);
        }
    }

    fn from_map(by_uniqueid: BTreeMap<String, Channel>) -> Self {
        let mut out = Channels::default();
        for ch in by_uniqueid.values() {
            out.index(ch);
        }
        out.by_uniqueid = by_uniqueid;
        out
    }
}

/// The value of `key`, made by `Default` the first time (the key is copied
/// only then).
fn slot_of<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// Removes `member` from the set of `key`, and the set once empty.
fn remove_from(map: &mut HashMap<String, BTreeSet<String>>, key: &str, member: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(member);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl Serialize for Channels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_uniqueid.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Channels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Channels::from_map)
    }
}

/// A contact's key: (AOR, URI).
pub(crate) type ContactKey = (String, String);

/// PJSIP contacts by (AOR, URI), indexed by endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contacts {
    by_key: BTreeMap<ContactKey, ContactRec>,
    /// Endpoint name → keys of the contacts that name it.
    by_endpoint: HashMap<String, BTreeSet<ContactKey>>,
}

impl Contacts {
    pub(crate) fn insert(&mut self, key: ContactKey, rec: ContactRec) {
        self.remove(&key);
        self.by_endpoint
            .entry(rec.endpoint.clone())
            .or_default()
            .insert(key.clone());
        self.by_key.insert(key, rec);
    }

    pub(crate) fn remove(&mut self, key: &ContactKey) -> Option<ContactRec> {
        let old = self.by_key.remove(key)?;
        if let Some(set) = self.by_endpoint.get_mut(&old.endpoint) {
            set.remove(key);
            if set.is_empty() {
                self.by_endpoint.remove(&old.endpoint);
            }
        }
        Some(old)
    }

    /// Changes the contact of `key` (made by `fresh` when absent) in place,
    /// re-indexing it if its endpoint changed.
    pub(crate) fn upsert_with(
        &mut self,
        key: ContactKey,
        fresh: impl FnOnce() -> ContactRec,
        f: impl FnOnce(&mut ContactRec),
    ) {
        let mut rec = self.remove(&key).unwrap_or_else(fresh);
        f(&mut rec);
        self.insert(key, rec);
    }

    /// The endpoint the contact of (AOR, URI) names.
    pub(crate) fn endpoint_of(&self, aor: &str, uri: &str) -> Option<&str> {
        let rec = self.by_key.get(&(aor.to_owned(), uri.to_owned()))?;
        Some(rec.endpoint.as_str())
    }

    /// The contacts of an endpoint: those that name it and those of its
    /// AORs, in (AOR, URI) order.
    pub(crate) fn of_endpoint(&self, name: &str, aors: &[String]) -> Vec<&ContactRec> {
        let mut keys: BTreeSet<&ContactKey> = BTreeSet::new();
        if let Some(named) = self.by_endpoint.get(name) {
            keys.extend(named.iter());
        }
        for aor in aors {
            keys.extend(
                self.by_key
                    .range((aor.clone(), String::new())..)
                    .take_while(|((a, _), _)| a == aor)
                    .map(|(k, _)| k),
            );
        }
        keys.into_iter()
            .filter_map(|k| self.by_key.get(k))
            .collect()
    }

    fn from_map(by_key: BTreeMap<ContactKey, ContactRec>) -> Self {
        let mut by_endpoint: HashMap<String, BTreeSet<ContactKey>> = HashMap::new();
        for (key, rec) in &by_key {
            by_endpoint
                .entry(rec.endpoint.clone())
                .or_default()
                .insert(key.clone());
        }
        Contacts {
            by_key,
            by_endpoint,
        }
    }
}

/// As the plain map was: a list of `[key, value]` pairs.
impl Serialize for Contacts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::persist::pairs::serialize(&self.by_key, s)
    }
}

impl<'de> Deserialize<'de> for Contacts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::persist::pairs::deserialize(d).map(Contacts::from_map)
    }
}
