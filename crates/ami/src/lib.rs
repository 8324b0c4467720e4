//! `ringside-ami` speaks the Asterisk Manager Interface: bytes to messages and
//! back, actions that cannot inject headers, and an async client that logs in,
//! correlates responses and event lists, keeps the connection alive and
//! reconnects.
//!
//! It knows nothing of Ringside, NATS or protobuf: it is the protocol only, and
//! is tested on byte-exact recordings of a real Asterisk 22.
//!
//! Layers, bottom up (as in mini-redis):
//! * [`frame`] finds message boundaries and header spans in a buffer without
//!   allocating per header; "incomplete" is a normal answer.
//! * [`codec`] is the tokio-util `Decoder`/`Encoder`, with a per-message size
//!   cap and a remembered scan offset.
//! * [`message`] classifies messages and gives case-insensitive access to an
//!   ordered multimap of headers.
//! * [`action`] builds actions (ActionID generation, plain and MD5 login).
//! * [`client`] is the connection: TCP or TLS, login, `send`, keepalive,
//!   reconnect with backoff.

pub mod action;
pub mod client;
pub mod codec;
pub mod frame;
pub mod json;
pub mod message;

pub use action::{Action, ActionError};
pub use codec::{AmiCodec, DecodeError, DecodeStats};
pub use message::{Header, Message, MessageBuilder, MessageKind, MessageRef};
