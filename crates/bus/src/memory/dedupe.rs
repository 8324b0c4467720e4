//! The message ids a stream remembers, for de-duplication.
//!
//! The first version kept each id as a `String` in one map, with a queue to
//! forget them in order. Both grew by doubling under the stream's lock, and
//! rehashing 500,000 string keys stalled every publisher for about 80 ms
//! (seen in the gateway benchmark's `/ws/ami` tail); forgetting freed one
//! string per message.
//!
//! [`Dedupe`] keeps two generations of fixed-size keys instead. An id is
//! stored as 128 bits of two independently keyed SipHash digests (an
//! accidental collision among a million ids has odds near 10⁻²⁶, and the
//! keys are random per process). New ids go into the current generation;
//! when it holds as many ids as the stream may hold messages, or has been
//! filling for a whole window, it becomes the previous one and the old
//! previous one is cleared for reuse: clearing keeps its memory, so a
//! generation stops growing after its first fill, and no id is freed one by
//! one. Each entry carries its sequence and time, so the rule stays exact:
//! an id counts while it is younger than the window *and* its message is one
//! of the stream's last `max_ids`.
//!
//! A generation is split into [`SHARDS`] maps by the key's top bits, so
//! while it first grows each doubling rehashes a 64th of it (a fraction of
//! a millisecond) rather than the whole (a one-map generation still stalled
//! publishers for 15 ms as it passed 250,000 ids). Shards fill evenly, so
//! each also doubles at a point of its own (`Generation::insert`): doubling
//! together, the 64 of them stalled publishers as long as one big map did.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy)]
struct Seen {
    sequence: u64,
    at: Instant,
}

/// Maps per generation (a power of two).
const SHARDS: usize = 64;

/// Ids remembered over one stretch of time.
struct Generation {
    shards: Vec<HashMap<u128, Seen, foldhash::fast::RandomState>>,
    len: u64,
}

impl Generation {
    fn new() -> Self {
        Generation {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
            len: 0,
        }
    }

    fn shard(key: u128) -> usize {
        // The key is a uniform digest: its top bits spread ids evenly.
        (key >> (128 - SHARDS.trailing_zeros())) as usize
    }

    fn get(&self, key: u128) -> Option<&Seen> {
        self.shards[Self::shard(key)].get(&key)
    }

    /// Stores `seen` under `key` unless the id there still `counts`, in one
    /// probe; `Err` with the sequence of the copy that counts.
    fn admit(&mut self, key: u128, seen: Seen, counts: impl Fn(&Seen) -> bool) -> Result<(), u64> {
        let index = Self::shard(key);
        let shard = &mut self.shards[index];
        // Shards fill evenly, so left to themselves they all double within
        // milliseconds of each other: 64 tables allocated, faulted in and
        // rehashed at once stalled publishers for 40–300 ms, 4.5 s after
        // start at 50,000 and at 100,000 messages/s (the gateway bench's
        // timeline). Each shard doubles a little early instead, at its own
        // point of its capacity, which spreads the doublings out.
        let capacity = shard.capacity();
        if shard.len() >= early_growth_mark(index, capacity) && shard.len() < capacity {
            shard.reserve(capacity - shard.len() + 1);
        }
        match shard.entry(key) {
            Entry::Occupied(entry) if counts(entry.get()) => Err(entry.get().sequence),
            Entry::Occupied(mut entry) => {
                entry.insert(seen);
                Ok(())
            }
            Entry::Vacant(entry) => {
                entry.insert(seen);
                self.len += 1;
                Ok(())
            }
        }
    }

    /// Empties it, keeping the memory for the next fill.
    fn clear(&mut self) {
        self.shards.iter_mut().for_each(HashMap::clear);
        self.len = 0;
    }
}

/// How full shard `index` gets before it doubles: from three quarters of its
/// capacity (shard 0) to all of it (the last), so the shards' doublings are
/// spread over a quarter of the fill between two; a shard holds its next
/// size at most that much earlier than it would have.
fn early_growth_mark(index: usize, capacity: usize) -> usize {
    capacity - capacity / 4 * (SHARDS - index) / SHARDS
}

/// The ids of a stream's recent messages.
pub(super) struct Dedupe {
    window: Duration,
    max_ids: u64,
    keys: (RandomState, RandomState),
    current: Generation,
    previous: Generation,
    /// When `current` started filling.
    current_since: Instant,
}

impl Dedupe {
    pub(super) fn new(window: Duration, max_ids: u64, now: Instant) -> Self {
        Dedupe {
            window,
            max_ids: max_ids.max(1),
            keys: (RandomState::new(), RandomState::new()),
            current: Generation::new(),
            previous: Generation::new(),
            current_since: now,
        }
    }

