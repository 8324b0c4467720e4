//! The durable consumer, pulled on a task of its own.
//!
//! The service loop waits for a delivery *or* a snapshot request. Racing
//! the request stream against [`Consumer::next_within`] directly would
//! cancel a NATS pull whenever a request won: the message the server had
//! already sent to the abandoned pull stays unacked until the ack wait runs
//! out and then comes back after its successors, where the engine would
//! take it for a duplicate. Here the pull is never cancelled; the loop
//! waits on a channel, whose `recv` loses nothing when it is.
//!
//! Acknowledgements go back on a task of their own too: a JetStream ack is
//! confirmed by the server, one round trip each, and waiting for it in the
//! loop capped the service at a few thousand events a second. The consumer's
//! acks are cumulative ([`Acks::Cumulative`]) and the loop applies in stream
//! order, so that task acks only the newest applied delivery, at most every
//! [`ACK_EVERY`]: one ack and its reply instead of two bus messages per event
//! (a fifth of what the NATS server handled at 10,000 events/s). An applied
//! event whose ack is lost (the service stops first) comes again and is
//! recognised as applied.
//!
//! [`Acks::Cumulative`]: ringside_bus::Acks::Cumulative

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringside_bus::{BusError, Consumer, Delivery};
use tokio::sync::{Notify, mpsc};

/// Deliveries handed to the loop but not yet taken. Each is unacked until
/// applied, so this stays small next to the consumer's ack-pending limit.
const QUEUED: usize = 64;

/// The newest applied delivery is acked this often at most. A crash
/// applies again what was applied since (recognised, so harmless).
const ACK_EVERY: Duration = Duration::from_millis(10);

/// How long one pull waits before the pump checks that the loop is still
/// there.
const PULL_WAIT: Duration = Duration::from_secs(1);

/// Pause after a failed pull (the bus away), before the next.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The receiving end: deliveries in stream order, then
/// [`BusError::Closed`] once if the bus closed the consumer.
pub(super) struct Deliveries {
    name: String,
    rx: mpsc::Receiver<Result<Delivery, BusError>>,
    acks: Arc<NewestApplied>,
}

/// The newest applied delivery, waiting for the ack task.
#[derive(Default)]
struct NewestApplied {
    delivery: Mutex<Option<Delivery>>,
    /// A delivery was put in, or the loop is gone.
    ready: Notify,
    /// The loop is gone: ack what is there and stop.
    closed: AtomicBool,
}

impl NewestApplied {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Delivery>> {
        self.delivery
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces what waits with `delivery`, which stands for it.
    fn put(&self, delivery: Delivery) {
        *self.slot() = Some(delivery);
        self.ready.notify_one();
    }

    fn take(&self) -> Option<Delivery> {
        self.slot().take()
    }

    /// Has the ack task ack what waits and stop.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// Acks the newest applied delivery (standing for every one before it)
    /// whenever there is one, at most every [`ACK_EVERY`], until closed.
    async fn ack_until_closed(self: Arc<Self>) {
        loop {
            self.ready.notified().await;
            if let Some(delivery) = self.take()
                && let Err(e) = delivery.ack().await
            {
                // The next ack covers it; else delivered again later and
                // recognised as applied.
                tracing::debug!(error = %e, "ack lost");
            }
            if self.closed.load(Ordering::Acquire) {
                if let Some(delivery) = self.take() {
                    let _ = delivery.ack().await;
                }
                return;
            }
            tokio::time::sleep(ACK_EVERY).await;
        }
    }
}

impl Deliveries {
    /// Starts pulling from `consumer` on a task that ends when the
    /// receiver is dropped or the bus closes the consumer.
    pub(super) fn start(mut consumer: Box<dyn Consumer>) -> Self {
        let name = consumer.name().to_owned();
        let acks = Arc::new(NewestApplied::default());
        tokio::spawn(acks.clone().ack_until_closed());
        let (tx, rx) = mpsc::channel(QUEUED);
        tokio::spawn(async move {
            loop {
                match consumer.next_within(PULL_WAIT).await {
                    Ok(Some(delivery)) => {
                        if let Err(mpsc::error::SendError(Ok(delivery))) =
                            tx.send(Ok(delivery)).await
                        {
                            // The loop is gone: hand the message back now
                            // rather than after the ack wait.
                            let _ = delivery.nak().await;
                            return;
                        }
                    }
                    Ok(None) if tx.is_closed() => return,
                    Ok(None) => {}
                    Err(BusError::Closed) => {
                        let _ = tx.send(Err(BusError::Closed)).await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "events consumer: bus unavailable; retrying");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
        });
        Deliveries { name, rx, acks }
    }

    /// Acknowledges an applied delivery, and with it every one before it,
    /// within [`ACK_EVERY`], without waiting for the bus.
    pub(super) fn ack(&self, delivery: Delivery) {
        self.acks.put(delivery);
    }

    /// The durable consumer's name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The next delivery within `wait`, `Ok(None)` if none came. Cancel
    /// safe.
    pub(super) async fn next_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Delivery>, BusError> {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(result)) => result.map(Some),
            Ok(None) => Err(BusError::Closed),
            Err(_) => Ok(None),
        }
    }
}

impl Drop for Deliveries {
    /// Hands back what was queued for the loop, so that a restarted service
    /// gets it at once instead of after the ack wait.
    fn drop(&mut self) {
        self.acks.close();
        self.rx.close();
        let mut queued = Vec::new();
        while let Ok(Ok(delivery)) = self.rx.try_recv() {
            queued.push(delivery);
        }
        if queued.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for delivery in queued {
                    let _ = delivery.nak().await;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ringside_bus::{ConsumerSpec, Outgoing, PbxId, StreamRole, TenantId, Token};
    use ringside_testkit::TestBus;

    #[tokio::test]
    async fn acking_the_newest_applied_delivery_acks_all_of_them() {
        let test = TestBus::in_process();
        let subject = test.topology.subjects().events(
            &TenantId::new("acme").unwrap(),
            &PbxId::new("pbx-1").unwrap(),
            &Token::new("Newchannel").unwrap(),
        );
        for i in 0..50 {
            let msg = Outgoing::new(Bytes::from(format!("{i}")));
            test.bus.publish(&subject, msg).await.unwrap();
        }
        let ack_wait = Duration::from_millis(300);
        let spec = ConsumerSpec::new(test.topology.stream_name(StreamRole::Events), "pump")
            .ack_wait(ack_wait)
            .cumulative_acks();

        let mut deliveries = Deliveries::start(test.bus.consumer(spec.clone()).await.unwrap());
        for expected in 1..=50 {
            let delivery = deliveries
                .next_within(Duration::from_secs(5))
                .await
                .unwrap()
                .expect("a delivery");
            assert_eq!(delivery.msg.stream_sequence, Some(expected));
            deliveries.ack(delivery);
        }
        drop(deliveries);

        // Had any of them gone unacked, it would be back after the ack wait.
        tokio::time::sleep(ack_wait * 2).await;
        let mut again = test.bus.consumer(spec).await.unwrap();
        let left = again.next_within(ack_wait).await.unwrap();
        assert!(
            left.is_none(),
            "delivered again: {:?}",
            left.map(|d| d.msg.stream_sequence)
        );
    }
}
