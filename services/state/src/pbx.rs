//! One PBX's views and how each event kind changes them.
//!
//! A [`PbxView`] knows nothing of ordering or resyncs (that is
//! [`crate::projection`]): it applies one kind at one time. It only creates
//! a channel, bridge, member or participant from the event that says it
//! exists (or a resync entry); other events update what is there and are
//! ignored for what is not, so a missed event never invents an entry.

use std::collections::BTreeMap;

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    BridgeSnapshot, ChannelSnapshot, ContactStatus, DeviceState, PeerStatus, QualifyStatus,
    QueueMember as PbQueueMember, RegistrationStatus, Unmapped,
};

use serde::{Deserialize, Serialize};

use crate::deltas::{View, ViewSet};
use index::{Channels, Contacts, device_of};

mod index;
use crate::views::{
    Bridge, Call, CallState, Channel, Conference, Contact, Endpoint, EndpointStatus, Participant,
    Queue, QueueCaller, QueueMember, Snapshot, Trunk, TrunkKind,
};

/// The parts of a view a resync list rebuilds; a list that failed
/// (permission denied, module not loaded) leaves its part as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Endpoints,
    Contacts,
    Registrations,
    Iax2Peers,
    Iax2Registrations,
    Channels,
    Bridges,
    Queues,
    Conferences,
    Devices,
}

