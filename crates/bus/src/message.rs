//! What travels on the bus: headers, outgoing and delivered messages, acks and
//! requests. Payloads are opaque bytes; the bus never looks inside them.

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::BusError;

/// The header that carries a message's de-duplication id (JetStream's own name).
pub const MSG_ID: &str = "Nats-Msg-Id";
/// W3C trace context: the `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace context: the `tracestate` header.
pub const TRACESTATE: &str = "tracestate";

/// A small ordered multimap of message headers.
///
/// Names compare ASCII-case-insensitively (as NATS and HTTP headers do). Names and
/// values are checked on the way in so a value can never inject another header:
/// no CR, LF or NUL anywhere, no `:` or whitespace in a name.
///
/// Order is kept in-process. Over NATS, async-nats stores received headers in a
/// hash map, so the order of *different* names on a delivered message is not
/// guaranteed; repeated values of one name keep their order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// Names of the headers the bus sets ([`MSG_ID`], trace context) are
    /// borrowed, and one header (an event's message id) needs no separate
    /// allocation: the in-process bus copies each message once, so each of
    /// those allocations counted twice per event.
    entries: SmallVec<[(Cow<'static, str>, String); 1]>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Sets `name` to `value`, replacing any earlier values of `name` (the first
    /// occurrence keeps its position).
    ///
    /// # Errors
    /// [`BusError::InvalidHeader`] if the name or value would break the wire format.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<&mut Self, BusError> {
        check_header(name, value)?;
        self.replace(name, value.to_owned());
        Ok(self)
    }

    /// [`insert`](Headers::insert) of a checked value the caller owns, so
    /// it is moved in rather than copied.
    fn replace(&mut self, name: &str, value: String) {
        let mut value = Some(value);
        self.entries.retain_mut(|(n, v)| {
            if !n.eq_ignore_ascii_case(name) {
                return true;
            }
            match value.take() {
                Some(value) => {
                    *v = value;
                    true
                }
                None => false,
            }
        });
        if let Some(value) = value {
            self.entries.push((header_name(name), value));
        }
    }

    /// Adds a value for `name` after any existing ones.
    ///
    /// # Errors
    /// [`BusError::InvalidHeader`] if the name or value would break the wire format.
    pub fn append(&mut self, name: &str, value: &str) -> Result<&mut Self, BusError> {
        check_header(name, value)?;
        self.entries.push((header_name(name), value.to_owned()));
        Ok(self)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// Number of `(name, value)` pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The de-duplication id ([`MSG_ID`]).
    pub fn msg_id(&self) -> Option<&str> {
        self.get(MSG_ID)
    }

    /// Sets the de-duplication id ([`MSG_ID`]).
    ///
    /// An owned `String` is moved in, not copied: an id is built per event.
    ///
    /// # Errors
    /// [`BusError::InvalidHeader`] if `id` is empty or contains CR, LF or NUL.
    pub fn set_msg_id(
        &mut self,
        id: impl AsRef<str> + Into<String>,
    ) -> Result<&mut Self, BusError> {
        if id.as_ref().is_empty() {
            return Err(BusError::InvalidHeader {
                name: MSG_ID.to_owned(),
                reason: "empty message id",
            });
        }
        check_header(MSG_ID, id.as_ref())?;
        self.replace(MSG_ID, id.into());
        Ok(self)
    }

    /// The W3C `traceparent`.
    pub fn traceparent(&self) -> Option<&str> {
        self.get(TRACEPARENT)
    }

    /// The W3C `tracestate`.
    pub fn tracestate(&self) -> Option<&str> {
        self.get(TRACESTATE)
    }

    /// Sets the W3C trace context (`tracestate` is removed when `None`).
    ///
    /// # Errors
    /// [`BusError::InvalidHeader`] if a value contains CR, LF or NUL.
    pub fn set_trace_context(
        &mut self,
        traceparent: &str,
        tracestate: Option<&str>,
    ) -> Result<&mut Self, BusError> {
        self.insert(TRACEPARENT, traceparent)?;
        match tracestate {
            Some(state) => self.insert(TRACESTATE, state),
            None => {
                self.remove(TRACESTATE);
                Ok(self)
            }
        }
    }

    /// Builds headers from pairs that already passed the checks (received from NATS).
    pub(crate) fn from_trusted(entries: Vec<(String, String)>) -> Self {
        Headers {
            entries: entries
                .into_iter()
                .map(|(n, v)| (Cow::Owned(n), v))
                .collect(),
        }
    }
}

/// `name` as stored: borrowed when it is one of the bus's own header names.
fn header_name(name: &str) -> Cow<'static, str> {
    [MSG_ID, TRACEPARENT, TRACESTATE]
        .into_iter()
        .find(|known| *known == name)
        .map_or_else(|| Cow::Owned(name.to_owned()), Cow::Borrowed)
}

