//! The public data types: what the gateway serializes and accepts.
//!
//! Field names are those of the Asterisk Admin API (`code, name, type,
//! trunk_ip`, `ip_address`, `cost_per_minute`, …). Output types never carry a
//! secret, with one exception: [`Extension::secret`], filled only in the answer
//! to the create call that generated it. Inputs are validated with
//! [`validate`](CustomerInput::validate)-style methods that also normalize (an
//! E.164 number gains its `+`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;
use crate::validate::{self as v, Check, ValidationError};

/// A page request: `limit` rows (1–1000, default 50) after `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Page {
    /// Rows per page.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 50,
            offset: 0,
        }
    }
}

impl Page {
    /// `limit` clamped to 1–1000.
    pub fn clamped(self) -> Page {
        Page {
            limit: self.limit.clamp(1, 1000),
            offset: self.offset,
        }
    }
}

/// One page of a list, with the total number of rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// All matching rows.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The offset used.
    pub offset: u64,
}

/// A role, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including tenants.
    PlatformAdmin,
    /// Everything within its tenant.
    TenantAdmin,
    /// Day-to-day work (customers, DIDs, extensions); reads the rest.
    Operator,
    /// Reads.
    Viewer,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "platform_admin" => Role::PlatformAdmin,
            "tenant_admin" => Role::TenantAdmin,
            "operator" => Role::Operator,
            "viewer" => Role::Viewer,
            _ => return None,
        })
    }
}

/// Who is asking. The gateway builds it from a verified token; every
/// operation is scoped to `tenant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's id (`None` for the system itself, e.g. bootstrap).
    pub user_id: Option<Uuid>,
    /// The user's name, recorded in the audit log.
    pub username: String,
    /// The tenant slug the request is scoped to.
    pub tenant: String,
    /// The user's role.
    pub role: Role,
}

impl Actor {
    /// An actor for `user` in its own tenant.
    pub fn of(user: &User) -> Actor {
        Actor {
            user_id: Some(user.id),
            username: user.username.clone(),
            tenant: user.tenant.clone(),
            role: user.role,
        }
    }
}

/// A tenant: one operator's world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Uuid,
    /// The short name used in subjects and as the scope of every row.
    pub slug: String,
    pub name: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates a tenant.
#[derive(Clone, Debug, Deserialize)]
pub struct TenantInput {
    /// `[A-Za-z0-9_-]{1,64}`, immutable.
    pub slug: String,
    pub name: String,
}

impl TenantInput {
    /// # Errors
    /// Field errors for `slug` and `name`.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("slug", v::token(&self.slug))
            .field("name", v::name(&self.name));
        c.finish()
    }
}

/// A user, without its password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub tenant: String,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a user (in the caller's tenant).
#[derive(Clone, Deserialize)]
pub struct UserInput {
    pub username: String,
    /// Required on create; on update `None` keeps the password.
    #[serde(default)]
    pub password: Option<String>,
    pub role: Role,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl std::fmt::Debug for UserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInput")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl UserInput {
    /// # Errors
    /// Field errors; a password must have 8–256 characters.
    pub fn validate(&mut self, creating: bool) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("username", v::username(&self.username));
        match &self.password {
            None if creating => {
                c.field(
                    "password",
                    Err(("required", "a password is required".into())),
                );
            }
            Some(p) if !(8..=256).contains(&p.chars().count()) => {
                c.field(
                    "password",
                    Err(("weak_password", "8 to 256 characters".into())),
                );
            }
            _ => {}
        }
        c.finish()
    }
}

fn yes() -> bool {
    true
}

/// How a PBX receives its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// Files written into `config_dir` (PBX on the same host).
    #[default]
    File,
    /// AMI `UpdateConfig` (remote PBX).
    Ami,
}

impl ApplyMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ApplyMode::File => "file",
            ApplyMode::Ami => "ami",
        }
    }
    pub(crate) fn parse(text: &str) -> ApplyMode {
        if text == "ami" {
            ApplyMode::Ami
        } else {
            ApplyMode::File
        }
    }
}

