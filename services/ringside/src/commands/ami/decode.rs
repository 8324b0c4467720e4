//! `ringside ami decode FILE`: a raw AMI byte stream (a `.ami` transcript, or
//! standard input) to JSON Lines on stdout, one line per message:
//!
//! ```json
//! {"kind":"event","name":"Hangup","headers":[["Event","Hangup"],["Cause","16"]]}
//! ```
//!
//! `kind` is one of `banner`, `event`, `response`, `list_item`,
//! `list_complete`, `command_output`; `name` is the `Event:` or `Response:`
//! value (the banner's text for the banner); `headers` keeps the original
//! order and repeated keys, and a line without a colon has a `null` value. A
//! legacy `Response: Follows` message also carries its raw body as `output`.
//!
//! The input is read in chunks and decoded as it arrives, exactly as a live
//! connection is, so a file of any size runs in memory bounded by the
//! per-message cap. A decode error (a message over the cap, a stream cut
//! inside a message) is written to stderr with its byte offset; decoding goes
//! on after an oversized message, and the exit code is 1 at the end. A reader
//! that closes the pipe early (`| head`) ends the command quietly.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use bytes::BytesMut;
use ringside_ami::AmiCodec;

use super::json::write_line;
use tokio_util::codec::Decoder;

/// How much is read from the input at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Decode a recorded AMI byte stream into JSON Lines, one per message.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raw AMI byte stream, e.g. a `.ami` transcript; `-` reads standard
    /// input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Largest message accepted, in bytes (`KiB` and `MiB` suffixes allowed,
    /// at least 64); a larger message is reported and skipped, and decoding
    /// goes on with the next one.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_size)]
    pub max_message: usize,
}

/// Parses a byte count: `4096`, `64KiB`, `1MiB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        other => return Err(format!("unknown unit {other:?} (use B, KiB or MiB)")),
    };
    let bytes = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is not a byte count"))?;
    if bytes < 64 {
        return Err(format!("{bytes} bytes is too small (at least 64)"));
    }
    Ok(bytes)
}

/// Runs the command.
///
/// # Errors
/// The input cannot be opened or read, stdout fails for a reason other than a
/// closed pipe, or the stream had decode errors (each already printed).
pub fn run(args: Args) -> anyhow::Result<()> {
    let (input, name): (Box<dyn Read>, String) = if args.file.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), "<stdin>".to_owned())
    } else {
        let file =
            File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        (Box::new(file), args.file.display().to_string())
    };
    let mut out = BufWriter::with_capacity(READ_CHUNK, io::stdout().lock());

    let summary = decode(input, &mut out, args.max_message, |problem| {
        eprintln!("{name}: {problem}");
    })
    .with_context(|| format!("decoding {name}"))?;

    tracing::debug!(
        file = %name,
        messages = summary.messages,
        bytes = summary.bytes,
        errors = summary.errors,
        output_closed = summary.output_closed,
        "decode finished"
    );
    if summary.output_closed {
        return Ok(());
    }
    if summary.lossy > 0 {
        tracing::warn!(
            file = %name,
            messages = summary.lossy,
            "messages contained invalid UTF-8, replaced with U+FFFD"
        );
    }
    if summary.errors > 0 {
        anyhow::bail!(
            "{name}: {} decode error(s), {} message(s) decoded",
            summary.errors,
            summary.messages
        );
    }
    Ok(())
}

/// What a decode run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Summary {
    /// Messages written as JSON lines.
    messages: u64,
    /// Decode errors reported (oversized messages, a cut-off last message).
    errors: u64,
    /// Messages whose invalid UTF-8 was replaced.
    lossy: u64,
    /// Bytes of input consumed by the decoder.
    bytes: u64,
    /// The reader of our output went away; decoding stopped early.
    output_closed: bool,
}

/// Decodes `input` chunk by chunk into JSON lines on `out`, calling `report`
/// for each decode error.
///
/// # Errors
/// Reading `input` fails, or writing `out` fails with anything but a broken
/// pipe (which ends the run with `output_closed`).
fn decode(
    mut input: impl Read,
    out: &mut impl Write,
    max_message: usize,
    mut report: impl FnMut(&dyn Display),
) -> anyhow::Result<Summary> {
    let mut codec = AmiCodec::new().with_max_message(max_message);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut summary = Summary::default();

    // One step of the read loop: whatever the codec can give, then more bytes.
    // Zero bytes read is the end of the stream; `decode_eof` then reports a
    // message that was cut off.
    loop {
        let n = fill(&mut input, &mut buf).context("reading input")?;
        let at_eof = n == 0;
        loop {
            let item = if at_eof {
                match codec.decode_eof(&mut buf) {
                    Ok(item) => item,
                    Err(truncated) => {
                        report(&truncated);
                        summary.errors += 1;
                        None
                    }
                }
            } else {
                codec.decode(&mut buf).context("decoding")?
            };
            let Some(item) = item else { break };
            match item {
                Ok(message) => match write_line(out, &message) {
                    Ok(()) => summary.messages += 1,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        summary.output_closed = true;
                        return Ok(summary);
                    }
                    Err(e) => return Err(e).context("writing to stdout"),
                },
                Err(oversized) => {
                    report(&oversized);
                    summary.errors += 1;
                }
            }
        }
        if at_eof {
            break;
        }
    }

    match out.flush() {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => summary.output_closed = true,
        Err(e) => return Err(e).context("writing to stdout"),
    }
    let stats = codec.stats();
    summary.lossy = stats.lossy;
    summary.bytes = stats.bytes;
    Ok(summary)
}

