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
//! loop capped the service at a few thousand events a second. An applied
//! event whose ack is lost (the service stops first) comes again and is
//! recognised as applied.

use std::time::Duration;

use futures::StreamExt as _;
use ringside_bus::{BusError, Consumer, Delivery};
use tokio::sync::mpsc;

/// Deliveries handed to the loop but not yet taken. Each is unacked until
/// applied, so this stays small next to the consumer's ack-pending limit.
const QUEUED: usize = 64;

/// Acks sent and not yet confirmed, at most; beyond it [`Deliveries::ack`]
/// waits.
const ACKS_IN_FLIGHT: usize = 256;

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
    acks: mpsc::Sender<Delivery>,
}

impl Deliveries {
    /// Starts pulling from `consumer` on a task that ends when the
    /// receiver is dropped or the bus closes the consumer.
    pub(super) fn start(mut consumer: Box<dyn Consumer>) -> Self {
        let name = consumer.name().to_owned();
        let (acks, to_ack) = mpsc::channel::<Delivery>(ACKS_IN_FLIGHT);
        tokio::spawn(
            tokio_stream::wrappers::ReceiverStream::new(to_ack).for_each_concurrent(
                ACKS_IN_FLIGHT,
                |delivery| async move {
                    if let Err(e) = delivery.ack().await {
                        // Delivered again later: recognised as applied.
                        tracing::debug!(error = %e, "ack lost");
                    }
                },
            ),
        );
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

    /// Acknowledges an applied delivery without waiting for the bus to
    /// confirm it (waits only while [`ACKS_IN_FLIGHT`] are unconfirmed).
    pub(super) async fn ack(&self, delivery: Delivery) {
        // Fails only when the ack task is gone (the runtime shutting
        // down): the delivery then comes again, recognised as applied.
        let _ = self.acks.send(delivery).await;
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
