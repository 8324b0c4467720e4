//! `/ws/ami`: raw AMI for amiws clients.
//!
//! Every raw frame the ingestors publish for the caller's tenant
//! (`<root>.<tenant>.*.ami.raw`: the exact wire bytes of the messages of
//! one read burst, back to back) is decoded with `ringside-ami` and each
//! message is sent as amiws JSON:
//! `{"type": 3, "server_id": 1, "server_name": "pbx1", "ssl": false,
//! "data": {"Event": "Hangup", …}}` — a repeated header becomes a list.
//! JSON actions come in as amiws sends them (`{"Action": …, "AMIServerID": n}`;
//! without `AMIServerID` to every PBX of the tenant) and go through the same
//! role gate and ingestor request as REST actions; the answers go back in the
//! same format, with the client's own `ActionID`.
//!
//! amiws numbers its AMI connections; Ringside's PBXs have string ids, so the
//! gateway numbers them in the order it first sees them ([`ServerIds`]),
//! stable for the process's life. `AMIServerID` may also be the PBX id.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{FutureExt, SinkExt, StreamExt};
use ringside_ami::codec::{FramesRead, read_frames};
use ringside_ami::json::MessageJson;
use ringside_ami::{MessageKind, MessageRef};
use ringside_ami_ingestor::actions::ActionReply;
use ringside_bus::{Delivered, PbxId, TenantId};
use serde_json::Value;

use crate::actions::{Sent, ServerRef, Target, headers_from_json, send_action};
use crate::auth::Principal;
use crate::state::AppState;
use crate::ws::{MAX_CLIENT_MESSAGE, UpgradeAuth, authenticate, error_frame, refuse};

/// amiws message types.
pub mod kind {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// The banner (prompt).
    pub const PROMPT: u8 = 1;
    /// An action.
    pub const ACTION: u8 = 2;
    /// An event.
    pub const EVENT: u8 = 3;
    /// A response.
    pub const RESPONSE: u8 = 4;
    /// A `Command` response.
    pub const COMMAND: u8 = 5;
}

/// amiws's number for each `(tenant, pbx)`.
#[derive(Default)]
pub struct ServerIds {
    inner: Mutex<(HashMap<TenantPbx, u64>, HashMap<u64, TenantPbx>)>,
}

type TenantPbx = (String, String);

impl ServerIds {
    /// The number of a PBX, assigned on first sight.
    pub fn id_of(&self, tenant: &str, pbx: &str) -> u64 {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant.to_owned(), pbx.to_owned());
        if let Some(id) = guard.0.get(&key) {
            return *id;
        }
        let id = guard.0.len() as u64 + 1;
        guard.0.insert(key.clone(), id);
        guard.1.insert(id, key);
        id
    }

    /// The PBX of a number, if it is one of `tenant`'s.
    pub fn pbx_of(&self, tenant: &str, id: u64) -> Option<String> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .get(&id)
            .filter(|(t, _)| t == tenant)
            .map(|(_, p)| p.clone())
    }
}

fn message_type(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::Banner => kind::PROMPT,
        MessageKind::Event | MessageKind::ListItem | MessageKind::ListComplete => kind::EVENT,
        MessageKind::Response => kind::RESPONSE,
        MessageKind::CommandOutput => kind::COMMAND,
    }
}

