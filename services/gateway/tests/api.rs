//! The REST API on a real loopback listener over the in-process bus.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use ringside_ami::MessageKind;
use ringside_ami::json::MessageJson;
use ringside_ami_ingestor::actions::{ActionAudit, ActionFailure, ActionReply, ActionRequest};
use ringside_bus::{Outgoing, PbxId, TenantId, Token};
use ringside_gateway::GatewaySettings;
use serde_json::{Value, json};
use support::*;

/// A stand-in ingestor for one PBX: records requests, answers Success (or
/// `denied` for `Command: core stop…`, as the real deny list does).
async fn fake_ingestor(app: &TestApp, tenant: &str, pbx: &str) -> Arc<Mutex<Vec<ActionRequest>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subject = app
        .subjects
        .ami_action(&TenantId::new(tenant).unwrap(), &PbxId::new(pbx).unwrap());
    let mut requests = app.bus.serve(&subject, None).await.unwrap();
    let (log, tenant, pbx) = (seen.clone(), tenant.to_owned(), pbx.to_owned());
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let asked: ActionRequest = serde_json::from_slice(&request.msg.payload).unwrap();
            let denied = asked
                .headers
                .iter()
                .any(|(k, v)| k == "Command" && v.starts_with("core stop"));
            log.lock().unwrap().push(asked);
            let reply = ActionReply {
                tenant: tenant.clone(),
                pbx: pbx.clone(),
                response: (!denied).then(|| MessageJson {
                    kind: MessageKind::Response,
                    name: "Success".into(),
                    headers: vec![
                        ("Response".into(), Some("Success".into())),
                        ("Message".into(), Some("done".into())),
                    ],
                    output: None,
                }),
                events: vec![],
                error: denied.then(|| ActionFailure {
                    code: "denied".into(),
                    message: "stopping Asterisk is not allowed".into(),
                }),
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

async fn audit_log(
    app: &TestApp,
    tenant: &str,
) -> futures::stream::BoxStream<'static, ringside_bus::Delivered> {
    let subject = app.subjects.prov(
        &TenantId::new(tenant).unwrap(),
        &Token::new("ami_action").unwrap(),
    );
    app.bus.subscribe(&subject).await.unwrap()
}

async fn next_audit(
    log: &mut futures::stream::BoxStream<'static, ringside_bus::Delivered>,
) -> ActionAudit {
    let msg = tokio::time::timeout(Duration::from_secs(5), log.next())
        .await
        .expect("an audit record")
        .unwrap();
    serde_json::from_slice(&msg.payload).unwrap()
}

