//! Decoding the events stream's envelopes for the engine.
//!
//! Most of what a PBX sends reaches the stream as `Unmapped` envelopes
//! (`VarSet` above all), each with a dozen headers, and the views use none
//! of them but `Newexten`'s. Decoding such an envelope whole allocates every
//! header key and value only for the engine to note its place in the
//! stream. [`envelope_for_apply`] first reads the envelope without its
//! kind's headers ([`Head`]) and decodes the whole message only when the
//! kind is one the views use.

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{Envelope, Unmapped};
use ringside_proto::prost::{self, Message as _};
use ringside_proto::prost_types::Timestamp;

use crate::pbx::is_newexten;

/// `ringside.events.v1.Envelope` with its fields but the kind's, and of
/// the kind only an `Unmapped` event's name: prost skips the rest without
/// allocating. The tags are `envelope.proto`'s; the test below decodes the
/// whole corpus both ways.
#[derive(Clone, PartialEq, prost::Message)]
struct Head {
    #[prost(string, tag = "1")]
    tenant: String,
    #[prost(string, tag = "2")]
    pbx: String,
    #[prost(uint64, tag = "3")]
    epoch: u64,
    #[prost(uint64, tag = "4")]
    sequence: u64,
    #[prost(message, optional, tag = "5")]
    received_at: Option<Timestamp>,
    #[prost(message, optional, tag = "6")]
    pbx_time: Option<Timestamp>,
    #[prost(bool, tag = "7")]
    sync: bool,
    #[prost(string, tag = "8")]
    sync_id: String,
    #[prost(string, tag = "9")]
    traceparent: String,
    #[prost(string, tag = "10")]
    tracestate: String,
    #[prost(message, optional, tag = "1000")]
    unmapped: Option<UnmappedName>,
}

/// The name of an `Unmapped` kind (its headers skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct UnmappedName {
    #[prost(string, tag = "1")]
    name: String,
}

/// The envelope as the engine needs it: whole, except that an unmapped
/// event the views do not use (anything but `Newexten`) comes without its
/// headers.
///
/// # Errors
/// The bytes are not an envelope.
pub fn envelope_for_apply(payload: &[u8]) -> Result<Envelope, prost::DecodeError> {
    let head = Head::decode(payload)?;
    match head.unmapped {
        Some(UnmappedName { name }) if !is_newexten(&name) => Ok(Envelope {
            tenant: head.tenant,
            pbx: head.pbx,
            epoch: head.epoch,
            sequence: head.sequence,
            received_at: head.received_at,
            pbx_time: head.pbx_time,
            sync: head.sync,
            sync_id: head.sync_id,
            traceparent: head.traceparent,
            tracestate: head.tracestate,
            kind: Some(Kind::Unmapped(Unmapped {
                name,
                headers: Vec::new(),
            })),
        }),
        _ => Envelope::decode(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Replayer;

    #[test]
    fn every_corpus_envelope_decodes_as_whole_but_unused_unmapped_headers() {
        let mut replayer = Replayer::new("lab", "pbx").keeping_envelopes();
        for (i, (_, bytes)) in ringside_testkit::corpus::transcripts().iter().enumerate() {
            if i > 0 {
                replayer.disconnected("next transcript");
            }
            replayer.transcript(bytes);
        }
        let mut light = 0;
        for env in replayer.envelopes() {
            // What a PBX with `timestampevents = yes` and a traced ingestor
            // add (the recordings have neither).
            let mut env = env.clone();
            env.pbx_time = Some(Timestamp {
                seconds: 1_800_000_000,
                nanos: 5_000_000,
            });
            env.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
            env.tracestate = "ringside=1".into();
            let bytes = env.encode_to_vec();
            let got = envelope_for_apply(&bytes).expect("an envelope");
            let mut want = env.clone();
            if let Some(Kind::Unmapped(u)) = &mut want.kind
                && !is_newexten(&u.name)
            {
                u.headers.clear();
                light += 1;
            }
            assert_eq!(got, want);
        }
        assert!(light > 1000, "the corpus has thousands of VarSets: {light}");
    }

    #[test]
    fn bytes_that_are_not_an_envelope_are_an_error() {
        assert!(envelope_for_apply(b"\xff\xff\xff").is_err());
    }
}
