//! `[telemetry]` settings and their validation.
//!
//! The binary reads them like every other section (file, then
//! `RINGSIDE__TELEMETRY__KEY`); the two standard OpenTelemetry variables fill
//! what the file leaves unset, so a collector sidecar's usual environment works
//! unchanged. The environment is passed in as a lookup function: tests never
//! touch the process environment.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

use crate::TelemetryError;

/// The standard variable for the OTLP endpoint, used when
/// `otlp_endpoint` is not set.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable for the service name, used when `service_name` is
/// not set.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Log filter directives (`info`, `ringside=debug,async_nats=warn`). When
    /// unset, `RUST_LOG` applies, then `info`.
    pub log_filter: Option<String>,
    /// `text` (human-readable) or `json` (one object per line, for shippers).
    pub log_format: LogFormat,
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`. Traces are
    /// exported only when this (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is set.
    pub otlp_endpoint: Option<String>,
    /// Bound on one export to the collector; short, so a collector that is
    /// away never holds a shutdown up.
    #[serde(with = "humantime_serde")]
    pub otlp_timeout: Duration,
    /// The `service.name` of exported spans; defaults to `ringside-<service>`
    /// (or `OTEL_SERVICE_NAME`).
    pub service_name: Option<String>,
    /// Share of new traces recorded (`0.0..=1.0`); a trace started elsewhere
    /// follows its parent's decision.
    pub sample_ratio: f64,
    /// Where the `/metrics`, `/healthz`, `/readyz` listener binds, e.g.
    /// `0.0.0.0:9464`. Unset: no listener (in monolithic mode the gateway
    /// serves `/metrics` on its own port).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_filter: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            otlp_timeout: Duration::from_secs(3),
            service_name: None,
            sample_ratio: 1.0,
            metrics_listen: None,
        }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings checked and completed from the environment; what `init` uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub filter: String,
    pub format: LogFormat,
    pub endpoint: Option<String>,
    pub timeout: Duration,
    pub service_name: String,
    pub sample_ratio: f64,
}

impl TelemetrySettings {
    /// Checks the settings and completes them from `env` (`RUST_LOG`,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`).
    ///
    /// # Errors
    /// A value that cannot be used; the message names the key.
    pub(crate) fn resolve(
        &self,
        service: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Resolved, TelemetryError> {
        // An explicit setting is an operator's decision: a bad one is an error.
        // RUST_LOG stays lossy, as it always was for this binary.
        let filter = match non_empty(self.log_filter.clone()) {
            Some(filter) => {
                EnvFilter::try_new(&filter).map_err(|e| TelemetryError::InvalidLogFilter {
                    filter: filter.clone(),
                    reason: e.to_string(),
                })?;
                filter
            }
            None => non_empty(env("RUST_LOG")).unwrap_or_else(|| "info".to_owned()),
        };

        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(TelemetryError::InvalidSampleRatio(self.sample_ratio));
        }
        if self.otlp_timeout.is_zero() {
            return Err(TelemetryError::InvalidOtlpTimeout);
        }

        // The OpenTelemetry spec treats an empty variable as unset.
        let endpoint = non_empty(self.otlp_endpoint.clone())
            .or_else(|| non_empty(env(OTEL_EXPORTER_OTLP_ENDPOINT)));
        if let Some(endpoint) = &endpoint {
            check_endpoint(endpoint)?;
        }

        let service_name = non_empty(self.service_name.clone())
            .or_else(|| non_empty(env(OTEL_SERVICE_NAME)))
            .unwrap_or_else(|| format!("ringside-{service}"));
        if service_name.trim().is_empty() || service_name.chars().any(char::is_control) {
            return Err(TelemetryError::InvalidServiceName(service_name));
        }

        Ok(Resolved {
            filter,
            format: self.log_format,
            endpoint,
            timeout: self.otlp_timeout,
            service_name,
            sample_ratio: self.sample_ratio,
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// An OTLP/gRPC endpoint this build can talk to: `http://host:port`.
/// HTTPS is refused here rather than at the first export, because the
/// exporter is built without TLS (run a collector next to the service and let
/// it forward over TLS).
fn check_endpoint(endpoint: &str) -> Result<(), TelemetryError> {
    let bad = |reason: &str| TelemetryError::InvalidOtlpEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = if let Some(rest) = endpoint.strip_prefix("http://") {
        rest
    } else if endpoint.starts_with("https://") {
        return Err(bad(
            "https is not supported by this build; send to a local collector over http",
        ));
    } else {
        return Err(bad("expected http://HOST:PORT"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains('@')
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("expected http://HOST:PORT"));
    }
    if let Some((_, port)) = authority.rsplit_once(':')
        && !authority.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(bad("the port is not a number from 0 to 65535"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_log_at_info_and_export_nothing() {
        let r = TelemetrySettings::default()
            .resolve("ingestor", no_env)
            .unwrap();
        assert_eq!(r.filter, "info");
        assert_eq!(r.format, LogFormat::Text);
        assert_eq!(r.endpoint, None);
        assert_eq!(r.service_name, "ringside-ingestor");
        assert_eq!(r.sample_ratio, 1.0);
    }

    #[test]
    fn the_environment_fills_what_the_settings_leave_unset() {
        let env = |k: &str| match k {
            "RUST_LOG" => Some("debug".to_owned()),
            OTEL_EXPORTER_OTLP_ENDPOINT => Some("http://collector:4317".to_owned()),
            OTEL_SERVICE_NAME => Some("edge-ingestor".to_owned()),
            _ => None,
        };
        let r = TelemetrySettings::default()
            .resolve("ingestor", env)
            .unwrap();
        assert_eq!(r.filter, "debug");
        assert_eq!(r.endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(r.service_name, "edge-ingestor");

        let explicit = TelemetrySettings {
            log_filter: Some("warn".into()),
            otlp_endpoint: Some("http://mine:4317".into()),
            service_name: Some("mine".into()),
            ..TelemetrySettings::default()
        };
        let r = explicit.resolve("ingestor", env).unwrap();
        assert_eq!(r.filter, "warn");
        assert_eq!(r.endpoint.as_deref(), Some("http://mine:4317"));
        assert_eq!(r.service_name, "mine");
    }

    #[test]
    fn an_empty_endpoint_variable_means_unset() {
        let env = |k: &str| (k == OTEL_EXPORTER_OTLP_ENDPOINT).then(String::new);
        let r = TelemetrySettings::default().resolve("state", env).unwrap();
        assert_eq!(r.endpoint, None);
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let cases: Vec<(TelemetrySettings, &str)> = vec![
            (
                TelemetrySettings {
                    log_filter: Some("ringside=loud".into()),
                    ..Default::default()
                },
                "telemetry.log_filter",
            ),
            (
                TelemetrySettings {
                    sample_ratio: 1.5,
                    ..Default::default()
                },
                "telemetry.sample_ratio",
            ),
            (
                TelemetrySettings {
                    sample_ratio: f64::NAN,
                    ..Default::default()
                },
                "telemetry.sample_ratio",
            ),
            (
                TelemetrySettings {
                    otlp_timeout: Duration::ZERO,
                    ..Default::default()
                },
                "telemetry.otlp_timeout",
            ),
            (
                TelemetrySettings {
                    otlp_endpoint: Some("collector:4317".into()),
                    ..Default::default()
                },
                "telemetry.otlp_endpoint",
            ),
            (
                TelemetrySettings {
                    otlp_endpoint: Some("https://collector:4317".into()),
                    ..Default::default()
                },
                "https is not supported",
            ),
            (
                TelemetrySettings {
                    otlp_endpoint: Some("http://collector:43x7".into()),
                    ..Default::default()
                },
                "port",
            ),
            (
                TelemetrySettings {
                    otlp_endpoint: Some("http://user:pw@collector:4317".into()),
                    ..Default::default()
                },
                "telemetry.otlp_endpoint",
            ),
            (
                TelemetrySettings {
                    service_name: Some("a\nb".into()),
                    ..Default::default()
                },
                "telemetry.service_name",
            ),
        ];
        for (settings, expected) in cases {
            let error = settings.resolve("gateway", no_env).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn an_ipv6_endpoint_is_accepted() {
        let s = TelemetrySettings {
            otlp_endpoint: Some("http://[::1]:4317".into()),
            ..Default::default()
        };
        assert!(s.resolve("gateway", no_env).is_ok());
    }
}
