//! The ingestor's settings: which PBXs to watch and how hard to try.
//!
//! Durations are written like `20s` or `5m` (humantime). Every field has a
//! default, so an empty `[ingestor]` section is valid; unknown keys are
//! refused so a typo is an error, not a silently ignored setting.

use std::time::Duration;

use ringside_ami::client::Secret;
use serde::Deserialize;

use crate::deny::DenyRule;

/// `[ingestor]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestorSettings {
    /// PBXs watched by this ingestor (more can arrive from provisioning).
    pub pbx: Vec<PbxSettings>,
    /// Events kept in memory while the bus is away; past this bound the
    /// ingestor records a gap and forces a resync once the bus is back.
    pub buffer_capacity: usize,
    /// Publishes awaiting their acknowledgement at once, per PBX.
    pub publish_window: usize,
    /// Publish every raw AMI frame on `ringside.v1.<tenant>.<pbx>.ami.raw`
    /// (the frames of one read burst back to back in one message).
    pub raw_frames: bool,
    /// Raw AMI bytes kept in memory per PBX while the bus is away; past this
    /// bound raw frames are dropped (counted and logged) until the bus is
    /// back. Raw frames are the AMI log: no resync recovers them, and none
    /// is needed, as no view is built from them.
    pub raw_buffer_bytes: usize,
    /// How long an action waits for its answer.
    #[serde(with = "humantime_serde")]
    pub action_timeout: Duration,
    /// Keepalive Ping interval.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// A Ping unanswered this long means the connection is dead.
    #[serde(with = "humantime_serde")]
    pub ping_timeout: Duration,
    /// Longest wait between reconnect attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// How often IAX2 registrations are polled (`IAXregistry`): Asterisk sends
    /// no event when one is lost or comes back.
    #[serde(with = "humantime_serde")]
    pub iax_registry_poll: Duration,
    /// Actions refused whatever the caller's role. Replaces the defaults when
    /// set (see [`crate::deny::default_rules`]).
    pub deny: Option<Vec<DenyRule>>,
    /// Ownership of PBXs among ingestor replicas.
    pub lease: LeaseSettings,
}

impl Default for IngestorSettings {
    fn default() -> Self {
        IngestorSettings {
            pbx: Vec::new(),
            buffer_capacity: 100_000,
            publish_window: 1024,
            raw_frames: true,
            raw_buffer_bytes: 32 << 20,
            action_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(25),
            max_backoff: Duration::from_secs(30),
            iax_registry_poll: Duration::from_secs(30),
            deny: None,
            lease: LeaseSettings::default(),
        }
    }
}

/// `[ingestor.lease]`: each PBX is owned by exactly one replica at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseSettings {
    /// A lease not renewed for this long can be taken over by another replica.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How often the owner renews (well under `ttl`).
    #[serde(with = "humantime_serde")]
    pub renew_every: Duration,
    /// This replica's name in leases; defaults to host name + process id.
    pub replica_id: Option<String>,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(3),
            replica_id: None,
        }
    }
}

/// How the ingestor logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthSetting {
    #[default]
    Plain,
    Md5,
}

/// One PBX (`[[ingestor.pbx]]`).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PbxSettings {
    pub tenant: String,
    pub id: String,
    /// Shown to people; defaults to `id`.
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub username: String,
    #[serde(deserialize_with = "secret")]
    pub secret: Secret,
    #[serde(default)]
    pub auth: AuthSetting,
    #[serde(default)]
    pub tls: bool,
    /// Extra CA certificates (PEM) for TLS.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events dropped at the PBX with the AMI `Filter` action (e.g. VarSet,
    /// Newexten) when neither the views nor the raw log need them.
    #[serde(default)]
    pub drop_events: Vec<String>,
}

impl std::fmt::Debug for PbxSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PbxSettings")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("secret", &self.secret)
            .field("tls", &self.tls)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

fn default_port() -> u16 {
    5038
}

fn yes() -> bool {
    true
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

/// Why a `--pbx` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PbxUrlError {
    #[error("not a URL: {0}")]
    Syntax(String),
    #[error("scheme must be ami:// or amis:// (TLS), not {0}://")]
    Scheme(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("unknown query parameter {0:?} (expected tenant, id, name, tls, auth)")]
    UnknownParameter(String),
    #[error("invalid value {value:?} for {key}")]
    InvalidValue { key: String, value: String },
}

