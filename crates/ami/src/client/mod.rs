//! The async AMI client: a handle to a supervised connection that reconnects.
//!
//! [`Client::connect`] spawns a task that connects, logs in and keeps the
//! connection alive; it returns at once with a [`Client`] (to send actions)
//! and a [`ClientEvents`] receiver that yields, in order, lifecycle changes and
//! every message not consumed by a response:
//!
//! ```text
//! Connected{epoch: 1} Message… Disconnected{reason, retry_in} Connected{epoch: 2} Message…
//! ```
//!
//! Each successful login starts a new *epoch*; consumers that keep state per
//! connection (the ingestor's resync) key it by epoch. A refused login is
//! reported like any other failure and retried with backoff — never a hot loop.

mod config;
mod connection;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

pub use config::{AuthMethod, Backoff, ClientConfig, Secret, TlsOptions};
use connection::Command;
pub use connection::ConnectError;

use crate::action::Action;
use crate::codec::DecodeError;
use crate::message::Message;

/// The answer to an action: the response message and, for list actions, the
/// list's entries with the closing `…Complete` event last.
#[derive(Debug, Clone)]
pub struct Response {
    pub message: Message,
    pub events: Vec<Message>,
}

impl Response {
    /// `Response: Success` (or `Goodbye`/`Follows`) rather than `Error`.
    ///
    /// An error is not always a failure: Asterisk answers an empty
    /// `PJSIPShowContacts` with `Response: Error` / `No Contacts found`.
    pub fn is_success(&self) -> bool {
        self.message.is_success()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.message.get(key)
    }

    /// The list entries without the closing event.
    pub fn items(&self) -> &[Message] {
        match self.events.last() {
            Some(last) if last.kind() == crate::MessageKind::ListComplete => {
                &self.events[..self.events.len() - 1]
            }
            _ => &self.events,
        }
    }
}

/// Why `send` got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("not connected to the PBX")]
    NotConnected,
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    #[error("connection lost before the response arrived")]
    ConnectionLost,
    #[error("client is closed")]
    Closed,
}

/// Why a connection ended (or never started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Could not connect or log in.
    Connect(String),
    /// Login refused: wrong credentials or missing permission.
    Auth(String),
    /// The PBX closed the connection.
    Eof,
    /// A read or write failed.
    Io(String),
    /// A `Ping` went unanswered for this long (dead peer or half-open TCP).
    PingTimeout(Duration),
    /// [`Client::close`] was called, or every handle was dropped.
    Closed,
    /// [`Client::reconnect`] was called, with this reason.
    Requested(String),
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Connect(e) => write!(f, "connect failed: {e}"),
            DisconnectReason::Auth(e) => write!(f, "login refused: {e}"),
            DisconnectReason::Eof => f.write_str("closed by the PBX"),
            DisconnectReason::Io(e) => write!(f, "I/O error: {e}"),
            DisconnectReason::PingTimeout(d) => write!(f, "no answer to Ping in {d:?}"),
            DisconnectReason::Closed => f.write_str("closed by the client"),
            DisconnectReason::Requested(why) => write!(f, "reconnect requested: {why}"),
        }
    }
}

/// What the client tells its consumer, in stream order.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// Logged in; `epoch` increases with every successful login.
    Connected { epoch: u64, banner: String },
    /// A message that is not part of a response: events, and responses
    /// nobody waits for any more.
    Message(Message),
    /// A message that could not be decoded; the stream continues.
    DecodeError(DecodeError),
    /// The connection ended (`epoch` is `None` when it never logged in); the
    /// next attempt is in `retry_in`, unless the reason is `Closed`.
    Disconnected {
        epoch: Option<u64>,
        reason: DisconnectReason,
        retry_in: Option<Duration>,
    },
}

/// Connection state, for health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Connecting { attempt: u32 },
    Connected { epoch: u64 },
    Closed,
}

/// Counters of one client, for metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    pub auth_failures: AtomicU64,
    pub decode_errors: AtomicU64,
}

/// The consumer side: lifecycle events and unsolicited messages.
pub type ClientEvents = mpsc::Receiver<ClientEvent>;

