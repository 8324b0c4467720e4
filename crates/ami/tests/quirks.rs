//! One test per quirk of the real Asterisk 22 stream listed in the corpus
//! README ("Things in the real stream that a naive parser/monitor gets wrong"),
//! each asserted on the recorded bytes, at the exact spot where it happens.
//!
//! Coverage of the README's 17 items:
//! * here (decode level): 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 17;
//! * 12 (events interleaving with responses and with open event lists) is about
//!   correlating by ActionID across messages: the client's tests
//!   (`tests/client.rs`) cover it; the decoder only has to classify each
//!   message on its own, which the tests of items 5 and 6 check here;
//! * 16 (failed dials leave no callee channel; wrong-password INVITEs create no
//!   channel) is about the call state built from events: it belongs to the
//!   state projection's tests, outside this crate.
//!
//! Values are compared with an independent reading of the raw text (plain
//! string splitting, no decoder code) wherever the quirk is about bytes.

use ringside_testkit::corpus;

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use ringside_ami::codec::{AmiCodec, decode_all};
use ringside_ami::{Message, MessageKind};

struct Transcript {
    name: String,
    raw: Vec<u8>,
    messages: Vec<Message>,
}

fn decode(name: String, raw: Vec<u8>) -> Transcript {
    let (items, err) = decode_all(&raw);
    assert!(err.is_none(), "{name}: {err:?}");
    let messages = items
        .into_iter()
        .map(|m| m.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    Transcript {
        name,
        raw,
        messages,
    }
}

/// Every transcript, decoded once per test process.
fn corpus() -> &'static [Transcript] {
    static CORPUS: OnceLock<Vec<Transcript>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        corpus::transcripts()
            .into_iter()
            .map(|(name, raw)| decode(name, raw))
            .collect()
    })
}

/// One transcript, decoded on its own (tests run one per process under
/// nextest: no need to decode the whole corpus for one file).
fn transcript(name: &str) -> &'static Transcript {
    static LOADED: Mutex<Vec<&'static Transcript>> = Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap();
    if let Some(t) = loaded.iter().find(|t| t.name == name) {
        return t;
    }
    let path = corpus::dir().join(format!("{name}.ami"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t: &'static Transcript = Box::leak(Box::new(decode(name.to_owned(), raw)));
    loaded.push(t);
    t
}

fn raw_text(t: &Transcript) -> &str {
    std::str::from_utf8(&t.raw).expect("the corpus is UTF-8")
}

fn with_action_id<'a>(messages: &'a [Message], id: &str) -> Vec<&'a Message> {
    messages
        .iter()
        .filter(|m| m.action_id() == Some(id))
        .collect()
}

/// The one message answering `id`, which must be a plain response.
fn response<'a>(messages: &'a [Message], id: &str) -> &'a Message {
    let found: Vec<_> = with_action_id(messages, id)
        .into_iter()
        .filter(|m| m.get("Response").is_some() && m.get("Event").is_none())
        .collect();
    assert_eq!(found.len(), 1, "responses with ActionID {id}");
    found[0]
}

/// The raw text of the CRLF-framed message that contains `needle`, cut out of
/// the transcript with plain string searches (no decoder code involved).
fn raw_block<'a>(raw: &'a str, needle: &str) -> &'a str {
    let at = raw
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in transcript"));
    let start = raw[..at].rfind("\r\n\r\n").map_or(0, |i| i + 4);
    let end = at + raw[at..].find("\r\n\r\n").expect("block is terminated");
    &raw[start..end]
}

/// `Output:` lines of a raw block, read the simplest way.
fn raw_output_lines(block: &str) -> Vec<&str> {
    block
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("Output: "))
        .collect()
}

fn events_named<'a>(messages: &'a [Message], name: &'a str) -> impl Iterator<Item = &'a Message> {
    messages
        .iter()
        .filter(move |m| m.get("Event") == Some(name))
}

// Item 1 ---------------------------------------------------------------------

