//! The state service: the [`Engine`] fed from the events stream, published
//! on the bus, persisted in snapshots.
//!
//! Start-up: load the shard's last snapshot (engine + the stream sequence it
//! includes), replay the events stream from just after that sequence until
//! caught up, then follow the durable consumer. Envelopes that the engine
//! already holds are recognised by their (epoch, sequence) and change
//! nothing, so a consumer that resumes behind the snapshot, or a replay
//! that overlaps it, double-applies nothing; and as the engine is
//! deterministic, the deltas and call records re-published after a crash
//! are the same ones, with the same numbers and ids, as before it: clients
//! drop deltas they have, the bus drops records it has (by message id) and
//! rating is idempotent by call id. Killing the service at any point loses
//! nothing and applies nothing twice.
//!
//! Each delivery is acked only after it is applied and what it produced is
//! published. Snapshots are saved every N events or T seconds.
//!
//! The loop also answers snapshot requests (docs/live-views.md) from the
//! same task that applies events, so the sequence a snapshot says it
//! includes is exactly the deltas published before it.

mod decode;
mod kpi;
mod pump;
mod settings;
pub mod snapshots;

pub use decode::envelope_for_apply;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use ringside_bus::{
    Bus, ConsumerSpec, Delivered, KvConfig, Outgoing, ReadSpec, Request, StartPosition, StreamRole,
    Subjects, TenantId, Token, Topology,
};
use ringside_proto::events::v1::Envelope;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use settings::StateSettings;
use snapshots::{SNAPSHOT_BUCKET, SnapshotStore};

use crate::views::Snapshot;
use crate::{Applied, Engine, Output};

/// How often the telephony gauges are sampled from the views.
const KPI_SAMPLE_EVERY: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the state service needs from the process that runs it.
#[derive(Clone)]
pub struct Deps {
    pub bus: Arc<dyn Bus>,
    pub topology: Topology,
}

/// A snapshot request (all fields optional).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SnapshotRequest {
    #[serde(default)]
    pub pbx: Option<String>,
    /// Time travel: the views as of this Unix time in ms.
    #[serde(default)]
    pub at_ms: Option<i64>,
}

/// The answer to a snapshot request.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotReply {
    /// The tenant's delta sequence the snapshot includes; `None` for time
    /// travel (not stitched to deltas).
    pub seq: Option<u64>,
    pub snapshot: Snapshot,
}

/// What one step of the loop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An envelope was applied (or recognised as already applied).
    Applied(Applied),
    /// A message of another shard's tenant, or not an envelope: acked and
    /// skipped.
    Skipped,
    /// A snapshot request was answered.
    Answered,
    /// Nothing arrived within the wait.
    Idle,
}

/// The running service, steppable (tests drive it step by step).
pub struct StateService {
    settings: StateSettings,
    deps: Deps,
    engine: Engine,
    store: SnapshotStore,
    deliveries: pump::Deliveries,
    requests: BoxStream<'static, Request>,
    applied_since_snapshot: u64,
    last_snapshot: Instant,
    /// `ringside_state_events_applied_total` by tenant, looked up by its
    /// labels once per tenant rather than once per event.
    applied_counters: HashMap<String, metrics::Counter>,
    /// `ringside_bus_consumer_lag_messages` of the durable consumer.
    lag: metrics::Gauge,
}

