//! Ringside telemetry: what every process sets up once so that operators can
//! see it — logs (tracing-subscriber), traces (OpenTelemetry over OTLP/gRPC,
//! off unless configured), Prometheus metrics (one recorder per process), the
//! catalog of every metric the platform exports, W3C trace-context helpers for
//! the bus and for HTTP/gRPC metadata, and a small `/metrics` + health HTTP
//! listener for the services that have no HTTP port of their own.
//!
//! This crate knows nothing of the bus, the services or their settings files:
//! it takes a [`TelemetrySettings`] and header getters/setters, so the bus and
//! every service can depend on it and not the other way round.

mod catalog;
mod context;
mod error;
mod http;
mod init;
mod prometheus;
mod server;
mod settings;

pub use catalog::{METRICS, MetricDef, MetricKind, describe_all, lookup};
pub use context::{
    TRACEPARENT, TRACESTATE, current_traceparent, inject_context, server_span, set_parent_from,
    set_parent_from_headers, traceparent_of,
};
pub use error::{TelemetryError, TraceContextError};
pub use http::{UNMATCHED_ROUTE, http_metrics};
pub use init::{Telemetry, exporting, init};
pub use prometheus::{MetricsHandle, metrics_handle};
pub use server::{MetricsServer, Readiness, router, serve_metrics};
pub use settings::{LogFormat, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, TelemetrySettings};
