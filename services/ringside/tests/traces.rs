//! One AMI event is one trace across the services: `ringside ingestor`,
//! `ringside state` and `ringside gateway` run as separate processes against
//! the real NATS (and the gateway's accounts on the real PostgreSQL), all
//! exporting to a local OTLP/gRPC receiver; a WebSocket client watches the
//! live views. Some trace must hold a span of each of the three services,
//! linked parent to child through the bus headers. And a caller's own trace
//! context is continued: a REST call carrying `traceparent` that sends an
//! AMI action is one trace through the gateway into the ingestor, and a
//! gRPC call to the state service joins its caller's trace.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use ringside_testkit::{TestBus, free_port, nats_url};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The key the Compose file and the smoke test use for the `test` database.
const SECRET_KEY: &str = "00000000000000000000000000000000000000000000000000000000deadbeef";
const DATABASE: &str = "postgres://postgres@127.0.0.1:5432/test";
const JWT: &str = "trace-test-secret-0123456789abcdef0123456789";

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ringside(prefix: &str, otlp: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringside"));
    c.env("RINGSIDE__BUS__NATS__URL", nats_url())
        .env("RINGSIDE__BUS__PREFIX", prefix)
        .env("RINGSIDE__BUS__RETENTION__STORAGE", "memory")
        .env("RINGSIDE__BUS__RETENTION__EVENTS_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__EVENTS_MAX_BYTES", "67108864")
        .env("RINGSIDE__BUS__RETENTION__AMI_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__AMI_MAX_BYTES", "67108864")
        .env("RINGSIDE__BUS__RETENTION__CALLS_MAX_AGE", "1h")
        .env("RINGSIDE__BUS__RETENTION__PROV_MAX_AGE", "1h")
        .env("RINGSIDE__PROVISIONING__DATABASE__URL", DATABASE)
        .env("RINGSIDE__PROVISIONING__SECRET_KEY", SECRET_KEY)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env_remove("OTEL_SERVICE_NAME")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn login(addr: &str, user: &str, password: &str) -> Option<String> {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let json = response.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["access_token"].as_str().map(str::to_owned)
}

/// trace id → the services that exported a span of it.
fn services_by_trace(
    requests: &[ExportTraceServiceRequest],
) -> BTreeMap<Vec<u8>, BTreeSet<String>> {
    let mut out: BTreeMap<Vec<u8>, BTreeSet<String>> = BTreeMap::new();
    for request in requests {
        for rs in &request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.entry(span.trace_id.clone())
                        .or_default()
                        .insert(service.clone());
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ami_event_is_one_trace_from_the_ingestor_through_the_state_service_to_the_websocket() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let sim = ringside_pbx_sim::start(ringside_pbx_sim::SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: "admin".into(),
        secret: "sim-secret".into(),
        calls_per_second: 2.0,
        ..Default::default()
    })
    .await
    .unwrap();
    // A bus of its own (random prefix), whose streams are deleted at the end.
    let test = TestBus::nats().await;
    let prefix = test.prefix().expect("a test prefix").as_str().to_owned();
    let pbx = format!(
        "ami://admin:sim-secret@{}?tenant=default&id=trace-pbx",
        sim.local_addr()
    );

    // A user of tenant `default` for the WebSocket client.
    let user = format!("trace-{}", &prefix[1..]);
    let password = "trace-password-123";
    let mut admin = ringside(&prefix, &otlp)
        .args([
            "admin",
            "create-user",
            "--tenant",
            "default",
            "--role",
            "operator",
        ])
        .args(["--username", &user, "--password-stdin"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(admin.wait().unwrap().success(), "admin create-user");

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let grpc_addr = format!("127.0.0.1:{}", free_port());
    let _state = Proc(
        ringside(&prefix, &otlp)
            .arg("state")
            .env("RINGSIDE__STATE__GRPC_LISTEN", &grpc_addr)
            .spawn()
            .unwrap(),
    );
    let _gateway = Proc(
        ringside(&prefix, &otlp)
            .arg("gateway")
            .env("RINGSIDE__GATEWAY__LISTEN", &addr)
            .env("RINGSIDE__GATEWAY__JWT_SECRET", JWT)
            .spawn()
            .unwrap(),
    );
    let mut token = None;
    for _ in 0..100 {
        token = login(&addr, &user, password);
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = token.expect("the gateway lets the user in");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws.send(Message::Text(
        serde_json::json!({"type": "auth", "token": token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // The client is subscribed before the PBX's events start.
    tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("an InitialState")
        .unwrap()
        .unwrap();
    let _ingestor = Proc(
        ringside(&prefix, &otlp)
            .args(["ingestor", "--pbx", &pbx])
            .spawn()
            .unwrap(),
    );
    tokio::spawn(async move { while ws.next().await.is_some() {} });

    let wanted: BTreeSet<String> = ["ringside-ingestor", "ringside-state", "ringside-gateway"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut requests = Vec::new();
    wait_for_trace(&mut rx, &mut requests, |by_trace| {
        by_trace.values().any(|services| wanted.is_subset(services))
    })
    .await
    .unwrap_or_else(|seen| panic!("no trace with spans of {wanted:?} within a minute; {seen}"));

    // A caller's trace context is honoured: a REST call that sends an AMI
    // action continues the caller's trace through the gateway into the
    // ingestor (over the bus), and a gRPC call to the state service
    // continues its caller's.
    let rest_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer = http_post(
        &addr,
        "/api/v1/pbx/trace-pbx/actions",
        &token,
        &format!("00-{rest_trace}-00f067aa0ba902b7-01"),
        r#"{"Action": "Ping"}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let grpc_trace = "0af7651916cd43dd8448eb211c80319c";
    let mut client = ringside_proto::state::v1::state_client::StateClient::connect(format!(
        "http://{grpc_addr}"
    ))
    .await
    .expect("the state gRPC API");
    let mut request = tonic::Request::new(ringside_proto::state::v1::GetSnapshotRequest {
        tenant: "default".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{grpc_trace}-b7ad6b7169203331-01")
            .parse()
            .unwrap(),
    );
    client.get_snapshot(request).await.expect("a snapshot");

    let id = |hex: &str| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let (rest_id, grpc_id) = (id(rest_trace), id(grpc_trace));
    let has = |by_trace: &BTreeMap<Vec<u8>, BTreeSet<String>>, trace: &[u8], services: &[&str]| {
        by_trace
            .get(trace)
            .is_some_and(|seen| services.iter().all(|s| seen.contains(*s)))
    };
    wait_for_trace(&mut rx, &mut requests, |by_trace| {
        has(
            by_trace,
            &rest_id,
            &["ringside-gateway", "ringside-ingestor"],
        ) && has(by_trace, &grpc_id, &["ringside-state"])
    })
    .await
    .unwrap_or_else(|seen| panic!("the callers' traces were not continued: {seen}"));
    sim.shutdown().await;
}

/// Collects exports until `done` holds of them, for up to a minute; on
/// timeout, what was seen.
async fn wait_for_trace(
    rx: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    requests: &mut Vec<ExportTraceServiceRequest>,
    done: impl Fn(&BTreeMap<Vec<u8>, BTreeSet<String>>) -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let by_trace = services_by_trace(requests);
        if done(&by_trace) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(request)) => requests.push(request),
            _ => {
                let seen: BTreeSet<&String> = by_trace.values().flatten().collect();
                return Err(format!("{} traces from {seen:?}", by_trace.len()));
            }
        }
    }
}

/// A POST with a bearer token and a `traceparent`; the whole response.
fn http_post(addr: &str, path: &str, token: &str, traceparent: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         traceparent: {traceparent}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
