//! One AMI connection: connect, banner, login, then a loop that routes
//! responses and event lists to their requesters, forwards everything else,
//! and pings to prove the peer is alive.
//!
//! The loop never blocks on one request: responses are matched by ActionID,
//! and an event list (`EventList: start` … `EventList: Complete`) is collected
//! into its response while unrelated events keep flowing to the consumer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout};
use tokio_util::codec::Framed;

use super::config::{AuthMethod, ClientConfig};
use super::tls;
use super::{ClientEvent, DisconnectReason, Response, SendError};
use crate::action::Action;
use crate::codec::AmiCodec;
use crate::message::{Message, MessageKind};

/// Any byte stream we can speak AMI over (TCP or TLS).
pub(crate) trait AmiStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AmiStream for T {}

type Transport = Framed<Box<dyn AmiStream>, AmiCodec>;

/// Why a connection could not be established. Each variant is something an
/// operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {addr}: {source}")]
    Tcp {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to {addr} timed out after {after:?}")]
    Timeout { addr: String, after: Duration },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    #[error("{addr} closed the connection before sending the AMI banner")]
    NoBanner { addr: String },
    #[error("{addr} did not answer like an AMI server (first message: {first:?})")]
    NotAmi { addr: String, first: String },
    #[error("login to {addr} as {username:?} refused: {message}")]
    LoginRefused {
        addr: String,
        username: String,
        message: String,
    },
    #[error("connection to {addr} lost during login: {reason}")]
    LoginInterrupted { addr: String, reason: String },
}

impl ConnectError {
    /// Wrong credentials (or an account without permission) rather than a
    /// network problem: worth a distinct log line and metric.
    pub fn is_auth(&self) -> bool {
        matches!(self, ConnectError::LoginRefused { .. })
    }
}

/// Requests from [`super::Client`] to the live connection.
pub(crate) enum Command {
    Send {
        action: Action,
        reply: oneshot::Sender<Result<Response, SendError>>,
    },
    Close,
    /// End this connection and start a new one (the caller's state needs a
    /// fresh resync, e.g. after it lost events).
    Reconnect(String),
}

/// A logged-in connection.
pub(crate) struct Session {
    transport: Transport,
    pub banner: String,
}

/// Connects, reads the banner and logs in, within `config.connect_timeout`
/// for the connection and `config.action_timeout` for each login step.
pub(crate) async fn connect(config: &ClientConfig) -> Result<Session, ConnectError> {
    let addr = config.address();
    let stream = timeout(config.connect_timeout, open_stream(config))
        .await
        .map_err(|_| ConnectError::Timeout {
            addr: addr.clone(),
            after: config.connect_timeout,
        })??;
    let mut transport = Framed::new(stream, AmiCodec::new().with_max_message(config.max_message));

    let banner = match timeout(config.connect_timeout, transport.next()).await {
        Err(_) => {
            return Err(ConnectError::Timeout {
                addr,
                after: config.connect_timeout,
            });
        }
        Ok(None) | Ok(Some(Err(_))) => return Err(ConnectError::NoBanner { addr }),
        Ok(Some(Ok(Ok(m)))) if m.kind() == MessageKind::Banner => m.name().to_owned(),
        Ok(Some(Ok(Ok(m)))) => {
            return Err(ConnectError::NotAmi {
                addr,
                first: m.as_text().chars().take(80).collect(),
            });
        }
        Ok(Some(Ok(Err(e)))) => {
            return Err(ConnectError::NotAmi {
                addr,
                first: e.to_string(),
            });
        }
    };

    login(&mut transport, config).await?;
    Ok(Session { transport, banner })
}

