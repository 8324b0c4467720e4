//! [`ByPbx`]: a map keyed by (tenant, PBX) that is looked up by `&str`s.
//!
//! Every envelope finds its PBX's state, notes and published entries. Keyed
//! by an owned `(String, String)`, each of those lookups had to build the
//! key first: two allocations per lookup, several lookups per event, at a
//! million events a second. Nested by tenant, then PBX, a lookup borrows the
//! envelope's strings and allocates only when a PBX is seen for the first
//! time.
//!
//! It iterates in (tenant, PBX) order and is persisted as the list of
//! `[[tenant, pbx], value]` pairs the flat map was, so snapshots read the
//! same either way.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Values by tenant, then PBX.
#[derive(Debug, Clone)]
pub(crate) struct ByPbx<V> {
    tenants: BTreeMap<String, BTreeMap<String, V>>,
}

impl<V> Default for ByPbx<V> {
    fn default() -> Self {
        ByPbx {
            tenants: BTreeMap::new(),
        }
    }
}

impl<V> ByPbx<V> {
    pub(crate) fn get(&self, tenant: &str, pbx: &str) -> Option<&V> {
        self.tenants.get(tenant)?.get(pbx)
    }

    /// The value of (tenant, pbx), made by `fresh` the first time.
    pub(crate) fn get_or_insert_with(
        &mut self,
        tenant: &str,
        pbx: &str,
        fresh: impl FnOnce() -> V,
    ) -> &mut V {
        let pbxs = slot_of(&mut self.tenants, tenant, BTreeMap::new);
        slot_of(pbxs, pbx, fresh)
    }

    pub(crate) fn insert(&mut self, tenant: &str, pbx: &str, value: V) {
        self.tenants
            .entry(tenant.to_owned())
            .or_default()
            .insert(pbx.to_owned(), value);
    }

    /// Every value with its (tenant, pbx), in that order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ((&str, &str), &V)> {
        self.tenants
            .iter()
            .flat_map(|(t, pbxs)| pbxs.iter().map(move |(p, v)| ((t.as_str(), p.as_str()), v)))
    }
}

/// The value of `key`, made by `fresh` the first time: the key is copied
/// only then (`entry` would want an owned key for every lookup).
pub(crate) fn slot_of<'m, V>(
    map: &'m mut BTreeMap<String, V>,
    key: &str,
    fresh: impl FnOnce() -> V,
) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), fresh());
    }
    map.get_mut(key).expect("inserted above")
}

/// As the flat map was: `[[tenant, pbx], value]` pairs.
impl<V: Serialize> Serialize for ByPbx<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for ByPbx<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<((String, String), V)>::deserialize(d)?;
        let mut out = ByPbx::default();
        for ((tenant, pbx), value) in pairs {
            out.insert(&tenant, &pbx, value);
        }
        Ok(out)
    }
}

/// A `ByPbx` of maps by a third key (a call's linkedid), persisted as the
/// `[[tenant, pbx, key], value]` triples the flat map was.
pub(crate) mod triples {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ByPbx;

    pub(crate) fn serialize<V, S>(map: &ByPbx<BTreeMap<String, V>>, s: S) -> Result<S::Ok, S::Error>
    where
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(
            map.iter()
                .flat_map(|((t, p), inner)| inner.iter().map(move |(k, v)| ((t, p, k), v))),
        )
    }

    pub(crate) fn deserialize<'de, V, D>(d: D) -> Result<ByPbx<BTreeMap<String, V>>, D::Error>
    where
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let triples = Vec::<((String, String, String), V)>::deserialize(d)?;
        let mut out: ByPbx<BTreeMap<String, V>> = ByPbx::default();
        for ((tenant, pbx, key), value) in triples {
            out.get_or_insert_with(&tenant, &pbx, BTreeMap::new)
                .insert(key, value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_as_the_flat_map_of_pairs_did() {
        let mut flat: BTreeMap<(String, String), u32> = BTreeMap::new();
        let mut nested: ByPbx<u32> = ByPbx::default();
        for (t, p, v) in [("b", "x", 1), ("a", "y", 2), ("a", "x", 3), ("a-b", "x", 4)] {
            flat.insert((t.into(), p.into()), v);
            nested.insert(t, p, v);
        }
        let flat_json = serde_json::to_string(&flat.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(serde_json::to_string(&nested).unwrap(), flat_json);
        let back: ByPbx<u32> = serde_json::from_str(&flat_json).unwrap();
        assert_eq!(back.get("a-b", "x"), Some(&4));
        assert_eq!(back.iter().count(), 4);
    }

    #[test]
    fn triples_persist_as_the_flat_map_of_triples_did() {
        #[derive(Serialize, Deserialize)]
        struct Flat {
            notes: Vec<((String, String, String), u32)>,
        }
        #[derive(Serialize, Deserialize)]
        struct Nested {
            #[serde(with = "triples")]
            notes: ByPbx<BTreeMap<String, u32>>,
        }
        let mut nested = Nested {
            notes: ByPbx::default(),
        };
        let mut flat = BTreeMap::new();
        for (t, p, k, v) in [
            ("t", "p", "2.1", 1),
            ("t", "p", "1.1", 2),
            ("s", "p", "1.1", 3),
        ] {
            flat.insert((t.to_owned(), p.to_owned(), k.to_owned()), v);
            nested
                .notes
                .get_or_insert_with(t, p, BTreeMap::new)
                .insert(k.to_owned(), v);
        }
        let flat = Flat {
            notes: flat.into_iter().collect(),
        };
        let json = serde_json::to_string(&flat).unwrap();
        assert_eq!(serde_json::to_string(&nested).unwrap(), json);
        let back: Nested = serde_json::from_str(&json).unwrap();
        assert_eq!(back.notes.get("t", "p").map(BTreeMap::len), Some(2));
        assert_eq!(
            back.notes.get("s", "p").and_then(|m| m.get("1.1")),
            Some(&3)
        );
    }
}
