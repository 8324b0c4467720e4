//! Whom a request acts for: the caller, in the tenant the request names.
//!
//! The rule is the REST `?tenant=` rule (the gateway's
//! `Principal::acting_tenant`), kept here so that every API edge applies the
//! same one: naming no tenant, or one's own, acts in one's own; only a
//! platform admin may name another; anyone else naming another tenant gets
//! "not found", because to them it does not exist.

use ringside_bus::TenantId;

use crate::error::Error;
use crate::model::{Actor, Role};
use crate::validate::ValidationError;

impl Actor {
    /// This caller acting in `tenant` (`None` or empty: its own).
    ///
    /// # Errors
    /// [`Error::NotFound`] (`tenant`) when a caller other than a platform
    /// admin names another tenant; [`Error::Validation`] (field `tenant`)
    /// when a platform admin names an invalid one.
    pub fn acting_in(&self, tenant: Option<&str>) -> Result<Actor, Error> {
        match tenant.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(self.clone()),
            Some(t) if t == self.tenant => Ok(self.clone()),
            Some(t) if self.role == Role::PlatformAdmin => {
                let tenant = TenantId::new(t).map_err(|_| {
                    ValidationError::field("tenant", "invalid", "not a valid tenant id")
                })?;
                Ok(Actor {
                    tenant: tenant.as_str().to_owned(),
                    ..self.clone()
                })
            }
            Some(_) => Err(Error::NotFound { entity: "tenant" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(role: Role) -> Actor {
        Actor {
            user_id: None,
            username: "ann".into(),
            tenant: "acme".into(),
            role,
        }
    }

    #[test]
    fn only_platform_admins_act_in_another_tenant() {
        let op = ann(Role::TenantAdmin);
        assert_eq!(op.acting_in(None).unwrap(), op);
        assert_eq!(op.acting_in(Some("")).unwrap(), op);
        assert_eq!(op.acting_in(Some("acme")).unwrap(), op);
        assert!(matches!(
            op.acting_in(Some("beta")),
            Err(Error::NotFound { entity: "tenant" })
        ));
        let root = ann(Role::PlatformAdmin);
        let acting = root.acting_in(Some("beta")).unwrap();
        assert_eq!(
            (acting.tenant.as_str(), acting.role),
            ("beta", Role::PlatformAdmin)
        );
        assert!(matches!(
            root.acting_in(Some("a.b")),
            Err(Error::Validation(v)) if v.has("tenant", "invalid")
        ));
    }
}
