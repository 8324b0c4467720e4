//! The price so far of calls in progress, for the live views.
//!
//! A live call is priced exactly as it would be rated if it hung up now
//! ([`crate::rating::charge`]): the tariff with the longest pattern prefixing
//! the dialled number that is valid at the answer time, the seconds since
//! answer rounded up (a call answered 0.2 s ago has started its first
//! block), billed in the tariff's increments, plus the connection fee. So the
//! figure steps up at each increment and ends where the CDR will. A call not
//! yet answered costs nothing.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::args;
use crate::error::Error;
use crate::model::Actor;
use crate::money::Money;
use crate::rating::{TARIFFS_SQL, Tariffs, charge};
use crate::service::Provisioning;
use crate::validate::ValidationError;

/// Calls priced per request at most: a live view shows one tenant's calls in
/// progress, and this bounds the work of one request.
pub const MAX_LIVE_CALLS: usize = 100_000;

/// How long a tenant's tariffs, once read, price live calls. The live view
/// of calls is read up to thousands of times a second and each answer used
/// to query every tariff of the tenant; now one query a second does. A
/// tariff written through this process is seen at once (the cache is
/// dropped on every tariff change); one written through another process
/// (a second provisioning or gateway replica) within this time. Rating
/// itself ([`crate::rating`]) never uses this cache.
pub const LIVE_TARIFFS_TTL: Duration = Duration::from_secs(1);

/// The tariffs of the tenants whose live calls were priced lately.
#[derive(Default)]
pub(crate) struct TariffCache {
    tenants: Mutex<HashMap<String, (Instant, Arc<Tariffs>)>>,
    /// Bumped by every change, so a read that started before it cannot
    /// store what it read afterwards.
    generation: AtomicU64,
}

impl TariffCache {
    /// The tenant's tariffs if read less than [`LIVE_TARIFFS_TTL`] before `now`.
    fn fresh(&self, tenant: &str, now: Instant) -> Option<Arc<Tariffs>> {
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, tariffs) = tenants.get(tenant)?;
        (now.saturating_duration_since(*read_at) < LIVE_TARIFFS_TTL).then(|| tariffs.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `tariffs`, read at `read_at`, unless a change came since
    /// `generation`.
    fn store(&self, tenant: &str, tariffs: Arc<Tariffs>, read_at: Instant, generation: u64) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        // Stale tenants go, so the map holds only the tenants being watched.
        tenants.retain(|_, (at, _)| read_at.saturating_duration_since(*at) < LIVE_TARIFFS_TTL);
        tenants.insert(tenant.to_owned(), (read_at, tariffs));
    }

    /// Forgets every tenant's tariffs: a tariff changed.
    pub(crate) fn changed(&self) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        tenants.clear();
    }
}

/// A call in progress, as the live view knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCall {
    /// The caller's key for the call (echoed back).
    pub id: String,
    /// The PBX carrying it (tariffs are per tenant, so it does not change
    /// the price; it is there for the caller's bookkeeping).
    #[serde(default)]
    pub pbx: String,
    /// The dialled number; only its digits count (`+49 30 1234` → `49301234`).
    pub to: String,
    /// When the call was answered (ms since the epoch); `None` while ringing.
    #[serde(default)]
    pub answer_ms: Option<i64>,
    /// The trunk or gateway name, if known (informational).
    #[serde(default)]
    pub trunk: String,
}

/// The price so far of one live call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCost {
    /// The [`LiveCall::id`] this is for.
    pub id: String,
    /// Price so far in micro-units (a six-decimal string in JSON).
    pub price_so_far: Money,
    /// The same amount in currency units, as text (`"0.046000"`), for a
    /// display that must not do money arithmetic in floating point.
    pub currency_units: String,
    /// Seconds billed so far (the elapsed time rounded up to increments).
    pub billed_seconds: i64,
    /// The tariff applied; `None` when no tariff matches (price zero).
    pub tariff_id: Option<Uuid>,
}

