//! Every transcript of the real-Asterisk corpus decodes with no error, whole,
//! byte by byte, and split at every boundary, with identical results; and the
//! message count matches an independent count of blank-line-separated blocks.

use ringside_testkit::corpus;

use bytes::BytesMut;
use ringside_ami::codec::{AmiCodec, decode_all};
use ringside_ami::{Message, MessageKind};
use tokio_util::codec::Decoder;

fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Message> {
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item.expect("no decode error in the corpus"));
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
        out.push(item.expect("no decode error in the corpus"));
    }
    out
}

#[test]
fn every_transcript_decodes_without_error_and_counts_match() {
    for (name, bytes) in corpus::transcripts() {
        let (items, err) = decode_all(&bytes);
        assert!(err.is_none(), "{name}: {err:?}");
        let messages: Vec<Message> = items
            .into_iter()
            .map(|m| m.unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        assert_eq!(
            messages.len(),
            ringside_testkit::corpus::count_messages(&bytes),
            "{name}"
        );
        assert!(messages.iter().all(|m| !m.is_lossy()), "{name}");
        assert_eq!(messages[0].kind(), MessageKind::Banner, "{name}");
    }
}

#[test]
fn byte_by_byte_and_chunked_decoding_agree_with_whole_decoding() {
    for (name, bytes) in corpus::transcripts() {
        if bytes.len() > 400_000 {
            continue; // the two big files are covered by the TCP-chunk test below
        }
        let whole = decode_in_chunks(&bytes, bytes.len());
        for chunk in [1, 2, 3, 7, 64, 1500] {
            assert_eq!(
                decode_in_chunks(&bytes, chunk),
                whole,
                "{name} in chunks of {chunk}"
            );
        }
    }
}

#[test]
fn decoding_at_the_recorded_tcp_read_boundaries_agrees_with_whole_decoding() {
    for (name, bytes) in corpus::transcripts() {
        let whole = decode_in_chunks(&bytes, bytes.len());
        let mut codec = AmiCodec::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for (offset, len) in corpus::timing_chunks(&name) {
            buf.extend_from_slice(&bytes[offset..offset + len]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item.unwrap());
            }
        }
        while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item.unwrap());
        }
        assert_eq!(out, whole, "{name}");
    }
}

/// `name()` and `action_id()` answer from what classification found; on every
/// message of the corpus they say what a lookup by key says.
#[test]
fn name_and_action_id_agree_with_a_lookup_by_key() {
    let mut checked = 0;
    for (name, bytes) in corpus::transcripts() {
        for message in decode_all(&bytes).0.into_iter().map(Result::unwrap) {
            let by_key = match message.kind() {
                MessageKind::Banner => continue,
                MessageKind::Response | MessageKind::CommandOutput => message.get("Response"),
                _ => message.get("Event"),
            };
            assert_eq!(
                message.name(),
                by_key.unwrap_or_default(),
                "{name}: {message:?}"
            );
            assert_eq!(
                message.action_id(),
                message.get("ActionID"),
                "{name}: {message:?}"
            );
            assert_eq!(
                message.as_ref().action_id(),
                message.get("actionid"),
                "{name}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000, "the corpus has its messages ({checked})");
}

/// A raw frame (one message's wire bytes, as the ingestor publishes each)
/// read borrowed says what the decoded message says, banner included.
#[test]
fn the_wire_bytes_of_each_message_read_borrowed_agree_with_the_decoded_message() {
    let mut checked = 0;
    for (name, bytes) in corpus::transcripts() {
        for message in decode_all(&bytes).0.into_iter().map(Result::unwrap) {
            if message.is_lossy() {
                continue;
            }
            let wire = message.wire();
            let read = ringside_ami::codec::read_frame(&wire, |m| {
                (
                    m.kind(),
                    m.name().to_owned(),
                    m.headers()
                        .map(|h| (h.key.to_owned(), h.value.map(str::to_owned)))
                        .collect::<Vec<_>>(),
                    m.legacy_body().map(str::to_owned),
                    m.as_text().to_owned(),
                )
            })
            .unwrap_or_else(|| panic!("{name}: {message:?} reads as one message"));
            let decoded = (
                message.kind(),
                message.name().to_owned(),
                message
                    .headers()
                    .map(|h| (h.key.to_owned(), h.value.map(str::to_owned)))
                    .collect::<Vec<_>>(),
                message.legacy_body().map(str::to_owned),
                message.as_text().to_owned(),
            );
            assert_eq!(read, decoded, "{name}");
            checked += 1;
        }
    }
    assert!(checked > 10_000, "the corpus has its messages ({checked})");
    // Not one whole message: nothing is read.
    assert!(ringside_ami::codec::read_frame(b"Event: Hangup\r\nChannel: x", |_| ()).is_none());
    assert!(ringside_ami::codec::read_frame(b"Event: Hangup\r\n\xff\r\n\r\n", |_| ()).is_none());
}
