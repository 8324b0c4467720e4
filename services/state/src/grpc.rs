//! The gRPC API `ringside.state.v1.State` (proto/ringside/state/v1/state.proto).
//!
//! It answers from the bus, not from an engine in the same process: a
//! snapshot is a request on `<root>.<tenant>.state.snapshot` and deltas are
//! the `<root>.<tenant>.view.>` subjects, exactly what the gateway uses
//! (docs/live-views.md). So it can run in any process that has a bus — the
//! state service's, the gateway's, or the monolith — and it serves whichever
//! shard owns the tenant.
//!
//! `WatchDeltas` stitches the live subjects to a sequence: it subscribes
//! first, then asks for the tenant's current sequence, drops the deltas at or
//! below the stitch point and streams the rest in order. The live subjects
//! are at-most-once, so a hole ends the stream with `DATA_LOSS` and the
//! client re-fetches a snapshot.
//!
//! Every request names its tenant and gets only that tenant's entries (the
//! subjects are the tenant's, and entries of any other tenant are dropped
//! besides). This layer does **not** authenticate: whoever mounts it must
//! check that the caller may act for the tenant it names.

mod convert;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use ringside_bus::{Bus, BusError, Delivered, Outgoing, PbxId, Subjects, TenantId};
use ringside_proto::state::v1 as pb;
use ringside_proto::state::v1::state_server::{State, StateServer};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::deltas::Delta;
use crate::service::{Deps, SnapshotReply, SnapshotRequest};
use crate::views::Snapshot;

/// How long a snapshot request to the state service may take (time travel
/// replays the stream, so it is generous).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The `State` service over a bus.
#[derive(Clone)]
pub struct StateApi {
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    timeout: Duration,
    /// Ends the delta streams (a server drains its calls before it stops,
    /// and a delta stream never ends by itself).
    closing: CancellationToken,
}

impl StateApi {
    pub fn new(deps: Deps) -> Self {
        Self::over(deps.bus, deps.topology.subjects().clone())
    }

    /// The API over `bus`, answered by whichever state service serves the
    /// snapshot requests of `subjects` (the gateway hosts it this way).
    pub fn over(bus: Arc<dyn Bus>, subjects: Subjects) -> Self {
        StateApi {
            bus,
            subjects,
            timeout: REQUEST_TIMEOUT,
            closing: CancellationToken::new(),
        }
    }

    /// Ends every delta stream when `shutdown` is cancelled.
    pub fn closing_on(mut self, shutdown: CancellationToken) -> Self {
        self.closing = shutdown;
        self
    }

    /// Changes how long a snapshot request may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks the state service for a tenant's views (only that tenant's
    /// entries are kept).
    async fn fetch(
        &self,
        tenant: &TenantId,
        pbx: Option<&PbxId>,
        at_ms: Option<i64>,
    ) -> Result<(Option<u64>, Snapshot), Status> {
        let body = serde_json::to_vec(&SnapshotRequest {
            pbx: pbx.map(|p| p.as_str().to_owned()),
            at_ms,
        })
        .map_err(|e| Status::internal(format!("encoding a snapshot request: {e}")))?;
        let reply = self
            .bus
            .request(
                &self.subjects.state_snapshot(tenant),
                Outgoing::new(Bytes::from(body)),
                self.timeout,
            )
            .await
            .map_err(|e| match e {
                BusError::NoResponders { .. } | BusError::Timeout => {
                    Status::unavailable("the state service is not answering")
                }
                other => {
                    tracing::warn!(error = %other, "snapshot request failed");
                    Status::unavailable("the bus is not reachable")
                }
            })?;
        match serde_json::from_slice::<Answer>(&reply.payload) {
            Ok(Answer::Snapshot(SnapshotReply { seq, mut snapshot })) => {
                keep_tenant(&mut snapshot, tenant.as_str());
                Ok((seq, snapshot))
            }
            Ok(Answer::Error { error }) => Err(match error.code.as_str() {
                "bad_request" => Status::invalid_argument(error.message),
                "timeout" => Status::deadline_exceeded("the replay took too long"),
                _ => {
                    tracing::warn!(code = %error.code, message = %error.message, "the state service refused a snapshot");
                    Status::unavailable("the state service could not answer")
                }
            }),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable snapshot reply");
                Err(Status::unavailable(
                    "unreadable answer from the state service",
                ))
            }
        }
    }
}

