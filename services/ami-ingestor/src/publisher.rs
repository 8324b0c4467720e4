//! Durable publishing with a bounded in-flight window and a bounded buffer for
//! when the bus is away.
//!
//! Rules, in order of importance:
//! 1. **Nothing is lost silently.** An event is either acknowledged by the
//!    stream, still held here, or counted as dropped. Drops only happen when
//!    the buffer bound is reached; from the first drop on, a *gap* is open and
//!    every further event is dropped too (a view cannot be patched around a
//!    hole), until the buffer has drained and the gap is reported to the
//!    owner, who then forces a reconnect and resync.
//! 2. **No duplicates.** A failed publish is retried with the same message id,
//!    so the stream's de-duplication window absorbs a publish that did land
//!    before its acknowledgement was lost.
//! 3. **Order is kept.** Messages are handed to the connection one at a time,
//!    in order ([`Bus::publish_pipelined`]), while up to `window` acks are
//!    awaited together. After a failure nothing new is sent until the failed
//!    messages have been retried, one at a time, oldest first. Consumers still
//!    order by (epoch, sequence): a message whose ack was lost may have been
//!    stored after a later one of the same window.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use ringside_bus::{AckFuture, Bus, BusError, Outgoing};
use tokio::time::Instant;

/// One message waiting to be published.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Position in publish order, to put failed messages back in order.
    order: u64,
    /// When it was handed over (≈ when its AMI frame was read).
    since: Instant,
    pub subject: String,
    pub msg: Outgoing,
}

/// What happened since the last call to [`Publisher::progress`].
#[derive(Debug)]
pub enum Progress {
    /// Messages were stored by the stream (this many).
    Acked(u64),
    /// A publish failed; it will be retried after `retry_in`.
    Failed { error: BusError, retry_in: Duration },
    /// The buffer drained after a gap: `dropped` messages were lost and the
    /// owner must recover (resync) before publishing more.
    GapClosed { dropped: u64 },
    /// A retry timer fired; sending resumed.
    Resumed,
}

/// Counters for metrics and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublisherStats {
    pub acked: u64,
    pub failed: u64,
    pub dropped: u64,
    pub gaps: u64,
}

type InFlight = BoxFuture<'static, (Pending, Result<(), BusError>)>;

/// One thing that happened to the messages being sent.
enum Step {
    Sent(Pending, Result<AckFuture, BusError>),
    Done(Pending, Result<(), BusError>),
    Idle,
}
type Sending = BoxFuture<'static, (Pending, Result<AckFuture, BusError>)>;

