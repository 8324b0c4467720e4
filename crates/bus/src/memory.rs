//! The in-process bus: the same semantics as [`NatsBus`](crate::NatsBus) within
//! one process, for the monolithic default and for tests.
//!
//! # What it keeps, and its limits
//!
//! - **Streams** are the [`Topology`]'s, fixed at construction. Each is an
//!   in-memory log with its own monotonically increasing sequence (starting at
//!   1), trimmed from the oldest end by the stream's `max_age`, `max_messages` and
//!   `max_bytes` *and* by [`InProcessLimits::stream_max_messages`] /
//!   [`stream_max_bytes`](InProcessLimits::stream_max_bytes), whichever is
//!   smaller (a week of events does not fit in memory; the defaults keep at most
//!   1,000,000 messages or 256 MiB per stream). A message's size is its subject,
//!   headers and payload. A single message larger than the byte limit is refused.
//!   Age is measured with tokio's clock (so `tokio::time::pause` works in tests);
//!   `published_at` is wall-clock time.
//! - **De-duplication** remembers each `msg_id` for the stream's
//!   `duplicate_window`, like JetStream, but only while its message is one of
//!   the last `max_messages` the stream took (at 300,000 events/s a 2 minute
//!   window would otherwise hold 36 million ids). Ids are kept as 128-bit
//!   digests in two generations ([`dedupe`]), so memory is at most two
//!   generations of that many ids.
//! - **Nothing stored moves**: the log is kept in fixed-size chunks
//!   ([`chunked`]), so a growing stream never copies itself under its lock.
//! - **Durable consumers** are remembered by name for the life of the bus (not
//!   across restarts: nothing here is persisted): position, un-acked deliveries
//!   and their redelivery deadlines. Handles with the same name share the work.
//! - **Core pub/sub** matches with NATS wildcards. Every subscriber has a buffer
//!   of [`InProcessLimits::subscriber_buffer`] messages; when it is full the
//!   message is dropped for that subscriber, counted in
//!   [`InProcessBus::dropped_messages`] and logged once per subscription. A
//!   publisher never waits for a slow subscriber and memory never grows without
//!   bound. Queue groups deliver each message to one member (round robin,
//!   skipping members whose buffer is full).
//! - **Request/reply** goes straight to the waiting requester; with no matching
//!   server the request fails at once with [`BusError::NoResponders`].
//! - **KV buckets** keep only the latest revision of each key (history is not
//!   readable through [`Kv`] anyway), bounded by the bucket's `max_bytes` and
//!   [`InProcessLimits::kv_max_bytes`]; a write past it is refused with
//!   [`BusError::LimitExceeded`]. Entries past the bucket's `ttl` vanish. Watchers
//!   have the subscriber buffer bound; overflow is counted like core drops.
//!
//! Lookup is linear in the number of subscriptions and streams, which is small
//! in one process (a few per service, one per open browser view), and is done
//! once per subject, not per message (`memory/routes.rs`): again only after the
//! subscriptions change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::subject::{self, validate_pattern, validate_subject};
use crate::topology::validate_name;
use crate::{
    Acker, Acks, Bus, BusError, ConnectionState, Consumer, ConsumerSpec, Delivered, Delivery,
    Headers, Kv, KvChange, KvConfig, KvEntry, Outgoing, PublishAck, ReadSpec, Request, Responder,
    StartPosition, StreamSpec, Topology, validate_key, validate_key_pattern,
};
use chunked::ChunkedDeque;
use dedupe::Dedupe;
use routes::{Route, Routes};

mod chunked;
mod dedupe;
mod routes;

/// Memory bounds of an [`InProcessBus`] (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InProcessLimits {
    /// At most this many messages per stream (default 1,000,000).
    pub stream_max_messages: u64,
    /// At most this many bytes per stream (default 256 MiB).
    pub stream_max_bytes: u64,
    /// Messages buffered per core subscriber, server or KV watcher before
    /// further ones are dropped for it (default 65,536, as async-nats buffers
    /// per subscription): a raw AMI relay at 100,000 messages/s rides out a
    /// pause of up to 0.65 s (with 4,096 it lost messages after 41 ms). Filled,
    /// a buffer holds about 250 bytes a message besides the payloads the
    /// stream shares: 16 MB for one stalled subscriber.
    pub subscriber_buffer: usize,
    /// At most this many bytes of keys and values per KV bucket (default 64 MiB).
    pub kv_max_bytes: u64,
}

