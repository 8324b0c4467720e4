//! `ringside` with no command, started the way the README says: the whole
//! product in one process. A WebSocket client logs in like a browser and
//! receives the live views of the built-in simulated PBX, then its calls as
//! deltas; the first admin's generated password is printed once; the
//! microservice gateway refuses the default signing secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The monolith, killed on drop; its stdout lines arrive on `lines`.
struct Monolith {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Monolith {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path, password: Option<&str>) -> Monolith {
    let port = ringside_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringside"));
    command
        .args(["--listen", &addr, "--data-dir"])
        .arg(data_dir)
        .env_remove("RINGSIDE_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(p) = password {
        command.env("RINGSIDE_ADMIN_PASSWORD", p);
    }
    let mut child = command.spawn().expect("the ringside binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let monolith = Monolith { child, addr, lines };
    // Ready when it says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monolith.lines.recv_timeout(left) {
            Ok(line) if line.starts_with("Ringside is running") => break,
            Ok(_) => {}
            Err(e) => panic!("the monolith did not say it runs: {e}"),
        }
    }
    monolith
}

/// Whether the kernel may back `pid`'s memory with transparent huge pages
/// (`THP_enabled` of /proc/PID/status); `None` if it does not say.
#[cfg(target_os = "linux")]
fn huge_pages_allowed(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))?;
    Some(value.trim() != "0")
}

