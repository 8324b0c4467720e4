//! The NATS JetStream bus (async-nats 0.51).
//!
//! [`connect_nats`] connects with a timeout (a clear [`BusError::Unavailable`]
//! when no server answers) and creates or updates the [`Topology`]'s streams:
//! `get_or_create_stream`, then `update_stream` when the server's configuration
//! differs from the wanted one in anything we set. Reconnection is async-nats's
//! (with a capped back-off, [`NatsSettings::max_reconnect_delay`]); the state is
//! surfaced through [`Bus::connection`] so producers can buffer while it is away.
//!
//! # Headers
//! [`Headers`] map one-to-one to NATS headers: the `msg_id` is `Nats-Msg-Id`
//! (JetStream's de-duplication header), trace context is `traceparent` /
//! `tracestate`.
//!
//! # Durable consumers
//! Pull consumers, acked one by one (`AckExplicit`) or cumulatively
//! (`AckAll`, [`Acks::Cumulative`]); a durable found with the other policy is
//! recreated after its ack floor, since JetStream cannot change it. `next` pulls up to
//! [`ConsumerSpec::prefetch`] messages that are already available, and waits
//! with a one-message pull otherwise, so a waiting consumer never holds messages
//! it has not handed out. Messages fetched but not handed out when the handle is
//! dropped are nak'ed so the next handle gets them at once. `ack` is a double
//! ack: it resolves when the server recorded it.
//!
//! # Ranged reads
//! [`Bus::read_stream`] is an ephemeral ordered push consumer (flow control,
//! heartbeats, recreated by async-nats on a gap). With `until_caught_up` it ends
//! after the message the server reports with nothing pending, or at once when
//! the range is empty. Known edge: if retention removes the last pending
//! messages between the consumer's creation and their delivery, no message ever
//! reports zero pending and the read follows instead of ending; callers bound
//! such reads by time (`events tail` / `ami log` do anyway).
//!
//! # Key-value buckets on NATS 2.9
//! async-nats 0.51's `create_key_value` first queries the account info, whose
//! shape changed in nats-server 2.10, so it fails against 2.9.x (Debian
//! bookworm ships 2.9.10). [`Bus::kv`] therefore creates the bucket's backing
//! stream itself, exactly as the KV specification (ADR-8) lays it out — stream
//! `KV_<bucket>`, subjects `$KV.<bucket>.>`, `max_msgs_per_subject` = history,
//! `allow_rollup_hdrs`, `deny_delete`, `allow_direct`, discard `new`, `max_age`
//! = TTL — with `get_or_create_stream`, then opens it with
//! `get_key_value(bucket)` and uses the store's get/put/create/update/delete/
//! watch/keys, none of which query the account. The contract suite runs this
//! against the machine's nats-server 2.9.10; deployments run 2.10 or later, where
//! the same stream is what `create_key_value` would have made.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull, push},
    kv,
    message::PublishMessage,
    stream,
};
use async_nats::{Client, ConnectOptions, Event, HeaderMap};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use std::collections::VecDeque;
use tokio::sync::watch;

use crate::subject::{validate_pattern, validate_subject};
use crate::topology::validate_name;
use crate::{
    Acker, Acks, Bus, BusError, ConnectionState, Consumer, ConsumerSpec, Delivered, Delivery,
    Headers, Kv, KvChange, KvConfig, KvEntry, Outgoing, PublishAck, ReadSpec, Request, Responder,
    StartPosition, Storage, StreamSpec, Topology, validate_key, validate_key_pattern,
};

/// How to reach NATS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsSettings {
    /// Server URL(s), comma-separated (`nats://127.0.0.1:4222`). User and
    /// password in the URL are never logged or put in errors.
    pub url: String,
    /// Connection name shown by the server (`ringside-ingestor`…).
    pub name: String,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Bound on JetStream API calls, publish acks, double acks and flushes.
    pub request_timeout: Duration,
    /// A NATS `.creds` file (JWT + nkey seed), if the server wants one.
    pub credentials_file: Option<PathBuf>,
    /// Reconnect attempts back off up to this delay.
    pub max_reconnect_delay: Duration,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            url: "nats://127.0.0.1:4222".to_owned(),
            name: "ringside".to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            credentials_file: None,
            max_reconnect_delay: Duration::from_secs(2),
        }
    }
}

