//! Requests as the facade's inputs: `TryFrom` each input message. A UUID or
//! an amount that does not parse is a field error like every other invalid
//! field, so the caller sees all of them at once (the facade's own checks run
//! once these pass).
//!
//! Input scalars left at their zero value take the REST defaults (`port`
//! 5060, codecs `ulaw, alaw`, `priority` 1, …): proto3 cannot tell "unset"
//! from zero, and none of those zeros is a valid value.

use ringside_proto::provisioning::v1 as pb;
use uuid::Uuid;

use crate::model::{self, default_codecs};
use crate::money::Money;
use crate::validate::{FieldError, ValidationError};

/// Collects the field errors of turning one request into an input.
#[derive(Default)]
pub(super) struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    fn error(&mut self, field: &str, code: &'static str, message: &str) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code,
            message: message.to_owned(),
        });
    }

    /// A required UUID (the nil UUID stands in when it is invalid).
    pub(super) fn uuid(&mut self, field: &str, text: &str) -> Uuid {
        Uuid::parse_str(text.trim()).unwrap_or_else(|_| {
            self.error(field, "invalid", "not a UUID");
            Uuid::nil()
        })
    }

    /// An optional UUID: unset or empty is `None`.
    pub(super) fn opt_uuid(&mut self, field: &str, text: Option<&str>) -> Option<Uuid> {
        given(text).map(|t| self.uuid(field, t))
    }

    /// An amount; empty is zero.
    fn money(&mut self, field: &str, text: &str) -> Money {
        if text.trim().is_empty() {
            return Money::ZERO;
        }
        Money::parse(text).unwrap_or_else(|message| {
            self.error(field, "invalid_amount", &message);
            Money::ZERO
        })
    }

    /// `value` if no field was invalid.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ValidationError {
                fields: self.errors,
            })
        }
    }
}

/// `Some` trimmed text unless unset or blank.
pub(super) fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// The input of a create or update request; proto3 makes every message field
/// optional, but these are not.
pub(super) fn required<T>(input: Option<T>, field: &str) -> Result<T, ValidationError> {
    input.ok_or_else(|| ValidationError::field(field, "required", format!("{field} is required")))
}
fn codecs_in(codecs: Vec<String>) -> Vec<String> {
    if codecs.is_empty() {
        default_codecs()
    } else {
        codecs
    }
}

impl TryFrom<pb::CustomerInput> for model::CustomerInput {
    type Error = ValidationError;
    fn try_from(c: pb::CustomerInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let kind = match c.r#type() {
            pb::CustomerType::Trunk => model::CustomerType::Trunk,
            pb::CustomerType::Extension => model::CustomerType::Extension,
            pb::CustomerType::Unspecified => {
                f.error("type", "required", "trunk or extension");
                model::CustomerType::Extension
            }
        };
        let status = match c.status() {
            pb::CustomerStatus::Suspended => model::Status::Suspended,
            pb::CustomerStatus::Active | pb::CustomerStatus::Unspecified => model::Status::Active,
        };
        f.finish(model::CustomerInput {
            code: c.code,
            name: c.name,
            kind,
            trunk_ip: c.trunk_ip,
            channel_limit: c.channel_limit,
            status,
        })
    }
}

