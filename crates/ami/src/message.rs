//! AMI messages: an ordered multimap of headers over one text buffer, and the
//! kind of message it is.
//!
//! Keys repeat (`Output`, `Variable`, `ChanVariable`) and their order matters,
//! so a message is a list of spans over its text, never a map. Keys compare
//! case-insensitively because real Asterisk is inconsistent (`Uniqueid` vs
//! `UniqueID`, `BridgeId` vs `BridgeID`, `ChannelType` vs `Channeltype`).
//!
//! [`MessageRef`] borrows a buffer (zero copies, for hot paths and benches);
//! [`Message`] owns a reference-counted [`Bytes`] slice of the read buffer plus
//! its spans (one allocation for the spans, none for the text).

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::frame::HeaderSpan;

/// What a message is, from the headers Asterisk sends.
///
/// Classification reads `Event:` first: `OriginateResponse` and
/// `ChallengeResponseFailed` are events that carry a `Response:` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The `Asterisk Call Manager/x.y.z` line at the start of a connection.
    Banner,
    /// An unsolicited event.
    Event,
    /// The answer to an action.
    Response,
    /// An entry of an event list: it carries the action's `ActionID` and, unlike
    /// live events, no `Privilege` header (`DeviceStateList` answers with
    /// `Event: DeviceStateChange` items that look like live events otherwise).
    /// The one exception, `Status` items, carry a fixed `Privilege: Call`
    /// without the `all` class that every broadcast event's privilege names.
    ListItem,
    /// The event that closes an event list (`EventList: Complete`); its name
    /// differs for every action (`EndpointListComplete`, `PeerlistComplete`…).
    ListComplete,
    /// The answer to `Command`: modern `Output:` lines or the legacy
    /// `Response: Follows` body.
    CommandOutput,
}

impl MessageKind {
    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Banner => "banner",
            MessageKind::Event => "event",
            MessageKind::Response => "response",
            MessageKind::ListItem => "list_item",
            MessageKind::ListComplete => "list_complete",
            MessageKind::CommandOutput => "command_output",
        }
    }
}

/// What classification learns about a message besides its kind: where its
/// name and its ActionID are. Every consumer asks for both (the client to
/// route answers, the ingestor to tell resync entries from live events, the
/// normalizer for the name); looked up by key each time they were 3% of the
/// ingestor's CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Known {
    /// The value span of `Event:` (events) or `Response:` (answers).
    name: Option<(u32, u32)>,
    action_id: Option<(u32, u32)>,
}

/// What a message is, from its headers (see [`MessageKind`]). Works on bytes:
/// an owned message is classified without validating its UTF-8 again.
fn classify(text: &[u8], spans: &[HeaderSpan], body: Option<(u32, u32)>) -> (MessageKind, Known) {
    let h = ClassifyingHeaders::read(text, spans);
    let value = |span: Option<(u32, u32)>| span.map(|(a, b)| &text[a as usize..b as usize]);
    let kind = if h.event.is_some() {
        if value(h.event_list).is_some_and(|v| v.eq_ignore_ascii_case(b"Complete")) {
            MessageKind::ListComplete
        } else if h.action_id.is_some() && !value(h.privilege).is_some_and(is_broadcast_privilege) {
            MessageKind::ListItem
        } else {
            MessageKind::Event
        }
    } else if body.is_some() || h.output.is_some() {
        MessageKind::CommandOutput
    } else if h.response.is_some() {
        MessageKind::Response
    } else {
        // Neither Event nor Response: not something Asterisk sends. Treat it
        // as an event so a consumer sees it instead of losing it.
        MessageKind::Event
    };
    let name = match kind {
        MessageKind::Response | MessageKind::CommandOutput => h.response,
        _ => h.event,
    };
    let known = Known {
        name,
        action_id: h.action_id,
    };
    (kind, known)
}

/// The values classification looks at, found in one pass over the headers.
/// Classifying runs on every message; with one `get` per key it took a
/// quarter of the decoding time (benches/decode.rs). Each is what
/// [`MessageRef::get`] would return: the value of the first header with that
/// key (here as the span of that value).
#[derive(Default)]
struct ClassifyingHeaders {
    event: Option<(u32, u32)>,
    event_list: Option<(u32, u32)>,
    action_id: Option<(u32, u32)>,
    privilege: Option<(u32, u32)>,
    output: Option<(u32, u32)>,
    response: Option<(u32, u32)>,
}