/// How many JetStream publishes may await their ack at once, across the whole
/// connection.
///
/// async-nats bounds this per context (5,000 by default) with a semaphore that
/// `send_publish` waits on *without a deadline*, and a permit is only given back
/// when its ack future is polled to the end or dropped. A producer that hands
/// over a batch before it awaits the batch's acks (as [`Bus::publish_batch`]
/// does, and the ingestor's publishers with several batches in flight) holds
/// permits it cannot give back until it gets more: with enough PBXs, every
/// permit sat in half-sent batches and nothing moved again, lease renewals
/// included (a KV write is a JetStream publish). Ringside's producers bound
/// their own in-flight windows, so the client-wide bound is set far above their
/// sum (it costs nothing: neither the semaphore nor the channel behind it
/// allocates per permit); the remaining wait in `send_publish`, for room in the
/// connection's command channel, is bounded by the request timeout.
const MAX_ACKS_PENDING: usize = 1 << 24;

/// The NATS JetStream [`Bus`]. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct NatsBus {
    client: Client,
    js: jetstream::Context,
    request_timeout: Duration,
    state: watch::Receiver<ConnectionState>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// `nats://user:secret@host:4222` → `nats://host:4222`, for messages and logs.
fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}{}", &one[..scheme + 3], &one[at + 1..])
            }
            (None, Some(at)) => one[at + 1..].to_owned(),
            _ => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Connects to NATS and creates or updates the streams of `topology`.
///
/// # Errors
/// [`BusError::Unavailable`] if no server answers within the connect timeout
/// (or the credentials file cannot be read); [`BusError::Stream`] if a stream
/// cannot be created or updated (e.g. its storage type differs: JetStream cannot
/// change that); topology validation errors.
pub async fn connect_nats(
    settings: &NatsSettings,
    topology: &Topology,
) -> Result<NatsBus, BusError> {
    topology.validate()?;
    let url = redact(&settings.url);
    let (state_tx, state_rx) = watch::channel(ConnectionState::Disconnected);
    let state_tx = Arc::new(state_tx);
    let events = state_tx.clone();
    let events_url = url.clone();
    let max_delay = settings.max_reconnect_delay;
    let mut options = ConnectOptions::new()
        .name(&settings.name)
        .connection_timeout(settings.connect_timeout)
        .request_timeout(Some(settings.request_timeout))
        .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max_delay))
        .event_callback(move |event| {
            let events = events.clone();
            let url = events_url.clone();
            async move { on_event(&events, &url, event) }
        });
    if let Some(path) = &settings.credentials_file {
        options = options.credentials_file(path).await.map_err(|err| {
            BusError::Unavailable(format!("reading credentials {}: {err}", path.display()))
        })?;
    }
    let connect = options.connect(settings.url.as_str());
    let client = match tokio::time::timeout(settings.connect_timeout, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => {
            return Err(BusError::Unavailable(format!(
                "connecting to nats at {url}: {err}"
            )));
        }
        Err(_) => {
            return Err(BusError::Unavailable(format!(
                "connecting to nats at {url}: timed out after {:?}",
                settings.connect_timeout
            )));
        }
    };
    if client.connection_state() == async_nats::connection::State::Connected {
        state_tx.send_replace(ConnectionState::Connected);
    }
    let js = jetstream::ContextBuilder::new()
        .timeout(settings.request_timeout)
        .max_ack_inflight(MAX_ACKS_PENDING)
        .build(client.clone());
    let bus = NatsBus {
        client,
        js,
        request_timeout: settings.request_timeout,
        state: state_rx,
    };
    for spec in &topology.streams {
        bus.ensure_stream(stream_config(spec)).await?;
    }
    tracing::info!(url, streams = topology.streams.len(), "connected to nats");
    Ok(bus)
}

fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    // 0, 100 ms, 200 ms, 400 ms … capped: fast recovery from a blip, no hammering.
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    Duration::from_millis(100u64 << exp).min(max)
}

