//! Client settings: where the PBX is, how to log in, and the timing rules of
//! keepalive and reconnect.

use std::path::PathBuf;
use std::time::Duration;

/// A secret that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// `Login` with `Secret:` in clear (fine over TLS or loopback).
    #[default]
    Plain,
    /// `Challenge` then `Login` with `Key: md5(challenge + secret)`: the secret
    /// never crosses the wire.
    Md5,
}

/// TLS toward the PBX (Asterisk's `tlsenable`, port 5039 by convention).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM), for PBXs with a private CA or a
    /// self-signed certificate. The public web roots are always trusted.
    pub ca_file: Option<PathBuf>,
    /// Name to verify the certificate against, when it differs from `host`.
    pub server_name: Option<String>,
}

/// Exponential backoff with jitter between reconnect attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Fraction of the delay randomised (0.2 → ±20 %), so a fleet of clients
    /// that lost the same PBX does not reconnect in lockstep.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay before attempt number `attempt` (1-based), jitter applied.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(63) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let spread = base * self.jitter.clamp(0.0, 1.0);
        let jittered = base - spread + rand::random::<f64>() * 2.0 * spread;
        Duration::from_secs_f64(jittered.clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Everything a [`crate::client::Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret: Secret,
    pub auth: AuthMethod,
    /// `None` for plain TCP.
    pub tls: Option<TlsOptions>,
    /// TCP connect + TLS handshake + banner.
    pub connect_timeout: Duration,
    /// How long `send` waits for a response (and its whole event list).
    pub action_timeout: Duration,
    /// How often a `Ping` is sent on an otherwise healthy connection.
    pub ping_interval: Duration,
    /// A `Ping` unanswered this long means the connection is dead (this is what
    /// catches a half-open TCP connection, where reads never fail).
    pub ping_timeout: Duration,
    pub backoff: Backoff,
    /// A connection that stayed up this long resets the backoff.
    pub stable_after: Duration,
    /// Per-message size cap of the decoder.
    pub max_message: usize,
    /// Events sent with `Login` (`on`, `off`, or a class list like
    /// `call,system`); `None` leaves Asterisk's default.
    pub events: Option<String>,
    /// Capacity of the message channel to the consumer; when it is full the
    /// reader waits (TCP back-pressure) rather than dropping.
    pub channel_capacity: usize,
    /// Also forward the messages that answer our own actions (responses and
    /// list entries) to the event stream, in wire order. A consumer that must
    /// order list entries against live events (the ingestor's resync) or log
    /// every frame turns this on; `send` still gets its response.
    pub mirror_responses: bool,
}

impl ClientConfig {
    /// Defaults for `host:port` with the given credentials: plain TCP, plain
    /// login, Ping every 20 s, dead after 25 s, backoff 0.5 s → 30 s.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        secret: Secret,
    ) -> Self {
        ClientConfig {
            host: host.into(),
            port,
            username: username.into(),
            secret,
            auth: AuthMethod::Plain,
            tls: None,
            connect_timeout: Duration::from_secs(10),
            action_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(25),
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(10),
            max_message: crate::codec::DEFAULT_MAX_MESSAGE,
            events: None,
            channel_capacity: 16 * 1024,
            mirror_responses: false,
        }
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitters_within_bounds() {
        let b = Backoff::default();
        for attempt in 1..40 {
            let d = b.delay(attempt).as_secs_f64();
            let base = (0.5 * 2f64.powi(attempt as i32 - 1)).min(30.0);
            assert!(
                d >= base * 0.8 - 1e-9 && d <= (base * 1.2).min(30.0) + 1e-9,
                "attempt {attempt}: {d}"
            );
        }
        assert!(b.delay(100) <= Duration::from_secs(30));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("labsecret");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        let c = ClientConfig::new("h", 1, "u", s);
        assert!(!format!("{c:?}").contains("labsecret"));
    }
}
