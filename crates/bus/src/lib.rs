//! `ringside-bus` is Ringside's message bus: one [`Bus`] trait with two
//! implementations that a service cannot tell apart — [`NatsBus`] (NATS JetStream
//! through async-nats, for deployments) and [`InProcessBus`] (bounded in-memory
//! streams, for the monolithic default and tests).
//!
//! It offers durable publish with de-duplication by `msg_id` ([`Bus::publish`]),
//! core publish/subscribe with NATS wildcards, request/reply with queue groups,
//! durable pull consumers with acks and redelivery, ordered ranged reads of a
//! stream, and key-value buckets with revisions, compare-and-set and watch. The
//! subject layout of DESIGN.md lives in [`subject`], the streams and their
//! retention in [`Topology`].
//!
//! The bus must not know what it carries: no AMI, no protobuf, no Ringside event
//! types. Payloads are bytes, headers are strings, and the only Ringside
//! knowledge is the subject layout and the stream names.
//!
//! Both implementations pass one behaviour suite (`tests/contract.rs`); the NATS
//! instance runs against a real server and fails, never skips, without one.

#![warn(missing_docs)]

mod error;
pub mod memory;
mod message;
pub mod nats;
pub mod subject;
mod topology;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use error::BusError;
pub use memory::{InProcessBus, InProcessLimits, in_process};
pub use message::{
    Delivered, Headers, MSG_ID, Outgoing, PublishAck, Request, TRACEPARENT, TRACESTATE,
};
pub use nats::{NatsBus, NatsSettings, connect_nats};
pub use subject::{PbxId, Subjects, TenantId, Token};
pub use topology::{
    Acks, ConsumerSpec, KvConfig, ReadSpec, Retention, StartPosition, Storage, StreamRole,
    StreamSpec, Topology, validate_name,
};

/// The acknowledgement of a [`Bus::publish_pipelined`] message.
pub type AckFuture = BoxFuture<'static, Result<PublishAck, BusError>>;

/// What [`Bus::publish_batch`] handed to the connection.
pub struct BatchSent {
    /// How many messages of the batch, from its start, were handed over.
    pub handed: usize,
    /// Their acks, one per message handed over, in order.
    pub acks: BoxFuture<'static, Vec<Result<PublishAck, BusError>>>,
    /// Why the rest of the batch was not handed over (`None` when all was).
    pub error: Option<BusError>,
}

impl std::fmt::Debug for BatchSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSent")
            .field("handed", &self.handed)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Whether the bus can currently reach its server. The in-process bus is always
/// [`Connected`](ConnectionState::Connected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Operations reach the server.
    Connected,
    /// The connection is lost and being re-established; durable publishes will
    /// time out until it is back. Producers that must not lose data buffer now.
    Disconnected,
}

