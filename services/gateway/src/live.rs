//! Live views over REST: `GET /api/v1/live/{view}`. The present comes from
//! the gateway's replica of the tenant's views ([`crate::replica`]); a
//! tenant's first read, and time travel, ask the state service for a
//! snapshot (request/reply on `<root>.<tenant>.state.snapshot`, see
//! docs/live-views.md). Live calls are priced under the tenant's tariffs.

use std::borrow::Borrow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ringside_bus::{Bus, BusError, Outgoing, PbxId, Subjects, TenantId};
use ringside_provisioning::live_cost::{LiveCall, LiveCost};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Auth, Principal, Role};
use crate::error::ApiError;
use crate::error::extract::{Path, Query};
use crate::replica::Entry;
use crate::state::AppState;

/// The views of a snapshot, in the order the UI shows them.
pub const VIEWS: [&str; 8] = [
    "pbxs",
    "endpoints",
    "trunks",
    "channels",
    "calls",
    "bridges",
    "queues",
    "conferences",
];

/// What the state service is asked.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SnapshotRequest {
    /// Only this PBX.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pbx: Option<String>,
    /// Time travel: the views as of this Unix time in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// The state service's answer.
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// The delta sequence the snapshot includes; `None` for time travel.
    pub seq: Option<u64>,
    /// View name → entries.
    #[serde(default)]
    pub snapshot: serde_json::Map<String, Value>,
}

impl Snapshot {
    /// The entries of one view (empty when absent).
    pub fn view(&self, name: &str) -> &[Value] {
        self.snapshot
            .get(name)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

#[derive(Deserialize)]
struct SnapshotAnswer {
    #[serde(default)]
    error: Option<StateError>,
    #[serde(flatten)]
    ok: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct StateError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Asks the state service for a tenant's snapshot.
///
/// # Errors
/// 503 when nobody answers or the answer is unreadable; 422 when the state
/// service calls the request invalid (e.g. `at` outside retention).
pub async fn fetch_snapshot(
    bus: &Arc<dyn Bus>,
    subjects: &Subjects,
    tenant: &TenantId,
    request: &SnapshotRequest,
    timeout: Duration,
) -> Result<Snapshot, ApiError> {
    let body = serde_json::to_vec(request).map_err(ApiError::internal)?;
    let reply = bus
        .request(
            &subjects.state_snapshot(tenant),
            Outgoing::new(Bytes::from(body)),
            timeout,
        )
        .await
        .map_err(|e| match e {
            BusError::NoResponders { .. } | BusError::Timeout => {
                ApiError::unavailable("the state service is not answering")
            }
            other => {
                tracing::warn!(error = %other, "snapshot request failed");
                ApiError::unavailable("the bus is not reachable")
            }
        })?;
    let answer: SnapshotAnswer = serde_json::from_slice(&reply.payload).map_err(|e| {
        tracing::warn!(error = %e, "unreadable snapshot reply");
        ApiError::unavailable("unreadable answer from the state service")
    })?;
    if let Some(error) = answer.error {
        return Err(if error.code == "invalid" {
            ApiError::validation("at", "invalid", error.message)
        } else {
            tracing::warn!(code = %error.code, message = %error.message, "state service refused a snapshot");
            ApiError::unavailable("the state service could not answer")
        });
    }
    serde_json::from_value(Value::Object(answer.ok)).map_err(|e| {
        tracing::warn!(error = %e, "snapshot reply without seq/snapshot");
        ApiError::unavailable("unreadable answer from the state service")
    })
}

/// Query of `GET /api/v1/live/{view}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Only this PBX.
    pub pbx: Option<String>,
    /// Time travel: Unix time in milliseconds, or an RFC 3339 time
    /// (`2026-11-24T08:00:00Z`).
    #[serde(default, deserialize_with = "unix_ms_or_rfc3339")]
    #[param(value_type = Option<String>)]
    pub at: Option<u64>,
    /// Platform admins: another tenant.
    pub tenant: Option<String>,
}

/// `?at=` as Unix milliseconds: digits are milliseconds already, anything
/// else must be an RFC 3339 time (what a person types, and what a browser's
/// `Date.toISOString()` gives).
fn unix_ms_or_rfc3339<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Some).map_err(D::Error::custom);
    }
    let invalid = || {
        D::Error::custom(format!(
            "{text:?} is neither Unix milliseconds nor an RFC 3339 time such as 2026-11-24T08:00:00Z"
        ))
    };
    let time = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid())?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .map(Some)
        .map_err(|_| invalid())
}

