use serde::{Deserialize, Serialize};

/// A bridge and the channels in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    pub tenant: String,
    pub pbx: String,
    pub id: String,
    /// `basic`, `confbridge`, `holding`...
    pub bridge_type: String,
    pub technology: String,
    pub name: String,
    pub creator: String,
    /// Uniqueids of the channels in it.
    pub channels: Vec<String>,
}
