//! The filters of `ListAuditLog` and `CdrReport`, read like the REST query
//! strings of `/audit` and `/reports/cdr` (blank means "not given").

use ringside_proto::provisioning::v1 as pb;
use tonic::Status;
use uuid::Uuid;

use super::input::{Fields, given};
use super::status::{invalid, status};
use crate::model::{Actor, AuditFilter, Page};
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
        filter.did_id = Some(match Uuid::parse_str(did) {
            Ok(id) => id,
            Err(_) => did_by_number(prov, actor, did).await?,
        });
    }
    Ok(filter)
}

/// The DID with this number, or the nil UUID, which matches nothing: no call
/// reached a number the tenant does not hold.
async fn did_by_number(prov: &Provisioning, actor: &Actor, number: &str) -> Result<Uuid, Status> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Err(invalid(&ValidationError::field(
            "did",
            "invalid",
            "a DID's UUID or its number",
        )));
    }
    let mut page = Page {
        limit: 1000,
        offset: 0,
    };
    loop {
        let dids = prov.list_dids(actor, page).await.map_err(status)?;
        if let Some(did) = dids
            .items
            .iter()
            .find(|d| d.number.trim_start_matches('+') == digits)
        {
            return Ok(did.id);
        }
        page.offset += u64::from(dids.limit);
        if dids.items.is_empty() || page.offset >= dids.total {
            return Ok(Uuid::nil());
        }
    }
}
