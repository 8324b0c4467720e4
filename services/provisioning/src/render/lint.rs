//! Refuses what Asterisk would refuse, or would load into something other
//! than what the operator meant, before anything reaches a PBX.
//!
//! Two passes:
//! * [`lint`] checks the input field by field (formats, references between
//!   entities, uniqueness), so errors name the entity and field the operator
//!   must fix.
//! * [`lint_rendered`] re-reads the produced files the way Asterisk's parser
//!   does and checks their structure (every line is a section, an option or a
//!   comment; no section of a type twice; no dialplan extension twice). It is
//!   the safety net behind the escaping rules: if a value ever broke out of
//!   its line, this pass fails the render.
//!
//! No message quotes a secret.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::model::{DidDestination, RenderInput};
use super::syntax::{self, MAX_CODE_LEN, MAX_NAME_LEN, MAX_SECTION_LEN};
use super::{ConfigFile, Rendered};

/// Minimum length of an extension secret: extensions are what toll fraud
/// brute-forces.
const MIN_EXTENSION_SECRET: usize = 8;

/// The kind of thing a lint error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Pbx,
    Gateway,
    CustomerTrunk,
    Extension,
    Route,
    Did,
    /// A rendered file (from [`lint_rendered`]); the key is the file name.
    File,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Pbx => "pbx",
            Entity::Gateway => "gateway",
            Entity::CustomerTrunk => "customer trunk",
            Entity::Extension => "extension",
            Entity::Route => "route",
            Entity::Did => "did",
            Entity::File => "file",
        })
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LintKind {
    /// A required value is empty.
    Empty,
    /// Longer than allowed.
    TooLong { max: usize },
    /// Not in the expected format; `reason` says which.
    Invalid { reason: String },
    /// Not a valid Asterisk dial pattern.
    InvalidPattern { reason: String },
    /// Another entity already uses this value (`other` identifies it).
    Duplicate { other: String },
    /// Two entities would produce the same section (`section`).
    DuplicateSection { section: String, other: String },
    /// Refers to something that is not in the input.
    Dangling { target: String },
    /// A number outside `min..=max`.
    OutOfRange { min: u64, max: u64 },
    /// A rendered line Asterisk would read differently from what was meant.
    Structure { reason: String },
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LintKind::Empty => f.write_str("is empty"),
            LintKind::TooLong { max } => write!(f, "is longer than {max} characters"),
            LintKind::Invalid { reason } => write!(f, "{reason}"),
            LintKind::InvalidPattern { reason } => write!(f, "invalid dial pattern: {reason}"),
            LintKind::Duplicate { other } => write!(f, "already used by {other}"),
            LintKind::DuplicateSection { section, other } => {
                write!(f, "section [{section}] is also produced by {other}")
            }
            LintKind::Dangling { target } => write!(f, "refers to unknown {target}"),
            LintKind::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            LintKind::Structure { reason } => write!(f, "{reason}"),
        }
    }
}

/// One problem, located precisely enough for a field-level error in the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintError {
    pub entity: Entity,
    /// Which one: its name, number or code, sanitised and shortened (it may
    /// be the hostile value itself); for files, the file name.
    pub key: String,
    /// The offending field (`"host"`, `"pattern"`), or `"line N"` for files.
    pub field: String,
    pub kind: LintKind,
}

impl fmt::Display for LintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}: {}: {}",
            self.entity, self.key, self.field, self.kind
        )
    }
}

/// Collects errors for one entity at a time.
struct Sink {
    errors: Vec<LintError>,
}

impl Sink {
    fn push(&mut self, entity: Entity, key: &str, field: &str, kind: LintKind) {
        self.errors.push(LintError {
            entity,
            key: syntax::comment_text(key, 40),
            field: field.to_owned(),
            kind,
        });
    }

    fn invalid(&mut self, entity: Entity, key: &str, field: &str, reason: &str) {
        self.push(
            entity,
            key,
            field,
            LintKind::Invalid {
                reason: reason.to_owned(),
            },
        );
    }

    /// Free-text names: required, bounded; any characters (they are
    /// sanitised where they are written).
    fn name(&mut self, entity: Entity, key: &str, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(entity, key, field, LintKind::Empty);
        } else if value.chars().count() > MAX_NAME_LEN {
            self.push(entity, key, field, LintKind::TooLong { max: MAX_NAME_LEN });
        }
    }

    fn codecs(&mut self, entity: Entity, key: &str, codecs: &[String]) {
        if codecs.is_empty() {
            self.invalid(
                entity,
                key,
                "codecs",
                "no codec: every call would fail to negotiate",
            );
        }
        for codec in codecs {
            if !syntax::KNOWN_CODECS.contains(&codec.as_str()) {
                let reason = format!(
                    "{:?} is not an Asterisk codec name",
                    syntax::comment_text(codec, 20)
                );
                self.push(entity, key, "codecs", LintKind::Invalid { reason });
            }
        }
    }
}

