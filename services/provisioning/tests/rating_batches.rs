//! Batched rating, the batched rater, the keyset CSV export and live cost,
//! run once on SQLite and once on the real PostgreSQL (which must be there:
//! the PostgreSQL half fails, never skips).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use ringside_provisioning::live_cost::{LiveCall, LiveCost, MAX_LIVE_CALLS};
use ringside_provisioning::rating::RateStep;
use ringside_provisioning::*;
use support::{Env, actor, admin};

const DAY: i64 = 86_400_000;
const T0: i64 = 20_000 * DAY;

fn record(call_id: &str, tenant: &str, to: &str, start_ms: i64, billsec: u64) -> CallRecord {
    serde_json::from_value(serde_json::json!({
        "call_id": call_id,
        "tenant": tenant,
        "pbx": "pbx1",
        "from": "+4930999",
        "to": to,
        "direction": "outbound",
        "trunk": "gw1",
        "start_ms": start_ms,
        "answer_ms": if billsec > 0 { Some(start_ms + 2_000) } else { None },
        "end_ms": start_ms + 2_000 + i64::try_from(billsec).unwrap() * 1000,
        "billable_seconds": billsec,
        "disposition": if billsec > 0 { "ANSWERED" } else { "NO ANSWER" },
    }))
    .unwrap()
}

fn tariff(pattern: &str, price: &str, increment: &str, fee: &str) -> TariffInput {
    serde_json::from_value(serde_json::json!({
        "pattern": pattern,
        "cost_per_minute": "0.006",
        "price_per_minute": price,
        "billing_increment": increment,
        "connection_fee": fee,
    }))
    .unwrap()
}

/// Berlin (4930) at 0.06 a minute, 30/6 increments, 0.01 to connect: the
/// tariff these tests price by.
async fn berlin_tariff(env: &Env, a: &Actor) -> Tariff {
    env.svc
        .create_tariff(a, tariff("4930", "0.06", "30/6", "0.01"))
        .await
        .unwrap()
}

fn gateway(name: &str) -> GatewayInput {
    serde_json::from_value(serde_json::json!({ "name": name, "ip_address": "192.0.2.1" })).unwrap()
}

fn stored(results: &[Result<Rated, ValidationError>]) -> usize {
    results
        .iter()
        .filter(|r| matches!(r, Ok(Rated::Stored(_))))
        .count()
}

