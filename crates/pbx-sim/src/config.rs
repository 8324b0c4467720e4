//! What a simulator is started with.
//!
//! One flat struct so that a clap `Args` struct maps onto it field by field
//! (`--listen`, `--username`, `--secret`, `--endpoints`, `--trunks`,
//! `--calls-per-second`, `--seed`, `--system-name`, `--start-time`,
//! `--tls-cert`/`--tls-key`, `--replay`/`--replay-speed`/`--replay-loop`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Configuration of one simulated PBX.
#[derive(Clone)]
pub struct SimConfig {
    /// Address to listen on. Port 0 picks a free port; the real one is
    /// [`Simulator::local_addr`](crate::Simulator::local_addr).
    pub listen: SocketAddr,
    /// The one AMI user (read=all, write=all).
    pub username: String,
    /// Its secret, for plain and MD5 logins. Never printed by `Debug`.
    pub secret: String,
    /// Number of PJSIP extensions, named `1001`, `1002`, … (default 50).
    pub endpoints: usize,
    /// Number of trunks (default 3). Trunk `n` is a PJSIP endpoint `trunk-n`
    /// with an outbound registration `trunk-n-reg` plus an IAX2 peer `iax-n`.
    pub trunks: usize,
    /// Mean rate of generated calls (Poisson arrivals, default 2.0);
    /// 0 generates no calls (the PBX then only changes through actions and
    /// registration churn).
    pub calls_per_second: f64,
    /// Seed of the model: the same seed (and start time) gives the same events.
    pub seed: u64,
    /// `systemname` of the simulated Asterisk: adds `SystemName:` to events and
    /// prefixes uniqueids (`lab-pbx-1795394246.0`), as in the corpus.
    pub system_name: Option<String>,
    /// Unix time (seconds) the simulated clock starts at; `None` is "now".
    /// Pin it to get byte-identical event streams from run to run.
    pub start_time: Option<u64>,
    /// Serve AMI over TLS instead of plain TCP.
    pub tls: Option<ServerTls>,
    /// Replay a recorded transcript to every client instead of running the model.
    pub replay: Option<ReplayConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 5038)),
            username: "ringside".to_owned(),
            secret: "ringside".to_owned(),
            endpoints: 50,
            trunks: 3,
            calls_per_second: 2.0,
            seed: 1,
            system_name: None,
            start_time: None,
            tls: None,
            replay: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("endpoints", &self.endpoints)
            .field("trunks", &self.trunks)
            .field("calls_per_second", &self.calls_per_second)
            .field("seed", &self.seed)
            .field("system_name", &self.system_name)
            .field("start_time", &self.start_time)
            .field("tls", &self.tls)
            .field("replay", &self.replay)
            .finish()
    }
}

/// A PEM certificate chain and its private key, read when the simulator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM file with the server certificate first, then its chain.
    pub cert_chain: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

/// Replay of a recorded `.ami` transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// The transcript; `NAME.timing.jsonl` beside it gives the recorded timing.
    pub path: PathBuf,
    pub speed: Speed,
    /// Start again from the beginning when the transcript ends.
    pub looped: bool,
}

/// How fast a transcript is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// At the recorded pace (as fast as possible without a timing file).
    Recorded,
    /// As fast as the client reads.
    Max,
    /// The recorded pace times this factor (2.0 is twice as fast).
    Factor(f64),
}

/// A [`Speed`] that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid replay speed {0:?}: expected `recorded`, `max` or a positive factor like `2` or `2x`"
)]
pub struct ParseSpeedError(String);

impl FromStr for Speed {
    type Err = ParseSpeedError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("recorded") {
            return Ok(Speed::Recorded);
        }
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let number = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match number.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(ParseSpeedError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_from_their_cli_spelling() {
        assert_eq!("recorded".parse(), Ok(Speed::Recorded));
        assert_eq!("MAX".parse(), Ok(Speed::Max));
        assert_eq!("2x".parse(), Ok(Speed::Factor(2.0)));
        assert_eq!("0.5".parse(), Ok(Speed::Factor(0.5)));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let cfg = SimConfig {
            secret: "hunter2".into(),
            ..SimConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
