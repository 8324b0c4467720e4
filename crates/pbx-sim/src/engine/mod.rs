//! The simulated PBX: a deterministic, steppable model of an Asterisk 22 box.
//!
//! The engine runs on virtual time. [`Engine::advance`] runs every scheduled
//! step due by then, in (time, scheduling order) order; each step mutates the
//! model and emits AMI events into an outbox. Nothing here does I/O or reads a
//! clock, so the same seed and start time give the same events, byte for byte,
//! whether driven by the server (tokio time, pausable in tests) or stepped
//! directly by a test.
//!
//! Layout:
//! * `channel`: channels, bridges and the primitive operations that emit the
//!   per-channel events (`Newchannel`, `Newexten`, `BridgeEnter`, `Hangup`…);
//! * `devices`: endpoints, trunks, device/extension/queue-member state and
//!   registration churn;
//! * `calls`: the call generator and the dial/answer/fail/teardown flows;
//! * `features`: queues, conferences, hold and blind transfer;
//! * `teardown`: CDRs and the generic end of a call;
//! * `control`: what AMI actions do to the model (Originate, Hangup,
//!   Redirect, Setvar…);
//! * `snapshot`: the read-only view tests get from `Simulator::state`.

mod calls;
pub(crate) mod channel;
pub(crate) mod control;
pub(crate) mod devices;
mod features;
pub mod snapshot;
mod teardown;

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringside_ami::Message;

use crate::clock::WallClock;
use crate::config::SimConfig;
use crate::wire::Msg;

pub(crate) use channel::{Bridge, BridgeId, CallId, ChanId, ChanState, Channel};
pub(crate) use devices::{DevState, Endpoint, Queue, Trunk};
pub(crate) use features::Conference;

/// One scheduled unit of work.
type Step = Box<dyn FnOnce(&mut Engine) + Send>;

/// Something the engine produced for the server to deliver.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// A broadcast event, for every logged-in session that wants it.
    Event(Message),
    /// A message for one session only (the late answer to a synchronous
    /// Originate).
    Reply { session: u64, msg: Message },
}

/// The PBX model. See the module documentation.
pub struct Engine {
    pub(crate) system_name: Option<String>,
    pub(crate) clock: WallClock,
    pub(crate) now: Duration,
    calls_per_second: f64,
    rng: ChaCha8Rng,
    timers: BTreeMap<(Duration, u64), Step>,
    timer_seq: u64,
    outbox: Vec<Outgoing>,
    /// Counter behind `<epoch>.<seq>` uniqueids.
    uniqueid_seq: u64,
    /// Counter behind `PJSIP/1001-0000002a` channel names.
    channel_seq: u32,
    next_id: u64,
    /// Extensions first (1001…), then trunk endpoints.
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) trunks: Vec<Trunk>,
    pub(crate) channels: BTreeMap<ChanId, Channel>,
    pub(crate) bridges: BTreeMap<BridgeId, Bridge>,
    pub(crate) calls: BTreeMap<CallId, calls::Call>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) conferences: BTreeMap<String, Conference>,
    /// Last published state per device (`PJSIP/1001`, `IAX2/iax-1`…).
    pub(crate) devices: BTreeMap<String, DevState>,
    pub(crate) processed_calls: u64,
    pub(crate) globals: BTreeMap<String, String>,
    /// Shuffled call kinds still to draw (see `calls::CallKind::deck`).
    deck: Vec<calls::CallKind>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("channels", &self.channels.len())
            .field("calls", &self.calls.len())
            .field("timers", &self.timers.len())
            .finish()
    }
}

impl Engine {
    /// A PBX as configured: extensions registered (a few never are), trunks
    /// up, queues and their members in place, no calls yet. The first
    /// generated call and the first registration change are scheduled.
    pub fn new(config: &SimConfig) -> Engine {
        let mut e = Engine {
            system_name: config.system_name.clone(),
            clock: WallClock::new(config.start_time),
            now: Duration::ZERO,
            calls_per_second: config.calls_per_second.max(0.0),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            timers: BTreeMap::new(),
            timer_seq: 0,
            outbox: Vec::new(),
            uniqueid_seq: 0,
            channel_seq: 0,
            next_id: 1,
            endpoints: Vec::new(),
            trunks: Vec::new(),
            channels: BTreeMap::new(),
            bridges: BTreeMap::new(),
            calls: BTreeMap::new(),
            queues: Vec::new(),
            conferences: BTreeMap::new(),
            devices: BTreeMap::new(),
            processed_calls: 0,
            globals: BTreeMap::new(),
            deck: Vec::new(),
        };
        e.globals.insert("RINGTIME".into(), "12".into());
        e.build_topology(config.endpoints, config.trunks);
        e.schedule_background();
        if e.calls_per_second > 0.0 {
            let first = e.exp_delay(1.0 / e.calls_per_second);
            e.after(first, |e| e.arrival());
        }
        e
    }

