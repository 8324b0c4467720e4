//! Asterisk's `Cdr` event (cdr_manager).

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{CdrRecorded, Header};

use crate::fields::{num, text};
use crate::values;

/// The headers read into named fields, plus the envelope's; anything else is
/// kept in `extra` (cdr_manager.conf `[mappings]` adds custom ones).
const KNOWN: &[&str] = &[
    "Event",
    "Privilege",
    "SystemName",
    "Timestamp",
    "AccountCode",
    "Source",
    "Destination",
    "DestinationContext",
    "CallerID",
    "Channel",
    "DestinationChannel",
    "LastApplication",
    "LastData",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "Duration",
    "BillableSeconds",
    "Disposition",
    "AMAFlags",
    "UniqueID",
    "UserField",
];

pub(crate) fn cdr(m: &Message) -> Kind {
    let raw = text(m, "Disposition");
    let extra = m
        .headers()
        .filter(|h| !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(h.key)))
        .map(|h| Header {
            key: h.key.to_owned(),
            value: h.value.map(str::to_owned),
        })
        .collect();
    Kind::CdrRecorded(CdrRecorded {
        account_code: text(m, "AccountCode"),
        source: text(m, "Source"),
        destination: text(m, "Destination"),
        destination_context: text(m, "DestinationContext"),
        caller_id: text(m, "CallerID"),
        channel: text(m, "Channel"),
        destination_channel: text(m, "DestinationChannel"),
        last_application: text(m, "LastApplication"),
        last_data: text(m, "LastData"),
        start_time: text(m, "StartTime"),
        answer_time: text(m, "AnswerTime"),
        end_time: text(m, "EndTime"),
        duration: num(m, "Duration"),
        billable_seconds: num(m, "BillableSeconds"),
        disposition: values::cdr_disposition(&raw) as i32,
        disposition_raw: raw,
        ama_flags: text(m, "AMAFlags"),
        // `UniqueID` in a Cdr, `Uniqueid` elsewhere: get() ignores case.
        uniqueid: text(m, "UniqueID"),
        user_field: text(m, "UserField"),
        extra,
    })
}
