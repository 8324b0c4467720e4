//! Subjects: validated tokens, the v1 subject layout, and NATS wildcard matching.
//!
//! Every variable part of a subject (tenant, PBX, event kind, view, entity) is a
//! [`Token`]: `[A-Za-z0-9_-]+`, so no caller-supplied text can add a `.`, a
//! wildcard or whitespace to a subject. The layout (DESIGN.md, "NATS subjects
//! (v1)") lives on [`Subjects`] rather than in free functions because its root is
//! a value: `ringside.v1` in a deployment, `<prefix>.ringside.v1` when several
//! isolated Ringsides (or test runs) share one NATS server.

use std::fmt;
use std::str::FromStr;

use crate::BusError;

/// The longest token accepted. NATS has no hard limit; this keeps subjects (and
/// the stream indexes built on them) small.
pub const MAX_TOKEN_LEN: usize = 128;

/// One subject token: non-empty, at most [`MAX_TOKEN_LEN`] bytes of
/// `[A-Za-z0-9_-]`. A `Token` that exists is valid.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(Box<str>);

impl Token {
    /// Parses a token.
    ///
    /// # Errors
    /// [`BusError::InvalidSubject`] if `text` is empty, too long, or has a byte
    /// outside `[A-Za-z0-9_-]`.
    pub fn new(text: impl AsRef<str> + Into<String>) -> Result<Self, BusError> {
        check_token(text.as_ref())?;
        Ok(Token(text.into().into_boxed_str()))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_token(text: &str) -> Result<(), BusError> {
    if text.is_empty() {
        return Err(BusError::invalid_subject(text, "empty token"));
    }
    if text.len() > MAX_TOKEN_LEN {
        return Err(BusError::invalid_subject(
            text,
            "token longer than 128 bytes",
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(BusError::invalid_subject(
            text,
            "token may only contain A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(())
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Token {
    type Err = BusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Token::new(s)
    }
}

impl TryFrom<&str> for Token {
    type Error = BusError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Token::new(s)
    }
}

impl TryFrom<String> for Token {
    type Error = BusError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Token::new(s)
    }
}

macro_rules! token_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Token);

        impl $name {
            /// Parses the identifier; it must be a valid [`Token`].
            ///
            /// # Errors
            /// [`BusError::InvalidSubject`] as for [`Token::new`].
            pub fn new(text: impl AsRef<str> + Into<String>) -> Result<Self, BusError> {
                Token::new(text).map($name)
            }

            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The identifier as a plain token.
            pub fn as_token(&self) -> &Token {
                &self.0
            }
        }

        impl From<Token> for $name {
            fn from(token: Token) -> Self {
                $name(token)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl FromStr for $name {
            type Err = BusError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = BusError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = BusError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }
    };
}

token_newtype!(
    /// A tenant's identifier as it appears in subjects.
    TenantId
);
token_newtype!(
    /// A PBX's identifier (unique within its tenant) as it appears in subjects.
    PbxId
);

/// The v1 subject layout under one root.
///
/// | builder | subject |
/// |---|---|
/// | [`events`](Self::events) | `<root>.<tenant>.<pbx>.ev.<Kind>` |
/// | [`ami_raw`](Self::ami_raw) | `<root>.<tenant>.<pbx>.ami.raw` |
/// | [`ami_action`](Self::ami_action) | `<root>.<tenant>.<pbx>.ami.action` |
/// | [`tenant_action`](Self::tenant_action) | `<root>.<tenant>.ami.action` |
/// | [`view`](Self::view) | `<root>.<tenant>.view.<view>` |
/// | [`calls_completed`](Self::calls_completed) | `<root>.<tenant>.calls.completed` |
/// | [`prov`](Self::prov) | `<root>.<tenant>.prov.<entity>` |
///
/// The root is `ringside.v1`, or `<prefix>.ringside.v1` for an isolated
/// installation (see [`Subjects::with_prefix`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    root: String,
}

impl Default for Subjects {
    fn default() -> Self {
        Subjects::v1()
    }
}

impl Subjects {
    /// The deployment root, `ringside.v1`.
    pub const V1_ROOT: &'static str = "ringside.v1";

    /// The v1 layout under `ringside.v1`.
    pub fn v1() -> Self {
        Subjects {
            root: Self::V1_ROOT.to_owned(),
        }
    }

    /// The v1 layout under `<prefix>.ringside.v1`: several installations (or test
    /// runs) can share one NATS server without seeing each other's messages.
    pub fn with_prefix(prefix: &Token) -> Self {
        Subjects {
            root: format!("{prefix}.{}", Self::V1_ROOT),
        }
    }

    /// The root every subject starts with (no trailing dot).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// A normalized event of `kind` from one PBX.
    pub fn events(&self, tenant: &TenantId, pbx: &PbxId, kind: &Token) -> String {
        format!("{}.{tenant}.{pbx}.ev.{kind}", self.root)
    }

    /// A pattern over events; `None` matches any tenant, PBX or kind.
    pub fn events_filter(
        &self,
        tenant: Option<&TenantId>,
        pbx: Option<&PbxId>,
        kind: Option<&Token>,
    ) -> String {
        format!(
            "{}.{}.{}.ev.{}",
            self.root,
            tenant.map_or("*", TenantId::as_str),
            pbx.map_or("*", PbxId::as_str),
            kind.map_or(">", Token::as_str)
        )
    }

    /// Raw AMI frames of one PBX.
    pub fn ami_raw(&self, tenant: &TenantId, pbx: &PbxId) -> String {
        format!("{}.{tenant}.{pbx}.ami.raw", self.root)
    }

    /// A pattern over raw AMI frames; `None` matches any tenant or PBX.
    pub fn ami_raw_filter(&self, tenant: Option<&TenantId>, pbx: Option<&PbxId>) -> String {
        format!(
            "{}.{}.{}.ami.raw",
            self.root,
            tenant.map_or("*", TenantId::as_str),
            pbx.map_or("*", PbxId::as_str)
        )
    }

    /// The tenant and PBX of a per-PBX subject under this root
    /// (`<root>.<tenant>.<pbx>.…`), as the raw log and the events streams
    /// carry them.
    pub fn tenant_and_pbx<'s>(&self, subject: &'s str) -> Option<(&'s str, &'s str)> {
        let rest = subject
            .strip_prefix(self.root.as_str())?
            .strip_prefix('.')?;
        let mut tokens = rest.splitn(3, '.');
        Some((tokens.next()?, tokens.next()?))
    }

    /// Request/reply: send an AMI action to one PBX.
    pub fn ami_action(&self, tenant: &TenantId, pbx: &PbxId) -> String {
        format!("{}.{tenant}.{pbx}.ami.action", self.root)
    }

    /// Request/reply: ask the ingestor that owns the PBX to resynchronise it.
    pub fn ami_resync(&self, tenant: &TenantId, pbx: &PbxId) -> String {
        format!("{}.{tenant}.{pbx}.ami.resync", self.root)
    }

    /// Request/reply: send an AMI action to every PBX of a tenant.
    pub fn tenant_action(&self, tenant: &TenantId) -> String {
        format!("{}.{tenant}.ami.action", self.root)
    }

    /// Core (non-durable) deltas of one view of a tenant.
    pub fn view(&self, tenant: &TenantId, view: &Token) -> String {
        format!("{}.{tenant}.view.{view}", self.root)
    }

    /// Request/reply: the state service's snapshot of a tenant's live views
    /// (see docs/live-views.md for the JSON both ways).
    pub fn state_snapshot(&self, tenant: &TenantId) -> String {
        format!("{}.{tenant}.state.snapshot", self.root)
    }

    /// Call records of a tenant, for rating.
    pub fn calls_completed(&self, tenant: &TenantId) -> String {
        format!("{}.{tenant}.calls.completed", self.root)
    }

    /// Provisioning domain events about one kind of entity.
    pub fn prov(&self, tenant: &TenantId, entity: &Token) -> String {
        format!("{}.{tenant}.prov.{entity}", self.root)
    }

    /// The pattern the events stream captures: `<root>.*.*.ev.>`.
    pub fn events_stream_pattern(&self) -> String {
        format!("{}.*.*.ev.>", self.root)
    }

    /// The pattern the raw AMI stream captures: `<root>.*.*.ami.raw`.
    pub fn ami_stream_pattern(&self) -> String {
        format!("{}.*.*.ami.raw", self.root)
    }

    /// The pattern the call records stream captures: `<root>.*.calls.completed`.
    pub fn calls_stream_pattern(&self) -> String {
        format!("{}.*.calls.completed", self.root)
    }

    /// The pattern the provisioning stream captures: `<root>.*.prov.*`.
    ///
    /// One token after `prov`, not `>`: `<root>.*.prov.>` would overlap the events
    /// pattern (a PBX named `prov` gives `<root>.t.prov.ev.X`), and JetStream
    /// refuses streams whose subjects overlap.
    pub fn prov_stream_pattern(&self) -> String {
        format!("{}.*.prov.*", self.root)
    }
}

/// Checks a subject to publish or request on: dot-separated non-empty tokens of
/// printable ASCII without wildcards.
///
/// # Errors
/// [`BusError::InvalidSubject`] saying what is wrong.
pub fn validate_subject(subject: &str) -> Result<(), BusError> {
    check_shape(subject, false)
}

/// Checks a subscription pattern: like [`validate_subject`], but a token may be
/// `*` (exactly one token) and the last token may be `>` (one or more tokens).
///
/// # Errors
/// [`BusError::InvalidSubject`] saying what is wrong.
pub fn validate_pattern(pattern: &str) -> Result<(), BusError> {
    check_shape(pattern, true)
}

fn check_shape(subject: &str, wildcards: bool) -> Result<(), BusError> {
    if subject.is_empty() {
        return Err(BusError::invalid_subject(subject, "empty subject"));
    }
    let mut tokens = subject.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(BusError::invalid_subject(subject, "empty token"));
        }
        if wildcards && token == "*" {
            continue;
        }
        if wildcards && token == ">" {
            if tokens.peek().is_some() {
                return Err(BusError::invalid_subject(
                    subject,
                    "'>' must be the last token",
                ));
            }
            continue;
        }
        if token.bytes().any(|b| b == b'*' || b == b'>') {
            return Err(BusError::invalid_subject(
                subject,
                if wildcards {
                    "wildcards must be whole tokens"
                } else {
                    "wildcards are not allowed here"
                },
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BusError::invalid_subject(
                subject,
                "only printable ASCII without spaces is allowed",
            ));
        }
    }
    Ok(())
}

/// Whether `subject` (no wildcards) matches `pattern` with NATS semantics: `*`
/// matches exactly one token, a trailing `>` matches one or more tokens.
pub fn matches(pattern: &str, subject: &str) -> bool {
    // Hot path of every in-process publish: no iterator, no allocation.
    if !pattern.contains(['*', '>']) {
        return pattern == subject;
    }
    let (mut p, mut s) = (pattern.as_bytes(), subject.as_bytes());
    loop {
        let (p_token, p_rest) = split_token(p);
        let (s_token, s_rest) = split_token(s);
        match (p_token, s_token) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
        (p, s) = (p_rest, s_rest);
    }
}

/// The first `.`-separated token of `rest` and what follows it; `None` once
/// nothing is left.
fn split_token(rest: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if rest.is_empty() {
        return (None, rest);
    }
    match rest.iter().position(|&b| b == b'.') {
        Some(dot) => (Some(&rest[..dot]), &rest[dot + 1..]),
        None => (Some(rest), &[]),
    }
}

/// Whether some subject could match both patterns (JetStream refuses streams whose
/// subjects overlap; the in-process bus refuses them the same way).
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    let mut a_tokens = a.split('.');
    let mut b_tokens = b.split('.');
    loop {
        match (a_tokens.next(), b_tokens.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(x), Some(y)) if x == "*" || y == "*" || x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {

    /// The plain definition `matches` must agree with (it was the
    /// implementation before the allocation-free one).
    fn matches_by_split(pattern: &str, subject: &str) -> bool {
        let mut p = pattern.split('.');
        let mut s = subject.split('.');
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    #[test]
    fn tenant_and_pbx_are_read_back_from_a_subject() {
        let subjects = Subjects::v1();
        let (t, p) = (TenantId::new("acme").unwrap(), PbxId::new("pbx-1").unwrap());
        assert_eq!(
            subjects.tenant_and_pbx(&subjects.ami_raw(&t, &p)),
            Some(("acme", "pbx-1"))
        );
        assert_eq!(
            subjects.tenant_and_pbx("other.root.acme.pbx-1.ami.raw"),
            None
        );
    }

    #[test]
    fn matching_agrees_with_the_token_by_token_definition() {
        let tokens = ["a", "b", "ab", "*", ">"];
        let mut patterns = vec![String::new()];
        let mut subjects = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &patterns {
                for t in tokens {
                    next.push(if p.is_empty() {
                        t.to_owned()
                    } else {
                        format!("{p}.{t}")
                    });
                }
            }
            patterns.extend(next);
            let mut next = Vec::new();
            for s in &subjects {
                for t in ["a", "b", "ab"] {
                    next.push(if s.is_empty() {
                        t.to_owned()
                    } else {
                        format!("{s}.{t}")
                    });
                }
            }
            subjects.extend(next);
        }
        for p in patterns.iter().filter(|p| !p.is_empty()) {
            for s in subjects.iter().filter(|s| !s.is_empty()) {
                assert_eq!(matches(p, s), matches_by_split(p, s), "{p} vs {s}");
            }
        }
    }

    use super::*;

    #[test]
    fn tokens_refuse_dots_wildcards_and_spaces() {
        for bad in ["", "a.b", "*", ">", "a b", "ä", "a\r\n"] {
            assert!(Token::new(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Token::new("x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        for good in ["acme", "pbx-01", "Channel_Created", "0"] {
            assert_eq!(Token::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn builders_follow_the_v1_layout() {
        let s = Subjects::v1();
        let t = TenantId::new("acme").unwrap();
        let p = PbxId::new("pbx1").unwrap();
        let k = Token::new("Hangup").unwrap();
        assert_eq!(s.events(&t, &p, &k), "ringside.v1.acme.pbx1.ev.Hangup");
        assert_eq!(s.events_filter(None, None, None), "ringside.v1.*.*.ev.>");
        assert_eq!(
            s.events_filter(Some(&t), None, Some(&k)),
            "ringside.v1.acme.*.ev.Hangup"
        );
        assert_eq!(s.ami_raw(&t, &p), "ringside.v1.acme.pbx1.ami.raw");
        assert_eq!(s.ami_action(&t, &p), "ringside.v1.acme.pbx1.ami.action");
        assert_eq!(s.tenant_action(&t), "ringside.v1.acme.ami.action");
        assert_eq!(s.view(&t, &k), "ringside.v1.acme.view.Hangup");
        assert_eq!(s.calls_completed(&t), "ringside.v1.acme.calls.completed");
        assert_eq!(s.prov(&t, &k), "ringside.v1.acme.prov.Hangup");
        let prefixed = Subjects::with_prefix(&Token::new("t42").unwrap());
        assert_eq!(
            prefixed.ami_raw(&t, &p),
            "t42.ringside.v1.acme.pbx1.ami.raw"
        );
    }

    #[test]
    fn stream_patterns_do_not_overlap() {
        let s = Subjects::v1();
        let patterns = [
            s.events_stream_pattern(),
            s.ami_stream_pattern(),
            s.calls_stream_pattern(),
            s.prov_stream_pattern(),
        ];
        for (i, a) in patterns.iter().enumerate() {
            for b in &patterns[i + 1..] {
                assert!(!patterns_overlap(a, b), "{a} overlaps {b}");
            }
        }
        assert!(patterns_overlap(
            "ringside.v1.*.*.ev.>",
            "ringside.v1.*.prov.>"
        ));
    }

    #[test]
    fn wildcards_match_as_nats_does() {
        assert!(matches("a.*.c", "a.b.c"));
        assert!(!matches("a.*.c", "a.b.d"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert!(matches(">", "x"));
    }

    #[test]
    fn subjects_and_patterns_are_checked() {
        assert!(validate_subject("a.b.c").is_ok());
        assert!(validate_subject("_INBOX.abc").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a.b*"] {
            assert!(validate_subject(bad).is_err(), "{bad:?}");
        }
        assert!(validate_pattern("a.*.>").is_ok());
        for bad in ["a.>.b", "a.b*", "", "a..b"] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