impl ClassifyingHeaders {
    fn read(text: &[u8], spans: &[HeaderSpan]) -> Self {
        let mut found = ClassifyingHeaders::default();
        // Whether a key was seen, value or not: `get` stops at the first.
        let mut seen = 0u8;
        for span in spans {
            let key = &text[span.key.0 as usize..span.key.1 as usize];
            let (bit, slot) = match key.len() {
                5 if key.eq_ignore_ascii_case(b"Event") => (1, &mut found.event),
                6 if key.eq_ignore_ascii_case(b"Output") => (2, &mut found.output),
                8 if key.eq_ignore_ascii_case(b"ActionID") => (4, &mut found.action_id),
                8 if key.eq_ignore_ascii_case(b"Response") => (8, &mut found.response),
                9 if key.eq_ignore_ascii_case(b"EventList") => (16, &mut found.event_list),
                9 if key.eq_ignore_ascii_case(b"Privilege") => (32, &mut found.privilege),
                _ => continue,
            };
            if seen & bit == 0 {
                seen |= bit;
                *slot = span.value;
            }
        }
        found
    }
}

/// Whether a `Privilege` value is the class list of a broadcast event.
///
/// manager.c writes it with `authority_to_str`, which always ends in `all`
/// (`call,all`, `user,all`: `OriginateResponse` and `UserEvent` carry an
/// ActionID yet are broadcast events). Event-list items go to the asking session
/// only, with no Privilege, except `Status` items and their fixed
/// `Privilege: Call` (actions.ami, `mon-16-status`).
fn is_broadcast_privilege(privilege: &[u8]) -> bool {
    privilege
        .split(|&b| b == b',')
        .any(|class| class.trim_ascii().eq_ignore_ascii_case(b"all"))
}

/// A borrowed view of one message.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    text: &'a str,
    spans: &'a [HeaderSpan],
    body: Option<(u32, u32)>,
    kind: MessageKind,
    known: Known,
}

/// One header line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a str,
    /// `None` for a line without a colon (not valid AMI; kept, not invented).
    pub value: Option<&'a str>,
}

impl<'a> MessageRef<'a> {
    /// Builds a view over `text`, whose spans were found by the frame scanner.
    /// `text` must be the same bytes the spans index (checked in debug builds).
    pub fn new(text: &'a str, spans: &'a [HeaderSpan], body: Option<(u32, u32)>) -> Self {
        debug_assert!(spans.iter().all(|s| s.key.1 as usize <= text.len()));
        let (kind, known) = classify(text.as_bytes(), spans, body);
        MessageRef {
            text,
            spans,
            body,
            kind,
            known,
        }
    }

    /// A banner line.
    pub fn banner(text: &'a str) -> Self {
        MessageRef {
            text,
            spans: &[],
            body: None,
            kind: MessageKind::Banner,
            known: Known::default(),
        }
    }

    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The value of `Event:` or `Response:`, or the banner text.
    pub fn name(&self) -> &'a str {
        match self.kind {
            MessageKind::Banner => self.text,
            _ => self.value(self.known.name).unwrap_or_default(),
        }
    }

    fn value(&self, span: Option<(u32, u32)>) -> Option<&'a str> {
        span.map(|(a, b)| &self.text[a as usize..b as usize])
    }

    /// The first value of `key`, compared case-insensitively.
    ///
    /// Normalizing reads several headers of every event, so this compares
    /// the keys' bytes and slices out only the value it returns.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        let (text, key) = (self.text.as_bytes(), key.as_bytes());
        let span = self.spans.iter().find(|s| {
            let (a, b) = (s.key.0 as usize, s.key.1 as usize);
            b - a == key.len() && text[a..b].eq_ignore_ascii_case(key)
        })?;
        self.value(span.value)
    }

    /// Every value of `key`, in order.
    pub fn get_all<'k>(&self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.headers()
            .filter(move |h| h.key.eq_ignore_ascii_case(key))
            .filter_map(|h| h.value)
    }

    pub fn action_id(&self) -> Option<&'a str> {
        self.value(self.known.action_id)
    }

    /// Headers in their original order, repeats included.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + use<'a> {
        let (text, spans) = (self.text, self.spans);
        spans.iter().map(move |s| Header {
            key: &text[s.key.0 as usize..s.key.1 as usize],
            value: s.value.map(|(a, b)| &text[a as usize..b as usize]),
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The raw body of a legacy `Response: Follows` command output.
    pub fn legacy_body(&self) -> Option<&'a str> {
        self.body.map(|(a, b)| &self.text[a as usize..b as usize])
    }

    /// Lines of command output, from either framing.
    pub fn command_output(&self) -> Vec<&'a str> {
        match self.legacy_body() {
            Some(body) => body.lines().collect(),
            None => self.get_all("Output").collect(),
        }
    }

    /// True for `Response: Success` (and `Goodbye`, `Follows`), false for
    /// `Response: Error`.
    pub fn is_success(&self) -> bool {
        !self
            .get("Response")
            .is_some_and(|r| r.eq_ignore_ascii_case("Error"))
    }

    /// The wire text of the message, without its terminating blank line.
    pub fn as_text(&self) -> &'a str {
        self.text
    }

    pub fn to_owned_message(&self) -> Message {
        Message {
            text: ByteString::from(self.text),
            spans: self.spans.to_vec(),
            body: self.body,
            kind: self.kind,
            known: self.known,
            lossy: false,
            wire: None,
        }
    }
}

