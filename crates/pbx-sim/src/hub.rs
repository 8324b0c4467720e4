//! Fan-out of events to logged-in sessions.
//!
//! Each session has a bounded queue drained by its writer task. Publishing
//! never waits: an event that does not fit means the client is too slow to
//! keep up with the PBX, and like a real server under pressure we drop that
//! client (its connection is cancelled and closed) rather than stall the
//! model for everybody. Per-session settings that decide what a session
//! receives (the `Events` mask, `Filter` regexes) live here, next to the
//! queue, so publishing is one pass under the model's lock and every session
//! sees events in model order.

use bytes::Bytes;
use regex::Regex;
use ringside_ami::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a session's writer is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Data(Bytes),
    /// Bytes holding a permit of the producer's budget, released once they
    /// are written (the replayer's back-pressure: it could produce faster
    /// than any socket drains).
    Paced(Bytes, tokio::sync::OwnedSemaphorePermit),
    /// Flush and close the connection (after `Logoff`, a failed login).
    Close,
}

/// Which event classes a session wants (`Events: EventMask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventMask {
    All,
    Off,
    /// Only events whose `Privilege` names one of these classes.
    Classes(Vec<String>),
}

impl EventMask {
    /// Parses `on`/`off`/`system,call,…` like manager.c's `set_eventmask`.
    pub(crate) fn parse(s: &str) -> EventMask {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "on" | "yes" | "true" | "all" | "1" => EventMask::All,
            "off" | "no" | "false" | "none" | "0" | "" => EventMask::Off,
            _ => {
                let classes: Vec<String> = lower
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect();
                if classes.iter().any(|c| c == "all") {
                    EventMask::All
                } else {
                    EventMask::Classes(classes)
                }
            }
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        !matches!(self, EventMask::Off)
    }

    fn allows(&self, privilege: Option<&str>) -> bool {
        match self {
            EventMask::All => true,
            EventMask::Off => false,
            EventMask::Classes(classes) => privilege.is_some_and(|p| {
                p.split(',')
                    .map(str::trim)
                    .any(|c| classes.iter().any(|k| k.eq_ignore_ascii_case(c)))
            }),
        }
    }
}

/// A session's `Filter` regexes (`!` prefix: exclude), matched against the
/// whole event text as manager.c's legacy filters are.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Filters {
    /// Adds one filter.
    ///
    /// # Errors
    /// The regex did not compile (the session answers
    /// `Filter did not compile.  Check the syntax of the filter given.`).
    pub(crate) fn add(&mut self, filter: &str) -> Result<(), regex::Error> {
        match filter.strip_prefix('!') {
            Some(ex) => self.exclude.push(Regex::new(ex)?),
            None => self.include.push(Regex::new(filter)?),
        }
        Ok(())
    }

    fn allows(&self, text: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(text)))
            && !self.exclude.iter().any(|r| r.is_match(text))
    }
}

#[derive(Debug)]
struct Subscriber {
    session: u64,
    tx: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    mask: EventMask,
    filters: Filters,
}

/// The logged-in sessions of one simulator.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    subs: Vec<Subscriber>,
}

impl Hub {
    /// Starts delivering events to a session that just logged in.
    pub(crate) fn subscribe(
        &mut self,
        session: u64,
        tx: mpsc::Sender<Outbound>,
        cancel: CancellationToken,
        mask: EventMask,
    ) {
        self.subs.push(Subscriber {
            session,
            tx,
            cancel,
            mask,
            filters: Filters::default(),
        });
    }

    pub(crate) fn unsubscribe(&mut self, session: u64) {
        self.subs.retain(|s| s.session != session);
    }

    pub(crate) fn set_mask(&mut self, session: u64, mask: EventMask) {
        if let Some(s) = self.subs.iter_mut().find(|s| s.session == session) {
            s.mask = mask;
        }
    }

    /// # Errors
    /// The filter's regex did not compile.
    pub(crate) fn add_filter(&mut self, session: u64, filter: &str) -> Result<(), regex::Error> {
        match self.subs.iter_mut().find(|s| s.session == session) {
            Some(s) => s.filters.add(filter),
            None => Ok(()),
        }
    }

    /// Number of sessions receiving events.
    pub(crate) fn len(&self) -> usize {
        self.subs.len()
    }

    /// Closes every session (Asterisk restarted).
    pub(crate) fn disconnect_all(&mut self) {
        for s in self.subs.drain(..) {
            s.cancel.cancel();
        }
    }

    /// Sends an event to every session that wants it.
    pub(crate) fn publish(&mut self, event: &Message) {
        if self.subs.is_empty() {
            return;
        }
        let bytes = event.to_bytes();
        let privilege = event.get("Privilege");
        let text = event.as_text();
        self.subs.retain(|s| {
            if !s.mask.allows(privilege) || !s.filters.allows(text) {
                return true;
            }
            deliver(s.session, &s.tx, &s.cancel, Outbound::Data(bytes.clone()))
        });
    }

    /// Sends a message to one session (the late answer of a sync Originate).
    pub(crate) fn send_to(&mut self, session: u64, msg: &Message) {
        let bytes = msg.to_bytes();
        self.subs.retain(|s| {
            s.session != session
                || deliver(s.session, &s.tx, &s.cancel, Outbound::Data(bytes.clone()))
        });
    }
}

/// Queues one item without waiting; a full queue or a gone writer drops the
/// session. Returns whether the session is still alive.
pub(crate) fn deliver(
    session: u64,
    tx: &mpsc::Sender<Outbound>,
    cancel: &CancellationToken,
    item: Outbound,
) -> bool {
    match tx.try_send(item) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                session,
                capacity = tx.max_capacity(),
                "dropping a slow AMI client: its outbound queue is full"
            );
            cancel.cancel();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            cancel.cancel();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_masks_parse_like_manager_c() {
        assert_eq!(EventMask::parse("on"), EventMask::All);
        assert_eq!(EventMask::parse("OFF"), EventMask::Off);
        let m = EventMask::parse("system,call");
        assert!(m.allows(Some("call,all")));
        assert!(!m.allows(Some("dialplan,all")));
        assert!(!m.allows(None));
    }

    #[test]
    fn exclude_filters_drop_matching_events_and_include_filters_keep_only_matches() {
        let mut f = Filters::default();
        f.add("!Event: VarSet").unwrap();
        assert!(!f.allows("Event: VarSet\r\nPrivilege: dialplan,all"));
        assert!(f.allows("Event: Newchannel\r\nPrivilege: call,all"));
        f.add("Event: Hangup").unwrap();
        assert!(!f.allows("Event: Newchannel"));
        assert!(f.allows("Event: Hangup\r\nCause: 16"));
        assert!(f.add("(unclosed").is_err());
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_session_instead_of_blocking() {
        let mut hub = Hub::default();
        let (tx, _rx) = mpsc::channel(2);
        let cancel = CancellationToken::new();
        hub.subscribe(7, tx, cancel.clone(), EventMask::All);
        let ev = Message::from_headers([("Event", "X"), ("Privilege", "call,all")]).unwrap();
        hub.publish(&ev);
        hub.publish(&ev);
        assert_eq!(hub.len(), 1);
        hub.publish(&ev);
        assert_eq!(hub.len(), 0);
        assert!(cancel.is_cancelled());
    }
}
