//! `ringside-state` keeps the live views of every PBX (endpoints, trunks,
//! channels, calls, bridges, queues, conferences) by projecting the
//! normalized event stream of `ringside-events`.
//!
//! The [`Projection`] is pure and synchronous: `apply(&mut self, &Envelope)`
//! does no I/O, reads no clock (times come from the envelopes) and never
//! fails; what it cannot use it ignores. Everything that talks to the bus,
//! stores snapshots or serves gRPC lives outside it, so the same projection
//! runs in the service, in `ringside replay` and in tests.
//!
//! It must not know AMI framing or the bus: its input is
//! [`ringside_proto::events::v1::Envelope`]. The one exception is
//! [`replay`], which turns a recorded AMI transcript into the envelope stream
//! the ingestor would have published (for `ringside replay` and the corpus
//! tests).
//!
//! Modules:
//! * [`views`]: the view types (serde `Serialize`, every entry carries tenant
//!   and PBX) and [`views::Snapshot`];
//! * [`projection`]: ordering by (epoch, sequence), resync staging and swap,
//!   stale marking;
//! * `pbx` (private): one PBX's view and how each kind changes it;
//! * [`replay`]: AMI transcript → envelopes → projection;
//! * [`service`]: the service on the bus (consumer, snapshots, deltas);
//! * [`grpc`]: the `ringside.state.v1.State` gRPC API, answered over the
//!   bus.

mod by_pbx;
pub mod deltas;
pub mod engine;
pub mod grpc;
mod pbx;
mod persist;
pub mod projection;
pub mod records;
pub mod replay;
pub mod service;
pub mod views;

pub use engine::{Engine, Output};
pub use projection::{Applied, Projection};
pub use views::Snapshot;
