//! `ringside events tail`: normalized events from the bus as JSON Lines (proto3
//! JSON of the envelope), optionally filtered by tenant, PBX and kind, from
//! now or from a while back.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use ringside_bus::{PbxId, ReadSpec, StartPosition, StreamRole, TenantId, Token};

use crate::commands::common::{
    SettingsArgs, keep_writing, next_or_interrupt, start_at, tool_runtime,
};

/// Print normalized events from the bus as JSON Lines.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this tenant's events.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this PBX's events.
    #[arg(long)]
    pub pbx: Option<String>,
    /// Only this kind (`ChannelCreated`, `ChannelHungUp`, `SyncCompleted`…).
    #[arg(long)]
    pub kind: Option<String>,
    /// Start this far back (`10m`, `2h`) instead of now.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Stop once caught up instead of following new events.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs until Ctrl-C (or caught up with `--no-follow`).
///
/// # Errors
/// Invalid filters or settings, NATS unreachable, stdout closed unexpectedly.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    let tenant = args
        .tenant
        .as_deref()
        .map(TenantId::new)
        .transpose()
        .context("--tenant")?;
    let pbx = args
        .pbx
        .as_deref()
        .map(PbxId::new)
        .transpose()
        .context("--pbx")?;
    let kind = args
        .kind
        .as_deref()
        .map(Token::new)
        .transpose()
        .context("--kind")?;
    let runtime = tool_runtime()?;
    runtime.block_on(async move {
        let (bus, topology) = crate::bus::connect(&settings.bus, "events-tail").await?;
        let filter = topology.subjects().events_filter(tenant.as_ref(), pbx.as_ref(), kind.as_ref());
        let mut spec = ReadSpec::new(topology.stream_name(StreamRole::Events))
            .start(start_at(args.since, StartPosition::New))
            .filter(filter);
        if args.no_follow {
            spec = spec.until_caught_up();
        }
        let mut events = bus.read_stream(spec).await.context("reading the events stream")?;
        let mut out = io::BufWriter::new(io::stdout().lock());
        while let Some(delivered) = next_or_interrupt(&mut events).await {
            let delivered = delivered.context("reading the events stream")?;
            let line = match ringside_proto::json::to_json("ringside.events.v1.Envelope", &delivered.payload) {
                Ok(json) => json,
                Err(e) => {
                    tracing::warn!(subject = %delivered.subject, error = %e, "skipping an undecodable event");
                    continue;
                }
            };
            let written = serde_json::to_writer(&mut out, &line)
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if !keep_writing(written)? {
                break;
            }
        }
        Ok(())
    })
}
