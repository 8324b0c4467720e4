//! A PBX's configuration deployments: the history, the dry run (render the
//! five files from the current data and diff them against the last applied
//! version, changing nothing), apply and rollback — all through
//! provisioning's [`Deployer`](ringside_provisioning::apply::Deployer), which
//! writes, reloads, verifies and puts the previous files back on failure.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ringside_provisioning::apply::{ApplyError, DeploymentResult, Outcome, Plan};
use ringside_provisioning::render::RenderError;
use ringside_provisioning::{Actor, Deployment};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AdminState, ListQuery, PageBody, TenantQuery, actor, api_error, parse_id};
use crate::auth::{Auth, Role};
use crate::error::extract::{Path, Query};
use crate::error::{ApiError, FieldError};

/// `POST /pbx/{id}/deployments` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Render and diff only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an apply would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// File name → rendered text (all five files).
    pub files: BTreeMap<String, String>,
    /// Unified diff of the changed files against the last applied version.
    pub diff: String,
    /// Names of the changed files.
    pub changed: Vec<String>,
    /// The Asterisk commands an apply would run, in order.
    pub reloads: Vec<String>,
    /// The applied version the diff is against (none: everything is new).
    pub base_version: Option<i64>,
}

/// What an apply or rollback did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Applied {
    /// `applied`, or `unchanged` (nothing differed: nothing written,
    /// reloaded or recorded).
    pub outcome: String,
    /// The recorded version (none when unchanged).
    pub version: Option<i64>,
    /// The recorded deployment's id.
    pub deployment_id: Option<Uuid>,
    /// The unified diff that was applied.
    pub diff: String,
    /// Files written.
    pub changed: Vec<String>,
    /// Asterisk commands run, in order.
    pub reloads: Vec<String>,
    /// Endpoints checked with `PJSIPShowEndpoints` after the reload.
    pub verified_endpoints: usize,
}

/// Rendering refused the data: 422 with one detail per lint problem.
fn lint_error(error: RenderError) -> ApiError {
    let RenderError::Lint(problems) = error;
    ApiError::validation_fields(
        problems
            .iter()
            .map(|p| FieldError {
                field: format!("{}.{}", p.entity, p.field),
                code: "lint".to_owned(),
                message: p.to_string(),
            })
            .collect(),
    )
}

/// Maps an apply failure. A failed write, reload or verification is a 503
/// whose message says what failed and whether the previous configuration
/// is back: the operator must read it, and it holds no secret (a step, the
/// PBX's name and its CLI line).
fn apply_error(error: ApplyError) -> ApiError {
    match error {
        ApplyError::Provisioning(e) => api_error(e),
        ApplyError::Render(e) => lint_error(e),
        e @ (ApplyError::Disabled { .. } | ApplyError::NotApplied { .. }) => {
            ApiError::conflict(e.to_string())
        }
        ApplyError::Invalid(reason) => ApiError::validation("body", "invalid", reason),
        e @ ApplyError::Restored { .. } => {
            tracing::warn!(error = %e, "apply failed and was undone");
            ApiError::unavailable(e.to_string())
        }
        e @ ApplyError::RestoreFailed { .. } => {
            tracing::error!(error = %e, "apply failed and could not be undone");
            ApiError::unavailable(e.to_string())
        }
    }
}

/// History rows: the files stay out (they hold secrets and are large).
fn history_row(d: &Deployment) -> Value {
    json!({
        "id": d.id,
        "pbx_id": d.pbx_id,
        "version": d.version,
        "author": d.author,
        "created_at": d.at_ms,
        "at_ms": d.at_ms,
        "result": d.result,
        "diff": d.diff,
    })
}

fn dry_run_body(plan: Plan) -> DryRun {
    DryRun {
        diff: plan.diff.files.iter().map(|f| f.unified.as_str()).collect(),
        changed: plan.changed,
        reloads: plan
            .reloads
            .iter()
            .map(|r| r.command().to_owned())
            .collect(),
        files: plan.files,
        base_version: plan.base_version,
    }
}

fn applied_body(result: DeploymentResult) -> Applied {
    let deployment = result.deployment.as_ref();
    Applied {
        outcome: match result.outcome {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
        }
        .to_owned(),
        version: deployment.map(|d| d.version),
        deployment_id: deployment.map(|d| d.id),
        diff: deployment.map(|d| d.diff.clone()).unwrap_or_default(),
        changed: result.changed,
        reloads: result
            .reloads
            .iter()
            .map(|r| r.command().to_owned())
            .collect(),
        verified_endpoints: result.verified_endpoints,
    }
}

/// The PBX's id once it is known to be the tenant's and the caller an
/// administrator (another tenant's PBX is a 404 before the role is looked
/// at, like everywhere else).
async fn pbx_of(s: &AdminState, auth: &Auth, actor: &Actor, id: &str) -> Result<Uuid, ApiError> {
    let id = parse_id(id, "pbx_server")?;
    s.provisioning
        .get_pbx_server(actor, id)
        .await
        .map_err(api_error)?;
    auth.require(Role::TenantAdmin)?;
    Ok(id)
}

