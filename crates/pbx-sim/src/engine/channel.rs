//! Channels and bridges, and the primitive operations that emit their events.
//!
//! Every channel event carries the same snapshot block (`Channel` …
//! `Linkedid`, in corpus order), optionally prefixed (`DestChannel`,
//! `TransfererChannel`); every bridge event the bridge block (`BridgeUniqueid`
//! … `BridgeVideoSourceMode`). The operations here mutate the model first and
//! then emit, so each event shows the state after the change, as Stasis
//! snapshots do.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Engine;
use crate::wire::Msg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChanId(pub(crate) u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BridgeId(pub(crate) u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CallId(pub(crate) u64);

/// The channel states the model uses (`ast_state2str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChanState {
    Down,
    Ring,
    Ringing,
    Up,
}

impl ChanState {
    pub(crate) fn code(self) -> u8 {
        match self {
            ChanState::Down => 0,
            ChanState::Ring => 4,
            ChanState::Ringing => 5,
            ChanState::Up => 6,
        }
    }

    pub(crate) fn desc(self) -> &'static str {
        match self {
            ChanState::Down => "Down",
            ChanState::Ring => "Ring",
            ChanState::Ringing => "Ringing",
            ChanState::Up => "Up",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) id: ChanId,
    pub(crate) call: CallId,
    pub(crate) name: String,
    /// `PJSIP`, `IAX2`.
    pub(crate) tech: &'static str,
    /// The device whose state this channel counts towards (`PJSIP/1001`).
    pub(crate) device: Option<String>,
    pub(crate) state: ChanState,
    pub(crate) cid_num: String,
    pub(crate) cid_name: String,
    pub(crate) conn_num: String,
    pub(crate) conn_name: String,
    pub(crate) language: String,
    pub(crate) account: String,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) priority: u32,
    pub(crate) uniqueid: String,
    pub(crate) linkedid: String,
    pub(crate) app: String,
    pub(crate) app_data: String,
    pub(crate) created: Duration,
    pub(crate) answered: Option<Duration>,
    pub(crate) bridge: Option<BridgeId>,
    /// Hearing music on hold (held by the peer, alone in a conference…).
    pub(crate) moh: bool,
    pub(crate) vars: BTreeMap<String, String>,
}

/// Kinds of bridges the model creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BridgeKind {
    /// Two parties of a dialled call (`basic` / `simple_bridge`).
    Basic,
    /// A ConfBridge room (`base` / `softmix`, created by ConfBridge).
    Conference(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    pub(crate) id: BridgeId,
    pub(crate) uniqueid: String,
    pub(crate) kind: BridgeKind,
    pub(crate) channels: Vec<ChanId>,
    pub(crate) created: Duration,
}

impl Bridge {
    pub(crate) fn bridge_type(&self) -> &'static str {
        match self.kind {
            BridgeKind::Basic => "basic",
            BridgeKind::Conference(_) => "base",
        }
    }

    pub(crate) fn technology(&self) -> &'static str {
        match self.kind {
            BridgeKind::Basic => "simple_bridge",
            BridgeKind::Conference(_) => "softmix",
        }
    }

    pub(crate) fn creator(&self) -> &str {
        match &self.kind {
            BridgeKind::Basic => "<unknown>",
            BridgeKind::Conference(_) => "ConfBridge",
        }
    }

    pub(crate) fn name(&self) -> &str {
        match &self.kind {
            BridgeKind::Basic => "<unknown>",
            BridgeKind::Conference(room) => room,
        }
    }
}

/// What a new channel looks like.
pub(crate) struct NewChan {
    pub(crate) call: super::CallId,
    pub(crate) tech: &'static str,
    /// The part of the name before the suffix: `1001`, `trunk-1`, `iax-1`.
    pub(crate) resource: String,
    pub(crate) device: Option<String>,
    pub(crate) state: ChanState,
    pub(crate) cid: (String, String),
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) linkedid: Option<String>,
    /// A uniqueid chosen by the client (Originate `ChannelId`).
    pub(crate) uniqueid: Option<String>,
}

