//! CPU time of this process and of its named threads, for benchmarks that
//! print the cost of their work beside its rate: a rate depends on how busy
//! the machine is, CPU seconds per unit of work much less (Linux only).

/// CPU seconds (user + system) of this process, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_of_stat(&s))
        .unwrap_or(f64::NAN)
}

/// CPU seconds of this process's threads whose name starts with `prefix`
/// (from `/proc/self/task/*/stat`). Thread names are cut to 15 bytes.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "42 (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 3 0";
        assert_eq!(cpu_of_stat(stat), Some(3.8));
    }

    /// A spinning thread's own CPU time grows (checked until it does, so a
    /// busy machine only makes the test slower); the process's includes it.
    #[test]
    fn a_busy_thread_shows_in_its_own_cpu_time() {
        let spin = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(|| {
                let started = std::time::Instant::now();
                let mut x = 0u64;
                while started.elapsed() < std::time::Duration::from_secs(60) {
                    for _ in 0..1_000_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                    let own = threads_cpu_seconds("cpu-test-spin");
                    if own >= 0.05 {
                        return own;
                    }
                }
                f64::NAN
            })
            .unwrap();
        let own = spin.join().unwrap();
        assert!(own >= 0.05, "{own}");
        // The kernel reports each of utime and stime in whole clock ticks,
        // scaled from the exact run time separately for the process and for
        // each thread, so the process's sum may trail a thread's by a tick
        // each (seen under load: 0.01 s).
        let process = process_cpu_seconds();
        assert!(process + 0.02 >= own, "process {process} s, thread {own} s");
        assert_eq!(threads_cpu_seconds("no-such-thread"), 0.0);
    }
}
