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
//! 3. **Order is kept.** Queued messages are handed to the connection in
//!    order, in batches of what is queued, up to a quarter of the window
//!    ([`Bus::publish_batch`]: one future per batch, one lock per batch on
//!    the in-process bus), while up to `window` acks are awaited together. After a failure nothing new is
//!    sent until the failed messages have been retried, one at a time,
//!    oldest first. Consumers still order by (epoch, sequence): a message
//!    whose ack was lost may have been stored after a later one of the same
//!    window.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use ringside_bus::{BatchSent, Bus, BusError, Outgoing, PublishAck};
use tokio::time::Instant;

/// One message waiting to be published.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Position in publish order, to put failed messages back in order.
    order: u64,
    /// When its AMI frame was read (when it was handed over, for messages
    /// not read from the PBX).
    since: Instant,
    /// Shared: one subject per event kind, not one copy per event.
    pub subject: Arc<str>,
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
    /// Messages the stream stored.
    pub acked: u64,
    /// Publishes that failed (each message is retried).
    pub failed: u64,
    /// Messages dropped because the buffer was full or a gap was open.
    pub dropped: u64,
    /// Gaps opened.
    pub gaps: u64,
}

/// A batch handed over, with the acks of its messages, in order.
type InFlight = BoxFuture<'static, (Vec<Pending>, Vec<Result<PublishAck, BusError>>)>;
/// A batch being handed to the connection.
type Sending = BoxFuture<'static, (Vec<Pending>, BatchSent)>;

/// One thing that happened to the messages being sent.
enum Step {
    Sent(Vec<Pending>, BatchSent),
    Done(Vec<Pending>, Vec<Result<PublishAck, BusError>>),
    Idle,
}

/// A per-producer publisher (one per PBX connection, one for raw frames).
pub struct Publisher {
    bus: Arc<dyn Bus>,
    capacity: usize,
    /// Bound on the payload bytes held (`None`: only `capacity` bounds it),
    /// for messages whose sizes vary widely (raw AMI bursts).
    max_bytes: Option<usize>,
    /// Payload bytes of the messages held.
    held_bytes: usize,
    window: usize,
    queue: VecDeque<Pending>,
    /// The one batch being handed to the connection, and its size.
    sending: Option<Sending>,
    sending_len: usize,
    /// Batches sent, awaiting their acks (in order), and how many messages
    /// they hold.
    in_flight: FuturesOrdered<InFlight>,
    in_flight_len: usize,
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
            max_bytes: None,
            held_bytes: 0,
            window: window.max(1),
            queue: VecDeque::new(),
            sending: None,
            sending_len: 0,
            in_flight: FuturesOrdered::new(),
            in_flight_len: 0,
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

    /// Also bounds the payload bytes held: past `max_bytes` a push opens a
    /// gap, as past `capacity` messages. A message alone is always taken,
    /// whatever its size.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Messages held: queued, in flight or awaiting retry.
    pub fn depth(&self) -> usize {
        self.queue.len() + self.sending_len + self.in_flight_len + self.failed.len()
    }

    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    /// Hands a message over. Returns false when it was dropped: the buffer is
    /// full, or a gap is open.
    pub fn push(&mut self, subject: Arc<str>, msg: Outgoing) -> bool {
        self.push_read_at(subject, msg, Instant::now())
    }

    /// [`push`](Publisher::push) of a message whose AMI frame was read at
    /// `read_at`: its latency is measured from there.
    pub fn push_read_at(&mut self, subject: Arc<str>, msg: Outgoing, read_at: Instant) -> bool {
        if let Some(dropped) = &mut self.gap_dropped {
            *dropped += 1;
            self.stats.dropped += 1;
            return false;
        }
        let len = msg.payload.len();
        let too_many_bytes = self
            .max_bytes
            .is_some_and(|max| self.held_bytes + len > max && self.depth() > 0);
        if self.depth() >= self.capacity || too_many_bytes {
            self.gap_dropped = Some(1);
            self.stats.dropped += 1;
            self.stats.gaps += 1;
            return false;
        }
        self.pushed += 1;
        self.held_bytes += len;
        self.queue.push_back(Pending {
            order: self.pushed,
            since: read_at,
            subject,
            msg,
        });
        // Sent when `progress` is next polled, with whatever else was
        // pushed until then.
        true
    }

