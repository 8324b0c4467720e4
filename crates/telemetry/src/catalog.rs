//! The catalog of every metric Ringside exports: one place that says what a
//! name means, its kind and its labels.
//!
//! Services record with the `metrics` macros under these names; `describe_all`
//! gives Prometheus the help texts; the recorder takes histogram buckets from
//! here; and a test checks that every metric a Grafana dashboard or an alert
//! rule queries is listed here, so a renamed metric cannot silently blank a
//! panel.
//!
//! Naming follows Prometheus: `ringside_` prefix, base units (`_seconds`,
//! `_ratio`, `_bytes`), counters end in `_total`. Labels are bounded: tenant,
//! PBX, trunk, queue and small enums; never a call id, channel or caller
//! number. Rates (calls per second, ASR, ACD) are computed in PromQL from the
//! counters and histograms below, so they aggregate correctly across
//! replicas.

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// Full Prometheus name (histograms add `_bucket`, `_sum`, `_count`).
    pub name: &'static str,
    pub kind: MetricKind,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, all of bounded cardinality.
    pub labels: &'static [&'static str],
    /// Which process records it: `ingestor`, `state`, `provisioning`,
    /// `gateway` or `all`.
    pub emitted_by: &'static str,
    /// Histogram bucket upper bounds; `None` for counters and gauges.
    pub buckets: Option<&'static [f64]>,
}

/// Latencies inside the platform: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Call durations: 5 s to 2 h.
pub const CALL_DURATION_BUCKETS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];
/// RTCP interarrival jitter: 1 ms to 500 ms.
pub const JITTER_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5];
/// RTCP fraction of packets lost: 0.1 % to 50 %.
pub const LOSS_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];

const TP: &[&str] = &["tenant", "pbx"];
const TPT: &[&str] = &["tenant", "pbx", "trunk"];
const TPQ: &[&str] = &["tenant", "pbx", "queue"];

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    emitted_by: &'static str,
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Counter,
        help,
        labels,
        emitted_by,
        buckets: None,
    }
}

const fn gauge(
    name: &'static str,
    labels: &'static [&'static str],
    emitted_by: &'static str,
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Gauge,
        help,
        labels,
        emitted_by,
        buckets: None,
    }
}

const fn histogram(
    name: &'static str,
    labels: &'static [&'static str],
    emitted_by: &'static str,
    buckets: &'static [f64],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Histogram,
        help,
        labels,
        emitted_by,
        buckets: Some(buckets),
    }
}

