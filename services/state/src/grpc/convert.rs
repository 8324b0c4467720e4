//! The view types as `ringside.state.v1` messages: field for field, enums by
//! meaning (the Rust enums have no UNSPECIFIED; the proto ones keep 0 for
//! it).

use std::sync::Arc;

use ringside_proto::state::v1 as pb;

use crate::deltas::{Delta, Entry, Op, View};
use crate::views::{self, CallState, EndpointStatus, Snapshot, TrunkKind};

pub(crate) fn snapshot(seq: Option<u64>, s: Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        seq,
        pbxs: s.pbxs.into_iter().map(pbx_status).collect(),
        endpoints: s.endpoints.into_iter().map(endpoint).collect(),
        trunks: s.trunks.into_iter().map(trunk).collect(),
        channels: s.channels.into_iter().map(channel).collect(),
        calls: s.calls.into_iter().map(call).collect(),
        bridges: s.bridges.into_iter().map(bridge).collect(),
        queues: s.queues.into_iter().map(queue).collect(),
        conferences: s.conferences.into_iter().map(conference).collect(),
    }
}

pub(crate) fn delta(d: Delta) -> pb::Delta {
    pb::Delta {
        tenant: d.tenant.to_string(),
        seq: d.seq,
        pbx: d.pbx.to_string(),
        view: view(d.view) as i32,
        op: match d.op {
            Op::Upsert => pb::Op::Upsert,
            Op::Remove => pb::Op::Remove,
        } as i32,
        key: d.key,
        value: d.value.map(|e| entry(Arc::unwrap_or_clone(e))),
    }
}

fn view(v: View) -> pb::View {
    match v {
        View::Pbxs => pb::View::Pbxs,
        View::Endpoints => pb::View::Endpoints,
        View::Trunks => pb::View::Trunks,
        View::Channels => pb::View::Channels,
        View::Calls => pb::View::Calls,
        View::Bridges => pb::View::Bridges,
        View::Queues => pb::View::Queues,
        View::Conferences => pb::View::Conferences,
    }
}

fn entry(e: Entry) -> pb::delta::Value {
    use pb::delta::Value;
    match e {
        Entry::Pbx(p) => Value::PbxStatus(pbx_status(p)),
        Entry::Endpoint(e) => Value::Endpoint(endpoint(e)),
        Entry::Trunk(t) => Value::Trunk(trunk(t)),
        Entry::Channel(c) => Value::Channel(channel(c)),
        Entry::Call(c) => Value::Call(call(c)),
        Entry::Bridge(b) => Value::Bridge(bridge(b)),
        Entry::Queue(q) => Value::Queue(queue(q)),
        Entry::Conference(c) => Value::Conference(conference(c)),
    }
}

/// The proto value of a call state.
pub(crate) fn call_state(s: CallState) -> pb::CallState {
    match s {
        CallState::Ringing => pb::CallState::Ringing,
        CallState::Up => pb::CallState::Up,
        CallState::Held => pb::CallState::Held,
    }
}

fn pbx_status(p: views::PbxStatus) -> pb::PbxStatus {
    pb::PbxStatus {
        tenant: p.tenant,
        pbx: p.pbx,
        epoch: p.epoch,
        stale: p.stale,
        syncing: p.syncing,
    }
}

fn endpoint(e: views::Endpoint) -> pb::Endpoint {
    let status = match e.status {
        EndpointStatus::Online => pb::EndpointStatus::Online,
        EndpointStatus::Offline => pb::EndpointStatus::Offline,
        EndpointStatus::Unavailable => pb::EndpointStatus::Unavailable,
        EndpointStatus::InUse => pb::EndpointStatus::InUse,
        EndpointStatus::Ringing => pb::EndpointStatus::Ringing,
        EndpointStatus::OnHold => pb::EndpointStatus::OnHold,
        EndpointStatus::Unknown => pb::EndpointStatus::Unknown,
    };
    pb::Endpoint {
        tenant: e.tenant,
        pbx: e.pbx,
        name: e.name,
        technology: e.technology,
        status: status as i32,
        device_state: e.device_state,
        contacts: e
            .contacts
            .into_iter()
            .map(|c| pb::Contact {
                aor: c.aor,
                uri: c.uri,
                status: c.status,
                rtt_usec: c.rtt_usec,
                user_agent: c.user_agent,
            })
            .collect(),
        channels: e.channels,
    }
}

