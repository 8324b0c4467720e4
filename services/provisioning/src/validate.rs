//! Input validation with field-level errors.
//!
//! Every input type collects *all* its problems into one [`ValidationError`]
//! (a form shows every bad field at once). The checks are conservative: what
//! is accepted here ends up in Asterisk configuration and dialplan, so anything
//! that is not clearly valid is refused rather than escaped.

use std::net::IpAddr;

use serde::Serialize;

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's JSON name (`ip_address`, `codecs[2]`).
    pub field: String,
    /// A stable machine code (`required`, `invalid_e164`, `negative`, …).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// Every invalid field of an input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid input: {}", summary(.fields))]
pub struct ValidationError {
    /// The problems, in field order.
    pub fields: Vec<FieldError>,
}

fn summary(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ValidationError {
    /// One field's error.
    pub fn field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            fields: vec![FieldError {
                field: field.into(),
                code,
                message: message.into(),
            }],
        }
    }

    /// Whether `field` has an error with `code`.
    pub fn has(&self, field: &str, code: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.field == field && f.code == code)
    }
}

/// Collects field errors.
#[derive(Default)]
pub(crate) struct Check {
    fields: Vec<FieldError>,
}

impl Check {
    pub(crate) fn new() -> Self {
        Check::default()
    }

    /// Records `result` for `field`.
    pub(crate) fn field(
        &mut self,
        field: &str,
        result: Result<(), (&'static str, String)>,
    ) -> &mut Self {
        if let Err((code, message)) = result {
            self.fields.push(FieldError {
                field: field.to_owned(),
                code,
                message,
            });
        }
        self
    }

    pub(crate) fn finish(self) -> Result<(), ValidationError> {
        if self.fields.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                fields: self.fields,
            })
        }
    }
}

/// The result of one check: `Err((code, message))`.
pub(crate) type Rule = Result<(), (&'static str, String)>;

fn fail(code: &'static str, message: impl Into<String>) -> Rule {
    Err((code, message.into()))
}

/// A display name: 1–128 characters, no control characters (newlines would
/// break out of a config line or a log line).
pub fn name(value: &str) -> Rule {
    if value.trim().is_empty() {
        return fail("required", "must not be empty");
    }
    if value.chars().count() > 128 {
        return fail("too_long", "at most 128 characters");
    }
    if value.chars().any(char::is_control) {
        return fail("control_character", "must not contain control characters");
    }
    Ok(())
}

/// Free text that may be empty (descriptions, caller IDs): at most 256
/// characters, no control characters.
pub fn text(value: &str) -> Rule {
    if value.chars().count() > 256 {
        return fail("too_long", "at most 256 characters");
    }
    if value.chars().any(char::is_control) {
        return fail("control_character", "must not contain control characters");
    }
    Ok(())
}

/// A subject token: `[A-Za-z0-9_-]{1,64}` (tenant slugs, PBX names, codes).
pub fn token(value: &str) -> Rule {
    if value.is_empty() {
        return fail("required", "must not be empty");
    }
    if value.len() > 64 {
        return fail("too_long", "at most 64 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return fail("invalid_token", "only letters, digits, '_' and '-'");
    }
    Ok(())
}

/// A login name: `[A-Za-z0-9._@-]{1,64}`.
pub fn username(value: &str) -> Rule {
    if value.is_empty() {
        return fail("required", "must not be empty");
    }
    if value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
    {
        return fail(
            "invalid_username",
            "1-64 letters, digits, '.', '_', '@' or '-'",
        );
    }
    Ok(())
}

/// Normalizes an E.164 number: an optional `+`, then 1–15 digits, the first not
/// `0`. Returns it with the `+`.
pub fn e164(value: &str) -> Result<String, (&'static str, String)> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let ok = (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(format!("+{digits}"))
    } else {
        Err((
            "invalid_e164",
            "an E.164 number: '+', then up to 15 digits, not starting with 0".to_owned(),
        ))
    }
}

/// An IPv4 or IPv6 address.
pub fn ip(value: &str) -> Rule {
    match value.parse::<IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => fail("invalid_ip", "an IPv4 or IPv6 address"),
    }
}

/// A DNS host name (RFC 1123 labels; the last label not all digits, so that a
/// malformed IPv4 address is not taken for a name).
pub fn hostname(value: &str) -> Rule {
    let bad = || fail("invalid_host", "an IP address or a host name");
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.is_empty() || name.len() > 253 {
        return bad();
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad();
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad();
    }
    Ok(())
}

/// An IP address or a host name.
pub fn host(value: &str) -> Rule {
    if ip(value).is_ok() {
        return Ok(());
    }
    hostname(value)
}

/// A TCP/UDP port (1–65535).
pub fn port(value: i64) -> Rule {
    if (1..=65535).contains(&value) {
        Ok(())
    } else {
        fail("invalid_port", "a port between 1 and 65535")
    }
}

