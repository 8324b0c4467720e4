//! Bytes → message boundaries and header spans, without allocating per header.
//!
//! An AMI message is a block of `Key: Value` lines ended by an empty line. Real
//! Asterisk mostly ends lines with CRLF, but not always: the error answer to
//! `PJSIPShowContacts` carries `No Contacts found\n\r\n\r\n`, a bare LF inside
//! the value. So a line ends at `\n`, a trailing `\r` is not part of it, and a
//! message ends at the first line that is empty after that. Blank lines between
//! messages are skipped.
//!
//! The scanner is resumable: [`Scanner`] remembers how far it got and the header
//! spans found so far, so a large message that arrives in many TCP reads is
//! scanned once, not once per read. "Incomplete" is a normal answer, never an
//! error.
//!
//! Two framings are not blank-line terminated in the usual way:
//! * the banner (`Asterisk Call Manager/11.0.0`), a single line with no blank
//!   line after it, sent once at the start of a connection;
//! * the legacy command output of Asterisk ≤ 13 (`Response: Follows`, then raw
//!   text that may contain blank lines, then `--END COMMAND--`).

use memchr::{memchr, memchr_iter, memmem};

/// Where a header's key and value lie inside the message text.
///
/// Offsets are relative to the start of the message. A line without a colon
/// (not valid AMI, but seen from broken peers) is kept as a key with no value,
/// so nothing is invented and re-encoding gives back the same line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpan {
    pub key: (u32, u32),
    pub value: Option<(u32, u32)>,
}

/// What [`Scanner::scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A whole message: its text is `buf[..text_end]` and the next message
    /// starts at `consumed` (after the terminating blank line).
    Complete {
        text_end: usize,
        consumed: usize,
        /// Raw body of a legacy `Response: Follows` command output.
        body: Option<(u32, u32)>,
    },
    /// More bytes are needed; nothing was consumed.
    Incomplete,
}

/// The legacy command-output trailer written by Asterisk 1.x–13.
pub const END_COMMAND: &[u8] = b"--END COMMAND--";

/// Resumable scan state for one message at the start of a buffer.
///
/// The buffer given to successive calls must start at the same message and may
/// only grow at the end (what a `BytesMut` read buffer does between reads).
#[derive(Debug, Default)]
pub struct Scanner {
    /// Offset of the first line not yet examined.
    offset: usize,
    /// Header spans found so far for the current message.
    spans: Vec<HeaderSpan>,
    /// `Some(body_start)` once the message is known to be a legacy
    /// `Response: Follows` with its raw body starting at `body_start`.
    legacy_body: Option<usize>,
}

impl Scanner {
    /// How many bytes of the current message have been examined.
    pub fn examined(&self) -> usize {
        self.offset
    }

    /// Forgets the current message (after it was taken or discarded).
    pub fn reset(&mut self) {
        self.offset = 0;
        self.spans.clear();
        self.legacy_body = None;
    }

    /// Hands over the spans of the message that [`Scan::Complete`] reported,
    /// leaving the scanner ready for the next one.
    pub fn take_spans(&mut self) -> Vec<HeaderSpan> {
        let spans = std::mem::replace(&mut self.spans, Vec::with_capacity(16));
        self.reset();
        spans
    }

    /// The header spans found so far; once [`Scanner::scan`] reported
    /// [`Scan::Complete`], those of the whole message. Borrowing them (then
    /// [`Scanner::reset`]) instead of [`Scanner::take_spans`] decodes with no
    /// allocation at all.
    pub fn spans(&self) -> &[HeaderSpan] {
        &self.spans
    }

