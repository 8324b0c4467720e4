//! Endpoints, trunks and queues; device, hint and queue-member state; and the
//! background churn (phones registering and unregistering, trunks going down
//! and up).
//!
//! Device state is derived, never set: after any change to a channel the
//! device it belongs to is recomputed, and only a change is published
//! (`DeviceStateChange`, then `ExtensionStatus` for an extension's hint and
//! `QueueMemberStatus` for each queue it is a member of, in corpus order).

use std::time::Duration;

use super::{ChanState, Engine};

/// A device state (`ast_device_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevState {
    NotInUse,
    InUse,
    Unavailable,
    Ringing,
    RingInUse,
    OnHold,
}

impl DevState {
    /// As in `DeviceStateChange`: `NOT_INUSE`, `INUSE`…
    pub(crate) fn ami(self) -> &'static str {
        match self {
            DevState::NotInUse => "NOT_INUSE",
            DevState::InUse => "INUSE",
            DevState::Unavailable => "UNAVAILABLE",
            DevState::Ringing => "RINGING",
            DevState::RingInUse => "RINGINUSE",
            DevState::OnHold => "ONHOLD",
        }
    }

    /// The numeric state of `QueueMemberStatus`/`QueueMember` `Status`.
    pub(crate) fn code(self) -> u8 {
        match self {
            DevState::NotInUse => 1,
            DevState::InUse => 2,
            DevState::Unavailable => 5,
            DevState::Ringing => 6,
            DevState::RingInUse => 7,
            DevState::OnHold => 8,
        }
    }

    /// As in `EndpointList`'s `DeviceState`.
    pub(crate) fn text(self) -> &'static str {
        match self {
            DevState::NotInUse => "Not in use",
            DevState::InUse => "In use",
            DevState::Unavailable => "Unavailable",
            DevState::Ringing => "Ringing",
            DevState::RingInUse => "Ring+Inuse",
            DevState::OnHold => "On Hold",
        }
    }

    /// The hint state of `ExtensionStatus` (`ast_extension_state2str`).
    pub(crate) fn hint(self) -> (u8, &'static str) {
        match self {
            DevState::NotInUse => (0, "Idle"),
            DevState::InUse => (1, "InUse"),
            DevState::Unavailable => (4, "Unavailable"),
            DevState::Ringing => (8, "Ringing"),
            DevState::RingInUse => (9, "InUse&Ringing"),
            DevState::OnHold => (16, "Hold"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    Extension,
    /// The PJSIP side of trunk `n` (index into `Engine::trunks`).
    Trunk(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) kind: EndpointKind,
    /// Has a contact (registered phone, or a trunk's static contact that answers qualify).
    pub(crate) registered: bool,
    pub(crate) host: String,
    pub(crate) contact_uri: String,
    pub(crate) contact_hash: String,
    pub(crate) call_id: String,
    pub(crate) rtt_us: u64,
    pub(crate) reg_expire: u64,
    pub(crate) qualify_frequency: u32,
    pub(crate) cid_name: String,
}

impl Endpoint {
    pub(crate) fn device(&self) -> String {
        format!("PJSIP/{}", self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Trunk {
    pub(crate) index: usize,
    /// Index of the PJSIP endpoint in `Engine::endpoints`.
    pub(crate) endpoint: usize,
    pub(crate) host: String,
    pub(crate) registered: bool,
    pub(crate) iax_peer: String,
    pub(crate) iax_reachable: bool,
    pub(crate) iax_rtt_ms: u64,
}

impl Trunk {
    pub(crate) fn reg_name(&self) -> String {
        format!("trunk-{}-reg", self.index)
    }

    pub(crate) fn client_uri(&self) -> String {
        format!("sip:pbx@{}:5060", self.host)
    }

    pub(crate) fn server_uri(&self) -> String {
        format!("sip:{}:5060", self.host)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) interface: String,
    pub(crate) dynamic: bool,
    pub(crate) penalty: u32,
    pub(crate) calls_taken: u32,
    pub(crate) last_call: u64,
    pub(crate) last_pause: u64,
    pub(crate) login_time: u64,
    pub(crate) in_call: bool,
    pub(crate) paused: bool,
    pub(crate) paused_reason: String,
    pub(crate) status: DevState,
}

#[derive(Debug, Clone)]
pub(crate) struct QueueEntry {
    pub(crate) chan: super::ChanId,
    pub(crate) joined: Duration,
    pub(crate) original_position: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) name: String,
    pub(crate) exten: String,
    pub(crate) strategy: &'static str,
    pub(crate) max: u32,
    pub(crate) members: Vec<Member>,
    pub(crate) callers: Vec<QueueEntry>,
    pub(crate) completed: u32,
    pub(crate) abandoned: u32,
    pub(crate) holdtime_total: u64,
    pub(crate) talktime_total: u64,
}

impl Queue {
    pub(crate) fn holdtime(&self) -> u64 {
        self.holdtime_total / u64::from(self.completed.max(1))
    }

    pub(crate) fn talktime(&self) -> u64 {
        self.talktime_total / u64::from(self.completed.max(1))
    }
}

/// Agent names for queue members, as in the lab (Alice, Bob, Carol…).
const AGENT_NAMES: [&str; 10] = [
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Gina", "Hank", "Ivy", "Judy",
];

/// Where the simulated PBX itself listens for SIP.
pub(crate) const PBX_ADDR: &str = "198.51.100.10";

impl Engine {
    /// Extensions, trunks, queues. A tenth of the extensions (the last ones,
    /// like 1016–1020 in the lab) start unregistered.
    pub(super) fn build_topology(&mut self, extensions: usize, trunks: usize) {
        let never = extensions / 10;
        let boot = self.clock.secs(Duration::ZERO);
        for i in 0..extensions {
            let ext = format!("{}", 1001 + i);
            let host = format!("192.0.2.{}", 10 + i % 240);
            let hash = self.hex(32);
            let call_id = format!("{}-{}@{host}", 1 + i, self.rand_range(1000, 60000));
            let rtt_us = self.rand_range(300, 3000);
            self.endpoints.push(Endpoint {
                contact_uri: format!("sip:{ext}@{host}:5060"),
                name: ext.clone(),
                kind: EndpointKind::Extension,
                registered: i < extensions - never,
                host,
                contact_hash: hash,
                call_id,
                rtt_us,
                reg_expire: boot + 3600,
                qualify_frequency: 60,
                cid_name: format!("Ext {ext}"),
            });
        }
        for t in 1..=trunks {
            let host = format!("203.0.113.{}", t % 250);
            let hash = self.hex(32);
            self.endpoints.push(Endpoint {
                name: format!("trunk-{t}"),
                kind: EndpointKind::Trunk(t - 1),
                registered: true,
                contact_uri: format!("sip:{host}:5060"),
                host: host.clone(),
                contact_hash: hash,
                call_id: String::new(),
                rtt_us: 1500,
                reg_expire: 0,
                qualify_frequency: 30,
                cid_name: String::new(),
            });
            let rtt = self.rand_range(2, 40);
            self.trunks.push(Trunk {
                index: t,
                endpoint: self.endpoints.len() - 1,
                host,
                registered: true,
                iax_peer: format!("iax-{t}"),
                iax_reachable: true,
                iax_rtt_ms: rtt,
            });
        }
        let member = |e: &Engine, i: usize, dynamic: bool| Member {
            name: AGENT_NAMES[i % AGENT_NAMES.len()].to_owned(),
            interface: e.endpoints[i].device(),
            dynamic,
            penalty: 0,
            calls_taken: 0,
            last_call: 0,
            last_pause: 0,
            login_time: boot,
            in_call: false,
            paused: false,
            paused_reason: String::new(),
            status: if e.endpoints[i].registered {
                DevState::NotInUse
            } else {
                DevState::Unavailable
            },
        };
        let support: Vec<Member> = (0..extensions.min(3))
            .map(|i| member(self, i, false))
            .collect();
        let sales: Vec<Member> = (3..extensions.min(5))
            .map(|i| member(self, i, true))
            .collect();
        for (name, exten, strategy, max, members) in [
            ("support", "7000", "rrmemory", 0, support),
            ("sales", "7001", "leastrecent", 10, sales),
        ] {
            self.queues.push(Queue {
                name: name.to_owned(),
                exten: exten.to_owned(),
                strategy,
                max,
                members,
                callers: Vec::new(),
                completed: 0,
                abandoned: 0,
                holdtime_total: 0,
                talktime_total: 0,
            });
        }
        // Publish nothing at boot (no client is connected yet), but remember
        // the states so that the first change is a change.
        let devices: Vec<String> = self
            .endpoints
            .iter()
            .map(Endpoint::device)
            .chain(self.trunks.iter().map(|t| format!("IAX2/{}", t.iax_peer)))
            .collect();
        for d in devices {
            let s = self.compute_device(&d);
            self.devices.insert(d, s);
        }
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rand_range(0, 16) as u32, 16).unwrap_or('0'))
            .collect()
    }

    pub(crate) fn endpoint_index(&self, name: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| e.name == name)
    }

    /// Whether endpoint `ep` is an extension (not a trunk).
    pub(crate) fn is_extension(&self, ep: usize) -> bool {
        self.endpoints[ep].kind == EndpointKind::Extension
    }

    /// Extension endpoints (not trunks).
    pub(crate) fn extensions(&self) -> impl Iterator<Item = (usize, &super::Endpoint)> {
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EndpointKind::Extension)
    }

    /// Extensions that are registered and have no channel.
    pub(crate) fn idle_extensions(&self) -> Vec<usize> {
        self.extensions()
            .filter(|(_, e)| e.registered && self.device_state(&e.device()) == DevState::NotInUse)
            .map(|(i, _)| i)
            .collect()
    }

    pub(crate) fn device_state(&self, device: &str) -> DevState {
        self.devices
            .get(device)
            .copied()
            .unwrap_or_else(|| self.compute_device(device))
    }

    fn compute_device(&self, device: &str) -> DevState {
        let (mut in_use, mut ringing, mut held) = (false, false, false);
        for c in self.channels.values() {
            if c.device.as_deref() != Some(device) {
                continue;
            }
            match c.state {
                ChanState::Up | ChanState::Ring => in_use = true,
                ChanState::Ringing => ringing = true,
                ChanState::Down => {}
            }
            held |= c.moh && c.state == ChanState::Up;
        }
        if held {
            DevState::OnHold
        } else if in_use && ringing {
            DevState::RingInUse
        } else if in_use {
            DevState::InUse
        } else if ringing {
            DevState::Ringing
        } else if self.device_reachable(device) {
            DevState::NotInUse
        } else {
            DevState::Unavailable
        }
    }

    fn device_reachable(&self, device: &str) -> bool {
        if let Some(peer) = device.strip_prefix("IAX2/") {
            return self
                .trunks
                .iter()
                .any(|t| t.iax_peer == peer && t.iax_reachable);
        }
        device
            .strip_prefix("PJSIP/")
            .and_then(|n| self.endpoint_index(n))
            .is_some_and(|i| self.endpoints[i].registered)
    }

    /// Recomputes a device and publishes a change.
    pub(crate) fn refresh_device(&mut self, device: &str) {
        let new = self.compute_device(device);
        if self.devices.get(device) == Some(&new) {
            return;
        }
        self.devices.insert(device.to_owned(), new);
        let m = self
            .ev("DeviceStateChange", "call,all")
            .h("Device", device.to_owned())
            .h("State", new.ami());
        self.emit(m);
        if let Some(ext) = device.strip_prefix("PJSIP/") {
            let is_ext = self
                .endpoint_index(ext)
                .is_some_and(|i| self.endpoints[i].kind == EndpointKind::Extension);
            if is_ext {
                let (status, text) = new.hint();
                let m = self
                    .ev("ExtensionStatus", "call,all")
                    .h("Exten", ext.to_owned())
                    .h("Context", "internal")
                    .h("Hint", device.to_owned())
                    .h("Status", status.to_string())
                    .h("StatusText", text);
                self.emit(m);
            }
        }
        for q in 0..self.queues.len() {
            for mi in 0..self.queues[q].members.len() {
                if self.queues[q].members[mi].interface == device {
                    self.queues[q].members[mi].status = new;
                    self.emit_member_event("QueueMemberStatus", q, mi);
                }
            }
        }
    }

    /// `QueueMemberStatus`/`Added`/`Removed`/`Pause`: the member block.
    pub(crate) fn emit_member_event(&mut self, name: &'static str, q: usize, mi: usize) {
        let queue = &self.queues[q];
        let mem = &queue.members[mi];
        let m = self
            .ev(name, "agent,all")
            .h("Queue", queue.name.clone())
            .h("MemberName", mem.name.clone())
            .h("Interface", mem.interface.clone())
            .h("StateInterface", mem.interface.clone())
            .h("Membership", if mem.dynamic { "dynamic" } else { "static" })
            .h("Penalty", mem.penalty.to_string())
            .h("CallsTaken", mem.calls_taken.to_string())
            .h("LastCall", mem.last_call.to_string())
            .h("LastPause", mem.last_pause.to_string())
            .h("LoginTime", mem.login_time.to_string())
            .h("InCall", u8::from(mem.in_call).to_string())
            .h("Status", mem.status.code().to_string())
            .h("Paused", u8::from(mem.paused).to_string())
            .h("PausedReason", mem.paused_reason.clone())
            .h("Ringinuse", "0")
            .h("Wrapuptime", "0");
        self.emit(m);
    }

    /// `ChallengeSent` + `SuccessfulAuth` of a phone's REGISTER or INVITE.
    pub(crate) fn sip_auth_events(&mut self, ep: usize) {
        let e = &self.endpoints[ep];
        let (account, session, remote) = (
            e.name.clone(),
            e.call_id.clone(),
            format!("IPV4/UDP/{}/5060", e.host),
        );
        let tv = crate::clock::event_tv(self.wall_micros());
        let local = format!("IPV4/UDP/{PBX_ADDR}/5060");
        let base = |e: &Engine, name: &'static str| {
            e.ev(name, "security,all")
                .h("EventTV", tv.clone())
                .h("Severity", "Informational")
                .h("Service", "PJSIP")
                .h("EventVersion", "1")
                .h("AccountID", account.clone())
                .h("SessionID", session.clone())
                .h("LocalAddress", local.clone())
                .h("RemoteAddress", remote.clone())
        };
        let challenge = base(self, "ChallengeSent").h("Challenge", "");
        self.emit(challenge);
        let ok = base(self, "SuccessfulAuth").h("UsingPassword", "1");
        self.emit(ok);
    }

    /// `ContactStatus` of an endpoint's contact.
    fn contact_status(&mut self, ep: usize, status: &str, rtt_us: u64) {
        let e = &self.endpoints[ep];
        let m = self
            .ev("ContactStatus", "system,all")
            .h("URI", e.contact_uri.clone())
            .h("ContactStatus", status.to_owned())
            .h("AOR", e.name.clone())
            .h("EndpointName", e.name.clone())
            .h("RoundtripUsec", rtt_us.to_string());
        self.emit(m);
    }

    fn peer_status(&mut self, tech: &'static str, peer: String, status: &'static str) {
        let m = self
            .ev("PeerStatus", "system,all")
            .h("ChannelType", tech)
            .h("Peer", format!("{tech}/{peer}"))
            .h("PeerStatus", status);
        self.emit(m);
    }

    /// Background activity: registration churn and trunk flaps.
    pub(super) fn schedule_background(&mut self) {
        let d = self.exp_delay(25.0);
        self.after(d, |e| e.churn_registration());
        if !self.trunks.is_empty() {
            let d = self.exp_delay(40.0);
            self.after(d, |e| e.flap_trunk());
        }
    }

    /// A phone (never a queue member) unregisters, or an unregistered one
    /// registers (REGISTER → 401 → REGISTER, as in boot-and-sync).
    fn churn_registration(&mut self) {
        let members: Vec<String> = self
            .queues
            .iter()
            .flat_map(|q| q.members.iter().map(|m| m.interface.clone()))
            .collect();
        let candidates: Vec<usize> = self
            .extensions()
            .filter(|(_, e)| !members.contains(&e.device()))
            .map(|(i, _)| i)
            .collect();
        if let Some(ep) = self.pick(&candidates) {
            let device = self.endpoints[ep].device();
            if !self.endpoints[ep].registered {
                self.register(ep);
            } else if self.device_state(&device) == DevState::NotInUse {
                self.unregister(ep);
            }
        }
        let d = self.exp_delay(25.0);
        self.after(d, |e| e.churn_registration());
    }

    pub(crate) fn register(&mut self, ep: usize) {
        self.sip_auth_events(ep);
        self.endpoints[ep].registered = true;
        self.endpoints[ep].reg_expire = self.clock.secs(self.now) + 3600;
        self.contact_status(ep, "NonQualified", 0);
        let name = self.endpoints[ep].name.clone();
        self.peer_status("PJSIP", name, "Reachable");
        let device = self.endpoints[ep].device();
        self.refresh_device(&device);
        let rtt = self.rand_range(300, 3000);
        let qualify = self.rand_ms(200, 1500);
        self.after(qualify, move |e| {
            if e.endpoints[ep].registered {
                e.endpoints[ep].rtt_us = rtt;
                e.contact_status(ep, "Reachable", rtt);
            }
        });
    }

    pub(crate) fn unregister(&mut self, ep: usize) {
        self.endpoints[ep].registered = false;
        self.contact_status(ep, "Removed", 0);
        let name = self.endpoints[ep].name.clone();
        self.peer_status("PJSIP", name, "Unreachable");
        let device = self.endpoints[ep].device();
        self.refresh_device(&device);
    }

    /// One trunk loses its PJSIP registration or its IAX2 peer, and gets it
    /// back 5–20 s later.
    fn flap_trunk(&mut self) {
        let t = self.rand_range(0, self.trunks.len() as u64) as usize;
        let pjsip = self.chance(0.5);
        self.set_trunk(t, pjsip, false);
        let back = self.rand_ms(5_000, 20_000);
        self.after(back, move |e| e.set_trunk(t, pjsip, true));
        let d = self.exp_delay(40.0);
        self.after(d, |e| e.flap_trunk());
    }

    fn set_trunk(&mut self, t: usize, pjsip: bool, up: bool) {
        if pjsip {
            if self.trunks[t].registered == up {
                return;
            }
            self.trunks[t].registered = up;
            let ep = self.trunks[t].endpoint;
            self.endpoints[ep].registered = up;
            let m = self
                .ev("Registry", "system,all")
                .h("ChannelType", "PJSIP")
                .h("Username", self.trunks[t].client_uri())
                .h("Domain", self.trunks[t].server_uri())
                .h("Status", if up { "Registered" } else { "Rejected" });
            self.emit(m);
            let name = self.endpoints[ep].name.clone();
            self.peer_status("PJSIP", name, if up { "Reachable" } else { "Unreachable" });
            let rtt = if up { self.endpoints[ep].rtt_us } else { 0 };
            self.contact_status(ep, if up { "Reachable" } else { "Unreachable" }, rtt);
            let device = self.endpoints[ep].device();
            self.refresh_device(&device);
        } else {
            if self.trunks[t].iax_reachable == up {
                return;
            }
            self.trunks[t].iax_reachable = up;
            let peer = self.trunks[t].iax_peer.clone();
            self.peer_status(
                "IAX2",
                peer.clone(),
                if up { "Reachable" } else { "Unreachable" },
            );
            self.refresh_device(&format!("IAX2/{peer}"));
        }
    }
}
