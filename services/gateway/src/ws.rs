//! `/ws`: live views over a WebSocket — one `InitialState`, then the deltas
//! after it with no gap and no duplicate.
//!
//! Per tenant there is one bus subscription to `<root>.<tenant>.view.>`
//! ([`Feed`]), shared by that tenant's clients through a broadcast ring: each
//! delta is parsed and serialized once, and a client that falls behind by the
//! ring's size is told `Lagged` — a slow client never holds up the feed or
//! another client, and memory stays bounded.
//!
//! Each client stitches on its own: it takes a fresh receiver (its queue
//! starts empty), *then* asks for the snapshot, so every delta after the
//! snapshot is in its queue; it drops `seq <= snapshot.seq` and forwards the
//! rest while they follow each other. A hole in `seq` (core NATS is
//! at-most-once) or a lag starts the same procedure again: a fresh
//! `InitialState` replaces everything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use futures::StreamExt;
use ringside_bus::{PbxId, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::CancellationToken;

use crate::auth::{Principal, Role, Tokens, bearer};
use crate::live::{SnapshotRequest, fetch_snapshot};
use crate::state::AppState;

/// One delta, ready to send.
#[derive(Debug)]
pub struct FeedItem {
    /// The tenant's delta sequence number.
    pub seq: u64,
    /// The PBX it is about.
    pub pbx: String,
    /// The `Delta` frame.
    pub text: Utf8Bytes,
}

/// One tenant's shared subscription.
pub struct Feed {
    sender: broadcast::Sender<Arc<FeedItem>>,
    alive: Arc<AtomicBool>,
    stop: CancellationToken,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Feed {
    /// A receiver that sees deltas from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedItem>> {
        self.sender.subscribe()
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

/// The tenants' feeds, created on a tenant's first client and stopped after
/// its last.
#[derive(Default)]
pub struct LiveHub {
    feeds: Mutex<HashMap<TenantId, Weak<Feed>>>,
}

/// Turns a bus delta into the client's `Delta` frame.
fn delta_frame(payload: &[u8], tenant: &TenantId) -> Option<FeedItem> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    if v.get("tenant")
        .and_then(Value::as_str)
        .is_some_and(|t| t != tenant.as_str())
    {
        return None;
    }
    let seq = v.get("seq")?.as_u64()?;
    let pbx = v
        .get("pbx")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut frame = json!({
        "type": "Delta",
        "seq": seq,
        "pbx": pbx,
        "view": v.get("view").cloned().unwrap_or(Value::Null),
        "op": v.get("op").cloned().unwrap_or(Value::Null),
        "key": v.get("key").cloned().unwrap_or(Value::Null),
    });
    if let (Some(value), Some(obj)) = (v.get("value"), frame.as_object_mut()) {
        obj.insert("value".to_owned(), value.clone());
    }
    Some(FeedItem {
        seq,
        pbx,
        text: Utf8Bytes::from(frame.to_string()),
    })
}

impl LiveHub {
    /// The tenant's feed, subscribing to its deltas if nobody has yet. The
    /// subscription is active when this returns.
    ///
    /// # Errors
    /// The bus refused the subscription.
    pub async fn feed(
        &self,
        state: &AppState,
        tenant: &TenantId,
    ) -> Result<Arc<Feed>, ringside_bus::BusError> {
        let mut feeds = self.feeds.lock().await;
        if let Some(feed) = feeds.get(tenant).and_then(Weak::upgrade)
            && feed.is_alive()
        {
            return Ok(feed);
        }
        let pattern = format!("{}.{tenant}.view.>", state.subjects.root());
        let mut deltas = state.bus.subscribe(&pattern).await?;
        let (sender, _) = broadcast::channel(state.settings.ws_queue);
        let alive = Arc::new(AtomicBool::new(true));
        let stop = CancellationToken::new();
        let feed = Arc::new(Feed {
            sender: sender.clone(),
            alive: alive.clone(),
            stop: stop.clone(),
        });
        let owner = tenant.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    next = deltas.next() => match next {
                        Some(msg) => {
                            // The last hop of an AMI event's trace.
                            let _push = push_span(&msg);
                            match delta_frame(&msg.payload, &owner) {
                                // No receiver (between clients) is not an error.
                                Some(item) => { let _ = sender.send(Arc::new(item)); }
                                None => tracing::debug!(subject = %msg.subject, "ignoring an unreadable delta"),
                            }
                        }
                        None => {
                            tracing::warn!(tenant = %owner, "the view subscription ended; clients will resubscribe");
                            break;
                        }
                    },
                }
            }
            alive.store(false, Ordering::Release);
        });
        feeds.retain(|_, w| w.strong_count() > 0);
        feeds.insert(tenant.clone(), Arc::downgrade(&feed));
        Ok(feed)
    }
}

