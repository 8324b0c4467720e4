//! A lease renewal that never answers must not keep the ingestor from
//! stopping. In the ingest benchmark with a 4,096-message publish window a KV
//! update waited for good (behind async-nats's cap on pending acks, since
//! lifted by the NATS bus) and the ingestor went on serving its PBXs after
//! being told to stop, for minutes; a store can stall for other reasons too.
//! Here the KV store hangs on purpose once the lease is taken, so the
//! renewal under way and the release at the stop both wait for good.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use ringside_bus::{Bus, BusError, Kv, KvChange, KvConfig, KvEntry};
use ringside_testkit::{InterposedBus, Interposer, TestBus};
use support::*;

/// Interposed on the in-process bus: its key-value stores read and write
/// until `stalled`, then hang.
struct StallingStores {
    stalled: Arc<AtomicBool>,
}

#[async_trait]
impl Interposer for StallingStores {
    async fn kv(
        &self,
        inner: &dyn Bus,
        bucket: &str,
        config: KvConfig,
    ) -> Result<Arc<dyn Kv>, BusError> {
        Ok(Arc::new(StallingKv {
            inner: inner.kv(bucket, config).await?,
            stalled: self.stalled.clone(),
        }))
    }
}

struct StallingKv {
    inner: Arc<dyn Kv>,
    stalled: Arc<AtomicBool>,
}

impl StallingKv {
    async fn stall(&self) {
        if self.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
impl Kv for StallingKv {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        self.stall().await;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.inner.put(key, value).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.inner.create(key, value).await
    }
    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, BusError> {
        self.stall().await;
        self.inner.update(key, value, revision).await
    }
    async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.stall().await;
        self.inner.delete(key).await
    }
    async fn watch(
        &self,
        key_pattern: &str,
    ) -> Result<BoxStream<'static, Result<KvChange, BusError>>, BusError> {
        self.inner.watch(key_pattern).await
    }
    async fn keys(&self) -> Result<Vec<String>, BusError> {
        self.inner.keys().await
    }
}

#[tokio::test]
async fn the_ingestor_stops_while_a_lease_renewal_hangs() {
    let test = TestBus::in_process();
    let stalled = Arc::new(AtomicBool::new(false));
    let bus: Arc<dyn Bus> = Arc::new(InterposedBus {
        inner: test.bus.clone(),
        interposer: StallingStores {
            stalled: stalled.clone(),
        },
    });
    let sim = sim(5.0, 3).await;
    let settings = settings(vec![pbx(&sim, "pbx-1")]);
    let renew_every = settings.lease.renew_every;
    let ingestor = Ingestor::spawn(settings, bus, test.topology.clone());
    read_events(
        &test.bus,
        &test.topology,
        "pbx-1",
        Duration::from_secs(20),
        |seen| syncs_completed(seen) >= 1,
    )
    .await;

    // The next renewals hang; let one be under way when the stop comes.
    stalled.store(true, Ordering::SeqCst);
    tokio::time::sleep(renew_every * 2).await;
    ingestor.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), ingestor.task).await;
    assert!(
        stopped.is_ok(),
        "the ingestor was still running 20 s after it was told to stop"
    );
}
