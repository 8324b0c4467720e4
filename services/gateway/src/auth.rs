//! Who is calling: roles, the [`Accounts`] the integrator provides, access
//! tokens (JWT HS256), the [`Auth`] extractor, and the login rate limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ringside_bus::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A user's role. Each role can do what the roles below it can.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees the tenant's live views.
    Viewer,
    /// Also hangs up, redirects, originates, pauses queue members.
    Operator,
    /// Also administers the tenant (provisioning, CLI commands, reloads).
    TenantAdmin,
    /// Everything, for every tenant.
    PlatformAdmin,
}

impl Role {
    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// The role's name in tokens and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::TenantAdmin => "tenant_admin",
            Role::PlatformAdmin => "platform_admin",
        }
    }
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's id (a UUID in the provisioning store).
    pub user_id: String,
    /// The login name.
    pub username: String,
    /// The user's tenant.
    pub tenant: String,
    /// The user's role.
    pub role: Role,
}

impl Principal {
    /// How actions and audit records name this user: `username@tenant`.
    pub fn requested_by(&self) -> String {
        format!("{}@{}", self.username, self.tenant)
    }

    /// The user's tenant as a subject token.
    ///
    /// # Errors
    /// 401 if the tenant id cannot be a subject token (a corrupt account).
    pub fn tenant_id(&self) -> Result<TenantId, ApiError> {
        TenantId::new(self.tenant.as_str())
            .map_err(|_| ApiError::unauthorized("invalid tenant in token"))
    }

    /// The tenant a request acts on: the user's own, or for a platform admin
    /// the one asked for.
    ///
    /// # Errors
    /// 422 for an invalid tenant id; 404 when a non-platform user names
    /// another tenant (it does not exist for them).
    pub fn acting_tenant(&self, asked: Option<&str>) -> Result<TenantId, ApiError> {
        match asked {
            None => self.tenant_id(),
            Some(t) if t == self.tenant => self.tenant_id(),
            Some(t) if self.role == Role::PlatformAdmin => TenantId::new(t)
                .map_err(|_| ApiError::validation("tenant", "invalid", "not a valid tenant id")),
            Some(_) => Err(ApiError::not_found("no such tenant")),
        }
    }
}

/// The user store, implemented by the integrator over provisioning.
///
/// `authenticate` verifies the password (argon2) itself. It is CPU-heavy, so
/// an implementation should run it on a blocking thread, and should spend the
/// same effort on an unknown user name (hash a dummy) so timing does not tell
/// which names exist.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// The user if `username` exists, is enabled and `password` is theirs.
    ///
    /// # Errors
    /// The store could not be reached (the caller answers 503).
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Option<Principal>>;
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The login name.
    pub username: String,
    /// The tenant.
    pub tenant: String,
    /// The role.
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Tokens {
    /// Keys from the HS256 secret.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// The token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `who`.
    ///
    /// # Errors
    /// 500 if signing fails (it does not with HMAC).
    pub fn issue(&self, who: &Principal) -> Result<String, ApiError> {
        let iat = now_secs();
        let claims = Claims {
            sub: who.user_id.clone(),
            username: who.username.clone(),
            tenant: who.tenant.clone(),
            role: who.role,
            exp: iat + self.ttl.as_secs(),
            iat,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// The user a token stands for.
    ///
    /// # Errors
    /// 401 for a malformed, forged or expired token.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                ApiError::unauthorized("invalid or expired token")
            })?;
        let c = data.claims;
        let who = Principal {
            user_id: c.sub,
            username: c.username,
            tenant: c.tenant,
            role: c.role,
        };
        who.tenant_id()?;
        Ok(who)
    }
}

/// The authenticated caller of a request: `Authorization: Bearer <token>`.
///
/// Works in any router (the integrator's admin routes too): the gateway puts
/// its [`Tokens`] into every request's extensions.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

impl Auth {
    /// 403 unless the caller's role allows `needed`.
    ///
    /// # Errors
    /// [`ApiError`] 403.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.0.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role",
                needed.as_str()
            )))
        }
    }
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let tokens = parts
            .extensions
            .get::<Arc<Tokens>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("Auth used outside the gateway's router"))?;
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        tokens.verify(token).map(Auth)
    }
}

