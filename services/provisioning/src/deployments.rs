//! The record of configuration deployments per PBX: which files were
//! applied, the diff, who did it, when, and how it ended. The apply machinery
//! (render → diff → write → reload → verify) records here; a rollback reads an
//! earlier version's files back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::args;
use crate::error::Error;
use crate::model::{Actor, Page, Paged, PbxServer, Role};
use crate::service::{Provisioning, now_ms};
use crate::store::{Store, offset};
use crate::validate::{self as v, Check};

/// One deployment of a PBX's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: Uuid,
    pub pbx_id: Uuid,
    /// 1, 2, 3… per PBX.
    pub version: i64,
    /// File name → content, as applied (or attempted).
    pub files: BTreeMap<String, String>,
    /// Unified diff against the previous applied version.
    pub diff: String,
    pub author: String,
    pub at_ms: i64,
    /// `applied`, `failed`, `restored`, `dry_run`, … (a token).
    pub result: String,
}

/// What [`Provisioning::record_deployment`] stores.
#[derive(Clone, Debug, Deserialize)]
pub struct NewDeployment {
    pub pbx_id: Uuid,
    pub files: BTreeMap<String, String>,
    pub diff: String,
    pub result: String,
}

fn from_row(r: &crate::db::DbRow) -> Result<Deployment, Error> {
    let files: String = r.get("files")?;
    Ok(Deployment {
        id: r.get("id")?,
        pbx_id: r.get("pbx_id")?,
        version: r.get("version")?,
        files: serde_json::from_str(&files)
            .map_err(|e| Error::Internal(format!("deployment files: {e}")))?,
        diff: r.get("diff")?,
        author: r.get("author")?,
        at_ms: r.get("at_ms")?,
        result: r.get("result")?,
    })
}

const COLUMNS: &str = "id, pbx_id, version, files, diff, author, at_ms, result";

impl Provisioning {
    /// Records a deployment as the PBX's next version (administrators).
    ///
    /// # Errors
    /// `Forbidden`, `Validation` (result not a token), `NotFound` (PBX).
    pub async fn record_deployment(
        &self,
        actor: &Actor,
        input: NewDeployment,
    ) -> Result<Deployment, Error> {
        if !matches!(actor.role, Role::PlatformAdmin | Role::TenantAdmin) {
            return Err(Error::Forbidden("administrators only"));
        }
        let tenant = ringside_bus::TenantId::new(actor.tenant.as_str())
            .map_err(|_| Error::Forbidden("invalid tenant"))?;
        let tenant = tenant.as_str();
        let mut check = Check::new();
        check.field("result", v::token(&input.result));
        check.finish()?;
        let files = serde_json::to_string(&input.files)
            .map_err(|e| Error::Internal(format!("deployment files: {e}")))?;
        let mut tx = self.store.begin().await?;
        let _pbx: PbxServer =
            Store::get(tx.exec(), tenant, input.pbx_id)
                .await?
                .ok_or(Error::NotFound {
                    entity: "pbx_server",
                })?;
        let version: i64 = tx
            .exec()
            .fetch_optional(
                "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM deployments \
                 WHERE tenant = $1 AND pbx_id = $2",
                args![tenant, input.pbx_id],
            )
            .await?
            .map(|r| r.get("v"))
            .transpose()?
            .unwrap_or(0)
            + 1;
        let deployment = Deployment {
            id: Uuid::new_v4(),
            pbx_id: input.pbx_id,
            version,
            files: input.files,
            diff: input.diff,
            author: actor.username.clone(),
            at_ms: now_ms(),
            result: input.result,
        };
        tx.exec()
            .execute(
                "INSERT INTO deployments (id, tenant, pbx_id, version, files, diff, author, at_ms, result) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    deployment.id,
                    tenant,
                    deployment.pbx_id,
                    deployment.version,
                    files,
                    deployment.diff.as_str(),
                    deployment.author.as_str(),
                    deployment.at_ms,
                    deployment.result.as_str(),
                ],
            )
            .await
            .map_err(|e| Error::from_store("deployment", e))?;
        // The audit row names the version and result, not the files (they
        // hold extension and registration secrets).
        self.finish_change(
            tx,
            actor,
            "created",
            "deployment",
            deployment.id,
            serde_json::json!({
                "pbx_id": deployment.pbx_id,
                "version": deployment.version,
                "result": deployment.result,
                "files": deployment.files.keys().collect::<Vec<_>>(),
            }),
        )
        .await?;
        Ok(deployment)
    }

    /// A PBX's deployments, newest first (administrators: the files hold
    /// secrets).
    ///
    /// # Errors
    /// `Forbidden`; store errors.
    pub async fn list_deployments(
        &self,
        actor: &Actor,
        pbx_id: Uuid,
        page: Page,
    ) -> Result<Paged<Deployment>, Error> {
        if !matches!(actor.role, Role::PlatformAdmin | Role::TenantAdmin) {
            return Err(Error::Forbidden("administrators only"));
        }
        let tenant = actor.tenant.as_str();
        let page = page.clamped();
        let total: i64 = self
            .store
            .db
            .exec()
            .fetch_optional(
                "SELECT COUNT(*) AS n FROM deployments WHERE tenant = $1 AND pbx_id = $2",
                args![tenant, pbx_id],
            )
            .await?
            .map(|r| r.get("n"))
            .transpose()?
            .unwrap_or(0);
        let rows = self
            .store
            .db
            .exec()
            .fetch_all(
                &format!(
                    "SELECT {COLUMNS} FROM deployments WHERE tenant = $1 AND pbx_id = $2 \
                     ORDER BY version DESC LIMIT $3 OFFSET $4"
                ),
                args![tenant, pbx_id, i64::from(page.limit), offset(page)],
            )
            .await?;
        Ok(Paged {
            items: rows.iter().map(from_row).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// The latest deployment of a PBX whose result is `result` (e.g. the last
    /// `applied` one, to diff against).
    ///
    /// # Errors
    /// `Forbidden`; store errors.
    pub async fn last_deployment(
        &self,
        actor: &Actor,
        pbx_id: Uuid,
        result: &str,
    ) -> Result<Option<Deployment>, Error> {
        if !matches!(actor.role, Role::PlatformAdmin | Role::TenantAdmin) {
            return Err(Error::Forbidden("administrators only"));
        }
        let row = self
            .store
            .db
            .exec()
            .fetch_optional(
                &format!(
                    "SELECT {COLUMNS} FROM deployments WHERE tenant = $1 AND pbx_id = $2 AND result = $3 \
                     ORDER BY version DESC LIMIT 1"
                ),
                args![actor.tenant.as_str(), pbx_id, result],
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }
}
