//! ConfBridge.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    ConfbridgeEnded, ConfbridgeJoined, ConfbridgeLeft, ConfbridgeMuted,
    ConfbridgeParticipantListed, ConfbridgeRoomListed, ConfbridgeStarted, ConfbridgeTalkingChanged,
    ConfbridgeUnmuted,
};

use crate::fields::{bridge, channel, flag, num, text};

pub(crate) fn start(m: &Message) -> Kind {
    Kind::ConfbridgeStarted(ConfbridgeStarted {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
    })
}

pub(crate) fn join(m: &Message) -> Kind {
    Kind::ConfbridgeJoined(ConfbridgeJoined {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        admin: flag(m, "Admin"),
        muted: flag(m, "Muted"),
    })
}

pub(crate) fn leave(m: &Message) -> Kind {
    Kind::ConfbridgeLeft(ConfbridgeLeft {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        admin: flag(m, "Admin"),
    })
}

pub(crate) fn end(m: &Message) -> Kind {
    Kind::ConfbridgeEnded(ConfbridgeEnded {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
    })
}

/// `ConfbridgeTalking` (`TalkingStatus: on|off`).
pub(crate) fn talking(m: &Message) -> Kind {
    Kind::ConfbridgeTalkingChanged(ConfbridgeTalkingChanged {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        talking: flag(m, "TalkingStatus"),
        talking_status: text(m, "TalkingStatus"),
        admin: flag(m, "Admin"),
    })
}

pub(crate) fn mute(m: &Message) -> Kind {
    Kind::ConfbridgeMuted(ConfbridgeMuted {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        admin: flag(m, "Admin"),
    })
}

pub(crate) fn unmute(m: &Message) -> Kind {
    Kind::ConfbridgeUnmuted(ConfbridgeUnmuted {
        conference: text(m, "Conference"),
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        admin: flag(m, "Admin"),
    })
}

/// `ConfbridgeList` entry: one participant.
pub(crate) fn list_entry(m: &Message) -> Kind {
    Kind::ConfbridgeParticipantListed(ConfbridgeParticipantListed {
        conference: text(m, "Conference"),
        channel: channel(m, ""),
        admin: flag(m, "Admin"),
        marked: flag(m, "MarkedUser"),
        wait_marked: flag(m, "WaitMarked"),
        end_marked: flag(m, "EndMarked"),
        waiting: flag(m, "Waiting"),
        muted: flag(m, "Muted"),
        talking: flag(m, "Talking"),
        answered_time: num(m, "AnsweredTime"),
    })
}

/// `ConfbridgeListRooms` entry: one room.
pub(crate) fn room_entry(m: &Message) -> Kind {
    Kind::ConfbridgeRoomListed(ConfbridgeRoomListed {
        conference: text(m, "Conference"),
        parties: num(m, "Parties"),
        marked: num(m, "Marked"),
        locked: flag(m, "Locked"),
        muted: flag(m, "Muted"),
    })
}
