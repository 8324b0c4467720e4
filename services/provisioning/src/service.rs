//! The service facade: authorization, validation, the write itself, its audit
//! row (same transaction) and its domain event (after commit).
//!
//! Every operation takes an [`Actor`] and is scoped to `actor.tenant`. The
//! flow of a write is always: role check → validate/normalize → transaction
//! {referenced rows exist in the tenant → write → audit row} → commit →
//! publish the event on `ringside.v1.<tenant>.prov.<entity>` (and, for PBX
//! servers, update the ingestor's PBX registry). Audit rows and events carry
//! the changed fields with every secret replaced by `"[redacted]"`.
//!
//! Known limit: the event is published after the commit, not through an
//! outbox, so a bus failure at that moment loses the event (it is logged, and
//! the audit row still has the change); the PBX registry is re-synchronized
//! from the database at every start.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use ringside_bus::{Bus, Kv, KvConfig, Outgoing, TenantId, Token, Topology};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::crypto::{Cipher, SecretKey};
use crate::db::{Tx, args};
use crate::entities::{Access, EXTENSION_SECRET, PBX_SECRET, Write};
use crate::error::Error;
use crate::model::*;
use crate::store::{DatabaseSettings, Entity, Store, offset};
use crate::validate::ValidationError;

/// `[provisioning]` settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSettings {
    /// Where the data lives.
    #[serde(default)]
    pub database: DatabaseSettings,
    /// 64 hex digits: the key that encrypts PBX, gateway and extension secrets
    /// at rest. Losing it makes the stored secrets unreadable. Required with
    /// PostgreSQL; with SQLite it defaults to `<data_dir>/secret.key`
    /// (created on first start).
    #[serde(default)]
    pub secret_key: Option<SecretKey>,
    /// The first administrator's password, for deployments that cannot run
    /// `ringside admin create-user`: while the database has no user at all,
    /// the provisioning service creates the tenant `default` with the
    /// platform admin `admin` and this password.
    #[serde(default)]
    pub admin_password: Option<String>,
}

impl std::fmt::Debug for ProvisioningSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningSettings")
            .field("database", &self.database)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl Default for ProvisioningSettings {
    /// SQLite under `./data`, the key file beside it.
    fn default() -> Self {
        ProvisioningSettings {
            database: DatabaseSettings::default(),
            secret_key: None,
            admin_password: None,
        }
    }
}

impl ProvisioningSettings {
    /// The configured key, or the SQLite default's key file.
    ///
    /// # Errors
    /// `Internal` with the reason: no key with PostgreSQL, or an unreadable
    /// key file.
    pub fn key(&self) -> Result<SecretKey, Error> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        if self.database.url.is_some() {
            return Err(Error::Internal(
                "provisioning.secret_key is required with PostgreSQL".to_owned(),
            ));
        }
        std::fs::create_dir_all(&self.database.data_dir)
            .map_err(|e| Error::Internal(format!("{}: {e}", self.database.data_dir.display())))?;
        SecretKey::load_or_create(&self.database.data_dir.join("secret.key"))
            .map_err(Error::Internal)
    }
}

/// The value shown instead of a secret in audit rows and events.
pub const REDACTED: &str = "[redacted]";

/// The provisioning service.
pub struct Provisioning {
    pub(crate) store: Store,
    pub(crate) cipher: Cipher,
    bus: Arc<dyn Bus>,
    topology: Topology,
    registry: Arc<dyn Kv>,
    /// A real argon2 hash that `authenticate` verifies against for unknown
    /// users, so that "no such user" costs the same as "wrong password".
    dummy_hash: String,
    /// Tariffs that price live calls (dropped on every tariff change).
    pub(crate) live_tariffs: crate::live_cost::TariffCache,
}

pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

fn not_found(entity: &'static str) -> Error {
    Error::NotFound { entity }
}

fn authorize(actor: &Actor, access: Access) -> Result<TenantId, Error> {
    if !access.allows(actor.role) {
        return Err(Error::Forbidden(match access {
            Access::Platform => "platform administrators only",
            Access::Admin => "administrators only",
            Access::Operations => "read-only role",
        }));
    }
    scope(actor)
}

fn scope(actor: &Actor) -> Result<TenantId, Error> {
    TenantId::new(actor.tenant.as_str()).map_err(|_| Error::Forbidden("invalid tenant"))
}

/// `{field: {old, new}}` for every field that differs (timestamps aside).
fn diff(old: &Value, new: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let (Value::Object(old), Value::Object(new)) = (old, new) {
        for (key, new_value) in new {
            if key == "updated_at_ms" || key == "created_at_ms" {
                continue;
            }
            let old_value = old.get(key).unwrap_or(&Value::Null);
            if old_value != new_value {
                out.insert(key.clone(), json!({ "old": old_value, "new": new_value }));
            }
        }
    }
    out
}

fn with_secrets(mut changes: Map<String, Value>, secrets: &[&str]) -> Value {
    for s in secrets {
        changes.insert((*s).to_owned(), Value::String(REDACTED.to_owned()));
    }
    Value::Object(changes)
}

fn to_map<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// One audited change.
struct Change {
    action: &'static str,
    entity: &'static str,
    entity_id: Uuid,
    changes: Value,
}

impl Provisioning {
    /// Opens the database (running migrations), the ingestor's PBX registry
    /// bucket, and re-publishes every PBX server into that registry.
    ///
    /// # Errors
    /// [`Error::Store`] if the database cannot be opened; [`Error::Bus`] if the
    /// registry cannot.
    pub async fn open(
        settings: &ProvisioningSettings,
        bus: Arc<dyn Bus>,
        topology: Topology,
    ) -> Result<Provisioning, Error> {
        let key = settings.key()?;
        let store = Store::open(&settings.database).await?;
        Provisioning::with_store(store, &key, bus, topology).await
    }

