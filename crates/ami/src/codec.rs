//! The tokio-util codec: read buffer → [`Message`]s, and actions/messages → bytes.
//!
//! Per-message problems (a message over the size cap) are *items*
//! (`Err(DecodeError)`) rather than stream errors: tokio-util ends a framed
//! stream after its first error, and one bad message must not cost the
//! connection. Only I/O errors end the stream.
//!
//! Memory is bounded by the per-message cap, not by the buffer: once a message
//! passes the cap the codec reports it, then discards bytes as they arrive
//! until the next blank line, keeping at most two bytes of look-behind.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::action::Action;
use crate::frame::{self, Scan, Scanner};
use crate::message::{Message, MessageRef};

/// Default per-message size cap: 1 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 20;

/// A message that could not be decoded; the stream goes on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message grew past the configured cap; its bytes up to the next
    /// message boundary are discarded.
    #[error(
        "message at byte {offset} exceeds the {limit}-byte limit; skipping to the next message"
    )]
    MessageTooLarge { offset: u64, limit: usize },
}

/// Counters a caller can export as metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    pub messages: u64,
    /// Messages that contained invalid UTF-8 (replaced with U+FFFD).
    pub lossy: u64,
    pub oversized: u64,
    /// Bytes consumed from the stream so far.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a connection: the first line may be the banner.
    ExpectBanner,
    Messages,
    /// Dropping an oversized message until the next blank line.
    Discarding {
        /// Whether the last dropped byte ended a line, so a blank line that
        /// straddles two reads is still found.
        at_line_start: bool,
    },
}

/// AMI decoder/encoder.
#[derive(Debug)]
pub struct AmiCodec {
    max_message: usize,
    state: State,
    scanner: Scanner,
    stats: DecodeStats,
}

impl Default for AmiCodec {
    fn default() -> Self {
        AmiCodec::new()
    }
}

impl AmiCodec {
    /// A client-side codec: expects the banner first.
    pub fn new() -> Self {
        AmiCodec {
            max_message: DEFAULT_MAX_MESSAGE,
            state: State::ExpectBanner,
            scanner: Scanner::default(),
            stats: DecodeStats::default(),
        }
    }

    /// A codec for a stream with no banner (a server reading actions).
    pub fn without_banner() -> Self {
        AmiCodec {
            state: State::Messages,
            ..AmiCodec::new()
        }
    }

