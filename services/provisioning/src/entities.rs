//! How each entity maps to its table: row → public type ([`Entity`]) and
//! input → columns ([`Write`]), with secrets sealed on the way in and never
//! read back into a public type.

use uuid::Uuid;

use crate::crypto::{Cipher, generate_secret};
use crate::db::DbRow;
use crate::error::{Error, StoreError};
use crate::model::*;
use crate::money::Money;
use crate::store::{Col, Entity};
use crate::validate::ValidationError;

/// Who may write an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Platform admins only (tenants).
    Platform,
    /// Tenant admins and platform admins (network, pricing, users, PBXs).
    Admin,
    /// Operators too (customers, extensions, DID allocation).
    Operations,
}

impl Access {
    pub(crate) fn allows(self, role: Role) -> bool {
        match self {
            Access::Platform => role == Role::PlatformAdmin,
            Access::Admin => matches!(role, Role::PlatformAdmin | Role::TenantAdmin),
            Access::Operations => {
                matches!(
                    role,
                    Role::PlatformAdmin | Role::TenantAdmin | Role::Operator
                )
            }
        }
    }
}

/// A reference an input makes: `(field, table, id)`.
pub(crate) type Ref = (&'static str, &'static str, Uuid);

/// An input that creates or replaces an [`Entity`].
pub(crate) trait Write: Send + Sync {
    type Out: Entity + Clone;
    const ACCESS: Access;
    /// Checks and normalizes.
    fn check(&mut self, creating: bool) -> Result<(), ValidationError>;
    /// Rows this input references (must exist in the same tenant).
    fn refs(&self) -> Vec<Ref> {
        Vec::new()
    }
    /// The columns to write for row `id`.
    fn columns(&self, id: Uuid, cipher: &Cipher, creating: bool) -> Result<Vec<Col>, Error>;
    /// Secret fields this write sets (recorded as redacted changes).
    fn secrets_set(&self, _creating: bool) -> Vec<&'static str> {
        Vec::new()
    }
    /// An extension's number (checked for uniqueness per PBX).
    fn extension_number(&self) -> Option<&str> {
        None
    }
}

fn codecs_text(codecs: &[String]) -> String {
    codecs.join(",")
}

fn codecs_of(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn refs_of(items: &[(&'static str, &'static str, Option<Uuid>)]) -> Vec<Ref> {
    items
        .iter()
        .filter_map(|(f, t, id)| id.map(|id| (*f, *t, id)))
        .collect()
}

// ---- PBX servers ----

pub(crate) const PBX_SECRET: &str = "pbx_servers.ami_secret";

impl Entity for PbxServer {
    const KIND: &'static str = "pbx_server";
    const TABLE: &'static str = "pbx_servers";
    const COLUMNS: &'static str =
        "name, ami_host, ami_port, ami_username, tls, apply_mode, config_dir, enabled";
    const ORDER: &'static str = "name";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(PbxServer {
            id: r.get("id")?,
            name: r.get("name")?,
            host: r.get("ami_host")?,
            port: r.get("ami_port")?,
            username: r.get("ami_username")?,
            tls: r.get("tls")?,
            apply_mode: ApplyMode::parse(&r.get::<String>("apply_mode")?),
            config_dir: r.get("config_dir")?,
            enabled: r.get("enabled")?,
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for PbxServerInput {
    type Out = PbxServer;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, creating: bool) -> Result<(), ValidationError> {
        self.validate(creating)
    }
    fn columns(&self, id: Uuid, cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        let secret = match &self.secret {
            Some(s) => Some(cipher.seal(PBX_SECRET, id, s)?),
            None => None,
        };
        Ok(vec![
            Col::new("name", self.name.clone()),
            Col::new("ami_host", self.host.clone()),
            Col::new("ami_port", self.port),
            Col::new("ami_username", self.username.clone()),
            Col::keep("ami_secret_enc", secret),
            Col::new("tls", self.tls),
            Col::new("apply_mode", self.apply_mode.as_str()),
            Col::new("config_dir", self.config_dir.clone()),
            Col::new("enabled", self.enabled),
        ])
    }
    fn secrets_set(&self, _creating: bool) -> Vec<&'static str> {
        if self.secret.is_some() {
            vec!["secret"]
        } else {
            Vec::new()
        }
    }
}

