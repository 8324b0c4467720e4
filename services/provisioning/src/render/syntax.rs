//! The lexical rules of Asterisk's config files, and how operator text is made
//! to obey them.
//!
//! Asterisk's config parser (`main/config.c`) is line-based: `[name]` opens a
//! section, `key=value` (or `key => value` in the dialplan) sets an option, `;`
//! starts a comment anywhere on a line unless escaped as `\;`, and `;--` opens
//! a block comment that swallows every following line until `--;`. A value
//! that smuggles a newline, an unescaped `;`, or a `[` at the start of a line
//! therefore rewrites the configuration. Two defences, used together:
//!
//! * **Identifiers are never free text.** Section names, endpoint names and
//!   contexts come from validated tokens (extension numbers, customer codes)
//!   or from a slug derived from a name ([`slug`]), restricted to
//!   `[a-z0-9-]`.
//! * **Free text is sanitised where it lands.** Names in comments go through
//!   [`comment_text`]; caller ID names through [`caller_id_name`]. Everything
//!   else (hosts, codecs, secrets, patterns) is validated and refused when it
//!   does not fit (see `lint`).

/// Longest section name Asterisk keeps: `struct ast_category` holds the name
/// in `char name[80]` and truncates longer ones silently, which would merge
/// two sections. All derived names stay below it.
pub const MAX_SECTION_LEN: usize = 79;

/// Longest slug derived from a name; leaves room for `gw-` and `-identify`.
pub const MAX_SLUG_LEN: usize = 48;

/// Longest free-text name accepted (gateway, provider, customer, route).
pub const MAX_NAME_LEN: usize = 200;

/// Longest customer code; it becomes part of section and context names.
pub const MAX_CODE_LEN: usize = 32;

/// 32-bit FNV-1a: a stable, dependency-free hash, so a slug shortened for
/// length still tells two long names apart and is the same on every run and
/// every machine (unlike `std`'s randomly seeded hasher).
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// A section-safe slug of a free-text name: ASCII letters and digits
/// lowercased, every other run of characters turned into one `-`, no leading
/// or trailing `-`. Names longer than [`MAX_SLUG_LEN`] keep a prefix plus a
/// hash of the whole name. `None` when the name has no ASCII letter or digit
/// to build from.
///
/// Different names can share a slug (`"Carrier A"`, `"carrier-a"`): lint
/// reports that as a duplicate section rather than guessing.
#[must_use]
pub fn slug(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len().min(MAX_SLUG_LEN + 1));
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.len() > MAX_SLUG_LEN {
        // Prefix + '-' + 8 hex digits = MAX_SLUG_LEN.
        out.truncate(MAX_SLUG_LEN - 9);
        let trimmed = out.trim_end_matches('-').len();
        out.truncate(trimmed);
        out.push('-');
        out.push_str(&format!("{:08x}", fnv1a32(name.as_bytes())));
    }
    Some(out)
}

/// Section (endpoint and aor) name of a gateway.
#[must_use]
pub fn gateway_section(name: &str) -> Option<String> {
    slug(name).map(|s| format!("gw-{s}"))
}

/// Section (endpoint and aor) name of a customer trunk; `code` must already
/// be a valid token ([`is_token`]).
#[must_use]
pub fn trunk_section(code: &str) -> String {
    format!("trunk-{code}")
}

/// Dialplan context that delivers calls to a customer trunk.
#[must_use]
pub fn trunk_context(code: &str) -> String {
    format!("ringside-trunk-{code}")
}

/// Free text made fit for a `;` comment: printable ASCII kept, anything else
/// (newlines, control characters, non-ASCII) replaced by `?`, cut to `max`
/// characters. Comments are for the humans reading the file, so a lossy
/// rendering is fine; what matters is that it stays one comment line.
#[must_use]
pub fn comment_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push_str("...");
            break;
        }
        out.push(if c == ' ' || c.is_ascii_graphic() {
            c
        } else {
            '?'
        });
    }
    out
}

/// A caller ID display name made safe inside `callerid="<name>" <number>`:
/// line breaks and other control characters removed (including Unicode line
/// separators), `\`, `<` and `>` removed (they would end the name or start
/// the number for Asterisk's caller ID parser), `"` escaped as `\"`, `;` as
/// `\;` (the config parser unescapes it), surrounding blanks trimmed, cut to
/// 80 characters. Non-ASCII letters are kept: SIP display names are UTF-8.
#[must_use]
pub fn caller_id_name(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\\' | '<' | '>' | '\u{2028}' | '\u{2029}' | '\u{feff}')
        })
        .take(80)
        .collect();
    let mut out = String::with_capacity(cleaned.len() + 4);
    for c in cleaned.trim().chars() {
        match c {
            '"' => out.push_str("\\\""),
            ';' => out.push_str("\\;"),
            _ => out.push(c),
        }
    }
    out
}

