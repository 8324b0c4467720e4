//! Safe apply end to end: provisioning on SQLite in a temporary directory,
//! the real AMI ingestor on an in-process bus (it learns the PBXs from the
//! provisioning registry, as in production), and pbx-sim PBXs on loopback,
//! each serving its own configuration directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ringside_ami_ingestor::actions::{ActionReply, ActionRequest};
use ringside_ami_ingestor::{Deps, IngestorSettings};
use ringside_bus::{Outgoing, PbxId, TenantId};
use ringside_pbx_sim::{SimConfig, Simulator};
use ringside_provisioning::apply::{
    ApplyError, ApplySettings, Deployer, Outcome, RolloutStep, Stage,
};
use ringside_provisioning::crypto::SecretKey;
use ringside_provisioning::render::Reload;
use ringside_provisioning::{
    Actor, ApplyMode, CustomerInput, CustomerType, Error, ExtensionInput, GatewayInput, Page,
    PbxServerInput, ProviderInput, Provisioning, Role, Status, Store, TenantInput,
};
use ringside_testkit::TestBus;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TENANT: &str = "acme";
const FILES: [&str; 5] = [
    "extensions_dids.conf",
    "extensions_routes.conf",
    "pjsip_customer_trunks.conf",
    "pjsip_extensions.conf",
    "pjsip_gateways.conf",
];

fn actor(tenant: &str, role: Role) -> Actor {
    Actor {
        user_id: None,
        username: "alice".to_owned(),
        tenant: tenant.to_owned(),
        role,
    }
}

/// One simulated PBX known to provisioning.
struct Pbx {
    id: Uuid,
    name: String,
    sim: Simulator,
    dir: PathBuf,
}

/// Provisioning, the ingestor, the bus and the PBXs of one test.
struct Lab {
    prov: Arc<Provisioning>,
    deployer: Deployer,
    test: TestBus,
    admin: Actor,
    extensions: BTreeMap<String, Uuid>,
    customer: Uuid,
    shutdown: CancellationToken,
    ingestor: JoinHandle<anyhow::Result<()>>,
    pbxs: Vec<Pbx>,
    tmp: tempfile::TempDir,
}