/// A PBX the tenant runs. Its AMI secret is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbxServer {
    pub id: Uuid,
    /// `[A-Za-z0-9_-]+`: the PBX's id in subjects and for the ingestor.
    pub name: String,
    pub host: String,
    pub port: i64,
    pub username: String,
    pub tls: bool,
    pub apply_mode: ApplyMode,
    pub config_dir: String,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a PBX server.
#[derive(Clone, Deserialize)]
pub struct PbxServerInput {
    pub name: String,
    pub host: String,
    #[serde(default = "ami_port")]
    pub port: i64,
    pub username: String,
    /// Required on create; on update `None` keeps the stored secret.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub apply_mode: ApplyMode,
    #[serde(default = "asterisk_dir")]
    pub config_dir: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl std::fmt::Debug for PbxServerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PbxServerInput")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn ami_port() -> i64 {
    5038
}
fn asterisk_dir() -> String {
    "/etc/asterisk".to_owned()
}

impl PbxServerInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self, creating: bool) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("name", v::token(&self.name))
            .field("host", v::host(&self.host))
            .field("port", v::port(self.port))
            .field("username", v::username(&self.username))
            .field("config_dir", v::config_dir(&self.config_dir));
        match &self.secret {
            None if creating => {
                c.field(
                    "secret",
                    Err(("required", "the AMI secret is required".into())),
                );
            }
            Some(s) if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) => {
                c.field(
                    "secret",
                    Err((
                        "invalid_secret",
                        "1-256 characters, no control characters".into(),
                    )),
                );
            }
            _ => {}
        }
        c.finish()
    }
}

/// Customer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomerType {
    /// Sends and receives calls over a SIP trunk identified by IP.
    Trunk,
    /// Has extensions on the PBX.
    Extension,
}

impl CustomerType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CustomerType::Trunk => "trunk",
            CustomerType::Extension => "extension",
        }
    }
    pub(crate) fn parse(text: &str) -> CustomerType {
        if text == "trunk" {
            CustomerType::Trunk
        } else {
            CustomerType::Extension
        }
    }
}

/// Active or suspended (a suspended customer is not rendered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Suspended,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
        }
    }
    pub(crate) fn parse(text: &str) -> Status {
        if text == "suspended" {
            Status::Suspended
        } else {
            Status::Active
        }
    }
}

/// A customer of the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CustomerType,
    pub trunk_ip: Option<String>,
    pub channel_limit: Option<i64>,
    pub status: Status,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a customer.
#[derive(Clone, Debug, Deserialize)]
pub struct CustomerInput {
    /// `[A-Za-z0-9_-]{1,64}`, unique in the tenant.
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CustomerType,
    /// Required for trunk customers, refused for extension customers.
    #[serde(default)]
    pub trunk_ip: Option<String>,
    #[serde(default)]
    pub channel_limit: Option<i64>,
    #[serde(default)]
    pub status: Status,
}

impl CustomerInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("code", v::token(&self.code))
            .field("name", v::name(&self.name));
        match (self.kind, &self.trunk_ip) {
            (CustomerType::Trunk, None) => {
                c.field(
                    "trunk_ip",
                    Err(("required", "a trunk customer needs trunk_ip".into())),
                );
            }
            (CustomerType::Trunk, Some(ip)) => {
                c.field("trunk_ip", v::ip(ip));
            }
            (CustomerType::Extension, Some(_)) => {
                c.field(
                    "trunk_ip",
                    Err(("not_allowed", "only trunk customers have trunk_ip".into())),
                );
            }
            (CustomerType::Extension, None) => {}
        }
        if let Some(limit) = self.channel_limit {
            c.field("channel_limit", v::within(limit, 1, 100_000));
        }
        c.finish()
    }
}

