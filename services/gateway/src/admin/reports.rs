//! The CDR report (`/reports/cdr`, JSON or `?format=csv`) and the dashboard
//! (`/dashboard/stats`), in the shapes the web UI and the Admin API clients
//! read.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ringside_provisioning::{Actor, CdrFilter, DashboardStats, Money, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use uuid::Uuid;

use super::{AdminState, TenantQuery, actor, api_error, to_value};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::error::extract::Query;

/// Most rows one CSV export holds (a bigger period: export it in parts).
pub const CSV_MAX_ROWS: u32 = 100_000;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(text: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| range.contains(n))
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]](Z|±HH:MM)` (a bare date is midnight UTC).
fn rfc3339_ms(text: &str) -> Option<i64> {
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year = number(parts.next()?, 1..=9999)?;
    let month = number(parts.next()?, 1..=12)?;
    let day = number(parts.next()?, 1..=31)?;
    let mut ms = days_from_civil(year, month, day) * DAY_MS;
    let Some(rest) = rest else {
        return Some(ms);
    };
    let (clock, offset_ms) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (clock, offset) = rest.split_at(i);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (h, m) = offset[1..].split_once(':')?;
        let minutes = number(h, 0..=23)? * 60 + number(m, 0..=59)?;
        (clock, sign * minutes * 60_000)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let hour = number(fields.next()?, 0..=23)?;
    let minute = number(fields.next()?, 0..=59)?;
    let second = fields.next().map_or(Some(0), |s| number(s, 0..=60))?;
    if fields.next().is_some() {
        return None;
    }
    ms += (hour * 3600 + minute * 60 + second) * 1000;
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let millis: String = f.chars().chain("000".chars()).take(3).collect();
        ms += millis.parse::<i64>().ok()?;
    }
    Some(ms - offset_ms)
}

/// An instant from a query: Unix milliseconds, or RFC 3339 as the web UI
/// sends (`2026-11-23T00:00:00.000Z`).
///
/// # Errors
/// 422 naming `field`.
pub fn parse_instant(field: &str, text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    rfc3339_ms(text).ok_or_else(|| {
        ApiError::validation(
            field,
            "invalid",
            "an RFC 3339 instant (2026-11-23T14:03:00Z) or Unix milliseconds",
        )
    })
}

/// Filters of `GET /reports/cdr`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CdrQuery {
    /// Calls that started at or after this (RFC 3339 or Unix ms).
    pub from: Option<String>,
    /// Calls that started before this (RFC 3339 or Unix ms).
    pub to: Option<String>,
    /// One customer (UUID).
    pub customer_id: Option<String>,
    /// One DID: its UUID or its number.
    pub did: Option<String>,
    /// One gateway (UUID).
    pub gateway_id: Option<String>,
    /// `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`, `CONGESTION`.
    pub disposition: Option<String>,
    /// Rows per page, 1–1000 (default 50).
    pub limit: Option<u32>,
    /// Rows skipped.
    pub offset: Option<u64>,
    /// `csv` for a CSV download (every matching row up to 100,000).
    pub format: Option<String>,
    /// Platform admins: another tenant.
    pub tenant: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn uuid_field(field: &str, value: &Option<String>) -> Result<Option<Uuid>, ApiError> {
    given(value)
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| ApiError::validation(field, "invalid", "not a UUID"))
        })
        .transpose()
}

async fn cdr_filter(s: &AdminState, a: &Actor, q: &CdrQuery) -> Result<CdrFilter, ApiError> {
    let did_id = match given(&q.did) {
        None => None,
        Some(text) => Some(
            s.provisioning
                .did_filter_id(a, text)
                .await
                .map_err(api_error)?,
        ),
    };
    Ok(CdrFilter {
        from_ms: given(&q.from)
            .map(|t| parse_instant("from", t))
            .transpose()?,
        to_ms: given(&q.to).map(|t| parse_instant("to", t)).transpose()?,
        customer_id: uuid_field("customer_id", &q.customer_id)?,
        did_id,
        gateway_id: uuid_field("gateway_id", &q.gateway_id)?,
        disposition: given(&q.disposition).map(str::to_ascii_uppercase),
    })
}

/// Rated call records with totals, a page at a time, or all of them as CSV.
/// Rows carry `start` (= `start_ms`) for the web UI.
#[utoipa::path(
    get,
    path = "/api/v1/reports/cdr",
    params(CdrQuery),
    responses(
        (status = 200, description = "`{items, total, totals, limit, offset}`, or text/csv with ?format=csv", body = Object),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid filter", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "reports"
)]
pub async fn cdr(
    State(s): State<AdminState>,
    auth: Auth,
    Query(q): Query<CdrQuery>,
) -> Result<Response, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    let filter = cdr_filter(&s, &actor, &q).await?;
    match given(&q.format) {
        None | Some("json") => {}
        Some("csv") => {
            let text = s
                .provisioning
                .cdr_csv(&actor, &filter, CSV_MAX_ROWS)
                .await
                .map_err(api_error)?;
            return Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"cdr.csv\"",
                    ),
                ],
                text,
            )
                .into_response());
        }
        Some(_) => {
            return Err(ApiError::validation(
                "format",
                "invalid",
                "json (the default) or csv",
            ));
        }
    }
    let page = Page {
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    let report = s
        .provisioning
        .cdr_report(&actor, &filter, page)
        .await
        .map_err(api_error)?;
    let mut body = to_value(&report)?;
    if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(start) = item.get("start_ms").cloned() {
                item["start"] = start;
            }
        }
    }
    Ok(Json(body).into_response())
}

/// What today's dashboard shows per gateway.
#[derive(Debug, Serialize)]
struct GatewayToday {
    gateway_id: Uuid,
    name: String,
    calls: u64,
    /// Percent.
    asr: f64,
    /// Seconds.
    acd: f64,
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Counts, today's traffic and money (UTC day), quality per gateway and
/// calls per hour.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/stats",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{counts, today, per_gateway, calls_per_hour}`", body = Object),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "reports"
)]
pub async fn dashboard(
    State(s): State<AdminState>,
    auth: Auth,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    let now = crate::now_ms();
    let day = now - now.rem_euclid(DAY_MS);
    let stats: DashboardStats = s
        .provisioning
        .dashboard(&actor, now)
        .await
        .map_err(api_error)?;
    let one = Page {
        limit: 1,
        offset: 0,
    };
    let today = |from_ms: i64, to_ms: i64| CdrFilter {
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        ..CdrFilter::default()
    };
    let totals = s
        .provisioning
        .cdr_report(&actor, &today(day, day + DAY_MS), one)
        .await
        .map_err(api_error)?
        .totals;
    let mut per_hour = Vec::new();
    if totals.calls > 0 {
        for hour in 0..=((now - day) / 3_600_000) {
            let from = day + hour * 3_600_000;
            let calls = s
                .provisioning
                .cdr_report(&actor, &today(from, from + 3_600_000), one)
                .await
                .map_err(api_error)?
                .totals
                .calls;
            per_hour.push(json!({"hour": hour, "calls": calls}));
        }
    }
    let mut per_gateway = Vec::new();
    for g in &stats.gateways {
        let name = match s.provisioning.get_gateway(&actor, g.gateway_id).await {
            Ok(gw) => gw.name,
            Err(_) => g.gateway_id.to_string(),
        };
        per_gateway.push(GatewayToday {
            gateway_id: g.gateway_id,
            name,
            calls: g.calls,
            asr: g.asr * 100.0,
            acd: g.acd,
        });
    }
    let count = |k: &str| stats.counts.get(k).copied().unwrap_or(0);
    let (calls, answered) = (totals.calls as f64, totals.answered as f64);
    let billsec = totals.billsec as f64;
    let money = |m: &Money| to_value(m);
    Ok(Json(json!({
        "counts": {
            "customers": count("customers"),
            "dids": count("dids"),
            "dids_free": stats.dids_available,
            "dids_allocated": stats.dids_allocated,
            "dids_blocked": stats.dids_blocked,
            "gateways": count("gateways"),
            "routes": count("routes"),
            "extensions": count("extensions"),
            "providers": count("providers"),
            "tariffs": count("tariffs"),
            "pbx_servers": count("pbx_servers"),
        },
        "today": {
            "calls": totals.calls,
            "answered": totals.answered,
            "minutes": billsec / 60.0,
            "revenue": money(&stats.revenue_today)?,
            "cost": money(&stats.cost_today)?,
            "margin": money(&stats.margin_today)?,
            "asr": ratio(answered, calls) * 100.0,
            "acd": ratio(billsec, answered),
        },
        "per_gateway": per_gateway,
        "calls_per_hour": per_hour,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_as_the_web_ui_and_scripts_send_them() {
        assert_eq!(parse_instant("from", "0").unwrap(), 0);
        assert_eq!(
            parse_instant("from", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_instant("from", "1970-01-02").unwrap(), DAY_MS);
        assert_eq!(
            parse_instant("from", "2023-11-14T22:13:20.000Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_instant("from", "2023-11-14T23:13:20+01:00").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_instant("from", "2023-11-14T22:13:20.5Z").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_instant("from", "2000-03-01T00:00:00Z").unwrap(),
            951_868_800_000
        );
        for bad in [
            "yesterday",
            "2023-13-01",
            "2023-11-14T25:00:00Z",
            "2023-11-14T10:00",
            "",
        ] {
            let e = parse_instant("from", bad).unwrap_err();
            assert_eq!(e.details[0].field, "from", "{bad}");
        }
    }
}
