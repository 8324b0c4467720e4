//! What rendering needs to know, and nothing else: plain structs with no
//! database types, so the store maps its rows into them and the renderer stays
//! a pure function that tests can feed directly.
//!
//! The structs hold raw operator input (names may contain anything); the
//! renderer validates every field (see [`super::lint`]) before a byte is
//! written. Only entities that should be live on the PBX belong here: the
//! store filters out disabled gateways, suspended customers and the like.

use serde::{Deserialize, Serialize};

/// Everything rendered for one PBX.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderInput {
    pub pbx: PbxInfo,
    pub gateways: Vec<Gateway>,
    pub customer_trunks: Vec<CustomerTrunk>,
    pub extensions: Vec<Extension>,
    pub routes: Vec<Route>,
    pub dids: Vec<Did>,
}

/// The PBX the files are for; only named in the file headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbxInfo {
    /// The PBX's UUID.
    pub id: String,
    /// Display name (free text; sanitised before it reaches a comment).
    pub name: String,
}

/// SIP transport of a gateway; the PBX's own `pjsip.conf` must define the
/// transports named by [`Transport::section`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The transport section this file set expects in the PBX's `pjsip.conf`.
    #[must_use]
    pub fn section(self) -> &'static str {
        match self {
            Transport::Udp => "transport-udp",
            Transport::Tcp => "transport-tcp",
            Transport::Tls => "transport-tls",
        }
    }

    /// The `transport=` URI parameter; UDP is the SIP default and needs none.
    pub(crate) fn uri_param(self) -> Option<&'static str> {
        match self {
            Transport::Udp => None,
            Transport::Tcp => Some("tcp"),
            Transport::Tls => Some("tls"),
        }
    }
}

/// Registration credentials a carrier gave us for a gateway.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Registration {
    /// The secret never prints, so an input can be logged whole.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An outbound carrier gateway (a SIP peer identified by its address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// Operator's name for it, unique per PBX; the section name is derived
    /// from it (`gw-<slug>`).
    pub name: String,
    /// Name of the carrier (free text, for comments).
    pub provider: String,
    /// IPv4, IPv6 or DNS host name.
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// Asterisk codec names in order of preference.
    pub codecs: Vec<String>,
    /// Digits the carrier wants in front of every number (may be empty);
    /// used when the route has none of its own.
    pub tech_prefix: String,
    /// Outbound registration, when the carrier requires one.
    pub registration: Option<Registration>,
}

/// A trunk customer: their own PBX, identified by its IP address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTrunk {
    /// Customer code (`[A-Za-z0-9_-]`, at most 32): the section name is
    /// `trunk-<code>`, so it is a token, not free text.
    pub code: String,
    /// Customer name (free text, for comments).
    pub name: String,
    /// IPv4 or IPv6 address of the customer's PBX (no host names: it is
    /// how the customer is identified).
    pub trunk_ip: String,
    /// Concurrent inbound calls allowed; `None` is unlimited.
    pub channel_limit: Option<u32>,
    pub codecs: Vec<String>,
}

/// A SIP phone registering to the PBX.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Digits only; unique per PBX; it is also the endpoint name and the
    /// SIP username.
    pub number: String,
    pub secret: String,
    /// Free text, sanitised into the `callerid` value.
    pub caller_id_name: String,
    /// Digits, optionally with a leading `+`; empty means the extension
    /// number.
    pub caller_id_number: String,
    pub codecs: Vec<String>,
    /// Registrations allowed at once (1..=100).
    pub max_contacts: u32,
    /// The customer the extension belongs to.
    pub customer_code: String,
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("number", &self.number)
            .field("secret", &"<redacted>")
            .field("caller_id_name", &self.caller_id_name)
            .field("caller_id_number", &self.caller_id_number)
            .field("codecs", &self.codecs)
            .field("max_contacts", &self.max_contacts)
            .field("customer_code", &self.customer_code)
            .finish()
    }
}

/// An outbound route: numbers matching `pattern` leave through `gateway`.
/// Routes sharing a pattern are tried in `priority` order (failover).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Free text, for comments.
    pub name: String,
    /// Asterisk extension pattern (`_NXXNXXXXXX`, `_00X.`) or a literal
    /// number (`112`).
    pub pattern: String,
    /// [`Gateway::name`] of the gateway to use.
    pub gateway: String,
    /// Lower is tried first; unique per pattern.
    pub priority: u32,
    /// Prepended to the number after stripping; empty means the gateway's.
    pub tech_prefix: String,
    /// Leading digits removed from the dialled number (`${EXTEN:n}`).
    pub strip_digits: u32,
}

/// Where an inbound call to a DID goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum DidDestination {
    /// Rings the extension with this number.
    Extension(String),
    /// Sent to the trunk of the customer with this code.
    CustomerTrunk(String),
    /// Not in service: the caller hears the "invalid number" message.
    Unallocated,
}

/// An inbound number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Did {
    /// E.164 digits as the carrier delivers them, optionally with `+`.
    pub number: String,
    /// The customer holding the DID; a DID may only reach that customer's
    /// extensions or trunk.
    pub customer_code: Option<String>,
    pub destination: DidDestination,
}