/// When traces are exported and the delta carries a trace context: a span,
/// child of the state service's, around handing the delta to the clients.
fn push_span(msg: &ringside_bus::Delivered) -> Option<tracing::span::EnteredSpan> {
    if !ringside_telemetry::exporting() {
        return None;
    }
    let traceparent = msg.headers.traceparent()?;
    let span = tracing::info_span!("websocket push", subject = %msg.subject);
    ringside_telemetry::set_parent_from(&span, traceparent, msg.headers.tracestate()).ok()?;
    Some(span.entered())
}

/// The largest message a WebSocket client may send.
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// The first message of a WebSocket client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientHello {
    Auth { token: String },
}

/// Later messages of a `/ws` client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMsg {
    Subscribe {
        #[serde(default)]
        pbx: Option<String>,
        #[serde(default)]
        tenant: Option<String>,
    },
    Auth {
        #[allow(dead_code)]
        token: String,
    },
}

/// The caller of an upgrade request, if it sent a valid `Authorization`
/// header; `Err` when it sent an invalid one.
pub struct UpgradeAuth(pub Result<Option<Principal>, ()>);

impl<S: Send + Sync> FromRequestParts<S> for UpgradeAuth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            return Ok(UpgradeAuth(Ok(None)));
        };
        let tokens = parts.extensions.get::<Arc<Tokens>>().cloned();
        Ok(UpgradeAuth(match tokens {
            Some(tokens) => tokens.verify(token).map(Some).map_err(|_| ()),
            None => Err(()),
        }))
    }
}

pub(crate) fn error_frame(code: &str, message: &str) -> Message {
    Message::Text(
        json!({"type": "Error", "code": code, "message": message})
            .to_string()
            .into(),
    )
}

pub(crate) async fn refuse(mut socket: WebSocket, code: &str, message: &str) {
    let _ = socket.send(error_frame(code, message)).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 4401,
            reason: Utf8Bytes::from(message.to_owned()),
        })))
        .await;
}

/// Authenticates a WebSocket: the upgrade's bearer header, or else the first
/// message `{"type":"auth","token":"…"}` within the timeout. On failure the
/// client gets an `Error` frame and a close.
pub(crate) async fn authenticate(
    socket: &mut WebSocket,
    header: Result<Option<Principal>, ()>,
    tokens: &Tokens,
    timeout: Duration,
) -> Result<Principal, &'static str> {
    match header {
        Ok(Some(who)) => return Ok(who),
        Err(()) => return Err("invalid or expired token"),
        Ok(None) => {}
    }
    let first = tokio::time::timeout(timeout, async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Text(text))) => return Some(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .map_err(|_| "authentication timed out")?
    .ok_or("expected an auth message")?;
    match serde_json::from_str::<ClientHello>(&first) {
        Ok(ClientHello::Auth { token }) => tokens
            .verify(&token)
            .map_err(|_| "invalid or expired token"),
        Err(_) => Err("the first message must be {\"type\":\"auth\",\"token\":\"…\"}"),
    }
}

/// `GET /ws`.
pub async fn ws_live(
    State(state): State<AppState>,
    auth: UpgradeAuth,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Clients send small control messages and actions only.
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _open = crate::http::WsClientGauge::open("live");
            client(state, auth.0, socket).await
        })
}

/// Why a client's stream of deltas must start over.
enum Next {
    Resync,
    Closed,
}

struct Client {
    state: AppState,
    socket: WebSocket,
    who: Principal,
    tenant: TenantId,
    pbx: Option<PbxId>,
    heartbeat: tokio::time::Interval,
}

