//! AMI actions from REST and WebSockets: JSON → headers, the role gate, the
//! request to the ingestor, and the audit record of what the ingestor never
//! saw.
//!
//! Audit: the ingestor records every action it receives (who, PBX, what,
//! result) on `<root>.<tenant>.prov.ami_action`. The gateway records only
//! what it refused (role gate, invalid input) and what no ingestor received
//! (nobody serving the PBX), so no action is recorded twice. `requested_by`
//! is `username@tenant` of the token.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use ringside_ami_ingestor::actions::{
    ActionAudit, ActionFailure, ActionReply, ActionRequest, TenantActionReply,
};
use ringside_bus::{BusError, Outgoing, PbxId, Subjects, TenantId, Token};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Auth, Principal, Role};
use crate::error::extract::{Json as JsonBody, Path, Query};
use crate::error::{ApiError, FieldError};
use crate::live::{SnapshotRequest, fetch_snapshot, parse_pbx};
use crate::state::AppState;

/// Actions an operator may send besides list/show actions.
const OPERATOR_ACTIONS: &[&str] = &[
    "Hangup",
    "Redirect",
    "Originate",
    "QueuePause",
    "Ping",
    "Atxfer",
    "BlindTransfer",
];

/// Read-only actions with names that do not say so.
const READ_ONLY_ACTIONS: &[&str] = &[
    "SIPpeers",
    "SIPshowpeer",
    "SIPshowregistry",
    "IAXpeers",
    "IAXpeerlist",
    "IAXregistry",
    "Agents",
    "ParkedCalls",
    "BridgeInfo",
    "ExtensionState",
    "MailboxCount",
    "MailboxStatus",
    "ShowDialPlan",
    "Queues",
];

/// Actions that change the ingestor's own session (its login, event mask,
/// filters): nobody sends them through Ringside.
const SESSION_ACTIONS: &[&str] = &[
    "Login",
    "Logoff",
    "Challenge",
    "Events",
    "Filter",
    "WaitEvent",
    "UserEvent",
];

/// Applications an operator may Originate into (listen-in); a call to an
/// extension (Exten/Context) is always allowed for operators.
const OPERATOR_APPLICATIONS: &[&str] = &["ChanSpy", "ExtenSpy"];

fn is_listing(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    READ_ONLY_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
        || lower.contains("show")
        || lower.ends_with("list")
        || lower.ends_with("listrooms")
        || lower.ends_with("status")
        || lower.ends_with("summary")
        || lower.ends_with("settings")
}

/// Whether `role` may send the action; `Err` says why not.
///
/// The ingestor's deny list (no core stop, no shell) applies on top, to
/// every role.
pub fn role_allows(role: Role, headers: &[(String, String)]) -> Result<(), String> {
    let name = action_name(headers).unwrap_or_default();
    if SESSION_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "{name} would change the ingestor's own AMI session"
        ));
    }
    if role.allows(Role::TenantAdmin) {
        return Ok(());
    }
    if !role.allows(Role::Operator) {
        return Err("viewers may not send AMI actions".to_owned());
    }
    if is_listing(name) {
        return Ok(());
    }
    if !OPERATOR_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
    {
        return Err(format!(
            "operators may not send {name}; it needs tenant_admin"
        ));
    }
    if name.eq_ignore_ascii_case("Originate") {
        let app = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Application"))
            .map(|(_, v)| v.trim());
        if let Some(app) = app
            && !OPERATOR_APPLICATIONS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(app))
        {
            return Err(format!(
                "operators may Originate calls and listen-in (ChanSpy), not into {app}"
            ));
        }
    }
    Ok(())
}

/// The `Action` header's value.
pub fn action_name(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Action"))
        .map(|(_, v)| v.as_str())
}

/// AMI headers in order (names repeat).
pub type Headers = Vec<(String, String)>;

/// Which PBX an amiws action names with `AMIServerID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerRef {
    /// amiws's number.
    Number(u64),
    /// Ringside's PBX id.
    Id(String),
}

