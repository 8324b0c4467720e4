//! The live views of tenants read over REST, kept in the gateway.
//!
//! `GET /api/v1/live/{view}` used to ask the state service for the tenant's
//! whole snapshot on every request: a bus round trip, and the state
//! service's one task serialising every view while it should be applying
//! events. A [`Replica`] instead holds the tenant's views in memory, loaded
//! once from a snapshot and kept current by the same delta feed the `/ws`
//! clients share ([`crate::ws::LiveHub`]), stitched by sequence exactly as
//! a browser stitches them (docs/live-views.md): a gap, a lagged feed or a
//! dead subscription reloads the snapshot.
//!
//! A replica starts on its tenant's first read, which the state service
//! still answers (so that first answer is never stale), and stops after
//! [`IDLE`] without reads. Entries are kept per tenant and checked against
//! it: one tenant's replica never holds another's entries.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ringside_bus::TenantId;
use ringside_provisioning::live_cost::LiveCall;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::live::{SnapshotRequest, VIEWS, fetch_snapshot, live_call};
use crate::state::AppState;
use crate::ws::FeedItem;

/// A replica nobody read for this long stops (and its subscription with it).
pub const IDLE: Duration = Duration::from_secs(60);

/// Pause before loading again after a failed load.
const RELOAD_AFTER: Duration = Duration::from_millis(500);

/// One view's entries by (PBX, key).
type Entries = BTreeMap<(String, String), Arc<Entry>>;

/// One entry of a view, kept as the JSON it is answered with: a read then
/// copies text instead of cloning and serialising a tree per entry (2,000
/// live calls are half a megabyte of JSON, read up to thousands of times a
/// second).
#[derive(Debug)]
pub struct Entry {
    /// The entry as a JSON object.
    pub json: Box<str>,
    /// For a call, what pricing it needs.
    pub call: Option<LiveCall>,
}

impl Entry {
    /// The entry of `view` holding `value`.
    pub(crate) fn new(view: &str, value: &Value) -> Arc<Entry> {
        Arc::new(Entry {
            json: value.to_string().into_boxed_str(),
            call: (view == "calls").then(|| live_call(value)),
        })
    }
}

/// A tenant's views at one delta sequence.
struct Views {
    seq: u64,
    views: HashMap<&'static str, Entries>,
}

/// The views of one tenant, kept current by a task of its own.
pub struct Replica {
    views: RwLock<Option<Views>>,
    /// Milliseconds since `born` at the last read.
    last_read: AtomicU64,
    born: Instant,
    stop: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The replicas of the tenants being read.
#[derive(Default)]
pub struct Replicas {
    tenants: Mutex<HashMap<TenantId, Arc<Replica>>>,
}

impl Replicas {
    /// One view of `tenant` (only `pbx`'s entries when given) and the delta
    /// sequence it includes; `None` while the tenant's replica is loading
    /// (it is started by this call if needed), for the caller to ask the
    /// state service itself.
    pub fn read(
        &self,
        state: &AppState,
        tenant: &TenantId,
        view: &str,
        pbx: Option<&str>,
    ) -> Option<(u64, Vec<Arc<Entry>>)> {
        let replica = self.replica(state, tenant);
        replica.last_read.store(replica.age_ms(), Ordering::Relaxed);
        let guard = replica.views.read().unwrap_or_else(|e| e.into_inner());
        let views = guard.as_ref()?;
        let items = views
            .views
            .get(view)
            .into_iter()
            .flat_map(|entries| entries.iter())
            .filter(|((entry_pbx, _), _)| pbx.is_none_or(|p| p == entry_pbx))
            .map(|(_, entry)| entry.clone())
            .collect();
        Some((views.seq, items))
    }

    /// The tenant's replica, started if it is not running.
    fn replica(&self, state: &AppState, tenant: &TenantId) -> Arc<Replica> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(replica) = tenants.get(tenant)
            && !replica.stop.is_cancelled()
        {
            return replica.clone();
        }
        let replica = Arc::new(Replica {
            views: RwLock::new(None),
            last_read: AtomicU64::new(0),
            born: Instant::now(),
            stop: state.shutdown.child_token(),
        });
        tenants.insert(tenant.clone(), replica.clone());
        tokio::spawn(follow(
            state.clone(),
            tenant.clone(),
            Arc::downgrade(&replica),
        ));
        replica
    }

    /// Forgets `tenant`'s replica if it is `replica` (it stopped).
    fn forget(&self, tenant: &TenantId, replica: &Arc<Replica>) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if tenants.get(tenant).is_some_and(|r| Arc::ptr_eq(r, replica)) {
            tenants.remove(tenant);
        }
    }
}

impl Replica {
    fn age_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle(&self) -> bool {
        self.age_ms()
            .saturating_sub(self.last_read.load(Ordering::Relaxed))
            > u64::try_from(IDLE.as_millis()).unwrap_or(u64::MAX)
    }

    fn set(&self, views: Option<Views>) {
        *self.views.write().unwrap_or_else(|e| e.into_inner()) = views;
    }