async fn client(state: AppState, header: Result<Option<Principal>, ()>, mut socket: WebSocket) {
    let who = match authenticate(
        &mut socket,
        header,
        &state.tokens,
        state.settings.ws_auth_timeout,
    )
    .await
    {
        Ok(who) => who,
        Err(message) => return refuse(socket, "unauthorized", message).await,
    };
    let Ok(tenant) = who.tenant_id() else {
        return refuse(socket, "unauthorized", "invalid tenant").await;
    };
    let mut heartbeat = tokio::time::interval(state.settings.ws_heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    let mut c = Client {
        state,
        socket,
        who,
        tenant,
        pbx: None,
        heartbeat,
    };
    tracing::debug!(user = %c.who.username, tenant = %c.tenant, "live WebSocket opened");
    c.run().await;
}

impl Client {
    async fn send(&mut self, msg: Message) -> Result<(), ()> {
        self.socket.send(msg).await.map_err(|_| ())
    }

    async fn run(&mut self) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let feed = match self.state.hub.feed(&self.state, &self.tenant).await {
                Ok(feed) => feed,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to view deltas");
                    if self
                        .send(error_frame("unavailable", "live updates are unavailable"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if self.pause(backoff).await.is_err() {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            match self.stitch(&feed, &mut backoff).await {
                Next::Resync => continue,
                Next::Closed => return,
            }
        }
    }

    /// Waits, still answering the socket (a close ends the wait).
    async fn pause(&mut self, wait: Duration) -> Result<(), ()> {
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled() => return Err(()),
                _ = &mut deadline => return Ok(()),
                msg = self.socket.recv() => match msg {
                    Some(Ok(Message::Text(text))) => { self.on_message(&text).await?; }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(()),
                    _ => {}
                },
            }
        }
    }

    /// Handles a client message; `Err` closes the connection.
    async fn on_message(&mut self, text: &str) -> Result<bool, ()> {
        match serde_json::from_str::<ClientMsg>(text) {
            Ok(ClientMsg::Subscribe { pbx, tenant }) => {
                let pbx = match pbx.as_deref().map(PbxId::new).transpose() {
                    Ok(p) => p,
                    Err(_) => {
                        self.send(error_frame("validation", "invalid pbx id"))
                            .await?;
                        return Ok(false);
                    }
                };
                if let Some(t) = tenant.as_deref()
                    && t != self.tenant.as_str()
                {
                    if self.who.role != Role::PlatformAdmin {
                        self.send(error_frame("not_found", "no such tenant"))
                            .await?;
                        return Ok(false);
                    }
                    match TenantId::new(t) {
                        Ok(t) => self.tenant = t,
                        Err(_) => {
                            self.send(error_frame("validation", "invalid tenant id"))
                                .await?;
                            return Ok(false);
                        }
                    }
                }
                self.pbx = pbx;
                Ok(true)
            }
            Ok(ClientMsg::Auth { .. }) => Ok(false),
            Err(_) => {
                self.send(error_frame("bad_request", "unknown message"))
                    .await?;
                Ok(false)
            }
        }
    }

    /// Snapshot, then deltas, until a resync is needed or the client leaves.
    async fn stitch(&mut self, feed: &Arc<Feed>, backoff: &mut Duration) -> Next {
        // Receiver first (an empty queue), snapshot second.
        let mut rx = feed.subscribe();
        let request = SnapshotRequest {
            pbx: self.pbx.as_ref().map(ToString::to_string),
            at_ms: None,
        };
        let snapshot = match fetch_snapshot(
            &self.state.bus,
            &self.state.subjects,
            &self.tenant,
            &request,
            self.state.settings.request_timeout,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                if self
                    .send(error_frame("unavailable", &e.message))
                    .await
                    .is_err()
                    || self.pause(*backoff).await.is_err()
                {
                    return Next::Closed;
                }
                *backoff = (*backoff * 2).min(Duration::from_secs(10));
                return Next::Resync;
            }
        };
        *backoff = Duration::from_millis(500);
        let tenant = self.tenant.as_str().to_owned();
        let mut views = serde_json::Map::new();
        for view in crate::live::VIEWS {
            let items: Vec<Value> = snapshot
                .view(view)
                .iter()
                .filter(|e| {
                    e.get("tenant")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == tenant)
                })
                .cloned()
                .collect();
            views.insert(view.to_owned(), Value::Array(items));
        }
        let initial = json!({"type": "InitialState", "seq": snapshot.seq, "snapshot": views});
        if self
            .send(Message::Text(initial.to_string().into()))
            .await
            .is_err()
        {
            return Next::Closed;
        }
        // Without a seq (should not happen for a live snapshot) nothing can
        // be dropped as included: forward everything.
        let mut last = snapshot.seq;
        loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled() => {
                    let _ = self.socket.send(Message::Close(None)).await;
                    return Next::Closed;
                }
                item = rx.recv() => match item {
                    Ok(item) => {
                        if let Some(seen) = last {
                            if item.seq <= seen {
                                continue;
                            }
                            if item.seq != seen + 1 {
                                tracing::debug!(expected = seen + 1, got = item.seq, "delta gap; resyncing");
                                return Next::Resync;
                            }
                        }
                        last = Some(item.seq);
                        if self.pbx.as_ref().is_some_and(|p| p.as_str() != item.pbx) {
                            continue;
                        }
                        if self.send(Message::Text(item.text.clone())).await.is_err() {
                            return Next::Closed;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "slow WebSocket client; sending a fresh snapshot");
                        return Next::Resync;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Next::Resync,
                },
                _ = self.heartbeat.tick() => {
                    let beat = json!({"type": "Heartbeat", "ts": crate::now_ms().unsigned_abs()}).to_string();
                    if self.send(Message::Text(beat.into())).await.is_err() {
                        return Next::Closed;
                    }
                }
                msg = self.socket.recv() => match msg {
                    Some(Ok(Message::Text(text))) => match self.on_message(&text).await {
                        // A new PBX filter or tenant: start over.
                        Ok(true) => return Next::Resync,
                        Ok(false) => {}
                        Err(()) => return Next::Closed,
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Next::Closed,
                    _ => {}
                },
            }
        }
    }
}
