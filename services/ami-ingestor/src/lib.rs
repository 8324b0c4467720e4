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

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context as _;
use ringside_bus::{Bus, KvConfig, Storage, TenantId, Topology};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use settings::{IngestorSettings, PbxSettings};

use crate::deny::DenyList;
use crate::lease::Leases;
use crate::worker::Worker;

/// The KV bucket holding PBX leases (prefixed like the topology's streams).
pub const LEASE_BUCKET: &str = "ringside_ingestor_leases";

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
    let settings = Arc::new(settings);
    tracing::info!(replica = %replica, pbxs = settings.pbx.len(), "ingestor starting");

    let mut tasks = JoinSet::new();
    let mut tenants = BTreeSet::new();
    for spec in settings.pbx.iter().filter(|p| p.enabled) {
        TenantId::new(spec.tenant.as_str())
            .with_context(|| format!("PBX {:?}: invalid tenant", spec.id))?;
        ringside_bus::PbxId::new(spec.id.as_str())
            .with_context(|| format!("PBX {:?}: invalid id", spec.id))?;
        tenants.insert(spec.tenant.clone());
        tasks.spawn(own_pbx(
            spec.clone(),
            settings.clone(),
            deps.clone(),
            leases.clone(),
            deny.clone(),
            shutdown.clone(),
        ));
    }
    for tenant in tenants {
        let tenant = TenantId::new(tenant.as_str())?;
        let (bus, subjects, leases, shutdown) = (
            deps.bus.clone(),
            deps.topology.subjects().clone(),
            leases.clone(),
            shutdown.clone(),
        );
        let timeout = settings.action_timeout;
        tasks.spawn(async move {
            if let Err(e) =
                actions::serve_tenant(tenant.clone(), bus, subjects, leases, timeout, shutdown)
                    .await
            {
                tracing::error!(tenant = %tenant, error = %e, "tenant action endpoint stopped");
            }
        });
    }
    shutdown.cancelled().await;
    while tasks.join_next().await.is_some() {}
    tracing::info!("ingestor stopped");
    Ok(())
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
        match leases.acquire_or_renew(&key, held).await {
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
        leases.release(&key).await;
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