/// A carrier the operator buys termination from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub cost_per_minute: Money,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a provider.
#[derive(Clone, Debug, Deserialize)]
pub struct ProviderInput {
    pub name: String,
    /// Free classification (`sip`, `wholesale`, …): a token.
    #[serde(rename = "type", default = "sip")]
    pub kind: String,
    #[serde(default)]
    pub cost_per_minute: Money,
}

fn sip() -> String {
    "sip".to_owned()
}

impl ProviderInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("name", v::name(&self.name))
            .field("type", v::token(&self.kind))
            .field("cost_per_minute", v::non_negative(self.cost_per_minute.0));
        c.finish()
    }
}

/// SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
    pub(crate) fn parse(text: &str) -> Transport {
        match text {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => Transport::Udp,
        }
    }
}

/// Active or disabled (a disabled gateway is not rendered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GatewayStatus {
    #[default]
    Active,
    Disabled,
}

impl GatewayStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GatewayStatus::Active => "active",
            GatewayStatus::Disabled => "disabled",
        }
    }
    pub(crate) fn parse(text: &str) -> GatewayStatus {
        if text == "disabled" {
            GatewayStatus::Disabled
        } else {
            GatewayStatus::Active
        }
    }
}

/// A SIP gateway towards a provider. Its registration secret is never part
/// of it; `has_registration_secret` says whether one is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    pub id: Uuid,
    pub name: String,
    pub provider_id: Option<Uuid>,
    pub ip_address: String,
    pub port: i64,
    pub transport: Transport,
    pub codecs: Vec<String>,
    pub tech_prefix: String,
    pub registration_username: Option<String>,
    pub has_registration_secret: bool,
    pub status: GatewayStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a gateway.
#[derive(Clone, Deserialize)]
pub struct GatewayInput {
    /// `[A-Za-z0-9_-]{1,64}`: it names config sections.
    pub name: String,
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    /// An IP address or a host name.
    pub ip_address: String,
    #[serde(default = "sip_port")]
    pub port: i64,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    #[serde(default)]
    pub tech_prefix: String,
    #[serde(default)]
    pub registration_username: Option<String>,
    /// On update `None` keeps the stored secret; a registration without a
    /// username drops it.
    #[serde(default)]
    pub registration_secret: Option<String>,
    #[serde(default)]
    pub status: GatewayStatus,
}

impl std::fmt::Debug for GatewayInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayInput")
            .field("name", &self.name)
            .field("ip_address", &self.ip_address)
            .finish_non_exhaustive()
    }
}

fn sip_port() -> i64 {
    5060
}
pub(crate) fn default_codecs() -> Vec<String> {
    vec!["ulaw".to_owned(), "alaw".to_owned()]
}

impl GatewayInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("name", v::token(&self.name))
            .field("ip_address", v::host(&self.ip_address))
            .field("port", v::port(self.port))
            .field("tech_prefix", v::tech_prefix(&self.tech_prefix));
        v::codecs(&mut c, "codecs", &self.codecs);
        if let Some(user) = &self.registration_username {
            c.field("registration_username", v::username(user));
        }
        if let Some(secret) = &self.registration_secret {
            if self.registration_username.is_none() {
                c.field(
                    "registration_secret",
                    Err((
                        "not_allowed",
                        "a registration secret needs a registration_username".into(),
                    )),
                );
            }
            if secret.is_empty() || secret.len() > 256 || secret.chars().any(char::is_control) {
                c.field(
                    "registration_secret",
                    Err((
                        "invalid_secret",
                        "1-256 characters, no control characters".into(),
                    )),
                );
            }
        }
        c.finish()
    }
}

/// DID state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DidStatus {
    #[default]
    Available,
    /// Set only by allocation.
    Allocated,
    Blocked,
}

impl DidStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DidStatus::Available => "available",
            DidStatus::Allocated => "allocated",
            DidStatus::Blocked => "blocked",
        }
    }
    pub(crate) fn parse(text: &str) -> DidStatus {
        match text {
            "allocated" => DidStatus::Allocated,
            "blocked" => DidStatus::Blocked,
            _ => DidStatus::Available,
        }
    }
}

