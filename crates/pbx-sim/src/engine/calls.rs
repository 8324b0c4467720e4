//! Generated calls: what kind comes next, and the dial, answer, failure and
//! teardown flows with the event order and header sets of the corpus
//! (basic-calls, failures, trunks-sample).
//!
//! A call is a bag of channels plus what its teardown needs to know (the
//! dial in progress, the queue or conference it is in, its CDR). Flows are
//! chains of scheduled steps; each step first checks that the call still
//! exists and is still on the same course (`epoch`), because an AMI action
//! (Hangup, Redirect) or a transfer may have changed it in between.

use std::time::Duration;

use super::channel::{BridgeKind, NewChan};
use super::{CallId, ChanId, ChanState, Engine};

/// The kinds of generated calls, drawn from a shuffled deck so that every
/// kind shows up within a deck's worth of calls while the mix stays seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Internal,
    InternalHold,
    InternalTransfer,
    Busy,
    NoAnswer,
    Rejected,
    Unavailable,
    Cancelled,
    UnknownNumber,
    InboundDid,
    OutboundPjsip,
    OutboundIax,
    Queue,
    Conference,
}

impl CallKind {
    /// One deck: 40 calls in the proportions of a small office.
    pub(crate) fn deck() -> Vec<CallKind> {
        use CallKind::*;
        let weights = [
            (Internal, 10),
            (InternalHold, 3),
            (InternalTransfer, 2),
            (Busy, 2),
            (NoAnswer, 2),
            (Rejected, 1),
            (Unavailable, 1),
            (Cancelled, 2),
            (UnknownNumber, 1),
            (InboundDid, 5),
            (OutboundPjsip, 3),
            (OutboundIax, 2),
            (Queue, 4),
            (Conference, 2),
        ];
        weights
            .iter()
            .flat_map(|&(k, n)| std::iter::repeat_n(k, n))
            .collect()
    }
}

/// The CDR of a call's primary leg, emitted when that leg ends.
#[derive(Debug, Clone)]
pub(crate) struct Cdr {
    pub(crate) leg: ChanId,
    pub(crate) dst: String,
    pub(crate) dcontext: String,
    pub(crate) dest_chan: String,
    pub(crate) lastapp: String,
    pub(crate) lastdata: String,
    pub(crate) answer: Option<Duration>,
    pub(crate) userfield: String,
}

/// A queue caller's progress.
#[derive(Debug, Clone)]
pub(crate) struct QueueLink {
    pub(crate) queue: usize,
    pub(crate) caller: ChanId,
    /// The member being rung or talked to: (member index, agent channel).
    pub(crate) member: Option<(usize, ChanId)>,
    pub(crate) ring_started: Duration,
    pub(crate) connected: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) chans: Vec<ChanId>,
    pub(crate) epoch: u32,
    /// (caller, callee) while a Dial rings; no caller for an Originate.
    pub(crate) dialing: Option<(Option<ChanId>, ChanId)>,
    pub(crate) cdr: Option<Cdr>,
    pub(crate) queue: Option<QueueLink>,
    pub(crate) conference: Option<String>,
}

/// Where a Dial goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Ext(usize),
    Trunk { trunk: usize, number: String },
    Iax { trunk: usize, number: String },
}

/// How a dial ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    Answer {
        ring: Duration,
        talk: Duration,
        callee_ends: bool,
        extra: Extra,
    },
    Busy,
    Reject,
    NoAnswer,
    Cancel {
        after: Duration,
    },
}

/// Something that happens during an answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    None,
    Hold,
    Transfer,
}

/// Why a dial failed, with the causes the corpus shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    Busy,
    Reject,
    NoAnswer,
    Unavailable,
    Congestion,
}

impl Fail {
    fn dialstatus(self) -> &'static str {
        match self {
            Fail::Busy => "BUSY",
            Fail::Reject | Fail::Unavailable => "CHANUNAVAIL",
            Fail::NoAnswer => "NOANSWER",
            Fail::Congestion => "CONGESTION",
        }
    }

    /// (cause, tech cause) of the caller's `Hangup`.
    fn caller_cause(self) -> (u32, Option<u32>) {
        match self {
            Fail::Busy => (17, Some(486)),
            Fail::Reject | Fail::Unavailable => (20, Some(480)),
            Fail::NoAnswer => (19, Some(480)),
            Fail::Congestion => (34, None),
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Fail::Busy => "BUSY",
            Fail::NoAnswer => "NO ANSWER",
            _ => "FAILED",
        }
    }
}

