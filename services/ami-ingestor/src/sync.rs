//! The resync plan: the list actions that rebuild a PBX's live state.
//!
//! How each answer is read (an error can mean "empty", "module not loaded" or
//! "permission denied") is `ringside_events::lifecycle::list_result`.

use ringside_ami::Action;

/// The list actions of a resync, in the order they are sent. `SIPpeers` is
/// kept for Asterisk ≤ 20 (chan_sip); newer versions answer "unknown".
/// `IAXregistry` is here because IAX2 registrations send no event when they
/// are lost or come back: polling is the only way to know.
pub const LIST_ACTIONS: &[&str] = &[
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "PJSIPShowRegistrationsOutbound",
    "SIPpeers",
    "IAXpeerlist",
    "IAXregistry",
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "ConfbridgeListRooms",
];

/// The actions of a resync, fresh ActionIDs each time.
pub fn list_actions() -> Vec<Action> {
    LIST_ACTIONS
        .iter()
        .map(|name| Action::new(name).expect("constant action names are valid"))
        .collect()
}

/// `ConfbridgeList` for one room found by `ConfbridgeListRooms`.
pub fn conference_members(room: &str) -> Option<Action> {
    Action::new("ConfbridgeList")
        .ok()?
        .header("Conference", room)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_action_is_a_valid_action_with_a_fresh_id() {
        let a = list_actions();
        let b = list_actions();
        assert_eq!(a.len(), LIST_ACTIONS.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.action_id() != y.action_id())
        );
        assert_eq!(
            conference_members("8000").unwrap().get("Conference"),
            Some("8000")
        );
        assert!(conference_members("80\r\n00").is_none());
    }
}
