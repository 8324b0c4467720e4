//! "Send this action to PBX X": request/reply endpoints on the bus.
//!
//! * `ringside.v1.<tenant>.<pbx>.ami.action`, served by the replica that owns
//!   the PBX: the action goes to that PBX; the reply carries the response and
//!   its list events, correlated by ActionID even when other traffic
//!   interleaves.
//! * `ringside.v1.<tenant>.ami.action`, served by every replica in a queue
//!   group: fans the action out to all of the tenant's PBXs and gathers the
//!   replies.
//!
//! Payloads are JSON ([`ActionRequest`], [`ActionReply`]). Every action is
//! checked against the deny list and recorded for the audit log on
//! `ringside.v1.<tenant>.prov.ami_action` (who, which PBX, what, result) with
//! secret-bearing values masked.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ringside_ami::Action;
use ringside_ami::client::SendError;
use ringside_ami::json::MessageJson;
use ringside_bus::{Bus, BusError, Outgoing, PbxId, Request, Subjects, TenantId, Token};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::deny::DenyList;
use crate::lease::Leases;
use crate::worker::PbxHandle;

/// A request: the action's headers in order (keys may repeat: `Variable`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRequest {
    pub headers: Vec<(String, String)>,
    /// Who asked (user and tenant, as the gateway authenticated them).
    #[serde(default)]
    pub requested_by: String,
    /// How long to wait for the answer; the ingestor's default otherwise.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Why an action got no AMI answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFailure {
    /// `invalid`, `denied`, `not_connected`, `timeout`, `connection_lost`.
    pub code: String,
    pub message: String,
}

/// The answer of one PBX.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionReply {
    pub tenant: String,
    pub pbx: String,
    /// The response, and for list actions every list event (the closing
    /// `…Complete` last).
    pub response: Option<MessageJson>,
    #[serde(default)]
    pub events: Vec<MessageJson>,
    pub error: Option<ActionFailure>,
}

/// The answers of a tenant's PBXs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantActionReply {
    pub replies: Vec<ActionReply>,
}

/// An audit record of one action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionAudit {
    pub tenant: String,
    pub pbx: String,
    pub requested_by: String,
    pub action: String,
    /// Headers with secret-bearing values replaced by `***`.
    pub headers: Vec<(String, String)>,
    /// `ok`, `error` (Asterisk said Error) or a failure code.
    pub result: String,
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Header names whose values are never recorded.
fn is_secret_header(action: &str, key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "password", "passwd", "key", "md5cred"]
        .iter()
        .any(|s| k.contains(s))
        || (action.eq_ignore_ascii_case("UpdateConfig") && k.starts_with("value-"))
}