// ---- customers ----

impl Entity for Customer {
    const KIND: &'static str = "customer";
    const TABLE: &'static str = "customers";
    const COLUMNS: &'static str = "code, name, type, trunk_ip, channel_limit, status";
    const ORDER: &'static str = "code";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Customer {
            id: r.get("id")?,
            code: r.get("code")?,
            name: r.get("name")?,
            kind: CustomerType::parse(&r.get::<String>("type")?),
            trunk_ip: r.get("trunk_ip")?,
            channel_limit: r.get("channel_limit")?,
            status: Status::parse(&r.get::<String>("status")?),
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for CustomerInput {
    type Out = Customer;
    const ACCESS: Access = Access::Operations;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        Ok(vec![
            Col::new("code", self.code.clone()),
            Col::new("name", self.name.clone()),
            Col::new("type", self.kind.as_str()),
            Col::new("trunk_ip", self.trunk_ip.clone()),
            Col::new("channel_limit", self.channel_limit),
            Col::new("status", self.status.as_str()),
        ])
    }
}

// ---- providers ----

impl Entity for Provider {
    const KIND: &'static str = "provider";
    const TABLE: &'static str = "providers";
    const COLUMNS: &'static str = "name, type, cost_per_minute";
    const ORDER: &'static str = "name";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Provider {
            id: r.get("id")?,
            name: r.get("name")?,
            kind: r.get("type")?,
            cost_per_minute: Money(r.get("cost_per_minute")?),
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for ProviderInput {
    type Out = Provider;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        Ok(vec![
            Col::new("name", self.name.clone()),
            Col::new("type", self.kind.clone()),
            Col::new("cost_per_minute", self.cost_per_minute.0),
        ])
    }
}

// ---- gateways ----

pub(crate) const GATEWAY_SECRET: &str = "gateways.reg_secret";

impl Entity for Gateway {
    const KIND: &'static str = "gateway";
    const TABLE: &'static str = "gateways";
    const COLUMNS: &'static str = "name, provider_id, host, port, transport, codecs, tech_prefix, \
                                   reg_username, reg_secret_enc, status";
    const ORDER: &'static str = "name";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Gateway {
            id: r.get("id")?,
            name: r.get("name")?,
            provider_id: r.get("provider_id")?,
            ip_address: r.get("host")?,
            port: r.get("port")?,
            transport: Transport::parse(&r.get::<String>("transport")?),
            codecs: codecs_of(&r.get::<String>("codecs")?),
            tech_prefix: r.get("tech_prefix")?,
            registration_username: r.get("reg_username")?,
            has_registration_secret: r.get::<Option<Vec<u8>>>("reg_secret_enc")?.is_some(),
            status: GatewayStatus::parse(&r.get::<String>("status")?),
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for GatewayInput {
    type Out = Gateway;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn refs(&self) -> Vec<Ref> {
        refs_of(&[("provider_id", "providers", self.provider_id)])
    }
    fn columns(&self, id: Uuid, cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        let secret = match &self.registration_secret {
            Some(s) => Some(cipher.seal(GATEWAY_SECRET, id, s)?),
            None => None,
        };
        // Without a registration username there is no registration: the
        // secret goes too. Otherwise a missing secret keeps the stored one.
        let secret_col = if self.registration_username.is_none() {
            Col::new("reg_secret_enc", None::<Vec<u8>>)
        } else {
            Col::keep("reg_secret_enc", secret)
        };
        Ok(vec![
            Col::new("name", self.name.clone()),
            Col::new("provider_id", self.provider_id),
            Col::new("host", self.ip_address.clone()),
            Col::new("port", self.port),
            Col::new("transport", self.transport.as_str()),
            Col::new("codecs", codecs_text(&self.codecs)),
            Col::new("tech_prefix", self.tech_prefix.clone()),
            Col::new("reg_username", self.registration_username.clone()),
            secret_col,
            Col::new("status", self.status.as_str()),
        ])
    }
    fn secrets_set(&self, _creating: bool) -> Vec<&'static str> {
        if self.registration_secret.is_some() {
            vec!["registration_secret"]
        } else {
            Vec::new()
        }
    }
}

