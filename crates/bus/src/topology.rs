//! The streams Ringside needs, their retention, and the specs for consumers,
//! ranged reads and key-value buckets.

use std::time::{Duration, SystemTime};

use crate::BusError;
use crate::subject::{self, Subjects, Token};

/// Where a stream or bucket keeps its messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Storage {
    /// On disk; survives a server restart.
    #[default]
    File,
    /// In memory; lost when the server restarts.
    Memory,
}

/// One JetStream stream (or its in-process equivalent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name, `[A-Za-z0-9_-]+`.
    pub name: String,
    /// Subject patterns the stream captures; must not overlap another stream's.
    pub subjects: Vec<String>,
    /// Messages older than this are removed (`None`: no age limit).
    pub max_age: Option<Duration>,
    /// When the stream is larger than this, the oldest messages are removed.
    pub max_bytes: Option<u64>,
    /// When the stream holds more messages than this, the oldest are removed.
    pub max_messages: Option<u64>,
    /// Horizon of `msg_id` de-duplication.
    pub duplicate_window: Duration,
    /// Disk or memory.
    pub storage: Storage,
}

impl StreamSpec {
    /// Whether this stream captures `subject`.
    pub fn captures(&self, subject: &str) -> bool {
        self.subjects.iter().any(|p| subject::matches(p, subject))
    }
}

/// Retention of the v1 streams. Defaults: events 7 days or 10 GiB, raw AMI
/// 24 hours or 10 GiB, call records and provisioning events 30 days, a 2 minute
/// de-duplication window, file storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Age limit of normalized events.
    pub events_max_age: Duration,
    /// Size cap of normalized events (whichever limit is reached first applies).
    pub events_max_bytes: Option<u64>,
    /// Age limit of raw AMI frames.
    pub ami_max_age: Duration,
    /// Size cap of raw AMI frames.
    pub ami_max_bytes: Option<u64>,
    /// Age limit of call records (they are rated long before this).
    pub calls_max_age: Option<Duration>,
    /// Age limit of provisioning events.
    pub prov_max_age: Option<Duration>,
    /// Horizon of `msg_id` de-duplication, for every stream.
    pub duplicate_window: Duration,
    /// Disk or memory, for every stream.
    pub storage: Storage,
}

const GIB: u64 = 1024 * 1024 * 1024;
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            events_max_age: 7 * DAY,
            events_max_bytes: Some(10 * GIB),
            ami_max_age: DAY,
            ami_max_bytes: Some(10 * GIB),
            calls_max_age: Some(30 * DAY),
            prov_max_age: Some(30 * DAY),
            duplicate_window: Duration::from_secs(120),
            storage: Storage::File,
        }
    }
}

/// The role of a v1 stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamRole {
    /// `RINGSIDE_EVENTS`: normalized events.
    Events,
    /// `RINGSIDE_AMI`: raw AMI frames.
    Ami,
    /// `RINGSIDE_CALLS`: call records.
    Calls,
    /// `RINGSIDE_PROV`: provisioning domain events.
    Prov,
}

impl StreamRole {
    /// The stream's base name (without an isolation prefix).
    pub fn base_name(self) -> &'static str {
        match self {
            StreamRole::Events => "RINGSIDE_EVENTS",
            StreamRole::Ami => "RINGSIDE_AMI",
            StreamRole::Calls => "RINGSIDE_CALLS",
            StreamRole::Prov => "RINGSIDE_PROV",
        }
    }
}

/// Every stream a bus provides, and the subject layout they capture.
///
/// [`Topology::v1`] is the deployment layout. [`Topology::v1_prefixed`] puts the
/// same layout under `<prefix>.ringside.v1` with streams named
/// `<prefix>_RINGSIDE_…` (and KV buckets `<prefix>_…`, see
/// [`bucket_name`](Self::bucket_name)), so isolated installations or test runs
/// can share one NATS server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    prefix: Option<Token>,
    subjects: Subjects,
    /// The streams; edit to add or tune streams (checked by [`validate`](Self::validate)).
    pub streams: Vec<StreamSpec>,
}

impl Topology {
    /// The v1 streams under `ringside.v1`.
    pub fn v1(retention: &Retention) -> Self {
        Self::build(None, retention)
    }

    /// The v1 streams under `<prefix>.ringside.v1`, named `<prefix>_RINGSIDE_…`.
    pub fn v1_prefixed(prefix: &Token, retention: &Retention) -> Self {
        Self::build(Some(prefix.clone()), retention)
    }