impl Lab {
    /// The services, tenant `acme` with one gateway, one customer and
    /// extensions 2001 and 2002 (rendered for every PBX of the tenant).
    async fn start() -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let test = TestBus::in_process();
        let store = Store::open(&ringside_provisioning::DatabaseSettings {
            url: None,
            data_dir: tmp.path().join("data"),
            max_connections: 4,
        })
        .await
        .unwrap();
        let prov = Arc::new(
            Provisioning::with_store(
                store,
                &SecretKey::generate(),
                test.bus.clone(),
                test.topology.clone(),
            )
            .await
            .unwrap(),
        );
        prov.create_tenant(
            &actor("platform", Role::PlatformAdmin),
            TenantInput {
                slug: TENANT.into(),
                name: "Acme".into(),
            },
        )
        .await
        .unwrap();
        let admin = actor(TENANT, Role::TenantAdmin);
        let provider = prov
            .create_provider(
                &admin,
                ProviderInput {
                    name: "Acme Telecom".into(),
                    kind: "sip".into(),
                    cost_per_minute: Default::default(),
                },
            )
            .await
            .unwrap();
        prov.create_gateway(
            &admin,
            GatewayInput {
                name: "carrier-a".into(),
                provider_id: Some(provider.id),
                ip_address: "203.0.113.10".into(),
                port: 5060,
                transport: Default::default(),
                codecs: vec!["alaw".into(), "ulaw".into()],
                tech_prefix: String::new(),
                registration_username: None,
                registration_secret: None,
                status: Default::default(),
            },
        )
        .await
        .unwrap();
        let customer = prov
            .create_customer(
                &admin,
                CustomerInput {
                    code: "OFFICE".into(),
                    name: "Office".into(),
                    kind: CustomerType::Extension,
                    trunk_ip: None,
                    channel_limit: None,
                    status: Status::Active,
                },
            )
            .await
            .unwrap()
            .id;
        let mut settings = IngestorSettings {
            action_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(4),
            max_backoff: Duration::from_millis(300),
            ..IngestorSettings::default()
        };
        settings.lease.ttl = Duration::from_secs(3);
        settings.lease.renew_every = Duration::from_millis(300);
        let shutdown = CancellationToken::new();
        let ingestor = tokio::spawn(ringside_ami_ingestor::run(
            settings,
            Deps {
                bus: test.bus.clone(),
                topology: test.topology.clone(),
            },
            shutdown.clone(),
        ));
        let deployer = Deployer::new(
            prov.clone(),
            ApplySettings {
                action_timeout: Duration::from_secs(5),
                verify_attempts: 2,
                verify_interval: Duration::from_millis(200),
            },
        );
        let mut lab = Lab {
            prov,
            deployer,
            test,
            admin,
            extensions: BTreeMap::new(),
            customer,
            shutdown,
            ingestor,
            pbxs: Vec::new(),
            tmp,
        };
        lab.set_extension("2001", "Alice Smith <2001>").await;
        lab.set_extension("2002", "Bob <2002>").await;
        lab
    }

    /// Creates or updates an extension's caller ID.
    async fn set_extension(&mut self, number: &str, caller_id: &str) {
        let input = ExtensionInput {
            extension: number.into(),
            secret: Some(format!("Sx{number}-q8Lw2Zr")),
            customer_id: Some(self.customer),
            caller_id: caller_id.into(),
            codecs: vec!["alaw".into()],
            max_contacts: 1,
        };
        match self.extensions.get(number) {
            Some(id) => {
                self.prov
                    .update_extension(&self.admin, *id, input)
                    .await
                    .unwrap();
            }
            None => {
                let e = self
                    .prov
                    .create_extension(&self.admin, input)
                    .await
                    .unwrap();
                self.extensions.insert(number.to_owned(), e.id);
            }
        }
    }

    /// A simulated PBX with its own configuration directory, registered in
    /// provisioning, once the ingestor answers actions for it.
    async fn add_pbx(&mut self, mode: ApplyMode) -> usize {
        let n = self.pbxs.len();
        let name = format!("pbx-{n}");
        let sim = ringside_pbx_sim::start(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            username: "lab".into(),
            secret: "labsecret".into(),
            endpoints: 2,
            trunks: 1,
            calls_per_second: 0.0,
            seed: 7 + n as u64,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = self.tmp.path().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        sim.use_config_dir(&dir).unwrap();
        let server = self
            .prov
            .create_pbx_server(
                &self.admin,
                PbxServerInput {
                    name: name.clone(),
                    host: "127.0.0.1".into(),
                    port: i64::from(sim.local_addr().port()),
                    username: "lab".into(),
                    secret: Some("labsecret".into()),
                    tls: false,
                    apply_mode: mode,
                    config_dir: dir.to_str().unwrap().to_owned(),
                    enabled: true,
                },
            )
            .await
            .unwrap();
        self.pbxs.push(Pbx {
            id: server.id,
            name,
            sim,
            dir,
        });
        self.wait_connected(n).await;
        n
    }

    async fn ask(&self, pbx: usize, headers: &[(&str, &str)]) -> Result<ActionReply, String> {
        let subject = self.test.topology.subjects().ami_action(
            &TenantId::new(TENANT).unwrap(),
            &PbxId::new(self.pbxs[pbx].name.as_str()).unwrap(),
        );
        let request = ActionRequest {
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            requested_by: "test".into(),
            timeout_ms: Some(3000),
        };
        let answer = self
            .test
            .bus
            .request(
                &subject,
                Outgoing::new(serde_json::to_vec(&request).unwrap()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| e.to_string())?;
        let reply: ActionReply = serde_json::from_slice(&answer.payload).unwrap();
        match &reply.error {
            Some(e) => Err(e.message.clone()),
            None => Ok(reply),
        }
    }

    async fn wait_connected(&self, pbx: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.ask(pbx, &[("Action", "Ping")]).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ingestor never served {}",
                self.pbxs[pbx].name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Endpoint names `PJSIPShowEndpoints` lists.
    async fn listed_endpoints(&self, pbx: usize) -> Vec<String> {
        let reply = self
            .ask(pbx, &[("Action", "PJSIPShowEndpoints")])
            .await
            .unwrap();
        reply
            .events
            .iter()
            .filter(|e| e.name == "EndpointList")
            .filter_map(|e| e.get("ObjectName").map(str::to_owned))
            .collect()
    }

    fn id(&self, pbx: usize) -> Uuid {
        self.pbxs[pbx].id
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.ingestor.await.unwrap().unwrap();
        for p in self.pbxs {
            p.sim.shutdown().await;
        }
        self.prov.store().close().await;
    }
}

/// The rendered files in a directory (backups and other files left out).
fn files_in(dir: &Path) -> BTreeMap<String, String> {
    FILES
        .iter()
        .filter_map(|name| {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .map(|text| ((*name).to_owned(), text))
        })
        .collect()
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_returns_the_files_and_the_diff_and_writes_nothing() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let plan = lab.deployer.dry_run(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(plan.base_version, None);
    assert_eq!(plan.changed, FILES);
    assert_eq!(plan.reloads, [Reload::Pjsip, Reload::Dialplan]);
    assert!(plan.files["pjsip_extensions.conf"].contains("callerid=\"Alice Smith\" <2001>"));
    assert!(plan.diff.files.iter().all(|f| f.unified.contains("+++ b/")));
    assert!(files_in(&lab.pbxs[p].dir).is_empty(), "nothing written");
    assert!(lab.pbxs[p].sim.reloads().is_empty(), "nothing reloaded");
    let recorded = lab
        .prov
        .list_deployments(&lab.admin, lab.id(p), Page::default())
        .await
        .unwrap();
    assert_eq!(recorded.total, 0, "a dry run records nothing");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_writes_files_with_backups_and_the_endpoints_appear() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let dir = lab.pbxs[p].dir.clone();
    std::fs::write(dir.join("pjsip_extensions.conf"), "; hand-made\n").unwrap();
    assert!(!lab.listed_endpoints(p).await.contains(&"2001".to_owned()));

    let done = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(done.outcome, Outcome::Applied);
    assert_eq!(done.changed, FILES);
    assert_eq!(done.reloads, [Reload::Pjsip, Reload::Dialplan]);
    assert_eq!(done.verified_endpoints, 3, "two extensions and a gateway");
    let deployment = done.deployment.unwrap();
    assert_eq!(
        (deployment.version, deployment.result.as_str()),
        (1, "applied")
    );
    assert_eq!(deployment.author, "alice");
    assert_eq!(
        files_in(&dir),
        deployment.files,
        "the files on disk are the deployment's"
    );

    let backups = backups_in(&dir);
    assert_eq!(
        backups.len(),
        1,
        "only the replaced file is backed up: {backups:?}"
    );
    assert!(backups[0].starts_with("pjsip_extensions.conf."));
    assert_eq!(
        std::fs::read_to_string(dir.join(&backups[0])).unwrap(),
        "; hand-made\n"
    );
    assert_eq!(lab.pbxs[p].sim.reloads(), ["res_pjsip.so", "pbx_config.so"]);
    let listed = lab.listed_endpoints(p).await;
    for name in ["2001", "2002", "gw-carrier-a"] {
        assert!(listed.contains(&name.to_owned()), "{name} in {listed:?}");
    }

    let again = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert!(again.deployment.is_none());
    assert_eq!(
        lab.pbxs[p].sim.reloads().len(),
        2,
        "no reload without a change"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_id_change_rewrites_only_pjsip_extensions_and_reloads_only_res_pjsip() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let dir = lab.pbxs[p].dir.clone();
    lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    let before = files_in(&dir);
    let modified = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .modified()
            .unwrap()
    };
    let times: BTreeMap<&str, _> = FILES.iter().map(|f| (*f, modified(f))).collect();
    tokio::time::sleep(Duration::from_millis(20)).await;

    lab.set_extension("2001", "Alice Jones <2001>").await;
    let plan = lab.deployer.dry_run(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(plan.changed, ["pjsip_extensions.conf"]);
    assert_eq!(plan.base_version, Some(1));

    let done = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(done.changed, ["pjsip_extensions.conf"]);
    assert_eq!(done.reloads, [Reload::Pjsip]);
    assert_eq!(
        lab.pbxs[p].sim.reloads(),
        ["res_pjsip.so", "pbx_config.so", "res_pjsip.so"],
        "one more reload, of res_pjsip only"
    );
    let after = files_in(&dir);
    for name in FILES {
        if name == "pjsip_extensions.conf" {
            assert_ne!(after[name], before[name]);
            assert!(after[name].contains("callerid=\"Alice Jones\" <2001>"));
        } else {
            assert_eq!(after[name], before[name], "{name} untouched");
            assert_eq!(modified(name), times[name], "{name} not rewritten");
        }
    }
    let deployment = done.deployment.unwrap();
    assert_eq!(deployment.version, 2);
    assert!(deployment.diff.contains("-callerid=\"Alice Smith\" <2001>"));
    assert!(deployment.diff.contains("+callerid=\"Alice Jones\" <2001>"));
    assert!(!deployment.diff.contains("extensions_routes.conf"));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reload_restores_the_previous_files_and_records_restored() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let dir = lab.pbxs[p].dir.clone();
    let v1 = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    let v1_files = v1.deployment.unwrap().files;

    lab.set_extension("2002", "Robert <2002>").await;
    lab.pbxs[p].sim.fail_next_reloads(1);
    let err = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap_err();
    let ApplyError::Restored {
        stage,
        version,
        ref reason,
        ..
    } = err
    else {
        panic!("expected a restore, got {err:?}");
    };
    assert_eq!((stage, version), (Stage::Reload, 2));
    assert!(reason.contains("reload failure"), "{reason}");
    assert!(err.to_string().contains("previous configuration restored"));
    assert_eq!(files_in(&dir), v1_files, "version 1 is back on disk");
    assert_eq!(
        lab.pbxs[p].sim.reloads(),
        [
            "res_pjsip.so",
            "pbx_config.so",
            "res_pjsip.so",
            "res_pjsip.so"
        ],
        "the failed reload, then the reload of the restored files"
    );
    let history = lab
        .prov
        .list_deployments(&lab.admin, lab.id(p), Page::default())
        .await
        .unwrap();
    let results: Vec<(i64, &str)> = history
        .items
        .iter()
        .map(|d| (d.version, d.result.as_str()))
        .collect();
    assert_eq!(results, [(2, "restored"), (1, "applied")]);
    // The change is still pending against version 1.
    let plan = lab.deployer.dry_run(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!((plan.base_version, plan.changed.len()), (Some(1), 1));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pbx_that_refuses_every_reload_is_reported_as_not_restored() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    // A file of the PBX's own that Asterisk refuses: every PJSIP reload fails.
    std::fs::write(lab.pbxs[p].dir.join("pjsip_local.conf"), "#fail\n").unwrap();
    let err = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApplyError::RestoreFailed {
                stage: Stage::Reload,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("ALSO failed"));
    let last = lab
        .prov
        .last_deployment(&lab.admin, lab.id(p), "failed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.version, 1);
    assert!(
        files_in(&lab.pbxs[p].dir).is_empty(),
        "the new files were removed"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_reapplies_version_1() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let dir = lab.pbxs[p].dir.clone();
    let v1 = lab
        .deployer
        .apply(&lab.admin, lab.id(p))
        .await
        .unwrap()
        .deployment
        .unwrap();
    lab.set_extension("2001", "Alice Jones <2001>").await;
    lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_ne!(files_in(&dir), v1.files);

    let back = lab
        .deployer
        .rollback(&lab.admin, lab.id(p), v1.id)
        .await
        .unwrap();
    let v3 = back.deployment.unwrap();
    assert_eq!((v3.version, v3.result.as_str()), (3, "applied"));
    assert_eq!(back.changed, ["pjsip_extensions.conf"]);
    assert_eq!(back.reloads, [Reload::Pjsip]);
    assert_eq!(v3.files, v1.files);
    assert_eq!(files_in(&dir), v1.files);
    assert!(lab.listed_endpoints(p).await.contains(&"2001".to_owned()));

    // Only a version that went live can be re-applied; unknown ids are not found.
    lab.pbxs[p].sim.fail_next_reloads(1);
    lab.set_extension("2002", "Robert <2002>").await;
    let ApplyError::Restored { version, .. } =
        lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap_err()
    else {
        panic!("expected a restore");
    };
    let history = lab
        .prov
        .list_deployments(&lab.admin, lab.id(p), Page::default())
        .await
        .unwrap();
    let restored = history.items.iter().find(|d| d.version == version).unwrap();
    let err = lab
        .deployer
        .rollback(&lab.admin, lab.id(p), restored.id)
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::NotApplied { .. }), "{err:?}");
    let err = lab
        .deployer
        .rollback(&lab.admin, lab.id(p), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApplyError::Provisioning(Error::NotFound {
                entity: "deployment"
            })
        ),
        "{err:?}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stops_at_the_first_failing_pbx_and_leaves_it_restored() {
    let mut lab = Lab::start().await;
    for _ in 0..4 {
        lab.add_pbx(ApplyMode::File).await;
    }
    // pbx-1 (in the first batch after the canary) refuses its reload.
    lab.pbxs[1].sim.fail_next_reloads(1);
    let ids: Vec<Uuid> = (0..4).map(|i| lab.id(i)).collect();
    let report = lab.deployer.rollout(&lab.admin, &ids, 2).await.unwrap();
    assert!(!report.completed());
    assert_eq!(report.stopped_at, Some(ids[1]));
    let steps: Vec<&str> = report
        .steps
        .iter()
        .map(|(_, s)| match s {
            RolloutStep::Applied(_) => "applied",
            RolloutStep::Failed(_) => "failed",
            RolloutStep::Skipped => "skipped",
        })
        .collect();
    // Canary; then pbx-1 and pbx-2 together (pbx-2 applies); then pbx-3 is skipped.
    assert_eq!(steps, ["applied", "failed", "applied", "skipped"]);
    assert_eq!(
        report.steps.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids
    );
    let RolloutStep::Failed(err) = &report.steps[1].1 else {
        unreachable!()
    };
    assert!(matches!(err, ApplyError::Restored { .. }), "{err:?}");
    assert!(
        files_in(&lab.pbxs[1].dir).is_empty(),
        "pbx-1 back to no files"
    );
    assert_eq!(files_in(&lab.pbxs[0].dir).len(), 5);
    assert!(files_in(&lab.pbxs[3].dir).is_empty(), "pbx-3 untouched");
    assert!(lab.pbxs[3].sim.reloads().is_empty());
    let pbx3 = lab
        .prov
        .list_deployments(&lab.admin, ids[3], Page::default())
        .await
        .unwrap();
    assert_eq!(pbx3.total, 0);

    // Once pbx-1 takes reloads again the same rollout completes.
    let report = lab.deployer.rollout(&lab.admin, &ids, 2).await.unwrap();
    assert!(report.completed(), "{report:?}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ami_mode_writes_the_files_through_update_config() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::Ami).await;
    let dir = lab.pbxs[p].dir.clone();
    // UpdateConfig needs existing files on the PBX (empty is fine).
    for name in FILES {
        std::fs::write(dir.join(name), "").unwrap();
    }
    let done = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(done.outcome, Outcome::Applied);
    assert_eq!(done.verified_endpoints, 3);
    let written = std::fs::read_to_string(dir.join("pjsip_extensions.conf")).unwrap();
    assert!(written.contains("[2001]\ntype = endpoint\n"), "{written}");
    assert!(
        written.contains("callerid = \"Alice Smith\" <2001>"),
        "{written}"
    );
    assert_eq!(
        written.matches("[2001]").count(),
        2,
        "endpoint and aor keep their own sections: {written}"
    );
    let routes = std::fs::read_to_string(dir.join("extensions_dids.conf")).unwrap();
    assert!(routes.contains("[from-trunk]"), "{routes}");
    assert!(
        backups_in(&dir).is_empty(),
        "AMI mode leaves backups to Asterisk"
    );

    lab.set_extension("2001", "Alice Jones <2001>").await;
    let done = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap();
    assert_eq!(done.changed, ["pjsip_extensions.conf"]);
    let written = std::fs::read_to_string(dir.join("pjsip_extensions.conf")).unwrap();
    assert!(
        written.contains("callerid = \"Alice Jones\" <2001>"),
        "{written}"
    );
    assert!(!written.contains("Alice Smith"));

    // A PBX without the file cannot be written over AMI: refused, restored.
    std::fs::remove_file(dir.join("pjsip_extensions.conf")).unwrap();
    lab.set_extension("2001", "Alice Brown <2001>").await;
    let err = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApplyError::Restored {
                stage: Stage::Write,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("must exist on the PBX"), "{err}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_a_reason() {
    let mut lab = Lab::start().await;
    let p = lab.add_pbx(ApplyMode::File).await;
    let operator = actor(TENANT, Role::Operator);
    let err = lab.deployer.apply(&operator, lab.id(p)).await.unwrap_err();
    assert!(
        matches!(err, ApplyError::Provisioning(Error::Forbidden(_))),
        "{err:?}"
    );
    let err = lab
        .deployer
        .dry_run(&operator, lab.id(p))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Provisioning(Error::Forbidden(_))),
        "{err:?}"
    );

    // Another tenant's administrator cannot see this PBX.
    lab.prov
        .create_tenant(
            &actor("platform", Role::PlatformAdmin),
            TenantInput {
                slug: "other".into(),
                name: "Other".into(),
            },
        )
        .await
        .unwrap();
    let stranger = actor("other", Role::TenantAdmin);
    let err = lab.deployer.apply(&stranger, lab.id(p)).await.unwrap_err();
    assert!(
        matches!(err, ApplyError::Provisioning(Error::NotFound { .. })),
        "{err:?}"
    );
    let err = lab
        .deployer
        .apply(&lab.admin, Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Provisioning(Error::NotFound { .. })),
        "{err:?}"
    );

    for (ids, batch) in [
        (vec![], 1),
        (vec![lab.id(p)], 0),
        (vec![lab.id(p), lab.id(p)], 1),
    ] {
        let err = lab
            .deployer
            .rollout(&lab.admin, &ids, batch)
            .await
            .unwrap_err();
        assert!(matches!(err, ApplyError::Invalid(_)), "{err:?}");
    }
    assert!(files_in(&lab.pbxs[p].dir).is_empty());

    // A disabled PBX is not written to.
    let pbx = lab
        .prov
        .get_pbx_server(&lab.admin, lab.id(p))
        .await
        .unwrap();
    lab.prov
        .update_pbx_server(
            &lab.admin,
            pbx.id,
            PbxServerInput {
                name: pbx.name.clone(),
                host: pbx.host.clone(),
                port: pbx.port,
                username: pbx.username.clone(),
                secret: None,
                tls: false,
                apply_mode: ApplyMode::File,
                config_dir: pbx.config_dir.clone(),
                enabled: false,
            },
        )
        .await
        .unwrap();
    let err = lab.deployer.apply(&lab.admin, lab.id(p)).await.unwrap_err();
    assert!(matches!(err, ApplyError::Disabled { .. }), "{err:?}");
    assert!(files_in(&lab.pbxs[p].dir).is_empty());
    lab.stop().await;
}
