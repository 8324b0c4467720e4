//! `ringside` with no command: the whole product in one process.
//!
//! The in-process bus, provisioning on SQLite under `--data-dir`, the
//! ingestor, the state service, the rater and the gateway with its web UI,
//! all on one tokio runtime, wired exactly as the microservices are, only
//! without NATS and PostgreSQL. On first start a tenant `default` with a
//! platform admin `admin` is created (password from `RINGSIDE_ADMIN_PASSWORD`,
//! else generated and printed once). When no PBX is configured, a simulated
//! PBX runs on a loopback port and is registered as the PBX server
//! `simulator`, so a newcomer sees live calls at once and provisioning can
//! render and dry-run against it like any other PBX.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use ringside_ami_ingestor::PbxSettings;
use ringside_bus::{Bus, InProcessLimits, Topology};
use ringside_gateway::GatewayDeps;
use ringside_gateway::admin::{ProvisioningAccounts, admin_router};
use ringside_provisioning::Provisioning;
use ringside_provisioning::model::{ApplyMode, Page, PbxServerInput};
use tokio::task::JoinSet;

use crate::commands::provisioning::{
    ADMIN_USER, DEFAULT_TENANT, first_admin, sample_pool, system_actor,
};
use crate::commands::service::{self, Running};

/// Memory bounds of the in-process bus's streams (see [`run`]).
const IN_PROCESS_EVENTS_BYTES: u64 = 512 * 1024 * 1024;
const IN_PROCESS_AMI_BYTES: u64 = 128 * 1024 * 1024;

/// The PBX server the built-in simulator is registered as.
const SIMULATOR: &str = "simulator";

/// Options of the monolithic mode (`ringside [OPTIONS]`).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); `RINGSIDE__SECTION__KEY` variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the web UI and the API listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the SQLite database and the generated keys live.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A PBX to watch (repeatable):
    /// `ami://USER:SECRET@HOST:PORT?tenant=T&id=P[&tls=1][&auth=md5]`.
    /// Without any, a simulated PBX runs.
    #[arg(long, value_name = "URL", value_parser = parse_pbx)]
    pub pbx: Vec<PbxSettings>,
}

fn parse_pbx(text: &str) -> Result<PbxSettings, String> {
    PbxSettings::from_url(text).map_err(|e| e.to_string())
}

/// Runs everything until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings, the data directory or the listen address unusable.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut settings =
        crate::settings::load(args.config.as_deref(), &crate::settings::process_env())?;
    settings.gateway.monolithic = true;
    settings.gateway.listen = args.listen;
    settings.provisioning.database.url = None;
    // The in-process bus keeps its streams in memory: bound them so a
    // monolith left running for weeks does not grow to the deployment
    // defaults (10 GiB each). The views need only what is recent; the raw
    // AMI log is for the last minutes.
    let retention = &mut settings.bus.retention;
    retention.events_max_bytes = Some(
        retention
            .events_max_bytes
            .map_or(IN_PROCESS_EVENTS_BYTES, |b| b.min(IN_PROCESS_EVENTS_BYTES)),
    );
    retention.ami_max_bytes = Some(
        retention
            .ami_max_bytes
            .map_or(IN_PROCESS_AMI_BYTES, |b| b.min(IN_PROCESS_AMI_BYTES)),
    );
    settings.provisioning.database.data_dir = args.data_dir.clone();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    if settings.gateway.jwt_secret == ringside_gateway::settings::DEFAULT_JWT_SECRET {
        settings.gateway.jwt_secret = local_secret(&args.data_dir.join("jwt.secret"))?;
    }
    let pbxs = args.pbx.clone();
    service::run(settings, "ringside", move |running| {
        everything(running, pbxs)
    })
}

/// A random secret kept in `path` (created on first start, owner-only).
fn local_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let text = text.trim();
        if text.len() >= 32 {
            return Ok(text.to_owned());
        }
    }
    let secret = random_token(48);
    write_private(path, &secret)?;
    Ok(secret)
}

