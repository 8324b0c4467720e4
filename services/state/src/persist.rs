//! Serde helpers for persisting the projection's internal state in
//! snapshots: prost enums as their numbers (they have no serde of their
//! own) and maps whose keys are not strings as lists of pairs (JSON keys
//! must be strings).

/// A prost enum as its `i32`; an unknown number (a newer schema) reads as
/// the enum's default, the same as prost decoding does.
pub(crate) mod proto_enum {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<E, S>(value: &E, s: S) -> Result<S::Ok, S::Error>
    where
        E: Copy + Into<i32>,
        S: Serializer,
    {
        s.serialize_i32((*value).into())
    }

    pub(crate) fn deserialize<'de, E, D>(d: D) -> Result<E, D::Error>
    where
        E: TryFrom<i32> + Default,
        D: Deserializer<'de>,
    {
        Ok(E::try_from(i32::deserialize(d)?).unwrap_or_default())
    }
}

/// A `BTreeMap<String, E>` of prost enums.
pub(crate) mod proto_enum_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<E, S>(map: &BTreeMap<String, E>, s: S) -> Result<S::Ok, S::Error>
    where
        E: Copy + Into<i32>,
        S: Serializer,
    {
        s.collect_map(map.iter().map(|(k, v)| (k, (*v).into())))
    }

    pub(crate) fn deserialize<'de, E, D>(d: D) -> Result<BTreeMap<String, E>, D::Error>
    where
        E: TryFrom<i32> + Default,
        D: Deserializer<'de>,
    {
        let raw = BTreeMap::<String, i32>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| (k, E::try_from(v).unwrap_or_default()))
            .collect())
    }
}

/// A map as a list of `[key, value]` pairs.
pub(crate) mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<K, V, S>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