    fn build(prefix: Option<Token>, retention: &Retention) -> Self {
        let subjects = match &prefix {
            Some(p) => Subjects::with_prefix(p),
            None => Subjects::v1(),
        };
        let mut topology = Topology {
            prefix,
            subjects,
            streams: Vec::new(),
        };
        let spec = |topology: &Topology, role, pattern, max_age, max_bytes| StreamSpec {
            name: topology.stream_name(role),
            subjects: vec![pattern],
            max_age,
            max_bytes,
            max_messages: None,
            duplicate_window: retention.duplicate_window,
            storage: retention.storage,
        };
        topology.streams = vec![
            spec(
                &topology,
                StreamRole::Events,
                topology.subjects.events_stream_pattern(),
                Some(retention.events_max_age),
                retention.events_max_bytes,
            ),
            spec(
                &topology,
                StreamRole::Ami,
                topology.subjects.ami_stream_pattern(),
                Some(retention.ami_max_age),
                retention.ami_max_bytes,
            ),
            spec(
                &topology,
                StreamRole::Calls,
                topology.subjects.calls_stream_pattern(),
                retention.calls_max_age,
                None,
            ),
            spec(
                &topology,
                StreamRole::Prov,
                topology.subjects.prov_stream_pattern(),
                retention.prov_max_age,
                None,
            ),
        ];
        topology
    }

    /// The subject layout.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The isolation prefix, if any.
    pub fn prefix(&self) -> Option<&Token> {
        self.prefix.as_ref()
    }

    /// The name of a v1 stream in this topology.
    pub fn stream_name(&self, role: StreamRole) -> String {
        self.prefixed(role.base_name())
    }

    /// The name to give a KV bucket called `base` in this topology.
    pub fn bucket_name(&self, base: &str) -> String {
        self.prefixed(base)
    }

    fn prefixed(&self, base: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}_{base}"),
            None => base.to_owned(),
        }
    }

    /// The stream called `name`.
    pub fn stream(&self, name: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The stream that captures `subject`.
    pub fn stream_for_subject(&self, subject: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.captures(subject))
    }

    /// Checks names and subject patterns, and that no two streams' subjects overlap
    /// (JetStream refuses that).
    ///
    /// # Errors
    /// [`BusError::InvalidName`] / [`BusError::InvalidSubject`] for the first problem.
    pub fn validate(&self) -> Result<(), BusError> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for stream in &self.streams {
            validate_name(&stream.name)?;
            if self
                .streams
                .iter()
                .filter(|s| s.name == stream.name)
                .count()
                > 1
            {
                return Err(BusError::invalid_name(
                    &stream.name,
                    "duplicate stream name",
                ));
            }
            if stream.subjects.is_empty() {
                return Err(BusError::invalid_name(
                    &stream.name,
                    "stream has no subjects",
                ));
            }
            for pattern in &stream.subjects {
                subject::validate_pattern(pattern)?;
                if let Some((other, _)) = seen
                    .iter()
                    .find(|(_, p)| subject::patterns_overlap(p, pattern))
                {
                    return Err(BusError::invalid_subject(
                        pattern,
                        if *other == stream.name {
                            "overlaps another subject of the same stream"
                        } else {
                            "overlaps the subjects of another stream"
                        },
                    ));
                }
                seen.push((&stream.name, pattern));
            }
        }
        Ok(())
    }
}

/// Checks a stream, consumer or bucket name: a valid [`Token`].
///
/// # Errors
/// [`BusError::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), BusError> {
    Token::new(name)
        .map(|_| ())
        .map_err(|_| BusError::invalid_name(name, "names are [A-Za-z0-9_-]+, at most 128 bytes"))
}

/// Where a new consumer or a ranged read starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest message still in the stream.
    #[default]
    All,
    /// The first message whose sequence is at least this.
    FromSequence(u64),
    /// The first message stored at or after this time.
    FromTime(SystemTime),
    /// Only messages stored after the consumer was created.
    New,
}

/// A durable pull consumer (see [`Bus::consumer`](crate::Bus::consumer)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The stream to consume.
    pub stream: String,
    /// The durable name; a consumer with this name continues where the last one
    /// acked. `[A-Za-z0-9_-]+`.
    pub durable: String,
    /// Only messages whose subject matches this pattern (`None`: all).
    pub filter: Option<String>,
    /// Where to start; only used when the consumer is created, ignored when an
    /// existing one is resumed.
    pub start: StartPosition,
    /// A delivery that is not acked within this is delivered again.
    pub ack_wait: Duration,
    /// At most this many deliveries may be un-acked at once; `next` waits beyond.
    pub max_ack_pending: usize,
    /// How many messages the NATS implementation fetches per pull. Fetched but not
    /// yet handed out messages are nak'ed (redelivered at once) when the consumer
    /// handle is dropped. The in-process bus does not prefetch.
    pub prefetch: usize,
    /// What one ack acknowledges.
    pub acks: Acks,
}

