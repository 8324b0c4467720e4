//! One PBX: its AMI connection, the resync, and the ordered event stream it
//! becomes.
//!
//! The worker reads the client's stream with responses mirrored, so it sees
//! every frame in wire order: live events and resync list entries get their
//! sequence numbers in the order Asterisk sent them ("live events that arrive
//! meanwhile keep their place"). Sync actions carry ActionIDs with a prefix
//! the worker recognises (`rs-sync-<sync id>-…`), so no registration can race
//! with the answer.
//!
//! Epochs: every login starts a new epoch, the wall clock in milliseconds
//! (and always above the previous one), so `pbx + epoch + sequence` stays a
//! unique de-duplication id across ingestor restarts and replicas.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures::StreamExt;
use ringside_ami::client::{
    AuthMethod, Client, ClientConfig, ClientEvent, ClientEvents, SendError, TlsOptions,
};
use ringside_ami::{Action, Message, MessageKind};
use ringside_bus::{Bus, Outgoing, PbxId, Subjects, TenantId, Token};
use ringside_events::lifecycle;
use ringside_events::{
    Ctx, Normalized, Normalizer, Stamp, UNMAPPED, encode_envelope, encode_unmapped, kind_name,
};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{SyncListResult, SyncOutcome, SyncReason};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::publisher::{Progress, Publisher};
use crate::settings::{AuthSetting, IngestorSettings, PbxSettings};
use crate::sync;

/// Modules whose reload invalidates the views (a `Reload` event for one of
/// them triggers a resync).
const VIEW_MODULES: &[&str] = &[
    "res_pjsip",
    "chan_pjsip",
    "chan_sip",
    "chan_iax2",
    "app_queue",
    "app_confbridge",
];

/// A sync action's ActionID and why it got no answer.
type SendFailure = (String, SendError);

/// The most raw AMI bytes stored in one `ami.raw` message: a burst past it
/// is stored in pieces (a single larger frame, up to the AMI codec's cap,
/// alone). Well under NATS's default 1 MiB payload limit.
const RAW_BURST_BYTES: usize = 64 * 1024;

const SYNC_PREFIX: &str = "rs-sync-";
const POLL_PREFIX: &str = "rs-poll-";

/// A resync in progress.
struct SyncRun {
    id: String,
    /// Unfinished list actions by ActionID.
    pending: HashMap<String, ListProgress>,
    results: Vec<SyncListResult>,
    /// Rooms seen in `ConfbridgeListRooms`, each then listed with `ConfbridgeList`.
    rooms: Vec<String>,
}

struct ListProgress {
    action: String,
    response: Option<Message>,
    entries: u32,
}

/// What the worker hands to its action endpoint.
#[derive(Clone)]
pub struct PbxHandle {
    pub tenant: TenantId,
    pub pbx: PbxId,
    pub client: Client,
}

pub(crate) struct Worker {
    tenant: TenantId,
    pbx: PbxId,
    spec: PbxSettings,
    settings: Arc<IngestorSettings>,
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    client: Client,
    events: ClientEvents,
    publisher: Publisher,
    raw: Option<Publisher>,
    normalizer: Normalizer,
    epoch: u64,
    seq: u64,
    raw_seq: u64,
    connected: bool,
    /// True until the first message after a login has been read: Asterisk
    /// sends `FullyBooted` to every new session, and that one must not cause a
    /// second resync.
    first_after_login: bool,
    sync: Option<SyncRun>,
    next_sync: Option<(SyncReason, String)>,
    syncs: u64,
    polls: u64,
    /// Sync actions that got no answer (timeout, connection lost), by ActionID.
    send_failures: (
        mpsc::UnboundedSender<SendFailure>,
        mpsc::UnboundedReceiver<SendFailure>,
    ),
    /// The events subject of each kind, built once per kind.
    kind_subjects: HashMap<&'static str, Arc<str>>,
    /// The raw frames subject, built once.
    raw_subject: Arc<str>,
    /// The raw frames read in this burst, back to back, and the sequence
    /// number of the first: stored as one `ami.raw` message when the burst
    /// has been handled ([`Worker::flush_raw`]).
    raw_burst: BytesMut,
    raw_burst_first: u64,
    /// When the burst being handled was taken from the client: the read
    /// time of its events (one clock read per burst, not two per event).
    burst_read_at: Option<(SystemTime, Instant)>,
    /// `<tenant>.<pbx>.`, the start of every message id of this PBX.
    msg_id_prefix: String,
    metrics: WorkerMetrics,
}

