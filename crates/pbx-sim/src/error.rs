//! Why a simulator could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

/// An error from [`start`](crate::start) or [`start_many`](crate::start_many).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound (in use, no permission…).
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate or key file could not be read or used.
    #[error("loading TLS material from {path}")]
    Tls {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The replay transcript (or its timing file) could not be read.
    #[error("reading replay transcript {path}")]
    Replay {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
}
