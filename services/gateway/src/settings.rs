//! `[gateway]` settings, and the checks that refuse an unsafe configuration
//! before anything listens.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The signing secret used when none is configured. It is public (it is in
/// this file), so outside monolithic mode the gateway refuses to start with it.
pub const DEFAULT_JWT_SECRET: &str = "ringside-insecure-default-jwt-secret-change-me";

/// The shortest signing secret accepted outside monolithic mode (HS256 wants
/// at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// `[gateway]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Address to listen on (HTTP, WebSocket; HTTPS when `tls` is set).
    pub listen: SocketAddr,
    /// Path prefix everything is served under (`/`, or e.g. `/monitor/` behind
    /// a reverse proxy that forwards that sub-path).
    pub base_path: String,
    /// HS256 signing secret of access tokens. Never logged.
    pub jwt_secret: String,
    /// Lifetime of an access token.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Origins allowed to call the API from a browser (CORS). Empty: same
    /// origin only. `*` allows any origin (without credentials).
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed, as
    /// CIDRs (`10.0.0.0/8`, `::1/128`). Others' forwarded headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Serve HTTPS with this certificate chain and key (PEM, rustls).
    pub tls: Option<TlsSettings>,
    /// Origins allowed to embed the UI in an iframe (CSP `frame-ancestors`);
    /// none by default.
    pub frame_ancestors: Vec<String>,
    /// Login attempts allowed per user name and per client address.
    pub login_rate_limit: LoginRateLimit,
    /// Messages queued per WebSocket client; past it the client's queue is
    /// dropped and it is sent a fresh snapshot.
    pub ws_queue: usize,
    /// Heartbeat interval on `/ws`.
    #[serde(with = "humantime_serde")]
    pub ws_heartbeat: Duration,
    /// How long a WebSocket client has to authenticate.
    #[serde(with = "humantime_serde")]
    pub ws_auth_timeout: Duration,
    /// How long the gateway waits for the state service or an ingestor.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The tenant whose snapshot `/readyz` asks for, to know the state
    /// service answers.
    pub ready_tenant: String,
    /// Monolithic mode (one process, loopback by default): a default or short
    /// `jwt_secret` is tolerated there, nowhere else.
    pub monolithic: bool,
}

/// `[gateway.tls]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// `[gateway.login_rate_limit]`: fixed windows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginRateLimit {
    /// Attempts per user name within `window`.
    pub per_user: u32,
    /// Attempts per client address within `window`.
    pub per_ip: u32,
    /// The window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for LoginRateLimit {
    fn default() -> Self {
        LoginRateLimit {
            per_user: 5,
            per_ip: 20,
            window: Duration::from_secs(60),
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_path: "/".to_owned(),
            jwt_secret: DEFAULT_JWT_SECRET.to_owned(),
            token_ttl: Duration::from_secs(24 * 3600),
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            tls: None,
            frame_ancestors: Vec::new(),
            login_rate_limit: LoginRateLimit::default(),
            ws_queue: 1024,
            ws_heartbeat: Duration::from_secs(15),
            ws_auth_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            ready_tenant: "default".to_owned(),
            monolithic: false,
        }
    }
}

impl std::fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("listen", &self.listen)
            .field("base_path", &self.base_path)
            .field("jwt_secret", &"***")
            .field("token_ttl", &self.token_ttl)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("tls", &self.tls)
            .field("frame_ancestors", &self.frame_ancestors)
            .field("monolithic", &self.monolithic)
            .finish_non_exhaustive()
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The signing secret is the public default or too short.
    #[error(
        "gateway.jwt_secret is {0}; set at least {MIN_JWT_SECRET_BYTES} random bytes (only monolithic mode tolerates this)"
    )]
    WeakSecret(&'static str),
    /// The base path is not `/` or `/segment[/segment…]/`.
    #[error("gateway.base_path {0:?} must start with '/' and contain only URL path characters")]
    BasePath(String),
    /// A trusted proxy entry is not a CIDR or address.
    #[error("gateway.trusted_proxies: {0:?} is not an address or CIDR")]
    Cidr(String),
    /// A token lifetime of zero or a zero queue bound.
    #[error("gateway.{0} must be greater than zero")]
    Zero(&'static str),
    /// `ready_tenant` is not a valid tenant id.
    #[error("gateway.ready_tenant {0:?} is not a valid tenant id")]
    ReadyTenant(String),
    /// An origin that cannot go into a header.
    #[error("gateway: {0:?} is not a valid origin")]
    Origin(String),
}

impl GatewaySettings {
    /// Checks everything that can be checked without I/O.
    ///
    /// # Errors
    /// The first problem found; see [`SettingsError`].
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !self.monolithic {
            if self.jwt_secret == DEFAULT_JWT_SECRET {
                return Err(SettingsError::WeakSecret("the built-in default"));
            }
            if self.jwt_secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(SettingsError::WeakSecret("shorter than 32 bytes"));
            }
        }
        if self.jwt_secret.is_empty() {
            return Err(SettingsError::WeakSecret("empty"));
        }
        normalize_base_path(&self.base_path)?;
        for cidr in &self.trusted_proxies {
            Cidr::parse(cidr)?;
        }
        if self.token_ttl.is_zero() {
            return Err(SettingsError::Zero("token_ttl"));
        }
        if ringside_bus::TenantId::new(self.ready_tenant.as_str()).is_err() {
            return Err(SettingsError::ReadyTenant(self.ready_tenant.clone()));
        }
        if self.ws_queue == 0 {
            return Err(SettingsError::Zero("ws_queue"));
        }
        if self.ws_heartbeat.is_zero() {
            return Err(SettingsError::Zero("ws_heartbeat"));
        }
        if self.request_timeout.is_zero() {
            return Err(SettingsError::Zero("request_timeout"));
        }
        for origin in self
            .cors_allowed_origins
            .iter()
            .chain(&self.frame_ancestors)
        {
            if origin.is_empty()
                || origin.bytes().any(|b| {
                    b.is_ascii_whitespace() || b == b';' || b == b',' || !b.is_ascii_graphic()
                })
            {
                return Err(SettingsError::Origin(origin.clone()));
            }
        }
        Ok(())
    }
}

