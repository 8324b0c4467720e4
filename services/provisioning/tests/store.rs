//! The provisioning behaviour suite, run once on SQLite (a temp dir) and once
//! on the real PostgreSQL (a private schema per test, dropped at the end). The
//! PostgreSQL half fails, never skips, when the server is not there.

mod support;

use futures::StreamExt;
use ringside_bus::{ReadSpec, StreamRole};
use ringside_provisioning::rating::RateStep;
use ringside_provisioning::*;
use serde_json::Value;
use support::{Env, actor, admin};
use uuid::Uuid;

/// Every provisioning event published so far in this test's bus.
async fn events(env: &Env) -> Vec<(String, Value)> {
    let stream = env.bus.topology.stream_name(StreamRole::Prov);
    let mut read = env
        .bus
        .bus
        .read_stream(ReadSpec::new(stream).until_caught_up())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(msg) = read.next().await {
        let msg = msg.unwrap();
        out.push((
            msg.subject.clone(),
            serde_json::from_slice(&msg.payload).unwrap(),
        ));
    }
    out
}

fn customer(code: &str) -> CustomerInput {
    CustomerInput {
        code: code.into(),
        name: format!("Customer {code}"),
        kind: CustomerType::Trunk,
        trunk_ip: Some("192.0.2.10".into()),
        channel_limit: Some(30),
        status: Status::Active,
    }
}

fn gateway(name: &str, provider_id: Option<Uuid>) -> GatewayInput {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "provider_id": provider_id,
        "ip_address": "sip.carrier.example",
        "port": 5060,
        "codecs": ["ulaw", "g729"],
        "transport": "udp",
        "tech_prefix": "99",
    }))
    .unwrap()
}

fn pbx(name: &str, secret: &str) -> PbxServerInput {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "host": "10.1.2.3",
        "username": "ringside",
        "secret": secret,
    }))
    .unwrap()
}

fn did(number: &str) -> DidInput {
    serde_json::from_value(serde_json::json!({ "number": number, "monthly_cost": "1.50" })).unwrap()
}

async fn customers_round_trip_with_audit_and_events(env: Env) {
    let a = admin(&env.tenant_a);
    let c = env.svc.create_customer(&a, customer("acme")).await.unwrap();
    assert_eq!(c.code, "acme");
    assert_eq!(env.svc.get_customer(&a, c.id).await.unwrap(), c);
    for i in 0..4 {
        env.svc
            .create_customer(&a, customer(&format!("c{i}")))
            .await
            .unwrap();
    }
    let page = env
        .svc
        .list_customers(
            &a,
            Page {
                limit: 2,
                offset: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].code, "c0", "ordered by code");

    let mut input = customer("acme");
    input.name = "Acme Corp".into();
    let updated = env.svc.update_customer(&a, c.id, input).await.unwrap();
    assert_eq!(updated.name, "Acme Corp");
    env.svc.delete_customer(&a, c.id).await.unwrap();
    assert!(matches!(
        env.svc.get_customer(&a, c.id).await,
        Err(Error::NotFound { entity: "customer" })
    ));

    let log = env
        .svc
        .audit_log(
            &a,
            &AuditFilter {
                entity_id: Some(c.id),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["deleted", "updated", "created"]);
    assert_eq!(log.items[1].actor, "admin");
    assert_eq!(
        log.items[1].changes["name"],
        serde_json::json!({ "old": "Customer acme", "new": "Acme Corp" })
    );
    assert!(
        log.items[1].changes.get("code").is_none(),
        "only changed fields"
    );

    let events = events(&env).await;
    let ours: Vec<_> = events
        .iter()
        .filter(|(_, e)| e["entity_id"] == serde_json::json!(c.id))
        .collect();
    assert_eq!(ours.len(), 3);
    assert!(
        ours[0]
            .0
            .ends_with(&format!("{}.prov.customer", env.tenant_a))
    );
    assert_eq!(ours[0].1["action"], "created");
    assert_eq!(ours[1].1["action"], "updated");
    assert_eq!(ours[2].1["action"], "deleted");
    assert_eq!(ours[1].1["actor"]["username"], "admin");
    env.cleanup().await;
}

async fn duplicates_are_conflicts(env: Env) {
    let a = admin(&env.tenant_a);
    let b = admin(&env.tenant_b);
    env.svc.create_customer(&a, customer("acme")).await.unwrap();
    let err = env
        .svc
        .create_customer(&a, customer("acme"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                entity: "customer",
                ..
            }
        ),
        "{err:?}"
    );
    // Codes are per tenant.
    env.svc.create_customer(&b, customer("acme")).await.unwrap();
    // DID numbers are unique across the platform (normalized first).
    env.svc.create_did(&a, did("+4930111")).await.unwrap();
    let err = env.svc.create_did(&b, did("4930111")).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict { entity: "did", .. }),
        "{err:?}"
    );
    // A route's (pattern, priority) is unique per tenant.
    let gw = env
        .svc
        .create_gateway(&a, gateway("gw1", None))
        .await
        .unwrap();
    let route = |name: &str, priority: i64| RouteInput {
        name: name.into(),
        pattern: "_0800X.".into(),
        gateway_id: gw.id,
        priority,
        tech_prefix: String::new(),
        strip_digits: 0,
    };
    env.svc.create_route(&a, route("r1", 1)).await.unwrap();
    env.svc.create_route(&a, route("r2", 2)).await.unwrap();
    let err = env.svc.create_route(&a, route("r3", 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                entity: "route",
                ..
            }
        ),
        "{err:?}"
    );
    // A failed write leaves no audit row behind.
    let log = env
        .svc
        .audit_log(
            &a,
            &AuditFilter {
                entity: Some("route".into()),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.total, 2);
    env.cleanup().await;
}