    /// Scans `buf`, which starts at a message's first line (leading blank lines
    /// already skipped, see [`skip_blank_lines`]).
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        if let Some(body_start) = self.legacy_body {
            return self.scan_legacy_body(buf, body_start);
        }
        if self
            .spans
            .first()
            .is_some_and(|&first| is_legacy_follows(buf, first))
        {
            // Resuming a `Response: Follows` whose header lines were still
            // arriving: stay in the legacy framing.
            return self.scan_legacy_headers(buf);
        }
        let mut line_start = self.offset;
        loop {
            // The line's first ':' (if any) and its '\n', found in one pass.
            // This is the decoder's hot loop (see benches/decode.rs).
            let Some((colon, nl)) = split_line(&buf[line_start..]) else {
                return Scan::Incomplete;
            };
            let (colon, nl) = (colon.map(|c| line_start + c), line_start + nl);
            let mut line_end = nl;
            if line_end > line_start && buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            if line_end == line_start {
                // Empty line: the message ends here.
                return Scan::Complete {
                    text_end: line_start,
                    consumed: nl + 1,
                    body: None,
                };
            }
            self.spans
                .push(header_span(buf, line_start, colon, line_end));
            line_start = nl + 1;
            self.offset = line_start;
            if self.spans.len() == 1 && is_legacy_follows(buf, self.spans[0]) {
                return self.scan_legacy_headers(buf);
            }
        }
    }

    fn push_header(&mut self, buf: &[u8], start: usize, end: usize) {
        let colon = memchr(b':', &buf[start..end]).map(|c| start + c);
        self.spans.push(header_span(buf, start, colon, end));
    }

    /// After `Response: Follows`, Asterisk writes `Privilege` and `ActionID`
    /// headers and then the raw command output. Anything else starts the body.
    fn scan_legacy_headers(&mut self, buf: &[u8]) -> Scan {
        loop {
            let line_start = self.offset;
            let Some(nl) = memchr(b'\n', &buf[line_start..]) else {
                return Scan::Incomplete;
            };
            let mut line_end = line_start + nl;
            if line_end > line_start && buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            let line = &buf[line_start..line_end];
            let is_header = memchr(b':', line).is_some_and(|c| {
                let key = &line[..c];
                key.eq_ignore_ascii_case(b"Privilege") || key.eq_ignore_ascii_case(b"ActionID")
            });
            if !is_header {
                self.legacy_body = Some(line_start);
                return self.scan_legacy_body(buf, line_start);
            }
            self.push_header(buf, line_start, line_end);
            self.offset = line_start + nl + 1;
        }
    }

    fn scan_legacy_body(&mut self, buf: &[u8], body_start: usize) -> Scan {
        // Resume a little before where we stopped, in case the trailer was
        // split across reads.
        let from = self
            .offset
            .saturating_sub(END_COMMAND.len())
            .max(body_start);
        let Some(pos) = memmem::find(&buf[from..], END_COMMAND) else {
            self.offset = buf.len();
            return Scan::Incomplete;
        };
        let trailer = from + pos;
        // The trailer line, then a blank line.
        let after = trailer + END_COMMAND.len();
        let Some(end) = find_blank_line_after(buf, after) else {
            self.offset = trailer;
            return Scan::Incomplete;
        };
        Scan::Complete {
            text_end: trailer + END_COMMAND.len(),
            consumed: end,
            body: Some((body_start as u32, trailer as u32)),
        }
    }
}

/// Splits the line at the start of `hay`: the index of its first ':' (if it
/// has one) and of its terminating '\n'; `None` while the '\n' has not
/// arrived.
///
/// Lines are short (~25 bytes in real traffic), so this works eight bytes at
/// a time in plain integer arithmetic (SWAR): safe, portable, and without the
/// per-call setup that made two `memchr` calls per line the bulk of decoding.
#[inline]
fn split_line(hay: &[u8]) -> Option<(Option<usize>, usize)> {
    let mut colon = None;
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let nl = byte_positions(word, b'\n');
        if colon.is_none() {
            let colons = byte_positions(word, b':');
            // A colon after the '\n' belongs to the next line.
            if colons != 0 && (nl == 0 || colons.trailing_zeros() < nl.trailing_zeros()) {
                colon = Some(base + first_byte(colons));
            }
        }
        if nl != 0 {
            return Some((colon, base + first_byte(nl)));
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        match b {
            b'\n' => return Some((colon, base + i)),
            b':' if colon.is_none() => colon = Some(base + i),
            _ => {}
        }
    }
    None
}