fn on_event(state: &watch::Sender<ConnectionState>, url: &str, event: Event) {
    match event {
        Event::Connected => {
            tracing::info!(url, "nats connection established");
            state.send_replace(ConnectionState::Connected);
        }
        Event::Disconnected => {
            tracing::warn!(url, "nats connection lost; reconnecting");
            state.send_replace(ConnectionState::Disconnected);
        }
        Event::Closed => {
            tracing::warn!(url, "nats connection closed");
            state.send_replace(ConnectionState::Disconnected);
        }
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                url,
                sid,
                "nats slow consumer: subscription dropped messages"
            );
        }
        other => tracing::info!(url, event = %other, "nats connection event"),
    }
}

fn storage_type(storage: Storage) -> stream::StorageType {
    match storage {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

fn limit(value: Option<u64>) -> i64 {
    value.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn stream_config(spec: &StreamSpec) -> stream::Config {
    let max_age = spec.max_age.unwrap_or_default();
    // JetStream refuses a de-duplication window longer than max_age.
    let duplicate_window = if max_age.is_zero() {
        spec.duplicate_window
    } else {
        spec.duplicate_window.min(max_age)
    };
    stream::Config {
        name: spec.name.clone(),
        subjects: spec.subjects.clone(),
        max_age,
        max_bytes: limit(spec.max_bytes),
        max_messages: limit(spec.max_messages),
        max_messages_per_subject: -1,
        max_message_size: -1,
        max_consumers: -1,
        duplicate_window,
        storage: storage_type(spec.storage),
        num_replicas: 1,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// The backing stream of KV bucket `bucket`, as the KV specification lays it out.
fn kv_stream_config(bucket: &str, config: &KvConfig) -> stream::Config {
    let max_age = config.ttl.unwrap_or_default();
    let two_minutes = Duration::from_secs(120);
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: i64::from(config.history.clamp(1, 64)),
        max_bytes: limit(config.max_bytes),
        max_messages: -1,
        max_message_size: -1,
        max_consumers: -1,
        max_age,
        duplicate_window: if max_age.is_zero() {
            two_minutes
        } else {
            max_age.min(two_minutes)
        },
        storage: storage_type(config.storage),
        num_replicas: 1,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// Whether the server's configuration differs from the wanted one in a field
/// Ringside sets.
fn config_differs(current: &stream::Config, wanted: &stream::Config) -> bool {
    let key = |c: &stream::Config| {
        let mut subjects = c.subjects.clone();
        subjects.sort();
        (
            subjects,
            c.max_age,
            c.max_bytes,
            c.max_messages,
            c.max_messages_per_subject,
            c.duplicate_window,
            c.storage,
            c.discard,
            (c.allow_rollup, c.deny_delete, c.allow_direct),
        )
    };
    key(current) != key(wanted)
}

impl NatsBus {
    /// The underlying client (for diagnostics and tooling).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The JetStream context (for diagnostics and tooling).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Deletes a stream (tests and tooling; services never do this).
    ///
    /// # Errors
    /// [`BusError::NotFound`] if it does not exist; transport errors.
    pub async fn delete_stream(&self, name: &str) -> Result<(), BusError> {
        self.js
            .delete_stream(name)
            .await
            .map(|_| ())
            .map_err(|err| match err.kind() {
                jetstream::context::DeleteStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    BusError::not_found(format!("stream {name}"))
                }
                _ => self.transport(format!("deleting stream {name}: {err}")),
            })
    }

    /// Deletes a KV bucket (its backing stream).
    ///
    /// # Errors
    /// As [`NatsBus::delete_stream`].
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), BusError> {
        self.delete_stream(&format!("KV_{bucket}")).await
    }

    async fn ensure_stream(&self, wanted: stream::Config) -> Result<(), BusError> {
        let name = wanted.name.clone();
        let stream = self
            .js
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|err| self.transport(format!("creating stream {name}: {err}")))?;
        if config_differs(&stream.cached_info().config, &wanted) {
            self.js
                .update_stream(&wanted)
                .await
                .map_err(|err| self.transport(format!("updating stream {name}: {err}")))?;
            tracing::info!(stream = name, "updated stream configuration");
        }
        Ok(())
    }

    async fn stream(&self, name: &str) -> Result<stream::Stream, BusError> {
        validate_name(name)?;
        self.js.get_stream(name).await.map_err(|err| match err.kind() {
            stream_get_kind
                if matches!(&stream_get_kind, jetstream::context::GetStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                BusError::not_found(format!("stream {name}"))
            }
            _ => self.transport(format!("looking up stream {name}: {err}")),
        })
    }

    /// An error from the transport: [`BusError::Unavailable`] while disconnected,
    /// [`BusError::Stream`] otherwise.
    fn transport(&self, what: String) -> BusError {
        if self.is_connected() {
            BusError::Stream(what)
        } else {
            BusError::Unavailable(format!("disconnected from nats: {what}"))
        }
    }

    fn timed_out(&self) -> BusError {
        if self.is_connected() {
            BusError::Timeout
        } else {
            BusError::Unavailable("disconnected from nats".to_owned())
        }
    }

    fn publish_error(&self, subject: &str, err: jetstream::context::PublishError) -> BusError {
        use jetstream::context::PublishErrorKind as K;
        match err.kind() {
            K::StreamNotFound => BusError::NoStream {
                subject: subject.to_owned(),
            },
            K::TimedOut => self.timed_out(),
            K::BrokenPipe => BusError::Unavailable(format!("publishing to {subject}: {err}")),
            K::MaxAckPending | K::MaxPayloadExceeded => {
                BusError::LimitExceeded(format!("publishing to {subject}: {err}"))
            }
            _ => self.transport(format!("publishing to {subject}: {err}")),
        }
    }

    async fn flush(&self) -> Result<(), BusError> {
        match tokio::time::timeout(self.request_timeout, self.client.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(BusError::Unavailable(format!("flushing: {err}"))),
            Err(_) => Err(self.timed_out()),
        }
    }
}

fn to_nats_headers(headers: &Headers) -> Option<HeaderMap> {
    if headers.is_empty() {
        return None;
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        map.append(name, value);
    }
    Some(map)
}

fn from_nats_headers(headers: Option<&HeaderMap>) -> Headers {
    let Some(headers) = headers else {
        return Headers::new();
    };
    let mut entries: Vec<(String, String)> = headers
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.to_string(), value.to_string()))
        })
        .collect();
    // async-nats keeps names in a hash map: sort by name (stable, so the values
    // of one name keep their order) to make delivered headers deterministic.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Headers::from_trusted(entries)
}