    /// Hands what is queued to the connection as one batch, as far as the
    /// window allows.
    fn pump(&mut self) {
        if self.sending.is_some() || self.paused_until.is_some() || !self.failed.is_empty() {
            return;
        }
        let window = if self.probing { 1 } else { self.window };
        let room = window.saturating_sub(self.in_flight_len);
        // A batch's acks resolve together: batches of a quarter of the
        // window keep it sliding (over NATS, the next batch goes out while
        // the acks of the earlier ones come back).
        let n = room.min(self.queue.len()).min(window.div_ceil(4));
        if n == 0 {
            return;
        }
        let batch: Vec<Pending> = self.queue.drain(..n).collect();
        let bus = self.bus.clone();
        self.sending_len = n;
        self.sending = Some(Box::pin(async move {
            let sent = {
                let msgs: Vec<(&str, &Outgoing)> =
                    batch.iter().map(|p| (&*p.subject, &p.msg)).collect();
                bus.publish_batch(&msgs).await
            };
            (batch, sent)
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
                if acked > 0 {
                    return Progress::Acked(acked);
                }
                tokio::time::sleep_until(until).await;
                self.paused_until = None;
                // Failed messages go first, oldest first.
                self.failed.sort_unstable_by_key(|p| p.order);
                for pending in self.failed.drain(..).rev() {
                    self.queue.push_front(pending);
                }
                return Progress::Resumed;
            }
            // What was pushed since the last call goes out as one batch.
            self.pump();
            let (sending, in_flight) = (&mut self.sending, &mut self.in_flight);
            let next = async {
                tokio::select! {
                    (batch, sent) = async { sending.as_mut().expect("guarded").await }, if sending.is_some() => Step::Sent(batch, sent),
                    Some((batch, acks)) = in_flight.next(), if !in_flight.is_empty() => Step::Done(batch, acks),
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
                Step::Sent(mut batch, sent) => {
                    self.sending = None;
                    self.sending_len = 0;
                    let BatchSent {
                        handed,
                        acks,
                        error,
                    } = sent;
                    let unsent = batch.split_off(handed.min(batch.len()));
                    if !batch.is_empty() {
                        self.in_flight_len += batch.len();
                        self.in_flight
                            .push_back(Box::pin(async move { (batch, acks.await) }));
                    }
                    if let Some(error) = error {
                        self.stats.failed += unsent.len() as u64;
                        self.failed.extend(unsent);
                        return self.pause(error);
                    }
                }
                Step::Done(batch, acks) => {
                    self.in_flight_len -= batch.len();
                    let mut acks = acks.into_iter();
                    let mut error = None;
                    for pending in batch {
                        let ack = acks.next().unwrap_or_else(|| {
                            Err(BusError::Unavailable("the bus gave no ack".into()))
                        });
                        match ack {
                            Ok(_) => {
                                acked += 1;
                                self.held_bytes -= pending.msg.payload.len();
                                self.stats.acked += 1;
                                if let Some(latency) = &self.latency {
                                    latency.record(pending.since.elapsed().as_secs_f64());
                                }
                            }
                            Err(e) => {
                                self.stats.failed += 1;
                                self.failed.push(pending);
                                error.get_or_insert(e);
                            }
                        }
                    }
                    if let Some(error) = error {
                        return self.pause(error);
                    }
                    if self.probing && self.paused_until.is_none() {
                        self.probing = false;
                        self.backoff = MIN_BACKOFF;
                    }
                }
            }
        }
    }

    /// After a failure (the failed messages are in `failed`): nothing new is
    /// sent for a backoff, then one message at a time until one succeeds.
    fn pause(&mut self, error: BusError) -> Progress {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use bytes::Bytes;
    use ringside_bus::{PbxId, ReadSpec, StreamRole, TenantId, Token};
    use ringside_testkit::{InterposedBus, Interposer, TestBus};

    use super::*;

    /// Interposed on the in-process bus: records each batch's size and
    /// refuses to hand over the message at index `refuse_at` of all those
    /// offered, once.
    struct Recording {
        log: Mutex<Offered>,
    }

    #[derive(Default)]
    struct Offered {
        batches: Vec<usize>,
        messages: usize,
        refuse_at: Option<usize>,
    }

    #[async_trait]
    impl Interposer for Recording {
        async fn publish_batch(&self, inner: &dyn Bus, msgs: &[(&str, &Outgoing)]) -> BatchSent {
            let cut = {
                let mut log = self.log.lock().unwrap();
                log.batches.push(msgs.len());
                let first = log.messages;
                log.messages += msgs.len();
                let cut = log
                    .refuse_at
                    .filter(|at| (first..log.messages).contains(at));
                if cut.is_some() {
                    log.refuse_at = None;
                }
                cut.map(|at| at - first)
            };
            let Some(cut) = cut else {
                return inner.publish_batch(msgs).await;
            };
            let mut sent = inner.publish_batch(&msgs[..cut]).await;
            sent.error = Some(BusError::Unavailable("connection lost".into()));
            sent
        }
    }

    struct Setup {
        test: TestBus,
        bus: Arc<InterposedBus<Recording>>,
        subject: String,
    }

    fn setup(refuse_at: Option<usize>) -> Setup {
        let test = TestBus::in_process();
        let subject = test.topology.subjects().events(
            &TenantId::new("acme").unwrap(),
            &PbxId::new("pbx1").unwrap(),
            &Token::new("Newstate").unwrap(),
        );
        let bus = Arc::new(InterposedBus {
            inner: test.bus.clone(),
            interposer: Recording {
                log: Mutex::new(Offered {
                    refuse_at,
                    ..Offered::default()
                }),
            },
        });
        Setup { test, bus, subject }
    }

    fn push_numbered(publisher: &mut Publisher, subject: &str, numbers: std::ops::Range<u32>) {
        for i in numbers {
            let msg = Outgoing::new(Bytes::from(i.to_string()))
                .with_msg_id(format!("m-{i}"))
                .unwrap();
            assert!(publisher.push(subject.into(), msg));
        }
    }

    /// Calls `progress` until nothing is held; returns what it said.
    async fn settle(publisher: &mut Publisher) -> Vec<Progress> {
        let mut said = Vec::new();
        while publisher.depth() > 0 {
            let progress = tokio::time::timeout(Duration::from_secs(5), publisher.progress())
                .await
                .expect("the publisher makes progress");
            said.push(progress);
        }
        said
    }

    async fn stored(setup: &Setup) -> Vec<u32> {
        let name = setup.test.topology.stream_name(StreamRole::Events);
        let read = setup
            .test
            .bus
            .read_stream(ReadSpec::new(name).until_caught_up())
            .await
            .unwrap();
        read.map(|d| {
            std::str::from_utf8(&d.unwrap().payload)
                .unwrap()
                .parse::<u32>()
                .unwrap()
        })
        .collect()
        .await
    }

    #[tokio::test]
    async fn what_is_pushed_between_polls_goes_out_in_batches_of_a_quarter_window() {
        let setup = setup(None);
        let mut publisher = Publisher::new(setup.bus.clone(), 10_000, 100, None);
        push_numbered(&mut publisher, &setup.subject, 0..250);
        settle(&mut publisher).await;
        push_numbered(&mut publisher, &setup.subject, 250..260);
        let said = settle(&mut publisher).await;

        assert!(matches!(said[..], [Progress::Acked(10)]), "{said:?}");
        let mut batches = vec![25; 10];
        batches.push(10);
        assert_eq!(setup.bus.interposer.log.lock().unwrap().batches, batches);
        assert_eq!(stored(&setup).await, (0..260).collect::<Vec<_>>());
        assert_eq!(publisher.stats().acked, 260);
    }

    #[tokio::test]
    async fn a_batch_cut_short_is_retried_in_order_one_message_first() {
        // The 31st message offered is refused: 5 into the second batch.
        let setup = setup(Some(30));
        let mut publisher = Publisher::new(setup.bus.clone(), 10_000, 100, None);
        push_numbered(&mut publisher, &setup.subject, 0..60);
        let said = settle(&mut publisher).await;

        let failed = said
            .iter()
            .position(|p| {
                matches!(
                    p,
                    Progress::Failed {
                        error: BusError::Unavailable(_),
                        ..
                    }
                )
            })
            .unwrap_or_else(|| panic!("the failure is reported: {said:?}"));
        assert!(
            said[failed..]
                .iter()
                .any(|p| matches!(p, Progress::Resumed)),
            "{said:?}"
        );
        // Two batches, nothing new after the failure; then a probe of one
        // and the rest (the 20 refused and the 10 still queued).
        assert_eq!(
            setup.bus.interposer.log.lock().unwrap().batches,
            [25, 25, 1, 25, 4]
        );
        assert_eq!(stored(&setup).await, (0..60).collect::<Vec<_>>());
        let stats = publisher.stats();
        assert_eq!((stats.acked, stats.failed, stats.dropped), (60, 20, 0));
    }

    #[tokio::test]
    async fn past_the_byte_bound_a_gap_opens_and_closes_once_what_is_held_is_stored() {
        let setup = setup(None);
        // 0..10 are one or two bytes each: 0..9 take 10 bytes, 10 the 12th.
        let mut publisher = Publisher::new(setup.bus.clone(), 10_000, 100, None).with_max_bytes(11);
        push_numbered(&mut publisher, &setup.subject, 0..10);
        let held = |i: u32| Outgoing::new(Bytes::from(i.to_string()));
        assert!(
            !publisher.push(setup.subject.as_str().into(), held(10)),
            "past the bound"
        );
        assert!(
            !publisher.push(setup.subject.as_str().into(), held(1)),
            "the gap is open"
        );
        let said = settle(&mut publisher).await;

        assert!(
            matches!(said.last(), Some(Progress::GapClosed { dropped: 2 })),
            "{said:?}"
        );
        assert_eq!(stored(&setup).await, (0..10).collect::<Vec<_>>());
        // Once stored, the bytes are free again.
        assert!(publisher.push(setup.subject.as_str().into(), held(10)));
        settle(&mut publisher).await;
        assert_eq!(publisher.stats().acked, 11);
    }
}