fn trunk(t: views::Trunk) -> pb::Trunk {
    let kind = match t.kind {
        TrunkKind::PjsipRegistration => pb::TrunkKind::PjsipRegistration,
        TrunkKind::PjsipEndpoint => pb::TrunkKind::PjsipEndpoint,
        TrunkKind::Iax2Peer => pb::TrunkKind::Iax2Peer,
        TrunkKind::Iax2Registration => pb::TrunkKind::Iax2Registration,
    };
    pb::Trunk {
        tenant: t.tenant,
        pbx: t.pbx,
        name: t.name,
        kind: kind as i32,
        status: t.status,
        status_raw: t.status_raw,
        address: t.address,
        latency_ms: t.latency_ms,
        last_change_ms: t.last_change_ms,
        inferred: t.inferred,
    }
}

fn channel(c: views::Channel) -> pb::Channel {
    pb::Channel {
        tenant: c.tenant,
        pbx: c.pbx,
        name: c.name,
        uniqueid: c.uniqueid,
        linkedid: c.linkedid,
        state: c.state,
        caller_num: c.caller_num,
        caller_name: c.caller_name,
        connected_num: c.connected_num,
        connected_name: c.connected_name,
        context: c.context,
        exten: c.exten,
        dialed: c.dialed,
        application: c.application,
        application_data: c.application_data,
        created_ms: c.created_ms,
        answered_ms: c.answered_ms,
        bridge: c.bridge,
        on_hold: c.on_hold,
        music_on_hold: c.music_on_hold,
    }
}

pub(crate) fn call(c: views::Call) -> pb::Call {
    pb::Call {
        tenant: c.tenant,
        pbx: c.pbx,
        id: c.id,
        legs: c.legs,
        from: c.from,
        to: c.to,
        state: call_state(c.state) as i32,
        direction: c.direction,
        trunk: c.trunk,
        start_ms: c.start_ms,
        answer_ms: c.answer_ms,
    }
}

fn bridge(b: views::Bridge) -> pb::Bridge {
    pb::Bridge {
        tenant: b.tenant,
        pbx: b.pbx,
        id: b.id,
        bridge_type: b.bridge_type,
        technology: b.technology,
        name: b.name,
        creator: b.creator,
        channels: b.channels,
    }
}

fn queue(q: views::Queue) -> pb::Queue {
    pb::Queue {
        tenant: q.tenant,
        pbx: q.pbx,
        name: q.name,
        strategy: q.strategy,
        members: q
            .members
            .into_iter()
            .map(|m| pb::QueueMember {
                interface: m.interface,
                name: m.name,
                membership: m.membership,
                status: m.status,
                paused: m.paused,
                paused_reason: m.paused_reason,
                calls_taken: m.calls_taken,
                in_call: m.in_call,
                penalty: m.penalty,
            })
            .collect(),
        callers: q
            .callers
            .into_iter()
            .map(|c| pb::QueueCaller {
                channel: c.channel,
                uniqueid: c.uniqueid,
                caller_num: c.caller_num,
                position: c.position,
                joined_ms: c.joined_ms,
            })
            .collect(),
        completed: q.completed,
        abandoned: q.abandoned,
    }
}

fn conference(c: views::Conference) -> pb::Conference {
    pb::Conference {
        tenant: c.tenant,
        pbx: c.pbx,
        name: c.name,
        locked: c.locked,
        participants: c
            .participants
            .into_iter()
            .map(|p| pb::Participant {
                channel: p.channel,
                uniqueid: p.uniqueid,
                caller_num: p.caller_num,
                admin: p.admin,
                talking: p.talking,
                muted: p.muted,
            })
            .collect(),
    }
}
