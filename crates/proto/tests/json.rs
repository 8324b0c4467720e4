//! The embedded descriptors turn encoded messages into proto3 JSON.

use prost::Message as _;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{ChannelHungUp, Envelope};

#[test]
fn an_encoded_envelope_becomes_proto3_json() {
    let envelope = Envelope {
        tenant: "acme".into(),
        pbx: "pbx-1".into(),
        epoch: 7,
        sequence: 42,
        received_at: Some(ringside_proto::prost_types::Timestamp {
            seconds: 1_795_395_695,
            nanos: 0,
        }),
        kind: Some(Kind::ChannelHungUp(ChannelHungUp {
            cause_code: Some(16),
            cause_text: "Normal Clearing".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let json =
        ringside_proto::json::to_json("ringside.events.v1.Envelope", &envelope.encode_to_vec())
            .unwrap();
    assert_eq!(json["tenant"], "acme");
    assert_eq!(
        json["sequence"], "42",
        "64-bit integers are strings in proto3 JSON"
    );
    assert_eq!(json["receivedAt"], "2026-11-23T01:01:35Z");
    assert_eq!(json["channelHungUp"]["causeText"], "Normal Clearing");
    assert!(json.get("sync").is_none(), "default values are left out");
}

#[test]
fn bytes_that_are_not_the_message_are_an_error_not_a_panic() {
    assert!(
        ringside_proto::json::to_json("ringside.events.v1.Envelope", &[0xff, 0xff, 0xff]).is_err()
    );
    assert!(ringside_proto::json::to_json("ringside.events.v1.Nope", &[]).is_err());
}