/// Checks the input; empty means it renders into config Asterisk accepts.
#[must_use]
pub fn lint(input: &RenderInput) -> Vec<LintError> {
    let mut s = Sink { errors: Vec::new() };

    if uuid::Uuid::parse_str(&input.pbx.id).is_err() {
        s.invalid(Entity::Pbx, &input.pbx.name, "id", "is not a UUID");
    }
    if input.pbx.name.chars().count() > MAX_NAME_LEN {
        s.push(
            Entity::Pbx,
            &input.pbx.name,
            "name",
            LintKind::TooLong { max: MAX_NAME_LEN },
        );
    }

    // Every pjsip section name, with who produced it: the three pjsip files
    // are included into one pjsip.conf, so they share one namespace.
    let mut sections: HashMap<String, String> = HashMap::new();
    // Every address an `identify` matches on: two identifies on one address
    // make Asterisk pick either endpoint for inbound calls.
    let mut addresses: HashMap<&str, String> = HashMap::new();

    let mut gateway_names: HashSet<&str> = HashSet::new();
    for gw in &input.gateways {
        let e = Entity::Gateway;
        let key = gw.name.as_str();
        let me = format!("gateway {:?}", syntax::comment_text(key, 40));
        s.name(e, key, "name", &gw.name);
        if let Some(section) = syntax::gateway_section(&gw.name) {
            if let Some(other) = sections.insert(section.clone(), me.clone()) {
                if gateway_names.contains(key) {
                    s.push(e, key, "name", LintKind::Duplicate { other });
                } else {
                    s.push(
                        e,
                        key,
                        "name",
                        LintKind::DuplicateSection { section, other },
                    );
                }
            }
        } else if !gw.name.trim().is_empty() {
            s.invalid(
                e,
                key,
                "name",
                "has no ASCII letter or digit to name its section",
            );
        }
        gateway_names.insert(key);
        if gw.provider.chars().count() > MAX_NAME_LEN {
            s.push(e, key, "provider", LintKind::TooLong { max: MAX_NAME_LEN });
        }
        if gw.host.is_empty() {
            s.push(e, key, "host", LintKind::Empty);
        } else if !syntax::is_ip(&gw.host) && !syntax::is_hostname(&gw.host) {
            s.invalid(e, key, "host", "is not an IP address or a host name");
        } else if let Some(other) = addresses.insert(&gw.host, me.clone()) {
            s.push(e, key, "host", LintKind::Duplicate { other });
        }
        if gw.port == 0 {
            s.push(e, key, "port", LintKind::OutOfRange { min: 1, max: 65535 });
        }
        s.codecs(e, key, &gw.codecs);
        if !syntax::is_tech_prefix(&gw.tech_prefix) {
            s.invalid(e, key, "tech_prefix", "must be at most 16 of 0-9 * +");
        }
        if let Some(reg) = &gw.registration {
            if !syntax::is_sip_user(&reg.username) {
                s.invalid(
                    e,
                    key,
                    "registration.username",
                    "must be 1-64 of A-Z a-z 0-9 _ . + -",
                );
            }
            if let Some(reason) = syntax::secret_problem(&reg.secret, 0) {
                s.invalid(e, key, "registration.secret", reason);
            }
        }
    }

    let mut trunk_codes: HashSet<&str> = HashSet::new();
    for trunk in &input.customer_trunks {
        let e = Entity::CustomerTrunk;
        let key = trunk.code.as_str();
        let me = format!("customer trunk {:?}", syntax::comment_text(key, 40));
        if !syntax::is_token(&trunk.code, MAX_CODE_LEN) {
            s.invalid(e, key, "code", "must be 1-32 of A-Z a-z 0-9 _ -");
        } else if !trunk_codes.insert(key) {
            s.push(e, key, "code", LintKind::Duplicate { other: me.clone() });
        } else if let Some(other) = sections.insert(syntax::trunk_section(key), me.clone()) {
            let section = syntax::trunk_section(key);
            s.push(
                e,
                key,
                "code",
                LintKind::DuplicateSection { section, other },
            );
        }
        s.name(e, key, "name", &trunk.name);
        if !syntax::is_ip(&trunk.trunk_ip) {
            s.invalid(e, key, "trunk_ip", "is not an IPv4 or IPv6 address");
        } else if let Some(other) = addresses.insert(&trunk.trunk_ip, me.clone()) {
            s.push(e, key, "trunk_ip", LintKind::Duplicate { other });
        }
        if trunk.channel_limit == Some(0) {
            s.push(
                e,
                key,
                "channel_limit",
                LintKind::OutOfRange {
                    min: 1,
                    max: 1_000_000,
                },
            );
        }
        s.codecs(e, key, &trunk.codecs);
    }

    let mut extensions: HashMap<&str, &str> = HashMap::new();
    for ext in &input.extensions {
        let e = Entity::Extension;
        let key = ext.number.as_str();
        if !syntax::is_digits(&ext.number, 20) {
            s.invalid(e, key, "number", "must be 1-20 digits");
        } else if extensions.insert(key, &ext.customer_code).is_some() {
            s.push(
                e,
                key,
                "number",
                LintKind::Duplicate {
                    other: format!("extension {key}"),
                },
            );
        }
        if let Some(reason) = syntax::secret_problem(&ext.secret, MIN_EXTENSION_SECRET) {
            s.invalid(e, key, "secret", reason);
        }
        if ext.caller_id_name.chars().count() > MAX_NAME_LEN {
            s.push(
                e,
                key,
                "caller_id_name",
                LintKind::TooLong { max: MAX_NAME_LEN },
            );
        }
        if !ext.caller_id_number.is_empty()
            && !syntax::is_phone_number(&ext.caller_id_number, 1, 20)
        {
            s.invalid(
                e,
                key,
                "caller_id_number",
                "must be 1-20 digits, optionally after '+'",
            );
        }
        s.codecs(e, key, &ext.codecs);
        if !(1..=100).contains(&ext.max_contacts) {
            s.push(
                e,
                key,
                "max_contacts",
                LintKind::OutOfRange { min: 1, max: 100 },
            );
        }
        // Empty: an extension of no customer (no accountcode).
        if !ext.customer_code.is_empty() && !syntax::is_token(&ext.customer_code, MAX_CODE_LEN) {
            s.invalid(e, key, "customer_code", "must be 1-32 of A-Z a-z 0-9 _ -");
        }
    }

    let mut route_slots: HashMap<(String, u32), &str> = HashMap::new();
    for route in &input.routes {
        let e = Entity::Route;
        let key = route.name.as_str();
        s.name(e, key, "name", &route.name);
        match syntax::check_pattern(&route.pattern) {
            Ok(info) => {
                if route.strip_digits as usize >= info.min_len {
                    let reason = format!(
                        "strips {} digits but the shortest match has {}",
                        route.strip_digits, info.min_len
                    );
                    s.push(e, key, "strip_digits", LintKind::Invalid { reason });
                }
            }
            Err(reason) => s.push(e, key, "pattern", LintKind::InvalidPattern { reason }),
        }
        if !gateway_names.contains(route.gateway.as_str()) {
            let target = format!("gateway {:?}", syntax::comment_text(&route.gateway, 40));
            s.push(e, key, "gateway", LintKind::Dangling { target });
        }
        let slot = (syntax::canonical_pattern(&route.pattern), route.priority);
        if let Some(other) = route_slots.insert(slot, key) {
            let other = format!("route {:?}", syntax::comment_text(other, 40));
            s.push(e, key, "priority", LintKind::Duplicate { other });
        }
        if !syntax::is_tech_prefix(&route.tech_prefix) {
            s.invalid(e, key, "tech_prefix", "must be at most 16 of 0-9 * +");
        }
    }

    let mut did_numbers: HashSet<&str> = HashSet::new();
    for did in &input.dids {
        let e = Entity::Did;
        let key = did.number.as_str();
        if !syntax::is_phone_number(&did.number, 3, 15) {
            s.invalid(
                e,
                key,
                "number",
                "must be 3-15 digits, optionally after '+'",
            );
        } else if !did_numbers.insert(key) {
            s.push(
                e,
                key,
                "number",
                LintKind::Duplicate {
                    other: format!("did {key}"),
                },
            );
        }
        if let Some(code) = &did.customer_code
            && !syntax::is_token(code, MAX_CODE_LEN)
        {
            s.invalid(e, key, "customer_code", "must be 1-32 of A-Z a-z 0-9 _ -");
        }
        match &did.destination {
            DidDestination::Extension(number) => match extensions.get(number.as_str()) {
                None => {
                    let target = format!("extension {:?}", syntax::comment_text(number, 40));
                    s.push(e, key, "destination", LintKind::Dangling { target });
                }
                Some(owner) => {
                    if did
                        .customer_code
                        .as_deref()
                        .is_some_and(|c| !owner.is_empty() && c != *owner)
                    {
                        s.invalid(
                            e,
                            key,
                            "destination",
                            "extension belongs to another customer than the DID",
                        );
                    }
                }
            },
            DidDestination::CustomerTrunk(code) => {
                if !trunk_codes.contains(code.as_str()) {
                    let target = format!("customer trunk {:?}", syntax::comment_text(code, 40));
                    s.push(e, key, "destination", LintKind::Dangling { target });
                } else if did.customer_code.as_deref().is_some_and(|c| c != code) {
                    s.invalid(
                        e,
                        key,
                        "destination",
                        "trunk of another customer than the DID",
                    );
                }
            }
            DidDestination::Unallocated => {}
        }
    }

    s.errors
}

