//! PBX ownership among ingestor replicas: one lease per PBX in the bus's KV
//! store, taken and renewed with compare-and-set on the entry's revision.
//!
//! A lease holds its owner and an expiry time. The owner renews it well
//! before it expires; a replica that finds it expired takes it over with an
//! update at the revision it read, so when two try at once exactly one wins.
//! A replica that stops cleanly deletes its leases, so others take over at
//! once instead of after the expiry. Expiry uses wall clocks: replicas' clocks
//! must agree to well within the TTL (NTP does).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringside_bus::{BusError, Kv};
use serde::{Deserialize, Serialize};

/// What a lease entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseValue {
    pub owner: String,
    /// Milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

/// The leases of one replica.
#[derive(Clone)]
pub struct Leases {
    kv: Arc<dyn Kv>,
    owner: String,
    ttl: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Leases {
    pub fn new(kv: Arc<dyn Kv>, owner: impl Into<String>, ttl: Duration) -> Self {
        Leases {
            kv,
            owner: owner.into(),
            ttl,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn value(&self) -> Bytes {
        let value = LeaseValue {
            owner: self.owner.clone(),
            expires_ms: now_ms() + self.ttl.as_millis() as u64,
        };
        Bytes::from(serde_json::to_vec(&value).expect("lease values serialize"))
    }

    /// Takes `key` if it is free, expired or already ours; renews it when
    /// `held` is the revision we last wrote. Returns the new revision while we
    /// hold it, `None` when someone else does.
    ///
    /// # Errors
    /// The bus is unavailable (the caller keeps its current belief until the
    /// lease would have expired).
    pub async fn acquire_or_renew(
        &self,
        key: &str,
        held: Option<u64>,
    ) -> Result<Option<u64>, BusError> {
        if let Some(revision) = held {
            match self.kv.update(key, self.value(), revision).await {
                Ok(revision) => return Ok(Some(revision)),
                // A renewal whose acknowledgement was lost may still have been
                // written: our revision is then stale, but the lease is ours.
                // Re-read it below instead of giving it up.
                Err(BusError::WrongRevision { .. }) | Err(BusError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let attempt = match self.kv.get(key).await? {
            None => self.kv.create(key, self.value()).await,
            Some(entry) => {
                let current: Option<LeaseValue> = serde_json::from_slice(&entry.value).ok();
                let takeable = match &current {
                    None => true, // unreadable: treat as free
                    Some(lease) => lease.owner == self.owner || lease.expires_ms <= now_ms(),
                };
                if !takeable {
                    return Ok(None);
                }
                self.kv.update(key, self.value(), entry.revision).await
            }
        };
        match attempt {
            Ok(revision) => Ok(Some(revision)),
            Err(BusError::AlreadyExists { .. }) | Err(BusError::WrongRevision { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Gives `key` up (on a clean stop), if we still hold it.
    pub async fn release(&self, key: &str) {
        if let Ok(Some(entry)) = self.kv.get(key).await
            && serde_json::from_slice::<LeaseValue>(&entry.value)
                .is_ok_and(|l| l.owner == self.owner)
        {
            let _ = self.kv.delete(key).await;
        }
    }

    /// Keys of every lease (held or expired) under `prefix`.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        Ok(self
            .kv
            .keys()
            .await?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect())
    }
}

/// The lease key of a PBX.
pub fn key(tenant: &str, pbx: &str) -> String {
    format!("{tenant}.{pbx}")
}
