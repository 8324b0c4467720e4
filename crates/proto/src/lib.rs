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

/// `ringside.events.v1`.
pub mod events {
    /// The normalized event model. Field numbers are a contract: see the
    /// versioning rule at the top of `proto/ringside/events/v1/envelope.proto`.
    pub mod v1 {
        tonic::include_proto!("ringside.events.v1");
    }
}

/// Re-exported so users name one version of them.
pub use prost;
pub use prost_types;