fn core_delivered(message: async_nats::Message) -> Delivered {
    Delivered {
        subject: message.subject.to_string(),
        headers: from_nats_headers(message.headers.as_ref()),
        payload: message.payload,
        stream_sequence: None,
        published_at: None,
    }
}

/// A JetStream message as delivered, with its acker and delivery count.
fn stream_delivered(
    message: jetstream::Message,
) -> Result<(Delivered, u64, jetstream::message::Acker, u64), BusError> {
    let (sequence, count, published, pending) = {
        let info = message
            .info()
            .map_err(|err| BusError::Stream(format!("reading message metadata: {err}")))?;
        (
            info.stream_sequence,
            u64::try_from(info.delivered).unwrap_or(1),
            SystemTime::from(info.published),
            info.pending,
        )
    };
    let (message, acker) = message.split();
    let mut delivered = core_delivered(message);
    delivered.stream_sequence = Some(sequence);
    delivered.published_at = Some(published);
    Ok((delivered, count, acker, pending))
}

fn deliver_policy(start: StartPosition) -> DeliverPolicy {
    match start {
        StartPosition::All | StartPosition::FromSequence(0) => DeliverPolicy::All,
        StartPosition::FromSequence(start_sequence) => {
            DeliverPolicy::ByStartSequence { start_sequence }
        }
        StartPosition::FromTime(time) => DeliverPolicy::ByStartTime {
            start_time: time.into(),
        },
        StartPosition::New => DeliverPolicy::New,
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, subject: &str, msg: Outgoing) -> Result<PublishAck, BusError> {
        self.publish_pipelined(subject, msg).await?.await
    }

    async fn publish_pipelined(
        &self,
        subject: &str,
        msg: Outgoing,
    ) -> Result<crate::AckFuture, BusError> {
        validate_subject(subject)?;
        let mut publish = PublishMessage::build().payload(msg.payload);
        if let Some(headers) = to_nats_headers(&msg.headers) {
            publish = publish.headers(headers);
        }
        // `send_publish` writes to the connection in call order; its result is
        // the ack still to come.
        let pending = self
            .js
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|err| self.publish_error(subject, err))?;
        let (bus, subject) = (self.clone(), subject.to_owned());
        Ok(Box::pin(async move {
            let ack = pending
                .await
                .map_err(|err| bus.publish_error(&subject, err))?;
            Ok(PublishAck {
                stream: ack.stream,
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            })
        }))
    }

    async fn publish_core(&self, subject: &str, msg: Outgoing) -> Result<(), BusError> {
        validate_subject(subject)?;
        let send = async {
            match to_nats_headers(&msg.headers) {
                Some(headers) => {
                    self.client
                        .publish_with_headers(subject.to_owned(), headers, msg.payload)
                        .await
                }
                None => self.client.publish(subject.to_owned(), msg.payload).await,
            }
        };
        // The client buffers while reconnecting; when that buffer is full a
        // publish waits, so bound it.
        match tokio::time::timeout(self.request_timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(BusError::Unavailable(format!(
                "publishing to {subject}: {err}"
            ))),
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn subscribe(&self, pattern: &str) -> Result<BoxStream<'static, Delivered>, BusError> {
        validate_pattern(pattern)?;
        let subscriber = self
            .client
            .subscribe(pattern.to_owned())
            .await
            .map_err(|err| BusError::Unavailable(format!("subscribing to {pattern}: {err}")))?;
        self.flush().await?;
        Ok(subscriber.map(core_delivered).boxed())
    }

    async fn request(
        &self,
        subject: &str,
        msg: Outgoing,
        timeout: Duration,
    ) -> Result<Delivered, BusError> {
        use async_nats::client::RequestErrorKind as K;
        validate_subject(subject)?;
        let mut request = async_nats::Request::new()
            .payload(msg.payload)
            .timeout(Some(timeout));
        if let Some(headers) = to_nats_headers(&msg.headers) {
            request = request.headers(headers);
        }
        match self.client.send_request(subject.to_owned(), request).await {
            Ok(reply) => Ok(core_delivered(reply)),
            Err(err) => Err(match err.kind() {
                K::NoResponders => BusError::NoResponders {
                    subject: subject.to_owned(),
                },
                K::TimedOut => self.timed_out(),
                K::InvalidSubject => BusError::invalid_subject(subject, "refused by the client"),
                K::MaxPayloadExceeded => {
                    BusError::LimitExceeded(format!("request to {subject}: {err}"))
                }
                _ => BusError::Unavailable(format!("request to {subject}: {err}")),
            }),
        }
    }

    async fn serve(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
    ) -> Result<BoxStream<'static, Request>, BusError> {
        validate_pattern(pattern)?;
        let subscriber = match queue_group {
            Some(group) => {
                crate::subject::Token::new(group)?;
                self.client
                    .queue_subscribe(pattern.to_owned(), group.to_owned())
                    .await
            }
            None => self.client.subscribe(pattern.to_owned()).await,
        }
        .map_err(|err| BusError::Unavailable(format!("serving {pattern}: {err}")))?;
        self.flush().await?;
        let client = self.client.clone();
        let request_timeout = self.request_timeout;
        Ok(subscriber
            .map(move |mut message| {
                let reply = message.reply.take();
                Request {
                    msg: core_delivered(message),
                    responder: Responder::Nats(NatsResponder {
                        client: client.clone(),
                        reply,
                        timeout: request_timeout,
                    }),
                }
            })
            .boxed())
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn Consumer>, BusError> {
        validate_name(&spec.durable)?;
        if let Some(filter) = &spec.filter {
            validate_pattern(filter)?;
        }
        let stream = self.stream(&spec.stream).await?;
        let mut config = pull::Config {
            durable_name: Some(spec.durable.clone()),
            ack_policy: ack_policy(spec.acks),
            ack_wait: spec.ack_wait,
            max_ack_pending: i64::try_from(spec.max_ack_pending.max(1)).unwrap_or(i64::MAX),
            deliver_policy: deliver_policy(spec.start),
            filter_subject: spec.filter.clone().unwrap_or_default(),
            ..Default::default()
        };
        let creating = |err: &dyn std::fmt::Display| {
            self.transport(format!(
                "creating consumer {} on {}: {err}",
                spec.durable, spec.stream
            ))
        };
        let mut consumer: PullConsumer = stream
            .get_or_create_consumer(&spec.durable, config.clone())
            .await
            .map_err(|err| creating(&err))?;
        let found = consumer.cached_info();
        if found.config.ack_policy != config.ack_policy {
            // JetStream cannot change a consumer's ack policy: recreate it
            // where it stood, after the last message acked. What it had
            // delivered but not acked comes again, as after any restart.
            let after = found.ack_floor.stream_sequence;
            tracing::info!(
                consumer = %spec.durable,
                after,
                from = ?found.config.ack_policy,
                to = ?config.ack_policy,
                "recreating a durable consumer for its new ack policy"
            );
            stream
                .delete_consumer(&spec.durable)
                .await
                .map_err(|err| creating(&err))?;
            config.deliver_policy = DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            };
            consumer = stream
                .create_consumer(config)
                .await
                .map_err(|err| creating(&err))?;
        }
        Ok(Box::new(NatsConsumer {
            bus: self.clone(),
            consumer,
            name: spec.durable,
            prefetch: spec.prefetch.max(1),
            buffer: VecDeque::new(),
        }))
    }

    async fn read_stream(
        &self,
        spec: ReadSpec,
    ) -> Result<BoxStream<'static, Result<Delivered, BusError>>, BusError> {
        if let Some(filter) = &spec.filter {
            validate_pattern(filter)?;
        }
        let stream = self.stream(&spec.stream).await?;
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: spec.filter.clone().unwrap_or_default(),
                deliver_policy: deliver_policy(spec.start),
                replay_policy: jetstream::consumer::ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .map_err(|err| self.transport(format!("reading stream {}: {err}", spec.stream)))?;
        if spec.until_caught_up && consumer.cached_info().num_pending == 0 {
            return Ok(futures::stream::empty().boxed());
        }
        let messages = consumer
            .messages()
            .await
            .map_err(|err| self.transport(format!("reading stream {}: {err}", spec.stream)))?;
        let until_caught_up = spec.until_caught_up;
        Ok(
            futures::stream::unfold((messages, false), move |(mut messages, done)| async move {
                if done {
                    return None;
                }
                let item = messages.next().await?;
                let (item, done) = match item {
                    Ok(message) => {
                        let pending = message.info().map(|i| i.pending).unwrap_or(1);
                        let done = until_caught_up && pending == 0;
                        (stream_delivered(message).map(|(d, _, _, _)| d), done)
                    }
                    Err(err) => (
                        Err(BusError::Stream(format!("reading stream: {err}"))),
                        false,
                    ),
                };
                Some((item, (messages, done)))
            })
            .boxed(),
        )
    }

    async fn kv(&self, bucket: &str, config: KvConfig) -> Result<Arc<dyn Kv>, BusError> {
        validate_name(bucket)?;
        self.ensure_stream(kv_stream_config(bucket, &config))
            .await?;
        let store = self
            .js
            .get_key_value(bucket)
            .await
            .map_err(|err| self.transport(format!("opening bucket {bucket}: {err}")))?;
        Ok(Arc::new(NatsKv {
            bus: self.clone(),
            name: bucket.to_owned(),
            store,
        }))
    }

    fn connection(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }
}