/// Turns a JSON action (`{"Action": "Originate", "Variable": ["a=1", "b=2"]}`)
/// into AMI headers, `Action` first, list values as repeated headers.
/// `AMIServerID` is taken out and returned.
///
/// # Errors
/// 422 with per-field details: no `Action`, nested objects, names or values
/// that would break AMI framing.
pub fn headers_from_json(body: &Value) -> Result<(Headers, Option<ServerRef>), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::validation(
            "body",
            "invalid",
            "an action is a JSON object",
        ));
    };
    let mut errors: Vec<FieldError> = Vec::new();
    fn push(errors: &mut Vec<FieldError>, field: &str, code: &str, message: &str) {
        errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        });
    }
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut action = None;
    let mut server = None;
    let mut rest = Vec::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("AMIServerID") {
            server = match value {
                Value::Number(n) => n.as_u64().map(ServerRef::Number),
                Value::String(s) => Some(
                    s.parse::<u64>()
                        .map_or_else(|_| ServerRef::Id(s.clone()), ServerRef::Number),
                ),
                Value::Null => None,
                _ => {
                    push(
                        &mut errors,
                        key,
                        "invalid",
                        "AMIServerID is a number or a PBX id",
                    );
                    None
                }
            };
            continue;
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            push(
                &mut errors,
                key,
                "invalid",
                "header names are printable ASCII without ':'",
            );
            continue;
        }
        let values: Vec<String> = match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match scalar(item) {
                        Some(s) => out.push(s),
                        None => push(
                            &mut errors,
                            key,
                            "invalid",
                            "list values must be strings or numbers",
                        ),
                    }
                }
                out
            }
            Value::Null => continue,
            other => match scalar(other) {
                Some(s) => vec![s],
                None => {
                    push(
                        &mut errors,
                        key,
                        "invalid",
                        "values are strings, numbers or lists of them",
                    );
                    continue;
                }
            },
        };
        if values.iter().any(|v| v.contains(['\r', '\n', '\0'])) {
            push(
                &mut errors,
                key,
                "invalid",
                "values must not contain CR, LF or NUL",
            );
            continue;
        }
        if key.eq_ignore_ascii_case("Action") {
            match values.as_slice() {
                [name] if !name.trim().is_empty() => action = Some(name.trim().to_owned()),
                _ => push(
                    &mut errors,
                    "Action",
                    "invalid",
                    "Action is one non-empty name",
                ),
            }
            continue;
        }
        rest.extend(values.into_iter().map(|v| (key.clone(), v)));
    }
    if action.is_none() && !errors.iter().any(|e| e.field == "Action") {
        push(
            &mut errors,
            "Action",
            "required",
            "an action needs an Action header",
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::validation_fields(errors));
    }
    let mut headers = vec![("Action".to_owned(), action.unwrap_or_default())];
    headers.extend(rest);
    Ok((headers, server))
}

fn audit_subject(subjects: &Subjects, tenant: &TenantId) -> Option<String> {
    Token::new("ami_action")
        .ok()
        .map(|t| subjects.prov(tenant, &t))
}

/// Records an action the ingestor never saw (refused here, or nobody served
/// the PBX). Secret-bearing values are masked like the ingestor does.
pub async fn audit_unsent(
    state: &AppState,
    tenant: &TenantId,
    pbx: &str,
    who: &Principal,
    headers: &[(String, String)],
    (result, message): (&str, &str),
) {
    let (bus, subjects) = (&state.bus, &state.subjects);
    let name = action_name(headers).unwrap_or_default().to_owned();
    let masked = headers
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let secret = ["secret", "password", "passwd", "key", "md5cred"]
                .iter()
                .any(|s| lower.contains(s))
                || (name.eq_ignore_ascii_case("UpdateConfig") && lower.starts_with("value-"));
            (k.clone(), if secret { "***".to_owned() } else { v.clone() })
        })
        .collect();
    let record = ActionAudit {
        tenant: tenant.to_string(),
        pbx: pbx.to_owned(),
        requested_by: who.requested_by(),
        action: name,
        headers: masked,
        result: result.to_owned(),
        message: message.to_owned(),
        at_ms: crate::now_ms().unsigned_abs(),
    };
    tracing::info!(pbx, requested_by = %record.requested_by, action = %record.action, result, "AMI action not sent");
    let Some(subject) = audit_subject(subjects, tenant) else {
        return;
    };
    let payload = match serde_json::to_vec(&record) {
        Ok(p) => p,
        Err(e) => return tracing::warn!(error = %e, "audit record not serializable"),
    };
    if let Err(e) = bus
        .publish(&subject, Outgoing::new(Bytes::from(payload)))
        .await
    {
        tracing::warn!(error = %e, "could not record the refused action in the audit log");
    }
}

