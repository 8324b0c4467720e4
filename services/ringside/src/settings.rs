//! Typed, layered settings: compiled defaults, then the `--config` TOML file,
//! then `RINGSIDE__SECTION__KEY` environment variables (e.g.
//! `RINGSIDE__BUS__NATS__URL=nats://nats:4222`,
//! `RINGSIDE__INGESTOR__BUFFER_CAPACITY=50000`).
//!
//! Every section refuses unknown keys, so a typo is an error that names the
//! key, not a setting silently ignored. The environment is passed in as a map:
//! tests never touch the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringside_ami_ingestor::IngestorSettings;
use ringside_bus::{NatsSettings, Retention, Storage, Token, Topology};
use ringside_gateway::GatewaySettings;
use ringside_provisioning::ProvisioningSettings;
use ringside_state::service::StateSettings;
use ringside_telemetry::TelemetrySettings;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[bus]`: how the services reach each other.
    pub bus: BusSettings,
    /// `[ingestor]`: the PBXs to watch and how.
    pub ingestor: IngestorSettings,
    /// `[state]`: snapshots and sharding of the state service.
    pub state: StateSettings,
    /// `[gateway]`: the HTTP/WebSocket door.
    pub gateway: GatewaySettings,
    /// `[telemetry]`: logs, traces, the metrics listener.
    pub telemetry: TelemetrySettings,
    /// `[provisioning]`: the admin database and the key of stored secrets.
    pub provisioning: ProvisioningSettings,
}

/// `[bus]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSettings {
    /// `[bus.nats]`: the NATS JetStream server(s).
    pub nats: NatsSection,
    /// `[bus.retention]`: how long streams keep what they hold.
    pub retention: RetentionSection,
    /// Prefix of every stream, subject and bucket name, for installations
    /// that share one NATS server (`[A-Za-z0-9_-]+`).
    pub prefix: Option<String>,
}

/// `[bus.nats]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSection {
    /// Server URL(s), comma-separated. Credentials in the URL are never logged.
    pub url: String,
    /// Connection name shown by the server; defaults to `ringside-<service>`.
    pub name: Option<String>,
    /// Give up connecting after this long.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bound on publish acks and other requests to the server.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A NATS `.creds` file, when the server requires one.
    pub credentials_file: Option<PathBuf>,
}

impl Default for NatsSection {
    fn default() -> Self {
        NatsSection {
            url: "nats://127.0.0.1:4222".into(),
            name: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            credentials_file: None,
        }
    }
}

/// `[bus.retention]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Normalized events are kept this long (the time-travel horizon)…
    #[serde(with = "humantime_serde")]
    pub events_max_age: Duration,
    /// …or until they take this many bytes.
    pub events_max_bytes: Option<u64>,
    /// Raw AMI frames (the AMI log) are kept this long…
    #[serde(with = "humantime_serde")]
    pub ami_max_age: Duration,
    /// …or until they take this many bytes.
    pub ami_max_bytes: Option<u64>,
    /// Call records are kept this long (they are rated long before).
    #[serde(with = "humantime_serde")]
    pub calls_max_age: Duration,
    /// Provisioning events (and the audit trail they feed) are kept this long.
    #[serde(with = "humantime_serde")]
    pub prov_max_age: Duration,
    /// De-duplication horizon of message ids.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// `file` or `memory`.
    pub storage: StorageSetting,
}

impl Default for RetentionSection {
    fn default() -> Self {
        let r = Retention::default();
        RetentionSection {
            events_max_age: r.events_max_age,
            events_max_bytes: r.events_max_bytes,
            ami_max_age: r.ami_max_age,
            ami_max_bytes: r.ami_max_bytes,
            calls_max_age: r
                .calls_max_age
                .unwrap_or(Duration::from_secs(30 * 24 * 3600)),
            prov_max_age: r
                .prov_max_age
                .unwrap_or(Duration::from_secs(30 * 24 * 3600)),
            duplicate_window: r.duplicate_window,
            storage: StorageSetting::File,
        }
    }
}

/// Where streams keep their data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageSetting {
    #[default]
    File,
    Memory,
}