impl StateService {
    /// Loads the last snapshot, catches up with the stream and opens the
    /// durable consumer.
    ///
    /// # Errors
    /// Invalid settings; the bus unreachable; a snapshot that cannot be read
    /// (refusing to start beats silently starting from nothing).
    pub async fn start(settings: StateSettings, deps: Deps) -> anyhow::Result<Self> {
        settings.validate().map_err(anyhow::Error::msg)?;
        let kv = deps
            .bus
            .kv(
                &deps.topology.bucket_name(SNAPSHOT_BUCKET),
                KvConfig::default(),
            )
            .await
            .context("opening the snapshot bucket")?;
        let store = SnapshotStore::new(kv, &settings.shard(), settings.snapshot_chunk_bytes);
        let engine = match store.load().await.context("loading the last snapshot")? {
            Some((manifest, bytes)) => {
                let engine = Engine::load(&bytes).context("reading the last snapshot")?;
                tracing::info!(
                    stream_seq = manifest.stream_seq,
                    bytes = manifest.bytes,
                    "state restored from snapshot"
                );
                engine
            }
            None => Engine::new(),
        };
        let subjects = deps.topology.subjects().clone();
        let requests = deps
            .bus
            .serve(&format!("{}.*.state.snapshot", subjects.root()), None)
            .await
            .context("serving snapshot requests")?;
        let events = deps.topology.stream_name(StreamRole::Events);
        let consumer = deps
            .bus
            .consumer(
                ConsumerSpec::new(
                    events.clone(),
                    format!("{}-{}", settings.durable, settings.shard()),
                )
                .start(StartPosition::FromSequence(engine.stream_seq() + 1))
                .max_ack_pending(10_000)
                .prefetch(256)
                .cumulative_acks(),
            )
            .await
            .context("opening the durable consumer")?;
        let deliveries = pump::Deliveries::start(consumer);
        let lag = metrics::gauge!("ringside_bus_consumer_lag_messages", "consumer" => deliveries.name().to_owned());
        let mut service = StateService {
            settings,
            deps,
            engine,
            store,
            deliveries,
            lag,
            requests,
            applied_since_snapshot: 0,
            last_snapshot: Instant::now(),
            applied_counters: HashMap::new(),
        };
        service.catch_up(&events).await?;
        Ok(service)
    }

    /// Replays the stream from after the snapshot until caught up: the
    /// consumer may have acked past the snapshot before a crash.
    async fn catch_up(&mut self, events: &str) -> anyhow::Result<()> {
        let from = self.engine.stream_seq() + 1;
        let mut stream = self
            .deps
            .bus
            .read_stream(
                ReadSpec::new(events)
                    .start(StartPosition::FromSequence(from))
                    .until_caught_up(),
            )
            .await
            .context("replaying the events stream")?;
        let mut replayed = 0u64;
        while let Some(msg) = stream.next().await {
            let msg = msg.context("replaying the events stream")?;
            self.handle(&msg).await;
            replayed += 1;
        }
        tracing::info!(from, replayed, "state caught up with the events stream");
        Ok(())
    }

    /// The engine (read-only).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies one stream message and publishes what it produced.
    async fn handle(&mut self, msg: &Delivered) -> Step {
        let seq = msg.stream_sequence.unwrap_or(0);
        let env = match envelope_for_apply(msg.payload.as_ref()) {
            Ok(env) => env,
            Err(e) => {
                tracing::warn!(subject = %msg.subject, seq, error = %e, "not an envelope: skipped");
                metrics::counter!("ringside_state_undecodable_total").increment(1);
                self.engine
                    .set_stream_seq(self.engine.stream_seq().max(seq));
                return Step::Skipped;
            }
        };
        if !self.settings.owns(&env.tenant) {
            self.engine
                .set_stream_seq(self.engine.stream_seq().max(seq));
            return Step::Skipped;
        }
        let span = apply_span(&env);
        let out = match &span {
            Some(span) => span.in_scope(|| self.engine.apply(&env)),
            None => self.engine.apply(&env),
        };
        if seq > self.engine.stream_seq() {
            self.engine.set_stream_seq(seq);
        }
        if out.applied == Applied::Applied {
            self.applied_since_snapshot += 1;
            match self.applied_counters.get(&env.tenant) {
                Some(counter) => counter.increment(1),
                None => {
                    let counter = metrics::counter!("ringside_state_events_applied_total", "tenant" => env.tenant.clone());
                    counter.increment(1);
                    self.applied_counters.insert(env.tenant.clone(), counter);
                }
            }
        }
        for record in &out.records {
            kpi::call_recorded(record);
        }
        if let Some(ringside_proto::events::v1::envelope::Kind::RtcpReport(report)) = &env.kind {
            kpi::rtcp(&self.engine, &env, report);
        }
        let trace = span.as_ref().and_then(ringside_telemetry::traceparent_of);
        publish(&self.deps, &out, trace.as_ref()).await;
        Step::Applied(out.applied)
    }
}

