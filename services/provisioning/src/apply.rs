//! Safe configuration apply: render → lint → diff against the last applied
//! version → write only the changed files → reload only the modules they
//! concern → verify → record. A failed reload or verification puts the
//! previous files back, reloads again and records `restored`, so a mistake
//! does not leave a PBX half-configured.
//!
//! Writes go one of two ways, by the PBX server's `apply_mode`:
//! * `file` (PBX on this host): into `config_dir`, each replaced file first
//!   copied to `<name>.<UTC timestamp>.bak`, the new content written to a
//!   temporary file, fsynced and renamed over the old one (then the
//!   directory fsynced), so Asterisk never reads half a file;
//! * `ami` (remote PBX): AMI `UpdateConfig` through the ingestor. The file
//!   must already exist on the PBX (Asterisk's `UpdateConfig` refuses a
//!   missing source file; an empty file is fine). Its categories are listed
//!   with `GetConfig`, deleted (`DelCat`) and the new ones created
//!   (`NewCat` + `Append`), in batches that stay under Asterisk's 128
//!   headers per action. Categories are created last-first, each inserted in
//!   front (`Match-` of `NewCat`), because `Append` fills the first category
//!   of a name and PJSIP files repeat names (endpoint and aor share one).
//!   Comments are not carried: Asterisk rewrites the file in its own format.
//!
//! Reloads and checks go through the ingestor's AMI action endpoint
//! (`Subjects::ami_action`): `Command: module reload res_pjsip.so` for
//! `pjsip_*.conf`, `Command: dialplan reload` for `extensions_*.conf`; the
//! CLI answers `Response: Success` whatever happened, so the output is read
//! for a failure. After a PJSIP reload every endpoint rendered in the three
//! PJSIP files must be listed by `PJSIPShowEndpoints`.
//!
//! Applies to one PBX are serialized within this process ([`Deployer`]
//! holds one lock per PBX); two processes applying to the same PBX at once
//! are not guarded against.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ringside_ami_ingestor::actions::{ActionReply, ActionRequest};
use ringside_bus::{Outgoing, PbxId, TenantId};
use uuid::Uuid;

use crate::deployments::{Deployment, NewDeployment};
use crate::error::Error;
use crate::model::{Actor, ApplyMode, Page, PbxServer, Role};
use crate::render::{self, ConfigDiff, ConfigFile, Reload, RenderError, Rendered};
use crate::service::Provisioning;

/// Result token of a deployment that is live on the PBX.
pub const APPLIED: &str = "applied";
/// Result token of a deployment that failed and was undone.
pub const RESTORED: &str = "restored";
/// Result token of a deployment that failed and could not be undone.
pub const FAILED: &str = "failed";

/// Most `Action-NNNNNN` operations in one `UpdateConfig`: Asterisk reads at
/// most 128 headers of an action (`AST_MAX_MANAGER_HEADERS`); an operation
/// takes at most 4, and the action itself 4 more.
const OPS_PER_UPDATE: usize = 30;

/// How the deployer talks to PBXs.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// How long one AMI action may take (the ingestor's wait).
    pub action_timeout: Duration,
    /// How many times `PJSIPShowEndpoints` is asked before verification
    /// fails (a reload may take a moment to show).
    pub verify_attempts: u32,
    /// Pause between those attempts.
    pub verify_interval: Duration,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            action_timeout: Duration::from_secs(10),
            verify_attempts: 3,
            verify_interval: Duration::from_millis(500),
        }
    }
}

/// What an apply would do (a dry run): nothing is written.
#[derive(Clone)]
pub struct Plan {
    pub pbx_id: Uuid,
    /// Every rendered file, by name (they hold secrets: administrators only).
    pub files: BTreeMap<String, String>,
    /// Against the last applied version (or nothing).
    pub diff: ConfigDiff,
    /// The files that would be written.
    pub changed: Vec<String>,
    /// The reloads that would run, in order.
    pub reloads: Vec<Reload>,
    /// The version diffed against, `None` before the first apply.
    pub base_version: Option<i64>,
}

impl std::fmt::Debug for Plan {
    /// File names only: the contents hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("pbx_id", &self.pbx_id)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("changed", &self.changed)
            .field("reloads", &self.reloads)
            .field("base_version", &self.base_version)
            .finish()
    }
}

