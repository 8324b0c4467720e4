//! Asterisk's small value sets mapped onto the proto enums.
//!
//! Spellings differ between Asterisk versions and between an event and its
//! list twin (`NOT_INUSE` in DeviceStateChange, `Not in use` in EndpointList,
//! `1` in a queue member's Status), so values are compared after
//! [`squash`]ing case, spaces and punctuation. A value not known here maps
//! to `UNSPECIFIED`; the caller keeps the raw text beside it.

use ringside_proto::events::v1::{
    CdrDisposition, ChannelState, ContactStatus, DeviceState, DialStatus, HangupCause, PeerStatus,
    QualifyStatus, RegistrationStatus,
};

/// Lower-case ASCII letters and digits only: `Auth. Sent` → `authsent`,
/// `NOT_INUSE` and `Not in use` → `notinuse`, `Ring+Inuse` → `ringinuse`.
fn squash(v: &str) -> String {
    v.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `Yes`/`No`, `true`/`false`, `1`/`0`, `on`/`off`.
pub(crate) fn boolean(v: &str) -> Option<bool> {
    match squash(v).as_str() {
        "yes" | "true" | "1" | "on" | "y" => Some(true),
        "no" | "false" | "0" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// Asterisk's numeric channel state (`enum ast_channel_state`, 0..=10).
pub(crate) fn channel_state_from_code(code: u32) -> ChannelState {
    use ChannelState::*;
    match code {
        0 => Down,
        1 => Reserved,
        2 => OffHook,
        3 => Dialing,
        4 => Ring,
        5 => Ringing,
        6 => Up,
        7 => Busy,
        8 => DialingOffhook,
        9 => Prering,
        10 => Unknown,
        _ => Unspecified,
    }
}

/// `ChannelStateDesc` (or the legacy `State`) text.
pub(crate) fn channel_state_from_desc(desc: &str) -> ChannelState {
    use ChannelState::*;
    match squash(desc).as_str() {
        "down" => Down,
        "rsrvd" | "reserved" => Reserved,
        "offhook" => OffHook,
        "dialing" => Dialing,
        "ring" => Ring,
        "ringing" => Ringing,
        "up" => Up,
        "busy" => Busy,
        "dialingoffhook" => DialingOffhook,
        "prering" => Prering,
        "unknown" => Unknown,
        _ => Unspecified,
    }
}

/// A device state in any of its spellings: `ast_devstate2str` (`NOT_INUSE`),
/// `ast_devstate_str` (`Not in use`) or the numeric `enum ast_device_state`
/// (queue members' `Status`).
pub(crate) fn device_state(v: &str) -> DeviceState {
    use DeviceState::*;
    match squash(v).as_str() {
        "0" | "unknown" => Unknown,
        "1" | "notinuse" => NotInuse,
        "2" | "inuse" => Inuse,
        "3" | "busy" => Busy,
        "4" | "invalid" => Invalid,
        "5" | "unavailable" => Unavailable,
        "6" | "ringing" => Ringing,
        "7" | "ringinuse" => Ringinuse,
        "8" | "onhold" => Onhold,
        _ => Unspecified,
    }
}

/// A PJSIP contact status: the long labels of Asterisk 14+ and the short ones
/// of Asterisk 13 (`Avail`, `Unavail`, `NonQual`).
pub(crate) fn contact_status(v: &str) -> ContactStatus {
    use ContactStatus::*;
    match squash(v).as_str() {
        "reachable" | "avail" | "available" => Reachable,
        "unreachable" | "unavail" | "unavailable" => Unreachable,
        "nonqualified" | "nonqual" => NonQualified,
        "unknown" => Unknown,
        "created" => Created,
        "removed" => Removed,
        "updated" => Updated,
        _ => Unspecified,
    }
}

/// `PeerStatus` of PJSIP, chan_sip and IAX2.
pub(crate) fn peer_status(v: &str) -> PeerStatus {
    use PeerStatus::*;
    match squash(v).as_str() {
        "registered" => Registered,
        "unregistered" => Unregistered,
        "reachable" => Reachable,
        "unreachable" => Unreachable,
        "lagged" => Lagged,
        "rejected" => Rejected,
        "unknown" => Unknown,
        _ => Unspecified,
    }
}

/// The status column of a chan_sip or IAX2 `PeerEntry`: `OK (1 ms)`,
/// `LAGGED (2100 ms)`, `UNREACHABLE`, `UNKNOWN`, `Unmonitored`; the latency
/// when it is given.
pub(crate) fn qualify(v: &str) -> (QualifyStatus, Option<u32>) {
    let v = v.trim();
    let (word, rest) = match v.find('(') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let latency = rest.and_then(|r| {
        let digits: String = r
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    });
    let status = match squash(word).as_str() {
        "ok" | "reachable" => QualifyStatus::Reachable,
        "lagged" => QualifyStatus::Lagged,
        "unreachable" => QualifyStatus::Unreachable,
        "unknown" => QualifyStatus::Unknown,
        "unmonitored" => QualifyStatus::Unmonitored,
        _ => QualifyStatus::Unspecified,
    };
    (status, latency)
}

/// Registration states of PJSIP outbound registrations, chan_sip and IAX2.
pub(crate) fn registration_status(v: &str) -> RegistrationStatus {
    use RegistrationStatus::*;
    match squash(v).as_str() {
        "registered" => Registered,
        "unregistered" => Unregistered,
        "rejected" => Rejected,
        "failed" => Failed,
        "requestsent" => RequestSent,
        "authsent" => AuthSent,
        "timeout" => Timeout,
        "noauthentication" => NoAuthentication,
        "stopping" => Stopping,
        "stopped" => Stopped,
        "unknown" => Unknown,
        _ => Unspecified,
    }
}

/// A Q.850 cause code; the proto enum's numbers are the codes themselves.
pub(crate) fn hangup_cause(code: u32) -> HangupCause {
    i32::try_from(code)
        .ok()
        .and_then(|c| HangupCause::try_from(c).ok())
        .unwrap_or(HangupCause::Unspecified)
}

/// `DialStatus` of DialEnd / DialState.
pub(crate) fn dial_status(v: &str) -> DialStatus {
    use DialStatus::*;
    match squash(v).as_str() {
        "answer" => Answer,
        "busy" => Busy,
        "noanswer" => Noanswer,
        "cancel" => Cancel,
        "congestion" => Congestion,
        "chanunavail" => Chanunavail,
        "dontcall" => Dontcall,
        "torture" => Torture,
        "invalidargs" => Invalidargs,
        "ringing" => Ringing,
        "proceeding" => Proceeding,
        "progress" => Progress,
        _ => Unspecified,
    }
}

/// The `Disposition` of a Cdr (`ANSWERED`, `NO ANSWER`, ...).
pub(crate) fn cdr_disposition(v: &str) -> CdrDisposition {
    use CdrDisposition::*;
    match squash(v).as_str() {
        "answered" => Answered,
        "noanswer" => NoAnswer,
        "busy" => Busy,
        "failed" => Failed,
        "congestion" => Congestion,
        _ => Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_states_match_in_every_spelling() {
        for v in ["NOT_INUSE", "Not in use", "1"] {
            assert_eq!(device_state(v), DeviceState::NotInuse, "{v}");
        }
        assert_eq!(device_state("Ring+Inuse"), DeviceState::Ringinuse);
        assert_eq!(device_state("On Hold"), DeviceState::Onhold);
        assert_eq!(device_state("SOMETHING_NEW"), DeviceState::Unspecified);
    }

    #[test]
    fn qualify_status_carries_the_latency() {
        assert_eq!(qualify("OK (1 ms)"), (QualifyStatus::Reachable, Some(1)));
        assert_eq!(
            qualify("LAGGED (2100 ms)"),
            (QualifyStatus::Lagged, Some(2100))
        );
        assert_eq!(qualify("UNREACHABLE"), (QualifyStatus::Unreachable, None));
        assert_eq!(qualify("Unmonitored"), (QualifyStatus::Unmonitored, None));
    }

    #[test]
    fn registration_states_of_every_technology_map() {
        assert_eq!(
            registration_status("Auth. Sent"),
            RegistrationStatus::AuthSent
        );
        assert_eq!(
            registration_status("Request Sent"),
            RegistrationStatus::RequestSent
        );
        assert_eq!(
            registration_status("No Authentication"),
            RegistrationStatus::NoAuthentication
        );
    }

    #[test]
    fn hangup_cause_enum_numbers_are_q850_codes() {
        assert_eq!(hangup_cause(16), HangupCause::NormalClearing);
        assert_eq!(hangup_cause(17), HangupCause::UserBusy);
        assert_eq!(hangup_cause(4), HangupCause::Unspecified);
        assert_eq!(hangup_cause(u32::MAX), HangupCause::Unspecified);
    }
}
