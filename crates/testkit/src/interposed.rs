//! A bus that passes everything on to a real one, except the calls a test
//! interposes on: to refuse part of a batch, or to hand out a key-value
//! store that stops answering. One pass-through, so each such test writes
//! only the behaviour it changes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use ringside_bus::{
    AckFuture, BatchSent, Bus, BusError, ConnectionState, Consumer, ConsumerSpec, Delivered, Kv,
    KvConfig, Outgoing, PublishAck, ReadSpec, Request,
};

/// What a test changes; each call it does not override goes to `inner`.
#[async_trait]
pub trait Interposer: Send + Sync + 'static {
    async fn publish_batch(&self, inner: &dyn Bus, msgs: &[(&str, &Outgoing)]) -> BatchSent {
        inner.publish_batch(msgs).await
    }

    async fn kv(
        &self,
        inner: &dyn Bus,
        bucket: &str,
        config: KvConfig,
    ) -> Result<Arc<dyn Kv>, BusError> {
        inner.kv(bucket, config).await
    }
}

/// `inner` with `interposer` in front of it.
pub struct InterposedBus<I> {
    pub inner: Arc<dyn Bus>,
    pub interposer: I,
}

#[async_trait]
impl<I: Interposer> Bus for InterposedBus<I> {
    async fn publish(&self, subject: &str, msg: Outgoing) -> Result<PublishAck, BusError> {
        self.inner.publish(subject, msg).await
    }
    async fn publish_pipelined(&self, subject: &str, msg: Outgoing) -> Result<AckFuture, BusError> {
        self.inner.publish_pipelined(subject, msg).await
    }
    async fn publish_batch(&self, msgs: &[(&str, &Outgoing)]) -> BatchSent {
        self.interposer.publish_batch(&*self.inner, msgs).await
    }
    async fn publish_core(&self, subject: &str, msg: Outgoing) -> Result<(), BusError> {
        self.inner.publish_core(subject, msg).await
    }
    async fn subscribe(&self, pattern: &str) -> Result<BoxStream<'static, Delivered>, BusError> {
        self.inner.subscribe(pattern).await
    }
    async fn request(
        &self,
        subject: &str,
        msg: Outgoing,
        timeout: Duration,
    ) -> Result<Delivered, BusError> {
        self.inner.request(subject, msg, timeout).await
    }
    async fn serve(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
    ) -> Result<BoxStream<'static, Request>, BusError> {
        self.inner.serve(pattern, queue_group).await
    }
    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn Consumer>, BusError> {
        self.inner.consumer(spec).await
    }
    async fn read_stream(
        &self,
        spec: ReadSpec,
    ) -> Result<BoxStream<'static, Result<Delivered, BusError>>, BusError> {
        self.inner.read_stream(spec).await
    }
    async fn kv(&self, bucket: &str, config: KvConfig) -> Result<Arc<dyn Kv>, BusError> {
        self.interposer.kv(&*self.inner, bucket, config).await
    }
    fn connection(&self) -> tokio::sync::watch::Receiver<ConnectionState> {
        self.inner.connection()
    }
}