#[test]
fn banner_is_one_line_glued_to_the_login_response() {
    for t in corpus() {
        let raw = raw_text(t);
        // The banner line is followed directly by the first header of the
        // answer to Login (or Challenge): no blank line in between, so a
        // splitter on "\r\n\r\n" would glue them into one block.
        let after_banner = raw
            .strip_prefix("Asterisk Call Manager/11.0.0\r\n")
            .unwrap_or_else(|| panic!("{}: banner", t.name));
        assert!(after_banner.starts_with("Response: "), "{}", t.name);
        let naive_first_block = raw.split("\r\n\r\n").next().unwrap();
        assert!(naive_first_block.contains("Response: "), "{}", t.name);

        let banner = &t.messages[0];
        assert_eq!(banner.kind(), MessageKind::Banner, "{}", t.name);
        assert_eq!(banner.name(), "Asterisk Call Manager/11.0.0");
        assert_eq!(banner.headers().count(), 0, "{}", t.name);
        let first = &t.messages[1];
        assert_eq!(first.kind(), MessageKind::Response, "{}", t.name);
        let id = first.action_id().unwrap();
        assert!(
            id.ends_with("-login") || id.ends_with("-challenge"),
            "{}: {id}",
            t.name
        );
    }
}

#[test]
fn banner_version_is_the_ami_protocol_not_the_asterisk_version() {
    let t = transcript("basic-calls");
    assert_eq!(t.messages[0].name(), "Asterisk Call Manager/11.0.0");
    let settings = response(&t.messages, "mon-18-coresettings");
    assert_eq!(settings.get("AMIversion"), Some("11.0.0"));
    assert_eq!(settings.get("AsteriskVersion"), Some("22.10.1"));
}

// Item 2 ---------------------------------------------------------------------

#[test]
fn fully_booted_is_pushed_right_after_every_login_once_the_server_is_up() {
    let mut sessions = 0;
    for t in corpus() {
        if t.name == "boot-and-sync" || t.name == "actions-badlogin" {
            continue; // booting, and refused: see the tests below
        }
        let login = t
            .messages
            .iter()
            .position(|m| m.action_id().is_some_and(|id| id.ends_with("-login")))
            .unwrap_or_else(|| panic!("{}: no login response", t.name));
        assert_eq!(
            t.messages[login].get("Message"),
            Some("Authentication accepted"),
            "{}",
            t.name
        );
        let next = &t.messages[login + 1];
        assert_eq!(next.kind(), MessageKind::Event, "{}", t.name);
        assert_eq!(next.name(), "FullyBooted", "{}", t.name);
        assert!(next.get("Uptime").is_some(), "{}", t.name);
        assert!(next.get("LastReload").is_some(), "{}", t.name);
        sessions += 1;
    }
    assert_eq!(sessions, 10);
}

#[test]
fn during_boot_actions_of_unloaded_modules_are_unknown_until_fully_booted() {
    let m = &transcript("boot-and-sync").messages;
    let booted = m
        .iter()
        .position(|m| m.get("Event") == Some("FullyBooted"))
        .unwrap();
    // The first sync round, sent while modules were loading.
    let early = response(m, "mon-2-pjsipshowendpoints");
    assert!(!early.is_success());
    assert!(
        early
            .get("Message")
            .unwrap()
            .starts_with("Invalid/unknown command: PJSIPShowEndpoints.")
    );
    let early_at = m.iter().position(|x| std::ptr::eq(x, early)).unwrap();
    assert!(early_at < booted);
    // The second round, after FullyBooted, gets an event list.
    let late = response(m, "mon-22-pjsipshowendpoints");
    assert!(late.is_success());
    assert_eq!(late.get("EventList"), Some("start"));
    assert!(m.iter().position(|x| std::ptr::eq(x, late)).unwrap() > booted);
}

// Item 3 ---------------------------------------------------------------------

#[test]
fn bare_lf_inside_the_no_contacts_message_is_not_a_message_boundary() {
    let t = transcript("boot-and-sync");
    // The exact bytes: a lone "\n" ends the Message line, then CRLF CRLF.
    let raw = raw_text(t);
    let at = raw.find("Message: No Contacts found\n\r\n\r\n").unwrap();
    assert!(raw[..at].ends_with("ActionID: mon-25-pjsipshowcontacts\r\n"));

    let i = t
        .messages
        .iter()
        .position(|m| m.action_id() == Some("mon-25-pjsipshowcontacts"))
        .unwrap();
    let m = &t.messages[i];
    assert_eq!(m.kind(), MessageKind::Response);
    let headers: Vec<_> = m.headers().map(|h| (h.key, h.value.unwrap())).collect();
    assert_eq!(
        headers,
        [
            ("Response", "Error"),
            ("ActionID", "mon-25-pjsipshowcontacts"),
            ("Message", "No Contacts found"),
        ]
    );
    // The extra CRLF is neither glued to the next message nor a message of
    // its own: the next one is the answer to the next action.
    assert_eq!(t.messages[i + 1].action_id(), Some("mon-26-pjsipshowaors"));
    assert_eq!(t.messages[i + 1].name(), "Success");
}

