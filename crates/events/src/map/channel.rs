//! Channel lifecycle, dialing, hold, transfers, music on hold.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    AttendedTransferred, BlindTransferred, CallerIdChanged, ChannelCreated, ChannelHeld,
    ChannelHungUp, ChannelSnapshot, ChannelStateChanged, ChannelUnheld, ConnectedLineChanged,
    DialBegan, DialEnded, MusicOnHoldStarted, MusicOnHoldStopped,
};

use crate::fields::{bridge, channel, first, flag, num, text, text_any};
use crate::values;

fn snapshot(m: &Message) -> Option<ChannelSnapshot> {
    channel(m, "")
}

/// `Newchannel`.
pub(crate) fn newchannel(m: &Message) -> Kind {
    Kind::ChannelCreated(ChannelCreated {
        channel: snapshot(m),
        ..Default::default()
    })
}

/// A `CoreShowChannel` entry of a resync: a channel that already exists,
/// with what only the list knows (application, bridge, duration).
pub(crate) fn core_show_channel(m: &Message) -> Kind {
    let duration = text(m, "Duration");
    Kind::ChannelCreated(ChannelCreated {
        channel: snapshot(m),
        application: text(m, "Application"),
        application_data: text_any(m, &["ApplicationData", "Data"]),
        bridge_id: text(m, "BridgeId"),
        duration_seconds: parse_duration(&duration),
        duration,
    })
}

/// `HH:MM:SS` (hours may exceed 24), or plain seconds.
fn parse_duration(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut parts = 0;
    for part in v.split(':') {
        parts += 1;
        let n: u64 = part.parse().ok()?;
        total = total.checked_mul(60)?.checked_add(n)?;
    }
    (parts <= 3).then_some(total)
}

/// `Newstate`.
pub(crate) fn newstate(m: &Message) -> Kind {
    Kind::ChannelStateChanged(ChannelStateChanged {
        channel: snapshot(m),
    })
}

/// `NewCallerid`.
pub(crate) fn new_callerid(m: &Message) -> Kind {
    Kind::CallerIdChanged(CallerIdChanged {
        channel: snapshot(m),
        calling_pres: text(m, "CID-CallingPres"),
    })
}

/// `NewConnectedLine`.
pub(crate) fn new_connected_line(m: &Message) -> Kind {
    Kind::ConnectedLineChanged(ConnectedLineChanged {
        channel: snapshot(m),
    })
}

/// `Hangup`.
pub(crate) fn hangup(m: &Message) -> Kind {
    let cause_code: Option<u32> = num(m, "Cause");
    Kind::ChannelHungUp(ChannelHungUp {
        channel: snapshot(m),
        cause: cause_code.map_or(Default::default(), values::hangup_cause) as i32,
        cause_code,
        cause_text: text(m, "Cause-txt"),
        tech_cause: num(m, "TechCause"),
    })
}

/// `DialBegin`.
pub(crate) fn dial_begin(m: &Message) -> Kind {
    Kind::DialBegan(DialBegan {
        caller: snapshot(m),
        destination: channel(m, "Dest"),
        dial_string: text(m, "DialString"),
    })
}

/// `DialEnd`.
pub(crate) fn dial_end(m: &Message) -> Kind {
    let raw = text(m, "DialStatus");
    Kind::DialEnded(DialEnded {
        caller: snapshot(m),
        destination: channel(m, "Dest"),
        status: values::dial_status(&raw) as i32,
        status_raw: raw,
        forward: text(m, "Forward"),
    })
}

