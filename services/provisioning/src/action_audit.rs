//! AMI actions in the audit log. Every action an ingestor executes (sent
//! through REST, WebSocket or the bus) is published by that ingestor as an
//! audit record on `ringside.v1.<tenant>.prov.ami_action` (who, which PBX,
//! what with secrets masked, the result). This consumer copies them into
//! `audit_log`, so `GET /api/v1/audit` shows actions beside admin changes.
//!
//! Idempotent: a record's audit id is derived from its stream sequence, so
//! a redelivery inserts nothing.

use std::time::Duration;

use ringside_ami_ingestor::actions::ActionAudit;
use ringside_bus::{BusError, ConsumerSpec, StreamRole, Token};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::args;
use crate::error::Error;
use crate::service::Provisioning;

/// The durable consumer's name.
pub const ACTION_AUDIT_DURABLE: &str = "provisioning-action-audit";

/// The entity name of action rows in the audit log.
pub const AMI_ACTION: &str = "ami_action";

/// The audit id of the record stored at `sequence` of the provisioning
/// stream: the same for every delivery of it.
fn audit_id(sequence: u64) -> Uuid {
    // "ringside" + "ami-act" as the high half: not a random (v4) id.
    Uuid::from_u64_pair(0x7269_6e67_7369_6465, 0x0a0a_0000_0000_0000 ^ sequence)
}

impl Provisioning {
    /// Stores one action audit record (a no-op if already stored).
    ///
    /// # Errors
    /// The database refused.
    pub async fn record_action_audit(
        &self,
        audit: &ActionAudit,
        sequence: u64,
    ) -> Result<(), Error> {
        let id = audit_id(sequence);
        let changes = json!({
            "pbx": audit.pbx,
            "action": audit.action,
            "headers": audit.headers,
            "result": audit.result,
            "message": audit.message,
        });
        self.store
            .db
            .exec()
            .execute(
                "INSERT INTO audit_log (id, tenant, at_ms, actor_id, actor_name, action, entity, \
                 entity_id, changes) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO NOTHING",
                args![
                    id,
                    audit.tenant.as_str(),
                    i64::try_from(audit.at_ms).unwrap_or(i64::MAX),
                    audit.requested_by.as_str(),
                    audit.action.as_str(),
                    AMI_ACTION,
                    id,
                    changes.to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Copies the ingestors' action audit records into the audit log until
    /// `shutdown`. A record that is not an audit record is acknowledged and
    /// skipped; a database failure leaves it unacknowledged (delivered
    /// again).
    ///
    /// # Errors
    /// The consumer cannot be opened.
    pub async fn run_action_audit(&self, shutdown: CancellationToken) -> Result<(), Error> {
        let topology = self.topology();
        let subject = format!(
            "{}.*.prov.{}",
            topology.subjects().root(),
            Token::new(AMI_ACTION).expect("a constant token")
        );
        let spec = ConsumerSpec::new(topology.stream_name(StreamRole::Prov), ACTION_AUDIT_DURABLE)
            .filter(subject);
        let mut consumer = self.bus().consumer(spec).await?;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = consumer.next_within(Duration::from_secs(5)) => next,
            };
            let delivery = match next {
                Ok(Some(delivery)) => delivery,
                Ok(None) => continue,
                Err(BusError::Closed) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "action audit consumer: bus unavailable");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let sequence = delivery.msg.stream_sequence.unwrap_or(0);
            match serde_json::from_slice::<ActionAudit>(&delivery.msg.payload) {
                Ok(audit) => {
                    if let Err(e) = self.record_action_audit(&audit, sequence).await {
                        tracing::warn!(error = %e, "action audit not stored; will retry");
                        let _ = delivery.nak().await;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, subject = %delivery.msg.subject, "not an action audit record: skipped");
                }
            }
            let _ = delivery.ack().await;
        }
    }
}
