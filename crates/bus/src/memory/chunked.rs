//! A FIFO that never moves what it holds.
//!
//! A stream's log used to be one `VecDeque`: when it filled, it doubled and
//! copied every stored message while the stream's lock was held. At 500,000
//! messages that copy stalled every publisher for about 70 ms (seen in the
//! gateway benchmark's `/ws/ami` tail). [`ChunkedDeque`] keeps its items in
//! fixed-size chunks instead: a push fills the last chunk or starts a new
//! one, a pop empties the first one, and only the small list of chunks ever
//! grows. Indexing stays O(1) because every chunk but the first and the last
//! is full.

use std::collections::VecDeque;

/// Items per chunk: big enough that the chunk list stays small (1,000,000
/// messages are 245 chunks), small enough that a new chunk is cheap.
const CHUNK: usize = 4096;

/// A double-ended queue of `T`, pushed at the back and popped at the front,
/// whose items never move once pushed.
pub(super) struct ChunkedDeque<T> {
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
}

impl<T> Default for ChunkedDeque<T> {
    fn default() -> Self {
        ChunkedDeque {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedDeque<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push_back(&mut self, item: T) {
        if self.chunks.back().is_none_or(|c| c.len() == CHUNK) {
            // Allocated at its full size: a chunk never grows either.
            self.chunks.push_back(VecDeque::with_capacity(CHUNK));
        }
        if let Some(last) = self.chunks.back_mut() {
            last.push_back(item);
            self.len += 1;
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let item = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    pub(super) fn get(&self, index: usize) -> Option<&T> {
        let first = self.chunks.front()?;
        if index < first.len() {
            return first.get(index);
        }
        let rest = index - first.len();
        self.chunks.get(1 + rest / CHUNK)?.get(rest % CHUNK)
    }

    /// The index of the first item for which `pred` is false, the items
    /// being partitioned by it (all `true` first), as
    /// [`slice::partition_point`].
    pub(super) fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let mid = low + (high - low) / 2;
            match self.get(mid) {
                Some(item) if pred(item) => low = mid + 1,
                _ => high = mid,
            }
        }
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_fifo_across_chunk_boundaries() {
        let mut deque = ChunkedDeque::default();
        let mut model = VecDeque::new();
        let mut next = 0u64;
        // Pushes and pops in uneven runs so the first chunk is partly
        // drained at every boundary.
        for round in 0..40 {
            for _ in 0..(CHUNK / 3 + round * 97) {
                deque.push_back(next);
                model.push_back(next);
                next += 1;
            }
            for _ in 0..(CHUNK / 4 + round * 31) {
                assert_eq!(deque.pop_front(), model.pop_front());
            }
            assert_eq!(deque.len(), model.len());
            assert_eq!(deque.front(), model.front());
            for index in [
                0,
                1,
                CHUNK - 1,
                CHUNK,
                CHUNK + 1,
                model.len() - 1,
                model.len(),
            ] {
                assert_eq!(deque.get(index), model.get(index), "index {index}");
            }
            let cut = model.front().copied().unwrap_or(0) + model.len() as u64 / 2;
            assert_eq!(
                deque.partition_point(|v| *v < cut),
                model.partition_point(|v| *v < cut)
            );
        }
        while let Some(v) = model.pop_front() {
            assert_eq!(deque.pop_front(), Some(v));
        }
        assert_eq!(
            (deque.pop_front(), deque.len(), deque.front()),
            (None, 0, None)
        );
        assert_eq!(deque.partition_point(|_| true), 0);
    }
}