/// An owned message.
///
/// The text is guaranteed UTF-8: invalid bytes were replaced with U+FFFD when
/// it was decoded (and [`Message::is_lossy`] says so), never a panic.
#[derive(Clone)]
pub struct Message {
    /// UTF-8 by construction: validated once, then read as `&str` for free.
    text: ByteString,
    spans: Vec<HeaderSpan>,
    body: Option<(u32, u32)>,
    kind: MessageKind,
    known: Known,
    lossy: bool,
    /// The bytes as they arrived, terminating blank line included (a slice of
    /// the same read buffer as `text`: no copy). `None` for built messages.
    wire: Option<Bytes>,
}

/// Equal messages have the same text and structure, however they arrived.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
            && self.spans == other.spans
            && self.body == other.body
            && self.kind == other.kind
            && self.lossy == other.lossy
    }
}

impl Eq for Message {}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("text", &self.as_ref().as_text())
            .finish()
    }
}

impl Message {
    /// Builds from text already checked to be UTF-8 and spans found over it.
    pub(crate) fn from_parts(
        text: ByteString,
        spans: Vec<HeaderSpan>,
        body: Option<(u32, u32)>,
        lossy: bool,
    ) -> Self {
        let (kind, known) = classify(text.as_bytes(), &spans, body);
        Message {
            text,
            spans,
            body,
            kind,
            known,
            lossy,
            wire: None,
        }
    }

    /// Remembers the bytes the message was decoded from.
    pub(crate) fn with_wire(mut self, wire: Bytes) -> Self {
        self.wire = Some(wire);
        self
    }

    /// The message as it came off the wire, byte for byte (invalid UTF-8 and
    /// bare LFs included, terminating blank line included): what a raw AMI log
    /// keeps. A message built in memory is encoded instead.
    pub fn wire(&self) -> Bytes {
        self.wire.clone().unwrap_or_else(|| self.to_bytes())
    }

    pub(crate) fn banner(text: ByteString, lossy: bool) -> Self {
        Message {
            text,
            spans: Vec::new(),
            body: None,
            kind: MessageKind::Banner,
            known: Known::default(),
            lossy,
            wire: None,
        }
    }

    /// Builds a message from headers, for servers (the simulator) and tests.
    ///
    /// # Errors
    /// A key or value containing CR or LF, or a key containing `:`, would change
    /// the message's framing; it is refused.
    pub fn from_headers<K, V>(
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, crate::action::ActionError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut b = MessageBuilder::default();
        for (k, v) in headers {
            b.header(k.as_ref(), v.as_ref())?;
        }
        Ok(b.build())
    }

    /// A borrowed view with all the accessors.
    pub fn as_ref(&self) -> MessageRef<'_> {
        MessageRef {
            text: &self.text,
            spans: &self.spans,
            body: self.body,
            kind: self.kind,
            known: self.known,
        }
    }

    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        self.as_ref().name()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.as_ref().get(key)
    }

    pub fn get_all<'k>(&'k self, key: &'k str) -> impl Iterator<Item = &'k str> + 'k {
        self.as_ref().get_all(key)
    }

    pub fn action_id(&self) -> Option<&str> {
        self.as_ref().action_id()
    }

    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.as_ref().headers()
    }

    pub fn is_success(&self) -> bool {
        self.as_ref().is_success()
    }

    pub fn command_output(&self) -> Vec<&str> {
        self.as_ref().command_output()
    }

    pub fn legacy_body(&self) -> Option<&str> {
        self.as_ref().legacy_body()
    }

    /// True when the bytes on the wire were not valid UTF-8 and were replaced.
    pub fn is_lossy(&self) -> bool {
        self.lossy
    }

    /// The message text as it was received (without the terminating blank line).
    pub fn as_text(&self) -> &str {
        &self.text
    }

    /// Writes the message in wire form, terminating blank line included. A
    /// banner is written as its single line.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        match self.kind {
            MessageKind::Banner => {
                dst.reserve(self.text.len() + 2);
                dst.put_slice(self.text.as_bytes());
                dst.put_slice(b"\r\n");
            }
            _ => {
                dst.reserve(self.text.len() + 64);
                if let Some(body) = self.legacy_body() {
                    // Legacy framing: headers, raw body, trailer.
                    for h in self.headers() {
                        put_line(dst, h);
                    }
                    dst.put_slice(body.as_bytes());
                    dst.put_slice(crate::frame::END_COMMAND);
                    dst.put_slice(b"\r\n\r\n");
                } else {
                    for h in self.headers() {
                        put_line(dst, h);
                    }
                    dst.put_slice(b"\r\n");
                }
            }
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode_into(&mut b);
        b.freeze()
    }
}