/// How an apply ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Files written, reloaded, verified and recorded.
    Applied,
    /// Nothing differs from the last applied version: nothing written,
    /// reloaded or recorded.
    Unchanged,
}

/// A successful apply.
#[derive(Debug, Clone)]
pub struct DeploymentResult {
    pub pbx_id: Uuid,
    pub outcome: Outcome,
    /// The recorded deployment (`None` when unchanged).
    pub deployment: Option<Deployment>,
    /// Files written.
    pub changed: Vec<String>,
    /// Reloads run, in order.
    pub reloads: Vec<Reload>,
    /// Endpoints checked in `PJSIPShowEndpoints` (0 without a PJSIP reload).
    pub verified_endpoints: usize,
}

/// The step of an apply that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Write,
    Reload,
    Verify,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Write => "write",
            Stage::Reload => "reload",
            Stage::Verify => "verification",
        })
    }
}

/// Why an apply, rollback or rollout did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Authorization, lookup or storage failed before anything was written.
    #[error(transparent)]
    Provisioning(#[from] Error),
    /// The data does not render (every lint problem is listed).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PBX server is disabled: no ingestor talks to it.
    #[error("PBX {pbx} is disabled")]
    Disabled { pbx: String },
    /// The deployment to roll back to never went live.
    #[error(
        "deployment version {version} was not applied (result {result}); only applied versions can be re-applied"
    )]
    NotApplied { version: i64, result: String },
    /// A bad argument (empty rollout, zero batch size, repeated PBX).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A step failed; the previous files were put back, reloaded, and the
    /// attempt recorded as `restored`.
    #[error(
        "{stage} failed on PBX {pbx}: {reason}; previous configuration restored (attempt recorded as version {version})"
    )]
    Restored {
        pbx: String,
        stage: Stage,
        reason: String,
        version: i64,
    },
    /// A step failed and putting the previous files back failed too: the PBX
    /// needs a person. Recorded as `failed`.
    #[error(
        "{stage} failed on PBX {pbx}: {reason}; restoring the previous configuration ALSO failed: {restore}"
    )]
    RestoreFailed {
        pbx: String,
        stage: Stage,
        reason: String,
        restore: String,
    },
}

/// One PBX of a rollout.
#[derive(Debug)]
pub enum RolloutStep {
    Applied(DeploymentResult),
    /// Failed (and, for [`ApplyError::Restored`], put back).
    Failed(ApplyError),
    /// Not attempted: the rollout stopped before it.
    Skipped,
}

/// The outcome of a rollout, one entry per PBX in the order given.
#[derive(Debug)]
pub struct RolloutReport {
    pub steps: Vec<(Uuid, RolloutStep)>,
    /// The PBX whose failure stopped the rollout.
    pub stopped_at: Option<Uuid>,
}

impl RolloutReport {
    /// True when every PBX applied (or was already up to date).
    #[must_use]
    pub fn completed(&self) -> bool {
        self.stopped_at.is_none()
    }
}