    /// Sets the per-message cap in bytes.
    pub fn with_max_message(mut self, max: usize) -> Self {
        self.max_message = max.max(64);
        self
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    fn consume(&mut self, src: &mut BytesMut, n: usize) {
        src.advance(n);
        self.stats.bytes += n as u64;
    }

    fn decode_banner(&mut self, src: &mut BytesMut) -> Option<Message> {
        match frame::scan_banner(src) {
            Ok(Some((end, consumed))) => {
                let wire = src.split_to(consumed).freeze();
                let line = wire.slice(..end);
                self.stats.bytes += consumed as u64;
                self.state = State::Messages;
                self.stats.messages += 1;
                let (text, lossy) = utf8_or_lossy(line);
                if lossy {
                    self.stats.lossy += 1;
                }
                Some(Message::banner(text, lossy).with_wire(wire))
            }
            Ok(None) => None,
            Err(()) => {
                self.state = State::Messages;
                None
            }
        }
    }

    /// Drops bytes until the end of a blank line; true once found.
    fn discard(&mut self, src: &mut BytesMut, at_line_start: bool) -> bool {
        // A blank line may straddle reads: when the last dropped byte ended a
        // line, a leading "\n" or "\r\n" completes it.
        if at_line_start {
            match &src[..] {
                [b'\n', ..] => {
                    self.consume(src, 1);
                    return true;
                }
                [b'\r', b'\n', ..] => {
                    self.consume(src, 2);
                    return true;
                }
                [b'\r'] | [] => return false,
                _ => {}
            }
        }
        if let Some(end) = frame::find_message_end(src) {
            self.consume(src, end);
            return true;
        }
        // Keep nothing but the knowledge of whether we stopped at a line end.
        let keep = match &src[..] {
            [.., b'\n', b'\r'] => 1,
            _ => 0,
        };
        let ends_line = src.last() == Some(&b'\n');
        let drop = src.len() - keep;
        self.consume(src, drop);
        self.state = State::Discarding {
            at_line_start: ends_line || keep == 1,
        };
        false
    }
}

impl Decoder for AmiCodec {
    type Item = Result<Message, DecodeError>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        loop {
            match self.state {
                State::Discarding { at_line_start } => {
                    if !self.discard(src, at_line_start) {
                        return Ok(None);
                    }
                    self.state = State::Messages;
                }
                State::ExpectBanner => {
                    if let Some(banner) = self.decode_banner(src) {
                        return Ok(Some(Ok(banner)));
                    }
                    if self.state == State::ExpectBanner {
                        if src.len() > self.max_message {
                            // A "banner" with no newline in a megabyte: not AMI.
                            self.state = State::Messages;
                        } else {
                            return Ok(None);
                        }
                    }
                }
                State::Messages => {
                    if self.scanner.examined() == 0 {
                        let blank = frame::skip_blank_lines(src);
                        if blank > 0 {
                            self.consume(src, blank);
                        }
                    }
                    match self.scanner.scan(src) {
                        Scan::Complete {
                            text_end,
                            consumed,
                            body,
                        } => {
                            if text_end > self.max_message {
                                // Whole but too big (it arrived in one read):
                                // drop exactly this message.
                                let offset = self.stats.bytes;
                                self.scanner.reset();
                                self.consume(src, consumed);
                                self.stats.oversized += 1;
                                return Ok(Some(Err(DecodeError::MessageTooLarge {
                                    offset,
                                    limit: self.max_message,
                                })));
                            }
                            // An exact-size copy for the message; the
                            // scanner keeps its buffer for the next one.
                            let spans = self.scanner.spans().to_vec();
                            self.scanner.reset();
                            let wire = src.split_to(consumed).freeze();
                            let text = wire.slice(..text_end);
                            self.stats.bytes += consumed as u64;
                            self.stats.messages += 1;
                            return Ok(Some(Ok(self.finish(text, spans, body).with_wire(wire))));
                        }
                        Scan::Incomplete => {
                            if src.len() > self.max_message {
                                return Ok(Some(Err(self.too_large(src))));
                            }
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decode(buf)? {
            Some(item) => Ok(Some(item)),
            None => {
                // Trailing blank lines or the tail of a discarded message are
                // not an error; a partial message is a connection reset.
                let blank = frame::skip_blank_lines(buf);
                self.consume(buf, blank);
                if buf.is_empty() || matches!(self.state, State::Discarding { .. }) {
                    // The look-behind byte a discard may keep is consumed
                    // too, so `stats().bytes` ends equal to the stream length.
                    let rest = buf.len();
                    self.consume(buf, rest);
                    Ok(None)
                } else {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "stream ended inside a message ({} bytes unterminated at byte {})",
                            buf.len(),
                            self.stats.bytes
                        ),
                    ))
                }
            }
        }
    }
}

impl AmiCodec {
    fn too_large(&mut self, src: &mut BytesMut) -> DecodeError {
        let offset = self.stats.bytes;
        self.scanner.reset();
        self.stats.oversized += 1;
        self.state = State::Discarding {
            at_line_start: false,
        };
        // Drop what we have already (everything up to a possible boundary is
        // part of the oversized message); `discard` keeps scanning later reads.
        if self.discard(src, false) {
            self.state = State::Messages;
        }
        DecodeError::MessageTooLarge {
            offset,
            limit: self.max_message,
        }
    }

