//! One AMI connection: banner, login (plain or MD5 challenge), the
//! session-level actions, and dispatch of everything else to the model.
//!
//! Two tasks per connection: this reader, which decodes actions with the
//! protocol crate's codec and answers them, and a writer that drains the
//! session's bounded queue to the socket. Everything the session sends,
//! answers and events alike, goes through that queue, so a slow client costs
//! only its own queue (see `hub`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use ringside_ami::{AmiCodec, Message};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::actions::{self, Req};
use crate::engine::control::AmiSessionInfo;
use crate::hub::{EventMask, Outbound, deliver};
use crate::server::Inner;
use crate::wire::{self, Msg};

/// The first line of every connection; no blank line follows it (corpus
/// README item 1).
const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// Messages a session may have queued before it counts as too slow and is
/// dropped. Generous: a burst of list answers for a 9000-extension PBX fits.
const QUEUE_CAPACITY: usize = 32_768;

/// Whether the connection goes on after an action.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Flush what is queued, then close.
    Close,
}

struct Session {
    id: u64,
    inner: Arc<Inner>,
    tx: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    authenticated: bool,
    challenge: Option<String>,
    info: AmiSessionInfo,
}

/// Serves one connection until the client leaves, logs off, fails to log
/// in, is dropped for being slow, or the simulator disconnects everyone.
pub(crate) async fn run<S>(
    stream: S,
    local: SocketAddr,
    peer: SocketAddr,
    inner: Arc<Inner>,
    id: u64,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let cancel = inner.shutdown.child_token();
    let writer = tokio::spawn(write_loop(wr, rx, cancel.clone(), inner.clone()));
    let mut kick = inner.kick.subscribe();
    let session_tv = {
        let st = inner.lock();
        let micros = match st.pbx.as_ref() {
            Some(p) => p.engine.wall_micros(),
            None => wall_now_micros(),
        };
        crate::clock::event_tv(micros)
    };
    let mut s = Session {
        id,
        tx,
        cancel: cancel.clone(),
        authenticated: false,
        challenge: None,
        info: AmiSessionInfo {
            account: String::new(),
            session_id: format!("0x7f{:010x}", id.wrapping_mul(0x9e37_79b9)),
            local: format!("IPV4/TCP/{}/{}", local.ip(), local.port()),
            remote: format!("IPV4/TCP/{}/{}", peer.ip(), peer.port()),
            session_tv,
        },
        inner,
    };
    tracing::debug!(session = id, %peer, "AMI connection accepted");
    s.send(Bytes::from_static(BANNER));
    let mut reader = FramedRead::new(rd, AmiCodec::without_banner());
    let graceful = loop {
        tokio::select! {
            _ = cancel.cancelled() => break false,
            _ = kick.changed() => break false,
            item = reader.next() => match item {
                None => break false,
                Some(Err(e)) => {
                    tracing::debug!(session = id, error = %e, "AMI connection read failed");
                    break false;
                }
                Some(Ok(Err(e))) => {
                    tracing::debug!(session = id, error = %e, "skipping an undecodable action");
                }
                Some(Ok(Ok(msg))) => {
                    if s.inner.is_frozen() {
                        continue;
                    }
                    if s.handle(&msg) == Flow::Close {
                        break true;
                    }
                }
            },
        }
    };
    s.inner.lock().hub.unsubscribe(id);
    if graceful {
        let _ = s.tx.try_send(Outbound::Close);
    } else {
        cancel.cancel();
    }
    let _ = writer.await;
    tracing::debug!(session = id, "AMI connection closed");
}

fn wall_now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Drains the session's queue to the socket, batching what is already
/// queued into one write. Cancellation stops it even in the middle of a write
/// to a client that no longer reads.
async fn write_loop<W: AsyncWrite + Unpin>(
    wr: W,
    rx: mpsc::Receiver<Outbound>,
    cancel: CancellationToken,
    inner: Arc<Inner>,
) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        () = drain(wr, rx, &cancel, &inner) => {}
    }
}

async fn drain<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::Receiver<Outbound>,
    cancel: &CancellationToken,
    inner: &Inner,
) {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(first) = rx.recv().await {
        let mut next = first;
        loop {
            let (bytes, permit) = match next {
                Outbound::Close => {
                    let _ = wr.flush().await;
                    let _ = wr.shutdown().await;
                    return;
                }
                Outbound::Data(bytes) => (bytes, None),
                Outbound::Paced(bytes, permit) => (bytes, Some(permit)),
            };
            // Frozen: swallow everything, keep the socket open.
            if !inner.is_frozen() && wr.write_all(&bytes).await.is_err() {
                cancel.cancel();
                return;
            }
            drop(permit);
            if wr.buffer().len() > 48 * 1024 {
                break;
            }
            match rx.try_recv() {
                Ok(item) => next = item,
                Err(_) => break,
            }
        }
        if wr.flush().await.is_err() {
            cancel.cancel();
            return;
        }
    }
}

impl Session {
    /// Queues bytes for this session's client.
    fn send(&self, bytes: Bytes) {
        deliver(self.id, &self.tx, &self.cancel, Outbound::Data(bytes));
    }

    fn send_msg(&self, m: Msg) {
        self.send(m.to_bytes());
    }

