//! Answers: model rows as their messages. Ids become UUID strings, money
//! its six-decimal string, and nothing secret has a field to travel in.

use ringside_proto::prost_types;
use ringside_proto::provisioning::v1 as pb;
use uuid::Uuid;

use crate::model;
use crate::rating::{Cdr, CdrReport, CdrTotals};

fn id_text(id: Option<Uuid>) -> Option<String> {
    id.map(|id| id.to_string())
}

fn port_out(port: i64) -> u32 {
    u32::try_from(port).unwrap_or_default()
}

impl From<model::Customer> for pb::Customer {
    fn from(c: model::Customer) -> Self {
        pb::Customer {
            id: c.id.to_string(),
            code: c.code,
            name: c.name,
            r#type: match c.kind {
                model::CustomerType::Trunk => pb::CustomerType::Trunk,
                model::CustomerType::Extension => pb::CustomerType::Extension,
            }
            .into(),
            trunk_ip: c.trunk_ip,
            channel_limit: c.channel_limit,
            status: match c.status {
                model::Status::Active => pb::CustomerStatus::Active,
                model::Status::Suspended => pb::CustomerStatus::Suspended,
            }
            .into(),
            created_at_ms: c.created_at_ms,
            updated_at_ms: c.updated_at_ms,
        }
    }
}