/// Asterisk 1.8/11 `Dial` with `SubEvent: Begin|End`: `Destination` and
/// `DestUniqueID` name the dialed channel.
pub(crate) fn legacy_dial(m: &Message) -> Option<Kind> {
    let destination = {
        let name = m.get("Destination");
        let uniqueid = m.get("DestUniqueID");
        (name.is_some() || uniqueid.is_some()).then(|| ChannelSnapshot {
            name: name.unwrap_or_default().to_owned(),
            uniqueid: uniqueid.unwrap_or_default().to_owned(),
            ..Default::default()
        })
    };
    let sub = m.get("SubEvent").unwrap_or_default();
    if sub.eq_ignore_ascii_case("Begin") {
        Some(Kind::DialBegan(DialBegan {
            caller: snapshot(m),
            destination,
            dial_string: text(m, "DialString"),
        }))
    } else if sub.eq_ignore_ascii_case("End") {
        let raw = text(m, "DialStatus");
        Some(Kind::DialEnded(DialEnded {
            caller: snapshot(m),
            destination,
            status: values::dial_status(&raw) as i32,
            status_raw: raw,
            forward: text(m, "Forward"),
        }))
    } else {
        None
    }
}

/// `Hold`; Asterisk 1.8's chan_sip sends `Hold` with `Status: Off` to unhold.
pub(crate) fn hold(m: &Message) -> Kind {
    if m.get("Status")
        .is_some_and(|s| s.eq_ignore_ascii_case("Off"))
    {
        return unhold(m);
    }
    Kind::ChannelHeld(ChannelHeld {
        channel: snapshot(m),
        music_class: text(m, "MusicClass"),
    })
}

/// `Unhold`.
pub(crate) fn unhold(m: &Message) -> Kind {
    Kind::ChannelUnheld(ChannelUnheld {
        channel: snapshot(m),
    })
}

/// `BlindTransfer`.
pub(crate) fn blind_transfer(m: &Message) -> Kind {
    Kind::BlindTransferred(BlindTransferred {
        result: text(m, "Result"),
        transferer: channel(m, "Transferer"),
        transferee: channel(m, "Transferee"),
        bridge: bridge(m, ""),
        is_external: flag(m, "IsExternal"),
        context: text(m, "Context"),
        extension: text(m, "Extension"),
    })
}

/// `AttendedTransfer`.
pub(crate) fn attended_transfer(m: &Message) -> Kind {
    Kind::AttendedTransferred(AttendedTransferred {
        result: text(m, "Result"),
        orig_transferer: channel(m, "OrigTransferer"),
        orig_bridge: bridge(m, "Orig"),
        second_transferer: channel(m, "SecondTransferer"),
        second_bridge: bridge(m, "Second"),
        dest_type: text(m, "DestType"),
        dest_bridge_uniqueid: text(m, "DestBridgeUniqueid"),
        dest_app: text(m, "DestApp"),
        local_one: channel(m, "LocalOne"),
        local_two: channel(m, "LocalTwo"),
        dest_transferer_channel: text(m, "DestTransfererChannel"),
        transferee: channel(m, "Transferee"),
        is_external: flag(m, "IsExternal"),
    })
}

/// `MusicOnHoldStart`.
pub(crate) fn moh_start(m: &Message) -> Kind {
    Kind::MusicOnHoldStarted(MusicOnHoldStarted {
        channel: snapshot(m),
        music_class: text(m, "Class"),
    })
}

/// `MusicOnHoldStop`.
pub(crate) fn moh_stop(m: &Message) -> Kind {
    Kind::MusicOnHoldStopped(MusicOnHoldStopped {
        channel: snapshot(m),
    })
}

/// Asterisk 11's `MusicOnHold` with `State: Start|Stop`.
pub(crate) fn legacy_moh(m: &Message) -> Option<Kind> {
    let state = first(m, &["State"]).unwrap_or_default();
    if state.eq_ignore_ascii_case("Start") {
        Some(moh_start(m))
    } else if state.eq_ignore_ascii_case("Stop") {
        Some(moh_stop(m))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_as_listed() {
        assert_eq!(parse_duration("00:00:05"), Some(5));
        assert_eq!(parse_duration("25:01:02"), Some(25 * 3600 + 62));
        assert_eq!(parse_duration("42"), Some(42));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1:2:3:4"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
