//! Connecting a service to the bus its settings name.

use std::sync::Arc;

use anyhow::Context as _;
use ringside_bus::{Bus, Topology, connect_nats};

use crate::settings::BusSettings;

/// Connects to NATS JetStream and makes sure the streams exist.
///
/// # Errors
/// NATS unreachable (the message says where, never with credentials) or the
/// streams cannot be created.
pub async fn connect(
    settings: &BusSettings,
    service: &str,
) -> anyhow::Result<(Arc<dyn Bus>, Topology)> {
    let topology = settings.topology()?;
    let nats = settings.nats(service);
    let bus = connect_nats(&nats, &topology)
        .await
        .context("connecting to NATS JetStream")?;
    Ok((Arc::new(bus), topology))
}
