use serde::{Deserialize, Serialize};

/// A queue member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMember {
    pub interface: String,
    pub name: String,
    /// `static`, `dynamic`, `realtime`.
    pub membership: String,
    /// The member's device state, lower case (`not_inuse`, `inuse`...).
    pub status: String,
    pub paused: bool,
    pub paused_reason: String,
    pub calls_taken: u32,
    pub in_call: bool,
    pub penalty: Option<i32>,
}

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCaller {
    pub channel: String,
    pub uniqueid: String,
    pub caller_num: String,
    pub position: Option<u32>,
    pub joined_ms: Option<i64>,
}

/// A queue with its members and waiting callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub tenant: String,
    pub pbx: String,
    pub name: String,
    pub strategy: String,
    pub members: Vec<QueueMember>,
    pub callers: Vec<QueueCaller>,
    pub completed: u32,
    pub abandoned: u32,
}
