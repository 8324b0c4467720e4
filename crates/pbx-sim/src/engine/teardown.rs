//! The end of calls: the primary leg's CDR, the RTP statistics chan_pjsip
//! leaves behind, and the generic teardown used by every flow and by AMI
//! actions (order of events as in basic-calls.ami: the party that hangs up,
//! bridge leaves, soft hangups of the others, bridge destroy, CDR, hangups).

use std::time::Duration;

use super::calls::Cdr;
use super::channel::BridgeKind;
use super::{CallId, ChanId, Engine};

impl Engine {
    /// Sets the primary leg's CDR.
    pub(crate) fn start_cdr(&mut self, call: CallId, leg: ChanId) {
        let Some(c) = self.chan(leg) else { return };
        let cdr = Cdr {
            leg,
            dst: c.exten.clone(),
            dcontext: c.context.clone(),
            dest_chan: String::new(),
            lastapp: String::new(),
            lastdata: String::new(),
            answer: c.answered,
            userfield: String::new(),
        };
        if let Some(call) = self.calls.get_mut(&call) {
            call.cdr = Some(cdr);
        }
    }

    pub(crate) fn cdr_mut(&mut self, call: CallId) -> Option<&mut Cdr> {
        self.calls.get_mut(&call).and_then(|c| c.cdr.as_mut())
    }

    /// Emits the `Cdr` of the call's primary leg (once).
    pub(crate) fn emit_cdr(&mut self, call: CallId, disposition: &str) {
        let Some(cdr) = self.calls.get_mut(&call).and_then(|c| c.cdr.take()) else {
            return;
        };
        let Some(c) = self.chan(cdr.leg) else { return };
        let start = c.created;
        let answer = cdr.answer.or(c.answered);
        let end = self.now;
        let wall = |d: Duration| crate::clock::cdr_time(self.clock.micros(d));
        let duration = (end - start).as_secs();
        let billable = answer.map_or(0, |a| (end - a).as_secs());
        let disposition = if answer.is_some() && disposition == "NO ANSWER" {
            "ANSWERED"
        } else {
            disposition
        };
        let m = self
            .ev("Cdr", "cdr,all")
            .h("AccountCode", c.account.clone())
            .h("Source", c.cid_num.clone())
            .h("Destination", cdr.dst.clone())
            .h("DestinationContext", cdr.dcontext.clone())
            .h("CallerID", format!("\"{}\" <{}>", c.cid_name, c.cid_num))
            .h("Channel", c.name.clone())
            .h("DestinationChannel", cdr.dest_chan.clone())
            .h("LastApplication", cdr.lastapp.clone())
            .h("LastData", cdr.lastdata.clone())
            .h("StartTime", wall(start))
            .h("AnswerTime", answer.map(wall).unwrap_or_default())
            .h("EndTime", wall(end))
            .h("Duration", duration.to_string())
            .h("BillableSeconds", billable.to_string())
            .h("Disposition", disposition.to_owned())
            .h("AMAFlags", "DOCUMENTATION")
            .h("UniqueID", c.uniqueid.clone())
            .h("UserField", cdr.userfield.clone());
        self.emit(m);
    }

    /// The RTP statistics chan_pjsip sets on an answered channel as it hangs
    /// up. Several values start with spaces (`Value:   minrxlost=…`), which a
    /// parser must keep (corpus README item 14).
    fn rtp_qos(&mut self, ch: ChanId) {
        let Some(c) = self.chan(ch) else { return };
        if c.tech != "PJSIP" || c.answered.is_none() {
            return;
        }
        let ssrc = self.rand_range(1 << 20, 1 << 32);
        // `pad` spaces before each `name=000.000000;`, as res_rtp_asterisk
        // lines them up.
        let zeros = |pad: usize, what: &str, dirs: &[&str]| {
            dirs.iter()
                .flat_map(|d| ["min", "max", "avg", "stdev"].map(|s| format!("{s}{d}{what}")))
                .map(|n| format!("{:pad$}{n}=000.000000;", ""))
                .collect::<String>()
        };
        let values = [
            (
                "RTPAUDIOQOS",
                format!(
                    "ssrc={ssrc};themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"
                ),
            ),
            ("RTPAUDIOQOSJITTER", zeros(0, "jitter", &["rx", "tx"])),
            ("RTPAUDIOQOSLOSS", zeros(2, "lost", &["rx", "tx"])),
            ("RTPAUDIOQOSRTT", zeros(5, "rtt", &[""])),
            ("RTPAUDIOQOSMES", zeros(3, "mes", &["rx", "tx"])),
        ];
        for (var, value) in values {
            self.varset(ch, var, &value);
        }
    }