/// Appends up to [`READ_CHUNK`] bytes from `input` to `buf`; returns how many
/// (0 at the end of the input). Bytes already in `buf` stay where they are, so
/// the codec's remembered scan offset stays valid.
fn fill(input: &mut impl Read, buf: &mut BytesMut) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let read = loop {
        match input.read(&mut buf[start..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    buf.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_ami::codec::DEFAULT_MAX_MESSAGE;

    #[test]
    fn sizes_parse_with_binary_units_and_a_floor() {
        assert_eq!(parse_size("1MiB"), Ok(DEFAULT_MAX_MESSAGE));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10").is_err());
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    /// A reader that hands out at most `step` bytes per read, as a slow
    /// socket or pipe does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn decode_to_string(input: impl Read, max: usize) -> (String, Summary, Vec<String>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let summary = decode(input, &mut out, max, |p| problems.push(p.to_string())).unwrap();
        (String::from_utf8(out).unwrap(), summary, problems)
    }

    const STREAM: &[u8] = b"Asterisk Call Manager/11.0.0\r\n\
        Response: Success\r\nMessage: Authentication accepted\r\n\r\n\
        Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: A\r\nValue: \r\nVariable: B\r\n\r\n\
        Response: Error\r\nActionID: 1\r\nMessage: No Contacts found\n\r\n\r\n";

    #[test]
    fn messages_become_json_lines_with_headers_in_wire_order() {
        let (out, summary, problems) = decode_to_string(STREAM, DEFAULT_MAX_MESSAGE);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(summary.messages, 4);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"kind":"banner","name":"Asterisk Call Manager/11.0.0","headers":[]}"#
        );
        assert_eq!(
            lines[2],
            r#"{"kind":"event","name":"VarSet","headers":[["Event","VarSet"],["Privilege","dialplan,all"],["Variable","A"],["Value",""],["Variable","B"]]}"#
        );
        assert_eq!(
            lines[3],
            r#"{"kind":"response","name":"Error","headers":[["Response","Error"],["ActionID","1"],["Message","No Contacts found"]]}"#
        );
    }

    #[test]
    fn a_stream_trickling_in_byte_by_byte_gives_the_same_lines() {
        let (whole, _, _) = decode_to_string(STREAM, DEFAULT_MAX_MESSAGE);
        let (trickled, _, _) = decode_to_string(
            Trickle {
                data: STREAM,
                step: 1,
            },
            DEFAULT_MAX_MESSAGE,
        );
        assert_eq!(whole, trickled);
    }

    #[test]
    fn a_line_without_a_colon_has_a_null_value() {
        let (out, _, _) = decode_to_string(&b"Event: X\r\nno colon here\r\n\r\n"[..], 1024);
        assert_eq!(
            out.trim_end(),
            r#"{"kind":"event","name":"X","headers":[["Event","X"],["no colon here",null]]}"#
        );
    }

    #[test]
    fn legacy_command_output_carries_its_raw_body() {
        let input = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\nline one\n\nline three\n--END COMMAND--\r\n\r\n";
        let (out, _, _) = decode_to_string(&input[..], 1024);
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["kind"], "command_output");
        assert_eq!(v["name"], "Follows");
        assert_eq!(v["output"], "line one\n\nline three\n");
        assert_eq!(v["headers"][2], serde_json::json!(["ActionID", "9"]));
    }

    #[test]
    fn an_oversized_message_is_reported_with_its_offset_and_decoding_goes_on() {
        let big = format!("Event: Big\r\nData: {}\r\n\r\n", "x".repeat(500));
        let input = [
            b"Event: A\r\n\r\n".as_slice(),
            big.as_bytes(),
            b"Event: B\r\n\r\n",
        ]
        .concat();
        let (out, summary, problems) = decode_to_string(
            Trickle {
                data: &input,
                step: 7,
            },
            100,
        );
        assert_eq!(summary.errors, 1);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("at byte 12"), "{problems:?}");
        let names: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
            .collect();
        assert_eq!(names, [r#""A""#, r#""B""#]);
    }

    #[test]
    fn a_stream_cut_inside_a_message_is_reported_with_its_offset() {
        let input = b"Event: A\r\n\r\nEvent: Hangup\r\nChannel: PJ";
        let (out, summary, problems) = decode_to_string(&input[..], 1024);
        assert_eq!(out.lines().count(), 1);
        assert_eq!(summary.errors, 1);
        assert!(problems[0].contains("at byte 12"), "{problems:?}");
    }

    #[test]
    fn a_closed_output_pipe_stops_the_run_quietly() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let summary = decode(STREAM, &mut Closed, 1024, |_| {}).unwrap();
        assert!(summary.output_closed);
        assert_eq!(summary.messages, 0);
    }
}