    /// Virtual time since start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// When the next scheduled step is due, if any.
    pub fn next_wakeup(&self) -> Option<Duration> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Runs every step due at or before `to`, then sets the clock to `to`.
    pub fn advance(&mut self, to: Duration) {
        while let Some(entry) = self.timers.first_entry() {
            let (at, _) = *entry.key();
            if at > to {
                break;
            }
            let step = entry.remove();
            self.now = self.now.max(at);
            step(self);
        }
        self.now = self.now.max(to);
    }

    /// The broadcast events emitted since the last call, in order.
    pub fn take_events(&mut self) -> Vec<Message> {
        self.take_outgoing()
            .into_iter()
            .filter_map(|o| match o {
                Outgoing::Event(m) => Some(m),
                Outgoing::Reply { .. } => None,
            })
            .collect()
    }

    /// A read-only view of the model.
    pub fn snapshot(&self) -> snapshot::PbxState {
        snapshot::PbxState::of(self)
    }

    pub(crate) fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    /// Schedules `step` after `delay` of virtual time.
    pub(crate) fn after(
        &mut self,
        delay: Duration,
        step: impl FnOnce(&mut Engine) + Send + 'static,
    ) {
        self.timer_seq += 1;
        self.timers
            .insert((self.now + delay, self.timer_seq), Box::new(step));
    }

    /// A new event with `Event`, `Privilege` and (when configured) `SystemName`.
    pub(crate) fn ev(&self, name: &'static str, privilege: &'static str) -> Msg {
        let m = Msg::new().h("Event", name).h("Privilege", privilege);
        match &self.system_name {
            Some(s) => m.h("SystemName", s.clone()),
            None => m,
        }
    }

    /// Queues a broadcast event.
    pub(crate) fn emit(&mut self, m: Msg) {
        self.outbox.push(Outgoing::Event(m.build()));
    }

    pub(crate) fn reply(&mut self, session: u64, m: Msg) {
        self.outbox.push(Outgoing::Reply {
            session,
            msg: m.build(),
        });
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Unix microseconds now.
    pub(crate) fn wall_micros(&self) -> u64 {
        self.clock.micros(self.now)
    }

    /// `<epoch>.<seq>`, prefixed with the system name when set (README item 9).
    pub(crate) fn new_uniqueid(&mut self) -> String {
        let seq = self.uniqueid_seq;
        self.uniqueid_seq += 1;
        let epoch = self.clock.secs(self.now);
        match &self.system_name {
            Some(s) => format!("{s}-{epoch}.{seq}"),
            None => format!("{epoch}.{seq}"),
        }
    }

    /// The `-0000002a` suffix of PJSIP channel names.
    pub(crate) fn next_channel_suffix(&mut self) -> String {
        let n = self.channel_seq;
        self.channel_seq = self.channel_seq.wrapping_add(1);
        format!("{n:08x}")
    }

    /// A bridge uniqueid in UUID form, from the seeded RNG.
    pub(crate) fn new_uuid(&mut self) -> String {
        let a: u32 = self.rng.random();
        let b: u16 = self.rng.random();
        let c: u16 = self.rng.random::<u16>() & 0x0fff | 0x4000;
        let d: u16 = self.rng.random::<u16>() & 0x3fff | 0x8000;
        let e: u64 = self.rng.random::<u64>() & 0xffff_ffff_ffff;
        format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
    }

    pub(crate) fn rand_range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    pub(crate) fn rand_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.rand_range(lo, hi))
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.rng.random_range(0..items.len())])
        }
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        use rand::seq::SliceRandom;
        items.shuffle(&mut self.rng);
    }

    /// An exponentially distributed delay with the given mean (seconds).
    pub(crate) fn exp_delay(&mut self, mean_secs: f64) -> Duration {
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        Duration::from_secs_f64((-u.ln() * mean_secs).min(3600.0))
    }
}

/// Asterisk's text for a hangup cause (`ast_cause2str`).
pub(crate) fn cause_text(cause: u32) -> &'static str {
    match cause {
        0 => "Unknown",
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "User alerting, no answer",
        20 => "Subscriber absent",
        21 => "Call Rejected",
        27 => "Destination out of order",
        34 => "Circuit/channel congestion",
        38 => "Network out of order",
        127 => "Interworking, unspecified",
        _ => "Unknown",
    }
}
