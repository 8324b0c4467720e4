//! `ringside-ami-ingestor`: where AMI becomes Ringside's event stream.
//!
//! For every PBX it owns, the ingestor keeps one AMI connection, resyncs the
//! PBX's live state after every (re)connect, turns every frame into a
//! normalized event with a per-connection sequence number, and publishes it
//! durably (buffering while the bus is away). It also publishes raw frames for
//! the AMI log and serves "send this action to PBX X" requests.
//!
//! It knows the AMI client, the event model and the bus; it knows nothing of
//! views, storage or HTTP. Several replicas share a fleet: each PBX is owned by
//! exactly one replica at a time through a lease in the bus's KV store.
//!
//! Module map: [`worker`] (one PBX: connection, resync, sequencing),
//! [`publisher`] (ordered, windowed, bounded publishing), [`sync`] (the resync
//! plan), [`actions`] (request/reply endpoints and audit), [`lease`]
//! (ownership), [`deny`] (actions nobody may send), [`settings`].

pub mod actions;
pub mod deny;
pub mod lease;
pub mod publisher;
pub mod settings;
pub mod sync;
pub mod worker;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use ringside_bus::{Bus, KvChange, KvConfig, Storage, TenantId, Topology};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use settings::{IngestorSettings, PbxSettings};

use crate::deny::DenyList;
use crate::lease::Leases;
use crate::worker::Worker;

/// The KV bucket holding PBX leases (prefixed like the topology's streams).
pub const LEASE_BUCKET: &str = "ringside_ingestor_leases";

/// The KV bucket of PBX definitions picked up without a restart: key
/// `<tenant>.<pbx>`, value the [`PbxSettings`] as JSON. Provisioning writes
/// it; configured PBXs (`[[ingestor.pbx]]`, `--pbx`) come on top.
pub const PBX_BUCKET: &str = "ringside_pbx";

/// What the ingestor needs from the process that runs it.
#[derive(Clone)]
pub struct Deps {
    pub bus: Arc<dyn Bus>,
    pub topology: Topology,
}

/// This replica's default name in leases: host name and process id.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ingestor".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Runs the ingestor until `shutdown`, then logs off every PBX, drains what it
/// holds and releases its leases.
///
/// # Errors
/// Invalid settings (a bad deny pattern, an invalid tenant or PBX id) or the
/// lease bucket cannot be opened.
pub async fn run(
    settings: IngestorSettings,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let deny = Arc::new(
        DenyList::new(settings.deny.clone().unwrap_or_else(deny::default_rules))
            .context("compiling the deny list")?,
    );
    let replica = settings
        .lease
        .replica_id
        .clone()
        .unwrap_or_else(default_replica_id);
    let kv = deps
        .bus
        .kv(
            &deps.topology.bucket_name(LEASE_BUCKET),
            KvConfig {
                history: 1,
                ttl: None,
                max_bytes: None,
                storage: Storage::File,
            },
        )
        .await
        .context("opening the lease bucket")?;
    let leases = Leases::new(kv, replica.clone(), settings.lease.ttl);
    let registry = deps
        .bus
        .kv(&deps.topology.bucket_name(PBX_BUCKET), KvConfig::default())
        .await
        .context("opening the PBX registry bucket")?;
    // Watch first, then load: a change made in between is seen twice, and
    // applying it twice is harmless.
    let mut changes = registry
        .watch(">")
        .await
        .context("watching the PBX registry")?;
    let settings = Arc::new(settings);
    tracing::info!(replica = %replica, configured = settings.pbx.len(), "ingestor starting");

    let mut fleet = Fleet {
        owned: HashMap::new(),
        tenants: BTreeSet::new(),
        tasks: JoinSet::new(),
        settings: settings.clone(),
        deps: deps.clone(),
        leases,
        deny,
        shutdown: shutdown.clone(),
    };
    for spec in settings.pbx.iter().filter(|p| p.enabled) {
        fleet.upsert(spec.clone())?;
    }
    for key in registry.keys().await.context("listing the PBX registry")? {
        if let Some(entry) = registry
            .get(&key)
            .await
            .context("reading the PBX registry")?
        {
            fleet.apply_registry_entry(&key, &entry.value);
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            change = changes.next() => match change {
                Some(Ok(KvChange::Put(entry))) => fleet.apply_registry_entry(&entry.key, &entry.value),
                Some(Ok(KvChange::Delete { key, .. })) => fleet.remove(&key),
                Some(Err(e)) => tracing::warn!(error = %e, "PBX registry watch error"),
                None => {
                    tracing::warn!("PBX registry watch ended; PBX changes need a restart until it is back");
                    shutdown.cancelled().await;
                    break;
                }
            },
        }
    }
    fleet.stop_all().await;
    tracing::info!("ingestor stopped");
    Ok(())
}

