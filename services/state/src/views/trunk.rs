use serde::{Deserialize, Serialize};

/// What kind of trunk object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrunkKind {
    /// A PJSIP outbound registration (`carrier-reg`).
    PjsipRegistration,
    /// A PJSIP endpoint with outbound auths (the usual trunk rule).
    PjsipEndpoint,
    /// An IAX2 peer.
    Iax2Peer,
    /// An IAX2 registration (`IAXregistry` entry / `Registry` event).
    Iax2Registration,
}

impl TrunkKind {
    /// The serde name (`pjsip_registration`...).
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkKind::PjsipRegistration => "pjsip_registration",
            TrunkKind::PjsipEndpoint => "pjsip_endpoint",
            TrunkKind::Iax2Peer => "iax2_peer",
            TrunkKind::Iax2Registration => "iax2_registration",
        }
    }
}

/// A trunk: a registration or a peer towards a carrier, branch or customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trunk {
    pub tenant: String,
    pub pbx: String,
    /// Registration id (`carrier-reg`), endpoint or peer name, or for an
    /// IAX2 registration `user@host:port`.
    pub name: String,
    pub kind: TrunkKind,
    /// Registrations: `registered`, `unregistered`, `rejected`, `failed`,
    /// `request_sent`...; IAX2 peers: `reachable`, `unreachable`, `lagged`,
    /// `unknown`, `unmonitored`; PJSIP endpoints: an endpoint status
    /// (`online`, `in_use`, `unavailable`...).
    pub status: String,
    /// The text Asterisk sent for the status.
    pub status_raw: String,
    /// Server URI or host.
    pub address: String,
    /// Qualify round trip (IAX2 peers).
    pub latency_ms: Option<i64>,
    /// When the status last changed (Unix ms), when seen.
    pub last_change_ms: Option<i64>,
    /// True when the status was inferred rather than reported (IAX2
    /// registrations follow their peer's reachability: Asterisk sends no
    /// event when one is lost).
    pub inferred: bool,
}