// Item 4 ---------------------------------------------------------------------

#[test]
fn empty_lists_are_answered_with_an_error_not_an_event_list() {
    let mut seen = HashSet::new();
    for t in corpus() {
        for m in &t.messages {
            let Some(text @ ("No Contacts found" | "No active conferences.")) = m.get("Message")
            else {
                continue;
            };
            let id = m.action_id().unwrap();
            assert_eq!(m.kind(), MessageKind::Response, "{}: {id}", t.name);
            assert!(!m.is_success(), "{}: {id}", t.name);
            assert_eq!(m.get("EventList"), None, "{}: {id}", t.name);
            // Nothing else ever carries that ActionID: no items, no Complete.
            assert_eq!(with_action_id(&t.messages, id).len(), 1, "{}: {id}", t.name);
            seen.insert((t.name.as_str(), text));
        }
    }
    assert!(seen.contains(&("boot-and-sync", "No Contacts found")));
    assert!(seen.contains(&("boot-and-sync", "No active conferences.")));
    assert!(seen.contains(&("actions-monitoruser", "No active conferences.")));
}

// Item 5 ---------------------------------------------------------------------

/// The list-closing events named in the README, in its order.
const LIST_COMPLETE_NAMES: [&str; 18] = [
    "EndpointListComplete",
    "ContactListComplete",
    "AorListComplete",
    "OutboundRegistrationDetailComplete",
    "InboundRegistrationDetailComplete",
    "PeerlistComplete",
    "RegistrationsComplete",
    "CoreShowChannelsComplete",
    "BridgeListComplete",
    "QueueStatusComplete",
    "QueueSummaryComplete",
    "DeviceStateListComplete",
    "ExtensionStateListComplete",
    "StatusComplete",
    "ChannelsHungupListComplete",
    "DBGetComplete",
    "EndpointDetailComplete",
    "ContactStatusDetailComplete",
];

#[test]
fn every_list_complete_event_carries_eventlist_complete_and_its_action_id() {
    let mut found = HashSet::new();
    for t in corpus() {
        for (i, m) in t.messages.iter().enumerate() {
            let name = m.get("Event");
            let listed = name.is_some_and(|n| LIST_COMPLETE_NAMES.contains(&n));
            if m.kind() != MessageKind::ListComplete && !listed {
                continue;
            }
            let name = name.unwrap();
            assert!(
                listed,
                "{}: {name} closes a list but is not in the README",
                t.name
            );
            assert_eq!(m.kind(), MessageKind::ListComplete, "{}: {name}", t.name);
            assert_eq!(m.get("EventList"), Some("Complete"), "{}: {name}", t.name);
            // Its ActionID is the one of the response that opened the list.
            let id = m.action_id().unwrap();
            let opened = t.messages[..i].iter().any(|r| {
                r.kind() == MessageKind::Response
                    && r.action_id() == Some(id)
                    && r.get("EventList") == Some("start")
            });
            assert!(opened, "{}: {name} {id} closes no open list", t.name);
            found.insert(name);
        }
    }
    for name in LIST_COMPLETE_NAMES {
        assert!(found.contains(name), "{name} never seen");
    }
    // The peculiar ones the README points out.
    let m = &transcript("basic-calls").messages;
    let out = events_named(m, "OutboundRegistrationDetailComplete")
        .next()
        .unwrap();
    assert_eq!(out.get("Registered"), Some("1"));
    assert_eq!(out.get("NotRegistered"), Some("1"));
    let status = events_named(&transcript("actions").messages, "StatusComplete")
        .next()
        .unwrap();
    assert_eq!(status.get("ListItems"), Some("1"));
    assert_eq!(status.get("Items"), Some("1"));
}

// Item 6 ---------------------------------------------------------------------