async fn references_must_exist_in_the_same_tenant(env: Env) {
    let a = admin(&env.tenant_a);
    let b = admin(&env.tenant_b);
    let provider_b = env
        .svc
        .create_provider(
            &b,
            ProviderInput {
                name: "Carrier".into(),
                kind: "sip".into(),
                cost_per_minute: Money(5000),
            },
        )
        .await
        .unwrap();
    let err = env
        .svc
        .create_gateway(&a, gateway("gw1", Some(provider_b.id)))
        .await
        .unwrap_err();
    match err {
        Error::Validation(v) => assert!(v.has("provider_id", "not_found"), "{v:?}"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let err = env
        .svc
        .create_route(
            &a,
            RouteInput {
                name: "r".into(),
                pattern: "_X.".into(),
                gateway_id: Uuid::new_v4(),
                priority: 1,
                tech_prefix: String::new(),
                strip_digits: 0,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.has("gateway_id", "not_found")),
        "{err:?}"
    );
    env.cleanup().await;
}

async fn deleting_a_row_still_in_use_is_a_conflict(env: Env) {
    let a = admin(&env.tenant_a);
    let provider = env
        .svc
        .create_provider(
            &a,
            ProviderInput {
                name: "Carrier".into(),
                kind: "sip".into(),
                cost_per_minute: Money(5000),
            },
        )
        .await
        .unwrap();
    let gw = env
        .svc
        .create_gateway(&a, gateway("gw1", Some(provider.id)))
        .await
        .unwrap();
    let err = env.svc.delete_provider(&a, provider.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                entity: "provider",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(env.svc.get_provider(&a, provider.id).await.is_ok());
    env.svc.delete_gateway(&a, gw.id).await.unwrap();
    env.svc.delete_provider(&a, provider.id).await.unwrap();
    env.cleanup().await;
}

async fn another_tenants_rows_are_not_found(env: Env) {
    let a = admin(&env.tenant_a);
    let b = admin(&env.tenant_b);
    let c = env.svc.create_customer(&a, customer("acme")).await.unwrap();
    let d = env.svc.create_did(&a, did("+4930222")).await.unwrap();
    assert!(matches!(
        env.svc.get_customer(&b, c.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.svc.update_customer(&b, c.id, customer("evil")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.svc.delete_customer(&b, c.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        env.svc
            .list_customers(&b, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert!(matches!(
        env.svc
            .allocate_did(
                &b,
                d.id,
                AllocationInput {
                    customer_id: c.id,
                    destination: "trunk".into()
                }
            )
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.svc
            .assign_pbxs(&b, Assignable::Customer, c.id, None)
            .await,
        Err(Error::NotFound { .. })
    ));
    // B's audit log has its own tenant's creation and nothing of A's.
    let b_log = env
        .svc
        .audit_log(&b, &AuditFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(b_log.total, 1);
    assert_eq!(b_log.items[0].entity, "tenant");
    // A's row is untouched.
    assert_eq!(env.svc.get_customer(&a, c.id).await.unwrap().code, "acme");
    env.cleanup().await;
}

async fn invalid_input_gets_field_errors(env: Env) {
    let a = admin(&env.tenant_a);
    let mut bad = gateway("gw 1", None);
    bad.ip_address = "999.1.1.1".into();
    bad.codecs = vec!["ulaw".into(), "mp3".into()];
    bad.port = 0;
    let Err(Error::Validation(v)) = env.svc.create_gateway(&a, bad).await else {
        panic!("expected a validation error");
    };
    assert!(v.has("name", "invalid_token"));
    assert!(v.has("ip_address", "invalid_host"));
    assert!(v.has("codecs[1]", "unknown_codec"));
    assert!(v.has("port", "invalid_port"));
    let Err(Error::Validation(v)) = env
        .svc
        .create_route(
            &a,
            RouteInput {
                name: "r".into(),
                pattern: "_X.\n[evil]".into(),
                gateway_id: Uuid::new_v4(),
                priority: 1,
                tech_prefix: String::new(),
                strip_digits: 0,
            },
        )
        .await
    else {
        panic!("expected a validation error");
    };
    assert!(v.has("pattern", "invalid_pattern"));
    let Err(Error::Validation(v)) = env.svc.create_did(&a, did("0301234")).await else {
        panic!("expected a validation error");
    };
    assert!(v.has("number", "invalid_e164"));
    let tariff: TariffInput = serde_json::from_value(serde_json::json!({
        "pattern": "49", "price_per_minute": "-0.01", "cost_per_minute": "0.01"
    }))
    .unwrap();
    let Err(Error::Validation(v)) = env.svc.create_tariff(&a, tariff).await else {
        panic!("expected a validation error");
    };
    assert!(v.has("price_per_minute", "negative"));
    assert_eq!(
        env.svc
            .list_gateways(&a, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    env.cleanup().await;
}

async fn secrets_never_leave_through_lists_audit_or_events(env: Env) {
    let a = admin(&env.tenant_a);
    let pbx_secret = "pbx-Secret-0001";
    let p = env
        .svc
        .create_pbx_server(&a, pbx("pbx1", pbx_secret))
        .await
        .unwrap();
    let mut gw = gateway("gw1", None);
    gw.registration_username = Some("reguser".into());
    gw.registration_secret = Some("reg-Secret-0002".into());
    let g = env.svc.create_gateway(&a, gw).await.unwrap();
    assert!(g.has_registration_secret);
    let ext = env
        .svc
        .create_extension(
            &a,
            serde_json::from_value(
                serde_json::json!({ "extension": "100", "caller_id": "\"Alice\" <100>" }),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let ext_secret = ext
        .secret
        .clone()
        .expect("the create answer carries the generated secret");
    assert!(ext_secret.len() >= 20);
    // Update the PBX without resending its secret: it is kept.
    let mut keep = pbx("pbx1", "unused");
    keep.secret = None;
    keep.port = 5039;
    env.svc.update_pbx_server(&a, p.id, keep).await.unwrap();

    let secrets = [pbx_secret, "reg-Secret-0002", ext_secret.as_str()];
    let mut texts = vec![
        serde_json::to_string(&env.svc.list_pbx_servers(&a, Page::default()).await.unwrap())
            .unwrap(),
        serde_json::to_string(&env.svc.list_gateways(&a, Page::default()).await.unwrap()).unwrap(),
        serde_json::to_string(&env.svc.list_extensions(&a, Page::default()).await.unwrap())
            .unwrap(),
        serde_json::to_string(&env.svc.get_extension(&a, ext.id).await.unwrap()).unwrap(),
        serde_json::to_string(
            &env.svc
                .audit_log(&a, &AuditFilter::default(), Page::default())
                .await
                .unwrap(),
        )
        .unwrap(),
    ];
    texts.extend(events(&env).await.into_iter().map(|(_, e)| e.to_string()));
    for text in &texts {
        for secret in secrets {
            assert!(!text.contains(secret), "secret leaked into {text}");
        }
    }
    let audit = env
        .svc
        .audit_log(
            &a,
            &AuditFilter {
                entity: Some("gateway".into()),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(audit.items[0].changes["registration_secret"], REDACTED);
    // The administrator can read an extension's secret back (audited).
    assert_eq!(
        env.svc.extension_secret(&a, ext.id).await.unwrap(),
        ext_secret
    );
    assert!(matches!(
        env.svc
            .extension_secret(&actor(&env.tenant_a, Role::Operator), ext.id)
            .await,
        Err(Error::Forbidden(_))
    ));
    // The ingestor's registry has the decrypted secret and a valid PbxSettings.
    let kv = env
        .bus
        .bus
        .kv(
            &env.bus
                .topology
                .bucket_name(ringside_ami_ingestor::PBX_BUCKET),
            ringside_bus::KvConfig::default(),
        )
        .await
        .unwrap();
    let entry = kv
        .get(&format!("{}.pbx1", env.tenant_a))
        .await
        .unwrap()
        .unwrap();
    let settings: ringside_ami_ingestor::PbxSettings =
        serde_json::from_slice(&entry.value).unwrap();
    assert_eq!(settings.id, "pbx1");
    assert_eq!(settings.tenant, env.tenant_a);
    assert_eq!(settings.port, 5039);
    assert_eq!(settings.secret.expose(), pbx_secret);
    env.cleanup().await;
}

async fn pbx_servers_reach_the_ingestor_registry(env: Env) {
    let a = admin(&env.tenant_a);
    let kv = env
        .bus
        .bus
        .kv(
            &env.bus
                .topology
                .bucket_name(ringside_ami_ingestor::PBX_BUCKET),
            ringside_bus::KvConfig::default(),
        )
        .await
        .unwrap();
    let p = env
        .svc
        .create_pbx_server(&a, pbx("pbx1", "s3cret-one"))
        .await
        .unwrap();
    assert_eq!(kv.keys().await.unwrap(), [format!("{}.pbx1", env.tenant_a)]);
    let mut renamed = pbx("pbx-2", "s3cret-two");
    renamed.enabled = false;
    env.svc.update_pbx_server(&a, p.id, renamed).await.unwrap();
    assert_eq!(
        kv.keys().await.unwrap(),
        [format!("{}.pbx-2", env.tenant_a)]
    );
    let entry = kv
        .get(&format!("{}.pbx-2", env.tenant_a))
        .await
        .unwrap()
        .unwrap();
    let settings: ringside_ami_ingestor::PbxSettings =
        serde_json::from_slice(&entry.value).unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.secret.expose(), "s3cret-two");
    // A restart re-synchronizes the registry from the database.
    kv.delete(&format!("{}.pbx-2", env.tenant_a)).await.unwrap();
    kv.put(
        &format!("{}.ghost", env.tenant_a),
        bytes::Bytes::from_static(b"{}"),
    )
    .await
    .unwrap();
    assert_eq!(env.svc.sync_pbx_registry().await.unwrap(), 1);
    assert_eq!(
        kv.keys().await.unwrap(),
        [format!("{}.pbx-2", env.tenant_a)]
    );
    env.svc.delete_pbx_server(&a, p.id).await.unwrap();
    assert!(kv.keys().await.unwrap().is_empty());
    // A PBX name must be a subject token.
    let Err(Error::Validation(v)) = env.svc.create_pbx_server(&a, pbx("pbx.1", "x")).await else {
        panic!("expected a validation error");
    };
    assert!(v.has("name", "invalid_token"));
    env.cleanup().await;
}

async fn passwords_verify_and_hashes_stay_inside(env: Env) {
    let a = admin(&env.tenant_a);
    let user = env
        .svc
        .create_user(
            &a,
            UserInput {
                username: "alice".into(),
                password: Some("correct horse".into()),
                role: Role::Operator,
                enabled: true,
            },
        )
        .await
        .unwrap();
    let found = env
        .svc
        .authenticate("alice", "correct horse")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert_eq!(found.role, Role::Operator);
    assert_eq!(found.tenant, env.tenant_a);
    assert!(
        env.svc
            .authenticate("alice", "wrong horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.svc
            .authenticate("nobody", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    let listed =
        serde_json::to_string(&env.svc.list_users(&a, Page::default()).await.unwrap()).unwrap();
    assert!(listed.contains("alice"));
    assert!(!listed.contains("argon2"), "{listed}");
    let audit = serde_json::to_string(
        &env.svc
            .audit_log(&a, &AuditFilter::default(), Page::default())
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(!audit.contains("argon2") && !audit.contains("correct horse"));
    // Usernames are unique across tenants.
    let err = env
        .svc
        .create_user(
            &admin(&env.tenant_b),
            UserInput {
                username: "alice".into(),
                password: Some("another pw".into()),
                role: Role::Viewer,
                enabled: true,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    // A disabled user cannot log in; keeping the password on update works.
    env.svc
        .update_user(
            &a,
            user.id,
            UserInput {
                username: "alice".into(),
                password: None,
                role: Role::Operator,
                enabled: false,
            },
        )
        .await
        .unwrap();
    assert!(
        env.svc
            .authenticate("alice", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    let boot = env
        .svc
        .bootstrap_user("newco", "root", "bootstrap-pw", Role::TenantAdmin)
        .await
        .unwrap();
    assert_eq!(boot.tenant, "newco");
    assert!(
        env.svc
            .authenticate("root", "bootstrap-pw")
            .await
            .unwrap()
            .is_some()
    );
    env.cleanup().await;
}

async fn roles_limit_writes(env: Env) {
    let t = env.tenant_a.clone();
    let viewer = actor(&t, Role::Viewer);
    let operator = actor(&t, Role::Operator);
    let tenant_admin = actor(&t, Role::TenantAdmin);
    assert!(matches!(
        env.svc.create_customer(&viewer, customer("v")).await,
        Err(Error::Forbidden(_))
    ));
    let c = env
        .svc
        .create_customer(&operator, customer("op"))
        .await
        .unwrap();
    assert_eq!(env.svc.get_customer(&viewer, c.id).await.unwrap().id, c.id);
    assert!(matches!(
        env.svc.create_gateway(&operator, gateway("gw", None)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        env.svc
            .create_gateway(&tenant_admin, gateway("gw", None))
            .await
            .is_ok()
    );
    assert!(matches!(
        env.svc.list_users(&operator, Page::default()).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        env.svc
            .create_tenant(
                &tenant_admin,
                TenantInput {
                    slug: "x".into(),
                    name: "X".into()
                }
            )
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        env.svc
            .create_user(
                &tenant_admin,
                UserInput {
                    username: "boss".into(),
                    password: Some("password1".into()),
                    role: Role::PlatformAdmin,
                    enabled: true
                }
            )
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        env.svc
            .audit_log(&viewer, &AuditFilter::default(), Page::default())
            .await,
        Err(Error::Forbidden(_))
    ));
    env.cleanup().await;
}

async fn dids_allocate_and_deallocate(env: Env) {
    let a = admin(&env.tenant_a);
    let trunk = env
        .svc
        .create_customer(&a, customer("trunky"))
        .await
        .unwrap();
    let mut ext_customer = customer("exty");
    ext_customer.kind = CustomerType::Extension;
    ext_customer.trunk_ip = None;
    let exty = env.svc.create_customer(&a, ext_customer).await.unwrap();
    let d = env.svc.create_did(&a, did("+4930333")).await.unwrap();
    assert_eq!(d.status, DidStatus::Available);
    assert_eq!(d.monthly_cost, Money(1_500_000));

    let err = env
        .svc
        .allocate_did(
            &a,
            d.id,
            AllocationInput {
                customer_id: exty.id,
                destination: "trunk".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.has("destination", "not_a_trunk_customer")),
        "{err:?}"
    );
    let err = env
        .svc
        .allocate_did(
            &a,
            d.id,
            AllocationInput {
                customer_id: exty.id,
                destination: "200".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.has("destination", "not_found")),
        "{err:?}"
    );

    let alloc = env
        .svc
        .allocate_did(
            &a,
            d.id,
            AllocationInput {
                customer_id: trunk.id,
                destination: "trunk".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(alloc.customer_id, trunk.id);
    assert_eq!(
        env.svc.get_did(&a, d.id).await.unwrap().status,
        DidStatus::Allocated
    );
    let err = env
        .svc
        .allocate_did(
            &a,
            d.id,
            AllocationInput {
                customer_id: trunk.id,
                destination: "trunk".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { entity: "did", .. }),
        "{err:?}"
    );
    // An allocated DID's customer cannot be deleted.
    assert!(matches!(
        env.svc.delete_customer(&a, trunk.id).await,
        Err(Error::Conflict { .. })
    ));

    env.svc.deallocate_did(&a, d.id).await.unwrap();
    assert_eq!(
        env.svc.get_did(&a, d.id).await.unwrap().status,
        DidStatus::Available
    );
    assert!(env.svc.did_allocation(&a, d.id).await.unwrap().is_none());
    assert!(matches!(
        env.svc.deallocate_did(&a, d.id).await,
        Err(Error::NotFound { .. })
    ));

    // To an extension of the customer.
    env.svc
        .create_extension(
            &a,
            serde_json::from_value(
                serde_json::json!({ "extension": "200", "customer_id": exty.id }),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let alloc = env
        .svc
        .allocate_did(
            &a,
            d.id,
            AllocationInput {
                customer_id: exty.id,
                destination: "200".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(env.svc.did_allocation(&a, d.id).await.unwrap(), Some(alloc));
    let actions: Vec<String> = events(&env)
        .await
        .into_iter()
        .filter(|(_, e)| e["entity_id"] == serde_json::json!(d.id))
        .map(|(_, e)| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["created", "allocated", "deallocated", "allocated"]
    );
    env.cleanup().await;
}

async fn extension_numbers_are_unique_per_pbx(env: Env) {
    let a = admin(&env.tenant_a);
    let p1 = env
        .svc
        .create_pbx_server(&a, pbx("pbx1", "secret-1"))
        .await
        .unwrap();
    let p2 = env
        .svc
        .create_pbx_server(&a, pbx("pbx2", "secret-2"))
        .await
        .unwrap();
    let ext = |n: &str| -> ExtensionInput {
        serde_json::from_value(serde_json::json!({ "extension": n })).unwrap()
    };
    let first = env.svc.create_extension(&a, ext("100")).await.unwrap();
    // Both on every PBX: clash.
    let err = env.svc.create_extension(&a, ext("100")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                entity: "extension",
                ..
            }
        ),
        "{err:?}"
    );
    // Pin the first to pbx1; a second 100 pinned to pbx2 is fine.
    env.svc
        .assign_pbxs(&a, Assignable::Extension, first.id, Some(vec![p1.id]))
        .await
        .unwrap();
    let second = env.svc.create_extension(&a, ext("101")).await.unwrap();
    env.svc
        .assign_pbxs(&a, Assignable::Extension, second.id, Some(vec![p2.id]))
        .await
        .unwrap();
    env.svc
        .update_extension(&a, second.id, ext("100"))
        .await
        .unwrap();
    // Moving it onto pbx1 as well would clash.
    let err = env
        .svc
        .assign_pbxs(
            &a,
            Assignable::Extension,
            second.id,
            Some(vec![p1.id, p2.id]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let assignment = env
        .svc
        .pbx_assignment(&a, Assignable::Extension, second.id)
        .await
        .unwrap();
    assert_eq!(
        assignment,
        PbxAssignment {
            all: false,
            pbx_ids: vec![p2.id]
        }
    );
    // Unknown PBX ids are field errors.
    let err = env
        .svc
        .assign_pbxs(
            &a,
            Assignable::Extension,
            second.id,
            Some(vec![Uuid::new_v4()]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.has("pbx_ids[0]", "not_found")),
        "{err:?}"
    );
    // Deleting a PBX drops its assignments.
    env.svc.delete_pbx_server(&a, p2.id).await.unwrap();
    let assignment = env
        .svc
        .pbx_assignment(&a, Assignable::Extension, second.id)
        .await
        .unwrap();
    assert!(assignment.all);
    env.cleanup().await;
}

async fn money_is_exact_through_the_database(env: Env) {
    let a = admin(&env.tenant_a);
    let t: TariffInput = serde_json::from_value(serde_json::json!({
        "pattern": "4930",
        "description": "Berlin",
        "cost_per_minute": 0.0042,
        "price_per_minute": "0.010001",
        "billing_increment": "30/6",
        "connection_fee": "0.05",
    }))
    .unwrap();
    let tariff = env.svc.create_tariff(&a, t).await.unwrap();
    let back = env.svc.get_tariff(&a, tariff.id).await.unwrap();
    assert_eq!(back.cost_per_minute, Money(4200));
    assert_eq!(back.price_per_minute, Money(10_001));
    assert_eq!(back.connection_fee, Money(50_000));
    let json = serde_json::to_value(&back).unwrap();
    assert_eq!(json["price_per_minute"], "0.010001");
    assert_eq!(json["billing_increment"], "30/6");
    env.cleanup().await;
}

fn call(
    call_id: &str,
    tenant: &str,
    to: &str,
    start_ms: i64,
    billsec: u64,
    trunk: &str,
) -> CallRecord {
    serde_json::from_value(serde_json::json!({
        "call_id": call_id,
        "tenant": tenant,
        "pbx": "pbx1",
        "from": "+4930999",
        "to": to,
        "direction": "outbound",
        "trunk": trunk,
        "start_ms": start_ms,
        "answer_ms": if billsec > 0 { Some(start_ms + 5_000) } else { None },
        "end_ms": start_ms + 5_000 + i64::try_from(billsec).unwrap() * 1000,
        "billable_seconds": billsec,
        "disposition": if billsec > 0 { "ANSWERED" } else { "NO ANSWER" },
        "hangup_cause": 16,
        "linkedid": "ignored-extra-field",
    }))
    .unwrap()
}

fn tariff(
    pattern: &str,
    cost: &str,
    price: &str,
    increment: &str,
    from_ms: i64,
    to_ms: Option<i64>,
) -> TariffInput {
    serde_json::from_value(serde_json::json!({
        "pattern": pattern,
        "cost_per_minute": cost,
        "price_per_minute": price,
        "billing_increment": increment,
        "valid_from_ms": from_ms,
        "valid_to_ms": to_ms,
    }))
    .unwrap()
}

const DAY: i64 = 86_400_000;

async fn calls_are_rated_by_the_longest_valid_prefix_once(env: Env) {
    let a = admin(&env.tenant_a);
    let t0 = 20_000 * DAY;
    let broad = env
        .svc
        .create_tariff(&a, tariff("49", "0.01", "0.02", "60/60", 0, None))
        .await
        .unwrap();
    let berlin_old = env
        .svc
        .create_tariff(&a, tariff("4930", "0.005", "0.012", "30/6", 0, Some(t0)))
        .await
        .unwrap();
    let berlin_new = env
        .svc
        .create_tariff(&a, tariff("4930", "0.004", "0.010", "30/6", t0, None))
        .await
        .unwrap();
    let gw = env
        .svc
        .create_gateway(&a, gateway("gw1", None))
        .await
        .unwrap();

    // Berlin, after t0: the new Berlin tariff; 31 s at 30/6 → 36 s.
    let Rated::Stored(cdr) = env
        .svc
        .rate_call(&call(
            "c1",
            &env.tenant_a,
            "+49301234",
            t0 + 1000,
            31,
            "gw1",
        ))
        .await
        .unwrap()
    else {
        panic!("expected a stored CDR");
    };
    assert_eq!(cdr.tariff_id, Some(berlin_new.id));
    assert_eq!(cdr.billed_seconds, 36);
    assert_eq!(cdr.cost, Money::parse("0.0024").unwrap());
    assert_eq!(cdr.price, Money::parse("0.006").unwrap());
    assert_eq!(cdr.margin, Money::parse("0.0036").unwrap());
    assert_eq!(cdr.gateway_id, Some(gw.id));
    assert_eq!(cdr.hangup_cause.as_deref(), Some("16"));
    // Berlin, before t0: the old one.
    let Rated::Stored(cdr) = env
        .svc
        .rate_call(&call(
            "c2",
            &env.tenant_a,
            "+49301234",
            t0 - 1000,
            60,
            "gw1",
        ))
        .await
        .unwrap()
    else {
        panic!("expected a stored CDR");
    };
    assert_eq!(cdr.tariff_id, Some(berlin_old.id));
    // Munich: only the broad prefix matches; 61 s at 60/60 → 120 s.
    let Rated::Stored(cdr) = env
        .svc
        .rate_call(&call("c3", &env.tenant_a, "+49891234", t0, 61, "gw1"))
        .await
        .unwrap()
    else {
        panic!("expected a stored CDR");
    };
    assert_eq!(cdr.tariff_id, Some(broad.id));
    assert_eq!(cdr.price, Money::parse("0.04").unwrap());
    // No tariff: stored, zero.
    let Rated::Stored(cdr) = env
        .svc
        .rate_call(&call("c4", &env.tenant_a, "+33123", t0, 10, "other"))
        .await
        .unwrap()
    else {
        panic!("expected a stored CDR");
    };
    assert_eq!(
        (cdr.tariff_id, cdr.price, cdr.gateway_id),
        (None, Money::ZERO, None)
    );
    // Unanswered.
    env.svc
        .rate_call(&call("c5", &env.tenant_a, "+49301234", t0, 0, "gw1"))
        .await
        .unwrap();
    // A replay never bills twice, even with other numbers in it.
    let replay = call("c1", &env.tenant_a, "+49891234", t0, 3600, "gw1");
    assert_eq!(env.svc.rate_call(&replay).await.unwrap(), Rated::Duplicate);
    // In a batch: a new call, the same call again, an old call, a bad one.
    let batch = env
        .svc
        .rate_calls(&[
            call("c10", &env.tenant_a, "+49301234", t0, 31, "gw1"),
            call("c10", &env.tenant_a, "+49301234", t0, 31, "gw1"),
            call("c1", &env.tenant_a, "+49301234", t0, 31, "gw1"),
            call("", &env.tenant_a, "+49301234", t0, 31, "gw1"),
        ])
        .await
        .unwrap();
    assert!(matches!(batch[0], Ok(Rated::Stored(_))));
    assert_eq!(batch[1], Ok(Rated::Duplicate));
    assert_eq!(batch[2], Ok(Rated::Duplicate));
    assert!(batch[3].is_err());
    // The same call id in another tenant is another call.
    assert!(matches!(
        env.svc
            .rate_call(&call("c1", &env.tenant_b, "+49301234", t0, 31, ""))
            .await
            .unwrap(),
        Rated::Stored(_)
    ));
    // Unknown tenant: refused.
    assert!(matches!(
        env.svc
            .rate_call(&call("c9", "nope", "+49301234", t0, 31, ""))
            .await,
        Err(Error::Validation(_))
    ));

    let report = env
        .svc
        .cdr_report(
            &a,
            &CdrFilter::default(),
            Page {
                limit: 2,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(report.total, 6);
    assert_eq!(report.items.len(), 2);
    assert_eq!(report.totals.answered, 5);
    // c1 0.006 + c2 0.012 (60 s at old Berlin) + c3 0.04 + c4 0 + c5 0 + c10 0.006
    assert_eq!(report.totals.price, Money::parse("0.064").unwrap());
    assert_eq!(
        report.totals.margin.0,
        report.totals.price.0 - report.totals.cost.0
    );
    let filtered = env
        .svc
        .cdr_report(
            &a,
            &CdrFilter {
                gateway_id: Some(gw.id),
                disposition: Some("ANSWERED".into()),
                from_ms: Some(t0),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(filtered.total, 3, "c1, c3 and c10");
    let csv = env
        .svc
        .cdr_csv(&a, &CdrFilter::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("call_id,"));
    // Tenant B sees only its own CDR.
    assert_eq!(
        env.svc
            .cdr_report(
                &admin(&env.tenant_b),
                &CdrFilter::default(),
                Page::default()
            )
            .await
            .unwrap()
            .total,
        1
    );

    let stats = env.svc.dashboard(&a, t0 + 3_600_000).await.unwrap();
    assert_eq!(stats.counts["tariffs"], 3);
    assert_eq!(stats.counts["gateways"], 1);
    assert_eq!(stats.calls_today, 5, "c2 was the day before");
    let gq = &stats.gateways[0];
    assert_eq!((gq.gateway_id, gq.calls, gq.answered), (gw.id, 4, 3));
    assert!((gq.asr - 3.0 / 4.0).abs() < 1e-9);
    assert!((gq.acd - 41.0).abs() < 1e-9, "(31 + 61 + 31) / 3");
    env.cleanup().await;
}

async fn the_rater_consumes_call_records_from_the_bus(env: Env) {
    let a = admin(&env.tenant_a);
    env.svc
        .create_tariff(&a, tariff("49", "0.01", "0.02", "60/60", 0, None))
        .await
        .unwrap();
    let tenant = ringside_bus::TenantId::new(env.tenant_a.as_str()).unwrap();
    let subject = env.bus.topology.subjects().calls_completed(&tenant);
    let record = call("bus-1", &env.tenant_a, "+49301", 1_000, 60, "");
    for payload in [
        serde_json::to_vec(&record).unwrap(),
        serde_json::to_vec(&record).unwrap(),
        b"not json".to_vec(),
        serde_json::to_vec(&call("bus-2", &env.tenant_b, "+49301", 1_000, 60, "")).unwrap(),
    ] {
        env.bus
            .bus
            .publish(&subject, ringside_bus::Outgoing::new(payload))
            .await
            .unwrap();
    }
    let mut consumer = env.svc.rating_consumer().await.unwrap();
    let wait = std::time::Duration::from_secs(2);
    assert!(matches!(
        env.svc.rate_next(consumer.as_mut(), wait).await.unwrap(),
        RateStep::Rated(Rated::Stored(_))
    ));
    assert_eq!(
        env.svc.rate_next(consumer.as_mut(), wait).await.unwrap(),
        RateStep::Rated(Rated::Duplicate)
    );
    assert!(matches!(
        env.svc.rate_next(consumer.as_mut(), wait).await.unwrap(),
        RateStep::Rejected(_)
    ));
    // A record claiming another tenant than its subject's is refused.
    assert!(matches!(
        env.svc.rate_next(consumer.as_mut(), wait).await.unwrap(),
        RateStep::Rejected(_)
    ));
    assert_eq!(
        env.svc
            .rate_next(consumer.as_mut(), std::time::Duration::ZERO)
            .await
            .unwrap(),
        RateStep::CaughtUp
    );
    let report = env
        .svc
        .cdr_report(&a, &CdrFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(report.total, 1);
    assert_eq!(report.totals.price, Money::parse("0.02").unwrap());
    assert_eq!(
        env.svc
            .cdr_report(
                &admin(&env.tenant_b),
                &CdrFilter::default(),
                Page::default()
            )
            .await
            .unwrap()
            .total,
        0
    );
    env.cleanup().await;
}

async fn render_input_holds_what_one_pbx_runs(env: Env) {
    let a = admin(&env.tenant_a);
    let p1 = env
        .svc
        .create_pbx_server(&a, pbx("pbx1", "secret-1"))
        .await
        .unwrap();
    let p2 = env
        .svc
        .create_pbx_server(&a, pbx("pbx2", "secret-2"))
        .await
        .unwrap();
    let provider = env
        .svc
        .create_provider(
            &a,
            ProviderInput {
                name: "Carrier".into(),
                kind: "sip".into(),
                cost_per_minute: Money(5000),
            },
        )
        .await
        .unwrap();
    let mut gw = gateway("gw1", Some(provider.id));
    gw.registration_username = Some("reguser".into());
    gw.registration_secret = Some("reg-secret-1".into());
    let g1 = env.svc.create_gateway(&a, gw).await.unwrap();
    let mut gw2 = gateway("gw2", None);
    gw2.ip_address = "198.51.100.7".into();
    let g2 = env.svc.create_gateway(&a, gw2).await.unwrap();
    env.svc
        .assign_pbxs(&a, Assignable::Gateway, g2.id, Some(vec![p2.id]))
        .await
        .unwrap();
    let route = |name: &str, gateway_id: Uuid| RouteInput {
        name: name.into(),
        pattern: "_00X.".into(),
        gateway_id,
        priority: if name == "r1" { 1 } else { 2 },
        tech_prefix: String::new(),
        strip_digits: 2,
    };
    env.svc.create_route(&a, route("r1", g1.id)).await.unwrap();
    env.svc.create_route(&a, route("r2", g2.id)).await.unwrap();
    let trunk = env
        .svc
        .create_customer(&a, customer("trunky"))
        .await
        .unwrap();
    let mut ec = customer("exty");
    ec.kind = CustomerType::Extension;
    ec.trunk_ip = None;
    let exty = env.svc.create_customer(&a, ec).await.unwrap();
    let ext = env
        .svc
        .create_extension(
            &a,
            serde_json::from_value(serde_json::json!({
                "extension": "100", "customer_id": exty.id, "caller_id": "\"Alice\" <100>"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let d1 = env.svc.create_did(&a, did("+4930100")).await.unwrap();
    let d2 = env.svc.create_did(&a, did("+4930200")).await.unwrap();
    env.svc.create_did(&a, did("+4930300")).await.unwrap();
    env.svc
        .allocate_did(
            &a,
            d1.id,
            AllocationInput {
                customer_id: trunk.id,
                destination: "trunk".into(),
            },
        )
        .await
        .unwrap();
    env.svc
        .allocate_did(
            &a,
            d2.id,
            AllocationInput {
                customer_id: exty.id,
                destination: "100".into(),
            },
        )
        .await
        .unwrap();

    let input = env
        .svc
        .load_render_input(&env.tenant_a, p1.id)
        .await
        .unwrap();
    assert_eq!(input.pbx.name, "pbx1");
    let names: Vec<&str> = input.gateways.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["gw1"], "gw2 is only on pbx2");
    assert_eq!(input.gateways[0].provider, "Carrier");
    assert_eq!(
        input.gateways[0].registration.as_ref().unwrap().secret,
        "reg-secret-1"
    );
    assert_eq!(input.routes.len(), 1, "r2's gateway is not on pbx1");
    assert_eq!(input.customer_trunks.len(), 1);
    assert_eq!(input.extensions[0].secret, ext.secret.clone().unwrap());
    assert_eq!(input.extensions[0].caller_id_name, "Alice");
    assert_eq!(input.extensions[0].customer_code, "exty");
    let dest: Vec<_> = input.dids.iter().map(|d| d.destination.clone()).collect();
    assert_eq!(
        dest,
        [
            ringside_provisioning::render::model::DidDestination::CustomerTrunk("trunky".into()),
            ringside_provisioning::render::model::DidDestination::Extension("100".into()),
            ringside_provisioning::render::model::DidDestination::Unallocated,
        ]
    );
    // The renderer accepts it, and the same data gives the same input.
    ringside_provisioning::render::render(&input).unwrap();
    assert_eq!(
        env.svc
            .load_render_input(&env.tenant_a, p1.id)
            .await
            .unwrap(),
        input
    );
    let on_p2 = env
        .svc
        .load_render_input(&env.tenant_a, p2.id)
        .await
        .unwrap();
    assert_eq!(on_p2.gateways.len(), 2);
    assert_eq!(on_p2.routes.len(), 2);
    ringside_provisioning::render::render(&on_p2).unwrap();
    // Another tenant's PBX is not found.
    assert!(matches!(
        env.svc.load_render_input(&env.tenant_b, p1.id).await,
        Err(Error::NotFound { .. })
    ));
    env.cleanup().await;
}

async fn deployments_are_versioned_per_pbx(env: Env) {
    let a = admin(&env.tenant_a);
    let p1 = env
        .svc
        .create_pbx_server(&a, pbx("pbx1", "secret-1"))
        .await
        .unwrap();
    let files = |body: &str| {
        std::collections::BTreeMap::from([("extensions_routes.conf".to_owned(), body.to_owned())])
    };
    let d1 = env
        .svc
        .record_deployment(
            &a,
            NewDeployment {
                pbx_id: p1.id,
                files: files("v1"),
                diff: "+v1".into(),
                result: "applied".into(),
            },
        )
        .await
        .unwrap();
    let d2 = env
        .svc
        .record_deployment(
            &a,
            NewDeployment {
                pbx_id: p1.id,
                files: files("v2"),
                diff: "-v1\n+v2".into(),
                result: "failed".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!((d1.version, d2.version), (1, 2));
    assert_eq!(d2.author, "admin");
    let last = env
        .svc
        .last_deployment(&a, p1.id, "applied")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last, d1);
    let list = env
        .svc
        .list_deployments(&a, p1.id, Page::default())
        .await
        .unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.items[0].version, 2);
    // Another tenant's PBX, a bad result, a viewer: refused.
    assert!(matches!(
        env.svc
            .record_deployment(
                &admin(&env.tenant_b),
                NewDeployment {
                    pbx_id: p1.id,
                    files: files("x"),
                    diff: String::new(),
                    result: "applied".into()
                }
            )
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.svc
            .record_deployment(
                &a,
                NewDeployment {
                    pbx_id: p1.id,
                    files: files("x"),
                    diff: String::new(),
                    result: "bad result".into()
                }
            )
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        env.svc
            .list_deployments(&actor(&env.tenant_a, Role::Viewer), p1.id, Page::default())
            .await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        env.svc
            .list_deployments(&admin(&env.tenant_b), p1.id, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    env.cleanup().await;
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Env::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Env::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    customers_round_trip_with_audit_and_events,
    duplicates_are_conflicts,
    references_must_exist_in_the_same_tenant,
    deleting_a_row_still_in_use_is_a_conflict,
    another_tenants_rows_are_not_found,
    invalid_input_gets_field_errors,
    secrets_never_leave_through_lists_audit_or_events,
    pbx_servers_reach_the_ingestor_registry,
    passwords_verify_and_hashes_stay_inside,
    roles_limit_writes,
    dids_allocate_and_deallocate,
    extension_numbers_are_unique_per_pbx,
    money_is_exact_through_the_database,
    calls_are_rated_by_the_longest_valid_prefix_once,
    the_rater_consumes_call_records_from_the_bus,
    render_input_holds_what_one_pbx_runs,
    deployments_are_versioned_per_pbx,
);

/// The embedded default: SQLite under a data dir with its key file next to
/// it; a restart reads the same data and can still decrypt the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings: ProvisioningSettings = serde_json::from_value(serde_json::json!({
        "database": { "data_dir": dir.path().join("data") }
    }))
    .unwrap();
    let bus = ringside_testkit::TestBus::in_process();
    let platform = actor("platform", Role::PlatformAdmin);
    let svc = Provisioning::open(&settings, bus.bus.clone(), bus.topology.clone())
        .await
        .unwrap();
    svc.create_tenant(
        &platform,
        TenantInput {
            slug: "t1".into(),
            name: "T1".into(),
        },
    )
    .await
    .unwrap();
    let p = svc
        .create_pbx_server(&admin("t1"), pbx("pbx1", "kept-secret"))
        .await
        .unwrap();
    svc.store().close().await;
    drop(svc);
    assert!(dir.path().join("data/secret.key").exists());
    assert!(dir.path().join("data/provisioning.sqlite3").exists());

    let svc = Provisioning::open(&settings, bus.bus.clone(), bus.topology.clone())
        .await
        .unwrap();
    assert_eq!(
        svc.get_pbx_server(&admin("t1"), p.id).await.unwrap().name,
        "pbx1"
    );
    assert_eq!(
        svc.sync_pbx_registry().await.unwrap(),
        1,
        "the secret still decrypts"
    );
    // PostgreSQL without an explicit key is refused.
    let pg: ProvisioningSettings = serde_json::from_value(serde_json::json!({
        "database": { "url": "postgres://nowhere/none" }
    }))
    .unwrap();
    assert!(pg.key().is_err());
}

/// The PostgreSQL connections sqlx opens send a request at once
/// (`TCP_NODELAY`; vendor/README.md): with Nagle's algorithm on, a statement
/// larger than one segment waited up to 40 ms for the server's delayed ACK.
#[tokio::test]
async fn postgres_connections_send_without_nagle_delay() {
    let url = support::database_url();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let port = options.get_port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("the PostgreSQL server (RINGSIDE_TEST_DATABASE_URL)");
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    let flags = ringside_testkit::sockets::tcp_nodelay_flags(|_, peer| peer.port() == port);
    assert!(
        !flags.is_empty(),
        "found no connection to the PostgreSQL server"
    );
    assert!(
        flags.iter().all(|&on| on),
        "TCP_NODELAY is off on a connection to PostgreSQL"
    );
    pool.close().await;
}