    /// The digest an id is remembered by.
    pub(super) fn key(&self, id: &str) -> u128 {
        (u128::from(self.keys.0.hash_one(id)) << 64) | u128::from(self.keys.1.hash_one(id))
    }

    /// Admits the message at `sequence` (the stream's next) carrying the id
    /// of `key`: `Err` with the first copy's sequence if the id is
    /// remembered at `now`, else `Ok` and the id is remembered as carried by
    /// it.
    ///
    /// One call, so a new id (nearly every message) costs one probe of each
    /// generation: the table is large, and each probe is a likely cache miss
    /// under the stream's lock.
    pub(super) fn admit(&mut self, key: u128, sequence: u64, now: Instant) -> Result<(), u64> {
        // Rotating first forgets nothing that still counts: a rotation
        // clears ids older than the window (`current` filled for a whole
        // window) or more than `max_ids` messages back (`current` full).
        let full = self.current.len >= self.max_ids;
        if full || now.saturating_duration_since(self.current_since) >= self.window {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
            self.current_since = now;
        }
        let last_seq = sequence - 1;
        let counts = |seen: &Seen| {
            let recent = now.saturating_duration_since(seen.at) < self.window;
            let among_last = seen.sequence.saturating_add(self.max_ids) > last_seq;
            recent && among_last
        };
        if let Some(seen) = self.previous.get(key)
            && counts(seen)
        {
            return Err(seen.sequence);
        }
        self.current.admit(key, Seen { sequence, at: now }, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(120);

    fn at(t0: Instant, secs: f64) -> Instant {
        t0 + Duration::from_secs_f64(secs)
    }

    #[test]
    fn an_id_is_found_within_the_window_and_forgotten_after_it() {
        let t0 = Instant::now();
        let mut ids = Dedupe::new(WINDOW, 1000, t0);
        assert_eq!(ids.admit(ids.key("a"), 1, t0), Ok(()));
        assert_eq!(ids.admit(ids.key("a"), 2, at(t0, 119.0)), Err(1));
        assert_eq!(ids.admit(ids.key("b"), 2, at(t0, 119.5)), Ok(()));
        // A rotation in between neither shortens nor lengthens the window:
        // `a` and `b` move to the previous generation here.
        assert_eq!(ids.admit(ids.key("c"), 3, at(t0, 125.0)), Ok(()));
        assert_eq!(ids.admit(ids.key("a"), 4, at(t0, 125.0)), Ok(()));
        assert_eq!(ids.admit(ids.key("b"), 5, at(t0, 239.0)), Err(2));
        assert_eq!(ids.admit(ids.key("b"), 5, at(t0, 239.5)), Ok(()));
        assert_eq!(ids.admit(ids.key("a"), 6, at(t0, 240.0)), Err(4));
    }

    #[test]
    fn shards_double_at_points_spread_over_the_fill() {
        let t0 = Instant::now();
        let mut ids = Dedupe::new(WINDOW, u64::MAX, t0);
        // When each shard first holds more than 3,584 ids (a table of 4,096
        // buckets) it has doubled; record at which insert that happened.
        let mut doubled_at = [None; SHARDS];
        for n in 0..300_000u64 {
            assert_eq!(ids.admit(ids.key(&n.to_string()), n + 1, t0), Ok(()));
            for (shard, at) in ids.current.shards.iter().zip(&mut doubled_at) {
                if at.is_none() && shard.capacity() > 3584 {
                    *at = Some(n);
                }
            }
        }
        let at: Vec<u64> = doubled_at
            .iter()
            .map(|a| a.expect("every shard grew"))
            .collect();
        let (first, last) = (*at.iter().min().unwrap(), *at.iter().max().unwrap());
        // Left alone they would all double within about 5% of the fill.
        assert!(
            (last - first) * 100 > last * 15,
            "doublings between inserts {first} and {last}"
        );
    }

    #[test]
    fn only_the_last_max_ids_messages_count() {
        let t0 = Instant::now();
        let mut ids = Dedupe::new(WINDOW, 2, t0);
        for (seq, id) in [(1, "a"), (2, "b"), (3, "c")] {
            assert_eq!(ids.admit(ids.key(id), seq, t0), Ok(()));
        }
        // The stream's last two messages are 2 and 3.
        assert_eq!(ids.admit(ids.key("b"), 4, t0), Err(2));
        assert_eq!(ids.admit(ids.key("c"), 4, t0), Err(3));
        assert_eq!(ids.admit(ids.key("a"), 4, t0), Ok(()));
        // Memory stays bounded: at most two generations of `max_ids`.
        for seq in 5..10_000 {
            assert_eq!(ids.admit(ids.key(&seq.to_string()), seq, t0), Ok(()));
        }
        assert!(ids.current.len + ids.previous.len <= 4);
        assert_eq!(ids.admit(ids.key("9999"), 10_000, t0), Err(9999));
    }
}