/// The price of `call` at `now_ms` under `tariffs`.
pub(crate) fn price_at(tariffs: &Tariffs, call: &LiveCall, now_ms: i64) -> LiveCost {
    let unpriced = |tariff_id| LiveCost {
        id: call.id.clone(),
        price_so_far: Money::ZERO,
        currency_units: Money::ZERO.to_string(),
        billed_seconds: 0,
        tariff_id,
    };
    let Some(answer_ms) = call.answer_ms else {
        return unpriced(None);
    };
    let digits: String = call.to.chars().filter(char::is_ascii_digit).collect();
    let Some(tariff) = tariffs.find(&digits, answer_ms) else {
        return unpriced(None);
    };
    // Rounded up, and at least one second once answered: the first block
    // (and the connection fee) are due from the moment of answer. An answer
    // time ahead of `now` (clocks of two hosts) counts as just answered.
    let elapsed_ms = now_ms.saturating_sub(answer_ms).max(0);
    let seconds = (elapsed_ms.saturating_add(999) / 1000).max(1);
    let (billed, _cost, price) = charge(
        seconds,
        tariff.increment,
        tariff.cost,
        tariff.price,
        tariff.fee,
    );
    LiveCost {
        id: call.id.clone(),
        price_so_far: price,
        currency_units: price.to_string(),
        billed_seconds: billed,
        tariff_id: Some(tariff.id),
    }
}

impl Provisioning {
    /// The price so far of each call in `calls`, in the same order, under the
    /// tariffs of the actor's tenant (read at most once per
    /// [`LIVE_TARIFFS_TTL`]). Any role may read it.
    ///
    /// # Errors
    /// `Validation` for more than [`MAX_LIVE_CALLS`] calls; `Forbidden` for
    /// an actor without a valid tenant; store errors.
    pub async fn live_cost(
        &self,
        actor: &Actor,
        calls: &[impl Borrow<LiveCall>],
        now_ms: i64,
    ) -> Result<Vec<LiveCost>, Error> {
        let tenant = ringside_bus::TenantId::new(actor.tenant.as_str())
            .map_err(|_| Error::Forbidden("invalid tenant"))?;
        if calls.len() > MAX_LIVE_CALLS {
            return Err(ValidationError::field(
                "calls",
                "too_many",
                "at most 100000 calls per request",
            )
            .into());
        }
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let tariffs = self.live_tariffs(tenant.as_str()).await?;
        Ok(calls
            .iter()
            .map(|call| price_at(&tariffs, call.borrow(), now_ms))
            .collect())
    }