/// A phone number the operator holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Did {
    pub id: Uuid,
    /// E.164 with `+`.
    pub number: String,
    pub provider_id: Option<Uuid>,
    pub gateway_id: Option<Uuid>,
    pub status: DidStatus,
    pub monthly_cost: Money,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a DID. Its status is `available` or `blocked`;
/// `allocated` is reached only through allocation.
#[derive(Clone, Debug, Deserialize)]
pub struct DidInput {
    pub number: String,
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    #[serde(default)]
    pub gateway_id: Option<Uuid>,
    #[serde(default)]
    pub status: DidStatus,
    #[serde(default)]
    pub monthly_cost: Money,
}

impl DidInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        match v::e164(&self.number) {
            Ok(n) => self.number = n,
            Err(e) => {
                c.field("number", Err(e));
            }
        }
        if self.status == DidStatus::Allocated {
            c.field(
                "status",
                Err((
                    "not_allowed",
                    "allocate the DID to a customer instead".into(),
                )),
            );
        }
        c.field("monthly_cost", v::non_negative(self.monthly_cost.0));
        c.finish()
    }
}

/// A DID's allocation to a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub did_id: Uuid,
    pub customer_id: Uuid,
    /// `trunk` (the customer's trunk) or an extension number.
    pub destination: String,
    pub created_at_ms: i64,
}

/// Allocates a DID.
#[derive(Clone, Debug, Deserialize)]
pub struct AllocationInput {
    pub customer_id: Uuid,
    /// `trunk`, or an extension number of the customer.
    pub destination: String,
}

impl AllocationInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        if self.destination != "trunk" {
            c.field(
                "destination",
                v::extension_number(&self.destination).map_err(|_| {
                    (
                        "invalid_destination",
                        "`trunk` or an extension number".to_owned(),
                    )
                }),
            );
        }
        c.finish()
    }
}

/// An outbound route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub id: Uuid,
    pub name: String,
    pub pattern: String,
    pub gateway_id: Uuid,
    pub priority: i64,
    pub tech_prefix: String,
    pub strip_digits: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a route.
#[derive(Clone, Debug, Deserialize)]
pub struct RouteInput {
    pub name: String,
    /// An Asterisk dial pattern (`_NXXNXXXXXX`, `_0800X.`).
    pub pattern: String,
    pub gateway_id: Uuid,
    #[serde(default = "one")]
    pub priority: i64,
    #[serde(default)]
    pub tech_prefix: String,
    #[serde(default)]
    pub strip_digits: i64,
}

fn one() -> i64 {
    1
}

impl RouteInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("name", v::name(&self.name))
            .field("pattern", v::dial_pattern(&self.pattern))
            .field("priority", v::within(self.priority, 1, 1000))
            .field("tech_prefix", v::tech_prefix(&self.tech_prefix))
            .field("strip_digits", v::within(self.strip_digits, 0, 32));
        c.finish()
    }
}

/// A SIP extension. `secret` is only present in the answer to the create
/// call (so the operator can provision the phone once); lists, reads, audit
/// rows and events never carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub id: Uuid,
    pub extension: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub customer_id: Option<Uuid>,
    pub caller_id: String,
    pub codecs: Vec<String>,
    pub max_contacts: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("id", &self.id)
            .field("extension", &self.extension)
            .field("customer_id", &self.customer_id)
            .finish_non_exhaustive()
    }
}

/// Creates or replaces an extension.
#[derive(Clone, Deserialize)]
pub struct ExtensionInput {
    pub extension: String,
    /// `None`: generate a strong one on create, keep the stored one on update.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    /// `"Name" <number>`, or empty.
    #[serde(default)]
    pub caller_id: String,
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    #[serde(default = "one")]
    pub max_contacts: i64,
}

impl std::fmt::Debug for ExtensionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionInput")
            .field("extension", &self.extension)
            .finish_non_exhaustive()
    }
}