/// The message bus. Services hold it as `Arc<dyn Bus>` and cannot tell which
/// implementation they got.
///
/// Subjects are checked ([`subject::validate_subject`]); patterns may use `*` (one
/// token) and a trailing `>` (one or more tokens) as NATS does.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Durably publishes to the stream that captures `subject`; resolves once the
    /// stream stored it. A message whose `msg_id` (header [`MSG_ID`]) was stored
    /// within the stream's de-duplication window is not stored again: the ack has
    /// `duplicate: true` and the first copy's sequence. Core subscribers of the
    /// subject see the message too.
    ///
    /// # Errors
    /// [`BusError::NoStream`] if no stream captures `subject`;
    /// [`BusError::Timeout`] / [`BusError::Unavailable`] when the stream did not
    /// answer — the message may or may not be stored, so retry with the same
    /// `msg_id`; [`BusError::InvalidSubject`].
    async fn publish(&self, subject: &str, msg: Outgoing) -> Result<PublishAck, BusError>;

    /// Two-phase [`publish`](Bus::publish), for pipelining: the outer future
    /// resolves once the message is handed to the connection, in call order;
    /// the returned [`AckFuture`] resolves with the stream's ack. A producer
    /// that awaits the outer futures one after another and the acks
    /// concurrently keeps its messages in order in the stream (concurrent
    /// `publish` calls do not: one may overtake another before it is sent).
    async fn publish_pipelined(&self, subject: &str, msg: Outgoing) -> Result<AckFuture, BusError>;

    /// [`publish_pipelined`](Bus::publish_pipelined) for several messages,
    /// in order: they are handed to the connection one after another until
    /// one cannot be ([`BatchSent::error`]; the rest of the batch is not
    /// sent), and their acks resolve together. A producer that publishes in
    /// batches pays for one future per batch instead of two per message; the
    /// in-process bus stores a batch under one lock. `msgs` are copied as
    /// needed, so a producer keeps them for a retry.
    async fn publish_batch(&self, msgs: &[(&str, &Outgoing)]) -> BatchSent {
        let mut acks = Vec::with_capacity(msgs.len());
        let mut error = None;
        for (subject, msg) in msgs {
            match self.publish_pipelined(subject, (*msg).clone()).await {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        BatchSent {
            handed: acks.len(),
            acks: Box::pin(futures::future::join_all(acks)),
            error,
        }
    }

    /// Fire-and-forget core publish (view deltas): delivered to the subscribers
    /// present now. Nobody waits for a stream: a message on a subject that a
    /// stream captures is still stored by it (as NATS does), without an ack, so
    /// use [`Bus::publish`] for anything durable.
    ///
    /// # Errors
    /// [`BusError::InvalidSubject`]; [`BusError::Timeout`] if the connection's
    /// send buffer stays full for the request timeout (NATS away).
    async fn publish_core(&self, subject: &str, msg: Outgoing) -> Result<(), BusError>;

    /// Subscribes to `pattern`. The subscription is active when this returns.
    /// Messages are buffered per subscriber up to a bound; a subscriber that falls
    /// further behind loses messages (counted; see the implementations).
    ///
    /// # Errors
    /// [`BusError::InvalidSubject`]; [`BusError::Unavailable`].
    async fn subscribe(&self, pattern: &str) -> Result<BoxStream<'static, Delivered>, BusError>;

    /// Sends a request and waits up to `timeout` for the first reply.
    ///
    /// # Errors
    /// [`BusError::NoResponders`] at once if nobody serves `subject`;
    /// [`BusError::Timeout`] if nobody answered in time.
    async fn request(
        &self,
        subject: &str,
        msg: Outgoing,
        timeout: Duration,
    ) -> Result<Delivered, BusError>;

    /// Serves requests on `pattern`. With a `queue_group`, each request goes to
    /// one member of the group (replicas share the work); without, to every
    /// server. Answer with [`Request::respond`]. Active when this returns.
    ///
    /// # Errors
    /// [`BusError::InvalidSubject`] (also for an invalid group name);
    /// [`BusError::Unavailable`].
    async fn serve(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
    ) -> Result<BoxStream<'static, Request>, BusError>;

    /// Creates or resumes the durable pull consumer `spec.durable` on
    /// `spec.stream`. The start position applies only when it is created; a
    /// resumed consumer continues after the last acked message, and deliveries
    /// not acked within `ack_wait` are delivered again.
    ///
    /// # Errors
    /// [`BusError::NotFound`] for an unknown stream; [`BusError::InvalidName`].
    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn Consumer>, BusError>;

    /// Reads a stream in order from a start position, optionally filtered; with
    /// `until_caught_up` the stream of messages ends once the reader has seen what
    /// the stream held, otherwise it follows new messages. Nothing is acked or
    /// remembered. For time travel, replays, `events tail` and `ami log --since`.
    ///
    /// # Errors
    /// [`BusError::NotFound`] for an unknown stream.
    async fn read_stream(
        &self,
        spec: ReadSpec,
    ) -> Result<BoxStream<'static, Result<Delivered, BusError>>, BusError>;

    /// Opens the key-value bucket `bucket`, creating it with `config` if absent
    /// (an existing bucket is updated to `config`).
    ///
    /// # Errors
    /// [`BusError::InvalidName`]; [`BusError::Unavailable`].
    async fn kv(&self, bucket: &str, config: KvConfig) -> Result<Arc<dyn Kv>, BusError>;

    /// The connection state now and its changes (for producers that buffer while
    /// the bus is away).
    fn connection(&self) -> tokio::sync::watch::Receiver<ConnectionState>;
}

/// A durable pull consumer (see [`Bus::consumer`]). Several handles with the same
/// durable name share the work, like pull consumers in JetStream.
#[async_trait]
pub trait Consumer: Send {
    /// The durable name.
    fn name(&self) -> &str;

    /// Waits for the next delivery.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] / [`BusError::Timeout`] when the bus is away (the
    /// consumer stays usable); [`BusError::Closed`].
    async fn next(&mut self) -> Result<Delivery, BusError> {
        // Long waits are a sequence of bounded ones (a NATS pull has a
        // server-side expiry).
        loop {
            if let Some(delivery) = self.next_within(Duration::from_secs(30)).await? {
                return Ok(delivery);
            }
        }
    }

    /// The next delivery if one is available within `wait`, else `None`. With a
    /// zero `wait` it only takes what is already there: a steppable loop's
    /// "caught up".
    ///
    /// # Errors
    /// As [`Consumer::next`].
    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError>;
}

/// One delivery from a durable consumer; [`ack`](Delivery::ack) it once handled.
#[derive(Debug)]
pub struct Delivery {
    /// The message, with its stream sequence and time.
    pub msg: Delivered,
    /// 1 on first delivery, more on redeliveries.
    pub delivery_count: u64,
    /// Messages of the stream (matching the filter) not yet delivered to
    /// this consumer when this one was: the consumer's lag.
    pub pending: u64,
    acker: Acker,
}

impl Delivery {
    /// Acknowledges the message; resolves once the bus recorded it, so a consumer
    /// resumed afterwards continues after it.
    ///
    /// # Errors
    /// [`BusError::Timeout`] / [`BusError::Unavailable`]: the ack may be lost and
    /// the message delivered again.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(acker) => nats::ack(*acker).await,
            Acker::InProcess(acker) => {
                acker.ack();
                Ok(())
            }
        }
    }

    /// Gives the message back for immediate redelivery.
    ///
    /// # Errors
    /// As [`Delivery::ack`].
    pub async fn nak(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(acker) => nats::nak(*acker).await,
            Acker::InProcess(acker) => {
                acker.nak();
                Ok(())
            }
        }
    }
}