    fn finish(
        &mut self,
        text: bytes::Bytes,
        spans: Vec<frame::HeaderSpan>,
        body: Option<(u32, u32)>,
    ) -> Message {
        // The one UTF-8 check of the message's life (the clone is a refcount).
        if let Ok(valid) = bytestring::ByteString::try_from(text.clone()) {
            return Message::from_parts(valid, spans, body, false);
        }
        // Invalid UTF-8: replace, then re-scan the replaced text (U+FFFD has a
        // different length than the bytes it replaces, so old spans are stale).
        self.stats.lossy += 1;
        let fixed = String::from_utf8_lossy(&text).into_owned();
        let mut scanner = Scanner::default();
        let mut wire = fixed.into_bytes();
        wire.extend_from_slice(b"\r\n\r\n");
        match scanner.scan(&wire) {
            Scan::Complete { text_end, body, .. } => {
                wire.truncate(text_end);
                Message::from_parts(lossy_text(wire), scanner.take_spans(), body, true)
            }
            // Cannot happen: we appended a blank line. Keep the data anyway.
            Scan::Incomplete => Message::from_parts(lossy_text(wire), Vec::new(), None, true),
        }
    }
}

fn utf8_or_lossy(b: bytes::Bytes) -> (bytestring::ByteString, bool) {
    match bytestring::ByteString::try_from(b.clone()) {
        Ok(text) => (text, false),
        Err(_) => (
            bytestring::ByteString::from(String::from_utf8_lossy(&b).into_owned()),
            true,
        ),
    }
}

/// Text produced by `String::from_utf8_lossy`, hence UTF-8.
fn lossy_text(wire: Vec<u8>) -> bytestring::ByteString {
    bytestring::ByteString::from(
        String::from_utf8(wire)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

impl Encoder<&Action> for AmiCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &Action, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.encode_into(dst);
        Ok(())
    }
}

impl Encoder<&Message> for AmiCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.encode_into(dst);
        Ok(())
    }
}

/// What [`read_frames`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramesRead {
    /// Whole messages read (each one given to the caller).
    pub messages: usize,
    /// Bytes after the last whole message: a frame cut short, not read.
    pub trailing: usize,
}