impl ExtensionInput {
    /// # Errors
    /// Field errors; a chosen secret needs 12–128 characters without control
    /// characters.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("extension", v::extension_number(&self.extension))
            .field("caller_id", v::text(&self.caller_id))
            .field("max_contacts", v::within(self.max_contacts, 1, 100));
        v::codecs(&mut c, "codecs", &self.codecs);
        if let Some(s) = &self.secret
            && (!(12..=128).contains(&s.chars().count()) || s.chars().any(char::is_control))
        {
            c.field(
                "secret",
                Err((
                    "weak_secret",
                    "12 to 128 characters, no control characters".into(),
                )),
            );
        }
        c.finish()
    }
}

/// A billing increment: the first `first` seconds are billed as a block, then
/// blocks of `next` seconds (`60/60`, `30/6`, `1/1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Increment {
    pub first: i64,
    pub next: i64,
}

impl Default for Increment {
    fn default() -> Self {
        Increment {
            first: 60,
            next: 60,
        }
    }
}

impl Increment {
    /// Parses `first/next`.
    ///
    /// # Errors
    /// A message if the text is not two numbers 1–3600 separated by `/`.
    pub fn parse(text: &str) -> Result<Increment, String> {
        let (a, b) = text
            .split_once('/')
            .ok_or_else(|| "an increment like 60/60 or 30/6".to_owned())?;
        let parse = |s: &str| {
            s.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .ok_or_else(|| "an increment like 60/60 or 30/6 (1-3600 seconds)".to_owned())
        };
        Ok(Increment {
            first: parse(a)?,
            next: parse(b)?,
        })
    }

    /// Seconds billed for a call of `seconds` (0 for an unanswered call).
    pub fn billed_seconds(self, seconds: i64) -> i64 {
        if seconds <= 0 {
            return 0;
        }
        if seconds <= self.first {
            return self.first;
        }
        let rest = seconds - self.first;
        self.first + (rest + self.next - 1) / self.next * self.next
    }
}

impl Serialize for Increment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/{}", self.first, self.next))
    }
}

impl<'de> Deserialize<'de> for Increment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Increment::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A rate for calls to numbers starting with `pattern`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub id: Uuid,
    /// The number prefix it rates (digits).
    pub pattern: String,
    pub description: String,
    pub cost_per_minute: Money,
    pub price_per_minute: Money,
    pub billing_increment: Increment,
    pub connection_fee: Money,
    pub valid_from_ms: i64,
    pub valid_to_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Creates or replaces a tariff.
#[derive(Clone, Debug, Deserialize)]
pub struct TariffInput {
    pub pattern: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cost_per_minute: Money,
    pub price_per_minute: Money,
    #[serde(default)]
    pub billing_increment: Increment,
    #[serde(default)]
    pub connection_fee: Money,
    #[serde(default)]
    pub valid_from_ms: i64,
    #[serde(default)]
    pub valid_to_ms: Option<i64>,
}

impl TariffInput {
    /// # Errors
    /// Field errors.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        let mut c = Check::new();
        c.field("pattern", v::digit_prefix(&self.pattern))
            .field("description", v::text(&self.description))
            .field("cost_per_minute", v::non_negative(self.cost_per_minute.0))
            .field("price_per_minute", v::non_negative(self.price_per_minute.0))
            .field("connection_fee", v::non_negative(self.connection_fee.0));
        if let Some(to) = self.valid_to_ms
            && to <= self.valid_from_ms
        {
            c.field(
                "valid_to_ms",
                Err(("before_valid_from", "must be after valid_from_ms".into())),
            );
        }
        c.finish()
    }
}

/// Kinds of entities that belong to PBXs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignable {
    Gateway,
    Customer,
    Route,
    Did,
    Extension,
}

