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

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use ringside_bus::{PbxId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// A delta as the state service publishes it, read in place: the entry and
/// the other passed-through fields stay the JSON text they arrived as.
#[derive(Deserialize)]
struct BusDelta<'a> {
    #[serde(borrow, default)]
    tenant: Option<Cow<'a, str>>,
    seq: u64,
    #[serde(borrow, default)]
    pbx: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    view: Option<&'a RawValue>,
    #[serde(borrow, default)]
    op: Option<&'a RawValue>,
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

/// The client's `Delta` frame (docs/live-views.md).
#[derive(Serialize)]
struct DeltaFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    pbx: &'a str,
    view: Option<&'a RawValue>,
    op: Option<&'a RawValue>,
    key: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
}

/// Turns a bus delta into the client's `Delta` frame, or `None` for what
/// is not a delta of `tenant`.
///
/// Every delta passes here once per tenant, so it is read in place and the
/// entry copied as text: parsing it into a tree and writing the tree out
/// again cost a tenth of a core at 10,000 deltas/s.
fn delta_frame(payload: &[u8], tenant: &TenantId) -> Option<FeedItem> {
    let delta: BusDelta = serde_json::from_slice(payload).ok()?;
    if delta.tenant.is_some_and(|t| t != tenant.as_str()) {
        return None;
    }
    let pbx = delta.pbx.unwrap_or_default();
    let frame = DeltaFrame {
        kind: "Delta",
        seq: delta.seq,
        pbx: &pbx,
        view: delta.view,
        op: delta.op,
        key: delta.key,
        value: delta.value,
    };
    let text = serde_json::to_string(&frame).ok()?;
    Some(FeedItem {
        seq: delta.seq,
        pbx: pbx.into_owned(),
        text: Utf8Bytes::from(text),
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
        // Deltas written to the socket's buffer but not yet flushed: while
        // more are queued they go out together, one write instead of one
        // per delta (a thousand clients at a thousand deltas/s is a million
        // frames a second).
        let mut unflushed = false;
        loop {
            if unflushed && rx.is_empty() {
                if self.socket.flush().await.is_err() {
                    return Next::Closed;
                }
                unflushed = false;
            }
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
                        if self.socket.feed(Message::Text(item.text.clone())).await.is_err() {
                            return Next::Closed;
                        }
                        unflushed = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn frame(payload: &str) -> Option<(FeedItem, Value)> {
        let item = delta_frame(payload.as_bytes(), &tenant())?;
        let json = serde_json::from_str(&item.text).unwrap();
        Some((item, json))
    }

    #[test]
    fn an_upsert_becomes_a_delta_frame_with_its_entry_unchanged() {
        let entry = r#"{"name":"PJSIP/101-0001","caller":{"name":"Zoë \"Z\" \u00e9","num":"101"},"legs":[1,2.5,null]}"#;
        let payload = format!(
            r#"{{"tenant":"acme","seq":42,"pbx":"pbx-1","view":"channels","op":"upsert","key":"17.1","value":{entry}}}"#
        );
        let (item, json) = frame(&payload).expect("a frame");
        assert_eq!((item.seq, item.pbx.as_str()), (42, "pbx-1"));
        assert_eq!(
            json,
            serde_json::json!({
                "type": "Delta", "seq": 42, "pbx": "pbx-1", "view": "channels",
                "op": "upsert", "key": "17.1",
                "value": serde_json::from_str::<Value>(entry).unwrap(),
            })
        );
    }

    #[test]
    fn a_remove_has_no_value() {
        let (_, json) =
            frame(r#"{"tenant":"acme","seq":7,"pbx":"p","view":"calls","op":"remove","key":"k"}"#)
                .expect("a frame");
        assert_eq!(json["op"], "remove");
        assert!(json.get("value").is_none(), "{json}");
    }

    #[test]
    fn another_tenants_delta_is_not_passed_on() {
        let payload =
            r#"{"tenant":"other","seq":1,"pbx":"p","view":"calls","op":"remove","key":"k"}"#;
        assert!(frame(payload).is_none());
        // The same name written with an escape is still this tenant.
        let escaped =
            r#"{"tenant":"ac\u006de","seq":1,"pbx":"p","view":"calls","op":"remove","key":"k"}"#;
        assert!(frame(escaped).is_some());
    }

    #[test]
    fn what_is_not_a_delta_is_refused() {
        for payload in ["", "not json", "{}", r#"{"seq":"one"}"#, "[1,2]"] {
            assert!(frame(payload).is_none(), "{payload}");
        }
    }
}
