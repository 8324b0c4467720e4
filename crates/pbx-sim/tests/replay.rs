//! Replay mode: a recorded transcript streamed to a client after its login.

mod support;

use std::time::Duration;

use ringside_ami::Message;
use ringside_pbx_sim::{ReplayConfig, SimConfig, Speed};
use support::{Client, config, corpus_dir, decode, spawn};

fn replay(name: &str, speed: Speed, looped: bool) -> SimConfig {
    SimConfig {
        replay: Some(ReplayConfig {
            path: corpus_dir().join(format!("{name}.ami")),
            speed,
            looped,
        }),
        ..config()
    }
}

/// The transcript's messages after its banner and login answer.
fn recorded(name: &str) -> Vec<Message> {
    let bytes = std::fs::read(corpus_dir().join(format!("{name}.ami"))).unwrap();
    let all = decode(&bytes);
    assert_eq!(all[1].get("Message"), Some("Authentication accepted"));
    all[2..].to_vec()
}

async fn read_to_eof(c: &mut Client) -> Vec<Message> {
    let mut got = Vec::new();
    while let Some(m) = c.next().await {
        got.push(m);
    }
    got
}

#[tokio::test]
async fn replaying_at_max_speed_yields_the_transcript_after_the_login() {
    let sim = spawn(replay("basic-calls", Speed::Max, false)).await;
    let mut c = Client::logged_in(&sim).await;
    let got = read_to_eof(&mut c).await;
    let want = recorded("basic-calls");
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the replayed messages differ from the transcript"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn replaying_at_a_factor_keeps_the_recorded_pace_in_virtual_time() {
    let sim = spawn(replay("dtmf", Speed::Factor(2.0), false)).await;
    let mut c = Client::logged_in(&sim).await;
    let began = tokio::time::Instant::now();
    let got = read_to_eof(&mut c).await;
    let took = began.elapsed();
    assert_eq!(got, recorded("dtmf"));
    // The recorded span of the reads after login, halved.
    let timing = std::fs::read_to_string(corpus_dir().join("dtmf.timing.jsonl")).unwrap();
    let t: Vec<f64> = timing
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["t_ms"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let span = Duration::from_secs_f64((t[t.len() - 1] - t[1]) / 2000.0);
    assert!(
        took + Duration::from_millis(500) >= span,
        "{took:?} < {span:?}"
    );
    assert!(took <= span + Duration::from_secs(2), "{took:?} > {span:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_looped_replay_starts_again_from_the_top() {
    let sim = spawn(replay("actions-monitoruser", Speed::Max, true)).await;
    let want = recorded("actions-monitoruser");
    let mut c = Client::logged_in(&sim).await;
    let mut got = Vec::new();
    while got.len() < want.len() * 2 + 1 {
        got.push(c.next().await.expect("a looped replay does not end"));
    }
    assert_eq!(got[..want.len()], want[..]);
    assert_eq!(got[want.len()..want.len() * 2], want[..]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_replay_still_requires_a_good_login_and_answers_ping() {
    let sim = spawn(replay("basic-calls", Speed::Recorded, false)).await;
    let mut c = Client::connect(&sim).await;
    let r = c
        .request(ringside_ami::Action::login_plain(support::USER, "wrong").unwrap())
        .await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(c.next().await.is_none());
    let mut c = Client::logged_in(&sim).await;
    let r = c.request(support::action("Ping", "p", &[])).await;
    assert_eq!(r.get("Ping"), Some("Pong"));
    sim.shutdown().await;
}
