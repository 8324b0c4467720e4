//! A recorded AMI transcript → the envelope stream the ingestor would have
//! published → the projection. Used by `ringside replay` and the corpus
//! tests.
//!
//! Each transcript is one AMI connection of a monitor (the corpus recorder:
//! banner, `Login`, the list actions of a resync, live events, `Logoff`).
//! The ingestor's sequencing is simulated:
//! * `Connected` at the login response (a failed login gives no epoch and no
//!   events), a new epoch per transcript, sequence 1..n within it;
//! * `SyncStarted` right after `Connected` when the transcript answers any
//!   resync list action; the answers to those actions (recognised by their
//!   ActionID, `mon-<n>-<action>` in the corpus, the action's name last) are
//!   the sync's entries;
//! * `SyncCompleted` right after the **last** message in the transcript that
//!   answers a list action (its `...Complete` event or its error response).
//!   This is the exact end when the actions are sent one at a time or
//!   pipelined, and it does not depend on how live events interleave with
//!   the lists (closing at "the first live event after a list" would close a
//!   sequential sync between two of its lists);
//! * every other event is live, in stream order; responses to other actions
//!   are not events;
//! * `Disconnected` after every transcript but the last.
//!
//! Times: a transcript has no per-message clock (the lab sets
//! `timestampevents = no`). With its recorded TCP reads
//! ([`Replayer::transcript_timed`], the corpus's `NAME.timing.jsonl`) a
//! message's `received_at` is when the read that completed it happened,
//! counted from the connection's epoch in hours after the Unix epoch, so
//! durations are real. Without, it is synthetic: the epoch's hour plus one
//! millisecond per sequence, meaningful only as an order.

use std::time::{Duration, UNIX_EPOCH};

use ringside_ami::{Message, MessageKind};
use ringside_events::{Ctx, Normalizer, Stamp, envelope, lifecycle};
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{Envelope, SyncListResult, SyncOutcome, SyncReason};

use crate::records::CallRecord;
use crate::{Engine, Projection};

/// The resync list actions a monitor sends, by their lower-case name (the
/// tail of the corpus ActionIDs) and the name the normalizer expects.
const LIST_ACTIONS: &[&str] = &[
    "PJSIPShowEndpoints",
    "PJSIPShowRegistrationsOutbound",
    "PJSIPShowRegistrationsInbound",
    "PJSIPShowContacts",
    "PJSIPShowAors",
    "IAXpeerlist",
    "IAXregistry",
    "SIPpeers",
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "QueueSummary",
    "ConfbridgeListRooms",
    "ConfbridgeList",
    "DeviceStateList",
    "ExtensionStateList",
];

/// The list action an ActionID answers (`mon-12-queuestatus` →
/// `QueueStatus`), matched on its last `-` separated part.
pub fn list_action(action_id: &str) -> Option<&'static str> {
    let tail = action_id.rsplit('-').next()?;
    LIST_ACTIONS
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(tail))
}

/// A recorded TCP read of a transcript: (milliseconds since connect, byte
/// offset, length), a line of the corpus's `NAME.timing.jsonl`.
pub type Read = (f64, usize, usize);

/// A transcript's bytes and its recorded reads (empty when untimed).
pub type TimedTranscript<'a> = (&'a [u8], &'a [Read]);

/// What a replay saw besides the envelopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub connections: u32,
    /// Connections whose login failed (no epoch).
    pub failed_logins: u32,
    pub envelopes: u64,
    /// Messages the codec could not decode (skipped).
    pub decode_errors: u64,
    /// The transcript ended inside a message.
    pub truncated: u32,
}

/// Turns transcripts into envelopes and applies them.
#[derive(Debug)]
pub struct Replayer {
    tenant: String,
    pbx: String,
    epoch: u64,
    sequence: u64,
    normalizer: Normalizer,
    engine: Engine,
    /// Per message of the connection being replayed: milliseconds since the
    /// connection started (from its TCP reads), when known.
    times: Vec<u64>,
    /// The time of the message being replayed.
    now_ms: Option<u64>,
    records: Vec<CallRecord>,
    envelopes: Vec<Envelope>,
    keep_envelopes: bool,
    stats: ReplayStats,
}

