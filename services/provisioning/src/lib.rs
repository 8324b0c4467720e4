//! `ringside-provisioning`: the operator's admin data — tenants, users, PBX
//! servers, customers, providers, gateways, DIDs, routes, extensions, tariffs
//! and rated CDRs — on PostgreSQL (deployments) or SQLite (the embedded
//! default), behind one validated, audited, tenant-scoped facade
//! ([`Provisioning`]).
//!
//! Every write is checked against the caller's role, validated with
//! field-level errors, recorded in the audit log in the same transaction and
//! published as a domain event on `ringside.v1.<tenant>.prov.<entity>`. PBX
//! servers also reach the AMI ingestor through its KV registry. Secrets (AMI,
//! SIP registration, extension) are encrypted at rest and never returned by
//! a list, an audit row or an event.
//!
//! It knows the bus and the ingestor's registry format, and serves itself
//! as gRPC ([`grpc`]: the gateway mounts it behind its authentication); it
//! knows nothing of HTTP (the gateway maps REST onto [`Provisioning`]). Config
//! rendering lives in [`render`], a pure function of the data.
//!
//! Conventions: keys are UUIDs; times are milliseconds since the Unix epoch
//! (UTC); money is integer micro-units ([`Money`], a six-decimal string in
//! JSON), so totals are exact on both databases. Roles: `viewer` reads;
//! `operator` also writes customers, extensions and DID allocations;
//! `tenant_admin` writes everything of its tenant (and reads users, the audit
//! log and deployments); `platform_admin` also manages tenants.
//!
//! Module map: [`model`] (public types and inputs), [`validate`],
//! [`money`] (exact micro-units), [`crypto`] (secrets at rest), [`store`]
//! (the database interface), `db` (the two drivers behind it), `entities`
//! (row ↔ type mappings), [`service`] (the facade), [`rating`] (CDRs,
//! reports, the rater), [`deployments`], `render_input` (data → [`render`]
//! input), [`error`].

pub mod action_audit;
pub mod apply;
pub mod crypto;
mod db;
pub mod deployments;
mod entities;
pub mod error;
pub mod grpc;
pub mod live_cost;
pub mod model;
pub mod money;
mod password;
pub mod rating;
pub mod render;
mod render_input;
pub mod service;
pub mod store;
pub mod validate;

pub use deployments::{Deployment, NewDeployment};
pub use error::{Error, StoreError};
pub use grpc::ProvisioningApi;
pub use model::*;
pub use money::Money;
pub use rating::{
    CallRecord, Cdr, CdrFilter, CdrReport, CdrTotals, DashboardStats, GatewayQuality, RateStep,
    Rated,
};
pub use service::{Provisioning, ProvisioningSettings, REDACTED};
pub use store::{DatabaseSettings, Store};
pub use validate::{FieldError, ValidationError};
