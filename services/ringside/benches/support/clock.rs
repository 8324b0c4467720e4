//! One monotonic clock for the whole bench process: the proxy stamps with
//! it and the clients read it, so a latency is a difference of two readings
//! of the same clock.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call in this process.
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The 20-digit stamp that follows `key` in `text` (a JSON frame), if any.
pub fn stamp_after(text: &str, key: &memchr::memmem::Finder<'_>) -> Option<u64> {
    let at = key.find(text.as_bytes())? + key.needle().len();
    let digits = text.get(at..at + 20)?;
    digits.parse().ok()
}

/// The `q` quantile of sorted samples.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Nanoseconds as milliseconds.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}