/// Appends `s` as a JSON string (serde_json's escaping, written in place).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The amiws JSON of one message from `headers` (in wire order; `None`
/// values — colon-less lines — are left out), with repeated names as lists
/// in the place of their first occurrence.
///
/// This runs once per relayed AMI message, so it builds the text in one
/// buffer: no map, no list per header, no intermediate strings.
fn amiws_json<'a>(
    type_: u8,
    server_id: u64,
    server_name: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    output: Option<&str>,
    action_id: Option<&str>,
) -> String {
    let headers: Vec<(&str, &str)> = headers
        .map(|(k, v)| match action_id {
            Some(id) if k.eq_ignore_ascii_case("ActionID") => (k, id),
            _ => (k, v),
        })
        .collect();
    let size: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
    let mut out = Vec::with_capacity(96 + server_name.len() + size + output.map_or(0, str::len));
    let _ = write!(
        out,
        "{{\"type\":{type_},\"server_id\":{server_id},\"server_name\":"
    );
    push_json_str(&mut out, server_name);
    out.extend_from_slice(b",\"ssl\":false,\"data\":{");
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &str, values: &mut dyn Iterator<Item = &str>| {
        if !first {
            out.push(b',');
        }
        first = false;
        push_json_str(out, name);
        out.push(b':');
        let mut values = values.peekable();
        let Some(one) = values.next() else {
            out.extend_from_slice(b"[]");
            return;
        };
        if values.peek().is_none() {
            push_json_str(out, one);
            return;
        }
        out.push(b'[');
        push_json_str(out, one);
        for v in values {
            out.push(b',');
            push_json_str(out, v);
        }
        out.push(b']');
    };
    // Case-sensitive names as sent, first-seen order.
    let mut emitted = vec![false; headers.len()];
    for (i, (name, _)) in headers.iter().enumerate() {
        if emitted[i] {
            continue;
        }
        let mut same = headers
            .iter()
            .enumerate()
            .skip(i)
            .filter(|(_, (n, _))| n == name)
            .map(|(j, (_, v))| {
                emitted[j] = true;
                *v
            });
        field(&mut out, name, &mut same);
    }
    if let Some(output) = output.filter(|o| !o.is_empty()) {
        field(&mut out, "Output", &mut output.lines());
    }
    out.extend_from_slice(b"}}");
    // Every piece above is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// The amiws JSON of each AMI message of a raw `ami.raw` payload (the
/// frames of one read burst, back to back), in order, given to `out`.
///
/// This runs once per relayed payload: the frames are read in place
/// ([`read_frames`]); only one that is not valid UTF-8 is decoded into a
/// copy, with the invalid bytes replaced.
pub fn raw_frames_json(
    payload: &[u8],
    server_id: u64,
    server_name: &str,
    mut out: impl FnMut(String),
) -> FramesRead {
    read_frames(payload, |message| {
        out(message_json(message, server_id, server_name));
    })
}

fn message_json(message: MessageRef<'_>, server_id: u64, server_name: &str) -> String {
    if message.kind() == MessageKind::Banner {
        return amiws_json(
            kind::PROMPT,
            server_id,
            server_name,
            std::iter::once(("Prompt", message.as_text())),
            None,
            None,
        );
    }
    amiws_json(
        message_type(message.kind()),
        server_id,
        server_name,
        message
            .headers()
            .filter_map(|h| h.value.map(|v| (h.key, v))),
        message.legacy_body(),
        None,
    )
}

fn reply_json(
    m: &MessageJson,
    server_id: u64,
    server_name: &str,
    action_id: Option<&str>,
) -> String {
    amiws_json(
        message_type(m.kind),
        server_id,
        server_name,
        m.headers
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v))),
        m.output.as_deref(),
        action_id,
    )
}