impl Default for InProcessLimits {
    fn default() -> Self {
        InProcessLimits {
            stream_max_messages: 1_000_000,
            stream_max_bytes: 256 * 1024 * 1024,
            subscriber_buffer: 65_536,
            kv_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Builds an in-process bus with the streams of `topology`.
///
/// # Errors
/// [`BusError::InvalidName`] / [`BusError::InvalidSubject`] if the topology is
/// invalid ([`Topology::validate`]); JetStream would refuse it too.
pub fn in_process(topology: &Topology, limits: InProcessLimits) -> Result<InProcessBus, BusError> {
    topology.validate()?;
    let dropped = Arc::new(AtomicU64::new(0));
    let core = Arc::new(Core {
        subs: RwLock::new(Vec::new()),
        generation: AtomicU64::new(1),
        next_id: AtomicU64::new(1),
        replies: Mutex::new(HashMap::new()),
        dropped: dropped.clone(),
        round_robin: AtomicUsize::new(0),
        buffer: limits.subscriber_buffer.max(1),
    });
    let streams = topology
        .streams
        .iter()
        .map(|spec| Arc::new(MemStream::new(spec.clone(), &limits)))
        .collect();
    let (connection, _) = watch::channel(ConnectionState::Connected);
    Ok(InProcessBus {
        inner: Arc::new(Inner {
            core,
            streams,
            routes: Routes::default(),
            buckets: Mutex::new(HashMap::new()),
            limits,
            dropped,
            connection,
        }),
    })
}

/// The in-process [`Bus`]. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    streams: Vec<Arc<MemStream>>,
    routes: Routes,
    buckets: Mutex<HashMap<String, Arc<MemBucket>>>,
    limits: InProcessLimits,
    dropped: Arc<AtomicU64>,
    connection: watch::Sender<ConnectionState>,
}

/// Size and sequence range of one in-process stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStats {
    /// Messages held.
    pub messages: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Sequence of the oldest message held (`last_sequence + 1` when empty).
    pub first_sequence: u64,
    /// Sequence of the newest message ever stored (0 before the first).
    pub last_sequence: u64,
}

impl InProcessBus {
    /// Messages dropped so far because a core subscriber, server or KV watcher
    /// had a full buffer.
    pub fn dropped_messages(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Size and range of the stream `name`.
    pub fn stream_stats(&self, name: &str) -> Option<StreamStats> {
        let stream = self.stream(name).ok()?;
        let mut guard = stream.lock();
        let state = &mut guard.log;
        state.expire(Instant::now(), stream.spec.max_age);
        Some(StreamStats {
            messages: state.msgs.len() as u64,
            bytes: state.bytes,
            first_sequence: state.first_seq,
            last_sequence: state.last_seq,
        })
    }

    /// The route of `subject` (validated, its stream found once).
    fn route(&self, subject: &str) -> Result<Arc<Route>, BusError> {
        self.inner.routes.get(subject, |subject| {
            self.inner
                .streams
                .iter()
                .position(|s| s.spec.captures(subject))
        })
    }

    /// The route of a durable publish to `subject` and the index of the
    /// stream that captures it.
    fn stream_route(&self, subject: &str) -> Result<(Arc<Route>, usize), BusError> {
        let route = self.route(subject)?;
        let stream = route.stream.ok_or_else(|| BusError::NoStream {
            subject: subject.to_owned(),
        })?;
        Ok((route, stream))
    }

    /// Whether a core subscription wants messages on `route`.
    fn wanted(&self, route: &Route) -> bool {
        let core = &self.inner.core;
        route.wants(core.generation(), || core.wants(&route.subject))
    }

    fn stream(&self, name: &str) -> Result<Arc<MemStream>, BusError> {
        self.inner
            .streams
            .iter()
            .find(|s| s.spec.name == name)
            .cloned()
            .ok_or_else(|| BusError::not_found(format!("stream {name}")))
    }
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus")
            .field("streams", &self.inner.streams.len())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every
    // critical section is a handful of infallible updates), so keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, subject: &str, msg: Outgoing) -> Result<PublishAck, BusError> {
        let (route, stream) = self.stream_route(subject)?;
        // Copy for core subscribers only when one of them wants this subject.
        let (ack, delivered) =
            self.inner.streams[stream].append(&route.subject, msg, self.wanted(&route))?;
        if let Some(delivered) = delivered {
            self.inner.core.publish(subject, delivered, None);
        }
        Ok(ack)
    }

    async fn publish_pipelined(
        &self,
        subject: &str,
        msg: Outgoing,
    ) -> Result<crate::AckFuture, BusError> {
        // Stored synchronously, so already in order; the ack is ready.
        let ack = self.publish(subject, msg).await;
        Ok(Box::pin(std::future::ready(ack)))
    }

    async fn publish_batch(&self, msgs: &[(&str, &Outgoing)]) -> crate::BatchSent {
        // Stored synchronously, consecutive messages of one stream under one
        // lock; every message is handed over and its ack is ready.
        let routed: Vec<Result<(Arc<Route>, usize), BusError>> = msgs
            .iter()
            .map(|(subject, _)| self.stream_route(subject))
            .collect();
        let mut acks = Vec::with_capacity(msgs.len());
        let mut start = 0;
        while start < msgs.len() {
            let stream = match &routed[start] {
                Ok((_, stream)) => *stream,
                Err(e) => {
                    acks.push(Err(e.clone()));
                    start += 1;
                    continue;
                }
            };
            let end = routed[start..]
                .iter()
                .position(|r| !matches!(r, Ok((_, s)) if *s == stream))
                .map_or(msgs.len(), |n| start + n);
            // Every route of the run is an `Ok` of `stream`.
            let run = routed[start..end].iter().zip(&msgs[start..end]).filter_map(
                |(routed, (_, msg))| {
                    let (route, _) = routed.as_ref().ok()?;
                    Some((&route.subject, (*msg).clone(), self.wanted(route)))
                },
            );
            for (i, stored) in (start..end).zip(self.inner.streams[stream].append_batch(run)) {
                acks.push(stored.map(|(ack, delivered)| {
                    if let Some(delivered) = delivered {
                        self.inner.core.publish(msgs[i].0, delivered, None);
                    }
                    ack
                }));
            }
            start = end;
        }
        crate::BatchSent {
            handed: acks.len(),
            acks: Box::pin(std::future::ready(acks)),
            error: None,
        }
    }

    async fn publish_core(&self, subject: &str, msg: Outgoing) -> Result<(), BusError> {
        let route = self.route(subject)?;
        // As in NATS, a stream captures every message on its subjects, however it
        // was published; only nobody waits for the ack.
        if let Some(stream) = route.stream.map(|i| &self.inner.streams[i]) {
            match stream.append(&route.subject, msg.clone(), self.wanted(&route)) {
                Ok((_, Some(delivered))) => {
                    self.inner.core.publish(subject, delivered, None);
                }
                Ok((_, None)) => {}
                Err(err) => tracing::debug!(subject, error = %err, "core publish not stored"),
            }
            return Ok(());
        }
        self.inner
            .core
            .publish(subject, core_delivered(subject, msg), None);
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<BoxStream<'static, Delivered>, BusError> {
        validate_pattern(pattern)?;
        let (rx, guard) = self.inner.core.add(pattern, None);
        Ok(SubStream { rx, _guard: guard }.map(|item| item.msg).boxed())
    }

    async fn request(
        &self,
        subject: &str,
        msg: Outgoing,
        timeout: Duration,
    ) -> Result<Delivered, BusError> {
        validate_subject(subject)?;
        let core = &self.inner.core;
        let id = core.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&core.replies).insert(id, tx);
        let matched = core.publish(subject, core_delivered(subject, msg), Some(id));
        if matched == 0 {
            lock(&core.replies).remove(&id);
            return Err(BusError::NoResponders {
                subject: subject.to_owned(),
            });
        }
        let outcome = tokio::time::timeout(timeout, rx).await;
        lock(&core.replies).remove(&id);
        match outcome {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => Err(BusError::Timeout),
        }
    }