/// `{"seq": N|null, "items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveList {
    /// The delta sequence the items include (`null` for time travel).
    pub seq: Option<u64>,
    /// View entries (see docs/live-views.md).
    pub items: Vec<Value>,
}

/// The price so far of each call in progress under the tenant's tariffs,
/// answered as `price_so_far` (currency units as text, never a float) and
/// `billed_seconds`; a call that is not answered or matches no tariff gets
/// `"0.000000"`. `None` when the gateway has no provisioning store, and
/// when it cannot be read (logged): the live view still answers, unpriced.
async fn live_costs(
    state: &AppState,
    who: &Principal,
    tenant: &TenantId,
    calls: &[impl Borrow<LiveCall>],
) -> Option<Vec<LiveCost>> {
    let provisioning = state.provisioning.as_ref()?;
    let actor = crate::admin::actor(who, Some(tenant.as_str())).ok()?;
    provisioning
        .live_cost(&actor, calls, crate::now_ms())
        .await
        .map_err(|e| tracing::warn!(error = %e, "live calls not priced"))
        .ok()
}

/// What pricing needs of a call of the live view.
pub(crate) fn live_call(call: &Value) -> LiveCall {
    let text = |name: &str| call[name].as_str().unwrap_or_default().to_owned();
    LiveCall {
        id: text("id"),
        pbx: text("pbx"),
        to: text("to"),
        answer_ms: call["answer_ms"].as_i64(),
        trunk: text("trunk"),
    }
}

/// The `LiveList` answer, written as text: each entry's JSON as kept, a
/// call's with its price added before the closing brace.
fn answer(seq: Option<u64>, entries: &[Arc<Entry>], costs: Option<&[LiveCost]>) -> Response {
    let size: usize = entries.iter().map(|e| e.json.len() + 64).sum();
    let mut body = String::with_capacity(32 + size);
    match seq {
        Some(seq) => {
            let _ = write!(body, "{{\"seq\":{seq},\"items\":[");
        }
        None => body.push_str("{\"seq\":null,\"items\":["),
    }
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        match (costs.and_then(|c| c.get(i)), entry.json.strip_suffix('}')) {
            (Some(cost), Some(open)) => {
                body.push_str(open);
                if open.len() > 1 {
                    body.push(',');
                }
                // Six decimals and an integer: nothing to escape.
                let _ = write!(
                    body,
                    "\"price_so_far\":\"{}\",\"billed_seconds\":{}}}",
                    cost.currency_units, cost.billed_seconds
                );
            }
            _ => body.push_str(&entry.json),
        }
    }
    body.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Checks an optional PBX id.
///
/// # Errors
/// 422 when it cannot be a PBX id.
pub fn parse_pbx(pbx: Option<&str>) -> Result<Option<PbxId>, ApiError> {
    pbx.map(|p| {
        PbxId::new(p)
            .map_err(|_| ApiError::validation("pbx", "invalid", "a PBX id is [A-Za-z0-9_-]{1,128}"))
    })
    .transpose()
}