/// A cheap, cloneable handle to a supervised AMI connection.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<ConnectionState>,
    action_timeout: Duration,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Client {
    /// Starts connecting in the background and returns at once.
    pub fn connect(config: ClientConfig) -> (Client, ClientEvents) {
        let (command_tx, command_rx) = mpsc::channel(1024);
        let (event_tx, event_rx) = mpsc::channel(config.channel_capacity.max(16));
        let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting { attempt: 1 });
        let stats = Arc::new(Stats::default());
        let client = Client {
            commands: command_tx,
            state: state_rx,
            action_timeout: config.action_timeout,
            stats: stats.clone(),
        };
        tokio::spawn(supervise(config, command_rx, event_tx, state_tx, stats));
        (client, event_rx)
    }

    /// Sends an action and waits for its response (and its whole event list).
    ///
    /// # Errors
    /// [`SendError::NotConnected`] at once while the connection is down;
    /// `Timeout` after the configured action timeout; `ConnectionLost` if the
    /// connection drops while waiting.
    pub async fn send(&self, action: Action) -> Result<Response, SendError> {
        self.send_with_timeout(action, self.action_timeout).await
    }

    /// [`Client::send`] with a specific timeout (a long `Command` or a
    /// synchronous `Originate`).
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn send_with_timeout(
        &self,
        action: Action,
        wait: Duration,
    ) -> Result<Response, SendError> {
        match *self.state.borrow() {
            ConnectionState::Connected { .. } => {}
            ConnectionState::Closed => return Err(SendError::Closed),
            ConnectionState::Connecting { .. } => return Err(SendError::NotConnected),
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Send { action, reply })
            .await
            .map_err(|_| SendError::Closed)?;
        match tokio::time::timeout(wait, answer).await {
            Err(_) => Err(SendError::Timeout(wait)),
            Ok(Err(_)) => Err(SendError::ConnectionLost),
            Ok(Ok(result)) => result,
        }
    }

    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Drops the current connection and connects again (after the usual
    /// backoff), e.g. when the consumer lost events and needs a resync. Does
    /// nothing while not connected.
    pub async fn reconnect(&self, reason: impl Into<String>) {
        if matches!(self.state(), ConnectionState::Connected { .. }) {
            let _ = self.commands.send(Command::Reconnect(reason.into())).await;
        }
    }

    /// Logs off and stops reconnecting. The event stream ends after a final
    /// `Disconnected { reason: Closed }`.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

async fn supervise(
    config: ClientConfig,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    stats: Arc<Stats>,
) {
    let addr = config.address();
    let mut epoch = 0u64;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        state.send_replace(ConnectionState::Connecting { attempt });
        // A close (or dropped handles) must not wait for a slow connect.
        let Some(attempt_result) =
            while_disconnected(&mut commands, connection::connect(&config)).await
        else {
            return closed(&state, &events, None).await;
        };
        let (ended_epoch, reason) = match attempt_result {
            Ok(session) => {
                epoch += 1;
                stats.connects.fetch_add(1, Ordering::Relaxed);
                // Consumers report lifecycle changes in their own terms;
                // the library only traces them.
                tracing::debug!(pbx = %addr, epoch, banner = %session.banner, "AMI connected");
                state.send_replace(ConnectionState::Connected { epoch });
                let banner = session.banner.clone();
                if events
                    .send(ClientEvent::Connected { epoch, banner })
                    .await
                    .is_err()
                {
                    break;
                }
                let started = Instant::now();
                let reason = session.run(&config, &mut commands, &events, &stats).await;
                if started.elapsed() >= config.stable_after {
                    attempt = 0;
                }
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                (Some(epoch), reason)
            }
            Err(e) => {
                if e.is_auth() {
                    stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                    (None, DisconnectReason::Auth(e.to_string()))
                } else {
                    (None, DisconnectReason::Connect(e.to_string()))
                }
            }
        };
        if reason == DisconnectReason::Closed {
            return closed(&state, &events, ended_epoch).await;
        }
        let delay = config.backoff.delay(attempt.max(1));
        tracing::debug!(pbx = %addr, epoch = ended_epoch, reason = %reason, retry_in_ms = delay.as_millis() as u64, "AMI disconnected");
        state.send_replace(ConnectionState::Connecting {
            attempt: attempt + 1,
        });
        if events
            .send(ClientEvent::Disconnected {
                epoch: ended_epoch,
                reason,
                retry_in: Some(delay),
            })
            .await
            .is_err()
        {
            break;
        }
        if while_disconnected(&mut commands, tokio::time::sleep(delay))
            .await
            .is_none()
        {
            return closed(&state, &events, None).await;
        }
    }
    state.send_replace(ConnectionState::Closed);
}

/// Runs `work` (a connect attempt, a backoff) while there is no connection:
/// requests are answered `NotConnected` at once, and a close — or every
/// handle dropped — wins. `None` when the client was closed.
async fn while_disconnected<T>(
    commands: &mut mpsc::Receiver<Command>,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return Some(result),
            command = commands.recv() => match command {
                Some(Command::Send { reply, .. }) => { let _ = reply.send(Err(SendError::NotConnected)); }
                Some(Command::Reconnect(_)) => {}
                None | Some(Command::Close) => return None,
            },
        }
    }
}

/// The client's end: state `Closed` and a last `Disconnected { Closed }`.
async fn closed(
    state: &watch::Sender<ConnectionState>,
    events: &mpsc::Sender<ClientEvent>,
    epoch: Option<u64>,
) {
    state.send_replace(ConnectionState::Closed);
    let _ = events
        .send(ClientEvent::Disconnected {
            epoch,
            reason: DisconnectReason::Closed,
            retry_in: None,
        })
        .await;
}
