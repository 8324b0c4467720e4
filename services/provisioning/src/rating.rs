//! Rating call records into CDRs, and the reports over them.
//!
//! A call is rated by the tariff with the longest `pattern` that prefixes the
//! dialled number (without `+`) and is valid at the call's start. Billed
//! seconds follow the tariff's increment (`30/6`: the first 30 s as a block,
//! then 6 s blocks); cost and price are per-minute rates × billed seconds / 60
//! in micro-units, rounded half up once per call; the connection fee is added
//! to the price of an answered call. Unanswered calls cost nothing. A call
//! with no matching tariff is stored with zero cost and price and no tariff.
//!
//! Rating is idempotent by `(tenant, call_id)`: the insert is
//! `ON CONFLICT DO NOTHING`, so a replayed record never bills twice.

use std::fmt::Write as _;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use ringside_bus::{ConsumerSpec, StreamRole};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::collections::{HashMap, HashSet};

use crate::db::{Arg, Tx, args};
use crate::error::Error;
use crate::model::{Actor, Increment, Page};
use crate::money::Money;
use crate::service::Provisioning;
use crate::store::offset;
use crate::validate::ValidationError;

/// A finished call, as the state service publishes it on
/// `ringside.v1.<tenant>.calls.completed` (JSON). Unknown fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique per tenant (`<pbx>:<linkedid>`).
    pub call_id: String,
    pub tenant: String,
    pub pbx: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub trunk: String,
    pub start_ms: i64,
    #[serde(default)]
    pub answer_ms: Option<i64>,
    pub end_ms: i64,
    #[serde(default)]
    pub billable_seconds: u64,
    #[serde(default)]
    pub disposition: String,
    /// Q.850 cause (a number) or text.
    #[serde(default)]
    pub hangup_cause: Option<serde_json::Value>,
}

/// A rated call record. JSON names follow the Admin API (`src, dst,
/// duration, billsec, price`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cdr {
    pub id: Uuid,
    pub call_id: String,
    pub pbx: String,
    pub src: String,
    pub dst: String,
    pub direction: String,
    pub trunk: Option<String>,
    pub customer_id: Option<Uuid>,
    pub did_id: Option<Uuid>,
    pub gateway_id: Option<Uuid>,
    pub tariff_id: Option<Uuid>,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub end_ms: i64,
    /// Seconds from start to end.
    pub duration: i64,
    /// Seconds from answer to end.
    pub billsec: i64,
    /// `billsec` rounded up to the tariff's increments.
    pub billed_seconds: i64,
    pub disposition: String,
    pub hangup_cause: Option<String>,
    pub cost: Money,
    pub price: Money,
    pub margin: Money,
}

/// What rating one record did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rated {
    /// The record was rated and stored.
    Stored(Box<Cdr>),
    /// A record with this call id was already rated: nothing changed.
    Duplicate,
}

/// Billed seconds, cost and price of `billsec` seconds at a tariff.
pub fn charge(
    billsec: i64,
    increment: Increment,
    cost_per_minute: Money,
    price_per_minute: Money,
    connection_fee: Money,
) -> (i64, Money, Money) {
    if billsec <= 0 {
        return (0, Money::ZERO, Money::ZERO);
    }
    let billed = increment.billed_seconds(billsec);
    let per = |rate: Money| -> i64 {
        // i128: a rate of 1,000 units/min over a day overflows no i64 here,
        // but the product of two i64s could.
        let micros = (i128::from(rate.0) * i128::from(billed) + 30) / 60;
        i64::try_from(micros).unwrap_or(i64::MAX)
    };
    (
        billed,
        Money(per(cost_per_minute)),
        Money(per(price_per_minute).saturating_add(connection_fee.0)),
    )
}

/// CDR report filters (all optional, combined with AND).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CdrFilter {
    /// Calls that started at or after this.
    pub from_ms: Option<i64>,
    /// Calls that started before this.
    pub to_ms: Option<i64>,
    pub customer_id: Option<Uuid>,
    pub did_id: Option<Uuid>,
    pub gateway_id: Option<Uuid>,
    /// `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`, `CONGESTION`.
    pub disposition: Option<String>,
}

/// Sums over every record matching a report's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrTotals {
    pub calls: u64,
    pub answered: u64,
    pub billsec: i64,
    pub cost: Money,
    pub price: Money,
    pub margin: Money,
}

/// One page of a CDR report with the totals of all matching records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrReport {
    pub items: Vec<Cdr>,
    pub total: u64,
    pub totals: CdrTotals,
    pub limit: u32,
    pub offset: u64,
}

/// Answer-seizure ratio and average call duration of one gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatewayQuality {
    pub gateway_id: Uuid,
    pub calls: u64,
    pub answered: u64,
    /// Answered / calls, 0–1.
    pub asr: f64,
    /// Average billsec of answered calls, seconds.
    pub acd: f64,
}

/// The dashboard's numbers for a tenant. "Today" is the UTC day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardStats {
    /// Rows per entity: `customers`, `providers`, `gateways`, `dids`,
    /// `routes`, `extensions`, `tariffs`, `pbx_servers`.
    pub counts: std::collections::BTreeMap<String, u64>,
    pub dids_available: u64,
    pub dids_allocated: u64,
    pub dids_blocked: u64,
    pub calls_today: u64,
    /// Billed minutes today (billsec / 60, rounded down).
    pub minutes_today: i64,
    pub revenue_today: Money,
    pub cost_today: Money,
    pub margin_today: Money,
    /// Today, per gateway with calls.
    pub gateways: Vec<GatewayQuality>,
}

/// The durable consumer name of the rater.
pub const RATER_DURABLE: &str = "provisioning-rater";

/// Records the rater takes per batch at most: large enough for the per-batch
/// costs (tariff load, commits) to vanish and to split across PostgreSQL
/// connections, small enough that a batch commits well within the bus's ack
/// wait.
pub const RATER_BATCH: usize = 2000;