/// Where an action goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// One PBX.
    Pbx(PbxId),
    /// Every PBX of the tenant.
    All,
}

impl Target {
    fn label(&self) -> &str {
        match self {
            Target::Pbx(p) => p.as_str(),
            Target::All => "*",
        }
    }
}

/// The outcome of sending an action.
#[derive(Debug)]
pub enum Sent {
    /// The PBXs' answers.
    Replies(Vec<ActionReply>),
    /// Nobody serves the target (unknown PBX, or not connected).
    NoSuchPbx,
}

/// Checks the role, then asks the ingestor (one PBX, or the tenant's
/// fan-out). Refusals and unserved targets are audited here.
///
/// # Errors
/// 403 when the role forbids the action; 503 when the bus fails or the
/// ingestor does not answer in time.
pub async fn send_action(
    state: &AppState,
    who: &Principal,
    tenant: &TenantId,
    target: &Target,
    headers: Vec<(String, String)>,
) -> Result<Sent, ApiError> {
    if let Err(reason) = role_allows(who.role, &headers) {
        audit_unsent(
            state,
            tenant,
            target.label(),
            who,
            &headers,
            ("forbidden", &reason),
        )
        .await;
        return Err(ApiError::forbidden(reason));
    }
    let wait = state.settings.request_timeout;
    let request = ActionRequest {
        headers,
        requested_by: who.requested_by(),
        timeout_ms: Some(wait.as_millis() as u64),
    };
    let payload = serde_json::to_vec(&request).map_err(ApiError::internal)?;
    let subject = match target {
        Target::Pbx(pbx) => state.subjects.ami_action(tenant, pbx),
        Target::All => state.subjects.tenant_action(tenant),
    };
    let mut msg = Outgoing::new(Bytes::from(payload));
    // The ingestor's span of the action joins the caller's trace.
    if let Some((parent, trace_state)) = ringside_telemetry::current_traceparent() {
        let _ = msg
            .headers
            .set_trace_context(&parent, trace_state.as_deref());
    }
    // The ingestor waits `wait` for the PBX; give it time to say so.
    let answer = state
        .bus
        .request(&subject, msg, wait + Duration::from_secs(2))
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(BusError::NoResponders { .. }) => {
            audit_unsent(
                state,
                tenant,
                target.label(),
                who,
                &request.headers,
                ("not_connected", "no ingestor serves this PBX"),
            )
            .await;
            return Ok(Sent::NoSuchPbx);
        }
        Err(BusError::Timeout) => {
            return Err(ApiError::unavailable("the PBX did not answer in time"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "action request failed");
            return Err(ApiError::unavailable("the bus is not reachable"));
        }
    };
    let unreadable = |e: serde_json::Error| {
        tracing::warn!(error = %e, "unreadable action reply");
        ApiError::unavailable("unreadable answer from the ingestor")
    };
    let replies = match target {
        Target::Pbx(_) => {
            vec![serde_json::from_slice::<ActionReply>(&answer.payload).map_err(unreadable)?]
        }
        Target::All => {
            serde_json::from_slice::<TenantActionReply>(&answer.payload)
                .map_err(unreadable)?
                .replies
        }
    };
    // Defence in depth: never hand back another tenant's answer.
    Ok(Sent::Replies(
        replies
            .into_iter()
            .filter(|r| r.tenant == tenant.as_str())
            .collect(),
    ))
}

/// The error of a failed reply, as an API error.
fn failure_error(failure: &ActionFailure) -> ApiError {
    match failure.code.as_str() {
        "denied" => ApiError::forbidden(format!("denied: {}", failure.message)),
        "invalid" => ApiError::validation("body", "invalid", failure.message.clone()),
        _ => ApiError::unavailable(format!("{}: {}", failure.code, failure.message)),
    }
}

/// Query of the action endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Platform admins: act on another tenant.
    pub tenant: Option<String>,
}

/// The answer to an action: the PBX's response and list events (each as
/// `{"kind","name","headers":[[k,v],…]}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    /// The PBX.
    pub pbx: String,
    /// The response.
    #[schema(value_type = Object)]
    pub response: Option<Value>,
    /// List events, the closing `…Complete` last.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