/// The state service's answer to a snapshot request.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Snapshot(SnapshotReply),
    Error { error: ErrorBody },
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Defence in depth: whatever answered, no entry of another tenant leaves.
fn keep_tenant(s: &mut Snapshot, tenant: &str) {
    s.pbxs.retain(|e| e.tenant == tenant);
    s.endpoints.retain(|e| e.tenant == tenant);
    s.trunks.retain(|e| e.tenant == tenant);
    s.channels.retain(|e| e.tenant == tenant);
    s.calls.retain(|e| e.tenant == tenant);
    s.bridges.retain(|e| e.tenant == tenant);
    s.queues.retain(|e| e.tenant == tenant);
    s.conferences.retain(|e| e.tenant == tenant);
}

fn parse_tenant(tenant: &str) -> Result<TenantId, Status> {
    TenantId::new(tenant)
        .map_err(|_| Status::invalid_argument("tenant must be a valid tenant id ([A-Za-z0-9_-]+)"))
}

fn parse_pbx(pbx: &str) -> Result<PbxId, Status> {
    PbxId::new(pbx)
        .map_err(|_| Status::invalid_argument("pbx must be a valid PBX id ([A-Za-z0-9_-]+)"))
}

/// The directions a call can have (`ListCallsRequest.direction`).
const DIRECTIONS: [&str; 3] = ["inbound", "outbound", "internal"];

/// Runs a unary call and records its latency in
/// `ringside_grpc_request_duration_seconds` (service, method, status code).
async fn timed<T>(
    method: &'static str,
    call: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let started = std::time::Instant::now();
    let result = call.await;
    let code = match &result {
        Ok(_) => "OK".to_owned(),
        Err(status) => format!("{:?}", status.code()),
    };
    metrics::histogram!(
        "ringside_grpc_request_duration_seconds",
        "service" => "ringside.state.v1.State",
        "method" => method,
        "code" => code,
    )
    .record(started.elapsed().as_secs_f64());
    result
}

type DeltaStream = Pin<Box<dyn Stream<Item = Result<pb::Delta, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl State for StateApi {
    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::Snapshot>, Status> {
        timed("GetSnapshot", async move {
            let req = request.into_inner();
            let tenant = parse_tenant(&req.tenant)?;
            let pbx = req.pbx.as_deref().map(parse_pbx).transpose()?;
            if req.at_ms.is_some_and(|at| at < 0) {
                return Err(Status::invalid_argument("at_ms must not be negative"));
            }
            let (seq, snapshot) = self.fetch(&tenant, pbx.as_ref(), req.at_ms).await?;
            Ok(Response::new(convert::snapshot(seq, snapshot)))
        })
        .await
    }

    type WatchDeltasStream = DeltaStream;

    async fn watch_deltas(
        &self,
        request: Request<pb::WatchDeltasRequest>,
    ) -> Result<Response<DeltaStream>, Status> {
        let req = request.into_inner();
        let tenant = parse_tenant(&req.tenant)?;
        // Subscribe first: whatever is published after the sequence the
        // service reports next is then in the subscription.
        let pattern = format!("{}.{}.view.>", self.subjects.root(), tenant.as_str());
        let deltas = self.bus.subscribe(&pattern).await.map_err(|e| {
            tracing::warn!(error = %e, "delta subscription failed");
            Status::unavailable("the bus is not reachable")
        })?;
        let (now, _) = self.fetch(&tenant, None, None).await?;
        let now = now.unwrap_or(0);
        let from = match req.after_seq {
            None => now,
            Some(after) if after == now => after,
            Some(after) if after < now => {
                return Err(Status::out_of_range(format!(
                    "the deltas after {after} are gone (the tenant is at {now}): fetch a snapshot"
                )));
            }
            Some(after) => {
                return Err(Status::out_of_range(format!(
                    "after_seq {after} is ahead of the tenant's sequence ({now})"
                )));
            }
        };
        Ok(Response::new(Box::pin(stitched(
            deltas,
            tenant.as_str().to_owned(),
            from,
            self.closing.clone(),
        ))))
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        timed("ListCalls", async move {
            let req = request.into_inner();
            let tenant = parse_tenant(&req.tenant)?;
            let pbx = req.pbx.as_deref().map(parse_pbx).transpose()?;
            let state = pb::CallState::try_from(req.state).map_err(|_| {
                Status::invalid_argument(format!("unknown call state {}", req.state))
            })?;
            if let Some(d) = &req.direction
                && !DIRECTIONS.contains(&d.as_str())
            {
                return Err(Status::invalid_argument(
                    "direction must be inbound, outbound or internal",
                ));
            }
            let (seq, snapshot) = self.fetch(&tenant, pbx.as_ref(), None).await?;
            let calls = snapshot
                .calls
                .into_iter()
                .filter(|c| {
                    state == pb::CallState::Unspecified || convert::call_state(c.state) == state
                })
                .filter(|c| req.direction.as_ref().is_none_or(|d| c.direction == *d))
                .map(convert::call)
                .collect();
            Ok(Response::new(pb::ListCallsResponse {
                seq: seq.unwrap_or(0),
                calls,
            }))
        })
        .await
    }

    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::Call>, Status> {
        timed("GetCall", async move {
            let req = request.into_inner();
            let tenant = parse_tenant(&req.tenant)?;
            let pbx = parse_pbx(&req.pbx)?;
            if req.id.is_empty() {
                return Err(Status::invalid_argument("id (the linkedid) is required"));
            }
            let (_, snapshot) = self.fetch(&tenant, Some(&pbx), None).await?;
            snapshot
                .calls
                .into_iter()
                .find(|c| c.id == req.id && c.pbx == req.pbx)
                .map(|c| Response::new(convert::call(c)))
                .ok_or_else(|| Status::not_found(format!("no call {} on {}", req.id, req.pbx)))
        })
        .await
    }
}

