//! Reading AMI headers into typed values without inventing any.
//!
//! Every lookup is case-insensitive (`Uniqueid` / `UniqueID`, `HoldTime` /
//! `Holdtime`): [`Message::get`] already compares that way, and
//! [`prefixed`] does the same for the prefixed snapshot blocks (`DestUniqueid`,
//! `TransfererChannel`, `OrigBridgeUniqueid`) without allocating the key.
//! A header that is absent or does not parse gives `None` / empty, never a
//! default that Asterisk did not send.

use std::str::FromStr;

use ringside_ami::Message;
use ringside_proto::events::v1::{BridgeSnapshot, CallerId, ChannelSnapshot, ChannelState};

use crate::values;

/// The value of `key`, or empty.
pub(crate) fn text(m: &Message, key: &str) -> String {
    m.get(key).unwrap_or_default().to_owned()
}

/// The first of `keys` that is present (for names that differ between
/// Asterisk versions or between an event and its list-item twin).
pub(crate) fn first<'m>(m: &'m Message, keys: &[&str]) -> Option<&'m str> {
    keys.iter().find_map(|k| m.get(k))
}

/// [`first`], or empty.
pub(crate) fn text_any(m: &Message, keys: &[&str]) -> String {
    first(m, keys).unwrap_or_default().to_owned()
}

/// `key` parsed as a number (surrounding spaces ignored).
pub(crate) fn num<T: FromStr>(m: &Message, key: &str) -> Option<T> {
    m.get(key).and_then(parse_num)
}

/// The first of `keys` that is present, parsed as a number.
pub(crate) fn num_any<T: FromStr>(m: &Message, keys: &[&str]) -> Option<T> {
    first(m, keys).and_then(parse_num)
}

pub(crate) fn parse_num<T: FromStr>(v: &str) -> Option<T> {
    v.trim().parse().ok()
}

/// `key` as a boolean: `Yes`/`No`, `true`/`false`, `1`/`0`, `on`/`off`.
pub(crate) fn flag(m: &Message, key: &str) -> Option<bool> {
    m.get(key).and_then(values::boolean)
}

/// A value that C code printed from a NULL pointer (`(null)`) is no value.
pub(crate) fn not_null(v: Option<&str>) -> Option<&str> {
    v.filter(|v| *v != "(null)")
}

/// The value of `prefix` + `name`, compared case-insensitively, without
/// building the key.
pub(crate) fn prefixed<'m>(m: &'m Message, prefix: &str, name: &str) -> Option<&'m str> {
    if prefix.is_empty() {
        return m.get(name);
    }
    let (p, n) = (prefix.as_bytes(), name.as_bytes());
    m.headers()
        .find(|h| {
            let k = h.key.as_bytes();
            k.len() == p.len() + n.len()
                && k[..p.len()].eq_ignore_ascii_case(p)
                && k[p.len()..].eq_ignore_ascii_case(n)
        })
        .and_then(|h| h.value)
}

fn ptext(m: &Message, prefix: &str, name: &str) -> String {
    prefixed(m, prefix, name).unwrap_or_default().to_owned()
}

/// The channel snapshot block with `prefix` (`""`, `Dest`, `Transferer`...),
/// or `None` when the message has neither its `Channel` nor its `Uniqueid`.
pub(crate) fn channel(m: &Message, prefix: &str) -> Option<ChannelSnapshot> {
    let name = prefixed(m, prefix, "Channel");
    let uniqueid = prefixed(m, prefix, "Uniqueid");
    if name.is_none() && uniqueid.is_none() {
        return None;
    }
    let state_code = prefixed(m, prefix, "ChannelState").and_then(parse_num::<u32>);
    let mut state_desc = prefixed(m, prefix, "ChannelStateDesc");
    if prefix.is_empty() && state_desc.is_none() && state_code.is_none() {
        // Asterisk 1.4 and older: `State: Ringing`. Other events use `State`
        // for something else (`MusicOnHold`'s `Start`), so only a channel
        // state text counts.
        state_desc = m
            .get("State")
            .filter(|d| values::channel_state_from_desc(d) != ChannelState::Unspecified);
    }
    let state = match (state_code, state_desc) {
        (Some(code), _) => values::channel_state_from_code(code),
        (None, Some(desc)) => values::channel_state_from_desc(desc),
        (None, None) => Default::default(),
    };
    let caller_num = prefixed(m, prefix, "CallerIDNum").or_else(|| {
        // Asterisk 1.4: `CallerID` held the number.
        if prefix.is_empty() {
            m.get("CallerID")
        } else {
            None
        }
    });
    Some(ChannelSnapshot {
        name: name.unwrap_or_default().to_owned(),
        uniqueid: uniqueid.unwrap_or_default().to_owned(),
        linkedid: ptext(m, prefix, "Linkedid"),
        state: state as i32,
        state_code,
        state_desc: state_desc.unwrap_or_default().to_owned(),
        caller: Some(CallerId {
            num: caller_num.unwrap_or_default().to_owned(),
            name: ptext(m, prefix, "CallerIDName"),
        }),
        connected: Some(CallerId {
            num: ptext(m, prefix, "ConnectedLineNum"),
            name: ptext(m, prefix, "ConnectedLineName"),
        }),
        language: ptext(m, prefix, "Language"),
        account_code: ptext(m, prefix, "AccountCode"),
        context: ptext(m, prefix, "Context"),
        exten: ptext(m, prefix, "Exten"),
        priority: prefixed(m, prefix, "Priority").and_then(parse_num),
    })
}

/// The bridge snapshot block with `prefix` (`""`, `Orig`, `Second`), or
/// `None` without its `BridgeUniqueid`.
pub(crate) fn bridge(m: &Message, prefix: &str) -> Option<BridgeSnapshot> {
    let uniqueid = prefixed(m, prefix, "BridgeUniqueid")?;
    Some(BridgeSnapshot {
        uniqueid: uniqueid.to_owned(),
        r#type: ptext(m, prefix, "BridgeType"),
        technology: ptext(m, prefix, "BridgeTechnology"),
        creator: ptext(m, prefix, "BridgeCreator"),
        name: ptext(m, prefix, "BridgeName"),
        num_channels: prefixed(m, prefix, "BridgeNumChannels").and_then(parse_num),
        video_source_mode: ptext(m, prefix, "BridgeVideoSourceMode"),
        video_source: ptext(m, prefix, "BridgeVideoSource"),
    })
}

/// A comma-separated list (`Auths: a,b`, `Contacts: x/sip:..,`), empty items
/// dropped.
pub(crate) fn list(m: &Message, key: &str) -> Vec<String> {
    m.get(key)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
