//! `init`: logs, traces and metrics for one process, set up once.
//!
//! - Logs go to stderr (stdout belongs to the commands), as text or JSON,
//!   filtered by `log_filter` / `RUST_LOG`.
//! - Traces are exported over OTLP/gRPC only when an endpoint is configured.
//!   The gRPC channel connects lazily and exports happen on the batch
//!   processor's own thread, so a collector that is away never delays or fails
//!   start-up; each export is bounded by `otlp_timeout`, and the exporter's own
//!   events (`opentelemetry*`, `tonic`, `h2`, `hyper`, `tower`) are kept out of
//!   the OpenTelemetry layer so a failing export does not produce spans that
//!   fail to export.
//! - Metrics: the process's Prometheus recorder (see [`crate::metrics_handle`])
//!   and `ringside_build_info`.

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, Resolved};

/// Whether this process exports traces (see [`exporting`]).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process exports traces. Hot paths (one span per AMI event)
/// ask first, so that without a collector they cost nothing.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}
use crate::{MetricsHandle, TelemetryError, TelemetrySettings, metrics_handle};

/// Targets of the exporter's own machinery, never turned into spans.
const EXPORTER_TARGETS: &[&str] = &["opentelemetry", "tonic", "h2", "hyper", "tower", "reqwest"];

/// The longest [`Telemetry::shutdown`] waits for the last spans to leave.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// What `init` set up; keep it for the life of the process and call
/// [`Telemetry::shutdown`] at the end so buffered spans are sent.
#[derive(Debug)]
pub struct Telemetry {
    metrics: MetricsHandle,
    provider: Option<SdkTracerProvider>,
    service_name: String,
    installed: bool,
}

/// Sets up logging, tracing export and the metrics recorder for the process
/// running `service` (`ingestor`, `state`, `provisioning`, `gateway`,
/// `ringside` for the monolith).
///
/// Safe to call more than once: the first call installs the global
/// subscriber and recorder; later calls return the same metrics handle with
/// no trace exporter of their own (and say so with
/// [`Telemetry::is_installed`]).
///
/// # Errors
/// Invalid settings (the message names the key), an OTLP endpoint configured
/// outside a Tokio runtime, or a foreign metrics recorder already installed.
/// An unreachable collector is *not* an error.
pub fn init(settings: &TelemetrySettings, service: &str) -> Result<Telemetry, TelemetryError> {
    let resolved = settings.resolve(service, |k| std::env::var(k).ok())?;
    init_resolved(resolved)
}

fn init_resolved(r: Resolved) -> Result<Telemetry, TelemetryError> {
    let metrics = metrics_handle()?;

    let provider = match &r.endpoint {
        Some(endpoint) => Some(tracer_provider(&r, endpoint)?),
        None => None,
    };

    let fmt = fmt_layer(r.format).with_filter(env_filter(&r.filter));
    let otel = provider.as_ref().map(|provider| {
        let tracer = provider.tracer("ringside");
        let not_exporter = filter_fn(|meta| {
            !EXPORTER_TARGETS
                .iter()
                .any(|t| meta.target().starts_with(t))
        });
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(env_filter(&r.filter).and(not_exporter))
    });
    let installed = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok();

    let provider = if installed {
        if let Some(provider) = &provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
            EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                service = %r.service_name,
                endpoint = r.endpoint.as_deref().unwrap_or_default(),
                sample_ratio = r.sample_ratio,
                "exporting traces over OTLP/gRPC"
            );
        }
        provider
    } else {
        // Someone else's subscriber is in place (a second init, a test
        // harness): our exporter would receive nothing, so don't keep it.
        tracing::warn!("telemetry already initialised in this process; keeping the first setup");
        if let Some(provider) = provider {
            let _ = provider.shutdown_with_timeout(Duration::from_millis(100));
        }
        None
    };

    metrics::gauge!(
        "ringside_build_info",
        "service" => r.service_name.clone(),
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
    Ok(Telemetry {
        metrics,
        provider,
        service_name: r.service_name,
        installed,
    })
}

fn env_filter(directives: &str) -> EnvFilter {
    // Validated in `resolve` when it came from the settings; RUST_LOG stays
    // lossy (a bad directive is skipped, never fatal).
    EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::INFO.into())
        .parse_lossy(directives)
}

fn fmt_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => layer
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }
}

fn tracer_provider(r: &Resolved, endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    // tonic's lazy channel spawns its worker on the current runtime.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoRuntime);
    }
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(r.timeout)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(r.service_name.clone())
                .build(),
        )
        .with_batch_exporter(exporter)
        .build())
}

impl Telemetry {
    /// The process's metrics, for a `/metrics` route.
    pub fn metrics(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        self.metrics.render()
    }

    /// The `service.name` spans are exported with.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// Whether this call installed the global subscriber (false for a second
    /// `init` in the same process).
    pub fn is_installed(&self) -> bool {
        self.installed
    }

    /// Whether spans are exported over OTLP.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans buffered so far (bounded by the export timeout).
    /// Blocking: call it from `spawn_blocking` inside a runtime.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.force_flush()
        {
            tracing::debug!(%error, "trace flush failed");
        }
    }

    /// Sends what is buffered and stops the exporter, in at most a few
    /// seconds whatever the collector does. Runs the blocking part off the
    /// async threads, so the exporter's gRPC channel keeps being driven.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_BOUND));
        match tokio::time::timeout(SHUTDOWN_BOUND + Duration::from_secs(1), done).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::debug!(%error, "trace exporter shutdown"),
            Ok(Err(error)) => tracing::debug!(%error, "trace exporter shutdown task"),
            Err(_) => tracing::debug!("trace exporter shutdown timed out"),
        }
    }
}