/// Answers a NATS request on its reply subject.
pub(crate) struct NatsResponder {
    client: Client,
    reply: Option<async_nats::Subject>,
    timeout: Duration,
}

impl NatsResponder {
    pub(crate) fn expects_reply(&self) -> bool {
        self.reply.is_some()
    }

    pub(crate) async fn respond(self, reply: Outgoing) -> Result<(), BusError> {
        let Some(subject) = self.reply else {
            return Ok(());
        };
        let send = async {
            match to_nats_headers(&reply.headers) {
                Some(headers) => {
                    self.client
                        .publish_with_headers(subject, headers, reply.payload)
                        .await
                }
                None => self.client.publish(subject, reply.payload).await,
            }
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(BusError::Unavailable(format!("responding: {err}"))),
            Err(_) => Err(BusError::Timeout),
        }
    }
}

/// JetStream's name for what one ack acknowledges.
fn ack_policy(acks: Acks) -> AckPolicy {
    match acks {
        Acks::Each => AckPolicy::Explicit,
        Acks::Cumulative => AckPolicy::All,
    }
}

pub(crate) async fn ack(acker: jetstream::message::Acker) -> Result<(), BusError> {
    acker.double_ack().await.map_err(ack_error)
}

pub(crate) async fn nak(acker: jetstream::message::Acker) -> Result<(), BusError> {
    acker.ack_with(AckKind::Nak(None)).await.map_err(ack_error)
}

