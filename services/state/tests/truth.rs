//! The projected views agree with what Asterisk itself said (the corpus
//! `*.truth.txt` files, captured with `asterisk -rx` at the end of a
//! scenario, and `*.mid.truth.txt` / `*.down.truth.txt` captured in the
//! middle of one).
//!
//! Compared: the set of live channels (`core show channels concise`), the
//! status of every PJSIP endpoint (`pjsip show endpoints`: extensions in the
//! endpoint view, endpoints with outbound auths in the trunk view), outbound
//! registrations (`pjsip show registrations`), IAX2 peer reachability (`iax2
//! show peers`), IAX2 registrations (`iax2 show registry`), queue members
//! (interface, paused, calls taken, device state) and waiting callers
//! (`queue show`), and conference rooms with their number of participants
//! (`confbridge list`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use ringside_ami::{AmiCodec, Message};
use ringside_state::Projection;
use ringside_state::replay::Replayer;
use ringside_state::views::{EndpointStatus, Snapshot};
use ringside_testkit::corpus;
use tokio_util::codec::Decoder;

const TENANT: &str = "lab";
const PBX: &str = "lab-pbx";

/// What the Asterisk CLI said.
#[derive(Debug, Default)]
struct Truth {
    channels: BTreeSet<String>,
    endpoints: BTreeMap<String, String>,
    registrations: BTreeMap<String, String>,
    iax2_peers: BTreeMap<String, String>,
    iax2_registry: BTreeMap<String, String>,
    queues: BTreeMap<String, QueueTruth>,
    conferences: BTreeMap<String, u32>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct QueueTruth {
    /// interface → (paused, calls taken, device state as printed)
    members: BTreeMap<String, (bool, u32, String)>,
    callers: BTreeSet<String>,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = name.trim().to_owned();
            out.entry(current.clone()).or_default();
        } else if !current.is_empty() {
            out.get_mut(&current)
                .expect("section exists")
                .push(strip_ansi(line));
        }
    }
    out
}

const DEVICE_STATES: &[&str] = &[
    "Not in use",
    "In use",
    "Busy",
    "Unavailable",
    "Ringing",
    "Ring+Inuse",
    "On Hold",
    "Invalid",
    "Unknown",
];

