//! The projection: every PBX's views, kept by applying envelopes in order.
//!
//! Per PBX (tenant + pbx):
//! * **Order.** Envelopes apply in (epoch, sequence) order. An envelope of
//!   an epoch older than the newest seen is ignored (a late message of a
//!   dead connection), and so is one whose sequence is not above the last
//!   applied in the current epoch (a redelivery).
//! * **Resync.** `SyncStarted` opens a staging view (empty); list entries
//!   (`sync = true`) with its sync id fill it; live events during the resync
//!   apply to the live view *and* to the staging view, in stream order, so
//!   an entry followed by its channel's hangup ends without the channel and
//!   a channel created after the listing is in both. `SyncCompleted` swaps
//!   the staging view in whole: nothing the resync did not list or see
//!   survives (no ghost channels or calls after a reconnect). A list that
//!   failed (permission denied, module not loaded) keeps its part of the old
//!   view instead of emptying it.
//! * **Stale.** A PBX is stale from the start, after `Disconnected`, and
//!   whenever a new epoch begins, until a resync of that epoch completes.
//!   Its last known views stay visible, marked stale.

use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{Envelope, SyncCompleted, SyncOutcome};

use serde::{Deserialize, Serialize};

use crate::by_pbx::ByPbx;
use crate::deltas::{View, ViewSet};
use crate::pbx::{Part, PbxView};
use crate::views::{PbxStatus, Snapshot};

/// What [`Projection::apply`] did with an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Its epoch is older than the newest seen for its PBX.
    OlderEpoch,
    /// Its sequence was already applied in the current epoch.
    Duplicate,
    /// A list entry or `SyncCompleted` of a resync that is not open.
    UnknownSync,
    /// No kind (an envelope from a newer schema with an unknown kind).
    NoKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PbxState {
    epoch: u64,
    sequence: u64,
    /// Whether anything of `epoch` has been applied.
    seen: bool,
    stale: bool,
    live: PbxView,
    /// The open resync: its id and the view it builds.
    staging: Option<(String, PbxView)>,
}

/// The views of every PBX seen in the stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Projection {
    pbxs: ByPbx<PbxState>,
}

impl Projection {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one envelope. Pure: no I/O, no clock (times are the
    /// envelope's).
    pub fn apply(&mut self, env: &Envelope) -> Applied {
        let Some(kind) = &env.kind else {
            return Applied::NoKind;
        };
        let state = self
            .pbxs
            .get_or_insert_with(&env.tenant, &env.pbx, || PbxState {
                epoch: env.epoch,
                sequence: 0,
                seen: false,
                stale: true,
                live: PbxView::new(&env.tenant, &env.pbx),
                staging: None,
            });
        if env.epoch < state.epoch {
            return Applied::OlderEpoch;
        }
        if env.epoch > state.epoch {
            // A new connection: whatever resync was open cannot complete.
            state.epoch = env.epoch;
            state.sequence = 0;
            state.seen = false;
            state.stale = true;
            state.staging = None;
        }
        if state.seen && env.sequence <= state.sequence {
            return Applied::Duplicate;
        }
        state.seen = true;
        state.sequence = env.sequence;
        let at = event_time_ms(env);

        match kind {
            Kind::Connected(_) => {
                state.stale = true;
                Applied::Applied
            }
            Kind::Disconnected(_) => {
                state.stale = true;
                state.staging = None;
                Applied::Applied
            }
            Kind::SyncStarted(_) => {
                state.staging = Some((env.sync_id.clone(), PbxView::new(&env.tenant, &env.pbx)));
                Applied::Applied
            }
            Kind::SyncCompleted(done) => match state.staging.take() {
                Some((id, mut view)) if id == env.sync_id => {
                    for part in failed_parts(done) {
                        view.keep_part(&state.live, part);
                    }
                    state.live = view;
                    state.stale = false;
                    Applied::Applied
                }
                other => {
                    state.staging = other;
                    Applied::UnknownSync
                }
            },
            _ if env.sync => match &mut state.staging {
                Some((id, view)) if *id == env.sync_id => {
                    view.apply(kind, at);
                    Applied::Applied
                }
                _ => Applied::UnknownSync,
            },
            _ => {
                state.live.apply(kind, at);
                if let Some((_, view)) = &mut state.staging {
                    view.apply(kind, at);
                }
                Applied::Applied
            }
        }
    }

    /// The views of every PBX, ordered by tenant and PBX.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot::default();
        for (tenant, pbx) in self.pbx_ids() {
            out.merge(self.snapshot_of(tenant, pbx));
        }
        out
    }

    /// One PBX's live view (what the views are derived from).
    pub(crate) fn live_view(&self, tenant: &str, pbx: &str) -> Option<&PbxView> {
        self.pbxs.get(tenant, pbx).map(|s| &s.live)
    }

    /// The PBXs seen, as (tenant, pbx).
    pub fn pbx_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pbxs.iter().map(|(ids, _)| ids)
    }

    /// The views of one PBX (empty when it was never seen).
    pub fn snapshot_of(&self, tenant: &str, pbx: &str) -> Snapshot {
        self.views_of(tenant, pbx, ViewSet::ALL)
    }

    /// Some views of one PBX (the others left empty): what the engine
    /// re-derives after an event that can only change those.
    pub fn views_of(&self, tenant: &str, pbx: &str, views: ViewSet) -> Snapshot {
        let mut out = Snapshot::default();
        if let Some(state) = self.pbxs.get(tenant, pbx) {
            if views.contains(View::Pbxs) {
                out.pbxs.push(PbxStatus {
                    tenant: tenant.to_owned(),
                    pbx: pbx.to_owned(),
                    epoch: state.epoch,
                    stale: state.stale,
                    syncing: state.staging.is_some(),
                });
            }
            state.live.derive_into(views, &mut out);
        }
        out
    }
}

/// The parts whose every list in this resync failed for a reason other than
/// "nothing to list": those keep the old view.
fn failed_parts(done: &SyncCompleted) -> Vec<Part> {
    let mut ok: Vec<Part> = Vec::new();
    let mut failed: Vec<Part> = Vec::new();
    for list in &done.lists {
        let Some(part) = Part::of_action(&list.action) else {
            continue;
        };
        match list.outcome() {
            SyncOutcome::Ok | SyncOutcome::Empty => ok.push(part),
            _ => failed.push(part),
        }
    }
    failed.retain(|p| !ok.contains(p));
    failed.dedup();
    failed
}

/// The event's time in Unix milliseconds: Asterisk's own timestamp when it
/// sent one, else when the ingestor read it, else 0.
pub(crate) fn event_time_ms(env: &Envelope) -> i64 {
    let ts = env.pbx_time.as_ref().or(env.received_at.as_ref());
    match ts {
        Some(t) => t.seconds * 1000 + i64::from(t.nanos) / 1_000_000,
        None => 0,
    }
}