enum Acker {
    // Boxed: async-nats's acker is a whole JetStream context (~250 bytes).
    Nats(Box<async_nats::jetstream::message::Acker>),
    InProcess(memory::MemAcker),
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Acker::Nats(_) => "Acker::Nats",
            Acker::InProcess(_) => "Acker::InProcess",
        })
    }
}

/// The latest value of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: Bytes,
    /// The revision that wrote it (increases across the whole bucket).
    pub revision: u64,
}

/// A change seen by [`Kv::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvChange {
    /// The key was written.
    Put(KvEntry),
    /// The key was deleted.
    Delete {
        /// The key.
        key: String,
        /// The revision of the deletion.
        revision: u64,
    },
}

impl KvChange {
    /// The key that changed.
    pub fn key(&self) -> &str {
        match self {
            KvChange::Put(entry) => &entry.key,
            KvChange::Delete { key, .. } => key,
        }
    }
}

/// A key-value bucket with revisions. Keys are `[-/_=.A-Za-z0-9]+` without a
/// leading or trailing `.` (the `.` separates tokens for [`Kv::watch`] patterns).
#[async_trait]
pub trait Kv: Send + Sync {
    /// The bucket's name.
    fn bucket(&self) -> &str;

    /// The key's latest value; `None` if absent, deleted or expired.
    ///
    /// # Errors
    /// [`BusError::InvalidName`] for an invalid key; transport errors.
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError>;