/// The deltas after `from`, in order; `DATA_LOSS` at the first hole.
fn stitched(
    deltas: futures::stream::BoxStream<'static, Delivered>,
    tenant: String,
    from: u64,
    closing: CancellationToken,
) -> impl Stream<Item = Result<pb::Delta, Status>> + Send + 'static {
    struct St {
        deltas: futures::stream::BoxStream<'static, Delivered>,
        tenant: String,
        last: u64,
        done: bool,
        closing: CancellationToken,
    }
    futures::stream::unfold(
        St {
            deltas,
            tenant,
            last: from,
            done: false,
            closing,
        },
        |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                let next = tokio::select! {
                    () = st.closing.cancelled() => return None,
                    next = st.deltas.next() => next,
                };
                let Some(msg) = next else {
                    st.done = true;
                    return Some((
                        Err(Status::unavailable("the bus closed the delta subscription")),
                        st,
                    ));
                };
                let delta: Delta = match serde_json::from_slice(&msg.payload) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(subject = %msg.subject, error = %e, "not a delta: skipped");
                        continue;
                    }
                };
                if *delta.tenant != *st.tenant || delta.seq <= st.last {
                    // Another tenant's (never on these subjects), or already
                    // in the client's snapshot, or a copy from a replica.
                    continue;
                }
                if delta.seq != st.last + 1 {
                    st.done = true;
                    let status = Status::data_loss(format!(
                        "deltas {}..{} were missed: fetch a snapshot",
                        st.last + 1,
                        delta.seq - 1
                    ));
                    return Some((Err(status), st));
                }
                st.last = delta.seq;
                return Some((Ok(convert::delta(delta)), st));
            }
        },
    )
}

/// The `State` service as tonic routes, to mount beside others (the
/// gateway's gRPC, or an axum router through `Routes::into_axum_router`).
///
/// Its delta streams end only when their clients leave: a server that
/// drains calls on shutdown should use [`StateApi::closing_on`] (as
/// [`serve_grpc`] does) with `Routes::new(StateServer::new(api))`.
pub fn grpc_routes(deps: Deps) -> tonic::service::Routes {
    tonic::service::Routes::new(StateServer::new(StateApi::new(deps)))
}

/// A bound gRPC listener of the `State` service.
pub struct GrpcServer {
    listener: tokio::net::TcpListener,
    deps: Deps,
}

impl GrpcServer {
    /// Binds `addr` (port 0: any free port; see [`GrpcServer::local_addr`]).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(addr: SocketAddr, deps: Deps) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the state gRPC address {addr}"))?;
        Ok(GrpcServer { listener, deps })
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// The socket has no local address (not expected once bound).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, then lets calls in progress finish.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let api = StateApi::new(self.deps).closing_on(shutdown.clone());
        tonic::transport::Server::builder()
            .trace_fn(ringside_telemetry::server_span)
            .add_service(StateServer::new(api))
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a small message can wait for the
                // client's delayed ACK (up to 40 ms).
                tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                shutdown.cancelled_owned(),
            )
            .await
            .context("serving the state gRPC API")
    }
}

/// Serves the `State` gRPC API on `addr` until `shutdown`.
///
/// # Errors
/// As [`GrpcServer::bind`] and [`GrpcServer::run_until`].
pub async fn serve_grpc(
    addr: SocketAddr,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let server = GrpcServer::bind(addr, deps).await?;
    tracing::info!(addr = %server.local_addr()?, "state gRPC API listening");
    server.run_until(shutdown).await
}
