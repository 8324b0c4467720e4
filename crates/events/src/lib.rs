//! `ringside-events` turns AMI messages into Ringside's normalized events:
//! a [`ringside_ami::Message`] in, a typed
//! [`Kind`](ringside_proto::events::v1::envelope::Kind) of
//! [`ringside_proto::events::v1`] out, wrapped in an
//! [`Envelope`](ringside_proto::events::v1::Envelope) by [`envelope()`].
//!
//! It knows `ringside-ami` and `ringside-proto` and nothing else: no I/O, no
//! bus, no clock (the caller passes the receive time), no connection handling.
//! Normalization is a pure function of the message and its [`Ctx`]; the
//! [`Normalizer`] only counts what it did.
//!
//! Rules it keeps:
//! * nothing is dropped: an event or list entry without a typed kind becomes
//!   `Unmapped { name, headers }` with every header in order;
//! * nothing is invented: a header that is absent leaves its field empty or
//!   unset (proto3 `optional`), and every enum sits beside the raw text
//!   Asterisk sent;
//! * header names match case-insensitively, and the spellings of other Asterisk
//!   versions are read too (`Channeltype`/`ChannelType`, `HoldTime`/`Holdtime`,
//!   legacy `Join`, `Dial` + `SubEvent`...).
//!
//! Modules:
//! * [`mod@normalize`]: [`Normalizer`], [`Normalized`], [`Ctx`], [`SyncCtx`];
//! * [`mod@envelope`]: [`envelope()`], [`Stamp`], [`kind_name`] (the
//!   `<EventKind>` subject token), [`encode_envelope`] (an envelope's bytes
//!   without building it), [`encode_unmapped`] (the envelope of an event
//!   without a typed kind, written straight from the message);
//! * [`lifecycle`]: the ingestor's own kinds (Connected, SyncStarted...) and how
//!   to read a list action's error answer.

mod fields;
mod map;
mod values;

pub mod envelope;
pub mod lifecycle;
pub mod normalize;

pub use envelope::{
    KIND_NAMES, Stamp, UNMAPPED, encode_envelope, encode_unmapped, envelope, kind_name,
};
pub use normalize::{Ctx, NormalizeStats, Normalized, Normalizer, SyncCtx};
