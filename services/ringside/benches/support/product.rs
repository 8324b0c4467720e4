//! The product under test, wired as `services/ringside/src/commands/monolith.rs`
//! wires it: provisioning on SQLite (for the accounts and the admin routes),
//! the ingestor, the state service and the gateway on one bus — the
//! in-process bus (monolithic mode) or NATS JetStream with a random subject
//! prefix (microservices mode, all three services in this process).
//!
//! The PBX is pbx-sim replaying a synthetic transcript, reached through the
//! stamping proxy, so the ingestor reads stamped messages.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ringside_ami_ingestor::{IngestorSettings, PbxSettings};
use ringside_bus::Storage;
use ringside_gateway::GatewayDeps;
use ringside_gateway::admin::{ProvisioningAccounts, admin_router};
use ringside_pbx_sim::{ReplayConfig, SimConfig, Speed};
use ringside_provisioning::{DatabaseSettings, Provisioning, ProvisioningSettings, Role};
use ringside_testkit::{TestBus, nats_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::proxy::{self, Stats};

const PASSWORD: &str = "bench-admin-password";

/// Which bus the services share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ringside` with no command: the in-process bus.
    Monolithic,
    /// NATS JetStream at 127.0.0.1:4222 (or `RINGSIDE_TEST_NATS_URL`).
    Nats,
}

/// A running product, its PBX and its proxy.
pub struct Product {
    pub addr: SocketAddr,
    pub token: String,
    pub stats: Arc<Stats>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    sim: ringside_pbx_sim::Simulator,
    _bus: TestBus,
    _data: tempfile::TempDir,
}

impl Product {
    /// Starts pbx-sim on `transcript` (recorded pace, looped), the proxy and
    /// the services, and logs in as the admin.
    pub async fn start(mode: Mode, transcript: &Path) -> Product {
        let sim = ringside_pbx_sim::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            username: "bench".into(),
            secret: "bench".into(),
            replay: Some(ReplayConfig {
                path: transcript.to_owned(),
                speed: Speed::Recorded,
                looped: true,
            }),
            ..SimConfig::default()
        })
        .await
        .expect("the simulator starts");
        let (pbx_addr, stats) = proxy::start(sim.local_addr()).await;

        let test = match mode {
            Mode::Monolithic => TestBus::in_process(),
            // File storage, as deployments store their streams
            // (`retention.storage`): with streams in memory, every stored
            // message stays on the server's Go heap, and its garbage
            // collector, marking a heap that grows through the run, took
            // the p99 from 13–17 to 28–31 ms.
            Mode::Nats => {
                TestBus::nats_with(&nats_url(), Duration::from_secs(5), Storage::File).await
            }
        };
        let bus = test.bus.clone();
        let topology = test.topology.clone();
        let data = tempfile::tempdir().expect("a temp dir");
        let provisioning = Arc::new(
            Provisioning::open(
                &ProvisioningSettings {
                    database: DatabaseSettings {
                        url: None,
                        data_dir: data.path().to_owned(),
                        ..DatabaseSettings::default()
                    },
                    secret_key: None,
                    admin_password: None,
                },
                bus.clone(),
                topology.clone(),
            )
            .await
            .expect("provisioning on SQLite"),
        );
        provisioning
            .bootstrap_user("default", "admin", PASSWORD, Role::PlatformAdmin)
            .await
            .expect("the first admin");

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let pbx = PbxSettings::from_url(&format!(
            "ami://bench:bench@{pbx_addr}?tenant=default&id=sim"
        ))
        .expect("a PBX URL");
        let ingestor = IngestorSettings {
            pbx: vec![pbx],
            ..IngestorSettings::default()
        };
        let deps = ringside_ami_ingestor::Deps {
            bus: bus.clone(),
            topology: topology.clone(),
        };
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = ringside_ami_ingestor::run(ingestor, deps, stop).await {
                eprintln!("ingestor: {e:#}");
            }
        });
        let state = ringside_state::service::StateService::start(
            ringside_state::service::StateSettings::default(),
            ringside_state::service::Deps {
                bus: bus.clone(),
                topology: topology.clone(),
            },
        )
        .await
        .expect("the state service starts");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = state.run_until(stop).await {
                eprintln!("state: {e:#}");
            }
        });
        let settings = ringside_gateway::settings::GatewaySettings {
            listen: "127.0.0.1:0".parse().expect("an address"),
            jwt_secret: "bench-secret-bench-secret-bench-secret-0123456789".into(),
            monolithic: mode == Mode::Monolithic,
            ..Default::default()
        };
        let deps = GatewayDeps {
            bus: bus.clone(),
            subjects: topology.subjects().clone(),
            accounts: Arc::new(ProvisioningAccounts::new(provisioning.clone())),
            metrics: None,
            admin: Some(admin_router(provisioning.clone(), bus.clone())),
            provisioning: Some(provisioning.clone()),
        };
        let server = ringside_gateway::bind(settings, deps, shutdown.clone())
            .await
            .expect("the gateway binds");
        let addr = server.local_addr().expect("the gateway's address");
        tasks.spawn(async move {
            if let Err(e) = server.serve().await {
                eprintln!("gateway: {e:#}");
            }
        });
        let token = login(addr).await;
        Product {
            addr,
            token,
            stats,
            shutdown,
            tasks,
            sim,
            _bus: test,
            _data: data,
        }
    }

    /// Stops everything (bounded: a service that hangs is left behind).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        self.sim.shutdown().await;
    }
}

/// `POST /api/v1/auth/login` over a raw HTTP/1.1 connection.
async fn login(addr: SocketAddr) -> String {
    let body = serde_json::json!({"username": "admin", "password": PASSWORD}).to_string();
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the gateway");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("a request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("an answer");
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("login answer {answer:?}: {e}"));
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {answer}"))
        .to_owned()
}