/// `/`, or `/a/b/` with a trailing slash (added when missing).
///
/// # Errors
/// [`SettingsError::BasePath`] for anything that is not a plain path.
pub fn normalize_base_path(path: &str) -> Result<String, SettingsError> {
    let bad = || SettingsError::BasePath(path.to_owned());
    if !path.starts_with('/') || path.contains("//") || path.contains("..") {
        return Err(bad());
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
    {
        return Err(bad());
    }
    Ok(if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    })
}

/// An address range (`10.0.0.0/8`); a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr[/prefix]`.
    ///
    /// # Errors
    /// [`SettingsError::Cidr`].
    pub fn parse(text: &str) -> Result<Cidr, SettingsError> {
        let bad = || SettingsError::Cidr(text.to_owned());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strong() -> GatewaySettings {
        GatewaySettings {
            jwt_secret: "0123456789abcdef0123456789abcdef".into(),
            ..GatewaySettings::default()
        }
    }

    #[test]
    fn the_default_or_a_short_secret_is_refused_outside_monolithic_mode() {
        assert!(matches!(
            GatewaySettings::default().validate(),
            Err(SettingsError::WeakSecret(_))
        ));
        let short = GatewaySettings {
            jwt_secret: "short".into(),
            ..GatewaySettings::default()
        };
        assert!(matches!(
            short.validate(),
            Err(SettingsError::WeakSecret(_))
        ));
        let mono = GatewaySettings {
            monolithic: true,
            ..GatewaySettings::default()
        };
        mono.validate().unwrap();
        strong().validate().unwrap();
    }

    #[test]
    fn settings_read_durations_and_refuse_unknown_keys() {
        let s: GatewaySettings = serde_json::from_value(serde_json::json!({
            "listen": "0.0.0.0:9000",
            "token_ttl": "2h",
            "login_rate_limit": {"per_user": 3},
            "tls": {"cert": "/etc/ringside/cert.pem", "key": "/etc/ringside/key.pem"},
        }))
        .unwrap();
        assert_eq!(s.token_ttl, Duration::from_secs(7200));
        assert_eq!(
            (s.login_rate_limit.per_user, s.login_rate_limit.per_ip),
            (3, 20)
        );
        assert_eq!(s.ws_heartbeat, Duration::from_secs(15));
        assert!(s.tls.is_some());
        assert!(
            !format!("{s:?}").contains(DEFAULT_JWT_SECRET),
            "the secret never prints"
        );
        let typo =
            serde_json::from_value::<GatewaySettings>(serde_json::json!({"jwt_secert": "x"}));
        assert!(typo.is_err());
    }

    #[test]
    fn base_paths_are_normalized_and_checked() {
        assert_eq!(normalize_base_path("/").unwrap(), "/");
        assert_eq!(normalize_base_path("/monitor").unwrap(), "/monitor/");
        assert_eq!(normalize_base_path("/a/b/").unwrap(), "/a/b/");
        for bad in ["", "monitor", "/a//b", "/a b", "/../x", "/a\"b"] {
            assert!(normalize_base_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cidrs_match_their_range_only() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/a", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        let mut zero = strong();
        zero.ws_heartbeat = Duration::ZERO;
        assert!(matches!(
            zero.validate(),
            Err(SettingsError::Zero("ws_heartbeat"))
        ));
        let mut s = strong();
        s.trusted_proxies = vec!["nope".into()];
        assert!(matches!(s.validate(), Err(SettingsError::Cidr(_))));
    }
}
