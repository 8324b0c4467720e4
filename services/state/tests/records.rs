//! Call records agree with Asterisk's own `Cdr` events.
//!
//! Every corpus transcript is replayed with its recorded TCP reads (so
//! durations are real). Asterisk writes one `Cdr` per pair of legs, so a
//! transferred or queued call has several; they are grouped into calls by
//! the linkedid of their `UniqueID` (from `Newchannel`). A call record must
//! agree with its call's Cdrs on the caller (`Source` of the originating
//! leg's Cdr), the disposition (ANSWERED when any Cdr was, else the
//! originating leg's) and the billable seconds (from the first answer to the
//! last end, ±2 s: the record is timed by TCP reads, Asterisk by its clock
//! at one-second resolution).

use ringside_ami::{Message, MessageKind};
use ringside_state::records::CallRecord;
use ringside_state::replay::{self, Replayer};
use ringside_testkit::corpus;

struct Cdr {
    uniqueid: String,
    linkedid: String,
    source: String,
    disposition: String,
    answer: Option<i64>,
    end: Option<i64>,
    last_application: String,
}

/// `2026-11-23 01:09:42` → seconds (within one recording: only differences
/// are used).
fn seconds(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(' ')?;
    let day: i64 = date.rsplit('-').next()?.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    Some(((day * 24 + h) * 60 + m) * 60 + s)
}

fn cdrs(bytes: &[u8]) -> Vec<Cdr> {
    let (decoded, _) = ringside_ami::codec::decode_all(bytes);
    let events: Vec<Message> = decoded
        .into_iter()
        .filter_map(Result::ok)
        .filter(|m: &Message| m.kind() == MessageKind::Event)
        .collect();
    let linkedid = |uniqueid: &str| {
        events
            .iter()
            .find(|m| m.get("Event") == Some("Newchannel") && m.get("Uniqueid") == Some(uniqueid))
            .and_then(|m| m.get("Linkedid"))
            .unwrap_or(uniqueid)
            .to_owned()
    };
    events
        .iter()
        .filter(|m| m.get("Event") == Some("Cdr"))
        .map(|m| {
            let uniqueid = m.get("UniqueID").unwrap_or_default().to_owned();
            Cdr {
                linkedid: linkedid(&uniqueid),
                uniqueid,
                source: m.get("Source").unwrap_or_default().to_owned(),
                disposition: m.get("Disposition").unwrap_or_default().to_owned(),
                answer: m.get("AnswerTime").and_then(seconds),
                end: m.get("EndTime").and_then(seconds),
                last_application: m.get("LastApplication").unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

fn records_of(name: &str, bytes: &[u8]) -> Vec<CallRecord> {
    let reads = replay::parse_reads(
        &std::fs::read_to_string(corpus::path(&format!("{name}.timing.jsonl"))).unwrap(),
    )
    .unwrap();
    let mut r = Replayer::new("lab", "lab-pbx");
    r.transcript_timed(bytes, &reads);
    r.records().to_vec()
}

#[test]
fn call_records_agree_with_asterisk_cdrs() {
    let mut compared = 0;
    let mut report = Vec::new();
    for (name, bytes) in corpus::transcripts() {
        let cdrs = cdrs(&bytes);
        if cdrs.is_empty() {
            continue;
        }
        let records = records_of(&name, &bytes);
        let mut matched = 0;
        for record in &records {
            let call: Vec<&Cdr> = cdrs
                .iter()
                .filter(|c| c.linkedid == record.linkedid)
                .collect();
            let Some(origin) = call.iter().find(|c| c.uniqueid == record.linkedid) else {
                continue;
            };
            matched += 1;
            let answered = call.iter().any(|c| c.disposition == "ANSWERED");
            let disposition = if answered {
                "ANSWERED"
            } else {
                origin.disposition.as_str()
            };
            let billable = match (
                call.iter().filter_map(|c| c.answer).min(),
                call.iter().filter_map(|c| c.end).max(),
            ) {
                (Some(answer), Some(end)) => end - answer,
                _ => 0,
            };
            let mut problems = Vec::new();
            if !origin.source.is_empty() && origin.source != record.from {
                problems.push(format!("from {} vs Source {}", record.from, origin.source));
            }
            if disposition != record.disposition.as_str() {
                problems.push(format!(
                    "disposition {} vs {disposition}",
                    record.disposition.as_str()
                ));
            }
            // In a ConfBridge, Asterisk pairs each participant's CDR with
            // another participant and ends it when that one leaves (or at
            // once for the first): its times are not the caller's time in
            // the conference, which is what the record bills.
            let conference = origin.last_application == "ConfBridge";
            if !conference && (record.billable_seconds as i64 - billable).abs() > 2 {
                problems.push(format!(
                    "billable {} vs {billable}",
                    record.billable_seconds
                ));
            }
            if !problems.is_empty() {
                report.push(format!(
                    "{name} {}: {}",
                    record.linkedid,
                    problems.join(", ")
                ));
            }
        }
        // Every call that ended in the recording has Asterisk's record.
        assert!(
            matched * 10 >= records.len() * 9,
            "{name}: only {matched} of {} call records have a Cdr of their linkedid",
            records.len()
        );
        compared += matched;
    }
    assert!(report.is_empty(), "disagreements:\n{}", report.join("\n"));
    assert!(compared >= 100, "only {compared} records compared");
}

#[test]
fn a_call_record_is_made_once_per_ended_call_and_carries_the_call() {
    let bytes = std::fs::read(corpus::path("basic-calls.ami")).unwrap();
    let records = records_of("basic-calls", &bytes);
    let mut ids: Vec<&str> = records.iter().map(|r| r.call_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), records.len(), "a call recorded twice");
    // The corpus README: 20 sequential + 5 overlapping internal calls, 4
    // calls to applications and 2 from the customer trunk.
    assert_eq!(records.len(), 31);
    for r in &records {
        assert!(!r.from.is_empty(), "{r:?}");
        assert!(!r.to.is_empty(), "{r:?}");
        assert!(r.start_ms <= r.end_ms, "{r:?}");
        assert!(!r.end_inferred, "{r:?}");
    }
    let to_echo = records
        .iter()
        .find(|r| r.to == "600")
        .expect("the Echo call");
    assert!(to_echo.billable_seconds >= 2, "{to_echo:?}");
}