// ---- DIDs ----

impl Entity for Did {
    const KIND: &'static str = "did";
    const TABLE: &'static str = "dids";
    const COLUMNS: &'static str = "number, provider_id, gateway_id, status, monthly_cost";
    const ORDER: &'static str = "number";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Did {
            id: r.get("id")?,
            number: r.get("number")?,
            provider_id: r.get("provider_id")?,
            gateway_id: r.get("gateway_id")?,
            status: DidStatus::parse(&r.get::<String>("status")?),
            monthly_cost: Money(r.get("monthly_cost")?),
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for DidInput {
    type Out = Did;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn refs(&self) -> Vec<Ref> {
        refs_of(&[
            ("provider_id", "providers", self.provider_id),
            ("gateway_id", "gateways", self.gateway_id),
        ])
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        Ok(vec![
            Col::new("number", self.number.clone()),
            Col::new("provider_id", self.provider_id),
            Col::new("gateway_id", self.gateway_id),
            Col::new("status", self.status.as_str()),
            Col::new("monthly_cost", self.monthly_cost.0),
        ])
    }
}

// ---- routes ----

impl Entity for Route {
    const KIND: &'static str = "route";
    const TABLE: &'static str = "routes";
    const COLUMNS: &'static str = "name, pattern, gateway_id, priority, tech_prefix, strip_digits";
    const ORDER: &'static str = "pattern, priority";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Route {
            id: r.get("id")?,
            name: r.get("name")?,
            pattern: r.get("pattern")?,
            gateway_id: r.get("gateway_id")?,
            priority: r.get("priority")?,
            tech_prefix: r.get("tech_prefix")?,
            strip_digits: r.get("strip_digits")?,
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for RouteInput {
    type Out = Route;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn refs(&self) -> Vec<Ref> {
        vec![("gateway_id", "gateways", self.gateway_id)]
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        Ok(vec![
            Col::new("name", self.name.clone()),
            Col::new("pattern", self.pattern.clone()),
            Col::new("gateway_id", self.gateway_id),
            Col::new("priority", self.priority),
            Col::new("tech_prefix", self.tech_prefix.clone()),
            Col::new("strip_digits", self.strip_digits),
        ])
    }
}

// ---- extensions ----

pub(crate) const EXTENSION_SECRET: &str = "extensions.secret";

impl Entity for Extension {
    const KIND: &'static str = "extension";
    const TABLE: &'static str = "extensions";
    const COLUMNS: &'static str = "extension, customer_id, caller_id, codecs, max_contacts";
    const ORDER: &'static str = "extension";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Extension {
            id: r.get("id")?,
            extension: r.get("extension")?,
            secret: None,
            customer_id: r.get("customer_id")?,
            caller_id: r.get("caller_id")?,
            codecs: codecs_of(&r.get::<String>("codecs")?),
            max_contacts: r.get("max_contacts")?,
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for ExtensionInput {
    type Out = Extension;
    const ACCESS: Access = Access::Operations;
    fn check(&mut self, creating: bool) -> Result<(), ValidationError> {
        self.validate()?;
        if creating && self.secret.is_none() {
            self.secret = Some(generate_secret());
        }
        Ok(())
    }
    fn refs(&self) -> Vec<Ref> {
        refs_of(&[("customer_id", "customers", self.customer_id)])
    }
    fn columns(&self, id: Uuid, cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        let secret = match &self.secret {
            Some(s) => Some(cipher.seal(EXTENSION_SECRET, id, s)?),
            None => None,
        };
        Ok(vec![
            Col::new("extension", self.extension.clone()),
            Col::keep("secret_enc", secret),
            Col::new("customer_id", self.customer_id),
            Col::new("caller_id", self.caller_id.clone()),
            Col::new("codecs", codecs_text(&self.codecs)),
            Col::new("max_contacts", self.max_contacts),
        ])
    }
    fn secrets_set(&self, _creating: bool) -> Vec<&'static str> {
        if self.secret.is_some() {
            vec!["secret"]
        } else {
            Vec::new()
        }
    }
    fn extension_number(&self) -> Option<&str> {
        Some(&self.extension)
    }
}

// ---- tariffs ----

impl Entity for Tariff {
    const KIND: &'static str = "tariff";
    const TABLE: &'static str = "tariffs";
    const COLUMNS: &'static str = "pattern, description, cost_per_minute, price_per_minute, \
                                   increment_first, increment_next, connection_fee, valid_from_ms, valid_to_ms";
    const ORDER: &'static str = "pattern, valid_from_ms";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        Ok(Tariff {
            id: r.get("id")?,
            pattern: r.get("pattern")?,
            description: r.get("description")?,
            cost_per_minute: Money(r.get("cost_per_minute")?),
            price_per_minute: Money(r.get("price_per_minute")?),
            billing_increment: Increment {
                first: r.get("increment_first")?,
                next: r.get("increment_next")?,
            },
            connection_fee: Money(r.get("connection_fee")?),
            valid_from_ms: r.get("valid_from_ms")?,
            valid_to_ms: r.get("valid_to_ms")?,
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for TariffInput {
    type Out = Tariff;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, _creating: bool) -> Result<(), ValidationError> {
        self.validate()
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        Ok(vec![
            Col::new("pattern", self.pattern.clone()),
            Col::new("description", self.description.clone()),
            Col::new("cost_per_minute", self.cost_per_minute.0),
            Col::new("price_per_minute", self.price_per_minute.0),
            Col::new("increment_first", self.billing_increment.first),
            Col::new("increment_next", self.billing_increment.next),
            Col::new("connection_fee", self.connection_fee.0),
            Col::new("valid_from_ms", self.valid_from_ms),
            Col::new("valid_to_ms", self.valid_to_ms),
        ])
    }
}

// ---- users ----

impl Entity for User {
    const KIND: &'static str = "user";
    const TABLE: &'static str = "users";
    const COLUMNS: &'static str = "tenant, username, role, enabled";
    const ORDER: &'static str = "username";
    fn from_row(r: &DbRow) -> Result<Self, StoreError> {
        let role: String = r.get("role")?;
        Ok(User {
            id: r.get("id")?,
            username: r.get("username")?,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Database(format!("unknown role {role:?}")))?,
            tenant: r.get("tenant")?,
            enabled: r.get("enabled")?,
            created_at_ms: r.get("created_at_ms")?,
            updated_at_ms: r.get("updated_at_ms")?,
        })
    }
}

impl Write for UserInput {
    type Out = User;
    const ACCESS: Access = Access::Admin;
    fn check(&mut self, creating: bool) -> Result<(), ValidationError> {
        self.validate(creating)
    }
    fn columns(&self, _id: Uuid, _cipher: &Cipher, _creating: bool) -> Result<Vec<Col>, Error> {
        let hash = match &self.password {
            Some(p) => Some(crate::password::hash(p)?),
            None => None,
        };
        Ok(vec![
            Col::new("username", self.username.clone()),
            Col::keep("password_hash", hash),
            Col::new("role", self.role.as_str()),
            Col::new("enabled", self.enabled),
        ])
    }
    fn secrets_set(&self, _creating: bool) -> Vec<&'static str> {
        if self.password.is_some() {
            vec!["password"]
        } else {
            Vec::new()
        }
    }
}