/// `GET /ws/ami`.
pub async fn ws_ami(
    State(state): State<AppState>,
    auth: UpgradeAuth,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Clients send small control messages and actions only.
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _open = crate::http::WsClientGauge::open("ami");
            client(state, auth.0, socket).await
        })
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
    let pattern = state.subjects.ami_raw_filter(Some(&tenant), None);
    let mut raw = match state.bus.subscribe(&pattern).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to raw AMI");
            return refuse(socket, "unavailable", "raw AMI is unavailable").await;
        }
    };
    tracing::debug!(user = %who.username, tenant = %tenant, "AMI WebSocket opened");
    let mut server_ids = HashMap::new();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            frame = raw.next() => {
                let Some(frame) = frame else {
                    let _ = socket.send(error_frame("unavailable", "raw AMI subscription ended")).await;
                    return;
                };
                // Whatever else is already waiting goes out with it, in one
                // flush: one write per burst instead of one per message.
                let mut burst = Vec::new();
                let mut next = Some(frame);
                while let Some(frame) = next.take() {
                    relayed(&state, &tenant, &mut server_ids, &frame, &mut burst);
                    if burst.len() < MAX_BURST {
                        next = raw.next().now_or_never().flatten();
                    }
                }
                for json in burst {
                    if socket.feed(Message::Text(json.into())).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(text))) => {
                    for out in on_action(&state, &who, &tenant, &text).await {
                        if socket.send(Message::Text(out.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

/// AMI messages sent before one flush at most (more when the last stored
/// burst read holds more), so a flood still reaches the client in bounded
/// pieces.
const MAX_BURST: usize = 256;

/// Appends to `out` the amiws JSON of the AMI messages of a raw `ami.raw`
/// payload of the client's tenant. `server_ids` is the client's copy of the
/// numbers of the PBXs it has seen, so a payload costs no lock and no
/// allocation to number.
fn relayed(
    state: &AppState,
    tenant: &TenantId,
    server_ids: &mut HashMap<String, u64>,
    frame: &Delivered,
    out: &mut Vec<String>,
) {
    let Some((t, pbx)) = state.subjects.tenant_and_pbx(&frame.subject) else {
        return;
    };
    if t != tenant.as_str() {
        return;
    }
    let id = match server_ids.get(pbx) {
        Some(id) => *id,
        None => {
            let id = state.server_ids.id_of(t, pbx);
            server_ids.insert(pbx.to_owned(), id);
            id
        }
    };
    let read = raw_frames_json(&frame.payload, id, pbx, |json| out.push(json));
    if read.trailing > 0 {
        tracing::warn!(subject = %frame.subject, bytes = read.trailing, "raw AMI ends in a frame cut short; not relayed");
    }
}

/// An error answer in amiws form (a `Response: Error`), so amiws clients
/// show it like Asterisk's own.
fn error_response(
    server_id: u64,
    server_name: &str,
    action_id: Option<&str>,
    message: &str,
) -> String {
    let mut headers = vec![("Response", "Error")];
    if let Some(id) = action_id {
        headers.push(("ActionID", id));
    }
    headers.push(("Message", message));
    amiws_json(
        kind::RESPONSE,
        server_id,
        server_name,
        headers.into_iter(),
        None,
        None,
    )
}

/// Handles one JSON action; returns the frames to send back.
async fn on_action(
    state: &AppState,
    who: &Principal,
    tenant: &TenantId,
    text: &str,
) -> Vec<String> {
    let body: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return vec![error_response(0, "", None, "invalid JSON")],
    };
    let action_id = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("ActionID")))
        .and_then(|(_, v)| v.as_str().map(str::to_owned));
    let action_id = action_id.as_deref();
    let (headers, server) = match headers_from_json(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            let detail = e
                .details
                .first()
                .map_or(e.message.clone(), |d| format!("{}: {}", d.field, d.message));
            return vec![error_response(0, "", action_id, &detail)];
        }
    };
    let target = match server {
        None => Target::All,
        Some(ServerRef::Number(n)) => match state
            .server_ids
            .pbx_of(tenant.as_str(), n)
            .and_then(|p| PbxId::new(p).ok())
        {
            Some(pbx) => Target::Pbx(pbx),
            None => return vec![error_response(n, "", action_id, "no such AMI server")],
        },
        Some(ServerRef::Id(id)) => match PbxId::new(id.as_str()) {
            Ok(pbx) => Target::Pbx(pbx),
            Err(_) => return vec![error_response(0, &id, action_id, "no such AMI server")],
        },
    };
    let (target_id, target_name) = match &target {
        Target::Pbx(p) => (
            state.server_ids.id_of(tenant.as_str(), p.as_str()),
            p.to_string(),
        ),
        Target::All => (0, String::new()),
    };
    match send_action(state, who, tenant, &target, headers).await {
        Err(e) => vec![error_response(
            target_id,
            &target_name,
            action_id,
            &e.message,
        )],
        Ok(Sent::NoSuchPbx) => vec![error_response(
            target_id,
            &target_name,
            action_id,
            "no such AMI server, or it is not connected",
        )],
        Ok(Sent::Replies(replies)) => {
            let mut out = Vec::new();
            for ActionReply {
                pbx,
                response,
                events,
                error,
                ..
            } in replies
            {
                let id = state.server_ids.id_of(tenant.as_str(), &pbx);
                if let Some(failure) = error {
                    out.push(error_response(
                        id,
                        &pbx,
                        action_id,
                        &format!("{}: {}", failure.code, failure.message),
                    ));
                    continue;
                }
                if let Some(response) = &response {
                    out.push(reply_json(response, id, &pbx, action_id));
                }
                out.extend(events.iter().map(|e| reply_json(e, id, &pbx, action_id)));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The amiws JSON of each message of `payload`.
    fn jsons(payload: &[u8], server_id: u64, server_name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        raw_frames_json(payload, server_id, server_name, |json| {
            out.push(serde_json::from_str(&json).unwrap());
        });
        out
    }

    #[test]
    fn repeated_headers_become_lists_and_types_follow_amiws() {
        let wire = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: A\r\nVariable: B\r\nValue: x\"y\r\n\r\n";
        let [v] = &jsons(wire, 3, "pbx1")[..] else {
            panic!("one message")
        };
        assert_eq!(v["type"], 3);
        assert_eq!(v["server_id"], 3);
        assert_eq!(v["server_name"], "pbx1");
        assert_eq!(v["ssl"], false);
        assert_eq!(v["data"]["Event"], "VarSet");
        assert_eq!(v["data"]["Variable"], serde_json::json!(["A", "B"]));
        assert_eq!(v["data"]["Value"], "x\"y");
        let response = jsons(
            b"Response: Success\r\nActionID: 1\r\nPing: Pong\r\n\r\n",
            1,
            "p",
        );
        assert_eq!(response[0]["type"], 4);
        assert!(jsons(b"", 1, "p").is_empty());
        let banner = jsons(b"Asterisk Call Manager/5.0.1\r\n", 2, "p");
        assert_eq!(banner[0]["type"], 1);
        assert_eq!(banner[0]["data"]["Prompt"], "Asterisk Call Manager/5.0.1");
        // Bytes that are not UTF-8 are relayed replaced, not dropped.
        let lossy = jsons(b"Event: Hangup\r\nCause-txt: caf\xe9\r\n\r\n", 1, "p");
        assert_eq!(lossy[0]["data"]["Cause-txt"], "caf\u{fffd}");
    }

    #[test]
    fn every_message_of_a_stored_burst_is_relayed_in_order() {
        let burst = b"Event: Newchannel\r\nChannel: PJSIP/1-1\r\n\r\n\
Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\ncore show uptime\n\n--END COMMAND--\r\n\r\n\
Event: Hangup\r\nChannel: PJSIP/1-1\r\nCause: 16\r\n\r\n";
        let read = jsons(burst, 1, "p");
        let names: Vec<_> = read
            .iter()
            .map(|v| (v["type"].as_u64().unwrap(), v["data"]["Event"].as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (3, Some("Newchannel")),
                (u64::from(kind::COMMAND), None),
                (3, Some("Hangup"))
            ]
        );
        assert_eq!(read[1]["data"]["ActionID"], "9");
        assert_eq!(read[2]["data"]["Cause"], "16");
    }

    #[test]
    fn server_numbers_are_stable_and_tenant_scoped() {
        let ids = ServerIds::default();
        let a = ids.id_of("acme", "pbx1");
        let b = ids.id_of("other", "pbx1");
        assert_ne!(a, b);
        assert_eq!(ids.id_of("acme", "pbx1"), a);
        assert_eq!(ids.pbx_of("acme", a).as_deref(), Some("pbx1"));
        assert_eq!(ids.pbx_of("acme", b), None);
    }
}
