//! `ringside ami log`: the stored raw AMI stream of a PBX (the `ami.raw`
//! stream, 24 h by default) as JSON Lines or AMI text: the AMI log an operator
//! analyses after the fact.
//!
//! Each JSON line is the message's `ami decode` form plus where and when it
//! was read: `{"tenant","pbx","received_at", "kind","name","headers"}`.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use bytes::BytesMut;
use ringside_ami::{AmiCodec, Message};
use ringside_bus::{PbxId, ReadSpec, StartPosition, StreamRole, TenantId};
use tokio_util::codec::Decoder;

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
    received_at: Option<String>,
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
            // One stored message holds the frames of one read burst.
            let (messages, trailing) = decode_frames(&frame.payload);
            if trailing > 0 {
                tracing::warn!(subject = %frame.subject, bytes = trailing, "skipping the end of a stored burst: not a whole AMI message");
            }
            let mut written = Ok(());
            for message in messages
                .iter()
                .filter(|m| selected(m, &args.include, &args.exclude))
            {
                written = match args.format {
                    // Each frame is stored exactly as the PBX sent it.
                    Format::Ami => out.write_all(&message.wire()),
                    Format::Json => {
                        let line = LogLine {
                            tenant: tenant_name,
                            pbx: pbx_name,
                            received_at: received_at.clone(),
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

/// The messages of a stored `ami.raw` payload (AMI frames back to back,
/// exactly as read), and how many bytes at its end are not a whole message.
fn decode_frames(payload: &[u8]) -> (Vec<Message>, usize) {
    let mut codec = AmiCodec::without_banner();
    let mut buf = BytesMut::from(payload);
    let mut messages = Vec::new();
    while let Ok(Some(Ok(message))) = codec.decode(&mut buf) {
        messages.push(message);
    }
    (messages, buf.len())
}

#[cfg(test)]
mod tests {
    use ringside_ami::codec::decode_all;
    use ringside_testkit::corpus;

    use super::*;

    /// Every message of a stored burst is printed, in order, each with its
    /// own wire bytes; an end cut short is reported, not printed.
    #[test]
    fn each_message_of_a_stored_burst_is_decoded_in_order() {
        let (_, bytes) = corpus::transcripts()
            .into_iter()
            .next()
            .expect("a transcript");
        let messages: Vec<Message> = decode_all(&bytes)
            .0
            .into_iter()
            .skip(1) // the banner: never stored
            .take(300)
            .map(Result::unwrap)
            .collect();
        let stored: Vec<u8> = messages.iter().flat_map(|m| m.wire()).collect();

        let (decoded, trailing) = decode_frames(&stored);
        assert_eq!(trailing, 0);
        assert_eq!(
            decoded.iter().map(Message::wire).collect::<Vec<_>>(),
            messages.iter().map(Message::wire).collect::<Vec<_>>()
        );

        let cut = &stored[..stored.len() - 3];
        let (decoded, trailing) = decode_frames(cut);
        assert_eq!(decoded.len(), messages.len() - 1);
        assert_eq!(trailing, messages.last().unwrap().wire().len() - 3);
    }
}
