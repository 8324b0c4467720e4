//! Properties of the codec and the builders, over generated input:
//! * messages built with `Message::from_headers` survive encode → decode with
//!   the same headers in the same order, and any header-shaped text decodes
//!   as a naive line splitter reads it;
//! * a real transcript split at arbitrary points decodes to the same messages
//!   as the whole transcript;
//! * arbitrary bytes never panic the decoder, and its buffer stays bounded by
//!   the per-message cap;
//! * the `Action` builder refuses CR/LF in values and writes every accepted
//!   value as exactly one line.

use ringside_testkit::corpus;

use std::sync::OnceLock;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use ringside_ami::codec::AmiCodec;
use ringside_ami::{Action, ActionError, Message, MessageKind};
use tokio_util::codec::Decoder;

/// A header key Asterisk could send: ASCII, non-empty, no `:`, CR or LF, no
/// whitespace at either end (the builder refuses those).
fn key() -> impl Strategy<Value = String> {
    // Ends: not whitespace (tab, VT, FF, space); inside: those allowed too.
    const END: &str = "[\\x00-\\x08\\x0e-\\x1f\\x21-\\x39\\x3b-\\x7f]";
    const MID: &str = "[\\x00-\\x09\\x0b\\x0c\\x0e-\\x39\\x3b-\\x7f]";
    proptest::string::string_regex(&format!("{END}({MID}{{0,22}}{END})?")).expect("valid regex")
}

/// Any UTF-8 value without CR or LF, biased towards the shapes real traffic
/// has: empty, leading spaces, `: ` inside.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[^\r\n]{0,40}",
        1 => Just(String::new()),
        1 => " {1,4}[^\r\n]{0,10}",
        1 => "[^\r\n]{0,5}(: |:)[^\r\n]{0,10}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((key(), value()), 1..12).prop_filter(
        // `Response: Follows` first is the legacy command-output framing of
        // Asterisk <= 13: the decoder then reads a raw body up to
        // `--END COMMAND--`, so such a message cannot round-trip as headers.
        "not the legacy Response: Follows framing",
        |h| !(h[0].0.eq_ignore_ascii_case("Response") && h[0].1.eq_ignore_ascii_case("Follows")),
    )
}

/// Feeds `bytes` in pieces cut at `cuts` and collects every decoded message;
/// panics on a decode error (there is none in the corpus).
fn decode_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Message> {
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&bytes.len()]) {
        buf.extend_from_slice(&bytes[from..cut]);
        from = cut;
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item.unwrap());
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
        out.push(item.unwrap());
    }
    out
}

/// A transcript: its name, its bytes and its messages decoded whole.
type Decoded = (String, Vec<u8>, Vec<Message>);

/// The transcripts small enough to decode hundreds of times in a debug
/// build, each with its messages decoded whole.
fn small_transcripts() -> &'static [Decoded] {
    static SMALL: OnceLock<Vec<Decoded>> = OnceLock::new();
    SMALL.get_or_init(|| {
        corpus::transcripts()
            .into_iter()
            .filter(|(_, bytes)| bytes.len() < 400_000)
            .map(|(name, bytes)| {
                let whole = decode_pieces(&bytes, &[]);
                (name, bytes, whole)
            })
            .collect()
    })
}

/// Bytes that look enough like AMI to reach every state of the decoder:
/// banners, headers, blank lines with and without CR, lone CRs, legacy
/// command output with and without its trailer, long lines, random bytes.
fn ami_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 1..8),
        2 => Just(b"\r\n".to_vec()),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        2 => Just(b": ".to_vec()),
        1 => Just(b"Asterisk Call Manager/11.0.0\r\n".to_vec()),
        2 => Just(b"Event: Hangup\r\n".to_vec()),
        1 => Just(b"Response: Follows\r\nPrivilege: Command\r\n".to_vec()),
        1 => Just(b"--END COMMAND--".to_vec()),
        1 => "[a-z]{50,400}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(token, 0..64).prop_map(|t| t.concat())
}

