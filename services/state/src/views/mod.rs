//! The view types: what an operator sees of a PBX. Plain structs with serde
//! `Serialize` (the JSON of `ringside replay --dump-state` and, later, of the
//! API). Every entry carries `tenant` and `pbx`, so a list merged across
//! PBXs or tenants never loses where an entry came from.
//!
//! Times are Unix milliseconds taken from the envelopes (Asterisk's own
//! timestamp when it sent one, else when the ingestor read the message).

mod bridge;
mod channel;
mod conference;
mod endpoint;
mod queue;
mod trunk;

pub use bridge::Bridge;
pub use channel::{Call, CallState, Channel};
pub use conference::{Conference, Participant};
pub use endpoint::{Contact, Endpoint, EndpointStatus};
pub use queue::{Queue, QueueCaller, QueueMember};
pub use trunk::{Trunk, TrunkKind};

use serde::{Deserialize, Serialize};

/// The state of one PBX's connection as the views know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbxStatus {
    pub tenant: String,
    pub pbx: String,
    /// The connection epoch the views come from.
    pub epoch: u64,
    /// True while the PBX is disconnected or its resync has not completed:
    /// the views are what was last known, not necessarily what is.
    pub stale: bool,
    /// True while a resync is open (entries are being staged).
    pub syncing: bool,
}

/// All views of some PBXs at one point of the stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub pbxs: Vec<PbxStatus>,
    pub endpoints: Vec<Endpoint>,
    pub trunks: Vec<Trunk>,
    pub channels: Vec<Channel>,
    pub calls: Vec<Call>,
    pub bridges: Vec<Bridge>,
    pub queues: Vec<Queue>,
    pub conferences: Vec<Conference>,
}

impl Snapshot {
    /// Appends `other`'s entries.
    pub fn merge(&mut self, other: Snapshot) {
        self.pbxs.extend(other.pbxs);
        self.endpoints.extend(other.endpoints);
        self.trunks.extend(other.trunks);
        self.channels.extend(other.channels);
        self.calls.extend(other.calls);
        self.bridges.extend(other.bridges);
        self.queues.extend(other.queues);
        self.conferences.extend(other.conferences);
    }
}