/// 2,500 records cross several 1,000-row statements; duplicates inside the
/// batch and replays of earlier batches never bill twice; every column
/// survives the trip through the database, DIDs and gateways included.
async fn large_batches_rate_once_and_keep_every_field(env: Env) {
    let a = admin(&env.tenant_a);
    let berlin = berlin_tariff(&env, &a).await;
    let gw = env.svc.create_gateway(&a, gateway("gw1")).await.unwrap();
    let customer = env
        .svc
        .create_customer(
            &a,
            CustomerInput {
                code: "acme".into(),
                name: "Acme".into(),
                kind: CustomerType::Trunk,
                trunk_ip: Some("192.0.2.10".into()),
                channel_limit: None,
                status: Status::Active,
            },
        )
        .await
        .unwrap();
    let did: DidInput =
        serde_json::from_value(serde_json::json!({ "number": "+4930777", "monthly_cost": "1" }))
            .unwrap();
    let did = env.svc.create_did(&a, did).await.unwrap();
    env.svc
        .allocate_did(
            &a,
            did.id,
            AllocationInput {
                customer_id: customer.id,
                destination: "trunk".into(),
            },
        )
        .await
        .unwrap();

    let mut batch: Vec<CallRecord> = (0..2_500)
        .map(|i| record(&format!("pbx1:{i}"), &env.tenant_a, "+49301234", T0 + i, 31))
        .collect();
    // Hostile text travels as data: quotes, a backslash, JSON and non-ASCII.
    let mut odd = record(
        "pbx1:\"odd\\',{}é",
        &env.tenant_a,
        "+49 30 777",
        T0 + 5_000,
        0,
    );
    odd.hangup_cause = Some(serde_json::json!("Normal \"clearing\""));
    odd.trunk = String::new();
    batch.push(odd.clone());
    // The same call twice in one batch: one CDR.
    batch.push(batch[7].clone());
    let results = env.svc.rate_calls(&batch).await.unwrap();
    assert_eq!(results.len(), batch.len());
    assert_eq!(stored(&results), 2_501);
    assert_eq!(results[2_501], Ok(Rated::Duplicate));

    let Ok(Rated::Stored(first)) = &results[0] else {
        panic!("{:?}", results[0]);
    };
    assert_eq!(first.tariff_id, Some(berlin.id));
    assert_eq!(first.gateway_id, Some(gw.id));
    assert_eq!(first.billed_seconds, 36);
    assert_eq!(first.price, Money::parse("0.046").unwrap());
    assert_eq!(first.cost, Money::parse("0.0036").unwrap());

    // A replay of part of it, with new calls mixed in.
    let replay: Vec<CallRecord> = (2_000..3_200)
        .map(|i| record(&format!("pbx1:{i}"), &env.tenant_a, "+49301234", T0 + i, 31))
        .collect();
    let results = env.svc.rate_calls(&replay).await.unwrap();
    assert_eq!(stored(&results), 700);
    assert!(results[..500].iter().all(|r| *r == Ok(Rated::Duplicate)));

    let report = env
        .svc
        .cdr_report(&a, &CdrFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(report.total, 3_201);
    assert_eq!(report.totals.answered, 3_200);
    // 3,200 answered calls at 0.046 each; the odd one was not answered.
    assert_eq!(report.totals.price, Money(3_200 * 46_000));
    assert_eq!(report.totals.cost, Money(3_200 * 3_600));

    // What was stored reads back the same, by the DID's filter.
    let by_did = env
        .svc
        .cdr_report(
            &a,
            &CdrFilter {
                did_id: Some(did.id),
                ..CdrFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_did.total, 1);
    let back = &by_did.items[0];
    assert_eq!(back.call_id, odd.call_id);
    assert_eq!(back.dst, "+49 30 777");
    assert_eq!(back.customer_id, Some(customer.id));
    assert_eq!(back.tariff_id, Some(berlin.id));
    assert_eq!(back.gateway_id, None);
    assert_eq!(back.trunk, None);
    assert_eq!(back.answer_ms, None);
    assert_eq!(back.hangup_cause.as_deref(), Some("Normal \"clearing\""));
    assert_eq!(back.price, Money::ZERO);
    let by_gateway = env
        .svc
        .cdr_report(
            &a,
            &CdrFilter {
                gateway_id: Some(gw.id),
                ..CdrFilter::default()
            },
            Page {
                limit: 1,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(by_gateway.total, 3_200);
    assert_eq!(by_gateway.items[0].call_id, "pbx1:3199");
    assert_eq!(by_gateway.items[0].start_ms, T0 + 3_199);

    // The other tenant sees none of it.
    let b = env
        .svc
        .cdr_report(
            &admin(&env.tenant_b),
            &CdrFilter::default(),
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(b.total, 0);
    env.cleanup().await;
}

/// The rater takes what is there, up to its batch size, and reports one step
/// per record in delivery order.
async fn the_rater_rates_what_is_available_in_batches(env: Env) {
    let a = admin(&env.tenant_a);
    env.svc
        .create_tariff(&a, tariff("49", "0.02", "60/60", "0"))
        .await
        .unwrap();
    let tenant = ringside_bus::TenantId::new(env.tenant_a.as_str()).unwrap();
    let subject = env.bus.topology.subjects().calls_completed(&tenant);
    let mut payloads = vec![
        serde_json::to_vec(&record("b-0", &env.tenant_a, "+4930", T0, 60)).unwrap(),
        b"{ not json".to_vec(),
        serde_json::to_vec(&record("b-0", &env.tenant_a, "+4930", T0, 60)).unwrap(),
        serde_json::to_vec(&record("b-x", &env.tenant_b, "+4930", T0, 60)).unwrap(),
        serde_json::to_vec(&record("", &env.tenant_a, "+4930", T0, 60)).unwrap(),
    ];
    for i in 1..6 {
        payloads.push(
            serde_json::to_vec(&record(&format!("b-{i}"), &env.tenant_a, "+4930", T0, 60)).unwrap(),
        );
    }
    for payload in payloads {
        env.bus
            .bus
            .publish(&subject, ringside_bus::Outgoing::new(payload))
            .await
            .unwrap();
    }
    let mut consumer = env.svc.rating_consumer().await.unwrap();
    let wait = Duration::from_secs(2);
    let steps = env
        .svc
        .rate_available(consumer.as_mut(), wait, 8)
        .await
        .unwrap();
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert!(matches!(&steps[0], RateStep::Rated(Rated::Stored(c)) if c.call_id == "b-0"));
    assert!(matches!(&steps[1], RateStep::Rejected(why) if why.contains("unreadable")));
    assert_eq!(steps[2], RateStep::Rated(Rated::Duplicate));
    assert!(matches!(&steps[3], RateStep::Rejected(why) if why.contains("subject")));
    assert!(matches!(&steps[4], RateStep::Rejected(why) if why.contains("call_id")));
    assert!(
        steps[5..]
            .iter()
            .all(|s| matches!(s, RateStep::Rated(Rated::Stored(_))))
    );
    // The rest (two records), then nothing: everything was acknowledged.
    let steps = env
        .svc
        .rate_available(consumer.as_mut(), wait, 8)
        .await
        .unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        env.svc
            .rate_available(consumer.as_mut(), Duration::ZERO, 8)
            .await
            .unwrap(),
        vec![RateStep::CaughtUp]
    );
    let report = env
        .svc
        .cdr_report(&a, &CdrFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(report.total, 6);
    assert_eq!(report.totals.price, Money::parse("0.12").unwrap());
    env.cleanup().await;
}

/// The export pages by key: rows sharing a start time are neither lost nor
/// repeated across pages, the order is newest first, and `max_rows` holds.
async fn the_csv_export_pages_by_key(env: Env) {
    let a = admin(&env.tenant_a);
    // 2,300 calls on 23 distinct start times: pages of 1,000 cut through
    // groups of equal start times.
    let batch: Vec<CallRecord> = (0..2_300)
        .map(|i| record(&format!("k-{i}"), &env.tenant_a, "+4930", T0 + i / 100, 0))
        .collect();
    env.svc.rate_calls(&batch).await.unwrap();
    let csv = env
        .svc
        .cdr_csv(&a, &CdrFilter::default(), 10_000)
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 2_300);
    let ids: HashSet<&str> = lines.iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 2_300, "no row twice");
    let starts: Vec<i64> = lines
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(starts[0], T0 + 22);
    let csv = env
        .svc
        .cdr_csv(&a, &CdrFilter::default(), 1_234)
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 1_234);
    // Filters apply, and another tenant exports nothing.
    let filtered = env
        .svc
        .cdr_csv(
            &a,
            &CdrFilter {
                from_ms: Some(T0 + 20),
                ..CdrFilter::default()
            },
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(filtered.lines().count(), 1 + 300);
    let other = env
        .svc
        .cdr_csv(&admin(&env.tenant_b), &CdrFilter::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(other.lines().count(), 1);
    env.cleanup().await;
}

fn live(id: &str, to: &str, answer_ms: Option<i64>) -> LiveCall {
    LiveCall {
        id: id.into(),
        pbx: "pbx1".into(),
        to: to.into(),
        answer_ms,
        trunk: "gw1".into(),
    }
}

/// Live cost uses the caller's tenant's tariffs, and only those.
async fn live_cost_prices_calls_in_progress_by_tenant(env: Env) {
    let a = admin(&env.tenant_a);
    let berlin = berlin_tariff(&env, &a).await;
    let calls = vec![
        live("answered", "+49301234", Some(T0)),
        live("ringing", "+49301234", None),
        live("nowhere", "+33123", Some(T0)),
    ];
    let viewer = actor(&env.tenant_a, Role::Viewer);
    let costs = env
        .svc
        .live_cost(&viewer, &calls, T0 + 31_000)
        .await
        .unwrap();
    assert_eq!(costs.len(), 3);
    assert_eq!(costs[0].id, "answered");
    assert_eq!(costs[0].tariff_id, Some(berlin.id));
    assert_eq!(costs[0].billed_seconds, 36);
    assert_eq!(costs[0].price_so_far, Money::parse("0.046").unwrap());
    assert_eq!(costs[0].currency_units, "0.046000");
    assert_eq!(
        (costs[1].id.as_str(), costs[1].price_so_far),
        ("ringing", Money::ZERO)
    );
    assert_eq!(
        (costs[2].id.as_str(), costs[2].tariff_id),
        ("nowhere", None)
    );
    // Tenant B has no tariffs: the same calls cost nothing there.
    let costs = env
        .svc
        .live_cost(&admin(&env.tenant_b), &calls, T0 + 31_000)
        .await
        .unwrap();
    assert!(
        costs
            .iter()
            .all(|c| c.price_so_far == Money::ZERO && c.tariff_id.is_none())
    );
    assert!(
        env.svc
            .live_cost(&a, &[] as &[LiveCall], T0)
            .await
            .unwrap()
            .is_empty()
    );
    // Bad input: too many calls; an actor without a valid tenant.
    let many = vec![live("x", "+4930", Some(T0)); MAX_LIVE_CALLS + 1];
    let err = env.svc.live_cost(&a, &many, T0).await.unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.has("calls", "too_many")),
        "{err:?}"
    );
    let err = env
        .svc
        .live_cost(&admin("Not A Tenant!"), &calls, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    env.cleanup().await;
}

/// Live prices reuse a tenant's tariffs for a second, but a tariff changed
/// through the service prices the next answer: the cache is dropped.
async fn live_cost_follows_a_tariff_change_at_once(env: Env) {
    let a = admin(&env.tenant_a);
    let berlin = berlin_tariff(&env, &a).await;
    let calls = [live("answered", "+49301234", Some(T0))];
    let price = |costs: Vec<LiveCost>| costs[0].currency_units.clone();
    let first = env.svc.live_cost(&a, &calls, T0 + 31_000).await.unwrap();
    assert_eq!(price(first), "0.046000");
    env.svc
        .update_tariff(&a, berlin.id, tariff("4930", "0.12", "30/6", "0.01"))
        .await
        .unwrap();
    let updated = env.svc.live_cost(&a, &calls, T0 + 31_000).await.unwrap();
    assert_eq!(price(updated), "0.082000");
    env.svc.delete_tariff(&a, berlin.id).await.unwrap();
    let deleted = env.svc.live_cost(&a, &calls, T0 + 31_000).await.unwrap();
    assert_eq!(
        (price(deleted.clone()), deleted[0].tariff_id),
        ("0.000000".to_owned(), None)
    );
    env.cleanup().await;
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Env::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Env::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    large_batches_rate_once_and_keep_every_field,
    the_rater_rates_what_is_available_in_batches,
    the_csv_export_pages_by_key,
    live_cost_prices_calls_in_progress_by_tenant,
    live_cost_follows_a_tariff_change_at_once,
);