fn ack_error(err: async_nats::Error) -> BusError {
    let text = err.to_string();
    if text.contains("timed out") || text.contains("timeout") {
        BusError::Timeout
    } else {
        BusError::Unavailable(format!("acking: {text}"))
    }
}

struct NatsConsumer {
    bus: NatsBus,
    consumer: PullConsumer,
    name: String,
    prefetch: usize,
    /// Fetched, not yet handed out.
    buffer: VecDeque<jetstream::Message>,
}

impl NatsConsumer {
    fn hand_out(&mut self) -> Option<Result<Delivery, BusError>> {
        let message = self.buffer.pop_front()?;
        Some(
            stream_delivered(message).map(|(msg, count, acker, pending)| Delivery {
                msg,
                delivery_count: count,
                pending,
                acker: Acker::Nats(Box::new(acker)),
            }),
        )
    }

    /// Pulls up to `max` messages, waiting at most `expires` for the first.
    async fn pull(&mut self, max: usize, expires: Option<Duration>) -> Result<(), BusError> {
        let request = async {
            let batch = match expires {
                None => self.consumer.fetch().max_messages(max).messages().await,
                Some(expires) => {
                    self.consumer
                        .batch()
                        .max_messages(max)
                        .expires(expires)
                        .messages()
                        .await
                }
            };
            let mut batch = batch.map_err(|err| self.bus.transport(format!("pulling: {err}")))?;
            while let Some(message) = batch.next().await {
                match message {
                    Ok(message) => self.buffer.push_back(message),
                    Err(err) => return Err(self.bus.transport(format!("pulling: {err}"))),
                }
            }
            Ok(())
        };
        // A pull request waits for the server; if the server is gone nothing
        // would end it, so bound it by its own expiry plus the request timeout.
        let bound = expires.unwrap_or_default() + self.bus.request_timeout;
        match tokio::time::timeout(bound, request).await {
            Ok(result) => result,
            Err(_) => Err(self.bus.timed_out()),
        }
    }
}