impl TryFrom<pb::ProviderInput> for model::ProviderInput {
    type Error = ValidationError;
    fn try_from(p: pb::ProviderInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let cost_per_minute = f.money("cost_per_minute", &p.cost_per_minute);
        f.finish(model::ProviderInput {
            name: p.name,
            kind: given(Some(&p.r#type)).unwrap_or("sip").to_owned(),
            cost_per_minute,
        })
    }
}

impl TryFrom<pb::GatewayInput> for model::GatewayInput {
    type Error = ValidationError;
    fn try_from(g: pb::GatewayInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let provider_id = f.opt_uuid("provider_id", g.provider_id.as_deref());
        let transport = match g.transport() {
            pb::Transport::Tcp => model::Transport::Tcp,
            pb::Transport::Tls => model::Transport::Tls,
            pb::Transport::Udp | pb::Transport::Unspecified => model::Transport::Udp,
        };
        let status = match g.status() {
            pb::GatewayStatus::Disabled => model::GatewayStatus::Disabled,
            pb::GatewayStatus::Active | pb::GatewayStatus::Unspecified => {
                model::GatewayStatus::Active
            }
        };
        f.finish(model::GatewayInput {
            name: g.name,
            provider_id,
            ip_address: g.ip_address,
            port: if g.port == 0 { 5060 } else { i64::from(g.port) },
            transport,
            codecs: codecs_in(g.codecs),
            tech_prefix: g.tech_prefix,
            registration_username: g.registration_username,
            registration_secret: g.registration_secret,
            status,
        })
    }
}

impl TryFrom<pb::DidInput> for model::DidInput {
    type Error = ValidationError;
    fn try_from(d: pb::DidInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let provider_id = f.opt_uuid("provider_id", d.provider_id.as_deref());
        let gateway_id = f.opt_uuid("gateway_id", d.gateway_id.as_deref());
        let monthly_cost = f.money("monthly_cost", &d.monthly_cost);
        let status = match d.status() {
            pb::DidStatus::Allocated => model::DidStatus::Allocated,
            pb::DidStatus::Blocked => model::DidStatus::Blocked,
            pb::DidStatus::Available | pb::DidStatus::Unspecified => model::DidStatus::Available,
        };
        f.finish(model::DidInput {
            number: d.number,
            provider_id,
            gateway_id,
            status,
            monthly_cost,
        })
    }
}

impl TryFrom<pb::RouteInput> for model::RouteInput {
    type Error = ValidationError;
    fn try_from(r: pb::RouteInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let gateway_id = f.uuid("gateway_id", &r.gateway_id);
        f.finish(model::RouteInput {
            name: r.name,
            pattern: r.pattern,
            gateway_id,
            priority: if r.priority == 0 { 1 } else { r.priority },
            tech_prefix: r.tech_prefix,
            strip_digits: r.strip_digits,
        })
    }
}

impl TryFrom<pb::ExtensionInput> for model::ExtensionInput {
    type Error = ValidationError;
    fn try_from(e: pb::ExtensionInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        let customer_id = f.opt_uuid("customer_id", e.customer_id.as_deref());
        f.finish(model::ExtensionInput {
            extension: e.extension,
            secret: e.secret,
            customer_id,
            caller_id: e.caller_id,
            codecs: codecs_in(e.codecs),
            max_contacts: if e.max_contacts == 0 {
                1
            } else {
                e.max_contacts
            },
        })
    }
}

impl TryFrom<pb::TariffInput> for model::TariffInput {
    type Error = ValidationError;
    fn try_from(t: pb::TariffInput) -> Result<Self, ValidationError> {
        let mut f = Fields::default();
        if t.price_per_minute.trim().is_empty() {
            f.error(
                "price_per_minute",
                "required",
                "price_per_minute is required",
            );
        }
        let billing_increment = match given(Some(&t.billing_increment)) {
            None => model::Increment::default(),
            Some(text) => model::Increment::parse(text).unwrap_or_else(|message| {
                f.error("billing_increment", "invalid", &message);
                model::Increment::default()
            }),
        };
        let cost_per_minute = f.money("cost_per_minute", &t.cost_per_minute);
        let price_per_minute = f.money("price_per_minute", &t.price_per_minute);
        let connection_fee = f.money("connection_fee", &t.connection_fee);
        f.finish(model::TariffInput {
            pattern: t.pattern,
            description: t.description,
            cost_per_minute,
            price_per_minute,
            billing_increment,
            connection_fee,
            valid_from_ms: t.valid_from_ms,
            valid_to_ms: t.valid_to_ms,
        })
    }
}
