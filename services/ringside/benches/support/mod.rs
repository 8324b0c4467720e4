//! Support for the gateway benchmark: a shared clock, synthetic transcripts,
//! the stamping proxy, the product wired like the monolith, and clients.

pub mod client;
pub mod clock;
pub mod product;
pub mod proxy;
pub mod transcript;

/// CPU seconds (user + system) of this process, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_of_stat(&s))
        .unwrap_or(f64::NAN)
}

/// CPU seconds of this process's threads whose name starts with `prefix`
/// (from `/proc/self/task/*/stat`).
pub fn threads_cpu_seconds(prefix: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter(|s| {
            s.split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .is_some_and(|(name, _)| name.starts_with(prefix))
        })
        .filter_map(|s| cpu_of_stat(&s))
        .sum()
}

/// utime + stime (fields 14 and 15) in seconds; the name in parentheses may
/// hold spaces, so fields are counted after its closing parenthesis.
fn cpu_of_stat(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}