impl From<model::Provider> for pb::Provider {
    fn from(p: model::Provider) -> Self {
        pb::Provider {
            id: p.id.to_string(),
            name: p.name,
            r#type: p.kind,
            cost_per_minute: p.cost_per_minute.to_string(),
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

impl From<model::Gateway> for pb::Gateway {
    fn from(g: model::Gateway) -> Self {
        pb::Gateway {
            id: g.id.to_string(),
            name: g.name,
            ip_address: g.ip_address,
            port: port_out(g.port),
            codecs: g.codecs,
            provider_id: id_text(g.provider_id),
            transport: match g.transport {
                model::Transport::Udp => pb::Transport::Udp,
                model::Transport::Tcp => pb::Transport::Tcp,
                model::Transport::Tls => pb::Transport::Tls,
            }
            .into(),
            tech_prefix: g.tech_prefix,
            registration_username: g.registration_username,
            has_registration_secret: g.has_registration_secret,
            status: match g.status {
                model::GatewayStatus::Active => pb::GatewayStatus::Active,
                model::GatewayStatus::Disabled => pb::GatewayStatus::Disabled,
            }
            .into(),
            created_at_ms: g.created_at_ms,
            updated_at_ms: g.updated_at_ms,
        }
    }
}

/// A DID with its allocation (what REST shows as `customer_id` and
/// `destination`).
pub(super) fn did(d: model::Did, allocation: Option<model::Allocation>) -> pb::Did {
    let (customer_id, destination) = match allocation {
        Some(a) => (Some(a.customer_id.to_string()), Some(a.destination)),
        None => (None, None),
    };
    pb::Did {
        id: d.id.to_string(),
        number: d.number,
        provider_id: id_text(d.provider_id),
        gateway_id: id_text(d.gateway_id),
        status: match d.status {
            model::DidStatus::Available => pb::DidStatus::Available,
            model::DidStatus::Allocated => pb::DidStatus::Allocated,
            model::DidStatus::Blocked => pb::DidStatus::Blocked,
        }
        .into(),
        monthly_cost: d.monthly_cost.to_string(),
        customer_id,
        destination,
        created_at_ms: d.created_at_ms,
        updated_at_ms: d.updated_at_ms,
    }
}

impl From<model::Allocation> for pb::Allocation {
    fn from(a: model::Allocation) -> Self {
        pb::Allocation {
            did_id: a.did_id.to_string(),
            customer_id: a.customer_id.to_string(),
            destination: a.destination,
            created_at_ms: a.created_at_ms,
        }
    }
}

impl From<model::Route> for pb::Route {
    fn from(r: model::Route) -> Self {
        pb::Route {
            id: r.id.to_string(),
            name: r.name,
            pattern: r.pattern,
            gateway_id: r.gateway_id.to_string(),
            priority: r.priority,
            tech_prefix: r.tech_prefix,
            strip_digits: r.strip_digits,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
        }
    }
}

/// The message has no secret field, so the secret a create answer holds
/// cannot leave through it.
impl From<model::Extension> for pb::Extension {
    fn from(e: model::Extension) -> Self {
        pb::Extension {
            id: e.id.to_string(),
            extension: e.extension,
            customer_id: id_text(e.customer_id),
            caller_id: e.caller_id,
            codecs: e.codecs,
            max_contacts: e.max_contacts,
            created_at_ms: e.created_at_ms,
            updated_at_ms: e.updated_at_ms,
        }
    }
}

impl From<model::Tariff> for pb::Tariff {
    fn from(t: model::Tariff) -> Self {
        pb::Tariff {
            id: t.id.to_string(),
            pattern: t.pattern,
            description: t.description,
            cost_per_minute: t.cost_per_minute.to_string(),
            price_per_minute: t.price_per_minute.to_string(),
            billing_increment: format!(
                "{}/{}",
                t.billing_increment.first, t.billing_increment.next
            ),
            connection_fee: t.connection_fee.to_string(),
            valid_from_ms: t.valid_from_ms,
            valid_to_ms: t.valid_to_ms,
            created_at_ms: t.created_at_ms,
            updated_at_ms: t.updated_at_ms,
        }
    }
}

impl From<model::PbxServer> for pb::PbxServer {
    fn from(p: model::PbxServer) -> Self {
        pb::PbxServer {
            id: p.id.to_string(),
            name: p.name,
            host: p.host,
            port: port_out(p.port),
            username: p.username,
            tls: p.tls,
            apply_mode: p.apply_mode.as_str().to_owned(),
            config_dir: p.config_dir,
            enabled: p.enabled,
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

impl From<model::AuditEntry> for pb::AuditEntry {
    fn from(e: model::AuditEntry) -> Self {
        let changes = match json_value(e.changes).kind {
            Some(prost_types::value::Kind::StructValue(s)) => Some(s),
            _ => None,
        };
        pb::AuditEntry {
            id: e.id.to_string(),
            at_ms: e.at_ms,
            actor_id: id_text(e.actor_id),
            actor: e.actor,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id.to_string(),
            changes,
        }
    }
}

/// JSON as `google.protobuf.Value` (numbers become doubles, as in proto3 JSON).
fn json_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    let kind = match value {
        J::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        J::Bool(b) => Kind::BoolValue(b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        J::String(s) => Kind::StringValue(s),
        J::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(json_value).collect(),
        }),
        J::Object(fields) => Kind::StructValue(prost_types::Struct {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k, json_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

impl From<Cdr> for pb::Cdr {
    fn from(c: Cdr) -> Self {
        pb::Cdr {
            id: c.id.to_string(),
            call_id: c.call_id,
            pbx: c.pbx,
            src: c.src,
            dst: c.dst,
            direction: c.direction,
            trunk: c.trunk,
            customer_id: id_text(c.customer_id),
            did_id: id_text(c.did_id),
            gateway_id: id_text(c.gateway_id),
            tariff_id: id_text(c.tariff_id),
            start_ms: c.start_ms,
            answer_ms: c.answer_ms,
            end_ms: c.end_ms,
            duration: c.duration,
            billsec: c.billsec,
            billed_seconds: c.billed_seconds,
            disposition: c.disposition,
            hangup_cause: c.hangup_cause,
            cost: c.cost.to_string(),
            price: c.price.to_string(),
            margin: c.margin.to_string(),
        }
    }
}

impl From<CdrTotals> for pb::CdrTotals {
    fn from(t: CdrTotals) -> Self {
        pb::CdrTotals {
            calls: t.calls,
            answered: t.answered,
            billsec: t.billsec,
            cost: t.cost.to_string(),
            price: t.price.to_string(),
            margin: t.margin.to_string(),
        }
    }
}

/// The report's rows and totals; the caller fills in the page.
pub(super) fn cdr_report(r: CdrReport) -> pb::CdrReportResponse {
    pb::CdrReportResponse {
        items: r.items.into_iter().map(Into::into).collect(),
        total: r.total,
        totals: Some(r.totals.into()),
        page: 0,
        per_page: 0,
    }
}