impl Replayer {
    pub fn new(tenant: &str, pbx: &str) -> Self {
        Replayer {
            tenant: tenant.to_owned(),
            pbx: pbx.to_owned(),
            epoch: 0,
            sequence: 0,
            normalizer: Normalizer::new(),
            engine: Engine::new(),
            times: Vec::new(),
            now_ms: None,
            records: Vec::new(),
            envelopes: Vec::new(),
            keep_envelopes: false,
            stats: ReplayStats::default(),
        }
    }

    /// Also keep every envelope made (see [`Replayer::envelopes`]).
    pub fn keeping_envelopes(mut self) -> Self {
        self.keep_envelopes = true;
        self
    }

    /// Decodes one transcript's bytes and replays it as a connection.
    pub fn transcript(&mut self, bytes: &[u8]) {
        self.transcript_timed(bytes, &[]);
    }

    /// [`Replayer::transcript`] with the transcript's recorded TCP reads as
    /// (milliseconds since connect, byte offset, length): each message is
    /// timed by the read that completed it.
    pub fn transcript_timed(&mut self, bytes: &[u8], reads: &[Read]) {
        let (decoded, io_error) = ringside_ami::codec::decode_all(bytes);
        if io_error.is_some() {
            self.stats.truncated += 1;
        }
        let mut messages = Vec::with_capacity(decoded.len());
        let mut end = 0usize;
        self.times.clear();
        for m in decoded {
            match m {
                Ok(m) => {
                    end += m.wire().len();
                    if !reads.is_empty() {
                        let read = reads
                            .iter()
                            .find(|(_, offset, len)| offset + len >= end)
                            .or(reads.last());
                        self.times.push(read.map_or(0, |r| r.0 as u64));
                    }
                    messages.push(m);
                }
                Err(_) => self.stats.decode_errors += 1,
            }
        }
        self.connection(&messages);
        self.times.clear();
    }

    /// Replays one connection's messages (banner first).
    pub fn connection(&mut self, messages: &[Message]) {
        self.connection_observed(messages, |_, _| true);
    }

