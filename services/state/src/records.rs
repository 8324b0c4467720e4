//! Call records: what the state service says about a call once it has
//! ended, published on `ringside.v1.<tenant>.calls.completed` for rating.
//!
//! A record is made from the call as last seen in the views (from, to,
//! direction, trunk, start and answer times) plus what the events said on
//! the way that the views do not keep ([`CallNotes`]: the dial outcome and
//! the hangup cause). The disposition follows Asterisk's CDR rules, so where
//! Asterisk also sent its own `Cdr` event the two agree.

use serde::{Deserialize, Serialize};

use ringside_proto::events::v1::DialStatus;

use crate::views::Call;

/// Asterisk's CDR dispositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Disposition {
    #[serde(rename = "ANSWERED")]
    Answered,
    #[serde(rename = "NO ANSWER")]
    NoAnswer,
    #[serde(rename = "BUSY")]
    Busy,
    #[serde(rename = "FAILED")]
    Failed,
    /// Only from Asterisks with `congestion = yes` in cdr.conf; others say
    /// FAILED. Ringside reports what the PBX's dial said.
    #[serde(rename = "CONGESTION")]
    Congestion,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Congestion => "CONGESTION",
        }
    }
}

/// What the events of a call said that the views do not keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallNotes {
    /// The best dial outcome seen (`ANSWER` beats `BUSY` beats the rest).
    #[serde(with = "crate::persist::proto_enum")]
    pub dial: DialStatus,
    /// The hangup cause of the originating leg, else of the first leg that
    /// hung up.
    pub cause: Option<u32>,
    pub cause_text: String,
    pub cause_from_origin: bool,
    /// The call as seen over its life: legs come and go (the callee's leg
    /// may be gone before the caller hangs up), so the first non-empty
    /// number, the earliest times and the trunk once known are kept.
    pub seen: Option<Call>,
}

impl CallNotes {
    pub(crate) fn dialed(&mut self, status: DialStatus) {
        let rank = |s: DialStatus| match s {
            DialStatus::Answer => 3,
            DialStatus::Busy => 2,
            DialStatus::Noanswer
            | DialStatus::Cancel
            | DialStatus::Congestion
            | DialStatus::Chanunavail => 1,
            _ => 0,
        };
        if rank(status) > rank(self.dial) {
            self.dial = status;
        }
    }

    pub(crate) fn saw(&mut self, call: &Call) {
        let Some(seen) = &mut self.seen else {
            self.seen = Some(call.clone());
            return;
        };
        // The caller's number as last presented (a dialplan may set the
        // outbound caller id), as Asterisk's CDR `src` is.
        let origin_present = call.legs.first() == Some(&call.id);
        if origin_present && !call.from.is_empty() && call.from != "<unknown>" {
            seen.from.clone_from(&call.from);
        }
        if seen.to.is_empty() {
            seen.to.clone_from(&call.to);
        }
        if seen.trunk.is_empty() && !call.trunk.is_empty() {
            seen.trunk.clone_from(&call.trunk);
            seen.direction.clone_from(&call.direction);
        }
        seen.start_ms = min_some(seen.start_ms, call.start_ms);
        seen.answer_ms = min_some(seen.answer_ms, call.answer_ms);
    }

    pub(crate) fn hung_up(&mut self, origin: bool, cause: Option<u32>, text: &str) {
        if self.cause_from_origin || (self.cause.is_some() && !origin) {
            return;
        }
        self.cause = cause;
        self.cause_text = text.to_owned();
        self.cause_from_origin = origin;
    }
}

/// A finished call (the JSON of `ringside.v1.<tenant>.calls.completed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `<pbx>:<linkedid>`: unique per tenant; rating is idempotent by it and
    /// it is the record's de-duplication id on the bus.
    pub call_id: String,
    pub tenant: String,
    pub pbx: String,
    pub linkedid: String,
    pub from: String,
    pub to: String,
    pub direction: String,
    pub trunk: String,
    /// The customer, when provisioning data names one (not known to the
    /// state service yet: always empty for now).
    pub customer: String,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub end_ms: i64,
    /// Whole seconds from answer to end (0 when not answered).
    pub billable_seconds: u64,
    pub disposition: Disposition,
    pub hangup_cause: Option<u32>,
    pub hangup_cause_text: String,
    /// True when the end was not seen (the call was gone when a resync
    /// completed after a disconnect): `end_ms` is when that was learned.
    pub end_inferred: bool,
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The record of `last` (the call as last seen), ended at `end_ms`.
pub fn record(last: &Call, mut notes: CallNotes, end_ms: i64, end_inferred: bool) -> CallRecord {
    notes.saw(last);
    let notes = &notes;
    let call = notes.seen.as_ref().unwrap_or(last);
    let start_ms = call.start_ms.unwrap_or(end_ms);
    // As Asterisk's CDR: a Dial's outcome decides the disposition (a caller
    // answered by a queue whose agents never picked up is NO ANSWER); the
    // billable time runs from the call's answer whoever answered.
    let disposition = match notes.dial {
        DialStatus::Answer => Disposition::Answered,
        DialStatus::Unspecified if call.answer_ms.is_some() => Disposition::Answered,
        _ => disposition_unanswered(notes),
    };
    let billable_seconds = match call.answer_ms {
        Some(answer) => u64::try_from((end_ms - answer).max(0) / 1000).unwrap_or(0),
        None => 0,
    };
    CallRecord {
        call_id: format!("{}:{}", call.pbx, call.id),
        tenant: call.tenant.clone(),
        pbx: call.pbx.clone(),
        linkedid: call.id.clone(),
        from: call.from.clone(),
        to: call.to.clone(),
        direction: call.direction.clone(),
        trunk: call.trunk.clone(),
        customer: String::new(),
        start_ms,
        answer_ms: call.answer_ms,
        end_ms,
        billable_seconds,
        disposition,
        hangup_cause: notes.cause,
        hangup_cause_text: notes.cause_text.clone(),
        end_inferred,
    }
}

/// Asterisk's rule (cdr.c) for a call nobody answered: the dial outcome
/// when there was a Dial (`dial_status_to_disposition`), else the hangup
/// cause (`cdr_object_set_disposition`: 17 busy, 34 congestion, 3 and 20
/// failed), else NO ANSWER.
fn disposition_unanswered(notes: &CallNotes) -> Disposition {
    match notes.dial {
        DialStatus::Busy => return Disposition::Busy,
        DialStatus::Noanswer | DialStatus::Cancel => return Disposition::NoAnswer,
        DialStatus::Congestion => return Disposition::Congestion,
        DialStatus::Chanunavail => return Disposition::Failed,
        _ => {}
    }
    match notes.cause {
        Some(17) => Disposition::Busy,
        Some(34) => Disposition::Congestion,
        Some(3 | 20) => Disposition::Failed,
        _ => Disposition::NoAnswer,
    }
}
