//! What every long-running service command shares: settings, a multi-thread
//! runtime, telemetry (logs, traces, the Prometheus recorder and, when
//! configured, the `/metrics` listener), SIGINT/SIGTERM, and a bounded
//! telemetry shutdown at the end.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use ringside_telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// What a service gets from the harness.
pub struct Running {
    pub settings: Settings,
    pub telemetry: Arc<Telemetry>,
    pub shutdown: CancellationToken,
    /// Set by the service once it serves; `/readyz` of the metrics listener
    /// answers it.
    pub ready: Arc<AtomicBool>,
}

/// Runs `service` in a multi-thread runtime with telemetry set up for
/// `name`, until it returns (it watches `shutdown`, cancelled on a signal).
///
/// # Errors
/// Telemetry settings that cannot be used, the metrics listener's address
/// taken, or the service's own error.
pub fn run<F, Fut>(settings: Settings, name: &'static str, service: F) -> anyhow::Result<()>
where
    F: FnOnce(Running) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let telemetry = Arc::new(
            ringside_telemetry::init(&settings.telemetry, name)
                .map_err(|e| crate::settings::SettingsError::new(format!("[telemetry]: {e}")))?,
        );
        ringside_telemetry::describe_all();
        let shutdown = crate::shutdown::on_signal();
        let ready = Arc::new(AtomicBool::new(false));
        if let Some(addr) = settings.telemetry.metrics_listen {
            let server = ringside_telemetry::MetricsServer::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener on {addr}"))?;
            tracing::info!(addr = %server.local_addr(), "serving /metrics, /healthz, /readyz");
            let ready = ready.clone();
            let stop = shutdown.clone();
            let metrics = telemetry.metrics();
            tokio::spawn(async move {
                let ready: ringside_telemetry::Readiness =
                    Arc::new(move || ready.load(Ordering::Relaxed));
                if let Err(e) = server.serve(metrics, ready, stop.cancelled_owned()).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        let result = service(Running {
            settings,
            telemetry: telemetry.clone(),
            shutdown,
            ready,
        })
        .await;
        if let Ok(telemetry) = Arc::try_unwrap(telemetry) {
            telemetry.shutdown().await;
        }
        result
    })
}

/// Calls `sample` every `every` until `shutdown` (gauges sampled from a
/// service's state: database pool, ...).
pub fn spawn_sampler(
    every: std::time::Duration,
    shutdown: CancellationToken,
    sample: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => sample(),
            }
        }
    });
}