/// What acknowledging a delivery acknowledges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Acks {
    /// That delivery only (JetStream's `AckExplicit`).
    #[default]
    Each,
    /// That delivery and every one of a lower stream sequence (JetStream's
    /// `AckAll`): for a consumer that handles its deliveries in order, one
    /// ack now and then stands for all of them, which saves the bus a
    /// message and a reply per delivery. A nak still gives back one.
    ///
    /// An existing durable consumer opened with another ack policy is
    /// recreated, continuing after the last message it acked.
    Cumulative,
}

impl ConsumerSpec {
    /// A consumer of `stream` named `durable`, from the start of the stream, acks
    /// due within 30 s, at most 1,000 un-acked, prefetch 64.
    pub fn new(stream: impl Into<String>, durable: impl Into<String>) -> Self {
        ConsumerSpec {
            stream: stream.into(),
            durable: durable.into(),
            filter: None,
            start: StartPosition::All,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1000,
            prefetch: 64,
            acks: Acks::Each,
        }
    }

    /// Only messages matching `pattern`.
    pub fn filter(mut self, pattern: impl Into<String>) -> Self {
        self.filter = Some(pattern.into());
        self
    }

    /// Start position on creation.
    pub fn start(mut self, start: StartPosition) -> Self {
        self.start = start;
        self
    }

    /// Redelivery deadline.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Bound on un-acked deliveries.
    pub fn max_ack_pending(mut self, max: usize) -> Self {
        self.max_ack_pending = max.max(1);
        self
    }

    /// NATS prefetch size.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Acks that stand for every earlier delivery too ([`Acks::Cumulative`]).
    pub fn cumulative_acks(mut self) -> Self {
        self.acks = Acks::Cumulative;
        self
    }
}

/// An ephemeral ordered read of a stream (see [`Bus::read_stream`](crate::Bus::read_stream)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSpec {
    /// The stream to read.
    pub stream: String,
    /// Where to start.
    pub start: StartPosition,
    /// Only messages whose subject matches this pattern (`None`: all).
    pub filter: Option<String>,
    /// End the read once the reader has seen every message that was in the stream
    /// (and matched) when it got there; otherwise follow new messages for ever.
    pub until_caught_up: bool,
}

impl ReadSpec {
    /// Read all of `stream` and follow it.
    pub fn new(stream: impl Into<String>) -> Self {
        ReadSpec {
            stream: stream.into(),
            start: StartPosition::All,
            filter: None,
            until_caught_up: false,
        }
    }

    /// Start position.
    pub fn start(mut self, start: StartPosition) -> Self {
        self.start = start;
        self
    }

    /// Only messages matching `pattern`.
    pub fn filter(mut self, pattern: impl Into<String>) -> Self {
        self.filter = Some(pattern.into());
        self
    }

    /// End when caught up instead of following.
    pub fn until_caught_up(mut self) -> Self {
        self.until_caught_up = true;
        self
    }
}

/// A key-value bucket's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvConfig {
    /// How many revisions per key the bucket keeps (1–64). Only the latest is
    /// readable through [`Kv`](crate::Kv); the in-process bus keeps only that one.
    pub history: u8,
    /// Entries older than this disappear (`None`: never). Leases use this.
    pub ttl: Option<Duration>,
    /// The bucket refuses writes that would make it larger than this.
    pub max_bytes: Option<u64>,
    /// Disk or memory.
    pub storage: Storage,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            history: 1,
            ttl: None,
            max_bytes: None,
            storage: Storage::File,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_topology_is_valid_and_prefixable() {
        let retention = Retention::default();
        let plain = Topology::v1(&retention);
        plain.validate().unwrap();
        assert_eq!(plain.stream_name(StreamRole::Events), "RINGSIDE_EVENTS");
        assert_eq!(plain.streams[0].subjects, ["ringside.v1.*.*.ev.>"]);
        let prefixed = Topology::v1_prefixed(&Token::new("t1").unwrap(), &retention);
        prefixed.validate().unwrap();
        assert_eq!(prefixed.stream_name(StreamRole::Ami), "t1_RINGSIDE_AMI");
        assert_eq!(prefixed.streams[1].subjects, ["t1.ringside.v1.*.*.ami.raw"]);
        assert_eq!(prefixed.bucket_name("leases"), "t1_leases");
    }

    #[test]
    fn overlapping_streams_are_refused() {
        let mut topology = Topology::v1(&Retention::default());
        topology.streams[3].subjects = vec!["ringside.v1.*.prov.>".into()];
        assert!(matches!(
            topology.validate(),
            Err(BusError::InvalidSubject { .. })
        ));
    }
}