#[test]
fn list_items_reusing_live_event_names_are_classified_as_list_items() {
    for name in ["DeviceStateChange", "ExtensionStatus"] {
        let (mut items, mut live) = (0, 0);
        for t in corpus() {
            for m in events_named(&t.messages, name) {
                if let Some(id) = m.action_id() {
                    assert!(id.ends_with("statelist"), "{}: {id}", t.name);
                    assert_eq!(m.get("Privilege"), None, "{}: {id}", t.name);
                    assert_eq!(m.kind(), MessageKind::ListItem, "{}: {id}", t.name);
                    items += 1;
                } else {
                    assert!(m.get("Privilege").is_some(), "{}", t.name);
                    assert_eq!(m.kind(), MessageKind::Event, "{}", t.name);
                    live += 1;
                }
            }
        }
        assert!(items > 0 && live > 0, "{name}: {items} items, {live} live");
    }
}

#[test]
fn every_event_carrying_the_action_id_of_an_open_list_is_a_list_item() {
    // Includes `Status`, the one list item that carries a Privilege header
    // (manager.c writes a fixed "Privilege: Call"; broadcast events carry
    // their classes followed by "all").
    let mut status_items = 0;
    for t in corpus() {
        let mut open = HashSet::new();
        for m in &t.messages {
            let id = m.action_id();
            match m.kind() {
                MessageKind::Response if m.get("EventList") == Some("start") => {
                    open.insert(id.unwrap());
                }
                MessageKind::ListComplete => {
                    assert!(open.remove(id.unwrap()), "{}", t.name);
                }
                _ if m.get("Event").is_some() && id.is_some_and(|id| open.contains(id)) => {
                    assert_eq!(
                        m.kind(),
                        MessageKind::ListItem,
                        "{}: {} {id:?}",
                        t.name,
                        m.name()
                    );
                    status_items += usize::from(m.name() == "Status");
                }
                _ => {}
            }
        }
        assert!(open.is_empty(), "{}: lists never closed: {open:?}", t.name);
    }
    assert_eq!(status_items, 2);
}

// Item 7 ---------------------------------------------------------------------

#[test]
fn events_with_a_response_header_are_classified_as_events() {
    for (file, name, count) in [
        ("actions", "OriginateResponse", 6),
        ("failures", "ChallengeResponseFailed", 7),
    ] {
        let events: Vec<_> = events_named(&transcript(file).messages, name).collect();
        assert_eq!(events.len(), count, "{name}");
        for m in events {
            assert!(m.get("Response").is_some(), "{name}");
            assert_eq!(m.kind(), MessageKind::Event, "{name}");
            assert_eq!(m.name(), name);
        }
    }
    // OriginateResponse's Response header tells the outcome: both occur.
    let outcomes: HashSet<_> = events_named(&transcript("actions").messages, "OriginateResponse")
        .map(|m| m.get("Response").unwrap())
        .collect();
    assert_eq!(outcomes, HashSet::from(["Success", "Failure"]));
}

#[test]
fn dbgetresponse_is_an_event_not_a_response() {
    let m = &transcript("actions").messages;
    let found = with_action_id(m, "mon-41-dbget");
    let kinds: Vec<_> = found.iter().map(|m| (m.kind(), m.name())).collect();
    assert_eq!(
        kinds,
        [
            (MessageKind::Response, "Success"),
            // An item of the DBGet event list, despite its name.
            (MessageKind::ListItem, "DBGetResponse"),
            (MessageKind::ListComplete, "DBGetComplete"),
        ]
    );
    let item = found[1];
    assert_eq!(item.get("Privilege"), None);
    assert_eq!(item.get("Family"), Some("lab"));
    assert_eq!(item.get("Key"), Some("k1"));
    assert_eq!(item.get("Val"), Some("v1"));
    // A key that is not there is an error response, not an empty list.
    let missing = response(m, "mon-42-dbget");
    assert!(!missing.is_success());
    assert_eq!(missing.get("Message"), Some("Database entry not found"));
}

// Item 8 ---------------------------------------------------------------------