/// The PBXs this replica may own, each with its lease-holding task.
struct Fleet {
    owned: HashMap<String, (PbxSettings, CancellationToken)>,
    tenants: BTreeSet<String>,
    tasks: JoinSet<()>,
    settings: Arc<IngestorSettings>,
    deps: Deps,
    leases: Leases,
    deny: Arc<DenyList>,
    shutdown: CancellationToken,
}

impl Fleet {
    /// Starts (or restarts, when its settings changed) a PBX.
    fn upsert(&mut self, spec: PbxSettings) -> anyhow::Result<()> {
        let tenant = TenantId::new(spec.tenant.as_str())
            .with_context(|| format!("PBX {:?}: invalid tenant", spec.id))?;
        ringside_bus::PbxId::new(spec.id.as_str())
            .with_context(|| format!("PBX {:?}: invalid id", spec.id))?;
        let key = lease::key(&spec.tenant, &spec.id);
        if let Some((current, _)) = self.owned.get(&key)
            && *current == spec
        {
            return Ok(());
        }
        self.remove(&key);
        if !spec.enabled {
            return Ok(());
        }
        tracing::info!(tenant = %spec.tenant, pbx = %spec.id, host = %spec.host, "watching PBX");
        let stop = self.shutdown.child_token();
        self.tasks.spawn(own_pbx(
            spec.clone(),
            self.settings.clone(),
            self.deps.clone(),
            self.leases.clone(),
            self.deny.clone(),
            stop.clone(),
        ));
        self.owned.insert(key, (spec, stop));
        if self.tenants.insert(tenant.to_string()) {
            let (bus, subjects, leases, shutdown) = (
                self.deps.bus.clone(),
                self.deps.topology.subjects().clone(),
                self.leases.clone(),
                self.shutdown.clone(),
            );
            let timeout = self.settings.action_timeout;
            self.tasks.spawn(async move {
                if let Err(e) =
                    actions::serve_tenant(tenant.clone(), bus, subjects, leases, timeout, shutdown)
                        .await
                {
                    tracing::error!(tenant = %tenant, error = %e, "tenant action endpoint stopped");
                }
            });
        }
        Ok(())
    }