/// Fixed-window counters of failed logins per user name and per address.
#[derive(Debug)]
pub struct LoginLimiter {
    per_user: u32,
    per_ip: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Entries kept before expired ones are swept (bounds memory under a spray
/// of user names).
const LIMITER_SWEEP_AT: usize = 10_000;

impl LoginLimiter {
    /// A limiter allowing `per_user`/`per_ip` failures per `window`.
    pub fn new(per_user: u32, per_ip: u32, window: Duration) -> Self {
        LoginLimiter {
            per_user,
            per_ip,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: Option<IpAddr>) -> (String, Option<String>) {
        (
            format!("u:{}", username.to_lowercase()),
            ip.map(|ip| format!("i:{ip}")),
        )
    }

    /// `Err(seconds to wait)` when the user or the address used up its window.
    pub fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let (user, addr) = Self::keys(username, ip);
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let blocked = |key: &str, limit: u32| -> Option<u64> {
            let (start, count) = failures.get(key)?;
            let elapsed = now.duration_since(*start);
            (elapsed < self.window && *count >= limit)
                .then(|| (self.window - elapsed).as_secs_f64().ceil() as u64)
        };
        let user_wait = blocked(&user, self.per_user);
        let ip_wait = addr.as_deref().and_then(|a| blocked(a, self.per_ip));
        match user_wait.max(ip_wait) {
            Some(wait) => Err(wait.max(1)),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, username: &str, ip: Option<IpAddr>) {
        let (user, addr) = Self::keys(username, ip);
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= LIMITER_SWEEP_AT {
            let window = self.window;
            failures.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        for key in std::iter::once(user).chain(addr) {
            let entry = failures.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Forgets a user's failures after a successful login.
    pub fn succeeded(&self, username: &str) {
        let (user, _) = Self::keys(username, None);
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            user_id: "u1".into(),
            username: "alice".into(),
            tenant: "acme".into(),
            role: Role::Operator,
        }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::PlatformAdmin.allows(Role::TenantAdmin));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert!(!Role::TenantAdmin.allows(Role::PlatformAdmin));
    }

    #[test]
    fn tokens_round_trip_and_other_keys_or_expiry_are_refused() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let t = tokens.issue(&alice()).unwrap();
        assert_eq!(tokens.verify(&t).unwrap(), alice());
        let other = Tokens::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert!(other.verify(&t).is_err());
        assert!(tokens.verify("not.a.token").is_err());
        let expired = Claims {
            sub: "u1".into(),
            username: "alice".into(),
            tenant: "acme".into(),
            role: Role::Operator,
            exp: now_secs() - 3600,
            iat: now_secs() - 7200,
        };
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &tokens.encoding)
            .unwrap();
        assert!(tokens.verify(&old).is_err());
    }

    #[test]
    fn other_tenants_are_not_found_except_for_platform_admins() {
        let a = alice();
        assert_eq!(a.acting_tenant(None).unwrap().as_str(), "acme");
        assert_eq!(
            a.acting_tenant(Some("other")).unwrap_err().code,
            crate::error::ErrorCode::NotFound
        );
        let admin = Principal {
            role: Role::PlatformAdmin,
            ..alice()
        };
        assert_eq!(
            admin.acting_tenant(Some("other")).unwrap().as_str(),
            "other"
        );
        assert!(admin.acting_tenant(Some("a.b")).is_err());
    }

    #[test]
    fn the_limiter_blocks_after_the_allowed_failures_and_forgets_after_success() {
        let limiter = LoginLimiter::new(2, 3, Duration::from_secs(60));
        let ip = Some("10.0.0.1".parse().unwrap());
        limiter.check("bob", ip).unwrap();
        limiter.failed("bob", ip);
        limiter.failed("Bob", ip);
        let wait = limiter.check("bob", ip).unwrap_err();
        assert!((1..=60).contains(&wait));
        limiter.check("carol", ip).unwrap();
        limiter.failed("carol", ip);
        assert!(limiter.check("dave", ip).is_err(), "the address is used up");
        limiter.succeeded("bob");
        assert!(limiter.check("bob", None).is_ok());
    }
}