/// Publishes deltas (core: whoever listens now) and call records (durable,
/// retried until stored: a record must not be lost).
///
/// Free functions of the parts they use, not methods: a future holding
/// `&StateService` would need the service to be `Sync`, and its consumer is
/// not.
async fn publish(deps: &Deps, out: &Output, trace: Option<&(String, Option<String>)>) {
    let subjects = deps.topology.subjects();
    for delta in &out.deltas {
        let (Ok(tenant), Ok(view)) = (
            TenantId::new(&*delta.tenant),
            Token::new(delta.view.as_str()),
        ) else {
            continue;
        };
        let json = serde_json::to_vec(delta).expect("a delta serializes");
        let mut msg = Outgoing::new(json);
        if let Some((parent, state)) = trace {
            let _ = msg.headers.set_trace_context(parent, state.as_deref());
        }
        if let Err(e) = deps
            .bus
            .publish_core(&subjects.view(&tenant, &view), msg)
            .await
        {
            // Gateways detect the hole in the sequence and re-fetch a
            // snapshot.
            tracing::debug!(error = %e, "delta not published");
        }
    }
    metrics::counter!("ringside_state_deltas_total").increment(out.deltas.len() as u64);
    for record in &out.records {
        let Ok(tenant) = TenantId::new(&record.tenant) else {
            continue;
        };
        let json = serde_json::to_vec(record).expect("a record serializes");
        let mut backoff = Duration::from_millis(100);
        loop {
            let msg = Outgoing::new(json.clone())
                .with_msg_id(&record.call_id)
                .unwrap_or_else(|_| Outgoing::new(json.clone()));
            match deps
                .bus
                .publish(&subjects.calls_completed(&tenant), msg)
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(call = %record.call_id, error = %e, "call record not stored yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        metrics::counter!("ringside_state_call_records_total").increment(1);
    }
}

impl StateService {
    /// Waits up to `wait` for one delivery or request and handles it.
    /// Cancelling it while it waits loses nothing.
    ///
    /// # Errors
    /// The bus closed.
    pub async fn step(&mut self, wait: Duration) -> anyhow::Result<Step> {
        tokio::select! {
            biased;
            request = self.requests.next() => match request {
                Some(request) => {
                    answer(&self.engine, &self.settings, &self.deps, request).await;
                    Ok(Step::Answered)
                }
                None => anyhow::bail!("the bus closed the snapshot request subscription"),
            },
            delivery = self.deliveries.next_within(wait) => match delivery {
                Ok(Some(delivery)) => {
                    self.lag.set(delivery.pending as f64);
                    let step = self.handle(&delivery.msg).await;
                    self.deliveries.ack(delivery);
                    Ok(step)
                }
                Ok(None) => Ok(Step::Idle),
                Err(e) => anyhow::bail!("the events consumer ended: {e}"),
            },
        }
    }

    /// Saves a snapshot now.
    ///
    /// # Errors
    /// The store refused it (the previous one stays current).
    pub async fn save_snapshot(&mut self) -> anyhow::Result<()> {
        let bytes = self.engine.save();
        let manifest = self
            .store
            .save(&bytes, self.engine.stream_seq())
            .await
            .context("saving a snapshot")?;
        self.applied_since_snapshot = 0;
        self.last_snapshot = Instant::now();
        metrics::gauge!("ringside_state_snapshot_bytes").set(manifest.bytes as f64);
        tracing::debug!(
            stream_seq = manifest.stream_seq,
            bytes = manifest.bytes,
            "snapshot saved"
        );
        Ok(())
    }

    fn snapshot_due(&self) -> bool {
        self.applied_since_snapshot >= self.settings.snapshot_every_events
            || (self.applied_since_snapshot > 0
                && self.last_snapshot.elapsed() >= self.settings.snapshot_every)
    }

    /// Runs until `shutdown`, then saves a last snapshot.
    ///
    /// # Errors
    /// The bus closed.
    pub async fn run_until(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut last_sample = Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if last_sample.elapsed() >= KPI_SAMPLE_EVERY {
                last_sample = Instant::now();
                kpi::sample(&self.engine, now_ms());
                let age = self.last_snapshot.elapsed().as_secs_f64();
                for tenant in self.engine.tenants() {
                    metrics::gauge!("ringside_state_snapshot_age_seconds", "tenant" => tenant.to_owned())
                        .set(age);
                }
            }
            let step = tokio::select! {
                _ = shutdown.cancelled() => break,
                step = self.step(Duration::from_secs(1)) => step?,
            };
            if step != Step::Answered
                && self.snapshot_due()
                && let Err(e) = self.save_snapshot().await
            {
                tracing::warn!(error = %format!("{e:#}"), "snapshot not saved; will retry");
            }
        }
        if self.applied_since_snapshot > 0 {
            self.save_snapshot().await?;
        }
        Ok(())
    }
}

/// Answers a snapshot request of a tenant this shard owns (others are
/// left to their shard).
async fn answer(engine: &Engine, settings: &StateSettings, deps: &Deps, request: Request) {
    let subject = request.msg.subject.clone();
    let Some(tenant) = subject
        .strip_suffix(".state.snapshot")
        .and_then(|s| s.rsplit('.').next())
        .map(str::to_owned)
    else {
        return;
    };
    if !settings.owns(&tenant) {
        return;
    }
    let asked: SnapshotRequest = if request.msg.payload.is_empty() {
        SnapshotRequest::default()
    } else {
        match serde_json::from_slice(&request.msg.payload) {
            Ok(asked) => asked,
            Err(e) => {
                let _ = request
                    .respond(error_reply("bad_request", &format!("invalid request: {e}")))
                    .await;
                return;
            }
        }
    };
    if let Some(at_ms) = asked.at_ms {
        // Replaying the stream takes a while: do it beside the loop.
        let bus = deps.bus.clone();
        let topology = deps.topology.clone();
        let timeout = settings.time_travel_timeout;
        tokio::spawn(async move {
            let reply = match tokio::time::timeout(
                timeout,
                time_travel(
                    bus.as_ref(),
                    &topology,
                    &tenant,
                    asked.pbx.as_deref(),
                    at_ms,
                ),
            )
            .await
            {
                Ok(Ok(snapshot)) => json_reply(&SnapshotReply {
                    seq: None,
                    snapshot,
                }),
                Ok(Err(e)) => error_reply("unavailable", &format!("{e:#}")),
                Err(_) => error_reply("timeout", "the replay took too long"),
            };
            let _ = request.respond(reply).await;
        });
        return;
    }
    let (seq, snapshot) = engine.snapshot(&tenant, asked.pbx.as_deref());
    let _ = request
        .respond(json_reply(&SnapshotReply {
            seq: Some(seq),
            snapshot,
        }))
        .await;
}

/// When traces are exported and the envelope carries a trace context (the
/// ingestor's span of the AMI event): the span of applying it, its child.
fn apply_span(env: &Envelope) -> Option<tracing::Span> {
    if !ringside_telemetry::exporting() || env.traceparent.is_empty() {
        return None;
    }
    let span = tracing::info_span!("state apply", tenant = %env.tenant, pbx = %env.pbx, sequence = env.sequence);
    let parent = (!env.tracestate.is_empty()).then_some(env.tracestate.as_str());
    ringside_telemetry::set_parent_from(&span, &env.traceparent, parent).ok()?;
    Some(span)
}

fn json_reply(value: &impl Serialize) -> Outgoing {
    Outgoing::new(Bytes::from(
        serde_json::to_vec(value).expect("a reply serializes"),
    ))
}

fn error_reply(code: &str, message: &str) -> Outgoing {
    json_reply(&serde_json::json!({"error": {"code": code, "message": message}}))
}

/// The views of a tenant as of `at_ms`, rebuilt by replaying its events
/// stored up to then (within the stream's retention).
async fn time_travel(
    bus: &dyn Bus,
    topology: &Topology,
    tenant: &str,
    pbx: Option<&str>,
    at_ms: i64,
) -> anyhow::Result<Snapshot> {
    let subjects: &Subjects = topology.subjects();
    let tenant_id = TenantId::new(tenant).context("invalid tenant")?;
    let mut stream = bus
        .read_stream(
            ReadSpec::new(topology.stream_name(StreamRole::Events))
                .filter(subjects.events_filter(Some(&tenant_id), None, None))
                .until_caught_up(),
        )
        .await
        .context("reading the events stream")?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    let mut engine = Engine::new();
    while let Some(msg) = stream.next().await {
        let msg = msg.context("reading the events stream")?;
        if msg.published_at.is_some_and(|t| t > at) {
            break;
        }
        if let Ok(env) = envelope_for_apply(msg.payload.as_ref()) {
            engine.apply(&env);
        }
    }
    Ok(engine.snapshot(tenant, pbx).1)
}

/// Runs the state service until `shutdown`.
///
/// # Errors
/// As [`StateService::start`] and [`StateService::run_until`].
pub async fn run(
    settings: StateSettings,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let service = StateService::start(settings, deps).await?;
    tracing::info!("state service running");
    service.run_until(shutdown).await
}
