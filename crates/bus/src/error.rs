//! The one error type of the bus, shared by both implementations so a caller's
//! `match` does not depend on which bus it was handed.

/// What went wrong with a bus operation.
///
/// Variants are the outcomes a caller can act on; transport detail that no caller
/// can act on is folded into [`BusError::Stream`] or [`BusError::Unavailable`] as
/// text. `Display` fragments are lowercase so they chain (`publish to X: timed out`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// A subject or subscription pattern is malformed, or a token that should go
    /// into a subject is not `[A-Za-z0-9_-]+`.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The offending text.
        subject: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A stream, consumer or bucket name, or a KV key, is malformed.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending text.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A header name or value would break the wire format (CR/LF, `:` in a name…).
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The bus cannot be reached (connect failed, connection lost, server went
    /// away). Retry later; a publish that failed this way may or may not have been
    /// stored, so retry it with the same `msg_id`.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// No answer within the allowed time. For a durable publish the outcome is
    /// unknown: retry with the same `msg_id` and de-duplication sorts it out.
    #[error("timed out")]
    Timeout,
    /// A request found nobody serving its subject.
    #[error("no responders on {subject}")]
    NoResponders {
        /// The request's subject.
        subject: String,
    },
    /// A durable publish went to a subject that no stream captures.
    #[error("no stream captures subject {subject}")]
    NoStream {
        /// The publish's subject.
        subject: String,
    },
    /// A stream, consumer or bucket does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up, e.g. `stream RINGSIDE_EVENTS`.
        what: String,
    },
    /// A create-if-absent found the key already present.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What exists, e.g. `key lease.pbx1`.
        what: String,
    },
    /// A compare-and-set update named a revision that is not the key's latest.
    #[error("wrong revision (current revision: {})", fmt_revision(.current))]
    WrongRevision {
        /// The key's latest revision as seen right after the conflict (`None`: the
        /// key has never been written, or its history is gone).
        current: Option<u64>,
    },
    /// A configured limit refused the operation (bucket full, payload too large,
    /// too many un-acked deliveries).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Any other error reported by the stream machinery.
    #[error("stream error: {0}")]
    Stream(String),
    /// The bus (or the stream/bucket behind this handle) was shut down.
    #[error("bus closed")]
    Closed,
}

fn fmt_revision(current: &Option<u64>) -> String {
    match current {
        Some(revision) => revision.to_string(),
        None => "none".to_owned(),
    }
}

impl BusError {
    /// Whether retrying the same operation later may succeed (the bus was away or
    /// slow), as opposed to an error that retrying cannot fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, BusError::Unavailable(_) | BusError::Timeout)
    }

    pub(crate) fn invalid_name(name: &str, reason: &'static str) -> Self {
        BusError::InvalidName {
            name: name.to_owned(),
            reason,
        }
    }

    pub(crate) fn invalid_subject(subject: &str, reason: &'static str) -> Self {
        BusError::InvalidSubject {
            subject: subject.to_owned(),
            reason,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        BusError::NotFound { what: what.into() }
    }
}
