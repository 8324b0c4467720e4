//! Helpers for the gateway suites: a gateway on a loopback port over a test
//! bus, an in-memory account store with real argon2 hashes, a stand-in for
//! the state service's side of the live-view contract (docs/live-views.md),
//! a tiny HTTP/1.1 client and a WebSocket client.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use ringside_bus::{Bus, Outgoing, Subjects, TenantId};
use ringside_gateway::{Accounts, GatewayDeps, GatewaySettings, Principal, Role};
use ringside_testkit::TestBus;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery staple";

/// Users: `op` (operator, acme), `viewer` (viewer, acme), `admin`
/// (tenant_admin, acme), `root` (platform_admin, acme), `beta-op` (operator,
/// beta).
pub struct MemAccounts {
    users: HashMap<String, (String, Principal)>,
}

impl MemAccounts {
    pub fn new() -> Self {
        let hash = Argon2::default()
            .hash_password(PASSWORD.as_bytes())
            .expect("hashing")
            .to_string();
        let mut users = HashMap::new();
        for (name, tenant, role) in [
            ("op", "acme", Role::Operator),
            ("viewer", "acme", Role::Viewer),
            ("admin", "acme", Role::TenantAdmin),
            ("root", "acme", Role::PlatformAdmin),
            ("beta-op", "beta", Role::Operator),
        ] {
            users.insert(
                name.to_owned(),
                (
                    hash.clone(),
                    Principal {
                        user_id: uuid::Uuid::new_v4().to_string(),
                        username: name.to_owned(),
                        tenant: tenant.to_owned(),
                        role,
                    },
                ),
            );
        }
        MemAccounts { users }
    }
}

