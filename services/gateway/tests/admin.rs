//! The admin REST routes on a real loopback listener: the real gateway
//! router with `admin` set, provisioning on SQLite in a temporary directory,
//! the in-process bus, and logins checked by `ProvisioningAccounts`.

mod support;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use ringside_ami::MessageKind;
use ringside_ami::json::MessageJson;
use ringside_ami_ingestor::actions::{ActionReply, ActionRequest};
use ringside_bus::{Outgoing, PbxId, TenantId};
use ringside_gateway::GatewayDeps;
use ringside_gateway::admin::{AdminDoc, ProvisioningAccounts, admin_router};
use ringside_provisioning::{
    CallRecord, DatabaseSettings, Provisioning, ProvisioningSettings, Role as ProvRole,
};
use ringside_testkit::TestBus;
use serde_json::{Value, json};
use support::*;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;

/// A gateway with the admin routes, and the provisioning service under it.
struct AdminApp {
    app: TestApp,
    provisioning: Arc<Provisioning>,
    _dir: tempfile::TempDir,
}

/// Users (password [`PASSWORD`]): `admin` (tenant_admin), `op` (operator),
/// `viewer` (viewer), `root` (platform_admin) in tenant `acme`;
/// `beta-admin` (tenant_admin) in tenant `beta`.
async fn spawn_admin() -> AdminApp {
    let test = TestBus::in_process();
    let dir = tempfile::tempdir().unwrap();
    let settings = ProvisioningSettings {
        database: DatabaseSettings {
            url: None,
            data_dir: dir.path().join("data"),
            ..DatabaseSettings::default()
        },
        ..ProvisioningSettings::default()
    };
    let provisioning = Arc::new(
        Provisioning::open(&settings, test.bus.clone(), test.topology.clone())
            .await
            .expect("provisioning opens on SQLite"),
    );
    for (tenant, user, role) in [
        ("acme", "admin", ProvRole::TenantAdmin),
        ("acme", "op", ProvRole::Operator),
        ("acme", "viewer", ProvRole::Viewer),
        ("acme", "root", ProvRole::PlatformAdmin),
        ("beta", "beta-admin", ProvRole::TenantAdmin),
    ] {
        provisioning
            .bootstrap_user(tenant, user, PASSWORD, role)
            .await
            .unwrap();
    }
    let subjects = test.topology.subjects().clone();
    let bus = test.bus.clone();
    let deps = GatewayDeps {
        bus: bus.clone(),
        subjects: subjects.clone(),
        accounts: Arc::new(ProvisioningAccounts::new(provisioning.clone())),
        metrics: None,
        admin: Some(admin_router(provisioning.clone(), bus.clone())),
        provisioning: Some(provisioning.clone()),
    };
    let shutdown = CancellationToken::new();
    let server = ringside_gateway::bind(settings_for_admin(), deps, shutdown.clone())
        .await
        .expect("the gateway binds");
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    AdminApp {
        app: TestApp {
            addr,
            bus,
            subjects,
            base: "/".to_owned(),
            shutdown,
            test_bus: Some(test),
        },
        provisioning,
        _dir: dir,
    }
}

fn settings_for_admin() -> ringside_gateway::GatewaySettings {
    support::settings()
}