/// A per-producer publisher (one per PBX connection, one for raw frames).
pub struct Publisher {
    bus: Arc<dyn Bus>,
    capacity: usize,
    window: usize,
    queue: VecDeque<Pending>,
    /// The one message being handed to the connection.
    sending: Option<Sending>,
    /// Messages sent, awaiting their acks (in order).
    in_flight: FuturesOrdered<InFlight>,
    /// Failed messages collected while the rest of the window resolves; they
    /// go back to the front of the queue, in order, once it has.
    failed: Vec<Pending>,
    /// Sending is paused until then (after a failure).
    paused_until: Option<Instant>,
    backoff: Duration,
    /// After a failure, one message at a time until one succeeds.
    probing: bool,
    gap_dropped: Option<u64>,
    pushed: u64,
    /// Handover-to-ack times; registered once (per ack it was a lookup).
    latency: Option<metrics::Histogram>,
    stats: PublisherStats,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Publisher {
    /// `latency_metric` names the histogram of handover-to-ack times
    /// (`None`: not recorded).
    pub fn new(
        bus: Arc<dyn Bus>,
        capacity: usize,
        window: usize,
        latency_metric: Option<&'static str>,
    ) -> Self {
        Publisher {
            bus,
            capacity: capacity.max(1),
            window: window.max(1),
            queue: VecDeque::new(),
            sending: None,
            in_flight: FuturesOrdered::new(),
            failed: Vec::new(),
            paused_until: None,
            backoff: MIN_BACKOFF,
            probing: false,
            gap_dropped: None,
            pushed: 0,
            latency: latency_metric.map(|name| metrics::histogram!(name)),
            stats: PublisherStats::default(),
        }
    }

    /// Messages held: queued, in flight or awaiting retry.
    pub fn depth(&self) -> usize {
        self.queue.len()
            + usize::from(self.sending.is_some())
            + self.in_flight.len()
            + self.failed.len()
    }

    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    /// Hands a message over. Returns false when it was dropped: the buffer is
    /// full, or a gap is open.
    pub fn push(&mut self, subject: String, msg: Outgoing) -> bool {
        if let Some(dropped) = &mut self.gap_dropped {
            *dropped += 1;
            self.stats.dropped += 1;
            return false;
        }
        if self.depth() >= self.capacity {
            self.gap_dropped = Some(1);
            self.stats.dropped += 1;
            self.stats.gaps += 1;
            return false;
        }
        self.pushed += 1;
        self.queue.push_back(Pending {
            order: self.pushed,
            since: Instant::now(),
            subject,
            msg,
        });
        self.pump();
        true
    }

    /// Hands the next message to the connection, if the window allows.
    fn pump(&mut self) {
        if self.sending.is_some() || self.paused_until.is_some() || !self.failed.is_empty() {
            return;
        }
        let window = if self.probing { 1 } else { self.window };
        if self.in_flight.len() >= window {
            return;
        }
        let Some(next) = self.queue.pop_front() else {
            return;
        };
        let bus = self.bus.clone();
        self.sending = Some(Box::pin(async move {
            let sent = bus.publish_pipelined(&next.subject, next.msg.clone()).await;
            (next, sent)
        }));
    }

    /// Waits for the next thing to happen. Pending forever when idle, so it can
    /// sit in a `select!` beside other work.
    pub async fn progress(&mut self) -> Progress {
        let mut acked = 0u64;
        loop {
            if let Some(dropped) = self.gap_dropped
                && self.depth() == 0
            {
                self.gap_dropped = None;
                return Progress::GapClosed { dropped };
            }
            if let Some(until) = self.paused_until
                && self.in_flight.is_empty()
                && self.sending.is_none()
            {
                tokio::time::sleep_until(until).await;
                self.paused_until = None;
                // Failed messages go first, oldest first.
                self.failed.sort_unstable_by_key(|p| p.order);
                for pending in self.failed.drain(..).rev() {
                    self.queue.push_front(pending);
                }
                self.pump();
                return Progress::Resumed;
            }
            let (sending, in_flight) = (&mut self.sending, &mut self.in_flight);
            let next = async {
                tokio::select! {
                    (pending, sent) = async { sending.as_mut().expect("guarded").await }, if sending.is_some() => Step::Sent(pending, sent),
                    Some((pending, acked)) = in_flight.next(), if !in_flight.is_empty() => Step::Done(pending, acked),
                    else => Step::Idle,
                }
            };
            // After an ack, keep going only while more is ready at once, so a
            // burst is handled in one call and the caller's loop stays cheap.
            let step = if acked > 0 {
                match next.now_or_never() {
                    Some(step) => step,
                    None => return Progress::Acked(acked),
                }
            } else {
                next.await
            };
            match step {
                Step::Idle if acked > 0 => return Progress::Acked(acked),
                Step::Idle => return std::future::pending().await,
                Step::Sent(pending, Ok(ack)) => {
                    self.sending = None;
                    self.in_flight.push_back(Box::pin(async move {
                        let acked = ack.await.map(|_| ());
                        (pending, acked)
                    }));
                    self.pump();
                }
                Step::Sent(pending, Err(error)) => {
                    self.sending = None;
                    return self.failed(pending, error);
                }
                Step::Done(pending, Ok(())) => {
                    acked += 1;
                    self.stats.acked += 1;
                    if let Some(latency) = &self.latency {
                        latency.record(pending.since.elapsed().as_secs_f64());
                    }
                    if self.probing && self.paused_until.is_none() {
                        self.probing = false;
                        self.backoff = MIN_BACKOFF;
                    }
                    self.pump();
                }
                Step::Done(pending, Err(error)) => return self.failed(pending, error),
            }
        }
    }

    fn failed(&mut self, pending: Pending, error: BusError) -> Progress {
        self.stats.failed += 1;
        self.failed.push(pending);
        let retry_in = self.backoff;
        if self.paused_until.is_none() {
            self.paused_until = Some(Instant::now() + retry_in);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            self.probing = true;
        }
        Progress::Failed { error, retry_in }
    }

    /// Publishes what is held, for at most `deadline` (on shutdown).
    pub async fn drain(&mut self, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.depth() > 0 && Instant::now() < until {
            if tokio::time::timeout_at(until, self.progress())
                .await
                .is_err()
            {
                break;
            }
        }
    }
}