#[async_trait]
impl Accounts for MemAccounts {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Option<Principal>> {
        let Some((hash, who)) = self.users.get(username).cloned() else {
            return Ok(None);
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(ok.then_some(who))
    }
}

pub fn settings() -> GatewaySettings {
    GatewaySettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: SECRET.to_owned(),
        request_timeout: Duration::from_secs(3),
        ..GatewaySettings::default()
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub bus: Arc<dyn Bus>,
    pub subjects: Subjects,
    pub base: String,
    pub shutdown: CancellationToken,
    pub test_bus: Option<TestBus>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn deps(bus: Arc<dyn Bus>, subjects: Subjects) -> GatewayDeps {
    GatewayDeps {
        bus,
        subjects,
        accounts: Arc::new(MemAccounts::new()),
        metrics: Some(Arc::new(|| "ringside_test_metric_total 7\n".to_owned())),
        admin: None,
        provisioning: None,
    }
}

/// A gateway on 127.0.0.1:0 over `test` (in-process unless given).
pub async fn spawn_app_on(test: TestBus, settings: GatewaySettings) -> TestApp {
    let subjects = test.topology.subjects().clone();
    let bus = test.bus.clone();
    let shutdown = CancellationToken::new();
    let base = ringside_gateway::settings::normalize_base_path(&settings.base_path).unwrap();
    let server = ringside_gateway::bind(
        settings,
        deps(bus.clone(), subjects.clone()),
        shutdown.clone(),
    )
    .await
    .expect("the gateway binds");
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    TestApp {
        addr,
        bus,
        subjects,
        base,
        shutdown,
        test_bus: Some(test),
    }
}

pub async fn spawn_app(settings: GatewaySettings) -> TestApp {
    spawn_app_on(TestBus::in_process(), settings).await
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The API error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn decode_chunked(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> HttpResponse {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    http_text(addr, method, path, headers, &body).await
}

/// One HTTP/1.1 request with a raw JSON body.
pub async fn http_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = decode_chunked(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http(self.addr, "GET", &self.url(path), &headers, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http(self.addr, "POST", &self.url(path), &headers, Some(body)).await
    }

    pub async fn login(&self, user: &str) -> String {
        let r = self
            .post(
                "api/v1/auth/login",
                None,
                &json!({"username": user, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "login of {user}: {}", r.text());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, self.url(path))
    }
}

/// The state service's side of the contract: views per tenant with a delta
/// sequence, answering snapshot requests and publishing deltas.
#[derive(Clone)]
pub struct FakeState {
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    pub inner: Arc<Mutex<HashMap<String, TenantViews>>>,
    /// Snapshot requests answered so far.
    pub requests: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Default, Clone)]
pub struct TenantViews {
    pub seq: u64,
    /// view → (pbx, key) → entry
    pub views: BTreeMap<String, BTreeMap<(String, String), Value>>,
}

impl FakeState {
    /// Serves snapshots for `tenants` on the bus.
    pub async fn start(bus: Arc<dyn Bus>, subjects: Subjects, tenants: &[&str]) -> FakeState {
        let state = FakeState {
            bus: bus.clone(),
            subjects: subjects.clone(),
            inner: Arc::default(),
            requests: Arc::default(),
        };
        for tenant in tenants {
            state
                .inner
                .lock()
                .unwrap()
                .entry((*tenant).to_owned())
                .or_default();
            let subject = subjects.state_snapshot(&TenantId::new(*tenant).unwrap());
            let mut requests = bus.serve(&subject, None).await.unwrap();
            let (inner, tenant) = (state.inner.clone(), (*tenant).to_owned());
            let answered = state.requests.clone();
            tokio::spawn(async move {
                while let Some(request) = requests.next().await {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let asked: Value =
                        serde_json::from_slice(&request.msg.payload).unwrap_or(json!({}));
                    let reply = {
                        let all = inner.lock().unwrap();
                        let t = all.get(&tenant).cloned().unwrap_or_default();
                        let mut snapshot = serde_json::Map::new();
                        for view in [
                            "pbxs",
                            "endpoints",
                            "trunks",
                            "channels",
                            "calls",
                            "bridges",
                            "queues",
                            "conferences",
                        ] {
                            let items: Vec<Value> = t
                                .views
                                .get(view)
                                .map(|m| {
                                    m.iter()
                                        .filter(|((pbx, _), _)| {
                                            asked["pbx"].as_str().is_none_or(|p| p == pbx)
                                        })
                                        .map(|(_, v)| v.clone())
                                        .collect()
                                })
                                .unwrap_or_default();
                            snapshot.insert(view.to_owned(), Value::Array(items));
                        }
                        let seq = if asked.get("at_ms").is_some() {
                            Value::Null
                        } else {
                            json!(t.seq)
                        };
                        json!({"seq": seq, "snapshot": snapshot})
                    };
                    let _ = request
                        .respond(Outgoing::new(Bytes::from(reply.to_string())))
                        .await;
                }
            });
        }
        state
    }

    /// Applies a change and (unless `lose` is set) publishes its delta.
    pub async fn change(
        &self,
        tenant: &str,
        pbx: &str,
        view: &str,
        key: &str,
        value: Option<Value>,
        lose: bool,
    ) -> u64 {
        let (seq, delta) = {
            let mut all = self.inner.lock().unwrap();
            let t = all.entry(tenant.to_owned()).or_default();
            t.seq += 1;
            let entries = t.views.entry(view.to_owned()).or_default();
            let k = (pbx.to_owned(), key.to_owned());
            let mut delta =
                json!({"tenant": tenant, "seq": t.seq, "pbx": pbx, "view": view, "key": key});
            match &value {
                Some(v) => {
                    entries.insert(k, v.clone());
                    delta["op"] = json!("upsert");
                    delta["value"] = v.clone();
                }
                None => {
                    entries.remove(&k);
                    delta["op"] = json!("remove");
                }
            }
            (t.seq, delta)
        };
        if !lose {
            let subject = format!("{}.{tenant}.view.{view}", self.subjects.root());
            self.bus
                .publish_core(&subject, Outgoing::new(Bytes::from(delta.to_string())))
                .await
                .unwrap();
        }
        seq
    }

    /// Upserts a call entry.
    pub async fn call(&self, tenant: &str, pbx: &str, id: &str, n: u64) -> u64 {
        let value = json!({"tenant": tenant, "pbx": pbx, "id": id, "legs": [], "from": format!("{n}"), "to": "200", "state": "up", "start_ms": n});
        self.change(tenant, pbx, "calls", id, Some(value), false)
            .await
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket and authenticates with the first message.
pub async fn ws_connect(url: &str, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the WebSocket opens");
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await
    .unwrap();
    ws
}

/// The next JSON text frame (heartbeats skipped unless `keep_heartbeats`);
/// `None` on close.
pub async fn next_json(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "Heartbeat" {
                    continue;
                }
                return Some(v);
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            _ => continue,
        }
    }
}