    /// Writes the key unconditionally; returns the new revision.
    ///
    /// # Errors
    /// [`BusError::LimitExceeded`] if the bucket is full; as [`Kv::get`].
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError>;

    /// Writes the key only if it is absent (or deleted); returns the revision.
    ///
    /// # Errors
    /// [`BusError::AlreadyExists`] if it has a value; as [`Kv::put`].
    async fn create(&self, key: &str, value: Bytes) -> Result<u64, BusError>;

    /// Writes the key only if its latest revision is `expected_revision` (0: the
    /// key has never been written); returns the new revision.
    ///
    /// # Errors
    /// [`BusError::WrongRevision`] with the current revision otherwise; as
    /// [`Kv::put`].
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: u64,
    ) -> Result<u64, BusError>;

    /// Deletes the key (a later [`Kv::create`] succeeds).
    ///
    /// # Errors
    /// As [`Kv::get`].
    async fn delete(&self, key: &str) -> Result<(), BusError>;

    /// Changes made after this call to keys matching `key_pattern` (`*` and `>`
    /// over `.`-separated key tokens).
    ///
    /// # Errors
    /// [`BusError::InvalidName`] for an invalid pattern; transport errors.
    async fn watch(
        &self,
        key_pattern: &str,
    ) -> Result<BoxStream<'static, Result<KvChange, BusError>>, BusError>;

    /// The keys that currently have a value, sorted.
    ///
    /// # Errors
    /// Transport errors.
    async fn keys(&self) -> Result<Vec<String>, BusError>;
}

/// Checks a KV key (see [`Kv`]).
///
/// # Errors
/// [`BusError::InvalidName`].
pub fn validate_key(key: &str) -> Result<(), BusError> {
    check_key(key, false)
}

/// Checks a KV watch pattern: a key whose tokens may be `*`, and whose last token
/// may be `>`.
///
/// # Errors
/// [`BusError::InvalidName`].
pub fn validate_key_pattern(pattern: &str) -> Result<(), BusError> {
    check_key(pattern, true)
}

fn check_key(key: &str, wildcards: bool) -> Result<(), BusError> {
    if key.is_empty() {
        return Err(BusError::invalid_name(key, "empty key"));
    }
    let mut tokens = key.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(BusError::invalid_name(
                key,
                "empty key token (leading, trailing or double '.')",
            ));
        }
        if wildcards && (token == "*" || (token == ">" && tokens.peek().is_none())) {
            continue;
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'='))
        {
            return Err(BusError::invalid_name(key, "keys are [-/_=.A-Za-z0-9]+"));
        }
    }
    Ok(())
}

/// How a served request is answered: through NATS (reply subject) or in-process.
pub(crate) enum Responder {
    Nats(nats::NatsResponder),
    InProcess(memory::MemResponder),
}

impl Responder {
    fn expects_reply(&self) -> bool {
        match self {
            Responder::Nats(r) => r.expects_reply(),
            Responder::InProcess(r) => r.expects_reply(),
        }
    }

    async fn respond(self, reply: Outgoing) -> Result<(), BusError> {
        match self {
            Responder::Nats(r) => r.respond(reply).await,
            Responder::InProcess(r) => r.respond(reply),
        }
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("expects_reply", &self.expects_reply())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_keys_and_patterns_are_checked() {
        for good in ["a", "lease.pbx-1", "a/b=c_d"] {
            validate_key(good).unwrap();
        }
        for bad in ["", ".a", "a.", "a..b", "a*", "a b", "a.>"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        for good in ["lease.*", ">", "a.*.>"] {
            validate_key_pattern(good).unwrap();
        }
        for bad in ["a.>.b", "a*"] {
            assert!(validate_key_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
