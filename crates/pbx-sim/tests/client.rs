//! The AMI client of `ringside-ami` against the simulator, over real loopback
//! sockets: plain and MD5 logins (accepted and refused), event lists answered
//! while the PBX keeps producing live events, many actions in flight at once,
//! a hung PBX caught by the Ping keepalive, a PBX restart on the same port,
//! and TLS with a trusted and an untrusted certificate.
//!
//! The exact interleavings a live PBX produces only by chance are scripted in
//! `crates/ami/tests/client.rs`; here the peer is the simulator, so every
//! answer is computed from a running model.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringside_ami::client::{
    AuthMethod, Backoff, Client, ClientConfig, ClientEvent, ClientEvents, ConnectionState,
    DisconnectReason, Response, Secret, SendError, TlsOptions,
};
use ringside_ami::{Action, MessageKind};
use ringside_pbx_sim::{ServerTls, SimConfig, SimError, Simulator};
use support::{SECRET, USER, config, spawn};

/// A client for the simulator at `addr` with fast reconnects.
fn client_config(addr: SocketAddr, secret: &str) -> ClientConfig {
    let mut c = ClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        USER,
        Secret::new(secret),
    );
    c.connect_timeout = Duration::from_secs(2);
    c.action_timeout = Duration::from_secs(5);
    c.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        multiplier: 2.0,
        jitter: 0.0,
    };
    c
}

/// The next event of any kind; panics after 10 s with nothing.
async fn next_event(events: &mut ClientEvents) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a client event within 10 s")
        .expect("the event stream is open")
}

/// The next `Connected` or `Disconnected`, skipping messages.
async fn next_lifecycle(events: &mut ClientEvents) -> ClientEvent {
    loop {
        match next_event(events).await {
            ClientEvent::Message(_) | ClientEvent::DecodeError(_) => continue,
            lifecycle => return lifecycle,
        }
    }
}

/// Waits for the first login and checks it is epoch 1 with the simulator's
/// banner.
async fn expect_first_login(events: &mut ClientEvents) {
    match next_lifecycle(events).await {
        ClientEvent::Connected { epoch: 1, banner } => {
            assert_eq!(banner, "Asterisk Call Manager/11.0.0");
        }
        other => panic!("expected Connected{{epoch: 1}}, got {other:?}"),
    }
}

/// Waits for `Connected{epoch}`, letting failed attempts (`epoch: None`,
/// connect errors only) go by.
async fn expect_reconnect(events: &mut ClientEvents, epoch: u64) {
    loop {
        match next_lifecycle(events).await {
            ClientEvent::Connected { epoch: e, .. } if e == epoch => return,
            ClientEvent::Disconnected {
                epoch: None,
                reason: DisconnectReason::Connect(_),
                retry_in: Some(_),
            } => continue,
            other => panic!("expected Connected{{epoch: {epoch}}}, got {other:?}"),
        }
    }
}

fn action(name: &str) -> Action {
    Action::new(name).unwrap()
}

async fn assert_pong(client: &Client) {
    let answer = client.send(action("Ping")).await.expect("Ping answered");
    assert_eq!(answer.get("Ping"), Some("Pong"), "{:?}", answer.message);
}

/// Checks that `answer` is a complete event list for the action with this
/// ActionID, closed by `complete`, and returns its items' count.
fn assert_list(answer: &Response, id: &str, complete: &str) -> usize {
    assert_eq!(answer.message.action_id(), Some(id), "{:?}", answer.message);
    assert!(answer.is_success(), "{:?}", answer.message);
    assert_eq!(answer.get("EventList"), Some("start"));
    let last = answer.events.last().expect("a closing event");
    assert_eq!(last.kind(), MessageKind::ListComplete, "{last:?}");
    assert_eq!(last.name(), complete);
    for item in answer.items() {
        assert_eq!(item.kind(), MessageKind::ListItem, "{item:?}");
    }
    assert!(
        answer.events.iter().all(|m| m.action_id() == Some(id)),
        "every entry carries this action's ActionID"
    );
    let listed: usize = last
        .get("ListItems")
        .expect("ListItems on the Complete event")
        .parse()
        .unwrap();
    assert_eq!(answer.items().len(), listed, "items collected vs ListItems");
    listed
}

