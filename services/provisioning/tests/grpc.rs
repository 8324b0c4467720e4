//! The gRPC API end to end: a real tonic server on 127.0.0.1:0 serving
//! `ProvisioningApi`, the generated client, once on SQLite (a temp dir) and
//! once on the real PostgreSQL (a private schema per test, dropped at the
//! end). The PostgreSQL half fails, never skips, when the server is not there.
//!
//! The server's interceptor stands in for the gateway's authentication: it
//! turns the metadata `x-test-tenant` / `x-test-role` into the caller's
//! [`Actor`] in the request extensions (no metadata, no actor).

mod support;

use std::sync::Arc;

use ringside_proto::prost::Message as _;
use ringside_proto::provisioning::v1 as pb;
use ringside_proto::provisioning::v1::provisioning_client::ProvisioningClient;
use ringside_provisioning::crypto::SecretKey;
use ringside_provisioning::grpc::FIELD_ERRORS_KEY;
use ringside_provisioning::{
    Actor, CallRecord, Provisioning, ProvisioningApi, Rated, Role, Store, TenantInput,
};
use ringside_testkit::TestBus;
use sqlx::Executor as _;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";

/// Who a request claims to be, as the gateway would have verified it.
#[derive(Clone, Copy)]
struct Who {
    tenant: &'static str,
    role: Role,
}

const ADMIN_A: Who = Who {
    tenant: TENANT_A,
    role: Role::TenantAdmin,
};
const ADMIN_B: Who = Who {
    tenant: TENANT_B,
    role: Role::TenantAdmin,
};
const VIEWER_A: Who = Who {
    tenant: TENANT_A,
    role: Role::Viewer,
};
const ROOT: Who = Who {
    tenant: "platform",
    role: Role::PlatformAdmin,
};

/// `msg` sent as `who`.
fn req<T>(who: Who, msg: T) -> Request<T> {
    let mut request = Request::new(msg);
    let md = request.metadata_mut();
    md.insert("x-test-tenant", who.tenant.parse().unwrap());
    md.insert("x-test-role", who.role.as_str().parse().unwrap());
    request
}

/// The gateway's part: the caller's identity into the extensions.
#[allow(clippy::result_large_err)]
fn identify(mut request: Request<()>) -> Result<Request<()>, Status> {
    let md = request.metadata();
    let claim = |key: &str| md.get(key).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let (Some(tenant), Some(role)) = (claim("x-test-tenant"), claim("x-test-role")) {
        let actor = Actor {
            user_id: None,
            username: "tester".to_owned(),
            tenant,
            role: Role::parse(&role).ok_or_else(|| Status::unauthenticated("bad role"))?,
        };
        request.extensions_mut().insert(actor);
    }
    Ok(request)
}

/// A running server over a private database, and a client connected to it.
struct App {
    prov: Arc<Provisioning>,
    client: ProvisioningClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    schema: Option<String>,
    _bus: TestBus,
    _dir: Option<tempfile::TempDir>,
}

impl App {
    async fn sqlite() -> App {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&ringside_provisioning::DatabaseSettings {
            url: None,
            data_dir: dir.path().join("data"),
            max_connections: 4,
        })
        .await
        .unwrap();
        App::spawn(store, None, Some(dir)).await
    }

    /// Panics (fails the test) when PostgreSQL is not there.
    async fn postgres() -> App {
        let url = support::database_url();
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = pg_connect(&url).await;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let search_path = schema.clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _meta| {
                let sql = format!("SET search_path TO {search_path}");
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                    Ok(())
                })
            })
            .connect_with(url.parse().unwrap())
            .await
            .unwrap();
        let store = Store::postgres(pool);
        store.migrate().await.unwrap();
        App::spawn(store, Some(schema), None).await
    }

    async fn spawn(store: Store, schema: Option<String>, dir: Option<tempfile::TempDir>) -> App {
        let bus = TestBus::in_process();
        let prov = Arc::new(
            Provisioning::with_store(
                store,
                &SecretKey::generate(),
                bus.bus.clone(),
                bus.topology.clone(),
            )
            .await
            .unwrap(),
        );
        let platform = support::actor("platform", Role::PlatformAdmin);
        for slug in [TENANT_A, TENANT_B] {
            let input = TenantInput {
                slug: slug.into(),
                name: slug.into(),
            };
            prov.create_tenant(&platform, input).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = tonic::service::interceptor::InterceptedService::new(
            ProvisioningApi::new(prov.clone()).into_server(),
            identify,
        );
        tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        let client = ProvisioningClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        App {
            prov,
            client,
            stop: Some(stop),
            schema,
            _bus: bus,
            _dir: dir,
        }
    }
}