    /// The tenant's tariffs for live prices, from the cache while fresh.
    async fn live_tariffs(&self, tenant: &str) -> Result<Arc<Tariffs>, Error> {
        let now = Instant::now();
        if let Some(tariffs) = self.live_tariffs.fresh(tenant, now) {
            return Ok(tariffs);
        }
        let generation = self.live_tariffs.generation();
        let rows = self
            .store
            .db
            .exec()
            .fetch_all(TARIFFS_SQL, args![tenant])
            .await?;
        let tariffs = Arc::new(Tariffs::from_rows(&rows)?);
        self.live_tariffs
            .store(tenant, tariffs.clone(), now, generation);
        Ok(tariffs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Increment;
    use crate::rating::TariffRow;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn row(
        id: u128,
        increment: Increment,
        price: &str,
        fee: &str,
        from: i64,
        to: Option<i64>,
    ) -> TariffRow {
        TariffRow {
            id: Uuid::from_u128(id),
            increment,
            cost: m("0.001"),
            price: m(price),
            fee: m(fee),
            valid_from_ms: from,
            valid_to_ms: to,
        }
    }

    fn tariffs() -> Tariffs {
        let i30_6 = Increment { first: 30, next: 6 };
        Tariffs::from_list(vec![
            ("49", row(1, Increment::default(), "0.02", "0", 0, None)),
            // Berlin: an old price until t=1,000,000, then a new one.
            ("4930", row(2, i30_6, "0.06", "0.01", 0, Some(1_000_000))),
            ("4930", row(3, i30_6, "0.12", "0.01", 1_000_000, None)),
        ])
    }

    fn call(to: &str, answer_ms: Option<i64>) -> LiveCall {
        LiveCall {
            id: "c1".into(),
            pbx: "pbx1".into(),
            to: to.into(),
            answer_ms,
            trunk: "gw1".into(),
        }
    }

    #[test]
    fn price_so_far_follows_the_increments_and_the_fee() {
        let t = tariffs();
        // 31 s into a 30/6 call at 0.06/min: 36 s billed → 0.036 + 0.01 fee.
        let c = price_at(&t, &call("+49 30 1234", Some(500_000)), 531_000);
        assert_eq!(c.id, "c1");
        assert_eq!(c.tariff_id, Some(Uuid::from_u128(2)));
        assert_eq!(c.billed_seconds, 36);
        assert_eq!(c.price_so_far, m("0.046"));
        assert_eq!(c.currency_units, "0.046000");
        // A part second counts as begun: 30.001 s is the second block too.
        let c = price_at(&t, &call("+49301234", Some(500_000)), 530_001);
        assert_eq!(c.billed_seconds, 36);
        // Exactly 30 s: still the first block.
        let c = price_at(&t, &call("+49301234", Some(500_000)), 530_000);
        assert_eq!((c.billed_seconds, c.price_so_far), (30, m("0.04")));
    }

    #[test]
    fn a_just_answered_call_owes_its_first_block_and_fee() {
        let t = tariffs();
        let c = price_at(&t, &call("+49301234", Some(500_000)), 500_000);
        assert_eq!((c.billed_seconds, c.price_so_far), (30, m("0.04")));
        // An answer time ahead of our clock counts as just answered.
        let c = price_at(&t, &call("+49301234", Some(600_000)), 500_000);
        assert_eq!((c.billed_seconds, c.price_so_far), (30, m("0.04")));
    }

    #[test]
    fn the_longest_prefix_valid_at_answer_wins() {
        let t = tariffs();
        // Answered after the Berlin price change: the new tariff.
        let c = price_at(&t, &call("+49301234", Some(1_000_000)), 1_060_000);
        assert_eq!(c.tariff_id, Some(Uuid::from_u128(3)));
        assert_eq!(c.price_so_far, m("0.13"));
        // Munich: only the broad "49" prefix, 60/60 at 0.02, 61 s → 2 min.
        let c = price_at(&t, &call("+49891234", Some(0)), 61_000);
        assert_eq!(c.tariff_id, Some(Uuid::from_u128(1)));
        assert_eq!((c.billed_seconds, c.price_so_far), (120, m("0.04")));
    }

    #[test]
    fn ringing_and_unrated_calls_cost_nothing() {
        let t = tariffs();
        let ringing = price_at(&t, &call("+49301234", None), 1_000_000);
        assert_eq!(
            (
                ringing.price_so_far,
                ringing.billed_seconds,
                ringing.tariff_id
            ),
            (Money::ZERO, 0, None)
        );
        assert_eq!(ringing.currency_units, "0.000000");
        let france = price_at(&t, &call("+33123", Some(0)), 600_000);
        assert_eq!((france.price_so_far, france.tariff_id), (Money::ZERO, None));
        let empty = price_at(&t, &call("", Some(0)), 600_000);
        assert_eq!(empty.tariff_id, None);
    }

    #[test]
    fn cached_tariffs_expire_and_a_read_from_before_a_change_is_not_kept() {
        let cache = TariffCache::default();
        let t0 = Instant::now();
        let generation = cache.generation();
        cache.store("acme", Arc::new(tariffs()), t0, generation);
        assert!(cache.fresh("acme", t0 + LIVE_TARIFFS_TTL / 2).is_some());
        assert!(cache.fresh("acme", t0 + LIVE_TARIFFS_TTL).is_none());
        assert!(cache.fresh("other", t0).is_none());
        // A change drops what is kept, and a read that began before it
        // (it may hold the old tariffs) is not kept either.
        let before_change = cache.generation();
        cache.changed();
        assert!(cache.fresh("acme", t0).is_none());
        cache.store("acme", Arc::new(tariffs()), t0, before_change);
        assert!(cache.fresh("acme", t0).is_none());
        cache.store("acme", Arc::new(tariffs()), t0, cache.generation());
        assert!(cache.fresh("acme", t0).is_some());
    }
}