/// Text made of the pieces of header lines, so lines and messages of every
/// shape come out: keys, colons with and without a space, values with colons
/// and leading spaces, CRLF, bare LF, lone CR, multi-byte UTF-8.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[A-Za-z]{1,12}",
        3 => Just(": ".to_owned()),
        1 => Just(":".to_owned()),
        1 => Just(" ".to_owned()),
        3 => Just("\r\n".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\r".to_owned()),
        1 => "[ -~]{8,80}",
        1 => "[é€😀]{1,3}",
    ];
    prop::collection::vec(piece, 0..80).prop_map(|p| p.concat())
}

/// Messages of `text` the simplest way: split on '\n', strip one '\r', an
/// empty line ends a message, split at the first ':' and drop one space.
/// What follows the last '\n' is an unfinished line and is left out.
fn naive_messages(text: &str) -> Vec<Vec<(String, Option<String>)>> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop();
    let (mut out, mut current) = (Vec::new(), Vec::new());
    for line in lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if let Some((k, v)) = line.split_once(':') {
            current.push((
                k.to_owned(),
                Some(v.strip_prefix(' ').unwrap_or(v).to_owned()),
            ));
        } else {
            current.push((line.to_owned(), None));
        }
    }
    out
}

const CAP: usize = 256;

/// `default` cases, or `PROPTEST_CASES` when set (for long local runs).
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn built_messages_decode_to_the_same_headers_in_the_same_order(
        messages in prop::collection::vec(headers(), 1..4),
    ) {
        let built: Vec<Message> = messages
            .iter()
            .map(|h| Message::from_headers(h.iter().map(|(k, v)| (k, v))).unwrap())
            .collect();
        let mut wire = BytesMut::new();
        for m in &built {
            m.encode_into(&mut wire);
        }
        let mut codec = AmiCodec::without_banner();
        for (sent, headers) in built.iter().zip(&messages) {
            let got = codec.decode(&mut wire).unwrap().expect("a whole message").unwrap();
            let got_headers: Vec<_> = got.headers().map(|h| (h.key, h.value)).collect();
            let want: Vec<_> = headers.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
            prop_assert_eq!(got_headers, want);
            prop_assert_eq!(got.kind(), sent.kind());
            prop_assert!(!got.is_lossy());
        }
        prop_assert!(wire.is_empty());
        prop_assert!(codec.decode(&mut wire).unwrap().is_none());
    }

    #[test]
    fn decoded_headers_agree_with_a_naive_line_splitter(
        text in header_text(),
        chunk in 1..=64usize,
    ) {
        let mut codec = AmiCodec::without_banner();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in text.as_bytes().chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                let m = item.unwrap();
                decoded.push(
                    m.headers()
                        .map(|h| (h.key.to_owned(), h.value.map(str::to_owned)))
                        .collect::<Vec<_>>(),
                );
            }
        }
        prop_assert_eq!(decoded, naive_messages(&text));
    }

    #[test]
    fn a_transcript_split_anywhere_decodes_like_the_whole_transcript(
        file in any::<Index>(),
        cuts in prop::collection::vec(any::<Index>(), 0..48),
    ) {
        let (name, bytes, whole) = file.get(small_transcripts());
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let split = decode_pieces(bytes, &cuts);
        prop_assert_eq!(split.len(), whole.len(), "{}", name);
        prop_assert!(split == *whole, "{} cut at {:?}", name, cuts);
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic_and_the_buffer_stays_under_the_cap(
        bytes in ami_ish_bytes(),
        chunk in 1..=300usize,
        banner in any::<bool>(),
    ) {
        let codec = if banner { AmiCodec::new() } else { AmiCodec::without_banner() };
        let mut codec = codec.with_max_message(CAP);
        let mut buf = BytesMut::new();
        let mut fed = 0;
        for piece in bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            fed += piece.len();
            prop_assert!(buf.len() <= CAP + chunk, "{} buffered", buf.len());
            // Each call either consumes bytes or stops: bounded number of items.
            for _ in 0..=buf.len() {
                let Some(item) = codec.decode(&mut buf).unwrap() else { break };
                if let Ok(m) = item {
                    // The cap counts bytes on the wire: a banner is taken as
                    // soon as its line ends, so it may overrun by one read;
                    // invalid UTF-8 grows by replacement (1 byte -> U+FFFD,
                    // 3 bytes) after the cap was checked.
                    let wire = if m.kind() == MessageKind::Banner { CAP + chunk } else { CAP };
                    let limit = if m.is_lossy() { 3 * wire } else { wire };
                    prop_assert!(m.as_text().len() <= limit, "{} bytes: {:?}", m.as_text().len(), m);
                    if m.kind() != MessageKind::Banner {
                        // Whatever was decoded encodes back to the same message.
                        let mut again = BytesMut::from(&m.to_bytes()[..]);
                        let re = AmiCodec::without_banner().decode(&mut again).unwrap();
                        let re = re.expect("a whole message").expect("within the default cap");
                        prop_assert_eq!(re.headers().collect::<Vec<_>>(), m.headers().collect::<Vec<_>>());
                        prop_assert_eq!(re.legacy_body(), m.legacy_body());
                        prop_assert_eq!(re.kind(), m.kind());
                    }
                }
            }
            prop_assert!(buf.len() <= CAP, "{} left buffered after decoding", buf.len());
            prop_assert_eq!(codec.stats().bytes + buf.len() as u64, fed as u64);
        }
        // End of stream: whatever is left is a message, the tail of a
        // discarded one, or an unexpected-EOF error; never a panic or a loop.
        for _ in 0..=buf.len() + 1 {
            match codec.decode_eof(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    prop_assert!(buf.is_empty());
                    prop_assert_eq!(codec.stats().bytes, fed as u64);
                    break;
                }
                Err(e) => {
                    prop_assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                    break;
                }
            }
        }
    }

    #[test]
    fn action_values_with_cr_or_lf_are_refused(
        key in key().prop_filter("not Action/ActionID", |k| !k.eq_ignore_ascii_case("Action") && !k.eq_ignore_ascii_case("ActionID")),
        before in "[^\r\n]{0,20}",
        newline in prop_oneof![Just("\r"), Just("\n"), Just("\r\n"), Just("\n\r")],
        after in any::<String>(),
    ) {
        let value = format!("{before}{newline}{after}");
        let refused = Err(ActionError::InvalidValue { key: key.clone() });
        prop_assert_eq!(Action::new("Setvar").unwrap().header(&key, &value), refused);
        let mut action = Action::new("Setvar").unwrap();
        let pristine = action.clone();
        prop_assert!(action.push(&key, &value).is_err());
        prop_assert_eq!(&action, &pristine, "a refused header leaves the action unchanged");
        prop_assert!(Action::new(&value).is_err());
        prop_assert!(Action::new("Ping").unwrap().with_action_id(&value).is_err());
    }

    #[test]
    fn action_values_without_cr_or_lf_are_encoded_as_exactly_one_line(
        name in "[^\r\n]{1,20}",
        key in key().prop_filter("not Action/ActionID", |k| !k.eq_ignore_ascii_case("Action") && !k.eq_ignore_ascii_case("ActionID")),
        value in value(),
        id in "[^\r\n]{0,20}",
    ) {
        let action = Action::new(&name).unwrap().with_action_id(&id).unwrap().header(&key, &value).unwrap();
        let wire = action.to_bytes();
        let expected = format!("Action: {name}\r\nActionID: {id}\r\n{key}: {value}\r\n\r\n");
        prop_assert_eq!(&wire[..], expected.as_bytes());
        // Exactly three lines and the blank line: no CR or LF anywhere else.
        prop_assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 4);
        prop_assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), 4);
        // And what a server decodes is what was set.
        let mut buf = BytesMut::from(&wire[..]);
        let got = AmiCodec::without_banner().decode(&mut buf).unwrap().unwrap().unwrap();
        let got: Vec<_> = got.headers().map(|h| (h.key, h.value.unwrap())).collect();
        prop_assert_eq!(got, [("Action", name.as_str()), ("ActionID", id.as_str()), (key.as_str(), value.as_str())]);
    }
}
