//! What AMI actions do to the model: Originate, Hangup, Redirect,
//! BlindTransfer, Setvar. The session layer validates the request and writes
//! the immediate response; these functions change the PBX and emit the
//! events (and, for a synchronous Originate, the late response).

use std::time::Duration;

use super::calls::{Extra, Plan, Target};
use super::channel::NewChan;
use super::features::ROOMS;
use super::{CallId, ChanId, ChanState, Engine};
use crate::wire::{self, Msg};

/// A validated `Originate`.
#[derive(Debug, Clone)]
pub(crate) struct OriginateRequest {
    pub(crate) channel: String,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) priority: u32,
    /// `Application`/`Data` instead of a dialplan location.
    pub(crate) application: Option<(String, String)>,
    pub(crate) caller_id: Option<(String, String)>,
    pub(crate) channel_id: Option<String>,
    pub(crate) variables: Vec<(String, String)>,
    pub(crate) action_id: Option<String>,
    pub(crate) session: u64,
    /// `Async: true`: answer now, report with `OriginateResponse`.
    pub(crate) asynchronous: bool,
}

impl Engine {
    /// Places the call of an Originate: ring the endpoint, and once it
    /// answers run the dialplan location or application.
    pub(crate) fn originate(&mut self, req: OriginateRequest) {
        let ep = req
            .channel
            .split_once('/')
            .filter(|(tech, _)| tech.eq_ignore_ascii_case("PJSIP"))
            .and_then(|(_, name)| self.endpoint_index(name));
        let Some(ep) = ep.filter(|&ep| self.endpoints[ep].registered) else {
            let delay = self.rand_ms(50, 300);
            self.after(delay, move |e| e.originate_failed(&req, 0));
            return;
        };
        let call = self.new_call();
        let e = &self.endpoints[ep];
        let spec = NewChan {
            call,
            tech: "PJSIP",
            resource: e.name.clone(),
            device: Some(e.device()),
            state: ChanState::Down,
            cid: (e.name.clone(), e.cid_name.clone()),
            context: req.context.clone(),
            exten: "s".into(),
            linkedid: req.channel_id.clone(),
            uniqueid: req.channel_id.clone(),
        };
        let b = self.new_channel(spec);
        for (k, v) in &req.variables {
            self.varset(b, k, v);
        }
        if let Some((num, name)) = &req.caller_id {
            self.set_callerid(b, num, name);
            self.set_connected(b, num, name);
        }
        let dialstring = self.endpoints[ep].name.clone();
        self.dial_event("DialBegin", None, b, ("DialString", dialstring));
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = Some((None, b));
        }
        let ring_in = self.rand_ms(100, 300);
        self.after(ring_in, move |e| {
            if !e.live(call, 0) {
                return;
            }
            e.set_state(b, ChanState::Ringing);
            e.dial_event("DialState", None, b, ("DialStatus", "RINGING".into()));
            let answer_in = e.rand_ms(800, 2_500);
            e.after(answer_in, move |e| {
                if e.live(call, 0) {
                    e.originate_answered(call, b, req);
                }
            });
        });
    }

    fn originate_answered(&mut self, call: CallId, b: ChanId, req: OriginateRequest) {
        self.set_state(b, ChanState::Up);
        self.dial_event("DialEnd", None, b, ("DialStatus", "ANSWER".into()));
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
        }
        let (name, uniqueid, num, cid_name) = match self.chan(b) {
            Some(c) => (
                c.name.clone(),
                c.uniqueid.clone(),
                c.cid_num.clone(),
                c.cid_name.clone(),
            ),
            None => return,
        };
        if req.asynchronous {
            let (context, exten) = match &req.application {
                Some(_) => (String::new(), String::new()),
                None => (req.context.clone(), req.exten.clone()),
            };
            let m = self
                .ev("OriginateResponse", "call,all")
                .aid(req.action_id.as_deref())
                .h("Response", "Success")
                .h("Channel", name)
                .h("Context", context)
                .h("Exten", exten)
                .h("Reason", "4")
                .h("Uniqueid", uniqueid)
                .h("CallerIDNum", num)
                .h("CallerIDName", cid_name);
            self.emit(m);
        } else {
            let m = wire::ack(req.action_id.as_deref(), "Originate successfully queued");
            self.reply(req.session, m);
        }
        self.start_cdr(call, b);
        match req.application {
            Some((app, data)) => self.run_app(call, b, &app, &data),
            None => {
                self.goto(b, &req.context, &req.exten, req.priority);
                if let Some(cdr) = self.cdr_mut(call) {
                    cdr.dst = req.exten.clone();
                    cdr.dcontext = req.context.clone();
                }
                self.run_exten(call, b);
            }
        }
    }

    /// The endpoint is unknown or unregistered (`Reason: 0`, no channel).
    fn originate_failed(&mut self, req: &OriginateRequest, reason: u32) {
        if req.asynchronous {
            let m = self
                .ev("OriginateResponse", "call,all")
                .aid(req.action_id.as_deref())
                .h("Response", "Failure")
                .h("Channel", req.channel.clone())
                .h("Context", req.context.clone())
                .h("Exten", req.exten.clone())
                .h("Reason", reason.to_string())
                .h("Uniqueid", "<unknown>")
                .h("CallerIDNum", "<unknown>")
                .h("CallerIDName", "<unknown>");
            self.emit(m);
        } else {
            let m = wire::error(req.action_id.as_deref(), "Originate failed");
            self.reply(req.session, m);
        }
    }

    /// Runs the dialplan at the channel's context/exten: extensions are
    /// dialled, `7000`/`7001` queue, `8000`/`8001` conference, a few lab
    /// numbers run an application, anything else is `Hangup(1)`.
    pub(crate) fn run_exten(&mut self, call: CallId, ch: ChanId) {
        let Some(c) = self.chan(ch) else { return };
        let (exten, priority) = (c.exten.clone(), c.priority);
        if let Some(ep) = self
            .endpoint_index(&exten)
            .filter(|&ep| self.is_extension(ep))
        {
            let from = self.chan(ch).map(|c| c.cid_num.clone()).unwrap_or_default();
            self.newexten(
                ch,
                priority,
                "NoOp",
                &format!("Internal call {from} -> {exten}"),
            );
            let plan = Plan::Answer {
                ring: self.rand_ms(800, 3_000),
                talk: self.rand_ms(3_000, 15_000),
                callee_ends: false,
                extra: Extra::None,
            };
            self.dial(call, ch, priority + 1, Target::Ext(ep), plan);
            return;
        }
        if let Some(q) = self.queues.iter().position(|q| q.exten == exten) {
            self.enter_queue(call, ch, q, priority);
            return;
        }
        if ROOMS.contains(&exten.as_str()) {
            self.join_conference(call, ch, &exten, priority);
            let epoch = self.epoch(call);
            let stay = self.rand_ms(10_000, 30_000);
            self.after(stay, move |e| {
                if e.live(call, epoch) {
                    e.end_call(call, Some(ch), 16, false);
                }
            });
            return;
        }
        let (app, data) = match exten.as_str() {
            "600" => ("Echo", ""),
            "601" => ("Milliwatt", ""),
            "602" => ("Playback", "demo-congrats"),
            "603" => ("Wait", "5"),
            "100" => ("Wait", "20"),
            "101" => ("MusicOnHold", "default,30"),
            _ => ("Hangup", "1"),
        };
        self.newexten(ch, priority, app, data);
        self.run_app(call, ch, app, data);
    }

    /// Runs an application on a lone channel until it ends by itself.
    fn run_app(&mut self, call: CallId, ch: ChanId, app: &str, data: &str) {
        if let Some(c) = self.chan_mut(ch) {
            c.app = app.to_owned();
            c.app_data = data.to_owned();
        }
        if let Some(cdr) = self.cdr_mut(call) {
            cdr.lastapp = app.to_owned();
            cdr.lastdata = data.to_owned();
        }
        let secs = |s: &str| s.split(',').find_map(|p| p.trim().parse::<u64>().ok());
        let (cause, lasts) = match app.to_ascii_lowercase().as_str() {
            "hangup" => (secs(data).map_or(16, |c| c as u32), Duration::ZERO),
            "wait" => (16, Duration::from_secs(secs(data).unwrap_or(20))),
            "musiconhold" => {
                self.moh_start(ch);
                (16, Duration::from_secs(secs(data).unwrap_or(30)))
            }
            "playback" => (16, Duration::from_secs(3)),
            _ => (16, self.rand_ms(5_000, 15_000)),
        };
        let epoch = self.epoch(call);
        self.after(lasts, move |e| {
            if e.live(call, epoch) {
                e.end_call(call, Some(ch), cause, true);
            }
        });
    }

    /// `Hangup` of one channel by AMI: it gets a `SoftHangupRequest` with the
    /// given cause and its call ends.
    pub(crate) fn ami_hangup(&mut self, ch: ChanId, cause: u32) {
        let Some(call) = self.chan(ch).map(|c| c.call) else {
            return;
        };
        self.end_call(call, Some(ch), cause, true);
    }

    /// `Redirect`: the channel leaves its call (the other parties are hung
    /// up) and runs the dialplan at the new location.
    pub(crate) fn redirect(&mut self, ch: ChanId, context: &str, exten: &str, priority: u32) {
        let Some(call) = self.chan(ch).map(|c| c.call) else {
            return;
        };
        self.bump_epoch(call);
        let (others, dialing) = match self.calls.get(&call) {
            Some(c) => (
                c.chans
                    .iter()
                    .copied()
                    .filter(|&x| x != ch)
                    .collect::<Vec<_>>(),
                c.dialing,
            ),
            None => return,
        };
        if let Some((Some(a), b)) = dialing {
            self.dial_event("DialEnd", Some(a), b, ("DialStatus", "CANCEL".into()));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialing = None;
        }
        self.queue_teardown(call, None);
        if let Some(b) = self.chan(ch).and_then(|c| c.bridge) {
            match self.bridges.get(&b).map(|b| b.kind.clone()) {
                Some(super::channel::BridgeKind::Conference(room)) => {
                    self.conference_leave(&room, ch)
                }
                Some(super::channel::BridgeKind::Basic) => {
                    self.bridge_leave(b, ch);
                    for o in &others {
                        self.bridge_leave(b, *o);
                    }
                    self.bridge_destroy(b);
                }
                None => {}
            }
        }
        self.moh_stop(ch);
        for o in others {
            self.moh_stop(o);
            self.hangup_request(o, true, Some(16), None);
            let is_leg = self
                .calls
                .get(&call)
                .and_then(|c| c.cdr.as_ref())
                .is_some_and(|cdr| cdr.leg == o);
            if is_leg {
                self.emit_cdr(call, "ANSWERED");
            }
            self.hangup(o, 16, None);
        }
        self.emit_cdr(call, "ANSWERED");
        self.goto(ch, context, exten, priority);
        self.start_cdr(call, ch);
        self.run_exten(call, ch);
    }

    /// `BlindTransfer` of the party bridged with `ch` to `exten`.
    ///
    /// # Errors
    /// When `ch` is not talking to exactly one other channel.
    pub(crate) fn ami_blind_transfer(
        &mut self,
        ch: ChanId,
        exten: &str,
    ) -> Result<(), &'static str> {
        let bridge = self
            .chan(ch)
            .and_then(|c| c.bridge)
            .ok_or("Transfer failed")?;
        let peer = self
            .bridges
            .get(&bridge)
            .filter(|b| b.kind == super::channel::BridgeKind::Basic)
            .and_then(|b| b.channels.iter().copied().find(|&x| x != ch))
            .ok_or("Transfer failed")?;
        let call = self.chan(ch).map(|c| c.call).ok_or("Transfer failed")?;
        let m = self.chan_event("Unhold", "call,all", ch);
        self.emit(m);
        self.transfer_to(call, ch, peer, exten);
        Ok(())
    }

    /// `Setvar` on a channel (with its `VarSet` event) or a global.
    pub(crate) fn setvar(&mut self, ch: Option<ChanId>, var: &str, value: &str) {
        match ch {
            Some(ch) => self.varset(ch, var, value),
            None => {
                self.globals.insert(var.to_owned(), value.to_owned());
                let mut m = self.ev("VarSet", "dialplan,all");
                m.push("Channel", "none");
                m.push("Uniqueid", "none");
                m.push("Variable", var.to_owned());
                m.push("Value", value.to_owned());
                self.emit(m);
            }
        }
    }

    /// A security event about this AMI session (`SuccessfulAuth`,
    /// `RequestBadFormat`), broadcast like every event.
    pub(crate) fn ami_security_event(
        &mut self,
        name: &'static str,
        session: &AmiSessionInfo,
        extra: &[(&'static str, String)],
    ) {
        let tv = crate::clock::event_tv(self.wall_micros());
        let mut m: Msg = self
            .ev(name, "security,all")
            .h("EventTV", tv)
            .h(
                "Severity",
                if name == "SuccessfulAuth" {
                    "Informational"
                } else {
                    "Error"
                },
            )
            .h("Service", "AMI")
            .h("EventVersion", "1");
        let account = ("AccountID", session.account.clone());
        if name == "SuccessfulAuth" {
            m.push(account.0, account.1.clone());
        }
        m.push("SessionID", session.session_id.clone());
        m.push("LocalAddress", session.local.clone());
        m.push("RemoteAddress", session.remote.clone());
        for (k, v) in extra {
            m.push(*k, v.clone());
        }
        m.push("SessionTV", session.session_tv.clone());
        if name != "SuccessfulAuth" {
            m.push(account.0, account.1);
        }
        self.emit(m);
    }
}

/// What security events say about an AMI session.
#[derive(Debug, Clone)]
pub(crate) struct AmiSessionInfo {
    pub(crate) account: String,
    pub(crate) session_id: String,
    pub(crate) local: String,
    pub(crate) remote: String,
    pub(crate) session_tv: String,
}