    /// Removes a finished call.
    pub(crate) fn finish_call(&mut self, call: CallId) {
        if let Some(c) = self.calls.remove(&call) {
            for ch in c.chans {
                // Defensive: a flow that forgot a leg still leaves no ghost.
                self.hangup(ch, 16, None);
            }
            self.processed_calls += 1;
        }
    }

    /// Ends a whole call: `initiator` hung up (or was hung up by an AMI action
    /// when `soft`); everybody else gets a soft hangup. Bridges are left and
    /// destroyed, a ringing dial is cancelled, a queue caller abandons, a
    /// conference participant leaves the room.
    pub(crate) fn end_call(
        &mut self,
        call: CallId,
        initiator: Option<ChanId>,
        cause: u32,
        soft: bool,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let chans = c.chans.clone();
        let dialing = c.dialing;
        let initiator = initiator.filter(|i| chans.contains(i));
        let order: Vec<ChanId> = initiator
            .into_iter()
            .chain(chans.iter().copied().filter(|&c| Some(c) != initiator))
            .collect();
        if let Some(i) = initiator {
            self.hangup_request(i, soft, Some(cause), None);
        }
        if let Some((Some(a), b)) = dialing {
            self.dial_event("DialEnd", Some(a), b, ("DialStatus", "CANCEL".into()));
            if let Some(c) = self.calls.get_mut(&call) {
                c.dialing = None;
            }
        }
        self.queue_teardown(call, initiator);
        let mut basic = Vec::new();
        for (n, &ch) in order.iter().enumerate() {
            if let Some(b) = self.chan(ch).and_then(|c| c.bridge) {
                match self.bridges.get(&b).map(|b| b.kind.clone()) {
                    Some(BridgeKind::Conference(room)) => self.conference_leave(&room, ch),
                    Some(BridgeKind::Basic) => {
                        self.bridge_leave(b, ch);
                        if !basic.contains(&b) {
                            basic.push(b);
                        }
                    }
                    None => {}
                }
            }
            if n > 0 || initiator.is_none() {
                self.hangup_request(ch, true, Some(16), None);
            }
        }
        for b in basic {
            if self.bridges.get(&b).is_some_and(|b| b.channels.is_empty()) {
                self.bridge_destroy(b);
            }
        }
        for &ch in &order {
            self.moh_stop(ch);
        }
        for &ch in &order {
            self.rtp_qos(ch);
        }
        let answered = self
            .calls
            .get(&call)
            .and_then(|c| c.cdr.as_ref())
            .is_some_and(|cdr| {
                cdr.answer.is_some() || self.chan(cdr.leg).is_some_and(|c| c.answered.is_some())
            });
        let disposition = if answered { "ANSWERED" } else { "NO ANSWER" };
        for (n, &ch) in order.iter().enumerate() {
            let is_leg = self
                .calls
                .get(&call)
                .and_then(|c| c.cdr.as_ref())
                .is_some_and(|cdr| cdr.leg == ch);
            if is_leg {
                self.emit_cdr(call, disposition);
            }
            let c = if n == 0 && initiator.is_some() {
                cause
            } else {
                16
            };
            self.hangup(ch, c, None);
        }
        self.emit_cdr(call, disposition);
        self.finish_call(call);
    }
}
