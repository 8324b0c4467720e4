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
use ringside_provisioning::{Actor, Error, Page, Provisioning, Role};

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

/// Makes sure there is a first administrator: the platform admin `admin` of
/// tenant `default`.
///
/// - With a configured `password`, `admin` is created whenever it does not
///   exist, whatever other users there are (a deployment that sets the
///   password expects to log in with it); an existing `admin` keeps its
///   own password.
/// - Without one, a password is generated, only while tenant `default` has
///   no user at all, and returned for the caller to show once.
///
/// # Errors
/// The database refused (an invalid password included).
pub(crate) async fn first_admin(
    provisioning: &Provisioning,
    password: Option<String>,
) -> anyhow::Result<Option<String>> {
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => {
            let users = provisioning
                .list_users(&system_actor(DEFAULT_TENANT), Page::default())
                .await
                .context("listing users")?;
            if users.total > 0 {
                return Ok(None);
            }
            (crate::commands::monolith::random_token(20), true)
        }
    };
    match provisioning
        .bootstrap_user(DEFAULT_TENANT, ADMIN_USER, &password, Role::PlatformAdmin)
        .await
    {
        Ok(_) => {
            tracing::info!(
                tenant = DEFAULT_TENANT,
                user = ADMIN_USER,
                "first administrator created"
            );
            Ok(generated.then_some(password))
        }
        // The username is taken: the administrator is there already.
        Err(Error::Conflict { .. }) if !generated => Ok(None),
        Err(e) => Err(e).context("creating the first admin"),
    }
}

#[cfg(test)]
mod tests {
    use ringside_provisioning::{DatabaseSettings, ProvisioningSettings};
    use ringside_testkit::TestBus;

    use super::*;

    async fn open(dir: &tempfile::TempDir) -> Provisioning {
        let test = TestBus::in_process();
        let settings = ProvisioningSettings {
            database: DatabaseSettings {
                url: None,
                data_dir: dir.path().to_owned(),
                ..DatabaseSettings::default()
            },
            ..ProvisioningSettings::default()
        };
        Provisioning::open(&settings, test.bus.clone(), test.topology.clone())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_configured_password_makes_the_admin_even_beside_other_users() {
        let dir = tempfile::tempdir().unwrap();
        let provisioning = open(&dir).await;
        provisioning
            .bootstrap_user(
                DEFAULT_TENANT,
                "someone",
                "someone-password-1",
                Role::Viewer,
            )
            .await
            .unwrap();
        let password = "configured-admin-password".to_owned();
        assert_eq!(
            first_admin(&provisioning, Some(password.clone()))
                .await
                .unwrap(),
            None
        );
        let admin = provisioning
            .authenticate(ADMIN_USER, &password)
            .await
            .unwrap()
            .expect("the admin logs in with the configured password");
        assert_eq!(admin.role, Role::PlatformAdmin);
        // Started again with another password: the admin keeps its own.
        assert_eq!(
            first_admin(&provisioning, Some("another-password-2".into()))
                .await
                .unwrap(),
            None
        );
        assert!(
            provisioning
                .authenticate(ADMIN_USER, &password)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_generated_password_is_made_once_and_only_for_an_empty_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let provisioning = open(&dir).await;
        let generated = first_admin(&provisioning, None)
            .await
            .unwrap()
            .expect("a generated password, to show once");
        assert!(
            provisioning
                .authenticate(ADMIN_USER, &generated)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(first_admin(&provisioning, None).await.unwrap(), None);
    }
}