/// The high bit of each byte of `word` that equals `byte`, and no other bit.
/// Exact: no carry crosses a byte, so there are no false positives.
#[inline(always)]
fn byte_positions(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Index of the first marked byte of a little-endian-loaded word.
#[inline(always)]
fn first_byte(positions: u64) -> usize {
    (positions.trailing_zeros() / 8) as usize
}

/// The span of the header line `buf[start..end]` whose first colon, if any,
/// is at `colon`.
fn header_span(buf: &[u8], start: usize, colon: Option<usize>, end: usize) -> HeaderSpan {
    match colon {
        Some(colon) => {
            // Asterisk writes "Key: Value"; exactly one space after the colon
            // belongs to the syntax. Further spaces are the value's own
            // (`Value:   minrxlost=...` in RTP QoS variables).
            let mut vstart = colon + 1;
            if vstart < end && buf[vstart] == b' ' {
                vstart += 1;
            }
            HeaderSpan {
                key: (start as u32, colon as u32),
                value: Some((vstart as u32, end as u32)),
            }
        }
        None => HeaderSpan {
            key: (start as u32, end as u32),
            value: None,
        },
    }
}

fn is_legacy_follows(buf: &[u8], first: HeaderSpan) -> bool {
    let key = &buf[first.key.0 as usize..first.key.1 as usize];
    let Some((vs, ve)) = first.value else {
        return false;
    };
    key.eq_ignore_ascii_case(b"Response")
        && buf[vs as usize..ve as usize].eq_ignore_ascii_case(b"Follows")
}

/// From `pos` (just after `--END COMMAND--`), finds the end of the trailer line
/// and of the blank line after it; returns the offset after both.
fn find_blank_line_after(buf: &[u8], pos: usize) -> Option<usize> {
    let nl = pos + memchr(b'\n', &buf[pos..])?;
    let next = nl + 1;
    match buf.get(next..)? {
        [b'\n', ..] => Some(next + 1),
        [b'\r', b'\n', ..] => Some(next + 2),
        [] | [b'\r'] => None,
        // No blank line after the trailer: the trailer line itself ends it.
        _ => Some(next),
    }
}

/// Number of bytes of blank lines (`\r\n` or `\n`) at the start of `buf`.
/// A lone trailing `\r` is left in place: it may be the start of `\r\n`.
pub fn skip_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match &buf[i..] {
            [b'\n', ..] => i += 1,
            [b'\r', b'\n', ..] => i += 2,
            _ => return i,
        }
    }
}

/// Finds the end of the first blank line in `buf` (the offset just after it),
/// or `None`. Used to resynchronise after an oversized message.
pub fn find_message_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for nl in memchr_iter(b'\n', buf) {
        let mut line_end = nl;
        if line_end > line_start && buf[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        if line_end == line_start {
            return Some(nl + 1);
        }
        line_start = nl + 1;
    }
    None
}