/// Sends an AMI action to one PBX of the caller's tenant.
#[utoipa::path(
    post,
    path = "/api/v1/pbx/{id}/actions",
    params(("id" = String, Path, description = "PBX id"), TenantQuery),
    request_body(content = Object, description = "`{\"Action\": \"...\", header: value | [values]}`"),
    responses(
        (status = 200, description = "The PBX's answer", body = ActionResult),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Role or deny list forbids it", body = crate::error::ErrorBody),
        (status = 404, description = "No such PBX in this tenant", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid action", body = crate::error::ErrorBody),
        (status = 503, description = "PBX or bus unavailable", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "actions"
)]
pub async fn pbx_action(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(query): Query<TenantQuery>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ActionResult>, ApiError> {
    let tenant = auth.0.acting_tenant(query.tenant.as_deref())?;
    let pbx = PbxId::new(id.as_str()).map_err(|_| ApiError::not_found("no such PBX"))?;
    let (headers, _) = headers_from_json(&body)?;
    let sent = send_action(&state, &auth.0, &tenant, &Target::Pbx(pbx), headers).await?;
    let Sent::Replies(mut replies) = sent else {
        return Err(ApiError::not_found("no such PBX, or it is not connected"));
    };
    let reply = replies
        .pop()
        .ok_or_else(|| ApiError::not_found("no such PBX"))?;
    if let Some(failure) = &reply.error {
        return Err(failure_error(failure));
    }
    let to_value = |m| serde_json::to_value(m).unwrap_or(Value::Null);
    Ok(Json(ActionResult {
        pbx: reply.pbx,
        response: reply.response.as_ref().map(to_value),
        events: reply.events.iter().map(to_value).collect(),
    }))
}

/// Query of `POST /api/v1/calls/{id}/hangup`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HangupQuery {
    /// The PBX of the call, when the same id exists on several.
    pub pbx: Option<String>,
    /// Platform admins: another tenant.
    pub tenant: Option<String>,
}

/// One channel hung up (or not).
#[derive(Debug, Serialize, ToSchema)]
pub struct LegResult {
    /// The PBX.
    pub pbx: String,
    /// The channel name.
    pub channel: String,
    /// `ok`, `error` (Asterisk said no) or a failure code.
    pub result: String,
    /// Asterisk's or the ingestor's message.
    pub message: String,
}

/// What `hangup` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct HangupResult {
    /// The call id (linkedid).
    pub call: String,
    /// Every channel of the call.
    pub legs: Vec<LegResult>,
}

