//! Errors: bad telemetry settings are refused at start with a message that
//! names the key; a collector that is away is never an error (see `init`).

/// Telemetry that cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `[telemetry] log_filter` is not a valid tracing filter.
    #[error("telemetry.log_filter: invalid filter {filter:?}: {reason}")]
    InvalidLogFilter { filter: String, reason: String },
    /// `[telemetry] sample_ratio` outside `0.0..=1.0`.
    #[error("telemetry.sample_ratio: {0} is not between 0.0 and 1.0")]
    InvalidSampleRatio(f64),
    /// `[telemetry] otlp_timeout` of zero.
    #[error("telemetry.otlp_timeout: must be more than zero")]
    InvalidOtlpTimeout,
    /// `[telemetry] otlp_endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) unusable.
    #[error("telemetry.otlp_endpoint: {endpoint:?}: {reason}")]
    InvalidOtlpEndpoint { endpoint: String, reason: String },
    /// `[telemetry] service_name` empty or with control characters.
    #[error("telemetry.service_name: {0:?} is empty or has control characters")]
    InvalidServiceName(String),
    /// The OTLP exporter needs a Tokio runtime to build its gRPC channel.
    #[error(
        "telemetry: an OTLP endpoint is configured but init was called outside a Tokio runtime"
    )]
    NoRuntime,
    /// The exporter refused its configuration.
    #[error("telemetry: building the OTLP exporter failed: {0}")]
    Exporter(String),
    /// Another metrics recorder (not ours) is already installed in this process.
    #[error("telemetry: a different metrics recorder is already installed: {0}")]
    MetricsRecorder(String),
    /// The metrics/health listener could not bind or failed while serving.
    #[error("telemetry: metrics listener on {addr}: {source}")]
    Listener {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A trace context that cannot be used as a parent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceContextError {
    /// The `traceparent` value is not a valid W3C trace context.
    #[error("invalid traceparent {0:?}")]
    InvalidTraceparent(String),
    /// The span has no OpenTelemetry layer under it (tracing export is off, or
    /// another subscriber was installed first).
    #[error("no OpenTelemetry layer: trace export is not configured in this process")]
    NoLayer,
    /// The span was already entered; a parent must be set before that.
    #[error("the span has already started; set its parent before entering it")]
    AlreadyStarted,
    /// The span is disabled by the log filter.
    #[error("the span is disabled by the filter")]
    SpanDisabled,
}
