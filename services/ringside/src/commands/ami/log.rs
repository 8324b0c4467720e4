//! `ringside ami log`: the stored raw AMI stream of a PBX (the `ami.raw`
//! stream, 24 h by default) as JSON Lines or AMI text: the AMI log an operator
//! analyses after the fact.
//!
//! Each JSON line is the message's `ami decode` form plus where and when it
//! was read: `{"tenant","pbx","received_at", "kind","name","headers"}`.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use ringside_ami::codec::decode_all;
use ringside_bus::{PbxId, ReadSpec, StartPosition, StreamRole, TenantId};

use super::filter::{HeaderFilter, parse_filter, selected};
use super::tail::Format;
use crate::commands::common::{
    SettingsArgs, keep_writing, next_or_interrupt, start_at, tool_runtime,
};

/// Print the stored raw AMI stream of a PBX.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The PBX.
    #[arg(long)]
    pub pbx: String,
    /// Its tenant (any tenant when omitted).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Start this far back (`10m`, `2h`); the whole retained log otherwise.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Keep following new frames after the stored ones.
    #[arg(long)]
    pub follow: bool,
    /// Only print messages matching `KEY=V1,V2` (repeatable: any may match).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_filter)]
    pub include: Vec<HeaderFilter>,
    /// Never print messages matching `KEY=V1,V2` (repeatable).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_filter)]
    pub exclude: Vec<HeaderFilter>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(serde::Serialize)]
struct LogLine<'a> {
    tenant: &'a str,
    pbx: &'a str,
    received_at: Option<&'a str>,
    #[serde(flatten)]
    message: &'a ringside_ami::Message,
}

/// Runs until the stored log is printed (or Ctrl-C with `--follow`).
///
/// # Errors
/// Invalid ids or settings, NATS unreachable, stdout closed unexpectedly.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    let tenant = args
        .tenant
        .as_deref()
        .map(TenantId::new)
        .transpose()
        .context("--tenant")?;
    let pbx = PbxId::new(args.pbx.as_str()).context("--pbx")?;
    let runtime = tool_runtime()?;
    runtime.block_on(async move {
        let (bus, topology) = crate::bus::connect(&settings.bus, "ami-log").await?;
        let filter = topology
            .subjects()
            .ami_raw_filter(tenant.as_ref(), Some(&pbx));
        let mut spec = ReadSpec::new(topology.stream_name(StreamRole::Ami))
            .start(start_at(args.since, StartPosition::All))
            .filter(filter);
        if !args.follow {
            spec = spec.until_caught_up();
        }
        let mut frames = bus.read_stream(spec).await.context("reading the AMI log")?;
        let mut out = io::BufWriter::new(io::stdout().lock());
        while let Some(frame) = next_or_interrupt(&mut frames).await {
            let frame = frame.context("reading the AMI log")?;
            let (tenant_name, pbx_name) = topology
                .subjects()
                .tenant_and_pbx(&frame.subject)
                .unwrap_or_default();
            let received_at = frame
                .published_at
                .map(|t| humantime::format_rfc3339_millis(t).to_string());
            // One stored message holds the frames of one read burst, back
            // to back as read: decoded as the PBX's stream was.
            let (messages, cut_short) = decode_all(&frame.payload);
            if let Some(error) = cut_short {
                tracing::warn!(subject = %frame.subject, %error, "skipping the end of a stored burst");
            }
            let mut written = Ok(());
            for message in &messages {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(subject = %frame.subject, %error, "skipping an undecodable frame");
                        continue;
                    }
                };
                if !selected(message, &args.include, &args.exclude) {
                    continue;
                }
                written = match args.format {
                    // Each frame is stored exactly as the PBX sent it.
                    Format::Ami => out.write_all(&message.wire()),
                    Format::Json => {
                        let line = LogLine {
                            tenant: tenant_name,
                            pbx: pbx_name,
                            received_at: received_at.as_deref(),
                            message,
                        };
                        serde_json::to_writer(&mut out, &line)
                            .map_err(io::Error::from)
                            .and_then(|()| out.write_all(b"\n"))
                    }
                };
                if written.is_err() {
                    break;
                }
            }
            if !keep_writing(written.and_then(|()| if args.follow { out.flush() } else { Ok(()) }))?
            {
                return Ok(());
            }
        }
        keep_writing(out.flush()).map(|_| ())
    })
}