    /// A registry entry: `<tenant>.<pbx>` → the PBX's settings as JSON.
    fn apply_registry_entry(&mut self, key: &str, value: &[u8]) {
        let spec: PbxSettings = match serde_json::from_slice(value) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!(key, error = %e, "ignoring an invalid PBX registry entry");
                return;
            }
        };
        if lease::key(&spec.tenant, &spec.id) != key {
            tracing::warn!(key, tenant = %spec.tenant, pbx = %spec.id, "ignoring a PBX registry entry under the wrong key");
            return;
        }
        if let Err(e) = self.upsert(spec) {
            tracing::warn!(key, error = %e, "ignoring a PBX registry entry");
        }
    }

    /// Stops a PBX's task; it releases its lease as it stops.
    fn remove(&mut self, key: &str) {
        if let Some((spec, stop)) = self.owned.remove(key) {
            tracing::info!(tenant = %spec.tenant, pbx = %spec.id, "no longer watching PBX");
            stop.cancel();
        }
    }

    async fn stop_all(mut self) {
        for (_, (_, stop)) in self.owned.drain() {
            stop.cancel();
        }
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Holds one PBX's lease and, while held, runs its worker and action endpoint.
/// Loses it → stops them; stops → releases it.
async fn own_pbx(
    spec: PbxSettings,
    settings: Arc<IngestorSettings>,
    deps: Deps,
    leases: Leases,
    deny: Arc<DenyList>,
    shutdown: CancellationToken,
) {
    let key = lease::key(&spec.tenant, &spec.id);
    let mut held: Option<u64> = None;
    let mut running: Option<(CancellationToken, JoinSet<()>)> = None;
    let mut last_renewed = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(settings.lease.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // A renewal may not hold up a stop, nor the next renewal. A KV update
        // once waited for good behind async-nats's cap on pending acks (lifted
        // in `ringside_bus`'s nats.rs, `MAX_ACKS_PENDING`) and the ingestor then
        // never stopped; any other stall of the store is bounded here too.
        let renewal = tokio::select! {
            _ = shutdown.cancelled() => break,
            renewal = tokio::time::timeout(
                settings.lease.renew_every,
                leases.acquire_or_renew(&key, held),
            ) => renewal.unwrap_or(Err(ringside_bus::BusError::Timeout)),
        };
        match renewal {
            Ok(Some(revision)) => {
                held = Some(revision);
                last_renewed = tokio::time::Instant::now();
            }
            Ok(None) => held = None,
            Err(e) => {
                // The bus is away: nobody can take the lease over it either, so
                // keep the PBX (its events are buffered). The next renewal that
                // reaches the bus tells whether someone else took it meanwhile;
                // consumers ignore events of an epoch older than the newest.
                tracing::warn!(pbx = %spec.id, error = %e, unrenewed_ms = last_renewed.elapsed().as_millis() as u64, "lease renewal failed; keeping the PBX");
            }
        }
        match (held.is_some(), running.is_some()) {
            (true, false) => match start_pbx(&spec, &settings, &deps, &deny) {
                Ok(started) => {
                    tracing::info!(pbx = %spec.id, replica = %leases.owner(), "took ownership of PBX");
                    running = Some(started);
                }
                Err(e) => tracing::error!(pbx = %spec.id, error = %e, "cannot start PBX worker"),
            },
            (false, true) => {
                tracing::warn!(pbx = %spec.id, "lost ownership of PBX; stopping its worker");
                stop(running.take()).await;
            }
            _ => {}
        }
    }
    stop(running.take()).await;
    if held.is_some() {
        // Best effort, bounded like a renewal: unreleased, the lease expires
        // after its ttl and another replica takes the PBX then.
        let _ = tokio::time::timeout(settings.lease.renew_every, leases.release(&key)).await;
    }
}

fn start_pbx(
    spec: &PbxSettings,
    settings: &Arc<IngestorSettings>,
    deps: &Deps,
    deny: &Arc<DenyList>,
) -> Result<(CancellationToken, JoinSet<()>), ringside_bus::BusError> {
    let (worker, handle) = Worker::start(
        spec.clone(),
        settings.clone(),
        deps.bus.clone(),
        deps.topology.subjects().clone(),
    )?;
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(worker.run(stop.clone()));
    let (bus, subjects, deny, token, timeout) = (
        deps.bus.clone(),
        deps.topology.subjects().clone(),
        deny.clone(),
        stop.clone(),
        settings.action_timeout,
    );
    tasks.spawn(async move {
        let pbx = handle.pbx.clone();
        if let Err(e) = actions::serve_pbx(handle, bus, subjects, deny, timeout, token).await {
            tracing::error!(pbx = %pbx, error = %e, "action endpoint stopped");
        }
    });
    Ok((stop, tasks))
}

async fn stop(running: Option<(CancellationToken, JoinSet<()>)>) {
    if let Some((token, mut tasks)) = running {
        token.cancel();
        while tasks.join_next().await.is_some() {}
    }
}
