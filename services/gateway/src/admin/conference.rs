//! `POST /conference/`: a ConfBridge room between numbers. Each number gets
//! an AMI `Originate` (`Local/<number>@from-internal` into
//! `ConfBridge(<room>)`, async) through the ingestor that serves the PBX,
//! exactly as [`crate::actions`] sends actions; the ingestor audits each one.
//!
//! The generic action gate lets operators Originate only into listen-in
//! applications; a conference is allowed to operators because this route
//! fixes everything but the validated room and numbers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use ringside_ami_ingestor::actions::{ActionReply, ActionRequest};
use ringside_bus::{BusError, Outgoing, PbxId, TenantId};
use ringside_provisioning::{Actor, Page};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AdminState, TenantQuery, actor, api_error};
use crate::auth::{Auth, Principal, Role};
use crate::error::extract::{Json as JsonBody, Query};
use crate::error::{ApiError, ErrorCode, FieldError};

/// How long the ingestor may wait for the PBX's answer to one Originate
/// (it is async, so Asterisk answers at once).
const ACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Most numbers in one request.
pub const MAX_NUMBERS: usize = 50;

/// `POST /conference/` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConferenceRequest {
    /// The ConfBridge room: `[A-Za-z0-9_-]{1,64}`.
    pub room: String,
    /// The numbers to call into it (`+` and 2–15 digits each).
    pub numbers: Vec<String>,
    /// The PBX (its UUID or its name).
    pub pbx: String,
}

/// What happened to one number.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberResult {
    /// The number.
    pub number: String,
    /// `ok`, `error` (Asterisk refused), `not_connected`, `timeout`,
    /// `denied`, `unavailable`.
    pub result: String,
    /// Asterisk's or the ingestor's message.
    pub message: String,
}

/// The conference started.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConferenceResult {
    /// The room.
    pub room: String,
    /// The PBX's name.
    pub pbx: String,
    /// One entry per number, in order.
    pub results: Vec<NumberResult>,
}

fn field(errors: &mut Vec<FieldError>, name: String, code: &str, message: &str) {
    errors.push(FieldError {
        field: name,
        code: code.to_owned(),
        message: message.to_owned(),
    });
}