/// The longest single server-side pull.
const MAX_PULL_WAIT: Duration = Duration::from_secs(30);
/// The shortest wait worth a server-side pull (shorter waits only take what is
/// already there).
const MIN_PULL_WAIT: Duration = Duration::from_millis(10);

#[async_trait]
impl Consumer for NatsConsumer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        if let Some(delivery) = self.hand_out() {
            return delivery.map(Some);
        }
        self.pull(self.prefetch, None).await?;
        if let Some(delivery) = self.hand_out() {
            return delivery.map(Some);
        }
        if wait < MIN_PULL_WAIT {
            return Ok(None);
        }
        // Wait for one message only: a waiting pull must not leave messages
        // delivered to us but not handed out if the caller gives up.
        self.pull(1, Some(wait.min(MAX_PULL_WAIT))).await?;
        match self.hand_out() {
            Some(delivery) => delivery.map(Some),
            None => Ok(None),
        }
    }
}

impl Drop for NatsConsumer {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let buffered: Vec<_> = self.buffer.drain(..).collect();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    for message in buffered {
                        if let Err(err) = message.ack_with(AckKind::Nak(None)).await {
                            tracing::debug!(error = %err, "nak of a prefetched message failed; it is redelivered after ack_wait");
                        }
                    }
                });
            }
            Err(_) => tracing::debug!(
                count = buffered.len(),
                "consumer dropped outside a runtime; prefetched messages are redelivered after ack_wait"
            ),
        }
    }
}