/// This PBX's metric handles, registered once (labels are per PBX, bounded).
struct WorkerMetrics {
    labels: [(&'static str, String); 2],
    events: HashMap<&'static str, metrics::Counter>,
    dropped: metrics::Counter,
    buffer_depth: metrics::Gauge,
    connected: metrics::Gauge,
    connects: metrics::Counter,
    decode_errors: metrics::Counter,
}

impl WorkerMetrics {
    fn new(tenant: &TenantId, pbx: &PbxId) -> Self {
        let labels = [("tenant", tenant.to_string()), ("pbx", pbx.to_string())];
        WorkerMetrics {
            events: HashMap::new(),
            dropped: metrics::counter!("ringside_ingest_dropped_total", &labels),
            buffer_depth: metrics::gauge!("ringside_ingest_buffer_depth", &labels),
            connected: metrics::gauge!("ringside_ami_connected", &labels),
            connects: metrics::counter!("ringside_ami_connects_total", &labels),
            decode_errors: metrics::counter!("ringside_ami_decode_errors_total", &labels),
            labels,
        }
    }

    /// `ringside_ami_events_total{tenant, pbx, kind}`.
    fn event(&mut self, kind: &'static str) -> &metrics::Counter {
        let labels = &self.labels;
        self.events.entry(kind).or_insert_with(|| {
            let [(t, tv), (p, pv)] = labels;
            metrics::counter!("ringside_ami_events_total", *t => tv.clone(), *p => pv.clone(), "kind" => kind)
        })
    }
}

/// The client configuration for a PBX.
pub fn client_config(spec: &PbxSettings, settings: &IngestorSettings) -> ClientConfig {
    let mut config = ClientConfig::new(
        spec.host.clone(),
        spec.port,
        spec.username.clone(),
        spec.secret.clone(),
    );
    config.auth = match spec.auth {
        AuthSetting::Plain => AuthMethod::Plain,
        AuthSetting::Md5 => AuthMethod::Md5,
    };
    config.tls = spec.tls.then(|| TlsOptions {
        ca_file: spec.ca_file.clone(),
        server_name: None,
    });
    config.action_timeout = settings.action_timeout;
    config.ping_interval = settings.ping_interval;
    config.ping_timeout = settings.ping_timeout;
    config.backoff.max = settings.max_backoff;
    config.mirror_responses = true;
    config
}

impl Worker {
    /// Starts the PBX's client; the worker runs with [`Worker::run`].
    ///
    /// # Errors
    /// A tenant or PBX id that is not a valid subject token.
    pub(crate) fn start(
        spec: PbxSettings,
        settings: Arc<IngestorSettings>,
        bus: Arc<dyn Bus>,
        subjects: Subjects,
    ) -> Result<(Worker, PbxHandle), ringside_bus::BusError> {
        let tenant = TenantId::new(spec.tenant.as_str())?;
        let pbx = PbxId::new(spec.id.as_str())?;
        let (client, events) = Client::connect(client_config(&spec, &settings));
        let handle = PbxHandle {
            tenant: tenant.clone(),
            pbx: pbx.clone(),
            client: client.clone(),
        };
        let raw = settings.raw_frames.then(|| {
            Publisher::new(
                bus.clone(),
                settings.buffer_capacity,
                settings.publish_window,
                None,
            )
            .with_max_bytes(settings.raw_buffer_bytes)
        });
        let raw_subject = subjects.ami_raw(&tenant, &pbx).into();
        let msg_id_prefix = format!("{tenant}.{pbx}.");
        let worker = Worker {
            bus: bus.clone(),
            publisher: Publisher::new(
                bus,
                settings.buffer_capacity,
                settings.publish_window,
                Some("ringside_ingest_publish_latency_seconds"),
            ),
            raw,
            tenant,
            pbx,
            spec,
            settings,
            subjects,
            client,
            events,
            normalizer: Normalizer::new(),
            epoch: 0,
            seq: 0,
            raw_seq: 0,
            connected: false,
            first_after_login: false,
            sync: None,
            next_sync: None,
            syncs: 0,
            polls: 0,
            send_failures: mpsc::unbounded_channel(),
            kind_subjects: HashMap::new(),
            raw_subject,
            raw_burst: BytesMut::new(),
            raw_burst_first: 0,
            burst_read_at: None,
            msg_id_prefix,
            metrics: WorkerMetrics::new(&handle.tenant, &handle.pbx),
        };
        Ok((worker, handle))
    }

    /// Runs until `shutdown`, then logs off and drains what it holds; every
    /// log line inside carries the PBX's span.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let span = tracing::info_span!("pbx", tenant = %self.tenant, pbx = %self.pbx, host = %self.spec.host);
        self.serve(shutdown).instrument(span).await;
    }

    async fn serve(mut self, shutdown: CancellationToken) {
        let mut poll = tokio::time::interval(self.settings.iax_registry_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let resync_subject = self.subjects.ami_resync(&self.tenant, &self.pbx);
        let mut resync_requests = match self.bus.serve(&resync_subject, None).await {
            Ok(requests) => requests,
            Err(error) => {
                tracing::warn!(%error, "resync requests cannot be served");
                futures::stream::empty().boxed()
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(request) = resync_requests.next() => self.on_resync_request(request).await,
                event = self.events.recv() => match event {
                    Some(event) => {
                        self.burst_read_at = Some((SystemTime::now(), Instant::now()));
                        self.on_client_event(event);
                        // Take what else is queued in one go: one trip through
                        // this loop per burst, not per message.
                        for _ in 0..256 {
                            match self.events.try_recv() {
                                Ok(event) => self.on_client_event(event),
                                Err(_) => break,
                            }
                        }
                        self.flush_raw();
                        self.burst_read_at = None;
                    }
                    None => break,
                },
                progress = self.publisher.progress() => self.on_publish_progress(progress).await,
                progress = async { self.raw.as_mut().expect("guarded").progress().await }, if self.raw.is_some() => {
                    if let Progress::GapClosed { dropped } = progress {
                        tracing::warn!(dropped, "raw AMI frames dropped while the bus was away");
                    }
                }
                Some((action_id, error)) = self.send_failures.1.recv() => self.on_send_failure(&action_id, error),
                _ = poll.tick() => self.poll_iax_registrations(),
            }
        }
        self.client.close().await;
        // Take what the client still delivers, up to its final Disconnected,
        // so the stream says the connection ended.
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(event)) = tokio::time::timeout_at(until, self.events.recv()).await {
            let last = matches!(event, ClientEvent::Disconnected { retry_in: None, .. });
            self.on_client_event(event);
            if last {
                break;
            }
        }
        self.flush_raw();
        self.publisher.drain(Duration::from_secs(5)).await;
        if let Some(raw) = &mut self.raw {
            raw.drain(Duration::from_secs(2)).await;
        }
        tracing::info!(stats = ?self.publisher.stats(), "PBX worker stopped");
    }

    fn on_client_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { banner, .. } => self.on_connected(&banner),
            ClientEvent::Message(message) => self.on_message(message),
            ClientEvent::DecodeError(error) => {
                self.metrics.decode_errors.increment(1);
                tracing::warn!(%error, "undecodable AMI message skipped");
            }
            ClientEvent::Disconnected { epoch, reason, .. } => {
                if epoch.is_some() && self.connected {
                    self.connected = false;
                    self.sync = None;
                    self.next_sync = None;
                    self.emit(
                        lifecycle::disconnected(reason.to_string()),
                        None,
                        &Ctx::live(),
                    );
                }
                self.metrics.connected.set(0.0);
                tracing::warn!(%reason, "PBX disconnected");
            }
        }
    }

    fn on_connected(&mut self, banner: &str) {
        // The frames of the connection before end its raw burst: a stored
        // burst belongs to one epoch.
        self.flush_raw();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        self.epoch = now.max(self.epoch + 1);
        self.seq = 0;
        self.raw_seq = 0;
        self.connected = true;
        self.first_after_login = true;
        self.normalizer = Normalizer::new();
        self.metrics.connects.increment(1);
        self.metrics.connected.set(1.0);
        tracing::info!(epoch = self.epoch, banner, "PBX connected");
        self.emit(lifecycle::connected(banner, None), None, &Ctx::live());
        self.install_source_filters();
        self.start_sync(SyncReason::Connected, String::new());
    }

    fn on_message(&mut self, message: Message) {
        self.add_raw_frame(&message);
        let first = std::mem::take(&mut self.first_after_login);
        if let Some(id) = message.action_id()
            && id.starts_with(SYNC_PREFIX)
        {
            let id = id.to_owned();
            self.on_sync_message(&id, message);
            return;
        }
        match message.kind() {
            MessageKind::Event => {}
            // Entries of our IAX2 registration poll are live state.
            MessageKind::ListItem
                if message
                    .action_id()
                    .is_some_and(|id| id.starts_with(POLL_PREFIX)) => {}
            // Answers to other actions (operators' requests) are in the raw log
            // and in their reply; they are not events.
            _ => return,
        }
        match message.name() {
            "FullyBooted" if !first => self.request_sync(SyncReason::FullyBooted, String::new()),
            "Reload" => {
                let module = message.get("Module").unwrap_or("").to_owned();
                let all = module.is_empty() || module.eq_ignore_ascii_case("all");
                if all
                    || VIEW_MODULES
                        .iter()
                        .any(|m| module.to_ascii_lowercase().starts_with(m))
                {
                    self.request_sync(SyncReason::ModuleReloaded, module);
                }
            }
            _ => {}
        }
        self.emit_normalized(&message, &Ctx::live());
    }

    /// Resync bookkeeping for a frame that answers one of our list actions.
    fn on_sync_message(&mut self, action_id: &str, message: Message) {
        let Some(run) = &mut self.sync else { return };
        let Some(progress) = run.pending.get_mut(action_id) else {
            // A late answer to a list already given up (timed out).
            return;
        };
        match message.kind() {
            MessageKind::Response | MessageKind::CommandOutput => {
                let is_list = message
                    .get("EventList")
                    .is_some_and(|v| v.eq_ignore_ascii_case("start"));
                let failed = !message.is_success();
                progress.response = Some(message);
                if failed || !is_list {
                    self.finish_list(action_id);
                }
            }
            MessageKind::ListItem | MessageKind::Event => {
                progress.entries += 1;
                let action = progress.action.clone();
                if action == "ConfbridgeListRooms"
                    && let Some(room) = message.get("Conference")
                {
                    run.rooms.push(room.to_owned());
                }
                let sync_id = run.id.clone();
                self.emit_normalized(&message, &Ctx::sync(&sync_id, &action));
            }
            MessageKind::ListComplete => self.finish_list(action_id),
            MessageKind::Banner => {}
        }
    }

    fn finish_list(&mut self, action_id: &str) {
        let Some(run) = &mut self.sync else { return };
        let Some(progress) = run.pending.remove(action_id) else {
            return;
        };
        let result = match &progress.response {
            Some(response) => lifecycle::list_result(&progress.action, response, progress.entries),
            None => SyncListResult {
                action: progress.action.clone(),
                outcome: SyncOutcome::Failed as i32,
                entries: progress.entries,
                message: "list ended without a response".into(),
            },
        };
        if result.outcome != SyncOutcome::Ok as i32 && result.outcome != SyncOutcome::Empty as i32 {
            tracing::info!(action = %result.action, outcome = ?result.outcome(), message = %result.message, "resync list incomplete");
        }
        run.results.push(result);
        if progress.action == "ConfbridgeListRooms" {
            let rooms = std::mem::take(&mut run.rooms);
            let sync_id = run.id.clone();
            for (i, room) in rooms.iter().enumerate() {
                if let Some(action) = sync::conference_members(room) {
                    self.send_sync_action(action, format!("{SYNC_PREFIX}{sync_id}-cb{i}"));
                }
            }
        }
        self.complete_sync_if_done();
    }

    fn complete_sync_if_done(&mut self) {
        let done = self.sync.as_ref().is_some_and(|run| run.pending.is_empty());
        if !done {
            return;
        }
        let run = self.sync.take().expect("checked");
        let sync_id = run.id.clone();
        tracing::info!(sync_id = %sync_id, lists = run.results.len(), "resync completed");
        self.emit(
            lifecycle::sync_completed(run.results),
            None,
            &Ctx::sync(&sync_id, ""),
        );
        if let Some((reason, detail)) = self.next_sync.take() {
            self.start_sync(reason, detail);
        }
    }

    /// Starts a resync now, or after the one in progress.
    fn request_sync(&mut self, reason: SyncReason, detail: String) {
        if !self.connected {
            return;
        }
        if self.sync.is_some() {
            self.next_sync = Some((reason, detail));
        } else {
            self.start_sync(reason, detail);
        }
    }

    fn start_sync(&mut self, reason: SyncReason, detail: String) {
        self.syncs += 1;
        let id = format!("{}-{}", self.epoch, self.syncs);
        tracing::info!(sync_id = %id, reason = ?reason, "resync started");
        self.emit(
            lifecycle::sync_started(reason, detail),
            None,
            &Ctx::sync(&id, ""),
        );
        self.sync = Some(SyncRun {
            id: id.clone(),
            pending: HashMap::new(),
            results: Vec::new(),
            rooms: Vec::new(),
        });
        for (i, action) in sync::list_actions().into_iter().enumerate() {
            let action_id = format!("{SYNC_PREFIX}{id}-{i}");
            self.send_sync_action(action, action_id);
        }
    }

    /// Registers a list action in the running sync and sends it without
    /// waiting: its frames come back through the mirrored stream.
    fn send_sync_action(&mut self, action: Action, action_id: String) {
        let Some(run) = &mut self.sync else { return };
        let Ok(action) = action.with_action_id(&action_id) else {
            return;
        };
        run.pending.insert(
            action_id.clone(),
            ListProgress {
                action: action.name().to_owned(),
                response: None,
                entries: 0,
            },
        );
        let client = self.client.clone();
        let failures = self.send_failures.0.clone();
        tokio::spawn(async move {
            if let Err(error) = client.send(action).await {
                let _ = failures.send((action_id, error));
            }
        });
    }

    fn on_send_failure(&mut self, action_id: &str, error: SendError) {
        let Some(run) = &mut self.sync else { return };
        let Some(progress) = run.pending.remove(action_id) else {
            return;
        };
        tracing::warn!(action = %progress.action, %error, "resync list action failed");
        run.results.push(SyncListResult {
            action: progress.action,
            outcome: SyncOutcome::Failed as i32,
            entries: progress.entries,
            message: error.to_string(),
        });
        self.complete_sync_if_done();
    }

    /// A resync asked for over the bus; answered with whether it will happen.
    async fn on_resync_request(&mut self, request: ringside_bus::Request) {
        let who = String::from_utf8_lossy(&request.msg.payload)
            .trim()
            .to_owned();
        let answer = if self.connected {
            tracing::info!(requested_by = %who, "resync requested");
            self.request_sync(SyncReason::Requested, who);
            r#"{"ok":true}"#
        } else {
            r#"{"ok":false,"error":"not connected to the PBX"}"#
        };
        if let Err(error) = request.respond(Outgoing::new(answer)).await {
            tracing::debug!(%error, "resync answer not delivered");
        }
    }

    /// IAX2 registrations change without any AMI event: poll them.
    fn poll_iax_registrations(&mut self) {
        if !self.connected || self.sync.is_some() {
            return;
        }
        self.polls += 1;
        let Ok(action) = Action::new("IAXregistry")
            .and_then(|a| a.with_action_id(&format!("{POLL_PREFIX}{}", self.polls)))
        else {
            return;
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.send(action).await {
                tracing::debug!(%error, "IAXregistry poll failed");
            }
        });
    }

    /// `Filter` actions for the events this PBX drops at the source.
    fn install_source_filters(&self) {
        for name in &self.spec.drop_events {
            let action = Action::new("Filter").and_then(|a| {
                a.header("Operation", "Add")?
                    .header("Filter", format!("!Event: {name}"))
            });
            let Ok(action) = action else {
                tracing::warn!(event = %name, "invalid event name in drop_events");
                continue;
            };
            let client = self.client.clone();
            let name = name.clone();
            tokio::spawn(async move {
                match client.send(action).await {
                    Ok(r) if r.is_success() => {
                        tracing::debug!(event = %name, "dropping at the source")
                    }
                    Ok(r) => {
                        tracing::warn!(event = %name, message = r.get("Message").unwrap_or(""), "PBX refused the event filter")
                    }
                    Err(error) => {
                        tracing::warn!(event = %name, %error, "could not install the event filter")
                    }
                }
            });
        }
    }

    /// Normalizes an event or list entry and hands it to the publisher.
    fn emit_normalized(&mut self, message: &Message, ctx: &Ctx<'_>) {
        match self.normalizer.normalize_typed(message, ctx) {
            Some(Normalized::Typed(kind)) => self.emit(kind, Some(message), ctx),
            Some(Normalized::Unmapped) => {
                self.emit_encoded(UNMAPPED, |stamp| encode_unmapped(stamp, message, ctx))
            }
            None => {}
        }
    }

    /// Wraps, encodes and hands an event to the publisher.
    fn emit(&mut self, kind: Kind, source: Option<&Message>, ctx: &Ctx<'_>) {
        self.emit_encoded(kind_name(&kind), |stamp| {
            encode_envelope(stamp, source, ctx, &kind)
        });
    }

    /// Stamps the next event of kind `name`, encodes its envelope with
    /// `encode` and hands it to the publisher.
    fn emit_encoded(&mut self, name: &'static str, encode: impl FnOnce(&Stamp<'_>) -> Vec<u8>) {
        self.seq += 1;
        // One trace per AMI event, when traces are exported: this span is
        // its root; the state service and the gateway add theirs.
        let trace = ringside_telemetry::exporting()
            .then(|| tracing::info_span!("ami event", kind = name, sequence = self.seq))
            .and_then(|span| ringside_telemetry::traceparent_of(&span));
        let (received_at, read_at) = self
            .burst_read_at
            .unwrap_or_else(|| (SystemTime::now(), Instant::now()));
        let stamp = Stamp {
            tenant: self.tenant.as_str(),
            pbx: self.pbx.as_str(),
            epoch: self.epoch,
            sequence: self.seq,
            received_at,
            traceparent: trace.as_ref().map_or("", |(parent, _)| parent.as_str()),
        };
        let payload = encode(&stamp);
        let (subjects, tenant, pbx) = (&self.subjects, &self.tenant, &self.pbx);
        let subject = self
            .kind_subjects
            .entry(name)
            .or_insert_with(|| {
                let token = Token::new(name).expect("kind names are subject tokens");
                subjects.events(tenant, pbx, &token).into()
            })
            .clone();
        let msg_id = msg_id(&self.msg_id_prefix, self.epoch, "", self.seq);
        let Ok(mut msg) = Outgoing::new(payload).with_msg_id(msg_id) else {
            return;
        };
        if let Some((parent, state)) = &trace {
            let _ = msg.headers.set_trace_context(parent, state.as_deref());
        }
        self.metrics.event(name).increment(1);
        if !self.publisher.push_read_at(subject, msg, read_at) {
            self.metrics.dropped.increment(1);
        }
        self.metrics.buffer_depth.set(self.publisher.depth() as f64);
    }

    /// Adds a frame to this burst's raw frames, storing the burst first if
    /// the frame would take it past [`RAW_BURST_BYTES`].
    fn add_raw_frame(&mut self, message: &Message) {
        if self.raw.is_none() {
            return;
        }
        let wire = message.wire();
        if self.raw_burst.len() + wire.len() > RAW_BURST_BYTES {
            self.flush_raw();
        }
        self.raw_seq += 1;
        if self.raw_burst.is_empty() {
            self.raw_burst_first = self.raw_seq;
        }
        self.raw_burst.extend_from_slice(&wire);
    }

    /// Stores the raw frames of this burst as one `ami.raw` message, its
    /// id the sequence number of its first frame. One message per burst
    /// instead of one per frame halves what the stream stores per event;
    /// readers split it with `ringside_ami::codec::read_frames`.
    fn flush_raw(&mut self) {
        let Some(raw) = &mut self.raw else { return };
        if self.raw_burst.is_empty() {
            return;
        }
        let payload = self.raw_burst.split().freeze();
        let msg_id = msg_id(&self.msg_id_prefix, self.epoch, "r", self.raw_burst_first);
        if let Ok(msg) = Outgoing::new(payload).with_msg_id(msg_id) {
            raw.push(self.raw_subject.clone(), msg);
        }
    }

    async fn on_publish_progress(&mut self, progress: Progress) {
        match progress {
            Progress::Acked(_) | Progress::Resumed => {}
            Progress::Failed { error, retry_in } => {
                tracing::warn!(%error, retry_in_ms = retry_in.as_millis() as u64, depth = self.publisher.depth(), "publishing events failed; buffering");
            }
            Progress::GapClosed { dropped } => {
                // The views cannot be patched around lost events: say so on
                // the stream, then reconnect so the resync rebuilds them.
                tracing::error!(
                    dropped,
                    "events were dropped while the bus was away; forcing a resync"
                );
                if self.connected {
                    self.emit(
                        lifecycle::disconnected(format!(
                            "gap: {dropped} events lost while the bus was unavailable"
                        )),
                        None,
                        &Ctx::live(),
                    );
                    self.connected = false;
                    self.sync = None;
                    self.next_sync = None;
                }
                self.client
                    .reconnect(format!("{dropped} events lost"))
                    .await;
            }
        }
    }
}

