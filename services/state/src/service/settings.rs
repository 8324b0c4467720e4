//! `[state]` settings.

use std::time::Duration;

use serde::Deserialize;

/// How the state service consumes, snapshots and shards.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSettings {
    /// Save a snapshot after this many applied events...
    pub snapshot_every_events: u64,
    /// ...or this long after the last one, whichever comes first (only when
    /// something was applied since).
    #[serde(with = "humantime_serde")]
    pub snapshot_every: Duration,
    /// This replica's shard (0-based) out of `shard_count`: it keeps the
    /// tenants whose name hashes to it. Replicas with the same index are
    /// copies (each serves the same tenants).
    pub shard_index: u32,
    pub shard_count: u32,
    /// The durable consumer's name (the shard is appended).
    pub durable: String,
    /// Snapshots are stored in KV values of at most this many bytes (NATS
    /// refuses messages above its max_payload, 1 MiB by default).
    pub snapshot_chunk_bytes: usize,
    /// How long a time-travel request may replay before it gives up.
    #[serde(with = "humantime_serde")]
    pub time_travel_timeout: Duration,
    /// Where the `ringside.state.v1.State` gRPC API listens (e.g.
    /// `0.0.0.0:50051`); off when unset. It has no authentication of its
    /// own: expose it on the internal network only, like NATS (browsers and
    /// API clients go through the gateway).
    pub grpc_listen: Option<std::net::SocketAddr>,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            snapshot_every_events: 10_000,
            snapshot_every: Duration::from_secs(30),
            shard_index: 0,
            shard_count: 1,
            durable: "state".into(),
            snapshot_chunk_bytes: 512 * 1024,
            time_travel_timeout: Duration::from_secs(30),
            grpc_listen: None,
        }
    }
}

impl StateSettings {
    /// The shard's name, used in the durable consumer's and the snapshot's
    /// names: `0-of-1`.
    pub fn shard(&self) -> String {
        format!("{}-of-{}", self.shard_index, self.shard_count)
    }

    /// Whether this shard keeps `tenant`'s views: FNV-1a of the name modulo
    /// the shard count (stable across versions and machines, unlike std's
    /// hasher).
    pub fn owns(&self, tenant: &str) -> bool {
        if self.shard_count <= 1 {
            return true;
        }
        let mut hash: u32 = 0x811c_9dc5;
        for b in tenant.bytes() {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        hash % self.shard_count == self.shard_index
    }

    /// Checks the shard numbers and sizes.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn validate(&self) -> Result<(), String> {
        if self.shard_count == 0 || self.shard_index >= self.shard_count {
            return Err(format!(
                "state.shard_index ({}) must be below state.shard_count ({})",
                self.shard_index, self.shard_count
            ));
        }
        if self.snapshot_chunk_bytes < 1024 {
            return Err("state.snapshot_chunk_bytes must be at least 1024".into());
        }
        if self.snapshot_every_events == 0 {
            return Err("state.snapshot_every_events must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_has_exactly_one_shard() {
        for tenant in ["acme", "globex", "initech", "a", "tenant-42", ""] {
            let owners = (0..4)
                .filter(|i| {
                    StateSettings {
                        shard_index: *i,
                        shard_count: 4,
                        ..Default::default()
                    }
                    .owns(tenant)
                })
                .count();
            assert_eq!(owners, 1, "{tenant}");
        }
        // With several tenants, more than one shard is used.
        let used: std::collections::BTreeSet<u32> = (0..50)
            .map(|n| format!("t{n}"))
            .map(|t| {
                (0..4)
                    .find(|i| {
                        StateSettings {
                            shard_index: *i,
                            shard_count: 4,
                            ..Default::default()
                        }
                        .owns(&t)
                    })
                    .unwrap()
            })
            .collect();
        assert_eq!(used.len(), 4);
    }

    #[test]
    fn bad_shards_are_refused() {
        let s = StateSettings {
            shard_index: 2,
            shard_count: 2,
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().contains("shard_index"));
        assert!(StateSettings::default().validate().is_ok());
    }
}
