//! Building AMI messages the way manager.c writes them.
//!
//! [`Msg`] collects headers in order (keys repeat: `Output`, `Variable`) and
//! becomes a [`Message`] through the protocol crate's builder, which refuses
//! CR/LF, so no value taken from a client can inject a header. The response
//! helpers follow `astman_send_response_full`: `Response`, then `ActionID` only
//! when the request had one (corpus README item 11), then `EventList`, then
//! `Message`.

use std::borrow::Cow;

use bytes::Bytes;
use ringside_ami::{Message, MessageBuilder};

/// Headers of one message being built.
#[derive(Debug, Default, Clone)]
pub(crate) struct Msg {
    headers: Vec<(Cow<'static, str>, String)>,
}

impl Msg {
    pub(crate) fn new() -> Self {
        Msg::default()
    }

    /// Appends a header (builder style).
    pub(crate) fn h(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.push(key, value);
        self
    }

    /// Appends a header.
    pub(crate) fn push(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        self.headers.push((key.into(), value.into()));
    }

    /// Appends `ActionID` when the request carried one.
    pub(crate) fn aid(mut self, action_id: Option<&str>) -> Self {
        if let Some(id) = action_id {
            self.push("ActionID", id);
        }
        self
    }

    /// The finished message. A header that would break the framing (CR/LF in a
    /// value, which no parsed request can carry) is dropped rather than sent.
    pub(crate) fn build(&self) -> Message {
        let mut b = MessageBuilder::default();
        for (k, v) in &self.headers {
            if b.header(k, v).is_err() {
                tracing::warn!(header = %k, "dropping a header that would break AMI framing");
            }
        }
        b.build()
    }

    pub(crate) fn to_bytes(&self) -> Bytes {
        self.build().to_bytes()
    }
}

/// `Response: <kind>` with the request's ActionID.
pub(crate) fn response(kind: &str, action_id: Option<&str>) -> Msg {
    Msg::new().h("Response", kind).aid(action_id)
}

/// `Response: Success` + `Message: <text>`.
pub(crate) fn ack(action_id: Option<&str>, message: &str) -> Msg {
    response("Success", action_id).h("Message", message)
}

/// `Response: Error` + `Message: <text>`.
pub(crate) fn error(action_id: Option<&str>, message: &str) -> Msg {
    response("Error", action_id).h("Message", message)
}

/// The start of an event list: `EventList: start` then the message.
pub(crate) fn list_ack(action_id: Option<&str>, message: &str) -> Msg {
    response("Success", action_id)
        .h("EventList", "start")
        .h("Message", message)
}

/// The `...Complete` event that closes an event list.
pub(crate) fn list_complete(name: &'static str, action_id: Option<&str>, items: usize) -> Msg {
    Msg::new()
        .h("Event", name)
        .aid(action_id)
        .h("EventList", "Complete")
        .h("ListItems", items.to_string())
}

/// The answer to an action Asterisk does not have (`SIPpeers` in 22, typos).
pub(crate) fn unknown_action(action_id: Option<&str>, action: &str) -> Msg {
    error(
        action_id,
        &format!(
            "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
        ),
    )
}

/// Raw bytes of `Response: Error` / `No Contacts found` exactly as Asterisk 22
/// writes them: a bare `\n` ends the Message value, then two CRLFs
/// (boot-and-sync.ami). [`Msg`] cannot express it, by design.
pub(crate) fn no_contacts_found(action_id: Option<&str>) -> Bytes {
    let mut s = String::from("Response: Error\r\n");
    if let Some(id) = action_id.filter(|id| !id.contains(['\r', '\n'])) {
        s.push_str("ActionID: ");
        s.push_str(id);
        s.push_str("\r\n");
    }
    s.push_str("Message: No Contacts found\n\r\n\r\n");
    Bytes::from(s)
}