#[test]
fn keys_match_case_insensitively_across_event_types() {
    // (file, event, key as spelled in that event, spelling used elsewhere)
    let cases = [
        ("basic-calls", "Cdr", "UniqueID", "Uniqueid"),
        ("basic-calls", "Cdr", "CallerID", "Callerid"),
        ("actions", "EndpointDetail", "Callerid", "CallerID"),
        ("actions", "CoreShowChannel", "BridgeId", "BridgeID"),
        ("actions", "Status", "BridgeID", "BridgeId"),
        ("basic-calls", "QueueParams", "Holdtime", "HoldTime"),
        ("basic-calls", "QueueSummary", "HoldTime", "Holdtime"),
        ("basic-calls", "PeerEntry", "Channeltype", "ChannelType"),
        ("basic-calls", "ContactStatus", "AOR", "Aor"),
        ("basic-calls", "ContactStatus", "URI", "Uri"),
        ("basic-calls", "ContactList", "Uri", "URI"),
        ("basic-calls", "ContactList", "CallId", "CallID"),
        ("actions", "ContactStatusDetail", "CallID", "CallId"),
        ("basic-calls", "EndpointList", "Aor", "AOR"),
        ("actions", "EndpointDetail", "Accountcode", "AccountCode"),
        ("basic-calls", "Newchannel", "AccountCode", "Accountcode"),
    ];
    for (file, event, spelled, other) in cases {
        assert_ne!(spelled, other);
        let t = transcript(file);
        let m = events_named(&t.messages, event)
            .find(|m| m.headers().any(|h| h.key == spelled))
            .unwrap_or_else(|| panic!("{file}: no {event} with {spelled}"));
        // The raw line, read without the decoder.
        let raw_value = raw_block(raw_text(t), m.as_text())
            .split("\r\n")
            .find_map(|l| l.strip_prefix(&format!("{spelled}: ")))
            .unwrap();
        assert_eq!(m.get(spelled), Some(raw_value), "{event}.{spelled}");
        assert_eq!(
            m.get(other),
            Some(raw_value),
            "{event}: {other} for {spelled}"
        );
        assert_eq!(
            m.get(&spelled.to_ascii_lowercase()),
            Some(raw_value),
            "{event}.{spelled}"
        );
    }
    // A Cdr has a Channel but no key spelled Uniqueid, only UniqueID.
    let cdr = events_named(&transcript("basic-calls").messages, "Cdr")
        .next()
        .unwrap();
    assert!(cdr.get("Channel").is_some());
    assert!(!cdr.headers().any(|h| h.key == "Uniqueid"));
    assert_eq!(cdr.get("Uniqueid"), cdr.get("UniqueID"));
}

// Item 9 ---------------------------------------------------------------------

#[test]
fn non_numeric_uniqueids_survive_decoding() {
    let (mut system_named, mut originated) = (0, 0);
    for t in corpus() {
        for key in ["Uniqueid", "Linkedid"] {
            // Every value as written on the wire, in order, read as text.
            let raw: Vec<&str> = raw_text(t)
                .split("\r\n")
                .filter_map(|l| {
                    let (k, v) = l.split_once(": ")?;
                    k.eq_ignore_ascii_case(key).then_some(v)
                })
                .collect();
            let decoded: Vec<&str> = t.messages.iter().flat_map(|m| m.get_all(key)).collect();
            assert_eq!(decoded, raw, "{}: {key}", t.name);
            system_named += decoded.iter().filter(|v| v.starts_with("lab-pbx-")).count();
            originated += decoded.iter().filter(|v| **v == "lab-orig-1").count();
        }
    }
    assert!(system_named > 1000, "{system_named}");
    assert!(originated > 10, "{originated}");
    // The channel created by Originate with `ChannelId: lab-orig-1`.
    let created = events_named(&transcript("actions").messages, "Newchannel")
        .find(|m| m.get("Uniqueid") == Some("lab-orig-1"))
        .unwrap();
    assert_eq!(created.get("Linkedid"), Some("lab-orig-1"));
    assert!(created.get("Channel").unwrap().starts_with("PJSIP/1004-"));
}

// Item 10 --------------------------------------------------------------------

#[test]
fn command_output_keeps_every_output_line_in_order_including_empty_ones() {
    let t = transcript("actions");
    let raw = raw_text(t);
    assert!(!raw.contains("--END COMMAND--"));
    // (ActionID, command, success)
    for (id, command, success) in [
        ("mon-6-command", "core show help", true),
        ("mon-7-command", "sip show peers", false),
        ("mon-8-command", "queue show", true),
        ("mon-9-command", "core show version", true),
    ] {
        let m = response(&t.messages, id);
        assert_eq!(m.kind(), MessageKind::CommandOutput, "{command}");
        assert_eq!(m.is_success(), success, "{command}");
        assert_eq!(m.get("Message"), Some("Command output follows"));
        assert_eq!(m.legacy_body(), None);
        let expected = raw_output_lines(raw_block(raw, &format!("ActionID: {id}\r\n")));
        assert_eq!(m.command_output(), expected, "{command}");
    }
    let help = response(&t.messages, "mon-6-command").command_output();
    assert!(help.len() > 200, "{}", help.len());
    assert!(help[0].starts_with("!  "));
    let queues = response(&t.messages, "mon-8-command").command_output();
    assert_eq!(queues.iter().filter(|l| l.is_empty()).count(), 3);
    assert_eq!(queues[1], "   No Members");
    assert_eq!(queues.last(), Some(&""));
    let unknown = response(&t.messages, "mon-7-command").command_output();
    assert!(unknown[0].starts_with("No such command 'sip show peers'"));
}

