use serde::{Deserialize, Serialize};

/// A participant of a conference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub channel: String,
    pub uniqueid: String,
    pub caller_num: String,
    pub admin: bool,
    pub talking: bool,
    pub muted: bool,
}

/// A ConfBridge room in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    pub tenant: String,
    pub pbx: String,
    pub name: String,
    pub locked: bool,
    pub participants: Vec<Participant>,
}