    async fn serve(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
    ) -> Result<BoxStream<'static, Request>, BusError> {
        validate_pattern(pattern)?;
        if let Some(group) = queue_group {
            crate::subject::Token::new(group)?;
        }
        let (rx, guard) = self.inner.core.add(pattern, queue_group);
        let core = self.inner.core.clone();
        Ok(SubStream { rx, _guard: guard }
            .map(move |item| Request {
                msg: item.msg,
                responder: Responder::InProcess(MemResponder {
                    core: core.clone(),
                    reply: item.reply,
                }),
            })
            .boxed())
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn Consumer>, BusError> {
        validate_name(&spec.durable)?;
        if let Some(filter) = &spec.filter {
            validate_pattern(filter)?;
        }
        let stream = self.stream(&spec.stream)?;
        {
            let mut state = stream.lock();
            state.log.expire(Instant::now(), stream.spec.max_age);
            match state.durables.get_mut(&spec.durable) {
                Some(durable) if durable.acks != spec.acks => durable.reset_acks(spec.acks),
                Some(_) => {}
                None => {
                    let next_seq = state.log.resolve_start(spec.start);
                    state.durables.insert(
                        spec.durable.clone(),
                        Durable {
                            filter: spec.filter.clone(),
                            next_seq,
                            pending: BTreeMap::new(),
                            deadlines: BTreeSet::new(),
                            ack_wait: spec.ack_wait,
                            max_ack_pending: spec.max_ack_pending.max(1),
                            acks: spec.acks,
                        },
                    );
                }
            }
        }
        Ok(Box::new(MemConsumer {
            stream,
            name: spec.durable,
        }))
    }

    async fn read_stream(
        &self,
        spec: ReadSpec,
    ) -> Result<BoxStream<'static, Result<Delivered, BusError>>, BusError> {
        if let Some(filter) = &spec.filter {
            validate_pattern(filter)?;
        }
        let stream = self.stream(&spec.stream)?;
        let next_seq = {
            let mut state = stream.lock();
            state.log.expire(Instant::now(), stream.spec.max_age);
            state.log.resolve_start(spec.start)
        };
        let reader = Reader {
            stream,
            next_seq,
            filter: spec.filter,
            until_caught_up: spec.until_caught_up,
        };
        Ok(stream::unfold(reader, |mut reader| async move {
            let msg = reader.next().await?;
            Some((Ok(msg), reader))
        })
        .boxed())
    }

    async fn kv(&self, bucket: &str, config: KvConfig) -> Result<Arc<dyn Kv>, BusError> {
        validate_name(bucket)?;
        let max_bytes = config
            .max_bytes
            .unwrap_or(u64::MAX)
            .min(self.inner.limits.kv_max_bytes);
        let mut buckets = lock(&self.inner.buckets);
        let bucket = buckets
            .entry(bucket.to_owned())
            .or_insert_with(|| {
                Arc::new(MemBucket {
                    name: bucket.to_owned(),
                    buffer: self.inner.limits.subscriber_buffer.max(1),
                    dropped: self.inner.dropped.clone(),
                    state: Mutex::new(BucketState::default()),
                })
            })
            .clone();
        {
            let mut state = lock(&bucket.state);
            state.ttl = config.ttl.filter(|ttl| !ttl.is_zero());
            state.max_bytes = max_bytes;
        }
        Ok(bucket)
    }

    fn connection(&self) -> watch::Receiver<ConnectionState> {
        self.inner.connection.subscribe()
    }
}

fn core_delivered(subject: &str, msg: Outgoing) -> Delivered {
    Delivered {
        subject: subject.to_owned(),
        payload: msg.payload,
        headers: msg.headers,
        stream_sequence: None,
        published_at: None,
    }
}

// ---------------------------------------------------------------------------
// core pub/sub

pub(crate) struct Core {
    subs: RwLock<Vec<Arc<Sub>>>,
    /// Bumped whenever `subs` changes, so a [`Route`]'s cached answer to
    /// [`Core::wants`] is known to be stale (starts at 1).
    generation: AtomicU64,
    next_id: AtomicU64,
    /// Requests waiting for their first reply, by request id.
    replies: Mutex<HashMap<u64, oneshot::Sender<Delivered>>>,
    dropped: Arc<AtomicU64>,
    round_robin: AtomicUsize,
    buffer: usize,
}

struct Sub {
    id: u64,
    pattern: Box<str>,
    queue: Option<Box<str>>,
    tx: mpsc::Sender<CoreItem>,
    dropped: AtomicU64,
}

struct CoreItem {
    msg: Delivered,
    reply: Option<u64>,
}

impl Core {
    fn add(
        self: &Arc<Self>,
        pattern: &str,
        queue: Option<&str>,
    ) -> (mpsc::Receiver<CoreItem>, SubGuard) {
        let (tx, rx) = mpsc::channel(self.buffer);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subs = self
            .subs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subs.push(Arc::new(Sub {
            id,
            pattern: pattern.into(),
            queue: queue.map(Into::into),
            tx,
            dropped: AtomicU64::new(0),
        }));
        self.generation.fetch_add(1, Ordering::AcqRel);
        drop(subs);
        (
            rx,
            SubGuard {
                core: self.clone(),
                id,
            },
        )
    }