// Item 11 --------------------------------------------------------------------

#[test]
fn responses_without_action_id_are_decoded() {
    let m = &transcript("actions").messages;
    let with_id = m
        .iter()
        .position(|m| m.action_id() == Some("mon-3-ping"))
        .unwrap();
    // `Action: Ping` sent without ActionID: the answer has none either.
    let raw_ping = &m[with_id + 1];
    assert_eq!(raw_ping.kind(), MessageKind::Response);
    assert_eq!(raw_ping.action_id(), None);
    let headers: Vec<_> = raw_ping
        .headers()
        .map(|h| (h.key, h.value.unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Response", "Success"),
            ("Ping", "Pong"),
            ("Timestamp", "1795395804.564398"),
        ]
    );
    assert_eq!(m[with_id + 2].action_id(), Some("mon-4-events"));
    assert_eq!(response(m, "mon-4-events").get("Events"), Some("Off"));
    assert_eq!(response(m, "mon-14-events").get("Events"), Some("On"));
}

#[test]
fn logoff_and_a_failed_login_are_the_last_message_before_the_server_closes() {
    // decode_all reports a stream cut inside a message as an error; corpus()
    // asserted there is none, so each stream ends right after these answers.
    let last = transcript("actions").messages.last().unwrap();
    assert_eq!(last.kind(), MessageKind::Response);
    assert_eq!(last.name(), "Goodbye");
    assert!(last.is_success());
    assert_eq!(last.action_id(), Some("mon-56-logoff"));

    let refused = &transcript("actions-badlogin").messages;
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1].kind(), MessageKind::Response);
    assert!(!refused[1].is_success());
    assert_eq!(refused[1].get("Message"), Some("Authentication failed"));
}

// Item 13 --------------------------------------------------------------------