/// An Asterisk extension pattern or literal extension.
///
/// A pattern starts with `_` and is made of digits, `*`, `#`, `+`, `X` (0–9),
/// `Z` (1–9), `N` (2–9) and `[...]` sets of digits and ranges (`[1-5]`,
/// `[0-37-9]`); `.` (one or more) or `!` (zero or more) may only end it. A literal
/// is digits, `*`, `#` and `+`. Anything else — letters, spaces, `-` outside a
/// set, `,`, `;`, `[` unclosed — is refused.
pub fn dial_pattern(value: &str) -> Rule {
    let bad = |why: &str| {
        fail(
            "invalid_pattern",
            format!("not an Asterisk dial pattern: {why}"),
        )
    };
    if value.is_empty() {
        return fail("required", "must not be empty");
    }
    if value.len() > 80 {
        return fail("too_long", "at most 80 characters");
    }
    let Some(pattern) = value.strip_prefix('_') else {
        return if value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'+'))
        {
            Ok(())
        } else {
            bad("a literal extension is digits, '*', '#' and '+'; a pattern starts with '_'")
        };
    };
    if pattern.is_empty() {
        return bad("'_' alone matches nothing");
    }
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' | b'*' | b'#' | b'+' | b'X' | b'Z' | b'N' | b'x' | b'z' | b'n' => i += 1,
            b'.' | b'!' => {
                if i + 1 != bytes.len() {
                    return bad("'.' and '!' may only end a pattern");
                }
                if i == 0 {
                    return bad("a pattern needs something before its wildcard");
                }
                i += 1;
            }
            b'[' => {
                let Some(len) = bytes[i + 1..].iter().position(|&b| b == b']') else {
                    return bad("unclosed '['");
                };
                let set = &bytes[i + 1..i + 1 + len];
                if set.is_empty() {
                    return bad("empty '[]'");
                }
                let mut j = 0;
                while j < set.len() {
                    if !set[j].is_ascii_digit() {
                        return bad("a '[...]' set holds digits and ranges like 1-5");
                    }
                    if j + 1 < set.len() && set[j + 1] == b'-' {
                        match set.get(j + 2) {
                            Some(hi) if hi.is_ascii_digit() && *hi >= set[j] => j += 3,
                            _ => return bad("a range in '[...]' is low-high, e.g. 1-5"),
                        }
                    } else {
                        j += 1;
                    }
                }
                i += len + 2;
            }
            _ => return bad("allowed: digits * # + X Z N [ranges] and a final . or !"),
        }
    }
    Ok(())
}

/// A number prefix (tariff patterns): 1–20 digits.
pub fn digit_prefix(value: &str) -> Rule {
    if value.is_empty() {
        return fail("required", "must not be empty");
    }
    if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return fail("invalid_prefix", "1-20 digits");
    }
    Ok(())
}

/// Digits dialled before a number (tech prefixes): empty, or up to 16 of
/// digits, `*`, `#`.
pub fn tech_prefix(value: &str) -> Rule {
    if value.len() > 16
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#'))
    {
        return fail("invalid_prefix", "up to 16 digits, '*' or '#'");
    }
    Ok(())
}

/// An extension number: 1–32 digits (and `*`, `#`).
pub fn extension_number(value: &str) -> Rule {
    if value.is_empty() {
        return fail("required", "must not be empty");
    }
    if value.len() > 32
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#'))
    {
        return fail("invalid_extension", "1-32 digits, '*' or '#'");
    }
    Ok(())
}

/// Codecs Asterisk knows by these names.
pub const KNOWN_CODECS: &[&str] = &[
    "ulaw", "alaw", "g722", "g729", "g723", "g726", "gsm", "opus", "ilbc", "speex", "speex16",
    "speex32", "slin", "slin16", "lpc10", "adpcm", "siren7", "siren14", "g719", "h261", "h263",
    "h263p", "h264", "h265", "vp8", "vp9", "t140", "t140red", "all",
];

/// A codec name from [`KNOWN_CODECS`].
pub fn codec(value: &str) -> Rule {
    if KNOWN_CODECS.contains(&value) {
        Ok(())
    } else {
        fail("unknown_codec", format!("unknown codec {value:?}"))
    }
}

/// Checks every codec of a list into `check` as `field[i]`; an empty list is
/// refused.
pub(crate) fn codecs(check: &mut Check, field: &str, values: &[String]) {
    if values.is_empty() {
        check.field(field, fail("required", "at least one codec"));
    }
    for (i, c) in values.iter().enumerate() {
        check.field(&format!("{field}[{i}]"), codec(c));
    }
}

/// A price or cost in micro-units: not negative.
pub fn non_negative(value: i64) -> Rule {
    if value < 0 {
        fail("negative", "must be >= 0")
    } else {
        Ok(())
    }
}

/// A count within `min..=max`.
pub fn within(value: i64, min: i64, max: i64) -> Rule {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        fail("out_of_range", format!("between {min} and {max}"))
    }
}