fn masked(action: &str, headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_header(action, k) {
                "***".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

fn build_action(headers: &[(String, String)]) -> Result<Action, ActionFailure> {
    let invalid = |message: String| ActionFailure {
        code: "invalid".into(),
        message,
    };
    let name = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Action"))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| invalid("no Action header".into()))?;
    let mut action = Action::new(name).map_err(|e| invalid(e.to_string()))?;
    for (k, v) in headers {
        // The ingestor owns ActionIDs: it correlates with them.
        if k.eq_ignore_ascii_case("Action") || k.eq_ignore_ascii_case("ActionID") {
            continue;
        }
        action.push(k, v).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(action)
}

/// Sends one request's action to one PBX.
pub async fn execute(
    handle: &PbxHandle,
    deny: &DenyList,
    request: &ActionRequest,
    default_timeout: Duration,
) -> (ActionReply, ActionAudit) {
    let mut reply = ActionReply {
        tenant: handle.tenant.to_string(),
        pbx: handle.pbx.to_string(),
        response: None,
        events: Vec::new(),
        error: None,
    };
    let name = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Action"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut audit = ActionAudit {
        tenant: reply.tenant.clone(),
        pbx: reply.pbx.clone(),
        requested_by: request.requested_by.clone(),
        headers: masked(&name, &request.headers),
        action: name,
        result: String::new(),
        message: String::new(),
        at_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default(),
    };
    let outcome = match build_action(&request.headers) {
        Err(failure) => Err(failure),
        Ok(action) => match deny.check(&action) {
            Some(reason) => Err(ActionFailure {
                code: "denied".into(),
                message: reason.to_owned(),
            }),
            None => {
                let wait = request
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(default_timeout);
                handle
                    .client
                    .send_with_timeout(action, wait)
                    .await
                    .map_err(|e| ActionFailure {
                        code: match e {
                            SendError::NotConnected | SendError::Closed => "not_connected",
                            SendError::Timeout(_) => "timeout",
                            SendError::ConnectionLost => "connection_lost",
                        }
                        .into(),
                        message: e.to_string(),
                    })
            }
        },
    };
    match outcome {
        Ok(response) => {
            audit.result = if response.is_success() { "ok" } else { "error" }.into();
            audit.message = response.get("Message").unwrap_or_default().to_owned();
            reply.response = Some(MessageJson::from(&response.message));
            reply.events = response.events.iter().map(MessageJson::from).collect();
        }
        Err(failure) => {
            audit.result = failure.code.clone();
            audit.message = failure.message.clone();
            reply.error = Some(failure);
        }
    }
    (reply, audit)
}

fn json_reply<T: Serialize>(value: &T) -> Outgoing {
    Outgoing::new(serde_json::to_vec(value).expect("replies serialize"))
}

fn invalid_request(tenant: &TenantId, pbx: &str, error: impl std::fmt::Display) -> ActionReply {
    ActionReply {
        tenant: tenant.to_string(),
        pbx: pbx.to_owned(),
        response: None,
        events: Vec::new(),
        error: Some(ActionFailure {
            code: "invalid".into(),
            message: format!("invalid request: {error}"),
        }),
    }
}

/// The next request, or `None` once `shutdown` fires or the subscription ends.
async fn next_request(
    requests: &mut futures::stream::BoxStream<'static, Request>,
    shutdown: &CancellationToken,
) -> Option<Request> {
    tokio::select! {
        _ = shutdown.cancelled() => None,
        next = requests.next() => next,
    }
}

/// Serves one PBX's action subject until `shutdown`.
pub async fn serve_pbx(
    handle: PbxHandle,
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    deny: Arc<DenyList>,
    default_timeout: Duration,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let subject = subjects.ami_action(&handle.tenant, &handle.pbx);
    let mut requests = bus.serve(&subject, None).await?;
    let audit_subject = subjects.prov(
        &handle.tenant,
        &Token::new("ami_action").expect("constant token"),
    );
    while let Some(request) = next_request(&mut requests, &shutdown).await {
        let (handle, bus, deny, audit_subject) = (
            handle.clone(),
            bus.clone(),
            deny.clone(),
            audit_subject.clone(),
        );
        let span = request_span(&request, &handle.tenant, handle.pbx.as_str());
        tokio::spawn(async move {
            let (reply, audit) = match serde_json::from_slice::<ActionRequest>(&request.msg.payload)
            {
                Ok(parsed) => {
                    let (reply, audit) = execute(&handle, &deny, &parsed, default_timeout).await;
                    (reply, Some(audit))
                }
                Err(e) => (
                    invalid_request(&handle.tenant, handle.pbx.as_str(), e),
                    None,
                ),
            };
            if let Some(audit) = audit {
                tracing::info!(
                    pbx = %audit.pbx, requested_by = %audit.requested_by, action = %audit.action,
                    result = %audit.result, "AMI action"
                );
                if let Err(e) = bus.publish(&audit_subject, json_reply(&audit)).await {
                    tracing::warn!(error = %e, "could not record the action in the audit log");
                }
            }
            if let Err(e) = request.respond(json_reply(&reply)).await {
                tracing::debug!(error = %e, "action reply not delivered");
            }
        }.instrument(span));
    }
    Ok(())
}

/// Serves a tenant's fan-out subject (queue group shared by replicas) until
/// `shutdown`: the action goes to every PBX with a lease under the tenant.
pub async fn serve_tenant(
    tenant: TenantId,
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    leases: Leases,
    default_timeout: Duration,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let subject = subjects.tenant_action(&tenant);
    let mut requests = bus.serve(&subject, Some("ringside-ingestor")).await?;
    while let Some(request) = next_request(&mut requests, &shutdown).await {
        let (tenant, bus, subjects, leases) = (
            tenant.clone(),
            bus.clone(),
            subjects.clone(),
            leases.clone(),
        );
        let span = request_span(&request, &tenant, "*");
        tokio::spawn(
            async move {
                let reply = fan_out(
                    &tenant,
                    &bus,
                    &subjects,
                    &leases,
                    &request.msg.payload,
                    default_timeout,
                )
                .await;
                if let Err(e) = request.respond(json_reply(&reply)).await {
                    tracing::debug!(error = %e, "tenant action reply not delivered");
                }
            }
            .instrument(span),
        );
    }
    Ok(())
}

/// The span an action request is served in: a child of the requester's
/// trace (the gateway's HTTP or WebSocket request) when it sent one.
fn request_span(request: &Request, tenant: &TenantId, pbx: &str) -> tracing::Span {
    let span = tracing::info_span!("ami action", %tenant, pbx);
    if let Some(traceparent) = request.msg.headers.traceparent()
        && let Err(e) = ringside_telemetry::set_parent_from(
            &span,
            traceparent,
            request.msg.headers.tracestate(),
        )
    {
        tracing::trace!(error = %e, "action request trace context not used");
    }
    span
}

async fn fan_out(
    tenant: &TenantId,
    bus: &Arc<dyn Bus>,
    subjects: &Subjects,
    leases: &Leases,
    payload: &bytes::Bytes,
    default_timeout: Duration,
) -> TenantActionReply {
    let wait = serde_json::from_slice::<ActionRequest>(payload)
        .ok()
        .and_then(|r| r.timeout_ms)
        .map(Duration::from_millis)
        .unwrap_or(default_timeout)
        + Duration::from_secs(1);
    let prefix = format!("{tenant}.");
    let pbxs: Vec<String> = match leases.keys_with_prefix(&prefix).await {
        Ok(keys) => keys
            .into_iter()
            .map(|k| k[prefix.len()..].to_owned())
            .collect(),
        Err(e) => {
            return TenantActionReply {
                replies: vec![invalid_request(
                    tenant,
                    "*",
                    format!("cannot list PBXs: {e}"),
                )],
            };
        }
    };
    let asks = pbxs.into_iter().map(|pbx| {
        let bus = bus.clone();
        let payload = payload.clone();
        let subject = PbxId::new(pbx.as_str()).map(|id| subjects.ami_action(tenant, &id));
        async move {
            let failed = |code: &str, message: String| ActionReply {
                tenant: tenant.to_string(),
                pbx: pbx.clone(),
                response: None,
                events: Vec::new(),
                error: Some(ActionFailure {
                    code: code.into(),
                    message,
                }),
            };
            let subject = match subject {
                Ok(s) => s,
                Err(e) => return failed("invalid", e.to_string()),
            };
            let mut msg = Outgoing::new(payload);
            if let Some((parent, trace_state)) = ringside_telemetry::current_traceparent() {
                let _ = msg
                    .headers
                    .set_trace_context(&parent, trace_state.as_deref());
            }
            match bus.request(&subject, msg, wait).await {
                Ok(answer) => serde_json::from_slice(&answer.payload)
                    .unwrap_or_else(|e| failed("invalid", format!("unreadable reply: {e}"))),
                Err(BusError::NoResponders { .. }) => {
                    failed("not_connected", "no ingestor owns this PBX".into())
                }
                Err(BusError::Timeout) => failed("timeout", format!("no reply in {wait:?}")),
                Err(e) => failed("not_connected", e.to_string()),
            }
        }
    });
    TenantActionReply {
        replies: futures::future::join_all(asks).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_audit_records() {
        let headers = vec![
            ("Action".to_owned(), "UpdateConfig".to_owned()),
            ("Var-000000".to_owned(), "password".to_owned()),
            ("Value-000000".to_owned(), "hunter2".to_owned()),
        ];
        let m = masked("UpdateConfig", &headers);
        assert_eq!(m[1].1, "password");
        assert_eq!(m[2].1, "***");
        let login = vec![
            ("Secret".to_owned(), "s".to_owned()),
            ("Key".to_owned(), "k".to_owned()),
        ];
        assert!(masked("Login", &login).iter().all(|(_, v)| v == "***"));
    }

    #[test]
    fn a_request_needs_an_action_and_cannot_inject_headers() {
        assert_eq!(build_action(&[]).unwrap_err().code, "invalid");
        let injected = [
            ("Action".to_owned(), "Hangup".to_owned()),
            ("Channel".to_owned(), "x\r\nAction: Command".to_owned()),
        ];
        assert_eq!(build_action(&injected).unwrap_err().code, "invalid");
        let ok = [
            ("Action".to_owned(), "Originate".to_owned()),
            ("ActionID".to_owned(), "mine".to_owned()),
            ("Variable".to_owned(), "a=1".to_owned()),
            ("Variable".to_owned(), "b=2".to_owned()),
        ];
        let action = build_action(&ok).unwrap();
        assert_ne!(action.action_id(), "mine");
        assert_eq!(
            action.headers().filter(|(k, _)| *k == "Variable").count(),
            2
        );
    }
}
