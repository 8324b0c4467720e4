//! Queues, conferences, hold and blind transfer (queue-conf-sample,
//! hold-transfer).

use std::time::Duration;

use super::calls::{Extra, Plan, QueueLink, Target};
use super::channel::{BridgeKind, NewChan};
use super::devices::{DevState, Member};
use super::{BridgeId, CallId, ChanId, ChanState, Channel, Engine};

/// A ConfBridge room with at least one participant.
#[derive(Debug, Clone)]
pub(crate) struct Conference {
    pub(crate) name: String,
    pub(crate) bridge: BridgeId,
    pub(crate) users: Vec<ConfUser>,
    pub(crate) locked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ConfUser {
    pub(crate) chan: ChanId,
    pub(crate) admin: bool,
    pub(crate) muted: bool,
}

/// The rooms callers are sent to.
pub(crate) const ROOMS: [&str; 2] = ["8000", "8001"];

impl Engine {
    /// Forgets a destroyed channel everywhere it may still be referenced.
    pub(crate) fn forget_channel(&mut self, ch: &Channel) {
        for q in &mut self.queues {
            q.callers.retain(|e| e.chan != ch.id);
        }
        for conf in self.conferences.values_mut() {
            conf.users.retain(|u| u.chan != ch.id);
        }
    }

    // ----- queues -------------------------------------------------------

    /// A caller (a phone, or a trunk DID) enters queue `q`.
    pub(super) fn queue_caller(&mut self, a_ep: usize, q: usize, from_trunk: bool) {
        let exten = self.queues[q].exten.clone();
        let call = self.new_call();
        let up: Vec<usize> = (0..self.trunks.len())
            .filter(|&t| self.trunks[t].registered || self.trunks[t].iax_reachable)
            .collect();
        let trunk = if from_trunk { self.pick(&up) } else { None };
        let a = if let Some(t) = trunk {
            let iax = !self.trunks[t].registered;
            let did = format!("55501{:02}", q);
            let a = self.trunk_leg(call, t, iax, &did);
            self.newexten(a, 1, "Goto", &format!("internal,{exten},1"));
            self.goto(a, "internal", &exten, 1);
            a
        } else {
            self.phone_leg(call, a_ep, &exten)
        };
        self.enter_queue(call, a, q, 1);
    }

    /// Runs `Answer()` then `Queue()` on `a`, starting at `priority`.
    pub(crate) fn enter_queue(&mut self, call: CallId, a: ChanId, q: usize, priority: u32) {
        let name = self.queues[q].name.clone();
        self.newexten(a, priority, "Answer", "");
        self.set_state(a, ChanState::Up);
        let data = format!("{name},tr,,,60");
        self.newexten(a, priority + 1, "Queue", &data);
        let now = self.now;
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.lastapp = "Queue".into();
            cdr.lastdata = data;
            cdr.answer = Some(now);
        }
        let position = self.queues[q].callers.len() + 1;
        self.queues[q].callers.push(super::devices::QueueEntry {
            chan: a,
            joined: now,
            original_position: position,
        });
        let mut m = self.chan_event("QueueCallerJoin", "agent,all", a);
        m.push("Queue", name);
        m.push("Position", position.to_string());
        m.push("Count", position.to_string());
        self.emit(m);
        if let Some(c) = self.calls.get_mut(&call) {
            c.queue = Some(QueueLink {
                queue: q,
                caller: a,
                member: None,
                ring_started: now,
                connected: None,
            });
        }
        let epoch = self.epoch(call);
        let patience = self.rand_ms(4_000, 40_000);
        self.after(patience, move |e| {
            let waiting = e
                .calls
                .get(&call)
                .and_then(|c| c.queue.as_ref())
                .is_some_and(|l| l.connected.is_none());
            if e.live(call, epoch) && waiting {
                e.end_call(call, Some(a), 16, false);
            }
        });
        let d = self.rand_ms(500, 2_000);
        self.after(d, move |e| e.try_agent(call, epoch));
    }

