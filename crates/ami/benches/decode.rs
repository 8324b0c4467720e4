//! Decode throughput on the real Asterisk 22 corpus, three layers deep:
//!
//! * `find_boundaries`: message boundaries only (`frame::find_message_end`);
//! * `borrowed_classified`: `frame::Scanner` + `MessageRef::new` + kind, over
//!   the read buffer with no copy (UTF-8 checked per message, as a consumer
//!   must);
//! * `owned_codec`: the tokio-util `AmiCodec` producing owned `Message`s, as
//!   the client does.
//!
//! Input: every `.ami` transcript concatenated into one buffer, the banner
//! kept only on the first, i.e. one long connection. One stream rather than
//! twelve keeps the per-iteration work identical for the three layers (no
//! per-file setup inside the timing) and gives one message count and one byte
//! count, which criterion turns into both messages/s (`elem/s`) and MiB/s
//! through `Throughput::ElementsAndBytes`.
//!
//! `cargo bench -p ringside-ami --bench decode` (about 40 s); the corpus is
//! `$RINGSIDE_AMI_CORPUS` or `shared/ami-corpus` beside the checkout.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside_ami::codec::AmiCodec;
use ringside_ami::frame::{self, Scan, Scanner};
use ringside_ami::{MessageKind, MessageRef};
use tokio_util::codec::Decoder;

fn corpus_dir() -> PathBuf {
    std::env::var_os("RINGSIDE_AMI_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ami-corpus"),
        PathBuf::from,
    )
}

/// All transcripts as one stream: the first banner, then every file's
/// messages without its banner line.
fn corpus_stream() -> Vec<u8> {
    let dir = corpus_dir();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("AMI corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ami"))
        .collect();
    paths.sort();
    let mut stream = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let (_, banner_len) = frame::scan_banner(&bytes)
            .ok()
            .flatten()
            .expect("every transcript starts with the banner");
        let from = if i == 0 { 0 } else { banner_len };
        stream.extend_from_slice(&bytes[from..]);
    }
    stream
}

/// (a) Boundaries only. Returns the number of messages.
fn find_boundaries(stream: &[u8], banner_len: usize) -> usize {
    let mut pos = banner_len;
    let mut count = 1; // the banner
    loop {
        pos += frame::skip_blank_lines(&stream[pos..]);
        match frame::find_message_end(&stream[pos..]) {
            Some(end) => {
                pos += end;
                count += 1;
            }
            None => return count,
        }
    }
}

/// (b) Scanner + borrowed, classified messages. Returns the message count;
/// the kinds are summed so the classification cannot be optimised away.
fn borrowed_classified(stream: &[u8], banner_len: usize, scanner: &mut Scanner) -> (usize, usize) {
    let mut pos = banner_len;
    let mut count = 1;
    let mut list_items = 0;
    loop {
        pos += frame::skip_blank_lines(&stream[pos..]);
        if pos == stream.len() {
            return (count, list_items);
        }
        match scanner.scan(&stream[pos..]) {
            Scan::Complete {
                text_end,
                consumed,
                body,
            } => {
                let text = std::str::from_utf8(&stream[pos..pos + text_end]).expect("UTF-8");
                let message = MessageRef::new(text, scanner.spans(), body);
                list_items += usize::from(message.kind() == MessageKind::ListItem);
                scanner.reset();
                count += 1;
                pos += consumed;
            }
            Scan::Incomplete => return (count, list_items),
        }
    }
}

/// (c) The codec, owned messages. Returns the message count.
fn owned_codec(mut buf: BytesMut) -> usize {
    let mut codec = AmiCodec::new();
    let mut count = 0;
    while let Some(item) = codec.decode_eof(&mut buf).expect("no I/O error") {
        black_box(item.expect("no decode error in the corpus"));
        count += 1;
    }
    count
}

fn decode(c: &mut Criterion) {
    let stream = corpus_stream();
    let (_, banner_len) = frame::scan_banner(&stream).unwrap().unwrap();
    let messages = owned_codec(BytesMut::from(&stream[..]));
    // The three layers must agree on what they decode, or the figures below
    // compare different work.
    assert_eq!(find_boundaries(&stream, banner_len), messages);
    assert_eq!(
        borrowed_classified(&stream, banner_len, &mut Scanner::default()).0,
        messages
    );
    println!(
        "corpus stream: {} bytes, {messages} messages ({} bytes/message)",
        stream.len(),
        stream.len() / messages
    );

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::ElementsAndBytes {
        elements: messages as u64,
        bytes: stream.len() as u64,
    });
    group.bench_function("find_boundaries", |b| {
        b.iter(|| find_boundaries(black_box(&stream), banner_len))
    });
    let mut scanner = Scanner::default();
    group.bench_function("borrowed_classified", |b| {
        b.iter(|| borrowed_classified(black_box(&stream), banner_len, &mut scanner))
    });
    group.bench_function("owned_codec", |b| {
        b.iter_batched(
            || BytesMut::from(&stream[..]),
            owned_codec,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    targets = decode
}
criterion_main!(benches);
