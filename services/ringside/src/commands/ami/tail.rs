//! `ringside ami tail`: connect to a live PBX and print its AMI stream, as JSON
//! Lines (the same form as `ami decode`) or as raw AMI text, without the noise.
//!
//! It reconnects like every Ringside AMI connection (backoff with jitter, a
//! Ping keepalive that catches dead peers) and says so on stderr, so it can run
//! for days as an operator's AMI logger: `ringside ami tail … >> pbx1.jsonl`.
//!
//! `--include`/`--exclude` take `KEY=V1,V2` and match header values
//! case-insensitively; a message is printed when it matches any include (or
//! there is none) and no exclude. With `--filter-at-source`, excludes are also
//! installed on the PBX with the AMI `Filter` action after every login, so the
//! flood (VarSet and Newexten are ~60 % of real traffic) never leaves Asterisk.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use ringside_ami::Action;
use ringside_ami::client::{AuthMethod, Client, ClientConfig, ClientEvent, Secret, TlsOptions};

use super::filter::{HeaderFilter, parse_filter, selected};
use super::json::write_line;

/// Connect to a live PBX and print its AMI messages.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// AMI host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// AMI port (Asterisk's default is 5038, 5039 with TLS).
    #[arg(long, default_value_t = 5038)]
    pub port: u16,
    /// AMI username (a `manager.conf` section).
    #[arg(long)]
    pub user: String,
    /// AMI secret (also read from `RINGSIDE_AMI_SECRET`, which keeps it out of
    /// the process list).
    #[arg(long, env = "RINGSIDE_AMI_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Log in with an MD5 challenge instead of sending the secret.
    #[arg(long)]
    pub md5: bool,
    /// Connect with TLS.
    #[arg(long)]
    pub tls: bool,
    /// Extra CA certificates (PEM) to trust with `--tls`.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<PathBuf>,
    /// Only print messages matching `KEY=V1,V2` (repeatable: any may match).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_filter)]
    pub include: Vec<HeaderFilter>,
    /// Never print messages matching `KEY=V1,V2` (repeatable).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_filter)]
    pub exclude: Vec<HeaderFilter>,
    /// Also drop `--exclude Event=…` at the PBX with the AMI `Filter` action.
    #[arg(long)]
    pub filter_at_source: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Seconds between keepalive Pings.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub ping_interval: u64,
    /// Seconds without a Ping answer after which the connection is dead.
    #[arg(long, default_value_t = 25, value_name = "SECONDS")]
    pub ping_timeout: u64,
    /// Longest wait between reconnect attempts, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub max_backoff: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per message: kind, name, headers.
    Json,
    /// The messages as AMI text, blank-line separated.
    Ami,
}

/// Runs the command until Ctrl-C (or the output pipe closes).
///
/// # Errors
/// Writing stdout fails for a reason other than a closed pipe.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(tail(args))
}

async fn tail(args: Args) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(
        args.host.clone(),
        args.port,
        args.user.clone(),
        Secret::new(args.secret.clone()),
    );
    config.auth = if args.md5 {
        AuthMethod::Md5
    } else {
        AuthMethod::Plain
    };
    config.tls = args.tls.then(|| TlsOptions {
        ca_file: args.ca_file.clone(),
        server_name: None,
    });
    config.ping_interval = Duration::from_secs(args.ping_interval.max(1));
    config.ping_timeout = Duration::from_secs(args.ping_timeout.max(1));
    config.backoff.max = Duration::from_secs(args.max_backoff.max(1));
    let (client, mut events) = Client::connect(config);

    let mut out = io::BufWriter::new(io::stdout().lock());
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => {
                client.close().await;
                None
            }
        };
        let Some(event) = event else { break };
        match event {
            ClientEvent::Connected { epoch, banner } => {
                tracing::info!(host = %args.host, port = args.port, epoch, banner = %banner, "connected");
                if args.filter_at_source {
                    install_source_filters(&client, &args.exclude).await;
                }
            }
            ClientEvent::Disconnected {
                reason, retry_in, ..
            } => match retry_in {
                Some(wait) => {
                    tracing::warn!(reason = %reason, retry_in_ms = wait.as_millis() as u64, "disconnected")
                }
                None => break,
            },
            ClientEvent::DecodeError(e) => tracing::warn!(error = %e, "skipped a message"),
            ClientEvent::Message(message) => {
                if !selected(&message, &args.include, &args.exclude) {
                    continue;
                }
                let written = match args.format {
                    Format::Json => write_line(&mut out, &message),
                    // As received, byte for byte.
                    Format::Ami => out.write_all(&message.wire()),
                };
                // Flush per message when nothing else is queued: a tail is read
                // live, and a burst still gets one write.
                let flushed = written.and_then(|()| {
                    if events.is_empty() {
                        out.flush()
                    } else {
                        Ok(())
                    }
                });
                match flushed {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        client.close().await;
                        return Ok(());
                    }
                    Err(e) => return Err(e).context("writing to stdout"),
                }
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Installs `!Event: X` filters on the PBX for each excluded event name.
async fn install_source_filters(client: &Client, exclude: &[HeaderFilter]) {
    for filter in exclude
        .iter()
        .filter(|f| f.key.eq_ignore_ascii_case("Event"))
    {
        for name in &filter.values {
            let action = Action::new("Filter").and_then(|a| {
                a.header("Operation", "Add")?
                    .header("Filter", format!("!Event: {name}"))
            });
            let answer = match action {
                Ok(action) => client.send(action).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match answer {
                Ok(r) if r.is_success() => {
                    tracing::debug!(event = %name, "filter installed at the PBX")
                }
                Ok(r) => {
                    tracing::warn!(event = %name, message = r.get("Message").unwrap_or(""), "PBX refused the filter")
                }
                Err(e) => tracing::warn!(event = %name, error = %e, "could not install the filter"),
            }
        }
    }
}