    /// [`Replayer::connection`], calling `observe(i, projection)` after the
    /// `i`-th message has been applied; the replay stops when it returns
    /// false (the connection is then left open, as at that point of the
    /// stream). Tests use it to look at the views in mid-stream.
    pub fn connection_observed(
        &mut self,
        messages: &[Message],
        mut observe: impl FnMut(usize, &Projection) -> bool,
    ) {
        self.stats.connections += 1;
        let banner = messages
            .iter()
            .find(|m| m.kind() == MessageKind::Banner)
            .map(|m| m.as_text().trim().to_owned())
            .unwrap_or_default();
        let Some(login) = messages
            .iter()
            .position(|m| m.kind() == MessageKind::Response)
        else {
            self.stats.failed_logins += 1;
            return;
        };
        if !messages[login].is_success() {
            self.stats.failed_logins += 1;
            return;
        }
        self.epoch += 1;
        self.sequence = 0;
        self.normalizer = Normalizer::new();
        self.now_ms = self.times.get(login).copied();
        self.emit(lifecycle::connected(&banner, None), None, &Ctx::live());

        let last_list = messages
            .iter()
            .enumerate()
            .skip(login + 1)
            .filter(|(_, m)| m.action_id().and_then(list_action).is_some())
            .map(|(i, _)| i)
            .last();
        let sync_id = format!("{}-1", self.epoch);
        if last_list.is_some() {
            self.emit(
                lifecycle::sync_started(SyncReason::Connected, "replay"),
                None,
                &Ctx::sync(&sync_id, ""),
            );
        }
        // Per list action id: its action, response and entry count.
        let mut lists: Vec<(String, &'static str, Option<&Message>, u32)> = Vec::new();
        for (i, msg) in messages.iter().enumerate().skip(login + 1) {
            self.now_ms = self.times.get(i).copied();
            let in_sync = last_list.is_some_and(|last| i <= last);
            let list = msg.action_id().and_then(|id| Some((id, list_action(id)?)));
            match (in_sync, list) {
                (true, Some((id, action))) => {
                    let pos = match lists.iter().position(|l| l.0 == id) {
                        Some(p) => p,
                        None => {
                            lists.push((id.to_owned(), action, None, 0));
                            lists.len() - 1
                        }
                    };
                    match msg.kind() {
                        MessageKind::Response | MessageKind::CommandOutput => {
                            lists[pos].2 = Some(msg);
                        }
                        MessageKind::ListItem | MessageKind::Event => {
                            lists[pos].3 += 1;
                            let ctx = Ctx::sync(&sync_id, action);
                            if let Some(kind) = self.normalizer.normalize(msg, &ctx) {
                                self.emit(kind, Some(msg), &ctx);
                            }
                        }
                        MessageKind::ListComplete | MessageKind::Banner => {}
                    }
                }
                _ if msg.kind() == MessageKind::Event => {
                    if let Some(kind) = self.normalizer.normalize(msg, &Ctx::live()) {
                        self.emit(kind, Some(msg), &Ctx::live());
                    }
                }
                _ => {}
            }
            if last_list == Some(i) {
                let results = lists
                    .iter()
                    .map(|(_, action, response, entries)| match response {
                        Some(r) => lifecycle::list_result(action, r, *entries),
                        None => SyncListResult {
                            action: (*action).to_owned(),
                            outcome: SyncOutcome::Failed as i32,
                            entries: *entries,
                            message: "list ended without a response".into(),
                        },
                    })
                    .collect();
                self.emit(
                    lifecycle::sync_completed(results),
                    None,
                    &Ctx::sync(&sync_id, ""),
                );
            }
            if !observe(i, self.engine.projection()) {
                return;
            }
        }
    }

    /// The connection ended (between two transcripts).
    pub fn disconnected(&mut self, reason: &str) {
        if self.epoch > 0 {
            self.emit(lifecycle::disconnected(reason), None, &Ctx::live());
        }
    }

    fn emit(&mut self, kind: Kind, source: Option<&Message>, ctx: &Ctx<'_>) {
        self.sequence += 1;
        let received_at = UNIX_EPOCH
            + Duration::from_secs(self.epoch * 3600)
            + Duration::from_millis(self.now_ms.unwrap_or(self.sequence));
        let stamp = Stamp {
            tenant: &self.tenant,
            pbx: &self.pbx,
            epoch: self.epoch,
            sequence: self.sequence,
            received_at,
            traceparent: "",
        };
        let env = envelope(&stamp, source, ctx, kind);
        let out = self.engine.apply(&env);
        self.records.extend(out.records);
        self.stats.envelopes += 1;
        if self.keep_envelopes {
            self.envelopes.push(env);
        }
    }

    pub fn projection(&self) -> &Projection {
        self.engine.projection()
    }

    pub fn into_projection(self) -> Projection {
        self.engine.projection().clone()
    }

    /// The engine (projection, delta sequences, notes).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The call records of the calls that ended so far.
    pub fn records(&self) -> &[CallRecord] {
        &self.records
    }

    /// The envelopes made so far (only with [`Replayer::keeping_envelopes`]).
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }
}

/// Replays successive connections of one PBX: each transcript is a
/// connection, with a `Disconnected` between two of them.
pub fn replay(transcripts: &[&[u8]], tenant: &str, pbx: &str) -> Replayer {
    let untimed: Vec<TimedTranscript<'_>> = transcripts.iter().map(|t| (*t, &[][..])).collect();
    replay_timed(&untimed, tenant, pbx)
}

/// [`replay`] with each transcript's recorded TCP reads (see
/// [`Replayer::transcript_timed`]; an empty list for an untimed one).
pub fn replay_timed(transcripts: &[TimedTranscript<'_>], tenant: &str, pbx: &str) -> Replayer {
    let mut r = Replayer::new(tenant, pbx);
    for (i, (bytes, reads)) in transcripts.iter().enumerate() {
        if i > 0 {
            r.disconnected("transcript ended");
        }
        r.transcript_timed(bytes, reads);
    }
    r
}

/// Parses a `NAME.timing.jsonl` file's text (one `{"t_ms", "offset",
/// "len"}` object per TCP read) into (t_ms, offset, len).
///
/// # Errors
/// The line number and what is wrong with it.
pub fn parse_reads(text: &str) -> Result<Vec<Read>, String> {
    #[derive(serde::Deserialize)]
    struct Read {
        t_ms: f64,
        offset: usize,
        len: usize,
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Read>(l)
                .map(|r| (r.t_ms, r.offset, r.len))
                .map_err(|e| format!("line {}: {e}", i + 1))
        })
        .collect()
}
