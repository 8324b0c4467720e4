//! The bus going away under a live PBX: nothing is lost and nothing
//! duplicated while the buffer holds; past its bound, the gap is recorded on
//! the stream and the PBX is resynchronised. A private nats-server is stopped
//! and restarted (same port, same file store).

mod support;

use std::time::Duration;

use ringside_bus::Storage;
use ringside_proto::events::v1::envelope::Kind;
use ringside_testkit::{NatsServer, TestBus};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn hangups(events: &[ringside_proto::events::v1::Envelope]) -> usize {
    events.iter().filter(|e| kind(e) == "ChannelHungUp").count()
}

#[tokio::test]
async fn nats_going_away_and_coming_back_loses_nothing_and_duplicates_nothing() {
    let mut server = NatsServer::start().await;
    let test = TestBus::nats_with(&server.url(), Duration::from_millis(500), Storage::File).await;
    let sim = sim(20.0, 5).await;
    let ingestor = Ingestor::spawn(
        settings(vec![pbx(&sim, "pbx-1")]),
        test.bus.clone(),
        test.topology.clone(),
    );
    let before = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 1
    })
    .await;

    server.stop();
    // Calls go on while the bus is away: the ingestor buffers them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().await;
    wait_connected(&test.bus).await;

    let target = hangups(&before) + 10;
    let events = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        hangups(seen) >= target
    })
    .await;
    ingestor.stop().await;

    let reasons: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Disconnected(d)) => Some(d.reason.clone()),
            _ => None,
        })
        .collect();
    assert!(
        reasons.is_empty(),
        "no reconnect was needed, yet: {reasons:?}"
    );
    assert!(events.iter().all(|e| e.epoch == events[0].epoch));
    assert_contiguous(&events);
    assert_eq!(syncs_completed(&events), 1, "no resync: nothing was lost");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_full_buffer_records_the_gap_and_forces_a_resync() {
    let mut server = NatsServer::start().await;
    let test = TestBus::nats_with(&server.url(), Duration::from_millis(500), Storage::File).await;
    let sim = sim(30.0, 9).await;
    let mut settings = settings(vec![pbx(&sim, "pbx-1")]);
    // Above one resync's burst (~60 entries), far below 3 s of 30 calls/s.
    settings.buffer_capacity = 150;
    settings.raw_frames = false;
    let ingestor = Ingestor::spawn(settings, test.bus.clone(), test.topology.clone());
    read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 1
    })
    .await;

    server.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart().await;
    wait_connected(&test.bus).await;

    let events = read_events(&test.bus, &test.topology, "pbx-1", WAIT, |seen| {
        syncs_completed(seen) >= 2
    })
    .await;
    ingestor.stop().await;

    let gap = events
        .iter()
        .position(|e| matches!(&e.kind, Some(Kind::Disconnected(d)) if d.reason.contains("gap")))
        .expect("the gap is recorded on the stream as a Disconnected event");
    let first_epoch = events[0].epoch;
    assert_eq!(events[gap].epoch, first_epoch);
    let resync = &events[gap + 1..];
    assert_eq!(kind(&resync[0]), "Connected");
    assert!(
        resync[0].epoch > first_epoch,
        "a new connection after the gap"
    );
    assert_eq!(kind(&resync[1]), "SyncStarted");
    // The first epoch really lost events (which is why the resync happened).
    let first: Vec<_> = events.iter().filter(|e| e.epoch == first_epoch).collect();
    assert!(
        first.last().unwrap().sequence > first.len() as u64,
        "sequence numbers of the first epoch show the hole"
    );
    sim.shutdown().await;
}