async fn pg_connect(url: &str) -> sqlx::postgres::PgConnection {
    use sqlx::Connection as _;
    sqlx::postgres::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {url} (set RINGSIDE_TEST_DATABASE_URL): {e}")
        })
}

impl Drop for App {
    /// Stops the server and drops the PostgreSQL schema, also after a failure.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(schema) = self.schema.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut conn = pg_connect(&support::database_url()).await;
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .await;
                });
            })
            .join();
        }
    }
}

fn trunk_customer(code: &str) -> pb::CustomerInput {
    pb::CustomerInput {
        code: code.into(),
        name: format!("Customer {code}"),
        r#type: pb::CustomerType::Trunk.into(),
        trunk_ip: Some("192.0.2.10".into()),
        channel_limit: Some(30),
        status: pb::CustomerStatus::Unspecified.into(),
    }
}

fn create_customer(code: &str) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        tenant: None,
        customer: Some(trunk_customer(code)),
    }
}

fn by_id(id: &str) -> pb::IdRequest {
    pb::IdRequest {
        tenant: None,
        id: id.to_owned(),
    }
}

/// The field names of an INVALID_ARGUMENT's JSON trailer.
fn error_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let raw = status.metadata().get_bin(FIELD_ERRORS_KEY).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw.to_bytes().unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn customers_round_trip(mut app: App) {
    let c = &mut app.client;
    let created = c
        .create_customer(req(ADMIN_A, create_customer("acme")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.code, "acme");
    assert_eq!(created.r#type(), pb::CustomerType::Trunk);
    assert_eq!(created.status(), pb::CustomerStatus::Active, "the default");
    assert!(uuid::Uuid::parse_str(&created.id).is_ok());
    let got = c
        .get_customer(req(ADMIN_A, by_id(&created.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);

    let mut input = trunk_customer("acme");
    input.name = "Acme Corp".into();
    input.status = pb::CustomerStatus::Suspended.into();
    let updated = c
        .update_customer(req(
            ADMIN_A,
            pb::UpdateCustomerRequest {
                tenant: None,
                id: created.id.clone(),
                customer: Some(input),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "Acme Corp");
    assert_eq!(updated.status(), pb::CustomerStatus::Suspended);

    let dup = c
        .create_customer(req(ADMIN_A, create_customer("acme")))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup:?}");

    let deleted = c
        .delete_customer(req(ADMIN_A, by_id(&created.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.name, "Acme Corp");
    let gone = c
        .get_customer(req(ADMIN_A, by_id(&created.id)))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(gone.message(), "customer not found");
}

async fn extensions_never_answer_their_secret(mut app: App) {
    let c = &mut app.client;
    let secret = "a-strong-secret-1234";
    let input = pb::ExtensionInput {
        extension: "1001".into(),
        secret: Some(secret.into()),
        caller_id: "\"Ann\" <1001>".into(),
        ..Default::default()
    };
    let created = c
        .create_extension(req(
            ADMIN_A,
            pb::CreateExtensionRequest {
                tenant: None,
                extension: Some(input),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.extension, "1001");
    assert_eq!(created.codecs, ["ulaw", "alaw"], "the default codecs");
    assert_eq!(created.max_contacts, 1, "the default");
    let leaked = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).contains(secret);
    assert!(!leaked(created.encode_to_vec()));

    let got = c
        .get_extension(req(ADMIN_A, by_id(&created.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);
    let list = c
        .list_extensions(req(ADMIN_A, pb::ListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total, 1);
    assert!(!leaked(list.encode_to_vec()));

    // Update without a secret keeps the stored one.
    let updated = c
        .update_extension(req(
            ADMIN_A,
            pb::UpdateExtensionRequest {
                tenant: None,
                id: created.id.clone(),
                extension: Some(pb::ExtensionInput {
                    extension: "1002".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.extension, "1002");
    let admin = support::admin(TENANT_A);
    let id = uuid::Uuid::parse_str(&created.id).unwrap();
    assert_eq!(app.prov.extension_secret(&admin, id).await.unwrap(), secret);
    let weak = c
        .create_extension(req(
            ADMIN_A,
            pb::CreateExtensionRequest {
                tenant: None,
                extension: Some(pb::ExtensionInput {
                    extension: "1003".into(),
                    secret: Some("short".into()),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&weak), ["secret"]);
    assert!(!weak.message().contains("short"));
    c.delete_extension(req(ADMIN_A, by_id(&created.id)))
        .await
        .unwrap();
}

async fn lists_are_paged_with_totals(mut app: App) {
    let c = &mut app.client;
    for i in 0..5 {
        c.create_customer(req(ADMIN_A, create_customer(&format!("c{i}"))))
            .await
            .unwrap();
    }
    let page = |page, per_page| {
        req(
            ADMIN_A,
            pb::ListRequest {
                tenant: None,
                page,
                per_page,
            },
        )
    };
    let second = c.list_customers(page(2, 2)).await.unwrap().into_inner();
    assert_eq!((second.total, second.page, second.per_page), (5, 2, 2));
    let codes: Vec<&str> = second.items.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, ["c2", "c3"], "ordered by code");
    let last = c.list_customers(page(3, 2)).await.unwrap().into_inner();
    assert_eq!((last.items.len(), last.total), (1, 5));
    let defaults = c.list_customers(page(0, 0)).await.unwrap().into_inner();
    assert_eq!(
        (defaults.items.len(), defaults.page, defaults.per_page),
        (5, 1, 50)
    );
    let other = c
        .list_customers(req(ADMIN_B, pb::ListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.total, 0, "another tenant's rows are not counted");
}

async fn invalid_input_names_the_field(mut app: App) {
    let c = &mut app.client;
    let mut input = trunk_customer("acme");
    input.trunk_ip = None;
    input.channel_limit = Some(0);
    let e = c
        .create_customer(req(
            ADMIN_A,
            pb::CreateCustomerRequest {
                tenant: None,
                customer: Some(input),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["trunk_ip", "channel_limit"]);
    assert!(e.message().contains("trunk_ip"), "{}", e.message());

    let e = c
        .create_customer(req(ADMIN_A, pb::CreateCustomerRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["customer"]);

    let e = c
        .create_route(req(
            ADMIN_A,
            pb::CreateRouteRequest {
                tenant: None,
                route: Some(pb::RouteInput {
                    name: "out".into(),
                    pattern: "_X.".into(),
                    gateway_id: "not-a-uuid".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["gateway_id"]);

    let e = c
        .create_tariff(req(
            ADMIN_A,
            pb::CreateTariffRequest {
                tenant: None,
                tariff: Some(pb::TariffInput {
                    pattern: "49".into(),
                    price_per_minute: "0.0000001".into(),
                    billing_increment: "60".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["billing_increment", "price_per_minute"]);
    let e = c
        .create_tariff(req(
            ADMIN_A,
            pb::CreateTariffRequest {
                tenant: None,
                tariff: Some(pb::TariffInput {
                    pattern: "49".into(),
                    price_per_minute: "0.02".into(),
                    cost_per_minute: "-1".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["cost_per_minute"]);
}

async fn another_tenants_ids_are_not_found(mut app: App) {
    let c = &mut app.client;
    let theirs = c
        .create_customer(req(ADMIN_B, create_customer("beta")))
        .await
        .unwrap()
        .into_inner();
    let e = c
        .get_customer(req(ADMIN_A, by_id(&theirs.id)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .delete_customer(req(ADMIN_A, by_id(&theirs.id)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .get_customer(req(ADMIN_A, by_id("not-a-uuid")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Naming the other tenant does not help a tenant admin; a platform
    // admin may.
    let in_b = |who| {
        req(
            who,
            pb::IdRequest {
                tenant: Some(TENANT_B.into()),
                id: theirs.id.clone(),
            },
        )
    };
    let e = c.get_customer(in_b(ADMIN_A)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "tenant not found");
    let got = c.get_customer(in_b(ROOT)).await.unwrap().into_inner();
    assert_eq!(got.code, "beta");
    let e = c
        .list_customers(req(
            ROOT,
            pb::ListRequest {
                tenant: Some("not a tenant".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["tenant"]);
}

async fn viewers_may_read_but_not_create(mut app: App) {
    let c = &mut app.client;
    let e = c
        .create_customer(req(VIEWER_A, create_customer("acme")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let list = c
        .list_customers(req(VIEWER_A, pb::ListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total, 0);
    let e = c
        .list_audit_log(req(VIEWER_A, pb::ListAuditLogRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
}

async fn a_request_without_a_caller_is_unauthenticated(mut app: App) {
    let e = app
        .client
        .list_customers(pb::ListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = app
        .client
        .create_customer(create_customer("acme"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}

async fn dids_allocate_and_deallocate(mut app: App) {
    let c = &mut app.client;
    let customer = c
        .create_customer(req(ADMIN_A, create_customer("acme")))
        .await
        .unwrap()
        .into_inner();
    let did = c
        .create_did(req(
            ADMIN_A,
            pb::CreateDidRequest {
                tenant: None,
                did: Some(pb::DidInput {
                    number: "4930123456".into(),
                    monthly_cost: "1.5".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(did.number, "+4930123456", "normalized");
    assert_eq!(did.monthly_cost, "1.500000");
    assert_eq!(did.status(), pb::DidStatus::Available);
    assert_eq!(did.customer_id, None);

    let allocate = |customer_id: &str| {
        req(
            ADMIN_A,
            pb::AllocateDidRequest {
                tenant: None,
                id: did.id.clone(),
                customer_id: customer_id.to_owned(),
                destination: String::new(),
            },
        )
    };
    let allocation = c
        .allocate_did(allocate(&customer.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (allocation.did_id.as_str(), allocation.customer_id.as_str()),
        (did.id.as_str(), customer.id.as_str())
    );
    assert_eq!(allocation.destination, "trunk", "the default");
    let shown = c
        .get_did(req(ADMIN_A, by_id(&did.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.status(), pb::DidStatus::Allocated);
    assert_eq!(shown.customer_id.as_deref(), Some(customer.id.as_str()));
    assert_eq!(shown.destination.as_deref(), Some("trunk"));
    let again = c.allocate_did(allocate(&customer.id)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let bad = c.allocate_did(allocate("nobody")).await.unwrap_err();
    assert_eq!(error_fields(&bad), ["customer_id"]);

    let ended = c
        .deallocate_did(req(ADMIN_A, by_id(&did.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended, allocation);
    let free = c
        .list_dids(req(ADMIN_A, pb::ListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(free.items[0].status(), pb::DidStatus::Available);
    assert_eq!(free.items[0].customer_id, None);
    let e = c
        .deallocate_did(req(ADMIN_A, by_id(&did.id)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let log = c
        .list_audit_log(req(
            ADMIN_A,
            pb::ListAuditLogRequest {
                entity_id: Some(did.id.clone()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["deallocated", "allocated", "created"]);
    assert_eq!(log.items[0].actor, "tester");
    let changes = log.items[1].changes.as_ref().unwrap();
    assert!(changes.fields.contains_key("customer_id"));
}

fn call(call_id: &str, to: &str, start_ms: i64, billsec: i64, trunk: &str) -> CallRecord {
    serde_json::from_value(serde_json::json!({
        "call_id": call_id,
        "tenant": TENANT_A,
        "pbx": "pbx1",
        "from": "+4930999",
        "to": to,
        "direction": "outbound",
        "trunk": trunk,
        "start_ms": start_ms,
        "answer_ms": if billsec > 0 { Some(start_ms + 5_000) } else { None },
        "end_ms": start_ms + 5_000 + billsec * 1000,
        "billable_seconds": billsec,
        "disposition": if billsec > 0 { "ANSWERED" } else { "NO ANSWER" },
        "hangup_cause": 16,
    }))
    .unwrap()
}

async fn the_cdr_report_filters_and_totals(mut app: App) {
    let c = &mut app.client;
    c.create_tariff(req(
        ADMIN_A,
        pb::CreateTariffRequest {
            tenant: None,
            tariff: Some(pb::TariffInput {
                pattern: "49".into(),
                cost_per_minute: "0.01".into(),
                price_per_minute: "0.02".into(),
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let gw = c
        .create_gateway(req(
            ADMIN_A,
            pb::CreateGatewayRequest {
                tenant: None,
                gateway: Some(pb::GatewayInput {
                    name: "gw1".into(),
                    ip_address: "sip.carrier.example".into(),
                    transport: pb::Transport::Tcp.into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((gw.port, gw.transport()), (5060, pb::Transport::Tcp));
    let t0 = 1_795_000_000_000;
    for record in [
        call("c1", "+49301234", t0, 61, "gw1"),
        call("c2", "+49891234", t0 + 1000, 0, "gw1"),
        call("c3", "+49891234", t0 + 2000, 30, "other"),
    ] {
        assert!(matches!(
            app.prov.rate_call(&record).await.unwrap(),
            Rated::Stored(_)
        ));
    }
    let report = |filter: pb::CdrReportRequest| req(ADMIN_A, filter);
    let all = c
        .cdr_report(report(pb::CdrReportRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total, 3);
    let by_gateway = c
        .cdr_report(report(pb::CdrReportRequest {
            gateway_id: Some(gw.id.clone()),
            per_page: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((by_gateway.total, by_gateway.items.len()), (2, 1));
    let totals = by_gateway.totals.unwrap();
    assert_eq!((totals.calls, totals.answered), (2, 1));
    // 61 s at 60/60 → 120 s at 0.02 a minute.
    assert_eq!(totals.price, "0.040000");
    assert_eq!(totals.margin, "0.020000");
    let answered = c
        .cdr_report(report(pb::CdrReportRequest {
            disposition: Some("answered".into()),
            from_ms: Some(t0 + 1),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.total, 1);
    assert_eq!(answered.items[0].call_id, "c3");
    let e = c
        .cdr_report(report(pb::CdrReportRequest {
            customer_id: Some("nope".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(error_fields(&e), ["customer_id"]);
    let unknown_number = c
        .cdr_report(report(pb::CdrReportRequest {
            did: Some("+4930000000".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown_number.total, 0, "a number the tenant does not hold");
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::App::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::App::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    customers_round_trip,
    extensions_never_answer_their_secret,
    lists_are_paged_with_totals,
    invalid_input_names_the_field,
    another_tenants_ids_are_not_found,
    viewers_may_read_but_not_create,
    a_request_without_a_caller_is_unauthenticated,
    dids_allocate_and_deallocate,
    the_cdr_report_filters_and_totals,
);