    /// Rings a free member of the caller's queue, or tries again later.
    fn try_agent(&mut self, call: CallId, epoch: u32) {
        if !self.live(call, epoch) {
            return;
        }
        let Some(link) = self.calls.get(&call).and_then(|c| c.queue.clone()) else {
            return;
        };
        if link.member.is_some() || link.connected.is_some() {
            return;
        }
        let q = link.queue;
        let free: Vec<usize> = self.queues[q]
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.paused && self.device_state(&m.interface) == DevState::NotInUse)
            .map(|(i, _)| i)
            .collect();
        let Some(mi) = self.pick(&free) else {
            self.after(Duration::from_secs(2), move |e| e.try_agent(call, epoch));
            return;
        };
        let a = link.caller;
        let iface = self.queues[q].members[mi].interface.clone();
        let member_name = self.queues[q].members[mi].name.clone();
        let ext = iface.trim_start_matches("PJSIP/").to_owned();
        let Some(ep) = self.endpoint_index(&ext) else {
            return;
        };
        let exten = self.queues[q].exten.clone();
        let spec = NewChan {
            call,
            tech: "PJSIP",
            resource: ext.clone(),
            device: Some(iface.clone()),
            state: ChanState::Down,
            cid: (ext.clone(), self.endpoints[ep].cid_name.clone()),
            context: "internal".into(),
            exten: "s".into(),
            linkedid: self.chan(a).map(|c| c.linkedid.clone()),
            uniqueid: None,
        };
        let b = self.new_channel(spec);
        self.goto(b, "internal", &exten, 1);
        let now = self.now;
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = Some((Some(a), b));
            if let Some(l) = c.queue.as_mut() {
                l.member = Some((mi, b));
                l.ring_started = now;
            }
        }
        let queue_name = self.queues[q].name.clone();
        let mut m = self.ev("AgentCalled", "agent,all");
        self.snapshot_into(&mut m, "", a);
        self.snapshot_into(&mut m, "Dest", b);
        m.push("Queue", queue_name);
        m.push("Interface", iface);
        m.push("MemberName", member_name);
        self.emit(m);
        self.dial_event("DialBegin", Some(a), b, ("DialString", ext));
        let d = self.rand_ms(100, 300);
        self.after(d, move |e| {
            if e.live(call, epoch) {
                e.set_state(b, ChanState::Ringing);
            }
        });
        let ring = self.rand_ms(1_000, 6_000);
        self.after(ring, move |e| {
            if e.live(call, epoch) {
                e.agent_answer(call, epoch);
            }
        });
    }

    fn agent_answer(&mut self, call: CallId, epoch: u32) {
        let Some(link) = self.calls.get(&call).and_then(|c| c.queue.clone()) else {
            return;
        };
        let Some((mi, b)) = link.member else { return };
        let (q, a) = (link.queue, link.caller);
        self.set_state(b, ChanState::Up);
        self.dial_event("DialEnd", Some(a), b, ("DialStatus", "ANSWER".into()));
        let now = self.now;
        let Some(pos) = self.queues[q].callers.iter().position(|e| e.chan == a) else {
            return;
        };
        let entry = self.queues[q].callers.remove(pos);
        let hold = (now - entry.joined).as_secs();
        let ring = (now - link.ring_started).as_secs();
        let count = self.queues[q].callers.len();
        let queue_name = self.queues[q].name.clone();
        let mut m = self.chan_event("QueueCallerLeave", "agent,all", a);
        m.push("Queue", queue_name.clone());
        m.push("Position", (pos + 1).to_string());
        m.push("Count", count.to_string());
        self.emit(m);
        self.queues[q].members[mi].in_call = true;
        self.queues[q].holdtime_total += hold;
        let (iface, member_name) = {
            let mem = &self.queues[q].members[mi];
            (mem.interface.clone(), mem.name.clone())
        };
        let mut m = self.ev("AgentConnect", "agent,all");
        self.snapshot_into(&mut m, "", a);
        self.snapshot_into(&mut m, "Dest", b);
        m.push("Queue", queue_name);
        m.push("Interface", iface);
        m.push("MemberName", member_name);
        m.push("HoldTime", hold.to_string());
        m.push("RingTime", ring.to_string());
        self.emit(m);
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
            if let Some(l) = c.queue.as_mut() {
                l.connected = Some(now);
            }
        }
        let b_name = self.chan(b).map(|c| c.name.clone()).unwrap_or_default();
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.dest_chan = b_name;
        }
        self.connect(a, b);
        let talk = self.rand_ms(3_000, 15_000);
        let agent_ends = self.chance(0.3);
        self.after(talk, move |e| {
            if e.live(call, epoch) {
                e.end_call(call, Some(if agent_ends { b } else { a }), 16, false);
            }
        });
    }

    /// The queue side of a call's teardown: `AgentComplete` after a connected
    /// call, `QueueCallerAbandon` + `QueueCallerLeave` for a waiting caller.
    pub(crate) fn queue_teardown(&mut self, call: CallId, initiator: Option<ChanId>) {
        let Some(link) = self.calls.get_mut(&call).and_then(|c| c.queue.take()) else {
            return;
        };
        let (q, a) = (link.queue, link.caller);
        let queue_name = self.queues[q].name.clone();
        if let (Some(connected), Some((mi, b))) = (link.connected, link.member) {
            let now = self.now;
            let talk = (now - connected).as_secs();
            let hold = (connected - link.ring_started).as_secs();
            let (iface, member_name) = {
                let mem = &mut self.queues[q].members[mi];
                mem.in_call = false;
                mem.calls_taken += 1;
                mem.last_call = self.clock.secs(now);
                (mem.interface.clone(), mem.name.clone())
            };
            self.queues[q].completed += 1;
            self.queues[q].talktime_total += talk;
            let mut m = self.ev("AgentComplete", "agent,all");
            self.snapshot_into(&mut m, "", a);
            self.snapshot_into(&mut m, "Dest", b);
            m.push("Queue", queue_name);
            m.push("Interface", iface);
            m.push("MemberName", member_name);
            m.push("HoldTime", hold.to_string());
            m.push("TalkTime", talk.to_string());
            m.push(
                "Reason",
                if initiator == Some(b) {
                    "agent"
                } else {
                    "caller"
                },
            );
            self.emit(m);
            return;
        }
        let Some(pos) = self.queues[q].callers.iter().position(|e| e.chan == a) else {
            return;
        };
        let entry = self.queues[q].callers.remove(pos);
        self.queues[q].abandoned += 1;
        let hold = (self.now - entry.joined).as_secs();
        let mut m = self.chan_event("QueueCallerAbandon", "agent,all", a);
        m.push("Queue", queue_name.clone());
        m.push("Position", (pos + 1).to_string());
        m.push("OriginalPosition", entry.original_position.to_string());
        m.push("HoldTime", hold.to_string());
        self.emit(m);
        let count = self.queues[q].callers.len();
        let mut m = self.chan_event("QueueCallerLeave", "agent,all", a);
        m.push("Queue", queue_name);
        m.push("Position", (pos + 1).to_string());
        m.push("Count", count.to_string());
        self.emit(m);
    }

    pub(crate) fn queue_index(&self, name: &str) -> Option<usize> {
        self.queues.iter().position(|q| q.name == name)
    }

    /// `QueueAdd`: a dynamic member.
    ///
    /// # Errors
    /// Asterisk's messages for a missing queue or a member already there.
    pub(crate) fn queue_add(
        &mut self,
        queue: &str,
        interface: &str,
        name: Option<&str>,
        penalty: u32,
        paused: bool,
    ) -> Result<(), &'static str> {
        let q = self
            .queue_index(queue)
            .ok_or("Unable to add interface to queue: No such queue")?;
        if self.queues[q]
            .members
            .iter()
            .any(|m| m.interface == interface)
        {
            return Err("Unable to add interface: Already there");
        }
        let now = self.clock.secs(self.now);
        let status = self.device_state(interface);
        self.queues[q].members.push(Member {
            name: name.unwrap_or(interface).to_owned(),
            interface: interface.to_owned(),
            dynamic: true,
            penalty,
            calls_taken: 0,
            last_call: 0,
            last_pause: if paused { now } else { 0 },
            login_time: now,
            in_call: false,
            paused,
            paused_reason: String::new(),
            status,
        });
        let mi = self.queues[q].members.len() - 1;
        self.emit_member_event("QueueMemberAdded", q, mi);
        Ok(())
    }

    /// `QueueRemove`.
    ///
    /// # Errors
    /// Asterisk's messages for a missing queue, member, or a static member.
    pub(crate) fn queue_remove(
        &mut self,
        queue: &str,
        interface: &str,
    ) -> Result<(), &'static str> {
        let q = self
            .queue_index(queue)
            .ok_or("Unable to remove interface from queue: No such queue")?;
        let mi = self.queues[q]
            .members
            .iter()
            .position(|m| m.interface == interface)
            .ok_or("Unable to remove interface: Not there")?;
        if !self.queues[q].members[mi].dynamic {
            return Err("Member not dynamic");
        }
        self.emit_member_event("QueueMemberRemoved", q, mi);
        self.queues[q].members.remove(mi);
        Ok(())
    }

    /// `QueuePause` (in one queue, or in every queue when `queue` is `None`).
    ///
    /// # Errors
    /// When no such member exists.
    pub(crate) fn queue_pause(
        &mut self,
        queue: Option<&str>,
        interface: &str,
        paused: bool,
        reason: &str,
    ) -> Result<(), &'static str> {
        let mut found = false;
        let now = self.clock.secs(self.now);
        for q in 0..self.queues.len() {
            if queue.is_some_and(|n| n != self.queues[q].name) {
                continue;
            }
            for mi in 0..self.queues[q].members.len() {
                if self.queues[q].members[mi].interface != interface {
                    continue;
                }
                found = true;
                let mem = &mut self.queues[q].members[mi];
                mem.paused = paused;
                mem.paused_reason = if paused {
                    reason.to_owned()
                } else {
                    String::new()
                };
                if paused {
                    mem.last_pause = now;
                }
                self.emit_member_event("QueueMemberPause", q, mi);
            }
        }
        if found {
            Ok(())
        } else {
            Err("Interface not found")
        }
    }

    // ----- conferences --------------------------------------------------

    /// Two to four phones call the same room, a few seconds apart.
    pub(super) fn start_conference(&mut self, mut idle: Vec<usize>) {
        let room = ROOMS[self.rand_range(0, ROOMS.len() as u64) as usize];
        let n = self.rand_range(2, 5) as usize;
        self.shuffle(&mut idle);
        let mut at = Duration::ZERO;
        for ep in idle.into_iter().take(n) {
            let stay = self.rand_ms(6_000, 20_000);
            self.after(at, move |e| {
                let device = e.endpoints[ep].device();
                if e.endpoints[ep].registered && e.device_state(&device) == DevState::NotInUse {
                    e.conference_caller(ep, room, stay);
                }
            });
            at += self.rand_ms(1_000, 4_000);
        }
    }

    fn conference_caller(&mut self, ep: usize, room: &str, stay: Duration) {
        let call = self.new_call();
        let a = self.phone_leg(call, ep, room);
        self.join_conference(call, a, room, 1);
        let epoch = self.epoch(call);
        self.after(stay, move |e| {
            if e.live(call, epoch) {
                e.end_call(call, Some(a), 16, false);
            }
        });
    }

    /// Runs `Answer()` then `ConfBridge()` on `a`, starting at `priority`.
    pub(crate) fn join_conference(&mut self, call: CallId, a: ChanId, room: &str, priority: u32) {
        self.newexten(a, priority, "Answer", "");
        self.set_state(a, ChanState::Up);
        let data = format!("{room},default_bridge,default_user");
        self.newexten(a, priority + 1, "ConfBridge", &data);
        let now = self.now;
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.lastapp = "ConfBridge".into();
            cdr.lastdata = data;
            cdr.answer = Some(now);
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.conference = Some(room.to_owned());
        }
        if !self.conferences.contains_key(room) {
            let bridge = self.bridge_create(BridgeKind::Conference(room.to_owned()));
            self.conferences.insert(
                room.to_owned(),
                Conference {
                    name: room.to_owned(),
                    bridge,
                    users: Vec::new(),
                    locked: false,
                },
            );
            let mut m = self.ev("ConfbridgeStart", "call,all");
            m.push("Conference", room.to_owned());
            self.bridge_snapshot_into(&mut m, bridge);
            self.emit(m);
        }
        let Some(conf) = self.conferences.get(room) else {
            return;
        };
        let bridge = conf.bridge;
        let alone: Vec<ChanId> = conf.users.iter().map(|u| u.chan).collect();
        if alone.len() == 1 {
            self.moh_stop(alone[0]);
        }
        self.bridge_enter(bridge, a);
        if let Some(conf) = self.conferences.get_mut(room) {
            conf.users.push(ConfUser {
                chan: a,
                admin: false,
                muted: false,
            });
        }
        let mut m = self.conf_event("ConfbridgeJoin", room, a);
        m.push("Admin", "No");
        m.push("Muted", "No");
        self.emit(m);
        if alone.is_empty() {
            self.moh_start(a);
        }
        self.schedule_talking(call, a, room.to_owned());
    }

    /// An event with the conference, bridge and channel blocks.
    fn conf_event(&self, name: &'static str, room: &str, ch: ChanId) -> crate::wire::Msg {
        let mut m = self.ev(name, "call,all");
        m.push("Conference", room.to_owned());
        if let Some(conf) = self.conferences.get(room) {
            self.bridge_snapshot_into(&mut m, conf.bridge);
        }
        self.snapshot_into(&mut m, "", ch);
        m
    }

    /// Talk detection: `ConfbridgeTalking` on, then off, while others listen.
    fn schedule_talking(&mut self, call: CallId, a: ChanId, room: String) {
        let epoch = self.epoch(call);
        let wait = self.rand_ms(1_000, 5_000);
        self.after(wait, move |e| {
            let users = e.conferences.get(&room).map_or(0, |c| c.users.len());
            if !e.live(call, epoch) || users < 2 {
                if e.live(call, epoch) {
                    e.schedule_talking(call, a, room);
                }
                return;
            }
            e.talking(&room, a, true);
            let speech = e.rand_ms(500, 3_000);
            e.after(speech, move |e| {
                if e.live(call, epoch) {
                    e.talking(&room, a, false);
                    e.schedule_talking(call, a, room);
                }
            });
        });
    }

    fn talking(&mut self, room: &str, a: ChanId, on: bool) {
        let mut m = self.conf_event("ConfbridgeTalking", room, a);
        m.push("TalkingStatus", if on { "on" } else { "off" });
        m.push("Admin", "No");
        self.emit(m);
    }

    /// A participant leaves: `ConfbridgeLeave`, `BridgeLeave`, and when the
    /// room empties `ConfbridgeEnd` + `BridgeDestroy`.
    pub(crate) fn conference_leave(&mut self, room: &str, ch: ChanId) {
        let Some(conf) = self.conferences.get(room) else {
            return;
        };
        let bridge = conf.bridge;
        let mut m = self.conf_event("ConfbridgeLeave", room, ch);
        m.push("Admin", "No");
        self.emit(m);
        self.moh_stop(ch);
        self.bridge_leave(bridge, ch);
        let remaining: Vec<ChanId> = match self.conferences.get_mut(room) {
            Some(conf) => {
                conf.users.retain(|u| u.chan != ch);
                conf.users.iter().map(|u| u.chan).collect()
            }
            None => Vec::new(),
        };
        if remaining.len() == 1 {
            self.moh_start(remaining[0]);
        }
        if remaining.is_empty() {
            let mut m = self.ev("ConfbridgeEnd", "call,all");
            m.push("Conference", room.to_owned());
            self.bridge_snapshot_into(&mut m, bridge);
            self.emit(m);
            self.bridge_destroy(bridge);
            self.conferences.remove(room);
        }
    }

    /// `ConfbridgeMute`/`ConfbridgeUnmute` of a participant.
    ///
    /// # Errors
    /// Asterisk's messages for a missing room or channel.
    pub(crate) fn conference_mute(
        &mut self,
        room: &str,
        channel: &str,
        mute: bool,
    ) -> Result<(), &'static str> {
        if self.conferences.is_empty() {
            return Err("No active conferences.");
        }
        let conf = self
            .conferences
            .get(room)
            .ok_or("No Conference by that name found.")?;
        let users: Vec<ChanId> = conf.users.iter().map(|u| u.chan).collect();
        let ch = users
            .into_iter()
            .find(|&u| self.chan(u).is_some_and(|c| c.name.starts_with(channel)))
            .ok_or("No Channel by that name found in Conference.")?;
        if let Some(conf) = self.conferences.get_mut(room) {
            for u in conf.users.iter_mut().filter(|u| u.chan == ch) {
                u.muted = mute;
            }
        }
        let mut m = self.conf_event(
            if mute {
                "ConfbridgeMute"
            } else {
                "ConfbridgeUnmute"
            },
            room,
            ch,
        );
        m.push("Admin", "No");
        self.emit(m);
        Ok(())
    }

    // ----- hold and transfer -------------------------------------------

    /// The caller puts the callee on hold a third into the call and takes it
    /// back at two thirds (`Hold`, `MusicOnHoldStart` on the other party).
    pub(super) fn schedule_hold(
        &mut self,
        call: CallId,
        epoch: u32,
        a: ChanId,
        b: ChanId,
        talk: Duration,
    ) {
        self.after(talk / 3, move |e| {
            if !e.live(call, epoch) {
                return;
            }
            let mut m = e.chan_event("Hold", "call,all", a);
            m.push("MusicClass", "default");
            e.emit(m);
            e.moh_start(b);
            e.after(talk / 3, move |e| {
                if e.live(call, epoch) {
                    let m = e.chan_event("Unhold", "call,all", a);
                    e.emit(m);
                    e.moh_stop(b);
                }
            });
        });
    }

    /// `a` blind-transfers `b` to another idle extension: `BlindTransfer`,
    /// `a` leaves and hangs up, `b` dials the new party (hold-transfer).
    pub(crate) fn blind_transfer(&mut self, call: CallId, a: ChanId, b: ChanId) {
        let mut idle = self.idle_extensions();
        idle.retain(|&ep| {
            let d = self.endpoints[ep].device();
            [a, b]
                .iter()
                .all(|&x| self.chan(x).and_then(|c| c.device.as_deref()) != Some(d.as_str()))
        });
        let Some(c_ep) = self.pick(&idle) else { return };
        let exten = self.endpoints[c_ep].name.clone();
        self.transfer_to(call, a, b, &exten);
    }

    /// Blind transfer of `b` (bridged with `a`) to extension `exten`.
    pub(crate) fn transfer_to(&mut self, call: CallId, a: ChanId, b: ChanId, exten: &str) {
        let Some(bridge) = self.chan(a).and_then(|c| c.bridge) else {
            return;
        };
        self.bump_epoch(call);
        let mut m = self.ev("BlindTransfer", "call,all");
        m.push("Result", "Success");
        self.snapshot_into(&mut m, "Transferer", a);
        self.snapshot_into(&mut m, "Transferee", b);
        self.bridge_snapshot_into(&mut m, bridge);
        m.push("IsExternal", "Yes");
        m.push("Context", "internal");
        m.push("Extension", exten.to_owned());
        self.emit(m);
        self.bridge_leave(bridge, a);
        self.bridge_leave(bridge, b);
        self.bridge_destroy(bridge);
        self.hangup_request(a, true, Some(16), None);
        let disposition = "ANSWERED";
        self.emit_cdr(call, disposition);
        self.hangup(a, 16, None);
        self.goto(b, "internal", exten, 1);
        self.start_cdr(call, b);
        let b_num = self.chan(b).map(|c| c.cid_num.clone()).unwrap_or_default();
        self.newexten(b, 1, "NoOp", &format!("Internal call {b_num} -> {exten}"));
        self.newexten(b, 2, "Set", "CDR(userfield)=internal");
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.userfield = "internal".into();
            cdr.answer = None;
        }
        match self.endpoint_index(exten) {
            Some(ep) => {
                let plan = Plan::Answer {
                    ring: self.rand_ms(800, 3_000),
                    talk: self.rand_ms(2_000, 10_000),
                    callee_ends: false,
                    extra: Extra::None,
                };
                self.dial(call, b, 3, Target::Ext(ep), plan);
            }
            None => self.end_call(call, Some(b), 16, true),
        }
    }
}