/// `len` random letters and digits (from the OS's generator via `rand`).
pub(crate) fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

async fn everything(running: Running, pbxs: Vec<PbxSettings>) -> anyhow::Result<()> {
    let Running {
        settings,
        telemetry,
        shutdown,
        ready,
    } = running;
    let topology: Topology = settings.bus.topology()?;
    let bus: Arc<dyn Bus> = Arc::new(
        ringside_bus::in_process(&topology, InProcessLimits::default())
            .context("starting the in-process bus")?,
    );
    let provisioning = Arc::new(
        Provisioning::open(&settings.provisioning, bus.clone(), topology.clone())
            .await
            .context("opening the provisioning database")?,
    );
    sample_pool(&provisioning, &shutdown);
    let password = std::env::var("RINGSIDE_ADMIN_PASSWORD").ok();
    if let Some(generated) = first_admin(&provisioning, password).await? {
        // Printed once, on the terminal of whoever started it: the only copy.
        println!(
            "First start: created user '{ADMIN_USER}' (tenant '{DEFAULT_TENANT}') with password: {generated}"
        );
    }

    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let mut simulator = None;
    if pbxs.is_empty() && settings.ingestor.pbx.is_empty() {
        simulator =
            Some(start_simulator(&provisioning, &settings.provisioning.database.data_dir).await?);
    } else {
        for pbx in &pbxs {
            register_pbx(&provisioning, pbx).await?;
        }
    }

    let deps = ringside_ami_ingestor::Deps {
        bus: bus.clone(),
        topology: topology.clone(),
    };
    let stop = shutdown.clone();
    let ingestor = settings.ingestor.clone();
    tasks.spawn(async move {
        (
            "ingestor",
            ringside_ami_ingestor::run(ingestor, deps, stop).await,
        )
    });

    let state = ringside_state::service::StateService::start(
        settings.state.clone(),
        ringside_state::service::Deps {
            bus: bus.clone(),
            topology: topology.clone(),
        },
    )
    .await?;
    let stop = shutdown.clone();
    tasks.spawn(async move { ("state", state.run_until(stop).await) });

    let rater = provisioning.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = rater.run_rater(stop).await.map_err(anyhow::Error::from);
        ("rater", result)
    });
    let auditor = provisioning.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = auditor
            .run_action_audit(stop)
            .await
            .map_err(anyhow::Error::from);
        ("action audit", result)
    });

    let metrics = telemetry.metrics();
    let deps = GatewayDeps {
        bus: bus.clone(),
        subjects: topology.subjects().clone(),
        accounts: Arc::new(ProvisioningAccounts::new(provisioning.clone())),
        metrics: Some(Arc::new(move || metrics.render())),
        admin: Some(admin_router(provisioning.clone(), bus.clone())),
        provisioning: Some(provisioning.clone()),
    };
    let server = ringside_gateway::bind(settings.gateway.clone(), deps, shutdown.clone())
        .await
        .context("starting the gateway")?;
    let url = format!(
        "http://{}{}",
        server.local_addr().context("the gateway's address")?,
        settings.gateway.base_path.trim_end_matches('/')
    );
    tasks.spawn(async move { ("gateway", server.serve().await) });
    ready.store(true, Ordering::Relaxed);
    println!("Ringside is running: {url}/ (log in as '{ADMIN_USER}'; Ctrl-C stops it)");

    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        let (name, outcome) = done.context("a service task panicked")?;
        if let Err(e) = outcome {
            tracing::error!(service = name, error = %format!("{e:#}"), "service failed; stopping");
            if result.is_ok() {
                result = Err(e.context(format!("{name} failed")));
            }
        }
        // One service ending ends them all.
        shutdown.cancel();
    }
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    result
}

/// The simulated PBX's configuration directory, under the data directory.
const SIMULATOR_CONFIG_DIR: &str = "simulator-asterisk";

