//! `ringside provisioning`: the provisioning service's background side
//! against NATS and PostgreSQL — it re-publishes every PBX server into the
//! ingestors' registry at start, rates call records into CDRs and copies
//! the ingestors' AMI action records into the audit log. The admin
//! API itself is served by the gateway through the same library.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use anyhow::Context as _;
use ringside_provisioning::{Actor, Page, Provisioning, Role};

use crate::commands::common::SettingsArgs;
use crate::commands::service;

/// Run the provisioning service: PBX registry and call rating.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings; NATS or the database unreachable at start.
pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings.load()?;
    service::run(settings, "provisioning", |running| async move {
        let settings = running.settings;
        let (bus, topology) = crate::bus::connect(&settings.bus, "provisioning").await?;
        let provisioning = Arc::new(
            Provisioning::open(&settings.provisioning, bus, topology)
                .await
                .context("opening the provisioning database")?,
        );
        sample_pool(&provisioning, &running.shutdown);
        if let Some(password) = &settings.provisioning.admin_password {
            first_admin(&provisioning, Some(password.clone())).await?;
        }
        running.ready.store(true, Ordering::Relaxed);
        tracing::info!("provisioning running (PBX registry synchronised, rating call records)");
        let (rated, audited) = tokio::join!(
            provisioning.run_rater(running.shutdown.clone()),
            provisioning.run_action_audit(running.shutdown.clone()),
        );
        rated.context("rating call records")?;
        audited.context("recording AMI actions in the audit log")
    })
}

/// Samples the database pool's gauges every 5 s.
pub(crate) fn sample_pool(provisioning: &Arc<Provisioning>, shutdown: &CancellationToken) {
    let provisioning = provisioning.clone();
    service::spawn_sampler(Duration::from_secs(5), shutdown.clone(), move || {
        provisioning.store().record_pool_metrics();
    });
}

/// The tenant and user created on first start.
pub(crate) const DEFAULT_TENANT: &str = "default";
pub(crate) const ADMIN_USER: &str = "admin";

/// The system itself, as the actor of start-up work in tenant `tenant`.
pub(crate) fn system_actor(tenant: &str) -> Actor {
    Actor {
        user_id: None,
        username: "system".to_owned(),
        tenant: tenant.to_owned(),
        role: Role::PlatformAdmin,
    }
}

/// While tenant `default` has no user, creates it with the platform admin
/// `admin` and `password` (generated when `None`). Returns the generated
/// password, for the caller to show once.
///
/// # Errors
/// The database refused (an invalid password included).
pub(crate) async fn first_admin(
    provisioning: &Provisioning,
    password: Option<String>,
) -> anyhow::Result<Option<String>> {
    let users = provisioning
        .list_users(&system_actor(DEFAULT_TENANT), Page::default())
        .await
        .context("listing users")?;
    if users.total > 0 {
        return Ok(None);
    }
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (crate::commands::monolith::random_token(20), true),
    };
    provisioning
        .bootstrap_user(DEFAULT_TENANT, ADMIN_USER, &password, Role::PlatformAdmin)
        .await
        .context("creating the first admin")?;
    tracing::info!(
        tenant = DEFAULT_TENANT,
        user = ADMIN_USER,
        "first administrator created"
    );
    Ok(generated.then_some(password))
}