/// `[A-Za-z0-9_-]{1,max}`: codes that go into section and context names.
#[must_use]
pub fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Digits only, 1..=max of them.
#[must_use]
pub fn is_digits(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
}

/// Digits with an optional leading `+` (E.164 style), `min..=max` digits.
#[must_use]
pub fn is_phone_number(s: &str, min: usize, max: usize) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (min..=max).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A tech prefix: up to 16 of `0-9 * +` (may be empty). It ends up in the
/// user part of the request URI, where `#` would have to be written `%23`;
/// carriers that document a `#` prefix accept the escaped form, which is
/// out of scope here, so `#` is refused rather than sent raw.
#[must_use]
pub fn is_tech_prefix(s: &str) -> bool {
    s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'+'))
}

/// A SIP user name for registration: `[A-Za-z0-9_.+-]{1,64}`, nothing that
/// needs escaping in a URI or in a config value.
#[must_use]
pub fn is_sip_user(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
}

/// Why a secret cannot be written, if it cannot. The reason never quotes
/// the secret. Printable ASCII without blanks (the parser trims them) and
/// without `;` (a comment) is accepted as is, so what the operator typed is
/// exactly what the phone must send.
#[must_use]
pub fn secret_problem(secret: &str, min_len: usize) -> Option<&'static str> {
    if secret.is_empty() {
        Some("is empty")
    } else if secret.len() > 128 {
        Some("is longer than 128 characters")
    } else if !secret.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        Some("must be printable ASCII without spaces or ';'")
    } else if secret.len() < min_len {
        Some("is too short (at least 8 characters)")
    } else {
        None
    }
}

/// An IPv4 or IPv6 address (no brackets, no port, no prefix).
#[must_use]
pub fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// A DNS host name (RFC 1123): dot-separated labels of letters, digits and
/// inner hyphens, at most 253 characters, not all-numeric at the top.
#[must_use]
pub fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels_ok = s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // "1.2.3.999" is a broken IP, not a host name.
    labels_ok
        && !s
            .rsplit('.')
            .next()
            .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()))
}

/// A host for a SIP URI: IPv6 addresses go in brackets.
#[must_use]
pub fn uri_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Codec names Asterisk 18/20 know in `allow=` (the `format` names of
/// `core show codecs`), lowercase.
pub const KNOWN_CODECS: &[&str] = &[
    "adpcm", "alaw", "codec2", "g719", "g722", "g723", "g726", "g726aal2", "g729", "gsm", "h261",
    "h263", "h263p", "h264", "h265", "ilbc", "jpeg", "lpc10", "opus", "png", "siren14", "siren7",
    "silk", "slin", "slin16", "slin32", "slin48", "speex", "speex16", "speex32", "t140", "t140red",
    "testlaw", "ulaw", "vp8", "vp9",
];

/// What a dial pattern matches, as far as rendering cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternInfo {
    /// Fewest characters a matching number has (`.` counts one, `!` none).
    pub min_len: usize,
}

/// The form a pattern is written in: `x`, `z`, `n` uppercased. Asterisk
/// reads them case-insensitively, so `_0nxx` and `_0NXX` are one extension
/// and must be grouped (and checked for duplicates) as one.
#[must_use]
pub fn canonical_pattern(pattern: &str) -> String {
    pattern.to_ascii_uppercase()
}

/// Validates an Asterisk extension pattern (`_` then digits, `*#+`, `X Z N`,
/// `[...]` sets with ranges, and a final `.` or `!`) or a literal number.
///
/// # Errors
/// A short reason when Asterisk would refuse it or it would match far more
/// than meant (`_.` also matches the special `h`, `i`, `t` extensions).
pub fn check_pattern(pattern: &str) -> Result<PatternInfo, String> {
    if pattern.is_empty() {
        return Err("is empty".into());
    }
    if pattern.len() > 64 {
        return Err("is longer than 64 characters".into());
    }
    let Some(body) = pattern.strip_prefix('_') else {
        // A literal extension.
        if pattern
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'+'))
        {
            return Ok(PatternInfo {
                min_len: pattern.len(),
            });
        }
        return Err("a literal number may only hold 0-9 * # + (patterns start with '_')".into());
    };
    let bytes = body.as_bytes();
    let mut min_len = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'0'..=b'9' | b'*' | b'#' | b'+' | b'X' | b'x' | b'Z' | b'z' | b'N' | b'n' => {
                min_len += 1;
            }
            b'[' => {
                let end = body[i + 1..]
                    .find(']')
                    .map(|off| i + 1 + off)
                    .ok_or_else(|| format!("'[' at {} is never closed", i + 1))?;
                check_set(&bytes[i + 1..end]).map_err(|e| format!("set at {}: {e}", i + 1))?;
                min_len += 1;
                i = end;
            }
            b'.' | b'!' => {
                if i + 1 != bytes.len() {
                    return Err(format!("'{}' must be the last character", b as char));
                }
                if i == 0 {
                    return Err(
                        "matches everything, including the special h, i and t extensions".into(),
                    );
                }
                if b == b'.' {
                    min_len += 1;
                }
            }
            _ => {
                return Err(format!(
                    "character {:?} is not allowed (use 0-9 * # + X Z N [..] . !)",
                    char::from(b)
                ));
            }
        }
        i += 1;
    }
    if min_len == 0 {
        return Err("matches nothing".into());
    }
    Ok(PatternInfo { min_len })
}

