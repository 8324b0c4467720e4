//! `ringside pbx-sim`: a simulated Asterisk that speaks AMI, for demos, tests
//! and load: a seeded PBX model with calls, or the replay of a recorded
//! transcript. `--count N` serves N independent PBXs on consecutive ports.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use ringside_pbx_sim::{ReplayConfig, ServerTls, SimConfig, Speed};

/// Run a simulated PBX that speaks AMI.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:5038")]
    pub listen: SocketAddr,
    /// The AMI user.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// Its secret (also from `RINGSIDE_PBX_SIM_SECRET`).
    #[arg(long, env = "RINGSIDE_PBX_SIM_SECRET", hide_env_values = true)]
    pub secret: String,
    /// PJSIP extensions (1001, 1002…).
    #[arg(long, default_value_t = 50)]
    pub endpoints: usize,
    /// Trunks: PJSIP with outbound registration plus an IAX2 peer each.
    #[arg(long, default_value_t = 3)]
    pub trunks: usize,
    /// Mean rate of generated calls (0: none).
    #[arg(long, default_value_t = 2.0)]
    pub calls_per_second: f64,
    /// Seed of the model (same seed, same calls).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// `systemname` of the simulated Asterisk (adds `SystemName:` to events).
    #[arg(long)]
    pub system_name: Option<String>,
    /// Serve this many independent PBXs on consecutive ports from `--listen`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Serve AMI over TLS with this PEM certificate chain…
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// …and this PEM private key.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Replay a recorded `.ami` transcript to every client instead of the model.
    #[arg(long, value_name = "FILE.ami")]
    pub replay: Option<PathBuf>,
    /// Replay speed: `recorded` (or `1`), a factor like `2`, or `max`.
    #[arg(long, default_value = "recorded", requires = "replay")]
    pub speed: Speed,
    /// Start the replay again when it ends.
    #[arg(long = "loop", requires = "replay")]
    pub looped: bool,
}

/// Runs until Ctrl-C / SIGTERM.
///
/// # Errors
/// The address cannot be bound, TLS files or the transcript cannot be read.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = SimConfig {
        listen: args.listen,
        username: args.user,
        secret: args.secret,
        endpoints: args.endpoints,
        trunks: args.trunks,
        calls_per_second: args.calls_per_second,
        seed: args.seed,
        system_name: args.system_name,
        start_time: None,
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert_chain, private_key)| ServerTls {
                cert_chain,
                private_key,
            }),
        replay: args.replay.map(|path| ReplayConfig {
            path,
            speed: args.speed,
            looped: args.looped,
        }),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown::on_signal();
        let sims = ringside_pbx_sim::start_many(config, usize::from(args.count))
            .await
            .context("starting the simulator")?;
        for sim in &sims {
            tracing::info!(ami = %sim.local_addr(), "simulated PBX listening");
        }
        shutdown.cancelled().await;
        for sim in sims {
            sim.shutdown().await;
        }
        Ok(())
    })
}