impl Assignable {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Assignable::Gateway => "gateway",
            Assignable::Customer => "customer",
            Assignable::Route => "route",
            Assignable::Did => "did",
            Assignable::Extension => "extension",
        }
    }
    pub(crate) fn table(self) -> &'static str {
        match self {
            Assignable::Gateway => "gateways",
            Assignable::Customer => "customers",
            Assignable::Route => "routes",
            Assignable::Did => "dids",
            Assignable::Extension => "extensions",
        }
    }
}

/// The PBXs an entity is rendered for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbxAssignment {
    /// No explicit list: every PBX of the tenant.
    pub all: bool,
    /// The explicit list (empty when `all`).
    pub pbx_ids: Vec<Uuid>,
}

/// One audit row. `changes` never holds a secret (secret fields show as
/// `"[redacted]"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at_ms: i64,
    pub actor_id: Option<Uuid>,
    pub actor: String,
    /// `created`, `updated`, `deleted`, `allocated`, `deallocated`, `assigned`.
    pub action: String,
    pub entity: String,
    pub entity_id: Uuid,
    pub changes: serde_json::Value,
}

/// Audit log filters (all optional, combined with AND).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_increments_round_up_in_blocks() {
        let i = Increment::parse("30/6").unwrap();
        assert_eq!(i.billed_seconds(0), 0);
        assert_eq!(i.billed_seconds(1), 30);
        assert_eq!(i.billed_seconds(30), 30);
        assert_eq!(i.billed_seconds(31), 36);
        assert_eq!(i.billed_seconds(37), 42);
        let m = Increment::default();
        assert_eq!(m.billed_seconds(61), 120);
        for bad in ["60", "0/60", "60/0", "a/b", "60/-1", "4000/1"] {
            assert!(Increment::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&i).unwrap(), "\"30/6\"");
    }

    #[test]
    fn a_trunk_customer_needs_a_valid_trunk_ip() {
        let mut input = CustomerInput {
            code: "acme".into(),
            name: "Acme".into(),
            kind: CustomerType::Trunk,
            trunk_ip: None,
            channel_limit: Some(0),
            status: Status::Active,
        };
        let err = input.validate().unwrap_err();
        assert!(err.has("trunk_ip", "required"));
        assert!(err.has("channel_limit", "out_of_range"));
        input.trunk_ip = Some("10.0.0.300".into());
        input.channel_limit = Some(30);
        assert!(input.validate().unwrap_err().has("trunk_ip", "invalid_ip"));
        input.trunk_ip = Some("10.0.0.30".into());
        input.validate().unwrap();
    }

    #[test]
    fn a_did_number_is_normalized_and_cannot_be_set_allocated() {
        let mut input = DidInput {
            number: "4930123456".into(),
            provider_id: None,
            gateway_id: None,
            status: DidStatus::Available,
            monthly_cost: Money(-1),
        };
        let err = input.validate().unwrap_err();
        assert!(err.has("monthly_cost", "negative"));
        assert_eq!(input.number, "+4930123456");
        input.monthly_cost = Money(1);
        input.status = DidStatus::Allocated;
        assert!(input.validate().unwrap_err().has("status", "not_allowed"));
    }

    #[test]
    fn json_field_names_follow_the_admin_api() {
        let c: CustomerInput = serde_json::from_str(
            r#"{"code":"c1","name":"C","type":"trunk","trunk_ip":"10.0.0.1"}"#,
        )
        .unwrap();
        assert_eq!(c.kind, CustomerType::Trunk);
        let g: GatewayInput = serde_json::from_str(
            r#"{"name":"gw1","ip_address":"sip.example.com","port":5060,"codecs":["ulaw"],"transport":"tcp","tech_prefix":"99"}"#,
        )
        .unwrap();
        assert_eq!(g.transport, Transport::Tcp);
        let t: TariffInput = serde_json::from_str(
            r#"{"pattern":"49","cost_per_minute":0.01,"price_per_minute":"0.02","billing_increment":"30/6"}"#,
        )
        .unwrap();
        assert_eq!(t.cost_per_minute, Money(10_000));
        assert_eq!(t.billing_increment, Increment { first: 30, next: 6 });
    }
}
