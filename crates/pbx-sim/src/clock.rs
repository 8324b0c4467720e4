//! The simulated wall clock and Asterisk's date formats.
//!
//! The model runs on virtual time (a `Duration` since start) so that it is
//! deterministic and steppable; wall-clock values (uniqueids, CDR times,
//! `EventTV`, `Ping` timestamps) are that virtual time plus a start instant.
//! Dates are UTC, like the lab PBX of the corpus.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Maps virtual time to Unix time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    start_micros: u64,
}

impl WallClock {
    /// A clock starting at `start` Unix seconds, or now.
    pub(crate) fn new(start: Option<u64>) -> Self {
        let start_micros = match start {
            Some(secs) => secs * 1_000_000,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0),
        };
        WallClock { start_micros }
    }

    /// Unix time in microseconds at virtual time `at`.
    pub(crate) fn micros(&self, at: Duration) -> u64 {
        self.start_micros + at.as_micros() as u64
    }

    /// Unix seconds at virtual time `at`.
    pub(crate) fn secs(&self, at: Duration) -> u64 {
        self.micros(at) / 1_000_000
    }
}

/// `1795395804.063755`, the `Ping` answer's `Timestamp`.
pub(crate) fn timestamp(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// `2026-11-23 00:37:26`, as in `Cdr` events.
pub(crate) fn cdr_time(micros: u64) -> String {
    let (date, time) = date_time(micros / 1_000_000);
    format!("{date} {time}")
}

/// `2026-11-23T00:37:26.561+0000`, as in security events' `EventTV`.
pub(crate) fn event_tv(micros: u64) -> String {
    let (date, time) = date_time(micros / 1_000_000);
    format!("{date}T{time}.{:03}+0000", (micros / 1000) % 1000)
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) in UTC.
pub(crate) fn date_time(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, (rem / 60) % 60, rem % 60),
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`), so no date crate is needed for three formats.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `00:00:05`, the `Duration` of a `CoreShowChannel` item.
pub(crate) fn hms(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_corpus_formats() {
        // basic-calls.ami: uniqueid lab-pbx-1795394246.0, Cdr StartTime
        // 2026-11-23 00:37:26.
        assert_eq!(cdr_time(1_795_394_246_000_000), "2026-11-23 00:37:26");
        assert_eq!(
            event_tv(1_795_394_246_561_000),
            "2026-11-23T00:37:26.561+0000"
        );
        assert_eq!(timestamp(1_795_395_804_063_755), "1795395804.063755");
        assert_eq!(date_time(0).0, "1970-01-01");
        assert_eq!(date_time(951_782_400).0, "2000-02-29");
    }
}