/// Acks of a rated batch in flight at once.
const ACKS_IN_FLIGHT: usize = 256;

/// What one step of the rating loop did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateStep {
    /// A record was rated (or was a duplicate) and acknowledged.
    Rated(Rated),
    /// A record could not be read or rated for good (bad JSON, unknown
    /// tenant, tenant mismatch); it was acknowledged and logged.
    Rejected(String),
    /// Nothing arrived within the wait.
    CaughtUp,
}

const CDR_COLUMNS: &str = "id, call_id, pbx, src, dst, direction, trunk, customer_id, did_id, gateway_id, \
     tariff_id, start_ms, answer_ms, end_ms, duration, billsec, billed_seconds, disposition, \
     hangup_cause, cost, price";

fn cdr_from_row(r: &crate::db::DbRow) -> Result<Cdr, Error> {
    let cost = Money(r.get("cost")?);
    let price = Money(r.get("price")?);
    Ok(Cdr {
        id: r.get("id")?,
        call_id: r.get("call_id")?,
        pbx: r.get("pbx")?,
        src: r.get("src")?,
        dst: r.get("dst")?,
        direction: r.get("direction")?,
        trunk: r.get("trunk")?,
        customer_id: r.get("customer_id")?,
        did_id: r.get("did_id")?,
        gateway_id: r.get("gateway_id")?,
        tariff_id: r.get("tariff_id")?,
        start_ms: r.get("start_ms")?,
        answer_ms: r.get("answer_ms")?,
        end_ms: r.get("end_ms")?,
        duration: r.get("duration")?,
        billsec: r.get("billsec")?,
        billed_seconds: r.get("billed_seconds")?,
        disposition: r.get("disposition")?,
        hangup_cause: r.get("hangup_cause")?,
        cost,
        price,
        margin: Money(price.0 - cost.0),
    })
}