/// Hangs up every channel of a live call.
#[utoipa::path(
    post,
    path = "/api/v1/calls/{id}/hangup",
    params(("id" = String, Path, description = "Call id (linkedid)"), HangupQuery),
    responses(
        (status = 200, description = "Each leg's outcome", body = HangupResult),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Viewers may not hang up", body = crate::error::ErrorBody),
        (status = 404, description = "No such live call in this tenant", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid pbx", body = crate::error::ErrorBody),
        (status = 503, description = "State service or PBX unavailable", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "actions"
)]
pub async fn hangup_call(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(query): Query<HangupQuery>,
) -> Result<Json<HangupResult>, ApiError> {
    auth.require(Role::Operator)?;
    let tenant = auth.0.acting_tenant(query.tenant.as_deref())?;
    let pbx = parse_pbx(query.pbx.as_deref())?;
    let snapshot = fetch_snapshot(
        &state.bus,
        &state.subjects,
        &tenant,
        &SnapshotRequest {
            pbx: pbx.as_ref().map(ToString::to_string),
            at_ms: None,
        },
        state.settings.request_timeout,
    )
    .await?;
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mine = |v: &Value| str_of(v, "tenant").is_none_or(|t| t == tenant.as_str());
    let mut legs = Vec::new();
    for call in snapshot
        .view("calls")
        .iter()
        .filter(|c| mine(c) && str_of(c, "id").as_deref() == Some(id.as_str()))
    {
        let Some(call_pbx) = str_of(call, "pbx") else {
            continue;
        };
        let uniqueids: Vec<String> = call
            .get("legs")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for channel in snapshot.view("channels").iter().filter(|c| {
            mine(c)
                && str_of(c, "pbx").as_deref() == Some(call_pbx.as_str())
                && str_of(c, "uniqueid").is_some_and(|u| uniqueids.contains(&u))
        }) {
            if let Some(name) = str_of(channel, "name") {
                legs.push((call_pbx.clone(), name));
            }
        }
    }
    if legs.is_empty() {
        return Err(ApiError::not_found("no such live call"));
    }
    let mut results = Vec::new();
    for (pbx, channel) in legs {
        let Ok(pbx_id) = PbxId::new(pbx.as_str()) else {
            continue;
        };
        let headers = vec![
            ("Action".to_owned(), "Hangup".to_owned()),
            ("Channel".to_owned(), channel.clone()),
        ];
        let (result, message) =
            match send_action(&state, &auth.0, &tenant, &Target::Pbx(pbx_id), headers).await? {
                Sent::NoSuchPbx => (
                    "not_connected".to_owned(),
                    "no ingestor serves this PBX".to_owned(),
                ),
                Sent::Replies(replies) => match replies.first() {
                    Some(ActionReply { error: Some(f), .. }) => (f.code.clone(), f.message.clone()),
                    Some(ActionReply {
                        response: Some(r), ..
                    }) => (
                        if r.get("Response")
                            .is_some_and(|v| v.eq_ignore_ascii_case("Success"))
                        {
                            "ok"
                        } else {
                            "error"
                        }
                        .to_owned(),
                        r.get("Message").unwrap_or_default().to_owned(),
                    ),
                    _ => ("error".to_owned(), "no answer".to_owned()),
                },
            };
        results.push(LegResult {
            pbx,
            channel,
            result,
            message,
        });
    }
    Ok(Json(HangupResult {
        call: id,
        legs: results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn list_values_become_repeated_headers_and_action_comes_first() {
        let (headers, server) = headers_from_json(&json!({
            "Variable": ["a=1", "b=2"], "Action": "Originate", "AMIServerID": 2, "Timeout": 3000
        }))
        .unwrap();
        assert_eq!(headers[0], ("Action".to_owned(), "Originate".to_owned()));
        assert_eq!(headers.iter().filter(|(k, _)| k == "Variable").count(), 2);
        assert!(headers.contains(&("Timeout".to_owned(), "3000".to_owned())));
        assert_eq!(server, Some(ServerRef::Number(2)));
    }

    #[test]
    fn bad_actions_are_validation_errors_per_field() {
        let e = headers_from_json(&json!({"Channel": "x"})).unwrap_err();
        assert_eq!(e.details[0].field, "Action");
        let e = headers_from_json(&json!({"Action": "Hangup", "Channel": "x\r\nAction: Command"}))
            .unwrap_err();
        assert_eq!(e.details[0].field, "Channel");
        let e = headers_from_json(&json!({"Action": "Hangup", "Bad:Name": "x", "Obj": {"a": 1}}))
            .unwrap_err();
        assert_eq!(e.details.len(), 2);
        assert!(headers_from_json(&json!([1, 2])).is_err());
    }

    #[test]
    fn roles_gate_actions() {
        let hangup = h(&[("Action", "Hangup"), ("Channel", "PJSIP/1")]);
        let command = h(&[("Action", "Command"), ("Command", "core show channels")]);
        let spy = h(&[
            ("Action", "Originate"),
            ("Application", "ChanSpy"),
            ("Data", "PJSIP/1001"),
        ]);
        let app = h(&[("Action", "Originate"), ("Application", "Playback")]);
        let list = h(&[("Action", "CoreShowChannels")]);
        assert!(role_allows(Role::Viewer, &list).is_err());
        assert!(role_allows(Role::Operator, &hangup).is_ok());
        assert!(role_allows(Role::Operator, &list).is_ok());
        assert!(role_allows(Role::Operator, &spy).is_ok());
        assert!(role_allows(Role::Operator, &app).is_err());
        assert!(role_allows(Role::Operator, &command).is_err());
        assert!(role_allows(Role::Operator, &h(&[("Action", "UpdateConfig")])).is_err());
        assert!(role_allows(Role::TenantAdmin, &command).is_ok());
        assert!(role_allows(Role::PlatformAdmin, &h(&[("Action", "Reload")])).is_ok());
        assert!(
            role_allows(
                Role::PlatformAdmin,
                &h(&[("Action", "Events"), ("EventMask", "off")])
            )
            .is_err()
        );
    }
}
