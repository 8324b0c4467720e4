//! The entry point: [`Normalizer::normalize`].

use std::collections::BTreeMap;

use ringside_ami::{Message, MessageKind};
use ringside_proto::events::v1::envelope::Kind;

use crate::map;

/// What the ingestor knows about a message beyond its headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx<'a> {
    /// Set when the message is an entry of a resync list action.
    pub sync: Option<SyncCtx<'a>>,
}

/// The resync a list entry belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SyncCtx<'a> {
    /// The resync's id (the same on SyncStarted, its entries and
    /// SyncCompleted).
    pub id: &'a str,
    /// The AMI action whose list this entry is (`CoreShowChannels`,
    /// `SIPpeers`, `IAXpeerlist`...). It decides what a `PeerEntry` without
    /// a channel type is.
    pub action: &'a str,
}

impl<'a> Ctx<'a> {
    /// A live event.
    pub fn live() -> Self {
        Ctx { sync: None }
    }

    /// An entry of the list of `action` in resync `id`.
    pub fn sync(id: &'a str, action: &'a str) -> Self {
        Ctx {
            sync: Some(SyncCtx { id, action }),
        }
    }
}

/// Counts kept by a [`Normalizer`]: what mapped, what did not, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeStats {
    /// Events and list entries that got a typed kind.
    pub typed: u64,
    /// Events and list entries kept as `Unmapped`.
    pub unmapped: u64,
    /// `unmapped` by event name.
    pub unmapped_by_name: BTreeMap<String, u64>,
    /// Messages that are not events (responses, banner, list completion).
    pub not_events: u64,
}

/// What a message normalizes to, with an `Unmapped` kind left unbuilt: the
/// ingestor encodes that one straight from the message
/// ([`encode_unmapped`](crate::encode_unmapped)).
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once, like the Option<Kind> it replaces; boxing would allocate per event"
)]
pub enum Normalized {
    Typed(Kind),
    Unmapped,
}

impl Normalized {
    /// The kind, `Unmapped` built from `msg`, the message it came from.
    pub fn into_kind(self, msg: &Message) -> Kind {
        match self {
            Normalized::Typed(kind) => kind,
            Normalized::Unmapped => map::unmapped(msg),
        }
    }
}

/// Normalizes the messages of one PBX connection.
///
/// The mapping itself is stateless; the normalizer counts, so an ingestor
/// can report how much of a PBX's traffic ends up `Unmapped`.
#[derive(Debug, Default)]
pub struct Normalizer {
    stats: NormalizeStats,
}

impl Normalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The kind of event `msg` is.
    ///
    /// `None` only for messages that are not events: responses, command
    /// output, the banner and the `...Complete` event that closes a list
    /// (the ingestor reads those itself). Every event and list entry gives a
    /// kind, `Unmapped` when there is no typed one.
    pub fn normalize(&mut self, msg: &Message, ctx: &Ctx<'_>) -> Option<Kind> {
        self.normalize_typed(msg, ctx).map(|n| n.into_kind(msg))
    }

    /// [`Normalizer::normalize`], but an event without a typed kind is only
    /// said to be one, not copied into an `Unmapped`.
    pub fn normalize_typed(&mut self, msg: &Message, ctx: &Ctx<'_>) -> Option<Normalized> {
        let normalized = normalize_typed(msg, ctx);
        match &normalized {
            None => self.stats.not_events += 1,
            Some(Normalized::Unmapped) => {
                self.stats.unmapped += 1;
                // Bounded: names are Asterisk's event names. Allocated only
                // the first time a name is seen.
                let by_name = &mut self.stats.unmapped_by_name;
                match by_name.get_mut(msg.name()) {
                    Some(count) => *count += 1,
                    None => {
                        by_name.insert(msg.name().to_owned(), 1);
                    }
                }
            }
            Some(Normalized::Typed(_)) => self.stats.typed += 1,
        }
        normalized
    }

    pub fn stats(&self) -> &NormalizeStats {
        &self.stats
    }
}

/// [`Normalizer::normalize`] without the counting.
pub fn normalize(msg: &Message, ctx: &Ctx<'_>) -> Option<Kind> {
    normalize_typed(msg, ctx).map(|n| n.into_kind(msg))
}

fn normalize_typed(msg: &Message, ctx: &Ctx<'_>) -> Option<Normalized> {
    match msg.kind() {
        MessageKind::Event | MessageKind::ListItem => {}
        MessageKind::Banner
        | MessageKind::Response
        | MessageKind::ListComplete
        | MessageKind::CommandOutput => return None,
    }
    Some(map::typed(msg, ctx).map_or(Normalized::Unmapped, Normalized::Typed))
}