/// Every metric the platform exports.
pub const METRICS: &[MetricDef] = &[
    // ---- every process ------------------------------------------------------
    gauge(
        "ringside_build_info",
        &["service", "version"],
        "all",
        "Always 1; the labels say which Ringside service and version this process runs.",
    ),
    // ---- AMI ingestor -------------------------------------------------------
    gauge(
        "ringside_ami_connected",
        TP,
        "ingestor",
        "1 while the AMI session to the PBX is logged in, else 0.",
    ),
    counter(
        "ringside_ami_connects_total",
        TP,
        "ingestor",
        "Successful AMI logins to the PBX (the first one and every reconnect).",
    ),
    counter(
        "ringside_ami_disconnects_total",
        TP,
        "ingestor",
        "AMI sessions to the PBX that ended (connect failure, refused login, missed Ping, reset).",
    ),
    counter(
        "ringside_ami_events_total",
        &["tenant", "pbx", "kind"],
        "ingestor",
        "Normalized events published, by event kind.",
    ),
    counter(
        "ringside_ami_decode_errors_total",
        TP,
        "ingestor",
        "AMI messages that could not be decoded and were skipped.",
    ),
    gauge(
        "ringside_ingest_buffer_depth",
        TP,
        "ingestor",
        "Events held for the PBX while awaiting the bus.",
    ),
    counter(
        "ringside_ingest_dropped_total",
        TP,
        "ingestor",
        "Events dropped because the PBX's buffer was full (a gap; the PBX is resynchronised).",
    ),
    histogram(
        "ringside_ingest_publish_latency_seconds",
        &[],
        "ingestor",
        LATENCY_BUCKETS,
        "Time from reading an AMI event to the event stream's publish ack.",
    ),
    // ---- bus consumers ------------------------------------------------------
    gauge(
        "ringside_bus_consumer_lag_messages",
        &["consumer"],
        "state",
        "Messages in the stream not yet delivered to the durable consumer.",
    ),
    // ---- state service ------------------------------------------------------
    counter(
        "ringside_state_events_applied_total",
        &["tenant"],
        "state",
        "Events applied to the live views.",
    ),
    gauge(
        "ringside_state_snapshot_age_seconds",
        &["tenant"],
        "state",
        "Age of the newest persisted snapshot of the tenant's views.",
    ),
    gauge(
        "ringside_state_snapshot_bytes",
        &[],
        "state",
        "Size of the last persisted snapshot.",
    ),
    counter(
        "ringside_state_deltas_total",
        &[],
        "state",
        "View deltas published for gateways.",
    ),
    counter(
        "ringside_state_call_records_total",
        &[],
        "state",
        "Call records stored on calls.completed.",
    ),
    counter(
        "ringside_state_undecodable_total",
        &[],
        "state",
        "Messages on the events stream that were not envelopes (skipped).",
    ),
    // ---- gateway --------------------------------------------------------------
    gauge(
        "ringside_gateway_websocket_clients",
        &["stream"],
        "gateway",
        "Open WebSocket connections, by stream (live views, raw AMI).",
    ),
    histogram(
        "ringside_http_request_duration_seconds",
        &["method", "route", "status"],
        "gateway",
        LATENCY_BUCKETS,
        "HTTP request latency; route is the matched route template, never the raw path.",
    ),
    histogram(
        "ringside_grpc_request_duration_seconds",
        &["service", "method", "code"],
        "all",
        LATENCY_BUCKETS,
        "gRPC request latency, by service, method and status code.",
    ),
    // ---- database (provisioning, gateway) -------------------------------------
    gauge(
        "ringside_db_pool_connections",
        &["state"],
        "provisioning",
        "Database pool connections, by state (idle, in_use).",
    ),
    gauge(
        "ringside_db_pool_max_connections",
        &[],
        "provisioning",
        "Configured size of the database pool.",
    ),
    histogram(
        "ringside_db_pool_acquire_seconds",
        &[],
        "provisioning",
        LATENCY_BUCKETS,
        "Time to get a pooled connection and begin a write transaction (with SQLite, the write lock too).",
    ),
    // ---- telephony (computed by the state service from the views) --------------
    gauge(
        "ringside_calls_active",
        TP,
        "state",
        "Calls in progress on the PBX.",
    ),
    gauge(
        "ringside_channels_active",
        TP,
        "state",
        "Channels up on the PBX.",
    ),
    gauge(
        "ringside_endpoints_registered",
        &["tenant", "pbx", "tech"],
        "state",
        "Endpoints (phones) with a live registration, by technology.",
    ),
    gauge(
        "ringside_trunk_registered",
        TPT,
        "state",
        "1 while the outbound registration of the trunk is up, else 0.",
    ),
    counter(
        "ringside_call_attempts_total",
        TPT,
        "state",
        "Calls attempted (trunk is \"internal\" for calls that used none). Rate = calls per second.",
    ),
    counter(
        "ringside_calls_answered_total",
        TPT,
        "state",
        "Calls answered. ASR = answered / attempts.",
    ),
    histogram(
        "ringside_call_duration_seconds",
        TPT,
        "state",
        CALL_DURATION_BUCKETS,
        "Talk time of answered calls. ACD = sum / count.",
    ),
    gauge(
        "ringside_queue_callers_waiting",
        TPQ,
        "state",
        "Callers waiting in the queue.",
    ),
    gauge(
        "ringside_queue_longest_wait_seconds",
        TPQ,
        "state",
        "How long the longest-waiting caller has waited.",
    ),
    counter(
        "ringside_queue_abandoned_total",
        TPQ,
        "state",
        "Callers who hung up before being answered.",
    ),
    histogram(
        "ringside_rtcp_jitter_seconds",
        TPT,
        "state",
        JITTER_BUCKETS,
        "Interarrival jitter reported by RTCP, where the PBX reports it.",
    ),
    histogram(
        "ringside_rtcp_loss_ratio",
        TPT,
        "state",
        LOSS_BUCKETS,
        "Fraction of RTP packets lost reported by RTCP, where the PBX reports it.",
    ),
];

/// The catalog entry for a metric name; histogram series names
/// (`…_bucket`, `…_sum`, `…_count`) resolve to their histogram.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    if let Some(def) = METRICS.iter().find(|m| m.name == name) {
        return Some(def);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        METRICS
            .iter()
            .find(|m| m.name == base && m.kind == MetricKind::Histogram)
    })
}

/// Registers every catalog entry's help text with the installed recorder.
/// Call once per process after [`crate::init`] (it is idempotent).
pub fn describe_all() {
    for m in METRICS {
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, m.help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, m.help),
            MetricKind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for m in METRICS {
            assert!(seen.insert(m.name), "{} listed twice", m.name);
            assert!(m.name.starts_with("ringside_"), "{}", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                m.name
            );
            assert_eq!(
                m.kind == MetricKind::Histogram,
                m.buckets.is_some(),
                "{}",
                m.name
            );
            if let Some(buckets) = m.buckets {
                assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
            }
            assert!(!m.help.is_empty(), "{}", m.name);
            for label in m.labels {
                // Unbounded identifiers never become labels.
                assert!(
                    ![
                        "call", "linkedid", "uniqueid", "channel", "caller", "callee", "number"
                    ]
                    .contains(label),
                    "{}: label {label} is unbounded",
                    m.name
                );
            }
            let non_base_units = ["_milliseconds", "_ms", "_percent", "_kilobytes", "_minutes"];
            assert!(
                !non_base_units.iter().any(|u| m.name.contains(u)),
                "{}: base units only",
                m.name
            );
        }
    }

    #[test]
    fn every_metric_the_ingestor_records_is_listed() {
        // The names recorded in services/ami-ingestor (worker.rs, publisher.rs).
        for name in [
            "ringside_ami_connected",
            "ringside_ami_connects_total",
            "ringside_ami_events_total",
            "ringside_ami_decode_errors_total",
            "ringside_ingest_buffer_depth",
            "ringside_ingest_dropped_total",
            "ringside_ingest_publish_latency_seconds",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
    }

    #[test]
    fn histogram_series_resolve_to_their_histogram_only() {
        assert_eq!(
            lookup("ringside_call_duration_seconds_sum").map(|m| m.name),
            Some("ringside_call_duration_seconds")
        );
        assert!(lookup("ringside_call_duration_seconds_bucket").is_some());
        assert!(lookup("ringside_calls_active_count").is_none());
        assert!(lookup("ringside_nope").is_none());
    }
}