    fn handle(&mut self, msg: &Message) -> Flow {
        let aid = msg.get("ActionID").filter(|v| !v.is_empty());
        let Some(action) = msg.get("Action").map(str::trim).filter(|a| !a.is_empty()) else {
            self.send_msg(wire::error(aid, "Missing action in request"));
            return Flow::Continue;
        };
        match action.to_ascii_lowercase().as_str() {
            "login" => self.login(msg, aid),
            "challenge" => {
                self.challenge(msg, aid);
                Flow::Continue
            }
            "logoff" => {
                self.send_msg(
                    wire::response("Goodbye", aid).h("Message", "Thanks for all the fish."),
                );
                Flow::Close
            }
            _ if !self.authenticated => {
                self.send_msg(wire::error(aid, "Permission denied"));
                Flow::Continue
            }
            "events" => {
                let mask = EventMask::parse(msg.get("EventMask").unwrap_or_default());
                let on = mask.is_on();
                self.inner.lock().hub.set_mask(self.id, mask);
                self.send_msg(
                    wire::response("Success", aid).h("Events", if on { "On" } else { "Off" }),
                );
                Flow::Continue
            }
            "filter" => {
                self.filter(msg, aid);
                Flow::Continue
            }
            _ => {
                self.action(action, msg, aid);
                Flow::Continue
            }
        }
    }

    fn challenge(&mut self, msg: &Message, aid: Option<&str>) {
        let md5 = msg
            .get("AuthType")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("md5"));
        if !md5 {
            self.send_msg(wire::error(aid, "Must specify AuthType"));
            return;
        }
        let challenge = self
            .challenge
            .get_or_insert_with(|| format!("{}", rand::random::<u32>() % 1_000_000_000))
            .clone();
        self.send_msg(wire::response("Success", aid).h("Challenge", challenge));
    }

    fn login(&mut self, msg: &Message, aid: Option<&str>) -> Flow {
        if self.authenticated {
            self.send_msg(wire::ack(aid, "Already authenticated"));
            return Flow::Continue;
        }
        let inner = self.inner.clone();
        let user_ok = msg.get("Username").is_some_and(|u| u == inner.username);
        let md5 = msg
            .get("AuthType")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("md5"));
        let secret_ok = if md5 {
            match (&self.challenge, msg.get("Key")) {
                (Some(challenge), Some(key)) => key
                    .trim()
                    .eq_ignore_ascii_case(&ringside_ami::action::md5_key(challenge, &inner.secret)),
                _ => false,
            }
        } else {
            msg.get("Secret").is_some_and(|s| s == inner.secret)
        };
        if !(user_ok && secret_ok) {
            // manager.c sleeps a second before answering; the simulator does
            // not, so tests of bad logins stay fast.
            self.send_msg(wire::error(aid, "Authentication failed"));
            return Flow::Close;
        }
        self.authenticated = true;
        self.info.account = inner.username.clone();
        let mask = msg.get("Events").map_or(EventMask::All, EventMask::parse);
        let mut st = inner.synced();
        self.send_msg(wire::ack(aid, "Authentication accepted"));
        if let Some((transcript, cfg)) = inner.replay.clone() {
            let tx = self.tx.clone();
            let cancel = self.cancel.clone();
            tokio::spawn(crate::replay::stream(
                transcript, cfg.speed, cfg.looped, tx, cancel,
            ));
            return Flow::Continue;
        }
        let system = matches!(&mask, EventMask::All)
            || matches!(&mask, EventMask::Classes(c) if c.iter().any(|c| c == "system"));
        if system {
            let uptime = inner.elapsed().as_secs().to_string();
            self.send_msg(
                Msg::new()
                    .h("Event", "FullyBooted")
                    .h("Privilege", "system,all")
                    .h("Uptime", uptime.clone())
                    .h("LastReload", uptime)
                    .h("Status", "Fully Booted"),
            );
        }
        st.hub
            .subscribe(self.id, self.tx.clone(), self.cancel.clone(), mask);
        if let Some(p) = st.pbx.as_mut() {
            p.engine.ami_security_event(
                "SuccessfulAuth",
                &self.info,
                &[("UsingPassword", "0".into())],
            );
        }
        st.flush(inner.is_frozen());
        Flow::Continue
    }

    fn filter(&mut self, msg: &Message, aid: Option<&str>) {
        let operation = msg.get("Operation").map(str::trim).unwrap_or_default();
        if !operation.eq_ignore_ascii_case("Add") {
            self.send_msg(wire::error(aid, "Unknown operation"));
            return;
        }
        let Some(filter) = msg.get("Filter").filter(|f| !f.trim().is_empty()) else {
            self.send_msg(wire::error(
                aid,
                "Filter was formatted incorrectly.  Check the syntax of the filter given.",
            ));
            return;
        };
        let added = self.inner.lock().hub.add_filter(self.id, filter);
        match added {
            Ok(()) => self.send_msg(wire::ack(aid, "Success")),
            Err(_) => self.send_msg(wire::error(
                aid,
                "Filter did not compile.  Check the syntax of the filter given.",
            )),
        }
    }

    /// Everything else: answered by the model (or, in replay mode, only
    /// `Ping`; the transcript stands in for the PBX).
    fn action(&mut self, action: &str, msg: &Message, aid: Option<&str>) {
        let inner = self.inner.clone();
        let mut st = inner.synced();
        let Some(pbx) = st.pbx.as_mut() else {
            if action.eq_ignore_ascii_case("Ping") {
                self.send_msg(
                    wire::response("Success", aid)
                        .h("Ping", "Pong")
                        .h("Timestamp", crate::clock::timestamp(wall_now_micros())),
                );
            } else {
                self.send_msg(wire::unknown_action(aid, action));
            }
            return;
        };
        let req = Req {
            session: self.id,
            name: action,
            msg,
            aid,
            info: &self.info,
        };
        for bytes in actions::dispatch(pbx, &req) {
            self.send(bytes);
        }
        st.flush(inner.is_frozen());
        drop(st);
        inner.wake.notify_one();
    }
}