impl Engine {
    pub(crate) fn new_call(&mut self) -> CallId {
        let id = CallId(self.next_id());
        self.calls.insert(
            id,
            Call {
                chans: Vec::new(),
                epoch: 0,
                dialing: None,
                cdr: None,
                queue: None,
                conference: None,
            },
        );
        id
    }

    /// The call exists and is still on the course a step was scheduled for.
    pub(crate) fn live(&self, call: CallId, epoch: u32) -> bool {
        self.calls.get(&call).is_some_and(|c| c.epoch == epoch)
    }

    pub(crate) fn epoch(&self, call: CallId) -> u32 {
        self.calls.get(&call).map_or(0, |c| c.epoch)
    }

    pub(crate) fn bump_epoch(&mut self, call: CallId) -> u32 {
        match self.calls.get_mut(&call) {
            Some(c) => {
                c.epoch += 1;
                c.epoch
            }
            None => 0,
        }
    }

    /// Next generated call, then schedule the one after.
    pub(super) fn arrival(&mut self) {
        if self.deck.is_empty() {
            let mut deck = CallKind::deck();
            self.shuffle(&mut deck);
            self.deck = deck;
        }
        if let Some(kind) = self.deck.pop() {
            self.start_call(kind);
        }
        let d = self.exp_delay(1.0 / self.calls_per_second);
        self.after(d, |e| e.arrival());
    }

    fn talk_time(&mut self) -> Duration {
        self.rand_ms(2_000, 12_000)
    }

    fn answer_plan(&mut self, callee_ends: bool, extra: Extra) -> Plan {
        Plan::Answer {
            ring: self.rand_ms(800, 4_000),
            talk: self.talk_time(),
            callee_ends,
            extra,
        }
    }

    /// Starts one call of the given kind if the PBX has the parties for it.
    pub(crate) fn start_call(&mut self, kind: CallKind) {
        let idle = self.idle_extensions();
        let Some(a_ep) = self.pick(&idle) else { return };
        let others: Vec<usize> = idle.iter().copied().filter(|&i| i != a_ep).collect();
        match kind {
            CallKind::Internal
            | CallKind::InternalHold
            | CallKind::InternalTransfer
            | CallKind::Busy
            | CallKind::NoAnswer
            | CallKind::Rejected
            | CallKind::Cancelled => {
                let Some(b_ep) = self.pick(&others) else {
                    return;
                };
                let plan = match kind {
                    CallKind::InternalHold => self.answer_plan(false, Extra::Hold),
                    CallKind::InternalTransfer => Plan::Answer {
                        ring: self.rand_ms(800, 3_000),
                        talk: self.rand_ms(6_000, 12_000),
                        callee_ends: false,
                        extra: Extra::Transfer,
                    },
                    CallKind::Busy => Plan::Busy,
                    CallKind::NoAnswer => Plan::NoAnswer,
                    CallKind::Rejected => Plan::Reject,
                    CallKind::Cancelled => Plan::Cancel {
                        after: self.rand_ms(2_000, 6_000),
                    },
                    _ => {
                        let callee_ends = self.chance(0.3);
                        self.answer_plan(callee_ends, Extra::None)
                    }
                };
                self.internal_call(a_ep, b_ep, plan);
            }
            CallKind::Unavailable => {
                let down: Vec<usize> = self
                    .extensions()
                    .filter(|(_, e)| !e.registered)
                    .map(|(i, _)| i)
                    .collect();
                match self.pick(&down) {
                    Some(b_ep) => self.internal_call(a_ep, b_ep, Plan::Busy),
                    None => self.unknown_number_call(a_ep),
                }
            }
            CallKind::UnknownNumber => self.unknown_number_call(a_ep),
            CallKind::InboundDid => self.inbound_call(a_ep),
            CallKind::OutboundPjsip => self.outbound_call(a_ep, false),
            CallKind::OutboundIax => self.outbound_call(a_ep, true),
            CallKind::Queue => {
                let q = self.rand_range(0, self.queues.len() as u64) as usize;
                let from_trunk = self.chance(0.3) && !self.trunks.is_empty();
                self.queue_caller(a_ep, q, from_trunk);
            }
            CallKind::Conference => self.start_conference(idle),
        }
    }