#[tokio::test]
async fn login_issues_a_token_and_me_returns_the_caller() {
    let app = spawn_app(settings()).await;
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "op", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 24 * 3600);
    let token = body["access_token"].as_str().unwrap();
    let me = app.get("api/v1/auth/me", Some(token)).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(
        (
            me["username"].as_str(),
            me["tenant"].as_str(),
            me["role"].as_str()
        ),
        (Some("op"), Some("acme"), Some("operator"))
    );
    assert!(uuid::Uuid::parse_str(me["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn wrong_credentials_are_401_and_missing_fields_are_422() {
    let app = spawn_app(settings()).await;
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "op", "password": "nope"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "ghost", "password": "nope"}),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "", "password": ""}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "validation"));
    let body = r.json();
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "password"]);
    let r = app
        .post("api/v1/auth/login", None, &json!({"username": "op"}))
        .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn login_is_rate_limited_per_user_with_retry_after() {
    let app = spawn_app(settings()).await;
    for _ in 0..5 {
        let r = app
            .post(
                "api/v1/auth/login",
                None,
                &json!({"username": "op", "password": "wrong"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "op", "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Another user from the same address is not limited yet.
    let r = app
        .post(
            "api/v1/auth/login",
            None,
            &json!({"username": "viewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn login_is_rate_limited_per_address_and_forwarded_for_counts_only_from_trusted_proxies() {
    let mut s = settings();
    s.login_rate_limit.per_ip = 2;
    s.trusted_proxies = vec!["127.0.0.1/32".into()];
    let app = spawn_app(s).await;
    let login = |user: &'static str, xff: &'static str| {
        let addr = app.addr;
        async move {
            http(
                addr,
                "POST",
                "/api/v1/auth/login",
                &[("X-Forwarded-For", xff)],
                Some(&json!({"username": user, "password": "wrong"})),
            )
            .await
        }
    };
    assert_eq!(login("a1", "203.0.113.1").await.status, 401);
    assert_eq!(login("a2", "203.0.113.1").await.status, 401);
    assert_eq!(
        login("a3", "203.0.113.1").await.status,
        429,
        "the forwarded address used up its attempts"
    );
    assert_eq!(
        login("a4", "203.0.113.2").await.status,
        401,
        "another forwarded address is not limited"
    );

    // Without trusted proxies the header is ignored: everything is 127.0.0.1.
    let mut s = settings();
    s.login_rate_limit.per_ip = 2;
    let app = spawn_app(s).await;
    let addr = app.addr;
    for (user, xff, status) in [
        ("b1", "198.51.100.1", 401),
        ("b2", "198.51.100.2", 401),
        ("b3", "198.51.100.3", 429),
    ] {
        let r = http(
            addr,
            "POST",
            "/api/v1/auth/login",
            &[("X-Forwarded-For", xff)],
            Some(&json!({"username": user, "password": "x"})),
        )
        .await;
        assert_eq!(r.status, status, "{user}");
    }
}

#[tokio::test]
async fn protected_routes_are_401_without_or_with_a_bad_token() {
    let app = spawn_app(settings()).await;
    let forged = {
        // Signed with another key.
        let other = ringside_gateway::auth::Tokens::new(
            b"another-secret-another-secret-xyz",
            Duration::from_secs(60),
        );
        other
            .issue(&ringside_gateway::Principal {
                user_id: "x".into(),
                username: "op".into(),
                tenant: "acme".into(),
                role: ringside_gateway::Role::PlatformAdmin,
            })
            .unwrap()
    };
    for token in [None, Some("garbage"), Some(forged.as_str())] {
        for r in [
            app.get("api/v1/auth/me", token).await,
            app.get("api/v1/live/calls", token).await,
            app.post("api/v1/pbx/pbx1/actions", token, &json!({"Action": "Ping"}))
                .await,
            app.post("api/v1/calls/1.1/hangup", token, &json!({})).await,
        ] {
            assert_eq!(
                (r.status, r.code().as_str()),
                (401, "unauthorized"),
                "{token:?}: {}",
                r.text()
            );
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
}

#[tokio::test]
async fn live_views_answer_the_tenants_snapshot_and_nothing_of_another_tenant() {
    let app = spawn_app(settings()).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme", "beta"]).await;
    state.call("acme", "pbx1", "1.1", 1).await;
    state.call("acme", "pbx2", "2.1", 2).await;
    state.call("beta", "pbx1", "9.9", 3).await;
    let viewer = app.login("viewer").await;

    let r = app.get("api/v1/live/calls", Some(&viewer)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["seq"], 2);
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1.1", "2.1"]);

    let r = app.get("api/v1/live/calls?pbx=pbx2", Some(&viewer)).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = app
        .get("api/v1/live/calls?at=1700000000000", Some(&viewer))
        .await;
    assert_eq!(r.json()["seq"], Value::Null);
    let r = app
        .get("api/v1/live/calls?at=2023-11-14T22:13:20Z", Some(&viewer))
        .await;
    assert_eq!((r.status, &r.json()["seq"]), (200, &Value::Null));
    let r = app.get("api/v1/live/endpoints", Some(&viewer)).await;
    assert_eq!(r.json()["items"], json!([]));

    // Another tenant: 404 for a tenant user, data for a platform admin.
    let r = app
        .get("api/v1/live/calls?tenant=beta", Some(&viewer))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let beta = app.login("beta-op").await;
    let r = app.get("api/v1/live/calls", Some(&beta)).await;
    let body = r.json();
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["9.9"]);
    let root = app.login("root").await;
    let r = app.get("api/v1/live/calls?tenant=beta", Some(&root)).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
}

/// After a tenant's first read its live views come from the gateway's
/// replica: later reads ask the state service nothing, the replica follows
/// the deltas, and a lost delta (a gap in the sequence) makes it load the
/// snapshot again. Another tenant's entries never show.
#[tokio::test]
async fn live_reads_come_from_a_replica_that_follows_deltas_and_reloads_after_a_gap() {
    use std::sync::atomic::Ordering;

    let app = spawn_app(settings()).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme", "beta"]).await;
    state.call("acme", "pbx1", "1.1", 1).await;
    state.call("beta", "pbx1", "9.9", 2).await;
    let viewer = app.login("viewer").await;
    let read = || async {
        let r = app.get("api/v1/live/calls", Some(&viewer)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        let ids: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        (body["seq"].as_u64().unwrap(), ids)
    };
    let until = |want: &'static [&'static str]| {
        let read = &read;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let (seq, ids) = read().await;
                if ids == want {
                    return seq;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still {ids:?}, want {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(read().await.1, ["1.1"]);
    // The first read started the replica, which loads its own snapshot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state.requests.load(Ordering::Relaxed) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica never loaded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seq = state.call("acme", "pbx1", "1.2", 3).await;
    assert_eq!(until(&["1.1", "1.2"]).await, seq);
    let asked = state.requests.load(Ordering::Relaxed);
    for _ in 0..20 {
        assert_eq!(read().await.1, ["1.1", "1.2"]);
    }
    assert_eq!(
        state.requests.load(Ordering::Relaxed),
        asked,
        "reads of a loaded replica ask the state service nothing"
    );

    // A delta lost on the way: the next one shows the gap.
    let call = |id: &str| json!({"tenant": "acme", "pbx": "pbx1", "id": id, "legs": [], "from": "1", "to": "2", "state": "up"});
    state
        .change("acme", "pbx1", "calls", "1.3", Some(call("1.3")), true)
        .await;
    let seq = state.call("acme", "pbx1", "1.4", 4).await;
    assert_eq!(until(&["1.1", "1.2", "1.3", "1.4"]).await, seq);
    assert!(state.requests.load(Ordering::Relaxed) > asked, "reloaded");
}

#[tokio::test]
async fn live_views_refuse_bad_input_and_say_when_the_state_service_is_away() {
    let app = spawn_app(settings()).await;
    let viewer = app.login("viewer").await;
    let r = app.get("api/v1/live/calls", Some(&viewer)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "unavailable"),
        "nobody serves snapshots yet"
    );
    FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    let r = app.get("api/v1/live/nonsense", Some(&viewer)).await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = app.get("api/v1/live/calls?pbx=a.b", Some(&viewer)).await;
    assert_eq!((r.status, r.code().as_str()), (422, "validation"));
    assert_eq!(r.json()["error"]["details"][0]["field"], "pbx");
    let r = app
        .get("api/v1/live/calls?at=yesterday", Some(&viewer))
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "validation"));
    let r = app.get("api/v1/live/calls", Some(&viewer)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn actions_are_role_gated_audited_and_carry_the_user() {
    let app = spawn_app(settings()).await;
    let seen = fake_ingestor(&app, "acme", "pbx1").await;
    let mut audit = audit_log(&app, "acme").await;
    let (op, viewer, admin) = (
        app.login("op").await,
        app.login("viewer").await,
        app.login("admin").await,
    );

    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&op),
            &json!({"Action": "Hangup", "Channel": "PJSIP/1001-00000001"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["response"]["headers"][0],
        json!(["Response", "Success"])
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].requested_by, "op@acme");
        assert_eq!(
            seen[0].headers[0],
            ("Action".to_owned(), "Hangup".to_owned())
        );
    }

    // Repeated headers from a list.
    let r = app.post("api/v1/pbx/pbx1/actions", Some(&op), &json!({"Action": "Originate", "Channel": "PJSIP/1001", "Exten": "200", "Context": "default", "Variable": ["a=1", "b=2"]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        seen.lock().unwrap()[1]
            .headers
            .iter()
            .filter(|(k, _)| k == "Variable")
            .count(),
        2
    );

    // Refused by role: 403, not sent, audited by the gateway.
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&viewer),
            &json!({"Action": "Ping"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let record = next_audit(&mut audit).await;
    assert_eq!(
        (
            record.requested_by.as_str(),
            record.action.as_str(),
            record.result.as_str(),
            record.pbx.as_str()
        ),
        ("viewer@acme", "Ping", "forbidden", "pbx1")
    );
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&op),
            &json!({"Action": "Command", "Command": "core show version"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(next_audit(&mut audit).await.action, "Command");
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "refused actions never reach the ingestor"
    );

    // An admin may; the ingestor's deny list still refuses core stop (403).
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&admin),
            &json!({"Action": "Command", "Command": "core show version"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&admin),
            &json!({"Action": "Command", "Command": "core stop now"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));

    // Another tenant's PBX, or an unknown one: 404 (and audited as unsent).
    let beta_pbx = fake_ingestor(&app, "beta", "pbx9").await;
    let r = app
        .post(
            "api/v1/pbx/pbx9/actions",
            Some(&op),
            &json!({"Action": "Ping"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    assert!(beta_pbx.lock().unwrap().is_empty());
    assert_eq!(next_audit(&mut audit).await.result, "not_connected");
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions?tenant=beta",
            Some(&op),
            &json!({"Action": "Ping"}),
        )
        .await;
    assert_eq!(r.status, 404);

    // Bad input: 422 with the field.
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&op),
            &json!({"Channel": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["details"][0]["field"].as_str()),
        (422, Some("Action"))
    );
    let r = app
        .post(
            "api/v1/pbx/pbx1/actions",
            Some(&op),
            &json!({"Action": "Hangup", "Channel": "x\r\nAction: Command"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = http_text(
        app.addr,
        "POST",
        "/api/v1/pbx/pbx1/actions",
        &[("Authorization", &format!("Bearer {op}"))],
        "{not json",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn hanging_up_a_call_hangs_up_each_of_its_channels() {
    let app = spawn_app(settings()).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme", "beta"]).await;
    for (uid, name) in [
        ("1.1", "PJSIP/1001-00000001"),
        ("1.2", "PJSIP/trunk-00000002"),
        ("3.1", "PJSIP/1003-00000003"),
    ] {
        state.change("acme", "pbx1", "channels", uid, Some(json!({"tenant": "acme", "pbx": "pbx1", "name": name, "uniqueid": uid, "linkedid": "1.1"})), false).await;
    }
    state.change("acme", "pbx1", "calls", "1.1", Some(json!({"tenant": "acme", "pbx": "pbx1", "id": "1.1", "legs": ["1.1", "1.2"], "state": "up"})), false).await;
    state.change("beta", "pbx1", "calls", "7.7", Some(json!({"tenant": "beta", "pbx": "pbx1", "id": "7.7", "legs": ["7.7"], "state": "up"})), false).await;
    let seen = fake_ingestor(&app, "acme", "pbx1").await;
    let (op, viewer) = (app.login("op").await, app.login("viewer").await);

    let r = app
        .post("api/v1/calls/1.1/hangup", Some(&op), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let legs = r.json()["legs"].clone();
    assert_eq!(legs.as_array().unwrap().len(), 2);
    assert!(legs.as_array().unwrap().iter().all(|l| l["result"] == "ok"));
    let mut channels: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.headers[1].1.clone())
        .collect();
    channels.sort();
    assert_eq!(channels, ["PJSIP/1001-00000001", "PJSIP/trunk-00000002"]);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|a| a.requested_by == "op@acme")
    );

    let r = app
        .post("api/v1/calls/1.1/hangup", Some(&viewer), &json!({}))
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .post("api/v1/calls/7.7/hangup", Some(&op), &json!({}))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "another tenant's call does not exist"
    );
    let r = app
        .post("api/v1/calls/1.1/hangup?pbx=no.pe", Some(&op), &json!({}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn security_headers_are_set_on_every_answer() {
    let app = spawn_app(settings()).await;
    for path in ["", "api/v1/openapi.json", "api/v1/auth/me", "live/calls"] {
        let r = app.get(path, None).await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        let csp = r.header("content-security-policy").expect("a CSP");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    let mut s = settings();
    s.frame_ancestors = vec!["https://portal.example.com".into()];
    let app = spawn_app(s).await;
    let r = app.get("", None).await;
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors https://portal.example.com")
    );
    assert_eq!(r.header("x-frame-options"), None);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let mut s = settings();
    s.cors_allowed_origins = vec!["https://ops.example.com".into()];
    let app = spawn_app(s).await;
    let r = http(
        app.addr,
        "GET",
        "/healthz",
        &[("Origin", "https://ops.example.com")],
        None,
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://ops.example.com")
    );
    let r = http(
        app.addr,
        "GET",
        "/healthz",
        &[("Origin", "https://evil.example.com")],
        None,
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    let app = spawn_app(settings()).await;
    let r = http(
        app.addr,
        "GET",
        "/healthz",
        &[("Origin", "https://ops.example.com")],
        None,
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "no CORS unless configured"
    );
}

#[tokio::test]
async fn the_ui_is_served_with_the_base_href_and_an_spa_fallback() {
    let app = spawn_app(settings()).await;
    for path in ["", "live", "admin/customers"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.text().contains("<base href=\"/\">"));
    }
    let r = app.get("no-such-file.js", None).await;
    assert_eq!(r.status, 404);
    let r = app.get("api/v1/nothing-here", None).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "unknown API paths are JSON 404s, not the UI"
    );
    let r = app.get("tests/package.json", None).await;
    assert_ne!(
        r.header("content-type"),
        Some("application/json"),
        "the UI's tests are not embedded"
    );
}

#[tokio::test]
async fn everything_works_under_a_base_path() {
    let mut s = settings();
    s.base_path = "/monitor/".into();
    let app = spawn_app(s).await;
    let state = FakeState::start(app.bus.clone(), app.subjects.clone(), &["acme"]).await;
    state.call("acme", "pbx1", "1.1", 1).await;
    let token = app.login("viewer").await; // POST /monitor/api/v1/auth/login
    let r = app.get("api/v1/live/calls", Some(&token)).await;
    assert_eq!(r.status, 200);
    let r = app.get("", None).await;
    assert!(
        r.text().contains("<base href=\"/monitor/\">"),
        "{}",
        r.text()
    );
    let r = http(app.addr, "GET", "/monitor", &[], None).await;
    assert_eq!((r.status, r.header("location")), (308, Some("/monitor/")));
    let r = http(
        app.addr,
        "GET",
        "/api/v1/auth/me",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .await;
    assert_eq!(r.status, 404, "nothing outside the base path");
    let r = app.get("healthz", None).await;
    assert_eq!(r.status, 200);
    // WebSocket under the base path.
    let mut ws = ws_connect(&app.ws_url("ws"), &token).await;
    let first = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (first["type"].as_str(), first["seq"].as_u64()),
        (Some("InitialState"), Some(1))
    );
}

#[tokio::test]
async fn openapi_docs_health_and_metrics_are_served() {
    let app = spawn_app(settings()).await;
    let r = app.get("api/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let spec = r.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/me",
        "/api/v1/live/{view}",
        "/api/v1/pbx/{id}/actions",
        "/api/v1/calls/{id}/hangup",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the spec"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.get("api/v1/docs", None).await;
    assert!(page.text().contains("docs.js") && !page.text().contains("<script>"));
    assert_eq!(app.get("api/v1/docs.js", None).await.status, 200);
    assert_eq!(app.get("healthz", None).await.text(), "ok");
    let r = app.get("readyz", None).await;
    assert_eq!(r.status, 503, "no state service answers yet");
    FakeState::start(app.bus.clone(), app.subjects.clone(), &["default"]).await;
    assert_eq!(app.get("readyz", None).await.status, 200);
    let r = app.get("metrics", None).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "ringside_test_metric_total 7\n")
    );
}

#[tokio::test]
async fn a_short_or_default_jwt_secret_is_refused_outside_monolithic_mode() {
    let test = ringside_testkit::TestBus::in_process();
    let deps = || deps(test.bus.clone(), test.topology.subjects().clone());
    for secret in ["short", ringside_gateway::settings::DEFAULT_JWT_SECRET] {
        let s = GatewaySettings {
            jwt_secret: secret.into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..GatewaySettings::default()
        };
        let err = ringside_gateway::bind(s.clone(), deps(), Default::default())
            .await
            .err()
            .expect("refused");
        assert!(format!("{err:#}").contains("jwt_secret"), "{err:#}");
        assert!(ringside_gateway::router(s, deps()).is_err());
    }
    let s = GatewaySettings {
        jwt_secret: "short".into(),
        monolithic: true,
        ..GatewaySettings::default()
    };
    assert!(ringside_gateway::router(s, deps()).is_ok());
}

#[tokio::test]
async fn the_router_answers_in_memory_and_merges_admin_routes_with_the_same_auth() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let test = ringside_testkit::TestBus::in_process();
    let mut d = deps(test.bus.clone(), test.topology.subjects().clone());
    d.admin = Some(axum::Router::new().route(
        "/customers/",
        axum::routing::get(|auth: ringside_gateway::Auth| async move {
            auth.require(ringside_gateway::Role::TenantAdmin)?;
            Ok::<_, ringside_gateway::ApiError>(axum::Json(
                json!({"items": [], "total": 0, "tenant": auth.0.tenant}),
            ))
        }),
    ));
    let app = ringside_gateway::router(settings(), d).unwrap();
    let tokens = ringside_gateway::auth::Tokens::new(SECRET.as_bytes(), Duration::from_secs(60));
    let who = |role| ringside_gateway::Principal {
        user_id: "u".into(),
        username: "u".into(),
        tenant: "acme".into(),
        role,
    };
    let call = |token: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/api/v1/customers/");
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
        }
    };
    assert_eq!(call(None).await.status(), 401);
    assert_eq!(
        call(Some(
            tokens
                .issue(&who(ringside_gateway::Role::Operator))
                .unwrap()
        ))
        .await
        .status(),
        403
    );
    let ok = call(Some(
        tokens
            .issue(&who(ringside_gateway::Role::TenantAdmin))
            .unwrap(),
    ))
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("content-security-policy"));
}

/// The gateway's connections send small writes at once (`TCP_NODELAY`): a
/// WebSocket frame must not wait for the client's delayed ACK of the one
/// before, up to 40 ms, under Nagle's algorithm.
#[tokio::test]
async fn accepted_connections_send_without_nagle_delay() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app(settings()).await;
    let mut client = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 64];
    let n = client.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 "), "{:?}", &answer[..n]);
    let port = app.addr.port();
    let flags = ringside_testkit::sockets::tcp_nodelay_flags(|local, _| local.port() == port);
    assert!(!flags.is_empty(), "found no accepted connection");
    assert!(
        flags.iter().all(|&on| on),
        "TCP_NODELAY is off on an accepted connection"
    );
}
