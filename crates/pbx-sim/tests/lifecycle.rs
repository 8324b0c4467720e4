//! Controlling the simulator from a test: freezing, disconnecting everyone,
//! dropping slow clients, several PBXs at once.

mod support;

use std::time::Duration;

use ringside_ami::MessageKind;
use ringside_pbx_sim::{SimConfig, SimError};
use support::{Client, action, config, spawn};

/// Reads until nothing more is in flight (a millisecond of virtual quiet).
async fn drain(c: &mut Client) {
    use futures::StreamExt;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), c.framed.next()).await {}
}

#[tokio::test(start_paused = true)]
async fn a_frozen_simulator_writes_nothing_yet_keeps_the_connection_open() {
    use futures::StreamExt;
    let sim = spawn(SimConfig {
        calls_per_second: 2.0,
        ..config()
    })
    .await;
    let mut c = Client::logged_in(&sim).await;
    c.event("Newchannel").await;
    sim.set_frozen(true);
    drain(&mut c).await;
    c.send(&action("Ping", "while-frozen", &[])).await;
    let calls_before = sim.state().processed_calls;
    let quiet = tokio::time::timeout(Duration::from_secs(30), c.framed.next()).await;
    assert!(
        quiet.is_err(),
        "something was written while frozen: {quiet:?}"
    );
    assert!(
        sim.state().processed_calls > calls_before,
        "the model kept running"
    );

    sim.set_frozen(false);
    let r = c.request(action("Ping", "thawed", &[])).await;
    assert_eq!(
        r.get("Ping"),
        Some("Pong"),
        "the connection survived the freeze"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_all_closes_every_connection_and_later_logins_work() {
    let sim = spawn(config()).await;
    let mut logged = Client::logged_in(&sim).await;
    let mut anonymous = Client::connect(&sim).await;
    assert_eq!(sim.logged_in(), 1);
    sim.disconnect_all();
    while let Some(m) = logged.next().await {
        assert_eq!(m.kind(), MessageKind::Event);
    }
    assert!(anonymous.next().await.is_none());
    let mut again = Client::logged_in(&sim).await;
    let r = again.request(action("Ping", "p", &[])).await;
    assert_eq!(r.get("Ping"), Some("Pong"));
    assert_eq!(sim.logged_in(), 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped_and_the_others_keep_their_events() {
    let sim = spawn(SimConfig {
        calls_per_second: 40.0,
        endpoints: 300,
        ..config()
    })
    .await;
    let mut slow = Client::logged_in(&sim).await;
    let mut fast = Client::logged_in(&sim).await;
    let started = tokio::time::Instant::now();
    while sim.logged_in() == 2 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the slow client was never dropped"
        );
        fast.next()
            .await
            .expect("the fast client keeps its connection");
    }
    assert_eq!(sim.logged_in(), 1);
    for _ in 0..100 {
        assert!(
            fast.next().await.is_some(),
            "events still flow to the fast client"
        );
    }
    // The slow client finds its connection closed once it reads what was
    // already on the wire.
    while slow.next().await.is_some() {}
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn start_many_gives_independent_pbxs_each_with_its_own_seed() {
    let sims = ringside_pbx_sim::start_many(
        SimConfig {
            calls_per_second: 3.0,
            ..config()
        },
        3,
    )
    .await
    .unwrap();
    let ports: std::collections::BTreeSet<_> = sims.iter().map(|s| s.local_addr().port()).collect();
    assert_eq!(ports.len(), 3);
    let mut runs = Vec::new();
    for sim in &sims {
        let mut c = Client::logged_in(sim).await;
        let mut keys = Vec::new();
        while keys.len() < 40 {
            let m = c.next().await.unwrap();
            if let (MessageKind::Event, Some(ch)) = (m.kind(), m.get("Channel")) {
                keys.push(format!("{} {ch}", m.name()));
            }
        }
        runs.push(keys);
    }
    assert_ne!(runs[0], runs[1], "seed + 1 gives another run");
    assert_ne!(runs[1], runs[2], "seed + 2 gives another run");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        sims.iter().all(|s| s.state().processed_calls > 0),
        "every PBX runs"
    );
    for s in sims {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn start_many_uses_consecutive_ports_from_the_configured_one() {
    for _ in 0..5 {
        let base = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        if base > 65_000 {
            continue;
        }
        let mut cfg = config();
        cfg.listen.set_port(base);
        match ringside_pbx_sim::start_many(cfg, 3).await {
            Ok(sims) => {
                let ports: Vec<_> = sims.iter().map(|s| s.local_addr().port()).collect();
                assert_eq!(ports, [base, base + 1, base + 2]);
                for s in sims {
                    s.shutdown().await;
                }
                return;
            }
            // Another process holds one of the ports: try another base.
            Err(SimError::Bind { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no free run of three ports found");
}

#[tokio::test]
async fn an_unusable_configuration_is_refused_at_start() {
    let err = ringside_pbx_sim::start(SimConfig {
        calls_per_second: f64::NAN,
        ..config()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::Config(_)), "{err}");
    let taken = spawn(config()).await;
    let err = ringside_pbx_sim::start(SimConfig {
        listen: taken.local_addr(),
        ..config()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::Bind { .. }), "{err}");
    taken.shutdown().await;
}