/// Starts the built-in simulated PBX and registers it as the PBX server
/// `simulator` (its port changes from run to run, so the record is updated).
///
/// The simulator reads its configuration from `SIMULATOR_CONFIG_DIR` under
/// `data_dir`, as an Asterisk on this host reads `/etc/asterisk`, and is
/// registered with that directory: a deployment (dry run, apply with its
/// reloads and verification, rollback) works on it out of the box.
async fn start_simulator(
    provisioning: &Provisioning,
    data_dir: &Path,
) -> anyhow::Result<ringside_pbx_sim::Simulator> {
    let secret = random_token(24);
    let sim = ringside_pbx_sim::start(ringside_pbx_sim::SimConfig {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        username: "ringside".into(),
        secret: secret.clone(),
        endpoints: 20,
        trunks: 2,
        calls_per_second: 0.3,
        ..ringside_pbx_sim::SimConfig::default()
    })
    .await
    .context("starting the simulated PBX")?;
    let config_dir = data_dir.join(SIMULATOR_CONFIG_DIR);
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    // Absolute: deployments write there whatever the working directory.
    let config_dir = config_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", config_dir.display()))?;
    sim.use_config_dir(&config_dir)
        .context("giving the simulated PBX its configuration directory")?;
    let addr = sim.local_addr();
    let input = PbxServerInput {
        name: SIMULATOR.into(),
        host: addr.ip().to_string(),
        port: i64::from(addr.port()),
        username: "ringside".into(),
        secret: Some(secret),
        tls: false,
        apply_mode: ApplyMode::File,
        config_dir: config_dir.to_string_lossy().into_owned(),
        enabled: true,
    };
    upsert_pbx(provisioning, DEFAULT_TENANT, input, ApplySettings::Ours).await?;
    tracing::info!(%addr, "no PBX configured: running a simulated PBX");
    Ok(sim)
}

/// Registers a `--pbx` as a PBX server of its tenant.
async fn register_pbx(provisioning: &Provisioning, pbx: &PbxSettings) -> anyhow::Result<()> {
    let input = PbxServerInput {
        name: pbx.id.clone(),
        host: pbx.host.clone(),
        port: i64::from(pbx.port),
        username: pbx.username.clone(),
        secret: Some(pbx.secret.expose().to_owned()),
        tls: pbx.tls,
        apply_mode: Default::default(),
        config_dir: "/etc/asterisk".into(),
        enabled: true,
    };
    if pbx.tenant != DEFAULT_TENANT {
        let tenant = ringside_provisioning::model::TenantInput {
            slug: pbx.tenant.clone(),
            name: pbx.tenant.clone(),
        };
        // Already there after the first start: that is fine.
        let _ = provisioning
            .create_tenant(&system_actor(DEFAULT_TENANT), tenant)
            .await;
    }
    upsert_pbx(provisioning, &pbx.tenant, input, ApplySettings::Operators).await
}

/// Who decides how configuration reaches a PBX already registered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ApplySettings {
    /// The operator: a PBX given with `--pbx` keeps the apply mode and
    /// directory set through the API since its first start.
    Operators,
    /// This process: the simulator's directory is the one it was given.
    Ours,
}

async fn upsert_pbx(
    provisioning: &Provisioning,
    tenant: &str,
    mut input: PbxServerInput,
    apply: ApplySettings,
) -> anyhow::Result<()> {
    let system = system_actor(tenant);
    let existing = provisioning
        .list_pbx_servers(
            &system,
            Page {
                limit: 1000,
                offset: 0,
            },
        )
        .await
        .context("listing PBX servers")?
        .items
        .into_iter()
        .find(|p| p.name == input.name);
    match existing {
        Some(pbx) => {
            if apply == ApplySettings::Operators {
                input.apply_mode = pbx.apply_mode;
                input.config_dir = pbx.config_dir.clone();
            }
            provisioning
                .update_pbx_server(&system, pbx.id, input)
                .await
                .context("updating a PBX server")?;
        }
        None => {
            provisioning
                .create_pbx_server(&system, input)
                .await
                .context("registering a PBX server")?;
        }
    }
    Ok(())
}