/// One HTTP/1.1 request; (status, body).
fn http(addr: &str, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn login(addr: &str, password: &str) -> Option<String> {
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/auth/login",
        &serde_json::json!({"username": "admin", "password": password}).to_string(),
        None,
    );
    (status == 200).then(|| {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["token_type"], "bearer");
        v["access_token"].as_str().unwrap().to_owned()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_command_serves_simulated_calls_to_a_websocket_client() {
    let dir = tempfile::tempdir().unwrap();
    let m = start(dir.path(), Some("a-test-password"));
    // Huge pages are off, or page zeroing stalls the live views (main.rs).
    #[cfg(target_os = "linux")]
    assert_eq!(huge_pages_allowed(m.child.id()), Some(false));
    assert!(
        login(&m.addr, "wrong").is_none(),
        "a wrong password is refused"
    );
    let token = login(&m.addr, "a-test-password").expect("the admin logs in");

    // The simulator is a PBX server like any other.
    let (status, body) = http(&m.addr, "GET", "/api/v1/pbx/", "", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"simulator\""), "{body}");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", m.addr))
        .await
        .expect("the WebSocket upgrade");
    ws.send(Message::Text(
        serde_json::json!({"type": "auth", "token": token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut initial_seq = None;
    let mut last_seq = 0;
    let mut saw_call = false;
    while !saw_call {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("live data within a minute")
            .expect("the socket stays open")
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        match v["type"].as_str() {
            Some("InitialState") => {
                let seq = v["seq"].as_u64().unwrap();
                initial_seq = Some(seq);
                last_seq = seq;
                let pbxs = v["snapshot"]["pbxs"].as_array().unwrap();
                assert!(pbxs.iter().all(|p| p["tenant"] == "default"));
            }
            Some("Delta") => {
                assert!(initial_seq.is_some(), "a delta before the snapshot");
                let seq = v["seq"].as_u64().unwrap();
                assert_eq!(seq, last_seq + 1, "no gap, no duplicate");
                last_seq = seq;
                if v["view"] == "calls" && v["op"] == "upsert" {
                    assert_eq!(v["value"]["tenant"], "default");
                    assert!(v["value"]["from"].is_string());
                    saw_call = true;
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_generated_admin_password_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let port = ringside_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .env_remove("RINGSIDE_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut password = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = line.split("with password: ").nth(1) {
            password = Some(p.trim().to_owned());
        }
        if line.starts_with("Ringside is running") {
            break;
        }
    }
    let password = password.expect("the generated password is printed");
    assert!(password.len() >= 16, "a strong password: {password}");
    assert!(login(&addr, &password).is_some(), "and it logs in");
    let _ = child.kill();
    let _ = child.wait();

    // A second start on the same data keeps the admin and prints no password.
    let m = start(dir.path(), None);
    std::thread::sleep(Duration::from_millis(200));
    let later: Vec<String> = std::iter::from_fn(|| m.lines.try_recv().ok()).collect();
    assert!(
        later.iter().all(|l| !l.contains("password")),
        "printed again: {later:?}"
    );
    assert!(login(&m.addr, &password).is_some());
}

#[test]
fn the_gateway_service_refuses_the_default_signing_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .arg("gateway")
        .env_remove("RINGSIDE__GATEWAY__JWT_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("jwt_secret"), "{stderr}");
}

#[test]
fn metrics_are_in_the_catalog_and_show_the_simulated_pbx() {
    let dir = tempfile::tempdir().unwrap();
    let m = start(dir.path(), Some("a-test-password"));
    let token = login(&m.addr, "a-test-password").unwrap();
    let (status, _) = http(&m.addr, "GET", "/api/v1/pbx/", "", Some(&token));
    assert_eq!(status, 200);
    // The telephony gauges are sampled every 5 s; calls come at ~0.3/s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(&m.addr, "GET", "/metrics", "", None);
        assert_eq!(status, 200);
        let names: std::collections::BTreeSet<&str> = body
            .lines()
            .filter(|l| l.starts_with("ringside_"))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        for name in &names {
            assert!(
                ringside_telemetry::lookup(name).is_some(),
                "{name} is exported but not in the metric catalog"
            );
        }
        let connected = body
            .lines()
            .any(|l| l.starts_with("ringside_ami_connected{") && l.ends_with(" 1"));
        let attempts = names.contains("ringside_call_attempts_total");
        let http_latency = names.contains("ringside_http_request_duration_seconds_bucket");
        let pool = names.contains("ringside_db_pool_connections");
        if connected && names.contains("ringside_calls_active") && attempts && http_latency && pool
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no AMI connection, call gauge or call counter in /metrics: {names:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A newcomer's first deployment: the simulated PBX reads its configuration
/// from a directory under the data directory, as an Asterisk on the same
/// host reads `/etc/asterisk`, so an extension created through the API is
/// rendered, written there, reloaded and verified in the simulator's
/// `PJSIPShowEndpoints` without any setup.
#[test]
fn a_deployment_to_the_simulated_pbx_is_written_reloaded_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let m = start(dir.path(), Some("a-test-password"));
    let token = login(&m.addr, "a-test-password").expect("the admin logs in");
    let (status, body) = http(
        &m.addr,
        "POST",
        "/api/v1/extensions/",
        r#"{"extension": "7001"}"#,
        Some(&token),
    );
    assert_eq!(status, 201, "{body}");
    let (_, body) = http(&m.addr, "GET", "/api/v1/pbx/", "", Some(&token));
    let servers: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = servers["items"][0]["id"].as_str().expect("the simulator");

    let (status, body) = http(
        &m.addr,
        "POST",
        &format!("/api/v1/pbx/{id}/deployments"),
        "{}",
        Some(&token),
    );
    assert_eq!(status, 200, "{body}");
    let applied: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(applied["outcome"], "applied", "{body}");
    // Listed by the simulator's PJSIPShowEndpoints after the reload.
    assert_eq!(applied["verified_endpoints"], 1, "{body}");
    assert_eq!(
        applied["reloads"],
        serde_json::json!(["module reload res_pjsip.so", "dialplan reload"]),
        "{body}"
    );
    let written =
        std::fs::read_to_string(dir.path().join("simulator-asterisk/pjsip_extensions.conf"))
            .expect("the rendered file, in the simulator's directory");
    assert!(written.contains("[7001]"), "{written}");
}
