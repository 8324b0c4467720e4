//! Normalizing and encoding one PBX's real traffic: every event of
//! `load-sample.ami` (VarSet-heavy, as a loaded Asterisk is) turned into its
//! encoded envelope, the ingestor's per-event work between decoding and
//! publishing.
//!
//! * `kind_then_encode`: `normalize` builds every kind, `Unmapped` included,
//!   and prost encodes the envelope;
//! * `unmapped_from_the_message`: what the ingestor does: typed kinds
//!   encoded from borrowed fields (`encode_envelope`), events without one
//!   written straight from the message (`encode_unmapped`).
//!
//! `cargo bench -p ringside-events --bench encode`; the corpus is
//! `$RINGSIDE_AMI_CORPUS` or `shared/ami-corpus` beside the checkout.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringside_ami::Message;
use ringside_ami::codec::decode_all;
use ringside_events::{
    Ctx, Normalized, Normalizer, Stamp, encode_envelope, encode_unmapped, envelope,
};
use ringside_proto::prost::Message as _;

fn events() -> Vec<Message> {
    let bytes = std::fs::read(ringside_testkit::corpus::path("load-sample.ami"))
        .expect("the AMI corpus (set RINGSIDE_AMI_CORPUS)");
    decode_all(&bytes)
        .0
        .into_iter()
        .filter_map(Result::ok)
        .filter(|m| ringside_events::normalize::normalize(m, &Ctx::live()).is_some())
        .collect()
}

fn stamp(sequence: u64) -> Stamp<'static> {
    Stamp {
        tenant: "acme",
        pbx: "pbx-1",
        epoch: 1_795_395_000_000,
        sequence,
        received_at: SystemTime::now(),
        traceparent: "",
    }
}

/// Total encoded bytes, so nothing is optimised away.
fn kind_then_encode(events: &[Message], normalizer: &mut Normalizer) -> usize {
    let ctx = Ctx::live();
    let mut total = 0;
    for (i, m) in events.iter().enumerate() {
        let kind = normalizer.normalize(m, &ctx).expect("an event");
        total += envelope(&stamp(i as u64), Some(m), &ctx, kind)
            .encode_to_vec()
            .len();
    }
    total
}

fn unmapped_from_the_message(events: &[Message], normalizer: &mut Normalizer) -> usize {
    let ctx = Ctx::live();
    let mut total = 0;
    for (i, m) in events.iter().enumerate() {
        let stamp = stamp(i as u64);
        total += match normalizer.normalize_typed(m, &ctx).expect("an event") {
            Normalized::Typed(kind) => encode_envelope(&stamp, Some(m), &ctx, &kind),
            Normalized::Unmapped => encode_unmapped(&stamp, m, &ctx),
        }
        .len();
    }
    total
}

fn bench(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("normalize_and_encode");
    group.throughput(Throughput::Elements(events.len() as u64));
    let mut normalizer = Normalizer::new();
    group.bench_function("kind_then_encode", |b| {
        b.iter(|| black_box(kind_then_encode(&events, &mut normalizer)))
    });
    group.bench_function("unmapped_from_the_message", |b| {
        b.iter(|| black_box(unmapped_from_the_message(&events, &mut normalizer)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