async fn open_stream(config: &ClientConfig) -> Result<Box<dyn AmiStream>, ConnectError> {
    let addr = config.address();
    let tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|source| ConnectError::Tcp {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    match &config.tls {
        None => Ok(Box::new(tcp)),
        Some(opts) => {
            let stream = tls::connect(tcp, &config.host, opts)
                .await
                .map_err(|reason| ConnectError::Tls { addr, reason })?;
            Ok(Box::new(stream))
        }
    }
}

async fn login(transport: &mut Transport, config: &ClientConfig) -> Result<(), ConnectError> {
    let addr = config.address();
    let mut action = match config.auth {
        AuthMethod::Plain => Action::login_plain(&config.username, config.secret.expose()),
        AuthMethod::Md5 => {
            let challenge = Action::challenge();
            let answer = request(transport, &challenge, config).await?;
            let Some(challenge_text) = answer.get("Challenge").filter(|_| answer.is_success())
            else {
                return Err(ConnectError::LoginRefused {
                    addr,
                    username: config.username.clone(),
                    message: answer
                        .get("Message")
                        .unwrap_or("MD5 challenge refused")
                        .to_owned(),
                });
            };
            Action::login_md5(&config.username, config.secret.expose(), challenge_text)
        }
    }
    .map_err(|e| ConnectError::LoginRefused {
        addr: addr.clone(),
        username: config.username.clone(),
        message: e.to_string(),
    })?;
    if let Some(events) = &config.events {
        action
            .push("Events", events)
            .map_err(|e| ConnectError::LoginRefused {
                addr: addr.clone(),
                username: config.username.clone(),
                message: e.to_string(),
            })?;
    }
    let answer = request(transport, &action, config).await?;
    if answer.is_success() {
        Ok(())
    } else {
        Err(ConnectError::LoginRefused {
            addr,
            username: config.username.clone(),
            message: answer
                .get("Message")
                .unwrap_or("no reason given")
                .to_owned(),
        })
    }
}

/// Sends one action during login and waits for its response, ignoring events
/// (none should come before login completes, but a server may send some).
async fn request(
    transport: &mut Transport,
    action: &Action,
    config: &ClientConfig,
) -> Result<Message, ConnectError> {
    let addr = config.address();
    let lost = |reason: String| ConnectError::LoginInterrupted {
        addr: addr.clone(),
        reason,
    };
    transport
        .send(action)
        .await
        .map_err(|e| lost(e.to_string()))?;
    let deadline = Instant::now() + config.action_timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, transport.next())
            .await
            .map_err(|_| {
                lost(format!(
                    "no answer to {} in {:?}",
                    action.name(),
                    config.action_timeout
                ))
            })?;
        match next {
            None => return Err(lost("connection closed".into())),
            Some(Err(e)) => return Err(lost(e.to_string())),
            Some(Ok(Err(e))) => return Err(lost(e.to_string())),
            Some(Ok(Ok(m))) => {
                if matches!(m.kind(), MessageKind::Response | MessageKind::CommandOutput)
                    && m.action_id().is_none_or(|id| id == action.action_id())
                {
                    return Ok(m);
                }
            }
        }
    }
}

/// A request waiting for its response and, for list actions, its events.
struct Pending {
    reply: oneshot::Sender<Result<Response, SendError>>,
    response: Option<Message>,
    events: Vec<Message>,
}

/// The keepalive: one `Ping` in flight at most.
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// ActionID and send time of the unanswered ping.
    outstanding: Option<(String, Instant)>,
}

impl Keepalive {
    fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive {
            interval,
            timeout,
            next_ping: Instant::now() + interval,
            outstanding: None,
        }
    }

    fn next_deadline(&self) -> Instant {
        match &self.outstanding {
            Some((_, sent)) => *sent + self.timeout,
            None => self.next_ping,
        }
    }

    /// True when `message` answers the outstanding ping.
    fn answered_by(&mut self, message: &Message) -> bool {
        let answered =
            matches!(&self.outstanding, Some((id, _)) if message.action_id() == Some(id));
        if answered {
            self.outstanding = None;
            self.next_ping = Instant::now() + self.interval;
        }
        answered
    }
}

