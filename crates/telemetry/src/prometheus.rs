//! The process's one Prometheus recorder.
//!
//! `metrics` allows a single global recorder, so it is installed once, on
//! first use, and every later caller (a second `init`, the gateway asking for
//! the handle) gets the same handle. Histograms are rendered as real
//! Prometheus histograms (buckets from the catalog), never as summaries, so
//! dashboards can aggregate them across replicas with `histogram_quantile`.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::TelemetryError;
use crate::catalog::{LATENCY_BUCKETS, METRICS};

/// Renders the process's metrics in the Prometheus text format. Cheap to clone.
#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

impl MetricsHandle {
    /// Every recorded metric, as the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsHandle")
    }
}

static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();
static INSTALL: Mutex<()> = Mutex::new(());

/// How often histogram samples are folded into their buckets when nobody
/// scrapes, so an unscraped process does not accumulate samples.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's metrics handle, installing the Prometheus recorder the first
/// time. Safe to call any number of times, from any thread.
///
/// # Errors
/// [`TelemetryError::MetricsRecorder`] if a different recorder was installed
/// first (e.g. a test's debugging recorder).
pub fn metrics_handle() -> Result<MetricsHandle, TelemetryError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Serialise installs: two threads racing must not both build a recorder.
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = builder()?.build_recorder();
    let handle = MetricsHandle(recorder.handle());
    metrics::set_global_recorder(recorder)
        .map_err(|e| TelemetryError::MetricsRecorder(e.to_string()))?;
    let upkeep = handle.0.clone();
    // A plain thread: the recorder may be installed before (or without) a
    // Tokio runtime. If the thread cannot start, render() still drains on
    // every scrape, so this is not fatal.
    let _ = std::thread::Builder::new()
        .name("ringside-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

fn builder() -> Result<PrometheusBuilder, TelemetryError> {
    let bad = |e: metrics_exporter_prometheus::BuildError| {
        TelemetryError::MetricsRecorder(format!("recorder configuration: {e}"))
    };
    // Histograms outside the catalog still get buckets (a summary cannot be
    // aggregated across replicas).
    let mut builder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .map_err(bad)?;
    for def in METRICS {
        if let Some(buckets) = def.buckets {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(def.name.to_owned()), buckets)
                .map_err(bad)?;
        }
    }
    Ok(builder)
}
