use serde::{Deserialize, Serialize};

/// What an endpoint is doing, from its device state and its contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    /// Registered / reachable and idle (`Not in use`).
    Online,
    /// Has contacts, none of them reachable.
    Offline,
    /// Not registered (`Unavailable`).
    Unavailable,
    /// `In use` or `Busy`.
    InUse,
    /// `Ringing` (also ringing while in use).
    Ringing,
    /// `On Hold`.
    OnHold,
    Unknown,
}

/// A registered contact of an endpoint (PJSIP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub aor: String,
    pub uri: String,
    /// As Asterisk sent it: `Reachable`, `Unreachable`, `NonQualified`...
    pub status: String,
    pub rtt_usec: Option<u64>,
    pub user_agent: String,
}

/// An extension or agent (PJSIP endpoint without outbound auth, SIP or IAX2
/// peer that is not a trunk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub tenant: String,
    pub pbx: String,
    pub name: String,
    /// `PJSIP`, `SIP`, `IAX2`.
    pub technology: String,
    pub status: EndpointStatus,
    /// The device state as Asterisk last sent it (`NOT_INUSE`, `Not in use`).
    pub device_state: String,
    pub contacts: Vec<Contact>,
    /// Channels of this endpoint in the channel view.
    pub channels: u32,
}