    /// The service on an existing, migrated store.
    ///
    /// # Errors
    /// As [`Provisioning::open`].
    pub async fn with_store(
        store: Store,
        key: &SecretKey,
        bus: Arc<dyn Bus>,
        topology: Topology,
    ) -> Result<Provisioning, Error> {
        let registry = bus
            .kv(
                &topology.bucket_name(ringside_ami_ingestor::PBX_BUCKET),
                KvConfig::default(),
            )
            .await?;
        let dummy_hash = crate::password::hash(&crate::crypto::generate_secret())?;
        let service = Provisioning {
            store,
            cipher: Cipher::new(key),
            bus,
            topology,
            registry,
            dummy_hash,
            live_tariffs: crate::live_cost::TariffCache::default(),
        };
        service.sync_pbx_registry().await?;
        Ok(service)
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The bus topology in use.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    // ---- generic machinery ----

    async fn check_refs(
        tx: &mut Tx,
        tenant: &str,
        refs: Vec<crate::entities::Ref>,
    ) -> Result<(), Error> {
        let mut missing = ValidationError::default();
        for (field, table, id) in refs {
            if !Store::exists(tx.exec(), table, tenant, id).await? {
                missing.fields.push(crate::validate::FieldError {
                    field: field.to_owned(),
                    code: "not_found",
                    message: format!("no such {} in this tenant", table.trim_end_matches('s')),
                });
            }
        }
        if missing.fields.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(missing))
        }
    }

    async fn audit(
        tx: &mut Tx,
        actor: &Actor,
        event_id: Uuid,
        at_ms: i64,
        change: &Change,
    ) -> Result<(), Error> {
        tx.exec()
            .execute(
                "INSERT INTO audit_log (id, tenant, at_ms, actor_id, actor_name, action, entity, \
                 entity_id, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    event_id,
                    actor.tenant.as_str(),
                    at_ms,
                    actor.user_id,
                    actor.username.as_str(),
                    change.action,
                    change.entity,
                    change.entity_id,
                    change.changes.to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Publishes the domain event of a committed change. A failure is logged,
    /// not returned: the change is committed and audited.
    async fn publish(&self, actor: &Actor, event_id: Uuid, at_ms: i64, change: Change) {
        let result = async {
            let tenant = scope(actor)?;
            let entity = Token::new(change.entity)?;
            let subject = self.topology.subjects().prov(&tenant, &entity);
            let payload = json!({
                "id": event_id,
                "tenant": actor.tenant,
                "entity": change.entity,
                "entity_id": change.entity_id,
                "action": change.action,
                "actor": { "id": actor.user_id, "username": actor.username },
                "at_ms": at_ms,
                "changes": change.changes,
            });
            let msg = Outgoing::new(Bytes::from(payload.to_string()))
                .with_msg_id(event_id.to_string())?;
            self.bus.publish(&subject, msg).await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(
                tenant = %actor.tenant,
                entity = change.entity,
                entity_id = %change.entity_id,
                error = %e,
                "provisioning event not published"
            );
        }
    }

    /// Audits `change` in `tx`, commits, publishes.
    async fn finish(&self, mut tx: Tx, actor: &Actor, change: Change) -> Result<(), Error> {
        // Version 7: ordered by creation within the process, so audit entries
        // written in the same millisecond still list newest first.
        let event_id = Uuid::now_v7();
        let at_ms = now_ms();
        Provisioning::audit(&mut tx, actor, event_id, at_ms, &change).await?;
        tx.commit().await?;
        if change.entity == <crate::model::Tariff as Entity>::KIND {
            self.live_tariffs.changed();
        }
        self.publish(actor, event_id, at_ms, change).await;
        Ok(())
    }

    /// Audits and publishes a change made in `tx` by code outside this
    /// module, then commits.
    pub(crate) async fn finish_change(
        &self,
        tx: Tx,
        actor: &Actor,
        action: &'static str,
        entity: &'static str,
        entity_id: Uuid,
        changes: Value,
    ) -> Result<(), Error> {
        let change = Change {
            action,
            entity,
            entity_id,
            changes,
        };
        self.finish(tx, actor, change).await
    }

    pub(crate) async fn create<W: Write>(
        &self,
        actor: &Actor,
        mut input: W,
    ) -> Result<W::Out, Error> {
        let tenant = authorize(actor, W::ACCESS)?;
        input.check(true)?;
        let kind = <W::Out as Entity>::KIND;
        let id = Uuid::new_v4();
        let columns = input.columns(id, &self.cipher, true)?;
        let mut tx = self.store.begin().await?;
        Provisioning::check_refs(&mut tx, tenant.as_str(), input.refs()).await?;
        Provisioning::before_write(&mut tx, tenant.as_str(), id, &input).await?;
        Store::insert(
            tx.exec(),
            <W::Out as Entity>::TABLE,
            tenant.as_str(),
            id,
            now_ms(),
            columns,
        )
        .await
        .map_err(|e| Error::from_store(kind, e))?;
        let out: W::Out = Store::get(tx.exec(), tenant.as_str(), id)
            .await?
            .ok_or_else(|| not_found(kind))?;
        let change = Change {
            action: "created",
            entity: kind,
            entity_id: id,
            changes: with_secrets(to_map(&out), &input.secrets_set(true)),
        };
        self.finish(tx, actor, change).await?;
        Ok(out)
    }

    /// Returns `(before, after)`.
    pub(crate) async fn update<W: Write>(
        &self,
        actor: &Actor,
        id: Uuid,
        mut input: W,
    ) -> Result<(W::Out, W::Out), Error> {
        let tenant = authorize(actor, W::ACCESS)?;
        input.check(false)?;
        let kind = <W::Out as Entity>::KIND;
        let columns = input.columns(id, &self.cipher, false)?;
        let mut tx = self.store.begin().await?;
        let before: W::Out = Store::get(tx.exec(), tenant.as_str(), id)
            .await?
            .ok_or_else(|| not_found(kind))?;
        Provisioning::check_refs(&mut tx, tenant.as_str(), input.refs()).await?;
        Provisioning::before_write(&mut tx, tenant.as_str(), id, &input).await?;
        Store::update(
            tx.exec(),
            <W::Out as Entity>::TABLE,
            tenant.as_str(),
            id,
            now_ms(),
            columns,
        )
        .await
        .map_err(|e| Error::from_store(kind, e))?;
        let after: W::Out = Store::get(tx.exec(), tenant.as_str(), id)
            .await?
            .ok_or_else(|| not_found(kind))?;
        let changes = diff(
            &Value::Object(to_map(&before)),
            &Value::Object(to_map(&after)),
        );
        let change = Change {
            action: "updated",
            entity: kind,
            entity_id: id,
            changes: with_secrets(changes, &input.secrets_set(false)),
        };
        self.finish(tx, actor, change).await?;
        Ok((before, after))
    }

    pub(crate) async fn delete<E: Entity>(
        &self,
        actor: &Actor,
        id: Uuid,
        access: Access,
    ) -> Result<E, Error> {
        let tenant = authorize(actor, access)?;
        let mut tx = self.store.begin().await?;
        let before: E = Store::get(tx.exec(), tenant.as_str(), id)
            .await?
            .ok_or_else(|| not_found(E::KIND))?;
        tx.exec()
            .execute(
                "DELETE FROM pbx_assignments WHERE tenant = $1 AND entity = $2 AND entity_id = $3",
                args![tenant.as_str(), E::KIND, id],
            )
            .await?;
        Store::delete(tx.exec(), E::TABLE, tenant.as_str(), id)
            .await
            .map_err(|e| match Error::from_store(E::KIND, e) {
                Error::Conflict { entity, .. } => Error::Conflict {
                    entity,
                    message: "is still in use (referenced by other rows)".to_owned(),
                },
                other => other,
            })?;
        let change = Change {
            action: "deleted",
            entity: E::KIND,
            entity_id: id,
            changes: Value::Object(to_map(&before)),
        };
        self.finish(tx, actor, change).await?;
        Ok(before)
    }

    pub(crate) async fn get<E: Entity>(&self, actor: &Actor, id: Uuid) -> Result<E, Error> {
        let tenant = scope(actor)?;
        Store::get(self.store.db.exec(), tenant.as_str(), id)
            .await?
            .ok_or_else(|| not_found(E::KIND))
    }

    pub(crate) async fn list<E: Entity>(
        &self,
        actor: &Actor,
        page: Page,
    ) -> Result<Paged<E>, Error> {
        let tenant = scope(actor)?;
        Ok(self.store.list(tenant.as_str(), page).await?)
    }

    /// Entity-specific checks inside the write's transaction.
    async fn before_write<W: Write>(
        tx: &mut Tx,
        tenant: &str,
        id: Uuid,
        input: &W,
    ) -> Result<(), Error> {
        if let Some(number) = input.extension_number() {
            let mine = Provisioning::pbx_set(tx, tenant, Extension::KIND, id).await?;
            Provisioning::check_extension_unique(tx, tenant, id, number, &mine).await?;
        }
        Ok(())
    }

    /// The explicit PBX list of an entity (empty: every PBX).
    async fn pbx_set(
        tx: &mut Tx,
        tenant: &str,
        entity: &str,
        id: Uuid,
    ) -> Result<BTreeSet<Uuid>, Error> {
        let rows = tx
            .exec()
            .fetch_all(
                "SELECT pbx_id FROM pbx_assignments WHERE tenant = $1 AND entity = $2 AND entity_id = $3",
                args![tenant, entity, id],
            )
            .await?;
        rows.iter()
            .map(|r| r.get::<Uuid>("pbx_id").map_err(Error::from))
            .collect()
    }

    /// An extension number is unique per PBX: refuses `number` for extension
    /// `id` (rendered on `pbxs`, empty = all) if another extension with that
    /// number shares a PBX with it.
    async fn check_extension_unique(
        tx: &mut Tx,
        tenant: &str,
        id: Uuid,
        number: &str,
        pbxs: &BTreeSet<Uuid>,
    ) -> Result<(), Error> {
        let others = tx
            .exec()
            .fetch_all(
                "SELECT id FROM extensions WHERE tenant = $1 AND extension = $2 AND id <> $3",
                args![tenant, number, id],
            )
            .await?;
        for row in others {
            let other: Uuid = row.get("id")?;
            let theirs = Provisioning::pbx_set(tx, tenant, Extension::KIND, other).await?;
            if pbxs.is_empty() || theirs.is_empty() || !pbxs.is_disjoint(&theirs) {
                return Err(Error::Conflict {
                    entity: Extension::KIND,
                    message: format!(
                        "extension {number} already exists on a PBX it would be rendered for"
                    ),
                });
            }
        }
        Ok(())
    }

    // ---- tenants ----

    /// Creates a tenant (platform admins).
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `Conflict` (slug taken).
    pub async fn create_tenant(
        &self,
        actor: &Actor,
        mut input: TenantInput,
    ) -> Result<Tenant, Error> {
        authorize(actor, Access::Platform)?;
        input.validate()?;
        let id = Uuid::new_v4();
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        tx.exec()
            .execute(
                "INSERT INTO tenants (id, slug, name, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $4)",
                args![id, input.slug.as_str(), input.name.as_str(), now],
            )
            .await
            .map_err(|e| Error::from_store("tenant", e))?;
        let tenant = Tenant {
            id,
            slug: input.slug.clone(),
            name: input.name.clone(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        // The change belongs to the new tenant's log and subject.
        let scoped = Actor {
            tenant: input.slug.clone(),
            ..actor.clone()
        };
        let change = Change {
            action: "created",
            entity: "tenant",
            entity_id: id,
            changes: Value::Object(to_map(&tenant)),
        };
        self.finish(tx, &scoped, change).await?;
        Ok(tenant)
    }

    /// Every tenant (platform admins).
    ///
    /// # Errors
    /// `Forbidden`; store errors.
    pub async fn list_tenants(&self, actor: &Actor, page: Page) -> Result<Paged<Tenant>, Error> {
        authorize(actor, Access::Platform)?;
        let page = page.clamped();
        let total_row = self
            .store
            .db
            .exec()
            .fetch_optional("SELECT COUNT(*) AS n FROM tenants", Vec::new())
            .await?;
        let total: i64 = match total_row {
            Some(r) => r.get("n")?,
            None => 0,
        };
        let rows = self
            .store
            .db
            .exec()
            .fetch_all(
                "SELECT id, slug, name, created_at_ms, updated_at_ms FROM tenants ORDER BY slug LIMIT $1 OFFSET $2",
                args![i64::from(page.limit), offset(page)],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(Tenant {
                    id: r.get("id")?,
                    slug: r.get("slug")?,
                    name: r.get("name")?,
                    created_at_ms: r.get("created_at_ms")?,
                    updated_at_ms: r.get("updated_at_ms")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Paged {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
        })
    }

    // ---- users ----

    /// Creates a user in the caller's tenant. Only a platform admin may create
    /// a platform admin.
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `Conflict` (username taken anywhere).
    pub async fn create_user(&self, actor: &Actor, input: UserInput) -> Result<User, Error> {
        if input.role == Role::PlatformAdmin && actor.role != Role::PlatformAdmin {
            return Err(Error::Forbidden(
                "only a platform admin grants platform_admin",
            ));
        }
        self.create(actor, input).await
    }

    /// Replaces a user (`password: None` keeps it).
    ///
    /// # Errors
    /// As [`Provisioning::create_user`]; `NotFound`.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: Uuid,
        input: UserInput,
    ) -> Result<User, Error> {
        if input.role == Role::PlatformAdmin && actor.role != Role::PlatformAdmin {
            return Err(Error::Forbidden(
                "only a platform admin grants platform_admin",
            ));
        }
        let before: User = self.get(actor, id).await?;
        if before.role == Role::PlatformAdmin && actor.role != Role::PlatformAdmin {
            return Err(Error::Forbidden(
                "only a platform admin changes a platform admin",
            ));
        }
        Ok(self.update(actor, id, input).await?.1)
    }

    /// One user, without its hash (administrators).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn get_user(&self, actor: &Actor, id: Uuid) -> Result<User, Error> {
        authorize(actor, Access::Admin)?;
        self.get(actor, id).await
    }

    /// The tenant's users, without hashes (administrators).
    ///
    /// # Errors
    /// `Forbidden`.
    pub async fn list_users(&self, actor: &Actor, page: Page) -> Result<Paged<User>, Error> {
        authorize(actor, Access::Admin)?;
        self.list(actor, page).await
    }

    /// Deletes a user.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_user(&self, actor: &Actor, id: Uuid) -> Result<User, Error> {
        let before: User = self.get_user(actor, id).await?;
        if before.role == Role::PlatformAdmin && actor.role != Role::PlatformAdmin {
            return Err(Error::Forbidden(
                "only a platform admin deletes a platform admin",
            ));
        }
        self.delete::<User>(actor, id, Access::Admin).await
    }

    /// The enabled user with this name and password, or `None`. An unknown
    /// user costs one argon2 verification too, like a wrong password.
    ///
    /// # Errors
    /// Store errors only.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, Error> {
        let row = self
            .store
            .db
            .exec()
            .fetch_optional(
                &format!(
                    "SELECT id, created_at_ms, updated_at_ms, {}, password_hash FROM users WHERE username = $1",
                    User::COLUMNS
                ),
                args![username],
            )
            .await?;
        let Some(row) = row else {
            let _ = crate::password::verify(password, &self.dummy_hash);
            return Ok(None);
        };
        let hash: String = row.get("password_hash")?;
        let user = User::from_row(&row)?;
        let ok = crate::password::verify(password, &hash);
        Ok((ok && user.enabled).then_some(user))
    }

    /// Creates the tenant if it does not exist, then a user in it: for
    /// `ringside admin create-user --tenant T --role R`. Audited as `system`.
    ///
    /// # Errors
    /// `Validation`, `Conflict` (username taken).
    pub async fn bootstrap_user(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User, Error> {
        let system = Actor {
            user_id: None,
            username: "system".to_owned(),
            tenant: tenant.to_owned(),
            role: Role::PlatformAdmin,
        };
        let exists = self
            .store
            .db
            .exec()
            .fetch_optional("SELECT id FROM tenants WHERE slug = $1", args![tenant])
            .await?
            .is_some();
        if !exists {
            self.create_tenant(
                &system,
                TenantInput {
                    slug: tenant.to_owned(),
                    name: tenant.to_owned(),
                },
            )
            .await?;
        }
        self.create_user(
            &system,
            UserInput {
                username: username.to_owned(),
                password: Some(password.to_owned()),
                role,
                enabled: true,
            },
        )
        .await
    }

    // ---- PBX servers ----

    /// Creates a PBX server and hands it to the ingestor.
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `Conflict` (name taken in the tenant).
    pub async fn create_pbx_server(
        &self,
        actor: &Actor,
        input: PbxServerInput,
    ) -> Result<PbxServer, Error> {
        let pbx = self.create(actor, input).await?;
        self.registry_put(&actor.tenant, &pbx).await;
        Ok(pbx)
    }

    /// Replaces a PBX server (`secret: None` keeps it) and updates the
    /// ingestor's registry (a rename moves the key).
    ///
    /// # Errors
    /// As [`Provisioning::create_pbx_server`]; `NotFound`.
    pub async fn update_pbx_server(
        &self,
        actor: &Actor,
        id: Uuid,
        input: PbxServerInput,
    ) -> Result<PbxServer, Error> {
        let (before, after) = self.update(actor, id, input).await?;
        if before.name != after.name {
            self.registry_delete(&actor.tenant, &before.name).await;
        }
        self.registry_put(&actor.tenant, &after).await;
        Ok(after)
    }

    /// Deletes a PBX server (its assignments and deployments go with it) and
    /// removes it from the ingestor's registry.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_pbx_server(&self, actor: &Actor, id: Uuid) -> Result<PbxServer, Error> {
        let pbx: PbxServer = self.delete(actor, id, Access::Admin).await?;
        self.registry_delete(&actor.tenant, &pbx.name).await;
        Ok(pbx)
    }

    /// One PBX server (no secret).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_pbx_server(&self, actor: &Actor, id: Uuid) -> Result<PbxServer, Error> {
        self.get(actor, id).await
    }

    /// The tenant's PBX servers (no secrets).
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_pbx_servers(
        &self,
        actor: &Actor,
        page: Page,
    ) -> Result<Paged<PbxServer>, Error> {
        self.list(actor, page).await
    }

    fn registry_key(tenant: &str, name: &str) -> String {
        format!("{tenant}.{name}")
    }

    /// The ingestor's view of a PBX: [`ringside_ami_ingestor::PbxSettings`] as
    /// JSON, with the decrypted secret (the bucket is internal).
    async fn registry_value(&self, tenant: &str, pbx: &PbxServer) -> Result<Value, Error> {
        let row = self
            .store
            .db
            .exec()
            .fetch_optional(
                "SELECT ami_secret_enc FROM pbx_servers WHERE tenant = $1 AND id = $2",
                args![tenant, pbx.id],
            )
            .await?
            .ok_or_else(|| not_found(PbxServer::KIND))?;
        let sealed: Vec<u8> = row.get("ami_secret_enc")?;
        let secret = self.cipher.open(PBX_SECRET, pbx.id, &sealed)?;
        Ok(json!({
            "tenant": tenant,
            "id": pbx.name,
            "name": pbx.name,
            "host": pbx.host,
            "port": pbx.port,
            "username": pbx.username,
            "secret": secret,
            "tls": pbx.tls,
            "enabled": pbx.enabled,
        }))
    }

    async fn registry_put(&self, tenant: &str, pbx: &PbxServer) {
        let result = async {
            let value = self.registry_value(tenant, pbx).await?;
            self.registry
                .put(
                    &Provisioning::registry_key(tenant, &pbx.name),
                    Bytes::from(value.to_string()),
                )
                .await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(tenant, pbx = %pbx.name, error = %e, "PBX registry not updated");
        }
    }

    async fn registry_delete(&self, tenant: &str, name: &str) {
        if let Err(e) = self
            .registry
            .delete(&Provisioning::registry_key(tenant, name))
            .await
        {
            tracing::error!(tenant, pbx = %name, error = %e, "PBX registry entry not removed");
        }
    }

    /// Writes every PBX server of every tenant into the ingestor's registry and
    /// removes registry keys no PBX server has. Returns how many PBXs it wrote.
    ///
    /// # Errors
    /// Store and bus errors.
    pub async fn sync_pbx_registry(&self) -> Result<usize, Error> {
        let rows = self
            .store
            .db
            .exec()
            .fetch_all("SELECT DISTINCT tenant FROM pbx_servers", Vec::new())
            .await?;
        let mut wanted = BTreeSet::new();
        for row in rows {
            let tenant: String = row.get("tenant")?;
            let pbxs: Vec<PbxServer> = Store::all(self.store.db.exec(), &tenant).await?;
            for pbx in pbxs {
                let value = self.registry_value(&tenant, &pbx).await?;
                let key = Provisioning::registry_key(&tenant, &pbx.name);
                self.registry
                    .put(&key, Bytes::from(value.to_string()))
                    .await?;
                wanted.insert(key);
            }
        }
        for key in self.registry.keys().await? {
            if !wanted.contains(&key) {
                self.registry.delete(&key).await?;
            }
        }
        Ok(wanted.len())
    }

    // ---- extensions ----

    /// Creates an extension. Without a `secret` one is generated (24 random
    /// alphanumerics); the answer carries it once, nothing else ever does.
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `Conflict` (number taken on a shared PBX).
    pub async fn create_extension(
        &self,
        actor: &Actor,
        mut input: ExtensionInput,
    ) -> Result<Extension, Error> {
        input.check(true)?;
        let secret = input.secret.clone();
        let mut out = self.create(actor, input).await?;
        out.secret = secret;
        Ok(out)
    }

    /// Replaces an extension (`secret: None` keeps it).
    ///
    /// # Errors
    /// As [`Provisioning::create_extension`]; `NotFound`.
    pub async fn update_extension(
        &self,
        actor: &Actor,
        id: Uuid,
        input: ExtensionInput,
    ) -> Result<Extension, Error> {
        Ok(self.update(actor, id, input).await?.1)
    }

    /// An extension's secret, for whoever provisions the phone
    /// (administrators; the read is audited).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn extension_secret(&self, actor: &Actor, id: Uuid) -> Result<String, Error> {
        let tenant = authorize(actor, Access::Admin)?;
        let secret = self
            .sealed_secret(tenant.as_str(), "extensions", "secret_enc", id)
            .await?;
        let secret = self.cipher.open(EXTENSION_SECRET, id, &secret)?;
        let tx = self.store.begin().await?;
        let change = Change {
            action: "secret_read",
            entity: Extension::KIND,
            entity_id: id,
            changes: json!({}),
        };
        self.finish(tx, actor, change).await?;
        Ok(secret)
    }

    pub(crate) async fn sealed_secret(
        &self,
        tenant: &str,
        table: &str,
        column: &str,
        id: Uuid,
    ) -> Result<Vec<u8>, Error> {
        let row = self
            .store
            .db
            .exec()
            .fetch_optional(
                &format!("SELECT {column} AS s FROM {table} WHERE tenant = $1 AND id = $2"),
                args![tenant, id],
            )
            .await?
            .ok_or(Error::NotFound { entity: "secret" })?;
        let sealed: Option<Vec<u8>> = row.get("s")?;
        sealed.ok_or(Error::NotFound { entity: "secret" })
    }

    // ---- DID allocation ----

    /// Allocates an available DID to a customer: to its trunk (`destination:
    /// "trunk"`, trunk customers) or to one of its extensions.
    ///
    /// # Errors
    /// `NotFound` (DID), `Validation` (customer, destination), `Conflict` (the
    /// DID is allocated or blocked).
    pub async fn allocate_did(
        &self,
        actor: &Actor,
        did_id: Uuid,
        mut input: AllocationInput,
    ) -> Result<Allocation, Error> {
        let tenant = authorize(actor, Access::Operations)?;
        let tenant = tenant.as_str();
        input.validate()?;
        let mut tx = self.store.begin().await?;
        let did: Did = Store::get(tx.exec(), tenant, did_id)
            .await?
            .ok_or_else(|| not_found(Did::KIND))?;
        if did.status != DidStatus::Available {
            return Err(Error::Conflict {
                entity: Did::KIND,
                message: format!("{} is {}", did.number, did.status.as_str()),
            });
        }
        let customer: Customer = Store::get(tx.exec(), tenant, input.customer_id)
            .await?
            .ok_or_else(|| {
                ValidationError::field(
                    "customer_id",
                    "not_found",
                    "no such customer in this tenant",
                )
            })?;
        if input.destination == "trunk" {
            if customer.kind != CustomerType::Trunk {
                return Err(ValidationError::field(
                    "destination",
                    "not_a_trunk_customer",
                    "only a trunk customer takes calls on its trunk",
                )
                .into());
            }
        } else {
            let found = tx
                .exec()
                .fetch_optional(
                    "SELECT id FROM extensions WHERE tenant = $1 AND extension = $2 AND customer_id = $3",
                    args![tenant, input.destination.as_str(), customer.id],
                )
                .await?;
            if found.is_none() {
                return Err(ValidationError::field(
                    "destination",
                    "not_found",
                    "no such extension of this customer",
                )
                .into());
            }
        }
        let now = now_ms();
        tx.exec()
            .execute(
                "INSERT INTO customer_dids (id, tenant, customer_id, did_id, destination, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                args![Uuid::new_v4(), tenant, customer.id, did_id, input.destination.as_str(), now],
            )
            .await
            .map_err(|e| Error::from_store(Did::KIND, e))?;
        tx.exec()
            .execute(
                "UPDATE dids SET status = 'allocated', updated_at_ms = $3 WHERE tenant = $1 AND id = $2",
                args![tenant, did_id, now],
            )
            .await?;
        let allocation = Allocation {
            did_id,
            customer_id: customer.id,
            destination: input.destination.clone(),
            created_at_ms: now,
        };
        let change = Change {
            action: "allocated",
            entity: Did::KIND,
            entity_id: did_id,
            changes: Value::Object(to_map(&allocation)),
        };
        self.finish(tx, actor, change).await?;
        Ok(allocation)
    }

    /// Returns an allocated DID to `available`.
    ///
    /// # Errors
    /// `NotFound` (no such DID, or not allocated).
    pub async fn deallocate_did(&self, actor: &Actor, did_id: Uuid) -> Result<Allocation, Error> {
        let tenant = authorize(actor, Access::Operations)?;
        let tenant = tenant.as_str();
        let mut tx = self.store.begin().await?;
        let allocation = Provisioning::allocation_in(&mut tx, tenant, did_id)
            .await?
            .ok_or(Error::NotFound {
                entity: "allocation",
            })?;
        tx.exec()
            .execute(
                "DELETE FROM customer_dids WHERE tenant = $1 AND did_id = $2",
                args![tenant, did_id],
            )
            .await?;
        tx.exec()
            .execute(
                "UPDATE dids SET status = 'available', updated_at_ms = $3 WHERE tenant = $1 AND id = $2",
                args![tenant, did_id, now_ms()],
            )
            .await?;
        let change = Change {
            action: "deallocated",
            entity: Did::KIND,
            entity_id: did_id,
            changes: Value::Object(to_map(&allocation)),
        };
        self.finish(tx, actor, change).await?;
        Ok(allocation)
    }

    /// A DID's allocation, if any.
    ///
    /// # Errors
    /// Store errors.
    pub async fn did_allocation(
        &self,
        actor: &Actor,
        did_id: Uuid,
    ) -> Result<Option<Allocation>, Error> {
        let tenant = scope(actor)?;
        let mut tx = self.store.begin().await?;
        let allocation = Provisioning::allocation_in(&mut tx, tenant.as_str(), did_id).await?;
        tx.commit().await?;
        Ok(allocation)
    }

    /// A DID named in a report filter, as its UUID or as its number (digits
    /// compared, with or without `+`): its id, or the nil UUID, which
    /// matches nothing, when the tenant holds no such number (no call
    /// reached it). Any role.
    ///
    /// # Errors
    /// `Validation` (field `did`) for text that is neither; store errors.
    pub async fn did_filter_id(&self, actor: &Actor, did: &str) -> Result<Uuid, Error> {
        let tenant = scope(actor)?;
        if let Ok(id) = Uuid::parse_str(did) {
            return Ok(id);
        }
        let digits: String = did.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(
                ValidationError::field("did", "invalid", "a DID's UUID or its number").into(),
            );
        }
        let row = self
            .store
            .db
            .exec()
            .fetch_optional(
                "SELECT id FROM dids WHERE tenant = $1 AND number IN ($2, $3)",
                args![tenant.as_str(), format!("+{digits}"), digits.as_str()],
            )
            .await?;
        Ok(match row {
            Some(r) => r.get("id")?,
            None => Uuid::nil(),
        })
    }

    async fn allocation_in(
        tx: &mut Tx,
        tenant: &str,
        did_id: Uuid,
    ) -> Result<Option<Allocation>, Error> {
        let row = tx
            .exec()
            .fetch_optional(
                "SELECT did_id, customer_id, destination, created_at_ms FROM customer_dids \
                 WHERE tenant = $1 AND did_id = $2",
                args![tenant, did_id],
            )
            .await?;
        row.map(|r| {
            Ok(Allocation {
                did_id: r.get("did_id")?,
                customer_id: r.get("customer_id")?,
                destination: r.get("destination")?,
                created_at_ms: r.get("created_at_ms")?,
            })
        })
        .transpose()
    }

    // ---- PBX assignment ----

    /// Sets the PBXs an entity is rendered for: `None` (or an empty list)
    /// means every PBX of the tenant.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (entity), `Validation` (unknown PBX),
    /// `Conflict` (an extension number would clash on a PBX).
    pub async fn assign_pbxs(
        &self,
        actor: &Actor,
        entity: Assignable,
        id: Uuid,
        pbx_ids: Option<Vec<Uuid>>,
    ) -> Result<PbxAssignment, Error> {
        let tenant = authorize(actor, Access::Admin)?;
        let tenant = tenant.as_str();
        let wanted: BTreeSet<Uuid> = pbx_ids.unwrap_or_default().into_iter().collect();
        let mut tx = self.store.begin().await?;
        if !Store::exists(tx.exec(), entity.table(), tenant, id).await? {
            return Err(Error::NotFound {
                entity: entity.kind(),
            });
        }
        let mut missing = ValidationError::default();
        for (i, pbx) in wanted.iter().enumerate() {
            if !Store::exists(tx.exec(), "pbx_servers", tenant, *pbx).await? {
                missing.fields.push(crate::validate::FieldError {
                    field: format!("pbx_ids[{i}]"),
                    code: "not_found",
                    message: "no such PBX server in this tenant".to_owned(),
                });
            }
        }
        if !missing.fields.is_empty() {
            return Err(missing.into());
        }
        if entity == Assignable::Extension {
            let ext: Extension =
                Store::get(tx.exec(), tenant, id)
                    .await?
                    .ok_or(Error::NotFound {
                        entity: "extension",
                    })?;
            Provisioning::check_extension_unique(&mut tx, tenant, id, &ext.extension, &wanted)
                .await?;
        }
        tx.exec()
            .execute(
                "DELETE FROM pbx_assignments WHERE tenant = $1 AND entity = $2 AND entity_id = $3",
                args![tenant, entity.kind(), id],
            )
            .await?;
        for pbx in &wanted {
            tx.exec()
                .execute(
                    "INSERT INTO pbx_assignments (tenant, entity, entity_id, pbx_id) VALUES ($1, $2, $3, $4)",
                    args![tenant, entity.kind(), id, *pbx],
                )
                .await?;
        }
        let assignment = PbxAssignment {
            all: wanted.is_empty(),
            pbx_ids: wanted.into_iter().collect(),
        };
        let change = Change {
            action: "assigned",
            entity: entity.kind(),
            entity_id: id,
            changes: json!({ "pbx_ids": assignment.pbx_ids, "all": assignment.all }),
        };
        self.finish(tx, actor, change).await?;
        Ok(assignment)
    }

    /// The PBXs an entity is rendered for.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn pbx_assignment(
        &self,
        actor: &Actor,
        entity: Assignable,
        id: Uuid,
    ) -> Result<PbxAssignment, Error> {
        let tenant = scope(actor)?;
        let mut tx = self.store.begin().await?;
        if !Store::exists(tx.exec(), entity.table(), tenant.as_str(), id).await? {
            return Err(Error::NotFound {
                entity: entity.kind(),
            });
        }
        let set = Provisioning::pbx_set(&mut tx, tenant.as_str(), entity.kind(), id).await?;
        tx.commit().await?;
        Ok(PbxAssignment {
            all: set.is_empty(),
            pbx_ids: set.into_iter().collect(),
        })
    }

    // ---- audit ----

    /// The tenant's audit log, newest first (administrators).
    ///
    /// # Errors
    /// `Forbidden`; store errors.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditEntry>, Error> {
        let tenant = authorize(actor, Access::Admin)?;
        let page = page.clamped();
        let mut conditions = vec!["tenant = $1".to_owned()];
        let mut values = args![tenant.as_str()];
        let mut add = |cond: &str, value: crate::db::Arg, values: &mut Vec<crate::db::Arg>| {
            values.push(value);
            conditions.push(cond.replace('?', &format!("${}", values.len())));
        };
        if let Some(entity) = &filter.entity {
            add("entity = ?", entity.clone().into(), &mut values);
        }
        if let Some(id) = filter.entity_id {
            add("entity_id = ?", id.into(), &mut values);
        }
        if let Some(actor_name) = &filter.actor {
            add("actor_name = ?", actor_name.clone().into(), &mut values);
        }
        if let Some(action) = &filter.action {
            add("action = ?", action.clone().into(), &mut values);
        }
        if let Some(from) = filter.from_ms {
            add("at_ms >= ?", from.into(), &mut values);
        }
        if let Some(to) = filter.to_ms {
            add("at_ms < ?", to.into(), &mut values);
        }
        let where_ = conditions.join(" AND ");
        let total: i64 = self
            .store
            .db
            .exec()
            .fetch_optional(
                &format!("SELECT COUNT(*) AS n FROM audit_log WHERE {where_}"),
                values.clone(),
            )
            .await?
            .map(|r| r.get("n"))
            .transpose()?
            .unwrap_or(0);
        let n = values.len();
        values.push(i64::from(page.limit).into());
        values.push(offset(page).into());
        let rows = self
            .store
            .db
            .exec()
            .fetch_all(
                &format!(
                    "SELECT id, at_ms, actor_id, actor_name, action, entity, entity_id, changes \
                     FROM audit_log WHERE {where_} ORDER BY at_ms DESC, id DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                ),
                values,
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                let changes: String = r.get("changes")?;
                Ok(AuditEntry {
                    id: r.get("id")?,
                    at_ms: r.get("at_ms")?,
                    actor_id: r.get("actor_id")?,
                    actor: r.get("actor_name")?,
                    action: r.get("action")?,
                    entity: r.get("entity")?,
                    entity_id: r.get("entity_id")?,
                    changes: serde_json::from_str(&changes).unwrap_or(Value::Null),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Paged {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
        })
    }
}

/// CRUD methods for an entity whose create/update need no extra step.
macro_rules! crud {
    ($name:literal, $out:ty, $input:ty, $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        impl Provisioning {
            #[doc = concat!("Creates a ", $name, ".\n\n# Errors\n`Forbidden`, `Validation`, `Conflict`.")]
            pub async fn $create(&self, actor: &Actor, input: $input) -> Result<$out, Error> {
                self.create(actor, input).await
            }

            #[doc = concat!("One ", $name, " of the caller's tenant.\n\n# Errors\n`NotFound`.")]
            pub async fn $get(&self, actor: &Actor, id: Uuid) -> Result<$out, Error> {
                self.get(actor, id).await
            }

            #[doc = concat!("A page of the tenant's ", $name, " rows.\n\n# Errors\nStore errors.")]
            pub async fn $list(&self, actor: &Actor, page: Page) -> Result<Paged<$out>, Error> {
                self.list(actor, page).await
            }

            #[doc = concat!("Replaces a ", $name, ".\n\n# Errors\n`Forbidden`, `NotFound`, `Validation`, `Conflict`.")]
            pub async fn $update(&self, actor: &Actor, id: Uuid, input: $input) -> Result<$out, Error> {
                Ok(self.update(actor, id, input).await?.1)
            }

            #[doc = concat!("Deletes a ", $name, ".\n\n# Errors\n`Forbidden`, `NotFound`, `Conflict` (still in use).")]
            pub async fn $delete(&self, actor: &Actor, id: Uuid) -> Result<$out, Error> {
                self.delete::<$out>(actor, id, <$input as Write>::ACCESS).await
            }
        }
    };
}

crud!(
    "customer",
    Customer,
    CustomerInput,
    create_customer,
    get_customer,
    list_customers,
    update_customer,
    delete_customer
);
crud!(
    "provider",
    Provider,
    ProviderInput,
    create_provider,
    get_provider,
    list_providers,
    update_provider,
    delete_provider
);
crud!(
    "gateway",
    Gateway,
    GatewayInput,
    create_gateway,
    get_gateway,
    list_gateways,
    update_gateway,
    delete_gateway
);
crud!(
    "DID", Did, DidInput, create_did, get_did, list_dids, update_did, delete_did
);
crud!(
    "route",
    Route,
    RouteInput,
    create_route,
    get_route,
    list_routes,
    update_route,
    delete_route
);
crud!(
    "tariff",
    Tariff,
    TariffInput,
    create_tariff,
    get_tariff,
    list_tariffs,
    update_tariff,
    delete_tariff
);

impl Provisioning {
    /// One extension (no secret).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_extension(&self, actor: &Actor, id: Uuid) -> Result<Extension, Error> {
        self.get(actor, id).await
    }

    /// The tenant's extensions (no secrets).
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_extensions(
        &self,
        actor: &Actor,
        page: Page,
    ) -> Result<Paged<Extension>, Error> {
        self.list(actor, page).await
    }

    /// Deletes an extension.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_extension(&self, actor: &Actor, id: Uuid) -> Result<Extension, Error> {
        self.delete::<Extension>(actor, id, Access::Operations)
            .await
    }
}