/// One live view of the caller's tenant.
#[utoipa::path(
    get,
    path = "/api/v1/live/{view}",
    params(
        ("view" = String, Path, description = "pbxs, endpoints, trunks, channels, calls, bridges, queues or conferences"),
        LiveQuery
    ),
    responses(
        (status = 200, description = "The view's entries", body = LiveList),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown view or another tenant", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid pbx or at", body = crate::error::ErrorBody),
        (status = 503, description = "State service unavailable", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "live"
)]
pub async fn live_view(
    State(state): State<AppState>,
    auth: Auth,
    Path(view): Path<String>,
    Query(query): Query<LiveQuery>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    if !VIEWS.contains(&view.as_str()) {
        return Err(ApiError::not_found(format!("no live view {view:?}")));
    }
    let tenant = auth.0.acting_tenant(query.tenant.as_deref())?;
    let pbx = parse_pbx(query.pbx.as_deref())?;
    // The present comes from the gateway's replica once it is loaded.
    let replicated = query
        .at
        .is_none()
        .then(|| {
            state
                .replicas
                .read(&state, &tenant, &view, pbx.as_ref().map(PbxId::as_str))
        })
        .flatten();
    let (seq, entries) = match replicated {
        Some((seq, entries)) => (Some(seq), entries),
        None => {
            let snapshot = fetch_snapshot(
                &state.bus,
                &state.subjects,
                &tenant,
                &SnapshotRequest {
                    pbx: pbx.map(|p| p.to_string()),
                    at_ms: query.at,
                },
                state.settings.request_timeout,
            )
            .await?;
            // Defence in depth: whatever the state service answers, only
            // entries of the asked tenant leave the gateway.
            let entries = snapshot
                .view(&view)
                .iter()
                .filter(|entry| {
                    entry
                        .get("tenant")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == tenant.as_str())
                })
                .map(|entry| Entry::new(&view, entry))
                .collect();
            (snapshot.seq, entries)
        }
    };
    // Time travel shows the past as it was: no price of "now".
    let costs = if view == "calls" && query.at.is_none() {
        let calls: Vec<&LiveCall> = entries.iter().filter_map(|e| e.call.as_ref()).collect();
        live_costs(&state, &auth.0, &tenant, &calls)
            .await
            .filter(|c| c.len() == entries.len())
    } else {
        None
    };
    Ok(answer(seq, &entries, costs.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;
    use axum::http::Uri;
    use ringside_provisioning::money::Money;
    use serde_json::json;

    fn entry(value: Value) -> Arc<Entry> {
        Entry::new("calls", &value)
    }

    fn cost(id: &str, units: &str, billed_seconds: i64) -> LiveCost {
        LiveCost {
            id: id.to_owned(),
            price_so_far: Money::parse(units).unwrap(),
            currency_units: units.to_owned(),
            billed_seconds,
            tariff_id: None,
        }
    }

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_replicated_answer_is_the_entries_with_each_calls_price_added() {
        let entries = [
            entry(json!({"id": "a", "to": "+4930 \"1\"", "answer_ms": 5})),
            entry(json!({})),
        ];
        let costs = [cost("a", "0.046000", 36), cost("", "0.000000", 0)];
        let body = body_of(answer(Some(7), &entries, Some(&costs))).await;
        assert_eq!(
            body,
            json!({"seq": 7, "items": [
                {"id": "a", "to": "+4930 \"1\"", "answer_ms": 5,
                 "price_so_far": "0.046000", "billed_seconds": 36},
                {"price_so_far": "0.000000", "billed_seconds": 0},
            ]})
        );
        // Unpriced (another view, or pricing unavailable): as kept.
        let body = body_of(answer(None, &entries, None)).await;
        assert_eq!(
            body,
            json!({"seq": null, "items": [{"id": "a", "to": "+4930 \"1\"", "answer_ms": 5}, {}]})
        );
        let body = body_of(answer(Some(9), &[], None)).await;
        assert_eq!(body, json!({"seq": 9, "items": []}));
    }

    fn at(query: &str) -> Result<Option<u64>, String> {
        let uri: Uri = format!("/api/v1/live/calls?{query}").parse().unwrap();
        Query::<LiveQuery>::try_from_uri(&uri)
            .map(|q| q.0.at)
            .map_err(|e| e.body_text())
    }

    #[test]
    fn time_travel_takes_unix_milliseconds_or_an_rfc3339_time() {
        assert_eq!(at(""), Ok(None));
        assert_eq!(at("at=1700000000000"), Ok(Some(1_700_000_000_000)));
        assert_eq!(at("at=2023-11-14T22:13:20Z"), Ok(Some(1_700_000_000_000)));
        assert_eq!(
            at("at=2023-11-14T22:13:20.250Z"),
            Ok(Some(1_700_000_000_250))
        );
        // With an offset, as a browser may send it: the same instant.
        assert_eq!(
            at("at=2023-11-14T23:13:20%2B01:00"),
            Ok(Some(1_700_000_000_000))
        );
        let refused = at("at=yesterday").unwrap_err();
        assert!(refused.contains("RFC 3339"), "{refused}");
        assert!(at("at=-5").is_err());
    }
}