fn check_header(name: &str, value: &str) -> Result<(), BusError> {
    let bad = |reason| {
        Err(BusError::InvalidHeader {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty name");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return bad("name must be printable ASCII without ':' or spaces");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return bad("value must not contain CR, LF or NUL");
    }
    Ok(())
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// A message to publish.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// Opaque payload.
    pub payload: Bytes,
    /// Headers, including the de-duplication id and trace context.
    pub headers: Headers,
}

impl Outgoing {
    /// A message with `payload` and no headers.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Outgoing {
            payload: payload.into(),
            headers: Headers::new(),
        }
    }

    /// Sets the de-duplication id.
    ///
    /// # Errors
    /// As [`Headers::set_msg_id`].
    pub fn with_msg_id(mut self, id: impl AsRef<str> + Into<String>) -> Result<Self, BusError> {
        self.headers.set_msg_id(id)?;
        Ok(self)
    }

    /// Sets a header.
    ///
    /// # Errors
    /// As [`Headers::insert`].
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, BusError> {
        self.headers.insert(name, value)?;
        Ok(self)
    }
}

/// A message as a subscriber, consumer or server receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The subject it was published on.
    pub subject: String,
    /// Opaque payload.
    pub payload: Bytes,
    /// Headers as published (see [`Headers`] on order over NATS).
    pub headers: Headers,
    /// Its sequence in the stream that stored it; `None` for core messages.
    pub stream_sequence: Option<u64>,
    /// When the stream stored it; `None` for core messages.
    pub published_at: Option<SystemTime>,
}

/// The stream's acknowledgement of a durable publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishAck {
    /// The stream that stored the message.
    pub stream: String,
    /// The message's sequence in that stream. For a duplicate, the sequence of
    /// the copy stored first.
    pub sequence: u64,
    /// The `msg_id` was seen within the de-duplication window: nothing new was
    /// stored.
    pub duplicate: bool,
}

/// A request received by [`Bus::serve`](crate::Bus::serve).
#[derive(Debug)]
pub struct Request {
    /// The request message.
    pub msg: Delivered,
    pub(crate) responder: crate::Responder,
}

impl Request {
    /// Whether the sender waits for an answer (a plain publish on a served
    /// subject arrives as a request nobody waits for).
    pub fn expects_reply(&self) -> bool {
        self.responder.expects_reply()
    }

    /// Answers the request. Answering a request nobody waits for does nothing.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] if the answer could not be sent; an invalid
    /// header in `reply` is refused with [`BusError::InvalidHeader`] upstream.
    pub async fn respond(self, reply: Outgoing) -> Result<(), BusError> {
        self.responder.respond(reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_header_again_replaces_it_in_place_whatever_its_case() {
        let mut h = Headers::new();
        h.set_msg_id("a").unwrap();
        h.append("x-b", "1").unwrap();
        h.append("nats-msg-id", "stray").unwrap();
        h.set_msg_id(String::from("b")).unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), [(MSG_ID, "b"), ("x-b", "1")]);
        h.insert("X-B", "2").unwrap();
        assert_eq!(h.get("x-b"), Some("2"));
        assert_eq!(h.len(), 2);
        // A copy is equal, with the bus's own names or with others.
        assert_eq!(h.clone(), h);
        h.set_trace_context("00-1-2-01", Some("k=v")).unwrap();
        assert_eq!(h.tracestate(), Some("k=v"));
        h.set_trace_context("00-1-2-01", None).unwrap();
        assert_eq!(h.tracestate(), None);
        assert_eq!(h.len(), 3);
    }
}