fn parse_truth(text: &str) -> Truth {
    let s = sections(text);
    let mut t = Truth::default();
    for line in &s["core show channels concise"] {
        if let Some(name) = line.split('!').next().filter(|_| line.contains('!')) {
            // ConfBridge announcer channels never appear on AMI (corpus
            // README): not something a monitor can see.
            if !name.starts_with("CBAnn/") {
                t.channels.insert(name.to_owned());
            }
        }
    }
    for line in &s["pjsip show endpoints"] {
        let Some(rest) = line.trim_start().strip_prefix("Endpoint:") else {
            continue;
        };
        if rest.contains("<Endpoint/CID") {
            continue;
        }
        let rest = rest.trim();
        let (id, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = id.split('/').next().unwrap_or(id);
        let tail = tail.trim();
        let state = DEVICE_STATES
            .iter()
            .find(|s| tail.starts_with(*s))
            .unwrap_or_else(|| panic!("unknown endpoint state in {line:?}"));
        t.endpoints.insert(name.to_owned(), (*state).to_owned());
    }
    let mut in_table = false;
    for line in &s["pjsip show registrations"] {
        if line.starts_with("=====") {
            in_table = true;
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if in_table && words.len() >= 3 && !line.starts_with("Objects found") {
            let name = words[0].split('/').next().unwrap_or(words[0]);
            t.registrations
                .insert(name.to_owned(), words[2].to_ascii_lowercase());
        }
    }
    for line in s["iax2 show peers"].iter().skip(1) {
        if line.contains("iax2 peers [") || line.trim().is_empty() {
            continue;
        }
        let name = line.split_whitespace().next().unwrap_or_default();
        let name = name.split('/').next().unwrap_or(name);
        let status = if line.contains(" OK (") {
            "reachable"
        } else if line.contains("UNREACHABLE") {
            "unreachable"
        } else if line.contains("LAGGED") {
            "lagged"
        } else if line.contains("Unmonitored") {
            "unmonitored"
        } else {
            "unknown"
        };
        t.iax2_peers.insert(name.to_owned(), status.to_owned());
    }
    for line in s["iax2 show registry"].iter().skip(1) {
        if line.contains("IAX2 registrations") || line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        // Host dnsmgr Username Perceived Refresh State...
        let state = words[5..].join(" ").to_ascii_lowercase().replace(' ', "_");
        t.iax2_registry.insert(words[0].to_owned(), state);
    }
    let mut queue = String::new();
    for line in &s["queue show"] {
        if !line.starts_with(' ') && line.contains(" has ") {
            queue = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            t.queues.entry(queue.clone()).or_default();
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || queue.is_empty() {
            continue;
        }
        let q = t.queues.get_mut(&queue).expect("queue exists");
        if let Some((pos, rest)) = trimmed.split_once(". ")
            && pos.chars().all(|c| c.is_ascii_digit())
        {
            let channel = rest.split_whitespace().next().unwrap_or_default();
            q.callers.insert(channel.to_owned());
        } else if let Some(open) = trimmed.find(" (")
            && trimmed.contains(" has taken ")
        {
            let after = &trimmed[open + 2..];
            let interface = after.split(')').next().unwrap_or_default().to_owned();
            let paused = trimmed.contains("(paused");
            let calls = trimmed
                .split(" has taken ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let state = DEVICE_STATES
                .iter()
                .find(|s| trimmed.contains(&format!("({s})")))
                .map(|s| (*s).to_owned())
                .unwrap_or_default();
            q.members.insert(interface, (paused, calls, state));
        }
    }
    let mut in_table = false;
    for line in s.get("confbridge list").into_iter().flatten() {
        if line.starts_with("=====") {
            in_table = true;
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if in_table && words.len() >= 2 {
            t.conferences
                .insert(words[0].to_owned(), words[1].parse().unwrap_or(0));
        }
    }
    t
}

/// The CLI's endpoint state as the endpoint status the views should show.
fn endpoint_status(cli: &str) -> EndpointStatus {
    match cli {
        "Not in use" => EndpointStatus::Online,
        "In use" | "Busy" => EndpointStatus::InUse,
        "Unavailable" => EndpointStatus::Unavailable,
        "Ringing" | "Ring+Inuse" => EndpointStatus::Ringing,
        "On Hold" => EndpointStatus::OnHold,
        _ => EndpointStatus::Unknown,
    }
}

fn trunk_endpoint_status(cli: &str) -> &'static str {
    match endpoint_status(cli) {
        EndpointStatus::Online => "online",
        EndpointStatus::InUse => "in_use",
        EndpointStatus::Unavailable => "unavailable",
        EndpointStatus::Ringing => "ringing",
        EndpointStatus::OnHold => "on_hold",
        EndpointStatus::Offline => "offline",
        EndpointStatus::Unknown => "unknown",
    }
}

/// The queue member device state as `queue show` prints it.
fn member_state(view: &str) -> &'static str {
    match view {
        "not_inuse" => "Not in use",
        "inuse" => "In use",
        "busy" => "Busy",
        "unavailable" => "Unavailable",
        "ringing" => "Ringing",
        "ringinuse" => "Ring+Inuse",
        "onhold" => "On Hold",
        "invalid" => "Invalid",
        _ => "Unknown",
    }
}

fn channel_names(s: &Snapshot) -> BTreeSet<String> {
    s.channels.iter().map(|c| c.name.clone()).collect()
}

/// Every difference between the views and the truth, empty when they agree.
fn compare(s: &Snapshot, t: &Truth) -> Vec<String> {
    let mut diffs = Vec::new();
    let channels = channel_names(s);
    if channels != t.channels {
        diffs.push(format!(
            "channels: views {channels:?}, asterisk {:?}",
            t.channels
        ));
    }
    for (name, cli) in &t.endpoints {
        if let Some(e) = s.endpoints.iter().find(|e| e.name == *name) {
            if e.status != endpoint_status(cli) {
                diffs.push(format!("endpoint {name}: {:?}, asterisk {cli}", e.status));
            }
        } else if let Some(tr) = s.trunks.iter().find(|tr| tr.name == *name) {
            if tr.status != trunk_endpoint_status(cli) {
                diffs.push(format!(
                    "trunk endpoint {name}: {}, asterisk {cli}",
                    tr.status
                ));
            }
        } else {
            diffs.push(format!("endpoint {name} missing"));
        }
    }
    let trunk = |name: &str| s.trunks.iter().find(|t| t.name == name);
    for (name, status) in &t.registrations {
        match trunk(name) {
            Some(tr) if tr.status == *status => {}
            other => diffs.push(format!(
                "registration {name}: {:?}, asterisk {status}",
                other.map(|t| &t.status)
            )),
        }
    }
    for (name, status) in &t.iax2_peers {
        match trunk(name) {
            Some(tr) if tr.status == *status => {}
            other => diffs.push(format!(
                "iax2 peer {name}: {:?}, asterisk {status}",
                other.map(|t| &t.status)
            )),
        }
    }
    for (host, state) in &t.iax2_registry {
        match s
            .trunks
            .iter()
            .find(|tr| tr.address == *host && tr.name.contains('@'))
        {
            Some(tr) if tr.status == *state => {}
            other => diffs.push(format!(
                "iax2 registration {host}: {:?}, asterisk {state}",
                other.map(|t| &t.status)
            )),
        }
    }
    for (name, qt) in &t.queues {
        let Some(q) = s.queues.iter().find(|q| q.name == *name) else {
            diffs.push(format!("queue {name} missing"));
            continue;
        };
        let members: BTreeMap<String, (bool, u32, String)> = q
            .members
            .iter()
            .map(|m| {
                (
                    m.interface.clone(),
                    (m.paused, m.calls_taken, member_state(&m.status).to_owned()),
                )
            })
            .collect();
        if members != qt.members {
            diffs.push(format!(
                "queue {name} members: views {members:?}, asterisk {:?}",
                qt.members
            ));
        }
        let callers: BTreeSet<String> = q.callers.iter().map(|c| c.channel.clone()).collect();
        if callers != qt.callers {
            diffs.push(format!(
                "queue {name} callers: views {callers:?}, asterisk {:?}",
                qt.callers
            ));
        }
    }
    let rooms: BTreeMap<String, u32> = s
        .conferences
        .iter()
        .map(|c| (c.name.clone(), c.participants.len() as u32))
        .collect();
    if rooms != t.conferences {
        diffs.push(format!(
            "conferences: views {rooms:?}, asterisk {:?}",
            t.conferences
        ));
    }
    diffs
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus::path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn truth(name: &str) -> Truth {
    parse_truth(&String::from_utf8(read(name)).expect("truth is UTF-8"))
}

fn final_views(scenario: &str) -> Snapshot {
    let bytes = read(&format!("{scenario}.ami"));
    let r = ringside_state::replay::replay(&[&bytes], TENANT, PBX);
    assert_eq!(r.stats().decode_errors, 0);
    let s = r.projection().snapshot_of(TENANT, PBX);
    assert!(!s.pbxs[0].stale, "{scenario}: resync completed");
    s
}

fn assert_final_truth(scenario: &str) {
    let s = final_views(scenario);
    let t = truth(&format!("{scenario}.truth.txt"));
    let diffs = compare(&s, &t);
    assert!(diffs.is_empty(), "{scenario}: {diffs:#?}");
}

/// `HH:MM:SS` of an ISO time (`2026-11-23T01:16:30Z`) in seconds of the day.
fn seconds_of_day(iso: &str) -> i64 {
    let time = iso
        .split('T')
        .nth(1)
        .expect("ISO time")
        .trim_end_matches('Z');
    time.split(':')
        .map(|p| p.parse::<i64>().expect("number"))
        .fold(0, |acc, n| acc * 60 + n)
}

/// Replays `scenario` up to the moment `truth_file` was captured and
/// compares.
///
/// The truth header (`captured ... at <UTC>`) and the transcript's
/// `start_utc` (meta.json) have one-second resolution, so the capture time
/// is known within ±1 s of `t = captured - start`. The stream is replayed
/// once; after every chunk of the timing file whose state lasts into that
/// window (nearest to `t` first) the channel set is compared, and the first
/// point where it matches Asterisk's is where every other view is compared
/// too.
fn assert_mid_truth(scenario: &str, truth_file: &str) {
    let bytes = read(&format!("{scenario}.ami"));
    let text = String::from_utf8(read(truth_file)).expect("UTF-8");
    let captured = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(" at ").next())
        .expect("capture time");
    let meta: serde_json::Value =
        serde_json::from_slice(&read(&format!("{scenario}.meta.json"))).expect("meta");
    let start = meta["start_utc"].as_str().expect("start_utc");
    let t_ms = (seconds_of_day(captured) - seconds_of_day(start)) as f64 * 1000.0;
    let t = parse_truth(&text);

    // Messages decoded after each chunk, as the recorder received them.
    let timing = String::from_utf8(read(&format!("{scenario}.timing.jsonl"))).expect("UTF-8");
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::new();
    let mut decoded = 0usize;
    // (t_ms of the chunk, index of the last complete message after it)
    let mut points: Vec<(f64, usize)> = Vec::new();
    for line in timing.lines() {
        let chunk: serde_json::Value = serde_json::from_str(line).expect("timing line");
        let off = chunk["offset"].as_u64().expect("offset") as usize;
        let len = chunk["len"].as_u64().expect("len") as usize;
        let at = chunk["t_ms"].as_f64().expect("t_ms");
        buf.extend_from_slice(&bytes[off..off + len]);
        while let Some(_m) = codec.decode(&mut buf).expect("corpus decodes") {
            decoded += 1;
        }
        if decoded > 0 {
            points.push((at, decoded - 1));
        }
    }
    // The state after a chunk holds until the next one: a point is a
    // candidate when that interval meets [t - 1 s, t + 1 s]; its distance is
    // how far the interval is from t.
    let mut candidates: Vec<(f64, f64, usize)> = Vec::new();
    for (k, &(at, index)) in points.iter().enumerate() {
        let until = points.get(k + 1).map_or(f64::INFINITY, |p| p.0);
        let distance = if t_ms < at {
            at - t_ms
        } else if t_ms >= until {
            t_ms - until
        } else {
            0.0
        };
        if distance <= 1000.0 {
            candidates.push((distance, at, index));
        }
    }
    assert!(
        !candidates.is_empty(),
        "{scenario}: no chunk near {t_ms} ms"
    );
    let (messages, error) = ringside_ami::codec::decode_all(&bytes);
    assert!(error.is_none());
    let messages: Vec<Message> = messages.into_iter().map(|m| m.expect("decodes")).collect();
    assert_eq!(
        messages.len(),
        decoded,
        "incremental and whole decode agree"
    );

    let mut matching: Vec<(f64, f64, Snapshot)> = Vec::new();
    let mut replayer = Replayer::new(TENANT, PBX);
    let last = candidates.iter().map(|c| c.2).max().expect("candidates");
    replayer.connection_observed(&messages, |i, p: &Projection| {
        for (dist, at, _) in candidates.iter().filter(|c| c.2 == i) {
            let s = p.snapshot_of(TENANT, PBX);
            if channel_names(&s) == t.channels {
                matching.push((*dist, *at, s));
            }
        }
        i < last
    });
    matching.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, at, s)) = matching.into_iter().next() else {
        panic!(
            "{scenario}: the channel set never matches {:?} within ±1 s of {t_ms} ms",
            t.channels
        );
    };
    println!("{truth_file}: compared at t = {at} ms (nominal {t_ms} ms)");
    let diffs = compare(&s, &t);
    assert!(diffs.is_empty(), "{truth_file} at {at} ms: {diffs:#?}");
}

#[test]
fn basic_calls_final_views_agree_with_asterisk() {
    assert_final_truth("basic-calls");
}

#[test]
fn failures_final_views_agree_with_asterisk() {
    assert_final_truth("failures");
}

#[test]
fn hold_transfer_final_views_agree_with_asterisk() {
    assert_final_truth("hold-transfer");
}

#[test]
fn hold_transfer_mid_views_agree_with_asterisk() {
    assert_mid_truth("hold-transfer", "hold-transfer.mid.truth.txt");
}

#[test]
fn queue_conf_final_views_agree_with_asterisk() {
    assert_final_truth("queue-conf-sample");
}

#[test]
fn queue_conf_mid_views_agree_with_asterisk() {
    assert_mid_truth("queue-conf-sample", "queue-conf-sample.mid.truth.txt");
}

#[test]
fn trunks_final_views_agree_with_asterisk() {
    assert_final_truth("trunks-sample");
}

#[test]
fn trunks_down_views_agree_with_asterisk() {
    assert_mid_truth("trunks-sample", "trunks-sample.down.truth.txt");
}

#[test]
fn load_final_views_agree_with_asterisk() {
    assert_final_truth("load-sample");
}

#[test]
fn load_mid_views_agree_with_asterisk() {
    assert_mid_truth("load-sample", "load-sample.mid.truth.txt");
}

#[test]
fn truth_files_parse_into_what_the_cli_printed() {
    let t = truth("hold-transfer.mid.truth.txt");
    assert_eq!(
        t.channels,
        [
            "PJSIP/1002-00000067",
            "PJSIP/1003-00000068",
            "PJSIP/1010-0000006c"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(t.endpoints["1002"], "In use");
    assert_eq!(t.endpoints["1016"], "Unavailable");
    assert_eq!(t.registrations["carrier-reg"], "registered");
    assert_eq!(t.registrations["itsp-down-reg"], "rejected");
    assert_eq!(t.iax2_peers["carrier-iax"], "reachable");
    assert_eq!(t.iax2_peers["branch-iax"], "unreachable");
    assert_eq!(t.iax2_registry["127.0.0.2:4569"], "registered");
    assert_eq!(
        t.queues["support"].members["PJSIP/1001"],
        (false, 1, "Not in use".to_owned())
    );
}

#[test]
fn boot_and_sync_final_views_agree_with_asterisk() {
    assert_final_truth("boot-and-sync");
}

#[test]
fn dtmf_final_views_agree_with_asterisk() {
    assert_final_truth("dtmf");
}