/// Reads AMI frames stored back to back, exactly as a PBX sent them (the
/// ingestor stores the frames of one read burst as one `ami.raw` message),
/// without copying them: `f` sees each message borrowed, in order. As at the
/// start of a connection, a first line without a colon is the banner.
///
/// The frames were split off the PBX's stream by this crate's scanner, so
/// scanning their concatenation again splits it at the same places: no
/// separator or length prefix is needed, and a message holding one frame is
/// read the same way.
///
/// A message that is not valid UTF-8 (rare: `MessageRef` is text) is decoded
/// into a copy with the invalid bytes replaced, as [`AmiCodec`] does.
pub fn read_frames(bytes: &[u8], mut f: impl FnMut(MessageRef<'_>)) -> FramesRead {
    let mut read = FramesRead::default();
    let mut at = frame::skip_blank_lines(bytes);
    if let Ok(Some((end, consumed))) = frame::scan_banner(&bytes[at..]) {
        f(MessageRef::banner(&String::from_utf8_lossy(
            &bytes[at..at + end],
        )));
        read.messages += 1;
        at += consumed;
    }
    let mut scanner = Scanner::default();
    loop {
        at += frame::skip_blank_lines(&bytes[at..]);
        let rest = &bytes[at..];
        if rest.is_empty() {
            break;
        }
        let Scan::Complete {
            text_end,
            consumed,
            body,
        } = scanner.scan(rest)
        else {
            break;
        };
        match std::str::from_utf8(&rest[..text_end]) {
            Ok(text) => f(MessageRef::new(text, scanner.spans(), body)),
            Err(_) => {
                let mut copy = BytesMut::from(&rest[..consumed]);
                if let Ok(Some(Ok(message))) = AmiCodec::without_banner().decode_eof(&mut copy) {
                    f(message.as_ref());
                }
            }
        }
        scanner.reset();
        read.messages += 1;
        at += consumed;
    }
    read.trailing = bytes.len() - at;
    read
}

/// Decodes a whole byte stream (a recorded transcript) in one go.
///
/// Returns every item in order; a trailing partial message is reported as the
/// last `Err` with its offset.
pub fn decode_all(bytes: &[u8]) -> (Vec<Result<Message, DecodeError>>, Option<std::io::Error>) {
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(item)) => out.push(item),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageKind;

    fn feed(
        codec: &mut AmiCodec,
        buf: &mut BytesMut,
        bytes: &[u8],
    ) -> Vec<Result<Message, DecodeError>> {
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn banner_glued_to_the_first_response_is_two_messages() {
        let (items, err) =
            decode_all(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n");
        assert!(err.is_none());
        let items: Vec<_> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(items[0].kind(), MessageKind::Banner);
        assert_eq!(items[0].name(), "Asterisk Call Manager/11.0.0");
        assert_eq!(items[1].kind(), MessageKind::Response);
        assert_eq!(items[1].get("Message"), Some("Authentication accepted"));
    }

    #[test]
    fn oversized_frame_is_rejected_and_the_next_frame_still_decodes() {
        let mut codec = AmiCodec::without_banner().with_max_message(100);
        let mut buf = BytesMut::new();
        let big = format!("Event: Big\r\nData: {}\r\n", "x".repeat(300));
        // Arrives in pieces, the blank line split across reads.
        let mut out = feed(&mut codec, &mut buf, big.as_bytes());
        out.extend(feed(&mut codec, &mut buf, b"\r"));
        out.extend(feed(&mut codec, &mut buf, b"\nEvent: Small\r\n\r\n"));
        assert!(matches!(
            out[0],
            Err(DecodeError::MessageTooLarge { limit: 100, .. })
        ));
        assert_eq!(out[1].as_ref().unwrap().name(), "Small");
        assert_eq!(out.len(), 2);
        assert_eq!(codec.stats().oversized, 1);
        // Memory stayed bounded: nothing of the big message is buffered.
        assert!(buf.is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted_not_a_panic() {
        let (items, err) = decode_all(b"Event: X\r\nCallerIDName: Jo\xe3o\xff\r\n\r\n");
        assert!(err.is_none());
        let m = items[0].as_ref().unwrap();
        assert!(m.is_lossy());
        assert_eq!(m.get("CallerIDName"), Some("Jo\u{fffd}o\u{fffd}"));
    }

    #[test]
    fn a_stream_cut_inside_a_message_is_an_unexpected_eof() {
        let (items, err) =
            decode_all(b"Asterisk Call Manager/11.0.0\r\nEvent: Hangup\r\nChannel: PJ");
        assert_eq!(items.len(), 1);
        assert_eq!(err.unwrap().kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn wire_bytes_are_the_received_bytes_exactly() {
        let input: &[u8] = b"Asterisk Call Manager/11.0.0\r\nResponse: Error\r\nMessage: No Contacts found\n\r\n\r\nEvent: X\r\nName: Jo\xe3o\r\n\r\n";
        let (items, err) = decode_all(input);
        assert!(err.is_none());
        let wires: Vec<_> = items.iter().map(|m| m.as_ref().unwrap().wire()).collect();
        assert_eq!(&wires[0][..], b"Asterisk Call Manager/11.0.0\r\n");
        assert_eq!(
            &wires[1][..],
            b"Response: Error\r\nMessage: No Contacts found\n\r\n"
        );
        // The lossy message keeps its original bytes on the wire side.
        assert_eq!(&wires[2][..], b"Event: X\r\nName: Jo\xe3o\r\n\r\n");
        assert!(items[2].as_ref().unwrap().is_lossy());
    }

    #[test]
    fn a_stream_without_banner_decodes_from_its_first_header() {
        let (items, _) = decode_all(b"Event: A\r\n\r\nEvent: B\n\n");
        let names: Vec<_> = items
            .iter()
            .map(|m| m.as_ref().unwrap().name().to_owned())
            .collect();
        assert_eq!(names, ["A", "B"]);
    }
}
