//! `ringside ingestor` as real processes against the real NATS: two replicas
//! share a PBX through a lease; killing the owner (SIGKILL: no clean release)
//! hands the PBX to the other within 15 s on the default lease settings.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use ringside_bus::{KvConfig, ReadSpec, StartPosition, StreamRole};
use ringside_pbx_sim::SimConfig;
use ringside_proto::events::v1::Envelope;
use ringside_proto::events::v1::envelope::Kind;
use ringside_testkit::{TestBus, nats_url};

/// A child process killed (SIGKILL) on drop.
struct Proc(Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `ringside` binary with this test's bus prefix and retention (so it uses
/// the same streams the test reads and cleans up).
fn ringside(prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringside"));
    command
        .env("RINGSIDE__BUS__NATS__URL", nats_url())
        .env("RINGSIDE__BUS__PREFIX", prefix)
        .env("RINGSIDE__BUS__RETENTION__STORAGE", "memory")
        .env("RINGSIDE__BUS__RETENTION__EVENTS_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__EVENTS_MAX_BYTES", "67108864")
        .env("RINGSIDE__BUS__RETENTION__AMI_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__AMI_MAX_BYTES", "67108864")
        .env("RINGSIDE__BUS__RETENTION__CALLS_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__PROV_MAX_AGE", "1h")
        .env("RUST_LOG", "warn");
    command
}

/// `ringside ingestor` as replica `replica`, watching `pbx_url`.
fn ingestor(prefix: &str, replica: &str, pbx_url: &str) -> Proc {
    let child = ringside(prefix)
        .args(["ingestor", "--pbx", pbx_url])
        .env("RINGSIDE__INGESTOR__LEASE__REPLICA_ID", replica)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ringside binary starts");
    Proc(child)
}

async fn lease_owner(test: &TestBus) -> Option<String> {
    let kv = test
        .bus
        .kv(
            &test.topology.bucket_name("ringside_ingestor_leases"),
            KvConfig::default(),
        )
        .await
        .ok()?;
    let entry = kv.get("acme.pbx-1").await.ok()??;
    let value: serde_json::Value = serde_json::from_slice(&entry.value).ok()?;
    value["owner"].as_str().map(str::to_owned)
}

/// A small simulated PBX and its `ami://` URL (tenant `acme`, id `pbx-1`).
async fn small_pbx(calls_per_second: f64) -> (ringside_pbx_sim::Simulator, String) {
    let sim = ringside_pbx_sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: "lab".into(),
        secret: "labsecret".into(),
        endpoints: 5,
        trunks: 1,
        calls_per_second,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!(
        "ami://lab:labsecret@{}?tenant=acme&id=pbx-1",
        sim.local_addr()
    );
    (sim, url)
}

type Events =
    futures::stream::BoxStream<'static, Result<ringside_bus::Delivered, ringside_bus::BusError>>;

/// The next `Connected` event, if one comes within `within`.
async fn next_connected(events: &mut Events, within: Duration) -> Option<Envelope> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let item = tokio::time::timeout_at(deadline, events.next())
            .await
            .ok()??;
        let envelope = Envelope::decode(item.ok()?.payload).ok()?;
        if matches!(envelope.kind, Some(Kind::Connected(_))) {
            return Some(envelope);
        }
    }
}

#[tokio::test]
async fn a_killed_owner_hands_its_pbx_to_the_other_replica_within_15_seconds() {
    let test = TestBus::nats().await;
    let prefix = test.prefix().expect("a prefixed test bus").to_string();
    let (sim, url) = small_pbx(0.0).await;
    let mut a = ingestor(&prefix, "replica-a", &url);
    let mut b = ingestor(&prefix, "replica-b", &url);

    let filter = test.topology.subjects().events_filter(None, None, None);
    let spec = ReadSpec::new(test.topology.stream_name(StreamRole::Events))
        .start(StartPosition::All)
        .filter(filter);
    let mut events = loop {
        // The streams exist once an ingestor has connected.
        match test.bus.read_stream(spec.clone()).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let first = next_connected(&mut events, Duration::from_secs(20))
        .await
        .expect("one replica connects to the PBX");
    let owner = lease_owner(&test).await.expect("the owner holds a lease");
    assert_eq!(
        sim.logged_in(),
        1,
        "exactly one replica is connected to the PBX"
    );

    let (survivor, killed) = if owner == "replica-a" {
        ("replica-b", &mut a)
    } else {
        ("replica-a", &mut b)
    };
    killed.kill();
    let second = next_connected(&mut events, Duration::from_secs(15))
        .await
        .expect("the other replica takes the PBX over within 15 s");
    assert!(second.epoch > first.epoch, "a new connection epoch");
    assert_eq!(lease_owner(&test).await.as_deref(), Some(survivor));
    sim.shutdown().await;
}

/// Runs a tool to completion and returns its stdout lines.
fn tool_lines(prefix: &str, args: &[&str]) -> Vec<String> {
    let out = ringside(prefix).args(args).output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn events_tail_and_ami_log_read_back_what_the_ingestor_published() {
    let test = TestBus::nats().await;
    let prefix = test.prefix().expect("a prefixed test bus").to_string();
    let (sim, url) = small_pbx(20.0).await;
    let _ingestor = ingestor(&prefix, "replica-a", &url);

    // Wait (bounded) until the first resync is on the bus.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let synced = loop {
        let lines = tool_lines(
            &prefix,
            &[
                "events",
                "tail",
                "--tenant",
                "acme",
                "--kind",
                "SyncCompleted",
                "--since",
                "1m",
                "--no-follow",
            ],
        );
        if !lines.is_empty() || tokio::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first: serde_json::Value = serde_json::from_str(&synced[0]).expect("a JSON line");
    assert_eq!(first["tenant"], "acme");
    assert_eq!(first["pbx"], "pbx-1");
    assert!(first["syncCompleted"]["lists"].is_array(), "{first}");
    tokio::time::sleep(Duration::from_secs(1)).await; // some calls happen

    let log = tool_lines(
        &prefix,
        &[
            "ami",
            "log",
            "--pbx",
            "pbx-1",
            "--exclude",
            "Event=VarSet,Newexten",
        ],
    );
    assert!(log.len() > 10, "the stored AMI stream: {} lines", log.len());
    let names: Vec<String> = log
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            assert_eq!(
                (v["tenant"].as_str(), v["pbx"].as_str()),
                (Some("acme"), Some("pbx-1"))
            );
            v["name"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert!(
        names.iter().any(|n| n == "FullyBooted"),
        "the log starts at the login"
    );
    assert!(
        names.iter().any(|n| n == "Newchannel"),
        "calls are in the log"
    );
    assert!(
        !names.iter().any(|n| n == "VarSet" || n == "Newexten"),
        "excluded events are left out"
    );

    let raw = tool_lines(
        &prefix,
        &[
            "ami",
            "log",
            "--pbx",
            "pbx-1",
            "--format",
            "ami",
            "--include",
            "Event=FullyBooted",
        ],
    );
    assert_eq!(
        raw.first().map(String::as_str),
        Some("Event: FullyBooted"),
        "raw AMI text, as sent"
    );
    sim.shutdown().await;
}
