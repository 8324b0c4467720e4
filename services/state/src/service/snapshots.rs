//! Snapshots of the engine in the bus's KV store.
//!
//! A snapshot can be far larger than one bus message (NATS refuses
//! payloads above its max_payload), so it is stored as numbered chunks
//! `<shard>.<n>` and a manifest `<shard>` written last. The manifest names
//! the chunks of one save by a generation number, so a crash between chunk
//! writes leaves the previous manifest pointing at the previous (complete)
//! chunks: the chunks of a save are written under new keys and only then
//! does the manifest switch to them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringside_bus::{BusError, Kv};
use serde::{Deserialize, Serialize};

/// The KV bucket of state snapshots (prefixed like the topology's streams).
pub const SNAPSHOT_BUCKET: &str = "ringside_state";

/// What a snapshot's manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases with every save.
    pub generation: u64,
    pub chunks: u32,
    pub bytes: u64,
    /// The last events-stream sequence the snapshot includes.
    pub stream_seq: u64,
    /// When it was saved (Unix ms).
    pub saved_at_ms: i64,
}

/// Why a snapshot could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot store: {0}")]
    Bus(#[from] BusError),
    #[error("snapshot manifest unreadable: {0}")]
    Manifest(serde_json::Error),
    #[error("snapshot chunk {0} is missing (a save was interrupted and its manifest lost)")]
    MissingChunk(String),
}

/// A shard's snapshots in one KV bucket.
pub struct SnapshotStore {
    kv: Arc<dyn Kv>,
    shard: String,
    chunk_bytes: usize,
}

impl SnapshotStore {
    pub fn new(kv: Arc<dyn Kv>, shard: &str, chunk_bytes: usize) -> Self {
        SnapshotStore {
            kv,
            shard: shard.to_owned(),
            chunk_bytes: chunk_bytes.max(1),
        }
    }

    fn chunk_key(&self, generation: u64, n: u32) -> String {
        format!("{}.g{generation}.{n}", self.shard)
    }

    /// The manifest of the last complete save, if any.
    ///
    /// # Errors
    /// The store is unreachable or the manifest unreadable.
    pub async fn manifest(&self) -> Result<Option<Manifest>, SnapshotError> {
        match self.kv.get(&self.shard).await? {
            Some(entry) => serde_json::from_slice(&entry.value)
                .map(Some)
                .map_err(SnapshotError::Manifest),
            None => Ok(None),
        }
    }

    /// The last complete save: its manifest and bytes.
    ///
    /// # Errors
    /// As [`SnapshotStore::manifest`], or a chunk missing.
    pub async fn load(&self) -> Result<Option<(Manifest, Vec<u8>)>, SnapshotError> {
        let Some(manifest) = self.manifest().await? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(manifest.bytes).unwrap_or(0));
        for n in 0..manifest.chunks {
            let key = self.chunk_key(manifest.generation, n);
            let entry = self
                .kv
                .get(&key)
                .await?
                .ok_or(SnapshotError::MissingChunk(key))?;
            bytes.extend_from_slice(&entry.value);
        }
        Ok(Some((manifest, bytes)))
    }

    /// Saves `bytes` as the snapshot including `stream_seq`; the previous
    /// save's chunks are deleted once the new manifest is in place.
    ///
    /// # Errors
    /// The store refused a write; the previous snapshot is then still the
    /// current one.
    pub async fn save(&self, bytes: &[u8], stream_seq: u64) -> Result<Manifest, SnapshotError> {
        let previous = self.manifest().await.ok().flatten();
        let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
        let mut chunks = 0u32;
        for piece in bytes.chunks(self.chunk_bytes) {
            self.kv
                .put(
                    &self.chunk_key(generation, chunks),
                    Bytes::copy_from_slice(piece),
                )
                .await?;
            chunks += 1;
        }
        let manifest = Manifest {
            generation,
            chunks,
            bytes: bytes.len() as u64,
            stream_seq,
            saved_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        let json = serde_json::to_vec(&manifest).expect("a manifest serializes");
        self.kv.put(&self.shard, Bytes::from(json)).await?;
        if let Some(old) = previous {
            for n in 0..old.chunks {
                // Best effort: a leftover chunk is only wasted space.
                let _ = self.kv.delete(&self.chunk_key(old.generation, n)).await;
            }
        }
        Ok(manifest)
    }
}
