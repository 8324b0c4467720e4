//! Where a subject goes, worked out once per subject instead of once per
//! message.
//!
//! Every in-process publish used to validate its subject, try each stream's
//! subject patterns and match every core subscription. On the ingest path
//! that was an eighth of the ingestor's CPU time (`perf`, the ingest bench),
//! though a PBX publishes on a few dozen subjects over and over. A [`Route`]
//! keeps the answers: the subject checked, the stream that captures it and
//! whether a core subscription wants it. Streams are fixed for the bus's
//! life; subscriptions are not, so the last answer is kept with the
//! subscription generation it was computed for and computed again once the
//! subscriptions have changed.
//!
//! The subject itself is kept as an `Arc<str>` that every stored message on
//! it shares, so storing a message no longer allocates (and evicting it
//! frees) a copy of its subject.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::BusError;
use crate::subject::validate_subject;

/// Subjects remembered at most; past this the table starts again empty.
/// Real traffic uses a bounded set (tenant × PBX × kind); the bound only
/// matters to a client publishing on ever new subjects.
const MAX_ROUTES: usize = 65_536;

/// One valid subject and where its messages go.
pub(super) struct Route {
    /// The subject, shared by every message stored on it.
    pub(super) subject: Arc<str>,
    /// Index of the stream that captures it, if any.
    pub(super) stream: Option<usize>,
    /// `generation << 1 | wants`: whether a core subscription matched, as of
    /// that subscription generation (see [`Route::wants`]).
    wants: AtomicU64,
}

impl Route {
    /// Whether a core subscription wants this subject, given the current
    /// subscription `generation`; `compute` matches the subscriptions and is
    /// only called when they changed since the last answer.
    pub(super) fn wants(&self, generation: u64, compute: impl FnOnce() -> bool) -> bool {
        let cached = self.wants.load(Ordering::Acquire);
        if cached >> 1 == generation {
            return cached & 1 == 1;
        }
        let wants = compute();
        self.wants
            .store(generation << 1 | u64::from(wants), Ordering::Release);
        wants
    }
}

/// The routes of the subjects published on so far.
#[derive(Default)]
pub(super) struct Routes {
    map: RwLock<HashMap<Arc<str>, Arc<Route>, foldhash::fast::RandomState>>,
}

impl Routes {
    /// The route of `subject`, validating it and finding its stream with
    /// `stream_of` the first time.
    ///
    /// # Errors
    /// [`BusError::InvalidSubject`] for a subject that is not valid (not
    /// remembered: it is checked again on every attempt).
    pub(super) fn get(
        &self,
        subject: &str,
        stream_of: impl FnOnce(&str) -> Option<usize>,
    ) -> Result<Arc<Route>, BusError> {
        if let Some(route) = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(subject)
        {
            return Ok(route.clone());
        }
        validate_subject(subject)?;
        let subject: Arc<str> = subject.into();
        let route = Arc::new(Route {
            stream: stream_of(&subject),
            subject: subject.clone(),
            // Generation 0 is never current (subscriptions start at 1).
            wants: AtomicU64::new(0),
        });
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ROUTES {
            map.clear();
        }
        Ok(map.entry(subject).or_insert(route).clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_subject_is_resolved_once_and_shared() {
        let routes = Routes::default();
        let lookups = Cell::new(0);
        let stream_of = |_: &str| {
            lookups.set(lookups.get() + 1);
            Some(2)
        };
        let a = routes.get("events.t.p.x", stream_of).unwrap();
        let b = routes.get("events.t.p.x", stream_of).unwrap();
        assert_eq!(lookups.get(), 1);
        assert_eq!(a.stream, Some(2));
        assert!(Arc::ptr_eq(&a.subject, &b.subject));
    }

    #[test]
    fn an_invalid_subject_is_refused_every_time_and_not_remembered() {
        let routes = Routes::default();
        for _ in 0..2 {
            let err = routes.get("events..x", |_| None).err().unwrap();
            assert!(matches!(err, BusError::InvalidSubject { .. }), "{err:?}");
        }
        assert_eq!(routes.len(), 0);
    }

    #[test]
    fn wants_is_computed_again_only_when_the_subscriptions_changed() {
        let routes = Routes::default();
        let route = routes.get("a.b", |_| None).unwrap();
        let computed = Cell::new(0);
        let compute = |answer| {
            let computed = &computed;
            move || {
                computed.set(computed.get() + 1);
                answer
            }
        };
        assert!(!route.wants(1, compute(false)));
        assert!(!route.wants(1, compute(true)), "generation 1 is answered");
        assert!(
            route.wants(2, compute(true)),
            "a new generation is computed"
        );
        assert!(route.wants(2, compute(false)));
        assert_eq!(computed.get(), 2);
    }

    #[test]
    fn the_table_is_bounded() {
        let routes = Routes::default();
        for i in 0..MAX_ROUTES + 10 {
            routes.get(&format!("s.{i}"), |_| None).unwrap();
        }
        assert!(routes.len() <= MAX_ROUTES);
    }
}
