//! RTCPSent / RTCPReceived summarised into one report kind.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{RtcpDirection, RtcpReport, RtcpReportBlock};

use crate::fields::{channel, first, num, parse_num, prefixed, text, text_any};

/// Report blocks are numbered from 0; more than this is not a real RTCP
/// packet (the count field is 5 bits).
const MAX_BLOCKS: usize = 31;

pub(crate) fn rtcp(m: &Message, direction: RtcpDirection) -> Kind {
    let mut reports = Vec::new();
    for i in 0..MAX_BLOCKS {
        let prefix = format!("Report{i}");
        let Some(ssrc) = prefixed(m, &prefix, "SourceSSRC") else {
            break;
        };
        let get = |name: &str| prefixed(m, &prefix, name);
        reports.push(RtcpReportBlock {
            source_ssrc: ssrc.to_owned(),
            fraction_lost: get("FractionLost").and_then(parse_num),
            cumulative_lost: get("CumulativeLost").and_then(parse_num),
            highest_sequence: get("HighestSequence").and_then(parse_num),
            sequence_number_cycles: get("SequenceNumberCycles").and_then(parse_num),
            jitter: get("IAJitter").and_then(parse_num),
            lsr: get("LSR").unwrap_or_default().to_owned(),
            dlsr: get("DLSR").and_then(parse_num),
        });
    }
    if reports.is_empty() && (m.get("FractionLost").is_some() || m.get("IAJitter").is_some()) {
        // Asterisk 11: one flat block (`ReportBlock`/`SenderSSRC`,
        // `CumulativeLoss`/`PacketsLost`, `TheirLastSR`/`LastSR`).
        reports.push(RtcpReportBlock {
            source_ssrc: text_any(m, &["ReportBlock", "SenderSSRC"]),
            fraction_lost: num(m, "FractionLost"),
            cumulative_lost: first(m, &["CumulativeLoss", "PacketsLost"]).and_then(parse_num),
            highest_sequence: num(m, "HighestSequence"),
            sequence_number_cycles: num(m, "SequenceNumberCycles"),
            jitter: num(m, "IAJitter"),
            lsr: text_any(m, &["LastSR", "TheirLastSR"]),
            dlsr: num(m, "DLSR"),
        });
    }
    let head = reports.first();
    Kind::RtcpReport(RtcpReport {
        direction: direction as i32,
        channel: channel(m, ""),
        ssrc: text_any(m, &["SSRC", "OurSSRC", "SenderSSRC"]),
        payload_type: text(m, "PT"),
        from: text(m, "From"),
        to: text(m, "To"),
        rtt: num(m, "RTT"),
        mes: num(m, "MES"),
        jitter: head.and_then(|b| b.jitter),
        fraction_lost: head.and_then(|b| b.fraction_lost),
        cumulative_lost: head.and_then(|b| b.cumulative_lost),
        sent_packets: num(m, "SentPackets"),
        sent_octets: num(m, "SentOctets"),
        sent_ntp: text(m, "SentNTP"),
        sent_rtp: text(m, "SentRTP"),
        reports,
    })
}