/// `<tenant>.<pbx>.<epoch>.<tag><sequence>`: unique across connections,
/// ingestor restarts and replicas (see the module docs). Built without
/// `format!`, as it is twice per AMI frame.
fn msg_id(prefix: &str, epoch: u64, tag: &str, sequence: u64) -> String {
    let (mut epoch_digits, mut sequence_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (epoch, sequence) = (epoch_digits.format(epoch), sequence_digits.format(sequence));
    let mut id = String::with_capacity(prefix.len() + epoch.len() + 1 + tag.len() + sequence.len());
    id.push_str(prefix);
    id.push_str(epoch);
    id.push('.');
    id.push_str(tag);
    id.push_str(sequence);
    id
}

#[cfg(test)]
mod tests {
    use super::msg_id;

    #[test]
    fn message_ids_name_the_pbx_the_epoch_and_the_sequence() {
        assert_eq!(
            msg_id("acme.pbx-1.", 1_700_000_000_123, "", 42),
            "acme.pbx-1.1700000000123.42"
        );
        assert_eq!(msg_id("acme.pbx-1.", 7, "r", 0), "acme.pbx-1.7.r0");
        assert_eq!(
            msg_id("t.p.", u64::MAX, "", u64::MAX),
            format!("t.p.{}.{}", u64::MAX, u64::MAX)
        );
    }
}
