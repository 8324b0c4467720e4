//! The filters of `ListAuditLog` and `CdrReport`, read like the REST query
//! strings of `/audit` and `/reports/cdr` (blank means "not given").

use ringside_proto::provisioning::v1 as pb;
use tonic::Status;

use super::input::{Fields, given};
use super::status::{invalid, status};
use crate::model::{Actor, AuditFilter};
use crate::rating::CdrFilter;
use crate::service::Provisioning;
use crate::validate::ValidationError;

fn text(value: Option<&String>) -> Option<String> {
    given(value.map(String::as_str)).map(str::to_owned)
}

/// # Errors
/// A field error for an `entity_id` that is not a UUID.
pub(super) fn audit_filter(r: &pb::ListAuditLogRequest) -> Result<AuditFilter, ValidationError> {
    let mut fields = Fields::default();
    let entity_id = fields.opt_uuid("entity_id", r.entity_id.as_deref());
    fields.finish(AuditFilter {
        entity: text(r.entity.as_ref()),
        entity_id,
        actor: text(r.actor.as_ref()),
        action: text(r.action.as_ref()),
        from_ms: r.from_ms,
        to_ms: r.to_ms,
    })
}

/// # Errors
/// `INVALID_ARGUMENT` for ids that are not UUIDs or a `did` with no digit;
/// the facade's errors while looking a DID number up.
pub(super) async fn cdr_filter(
    prov: &Provisioning,
    actor: &Actor,
    r: &pb::CdrReportRequest,
) -> Result<CdrFilter, Status> {
    let mut fields = Fields::default();
    let customer_id = fields.opt_uuid("customer_id", r.customer_id.as_deref());
    let gateway_id = fields.opt_uuid("gateway_id", r.gateway_id.as_deref());
    let mut filter = fields
        .finish(CdrFilter {
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            customer_id,
            did_id: None,
            gateway_id,
            disposition: text(r.disposition.as_ref()).map(|d| d.to_ascii_uppercase()),
        })
        .map_err(|v| invalid(&v))?;
    if let Some(did) = given(r.did.as_deref()) {
        filter.did_id = Some(prov.did_filter_id(actor, did).await.map_err(status)?);
    }
    Ok(filter)
}
