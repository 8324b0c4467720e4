//! Rating throughput and CDR report latency, on SQLite and on PostgreSQL.
//! Prints numbers; asserts nothing about time.
//!
//! `RINGSIDE_BENCH_CDRS` sets how many records are rated (default 200,000;
//! the report target is stated for 1,000,000);
//! `RINGSIDE_BENCH_SQLITE_CDRS` overrides it for SQLite, whose seeding is the
//! slower one. Records are rated `RATER_BATCH` (2,000) per `rate_calls`, the
//! rater's batch; only `rate_calls` is timed, not building the records. The
//! records come in the order calls end, as the rater receives them (B-tree
//! inserts land at the end of the time-keyed indexes), with customers and
//! DIDs attributed as in real traffic (see [`record`]). PostgreSQL is
//! `RINGSIDE_TEST_DATABASE_URL` (default the development server); the run
//! fails if it is not there.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use ringside_provisioning::live_cost::LiveCall;
use ringside_provisioning::*;
use support::{Env, admin};

const DAY: i64 = 86_400_000;

const GATEWAYS: u64 = 20;
const CUSTOMERS: u64 = 50;
const DIDS: u64 = 500;

fn did_number(d: u64) -> String {
    format!("+4930555{:05}", d)
}

/// Record `i` of `n`, in the order calls end (start times spread evenly over
/// 30 days, as the rater receives them). A mix: half go out through a
/// gateway, a quarter come from a customer's trunk (customer known), a quarter
/// reach a DID held by a customer (DID, customer and gateway known).
fn record(i: u64, n: u64, tenant: &str) -> CallRecord {
    let offset = i128::from(i) * i128::from(30 * DAY) / i128::from(n.max(1));
    let start = 20_000 * DAY + i64::try_from(offset).unwrap_or(0);
    let billsec = if i.is_multiple_of(4) { 0 } else { 1 + i % 600 };
    let (trunk, to, direction) = match i % 4 {
        2 => (
            format!("cust{}", i % CUSTOMERS),
            format!("+49{}", 300_000_000 + i % 100_000_000),
            "outbound",
        ),
        3 => (
            format!("gw{}", i % GATEWAYS),
            did_number(i % DIDS),
            "inbound",
        ),
        _ => (
            format!("gw{}", i % GATEWAYS),
            format!("+49{}", 300_000_000 + i % 100_000_000),
            "outbound",
        ),
    };
    serde_json::from_value(serde_json::json!({
        "call_id": format!("pbx1:{i}"),
        "tenant": tenant,
        "pbx": "pbx1",
        "from": "+4930999",
        "to": to,
        "direction": direction,
        "trunk": trunk,
        "start_ms": start,
        "answer_ms": if billsec > 0 { Some(start + 3_000) } else { None },
        "end_ms": start + 3_000 + i64::try_from(billsec).unwrap_or(0) * 1000,
        "billable_seconds": billsec,
        "disposition": if billsec > 0 { "ANSWERED" } else { "NO ANSWER" },
    }))
    .expect("a valid record")
}