/// Applies configuration to PBXs; one per process.
pub struct Deployer {
    prov: Arc<Provisioning>,
    settings: ApplySettings,
    locks: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// What is written where, and how to undo it.
enum Target {
    Dir(PathBuf),
    Ami,
}

/// Where the PBX is on the bus, and who asks.
struct Remote {
    subject: String,
    requested_by: String,
    name: String,
}

fn admin_only(actor: &Actor) -> Result<(), Error> {
    if matches!(actor.role, Role::PlatformAdmin | Role::TenantAdmin) {
        Ok(())
    } else {
        Err(Error::Forbidden("administrators only"))
    }
}

impl Deployer {
    #[must_use]
    pub fn new(prov: Arc<Provisioning>, settings: ApplySettings) -> Deployer {
        Deployer {
            prov,
            settings,
            locks: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn lock_of(&self, pbx_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(pbx_id).or_default().clone()
    }

    /// What [`Deployer::apply`] would write and reload; writes nothing.
    ///
    /// # Errors
    /// `Forbidden` (administrators only: the files hold secrets),
    /// `NotFound`, [`ApplyError::Render`].
    pub async fn dry_run(&self, actor: &Actor, pbx_id: Uuid) -> Result<Plan, ApplyError> {
        admin_only(actor)?;
        let pbx = self.prov.get_pbx_server(actor, pbx_id).await?;
        let input = self.prov.load_render_input(&actor.tenant, pbx.id).await?;
        let rendered = render::render(&input)?;
        self.plan(actor, pbx_id, rendered).await
    }

    async fn plan(
        &self,
        actor: &Actor,
        pbx_id: Uuid,
        target: Rendered,
    ) -> Result<Plan, ApplyError> {
        let last = self.prov.last_deployment(actor, pbx_id, APPLIED).await?;
        let base_version = last.as_ref().map(|d| d.version);
        let base = match last {
            Some(d) => Rendered::from_files(d.files)
                .map_err(|e| Error::Internal(format!("last deployment: {e}")))?,
            None => Rendered::default(),
        };
        let diff = render::diff(&base, &target);
        Ok(Plan {
            pbx_id,
            changed: diff.changed_files().map(str::to_owned).collect(),
            reloads: diff.reloads.clone(),
            files: target.into_files(),
            diff,
            base_version,
        })
    }

    /// Renders and applies PBX `pbx_id`'s configuration.
    ///
    /// # Errors
    /// Before anything is written: `Forbidden`, `NotFound`,
    /// [`ApplyError::Disabled`], [`ApplyError::Render`]. After:
    /// [`ApplyError::Restored`] or [`ApplyError::RestoreFailed`].
    pub async fn apply(&self, actor: &Actor, pbx_id: Uuid) -> Result<DeploymentResult, ApplyError> {
        admin_only(actor)?;
        let pbx = self.prov.get_pbx_server(actor, pbx_id).await?;
        let lock = self.lock_of(pbx_id);
        let _guard = lock.lock().await;
        let input = self.prov.load_render_input(&actor.tenant, pbx.id).await?;
        let rendered = render::render(&input)?;
        let plan = self.plan(actor, pbx_id, rendered).await?;
        self.execute(actor, &pbx, plan).await
    }

    /// Re-applies the files of an earlier deployment of `pbx_id` (recorded
    /// as a new `applied` version).
    ///
    /// # Errors
    /// As [`Deployer::apply`]; `NotFound` for an unknown deployment,
    /// [`ApplyError::NotApplied`] for one that never went live.
    pub async fn rollback(
        &self,
        actor: &Actor,
        pbx_id: Uuid,
        deployment_id: Uuid,
    ) -> Result<DeploymentResult, ApplyError> {
        admin_only(actor)?;
        let pbx = self.prov.get_pbx_server(actor, pbx_id).await?;
        let lock = self.lock_of(pbx_id);
        let _guard = lock.lock().await;
        let wanted = self.find_deployment(actor, pbx_id, deployment_id).await?;
        if wanted.result != APPLIED {
            return Err(ApplyError::NotApplied {
                version: wanted.version,
                result: wanted.result,
            });
        }
        let target = Rendered::from_files(wanted.files)
            .map_err(|e| Error::Internal(format!("deployment {deployment_id}: {e}")))?;
        let plan = self.plan(actor, pbx_id, target).await?;
        self.execute(actor, &pbx, plan).await
    }

    async fn find_deployment(
        &self,
        actor: &Actor,
        pbx_id: Uuid,
        deployment_id: Uuid,
    ) -> Result<Deployment, ApplyError> {
        let mut page = Page {
            limit: 200,
            offset: 0,
        };
        loop {
            let got = self.prov.list_deployments(actor, pbx_id, page).await?;
            let n = got.items.len();
            if let Some(d) = got.items.into_iter().find(|d| d.id == deployment_id) {
                return Ok(d);
            }
            if n == 0 || page.offset + n as u64 >= got.total {
                return Err(Error::NotFound {
                    entity: "deployment",
                }
                .into());
            }
            page.offset += n as u64;
        }
    }

    /// Applies to `pbx_ids` in stages: the first alone (the canary), then
    /// the rest `batch_size` at a time (a batch runs concurrently). Stops
    /// after the first batch with a failure; the failed PBX is restored by
    /// its apply, the ones after it are skipped.
    ///
    /// # Errors
    /// `Forbidden`; [`ApplyError::Invalid`] for no PBX, a batch size of 0
    /// or a PBX given twice. Per-PBX failures are in the report.
    pub async fn rollout(
        &self,
        actor: &Actor,
        pbx_ids: &[Uuid],
        batch_size: usize,
    ) -> Result<RolloutReport, ApplyError> {
        admin_only(actor)?;
        if pbx_ids.is_empty() {
            return Err(ApplyError::Invalid("no PBX to roll out to".to_owned()));
        }
        if batch_size == 0 {
            return Err(ApplyError::Invalid(
                "batch size must be at least 1".to_owned(),
            ));
        }
        let distinct: BTreeSet<&Uuid> = pbx_ids.iter().collect();
        if distinct.len() != pbx_ids.len() {
            return Err(ApplyError::Invalid("a PBX is listed twice".to_owned()));
        }
        let (canary, rest) = pbx_ids.split_at(1);
        let batches = std::iter::once(canary).chain(rest.chunks(batch_size));
        let mut steps: Vec<(Uuid, RolloutStep)> = Vec::with_capacity(pbx_ids.len());
        let mut stopped_at = None;
        for batch in batches {
            if stopped_at.is_some() {
                steps.extend(batch.iter().map(|id| (*id, RolloutStep::Skipped)));
                continue;
            }
            let results =
                futures::future::join_all(batch.iter().map(|id| self.apply(actor, *id))).await;
            for (id, result) in batch.iter().zip(results) {
                match result {
                    Ok(done) => steps.push((*id, RolloutStep::Applied(done))),
                    Err(e) => {
                        tracing::warn!(pbx_id = %id, error = %e, "rollout stopped");
                        stopped_at.get_or_insert(*id);
                        steps.push((*id, RolloutStep::Failed(e)));
                    }
                }
            }
        }
        Ok(RolloutReport { steps, stopped_at })
    }

    /// Write → reload → verify → record, undoing on failure.
    async fn execute(
        &self,
        actor: &Actor,
        pbx: &PbxServer,
        plan: Plan,
    ) -> Result<DeploymentResult, ApplyError> {
        if plan.diff.is_empty() {
            return Ok(DeploymentResult {
                pbx_id: pbx.id,
                outcome: Outcome::Unchanged,
                deployment: None,
                changed: Vec::new(),
                reloads: Vec::new(),
                verified_endpoints: 0,
            });
        }
        if !pbx.enabled {
            return Err(ApplyError::Disabled {
                pbx: pbx.name.clone(),
            });
        }
        let remote = Remote {
            subject: self.subject(&actor.tenant, &pbx.name)?,
            requested_by: format!("{}@{}", actor.username, actor.tenant),
            name: pbx.name.clone(),
        };
        let target = match pbx.apply_mode {
            ApplyMode::File => Target::Dir(PathBuf::from(&pbx.config_dir)),
            ApplyMode::Ami => Target::Ami,
        };
        // What was there before: the undo.
        let base = match self.prov.last_deployment(actor, pbx.id, APPLIED).await? {
            Some(d) => d.files,
            None => BTreeMap::new(),
        };
        let diff_text: String = plan.diff.files.iter().map(|f| f.unified.as_str()).collect();
        tracing::info!(
            pbx = %pbx.name, changed = ?plan.changed, reloads = ?plan.reloads,
            "applying configuration"
        );

        let mut written: Vec<(String, Option<String>)> = Vec::new();
        let failure = match self
            .write_all(&target, &remote, &plan, &base, &mut written)
            .await
        {
            Err(reason) => Some((Stage::Write, reason)),
            Ok(()) => match self.reload_all(&remote, &plan.reloads).await {
                Err(reason) => Some((Stage::Reload, reason)),
                Ok(()) => None,
            },
        };
        let mut verified = 0;
        let failure = match failure {
            Some(f) => Some(f),
            None if plan.reloads.contains(&Reload::Pjsip) => {
                match self.verify(&remote, &plan.files).await {
                    Ok(n) => {
                        verified = n;
                        None
                    }
                    Err(reason) => Some((Stage::Verify, reason)),
                }
            }
            None => None,
        };

        let Some((stage, reason)) = failure else {
            let deployment = self
                .prov
                .record_deployment(
                    actor,
                    NewDeployment {
                        pbx_id: pbx.id,
                        files: plan.files,
                        diff: diff_text,
                        result: APPLIED.to_owned(),
                    },
                )
                .await?;
            tracing::info!(pbx = %pbx.name, version = deployment.version, "configuration applied");
            return Ok(DeploymentResult {
                pbx_id: pbx.id,
                outcome: Outcome::Applied,
                deployment: Some(deployment),
                changed: plan.changed,
                reloads: plan.reloads,
                verified_endpoints: verified,
            });
        };

        tracing::warn!(pbx = %pbx.name, %stage, %reason, "apply failed; restoring the previous configuration");
        let restore = self.restore(&target, &remote, &written, stage, &plan).await;
        let result = if restore.is_ok() { RESTORED } else { FAILED };
        let recorded = self
            .prov
            .record_deployment(
                actor,
                NewDeployment {
                    pbx_id: pbx.id,
                    files: plan.files,
                    diff: diff_text,
                    result: result.to_owned(),
                },
            )
            .await;
        match (restore, recorded) {
            (Ok(()), Ok(d)) => Err(ApplyError::Restored {
                pbx: pbx.name.clone(),
                stage,
                reason,
                version: d.version,
            }),
            (Ok(()), Err(e)) => Err(ApplyError::Restored {
                pbx: pbx.name.clone(),
                stage,
                reason: format!("{reason} (and recording the attempt failed: {e})"),
                version: 0,
            }),
            (Err(restore), _) => {
                tracing::error!(pbx = %pbx.name, %restore, "restoring the previous configuration failed");
                Err(ApplyError::RestoreFailed {
                    pbx: pbx.name.clone(),
                    stage,
                    reason,
                    restore,
                })
            }
        }
    }

    fn subject(&self, tenant: &str, pbx: &str) -> Result<String, Error> {
        let tenant = TenantId::new(tenant).map_err(|_| Error::Forbidden("invalid tenant"))?;
        let pbx = PbxId::new(pbx).map_err(|e| Error::Internal(format!("PBX name: {e}")))?;
        Ok(self.prov.topology().subjects().ami_action(&tenant, &pbx))
    }

    /// Writes the changed files; `written` collects each file written with
    /// its previous content (the undo), even when a later one fails.
    async fn write_all(
        &self,
        target: &Target,
        remote: &Remote,
        plan: &Plan,
        base: &BTreeMap<String, String>,
        written: &mut Vec<(String, Option<String>)>,
    ) -> Result<(), String> {
        for name in &plan.changed {
            let new = plan.files.get(name).map(String::as_str);
            match target {
                Target::Dir(dir) => {
                    let (dir, file, content) = (dir.clone(), name.clone(), new.map(str::to_owned));
                    let previous = tokio::task::spawn_blocking(move || {
                        write_file(&dir, &file, content.as_deref(), true)
                    })
                    .await
                    .map_err(|e| format!("writing {name}: {e}"))??;
                    written.push((name.clone(), previous));
                }
                Target::Ami => {
                    self.update_config(remote, name, new.unwrap_or_default())
                        .await?;
                    written.push((name.clone(), base.get(name).cloned()));
                }
            }
        }
        Ok(())
    }

    /// Puts back what `written` replaced and runs the reloads again. After a
    /// failed write nothing was reloaded, so nothing is.
    async fn restore(
        &self,
        target: &Target,
        remote: &Remote,
        written: &[(String, Option<String>)],
        stage: Stage,
        plan: &Plan,
    ) -> Result<(), String> {
        for (name, previous) in written.iter().rev() {
            match target {
                Target::Dir(dir) => {
                    let (dir, file, content) = (dir.clone(), name.clone(), previous.clone());
                    tokio::task::spawn_blocking(move || {
                        write_file(&dir, &file, content.as_deref(), false)
                    })
                    .await
                    .map_err(|e| format!("restoring {name}: {e}"))??;
                }
                Target::Ami => {
                    self.update_config(remote, name, previous.as_deref().unwrap_or_default())
                        .await?;
                }
            }
        }
        if stage != Stage::Write {
            self.reload_all(remote, &plan.reloads).await?;
        }
        Ok(())
    }

    /// One AMI action through the ingestor; an ingestor failure or an
    /// `Error` response is an `Err` with the reason.
    async fn action(
        &self,
        remote: &Remote,
        headers: Vec<(String, String)>,
    ) -> Result<ActionReply, String> {
        let name = headers.first().map(|(_, v)| v.clone()).unwrap_or_default();
        let request = ActionRequest {
            headers,
            requested_by: remote.requested_by.clone(),
            timeout_ms: u64::try_from(self.settings.action_timeout.as_millis()).ok(),
        };
        let payload = serde_json::to_vec(&request).map_err(|e| format!("{name}: encoding: {e}"))?;
        let answer = self
            .prov
            .bus()
            .request(
                &remote.subject,
                Outgoing::new(payload),
                self.settings.action_timeout + Duration::from_secs(1),
            )
            .await
            .map_err(|e| format!("{name} on {}: {e}", remote.name))?;
        let reply: ActionReply = serde_json::from_slice(&answer.payload)
            .map_err(|e| format!("{name}: unreadable reply: {e}"))?;
        if let Some(failure) = &reply.error {
            return Err(format!("{name}: {} ({})", failure.message, failure.code));
        }
        let response = reply
            .response
            .as_ref()
            .ok_or_else(|| format!("{name}: no response"))?;
        if !response
            .get("Response")
            .is_some_and(|r| r.eq_ignore_ascii_case("Success"))
        {
            return Err(format!(
                "{name}: {}",
                response.get("Message").unwrap_or("error")
            ));
        }
        Ok(reply)
    }

    async fn reload_all(&self, remote: &Remote, reloads: &[Reload]) -> Result<(), String> {
        for reload in reloads {
            let command = reload.command();
            let reply = self
                .action(
                    remote,
                    vec![
                        ("Action".to_owned(), "Command".to_owned()),
                        ("Command".to_owned(), command.to_owned()),
                    ],
                )
                .await?;
            let output = command_output(&reply);
            if let Some(line) = output.iter().find(|l| reports_failure(l)) {
                return Err(format!("`{command}`: {line}"));
            }
            tracing::debug!(pbx = %remote.name, command, ?output, "reloaded");
        }
        Ok(())
    }

    /// Checks that every endpoint of the rendered PJSIP files is listed;
    /// returns how many were checked.
    async fn verify(
        &self,
        remote: &Remote,
        files: &BTreeMap<String, String>,
    ) -> Result<usize, String> {
        let expected: BTreeSet<String> = files
            .iter()
            .filter(|(name, _)| ConfigFile::from_file_name(name).is_some_and(is_pjsip))
            .flat_map(|(_, text)| endpoint_names(text))
            .collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reply = self
                .action(
                    remote,
                    vec![("Action".to_owned(), "PJSIPShowEndpoints".to_owned())],
                )
                .await?;
            let listed: BTreeSet<&str> = reply
                .events
                .iter()
                .filter(|e| e.name.eq_ignore_ascii_case("EndpointList"))
                .filter_map(|e| e.get("ObjectName"))
                .collect();
            let missing: Vec<&str> = expected
                .iter()
                .map(String::as_str)
                .filter(|n| !listed.contains(n))
                .collect();
            if missing.is_empty() {
                return Ok(expected.len());
            }
            if attempt >= self.settings.verify_attempts.max(1) {
                let shown: Vec<&str> = missing.iter().take(5).copied().collect();
                return Err(format!(
                    "{} of {} rendered endpoint(s) not listed by PJSIPShowEndpoints after the reload: {}{}",
                    missing.len(),
                    expected.len(),
                    shown.join(", "),
                    if missing.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                ));
            }
            tokio::time::sleep(self.settings.verify_interval).await;
        }
    }

    /// Replaces a file's content on the PBX with `UpdateConfig`.
    async fn update_config(&self, remote: &Remote, file: &str, text: &str) -> Result<(), String> {
        let current = self
            .action(
                remote,
                vec![
                    ("Action".to_owned(), "GetConfig".to_owned()),
                    ("Filename".to_owned(), file.to_owned()),
                ],
            )
            .await
            .map_err(|e| {
                format!("{e} ({file} must exist on the PBX, even empty, to be written over AMI)")
            })?;
        let existing: Vec<String> = current
            .response
            .iter()
            .flat_map(|r| r.headers.iter())
            .filter(|(k, _)| k.starts_with("Category-"))
            .filter_map(|(_, v)| v.clone())
            .collect();
        let ops = update_ops(&existing, &parse_sections(text));
        for chunk in ops.chunks(OPS_PER_UPDATE) {
            let mut headers = vec![
                ("Action".to_owned(), "UpdateConfig".to_owned()),
                ("SrcFilename".to_owned(), file.to_owned()),
                ("DstFilename".to_owned(), file.to_owned()),
            ];
            for (i, op) in chunk.iter().enumerate() {
                op.push_headers(i, &mut headers);
            }
            self.action(remote, headers)
                .await
                .map_err(|e| format!("writing {file}: {e}"))?;
        }
        Ok(())
    }
}

fn is_pjsip(file: ConfigFile) -> bool {
    file.reload() == Reload::Pjsip
}

/// The `Output` lines of a `Command` reply (modern `Output:` headers, or a
/// legacy `Response: Follows` body).
fn command_output(reply: &ActionReply) -> Vec<String> {
    let Some(response) = &reply.response else {
        return Vec::new();
    };
    let mut lines: Vec<String> = response
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Output"))
        .filter_map(|(_, v)| v.clone())
        .collect();
    if let Some(body) = &response.output {
        lines.extend(body.lines().map(str::to_owned));
    }
    lines
}

/// Whether a CLI output line of a reload reports that it did not work
/// (`The module 'x' reported a reload failure`, `No such module 'x'`,
/// `Unable to …`, `… failed …`).
fn reports_failure(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    [
        "fail",
        "no such",
        "unable",
        "error",
        "not found",
        "not properly initialized",
    ]
    .iter()
    .any(|w| l.contains(w))
}

/// One section of a rendered file: name and `(key, value, object)` with
/// `object` for `key => value`. Values are unescaped (`\;` → `;`), as
/// Asterisk's parser reads them.
type Section = (String, Vec<(String, String, bool)>);

fn parse_sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let mut line = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&';') => {
                    chars.next();
                    line.push(';');
                }
                ';' => break,
                _ => line.push(c),
            }
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                out.push((rest[..end].trim().to_owned(), Vec::new()));
            }
            continue;
        }
        let Some(eq) = line.find('=') else { continue };
        let (key, value) = (line[..eq].trim(), &line[eq + 1..]);
        let (value, object) = match value.strip_prefix('>') {
            Some(v) => (v, true),
            None => (value, false),
        };
        if let Some((_, vars)) = out.last_mut() {
            vars.push((key.to_owned(), value.trim().to_owned(), object));
        }
    }
    out
}

