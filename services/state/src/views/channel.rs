use serde::{Deserialize, Serialize};

/// A live channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub tenant: String,
    pub pbx: String,
    pub name: String,
    pub uniqueid: String,
    pub linkedid: String,
    /// Lower-case state: `down`, `ring`, `ringing`, `up`, `busy`...
    pub state: String,
    pub caller_num: String,
    pub caller_name: String,
    pub connected_num: String,
    pub connected_name: String,
    pub context: String,
    pub exten: String,
    /// The extension the channel was created for (what was dialed).
    pub dialed: String,
    pub application: String,
    pub application_data: String,
    pub created_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    /// The bridge the channel is in, empty when none.
    pub bridge: String,
    /// Put on hold by its phone (`Hold`/`Unhold`).
    pub on_hold: bool,
    /// Hearing music on hold.
    pub music_on_hold: bool,
}

/// The state of a call as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Not answered yet.
    Ringing,
    Up,
    /// A leg is on hold.
    Held,
}

/// The channels that share a linkedid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub tenant: String,
    pub pbx: String,
    /// The linkedid.
    pub id: String,
    /// Uniqueids of the legs, the originating leg first.
    pub legs: Vec<String>,
    /// The originating leg's caller number.
    pub from: String,
    /// What the originating leg dialed.
    pub to: String,
    pub state: CallState,
    /// `inbound` (the first leg came in on a trunk), `outbound` (a later
    /// leg went out on a trunk) or `internal` (no trunk leg).
    pub direction: String,
    /// The trunk the call uses (its endpoint or peer name), empty when none.
    pub trunk: String,
    pub start_ms: Option<i64>,
    pub answer_ms: Option<i64>,
}