/// An absolute directory path without `..` and control characters.
pub fn config_dir(value: &str) -> Rule {
    if !value.starts_with('/')
        || value.split('/').any(|part| part == "..")
        || value.chars().any(char::is_control)
        || value.len() > 512
    {
        return fail("invalid_path", "an absolute path without '..'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_normalized_and_checked() {
        assert_eq!(e164("+4930123456").unwrap(), "+4930123456");
        assert_eq!(e164("4930123456").unwrap(), "+4930123456");
        for bad in [
            "",
            "+",
            "+0301234",
            "+49 30 1234",
            "+1234567890123456",
            "abc",
            "+49-30",
        ] {
            assert_eq!(e164(bad).unwrap_err().0, "invalid_e164", "{bad:?}");
        }
    }

    #[test]
    fn hosts_are_ips_or_host_names() {
        for good in [
            "10.0.0.1",
            "2001:db8::1",
            "::1",
            "sip.example.com",
            "gw-1.carrier.net.",
            "localhost",
        ] {
            assert!(host(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "999.1.1.1",
            "10.0.0",
            "-bad.example.com",
            "bad-.example.com",
            "a..b",
            "sip example.com",
            "evil\n[section]",
            "host;x",
            &"a".repeat(64),
        ] {
            assert_eq!(host(bad).unwrap_err().0, "invalid_host", "{bad:?}");
        }
        assert!(ip("sip.example.com").is_err());
    }

    #[test]
    fn asterisk_dial_patterns_are_accepted() {
        for good in [
            "_NXXNXXXXXX",
            "_0800X.",
            "_X!",
            "_[1-5]XX",
            "_00[1-9]X.",
            "_[0-37-9]",
            "_+1NXX",
            "100",
            "*97",
            "_9011.",
            "_zxn",
        ] {
            assert!(dial_pattern(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn anything_else_is_not_a_dial_pattern() {
        for bad in [
            "_",
            "_.",
            "_X.X",
            "_X!.",
            "_[5-1]",
            "_[1-]",
            "_[]",
            "_[12",
            "_[a-c]",
            "_ABC",
            "_X X",
            "_X;comment",
            "_X\n[evil]",
            "abc",
            "1-2",
            "_X,1",
        ] {
            assert!(dial_pattern(bad).is_err(), "{bad:?}");
        }
        assert_eq!(dial_pattern("").unwrap_err().0, "required");
    }

    #[test]
    fn codecs_come_from_the_known_list() {
        for good in [
            "ulaw", "alaw", "g722", "g729", "gsm", "opus", "ilbc", "speex", "h264", "vp8",
        ] {
            assert!(codec(good).is_ok(), "{good}");
        }
        for bad in ["ULAW", "mp3", "", "ulaw,alaw", "opus\n"] {
            assert_eq!(codec(bad).unwrap_err().0, "unknown_codec", "{bad:?}");
        }
        let mut check = Check::new();
        codecs(&mut check, "codecs", &["ulaw".into(), "mp3".into()]);
        let err = check.finish().unwrap_err();
        assert!(err.has("codecs[1]", "unknown_codec"));
        let mut check = Check::new();
        codecs(&mut check, "codecs", &[]);
        assert!(check.finish().unwrap_err().has("codecs", "required"));
    }

    #[test]
    fn prices_must_not_be_negative() {
        assert!(non_negative(0).is_ok());
        assert!(non_negative(1_500_000).is_ok());
        assert_eq!(non_negative(-1).unwrap_err().0, "negative");
    }

    #[test]
    fn names_refuse_control_characters_and_emptiness() {
        assert!(name("Acme GmbH — Zürich").is_ok());
        assert_eq!(name("").unwrap_err().0, "required");
        assert_eq!(name("   ").unwrap_err().0, "required");
        assert_eq!(name("a\nb").unwrap_err().0, "control_character");
        assert_eq!(name("a\u{0}b").unwrap_err().0, "control_character");
        assert_eq!(name(&"x".repeat(129)).unwrap_err().0, "too_long");
        assert!(text("").is_ok());
        assert_eq!(text("a\rb").unwrap_err().0, "control_character");
    }

    #[test]
    fn tokens_prefixes_and_paths() {
        assert!(token("pbx-1_a").is_ok());
        for bad in ["", "pbx.1", "pbx 1", "pbx*", "ü"] {
            assert!(token(bad).is_err(), "{bad:?}");
        }
        assert!(digit_prefix("4930").is_ok());
        assert!(digit_prefix("+49").is_err());
        assert!(tech_prefix("").is_ok());
        assert!(tech_prefix("99#").is_ok());
        assert!(tech_prefix("9a").is_err());
        assert!(config_dir("/etc/asterisk").is_ok());
        assert!(config_dir("etc/asterisk").is_err());
        assert!(config_dir("/etc/../root").is_err());
        assert!(port(5060).is_ok());
        assert!(port(0).is_err());
        assert!(port(70000).is_err());
        assert!(username("alice@example.com").is_ok());
        assert!(username("alice smith").is_err());
    }

    #[test]
    fn a_validation_error_lists_every_field() {
        let mut check = Check::new();
        check
            .field("name", name(""))
            .field("ip_address", host("x y"))
            .field("port", port(1));
        let err = check.finish().unwrap_err();
        assert_eq!(err.fields.len(), 2);
        assert!(err.has("name", "required"));
        assert!(err.has("ip_address", "invalid_host"));
        assert!(err.to_string().contains("ip_address"));
    }
}