fn put_line(dst: &mut BytesMut, h: Header<'_>) {
    dst.put_slice(h.key.as_bytes());
    if let Some(v) = h.value {
        dst.put_slice(b": ");
        dst.put_slice(v.as_bytes());
    }
    dst.put_slice(b"\r\n");
}

/// Builds an owned [`Message`] header by header.
#[derive(Debug, Default)]
pub struct MessageBuilder {
    text: String,
    spans: Vec<HeaderSpan>,
}

impl MessageBuilder {
    /// Appends `key: value`.
    ///
    /// # Errors
    /// Refuses CR/LF anywhere and `:` in the key (header injection).
    pub fn header(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<&mut Self, crate::action::ActionError> {
        crate::action::check_header(key, value)?;
        let ks = self.text.len();
        self.text.push_str(key);
        let ke = self.text.len();
        self.text.push_str(": ");
        let vs = self.text.len();
        self.text.push_str(value);
        let ve = self.text.len();
        self.text.push_str("\r\n");
        self.spans.push(HeaderSpan {
            key: (ks as u32, ke as u32),
            value: Some((vs as u32, ve as u32)),
        });
        Ok(self)
    }

    pub fn build(self) -> Message {
        let MessageBuilder { mut text, spans } = self;
        // Spans index into the text; the trailing CRLF of the last line is not
        // part of the message text (as when decoding).
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        }
        Message::from_parts(ByteString::from(text), spans, None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: &[(&str, &str)]) -> Message {
        Message::from_headers(headers.iter().copied()).unwrap()
    }

    #[test]
    fn events_carrying_a_response_header_are_events() {
        let m = msg(&[
            ("Event", "OriginateResponse"),
            ("Privilege", "call,all"),
            ("ActionID", "a1"),
            ("Response", "Failure"),
        ]);
        assert_eq!(m.kind(), MessageKind::Event);
        assert_eq!(m.name(), "OriginateResponse");
    }

    #[test]
    fn list_items_have_an_action_id_and_no_privilege() {
        let item = msg(&[
            ("Event", "DeviceStateChange"),
            ("ActionID", "a"),
            ("Device", "PJSIP/1001"),
        ]);
        assert_eq!(item.kind(), MessageKind::ListItem);
        let live = msg(&[
            ("Event", "DeviceStateChange"),
            ("Privilege", "call,all"),
            ("Device", "PJSIP/1001"),
        ]);
        assert_eq!(live.kind(), MessageKind::Event);
        let done = msg(&[
            ("Event", "PeerlistComplete"),
            ("ActionID", "a"),
            ("EventList", "Complete"),
        ]);
        assert_eq!(done.kind(), MessageKind::ListComplete);
    }

    #[test]
    fn status_items_with_their_fixed_privilege_are_list_items() {
        // Abridged from actions.ami (mon-16-status): ActionID comes last.
        let item = msg(&[
            ("Event", "Status"),
            ("Privilege", "Call"),
            ("Channel", "PJSIP/1004-00000014"),
            ("ActionID", "mon-16-status"),
        ]);
        assert_eq!(item.kind(), MessageKind::ListItem);
        let broadcast = msg(&[
            ("Event", "UserEvent"),
            ("Privilege", "user,all"),
            ("ActionID", "mon-43-userevent"),
        ]);
        assert_eq!(broadcast.kind(), MessageKind::Event);
    }

    #[test]
    fn keys_match_case_insensitively_and_repeats_keep_their_order() {
        let m = msg(&[
            ("Event", "Cdr"),
            ("UniqueID", "1.2"),
            ("Variable", "a=1"),
            ("Variable", "b=2"),
        ]);
        assert_eq!(m.get("Uniqueid"), Some("1.2"));
        assert_eq!(m.get_all("variable").collect::<Vec<_>>(), ["a=1", "b=2"]);
    }

    #[test]
    fn modern_command_output_is_its_output_lines() {
        let m = msg(&[
            ("Response", "Success"),
            ("Message", "Command output follows"),
            ("Output", "line 1"),
            ("Output", ""),
            ("Output", "line 3"),
        ]);
        assert_eq!(m.kind(), MessageKind::CommandOutput);
        assert_eq!(m.command_output(), ["line 1", "", "line 3"]);
    }

    #[test]
    fn builder_refuses_header_injection() {
        assert!(Message::from_headers([("Event", "X\r\nAction: Originate")]).is_err());
        assert!(Message::from_headers([("Ev:ent", "X")]).is_err());
    }
}