impl Part {
    /// The part a resync list action rebuilds.
    pub(crate) fn of_action(action: &str) -> Option<Part> {
        Some(match action.to_ascii_lowercase().as_str() {
            "pjsipshowendpoints" => Part::Endpoints,
            "pjsipshowcontacts" => Part::Contacts,
            "pjsipshowregistrationsoutbound" => Part::Registrations,
            "iaxpeerlist" | "iaxpeers" => Part::Iax2Peers,
            "iaxregistry" => Part::Iax2Registrations,
            "coreshowchannels" => Part::Channels,
            "bridgelist" => Part::Bridges,
            "queuestatus" => Part::Queues,
            "confbridgelistrooms" | "confbridgelist" => Part::Conferences,
            "devicestatelist" => Part::Devices,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EndpointRec {
    aors: Vec<String>,
    trunk: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceRec {
    #[serde(with = "crate::persist::proto_enum")]
    state: DeviceState,
    raw: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContactRec {
    endpoint: String,
    contact: Contact,
    #[serde(with = "crate::persist::proto_enum")]
    status: ContactStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueueRec {
    strategy: String,
    members: BTreeMap<String, QueueMember>,
    callers: Vec<QueueCaller>,
    completed: u32,
    abandoned: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfRec {
    locked: bool,
    participants: BTreeMap<String, Participant>,
}

/// The live (or staged) views of one PBX.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PbxView {
    tenant: String,
    pbx: String,
    endpoints: BTreeMap<String, EndpointRec>,
    devices: BTreeMap<String, DeviceRec>,
    /// By (AOR, URI); serialized as the list of pairs it always was.
    contacts: Contacts,
    /// PJSIP/SIP `PeerStatus` by peer (`PJSIP/1001`).
    #[serde(with = "crate::persist::proto_enum_map")]
    peers: BTreeMap<String, PeerStatus>,
    registrations: BTreeMap<String, Trunk>,
    /// Client URI of each PJSIP registration (to match `Registry` events).
    registration_clients: BTreeMap<String, String>,
    iax2_peers: BTreeMap<String, Trunk>,
    /// By host (`127.0.0.2:4569`).
    iax2_registrations: BTreeMap<String, Trunk>,
    /// By uniqueid; serialized as the plain map it always was (its
    /// indexes are rebuilt on load).
    channels: Channels,
    bridges: BTreeMap<String, Bridge>,
    queues: BTreeMap<String, QueueRec>,
    conferences: BTreeMap<String, ConfRec>,
}

impl PbxView {
    pub(crate) fn new(tenant: &str, pbx: &str) -> Self {
        PbxView {
            tenant: tenant.to_owned(),
            pbx: pbx.to_owned(),
            endpoints: BTreeMap::new(),
            devices: BTreeMap::new(),
            contacts: Contacts::default(),
            peers: BTreeMap::new(),
            registrations: BTreeMap::new(),
            registration_clients: BTreeMap::new(),
            iax2_peers: BTreeMap::new(),
            iax2_registrations: BTreeMap::new(),
            channels: Channels::default(),
            bridges: BTreeMap::new(),
            queues: BTreeMap::new(),
            conferences: BTreeMap::new(),
        }
    }

    /// Takes `part` from `from` (a resync list that failed keeps what was
    /// known).
    pub(crate) fn keep_part(&mut self, from: &PbxView, part: Part) {
        match part {
            Part::Endpoints => {
                self.endpoints = from.endpoints.clone();
                self.peers = from.peers.clone();
            }
            Part::Contacts => self.contacts = from.contacts.clone(),
            Part::Registrations => {
                self.registrations = from.registrations.clone();
                self.registration_clients = from.registration_clients.clone();
            }
            Part::Iax2Peers => self.iax2_peers = from.iax2_peers.clone(),
            Part::Iax2Registrations => self.iax2_registrations = from.iax2_registrations.clone(),
            Part::Channels => self.channels = from.channels.clone(),
            Part::Bridges => self.bridges = from.bridges.clone(),
            Part::Queues => self.queues = from.queues.clone(),
            Part::Conferences => self.conferences = from.conferences.clone(),
            Part::Devices => self.devices = from.devices.clone(),
        }
    }

    fn trunk(&self, name: String, kind: TrunkKind) -> Trunk {
        Trunk {
            tenant: self.tenant.clone(),
            pbx: self.pbx.clone(),
            name,
            kind,
            status: String::new(),
            status_raw: String::new(),
            address: String::new(),
            latency_ms: None,
            last_change_ms: None,
            inferred: false,
        }
    }

    /// Applies one kind; `at` is the event's time (Unix ms).
    pub(crate) fn apply(&mut self, kind: &Kind, at: i64) {
        match kind {
            // Endpoints.
            Kind::EndpointListed(e) => {
                let aors = e
                    .aor
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                self.endpoints.insert(
                    e.name.clone(),
                    EndpointRec {
                        aors,
                        trunk: !e.outbound_auths.is_empty(),
                    },
                );
                if !e.device_state_raw.is_empty() {
                    self.devices.insert(
                        format!("PJSIP/{}", e.name),
                        DeviceRec {
                            state: e.device_state(),
                            raw: e.device_state_raw.clone(),
                        },
                    );
                }
            }
            Kind::DeviceStateChanged(d) => {
                self.devices.insert(
                    d.device.clone(),
                    DeviceRec {
                        state: d.state(),
                        raw: d.state_raw.clone(),
                    },
                );
            }
            Kind::PeerStatusChanged(p) => {
                self.peers.insert(p.peer.clone(), p.status());
            }
            Kind::ContactListed(c) => {
                self.contacts.insert(
                    (c.aor.clone(), c.uri.clone()),
                    ContactRec {
                        endpoint: c.endpoint.clone(),
                        status: c.status(),
                        contact: Contact {
                            aor: c.aor.clone(),
                            uri: c.uri.clone(),
                            status: c.status_raw.clone(),
                            rtt_usec: c.rtt_usec,
                            user_agent: c.user_agent.clone(),
                        },
                    },
                );
            }
            Kind::ContactStatusChanged(c) => {
                let key = (c.aor.clone(), c.uri.clone());
                match c.status() {
                    ContactStatus::Removed => {
                        self.contacts.remove(&key);
                    }
                    status => {
                        let fresh = || ContactRec {
                            endpoint: c.endpoint_name.clone(),
                            status,
                            contact: Contact {
                                aor: c.aor.clone(),
                                uri: c.uri.clone(),
                                status: String::new(),
                                rtt_usec: None,
                                user_agent: String::new(),
                            },
                        };
                        self.contacts.upsert_with(key, fresh, |rec| {
                            // Created/Updated say the contact exists; they do not
                            // replace a qualify result.
                            let lifecycle =
                                matches!(status, ContactStatus::Created | ContactStatus::Updated);
                            if !lifecycle || rec.contact.status.is_empty() {
                                rec.status = status;
                                rec.contact.status = c.status_raw.clone();
                            }
                            if c.rtt_usec.is_some() {
                                rec.contact.rtt_usec = c.rtt_usec;
                            }
                            if !c.user_agent.is_empty() {
                                rec.contact.user_agent = c.user_agent.clone();
                            }
                            if !c.endpoint_name.is_empty() {
                                rec.endpoint = c.endpoint_name.clone();
                            }
                        });
                    }
                }
            }

            // Trunks.
            Kind::OutboundRegistrationListed(r) => {
                let mut t = self.trunk(r.name.clone(), TrunkKind::PjsipRegistration);
                t.status = registration_status(r.status()).to_owned();
                t.status_raw = r.status_raw.clone();
                t.address = r.server_uri.clone();
                let client = r.client_uri.clone();
                if let Some(old) = self.registrations.get(&r.name)
                    && old.status == t.status
                {
                    t.last_change_ms = old.last_change_ms;
                }
                self.registrations.insert(r.name.clone(), t);
                // Remember the client URI for matching `Registry` events.
                self.registration_clients.insert(r.name.clone(), client);
            }
            Kind::OutboundRegistrationChanged(r) => {
                let status = registration_status(r.status()).to_owned();
                if r.channel_type.eq_ignore_ascii_case("IAX2") {
                    let name = format!("{}@{}", r.username, r.domain);
                    let key = r.domain.clone();
                    let mut fresh = self.trunk(name, TrunkKind::Iax2Registration);
                    fresh.address.clone_from(&key);
                    let t = self.iax2_registrations.entry(key).or_insert(fresh);
                    set_status(t, status, &r.status_raw, at);
                } else {
                    let name = self
                        .registrations
                        .iter()
                        .find(|(name, t)| {
                            t.address == r.domain
                                && self
                                    .registration_clients
                                    .get(*name)
                                    .is_none_or(|c| c.is_empty() || *c == r.username)
                        })
                        .map(|(name, _)| name.clone())
                        .unwrap_or_else(|| r.domain.clone());
                    let mut fresh = self.trunk(name.clone(), TrunkKind::PjsipRegistration);
                    fresh.address = r.domain.clone();
                    let t = self.registrations.entry(name).or_insert(fresh);
                    set_status(t, status, &r.status_raw, at);
                }
            }
            Kind::RegistryEntryListed(r) => {
                let host = match (r.host.contains(':'), r.port) {
                    (false, Some(port)) => format!("{}:{port}", r.host),
                    _ => r.host.clone(),
                };
                let mut t = self.trunk(
                    format!("{}@{}", r.username, host),
                    TrunkKind::Iax2Registration,
                );
                t.status = registration_status(r.state()).to_owned();
                t.status_raw = r.state_raw.clone();
                t.address = host.clone();
                self.iax2_registrations.insert(host, t);
            }
            Kind::Iax2PeerListed(p) => {
                let mut t = self.trunk(p.name.clone(), TrunkKind::Iax2Peer);
                t.status = qualify_status(p.status()).to_owned();
                t.status_raw = p.status_raw.clone();
                t.latency_ms = p.latency_ms.map(i64::from);
                t.address = match p.port {
                    Some(port) if !p.ip_address.is_empty() && p.ip_address != "(null)" => {
                        format!("{}:{port}", p.ip_address)
                    }
                    _ => String::new(),
                };
                self.iax2_peers.insert(p.name.clone(), t);
            }
            Kind::Iax2PeerStatusChanged(p) => {
                let name = p.peer.strip_prefix("IAX2/").unwrap_or(&p.peer).to_owned();
                let status = peer_status(p.status()).to_owned();
                let mut fresh = self.trunk(name.clone(), TrunkKind::Iax2Peer);
                if let Some(port) = p.port
                    && !p.address.is_empty()
                {
                    fresh.address = format!("{}:{port}", p.address);
                }
                let t = self.iax2_peers.entry(name).or_insert(fresh);
                if p.time_ms.is_some() {
                    t.latency_ms = p.time_ms;
                }
                set_status(t, status.clone(), &p.status_raw, at);
                // Asterisk sends no event when an IAX2 registration is lost
                // or comes back: follow the peer it registers to.
                let address = t.address.clone();
                if !address.is_empty()
                    && let Some(reg) = self.iax2_registrations.get_mut(&address)
                {
                    let inferred = match status.as_str() {
                        "reachable" => Some("registered"),
                        "unreachable" => Some("request_sent"),
                        _ => None,
                    };
                    if let Some(s) = inferred
                        && reg.status != s
                    {
                        set_status(reg, s.to_owned(), "", at);
                        reg.inferred = true;
                    }
                }
            }

            // Channels.
            Kind::ChannelCreated(c) => {
                let Some(snap) = &c.channel else { return };
                let created = match c.duration_seconds {
                    Some(d) => at - (d as i64) * 1000,
                    None => at,
                };
                let mut ch = Channel {
                    tenant: self.tenant.clone(),
                    pbx: self.pbx.clone(),
                    name: snap.name.clone(),
                    uniqueid: snap.uniqueid.clone(),
                    linkedid: snap.linkedid.clone(),
                    state: String::new(),
                    caller_num: String::new(),
                    caller_name: String::new(),
                    connected_num: String::new(),
                    connected_name: String::new(),
                    context: String::new(),
                    exten: String::new(),
                    dialed: snap.exten.clone(),
                    application: c.application.clone(),
                    application_data: c.application_data.clone(),
                    created_ms: Some(created),
                    answered_ms: None,
                    bridge: c.bridge_id.clone(),
                    on_hold: false,
                    music_on_hold: false,
                };
                update_channel(&mut ch, snap, None);
                if let Some(old) = self.channels.get(&snap.uniqueid) {
                    // A resync entry for a channel already seen live: keep
                    // what the live events knew better.
                    ch.created_ms = old.created_ms.or(ch.created_ms);
                    ch.answered_ms = old.answered_ms;
                    ch.on_hold = old.on_hold;
                    ch.music_on_hold = old.music_on_hold;
                    if !old.dialed.is_empty() {
                        ch.dialed.clone_from(&old.dialed);
                    }
                }
                self.channels.insert(ch);
            }
            Kind::ChannelStateChanged(c) => self.touch(c.channel.as_ref(), at),
            Kind::CallerIdChanged(c) => self.touch(c.channel.as_ref(), at),
            Kind::ConnectedLineChanged(c) => self.touch(c.channel.as_ref(), at),
            Kind::ChannelHungUp(c) => {
                if let Some(snap) = &c.channel {
                    self.channels.remove(&snap.uniqueid);
                }
            }
            Kind::DialBegan(d) => {
                self.touch(d.caller.as_ref(), at);
                self.touch(d.destination.as_ref(), at);
            }
            Kind::DialEnded(d) => {
                self.touch(d.caller.as_ref(), at);
                self.touch(d.destination.as_ref(), at);
            }
            Kind::ChannelHeld(h) => {
                self.touch(h.channel.as_ref(), at);
                self.modify_channel(h.channel.as_ref(), |ch| ch.on_hold = true);
            }
            Kind::ChannelUnheld(h) => {
                self.touch(h.channel.as_ref(), at);
                self.modify_channel(h.channel.as_ref(), |ch| ch.on_hold = false);
            }
            Kind::MusicOnHoldStarted(m) => {
                self.modify_channel(m.channel.as_ref(), |ch| ch.music_on_hold = true);
            }
            Kind::MusicOnHoldStopped(m) => {
                self.modify_channel(m.channel.as_ref(), |ch| ch.music_on_hold = false);
            }
            Kind::BlindTransferred(t) => {
                self.touch(t.transferer.as_ref(), at);
                self.touch(t.transferee.as_ref(), at);
            }
            Kind::AttendedTransferred(t) => {
                self.touch(t.orig_transferer.as_ref(), at);
                self.touch(t.second_transferer.as_ref(), at);
                self.touch(t.transferee.as_ref(), at);
            }
            Kind::Unmapped(u) => {
                let Some(id) = newexten_uniqueid(u) else {
                    return;
                };
                let get = |key: &str| unmapped_header(u, key);
                self.channels.modify(id, |ch| {
                    if let Some(v) = get("Context") {
                        v.clone_into(&mut ch.context);
                    }
                    if let Some(v) = get("Exten") {
                        v.clone_into(&mut ch.exten);
                    }
                    if let Some(v) = get("Application") {
                        v.clone_into(&mut ch.application);
                    }
                    if let Some(v) = get("AppData") {
                        v.clone_into(&mut ch.application_data);
                    }
                });
            }

            // Bridges.
            Kind::BridgeCreated(b) => self.bridge(b.bridge.as_ref()),
            Kind::BridgeListed(b) => self.bridge(b.bridge.as_ref()),
            Kind::BridgeEntered(e) => {
                self.touch(e.channel.as_ref(), at);
                let id = e
                    .bridge
                    .as_ref()
                    .map(|b| b.uniqueid.clone())
                    .unwrap_or_default();
                self.modify_channel(e.channel.as_ref(), |ch| ch.bridge = id);
            }
            Kind::BridgeLeft(e) => {
                self.touch(e.channel.as_ref(), at);
                let id = e
                    .bridge
                    .as_ref()
                    .map(|b| b.uniqueid.as_str())
                    .unwrap_or_default();
                self.modify_channel(e.channel.as_ref(), |ch| {
                    if ch.bridge == id {
                        ch.bridge.clear();
                    }
                });
            }
            Kind::BridgeDestroyed(d) => {
                if let Some(b) = &d.bridge {
                    self.bridges.remove(&b.uniqueid);
                    for uid in self.channels.in_bridge(&b.uniqueid) {
                        self.channels.modify(&uid, |ch| ch.bridge.clear());
                    }
                }
            }

            // Queues.
            Kind::QueueParamsListed(p) => {
                let q = self.queue(&p.queue);
                q.strategy.clone_from(&p.strategy);
                q.completed = p.completed.unwrap_or(q.completed);
                q.abandoned = p.abandoned.unwrap_or(q.abandoned);
            }
            Kind::QueueMemberListed(m) => self.member(m.member.as_ref()),
            Kind::QueueMemberAdded(m) => self.member(m.member.as_ref()),
            Kind::QueueMemberStatusChanged(m) => self.member(m.member.as_ref()),
            Kind::QueueMemberPauseChanged(m) => self.member(m.member.as_ref()),
            Kind::QueueMemberRemoved(m) => {
                if let Some(m) = &m.member
                    && let Some(q) = self.queues.get_mut(&m.queue)
                {
                    q.members.remove(&m.interface);
                }
            }
            Kind::QueueEntryListed(e) => {
                let caller = QueueCaller {
                    channel: e.channel.clone(),
                    uniqueid: e.uniqueid.clone(),
                    caller_num: e.caller.as_ref().map(|c| c.num.clone()).unwrap_or_default(),
                    position: e.position,
                    joined_ms: e.wait.map(|w| at - i64::from(w) * 1000),
                };
                let q = self.queue(&e.queue);
                q.callers.retain(|c| c.channel != caller.channel);
                q.callers.push(caller);
            }
            Kind::QueueCallerJoined(j) => {
                if let Some(snap) = &j.channel {
                    let caller = QueueCaller {
                        channel: snap.name.clone(),
                        uniqueid: snap.uniqueid.clone(),
                        caller_num: snap
                            .caller
                            .as_ref()
                            .map(|c| c.num.clone())
                            .unwrap_or_default(),
                        position: j.position,
                        joined_ms: Some(at),
                    };
                    let q = self.queue(&j.queue);
                    q.callers.retain(|c| c.uniqueid != caller.uniqueid);
                    q.callers.push(caller);
                }
            }
            Kind::QueueCallerLeft(l) => {
                if let Some(snap) = &l.channel
                    && let Some(q) = self.queues.get_mut(&l.queue)
                {
                    q.callers.retain(|c| c.uniqueid != snap.uniqueid);
                }
            }
            Kind::QueueCallerAbandoned(a) => {
                if let Some(q) = self.queues.get_mut(&a.queue) {
                    q.abandoned += 1;
                    if let Some(snap) = &a.channel {
                        q.callers.retain(|c| c.uniqueid != snap.uniqueid);
                    }
                }
            }
            Kind::AgentCompleted(c) => {
                if let Some(agent) = &c.agent
                    && let Some(q) = self.queues.get_mut(&agent.queue)
                {
                    q.completed += 1;
                }
            }

            // Conferences.
            Kind::ConfbridgeStarted(s) => {
                self.conference(&s.conference);
            }
            Kind::ConfbridgeRoomListed(r) => {
                let room = self.conference(&r.conference);
                room.locked = r.locked.unwrap_or(false);
            }
            Kind::ConfbridgeEnded(e) => {
                self.conferences.remove(&e.conference);
            }
            Kind::ConfbridgeJoined(j) => {
                if let Some(snap) = &j.channel {
                    let p = participant(snap, j.admin, j.muted);
                    self.conference(&j.conference)
                        .participants
                        .insert(snap.uniqueid.clone(), p);
                }
            }
            Kind::ConfbridgeParticipantListed(j) => {
                if let Some(snap) = &j.channel {
                    let mut p = participant(snap, j.admin, j.muted);
                    p.talking = j.talking.unwrap_or(false);
                    self.conference(&j.conference)
                        .participants
                        .insert(snap.uniqueid.clone(), p);
                }
            }
            Kind::ConfbridgeLeft(l) => {
                if let Some(snap) = &l.channel
                    && let Some(room) = self.conferences.get_mut(&l.conference)
                {
                    room.participants.remove(&snap.uniqueid);
                }
            }
            Kind::ConfbridgeTalkingChanged(t) => {
                if let Some(p) = self.participant_mut(&t.conference, t.channel.as_ref()) {
                    p.talking = t.talking.unwrap_or(false);
                }
            }
            Kind::ConfbridgeMuted(m) => {
                if let Some(p) = self.participant_mut(&m.conference, m.channel.as_ref()) {
                    p.muted = true;
                }
            }
            Kind::ConfbridgeUnmuted(m) => {
                if let Some(p) = self.participant_mut(&m.conference, m.channel.as_ref()) {
                    p.muted = false;
                }
            }

            // Lifecycle kinds are the projection's; the rest (CDRs, RTCP,
            // security and unmapped events) change no view.
            _ => {}
        }
    }

    /// Changes the known channel a snapshot names (unknown ones are left
    /// alone: no event but its creation invents a channel).
    fn modify_channel(&mut self, snap: Option<&ChannelSnapshot>, f: impl FnOnce(&mut Channel)) {
        if let Some(s) = snap {
            self.channels.modify(&s.uniqueid, f);
        }
    }

    /// Updates a known channel from a snapshot carried by any event.
    fn touch(&mut self, snap: Option<&ChannelSnapshot>, at: i64) {
        if let Some(s) = snap {
            self.channels
                .modify(&s.uniqueid, |ch| update_channel(ch, s, Some(at)));
        }
    }

    fn bridge(&mut self, b: Option<&BridgeSnapshot>) {
        if let Some(b) = b {
            self.bridges.insert(
                b.uniqueid.clone(),
                Bridge {
                    tenant: self.tenant.clone(),
                    pbx: self.pbx.clone(),
                    id: b.uniqueid.clone(),
                    bridge_type: b.r#type.clone(),
                    technology: b.technology.clone(),
                    name: b.name.clone(),
                    creator: b.creator.clone(),
                    channels: Vec::new(),
                },
            );
        }
    }

    fn queue(&mut self, name: &str) -> &mut QueueRec {
        self.queues
            .entry(name.to_owned())
            .or_insert_with(|| QueueRec {
                strategy: String::new(),
                members: BTreeMap::new(),
                callers: Vec::new(),
                completed: 0,
                abandoned: 0,
            })
    }

    fn member(&mut self, m: Option<&PbQueueMember>) {
        let Some(m) = m else { return };
        let q = self.queue(&m.queue);
        let entry = q
            .members
            .entry(m.interface.clone())
            .or_insert_with(|| QueueMember {
                interface: m.interface.clone(),
                name: String::new(),
                membership: String::new(),
                status: String::new(),
                paused: false,
                paused_reason: String::new(),
                calls_taken: 0,
                in_call: false,
                penalty: None,
            });
        if !m.name.is_empty() {
            entry.name.clone_from(&m.name);
        }
        if !m.membership.is_empty() {
            entry.membership.clone_from(&m.membership);
        }
        if m.status() != DeviceState::Unspecified {
            entry.status = device_state_name(m.status()).to_owned();
        }
        if let Some(p) = m.paused {
            entry.paused = p;
            entry.paused_reason.clone_from(&m.paused_reason);
        }
        if let Some(c) = m.calls_taken {
            entry.calls_taken = c;
        }
        if let Some(c) = m.in_call {
            entry.in_call = c;
        }
        if m.penalty.is_some() {
            entry.penalty = m.penalty;
        }
    }

    fn conference(&mut self, name: &str) -> &mut ConfRec {
        self.conferences
            .entry(name.to_owned())
            .or_insert_with(|| ConfRec {
                locked: false,
                participants: BTreeMap::new(),
            })
    }

    fn participant_mut(
        &mut self,
        room: &str,
        snap: Option<&ChannelSnapshot>,
    ) -> Option<&mut Participant> {
        let id = &snap?.uniqueid;
        self.conferences.get_mut(room)?.participants.get_mut(id)
    }

    /// The trunk a channel belongs to, from its name (`PJSIP/gw1-0000002a`):
    /// a PJSIP endpoint with outbound auth or an outbound registration of
    /// that name, or any IAX2 peer (IAX2 is only used between servers).
    fn trunk_of_channel(&self, channel: &str) -> Option<String> {
        let device = device_of(channel)?;
        let (tech, name) = device.split_once('/')?;
        let trunk = match tech {
            "PJSIP" => {
                self.endpoints.get(name).is_some_and(|e| e.trunk)
                    || self.registrations.contains_key(name)
            }
            "IAX2" => true,
            _ => false,
        };
        trunk.then(|| name.to_owned())
    }

    /// Appends the `views` of this PBX to `out` (the others are not
    /// derived).
    pub(crate) fn derive_into(&self, views: ViewSet, out: &mut Snapshot) {
        if views.contains(View::Endpoints) || views.contains(View::Trunks) {
            self.derive_endpoints(views, out);
        }
        if views.contains(View::Trunks) {
            out.trunks.extend(self.registrations.values().cloned());
            out.trunks.extend(self.iax2_peers.values().cloned());
            out.trunks.extend(self.iax2_registrations.values().cloned());
        }
        if views.contains(View::Channels) {
            out.channels.extend(self.channels.values().cloned());
        }
        if views.contains(View::Calls) {
            self.derive_calls(out);
        }
        if views.contains(View::Bridges) {
            self.derive_bridges(out);
        }
        if views.contains(View::Queues) || views.contains(View::Conferences) {
            self.derive_queues_and_conferences(views, out);
        }
    }

    /// Endpoints, and the PJSIP endpoints that are trunks.
    fn derive_endpoints(&self, views: ViewSet, out: &mut Snapshot) {
        for (name, rec) in &self.endpoints {
            if rec.trunk && !views.contains(View::Trunks)
                || !rec.trunk && !views.contains(View::Endpoints)
            {
                continue;
            }
            match self.endpoint_or_trunk(name, rec) {
                EndpointEntry::Endpoint(e) => out.endpoints.push(e),
                EndpointEntry::Trunk(t) => out.trunks.push(t),
            }
        }
    }

    /// A PJSIP endpoint as an extension (with its channel count) or, when
    /// it has outbound auths, as a trunk.
    fn endpoint_or_trunk(&self, name: &str, rec: &EndpointRec) -> EndpointEntry {
        let device = format!("PJSIP/{name}");
        let channels = self.channels.count_of_device(&device);
        let dev = self.devices.get(&device);
        let contacts = self.contacts.of_endpoint(name, &rec.aors);
        let status = endpoint_status(
            dev.map(|d| d.state),
            &contacts,
            self.peers.get(&device).copied(),
        );
        let raw = dev.map(|d| d.raw.clone()).unwrap_or_default();
        if rec.trunk {
            let mut t = self.trunk(name.to_owned(), TrunkKind::PjsipEndpoint);
            t.status = status_name(status).to_owned();
            t.status_raw = raw;
            t.address = contacts
                .first()
                .map(|c| c.contact.uri.clone())
                .unwrap_or_default();
            EndpointEntry::Trunk(t)
        } else {
            EndpointEntry::Endpoint(Endpoint {
                tenant: self.tenant.clone(),
                pbx: self.pbx.clone(),
                name: name.to_owned(),
                technology: "PJSIP".into(),
                status,
                device_state: raw,
                contacts: contacts.iter().map(|c| c.contact.clone()).collect(),
                channels,
            })
        }
    }

    /// One extension's entry (not a trunk), as [`PbxView::derive_into`]
    /// would make it: for an event that touched only its channels or its
    /// device.
    pub(crate) fn endpoint_entry(&self, name: &str) -> Option<Endpoint> {
        match self.pjsip_entry(name)? {
            EndpointEntry::Endpoint(e) => Some(e),
            EndpointEntry::Trunk(_) => None,
        }
    }

    /// One PJSIP endpoint's entry as a trunk (it has outbound auths), as
    /// [`PbxView::derive_into`] would make it.
    pub(crate) fn pjsip_trunk_entry(&self, name: &str) -> Option<Trunk> {
        match self.pjsip_entry(name)? {
            EndpointEntry::Trunk(t) => Some(t),
            EndpointEntry::Endpoint(_) => None,
        }
    }

    /// One PJSIP endpoint's entry, as an extension or a trunk.
    fn pjsip_entry(&self, name: &str) -> Option<EndpointEntry> {
        let rec = self.endpoints.get(name)?;
        Some(self.endpoint_or_trunk(name, rec))
    }

    /// The endpoint a contact (by AOR and URI) names, if it is known.
    pub(crate) fn contact_endpoint(&self, aor: &str, uri: &str) -> Option<&str> {
        self.contacts.endpoint_of(aor, uri)
    }

    /// The endpoints that have `aor` among their AORs (a scan of the
    /// endpoints: comparing names is cheap next to deriving entries).
    pub(crate) fn endpoints_of_aor<'s>(&'s self, aor: &'s str) -> impl Iterator<Item = &'s str> {
        self.endpoints
            .iter()
            .filter(move |(_, rec)| rec.aors.iter().any(|a| a == aor))
            .map(|(name, _)| name.as_str())
    }

    /// Whether `name` is an endpoint shown as a trunk (its entry does not
    /// depend on channels).
    pub(crate) fn is_pjsip_trunk(&self, name: &str) -> bool {
        self.endpoints.get(name).is_some_and(|r| r.trunk)
    }

    /// One channel.
    pub(crate) fn channel(&self, uniqueid: &str) -> Option<&Channel> {
        self.channels.get(uniqueid)
    }

    /// One channel's entry (a copy of the channel).
    pub(crate) fn channel_entry(&self, uniqueid: &str) -> Option<Channel> {
        self.channel(uniqueid).cloned()
    }

    /// One call's entry: the channels of `linkedid`.
    pub(crate) fn call_entry(&self, linkedid: &str) -> Option<Call> {
        let legs: Vec<&Channel> = self.channels.of_call(linkedid).collect();
        (!legs.is_empty()).then(|| self.make_call(linkedid, legs))
    }

    /// One bridge's entry, with the channels in it.
    pub(crate) fn bridge_entry(&self, id: &str) -> Option<Bridge> {
        let mut b = self.bridges.get(id)?.clone();
        b.channels = self.channels.in_bridge(&b.id);
        Some(b)
    }

    /// Calls: channels grouped by linkedid.
    fn derive_calls(&self, out: &mut Snapshot) {
        let mut groups: BTreeMap<&str, Vec<&Channel>> = BTreeMap::new();
        for ch in self.channels.values() {
            groups.entry(call_key(ch)).or_default().push(ch);
        }
        for (id, legs) in groups {
            out.calls.push(self.make_call(id, legs));
        }
    }

    /// A call from its legs (at least one).
    fn make_call(&self, id: &str, mut legs: Vec<&Channel>) -> Call {
        legs.sort_by(|a, b| {
            (a.uniqueid != *id, a.created_ms, &a.uniqueid).cmp(&(
                b.uniqueid != *id,
                b.created_ms,
                &b.uniqueid,
            ))
        });
        let first = legs[0];
        let to = if !first.dialed.is_empty() && first.dialed != "s" {
            first.dialed.clone()
        } else if let Some(other) = legs.get(1) {
            other.caller_num.clone()
        } else {
            first.exten.clone()
        };
        let up = legs.iter().filter(|c| c.state == "up").count();
        let state = if legs.iter().any(|c| c.on_hold) {
            CallState::Held
        } else if up >= 2 || (legs.len() == 1 && up == 1) {
            CallState::Up
        } else {
            CallState::Ringing
        };
        let trunk_legs: Vec<(usize, String)> = legs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.trunk_of_channel(&c.name).map(|t| (i, t)))
            .collect();
        let direction = match trunk_legs.first() {
            Some((0, _)) => "inbound",
            Some(_) => "outbound",
            None => "internal",
        };
        let answer_ms = if legs.len() == 1 {
            first.answered_ms
        } else {
            legs[1..].iter().filter_map(|c| c.answered_ms).min()
        };
        Call {
            tenant: self.tenant.clone(),
            pbx: self.pbx.clone(),
            id: id.to_owned(),
            legs: legs.iter().map(|c| c.uniqueid.clone()).collect(),
            from: first.caller_num.clone(),
            to,
            state,
            direction: direction.to_owned(),
            trunk: trunk_legs
                .into_iter()
                .next()
                .map(|(_, t)| t)
                .unwrap_or_default(),
            start_ms: legs.iter().filter_map(|c| c.created_ms).min(),
            answer_ms,
        }
    }

    fn derive_bridges(&self, out: &mut Snapshot) {
        out.bridges
            .extend(self.bridges.keys().filter_map(|id| self.bridge_entry(id)));
    }

    fn derive_queues_and_conferences(&self, views: ViewSet, out: &mut Snapshot) {
        if views.contains(View::Queues) {
            out.queues
                .extend(self.queues.keys().filter_map(|q| self.queue_entry(q)));
        }
        if views.contains(View::Conferences) {
            out.conferences.extend(
                self.conferences
                    .keys()
                    .filter_map(|c| self.conference_entry(c)),
            );
        }
    }

    /// One queue's entry.
    pub(crate) fn queue_entry(&self, name: &str) -> Option<Queue> {
        let q = self.queues.get(name)?;
        Some(Queue {
            tenant: self.tenant.clone(),
            pbx: self.pbx.clone(),
            name: name.to_owned(),
            strategy: q.strategy.clone(),
            members: q.members.values().cloned().collect(),
            callers: q.callers.clone(),
            completed: q.completed,
            abandoned: q.abandoned,
        })
    }

    /// One conference's entry.
    pub(crate) fn conference_entry(&self, name: &str) -> Option<Conference> {
        let c = self.conferences.get(name)?;
        Some(Conference {
            tenant: self.tenant.clone(),
            pbx: self.pbx.clone(),
            name: name.to_owned(),
            locked: c.locked,
            participants: c.participants.values().cloned().collect(),
        })
    }
}

/// The channel a `Newexten` moves to a new dialplan step: the one unmapped
/// event the views use (its context, extension and application). Any other
/// unmapped event (`VarSet`, most of what a PBX sends) changes nothing.
pub(crate) fn newexten_uniqueid(u: &Unmapped) -> Option<&str> {
    if is_newexten(&u.name) {
        unmapped_header(u, "Uniqueid")
    } else {
        None
    }
}

/// Whether an unmapped event's name is `Newexten`'s.
pub(crate) fn is_newexten(name: &str) -> bool {
    name.eq_ignore_ascii_case("Newexten")
}

/// The first value of an unmapped event's header (keys compared as AMI
/// does, ignoring case).
fn unmapped_header<'u>(u: &'u Unmapped, key: &str) -> Option<&'u str> {
    u.headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(key))
        .and_then(|h| h.value.as_deref())
}

/// The key of the call a channel belongs to: its linkedid (its own
/// uniqueid when Asterisk sent none).
pub(crate) fn call_key(ch: &Channel) -> &str {
    if ch.linkedid.is_empty() {
        &ch.uniqueid
    } else {
        &ch.linkedid
    }
}

/// What a PJSIP endpoint is shown as.
enum EndpointEntry {
    Endpoint(Endpoint),
    Trunk(Trunk),
}

fn participant(snap: &ChannelSnapshot, admin: Option<bool>, muted: Option<bool>) -> Participant {
    Participant {
        channel: snap.name.clone(),
        uniqueid: snap.uniqueid.clone(),
        caller_num: snap
            .caller
            .as_ref()
            .map(|c| c.num.clone())
            .unwrap_or_default(),
        admin: admin.unwrap_or(false),
        talking: false,
        muted: muted.unwrap_or(false),
    }
}

/// Copies what a channel snapshot says into the channel; `at` (live events)
/// sets the answer time the first time the channel is seen up.
fn update_channel(ch: &mut Channel, s: &ChannelSnapshot, at: Option<i64>) {
    if !s.name.is_empty() {
        ch.name.clone_from(&s.name);
    }
    if !s.linkedid.is_empty() {
        ch.linkedid.clone_from(&s.linkedid);
    }
    if !s.state_desc.is_empty() {
        ch.state = s.state_desc.to_ascii_lowercase();
    }
    if let Some(c) = &s.caller {
        ch.caller_num.clone_from(&c.num);
        ch.caller_name.clone_from(&c.name);
    }
    if let Some(c) = &s.connected {
        ch.connected_num.clone_from(&c.num);
        ch.connected_name.clone_from(&c.name);
    }
    if !s.context.is_empty() {
        ch.context.clone_from(&s.context);
    }
    if !s.exten.is_empty() {
        ch.exten.clone_from(&s.exten);
    }
    if let Some(at) = at
        && ch.answered_ms.is_none()
        && ch.state == "up"
    {
        ch.answered_ms = Some(at);
    }
}

fn set_status(t: &mut Trunk, status: String, raw: &str, at: i64) {
    if t.status != status {
        t.last_change_ms = Some(at);
    }
    t.status = status;
    raw.clone_into(&mut t.status_raw);
    t.inferred = false;
}

fn endpoint_status(
    device: Option<DeviceState>,
    contacts: &[&ContactRec],
    peer: Option<PeerStatus>,
) -> EndpointStatus {
    let reachable = contacts.iter().any(|c| {
        !matches!(
            c.status,
            ContactStatus::Unreachable | ContactStatus::Removed
        )
    });
    match device {
        Some(DeviceState::NotInuse) => EndpointStatus::Online,
        Some(DeviceState::Inuse | DeviceState::Busy) => EndpointStatus::InUse,
        Some(DeviceState::Ringing | DeviceState::Ringinuse) => EndpointStatus::Ringing,
        Some(DeviceState::Onhold) => EndpointStatus::OnHold,
        Some(DeviceState::Unavailable) => EndpointStatus::Unavailable,
        _ if reachable => EndpointStatus::Online,
        _ if !contacts.is_empty() => EndpointStatus::Offline,
        _ => match peer {
            Some(PeerStatus::Reachable | PeerStatus::Registered) => EndpointStatus::Online,
            Some(PeerStatus::Unreachable) => EndpointStatus::Offline,
            Some(PeerStatus::Unregistered) => EndpointStatus::Unavailable,
            _ => EndpointStatus::Unknown,
        },
    }
}

/// The snake_case name of an endpoint status (trunk statuses are strings).
fn status_name(s: EndpointStatus) -> &'static str {
    match s {
        EndpointStatus::Online => "online",
        EndpointStatus::Offline => "offline",
        EndpointStatus::Unavailable => "unavailable",
        EndpointStatus::InUse => "in_use",
        EndpointStatus::Ringing => "ringing",
        EndpointStatus::OnHold => "on_hold",
        EndpointStatus::Unknown => "unknown",
    }
}

fn registration_status(s: RegistrationStatus) -> &'static str {
    match s {
        RegistrationStatus::Unspecified | RegistrationStatus::Unknown => "unknown",
        RegistrationStatus::Registered => "registered",
        RegistrationStatus::Unregistered => "unregistered",
        RegistrationStatus::Rejected => "rejected",
        RegistrationStatus::Failed => "failed",
        RegistrationStatus::RequestSent => "request_sent",
        RegistrationStatus::AuthSent => "auth_sent",
        RegistrationStatus::Timeout => "timeout",
        RegistrationStatus::NoAuthentication => "no_authentication",
        RegistrationStatus::Stopping => "stopping",
        RegistrationStatus::Stopped => "stopped",
    }
}

fn qualify_status(s: QualifyStatus) -> &'static str {
    match s {
        QualifyStatus::Reachable => "reachable",
        QualifyStatus::Lagged => "lagged",
        QualifyStatus::Unreachable => "unreachable",
        QualifyStatus::Unmonitored => "unmonitored",
        QualifyStatus::Unknown | QualifyStatus::Unspecified => "unknown",
    }
}

fn peer_status(s: PeerStatus) -> &'static str {
    match s {
        PeerStatus::Reachable | PeerStatus::Registered => "reachable",
        PeerStatus::Unreachable => "unreachable",
        PeerStatus::Lagged => "lagged",
        PeerStatus::Unregistered => "unregistered",
        PeerStatus::Rejected => "rejected",
        PeerStatus::Unknown | PeerStatus::Unspecified => "unknown",
    }
}

/// `not_inuse`, `inuse`, `unavailable`... (a queue member's device state).
fn device_state_name(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Unspecified | DeviceState::Unknown => "unknown",
        DeviceState::NotInuse => "not_inuse",
        DeviceState::Inuse => "inuse",
        DeviceState::Busy => "busy",
        DeviceState::Invalid => "invalid",
        DeviceState::Unavailable => "unavailable",
        DeviceState::Ringing => "ringing",
        DeviceState::Ringinuse => "ringinuse",
        DeviceState::Onhold => "onhold",
    }
}