/// Re-reads rendered files as Asterisk's parser would and checks their
/// structure; empty means every line is what the renderer meant it to be.
#[must_use]
pub fn lint_rendered(rendered: &Rendered) -> Vec<LintError> {
    let mut s = Sink { errors: Vec::new() };
    // (type, section) -> file: pjsip files share one namespace.
    let mut pjsip_objects: HashSet<(String, String)> = HashSet::new();
    // (context, extension, priority) for `exten =>` lines.
    let mut dialplan: HashSet<(String, String)> = HashSet::new();

    for (name, text) in rendered.files() {
        let Some(file) = ConfigFile::from_file_name(name) else {
            s.invalid(Entity::File, name, "name", "is not a file Ringside renders");
            continue;
        };
        let is_pjsip = file.is_pjsip();
        let mut section: Option<&str> = None;
        let mut section_type: Option<&str> = None;
        let mut section_line = 0;
        let mut finish = |s: &mut Sink, section: Option<&str>, ty: Option<&str>, line: usize| {
            if let Some(section) = section
                && is_pjsip
            {
                match ty {
                    None => s.push(
                        Entity::File,
                        name,
                        &format!("line {line}"),
                        LintKind::Structure {
                            reason: format!("section [{section}] has no type"),
                        },
                    ),
                    Some(ty) => {
                        if !pjsip_objects.insert((ty.to_owned(), section.to_owned())) {
                            s.push(
                                Entity::File,
                                name,
                                &format!("line {line}"),
                                LintKind::DuplicateSection {
                                    section: section.to_owned(),
                                    other: format!("another {ty} section"),
                                },
                            );
                        }
                    }
                }
            }
        };
        for (n, line) in text.split('\n').enumerate() {
            let lineno = n + 1;
            let field = || format!("line {lineno}");
            let bad = |s: &mut Sink, reason: &str| {
                s.push(
                    Entity::File,
                    name,
                    &field(),
                    LintKind::Structure {
                        reason: reason.to_owned(),
                    },
                );
            };
            if line.contains('\r') {
                bad(&mut s, "carriage return inside a line");
                continue;
            }
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                finish(&mut s, section, section_type, section_line);
                section_type = None;
                section_line = lineno;
                let Some(inner) = rest.strip_suffix(']') else {
                    bad(&mut s, "section header does not end with ']'");
                    section = None;
                    continue;
                };
                if inner.is_empty()
                    || inner.len() > MAX_SECTION_LEN
                    || !inner
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                {
                    bad(&mut s, "section name is not 1-79 of A-Z a-z 0-9 - _");
                }
                section = Some(inner);
                continue;
            }
            if has_unescaped_semicolon(line) {
                bad(&mut s, "';' inside a value starts a comment");
                continue;
            }
            let Some(current) = section else {
                bad(&mut s, "option outside any section");
                continue;
            };
            if is_pjsip {
                let Some((key, value)) = line.split_once('=') else {
                    bad(&mut s, "not a key=value line");
                    continue;
                };
                if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    bad(&mut s, "option name is not lowercase letters and '_'");
                }
                if value.is_empty() || value.trim() != value {
                    bad(&mut s, "value is empty or has surrounding blanks");
                }
                if key == "type" {
                    section_type = Some(value);
                }
            } else if let Some(rest) = line.strip_prefix("exten => ") {
                let mut parts = rest.splitn(3, ',');
                let (Some(exten), Some(prio), Some(_app)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    bad(&mut s, "exten line is not extension,priority,application");
                    continue;
                };
                if prio != "1" {
                    bad(&mut s, "first priority of an extension must be 1");
                } else if !dialplan.insert((current.to_owned(), exten.to_owned())) {
                    bad(&mut s, "extension already defined in this context");
                }
            } else if !line.starts_with(" same => n,") && !line.starts_with(" same => n(") {
                bad(
                    &mut s,
                    "dialplan line is neither 'exten =>' nor ' same => n'",
                );
            }
        }
        finish(&mut s, section, section_type, section_line);
    }
    s.errors
}

/// True when the line holds a `;` that Asterisk would take as a comment
/// start (not preceded by a backslash).
fn has_unescaped_semicolon(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b';' && (i == 0 || bytes[i - 1] != b'\\'))
}
