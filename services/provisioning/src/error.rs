//! Errors of the store and of the service facade.
//!
//! The facade's [`Error`] has the variants an API edge maps to a status:
//! `Validation` → 400/INVALID_ARGUMENT, `NotFound` → 404, `Conflict` → 409,
//! `Forbidden` → 403; the rest are internal (500) and their detail belongs in
//! the log, not in an answer.

use crate::validate::ValidationError;

/// What went wrong in the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("connect: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("migrate: {0}")]
    Migrate(String),
    /// A uniqueness constraint refused the write.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A foreign key refused the write (a missing reference, or a delete of a
    /// row still referenced).
    #[error("foreign key violated: {0}")]
    ForeignKey(String),
    /// Any other database error.
    #[error("database: {0}")]
    Database(String),
}

impl StoreError {
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Unique(db.message().to_owned());
            }
            if db.is_foreign_key_violation() {
                return StoreError::ForeignKey(db.message().to_owned());
            }
        }
        StoreError::Database(e.to_string())
    }
}

/// What went wrong in a provisioning operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid; the fields say where and why.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// No such row in the caller's tenant (another tenant's row is "not found"
    /// too).
    #[error("{entity} not found")]
    NotFound {
        /// The entity, e.g. `customer`.
        entity: &'static str,
    },
    /// The write conflicts with existing data (a duplicate, or a row still in
    /// use).
    #[error("{entity}: {message}")]
    Conflict {
        /// The entity written.
        entity: &'static str,
        /// What conflicts, for people.
        message: String,
    },
    /// The caller's role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The database failed.
    #[error("store: {0}")]
    Store(StoreError),
    /// The bus refused an event or a PBX registry write; the database change is
    /// committed.
    #[error("bus: {0}")]
    Bus(#[from] ringside_bus::BusError),
    /// A stored secret could not be decrypted (wrong key, or tampering).
    #[error("secret decryption failed for {0}")]
    Crypto(String),
    /// Anything else internal.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// Maps a store error of a write to `entity`: duplicates and rows still in
    /// use become [`Error::Conflict`].
    pub(crate) fn from_store(entity: &'static str, e: StoreError) -> Self {
        match e {
            StoreError::Unique(detail) => Error::Conflict {
                entity,
                message: format!("already exists ({})", unique_hint(&detail)),
            },
            StoreError::ForeignKey(_) => Error::Conflict {
                entity,
                message: "is referenced by other rows, or references a missing row".to_owned(),
            },
            other => Error::Store(other),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// The constraint's name or columns from the driver's message, without values
/// (PostgreSQL's detail would echo them).
fn unique_hint(message: &str) -> String {
    // PostgreSQL: duplicate key value violates unique constraint "customers_tenant_code_key"
    // SQLite: UNIQUE constraint failed: customers.tenant, customers.code
    if let Some(start) = message.find('"')
        && let Some(len) = message[start + 1..].find('"')
    {
        return message[start + 1..start + 1 + len].to_owned();
    }
    message.rsplit(": ").next().unwrap_or(message).to_owned()
}