/// Names of the sections with `type=endpoint`.
fn endpoint_names(text: &str) -> Vec<String> {
    parse_sections(text)
        .into_iter()
        .filter(|(_, vars)| {
            vars.iter().any(|(k, v, _)| {
                k.eq_ignore_ascii_case("type") && v.eq_ignore_ascii_case("endpoint")
            })
        })
        .map(|(name, _)| name)
        .collect()
}

/// One `Action-NNNNNN` of an `UpdateConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    DelCat(String),
    /// New category inserted before the first one named `before`, if any.
    NewCat {
        cat: String,
        before: Option<String>,
    },
    Append {
        cat: String,
        var: String,
        value: String,
    },
}

impl Op {
    fn push_headers(&self, i: usize, headers: &mut Vec<(String, String)>) {
        let mut h = |k: &str, v: &str| headers.push((format!("{k}-{i:06}"), v.to_owned()));
        match self {
            Op::DelCat(cat) => {
                h("Action", "DelCat");
                h("Cat", cat);
            }
            Op::NewCat { cat, before } => {
                h("Action", "NewCat");
                h("Cat", cat);
                h("Options", "allowdups");
                if let Some(b) = before {
                    h("Match", b);
                }
            }
            Op::Append { cat, var, value } => {
                h("Action", "Append");
                h("Cat", cat);
                h("Var", var);
                h("Value", value);
            }
        }
    }
}