    /// The current subscription generation (see [`Route::wants`]).
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether any subscription matches `subject`.
    fn wants(&self, subject: &str) -> bool {
        self.subs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|sub| subject::matches(&sub.pattern, subject))
    }

    /// Delivers to every matching plain subscriber and to one member of each
    /// matching queue group; returns how many subscriptions matched.
    fn publish(&self, subject: &str, msg: Delivered, reply: Option<u64>) -> usize {
        let subs = self
            .subs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut matched = 0;
        let mut groups: Vec<(&str, Vec<&Sub>)> = Vec::new();
        for sub in subs.iter() {
            if !subject::matches(&sub.pattern, subject) {
                continue;
            }
            matched += 1;
            match &sub.queue {
                None => {
                    self.offer(
                        sub,
                        CoreItem {
                            msg: msg.clone(),
                            reply,
                        },
                    );
                }
                Some(group) => match groups.iter_mut().find(|(g, _)| *g == &**group) {
                    Some((_, members)) => members.push(sub),
                    None => groups.push((group, vec![sub])),
                },
            }
        }
        for (_, members) in groups {
            let start = self.round_robin.fetch_add(1, Ordering::Relaxed);
            let mut item = CoreItem {
                msg: msg.clone(),
                reply,
            };
            let mut placed = false;
            for i in 0..members.len() {
                match members[(start + i) % members.len()].tx.try_send(item) {
                    Ok(()) => {
                        placed = true;
                        break;
                    }
                    Err(mpsc::error::TrySendError::Full(back))
                    | Err(mpsc::error::TrySendError::Closed(back)) => item = back,
                }
            }
            if !placed {
                self.count_drop(members[start % members.len()]);
            }
        }
        matched
    }

    fn offer(&self, sub: &Sub, item: CoreItem) {
        if let Err(mpsc::error::TrySendError::Full(_)) = sub.tx.try_send(item) {
            self.count_drop(sub);
        }
    }

    fn count_drop(&self, sub: &Sub) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if sub.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                pattern = &*sub.pattern,
                buffer = self.buffer,
                "slow subscriber: buffer full, dropping messages for it"
            );
        }
    }
}

struct SubGuard {
    core: Arc<Core>,
    id: u64,
}

impl Drop for SubGuard {
    fn drop(&mut self) {
        let mut subs = self
            .core
            .subs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subs.retain(|s| s.id != self.id);
        self.core.generation.fetch_add(1, Ordering::AcqRel);
    }
}

struct SubStream {
    rx: mpsc::Receiver<CoreItem>,
    _guard: SubGuard,
}

impl Stream for SubStream {
    type Item = CoreItem;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<CoreItem>> {
        self.rx.poll_recv(cx)
    }
}

/// Answers an in-process request.
pub(crate) struct MemResponder {
    core: Arc<Core>,
    reply: Option<u64>,
}

impl MemResponder {
    pub(crate) fn expects_reply(&self) -> bool {
        self.reply.is_some()
    }

