//! app_queue: callers, members, agents, QueueStatus entries.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    AgentCalled, AgentCompleted, AgentConnected, CallerId, QueueAgent, QueueCallerAbandoned,
    QueueCallerJoined, QueueCallerLeft, QueueEntryListed, QueueMember, QueueMemberAdded,
    QueueMemberListed, QueueMemberPauseChanged, QueueMemberRemoved, QueueMemberStatusChanged,
    QueueParamsListed,
};

use crate::fields::{channel, flag, num, text, text_any};
use crate::values;

/// A member as events (`MemberName`, `Interface`) and QueueStatus entries
/// (`Name`, `Location`) describe it.
fn member(m: &Message) -> QueueMember {
    let raw = text(m, "Status");
    QueueMember {
        queue: text(m, "Queue"),
        name: text_any(m, &["MemberName", "Name"]),
        interface: text_any(m, &["Interface", "Location"]),
        state_interface: text(m, "StateInterface"),
        membership: text(m, "Membership"),
        penalty: num(m, "Penalty"),
        calls_taken: num(m, "CallsTaken"),
        last_call: num(m, "LastCall"),
        last_pause: num(m, "LastPause"),
        login_time: num(m, "LoginTime"),
        in_call: flag(m, "InCall"),
        status: values::device_state(&raw) as i32,
        status_raw: raw,
        paused: flag(m, "Paused"),
        paused_reason: text(m, "PausedReason"),
        ringinuse: flag(m, "Ringinuse"),
        wrapuptime: num(m, "Wrapuptime"),
    }
}

/// `QueueCallerJoin` (legacy `Join`).
pub(crate) fn caller_join(m: &Message) -> Kind {
    Kind::QueueCallerJoined(QueueCallerJoined {
        channel: channel(m, ""),
        queue: text(m, "Queue"),
        position: num(m, "Position"),
        count: num(m, "Count"),
    })
}

/// `QueueCallerLeave` (legacy `Leave`).
pub(crate) fn caller_leave(m: &Message) -> Kind {
    Kind::QueueCallerLeft(QueueCallerLeft {
        channel: channel(m, ""),
        queue: text(m, "Queue"),
        position: num(m, "Position"),
        count: num(m, "Count"),
    })
}

/// `QueueCallerAbandon`.
pub(crate) fn caller_abandon(m: &Message) -> Kind {
    Kind::QueueCallerAbandoned(QueueCallerAbandoned {
        channel: channel(m, ""),
        queue: text(m, "Queue"),
        position: num(m, "Position"),
        original_position: num(m, "OriginalPosition"),
        hold_time: num(m, "HoldTime"),
    })
}

pub(crate) fn member_added(m: &Message) -> Kind {
    Kind::QueueMemberAdded(QueueMemberAdded {
        member: Some(member(m)),
    })
}

pub(crate) fn member_removed(m: &Message) -> Kind {
    Kind::QueueMemberRemoved(QueueMemberRemoved {
        member: Some(member(m)),
    })
}

pub(crate) fn member_status(m: &Message) -> Kind {
    Kind::QueueMemberStatusChanged(QueueMemberStatusChanged {
        member: Some(member(m)),
    })
}

/// `QueueMemberPause` (legacy `QueueMemberPaused`).
pub(crate) fn member_pause(m: &Message) -> Kind {
    Kind::QueueMemberPauseChanged(QueueMemberPauseChanged {
        member: Some(member(m)),
    })
}

/// The agent side of the Agent* events: `Dest...` is the member's channel.
fn agent(m: &Message) -> QueueAgent {
    QueueAgent {
        queue: text(m, "Queue"),
        // Asterisk 1.8: `AgentCalled` (AgentCalled) or `Member` (others).
        interface: text_any(m, &["Interface", "Member", "AgentCalled"]),
        member_name: text_any(m, &["MemberName", "AgentName"]),
        channel: channel(m, "Dest"),
    }
}

pub(crate) fn agent_called(m: &Message) -> Kind {
    Kind::AgentCalled(AgentCalled {
        caller: channel(m, ""),
        agent: Some(agent(m)),
    })
}

pub(crate) fn agent_connect(m: &Message) -> Kind {
    Kind::AgentConnected(AgentConnected {
        caller: channel(m, ""),
        agent: Some(agent(m)),
        hold_time: num(m, "HoldTime"),
        ring_time: num(m, "RingTime"),
    })
}

pub(crate) fn agent_complete(m: &Message) -> Kind {
    Kind::AgentCompleted(AgentCompleted {
        caller: channel(m, ""),
        agent: Some(agent(m)),
        hold_time: num(m, "HoldTime"),
        talk_time: num(m, "TalkTime"),
        reason: text(m, "Reason"),
    })
}

/// `QueueParams` (QueueStatus entry).
pub(crate) fn params(m: &Message) -> Kind {
    Kind::QueueParamsListed(QueueParamsListed {
        queue: text(m, "Queue"),
        max: num(m, "Max"),
        strategy: text(m, "Strategy"),
        calls: num(m, "Calls"),
        // `Holdtime` here, `HoldTime` elsewhere: get() ignores case.
        hold_time: num(m, "HoldTime"),
        talk_time: num(m, "TalkTime"),
        completed: num(m, "Completed"),
        abandoned: num(m, "Abandoned"),
        service_level: num(m, "ServiceLevel"),
        service_level_perf: text(m, "ServicelevelPerf"),
        service_level_perf2: text(m, "ServicelevelPerf2"),
        weight: num(m, "Weight"),
    })
}

/// `QueueMember` (QueueStatus entry).
pub(crate) fn member_entry(m: &Message) -> Kind {
    Kind::QueueMemberListed(QueueMemberListed {
        member: Some(member(m)),
    })
}

/// `QueueEntry` (QueueStatus entry: a waiting caller).
pub(crate) fn entry(m: &Message) -> Kind {
    Kind::QueueEntryListed(QueueEntryListed {
        queue: text(m, "Queue"),
        position: num(m, "Position"),
        channel: text(m, "Channel"),
        uniqueid: text(m, "Uniqueid"),
        caller: Some(CallerId {
            num: text_any(m, &["CallerIDNum", "CallerID"]),
            name: text(m, "CallerIDName"),
        }),
        connected: Some(CallerId {
            num: text(m, "ConnectedLineNum"),
            name: text(m, "ConnectedLineName"),
        }),
        wait: num(m, "Wait"),
        priority: num(m, "Priority"),
    })
}
