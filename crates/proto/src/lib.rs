//! `ringside-proto` holds every generated protobuf type and gRPC service of
//! Ringside, compiled from `proto/` at the workspace root with protox (no
//! system `protoc`).
//!
//! It knows nothing but the schemas: no AMI, no bus, no behaviour. Hand-written
//! logic about these types lives with its users (`ringside-events` builds
//! events from AMI).
//!
//! Packages:
//! * [`events::v1`]: the normalized event ([`events::v1::Envelope`]) and its
//!   kinds, split by domain like the `.proto` files.
//! * [`state::v1`]: the state service's gRPC API (`State`: snapshots,
//!   deltas, calls) and the view messages.
//! * [`provisioning::v1`]: the provisioning service's gRPC API
//!   (`Provisioning`: the operator's admin data, DID allocation, audit log,
//!   CDR report).

/// `ringside.events.v1`.
pub mod events {
    /// The normalized event model. Field numbers are a contract: see the
    /// versioning rule at the top of `proto/ringside/events/v1/envelope.proto`.
    pub mod v1 {
        tonic::include_proto!("ringside.events.v1");
    }
}

/// `ringside.state.v1`.
pub mod state {
    /// The state service's API. Field numbers are a contract: see the
    /// versioning rule at the top of `proto/ringside/state/v1/state.proto`.
    pub mod v1 {
        tonic::include_proto!("ringside.state.v1");
    }
}

/// `ringside.provisioning.v1`.
pub mod provisioning {
    /// The admin API. Field numbers are a contract: see the versioning rule
    /// at the top of `proto/ringside/provisioning/v1/provisioning.proto`.
    pub mod v1 {
        tonic::include_proto!("ringside.provisioning.v1");
    }
}

/// Every Ringside schema as an encoded `FileDescriptorSet` (with its imports):
/// for gRPC server reflection and for [`json`].
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ringside_descriptor.bin"));

/// Proto3 JSON for any Ringside message, from its encoded bytes.
pub mod json {
    use std::sync::OnceLock;

    use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

    /// The descriptor pool of [`crate::FILE_DESCRIPTOR_SET`], decoded once.
    pub fn pool() -> &'static DescriptorPool {
        static POOL: OnceLock<DescriptorPool> = OnceLock::new();
        POOL.get_or_init(|| {
            DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
                .expect("the embedded descriptor set decodes")
        })
    }

    /// Why a message could not be turned into JSON.
    #[derive(Debug, thiserror::Error)]
    pub enum JsonError {
        #[error("unknown message type {0}")]
        UnknownType(String),
        #[error("cannot decode {name}: {source}")]
        Decode {
            name: String,
            source: prost::DecodeError,
        },
        #[error("cannot serialize {name}: {source}")]
        Serialize {
            name: String,
            source: serde_json::Error,
        },
    }

    /// Decodes `bytes` as the message `full_name` (`ringside.events.v1.Envelope`)
    /// and returns its proto3 JSON: field names in lowerCamelCase, enums by
    /// name, timestamps in RFC 3339, default values left out.
    ///
    /// # Errors
    /// An unknown type, or bytes that are not such a message.
    pub fn to_json(full_name: &str, bytes: &[u8]) -> Result<serde_json::Value, JsonError> {
        let descriptor = pool()
            .get_message_by_name(full_name)
            .ok_or_else(|| JsonError::UnknownType(full_name.to_owned()))?;
        let message =
            DynamicMessage::decode(descriptor, bytes).map_err(|source| JsonError::Decode {
                name: full_name.to_owned(),
                source,
            })?;
        let options = SerializeOptions::new().skip_default_fields(true);
        message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|source| JsonError::Serialize {
                name: full_name.to_owned(),
                source,
            })
    }
}

/// Re-exported so users name one version of them.
pub use prost;
pub use prost_types;

#[cfg(test)]
mod tests {
    /// Server reflection answers from [`crate::FILE_DESCRIPTOR_SET`]: every
    /// service and its imports must be in it.
    #[test]
    fn the_descriptor_set_holds_every_package_and_service() {
        let pool = crate::json::pool();
        for service in [
            "ringside.state.v1.State",
            "ringside.provisioning.v1.Provisioning",
        ] {
            assert!(pool.get_service_by_name(service).is_some(), "{service}");
        }
        for message in [
            "ringside.events.v1.Envelope",
            "ringside.provisioning.v1.Customer",
            "google.protobuf.Struct",
        ] {
            assert!(pool.get_message_by_name(message).is_some(), "{message}");
        }
        let provisioning = pool
            .get_service_by_name("ringside.provisioning.v1.Provisioning")
            .unwrap();
        assert_eq!(provisioning.methods().count(), 40);
    }
}