/// The PBX's deployments, newest first (administrators).
#[utoipa::path(
    get,
    path = "/api/v1/pbx/{id}/deployments",
    params(("id" = String, Path, description = "PBX server UUID"), ListQuery),
    responses(
        (status = 200, description = "`{items: [{id, version, author, created_at, result, diff}], total, limit, offset}`", body = PageBody),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Administrators only", body = crate::error::ErrorBody),
        (status = 404, description = "No such PBX in this tenant", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "deployments"
)]
pub async fn history(
    State(s): State<AdminState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<PageBody>, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    let pbx = pbx_of(&s, &auth, &actor, &id).await?;
    let page = s
        .provisioning
        .list_deployments(&actor, pbx, q.page())
        .await
        .map_err(api_error)?;
    Ok(Json(PageBody {
        items: page.items.iter().map(history_row).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// With `{"dry_run": true}`: the five rendered files, the diff against the
/// last applied version and the reloads an apply would run, changing
/// nothing. Without: applies — writes the changed files, reloads only what
/// they concern, verifies the endpoints, records the version; on failure
/// puts the previous files back (503 saying so).
#[utoipa::path(
    post,
    path = "/api/v1/pbx/{id}/deployments",
    params(("id" = String, Path, description = "PBX server UUID"), TenantQuery),
    request_body = DeployRequest,
    responses(
        (status = 200, description = "Dry run (`DryRun`) or apply (`Applied`)", body = DryRun),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Administrators only", body = crate::error::ErrorBody),
        (status = 404, description = "No such PBX in this tenant", body = crate::error::ErrorBody),
        (status = 409, description = "The PBX is disabled", body = crate::error::ErrorBody),
        (status = 422, description = "The data does not render (lint problems as details)", body = crate::error::ErrorBody),
        (status = 503, description = "Write, reload or verification failed (previous configuration restored, or not: the message says)", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "deployments"
)]
pub async fn deploy(
    State(s): State<AdminState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<TenantQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    // An empty body is an apply, like `{}`.
    let request: DeployRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeployRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation("body", "invalid", e.to_string()))?
    };
    let pbx = pbx_of(&s, &auth, &actor, &id).await?;
    if request.dry_run {
        let plan = s.deployer.dry_run(&actor, pbx).await.map_err(apply_error)?;
        return Ok(Json(dry_run_body(plan)).into_response());
    }
    let done = s.deployer.apply(&actor, pbx).await.map_err(apply_error)?;
    Ok(Json(applied_body(done)).into_response())
}

/// Re-applies an earlier applied deployment's files (recorded as a new
/// version); fails like an apply.
#[utoipa::path(
    post,
    path = "/api/v1/pbx/{id}/deployments/{dep}/rollback",
    params(
        ("id" = String, Path, description = "PBX server UUID"),
        ("dep" = String, Path, description = "Deployment UUID"),
        TenantQuery
    ),
    responses(
        (status = 200, description = "Applied", body = Applied),
        (status = 401, description = "No or bad token", body = crate::error::ErrorBody),
        (status = 403, description = "Administrators only", body = crate::error::ErrorBody),
        (status = 404, description = "No such PBX or deployment in this tenant", body = crate::error::ErrorBody),
        (status = 409, description = "That version never went live, or the PBX is disabled", body = crate::error::ErrorBody),
        (status = 503, description = "Write, reload or verification failed", body = crate::error::ErrorBody)
    ),
    security(("bearer" = [])),
    tag = "deployments"
)]
pub async fn rollback(
    State(s): State<AdminState>,
    auth: Auth,
    Path((id, dep)): Path<(String, String)>,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Applied>, ApiError> {
    let actor = actor(&auth.0, q.tenant.as_deref())?;
    let pbx = pbx_of(&s, &auth, &actor, &id).await?;
    let dep = parse_id(&dep, "deployment")?;
    let done = s
        .deployer
        .rollback(&actor, pbx, dep)
        .await
        .map_err(apply_error)?;
    Ok(Json(applied_body(done)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_provisioning::render::{Entity, LintError, LintKind};

    #[test]
    fn lint_problems_become_field_details() {
        let e = lint_error(RenderError::Lint(vec![LintError {
            entity: Entity::Route,
            key: "r1".into(),
            field: "pattern".into(),
            kind: LintKind::Empty,
        }]));
        assert_eq!(e.code, crate::ErrorCode::Validation);
        assert_eq!(e.details[0].field, "route.pattern");
        assert_eq!(e.details[0].code, "lint");
    }

    #[test]
    fn a_failed_apply_says_whether_the_pbx_was_restored() {
        let e = apply_error(ApplyError::Restored {
            pbx: "pbx1".into(),
            stage: ringside_provisioning::apply::Stage::Reload,
            reason: "`dialplan reload`: failed".into(),
            version: 4,
        });
        assert_eq!(e.code, crate::ErrorCode::Unavailable);
        assert!(e.message.contains("restored"), "{}", e.message);
        let e = apply_error(ApplyError::Disabled { pbx: "pbx1".into() });
        assert_eq!(e.code, crate::ErrorCode::Conflict);
    }
}