    pub(crate) fn respond(self, reply: Outgoing) -> Result<(), BusError> {
        let Some(id) = self.reply else {
            return Ok(());
        };
        // The first answer wins; later ones (several servers without a queue
        // group) and answers after the requester gave up go nowhere, as in NATS.
        if let Some(tx) = lock(&self.core.replies).remove(&id) {
            let _ = tx.send(core_delivered(&format!("_INBOX.{id}"), reply));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// streams

struct MemStream {
    spec: StreamSpec,
    max_messages: u64,
    max_bytes: u64,
    state: Mutex<StreamState>,
    /// Bumped on every append and ack, to wake readers and consumers.
    tick: watch::Sender<()>,
}

struct StreamState {
    log: Log,
    durables: HashMap<String, Durable>,
}

/// The messages of a stream, apart from its consumers so both can be borrowed.
struct Log {
    msgs: ChunkedDeque<Stored>,
    /// Sequence of `msgs[0]`; `last_seq + 1` when empty.
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
    dedupe: Dedupe,
}

struct Stored {
    /// Shared with the subject's [`Route`] and every message on it.
    subject: Arc<str>,
    payload: Bytes,
    headers: Headers,
    published_at: SystemTime,
    at: Instant,
    size: u64,
}

struct Durable {
    filter: Option<String>,
    next_seq: u64,
    /// Delivered, not yet acked: sequence → redelivery deadline and count.
    pending: BTreeMap<u64, Pending>,
    /// The same deliveries by deadline, so the next one due is found without
    /// a scan: a consumer may hold up to `max_ack_pending` of them (10,000
    /// for the state service), looked at on every pull under the stream's
    /// lock, which the publishers wait for.
    deadlines: BTreeSet<(Instant, u64)>,
    ack_wait: Duration,
    max_ack_pending: usize,
    acks: Acks,
}

struct Pending {
    deadline: Instant,
    count: u64,
}

impl Durable {
    /// Records a delivery of `seq` (again, if it is pending); returns how
    /// many times it has been delivered.
    fn record_delivery(&mut self, seq: u64, now: Instant) -> u64 {
        let deadline = now + self.ack_wait;
        let pending = self
            .pending
            .entry(seq)
            .or_insert(Pending { deadline, count: 0 });
        self.deadlines.remove(&(pending.deadline, seq));
        pending.deadline = deadline;
        pending.count += 1;
        self.deadlines.insert((deadline, seq));
        pending.count
    }

    /// The first pending delivery due at `now`, else when the next one is.
    fn due(&self, now: Instant) -> Result<u64, Option<Instant>> {
        match self.deadlines.first() {
            Some(&(deadline, seq)) if deadline <= now => Ok(seq),
            first => Err(first.map(|(deadline, _)| *deadline)),
        }
    }

    /// An ack of `seq`: of it alone, or of it and every delivery before it.
    fn acked(&mut self, seq: u64) {
        match self.acks {
            Acks::Each => {
                if let Some(pending) = self.pending.remove(&seq) {
                    self.deadlines.remove(&(pending.deadline, seq));
                }
            }
            Acks::Cumulative => self.forget_before(seq.saturating_add(1)),
        }
    }

    /// Changes what an ack acknowledges the way NATS does, by recreating the
    /// consumer after its last ack: it goes on from its first unacked
    /// delivery, which comes again as a first delivery.
    fn reset_acks(&mut self, acks: Acks) {
        if let Some((&first, _)) = self.pending.first_key_value() {
            self.next_seq = first;
        }
        self.pending.clear();
        self.deadlines.clear();
        self.acks = acks;
    }

    /// Makes `seq` due at once (a nak).
    fn redeliver_now(&mut self, seq: u64, now: Instant) {
        if let Some(pending) = self.pending.get_mut(&seq) {
            self.deadlines.remove(&(pending.deadline, seq));
            pending.deadline = now;
            self.deadlines.insert((now, seq));
        }
    }

    /// Forgets the deliveries of messages before `first_seq` (acked, or no
    /// longer in the stream).
    fn forget_before(&mut self, first_seq: u64) {
        if self
            .pending
            .first_key_value()
            .is_none_or(|(seq, _)| *seq >= first_seq)
        {
            return;
        }
        let kept = self.pending.split_off(&first_seq);
        for (seq, gone) in std::mem::replace(&mut self.pending, kept) {
            self.deadlines.remove(&(gone.deadline, seq));
        }
    }
}

impl MemStream {
    fn new(spec: StreamSpec, limits: &InProcessLimits) -> Self {
        let max_messages = spec
            .max_messages
            .unwrap_or(u64::MAX)
            .min(limits.stream_max_messages)
            .max(1);
        let max_bytes = spec
            .max_bytes
            .unwrap_or(u64::MAX)
            .min(limits.stream_max_bytes);
        let dedupe = Dedupe::new(spec.duplicate_window, max_messages, Instant::now());
        MemStream {
            spec,
            max_messages,
            max_bytes,
            state: Mutex::new(StreamState {
                log: Log {
                    msgs: ChunkedDeque::default(),
                    first_seq: 1,
                    last_seq: 0,
                    bytes: 0,
                    dedupe,
                },
                durables: HashMap::new(),
            }),
            tick: watch::channel(()).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }

    /// Stores a message; returns the ack and, if `want_copy` and it was not a
    /// duplicate, the copy core subscribers should see.
    fn append(
        &self,
        subject: &Arc<str>,
        msg: Outgoing,
        want_copy: bool,
    ) -> Result<(PublishAck, Option<Delivered>), BusError> {
        let clock = Clock::now();
        let stored = self.append_locked(&mut self.lock().log, clock, subject, msg, want_copy);
        self.wake_readers_if_stored(std::slice::from_ref(&stored));
        stored
    }

    /// [`append`](Self::append) for consecutive messages of a batch: one
    /// lock, one reading of the clocks and one wake-up of readers for all.
    fn append_batch<'a>(
        &self,
        msgs: impl Iterator<Item = (&'a Arc<str>, Outgoing, bool)>,
    ) -> Vec<Result<(PublishAck, Option<Delivered>), BusError>> {
        let clock = Clock::now();
        let mut guard = self.lock();
        let stored: Vec<_> = msgs
            .map(|(subject, msg, want_copy)| {
                self.append_locked(&mut guard.log, clock, subject, msg, want_copy)
            })
            .collect();
        drop(guard);
        self.wake_readers_if_stored(&stored);
        stored
    }

    /// Wakes readers and consumers once, if any message was newly stored (a
    /// duplicate or a refused one changes nothing for them).
    fn wake_readers_if_stored(&self, stored: &[Result<(PublishAck, Option<Delivered>), BusError>]) {
        if stored
            .iter()
            .any(|r| matches!(r, Ok((ack, _)) if !ack.duplicate))
        {
            self.tick.send_replace(());
        }
    }

    fn append_locked(
        &self,
        state: &mut Log,
        clock: Clock,
        subject: &Arc<str>,
        msg: Outgoing,
        want_copy: bool,
    ) -> Result<(PublishAck, Option<Delivered>), BusError> {
        let size = (subject.len()
            + msg.payload.len()
            + msg
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()) as u64;
        if size > self.max_bytes {
            return Err(BusError::LimitExceeded(format!(
                "message of {size} bytes is larger than stream {} may hold",
                self.spec.name
            )));
        }
        let now = clock.at;
        state.expire(now, self.spec.max_age);
        let sequence = state.last_seq + 1;
        let admitted = match msg.headers.msg_id() {
            Some(id) => state.dedupe.admit(state.dedupe.key(id), sequence, now),
            None => Ok(()),
        };
        if let Err(sequence) = admitted {
            return Ok((
                PublishAck {
                    stream: self.spec.name.clone(),
                    sequence,
                    duplicate: true,
                },
                None,
            ));
        }
        // The copy for core subscribers; skipped (no allocation) when nobody
        // subscribes, the common case on the hot ingest path.
        let delivered = want_copy.then(|| Delivered {
            subject: subject.to_string(),
            payload: msg.payload.clone(),
            headers: msg.headers.clone(),
            stream_sequence: None,
            published_at: None,
        });
        state.msgs.push_back(Stored {
            subject: subject.clone(),
            payload: msg.payload,
            headers: msg.headers,
            published_at: clock.wall,
            at: now,
            size,
        });
        state.last_seq = sequence;
        state.bytes += size;
        while state.msgs.len() as u64 > self.max_messages || state.bytes > self.max_bytes {
            state.pop_oldest();
        }
        Ok((
            PublishAck {
                stream: self.spec.name.clone(),
                sequence,
                duplicate: false,
            },
            delivered,
        ))
    }
}

/// When messages were stored: read once per append or batch.
#[derive(Clone, Copy)]
struct Clock {
    at: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Self {
        Clock {
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

impl Log {
    fn pop_oldest(&mut self) {
        if let Some(old) = self.msgs.pop_front() {
            self.bytes -= old.size;
            self.first_seq += 1;
        }
    }

    fn expire(&mut self, now: Instant, max_age: Option<Duration>) {
        let Some(max_age) = max_age.filter(|age| !age.is_zero()) else {
            return;
        };
        while self
            .msgs
            .front()
            .is_some_and(|m| now.saturating_duration_since(m.at) >= max_age)
        {
            self.pop_oldest();
        }
    }

    fn get(&self, seq: u64) -> Option<&Stored> {
        if seq < self.first_seq {
            return None;
        }
        self.msgs.get(usize::try_from(seq - self.first_seq).ok()?)
    }

    fn resolve_start(&self, start: StartPosition) -> u64 {
        match start {
            StartPosition::All => self.first_seq,
            StartPosition::FromSequence(seq) => seq.max(self.first_seq),
            StartPosition::New => self.last_seq + 1,
            StartPosition::FromTime(time) => {
                // Stored times only go up (one clock, one lock), so bisect.
                let index = self.msgs.partition_point(|m| m.published_at < time);
                self.first_seq + index as u64
            }
        }
    }

    /// The first sequence at or after `from` whose subject matches `filter`.
    fn next_matching(&self, from: u64, filter: Option<&str>) -> Option<u64> {
        let mut seq = from.max(self.first_seq);
        while let Some(msg) = self.get(seq) {
            if filter.is_none_or(|f| subject::matches(f, &msg.subject)) {
                return Some(seq);
            }
            seq += 1;
        }
        None
    }

    fn delivered(&self, seq: u64) -> Option<Delivered> {
        self.get(seq).map(|m| Delivered {
            subject: m.subject.to_string(),
            payload: m.payload.clone(),
            headers: m.headers.clone(),
            stream_sequence: Some(seq),
            published_at: Some(m.published_at),
        })
    }
}

struct Reader {
    stream: Arc<MemStream>,
    next_seq: u64,
    filter: Option<String>,
    until_caught_up: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<Delivered> {
        loop {
            let mut tick = self.stream.tick.subscribe();
            {
                let mut guard = self.stream.lock();
                let state = &mut guard.log;
                state.expire(Instant::now(), self.stream.spec.max_age);
                match state.next_matching(self.next_seq, self.filter.as_deref()) {
                    Some(seq) => {
                        self.next_seq = seq + 1;
                        return state.delivered(seq);
                    }
                    None => {
                        self.next_seq = self.next_seq.max(state.last_seq + 1);
                        if self.until_caught_up {
                            return None;
                        }
                    }
                }
            }
            tick.changed().await.ok()?;
        }
    }
}

struct MemConsumer {
    stream: Arc<MemStream>,
    name: String,
}

enum Take {
    Got(Delivery),
    /// Nothing now; something may become due for redelivery at this instant.
    Wait(Option<Instant>),
}

impl MemConsumer {
    fn take(&self) -> Take {
        let now = Instant::now();
        let mut guard = self.stream.lock();
        let StreamState {
            log: state,
            durables,
        } = &mut *guard;
        state.expire(now, self.stream.spec.max_age);
        let Some(durable) = durables.get_mut(&self.name) else {
            return Take::Wait(None);
        };
        // Redeliveries first, earliest deadline first; forget what was
        // trimmed away.
        durable.forget_before(state.first_seq);
        let next_due = match durable.due(now) {
            Ok(seq) => {
                let count = durable.record_delivery(seq, now);
                let msg = state.delivered(seq).expect("pending entries are retained");
                return Take::Got(self.delivery(
                    msg,
                    seq,
                    count,
                    state.last_seq.saturating_sub(seq),
                ));
            }
            Err(next_due) => next_due,
        };
        if durable.pending.len() >= durable.max_ack_pending {
            return Take::Wait(next_due);
        }
        match state.next_matching(durable.next_seq, durable.filter.as_deref()) {
            Some(seq) => {
                durable.next_seq = seq + 1;
                let count = durable.record_delivery(seq, now);
                let msg = state.delivered(seq).expect("matched sequence is held");
                Take::Got(self.delivery(msg, seq, count, state.last_seq.saturating_sub(seq)))
            }
            None => {
                durable.next_seq = durable.next_seq.max(state.last_seq + 1);
                Take::Wait(next_due)
            }
        }
    }

    /// `pending`: the stream's messages after this one (the filter aside:
    /// an upper bound of the consumer's lag).
    fn delivery(&self, msg: Delivered, seq: u64, count: u64, pending: u64) -> Delivery {
        Delivery {
            msg,
            delivery_count: count,
            pending,
            acker: Acker::InProcess(MemAcker {
                stream: self.stream.clone(),
                durable: self.name.clone(),
                seq,
            }),
        }
    }
}

#[async_trait]
impl Consumer for MemConsumer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        let give_up = Instant::now() + wait;
        loop {
            let mut tick = self.stream.tick.subscribe();
            let wake = match self.take() {
                Take::Got(delivery) => return Ok(Some(delivery)),
                Take::Wait(due) => due.map_or(give_up, |due| due.min(give_up)),
            };
            if Instant::now() >= give_up {
                return Ok(None);
            }
            tokio::select! {
                changed = tick.changed() => if changed.is_err() { return Err(BusError::Closed) },
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// Acks an in-process delivery.
pub(crate) struct MemAcker {
    stream: Arc<MemStream>,
    durable: String,
    seq: u64,
}

impl MemAcker {
    pub(crate) fn ack(self) {
        let mut state = self.stream.lock();
        if let Some(durable) = state.durables.get_mut(&self.durable) {
            durable.acked(self.seq);
        }
        drop(state);
        // Frees a max_ack_pending slot: wake waiting consumers.
        self.stream.tick.send_replace(());
    }

    pub(crate) fn nak(self) {
        let mut state = self.stream.lock();
        if let Some(durable) = state.durables.get_mut(&self.durable) {
            durable.redeliver_now(self.seq, Instant::now());
        }
        drop(state);
        self.stream.tick.send_replace(());
    }
}

// ---------------------------------------------------------------------------
// key-value

struct MemBucket {
    name: String,
    buffer: usize,
    dropped: Arc<AtomicU64>,
    state: Mutex<BucketState>,
}

#[derive(Default)]
struct BucketState {
    revision: u64,
    slots: HashMap<String, Slot>,
    bytes: u64,
    ttl: Option<Duration>,
    max_bytes: u64,
    watchers: Vec<Watcher>,
}

struct Slot {
    /// `None`: a delete marker.
    value: Option<Bytes>,
    revision: u64,
    at: Instant,
}

struct Watcher {
    pattern: String,
    tx: mpsc::Sender<KvChange>,
    dropped: u64,
}

impl BucketState {
    /// Removes entries past the TTL (the bucket forgets them entirely, as the
    /// JetStream bucket's max_age does).
    fn expire(&mut self, now: Instant) {
        let Some(ttl) = self.ttl else { return };
        let mut freed = 0;
        self.slots.retain(|key, slot| {
            let live = now.saturating_duration_since(slot.at) < ttl;
            if !live {
                freed += slot_size(key, slot);
            }
            live
        });
        self.bytes -= freed;
    }

    fn write(
        &mut self,
        bucket: &MemBucket,
        key: &str,
        value: Option<Bytes>,
        now: Instant,
    ) -> Result<u64, BusError> {
        let old = self.slots.get(key).map_or(0, |s| slot_size(key, s));
        let new = (key.len() + value.as_ref().map_or(0, Bytes::len)) as u64;
        if value.is_some() && self.bytes - old + new > self.max_bytes {
            return Err(BusError::LimitExceeded(format!(
                "bucket {} is full ({} bytes)",
                bucket.name, self.max_bytes
            )));
        }
        self.revision += 1;
        let revision = self.revision;
        let change = match &value {
            Some(value) => KvChange::Put(KvEntry {
                key: key.to_owned(),
                value: value.clone(),
                revision,
            }),
            None => KvChange::Delete {
                key: key.to_owned(),
                revision,
            },
        };
        let slot = Slot {
            value,
            revision,
            at: now,
        };
        self.bytes = self.bytes - old + slot_size(key, &slot);
        self.slots.insert(key.to_owned(), slot);
        self.watchers.retain_mut(|w| {
            if !subject::matches(&w.pattern, key) {
                return !w.tx.is_closed();
            }
            match w.tx.try_send(change.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    bucket.dropped.fetch_add(1, Ordering::Relaxed);
                    w.dropped += 1;
                    if w.dropped == 1 {
                        tracing::warn!(
                            bucket = bucket.name,
                            pattern = w.pattern,
                            "slow kv watcher: buffer full, dropping changes for it"
                        );
                    }
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        Ok(revision)
    }
}

fn slot_size(key: &str, slot: &Slot) -> u64 {
    slot.value
        .as_ref()
        .map_or(0, |v| (key.len() + v.len()) as u64)
}

impl MemBucket {
    fn state(&self) -> MutexGuard<'_, BucketState> {
        let mut state = lock(&self.state);
        state.expire(Instant::now());
        state
    }
}

#[async_trait]
impl Kv for MemBucket {
    fn bucket(&self) -> &str {
        &self.name
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        validate_key(key)?;
        let state = self.state();
        Ok(state.slots.get(key).and_then(|slot| {
            slot.value.as_ref().map(|value| KvEntry {
                key: key.to_owned(),
                value: value.clone(),
                revision: slot.revision,
            })
        }))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        validate_key(key)?;
        self.state().write(self, key, Some(value), Instant::now())
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        validate_key(key)?;
        let mut state = self.state();
        if state.slots.get(key).is_some_and(|s| s.value.is_some()) {
            return Err(BusError::AlreadyExists {
                what: format!("key {key} in bucket {}", self.name),
            });
        }
        state.write(self, key, Some(value), Instant::now())
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: u64,
    ) -> Result<u64, BusError> {
        validate_key(key)?;
        let mut state = self.state();
        let current = state.slots.get(key).map(|s| s.revision);
        if current.unwrap_or(0) != expected_revision {
            return Err(BusError::WrongRevision { current });
        }
        state.write(self, key, Some(value), Instant::now())
    }

    async fn delete(&self, key: &str) -> Result<(), BusError> {
        validate_key(key)?;
        self.state().write(self, key, None, Instant::now())?;
        Ok(())
    }

    async fn watch(
        &self,
        key_pattern: &str,
    ) -> Result<BoxStream<'static, Result<KvChange, BusError>>, BusError> {
        validate_key_pattern(key_pattern)?;
        let (tx, mut rx) = mpsc::channel(self.buffer);
        self.state().watchers.push(Watcher {
            pattern: key_pattern.to_owned(),
            tx,
            dropped: 0,
        });
        Ok(stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok).boxed())
    }

    async fn keys(&self) -> Result<Vec<String>, BusError> {
        let state = self.state();
        let mut keys: Vec<String> = state
            .slots
            .iter()
            .filter(|(_, slot)| slot.value.is_some())
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Retention, StreamRole, Token};

    fn bus(limits: InProcessLimits) -> (InProcessBus, Topology) {
        let topology = Topology::v1(&Retention::default());
        (in_process(&topology, limits).unwrap(), topology)
    }

    fn ev(topology: &Topology) -> String {
        topology.subjects().events(
            &"t".parse().unwrap(),
            &"p".parse().unwrap(),
            &Token::new("Kind").unwrap(),
        )
    }

    #[tokio::test]
    async fn streams_are_trimmed_to_the_in_process_limits() {
        let (bus, topology) = bus(InProcessLimits {
            stream_max_messages: 3,
            ..InProcessLimits::default()
        });
        for i in 0..5u8 {
            bus.publish(&ev(&topology), Outgoing::new(vec![i]))
                .await
                .unwrap();
        }
        let stats = bus
            .stream_stats(&topology.stream_name(StreamRole::Events))
            .unwrap();
        assert_eq!(
            (stats.messages, stats.first_sequence, stats.last_sequence),
            (3, 3, 5)
        );
    }

    #[tokio::test]
    async fn a_message_larger_than_the_stream_may_hold_is_refused() {
        let (bus, topology) = bus(InProcessLimits {
            stream_max_bytes: 100,
            ..InProcessLimits::default()
        });
        let err = bus
            .publish(&ev(&topology), Outgoing::new(vec![0u8; 200]))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::LimitExceeded(_)), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn unacked_deliveries_come_back_in_deadline_order_and_trimmed_ones_are_forgotten() {
        let (bus, topology) = bus(InProcessLimits {
            stream_max_messages: 6,
            ..InProcessLimits::default()
        });
        for i in 0..4u8 {
            bus.publish(&ev(&topology), Outgoing::new(vec![i]))
                .await
                .unwrap();
        }
        let spec = ConsumerSpec::new(topology.stream_name(StreamRole::Events), "slow")
            .ack_wait(Duration::from_secs(30));
        let mut consumer = bus.consumer(spec).await.unwrap();
        let mut next = async || {
            let d = consumer
                .next_within(Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            (d.msg.payload[0], d.delivery_count, d)
        };
        let (first, ..) = next().await;
        tokio::time::advance(Duration::from_secs(10)).await;
        let (second, _, d2) = next().await;
        let (third, _, d3) = next().await;
        assert_eq!((first, second, third), (0, 1, 2));
        // A nak is due at once, before the older unacked first delivery.
        d3.nak().await.unwrap();
        let (again, count, _) = next().await;
        assert_eq!((again, count), (2, 2));
        d2.ack().await.unwrap();
        // Past the first one's deadline it comes back; the acked one never does.
        let (fourth, ..) = next().await;
        assert_eq!(fourth, 3);
        tokio::time::advance(Duration::from_secs(21)).await;
        let (late, count, _) = next().await;
        assert_eq!((late, count), (0, 2));
        // Messages trimmed away are no longer pending: only what the stream
        // holds is delivered again.
        for i in 4..10u8 {
            bus.publish(&ev(&topology), Outgoing::new(vec![i]))
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        let (kept, ..) = next().await;
        assert_eq!(kept, 4, "the oldest message the stream still holds");
    }

    #[tokio::test(start_paused = true)]
    async fn messages_older_than_max_age_disappear() {
        let retention = Retention {
            events_max_age: Duration::from_secs(60),
            ..Retention::default()
        };
        let topology = Topology::v1(&retention);
        let bus = in_process(&topology, InProcessLimits::default()).unwrap();
        bus.publish(&ev(&topology), Outgoing::new("old"))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        bus.publish(&ev(&topology), Outgoing::new("new"))
            .await
            .unwrap();
        let stats = bus
            .stream_stats(&topology.stream_name(StreamRole::Events))
            .unwrap();
        assert_eq!((stats.messages, stats.first_sequence), (1, 2));
    }

    #[tokio::test]
    async fn a_slow_subscriber_loses_messages_and_they_are_counted() {
        let (bus, _) = bus(InProcessLimits {
            subscriber_buffer: 2,
            ..InProcessLimits::default()
        });
        let mut sub = bus.subscribe("views.>").await.unwrap();
        for i in 0..5u8 {
            bus.publish_core("views.a", Outgoing::new(vec![i]))
                .await
                .unwrap();
        }
        assert_eq!(bus.dropped_messages(), 3);
        assert_eq!(sub.next().await.unwrap().payload, Bytes::from(vec![0u8]));
        assert_eq!(sub.next().await.unwrap().payload, Bytes::from(vec![1u8]));
    }

    /// A subject's route remembers whether anyone subscribes; a subscription
    /// made or dropped later must still be seen at once.
    #[tokio::test]
    async fn subscriptions_made_and_dropped_after_a_subject_was_routed_are_seen() {
        let (bus, topology) = bus(InProcessLimits::default());
        let subject = ev(&topology);
        bus.publish(&subject, Outgoing::new("before"))
            .await
            .unwrap();
        let mut sub = bus.subscribe(&subject).await.unwrap();
        bus.publish(&subject, Outgoing::new("during"))
            .await
            .unwrap();
        let during = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
        let during = during.expect("a new subscription gets the next message");
        assert_eq!(during.unwrap().payload, Bytes::from("during"));
        drop(sub);
        let mut other = bus.subscribe("views.>").await.unwrap();
        bus.publish(&subject, Outgoing::new("after")).await.unwrap();
        bus.publish_core("views.a", Outgoing::new("core"))
            .await
            .unwrap();
        assert_eq!(other.next().await.unwrap().payload, Bytes::from("core"));
        assert_eq!(bus.dropped_messages(), 0);
        let stats = bus
            .stream_stats(&topology.stream_name(StreamRole::Events))
            .unwrap();
        assert_eq!(stats.messages, 3, "every publish stored");
    }

    #[tokio::test(start_paused = true)]
    async fn duplicates_are_accepted_again_after_the_window() {
        let (bus, topology) = bus(InProcessLimits::default());
        let msg = || Outgoing::new("x").with_msg_id("id-1").unwrap();
        assert!(!bus.publish(&ev(&topology), msg()).await.unwrap().duplicate);
        assert!(bus.publish(&ev(&topology), msg()).await.unwrap().duplicate);
        tokio::time::advance(Duration::from_secs(121)).await;
        let ack = bus.publish(&ev(&topology), msg()).await.unwrap();
        assert_eq!((ack.duplicate, ack.sequence), (false, 2));
    }

    #[tokio::test]
    async fn remembered_msg_ids_are_bounded_by_the_stream_size() {
        let (bus, topology) = bus(InProcessLimits {
            stream_max_messages: 2,
            ..InProcessLimits::default()
        });
        for id in ["a", "b", "c"] {
            let msg = Outgoing::new("x").with_msg_id(id).unwrap();
            bus.publish(&ev(&topology), msg).await.unwrap();
        }
        let again = |id: &str| Outgoing::new("x").with_msg_id(id).unwrap();
        assert!(
            bus.publish(&ev(&topology), again("c"))
                .await
                .unwrap()
                .duplicate
        );
        assert!(
            !bus.publish(&ev(&topology), again("a"))
                .await
                .unwrap()
                .duplicate
        );
    }

    #[tokio::test(start_paused = true)]
    async fn kv_entries_expire_after_the_ttl() {
        let (bus, _) = bus(InProcessLimits::default());
        let kv = bus
            .kv(
                "leases",
                KvConfig {
                    ttl: Some(Duration::from_secs(15)),
                    ..KvConfig::default()
                },
            )
            .await
            .unwrap();
        kv.put("pbx1", "owner-a".into()).await.unwrap();
        tokio::time::advance(Duration::from_secs(16)).await;
        assert_eq!(kv.get("pbx1").await.unwrap(), None);
        kv.create("pbx1", "owner-b".into()).await.unwrap();
    }

    #[tokio::test]
    async fn a_full_bucket_refuses_writes() {
        let (bus, _) = bus(InProcessLimits::default());
        let kv = bus
            .kv(
                "small",
                KvConfig {
                    max_bytes: Some(10),
                    ..KvConfig::default()
                },
            )
            .await
            .unwrap();
        kv.put("a", "12345".into()).await.unwrap();
        let err = kv.put("b", "123456789".into()).await.unwrap_err();
        assert!(matches!(err, BusError::LimitExceeded(_)), "{err}");
        kv.put("a", "123456789".into()).await.unwrap();
    }
}