    /// The first leg of a call placed by a phone: auth events, `Newchannel`
    /// in state Ring at the dialled number, `SIPDOMAIN`.
    pub(crate) fn phone_leg(&mut self, call: CallId, ep: usize, dialled: &str) -> ChanId {
        self.sip_auth_events(ep);
        let e = &self.endpoints[ep];
        let spec = NewChan {
            call,
            tech: "PJSIP",
            resource: e.name.clone(),
            device: Some(e.device()),
            state: ChanState::Ring,
            cid: (e.name.clone(), e.cid_name.clone()),
            context: "internal".into(),
            exten: dialled.to_owned(),
            linkedid: None,
            uniqueid: None,
        };
        let a = self.new_channel(spec);
        self.varset(a, "SIPDOMAIN", super::devices::PBX_ADDR);
        self.start_cdr(call, a);
        a
    }

    fn internal_call(&mut self, a_ep: usize, b_ep: usize, plan: Plan) {
        let call = self.new_call();
        let (a_name, b_name) = (
            self.endpoints[a_ep].name.clone(),
            self.endpoints[b_ep].name.clone(),
        );
        let a = self.phone_leg(call, a_ep, &b_name);
        self.newexten(a, 1, "NoOp", &format!("Internal call {a_name} -> {b_name}"));
        self.newexten(a, 2, "Set", "CDR(userfield)=internal");
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.userfield = "internal".into();
        }
        self.dial(call, a, 3, Target::Ext(b_ep), plan);
    }

    /// A number the dialplan does not know: `Hangup(1)`, cause 1 / 404.
    fn unknown_number_call(&mut self, a_ep: usize) {
        let call = self.new_call();
        let number = format!("5{}", self.rand_range(100, 999));
        let a = self.phone_leg(call, a_ep, &number);
        self.newexten(a, 1, "NoOp", &format!("Unknown number {number}"));
        let delay = self.rand_ms(20, 200);
        self.after(delay, move |e| {
            if !e.live(call, 0) {
                return;
            }
            e.newexten(a, 2, "Hangup", "1");
            if let Some(cdr) = e.cdr_mut(call) {
                cdr.lastapp = "Hangup".into();
                cdr.lastdata = "1".into();
            }
            e.hangup_request(a, true, Some(16), None);
            e.emit_cdr(call, "NO ANSWER");
            e.hangup(a, 1, Some(404));
            e.finish_call(call);
        });
    }

    /// A call from a trunk to a DID: `55510XX` reaches extension `10XX`.
    fn inbound_call(&mut self, b_ep: usize) {
        let up: Vec<usize> = (0..self.trunks.len())
            .filter(|&t| {
                let tr = &self.trunks[t];
                tr.registered || tr.iax_reachable
            })
            .collect();
        let Some(t) = self.pick(&up) else { return };
        let iax = !self.trunks[t].registered || (self.trunks[t].iax_reachable && self.chance(0.3));
        let ext = self.endpoints[b_ep].name.clone();
        let did = format!("555{ext}");
        let call = self.new_call();
        let a = self.trunk_leg(call, t, iax, &did);
        self.newexten(a, 1, "Goto", &format!("internal,{ext},1"));
        self.goto(a, "internal", &ext, 1);
        self.newexten(a, 1, "NoOp", &format!("Inbound call {did} -> {ext}"));
        self.newexten(a, 2, "Set", "CDR(userfield)=inbound");
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.userfield = "inbound".into();
        }
        let callee_ends = self.chance(0.3);
        let plan = self.answer_plan(callee_ends, Extra::None);
        self.dial(call, a, 3, Target::Ext(b_ep), plan);
    }

    /// The first leg of a call arriving on trunk `t` (PJSIP or IAX2).
    pub(crate) fn trunk_leg(&mut self, call: CallId, t: usize, iax: bool, did: &str) -> ChanId {
        let caller = if self.chance(0.2) {
            ("anonymous".to_owned(), "Anonymous".to_owned())
        } else {
            (
                format!("+1202555{:04}", self.rand_range(0, 10_000)),
                String::new(),
            )
        };
        let (tech, resource, device) = if iax {
            let p = self.trunks[t].iax_peer.clone();
            ("IAX2", p.clone(), format!("IAX2/{p}"))
        } else {
            let ep = &self.endpoints[self.trunks[t].endpoint];
            ("PJSIP", ep.name.clone(), ep.device())
        };
        let spec = NewChan {
            call,
            tech,
            resource,
            device: Some(device),
            state: ChanState::Ring,
            cid: caller,
            context: "from-trunk".into(),
            exten: did.to_owned(),
            linkedid: None,
            uniqueid: None,
        };
        let a = self.new_channel(spec);
        self.start_cdr(call, a);
        a
    }

    /// `9<number>` leaves on a PJSIP trunk, `8<number>` on an IAX2 peer; the
    /// carrier usually hangs up first (trunks-sample).
    fn outbound_call(&mut self, a_ep: usize, iax: bool) {
        if self.trunks.is_empty() {
            return;
        }
        let t = self.rand_range(0, self.trunks.len() as u64) as usize;
        let number = format!("1202555{:04}", self.rand_range(0, 10_000));
        let dialled = format!("{}{number}", if iax { 8 } else { 9 });
        let call = self.new_call();
        let a = self.phone_leg(call, a_ep, &dialled);
        let ext = self.endpoints[a_ep].name.clone();
        let name = self.endpoints[a_ep].cid_name.clone();
        let trunk_name = if iax {
            self.trunks[t].iax_peer.clone()
        } else {
            self.endpoints[self.trunks[t].endpoint].name.clone()
        };
        self.newexten(a, 1, "NoOp", &format!("Outbound call via {trunk_name}"));
        let did = format!("5550{ext}");
        self.newexten(a, 2, "Set", &format!("CALLERID(num)={did}"));
        self.set_callerid(a, &did, &name);
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.userfield = "outbound".into();
        }
        let callee_ends = self.chance(0.8);
        let plan = self.answer_plan(callee_ends, Extra::None);
        let target = if iax {
            Target::Iax { trunk: t, number }
        } else {
            Target::Trunk { trunk: t, number }
        };
        self.dial(call, a, 3, target, plan);
    }

    /// `Dial()` from channel `a` at dialplan priority `priority`.
    pub(crate) fn dial(
        &mut self,
        call: CallId,
        a: ChanId,
        priority: u32,
        target: Target,
        plan: Plan,
    ) {
        let (data, dialstring) = match &target {
            Target::Ext(ep) => {
                let n = &self.endpoints[*ep].name;
                (format!("PJSIP/{n},12,tT"), n.clone())
            }
            Target::Trunk { trunk, number } => {
                let n = &self.endpoints[self.trunks[*trunk].endpoint].name;
                (format!("PJSIP/{number}@{n},30"), format!("{number}@{n}"))
            }
            Target::Iax { trunk, number } => {
                let p = &self.trunks[*trunk].iax_peer;
                (format!("IAX2/{p}/{number},30"), format!("{p}/{number}"))
            }
        };
        self.newexten(a, priority, "Dial", &data);
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.lastapp = "Dial".into();
            cdr.lastdata = data.clone();
        }
        self.varset(a, "DIALSTATUS", "");
        self.varset(a, "DIALEDPEERNUMBER", "");
        let available = match &target {
            Target::Ext(ep) => self.endpoints[*ep].registered,
            Target::Trunk { trunk, .. } => self.trunks[*trunk].registered,
            Target::Iax { trunk, .. } => self.trunks[*trunk].iax_reachable,
        };
        if !available {
            let why = match target {
                Target::Ext(_) => Fail::Unavailable,
                _ => Fail::Congestion,
            };
            let delay = self.rand_ms(10, 120);
            let epoch = self.epoch(call);
            self.after(delay, move |e| {
                if e.live(call, epoch) {
                    e.fail_dial(call, a, None, priority, why);
                }
            });
            return;
        }
        let linkedid = self.chan(a).map(|c| c.linkedid.clone());
        let spec = match &target {
            Target::Ext(ep) => {
                let e = &self.endpoints[*ep];
                NewChan {
                    call,
                    tech: "PJSIP",
                    resource: e.name.clone(),
                    device: Some(e.device()),
                    state: ChanState::Down,
                    cid: (e.name.clone(), e.cid_name.clone()),
                    context: "internal".into(),
                    exten: "s".into(),
                    linkedid,
                    uniqueid: None,
                }
            }
            Target::Trunk { trunk, .. } => {
                let e = &self.endpoints[self.trunks[*trunk].endpoint];
                NewChan {
                    call,
                    tech: "PJSIP",
                    resource: e.name.clone(),
                    device: Some(e.device()),
                    state: ChanState::Down,
                    cid: ("<unknown>".into(), "<unknown>".into()),
                    context: "from-trunk".into(),
                    exten: "s".into(),
                    linkedid,
                    uniqueid: None,
                }
            }
            Target::Iax { trunk, .. } => {
                let p = self.trunks[*trunk].iax_peer.clone();
                NewChan {
                    call,
                    tech: "IAX2",
                    resource: p.clone(),
                    device: Some(format!("IAX2/{p}")),
                    state: ChanState::Down,
                    cid: ("<unknown>".into(), "<unknown>".into()),
                    context: "from-trunk".into(),
                    exten: "s".into(),
                    linkedid,
                    uniqueid: None,
                }
            }
        };
        let b = self.new_channel(spec);
        self.varset(b, "DIALEDPEERNUMBER", &dialstring);
        let (b_exten, b_context) = match &target {
            Target::Ext(ep) => (self.endpoints[*ep].name.clone(), "internal"),
            Target::Trunk { number, .. } | Target::Iax { number, .. } => {
                (number.clone(), "from-trunk")
            }
        };
        self.goto(b, b_context, &b_exten, 1);
        let (a_num, a_name) = self
            .chan(a)
            .map(|c| (c.cid_num.clone(), c.cid_name.clone()))
            .unwrap_or_default();
        if let Some(c) = self.chan_mut(b) {
            c.conn_num = a_num.clone();
            c.conn_name = a_name.clone();
        }
        self.newexten(b, 1, "AppDial", "(Outgoing Line)");
        if !matches!(target, Target::Ext(_)) {
            self.set_callerid(b, &b_exten, "");
        }
        self.set_connected(b, &a_num, &a_name);
        self.dial_event("DialBegin", Some(a), b, ("DialString", dialstring));
        let (b_num, b_name) = self
            .chan(b)
            .map(|c| (c.cid_num.clone(), c.cid_name.clone()))
            .unwrap_or_default();
        self.set_connected(a, &b_num, &b_name);
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = Some((Some(a), b));
        }
        let b_chan_name = self.chan(b).map(|c| c.name.clone()).unwrap_or_default();
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.dest_chan = b_chan_name;
        }
        let epoch = self.epoch(call);
        match plan {
            Plan::Busy | Plan::Reject => {
                let why = if matches!(plan, Plan::Busy) {
                    Fail::Busy
                } else {
                    Fail::Reject
                };
                let d = self.rand_ms(80, 400);
                self.after(d, move |e| {
                    if e.live(call, epoch) {
                        e.fail_dial(call, a, Some(b), priority, why);
                    }
                });
            }
            _ => {
                let d = self.rand_ms(100, 500);
                self.after(d, move |e| {
                    if !e.live(call, epoch) {
                        return;
                    }
                    e.ringing(a, b);
                    match plan {
                        Plan::NoAnswer => {
                            e.after(Duration::from_secs(12), move |e| {
                                if e.live(call, epoch) {
                                    e.fail_dial(call, a, Some(b), priority, Fail::NoAnswer);
                                }
                            });
                        }
                        Plan::Cancel { after } => {
                            e.after(after, move |e| {
                                if e.live(call, epoch) {
                                    e.cancel_dial(call, a, b);
                                }
                            });
                        }
                        Plan::Answer {
                            ring,
                            talk,
                            callee_ends,
                            extra,
                        } => {
                            e.after(ring, move |e| {
                                if e.live(call, epoch) {
                                    e.answer(call, a, b, talk, callee_ends, extra);
                                }
                            });
                        }
                        Plan::Busy | Plan::Reject => {}
                    }
                });
            }
        }
    }

    fn ringing(&mut self, a: ChanId, b: ChanId) {
        self.set_state(b, ChanState::Ringing);
        self.varset(a, "RINGTIME", "0");
        self.dial_event("DialState", Some(a), b, ("DialStatus", "RINGING".into()));
    }

    /// The callee answers: `DialEnd ANSWER`, a basic bridge, talk, hangup.
    fn answer(
        &mut self,
        call: CallId,
        a: ChanId,
        b: ChanId,
        talk: Duration,
        callee_ends: bool,
        extra: Extra,
    ) {
        self.set_state(b, ChanState::Up);
        self.varset(a, "DIALSTATUS", "ANSWER");
        let b_name = self.chan(b).map(|c| c.name.clone()).unwrap_or_default();
        self.varset(a, "DIALEDPEERNAME", &b_name);
        if let Some(c) = self.chan_mut(b) {
            c.exten.clear();
        }
        self.dial_event("DialEnd", Some(a), b, ("DialStatus", "ANSWER".into()));
        self.set_state(a, ChanState::Up);
        let now = self.now;
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
        }
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.answer.get_or_insert(now);
        }
        self.connect(a, b);
        let epoch = self.epoch(call);
        match extra {
            Extra::Hold => self.schedule_hold(call, epoch, a, b, talk),
            Extra::Transfer => {
                let at = talk / 2;
                self.after(at, move |e| {
                    if e.live(call, epoch) {
                        e.blind_transfer(call, a, b);
                    }
                });
            }
            Extra::None => {}
        }
        self.after(talk, move |e| {
            if e.live(call, epoch) {
                let who = if callee_ends { b } else { a };
                e.end_call(call, Some(who), 16, false);
            }
        });
    }

    /// Puts two answered channels in a new basic bridge.
    pub(crate) fn connect(&mut self, a: ChanId, b: ChanId) {
        let br = self.bridge_create(BridgeKind::Basic);
        self.newexten(b, 1, "AppDial", "(Outgoing Line)");
        self.bridge_enter(br, b);
        self.bridge_enter(br, a);
        let (an, bn) = (
            self.chan(a).map(|c| c.name.clone()).unwrap_or_default(),
            self.chan(b).map(|c| c.name.clone()).unwrap_or_default(),
        );
        self.varset(b, "BRIDGEPEER", &an);
        self.varset(a, "BRIDGEPEER", &bn);
    }

    /// A dial that did not connect: failures.ami's order of events.
    pub(crate) fn fail_dial(
        &mut self,
        call: CallId,
        a: ChanId,
        b: Option<ChanId>,
        priority: u32,
        why: Fail,
    ) {
        let status = why.dialstatus();
        if let Some(b) = b {
            match why {
                Fail::Busy => self.hangup_request(b, false, Some(17), Some(486)),
                Fail::Reject => self.hangup_request(b, false, Some(21), Some(603)),
                _ => {}
            }
            self.dial_event("DialEnd", Some(a), b, ("DialStatus", status.into()));
        }
        self.varset(a, "DIALSTATUS", status);
        self.newexten(a, priority + 1, "Goto", &format!("dialstatus,{status},1"));
        if let Some(b) = b {
            match why {
                Fail::Busy => self.hangup(b, 17, Some(486)),
                Fail::Reject => self.hangup(b, 21, Some(603)),
                _ => self.hangup(b, 0, None),
            }
        }
        let (cause, tech) = why.caller_cause();
        self.goto(a, "dialstatus", status, 1);
        self.newexten(a, 1, "Hangup", &cause.to_string());
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
        }
        self.hangup_request(a, true, Some(16), None);
        self.emit_cdr(call, why.disposition());
        self.hangup(a, cause, tech);
        self.finish_call(call);
    }

    /// The caller gives up while the callee rings (failures: CANCEL).
    fn cancel_dial(&mut self, call: CallId, a: ChanId, b: ChanId) {
        self.hangup_request(a, false, Some(127), Some(487));
        self.dial_event("DialEnd", Some(a), b, ("DialStatus", "CANCEL".into()));
        self.hangup(b, 127, Some(500));
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
        }
        self.hangup_request(a, true, Some(16), Some(487));
        self.emit_cdr(call, "NO ANSWER");
        self.hangup(a, 127, Some(487));
        self.finish_call(call);
    }
}