/// The inside of a `[...]` set: digits and `*#+`, with `a-b` ranges where
/// `a <= b`.
fn check_set(set: &[u8]) -> Result<(), String> {
    if set.is_empty() {
        return Err("is empty".into());
    }
    let ok = |b: u8| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'+');
    let mut i = 0;
    while i < set.len() {
        if !ok(set[i]) {
            return Err(format!("character {:?} is not allowed", char::from(set[i])));
        }
        if set.get(i + 1) == Some(&b'-') {
            let Some(&hi) = set.get(i + 2) else {
                return Err("range has no end".into());
            };
            if !hi.is_ascii_digit() || !set[i].is_ascii_digit() || hi < set[i] {
                return Err(format!(
                    "range {}-{} is not a digit range",
                    char::from(set[i]),
                    char::from(hi)
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_letters_and_digits_and_collapse_the_rest() {
        assert_eq!(
            slug("Acme Carrier (UK) #1").as_deref(),
            Some("acme-carrier-uk-1")
        );
        assert_eq!(slug("  --x--  ").as_deref(), Some("x"));
        assert_eq!(slug("évian\n[gw];=").as_deref(), Some("vian-gw"));
        assert_eq!(slug("日本"), None);
        assert_eq!(slug(""), None);
    }

    #[test]
    fn long_names_get_a_bounded_slug_that_still_tells_them_apart() {
        let a = "a".repeat(300);
        let b = format!("{}b", "a".repeat(299));
        let (sa, sb) = (slug(&a).unwrap(), slug(&b).unwrap());
        assert_eq!(sa.len(), MAX_SLUG_LEN);
        assert_eq!(sb.len(), MAX_SLUG_LEN);
        assert_ne!(sa, sb);
        assert_eq!(slug(&a).unwrap(), sa, "stable across calls");
        assert!(gateway_section(&a).unwrap().len() + "-identify".len() <= MAX_SECTION_LEN);
    }

    #[test]
    fn comment_text_is_one_printable_ascii_line() {
        assert_eq!(comment_text("a\nb\r;c[d]é", 100), "a?b?;c[d]?");
        assert_eq!(comment_text("abcdef", 3), "abc...");
    }

    #[test]
    fn caller_id_names_cannot_end_the_value_or_the_quotes() {
        assert_eq!(caller_id_name("Bob \"The\" <Boss>"), "Bob \\\"The\\\" Boss");
        assert_eq!(caller_id_name("x;y\n[z]\r\u{2028}"), "x\\;y[z]");
        assert_eq!(caller_id_name("  José Ñ  "), "José Ñ");
        assert_eq!(caller_id_name(&"é".repeat(500)).chars().count(), 80);
    }

    #[test]
    fn patterns_are_checked_like_asterisk_reads_them() {
        assert_eq!(check_pattern("_NXXNXXXXXX").unwrap().min_len, 10);
        assert_eq!(check_pattern("_0800X.").unwrap().min_len, 6);
        assert_eq!(check_pattern("_00[1-9]X!").unwrap().min_len, 4);
        assert_eq!(check_pattern("_+44X.").unwrap().min_len, 5);
        assert_eq!(check_pattern("112").unwrap().min_len, 3);
        for bad in [
            "", "_", "_.", "_!", "_X.X", "_[1-", "_[]X", "_[9-1]", "_X;", "_X\n", "_XA", "1a",
            "_X]", "_[a]",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn hosts_and_addresses() {
        assert!(is_ip("203.0.113.7") && is_ip("2001:db8::1"));
        assert!(!is_ip("203.0.113.7:5060") && !is_ip("host"));
        assert!(is_hostname("sip.carrier-a.example") && is_hostname("sbc1.example."));
        for bad in [
            "",
            "-a.example",
            "a..b",
            "a b",
            "a;b",
            "1.2.3.999",
            "a\nb",
            "é.example",
        ] {
            assert!(!is_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_refused_without_being_quoted() {
        assert_eq!(secret_problem("", 0), Some("is empty"));
        assert!(secret_problem("abc;def12", 0).is_some());
        assert!(secret_problem("abc def12", 0).is_some());
        assert!(secret_problem("Zq9x", 8).is_some());
        assert_eq!(secret_problem("Zx9!kq#Lm2_w", 8), None);
        for s in ["abc;def12", "abc def12", "Zq9x"] {
            assert!(!secret_problem(s, 8).unwrap().contains(s));
        }
    }
}
