//! Arbitrary bytes through `AmiCodec`, fed in chunks, as a TCP peer would:
//! no panic, no endless loop, memory bounded by the per-message cap, every
//! byte accounted for, and every decoded message encodes back to itself.
//!
//! The first input byte picks the read size (1..=128 bytes, low 7 bits) and
//! whether the stream starts with a banner (high bit); the rest is the stream.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringside_ami::MessageKind;
use ringside_ami::codec::AmiCodec;
use tokio_util::codec::Decoder;

/// A small cap, so that oversized messages and discarding happen often.
const CAP: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first & 0x7f) + 1;
    let codec = if first & 0x80 != 0 {
        AmiCodec::new()
    } else {
        AmiCodec::without_banner()
    };
    let mut codec = codec.with_max_message(CAP);
    let mut buf = BytesMut::new();
    let mut fed = 0usize;

    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        assert!(buf.len() <= CAP + chunk, "{} bytes buffered", buf.len());
        // Every item consumes bytes, so there are at most buf.len() of them.
        let mut items = 0;
        while let Some(item) = codec.decode(&mut buf).expect("decode never fails on I/O") {
            items += 1;
            assert!(items <= fed + 1, "decode returns items without consuming");
            if let Ok(message) = item {
                check(&message, chunk);
            }
        }
        assert!(buf.len() <= CAP, "{} bytes left buffered", buf.len());
        assert_eq!(codec.stats().bytes + buf.len() as u64, fed as u64);
    }

    let mut items = 0;
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(item)) => {
                items += 1;
                assert!(
                    items <= fed + 1,
                    "decode_eof returns items without consuming"
                );
                if let Ok(message) = item {
                    check(&message, chunk);
                }
            }
            Ok(None) => {
                assert!(buf.is_empty());
                assert_eq!(codec.stats().bytes, fed as u64);
                break;
            }
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                break;
            }
        }
    }
});

fn check(message: &ringside_ami::Message, chunk: usize) {
    // The cap counts wire bytes: a banner may overrun by one read, and
    // invalid UTF-8 grows by replacement (1 byte -> U+FFFD, 3 bytes).
    let wire = if message.kind() == MessageKind::Banner {
        CAP + chunk
    } else {
        CAP
    };
    let limit = if message.is_lossy() { 3 * wire } else { wire };
    assert!(message.as_text().len() <= limit);
    if message.kind() == MessageKind::Banner {
        return;
    }
    let mut again = BytesMut::from(&message.to_bytes()[..]);
    let decoded = AmiCodec::without_banner()
        .decode(&mut again)
        .expect("no I/O error")
        .expect("a whole message")
        .expect("within the default cap");
    assert!(decoded.headers().eq(message.headers()));
    assert_eq!(decoded.legacy_body(), message.legacy_body());
    assert_eq!(decoded.kind(), message.kind());
}
