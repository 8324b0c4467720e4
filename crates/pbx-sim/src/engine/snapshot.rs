//! A read-only copy of the model, for tests that want the truth without
//! going through AMI (`Simulator::state`, `Engine::snapshot`).

use super::Engine;

/// The PBX at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PbxState {
    pub channels: Vec<ChannelView>,
    pub bridges: Vec<BridgeView>,
    /// Extensions and trunk endpoints, in configuration order.
    pub endpoints: Vec<EndpointView>,
    pub trunks: Vec<TrunkView>,
    pub queues: Vec<QueueView>,
    pub conferences: Vec<ConferenceView>,
    /// Calls finished since start (`CoreProcessedCalls`).
    pub processed_calls: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub name: String,
    pub uniqueid: String,
    pub linkedid: String,
    /// `Down`, `Ring`, `Ringing`, `Up`.
    pub state: String,
    pub caller_id_num: String,
    pub context: String,
    pub exten: String,
    pub application: String,
    /// Uniqueid of the bridge the channel is in.
    pub bridge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeView {
    pub uniqueid: String,
    /// `basic` or `base` (a ConfBridge room).
    pub bridge_type: String,
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub name: String,
    pub registered: bool,
    /// `NOT_INUSE`, `INUSE`, `UNAVAILABLE`…
    pub device_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkView {
    pub endpoint: String,
    pub registration: String,
    pub registered: bool,
    pub iax_peer: String,
    pub iax_reachable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    pub name: String,
    /// Member interfaces (`PJSIP/1001`).
    pub members: Vec<String>,
    /// Channels waiting, first in line first.
    pub waiting: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceView {
    pub name: String,
    pub participants: Vec<String>,
}

impl PbxState {
    pub(crate) fn of(e: &Engine) -> PbxState {
        let chan_name = |id| e.chan(id).map(|c| c.name.clone()).unwrap_or_default();
        PbxState {
            channels: e
                .channels
                .values()
                .map(|c| ChannelView {
                    name: c.name.clone(),
                    uniqueid: c.uniqueid.clone(),
                    linkedid: c.linkedid.clone(),
                    state: c.state.desc().to_owned(),
                    caller_id_num: c.cid_num.clone(),
                    context: c.context.clone(),
                    exten: c.exten.clone(),
                    application: c.app.clone(),
                    bridge: c
                        .bridge
                        .and_then(|b| e.bridges.get(&b))
                        .map(|b| b.uniqueid.clone()),
                })
                .collect(),
            bridges: e
                .bridges
                .values()
                .map(|b| BridgeView {
                    uniqueid: b.uniqueid.clone(),
                    bridge_type: b.bridge_type().to_owned(),
                    channels: b.channels.iter().map(|&c| chan_name(c)).collect(),
                })
                .collect(),
            endpoints: e
                .endpoints
                .iter()
                .map(|ep| EndpointView {
                    name: ep.name.clone(),
                    registered: ep.registered,
                    device_state: e.device_state(&ep.device()).ami().to_owned(),
                })
                .collect(),
            trunks: e
                .trunks
                .iter()
                .map(|t| TrunkView {
                    endpoint: e.endpoints[t.endpoint].name.clone(),
                    registration: t.reg_name(),
                    registered: t.registered,
                    iax_peer: t.iax_peer.clone(),
                    iax_reachable: t.iax_reachable,
                })
                .collect(),
            queues: e
                .queues
                .iter()
                .map(|q| QueueView {
                    name: q.name.clone(),
                    members: q.members.iter().map(|m| m.interface.clone()).collect(),
                    waiting: q.callers.iter().map(|c| chan_name(c.chan)).collect(),
                })
                .collect(),
            conferences: e
                .conferences
                .values()
                .map(|c| ConferenceView {
                    name: c.name.clone(),
                    participants: c.users.iter().map(|u| chan_name(u.chan)).collect(),
                })
                .collect(),
            processed_calls: e.processed_calls,
        }
    }

    /// Names of the registered extensions and reachable trunk endpoints.
    pub fn registered_endpoints(&self) -> Vec<&str> {
        self.endpoints
            .iter()
            .filter(|e| e.registered)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// The channel with this name.
    pub fn channel(&self, name: &str) -> Option<&ChannelView> {
        self.channels.iter().find(|c| c.name == name)
    }
}
