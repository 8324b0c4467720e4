//! The telephony figures a NOC watches, as Prometheus metrics (names from
//! `crates/telemetry`'s catalog): gauges sampled from the views on a timer,
//! counters from call records as they are made. Labels stay bounded: tenant,
//! PBX, trunk, queue, technology — never a call.

use std::collections::BTreeMap;

use ringside_proto::events::v1::RtcpReport;

use crate::Engine;
use crate::records::{CallRecord, Disposition};
use crate::views::{EndpointStatus, TrunkKind};

/// Counts a finished call: attempt, answer, talk time.
pub(crate) fn call_recorded(record: &CallRecord) {
    let trunk = if record.trunk.is_empty() {
        "internal".to_owned()
    } else {
        record.trunk.clone()
    };
    let labels = [
        ("tenant", record.tenant.clone()),
        ("pbx", record.pbx.clone()),
        ("trunk", trunk),
    ];
    metrics::counter!("ringside_call_attempts_total", &labels).increment(1);
    if record.disposition == Disposition::Answered {
        metrics::counter!("ringside_calls_answered_total", &labels).increment(1);
        metrics::histogram!("ringside_call_duration_seconds", &labels)
            .record(record.billable_seconds as f64);
    }
}

/// Sets the gauges from the views of every PBX of the engine; `now_ms` for
/// queue wait times.
pub(crate) fn sample(engine: &Engine, now_ms: i64) {
    let pbxs: Vec<(String, String)> = engine
        .projection()
        .pbx_ids()
        .map(|(t, p)| (t.to_owned(), p.to_owned()))
        .collect();
    for (tenant, pbx) in pbxs {
        let snapshot = engine.projection().snapshot_of(&tenant, &pbx);
        let tp = [("tenant", tenant.clone()), ("pbx", pbx.clone())];
        metrics::gauge!("ringside_calls_active", &tp).set(snapshot.calls.len() as f64);
        metrics::gauge!("ringside_channels_active", &tp).set(snapshot.channels.len() as f64);

        let mut registered: BTreeMap<&str, u32> = BTreeMap::new();
        for e in &snapshot.endpoints {
            let count = registered.entry(e.technology.as_str()).or_default();
            if !matches!(
                e.status,
                EndpointStatus::Unavailable | EndpointStatus::Offline | EndpointStatus::Unknown
            ) {
                *count += 1;
            }
        }
        for (tech, count) in registered {
            metrics::gauge!(
                "ringside_endpoints_registered",
                "tenant" => tenant.clone(), "pbx" => pbx.clone(), "tech" => tech.to_owned()
            )
            .set(f64::from(count));
        }
        for t in &snapshot.trunks {
            let up = match t.kind {
                TrunkKind::PjsipRegistration | TrunkKind::Iax2Registration => {
                    t.status == "registered"
                }
                TrunkKind::Iax2Peer => t.status == "reachable",
                TrunkKind::PjsipEndpoint => !matches!(
                    t.status.as_str(),
                    "unavailable" | "offline" | "unknown" | ""
                ),
            };
            metrics::gauge!(
                "ringside_trunk_registered",
                "tenant" => tenant.clone(), "pbx" => pbx.clone(), "trunk" => t.name.clone()
            )
            .set(if up { 1.0 } else { 0.0 });
        }
        for q in &snapshot.queues {
            let labels = [
                ("tenant", tenant.clone()),
                ("pbx", pbx.clone()),
                ("queue", q.name.clone()),
            ];
            metrics::gauge!("ringside_queue_callers_waiting", &labels).set(q.callers.len() as f64);
            let longest = q
                .callers
                .iter()
                .filter_map(|c| c.joined_ms)
                .min()
                .map_or(0.0, |joined| ((now_ms - joined).max(0) as f64) / 1000.0);
            metrics::gauge!("ringside_queue_longest_wait_seconds", &labels).set(longest);
            metrics::counter!("ringside_queue_abandoned_total", &labels)
                .absolute(u64::from(q.abandoned));
        }
    }
}

/// Records an RTCP report's jitter and loss against the trunk its channel
/// uses (`internal` for a channel of an extension).
pub(crate) fn rtcp(
    engine: &Engine,
    env: &ringside_proto::events::v1::Envelope,
    report: &RtcpReport,
) {
    let trunk = report
        .channel
        .as_ref()
        .and_then(|c| {
            let (device, _) = c.name.rsplit_once('-')?;
            let (tech, name) = device.split_once('/')?;
            let live = engine.projection().live_view(&env.tenant, &env.pbx)?;
            (tech == "IAX2" || (tech == "PJSIP" && live.is_pjsip_trunk(name)))
                .then(|| name.to_owned())
        })
        .unwrap_or_else(|| "internal".to_owned());
    let labels = [
        ("tenant", env.tenant.clone()),
        ("pbx", env.pbx.clone()),
        ("trunk", trunk),
    ];
    if let Some(jitter) = report.jitter {
        metrics::histogram!("ringside_rtcp_jitter_seconds", &labels).record(jitter);
    }
    if let Some(lost) = report.fraction_lost {
        // RTCP's fraction lost is in 256ths.
        metrics::histogram!("ringside_rtcp_loss_ratio", &labels).record(f64::from(lost) / 256.0);
    }
}