impl BusSettings {
    /// The topology these settings describe.
    ///
    /// # Errors
    /// An invalid prefix.
    pub fn topology(&self) -> anyhow::Result<Topology> {
        let retention = Retention {
            events_max_age: self.retention.events_max_age,
            events_max_bytes: self.retention.events_max_bytes,
            ami_max_age: self.retention.ami_max_age,
            ami_max_bytes: self.retention.ami_max_bytes,
            calls_max_age: Some(self.retention.calls_max_age),
            prov_max_age: Some(self.retention.prov_max_age),
            duplicate_window: self.retention.duplicate_window,
            storage: match self.retention.storage {
                StorageSetting::File => Storage::File,
                StorageSetting::Memory => Storage::Memory,
            },
        };
        Ok(match &self.prefix {
            Some(prefix) => Topology::v1_prefixed(
                &Token::new(prefix.as_str()).map_err(|e| anyhow::anyhow!("bus.prefix: {e}"))?,
                &retention,
            ),
            None => Topology::v1(&retention),
        })
    }

    /// The NATS connection settings, naming the connection after `service`.
    pub fn nats(&self, service: &str) -> NatsSettings {
        NatsSettings {
            url: self.nats.url.clone(),
            name: self
                .nats
                .name
                .clone()
                .unwrap_or_else(|| format!("ringside-{service}")),
            connect_timeout: self.nats.connect_timeout,
            request_timeout: self.nats.request_timeout,
            credentials_file: self.nats.credentials_file.clone(),
            ..NatsSettings::default()
        }
    }
}

/// Settings that cannot be used; `main` exits with status 64 for these.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

impl SettingsError {
    pub fn new(message: impl Into<String>) -> Self {
        SettingsError(message.into())
    }
}

/// Loads the settings: defaults ← `file` ← `RINGSIDE__…` entries of `env`.
///
/// # Errors
/// An unreadable or invalid file, an unknown key, or a value of the wrong type;
/// the message names the key.
pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Settings, SettingsError> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        if !file.is_file() {
            return Err(SettingsError(format!("{}: no such file", file.display())));
        }
        builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
    }
    let env: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("RINGSIDE__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix("RINGSIDE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env)),
    );
    builder
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| SettingsError(e.to_string()))
}

/// The process environment as a map, for [`load`].
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let s = load(None, &HashMap::new()).unwrap();
        assert_eq!(s.bus.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(s.ingestor.buffer_capacity, 100_000);
        assert!(s.ingestor.pbx.is_empty());
    }

    #[test]
    fn the_file_then_the_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringside.toml");
        std::fs::write(
            &path,
            r#"
[bus.nats]
url = "nats://file:4222"
request_timeout = "2s"

[ingestor]
buffer_capacity = 5000

[[ingestor.pbx]]
tenant = "acme"
id = "pbx-1"
host = "10.0.0.5"
username = "ringside"
secret = "s3cret"
drop_events = ["VarSet", "Newexten"]
"#,
        )
        .unwrap();
        let s = load(
            Some(&path),
            &env(&[
                ("RINGSIDE__BUS__NATS__URL", "nats://env:4222"),
                ("RINGSIDE__INGESTOR__RAW_FRAMES", "false"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.bus.nats.url, "nats://env:4222",
            "the environment wins over the file"
        );
        assert_eq!(s.bus.nats.request_timeout, Duration::from_secs(2));
        assert_eq!(s.ingestor.buffer_capacity, 5000);
        assert!(!s.ingestor.raw_frames);
        let pbx = &s.ingestor.pbx[0];
        assert_eq!((pbx.port, pbx.secret.expose()), (5038, "s3cret"));
        assert_eq!(pbx.drop_events, ["VarSet", "Newexten"]);
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = load(None, &env(&[("RINGSIDE__INGESTOR__BUFER_CAPACITY", "1")])).unwrap_err();
        assert!(err.to_string().contains("bufer_capacity"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[ingestor]\nping_interval = \"soon\"\n").unwrap();
        let err = load(Some(&path), &HashMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("ping_interval") || err.to_string().contains("soon"),
            "{err}"
        );
        assert!(load(Some(Path::new("/nonexistent.toml")), &HashMap::new()).is_err());
    }
}