fn valid_room(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_number(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the body; every problem at once.
fn validate(request: &ConferenceRequest) -> Result<(String, Vec<String>), ApiError> {
    let mut errors = Vec::new();
    let room = request.room.trim().to_owned();
    if room.is_empty() {
        field(
            &mut errors,
            "room".into(),
            "required",
            "a room name is required",
        );
    } else if !valid_room(&room) {
        field(
            &mut errors,
            "room".into(),
            "invalid",
            "1-64 letters, digits, '-' or '_'",
        );
    }
    let numbers: Vec<String> = request
        .numbers
        .iter()
        .map(|n| n.trim().to_owned())
        .collect();
    if numbers.is_empty() {
        field(
            &mut errors,
            "numbers".into(),
            "required",
            "at least one number",
        );
    } else if numbers.len() > MAX_NUMBERS {
        field(
            &mut errors,
            "numbers".into(),
            "too_many",
            "at most 50 numbers",
        );
    }
    for (i, n) in numbers.iter().enumerate() {
        if !valid_number(n) {
            field(
                &mut errors,
                format!("numbers[{i}]"),
                "invalid_number",
                "a phone number: optional '+' and 2-15 digits",
            );
        }
    }
    if request.pbx.trim().is_empty() {
        field(&mut errors, "pbx".into(), "required", "a PBX is required");
    }
    if errors.is_empty() {
        Ok((room, numbers))
    } else {
        Err(ApiError::validation_fields(errors))
    }
}

/// The PBX's name (its id on the bus) from its UUID or its name.
async fn pbx_name(s: &AdminState, a: &Actor, pbx: &str) -> Result<String, ApiError> {
    let pbx = pbx.trim();
    if let Ok(id) = uuid::Uuid::parse_str(pbx) {
        return Ok(s
            .provisioning
            .get_pbx_server(a, id)
            .await
            .map_err(api_error)?
            .name);
    }
    let mut page = Page {
        limit: 1000,
        offset: 0,
    };
    loop {
        let list = s
            .provisioning
            .list_pbx_servers(a, page)
            .await
            .map_err(api_error)?;
        if let Some(p) = list.items.iter().find(|p| p.name == pbx) {
            return Ok(p.name.clone());
        }
        page.offset += u64::from(list.limit);
        if list.items.is_empty() || page.offset >= list.total {
            return Err(ApiError::not_found("pbx_server not found"));
        }
    }
}

/// Sends one Originate and says what became of it.
async fn originate(
    s: &AdminState,
    who: &Principal,
    subject: &str,
    room: &str,
    number: &str,
) -> Result<NumberResult, ApiError> {
    let request = ActionRequest {
        headers: vec![
            ("Action".to_owned(), "Originate".to_owned()),
            (
                "Channel".to_owned(),
                format!("Local/{number}@from-internal"),
            ),
            ("Application".to_owned(), "ConfBridge".to_owned()),
            ("Data".to_owned(), room.to_owned()),
            ("Async".to_owned(), "true".to_owned()),
        ],
        requested_by: who.requested_by(),
        timeout_ms: Some(ACTION_TIMEOUT.as_millis() as u64),
    };
    let payload = serde_json::to_vec(&request).map_err(ApiError::internal)?;
    let outcome = |result: &str, message: String| NumberResult {
        number: number.to_owned(),
        result: result.to_owned(),
        message,
    };
    // The ingestor waits ACTION_TIMEOUT for the PBX; give it time to say so.
    let answer = s
        .bus
        .request(
            subject,
            Outgoing::new(Bytes::from(payload)),
            ACTION_TIMEOUT + Duration::from_secs(2),
        )
        .await;
    Ok(match answer {
        Err(BusError::NoResponders { .. }) => {
            outcome("not_connected", "no ingestor serves this PBX".to_owned())
        }
        Err(BusError::Timeout) => outcome("timeout", "the PBX did not answer in time".to_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "conference originate failed");
            outcome("unavailable", "the bus is not reachable".to_owned())
        }
        Ok(delivered) => match serde_json::from_slice::<ActionReply>(&delivered.payload) {
            Err(e) => {
                tracing::warn!(error = %e, "unreadable action reply");
                outcome(
                    "unavailable",
                    "unreadable answer from the ingestor".to_owned(),
                )
            }
            Ok(ActionReply { error: Some(f), .. }) => outcome(&f.code, f.message),
            Ok(ActionReply {
                response: Some(r), ..
            }) => {
                let ok = r
                    .get("Response")
                    .is_some_and(|v| v.eq_ignore_ascii_case("Success"));
                let message = r.get("Message").unwrap_or_default().to_owned();
                outcome(if ok { "ok" } else { "error" }, message)
            }
            Ok(_) => outcome("error", "no answer".to_owned()),
        },
    })
}

/// Calls each number into a ConfBridge room on one PBX of the tenant
/// (operators and above). Answers per number; when none could be called,
/// 503 with the reasons as details.
#[utoipa::path(
    post,
    path = "/api/v1/conference/",
    params(TenantQuery),
    request_body = ConferenceRequest,
    responses(
        (status = 200, description = "Each number's outcome", body = ConferenceResult),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Viewers may not start conferences", body = crate::error::ErrorBody),
        (status = 404, description = "No such PBX in this tenant", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid room, numbers or PBX", body = crate::error::ErrorBody),
        (status = 503, description = "No number could be called", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "conference"
)]
pub async fn conference(
    State(s): State<AdminState>,
    auth: Auth,
    Query(q): Query<TenantQuery>,
    JsonBody(body): JsonBody<ConferenceRequest>,
) -> Result<Json<ConferenceResult>, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    auth.require(Role::Operator)?;
    let (room, numbers) = validate(&body)?;
    let name = pbx_name(&s, &actor, &body.pbx).await?;
    let tenant =
        TenantId::new(actor.tenant.as_str()).map_err(|_| ApiError::not_found("no such tenant"))?;
    let pbx = PbxId::new(name.as_str()).map_err(|_| ApiError::not_found("no such PBX"))?;
    let subject = s.subjects.ami_action(&tenant, &pbx);
    let mut results = Vec::with_capacity(numbers.len());
    for number in &numbers {
        results.push(originate(&s, &auth.0, &subject, &room, number).await?);
    }
    if !results.iter().any(|r| r.result == "ok") {
        let details = results
            .iter()
            .enumerate()
            .map(|(i, r)| FieldError {
                field: format!("numbers[{i}]"),
                code: r.result.clone(),
                message: r.message.clone(),
            })
            .collect();
        return Err(ApiError {
            details,
            ..ApiError::new(ErrorCode::Unavailable, "no number could be called")
        });
    }
    Ok(Json(ConferenceResult {
        room,
        pbx: name,
        results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_numbers_are_checked_field_by_field() {
        let ok = ConferenceRequest {
            room: "sales-1".into(),
            numbers: vec!["+4930123".into(), " 1001 ".into()],
            pbx: "pbx1".into(),
        };
        let (room, numbers) = validate(&ok).unwrap();
        assert_eq!(room, "sales-1");
        assert_eq!(numbers, ["+4930123", "1001"]);
        let bad = ConferenceRequest {
            room: "a;b\nc".into(),
            numbers: vec!["1001".into(), "10@01".into(), "1".into()],
            pbx: " ".into(),
        };
        let e = validate(&bad).unwrap_err();
        let fields: Vec<&str> = e.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["room", "numbers[1]", "numbers[2]", "pbx"]);
        let none = ConferenceRequest {
            room: "r".into(),
            numbers: vec![],
            pbx: "p".into(),
        };
        assert_eq!(validate(&none).unwrap_err().details[0].field, "numbers");
    }
}