const SNAPSHOT_KEYS: [&str; 14] = [
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
];

impl Engine {
    pub(crate) fn chan(&self, id: ChanId) -> Option<&Channel> {
        self.channels.get(&id)
    }

    pub(crate) fn chan_mut(&mut self, id: ChanId) -> Option<&mut Channel> {
        self.channels.get_mut(&id)
    }

    pub(crate) fn chan_by_name(&self, name: &str) -> Option<ChanId> {
        self.channels
            .values()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.id)
    }

    /// Appends the channel snapshot block, keys prefixed by `prefix`.
    pub(crate) fn snapshot_into(&self, m: &mut Msg, prefix: &'static str, id: ChanId) {
        let Some(c) = self.chan(id) else { return };
        let values = [
            c.name.clone(),
            c.state.code().to_string(),
            c.state.desc().to_owned(),
            c.cid_num.clone(),
            c.cid_name.clone(),
            c.conn_num.clone(),
            c.conn_name.clone(),
            c.language.clone(),
            c.account.clone(),
            c.context.clone(),
            c.exten.clone(),
            c.priority.to_string(),
            c.uniqueid.clone(),
            c.linkedid.clone(),
        ];
        for (k, v) in SNAPSHOT_KEYS.iter().zip(values) {
            if prefix.is_empty() {
                m.push(*k, v);
            } else {
                m.push(format!("{prefix}{k}"), v);
            }
        }
    }

    /// Appends the bridge snapshot block.
    pub(crate) fn bridge_snapshot_into(&self, m: &mut Msg, id: BridgeId) {
        let Some(b) = self.bridges.get(&id) else {
            return;
        };
        m.push("BridgeUniqueid", b.uniqueid.clone());
        m.push("BridgeType", b.bridge_type());
        m.push("BridgeTechnology", b.technology());
        m.push("BridgeCreator", b.creator().to_owned());
        m.push("BridgeName", b.name().to_owned());
        m.push("BridgeNumChannels", b.channels.len().to_string());
        m.push("BridgeVideoSourceMode", "none");
    }

    /// An event carrying one channel's snapshot.
    pub(crate) fn chan_event(
        &self,
        name: &'static str,
        privilege: &'static str,
        id: ChanId,
    ) -> Msg {
        let mut m = self.ev(name, privilege);
        self.snapshot_into(&mut m, "", id);
        m
    }

    /// Creates a channel and emits `Newchannel`.
    pub(crate) fn new_channel(&mut self, spec: NewChan) -> ChanId {
        let id = ChanId(self.next_id());
        let name = match spec.tech {
            "IAX2" => {
                let callno = self.rand_range(1, 16384);
                format!("IAX2/{}-{callno}", spec.resource)
            }
            tech => {
                let suffix = self.next_channel_suffix();
                format!("{tech}/{}-{suffix}", spec.resource)
            }
        };
        let uniqueid = spec.uniqueid.unwrap_or_else(|| self.new_uniqueid());
        let linkedid = spec.linkedid.unwrap_or_else(|| uniqueid.clone());
        let ch = Channel {
            id,
            call: spec.call,
            name,
            tech: spec.tech,
            device: spec.device,
            state: spec.state,
            cid_num: spec.cid.0,
            cid_name: spec.cid.1,
            conn_num: "<unknown>".into(),
            conn_name: "<unknown>".into(),
            language: "en".into(),
            account: String::new(),
            context: spec.context,
            exten: spec.exten,
            priority: 1,
            uniqueid,
            linkedid,
            app: String::new(),
            app_data: String::new(),
            created: self.now,
            answered: (spec.state == ChanState::Up).then_some(self.now),
            bridge: None,
            moh: false,
            vars: BTreeMap::new(),
        };
        let device = ch.device.clone();
        self.channels.insert(id, ch);
        if let Some(call) = self.calls.get_mut(&spec.call) {
            call.chans.push(id);
        }
        let m = self.chan_event("Newchannel", "call,all", id);
        self.emit(m);
        if let Some(d) = device {
            self.refresh_device(&d);
        }
        id
    }

    /// Moves the channel in the dialplan without an event (a `Newexten`
    /// follows when the application starts).
    pub(crate) fn goto(&mut self, id: ChanId, context: &str, exten: &str, priority: u32) {
        if let Some(c) = self.chan_mut(id) {
            c.context = context.to_owned();
            c.exten = exten.to_owned();
            c.priority = priority;
        }
    }

    /// Runs a dialplan application: sets priority and app, emits `Newexten`.
    pub(crate) fn newexten(&mut self, id: ChanId, priority: u32, app: &str, data: &str) {
        let Some(c) = self.chan_mut(id) else { return };
        c.priority = priority;
        c.app = app.to_owned();
        c.app_data = data.to_owned();
        let exten = c.exten.clone();
        let mut m = self.chan_event("Newexten", "dialplan,all", id);
        m.push("Extension", exten);
        m.push("Application", app.to_owned());
        m.push("AppData", data.to_owned());
        self.emit(m);
    }

    /// Sets a channel variable and emits `VarSet`.
    pub(crate) fn varset(&mut self, id: ChanId, var: &str, value: &str) {
        let Some(c) = self.chan_mut(id) else { return };
        c.vars.insert(var.to_owned(), value.to_owned());
        let mut m = self.chan_event("VarSet", "dialplan,all", id);
        m.push("Variable", var.to_owned());
        m.push("Value", value.to_owned());
        self.emit(m);
    }

    /// Changes the channel state and emits `Newstate`.
    pub(crate) fn set_state(&mut self, id: ChanId, state: ChanState) {
        let now = self.now;
        let Some(c) = self.chan_mut(id) else { return };
        if c.state == state {
            return;
        }
        c.state = state;
        if state == ChanState::Up && c.answered.is_none() {
            c.answered = Some(now);
        }
        let device = c.device.clone();
        let m = self.chan_event("Newstate", "call,all", id);
        self.emit(m);
        if let Some(d) = device {
            self.refresh_device(&d);
        }
    }

    /// Changes the connected line and emits `NewConnectedLine`.
    pub(crate) fn set_connected(&mut self, id: ChanId, num: &str, name: &str) {
        let Some(c) = self.chan_mut(id) else { return };
        c.conn_num = num.to_owned();
        c.conn_name = name.to_owned();
        let m = self.chan_event("NewConnectedLine", "call,all", id);
        self.emit(m);
    }

    /// Changes the caller id and emits `NewCallerid`.
    pub(crate) fn set_callerid(&mut self, id: ChanId, num: &str, name: &str) {
        let Some(c) = self.chan_mut(id) else { return };
        c.cid_num = num.to_owned();
        c.cid_name = name.to_owned();
        let mut m = self.chan_event("NewCallerid", "call,all", id);
        m.push("CID-CallingPres", "0 (Presentation Allowed, Not Screened)");
        self.emit(m);
    }

    /// `DialBegin`/`DialState`/`DialEnd`: the caller block is absent when the
    /// dial comes from an Originate (corpus: 6 such `DialBegin`s).
    pub(crate) fn dial_event(
        &mut self,
        name: &'static str,
        caller: Option<ChanId>,
        callee: ChanId,
        last: (&'static str, String),
    ) {
        let mut m = self.ev(name, "call,all");
        if let Some(a) = caller {
            self.snapshot_into(&mut m, "", a);
        }
        self.snapshot_into(&mut m, "Dest", callee);
        m.push(last.0, last.1);
        self.emit(m);
    }

    pub(crate) fn bridge_create(&mut self, kind: BridgeKind) -> BridgeId {
        let id = BridgeId(self.next_id());
        let uniqueid = self.new_uuid();
        self.bridges.insert(
            id,
            Bridge {
                id,
                uniqueid,
                kind,
                channels: Vec::new(),
                created: self.now,
            },
        );
        let mut m = self.ev("BridgeCreate", "call,all");
        self.bridge_snapshot_into(&mut m, id);
        self.emit(m);
        id
    }

    pub(crate) fn bridge_enter(&mut self, b: BridgeId, ch: ChanId) {
        let Some(bridge) = self.bridges.get_mut(&b) else {
            return;
        };
        if !bridge.channels.contains(&ch) {
            bridge.channels.push(ch);
        }
        if let Some(c) = self.chan_mut(ch) {
            c.bridge = Some(b);
        }
        let mut m = self.ev("BridgeEnter", "call,all");
        self.bridge_snapshot_into(&mut m, b);
        self.snapshot_into(&mut m, "", ch);
        self.emit(m);
    }

    pub(crate) fn bridge_leave(&mut self, b: BridgeId, ch: ChanId) {
        let Some(bridge) = self.bridges.get_mut(&b) else {
            return;
        };
        bridge.channels.retain(|c| *c != ch);
        if let Some(c) = self.chan_mut(ch) {
            c.bridge = None;
        }
        let mut m = self.ev("BridgeLeave", "call,all");
        self.bridge_snapshot_into(&mut m, b);
        self.snapshot_into(&mut m, "", ch);
        self.emit(m);
    }

    pub(crate) fn bridge_destroy(&mut self, b: BridgeId) {
        if !self.bridges.contains_key(&b) {
            return;
        }
        let mut m = self.ev("BridgeDestroy", "call,all");
        self.bridge_snapshot_into(&mut m, b);
        self.emit(m);
        if let Some(bridge) = self.bridges.remove(&b) {
            for ch in bridge.channels {
                if let Some(c) = self.chan_mut(ch) {
                    c.bridge = None;
                }
            }
        }
    }

    /// `HangupRequest` (a party hung up) or `SoftHangupRequest` (Asterisk or
    /// an AMI action ends the channel).
    pub(crate) fn hangup_request(
        &mut self,
        id: ChanId,
        soft: bool,
        cause: Option<u32>,
        tech: Option<u32>,
    ) {
        if self.chan(id).is_none() {
            return;
        }
        let name = if soft {
            "SoftHangupRequest"
        } else {
            "HangupRequest"
        };
        let mut m = self.chan_event(name, "call,all", id);
        if let Some(c) = cause {
            m.push("Cause", c.to_string());
        }
        if let Some(t) = tech {
            m.push("TechCause", t.to_string());
        }
        self.emit(m);
    }

    /// Emits `Hangup` and destroys the channel.
    pub(crate) fn hangup(&mut self, id: ChanId, cause: u32, tech: Option<u32>) {
        if self.chan(id).is_none() {
            return;
        }
        if let Some(b) = self.chan(id).and_then(|c| c.bridge) {
            self.bridge_leave(b, id);
        }
        let mut m = self.chan_event("Hangup", "call,all", id);
        m.push("Cause", cause.to_string());
        m.push("Cause-txt", super::cause_text(cause));
        if let Some(t) = tech {
            m.push("TechCause", t.to_string());
        }
        self.emit(m);
        let Some(ch) = self.channels.remove(&id) else {
            return;
        };
        self.forget_channel(&ch);
        if let Some(call) = self.calls.get_mut(&ch.call) {
            call.chans.retain(|c| *c != id);
        }
        if let Some(d) = ch.device {
            self.refresh_device(&d);
        }
    }

    /// Starts music on hold on a channel (`MusicOnHoldStart`).
    pub(crate) fn moh_start(&mut self, id: ChanId) {
        let Some(c) = self.chan_mut(id) else { return };
        if c.moh {
            return;
        }
        c.moh = true;
        let device = c.device.clone();
        let mut m = self.chan_event("MusicOnHoldStart", "call,all", id);
        m.push("Class", "default");
        self.emit(m);
        if let Some(d) = device {
            self.refresh_device(&d);
        }
    }

    /// Stops music on hold (`MusicOnHoldStop`).
    pub(crate) fn moh_stop(&mut self, id: ChanId) {
        let Some(c) = self.chan_mut(id) else { return };
        if !c.moh {
            return;
        }
        c.moh = false;
        let device = c.device.clone();
        let m = self.chan_event("MusicOnHoldStop", "call,all", id);
        self.emit(m);
        if let Some(d) = device {
            self.refresh_device(&d);
        }
    }
}
