//! Bridges.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    BridgeCreated, BridgeDestroyed, BridgeEntered, BridgeLeft, BridgeListed,
};

use crate::fields::{bridge, channel, text};

pub(crate) fn create(m: &Message) -> Kind {
    Kind::BridgeCreated(BridgeCreated {
        bridge: bridge(m, ""),
    })
}

pub(crate) fn enter(m: &Message) -> Kind {
    Kind::BridgeEntered(BridgeEntered {
        bridge: bridge(m, ""),
        channel: channel(m, ""),
        swap_uniqueid: text(m, "SwapUniqueid"),
    })
}

pub(crate) fn leave(m: &Message) -> Kind {
    Kind::BridgeLeft(BridgeLeft {
        bridge: bridge(m, ""),
        channel: channel(m, ""),
    })
}

pub(crate) fn destroy(m: &Message) -> Kind {
    Kind::BridgeDestroyed(BridgeDestroyed {
        bridge: bridge(m, ""),
    })
}

/// A `BridgeListItem` of BridgeList (resync).
pub(crate) fn list_item(m: &Message) -> Kind {
    Kind::BridgeListed(BridgeListed {
        bridge: bridge(m, ""),
    })
}