impl Session {
    /// Runs the connection until it fails or the client closes it.
    pub(crate) async fn run(
        mut self,
        config: &ClientConfig,
        commands: &mut mpsc::Receiver<Command>,
        events: &mpsc::Sender<ClientEvent>,
        stats: &Arc<super::Stats>,
    ) -> DisconnectReason {
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut keepalive = Keepalive::new(config.ping_interval, config.ping_timeout);
        let reason = loop {
            let wake = keepalive.next_deadline();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None | Some(Command::Close) => {
                        // Polite goodbye; the answer doesn't matter.
                        if let Ok(logoff) = Action::new("Logoff") {
                            let _ = timeout(Duration::from_secs(1), self.transport.send(&logoff)).await;
                        }
                        break DisconnectReason::Closed;
                    }
                    Some(Command::Reconnect(why)) => break DisconnectReason::Requested(why),
                    Some(Command::Send { action, reply }) => {
                        if let Err(e) = self.transport.send(&action).await {
                            let _ = reply.send(Err(SendError::ConnectionLost));
                            break DisconnectReason::Io(e.to_string());
                        }
                        pending.insert(action.action_id().to_owned(), Pending { reply, response: None, events: Vec::new() });
                    }
                },
                item = self.transport.next() => match item {
                    None => break DisconnectReason::Eof,
                    Some(Err(e)) => break DisconnectReason::Io(e.to_string()),
                    Some(Ok(Err(e))) => {
                        stats.decode_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(error = %e, "skipped an undecodable AMI message");
                        if events.send(ClientEvent::DecodeError(e)).await.is_err() {
                            break DisconnectReason::Closed;
                        }
                    }
                    Some(Ok(Ok(message))) => {
                        if keepalive.answered_by(&message) {
                            continue;
                        }
                        // Mirrored copies go out before the request completes, so
                        // a requester that reads the stream after `send`
                        // returns finds them queued, in wire order.
                        let mirrored = config.mirror_responses
                            && message.action_id().is_some_and(|id| pending.contains_key(id));
                        if mirrored && events.send(ClientEvent::Message(message.clone())).await.is_err() {
                            break DisconnectReason::Closed;
                        }
                        if let Some(unrouted) = route(&mut pending, message)
                            && !mirrored
                            && events.send(ClientEvent::Message(unrouted)).await.is_err()
                        {
                            break DisconnectReason::Closed;
                        }
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    if let Some((_, sent)) = &keepalive.outstanding {
                        if sent.elapsed() >= keepalive.timeout {
                            break DisconnectReason::PingTimeout(keepalive.timeout);
                        }
                    } else {
                        let ping = Action::new("Ping").expect("constant action");
                        keepalive.outstanding = Some((ping.action_id().to_owned(), Instant::now()));
                        if let Err(e) = self.transport.send(&ping).await {
                            break DisconnectReason::Io(e.to_string());
                        }
                    }
                    // Requesters that gave up (timed out) leave closed channels.
                    pending.retain(|_, p| !p.reply.is_closed());
                }
            }
        };
        for (_, p) in pending.drain() {
            let _ = p.reply.send(Err(SendError::ConnectionLost));
        }
        reason
    }
}

/// Delivers `message` to the request it belongs to, or hands it back.
fn route(pending: &mut HashMap<String, Pending>, message: Message) -> Option<Message> {
    let Some(id) = message.action_id().map(str::to_owned) else {
        return Some(message);
    };
    let Some(p) = pending.get_mut(&id) else {
        return Some(message);
    };
    let done = match message.kind() {
        MessageKind::Response | MessageKind::CommandOutput if p.response.is_none() => {
            let is_list = message
                .get("EventList")
                .is_some_and(|v| v.eq_ignore_ascii_case("start"))
                || message
                    .get("Message")
                    .is_some_and(|m| m.to_ascii_lowercase().contains("will follow"));
            p.response = Some(message);
            !is_list
        }
        MessageKind::ListItem => {
            p.events.push(message);
            false
        }
        MessageKind::ListComplete => {
            p.events.push(message);
            p.response.is_some()
        }
        // Events with our ActionID that are live events (OriginateResponse of
        // an async Originate) belong to the stream, not to the response.
        _ => return Some(message),
    };
    if done
        && let Some(p) = pending.remove(&id)
        && let Some(response) = p.response
    {
        let _ = p.reply.send(Ok(Response {
            message: response,
            events: p.events,
        }));
    }
    None
}