fn digits_of(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

fn cdr_where(tenant: &str, filter: &CdrFilter) -> (String, Vec<Arg>) {
    let mut conditions = vec!["tenant = $1".to_owned()];
    let mut values = args![tenant];
    let mut add = |cond: &str, value: Arg| {
        values.push(value);
        conditions.push(cond.replace('?', &format!("${}", values.len())));
    };
    if let Some(v) = filter.from_ms {
        add("start_ms >= ?", v.into());
    }
    if let Some(v) = filter.to_ms {
        add("start_ms < ?", v.into());
    }
    if let Some(v) = filter.customer_id {
        add("customer_id = ?", v.into());
    }
    if let Some(v) = filter.did_id {
        add("did_id = ?", v.into());
    }
    if let Some(v) = filter.gateway_id {
        add("gateway_id = ?", v.into());
    }
    if let Some(v) = &filter.disposition {
        add("disposition = ?", v.clone().into());
    }
    (conditions.join(" AND "), values)
}

fn csv_field(out: &mut String, value: &str) {
    // Quote everything that could split a field or start a formula in a
    // spreadsheet.
    let risky = value.contains([',', '"', '\n', '\r']) || value.starts_with(['=', '+', '-', '@']);
    if risky {
        out.push('"');
        if value.starts_with(['=', '+', '-', '@']) {
            out.push('\'');
        }
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One tariff row, as rating needs it.
pub(crate) struct TariffRow {
    pub(crate) id: Uuid,
    pub(crate) increment: Increment,
    pub(crate) cost: Money,
    pub(crate) price: Money,
    pub(crate) fee: Money,
    pub(crate) valid_from_ms: i64,
    pub(crate) valid_to_ms: Option<i64>,
}

/// A tenant's tariffs in memory, read with one query: the lookup of a call is
/// then at most 20 hash probes (one per prefix length) instead of a query.
pub(crate) struct Tariffs {
    /// Pattern → its rows, newest validity first.
    by_pattern: HashMap<String, Vec<TariffRow>>,
}

/// Every tariff of tenant `$1`, grouped by pattern, newest validity first
/// (the order [`Tariffs::from_rows`] relies on).
pub(crate) const TARIFFS_SQL: &str = "SELECT id, pattern, increment_first, increment_next, \
     cost_per_minute, price_per_minute, connection_fee, valid_from_ms, valid_to_ms FROM tariffs \
     WHERE tenant = $1 ORDER BY pattern, valid_from_ms DESC";

impl Tariffs {
    /// From the rows of [`TARIFFS_SQL`].
    pub(crate) fn from_rows(rows: &[crate::db::DbRow]) -> Result<Tariffs, Error> {
        let mut by_pattern: HashMap<String, Vec<TariffRow>> = HashMap::new();
        for r in rows {
            by_pattern
                .entry(r.get("pattern")?)
                .or_default()
                .push(TariffRow {
                    id: r.get("id")?,
                    increment: Increment {
                        first: r.get("increment_first")?,
                        next: r.get("increment_next")?,
                    },
                    cost: Money(r.get("cost_per_minute")?),
                    price: Money(r.get("price_per_minute")?),
                    fee: Money(r.get("connection_fee")?),
                    valid_from_ms: r.get("valid_from_ms")?,
                    valid_to_ms: r.get("valid_to_ms")?,
                });
        }
        Ok(Tariffs { by_pattern })
    }

    /// From `(pattern, row)` pairs in any order (tests).
    #[cfg(test)]
    pub(crate) fn from_list(rows: Vec<(&str, TariffRow)>) -> Tariffs {
        let mut by_pattern: HashMap<String, Vec<TariffRow>> = HashMap::new();
        for (pattern, row) in rows {
            by_pattern.entry(pattern.to_owned()).or_default().push(row);
        }
        for rows in by_pattern.values_mut() {
            rows.sort_by_key(|r| std::cmp::Reverse(r.valid_from_ms));
        }
        Tariffs { by_pattern }
    }

    /// The tariff with the longest pattern prefixing `digits` (ASCII digits
    /// only) that is valid at `at_ms`.
    pub(crate) fn find(&self, digits: &str, at_ms: i64) -> Option<&TariffRow> {
        (1..=digits.len().min(20)).rev().find_map(|n| {
            self.by_pattern
                .get(digits.get(..n)?)?
                .iter()
                .find(|t| t.valid_from_ms <= at_ms && t.valid_to_ms.is_none_or(|to| to > at_ms))
        })
    }
}

/// A tenant's rating data, read once per batch.
struct TenantRates {
    tenant: String,
    tariffs: Tariffs,
    gateways: HashMap<String, Uuid>,
    customers: HashMap<String, Uuid>,
}

impl TenantRates {
    /// `None` for an unknown tenant.
    async fn load(tx: &mut Tx, tenant: &str) -> Result<Option<TenantRates>, Error> {
        if tx
            .exec()
            .fetch_optional("SELECT id FROM tenants WHERE slug = $1", args![tenant])
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let tariffs = Tariffs::from_rows(&tx.exec().fetch_all(TARIFFS_SQL, args![tenant]).await?)?;
        let names = |table: &str, column: &str| {
            let sql = format!("SELECT id, {column} AS k FROM {table} WHERE tenant = $1");
            (sql, args![tenant])
        };
        let (sql, values) = names("gateways", "name");
        let mut gateways = HashMap::new();
        for r in tx.exec().fetch_all(&sql, values).await? {
            gateways.insert(r.get("k")?, r.get("id")?);
        }
        let (sql, values) = names("customers", "code");
        let mut customers = HashMap::new();
        for r in tx.exec().fetch_all(&sql, values).await? {
            customers.insert(r.get("k")?, r.get("id")?);
        }
        Ok(Some(TenantRates {
            tenant: tenant.to_owned(),
            tariffs,
            gateways,
            customers,
        }))
    }

    /// The DIDs among `numbers` (`+digits`): number → (DID, customer holding
    /// it), in one query whatever the batch size: the numbers travel as one
    /// JSON array parameter (binding hundreds of separate parameters is what
    /// made large statements slow on SQLite).
    async fn load_dids(
        &self,
        tx: &mut Tx,
        numbers: &[String],
    ) -> Result<HashMap<String, (Uuid, Option<Uuid>)>, Error> {
        let mut found = HashMap::new();
        if numbers.is_empty() {
            return Ok(found);
        }
        let list = if matches!(tx, Tx::Pg(_)) {
            "SELECT json_array_elements_text($2::json)"
        } else {
            "SELECT value FROM json_each($2)"
        };
        let numbers = serde_json::to_string(numbers)
            .map_err(|e| Error::Internal(format!("encoding numbers: {e}")))?;
        for r in tx
            .exec()
            .fetch_all(
                &format!(
                    "SELECT d.number AS number, d.id AS did_id, cd.customer_id AS customer_id \
                     FROM dids d LEFT JOIN customer_dids cd ON cd.tenant = d.tenant AND cd.did_id = d.id \
                     WHERE d.tenant = $1 AND d.number IN ({list})"
                ),
                args![self.tenant.as_str(), numbers],
            )
            .await?
        {
            found.insert(r.get("number")?, (r.get("did_id")?, r.get("customer_id")?));
        }
        Ok(found)
    }

    /// The CDR of `record` (not stored); `dids` from [`TenantRates::load_dids`].
    fn rate(&self, record: &CallRecord, dids: &HashMap<String, (Uuid, Option<Uuid>)>) -> Cdr {
        let dst_digits = digits_of(&record.to);
        let billsec = i64::try_from(record.billable_seconds).unwrap_or(i64::MAX);
        let tariff = self.tariffs.find(&dst_digits, record.start_ms);
        let (billed, cost, price) = match tariff {
            Some(t) => charge(billsec, t.increment, t.cost, t.price, t.fee),
            None => (0, Money::ZERO, Money::ZERO),
        };
        // Attribution: the DID called (and the customer holding it), the
        // gateway used (by trunk name), else a customer trunk of that code.
        let (did_id, mut customer_id) = match dids.get(&format!("+{dst_digits}")) {
            Some((did, customer)) => (Some(*did), *customer),
            None => (None, None),
        };
        if customer_id.is_none() {
            customer_id = self.customers.get(&record.trunk).copied();
        }
        let hangup_cause = record.hangup_cause.as_ref().and_then(|v| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
        Cdr {
            // Time-ordered: CDRs arrive in time order, so their keys append
            // to the primary key's B-tree instead of landing at random.
            id: Uuid::now_v7(),
            call_id: record.call_id.clone(),
            pbx: record.pbx.clone(),
            src: record.from.clone(),
            dst: record.to.clone(),
            direction: record.direction.clone(),
            trunk: (!record.trunk.is_empty()).then(|| record.trunk.clone()),
            customer_id,
            did_id,
            gateway_id: self.gateways.get(&record.trunk).copied(),
            tariff_id: tariff.map(|t| t.id),
            start_ms: record.start_ms,
            answer_ms: record.answer_ms,
            end_ms: record.end_ms,
            duration: (record.end_ms - record.start_ms).max(0) / 1000,
            billsec,
            billed_seconds: billed,
            disposition: record.disposition.clone(),
            hangup_cause,
            cost,
            price,
            margin: Money(price.0 - cost.0),
        }
    }
}

/// One CDR as a JSON object for [`INSERT_CDRS_SQLITE`]. UUIDs are plain hex,
/// which SQLite turns into the 16-byte blob sqlx stores (`unhex`).
#[derive(Serialize)]
struct CdrJson<'a> {
    id: String,
    call_id: &'a str,
    pbx: &'a str,
    src: &'a str,
    dst: &'a str,
    direction: &'a str,
    trunk: Option<&'a str>,
    customer_id: Option<String>,
    did_id: Option<String>,
    gateway_id: Option<String>,
    tariff_id: Option<String>,
    start_ms: i64,
    answer_ms: Option<i64>,
    end_ms: i64,
    duration: i64,
    billsec: i64,
    billed_seconds: i64,
    disposition: &'a str,
    hangup_cause: Option<&'a str>,
    cost: i64,
    price: i64,
}

impl<'a> CdrJson<'a> {
    fn of(cdr: &'a Cdr) -> CdrJson<'a> {
        let hex = |id: Option<Uuid>| id.map(|id| id.simple().to_string());
        CdrJson {
            id: cdr.id.simple().to_string(),
            call_id: &cdr.call_id,
            pbx: &cdr.pbx,
            src: &cdr.src,
            dst: &cdr.dst,
            direction: &cdr.direction,
            trunk: cdr.trunk.as_deref(),
            customer_id: hex(cdr.customer_id),
            did_id: hex(cdr.did_id),
            gateway_id: hex(cdr.gateway_id),
            tariff_id: hex(cdr.tariff_id),
            start_ms: cdr.start_ms,
            answer_ms: cdr.answer_ms,
            end_ms: cdr.end_ms,
            duration: cdr.duration,
            billsec: cdr.billsec,
            billed_seconds: cdr.billed_seconds,
            disposition: &cdr.disposition,
            hangup_cause: cdr.hangup_cause.as_deref(),
            cost: cdr.cost.0,
            price: cdr.price.0,
        }
    }
}

/// PostgreSQL: one typed array per column, sent in binary and zipped back
/// into rows by `UNNEST`; the server parses no text (a JSON record set cost
/// a third of the statement's time).
const INSERT_CDRS_POSTGRES: &str = "INSERT INTO cdr (tenant, rated_at_ms, id, call_id, pbx, src, \
     dst, direction, trunk, customer_id, did_id, gateway_id, tariff_id, start_ms, answer_ms, \
     end_ms, duration, billsec, billed_seconds, disposition, hangup_cause, cost, price) \
     SELECT $1, $2, * FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::uuid[], $13::uuid[], $14::int8[], \
     $15::int8[], $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::text[], $21::text[], \
     $22::int8[], $23::int8[]) \
     ON CONFLICT (tenant, call_id) DO NOTHING RETURNING call_id";

/// SQLite: the JSON array through `jsonb_each`, whose `value`s are binary
/// JSON that `->>` reads without parsing text again per column (`json_each`
/// would hand each row back as text). `WHERE true` is SQLite's required
/// disambiguation of `INSERT … SELECT … ON CONFLICT`.
const INSERT_CDRS_SQLITE: &str = "INSERT INTO cdr (tenant, rated_at_ms, id, call_id, pbx, src, \
     dst, direction, trunk, customer_id, did_id, gateway_id, tariff_id, start_ms, answer_ms, \
     end_ms, duration, billsec, billed_seconds, disposition, hangup_cause, cost, price) \
     SELECT $1, $2, unhex(value->>'id'), value->>'call_id', value->>'pbx', value->>'src', \
     value->>'dst', value->>'direction', value->>'trunk', unhex(value->>'customer_id'), \
     unhex(value->>'did_id'), unhex(value->>'gateway_id'), unhex(value->>'tariff_id'), \
     value->>'start_ms', value->>'answer_ms', value->>'end_ms', value->>'duration', \
     value->>'billsec', value->>'billed_seconds', value->>'disposition', \
     value->>'hangup_cause', value->>'cost', value->>'price' FROM jsonb_each($3) WHERE true \
     ON CONFLICT (tenant, call_id) DO NOTHING RETURNING call_id";

/// Rows per INSERT statement at most. The rows travel as parameters (one JSON
/// array on SQLite, one array per column on PostgreSQL), so the statement
/// text is fixed (prepared once per connection); 1,000 rows are ~400 KB.
const ROWS_PER_INSERT: usize = 1000;

/// PostgreSQL connections one batch inserts on at once (see
/// [`Provisioning::rate_calls`]). Two: the development machines have two
/// cores, and one connection keeps one server core busy.
const PG_INSERT_CONNECTIONS: usize = 2;

/// Parts smaller than this are not worth a connection of their own.
const MIN_ROWS_PER_PART: usize = 250;

/// Rows per insert part for `n` rows of a tenant: one part per statement on
/// SQLite; on PostgreSQL an equal share per connection.
fn rows_per_part(n: usize, parallel: bool) -> usize {
    if parallel {
        n.div_ceil(PG_INSERT_CONNECTIONS)
            .clamp(MIN_ROWS_PER_PART, ROWS_PER_INSERT)
    } else {
        ROWS_PER_INSERT
    }
}

/// CDRs of one tenant inserted by one statement; `records` are their
/// positions in the batch.
struct InsertPart<'a> {
    tenant: &'a str,
    records: Vec<usize>,
    cdrs: Vec<Cdr>,
}

/// Inserts CDRs of one tenant in one statement (`ON CONFLICT DO NOTHING`
/// keeps it idempotent by call id); returns the call ids that were new (the
/// others were rated before).
async fn insert_cdrs(
    tx: &mut Tx,
    tenant: &str,
    rated_at: i64,
    cdrs: &[Cdr],
) -> Result<HashSet<String>, Error> {
    if cdrs.is_empty() {
        return Ok(HashSet::new());
    }
    let new = match tx {
        Tx::Pg(tx) => insert_cdrs_postgres(tx, tenant, rated_at, cdrs).await?,
        Tx::Sqlite(_) => {
            let rows: Vec<CdrJson<'_>> = cdrs.iter().map(CdrJson::of).collect();
            let rows = serde_json::to_string(&rows)
                .map_err(|e| Error::Internal(format!("encoding CDRs: {e}")))?;
            tx.exec()
                .fetch_all(INSERT_CDRS_SQLITE, args![tenant, rated_at, rows])
                .await?
                .iter()
                .map(|r| r.get::<String>("call_id"))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(new)
}

/// [`INSERT_CDRS_POSTGRES`] with its column arrays.
async fn insert_cdrs_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    tenant: &str,
    rated_at: i64,
    cdrs: &[Cdr],
) -> Result<HashSet<String>, Error> {
    fn column<'a, T>(cdrs: &'a [Cdr], f: impl Fn(&'a Cdr) -> T) -> Vec<T> {
        cdrs.iter().map(f).collect()
    }
    let rows = sqlx::query(INSERT_CDRS_POSTGRES)
        .bind(tenant)
        .bind(rated_at)
        .bind(column(cdrs, |c| c.id))
        .bind(column(cdrs, |c| c.call_id.as_str()))
        .bind(column(cdrs, |c| c.pbx.as_str()))
        .bind(column(cdrs, |c| c.src.as_str()))
        .bind(column(cdrs, |c| c.dst.as_str()))
        .bind(column(cdrs, |c| c.direction.as_str()))
        .bind(column(cdrs, |c| c.trunk.as_deref()))
        .bind(column(cdrs, |c| c.customer_id))
        .bind(column(cdrs, |c| c.did_id))
        .bind(column(cdrs, |c| c.gateway_id))
        .bind(column(cdrs, |c| c.tariff_id))
        .bind(column(cdrs, |c| c.start_ms))
        .bind(column(cdrs, |c| c.answer_ms))
        .bind(column(cdrs, |c| c.end_ms))
        .bind(column(cdrs, |c| c.duration))
        .bind(column(cdrs, |c| c.billsec))
        .bind(column(cdrs, |c| c.billed_seconds))
        .bind(column(cdrs, |c| c.disposition.as_str()))
        .bind(column(cdrs, |c| c.hangup_cause.as_deref()))
        .bind(column(cdrs, |c| c.cost.0))
        .bind(column(cdrs, |c| c.price.0))
        .fetch_all(&mut **tx)
        .await
        .map_err(crate::error::StoreError::from_sqlx)?;
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "call_id"))
        .collect::<Result<_, _>>()
        .map_err(|e| crate::error::StoreError::from_sqlx(e).into())
}

impl Provisioning {
    /// Rates one call record and stores it, unless its call id was rated
    /// before.
    ///
    /// # Errors
    /// `Validation` for a record of an unknown tenant or without a call id;
    /// store errors.
    pub async fn rate_call(&self, record: &CallRecord) -> Result<Rated, Error> {
        let mut results = self.rate_calls(std::slice::from_ref(record)).await?;
        match results.pop() {
            Some(Ok(rated)) => Ok(rated),
            Some(Err(invalid)) => Err(invalid.into()),
            None => Err(Error::Internal("no rating result".to_owned())),
        }
    }

    /// Rates a batch of records: tariffs, gateways and customers are read
    /// once per tenant (tariffs matched in memory), DIDs with one query, and
    /// CDRs are inserted with `ON CONFLICT DO NOTHING RETURNING`, which tells
    /// which were new. Each record's outcome is in the same position: stored,
    /// duplicate (rated before, or earlier in this batch), or why it cannot be
    /// rated.
    ///
    /// SQLite has one writer, so the whole batch is one transaction. On
    /// PostgreSQL the rows are split into [`PG_INSERT_CONNECTIONS`] parts
    /// inserted at once, each in its own transaction: index maintenance is
    /// most of an insert's cost and it runs on as many server cores as there
    /// are connections. A failure may then leave one part stored and not the
    /// other; the caller retries the batch (the rater gives it back to the
    /// bus), and idempotency by call id makes the stored part duplicates.
    ///
    /// # Errors
    /// Store errors.
    pub async fn rate_calls(
        &self,
        records: &[CallRecord],
    ) -> Result<Vec<Result<Rated, ValidationError>>, Error> {
        let mut tx = self.store.begin().await?;
        let mut contexts: HashMap<String, Option<TenantRates>> = HashMap::new();
        let mut out: Vec<Option<Result<Rated, ValidationError>>> = vec![None; records.len()];
        // Valid records per tenant, first occurrence of each call id only.
        let mut by_tenant: HashMap<String, Vec<usize>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (i, record) in records.iter().enumerate() {
            if record.call_id.is_empty() || record.call_id.len() > 256 {
                out[i] = Some(Err(ValidationError::field(
                    "call_id",
                    "required",
                    "1-256 characters",
                )));
                continue;
            }
            if !contexts.contains_key(&record.tenant) {
                let loaded = TenantRates::load(&mut tx, &record.tenant).await?;
                contexts.insert(record.tenant.clone(), loaded);
            }
            if !matches!(contexts.get(&record.tenant), Some(Some(_))) {
                out[i] = Some(Err(ValidationError::field(
                    "tenant",
                    "not_found",
                    "no such tenant",
                )));
                continue;
            }
            if !seen.insert((record.tenant.as_str(), record.call_id.as_str())) {
                out[i] = Some(Ok(Rated::Duplicate));
                continue;
            }
            by_tenant.entry(record.tenant.clone()).or_default().push(i);
        }
        let parallel = matches!(tx, Tx::Pg(_));
        let mut parts: Vec<InsertPart<'_>> = Vec::new();
        for (tenant, indexes) in &by_tenant {
            let Some(Some(rates)) = contexts.get(tenant) else {
                continue;
            };
            let mut numbers: Vec<String> = indexes
                .iter()
                .map(|&i| format!("+{}", digits_of(&records[i].to)))
                .filter(|n| n.len() > 1)
                .collect();
            numbers.sort();
            numbers.dedup();
            let dids = rates.load_dids(&mut tx, &numbers).await?;
            for chunk in indexes.chunks(rows_per_part(indexes.len(), parallel)) {
                parts.push(InsertPart {
                    tenant,
                    records: chunk.to_vec(),
                    cdrs: chunk
                        .iter()
                        .map(|&i| rates.rate(&records[i], &dids))
                        .collect(),
                });
            }
        }
        let rated_at = crate::service::now_ms();
        let inserted = if parallel && parts.len() > 1 {
            // The reads are done; the parts write on their own connections.
            tx.commit().await?;
            // Collected first: with a lazy `map` over a borrowing closure the
            // compiler cannot prove the whole future `Send` (it is spawned).
            let inserts: Vec<_> = parts
                .iter()
                .map(|part| self.insert_part(part, rated_at))
                .collect();
            futures::stream::iter(inserts)
                .buffered(PG_INSERT_CONNECTIONS)
                .try_collect::<Vec<_>>()
                .await?
        } else {
            let mut inserted = Vec::with_capacity(parts.len());
            for part in &parts {
                inserted.push(insert_cdrs(&mut tx, part.tenant, rated_at, &part.cdrs).await?);
            }
            tx.commit().await?;
            inserted
        };
        for (part, new) in parts.into_iter().zip(inserted) {
            for (i, cdr) in part.records.into_iter().zip(part.cdrs) {
                out[i] = Some(Ok(if new.contains(&cdr.call_id) {
                    Rated::Stored(Box::new(cdr))
                } else {
                    Rated::Duplicate
                }));
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or(Ok(Rated::Duplicate)))
            .collect())
    }

    /// Inserts one part in a transaction of its own.
    async fn insert_part(
        &self,
        part: &InsertPart<'_>,
        rated_at: i64,
    ) -> Result<HashSet<String>, Error> {
        let mut tx = self.store.begin().await?;
        let new = insert_cdrs(&mut tx, part.tenant, rated_at, &part.cdrs).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// The rater's durable consumer of every tenant's call records.
    ///
    /// # Errors
    /// Bus errors.
    pub async fn rating_consumer(&self) -> Result<Box<dyn ringside_bus::Consumer>, Error> {
        let topology = self.topology();
        let spec = ConsumerSpec::new(topology.stream_name(StreamRole::Calls), RATER_DURABLE)
            .filter(topology.subjects().calls_stream_pattern());
        Ok(self.bus().consumer(spec).await?)
    }

    /// One step of the rating loop: takes the next record (waiting up to
    /// `wait`), rates it, acknowledges it. A record that can never be rated is
    /// acknowledged and reported as [`RateStep::Rejected`]; a store failure is
    /// returned without acknowledging, so the record comes again.
    ///
    /// # Errors
    /// Bus errors; store errors.
    pub async fn rate_next(
        &self,
        consumer: &mut dyn ringside_bus::Consumer,
        wait: Duration,
    ) -> Result<RateStep, Error> {
        Ok(self
            .rate_available(consumer, wait, 1)
            .await?
            .pop()
            .unwrap_or(RateStep::CaughtUp))
    }

    /// One batch of the rating loop: waits up to `wait` for a record, then
    /// takes whatever else is already there, up to `max` records in all,
    /// rates them in one transaction ([`Provisioning::rate_calls`]) and
    /// acknowledges them after the commit. One step per record taken, in
    /// delivery order; `[CaughtUp]` when nothing arrived.
    ///
    /// A record that can never be rated (bad JSON, a tenant that does not
    /// match its subject, an unknown tenant, no call id) is acknowledged and
    /// reported as [`RateStep::Rejected`]. A store failure gives every
    /// rateable record of the batch back (`nak`) and is returned: the batch
    /// comes again, and idempotency by call id makes the retry safe.
    ///
    /// # Errors
    /// Bus errors; store errors.
    pub async fn rate_available(
        &self,
        consumer: &mut dyn ringside_bus::Consumer,
        wait: Duration,
        max: usize,
    ) -> Result<Vec<RateStep>, Error> {
        let Some(first) = consumer.next_within(wait).await? else {
            return Ok(vec![RateStep::CaughtUp]);
        };
        let mut deliveries = vec![first];
        while deliveries.len() < max.max(1) {
            match consumer.next_within(Duration::ZERO).await {
                Ok(Some(delivery)) => deliveries.push(delivery),
                Ok(None) => break,
                // Rate what we hold; the bus error shows again on the next
                // wait if it lasts.
                Err(e) => {
                    tracing::warn!(error = %e, "taking more call records failed");
                    break;
                }
            }
        }
        let mut steps: Vec<Option<RateStep>> = Vec::with_capacity(deliveries.len());
        let mut records = Vec::new();
        let mut pending = Vec::new();
        for delivery in deliveries {
            match self.read_record(&delivery) {
                Ok(record) => {
                    steps.push(None);
                    records.push(record);
                    pending.push((steps.len() - 1, delivery));
                }
                Err(why) => {
                    delivery.ack().await?;
                    steps.push(Some(RateStep::Rejected(why)));
                }
            }
        }
        if !records.is_empty() {
            match self.rate_calls(&records).await {
                Ok(results) => {
                    let mut delivered = Vec::with_capacity(pending.len());
                    for ((slot, delivery), (result, record)) in
                        pending.into_iter().zip(results.into_iter().zip(&records))
                    {
                        delivered.push(delivery);
                        steps[slot] = Some(match result {
                            Ok(rated) => RateStep::Rated(rated),
                            Err(v) => {
                                tracing::warn!(call_id = %record.call_id, error = %v, "call record rejected");
                                RateStep::Rejected(v.to_string())
                            }
                        });
                    }
                    // Concurrently: each JetStream ack is a confirmed round
                    // trip, which one after another cost a round trip per
                    // record of the batch.
                    futures::stream::iter(delivered)
                        .map(Ok)
                        .try_for_each_concurrent(ACKS_IN_FLIGHT, |delivery| delivery.ack())
                        .await?;
                }
                Err(e) => {
                    for (_, delivery) in pending {
                        delivery.nak().await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(steps.into_iter().flatten().collect())
    }

    /// The call record of a delivery, or why it can never be rated.
    fn read_record(&self, delivery: &ringside_bus::Delivery) -> Result<CallRecord, String> {
        let subject_tenant = self
            .topology()
            .subjects()
            .tenant_and_pbx(&delivery.msg.subject)
            .map(|(tenant, _)| tenant.to_owned());
        let record: CallRecord = serde_json::from_slice(&delivery.msg.payload).map_err(|e| {
            tracing::warn!(subject = %delivery.msg.subject, error = %e, "call record rejected");
            format!("unreadable call record: {e}")
        })?;
        if subject_tenant.as_deref() != Some(record.tenant.as_str()) {
            tracing::warn!(subject = %delivery.msg.subject, tenant = %record.tenant, "call record rejected: tenant does not match its subject");
            return Err("tenant does not match the subject".to_owned());
        }
        Ok(record)
    }

    /// Rates records in batches (up to [`RATER_BATCH`] at a time) until
    /// `shutdown` is cancelled.
    ///
    /// # Errors
    /// Bus errors creating the consumer.
    pub async fn run_rater(
        &self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<(), Error> {
        let mut consumer = self.rating_consumer().await?;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                step = self.rate_available(consumer.as_mut(), Duration::from_secs(5), RATER_BATCH) => {
                    if let Err(e) = step {
                        tracing::error!(error = %e, "rating failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    /// A page of rated CDRs (newest first) with totals over all matches.
    ///
    /// # Errors
    /// Store errors.
    pub async fn cdr_report(
        &self,
        actor: &Actor,
        filter: &CdrFilter,
        page: Page,
    ) -> Result<CdrReport, Error> {
        let tenant = ringside_bus::TenantId::new(actor.tenant.as_str())
            .map_err(|_| Error::Forbidden("invalid tenant"))?;
        let page = page.clamped();
        let (where_, mut values) = cdr_where(tenant.as_str(), filter);
        let totals_row = self
            .store
            .db
            .exec()
            .fetch_optional(
                &format!(
                    "SELECT COUNT(*) AS calls, \
                     CAST(COALESCE(SUM(CASE WHEN billsec > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS answered, \
                     CAST(COALESCE(SUM(billsec), 0) AS BIGINT) AS billsec, \
                     CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS cost, \
                     CAST(COALESCE(SUM(price), 0) AS BIGINT) AS price FROM cdr WHERE {where_}"
                ),
                values.clone(),
            )
            .await?;
        let totals = match totals_row {
            Some(r) => {
                let cost: i64 = r.get("cost")?;
                let price: i64 = r.get("price")?;
                CdrTotals {
                    calls: u64::try_from(r.get::<i64>("calls")?).unwrap_or(0),
                    answered: u64::try_from(r.get::<i64>("answered")?).unwrap_or(0),
                    billsec: r.get("billsec")?,
                    cost: Money(cost),
                    price: Money(price),
                    margin: Money(price - cost),
                }
            }
            None => CdrTotals::default(),
        };
        let n = values.len();
        values.push(i64::from(page.limit).into());
        values.push(offset(page).into());
        let rows = self
            .store
            .db
            .exec()
            .fetch_all(
                &format!(
                    "SELECT {CDR_COLUMNS} FROM cdr WHERE {where_} ORDER BY start_ms DESC, id \
                     LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                ),
                values,
            )
            .await?;
        let items = rows
            .iter()
            .map(cdr_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CdrReport {
            items,
            total: totals.calls,
            totals,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// The CDRs matching `filter` as CSV (at most `max_rows`, newest first),
    /// with a header line. Text fields that a spreadsheet would take for a
    /// formula are quoted and prefixed with `'`.
    ///
    /// Pages by key (`start_ms`, `id`) rather than by offset, and without
    /// totals: an export of N rows reads N rows, not N²/page.
    ///
    /// # Errors
    /// Store errors.
    pub async fn cdr_csv(
        &self,
        actor: &Actor,
        filter: &CdrFilter,
        max_rows: u32,
    ) -> Result<String, Error> {
        let tenant = ringside_bus::TenantId::new(actor.tenant.as_str())
            .map_err(|_| Error::Forbidden("invalid tenant"))?;
        let mut out = String::from(
            "call_id,start_ms,answer_ms,end_ms,src,dst,direction,disposition,duration,billsec,billed_seconds,cost,price,margin\n",
        );
        let (where_, values) = cdr_where(tenant.as_str(), filter);
        let mut after: Option<(i64, Uuid)> = None;
        let mut left = u64::from(max_rows);
        while left > 0 {
            let limit = i64::try_from(left.min(1000)).unwrap_or(1000);
            let mut values = values.clone();
            let mut sql = format!("SELECT {CDR_COLUMNS} FROM cdr WHERE {where_}");
            if let Some((start, id)) = after {
                let n = values.len();
                values.push(start.into());
                values.push(id.into());
                let _ = write!(
                    sql,
                    " AND (start_ms < ${a} OR (start_ms = ${a} AND id > ${b}))",
                    a = n + 1,
                    b = n + 2
                );
            }
            values.push(limit.into());
            let _ = write!(sql, " ORDER BY start_ms DESC, id LIMIT ${}", values.len());
            let rows = self.store.db.exec().fetch_all(&sql, values).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = Some((last.get("start_ms")?, last.get("id")?));
            for row in &rows {
                let c = cdr_from_row(row)?;
                csv_field(&mut out, &c.call_id);
                let _ = write!(
                    out,
                    ",{},{},{},",
                    c.start_ms,
                    c.answer_ms.map(|v| v.to_string()).unwrap_or_default(),
                    c.end_ms
                );
                csv_field(&mut out, &c.src);
                out.push(',');
                csv_field(&mut out, &c.dst);
                out.push(',');
                csv_field(&mut out, &c.direction);
                out.push(',');
                csv_field(&mut out, &c.disposition);
                let _ = writeln!(
                    out,
                    ",{},{},{},{},{},{}",
                    c.duration, c.billsec, c.billed_seconds, c.cost, c.price, c.margin
                );
            }
            left = left.saturating_sub(rows.len() as u64);
        }
        Ok(out)
    }

    /// The dashboard's numbers; `now_ms` fixes "today" (UTC).
    ///
    /// # Errors
    /// Store errors.
    pub async fn dashboard(&self, actor: &Actor, now_ms: i64) -> Result<DashboardStats, Error> {
        let tenant = ringside_bus::TenantId::new(actor.tenant.as_str())
            .map_err(|_| Error::Forbidden("invalid tenant"))?;
        let tenant = tenant.as_str();
        let mut counts = std::collections::BTreeMap::new();
        for table in [
            "customers",
            "providers",
            "gateways",
            "dids",
            "routes",
            "extensions",
            "tariffs",
            "pbx_servers",
        ] {
            counts.insert(table.to_owned(), self.store.count(table, tenant).await?);
        }
        let db = &self.store.db;
        let mut by_status = std::collections::BTreeMap::new();
        for r in db
            .exec()
            .fetch_all(
                "SELECT status, COUNT(*) AS n FROM dids WHERE tenant = $1 GROUP BY status",
                args![tenant],
            )
            .await?
        {
            by_status.insert(
                r.get::<String>("status")?,
                u64::try_from(r.get::<i64>("n")?).unwrap_or(0),
            );
        }
        let day_start = now_ms - now_ms.rem_euclid(86_400_000);
        let today = CdrFilter {
            from_ms: Some(day_start),
            to_ms: Some(day_start + 86_400_000),
            ..CdrFilter::default()
        };
        let totals = self
            .cdr_report(
                actor,
                &today,
                Page {
                    limit: 1,
                    offset: 0,
                },
            )
            .await?
            .totals;
        let mut gateways = Vec::new();
        for r in db
            .exec()
            .fetch_all(
                "SELECT gateway_id, COUNT(*) AS calls, \
                 CAST(COALESCE(SUM(CASE WHEN billsec > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS answered, \
                 CAST(COALESCE(SUM(billsec), 0) AS BIGINT) AS billsec \
                 FROM cdr WHERE tenant = $1 AND start_ms >= $2 AND start_ms < $3 AND gateway_id IS NOT NULL \
                 GROUP BY gateway_id ORDER BY gateway_id",
                args![tenant, day_start, day_start + 86_400_000],
            )
            .await?
        {
            let calls: i64 = r.get("calls")?;
            let answered: i64 = r.get("answered")?;
            let billsec: i64 = r.get("billsec")?;
            #[allow(clippy::cast_precision_loss)]
            gateways.push(GatewayQuality {
                gateway_id: r.get("gateway_id")?,
                calls: u64::try_from(calls).unwrap_or(0),
                answered: u64::try_from(answered).unwrap_or(0),
                asr: if calls > 0 { answered as f64 / calls as f64 } else { 0.0 },
                acd: if answered > 0 { billsec as f64 / answered as f64 } else { 0.0 },
            });
        }
        Ok(DashboardStats {
            counts,
            dids_available: by_status.get("available").copied().unwrap_or(0),
            dids_allocated: by_status.get("allocated").copied().unwrap_or(0),
            dids_blocked: by_status.get("blocked").copied().unwrap_or(0),
            calls_today: totals.calls,
            minutes_today: totals.billsec / 60,
            revenue_today: totals.price,
            cost_today: totals.cost,
            margin_today: totals.margin,
            gateways,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_follow_increments_and_round_once() {
        let m = |s: &str| Money::parse(s).unwrap();
        // 30/6 at 0.06/min: 31 s → 36 s billed → 0.036.
        let (billed, cost, price) = charge(
            31,
            Increment { first: 30, next: 6 },
            m("0.03"),
            m("0.06"),
            m("0.01"),
        );
        assert_eq!(billed, 36);
        assert_eq!(cost, m("0.018"));
        assert_eq!(price, m("0.046"));
        // 60/60: 61 s → 2 minutes.
        let (billed, _, price) = charge(
            61,
            Increment::default(),
            Money::ZERO,
            m("0.011"),
            Money::ZERO,
        );
        assert_eq!(billed, 120);
        assert_eq!(price, m("0.022"));
        // Unanswered: nothing, not even the connection fee.
        assert_eq!(
            charge(0, Increment::default(), m("1"), m("1"), m("1")),
            (0, Money::ZERO, Money::ZERO)
        );
        // 1/1 at 0.000001/min for 7 s: 0.1167 micro → rounds to 0.
        assert_eq!(
            charge(
                7,
                Increment { first: 1, next: 1 },
                Money(1),
                Money(1),
                Money::ZERO
            )
            .2,
            Money(0)
        );
        // 1/1 at 0.000001/min for 31 s: 0.5167 micro → rounds half up to 1.
        assert_eq!(
            charge(
                31,
                Increment { first: 1, next: 1 },
                Money(1),
                Money(1),
                Money::ZERO
            )
            .2,
            Money(1)
        );
    }

    /// The report index migration (`0002`) says the same on both databases:
    /// the same statements in the same order, on the same index names.
    #[test]
    fn both_report_index_migrations_match() {
        let postgres = include_str!("../migrations/postgres/0002_cdr_report_index.sql");
        let sqlite = include_str!("../migrations/sqlite/0002_cdr_report_index.sql");
        let statements = |sql: &str| -> Vec<String> {
            sql.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("--"))
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .collect()
        };
        assert_eq!(statements(postgres), statements(sqlite));
        assert_eq!(
            statements(postgres),
            ["CREATE INDEX cdr_report", "DROP INDEX cdr_start;"]
        );
    }

    #[test]
    fn csv_fields_cannot_split_rows_or_start_formulas() {
        let mut out = String::new();
        csv_field(&mut out, "plain");
        out.push('|');
        csv_field(&mut out, "a,b\"c\nd");
        out.push('|');
        csv_field(&mut out, "=HYPERLINK(1)");
        assert_eq!(out, "plain|\"a,b\"\"c\nd\"|\"'=HYPERLINK(1)\"");
    }
}