struct NatsKv {
    bus: NatsBus,
    name: String,
    store: kv::Store,
}

impl NatsKv {
    fn error(&self, op: &str, key: &str, err: impl std::fmt::Display) -> BusError {
        let text = err.to_string();
        if text.contains("timed out") {
            return self.bus.timed_out();
        }
        self.bus
            .transport(format!("{op} {key} in bucket {}: {text}", self.name))
    }

    async fn current_revision(&self, key: &str) -> Option<u64> {
        self.store
            .entry(key)
            .await
            .ok()
            .flatten()
            .map(|entry| entry.revision)
    }
}

#[async_trait]
impl Kv for NatsKv {
    fn bucket(&self) -> &str {
        &self.name
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        validate_key(key)?;
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|err| self.error("getting", key, err))?;
        Ok(entry.and_then(|entry| match entry.operation {
            kv::Operation::Put => Some(KvEntry {
                key: entry.key,
                value: entry.value,
                revision: entry.revision,
            }),
            kv::Operation::Delete | kv::Operation::Purge => None,
        }))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        validate_key(key)?;
        self.store.put(key, value).await.map_err(|err| {
            if err.to_string().contains("maximum bytes") {
                BusError::LimitExceeded(format!("bucket {} is full", self.name))
            } else {
                self.error("putting", key, err)
            }
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        validate_key(key)?;
        self.store
            .create(key, value)
            .await
            .map_err(|err| match err.kind() {
                kv::CreateErrorKind::AlreadyExists => BusError::AlreadyExists {
                    what: format!("key {key} in bucket {}", self.name),
                },
                _ => self.error("creating", key, err),
            })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: u64,
    ) -> Result<u64, BusError> {
        validate_key(key)?;
        match self.store.update(key, value, expected_revision).await {
            Ok(revision) => Ok(revision),
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(BusError::WrongRevision {
                    current: self.current_revision(key).await,
                })
            }
            Err(err) => Err(self.error("updating", key, err)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BusError> {
        validate_key(key)?;
        self.store
            .delete(key)
            .await
            .map_err(|err| self.error("deleting", key, err))
    }

    async fn watch(
        &self,
        key_pattern: &str,
    ) -> Result<BoxStream<'static, Result<KvChange, BusError>>, BusError> {
        validate_key_pattern(key_pattern)?;
        let watch = self
            .store
            .watch(key_pattern)
            .await
            .map_err(|err| self.error("watching", key_pattern, err))?;
        Ok(watch
            .map(|entry| {
                let entry = entry.map_err(|err| BusError::Stream(format!("watching: {err}")))?;
                Ok(match entry.operation {
                    kv::Operation::Put => KvChange::Put(KvEntry {
                        key: entry.key,
                        value: entry.value,
                        revision: entry.revision,
                    }),
                    kv::Operation::Delete | kv::Operation::Purge => KvChange::Delete {
                        key: entry.key,
                        revision: entry.revision,
                    },
                })
            })
            .boxed())
    }

    async fn keys(&self) -> Result<Vec<String>, BusError> {
        let mut keys = Vec::new();
        let mut stream = self
            .store
            .keys()
            .await
            .map_err(|err| self.error("listing", "keys", err))?;
        while let Some(key) = stream.next().await {
            keys.push(key.map_err(|err| self.error("listing", "keys", err))?);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(redact("nats://u:secret@h:4222"), "nats://h:4222");
        assert_eq!(
            redact("nats://h:4222,nats://a:b@g:1"),
            "nats://h:4222,nats://g:1"
        );
        assert_eq!(redact("tok@h"), "h");
    }

    #[test]
    fn reconnect_delays_grow_and_are_capped() {
        let max = Duration::from_secs(2);
        assert_eq!(reconnect_delay(1, max), Duration::ZERO);
        assert_eq!(reconnect_delay(2, max), Duration::from_millis(100));
        assert_eq!(reconnect_delay(3, max), Duration::from_millis(200));
        assert_eq!(reconnect_delay(60, max), max);
    }
}