#[test]
fn varset_dominates_the_stream_and_a_filter_removes_it_for_the_rest_of_the_session() {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for t in corpus() {
        for m in &t.messages {
            if matches!(m.kind(), MessageKind::Event) {
                *counts.entry(m.name()).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<_> = counts.into_iter().collect();
    ranked.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let total: usize = ranked.iter().map(|(_, n)| n).sum();
    assert_eq!(ranked[0].0, "VarSet");
    assert_eq!(ranked[1].0, "Newexten");
    assert!(ranked[0].1 * 100 / total >= 40, "{ranked:?}");

    // actions.ami: `Filter: !Event: VarSet` and `!Event: Newexten`.
    let m = &transcript("actions").messages;
    let filtered = m
        .iter()
        .position(|m| m.action_id() == Some("mon-51-filter"))
        .unwrap();
    let before = |name: &str| m[..filtered].iter().filter(|m| m.name() == name).count();
    let after = |name: &str| m[filtered..].iter().filter(|m| m.name() == name).count();
    assert!(before("VarSet") > 0 && before("Newexten") > 0);
    assert_eq!((after("VarSet"), after("Newexten")), (0, 0));
    // Other events still flow after the filter (the last Originate's call).
    assert!(after("Newchannel") > 0);
}

// Item 14 --------------------------------------------------------------------

#[test]
fn empty_values_are_empty_strings_and_leading_spaces_are_kept() {
    // `Value:   minrxlost=...` of RTPAUDIOQOSLOSS: the colon, the one space
    // of the syntax, then two spaces that are the value's own.
    let t = transcript("actions-monitoruser");
    let line = raw_text(t)
        .split("\r\n")
        .find(|l| l.starts_with("Value:   minrxlost="))
        .unwrap();
    let varset = t
        .messages
        .iter()
        .find(|m| m.name() == "VarSet" && m.get("Variable") == Some("RTPAUDIOQOSLOSS"))
        .unwrap();
    assert_eq!(varset.get("Value"), Some(&line["Value: ".len()..]));
    assert!(varset.get("Value").unwrap().starts_with("  minrxlost="));

    // Named examples from the README.
    let user_event = events_named(&transcript("actions").messages, "UserEvent")
        .next()
        .unwrap();
    assert_eq!(user_event.get("Empty"), Some(""));
    assert_eq!(user_event.get("Header1"), Some("value one"));
    let challenge = events_named(&transcript("basic-calls").messages, "ChallengeSent")
        .next()
        .unwrap();
    assert_eq!(challenge.get("Challenge"), Some(""));

    // Everywhere: each raw `Key: ` line with nothing after it decodes to
    // Some(""), never None and never a missing header.
    for t in corpus() {
        let raw_empty = raw_text(t)
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| {
                l.split_once(": ")
                    .is_some_and(|(k, v)| v.is_empty() && !k.contains(':'))
            })
            .count();
        let decoded_empty = t
            .messages
            .iter()
            .flat_map(|m| m.headers())
            .filter(|h| h.value == Some(""))
            .count();
        assert_eq!(decoded_empty, raw_empty, "{}", t.name);
    }
    let account_codes = transcript("basic-calls")
        .messages
        .iter()
        .filter(|m| m.get("AccountCode") == Some(""))
        .count();
    assert!(account_codes > 1000, "{account_codes}");
}

// Item 15 --------------------------------------------------------------------

#[test]
fn list_commands_is_one_response_with_one_header_per_action() {
    let m = response(&transcript("actions").messages, "mon-13-listcommands");
    assert_eq!(m.kind(), MessageKind::Response);
    let headers: Vec<_> = m.headers().collect();
    assert_eq!(headers.len(), 122);
    let keys: HashSet<_> = headers.iter().map(|h| h.key.to_ascii_lowercase()).collect();
    assert_eq!(keys.len(), 122, "every key is an action name, none repeats");
    for h in &headers[2..] {
        assert!(h.value.unwrap().contains("  (Priv: "), "{h:?}");
    }
    assert_eq!(
        m.get("Originate"),
        Some("Originate a call.  (Priv: originate,all)")
    );
}

#[test]
fn real_lines_and_messages_are_short_so_a_small_cap_never_trips() {
    let mut longest_line = 0;
    let mut largest_message = 0;
    for t in corpus() {
        for m in &t.messages {
            largest_message = largest_message.max(m.as_text().len());
            for h in m.headers() {
                longest_line = longest_line.max(h.key.len() + 2 + h.value.map_or(0, str::len));
            }
        }
    }
    assert!((150..256).contains(&longest_line), "{longest_line}");
    assert!(largest_message < 32 * 1024, "{largest_message}");
    // So a cap of 32 KiB, far under the 1 MiB default, never trips on real
    // traffic.
    for t in corpus() {
        let mut codec = AmiCodec::new().with_max_message(32 * 1024);
        let mut buf = bytes::BytesMut::from(&t.raw[..]);
        let mut count = 0;
        while let Some(item) = tokio_util::codec::Decoder::decode_eof(&mut codec, &mut buf).unwrap()
        {
            item.unwrap_or_else(|e| panic!("{}: {e}", t.name));
            count += 1;
        }
        assert_eq!(count, t.messages.len(), "{}", t.name);
        assert_eq!(codec.stats().oversized, 0);
    }
}

// Item 17 --------------------------------------------------------------------

#[test]
fn channelhungup_items_have_a_channel_but_no_uniqueid() {
    let m = &transcript("actions").messages;
    let answer = with_action_id(m, "mon-34-hangup");
    assert_eq!(answer[0].kind(), MessageKind::Response);
    assert_eq!(answer[0].get("EventList"), Some("start"));
    let items = &answer[1..answer.len() - 1];
    assert_eq!(items.len(), 4);
    for item in items {
        assert_eq!(item.kind(), MessageKind::ListItem);
        assert_eq!(item.name(), "ChannelHungup");
        assert!(item.get("Channel").unwrap().starts_with("PJSIP/10"));
        assert_eq!(item.get("Uniqueid"), None);
    }
    let done = answer.last().unwrap();
    assert_eq!(done.kind(), MessageKind::ListComplete);
    assert_eq!(done.name(), "ChannelsHungupListComplete");
    assert_eq!(done.get("ListItems"), Some("4"));
}