impl PbxSettings {
    /// Parses `ami://USER:SECRET@HOST:PORT?tenant=T&id=P[&tls=1][&auth=md5][&name=N]`
    /// (`amis://` implies TLS; user and secret are percent-decoded).
    ///
    /// # Errors
    /// A malformed URL, or a missing user, secret, host, tenant or id.
    pub fn from_url(text: &str) -> Result<Self, PbxUrlError> {
        let url = url::Url::parse(text).map_err(|e| PbxUrlError::Syntax(e.to_string()))?;
        let tls_scheme = match url.scheme() {
            "ami" => false,
            "amis" => true,
            other => return Err(PbxUrlError::Scheme(other.to_owned())),
        };
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| PbxUrlError::InvalidValue {
                key: "userinfo".into(),
                value: s.to_owned(),
            })
        };
        let username = decode(url.username())?;
        if username.is_empty() {
            return Err(PbxUrlError::Missing("user (ami://USER:SECRET@HOST)"));
        }
        let secret = decode(
            url.password()
                .ok_or(PbxUrlError::Missing("secret (ami://USER:SECRET@HOST)"))?,
        )?;
        let host = url
            .host_str()
            .ok_or(PbxUrlError::Missing("host"))?
            .to_owned();
        let (mut tenant, mut id, mut name, mut tls, mut auth) =
            (None, None, None, tls_scheme, AuthSetting::Plain);
        for (key, value) in url.query_pairs() {
            let invalid = || PbxUrlError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
            };
            match key.as_ref() {
                "tenant" => tenant = Some(value.into_owned()),
                "id" => id = Some(value.into_owned()),
                "name" => name = Some(value.into_owned()),
                "tls" => {
                    tls = match value.as_ref() {
                        "1" | "true" | "yes" => true,
                        "0" | "false" | "no" => false,
                        _ => return Err(invalid()),
                    }
                }
                "auth" => {
                    auth = match value.as_ref() {
                        "plain" => AuthSetting::Plain,
                        "md5" => AuthSetting::Md5,
                        _ => return Err(invalid()),
                    }
                }
                other => return Err(PbxUrlError::UnknownParameter(other.to_owned())),
            }
        }
        Ok(PbxSettings {
            tenant: tenant.ok_or(PbxUrlError::Missing("tenant (?tenant=T)"))?,
            id: id.ok_or(PbxUrlError::Missing("id (?id=P)"))?,
            name,
            port: url.port().unwrap_or(if tls { 5039 } else { 5038 }),
            host,
            username,
            secret: Secret::new(secret),
            auth,
            tls,
            ca_file: None,
            enabled: true,
            drop_events: Vec::new(),
        })
    }

    /// The name shown to people.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pbx_url_gives_every_field() {
        let p =
            PbxSettings::from_url("ami://lab:s%40cret@10.0.0.5:5038?tenant=acme&id=pbx-1&auth=md5")
                .unwrap();
        assert_eq!((p.tenant.as_str(), p.id.as_str()), ("acme", "pbx-1"));
        assert_eq!(
            (p.host.as_str(), p.port, p.username.as_str()),
            ("10.0.0.5", 5038, "lab")
        );
        assert_eq!(p.secret.expose(), "s@cret");
        assert_eq!(p.auth, AuthSetting::Md5);
        assert!(!p.tls);
        let tls = PbxSettings::from_url("amis://u:p@pbx.example?tenant=t&id=p").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.port, 5039);
    }

    #[test]
    fn a_pbx_url_without_tenant_id_or_secret_is_refused_with_the_reason() {
        assert_eq!(
            PbxSettings::from_url("ami://u:p@h?id=p"),
            Err(PbxUrlError::Missing("tenant (?tenant=T)"))
        );
        assert!(matches!(
            PbxSettings::from_url("ami://u@h?tenant=t&id=p"),
            Err(PbxUrlError::Missing(_))
        ));
        assert!(matches!(
            PbxSettings::from_url("http://u:p@h?tenant=t&id=p"),
            Err(PbxUrlError::Scheme(_))
        ));
        assert!(matches!(
            PbxSettings::from_url("ami://u:p@h?tenant=t&id=p&colour=red"),
            Err(PbxUrlError::UnknownParameter(_))
        ));
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        let p = PbxSettings::from_url("ami://lab:topsecret@h?tenant=t&id=p").unwrap();
        assert!(!format!("{p:?}").contains("topsecret"));
    }
}