impl AdminApp {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> HttpResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http(self.app.addr, method, &self.app.url(path), &headers, body).await
    }
    async fn get(&self, path: &str, token: &str) -> HttpResponse {
        self.send("GET", path, Some(token), None).await
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> HttpResponse {
        self.send("POST", path, Some(token), Some(&body)).await
    }
    async fn put(&self, path: &str, token: &str, body: Value) -> HttpResponse {
        self.send("PUT", path, Some(token), Some(&body)).await
    }
    async fn delete(&self, path: &str, token: &str) -> HttpResponse {
        self.send("DELETE", path, Some(token), None).await
    }
    async fn login(&self, user: &str) -> String {
        self.app.login(user).await
    }
    /// Creates through the API and returns the new row's id.
    async fn create(&self, path: &str, token: &str, body: Value) -> String {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, 201, "POST {path}: {}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }
}

fn field_errors(r: &HttpResponse) -> Vec<(String, String)> {
    r.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_owned(),
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A provider, gateway, trunk customer, route, extension, DID and tariff of
/// the token's tenant; returns their ids by kind.
async fn seed(t: &AdminApp, token: &str) -> Value {
    let provider = t
        .create(
            "api/v1/providers/",
            token,
            json!({"name": "Carrier", "type": "sip", "cost_per_minute": "0.01"}),
        )
        .await;
    let gateway = t
        .create(
            "api/v1/gateways/",
            token,
            json!({"name": "gw1", "ip_address": "192.0.2.10", "port": 5060, "codecs": "ulaw,alaw", "provider_id": provider}),
        )
        .await;
    let customer = t
        .create(
            "api/v1/customers/",
            token,
            json!({"code": "cust1", "name": "Customer One", "type": "trunk", "trunk_ip": "198.51.100.7"}),
        )
        .await;
    let route = t
        .create(
            "api/v1/routes/",
            token,
            json!({"name": "national", "pattern": "_0NXXXXXXXX", "gateway_id": gateway, "priority": 1}),
        )
        .await;
    let extension = t
        .create(
            "api/v1/extensions/",
            token,
            json!({"extension": "1001", "caller_id": "\"Ann\" <1001>", "customer_id": customer}),
        )
        .await;
    let did = t
        .create(
            "api/v1/dids/",
            token,
            json!({"number": "+4930123456", "provider_id": provider, "gateway_id": gateway}),
        )
        .await;
    let tariff = t
        .create(
            "api/v1/tariffs/",
            token,
            json!({"pattern": "49", "cost_per_minute": "0.01", "price_per_minute": "0.02", "increment": "30/6"}),
        )
        .await;
    json!({
        "provider": provider, "gateway": gateway, "customer": customer, "route": route,
        "extension": extension, "did": did, "tariff": tariff,
    })
}

#[tokio::test]
async fn every_entity_group_lists_reads_updates_and_deletes_its_rows() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let ids = seed(&t, &admin).await;

    for (path, kind) in [
        ("customers", "customer"),
        ("providers", "provider"),
        ("gateways", "gateway"),
        ("dids", "did"),
        ("routes", "route"),
        ("extensions", "extension"),
        ("tariffs", "tariff"),
    ] {
        let list = t
            .get(&format!("api/v1/{path}/?limit=10&offset=0"), &admin)
            .await;
        assert_eq!(list.status, 200, "{path}: {}", list.text());
        let body = list.json();
        assert_eq!(body["total"], 1, "{path}");
        assert_eq!(
            (body["limit"].as_u64(), body["offset"].as_u64()),
            (Some(10), Some(0))
        );
        assert_eq!(body["items"][0]["id"], ids[kind], "{path}");
        let one = t
            .get(
                &format!("api/v1/{path}/{}", ids[kind].as_str().unwrap()),
                &admin,
            )
            .await;
        assert_eq!(one.status, 200, "{path}");
        assert_eq!(one.json()["id"], ids[kind]);
    }
    // Pagination past the end, and without the trailing slash.
    let empty = t.get("api/v1/customers?offset=5", &admin).await.json();
    assert_eq!(
        (
            empty["total"].as_u64(),
            empty["items"].as_array().unwrap().len()
        ),
        (Some(1), 0)
    );

    // Wire names: the Admin API's `increment`, codec lists from a form field.
    let tariff = t
        .get(
            &format!("api/v1/tariffs/{}", ids["tariff"].as_str().unwrap()),
            &admin,
        )
        .await
        .json();
    assert_eq!(tariff["increment"], "30/6");
    assert_eq!(tariff["price_per_minute"], "0.020000");
    let gateway = t
        .get(
            &format!("api/v1/gateways/{}", ids["gateway"].as_str().unwrap()),
            &admin,
        )
        .await
        .json();
    assert_eq!(gateway["codecs"], json!(["ulaw", "alaw"]));

    // PUT replaces.
    let customer = format!("api/v1/customers/{}", ids["customer"].as_str().unwrap());
    let r = t
        .put(&customer, &admin, json!({"code": "cust1", "name": "Renamed", "type": "trunk", "trunk_ip": "198.51.100.8"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        t.get(&customer, &admin).await.json()["trunk_ip"],
        "198.51.100.8"
    );

    // DELETE, then it is gone.
    let route = format!("api/v1/routes/{}", ids["route"].as_str().unwrap());
    assert_eq!(t.delete(&route, &admin).await.status, 204);
    assert_eq!(t.get(&route, &admin).await.status, 404);
    assert_eq!(t.delete(&route, &admin).await.status, 404);
    // A gateway still used by a DID cannot go.
    let gw = format!("api/v1/gateways/{}", ids["gateway"].as_str().unwrap());
    let r = t.delete(&gw, &admin).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "conflict".to_owned()),
        "{}",
        r.text()
    );
    // A duplicate code is a conflict too.
    let r = t
        .post(
            "api/v1/customers/",
            &admin,
            json!({"code": "cust1", "name": "Again", "type": "extension"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    // Ids that are not UUIDs do not exist.
    assert_eq!(
        t.get("api/v1/customers/not-a-uuid", &admin).await.status,
        404
    );
}

#[tokio::test]
async fn an_extension_secret_is_shown_once_and_a_pbx_secret_never() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let r = t
        .post("api/v1/extensions/", &admin, json!({"extension": "2001"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let secret = created["secret"]
        .as_str()
        .expect("a generated secret")
        .to_owned();
    assert!(secret.len() >= 12);
    let id = created["id"].as_str().unwrap();
    let read = t.get(&format!("api/v1/extensions/{id}"), &admin).await;
    assert!(!read.text().contains(&secret));
    assert!(read.json().get("secret").is_none());

    let pbx_secret = "ami-Secret-4711";
    let r = t
        .post(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "port": 5038, "username": "ringside", "secret": pbx_secret, "apply_mode": "local"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains(pbx_secret));
    let pbx = r.json();
    assert_eq!(pbx["apply_mode"], "file");
    let id = pbx["id"].as_str().unwrap();
    for path in [
        format!("api/v1/pbx/{id}"),
        "api/v1/pbx/".to_owned(),
        "api/v1/audit".to_owned(),
    ] {
        let r = t.get(&path, &admin).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.text().contains(pbx_secret),
            "{path} leaks the AMI secret"
        );
    }
    // Update without a secret keeps it; the name changes.
    let r = t
        .put(
            &format!("api/v1/pbx/{id}"),
            &admin,
            json!({"name": "pbx-main", "host": "127.0.0.1", "username": "ringside"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "pbx-main");
    // Creating without a secret is a field error.
    let r = t
        .post(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx2", "host": "127.0.0.1", "username": "ringside"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(field_errors(&r).contains(&("secret".into(), "required".into())));
    assert_eq!(
        t.delete(&format!("api/v1/pbx/{id}"), &admin).await.status,
        204
    );
}

#[tokio::test]
async fn without_a_valid_token_every_admin_route_is_401() {
    let t = spawn_admin().await;
    let id = uuid::Uuid::new_v4();
    let routes = [
        ("GET", "api/v1/customers/".to_owned()),
        ("POST", "api/v1/customers/".to_owned()),
        ("GET", format!("api/v1/customers/{id}")),
        ("PUT", format!("api/v1/providers/{id}")),
        ("DELETE", format!("api/v1/gateways/{id}")),
        ("GET", "api/v1/dids/".to_owned()),
        ("POST", format!("api/v1/dids/{id}/allocate")),
        ("POST", format!("api/v1/dids/{id}/deallocate")),
        ("GET", "api/v1/routes/".to_owned()),
        ("GET", "api/v1/extensions/".to_owned()),
        ("GET", "api/v1/tariffs/".to_owned()),
        ("GET", "api/v1/pbx/".to_owned()),
        ("GET", format!("api/v1/pbx/{id}/deployments")),
        ("POST", format!("api/v1/pbx/{id}/deployments")),
        ("POST", format!("api/v1/pbx/{id}/deployments/{id}/rollback")),
        ("GET", "api/v1/users/".to_owned()),
        ("GET", "api/v1/tenants/".to_owned()),
        ("GET", "api/v1/audit".to_owned()),
        ("GET", "api/v1/reports/cdr".to_owned()),
        ("GET", "api/v1/dashboard/stats".to_owned()),
        ("POST", "api/v1/conference/".to_owned()),
    ];
    for (method, path) in &routes {
        let body = (*method == "POST" || *method == "PUT").then(|| json!({}));
        let r = t.send(method, path, None, body.as_ref()).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "unauthorized".to_owned()),
            "{method} {path}"
        );
        let r = t
            .send(method, path, Some("forged.token.value"), body.as_ref())
            .await;
        assert_eq!(r.status, 401, "{method} {path} with a forged token");
    }
    // A wrong password is refused by ProvisioningAccounts.
    let r = t
        .app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "admin", "password": "not the password"}),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "nobody", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn viewers_read_but_every_write_is_403() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let viewer = t.login("viewer").await;
    let ids = seed(&t, &admin).await;
    let pbx = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami"}),
        )
        .await;
    for path in [
        "customers",
        "providers",
        "gateways",
        "dids",
        "routes",
        "extensions",
        "tariffs",
        "pbx",
    ] {
        assert_eq!(
            t.get(&format!("api/v1/{path}/"), &viewer).await.status,
            200,
            "{path}"
        );
    }
    assert_eq!(t.get("api/v1/reports/cdr", &viewer).await.status, 200);
    assert_eq!(t.get("api/v1/dashboard/stats", &viewer).await.status, 200);

    let customer = ids["customer"].as_str().unwrap();
    let did = ids["did"].as_str().unwrap();
    let checks = [
        t.post(
            "api/v1/customers/",
            &viewer,
            json!({"code": "c9", "name": "C", "type": "extension"}),
        )
        .await,
        t.post("api/v1/providers/", &viewer, json!({"name": "P"}))
            .await,
        t.post(
            "api/v1/tariffs/",
            &viewer,
            json!({"pattern": "1", "price_per_minute": "0.1"}),
        )
        .await,
        t.put(
            &format!("api/v1/customers/{customer}"),
            &viewer,
            json!({"code": "cust1", "name": "X", "type": "trunk", "trunk_ip": "198.51.100.9"}),
        )
        .await,
        t.delete(&format!("api/v1/customers/{customer}"), &viewer)
            .await,
        t.post(
            &format!("api/v1/dids/{did}/allocate"),
            &viewer,
            json!({"customer_id": customer, "destination": "trunk"}),
        )
        .await,
        t.post(
            "api/v1/users/",
            &viewer,
            json!({"username": "eve", "password": "longenough1", "role": "viewer"}),
        )
        .await,
        t.get("api/v1/users/", &viewer).await,
        t.post(
            "api/v1/pbx/",
            &viewer,
            json!({"name": "pbx9", "host": "127.0.0.1", "username": "u", "secret": "s3cret-ami"}),
        )
        .await,
        t.delete(&format!("api/v1/pbx/{pbx}"), &viewer).await,
        t.get("api/v1/audit", &viewer).await,
        t.get("api/v1/tenants/", &viewer).await,
        t.get(&format!("api/v1/pbx/{pbx}/deployments"), &viewer)
            .await,
        t.post(
            &format!("api/v1/pbx/{pbx}/deployments"),
            &viewer,
            json!({"dry_run": true}),
        )
        .await,
        t.post(
            "api/v1/conference/",
            &viewer,
            json!({"room": "r1", "numbers": ["1001"], "pbx": pbx}),
        )
        .await,
    ];
    for (i, r) in checks.iter().enumerate() {
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden".to_owned()),
            "check {i}: {}",
            r.text()
        );
    }
    // Operators may write customers but not gateways.
    let op = t.login("op").await;
    assert_eq!(
        t.post(
            "api/v1/customers/",
            &op,
            json!({"code": "c2", "name": "C2", "type": "extension"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        t.post(
            "api/v1/gateways/",
            &op,
            json!({"name": "gw9", "ip_address": "192.0.2.99"})
        )
        .await
        .status,
        403
    );
    // Only platform admins create tenants.
    assert_eq!(
        t.post(
            "api/v1/tenants/",
            &admin,
            json!({"slug": "gamma", "name": "G"})
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn another_tenants_rows_are_not_found() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let beta = t.login("beta-admin").await;
    let ids = seed(&t, &admin).await;
    let me = t.get("api/v1/auth/me", &admin).await.json();
    let admin_id = me["id"].as_str().unwrap().to_owned();
    let pbx = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami"}),
        )
        .await;
    let customer = ids["customer"].as_str().unwrap();
    let did = ids["did"].as_str().unwrap();

    let checks = [
        t.get(&format!("api/v1/customers/{customer}"), &beta).await,
        t.put(
            &format!("api/v1/customers/{customer}"),
            &beta,
            json!({"code": "x", "name": "X", "type": "extension"}),
        )
        .await,
        t.delete(&format!("api/v1/customers/{customer}"), &beta)
            .await,
        t.get(&format!("api/v1/dids/{did}"), &beta).await,
        t.get(&format!("api/v1/pbx/{pbx}"), &beta).await,
        t.get(&format!("api/v1/pbx/{pbx}/deployments"), &beta).await,
        t.post(
            &format!("api/v1/pbx/{pbx}/deployments"),
            &beta,
            json!({"dry_run": true}),
        )
        .await,
        t.post(
            "api/v1/conference/",
            &beta,
            json!({"room": "r1", "numbers": ["1001"], "pbx": pbx}),
        )
        .await,
        // Another tenant by name is not found either (not a platform admin).
        t.get("api/v1/customers/?tenant=acme", &beta).await,
        t.get(&format!("api/v1/users/{admin_id}"), &beta).await,
        t.delete(&format!("api/v1/users/{admin_id}"), &beta).await,
    ];
    for (i, r) in checks.iter().enumerate() {
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found".to_owned()),
            "check {i}: {}",
            r.text()
        );
    }
    // Allocating tenant A's DID, or to tenant A's customer, does not work.
    let r = t
        .post(
            &format!("api/v1/dids/{did}/allocate"),
            &beta,
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    // Lists are the caller's tenant's only.
    assert_eq!(t.get("api/v1/customers/", &beta).await.json()["total"], 0);
    // The row is untouched.
    assert_eq!(
        t.get(&format!("api/v1/customers/{customer}"), &admin)
            .await
            .json()["name"],
        "Customer One"
    );
    // A platform admin may act on another tenant explicitly.
    let root = t.login("root").await;
    let r = t.get("api/v1/customers/?tenant=beta", &root).await;
    assert_eq!((r.status, r.json()["total"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn invalid_input_is_422_with_the_fields_named() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let ids = seed(&t, &admin).await;

    let cases = [
        ("api/v1/dids/", json!({"number": "not-a-number"}), "number"),
        (
            "api/v1/customers/",
            json!({"code": "c3", "name": "C", "type": "trunk", "trunk_ip": "10.0.0.300"}),
            "trunk_ip",
        ),
        (
            "api/v1/gateways/",
            json!({"name": "gw2", "ip_address": "bad host!"}),
            "ip_address",
        ),
        (
            "api/v1/routes/",
            json!({"name": "r", "pattern": "_X[;", "gateway_id": ids["gateway"]}),
            "pattern",
        ),
        (
            "api/v1/tariffs/",
            json!({"pattern": "44", "price_per_minute": "-0.01"}),
            "price_per_minute",
        ),
        (
            "api/v1/providers/",
            json!({"name": "P2", "cost_per_minute": -1}),
            "cost_per_minute",
        ),
        (
            "api/v1/tariffs/",
            json!({"cost_per_minute": "0.01", "price_per_minute": "0.02"}),
            "pattern",
        ),
        (
            "api/v1/extensions/",
            json!({"extension": "12a"}),
            "extension",
        ),
        (
            "api/v1/users/",
            json!({"username": "bob", "password": "short", "role": "viewer"}),
            "password",
        ),
    ];
    for (path, body, field) in cases {
        let r = t.post(path, &admin, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation".to_owned()),
            "{path} {body}: {}",
            r.text()
        );
        let fields = field_errors(&r);
        assert!(
            fields.iter().any(|(f, _)| f == field),
            "{path}: expected {field} in {fields:?}"
        );
    }
    // Several problems at once, each named.
    let r = t
        .post(
            "api/v1/customers/",
            &admin,
            json!({"code": "bad code", "name": "", "type": "trunk"}),
        )
        .await;
    let fields: Vec<String> = field_errors(&r).into_iter().map(|(f, _)| f).collect();
    for f in ["code", "name", "trunk_ip"] {
        assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
    }
    // A reference to a missing row.
    let r = t
        .post(
            "api/v1/routes/",
            &admin,
            json!({"name": "r", "pattern": "_1X.", "gateway_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(field_errors(&r).contains(&("gateway_id".into(), "not_found".into())));
    // Filters of the report and the audit log are checked too.
    let r = t.get("api/v1/reports/cdr?from=yesterday", &admin).await;
    assert_eq!((r.status, field_errors(&r)[0].0.as_str()), (422, "from"));
    let r = t.get("api/v1/reports/cdr?gateway_id=nope", &admin).await;
    assert_eq!(
        (r.status, field_errors(&r)[0].0.as_str()),
        (422, "gateway_id")
    );
    let r = t.get("api/v1/reports/cdr?format=xml", &admin).await;
    assert_eq!(r.status, 422);
    let r = t.get("api/v1/audit?entity_id=nope", &admin).await;
    assert_eq!(r.status, 422);
    // Unreadable JSON is a 400.
    let r = http_text(
        t.app.addr,
        "POST",
        "/api/v1/customers/",
        &[("Authorization", &format!("Bearer {admin}"))],
        "{not json",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_did_is_allocated_to_a_customer_and_released() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let op = t.login("op").await;
    let ids = seed(&t, &admin).await;
    let did = ids["did"].as_str().unwrap();
    let customer = ids["customer"].as_str().unwrap();
    let path = format!("api/v1/dids/{did}");

    let before = t.get(&path, &op).await.json();
    assert_eq!(
        (before["status"].as_str(), before["customer_id"].is_null()),
        (Some("available"), true)
    );

    // Operators allocate; the destination defaults to the customer's trunk.
    let r = t
        .post(
            &format!("{path}/allocate"),
            &op,
            json!({"customer_id": customer, "destination": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["destination"], "trunk");
    let after = t.get(&path, &op).await.json();
    assert_eq!(after["status"], "allocated");
    assert_eq!(after["customer_id"], customer);
    let listed = t.get("api/v1/dids/", &op).await.json();
    assert_eq!(listed["items"][0]["customer_id"], customer);

    // Twice is a conflict; an unknown customer a field error.
    let r = t
        .post(
            &format!("{path}/allocate"),
            &op,
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = t
        .post(
            &format!("{path}/allocate"),
            &op,
            json!({"customer_id": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, field_errors(&r)[0].0.as_str()),
        (422, "customer_id")
    );

    let r = t.post(&format!("{path}/deallocate"), &op, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let released = t.get(&path, &op).await.json();
    assert_eq!(
        (
            released["status"].as_str(),
            released["customer_id"].is_null()
        ),
        (Some("available"), true)
    );
    // Releasing a free DID: nothing to release.
    assert_eq!(
        t.post(&format!("{path}/deallocate"), &op, json!({}))
            .await
            .status,
        404
    );

    // The audit log saw both, with who did it.
    let audit = t.get("api/v1/audit?entity=did", &admin).await.json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"allocated") && actions.contains(&"deallocated"),
        "{actions:?}"
    );
    let entry = &audit["items"][0];
    assert_eq!(entry["actor"], "op");
    assert_eq!(entry["at"], entry["at_ms"]);
}

fn call(tenant: &str, id: &str, to: &str, start_ms: i64, answered_s: Option<i64>) -> CallRecord {
    CallRecord {
        call_id: id.to_owned(),
        tenant: tenant.to_owned(),
        pbx: "pbx1".to_owned(),
        from: "1001".to_owned(),
        to: to.to_owned(),
        direction: "outbound".to_owned(),
        trunk: String::new(),
        start_ms,
        answer_ms: answered_s.map(|_| start_ms + 2_000),
        end_ms: start_ms + 2_000 + answered_s.unwrap_or(0) * 1000,
        billable_seconds: answered_s.unwrap_or(0) as u64,
        disposition: if answered_s.is_some() {
            "ANSWERED"
        } else {
            "NO ANSWER"
        }
        .to_owned(),
        hangup_cause: None,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_cdr_report_filters_pages_and_exports_csv() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    seed(&t, &admin).await;
    let now = now_ms();
    for (i, answered) in [Some(61), Some(10), None].into_iter().enumerate() {
        t.provisioning
            .rate_call(&call(
                "acme",
                &format!("pbx1:{i}"),
                "4930999",
                // Today (UTC) even just after midnight: the dashboard counts today.
                (now - 60_000).max(now - now % 86_400_000) + i as i64,
                answered,
            ))
            .await
            .unwrap();
    }
    t.provisioning
        .rate_call(&call("beta", "pbx9:1", "4930999", now, Some(5)))
        .await
        .unwrap();

    let r = t.get("api/v1/reports/cdr?limit=2&offset=0", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["total"], 3, "only the tenant's calls");
    assert_eq!(report["items"].as_array().unwrap().len(), 2);
    assert_eq!(report["totals"]["calls"], 3);
    assert_eq!(report["totals"]["billsec"], 71);
    let row = &report["items"][0];
    for f in [
        "id",
        "call_id",
        "src",
        "dst",
        "duration",
        "billsec",
        "disposition",
        "cost",
        "price",
        "margin",
        "start",
    ] {
        assert!(row.get(f).is_some(), "row has {f}: {row}");
    }
    assert_eq!(row["start"], row["start_ms"]);
    // The 30/6 tariff for 49…: 61 s bills 66 s at 0.02/min.
    let answered = t
        .get("api/v1/reports/cdr?disposition=answered", &admin)
        .await
        .json();
    assert_eq!(answered["total"], 2);
    let future = t
        .get(
            &format!("api/v1/reports/cdr?from={}", now + 3_600_000),
            &admin,
        )
        .await
        .json();
    assert_eq!(future["total"], 0);
    let rfc = t
        .get(
            "api/v1/reports/cdr?from=2000-01-01T00:00:00.000Z&to=2999-01-01T00:00:00Z",
            &admin,
        )
        .await
        .json();
    assert_eq!(rfc["total"], 3);
    // Filtering by a DID number the tenant holds: no call reached it.
    let by_did = t
        .get("api/v1/reports/cdr?did=%2B4930123456", &admin)
        .await
        .json();
    assert_eq!(by_did["total"], 0);

    let csv = t.get("api/v1/reports/cdr?format=csv", &admin).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"cdr.csv\"")
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("call_id,"), "{}", lines[0]);
    assert_eq!(lines.len(), 4, "header + 3 rows: {text}");
    assert!(!text.contains("pbx9:1"), "no other tenant's call");

    // The dashboard counts today's calls.
    let stats = t.get("api/v1/dashboard/stats", &admin).await;
    assert_eq!(stats.status, 200, "{}", stats.text());
    let stats = stats.json();
    assert_eq!(stats["counts"]["customers"], 1);
    assert_eq!(stats["counts"]["dids_free"], 1);
    assert_eq!(stats["today"]["calls"], 3);
    assert_eq!(stats["today"]["answered"], 2);
    let asr = stats["today"]["asr"].as_f64().unwrap();
    assert!((asr - 200.0 / 3.0).abs() < 0.01, "{asr}");
    let per_hour: u64 = stats["calls_per_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(per_hour, 3);
}

#[tokio::test]
async fn a_dry_run_deployment_returns_the_five_files_and_a_diff_and_changes_nothing() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let ids = seed(&t, &admin).await;
    let pbx = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami"}),
        )
        .await;
    let did = ids["did"].as_str().unwrap();
    t.post(
        &format!("api/v1/dids/{did}/allocate"),
        &admin,
        json!({"customer_id": ids["customer"]}),
    )
    .await;
    let deployments = format!("api/v1/pbx/{pbx}/deployments");

    let r = t.post(&deployments, &admin, json!({"dry_run": true})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let dry = r.json();
    let files: Vec<&str> = dry["files"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        files,
        [
            "extensions_dids.conf",
            "extensions_routes.conf",
            "pjsip_customer_trunks.conf",
            "pjsip_extensions.conf",
            "pjsip_gateways.conf"
        ]
    );
    assert!(
        dry["files"]["pjsip_gateways.conf"]
            .as_str()
            .unwrap()
            .contains("192.0.2.10")
    );
    assert!(
        dry["files"]["extensions_dids.conf"]
            .as_str()
            .unwrap()
            .contains("4930123456")
    );
    let diff = dry["diff"].as_str().unwrap();
    assert!(diff.contains("+++ b/pjsip_extensions.conf"), "{diff}");
    assert!(diff.contains("+++ b/extensions_routes.conf"));
    assert_eq!(
        dry["changed"].as_array().unwrap().len(),
        5,
        "nothing applied yet: all new"
    );
    assert_eq!(
        dry["reloads"],
        json!(["module reload res_pjsip.so", "dialplan reload"])
    );
    // A dry run records nothing.
    assert_eq!(t.get(&deployments, &admin).await.json()["total"], 0);
    let r = t
        .post(&deployments, &admin, json!({"dry_run": "yes"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "validation".to_owned()));

    let r = t
        .post(
            &format!("{deployments}/{}/rollback", uuid::Uuid::new_v4()),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
    // Unknown PBX.
    let r = t
        .post(
            &format!("api/v1/pbx/{}/deployments", uuid::Uuid::new_v4()),
            &admin,
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(r.status, 404);
}

/// The endpoint sections (`type=endpoint`) of the PJSIP files in `dir`.
fn endpoints_in(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for file in [
        "pjsip_gateways.conf",
        "pjsip_customer_trunks.conf",
        "pjsip_extensions.conf",
    ] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix('[') {
                section = rest.split(']').next().unwrap_or_default().to_owned();
            } else if line.replace(' ', "") == "type=endpoint" {
                names.push(section.clone());
            }
        }
    }
    names
}

/// A stand-in PBX behind its ingestor for the apply path: `Command`
/// (reloads) succeeds; `PJSIPShowEndpoints` lists the endpoints of the
/// files in `dir`, as Asterisk would after reading them. Records the
/// actions' names and commands.
async fn fake_pbx(t: &AdminApp, pbx: &str, dir: std::path::PathBuf) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subject = t
        .app
        .subjects
        .ami_action(&TenantId::new("acme").unwrap(), &PbxId::new(pbx).unwrap());
    let mut requests = t.app.bus.serve(&subject, None).await.unwrap();
    let (log, pbx) = (seen.clone(), pbx.to_owned());
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let asked: ActionRequest = serde_json::from_slice(&request.msg.payload).unwrap();
            let value = |k: &str| {
                asked
                    .headers
                    .iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let action = value("Action");
            log.lock().unwrap().push(match action.as_str() {
                "Command" => value("Command"),
                other => other.to_owned(),
            });
            let events = if action == "PJSIPShowEndpoints" {
                endpoints_in(&dir)
                    .into_iter()
                    .map(|name| MessageJson {
                        kind: MessageKind::Event,
                        name: "EndpointList".into(),
                        headers: vec![
                            ("Event".into(), Some("EndpointList".into())),
                            ("ObjectName".into(), Some(name)),
                        ],
                        output: None,
                    })
                    .collect()
            } else {
                vec![]
            };
            let reply = ActionReply {
                tenant: "acme".into(),
                pbx: pbx.clone(),
                response: Some(MessageJson {
                    kind: MessageKind::Response,
                    name: "Success".into(),
                    headers: vec![("Response".into(), Some("Success".into()))],
                    output: None,
                }),
                events,
                error: None,
            };
            let _ = request
                .respond(Outgoing::new(Bytes::from(
                    serde_json::to_vec(&reply).unwrap(),
                )))
                .await;
        }
    });
    seen
}

#[tokio::test]
async fn applying_writes_reloads_verifies_records_and_rolls_back() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let ids = seed(&t, &admin).await;
    let etc = tempfile::tempdir().unwrap();
    let pbx = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami",
                   "apply_mode": "local", "config_dir": etc.path().to_str().unwrap()}),
        )
        .await;
    let actions = fake_pbx(&t, "pbx1", etc.path().to_owned()).await;
    let deployments = format!("api/v1/pbx/{pbx}/deployments");

    // The first apply writes all five files and reloads both modules.
    let r = t.post(&deployments, &admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    assert_eq!(
        (first["outcome"].as_str(), first["version"].as_i64()),
        (Some("applied"), Some(1))
    );
    assert_eq!(first["changed"].as_array().unwrap().len(), 5);
    assert_eq!(
        first["reloads"],
        json!(["module reload res_pjsip.so", "dialplan reload"])
    );
    assert!(
        first["verified_endpoints"].as_u64().unwrap() >= 3,
        "{first}"
    );
    let v1 = std::fs::read_to_string(etc.path().join("pjsip_extensions.conf")).unwrap();
    assert!(v1.contains("1001"));
    assert!(
        actions
            .lock()
            .unwrap()
            .contains(&"dialplan reload".to_owned())
    );

    // Nothing changed: nothing written, reloaded or recorded.
    let r = t
        .post(&deployments, &admin, json!({"dry_run": false}))
        .await;
    assert_eq!(r.json()["outcome"], "unchanged");
    let dry = t
        .post(&deployments, &admin, json!({"dry_run": true}))
        .await
        .json();
    assert_eq!(
        (
            dry["changed"].as_array().unwrap().len(),
            dry["diff"].as_str()
        ),
        (0, Some(""))
    );
    assert_eq!(dry["base_version"], 1);

    // A caller-ID edit touches one file and reloads PJSIP only.
    let ext = format!("api/v1/extensions/{}", ids["extension"].as_str().unwrap());
    let r = t
        .put(&ext, &admin, json!({"extension": "1001", "caller_id": "\"Bob\" <1001>", "customer_id": ids["customer"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    actions.lock().unwrap().clear();
    let second = t.post(&deployments, &admin, json!({})).await.json();
    assert_eq!(second["version"], 2, "{second}");
    assert_eq!(second["changed"], json!(["pjsip_extensions.conf"]));
    assert_eq!(second["reloads"], json!(["module reload res_pjsip.so"]));
    assert!(second["diff"].as_str().unwrap().contains("Bob"));
    assert!(
        !actions
            .lock()
            .unwrap()
            .contains(&"dialplan reload".to_owned())
    );
    assert!(
        std::fs::read_to_string(etc.path().join("pjsip_extensions.conf"))
            .unwrap()
            .contains("Bob")
    );

    // Roll back to version 1: its files are live again, as version 3.
    let history = t.get(&deployments, &admin).await.json();
    let v1_id = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["version"] == 1)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post(
            &format!("{deployments}/{v1_id}/rollback"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 3);
    assert_eq!(
        std::fs::read_to_string(etc.path().join("pjsip_extensions.conf")).unwrap(),
        v1
    );
    let history = t.get(&deployments, &admin).await.json();
    let results: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["result"].as_str())
        .collect();
    assert_eq!(results, ["applied", "applied", "applied"]);
    assert!(history["items"][0]["created_at"].is_i64());
    assert!(
        history["items"][0].get("files").is_none(),
        "history rows carry no files (secrets)"
    );
    assert_eq!(history["items"][0]["author"], "admin");

    // A PBX that reloads but does not show the endpoints afterwards: the
    // files are put back and reloaded, 503 says so, and the attempt is
    // recorded as restored.
    let etc2 = tempfile::tempdir().unwrap();
    let dead = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx2", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami",
                   "apply_mode": "file", "config_dir": etc2.path().to_str().unwrap()}),
        )
        .await;
    let elsewhere = tempfile::tempdir().unwrap();
    let _pbx2 = fake_pbx(&t, "pbx2", elsewhere.path().to_owned()).await;
    let r = t
        .post(&format!("api/v1/pbx/{dead}/deployments"), &admin, json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, "unavailable".to_owned()),
        "{}",
        r.text()
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("restored"), "{message}");
    assert!(
        !etc2.path().join("pjsip_extensions.conf").exists(),
        "the write was undone"
    );
    let history = t
        .get(&format!("api/v1/pbx/{dead}/deployments"), &admin)
        .await
        .json();
    assert_eq!(history["items"][0]["result"], "restored");
    // A version that never went live cannot be re-applied.
    let restored = history["items"][0]["id"].as_str().unwrap();
    let r = t
        .post(
            &format!("api/v1/pbx/{dead}/deployments/{restored}/rollback"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
}

/// A stand-in ingestor for `tenant`/`pbx`: records requests, answers Success.
async fn fake_ingestor(t: &AdminApp, tenant: &str, pbx: &str) -> Arc<Mutex<Vec<ActionRequest>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subject = t
        .app
        .subjects
        .ami_action(&TenantId::new(tenant).unwrap(), &PbxId::new(pbx).unwrap());
    let mut requests = t.app.bus.serve(&subject, None).await.unwrap();
    let (log, tenant, pbx) = (seen.clone(), tenant.to_owned(), pbx.to_owned());
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let asked: ActionRequest = serde_json::from_slice(&request.msg.payload).unwrap();
            log.lock().unwrap().push(asked);
            let reply = ActionReply {
                tenant: tenant.clone(),
                pbx: pbx.clone(),
                response: Some(MessageJson {
                    kind: MessageKind::Response,
                    name: "Success".into(),
                    headers: vec![
                        ("Response".into(), Some("Success".into())),
                        (
                            "Message".into(),
                            Some("Originate successfully queued".into()),
                        ),
                    ],
                    output: None,
                }),
                events: vec![],
                error: None,
            };
            let _ = request
                .respond(Outgoing::new(Bytes::from(
                    serde_json::to_vec(&reply).unwrap(),
                )))
                .await;
        }
    });
    seen
}

#[tokio::test]
async fn a_conference_originates_each_number_into_the_room_through_the_ingestor() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let op = t.login("op").await;
    let pbx = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx1", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami"}),
        )
        .await;
    let seen = fake_ingestor(&t, "acme", "pbx1").await;

    let r = t
        .post(
            "api/v1/conference/",
            &op,
            json!({"room": "sales", "numbers": ["1001", "+4930123456"], "pbx": pbx}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["pbx"], "pbx1");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["result"] == "ok"), "{results:?}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let header = |r: &ActionRequest, k: &str| {
        r.headers
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(&requests[0], "Action").as_deref(), Some("Originate"));
    assert_eq!(
        header(&requests[0], "Channel").as_deref(),
        Some("Local/1001@from-internal")
    );
    assert_eq!(
        header(&requests[1], "Channel").as_deref(),
        Some("Local/+4930123456@from-internal")
    );
    assert_eq!(
        header(&requests[0], "Application").as_deref(),
        Some("ConfBridge")
    );
    assert_eq!(header(&requests[0], "Data").as_deref(), Some("sales"));
    assert_eq!(header(&requests[0], "Async").as_deref(), Some("true"));
    assert_eq!(requests[0].requested_by, "op@acme");

    // By name works too.
    let r = t
        .post(
            "api/v1/conference",
            &op,
            json!({"room": "r2", "numbers": ["1002"], "pbx": "pbx1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Bad input never reaches the PBX.
    let r = t
        .post(
            "api/v1/conference/",
            &op,
            json!({"room": "a;b", "numbers": ["1001", "10\r\n01"], "pbx": pbx}),
        )
        .await;
    assert_eq!(r.status, 422);
    let fields: Vec<String> = field_errors(&r).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["room", "numbers[1]"]);
    assert_eq!(seen.lock().unwrap().len(), 3);

    // A PBX nobody serves: 503 with each number's reason.
    let other = t
        .create(
            "api/v1/pbx/",
            &admin,
            json!({"name": "pbx2", "host": "127.0.0.1", "username": "ringside", "secret": "s3cret-ami"}),
        )
        .await;
    let r = t
        .post(
            "api/v1/conference/",
            &op,
            json!({"room": "r3", "numbers": ["1003"], "pbx": other}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, "unavailable".to_owned()),
        "{}",
        r.text()
    );
    assert_eq!(
        field_errors(&r),
        [("numbers[0]".to_owned(), "not_connected".to_owned())]
    );
    let r = t
        .post(
            "api/v1/conference/",
            &op,
            json!({"room": "r3", "numbers": ["1003"], "pbx": "nope"}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn users_tenants_and_the_audit_log() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    let r = t
        .post(
            "api/v1/users/",
            &admin,
            json!({"username": "carol", "password": PASSWORD, "role": "operator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let carol = r.json();
    assert_eq!(
        (carol["tenant"].as_str(), carol["role"].as_str()),
        (Some("acme"), Some("operator"))
    );
    assert!(!r.text().contains(PASSWORD));
    let id = carol["id"].as_str().unwrap().to_owned();
    // The new user logs in through ProvisioningAccounts.
    let token = t.login("carol").await;
    let me = t.get("api/v1/auth/me", &token).await.json();
    assert_eq!(
        (me["id"].as_str(), me["role"].as_str()),
        (Some(id.as_str()), Some("operator"))
    );
    // Tenant admins may not mint platform admins.
    let r = t
        .post(
            "api/v1/users/",
            &admin,
            json!({"username": "mallory", "password": PASSWORD, "role": "platform_admin"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let users = t.get("api/v1/users/", &admin).await.json();
    assert_eq!(users["total"], 5);
    let r = t
        .put(
            &format!("api/v1/users/{id}"),
            &admin,
            json!({"username": "carol", "role": "viewer"}),
        )
        .await;
    assert_eq!((r.status, r.json()["role"].as_str()), (200, Some("viewer")));
    assert_eq!(
        t.get(&format!("api/v1/users/{id}"), &admin).await.status,
        200
    );
    assert_eq!(
        t.delete(&format!("api/v1/users/{id}"), &admin).await.status,
        204
    );
    assert_eq!(
        t.get(&format!("api/v1/users/{id}"), &admin).await.status,
        404
    );
    let r = t
        .app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "carol", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401, "a deleted user cannot log in");

    let root = t.login("root").await;
    let r = t
        .post(
            "api/v1/tenants/",
            &root,
            json!({"id": "gamma", "name": "Gamma"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["slug"], "gamma");
    let r = t
        .post(
            "api/v1/tenants/",
            &root,
            json!({"slug": "gamma", "name": "Again"}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = t
        .post(
            "api/v1/tenants/",
            &root,
            json!({"slug": "no spaces", "name": "X"}),
        )
        .await;
    assert_eq!((r.status, field_errors(&r)[0].0.as_str()), (422, "slug"));
    let tenants = t.get("api/v1/tenants/", &root).await.json();
    let slugs: Vec<&str> = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["slug"].as_str())
        .collect();
    assert!(
        slugs.contains(&"acme") && slugs.contains(&"beta") && slugs.contains(&"gamma"),
        "{slugs:?}"
    );

    let audit = t.get("api/v1/audit?entity=user&limit=2", &admin).await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    let audit = audit.json();
    assert_eq!(audit["limit"], 2);
    assert!(audit["total"].as_u64().unwrap() >= 3, "{audit}");
    let newest = &audit["items"][0];
    assert_eq!(
        (newest["action"].as_str(), newest["entity_id"].as_str()),
        (Some("deleted"), Some(id.as_str()))
    );
    assert!(newest["details"].is_object());
    assert!(!audit.to_string().contains(PASSWORD));
    let none = t.get("api/v1/audit?actor=nobody", &admin).await.json();
    assert_eq!(none["total"], 0);
}

#[test]
fn the_openapi_document_lists_every_admin_route() {
    let doc = AdminDoc::openapi();
    let json = serde_json::to_value(&doc).unwrap();
    let paths = json["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/customers/", &["get", "post"][..]),
        ("/api/v1/customers/{id}", &["get", "put", "delete"]),
        ("/api/v1/dids/{id}/allocate", &["post"]),
        ("/api/v1/dids/{id}/deallocate", &["post"]),
        ("/api/v1/tariffs/{id}", &["get", "put", "delete"]),
        ("/api/v1/pbx/", &["get", "post"]),
        ("/api/v1/pbx/{id}/deployments", &["get", "post"]),
        ("/api/v1/pbx/{id}/deployments/{dep}/rollback", &["post"]),
        ("/api/v1/users/{id}", &["get", "put", "delete"]),
        ("/api/v1/tenants/", &["get", "post"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/reports/cdr", &["get"]),
        ("/api/v1/dashboard/stats", &["get"]),
        ("/api/v1/conference/", &["post"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path}"
            );
        }
    }
    assert_eq!(paths.len(), 27);
}

/// The admin API as gRPC on the gateway's port: the same token, the same
/// roles and the same tenant wall as REST, over the same rows.
#[tokio::test]
async fn the_admin_grpc_api_answers_with_the_rest_rules() {
    use ringside_proto::provisioning::v1 as pb;
    use ringside_proto::provisioning::v1::provisioning_client::ProvisioningClient;
    use tonic::Code;

    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    seed(&t, &admin).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", t.app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let with_token = |token: Option<String>| {
        ProvisioningClient::with_interceptor(
            channel.clone(),
            move |mut request: tonic::Request<()>| {
                if let Some(token) = &token {
                    request
                        .metadata_mut()
                        .insert("authorization", format!("Bearer {token}").parse().unwrap());
                }
                Ok(request)
            },
        )
    };

    // Rows made over REST are there over gRPC.
    let listed = with_token(Some(admin.clone()))
        .list_customers(pb::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].code, "cust1");

    let err = with_token(None)
        .list_customers(pb::ListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    let new_customer = pb::CreateCustomerRequest {
        tenant: None,
        customer: Some(pb::CustomerInput {
            code: "grpc1".into(),
            name: "Made over gRPC".into(),
            r#type: pb::CustomerType::Extension as i32,
            ..Default::default()
        }),
    };
    let viewer = t.login("viewer").await;
    let err = with_token(Some(viewer))
        .create_customer(new_customer.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let made = with_token(Some(admin.clone()))
        .create_customer(new_customer)
        .await
        .unwrap()
        .into_inner();
    // And over REST, the other way round.
    let r = t
        .get(&format!("api/v1/customers/{}", made.id), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Another tenant's row, and another tenant by name, do not exist.
    let beta = t.login("beta-admin").await;
    let err = with_token(Some(beta.clone()))
        .get_customer(pb::IdRequest {
            tenant: None,
            id: made.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = with_token(Some(beta))
        .list_customers(pb::ListRequest {
            tenant: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

/// `GET /live/calls` prices each call in progress under the tenant's
/// tariffs: the seeded tariff (`49`, 0.02 a minute, billed 30/6) makes a
/// call answered some 62 s ago 66 billed seconds, 0.022.
#[tokio::test]
async fn live_calls_carry_their_price_so_far() {
    let t = spawn_admin().await;
    let admin = t.login("admin").await;
    seed(&t, &admin).await;
    let state = FakeState::start(t.app.bus.clone(), t.app.subjects.clone(), &["acme"]).await;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    for (id, answer) in [("up", Some(now - 62_000)), ("ringing", None)] {
        let call = json!({
            "tenant": "acme", "pbx": "pbx1", "id": id, "legs": [], "from": "1001",
            "to": "+49 30 111", "state": id, "start_ms": now - 70_000, "answer_ms": answer,
        });
        state
            .change("acme", "pbx1", "calls", id, Some(call), false)
            .await;
    }
    let r = t.get("api/v1/live/calls", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let items = r.json()["items"].as_array().unwrap().clone();
    let by_id = |id: &str| items.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(by_id("up")["price_so_far"], "0.022000");
    assert_eq!(by_id("up")["billed_seconds"], 66);
    assert_eq!(by_id("ringing")["price_so_far"], "0.000000");
    // Time travel shows the past as it was: no price of "now".
    let r = t.get(&format!("api/v1/live/calls?at={now}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("price_so_far").is_none())
    );
}
