//! gRPC through the gateway's own port: the state API behind the bearer
//! token and the tenant rules of the REST API, server reflection, and
//! gRPC-Web over plain HTTP/1.1 — against a real `StateService` on the
//! in-process bus, fed with corpus envelopes for two tenants.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use futures::StreamExt;
use prost::Message as _;
use ringside_bus::{Outgoing, PbxId, TenantId, Token};
use ringside_proto::events::v1::Envelope;
use ringside_proto::state::v1 as pb;
use ringside_proto::state::v1::state_client::StateClient;
use ringside_state::replay::Replayer;
use ringside_state::service::{Deps, StateService, StateSettings};
use ringside_testkit::{TestBus, corpus};
use support::*;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(10);

fn envelopes(tenant: &str) -> Vec<Envelope> {
    let bytes = std::fs::read(corpus::path("basic-calls.ami")).unwrap();
    let mut r = Replayer::new(tenant, "pbx-1").keeping_envelopes();
    r.transcript(&bytes);
    r.envelopes().to_vec()
}

async fn publish(test: &TestBus, envs: &[Envelope]) {
    let subjects = test.topology.subjects();
    for env in envs {
        let kind = ringside_events::kind_name(env.kind.as_ref().unwrap());
        let subject = subjects.events(
            &TenantId::new(&env.tenant).unwrap(),
            &PbxId::new(&env.pbx).unwrap(),
            &Token::new(kind).unwrap(),
        );
        let id = format!("{}.{}.{}.{}", env.tenant, env.pbx, env.epoch, env.sequence);
        let msg = Outgoing::new(env.encode_to_vec()).with_msg_id(&id).unwrap();
        test.bus.publish(&subject, msg).await.unwrap();
    }
}

/// A gateway and a state service over one in-process bus; `acme` has the
/// first half of the corpus calls applied, `beta` all of them.
struct Fixture {
    app: TestApp,
    acme_rest: Vec<Envelope>,
    stop: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn fixture() -> Fixture {
    let test = TestBus::in_process();
    let deps = Deps {
        bus: test.bus.clone(),
        topology: test.topology.clone(),
    };
    let stop = CancellationToken::new();
    let service = StateService::start(StateSettings::default(), deps)
        .await
        .unwrap();
    tokio::spawn(service.run_until(stop.clone()));
    let acme = envelopes("acme");
    let (first, rest) = acme.split_at(acme.len() / 2);
    publish(&test, first).await;
    publish(&test, &envelopes("beta")).await;
    let app = spawn_app_on(test, settings()).await;
    Fixture {
        app,
        acme_rest: rest.to_vec(),
        stop,
    }
}

/// Sends the bearer token (if any) with every call, as a client library would.
#[derive(Clone)]
struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

type Client = StateClient<InterceptedService<Channel, Bearer>>;

async fn client(app: &TestApp, token: Option<String>) -> Client {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    StateClient::with_interceptor(channel, Bearer(token))
}

fn snapshot_request(tenant: &str) -> pb::GetSnapshotRequest {
    pb::GetSnapshotRequest {
        tenant: tenant.into(),
        ..Default::default()
    }
}

/// The tenant's snapshot once the state service has applied something.
async fn settled_snapshot(client: &mut Client, tenant: &str) -> pb::Snapshot {
    // Settled: something applied, and nothing more within 200 ms (the
    // fixture's envelopes are still being applied when the service starts
    // answering, and a watch from an early sequence may find its deltas
    // already out of the service's history).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last: Option<pb::Snapshot> = None;
    loop {
        let snapshot = client
            .get_snapshot(snapshot_request(tenant))
            .await
            .unwrap()
            .into_inner();
        let applied = snapshot.seq.is_some_and(|seq| seq > 0);
        if applied && last.as_ref().is_some_and(|l| l.seq == snapshot.seq) {
            return snapshot;
        }
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        last = Some(snapshot);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated() {
    let f = fixture().await;
    let mut anonymous = client(&f.app, None).await;
    let err = anonymous
        .get_snapshot(snapshot_request(""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let mut forged = client(&f.app, Some("not.a.token".into())).await;
    let err = forged.get_snapshot(snapshot_request("")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn a_user_reads_their_own_tenant_and_no_other() {
    let f = fixture().await;
    let token = f.app.login("viewer").await;
    let mut viewer = client(&f.app, Some(token)).await;
    // No tenant named: the caller's own.
    let own = settled_snapshot(&mut viewer, "").await;
    assert!(!own.calls.is_empty() || !own.channels.is_empty() || !own.endpoints.is_empty());
    let json = format!("{own:?}");
    assert!(!json.contains("\"beta\""), "no entry of another tenant");
    // Another tenant does not exist for them, as over REST.
    let err = viewer
        .get_snapshot(snapshot_request("beta"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = viewer
        .list_calls(pb::ListCallsRequest {
            tenant: "beta".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

#[tokio::test]
async fn a_platform_admin_may_read_another_tenant() {
    let f = fixture().await;
    let token = f.app.login("root").await;
    let mut root = client(&f.app, Some(token)).await;
    let beta = settled_snapshot(&mut root, "beta").await;
    assert!(beta.seq.is_some_and(|seq| seq > 0));
}

#[tokio::test]
async fn deltas_stream_through_the_gateway() {
    let f = fixture().await;
    let token = f.app.login("viewer").await;
    let mut viewer = client(&f.app, Some(token)).await;
    let before = settled_snapshot(&mut viewer, "").await.seq.unwrap();
    let mut deltas = viewer
        .watch_deltas(pb::WatchDeltasRequest {
            tenant: String::new(),
            after_seq: Some(before),
        })
        .await
        .unwrap()
        .into_inner();
    publish(f.app.test_bus.as_ref().unwrap(), &f.acme_rest).await;
    let first = tokio::time::timeout(WAIT, deltas.next())
        .await
        .expect("a delta")
        .expect("the stream stays open")
        .unwrap();
    assert_eq!(first.seq, before + 1, "stitched to the snapshot");
    assert_eq!(first.tenant, "acme");
}

#[tokio::test]
async fn reflection_lists_the_services_without_a_token() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let f = fixture().await;
    let channel = Channel::from_shared(format!("http://{}", f.app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "ringside.state.v1.State"),
        "{names:?}"
    );
}

#[tokio::test]
async fn grpc_web_works_over_http1() {
    let f = fixture().await;
    let token = f.app.login("viewer").await;
    // Wait until the state service has something, over native gRPC.
    settled_snapshot(&mut client(&f.app, Some(token.clone())).await, "").await;

    let body = snapshot_request("").encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&body);
    let addr = f.app.addr;
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /ringside.state.v1.State/GetSnapshot HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            frame.len()
        )
        .unwrap();
        stream.write_all(&frame).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("application/grpc-web"),
        "{text}"
    );
    // The trailers travel in the body as a frame of their own.
    assert!(text.contains("grpc-status:0"), "{text}");
}