/// If `buf` starts with a complete banner line (`Asterisk Call Manager/x.y.z`:
/// a first line with no colon), returns `(line_end, consumed)`.
///
/// Returns `Ok(None)` when more bytes are needed and `Err(())` when the first
/// line is a header (the peer sent no banner, e.g. a transcript that starts
/// mid-stream).
#[allow(clippy::result_unit_err)]
pub fn scan_banner(buf: &[u8]) -> Result<Option<(usize, usize)>, ()> {
    match memchr(b'\n', buf) {
        Some(nl) => {
            let mut end = nl;
            if end > 0 && buf[end - 1] == b'\r' {
                end -= 1;
            }
            if memchr(b':', &buf[..end]).is_some() || end == 0 {
                Err(())
            } else {
                Ok(Some((end, nl + 1)))
            }
        }
        None if memchr(b':', buf).is_some() => Err(()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(buf: &[u8]) -> (Scan, Vec<HeaderSpan>) {
        let mut s = Scanner::default();
        let r = s.scan(buf);
        (r, s.take_spans())
    }

    fn text(buf: &[u8], span: (u32, u32)) -> &str {
        std::str::from_utf8(&buf[span.0 as usize..span.1 as usize]).unwrap()
    }

    #[test]
    fn crlf_message_is_split_into_key_value_spans() {
        let buf = b"Event: Hangup\r\nCause: 16\r\n\r\nEvent: Next";
        let (scan, spans) = scan_all(buf);
        assert_eq!(
            scan,
            Scan::Complete {
                text_end: 26,
                consumed: 28,
                body: None
            }
        );
        assert_eq!(text(buf, spans[0].key), "Event");
        assert_eq!(text(buf, spans[0].value.unwrap()), "Hangup");
        assert_eq!(text(buf, spans[1].value.unwrap()), "16");
    }

    #[test]
    fn bare_lf_inside_a_value_ends_the_line_not_the_message() {
        // Verbatim from boot-and-sync.ami: the answer to PJSIPShowContacts.
        let buf = b"Response: Error\r\nActionID: x\r\nMessage: No Contacts found\n\r\n\r\n";
        let (scan, spans) = scan_all(buf);
        let Scan::Complete { consumed, .. } = scan else {
            panic!("incomplete")
        };
        assert_eq!(spans.len(), 3);
        assert_eq!(text(buf, spans[2].value.unwrap()), "No Contacts found");
        // The extra CRLF is a blank line before the next message.
        assert_eq!(skip_blank_lines(&buf[consumed..]), 2);
    }

    #[test]
    fn empty_values_and_values_with_colons_are_kept_exactly() {
        let buf =
            b"Event: X\r\nAccountCode:\r\nExten: \r\nValue:   minrxlost=0\r\nData: a: b\r\n\r\n";
        let (_, spans) = scan_all(buf);
        assert_eq!(text(buf, spans[1].value.unwrap()), "");
        assert_eq!(text(buf, spans[2].value.unwrap()), "");
        assert_eq!(text(buf, spans[3].value.unwrap()), "  minrxlost=0");
        assert_eq!(text(buf, spans[4].key), "Data");
        assert_eq!(text(buf, spans[4].value.unwrap()), "a: b");
    }

    #[test]
    fn scanning_resumes_where_it_stopped() {
        let full = b"Event: A\r\nK: V\r\n\r\n";
        let mut s = Scanner::default();
        assert_eq!(s.scan(&full[..12]), Scan::Incomplete);
        assert_eq!(s.examined(), 10);
        assert!(matches!(s.scan(full), Scan::Complete { consumed: 18, .. }));
        assert_eq!(s.take_spans().len(), 2);
    }

    #[test]
    fn legacy_command_output_keeps_blank_lines_in_its_body() {
        let buf = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nline one\n\nName: x\n--END COMMAND--\r\n\r\nEvent: Y\r\n\r\n";
        let (scan, spans) = scan_all(buf);
        let Scan::Complete { body, consumed, .. } = scan else {
            panic!("incomplete")
        };
        assert_eq!(spans.len(), 3);
        assert_eq!(text(buf, body.unwrap()), "line one\n\nName: x\n");
        assert_eq!(&buf[consumed..], b"Event: Y\r\n\r\n");
    }

    #[test]
    fn legacy_trailer_split_across_reads_is_found() {
        let buf = b"Response: Follows\r\nPrivilege: Command\r\nout\n--END COMMAND--\r\n\r\n";
        let mut s = Scanner::default();
        for cut in 1..buf.len() {
            s.reset();
            let mut last = s.scan(&buf[..cut]);
            // Feeding in two halves must agree with feeding it whole.
            if last == Scan::Incomplete {
                last = s.scan(buf);
            }
            assert!(
                matches!(last, Scan::Complete { consumed, .. } if consumed == buf.len()),
                "cut at {cut}"
            );
            // Still the legacy framing, whichever line the cut fell in.
            let Scan::Complete { body, .. } = last else {
                unreachable!()
            };
            assert_eq!(body.map(|b| text(buf, b)), Some("out\n"), "cut at {cut}");
        }
    }

    #[test]
    fn banner_is_recognised_only_without_a_colon() {
        assert_eq!(
            scan_banner(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n"),
            Ok(Some((28, 30)))
        );
        assert_eq!(scan_banner(b"Asterisk Call Man"), Ok(None));
        assert_eq!(scan_banner(b"Response: Success\r\n"), Err(()));
    }
}
