//! Every transcript of the real-Asterisk corpus decodes with no error, whole,
//! byte by byte, and split at every boundary, with identical results; and the
//! message count matches an independent count of blank-line-separated blocks.

use ringside_testkit::corpus;

use bytes::BytesMut;
use ringside_ami::codec::{AmiCodec, FramesRead, decode_all, read_frames};
use ringside_ami::{Message, MessageKind, MessageRef};
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

/// What a test compares of a message: everything a reader of it sees.
type Seen = (
    MessageKind,
    String,
    Vec<(String, Option<String>)>,
    Option<String>,
    String,
);

fn seen(m: MessageRef<'_>) -> Seen {
    (
        m.kind(),
        m.name().to_owned(),
        m.headers()
            .map(|h| (h.key.to_owned(), h.value.map(str::to_owned)))
            .collect(),
        m.legacy_body().map(str::to_owned),
        m.as_text().to_owned(),
    )
}

/// The ingestor stores the frames of one read burst back to back as one
/// `ami.raw` message: read borrowed, bursts of any size give back each
/// message as decoded from the PBX's stream, banner included.
#[test]
fn raw_frames_stored_back_to_back_read_borrowed_agree_with_the_decoded_messages() {
    let mut checked = 0;
    for (name, bytes) in corpus::transcripts() {
        let messages: Vec<Message> = decode_all(&bytes)
            .0
            .into_iter()
            .map(Result::unwrap)
            .filter(|m| !m.is_lossy())
            .collect();
        // One frame a message (as stored before bursts), then bursts of
        // growing sizes.
        for burst in [1, 2, 7, 64, 257] {
            for chunk in messages.chunks(burst) {
                let stored: Vec<u8> = chunk.iter().flat_map(|m| m.wire()).collect();
                let mut read = Vec::new();
                let found = read_frames(&stored, |m| read.push(seen(m)));
                let decoded: Vec<Seen> = chunk.iter().map(|m| seen(m.as_ref())).collect();
                assert_eq!(read, decoded, "{name}, bursts of {burst}");
                assert_eq!(
                    found,
                    FramesRead {
                        messages: chunk.len(),
                        trailing: 0
                    },
                    "{name}"
                );
                checked += chunk.len();
            }
        }
    }
    assert!(checked > 50_000, "the corpus has its messages ({checked})");
}

/// A frame cut short is reported, not read; one with invalid UTF-8 is read
/// with the bytes replaced, and the frames after it are read too.
#[test]
fn raw_frames_cut_short_or_not_utf8_are_reported_or_replaced() {
    let mut names = Vec::new();
    let found = read_frames(b"Event: Hangup\r\n\r\nEvent: Newstate\r\nChannel: x", |m| {
        names.push(m.name().to_owned())
    });
    assert_eq!(names, ["Hangup"]);
    assert_eq!(
        found,
        FramesRead {
            messages: 1,
            trailing: "Event: Newstate\r\nChannel: x".len()
        }
    );

    let mut values = Vec::new();
    let found = read_frames(
        b"Event: Hangup\r\nChannel: \xff\r\n\r\nEvent: Newstate\r\nChannel: y\r\n\r\n",
        |m| values.push((m.name().to_owned(), m.get("Channel").map(str::to_owned))),
    );
    assert_eq!(
        values,
        [
            ("Hangup".to_owned(), Some("\u{fffd}".to_owned())),
            ("Newstate".to_owned(), Some("y".to_owned()))
        ]
    );
    assert_eq!(found.trailing, 0);
}
