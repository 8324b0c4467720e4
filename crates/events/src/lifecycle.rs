//! The kinds the ingestor makes itself (Connected, Disconnected, SyncStarted,
//! SyncCompleted) and how to read what a PBX answered to a resync list
//! action.

use ringside_ami::{Message, MessageKind};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    Connected, Disconnected, SyncCompleted, SyncListResult, SyncOutcome, SyncReason, SyncStarted,
};

/// The session is up. `banner` is the line as received
/// (`Asterisk Call Manager/11.0.0`); its version is the AMI protocol's.
pub fn connected(banner: &str, asterisk_version: Option<&str>) -> Kind {
    let ami_version = banner
        .rsplit_once('/')
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Kind::Connected(Connected {
        banner: banner.to_owned(),
        ami_version,
        asterisk_version: asterisk_version.map(str::to_owned),
    })
}

pub fn disconnected(reason: impl Into<String>) -> Kind {
    Kind::Disconnected(Disconnected {
        reason: reason.into(),
    })
}

pub fn sync_started(reason: SyncReason, detail: impl Into<String>) -> Kind {
    Kind::SyncStarted(SyncStarted {
        reason: reason as i32,
        detail: detail.into(),
    })
}

pub fn sync_completed(lists: Vec<SyncListResult>) -> Kind {
    Kind::SyncCompleted(SyncCompleted { lists })
}

/// How a list action of a resync ended, from the response Asterisk sent to
/// it and the number of entries that followed.
///
/// Asterisk answers an empty list with an error (`No Contacts found`,
/// `No active conferences.`), a module not loaded (or still booting) with
/// `Invalid/unknown command`, and a missing class with `Permission denied`.
pub fn list_result(action: &str, response: &Message, entries: u32) -> SyncListResult {
    let message = response.get("Message").unwrap_or_default().trim();
    SyncListResult {
        action: action.to_owned(),
        outcome: classify(response, message) as i32,
        entries,
        message: message.to_owned(),
    }
}

fn classify(response: &Message, message: &str) -> SyncOutcome {
    if response.is_success() {
        return SyncOutcome::Ok;
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("permission denied") {
        SyncOutcome::PermissionDenied
    } else if lower.contains("invalid/unknown command") {
        SyncOutcome::NotLoaded
    } else if lower.starts_with("no ") && (lower.contains("found") || lower.contains("active")) {
        SyncOutcome::Empty
    } else {
        SyncOutcome::Failed
    }
}

/// Asterisk's version (`22.10.1`) from the answer to `CoreSettings`
/// (`AsteriskVersion:`) or to `Command: core show version`
/// (`Output: Asterisk 22.10.1 built by ...`).
pub fn asterisk_version(answer: &Message) -> Option<String> {
    if let Some(v) = answer.get("AsteriskVersion") {
        return Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    if answer.kind() == MessageKind::CommandOutput {
        return answer.command_output().into_iter().find_map(|line| {
            let rest = line.trim().strip_prefix("Asterisk ")?;
            let version = rest.split_whitespace().next()?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| version.to_owned())
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: &[(&str, &str)]) -> Message {
        Message::from_headers(headers.iter().copied()).unwrap()
    }

    #[test]
    fn list_errors_are_read_for_what_they_mean() {
        let cases = [
            ("No Contacts found", SyncOutcome::Empty),
            ("No active conferences.", SyncOutcome::Empty),
            ("Permission denied", SyncOutcome::PermissionDenied),
            (
                "Invalid/unknown command: PJSIPShowEndpoints. Use Action: ListCommands to show available commands.",
                SyncOutcome::NotLoaded,
            ),
            ("Something else", SyncOutcome::Failed),
        ];
        for (text, want) in cases {
            let r = msg(&[("Response", "Error"), ("Message", text)]);
            let got = list_result("X", &r, 0);
            assert_eq!(got.outcome(), want, "{text}");
            assert_eq!(got.message, text);
        }
        let ok = msg(&[("Response", "Success"), ("EventList", "start")]);
        assert_eq!(list_result("X", &ok, 3).outcome(), SyncOutcome::Ok);
    }

    #[test]
    fn banner_version_is_the_ami_protocol_version() {
        let Kind::Connected(c) = connected("Asterisk Call Manager/11.0.0", Some("22.10.1")) else {
            unreachable!()
        };
        assert_eq!(c.ami_version, "11.0.0");
        assert_eq!(c.asterisk_version.as_deref(), Some("22.10.1"));
    }

    #[test]
    fn asterisk_version_comes_from_core_settings_or_core_show_version() {
        let settings = msg(&[("Response", "Success"), ("AsteriskVersion", "22.10.1")]);
        assert_eq!(asterisk_version(&settings).as_deref(), Some("22.10.1"));
        let cli = msg(&[
            ("Response", "Success"),
            ("Message", "Command output follows"),
            ("Output", "Asterisk 22.10.1 built by root @ lab on a x86_64"),
        ]);
        assert_eq!(asterisk_version(&cli).as_deref(), Some("22.10.1"));
    }
}