/// A self-signed certificate for `localhost` in a temporary directory: the
/// simulator's TLS settings and the certificate's path (the client's CA file).
struct Cert {
    _dir: tempfile::TempDir,
    tls: ServerTls,
    ca_file: std::path::PathBuf,
}

fn self_signed_localhost() -> Cert {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    Cert {
        tls: ServerTls {
            cert_chain: cert_path.clone(),
            private_key: key_path,
        },
        ca_file: cert_path,
        _dir: dir,
    }
}

/// Starts a simulator on exactly `addr`, retrying while the port is still
/// held by the one that just shut down.
async fn start_on(addr: SocketAddr) -> Simulator {
    let mut tries = 0;
    loop {
        match ringside_pbx_sim::start(SimConfig {
            listen: addr,
            ..config()
        })
        .await
        {
            Ok(sim) => return sim,
            Err(SimError::Bind { .. }) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot start a simulator on {addr} again: {e}"),
        }
    }
}

#[tokio::test]
async fn a_plain_login_is_accepted_and_starts_epoch_1() {
    let sim = spawn(config()).await;
    let (client, mut events) = Client::connect(client_config(sim.local_addr(), SECRET));
    expect_first_login(&mut events).await;
    assert_eq!(client.state(), ConnectionState::Connected { epoch: 1 });
    assert_eq!(sim.logged_in(), 1);
    assert_pong(&client).await;
    assert_eq!(client.stats().connects.load(Ordering::Relaxed), 1);
    assert_eq!(client.stats().auth_failures.load(Ordering::Relaxed), 0);
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_at_every_attempt_and_the_client_never_logs_in() {
    let sim = spawn(config()).await;
    let (client, mut events) = Client::connect(client_config(sim.local_addr(), "not-the-secret"));
    let mut refusals = 0;
    while refusals < 3 {
        match next_event(&mut events).await {
            ClientEvent::Disconnected {
                epoch: None,
                reason: DisconnectReason::Auth(why),
                retry_in: Some(wait),
            } => {
                assert!(why.contains("Authentication failed"), "{why}");
                assert!(!why.contains("not-the-secret"), "the secret leaked: {why}");
                assert!(
                    wait >= Duration::from_millis(50) && wait <= Duration::from_millis(200),
                    "retry delay {wait:?} outside the configured backoff"
                );
                refusals += 1;
            }
            other => panic!("expected a refused login, got {other:?}"),
        }
    }
    assert_eq!(sim.logged_in(), 0);
    assert!(matches!(client.state(), ConnectionState::Connecting { .. }));
    assert_eq!(
        client.send(action("Ping")).await.unwrap_err(),
        SendError::NotConnected
    );

    // Every refusal counted once, however many attempts ran before the close.
    client.close().await;
    loop {
        match next_event(&mut events).await {
            ClientEvent::Disconnected {
                reason: DisconnectReason::Auth(_),
                ..
            } => refusals += 1,
            ClientEvent::Disconnected {
                reason: DisconnectReason::Closed,
                ..
            } => break,
            other => panic!("expected only refusals until the close, got {other:?}"),
        }
    }
    assert_eq!(
        client.stats().auth_failures.load(Ordering::Relaxed),
        refusals
    );
    assert_eq!(client.stats().connects.load(Ordering::Relaxed), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_md5_challenge_login_is_accepted() {
    let sim = spawn(config()).await;
    let mut cfg = client_config(sim.local_addr(), SECRET);
    cfg.auth = AuthMethod::Md5;
    let (client, mut events) = Client::connect(cfg);
    expect_first_login(&mut events).await;
    assert_eq!(sim.logged_in(), 1);
    assert_pong(&client).await;
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_md5_login_with_a_wrong_secret_is_refused() {
    let sim = spawn(config()).await;
    let mut cfg = client_config(sim.local_addr(), "not-the-secret");
    cfg.auth = AuthMethod::Md5;
    let (client, mut events) = Client::connect(cfg);
    match next_event(&mut events).await {
        ClientEvent::Disconnected {
            epoch: None,
            reason: DisconnectReason::Auth(why),
            retry_in: Some(_),
        } => assert!(why.contains("Authentication failed"), "{why}"),
        other => panic!("expected a refused MD5 login, got {other:?}"),
    }
    assert_eq!(sim.logged_in(), 0);
    assert_eq!(client.stats().connects.load(Ordering::Relaxed), 0);
    client.close().await;
    sim.shutdown().await;
}

/// What the consumer of the event stream saw while the test sent actions.
#[derive(Default)]
struct Seen {
    live_events: AtomicUsize,
}

#[tokio::test]
async fn a_list_action_gets_exactly_its_entries_while_live_events_keep_flowing() {
    let sim = spawn(SimConfig {
        endpoints: 30,
        trunks: 2,
        calls_per_second: 50.0,
        ..config()
    })
    .await;
    let (client, mut events) = Client::connect(client_config(sim.local_addr(), SECRET));
    expect_first_login(&mut events).await;

    // Drain the stream concurrently, counting live events and keeping anything
    // that belongs to a request (nothing should: mirroring is off).
    let seen = Arc::new(Seen::default());
    let consumer = tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut leaked = Vec::new();
            while let Some(event) = events.recv().await {
                match event {
                    ClientEvent::Message(m) if m.kind() == MessageKind::Event => {
                        seen.live_events.fetch_add(1, Ordering::Relaxed);
                    }
                    ClientEvent::Disconnected {
                        reason: DisconnectReason::Closed,
                        ..
                    } => break,
                    other => leaked.push(format!("{other:?}")),
                }
            }
            leaked
        }
    });
    let live_events_reach = |n: usize| {
        let seen = seen.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                while seen.live_events.load(Ordering::Relaxed) < n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("fewer than {n} live events within 10 s"));
        }
    };
    live_events_reach(5).await;

    let mut expected: Vec<String> = sim.state().endpoints.into_iter().map(|e| e.name).collect();
    expected.sort();
    assert_eq!(expected.len(), 32);
    for _ in 0..3 {
        let list = action("PJSIPShowEndpoints");
        let id = list.action_id().to_owned();
        let answer = client.send(list).await.expect("the list is answered");
        assert_eq!(assert_list(&answer, &id, "EndpointListComplete"), 32);
        let mut names: Vec<String> = answer
            .items()
            .iter()
            .map(|m| {
                assert_eq!(m.name(), "EndpointList");
                m.get("ObjectName").unwrap().to_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, expected, "one entry per endpoint and trunk");
    }

    // Live events still arrive after the lists.
    let after_lists = seen.live_events.load(Ordering::Relaxed);
    live_events_reach(after_lists + 5).await;
    client.close().await;
    let leaked = consumer.await.unwrap();
    assert!(
        leaked.is_empty(),
        "responses or list entries reached the event stream: {leaked:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn twenty_actions_in_flight_at_once_each_get_their_own_answer() {
    let sim = spawn(SimConfig {
        calls_per_second: 20.0,
        ..config()
    })
    .await;
    let (client, mut events) = Client::connect(client_config(sim.local_addr(), SECRET));
    expect_first_login(&mut events).await;
    // Keep the stream drained so live events never hold the reader back.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });

    let kinds = [
        ("Ping", None),
        ("CoreShowChannels", Some("CoreShowChannelsComplete")),
        ("PJSIPShowContacts", Some("ContactListComplete")),
        ("QueueStatus", Some("QueueStatusComplete")),
        ("PJSIPShowEndpoints", Some("EndpointListComplete")),
        ("BridgeList", Some("BridgeListComplete")),
        ("DeviceStateList", Some("DeviceStateListComplete")),
    ];
    let actions: Vec<(Action, Option<&str>)> = (0..20)
        .map(|i| {
            let (name, complete) = kinds[i % kinds.len()];
            (action(name), complete)
        })
        .collect();
    let answers =
        futures::future::join_all(actions.iter().map(|(a, _)| client.send(a.clone()))).await;

    let mut ids = BTreeSet::new();
    for ((sent, complete), answer) in actions.iter().zip(answers) {
        let answer = answer.unwrap_or_else(|e| panic!("{} failed: {e}", sent.name()));
        let id = sent.action_id();
        ids.insert(answer.message.action_id().unwrap().to_owned());
        match complete {
            None => {
                assert_eq!(answer.message.action_id(), Some(id));
                assert_eq!(answer.get("Ping"), Some("Pong"), "{:?}", answer.message);
                assert!(answer.events.is_empty());
            }
            Some(complete) => {
                let n = assert_list(&answer, id, complete);
                if sent.name() == "PJSIPShowEndpoints" {
                    assert_eq!(n, 22, "20 extensions and 2 trunks");
                }
            }
        }
    }
    assert_eq!(ids.len(), 20, "twenty distinct answers");
    client.close().await;
    drain.await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_frozen_pbx_is_caught_by_the_ping_timeout_and_the_client_logs_in_again_after_the_thaw() {
    let sim = spawn(config()).await;
    let mut cfg = client_config(sim.local_addr(), SECRET);
    cfg.ping_interval = Duration::from_millis(200);
    cfg.ping_timeout = Duration::from_millis(600);
    // A frozen simulator accepts connections but swallows the banner too, so
    // an attempt made during the freeze waits this long for it.
    cfg.connect_timeout = Duration::from_secs(1);
    let (client, mut events) = Client::connect(cfg);
    expect_first_login(&mut events).await;
    assert_pong(&client).await;

    sim.set_frozen(true);
    match next_lifecycle(&mut events).await {
        ClientEvent::Disconnected {
            epoch: Some(1),
            reason: DisconnectReason::PingTimeout(after),
            retry_in: Some(_),
        } => assert_eq!(after, Duration::from_millis(600)),
        other => panic!("expected a ping timeout, got {other:?}"),
    }

    sim.set_frozen(false);
    expect_reconnect(&mut events, 2).await;
    assert_pong(&client).await;
    assert_eq!(sim.logged_in(), 1, "the dead connection was closed");
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_restarted_pbx_on_the_same_port_is_reconnected_with_epoch_2() {
    let sim = spawn(config()).await;
    let addr = sim.local_addr();
    let (client, mut events) = Client::connect(client_config(addr, SECRET));
    expect_first_login(&mut events).await;

    sim.shutdown().await;
    match next_lifecycle(&mut events).await {
        ClientEvent::Disconnected {
            epoch: Some(1),
            reason: DisconnectReason::Eof | DisconnectReason::Io(_),
            retry_in: Some(_),
        } => {}
        other => panic!("expected the connection to end, got {other:?}"),
    }
    assert_eq!(
        client.send(action("Ping")).await.unwrap_err(),
        SendError::NotConnected
    );

    let restarted = start_on(addr).await;
    expect_reconnect(&mut events, 2).await;
    assert_pong(&client).await;
    assert_eq!(restarted.logged_in(), 1);
    client.close().await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn a_client_trusting_the_ca_file_logs_in_over_tls_and_pings() {
    let cert = self_signed_localhost();
    let sim = spawn(SimConfig {
        tls: Some(cert.tls.clone()),
        ..config()
    })
    .await;
    let mut cfg = client_config(sim.local_addr(), SECRET);
    cfg.tls = Some(TlsOptions {
        ca_file: Some(cert.ca_file.clone()),
        server_name: Some("localhost".into()),
    });
    let (client, mut events) = Client::connect(cfg);
    expect_first_login(&mut events).await;
    assert_pong(&client).await;
    assert_eq!(sim.logged_in(), 1);
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails_the_tls_handshake() {
    let cert = self_signed_localhost();
    let sim = spawn(SimConfig {
        tls: Some(cert.tls.clone()),
        ..config()
    })
    .await;
    let mut cfg = client_config(sim.local_addr(), SECRET);
    // Same name, but only the public web roots are trusted.
    cfg.tls = Some(TlsOptions {
        ca_file: None,
        server_name: Some("localhost".into()),
    });
    let (client, mut events) = Client::connect(cfg);
    for _ in 0..2 {
        match next_event(&mut events).await {
            ClientEvent::Disconnected {
                epoch: None,
                reason: DisconnectReason::Connect(why),
                retry_in: Some(_),
            } => {
                assert!(why.contains("TLS"), "{why}");
                assert!(why.to_lowercase().contains("certificate"), "{why}");
            }
            other => panic!("expected a TLS connect error, got {other:?}"),
        }
    }
    assert_eq!(sim.logged_in(), 0);
    assert_eq!(client.stats().auth_failures.load(Ordering::Relaxed), 0);
    client.close().await;
    sim.shutdown().await;
}