    /// Applies the next delta, or says the stitch is broken.
    fn apply(&self, item: &FeedItem) -> Stitch {
        let mut guard = self.views.write().unwrap_or_else(|e| e.into_inner());
        let Some(views) = guard.as_mut() else {
            return Stitch::Broken;
        };
        if item.seq <= views.seq {
            // Already in the snapshot.
            return Stitch::Kept;
        }
        if item.seq != views.seq + 1 {
            return Stitch::Broken;
        }
        let Ok(delta) = serde_json::from_str::<Value>(&item.text) else {
            return Stitch::Broken;
        };
        let (Some(view), Some(key)) = (
            delta["view"].as_str().and_then(view_name),
            delta["key"].as_str(),
        ) else {
            return Stitch::Broken;
        };
        let entries = views.views.entry(view).or_default();
        let at = (item.pbx.clone(), key.to_owned());
        match (delta["op"].as_str(), delta.get("value")) {
            (Some("upsert"), Some(value)) => {
                entries.insert(at, Entry::new(view, value));
            }
            (Some("remove"), _) => {
                entries.remove(&at);
            }
            _ => return Stitch::Broken,
        }
        views.seq = item.seq;
        Stitch::Kept
    }
}

enum Stitch {
    Kept,
    Broken,
}

/// The name of a live view as a `'static` key.
fn view_name(view: &str) -> Option<&'static str> {
    VIEWS.iter().copied().find(|v| *v == view)
}

/// An entry's key within its view and PBX, as the state service keys it
/// (`ringside_state::deltas::key_of`).
fn key_of(view: &str, entry: &Value) -> Option<String> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    match view {
        "pbxs" => field("pbx").map(str::to_owned),
        "trunks" => Some(format!("{}:{}", field("kind")?, field("name")?)),
        "endpoints" | "queues" | "conferences" => field("name").map(str::to_owned),
        "channels" => field("uniqueid").map(str::to_owned),
        "calls" | "bridges" => field("id").map(str::to_owned),
        _ => None,
    }
}

/// Loads the tenant's snapshot into views (entries of other tenants, which
/// the state service never sends, are dropped all the same).
async fn load(state: &AppState, tenant: &TenantId) -> Option<Views> {
    let snapshot = fetch_snapshot(
        &state.bus,
        &state.subjects,
        tenant,
        &SnapshotRequest::default(),
        state.settings.request_timeout,
    )
    .await
    .map_err(|e| tracing::debug!(tenant = %tenant, error = %e.message, "replica not loaded"))
    .ok()?;
    let mut views = HashMap::new();
    for view in VIEWS {
        let entries: Entries = snapshot
            .view(view)
            .iter()
            .filter(|e| {
                e.get("tenant")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t == tenant.as_str())
            })
            .filter_map(|e| {
                let pbx = e.get("pbx").and_then(Value::as_str)?.to_owned();
                Some(((pbx, key_of(view, e)?), Entry::new(view, e)))
            })
            .collect();
        views.insert(view, entries);
    }
    Some(Views {
        seq: snapshot.seq.unwrap_or(0),
        views,
    })
}

/// Keeps `tenant`'s replica current until it is idle, dropped or the
/// gateway stops: subscribe, load, apply deltas in sequence; reload when
/// the stitch breaks.
async fn follow(state: AppState, tenant: TenantId, replica: std::sync::Weak<Replica>) {
    let Some(stop) = replica.upgrade().map(|r| r.stop.clone()) else {
        return;
    };
    let mut check = tokio::time::interval(IDLE / 4);
    'subscribe: while !stop.is_cancelled() {
        // Subscribed before the snapshot is asked for: every delta after
        // the snapshot's sequence is then in the subscription.
        let feed = match state.hub.feed(&state, &tenant).await {
            Ok(feed) => feed,
            Err(e) => {
                tracing::debug!(tenant = %tenant, error = %e, "replica: no delta feed yet");
                tokio::time::sleep(RELOAD_AFTER).await;
                continue;
            }
        };
        let mut deltas = feed.subscribe();
        loop {
            let views = load(&state, &tenant).await;
            let loaded = views.is_some();
            match replica.upgrade() {
                Some(r) => r.set(views),
                None => return,
            }
            if !loaded {
                tokio::select! {
                    () = stop.cancelled() => break 'subscribe,
                    () = tokio::time::sleep(RELOAD_AFTER) => continue,
                }
            }
            // Follow until the stitch breaks.
            loop {
                tokio::select! {
                    () = stop.cancelled() => break 'subscribe,
                    _ = check.tick() => {
                        let Some(r) = replica.upgrade() else { return };
                        if r.idle() {
                            state.replicas.forget(&tenant, &r);
                            r.stop.cancel();
                            break 'subscribe;
                        }
                        if !feed.is_alive() {
                            // The subscription ended: a new one, then a reload.
                            continue 'subscribe;
                        }
                    }
                    next = deltas.recv() => match next {
                        Ok(item) => {
                            let Some(r) = replica.upgrade() else { return };
                            if matches!(r.apply(&item), Stitch::Broken) {
                                break;
                            }
                        }
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => continue 'subscribe,
                    },
                }
            }
        }
    }
}