/// The operations that turn a file with categories `existing` into
/// `sections`: delete every existing category, then create the new ones
/// last-first, each in front of the file, and fill it while it is the first
/// of its name (see the module docs).
fn update_ops(existing: &[String], sections: &[Section]) -> Vec<Op> {
    let mut ops: Vec<Op> = existing.iter().map(|c| Op::DelCat(c.clone())).collect();
    let mut front: Option<&str> = None;
    for (name, vars) in sections.iter().rev() {
        ops.push(Op::NewCat {
            cat: name.clone(),
            before: front.map(str::to_owned),
        });
        for (var, value, object) in vars {
            // `>` marks `key => value` (an object line) for Asterisk.
            let value = if *object {
                format!(">{value}")
            } else {
                value.clone()
            };
            ops.push(Op::Append {
                cat: name.clone(),
                var: var.clone(),
                value,
            });
        }
        front = Some(name);
    }
    ops
}

/// `<name>.<YYYYMMDDTHHMMSSmmmZ>.bak`
fn backup_name(name: &str) -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{name}.{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z.bak",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Replaces `dir/name` with `content` atomically (temporary file, fsync,
/// rename, directory fsync), or removes it for `None`. With `backup`, an
/// existing file is first copied to a timestamped backup. Returns the
/// previous content.
fn write_file(
    dir: &Path,
    name: &str,
    content: Option<&str>,
    backup: bool,
) -> Result<Option<String>, String> {
    let path = dir.join(name);
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading", e)),
    };
    if backup && previous.is_some() {
        let to = dir.join(backup_name(name));
        std::fs::copy(&path, &to).map_err(|e| io("backing up", e))?;
    }
    match content {
        Some(text) => {
            let tmp = dir.join(format!(".{name}.ringside-tmp"));
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| io("creating a temporary file for", e))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| io("writing", e))?;
            drop(f);
            std::fs::rename(&tmp, &path).map_err(|e| io("renaming into", e))?;
        }
        None => {
            if previous.is_some() {
                std::fs::remove_file(&path).map_err(|e| io("removing", e))?;
            }
        }
    }
    // The rename is durable once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("syncing {}: {e}", dir.display()))?;
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_unescape_and_mark_objects() {
        let s = parse_sections(
            "; c\n[gw]\ntype=endpoint\ncontact=sip:h:5061\\;transport=tls\n[gw]\ntype=aor\n\
             [from-internal]\nexten => 112,1,Dial(PJSIP/${EXTEN}@gw)\n same => n,Hangup()\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].1[1].1, "sip:h:5061;transport=tls");
        assert_eq!(s[2].1[1], ("same".into(), "n,Hangup()".into(), true));
        assert_eq!(
            endpoint_names("[a]\ntype=endpoint\n[a]\ntype=aor\n[b-auth]\ntype=auth\n"),
            ["a"]
        );
    }

    #[test]
    fn update_ops_rebuild_repeated_sections_front_to_back() {
        let sections = parse_sections("[a]\ntype=endpoint\n[a]\ntype=aor\n");
        let ops = update_ops(&["old".into()], &sections);
        assert_eq!(
            ops,
            [
                Op::DelCat("old".into()),
                Op::NewCat {
                    cat: "a".into(),
                    before: None
                },
                Op::Append {
                    cat: "a".into(),
                    var: "type".into(),
                    value: "aor".into()
                },
                Op::NewCat {
                    cat: "a".into(),
                    before: Some("a".into())
                },
                Op::Append {
                    cat: "a".into(),
                    var: "type".into(),
                    value: "endpoint".into()
                },
            ]
        );
    }

    #[test]
    fn reload_failures_are_read_from_the_cli_output() {
        assert!(reports_failure(
            "The module 'res_pjsip.so' reported a reload failure"
        ));
        assert!(reports_failure("No such module 'res_pjsip.so'"));
        assert!(!reports_failure(
            "Module 'res_pjsip.so' reloaded successfully."
        ));
        assert!(!reports_failure("Dialplan reloaded."));
    }

    #[test]
    fn files_are_replaced_with_a_backup_and_restored_exactly() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            write_file(dir.path(), "a.conf", Some("one\n"), true).unwrap(),
            None
        );
        let before = write_file(dir.path(), "a.conf", Some("two\n"), true).unwrap();
        assert_eq!(before.as_deref(), Some("one\n"));
        let backups: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("a.conf.") && n.ends_with(".bak"))
            .collect();
        assert_eq!(backups.len(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&backups[0])).unwrap(),
            "one\n"
        );
        write_file(dir.path(), "a.conf", None, false).unwrap();
        assert!(!dir.path().join("a.conf").exists());
    }
}
