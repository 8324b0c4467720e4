//! `ringside-pbx-sim` is an AMI server that behaves like Asterisk 22 toward a
//! monitoring client: banner, plain and MD5 logins, the list actions with
//! their EventList framing, call control, `GetConfig`/`UpdateConfig`, and a
//! live event stream from a seeded, deterministic PBX model (extensions
//! registering, trunks flapping, internal/inbound/outbound calls, failures,
//! queues, conferences, hold and blind transfer) whose event sequences and
//! header sets are copied from byte-exact recordings of a real Asterisk
//! 22.10.1 (`shared/ami-corpus`). It can also replay such a recording.
//!
//! It speaks AMI through `ringside-ami` and knows nothing else of Ringside:
//! no bus, no protobuf, no ingestor. It is a test double and a demo source,
//! not a PBX: no SIP, no media, no dialplan language, one AMI user with all
//! permissions.
//!
//! Layout:
//! * [`config`]: [`SimConfig`] (one field per CLI flag);
//! * [`engine`]: the model, on virtual time, steppable without I/O;
//! * `server`/`session`/`hub`: TCP/TLS, login, per-connection queues with
//!   back-pressure, event fan-out with `Events` masks and `Filter`s;
//! * `actions`: what each action answers, computed from the model;
//! * `replay`: transcript replay at recorded, scaled or maximum speed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ringside_pbx_sim::SimError> {
//! use ringside_pbx_sim::{SimConfig, start};
//! let sim = start(SimConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     ..SimConfig::default()
//! })
//! .await?;
//! println!("AMI on {}", sim.local_addr());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod actions;
mod clock;
pub mod config;
pub mod engine;
mod error;
mod hub;
mod replay;
mod server;
mod session;
mod wire;

pub use config::{ParseSpeedError, ReplayConfig, ServerTls, SimConfig, Speed};
pub use engine::Engine;
pub use engine::snapshot::{
    BridgeView, ChannelView, ConferenceView, EndpointView, PbxState, QueueView, TrunkView,
};
pub use error::SimError;
pub use server::Simulator;

/// Binds `config.listen`, starts the model (or the replayer) and returns at
/// once; the simulator runs on the current tokio runtime until
/// [`Simulator::shutdown`].
///
/// # Errors
/// The address cannot be bound, TLS material or the replay transcript cannot
/// be read, or a setting is out of range.
pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
    server::start(config).await
}

/// Starts `count` independent PBXs: simulator `i` listens on
/// `config.listen`'s port + `i` (every one on port 0 when it is 0) and is
/// seeded with `config.seed + i`. On error, the ones already started are
/// shut down.
///
/// # Errors
/// As [`start`], for any of them; also when the ports would overflow.
pub async fn start_many(config: SimConfig, count: usize) -> Result<Vec<Simulator>, SimError> {
    let mut sims = Vec::with_capacity(count);
    for i in 0..count {
        let mut cfg = config.clone();
        cfg.seed = config.seed.wrapping_add(i as u64);
        let base = config.listen.port();
        if base != 0 {
            let port = u16::try_from(usize::from(base) + i).map_err(|_| {
                SimError::Config(format!(
                    "{count} simulators from port {base} exceed port 65535"
                ))
            });
            match port {
                Ok(p) => cfg.listen.set_port(p),
                Err(e) => {
                    shutdown_all(sims).await;
                    return Err(e);
                }
            }
        }
        match start(cfg).await {
            Ok(sim) => sims.push(sim),
            Err(e) => {
                shutdown_all(sims).await;
                return Err(e);
            }
        }
    }
    Ok(sims)
}

async fn shutdown_all(sims: Vec<Simulator>) {
    for s in sims {
        s.shutdown().await;
    }
}