async fn bench(name: &str, env: Env, n: u64) {
    let a = admin(&env.tenant_a);
    let mut gateway_ids = Vec::new();
    for g in 0..GATEWAYS {
        let input: GatewayInput = serde_json::from_value(serde_json::json!({
            "name": format!("gw{g}"), "ip_address": format!("10.0.{g}.1"),
        }))
        .expect("a gateway");
        gateway_ids.push(env.svc.create_gateway(&a, input).await.expect("gateway").id);
    }
    for p in 0..500u64 {
        let input: TariffInput = serde_json::from_value(serde_json::json!({
            "pattern": format!("49{}", 300 + p), "cost_per_minute": "0.004",
            "price_per_minute": "0.009", "billing_increment": "30/6",
        }))
        .expect("a tariff");
        env.svc.create_tariff(&a, input).await.expect("tariff");
    }
    let mut customer_ids = Vec::new();
    for c in 0..CUSTOMERS {
        let input: CustomerInput = serde_json::from_value(serde_json::json!({
            "code": format!("cust{c}"), "name": format!("Customer {c}"), "type": "trunk",
            "trunk_ip": format!("192.0.2.{}", c + 1),
        }))
        .expect("a customer");
        customer_ids.push(
            env.svc
                .create_customer(&a, input)
                .await
                .expect("customer")
                .id,
        );
    }
    for d in 0..DIDS {
        let input: DidInput = serde_json::from_value(
            serde_json::json!({ "number": did_number(d), "monthly_cost": "1" }),
        )
        .expect("a DID");
        let did = env.svc.create_did(&a, input).await.expect("DID");
        let customer_id = customer_ids[usize::try_from(d % CUSTOMERS).unwrap_or(0)];
        let allocation = AllocationInput {
            customer_id,
            destination: "trunk".to_owned(),
        };
        env.svc
            .allocate_did(&a, did.id, allocation)
            .await
            .expect("allocation");
    }

    let mut rating = std::time::Duration::ZERO;
    let batch = u64::try_from(ringside_provisioning::rating::RATER_BATCH).unwrap_or(1000);
    let mut i = 0;
    while i < n {
        let records: Vec<CallRecord> = (i..(i + batch).min(n))
            .map(|k| record(k, n, &env.tenant_a))
            .collect();
        let started = Instant::now();
        env.svc.rate_calls(&records).await.expect("rating");
        rating += started.elapsed();
        i += batch;
    }
    let secs = rating.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / secs;
    println!("{name}: rated {n} records in {secs:.2} s = {rate:.0} records/s (target >= 50,000)");

    report_latency(name, &env, &a, &gateway_ids, n, "just after loading").await;
    if name == "postgres" {
        env.vacuum_cdrs().await;
        report_latency(
            name,
            &env,
            &a,
            &gateway_ids,
            n,
            "after VACUUM ANALYZE, as autovacuum leaves it",
        )
        .await;
    }

    // Live cost: the gateway prices every call in progress per refresh.
    let live: Vec<LiveCall> = (0..10_000u64)
        .map(|k| LiveCall {
            id: format!("live-{k}"),
            pbx: "pbx1".to_owned(),
            to: format!("+49{}", 300_000_000 + k * 7_919 % 100_000_000),
            answer_ms: Some(20_000 * DAY),
            trunk: format!("gw{}", k % GATEWAYS),
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let costs = env
            .svc
            .live_cost(&a, &live, 20_000 * DAY + 95_000)
            .await
            .expect("live cost");
        times.push(t.elapsed());
        std::hint::black_box(costs);
    }
    times.sort();
    println!(
        "{name}: live cost of 10,000 calls in progress: median {:?}, max {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    env.cleanup().await;
}

/// 100 filtered CDR reports (a day, half by gateway, a third by
/// disposition): p50 and p99.
async fn report_latency(
    name: &str,
    env: &Env,
    a: &Actor,
    gateway_ids: &[uuid::Uuid],
    n: u64,
    when: &str,
) {
    let mut times = Vec::new();
    for q in 0..100u64 {
        let day = 20_000 * DAY + i64::try_from(q % 30).unwrap_or(0) * DAY;
        let filter = CdrFilter {
            from_ms: Some(day),
            to_ms: Some(day + DAY),
            gateway_id: q
                .is_multiple_of(2)
                .then(|| gateway_ids[usize::try_from(q).unwrap_or(0) % gateway_ids.len()]),
            disposition: q.is_multiple_of(3).then(|| "ANSWERED".to_owned()),
            ..CdrFilter::default()
        };
        let t = Instant::now();
        let report = env
            .svc
            .cdr_report(
                a,
                &filter,
                Page {
                    limit: 50,
                    offset: 0,
                },
            )
            .await
            .expect("report");
        times.push(t.elapsed());
        std::hint::black_box(report);
    }
    times.sort();
    let p = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    println!(
        "{name}: CDR report over {n} records ({when}), 100 filtered queries: p50 {:?}, p99 {:?} (target p99 < 200 ms on PostgreSQL)",
        p(50),
        p(99)
    );
}

fn main() {
    let count = |var: &str| -> Option<u64> { std::env::var(var).ok()?.parse().ok() };
    let n = count("RINGSIDE_BENCH_CDRS").unwrap_or(200_000);
    let n_sqlite = count("RINGSIDE_BENCH_SQLITE_CDRS").unwrap_or(n);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        bench("sqlite", Env::sqlite().await, n_sqlite).await;
        // SQLite leaves a few hundred MB of dirty pages (its file and WAL)
        // that the kernel writes back while PostgreSQL is being measured:
        // on a two-core machine that took PostgreSQL from 21–24k to 17–18k
        // records/s. Flush them first, so each figure is its own.
        let _ = std::process::Command::new("sync").status();
        bench("postgres", Env::postgres().await, n).await;
    });
}
