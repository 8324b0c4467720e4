//! The client against scripted AMI peers on loopback: exact interleavings that
//! a live PBX produces only by chance (corpus README item 12: live events
//! between a list's start and its Complete, responses of other actions in
//! between), refused logins, and a peer that goes silent (half-open TCP).
//!
//! The peer is a real TCP server speaking AMI with the crate's own codec; the
//! simulator-based tests (login variants, TLS, restarts) live in pbx-sim.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringside_ami::client::{
    Backoff, Client, ClientConfig, ClientEvent, DisconnectReason, Secret, SendError,
};
use ringside_ami::{Action, AmiCodec, Message, MessageKind};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

type Peer = Framed<TcpStream, AmiCodec>;

fn msg(headers: &[(&str, &str)]) -> Message {
    Message::from_headers(headers.iter().copied()).unwrap()
}

/// Accepts one connection, sends the banner and answers the login.
async fn accept_and_login(listener: &TcpListener, accept: bool) -> Peer {
    let (socket, _) = listener.accept().await.unwrap();
    let mut peer = Framed::new(socket, AmiCodec::without_banner());
    peer.get_mut().writable().await.unwrap();
    use tokio::io::AsyncWriteExt;
    peer.get_mut()
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await
        .unwrap();
    let login = peer.next().await.unwrap().unwrap().unwrap();
    assert_eq!(login.get("Action"), Some("Login"));
    let id = login.action_id().unwrap().to_owned();
    let answer = if accept {
        msg(&[
            ("Response", "Success"),
            ("ActionID", &id),
            ("Message", "Authentication accepted"),
        ])
    } else {
        msg(&[
            ("Response", "Error"),
            ("ActionID", &id),
            ("Message", "Authentication failed"),
        ])
    };
    peer.send(&answer).await.unwrap();
    peer
}

fn config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1", port, "lab", Secret::new("labsecret"));
    c.action_timeout = Duration::from_secs(5);
    c.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        multiplier: 2.0,
        jitter: 0.0,
    };
    c
}

async fn next_event(events: &mut ringside_ami::client::ClientEvents) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
}

#[tokio::test]
async fn list_entries_are_collected_while_live_events_and_other_responses_interleave() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = Client::connect(config(port));

    let peer_task = tokio::spawn(async move {
        let mut peer = accept_and_login(&listener, true).await;
        let a = peer.next().await.unwrap().unwrap().unwrap();
        let b = peer.next().await.unwrap().unwrap().unwrap();
        let (list, ping) = if a.get("Action") == Some("PJSIPShowEndpoints") {
            (a, b)
        } else {
            (b, a)
        };
        let lid = list.action_id().unwrap().to_owned();
        let pid = ping.action_id().unwrap().to_owned();
        let script = [
            msg(&[
                ("Response", "Success"),
                ("ActionID", &lid),
                ("EventList", "start"),
                (
                    "Message",
                    "A listing of Endpoints follows, presented as EndpointList events",
                ),
            ]),
            msg(&[
                ("Event", "Newchannel"),
                ("Privilege", "call,all"),
                ("Channel", "PJSIP/1001-00000001"),
                ("Uniqueid", "lab-pbx-1.1"),
            ]),
            msg(&[
                ("Event", "EndpointList"),
                ("ActionID", &lid),
                ("ObjectName", "1001"),
                ("DeviceState", "Not in use"),
            ]),
            msg(&[
                ("Response", "Success"),
                ("ActionID", &pid),
                ("Ping", "Pong"),
                ("Timestamp", "1795395695.191787"),
            ]),
            // A list item of the same name as a live event, but for us.
            msg(&[
                ("Event", "EndpointList"),
                ("ActionID", &lid),
                ("ObjectName", "1002"),
                ("DeviceState", "Unavailable"),
            ]),
            msg(&[
                ("Event", "Hangup"),
                ("Privilege", "call,all"),
                ("Channel", "PJSIP/1001-00000001"),
                ("Cause", "16"),
            ]),
            msg(&[
                ("Event", "EndpointListComplete"),
                ("ActionID", &lid),
                ("EventList", "Complete"),
                ("ListItems", "2"),
            ]),
        ];
        for m in &script {
            peer.send(m).await.unwrap();
        }
        peer
    });

    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 1, .. }
    ));
    let list = Action::new("PJSIPShowEndpoints").unwrap();
    let ping = Action::new("Ping").unwrap();
    let (list_answer, ping_answer) = tokio::join!(client.send(list), client.send(ping));
    let list_answer = list_answer.unwrap();
    let names: Vec<_> = list_answer
        .items()
        .iter()
        .map(|m| m.get("ObjectName").unwrap())
        .collect();
    assert_eq!(names, ["1001", "1002"]);
    assert_eq!(
        list_answer.events.last().unwrap().kind(),
        MessageKind::ListComplete
    );
    assert_eq!(ping_answer.unwrap().get("Ping"), Some("Pong"));

    // The two live events reached the stream, in order, and nothing else did.
    let mut live = Vec::new();
    while live.len() < 2 {
        if let ClientEvent::Message(m) = next_event(&mut events).await {
            live.push(m.name().to_owned());
        }
    }
    assert_eq!(live, ["Newchannel", "Hangup"]);
    let _peer = peer_task.await.unwrap();
}

#[tokio::test]
async fn an_empty_list_answered_with_an_error_completes_the_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = Client::connect(config(port));
    let peer_task = tokio::spawn(async move {
        let mut peer = accept_and_login(&listener, true).await;
        let action = peer.next().await.unwrap().unwrap().unwrap();
        let id = action.action_id().unwrap().to_owned();
        // Byte-exact from boot-and-sync.ami, bare LF included.
        use tokio::io::AsyncWriteExt;
        let raw =
            format!("Response: Error\r\nActionID: {id}\r\nMessage: No Contacts found\n\r\n\r\n");
        peer.get_mut().write_all(raw.as_bytes()).await.unwrap();
        peer
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { .. }
    ));
    let answer = client
        .send(Action::new("PJSIPShowContacts").unwrap())
        .await
        .unwrap();
    assert!(!answer.is_success());
    assert_eq!(answer.get("Message"), Some("No Contacts found"));
    assert!(answer.items().is_empty());
    let _peer = peer_task.await.unwrap();
}

#[tokio::test]
async fn a_refused_login_is_reported_and_retried_with_growing_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = Client::connect(config(port));
    let peer_task = tokio::spawn(async move {
        for _ in 0..4 {
            let _refused = accept_and_login(&listener, false).await;
        }
    });
    let mut delays = Vec::new();
    while delays.len() < 4 {
        match next_event(&mut events).await {
            ClientEvent::Disconnected {
                epoch: None,
                reason: DisconnectReason::Auth(why),
                retry_in: Some(d),
            } => {
                assert!(why.contains("Authentication failed"), "{why}");
                delays.push(d);
            }
            other => panic!("expected an auth failure, got {other:?}"),
        }
    }
    assert_eq!(
        delays,
        [50, 100, 200, 400].map(Duration::from_millis),
        "backoff doubles up to its cap, no hot loop"
    );
    assert_eq!(
        client
            .stats()
            .auth_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    assert_eq!(
        client.send(Action::new("Ping").unwrap()).await.unwrap_err(),
        SendError::NotConnected
    );
    client.close().await;
    peer_task.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_answering_is_detected_by_the_ping_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port);
    cfg.ping_interval = Duration::from_millis(100);
    cfg.ping_timeout = Duration::from_millis(300);
    let (_client, mut events) = Client::connect(cfg);
    // Half-open: the socket stays open, reads succeed on the peer's side, but
    // nothing ever comes back.
    let peer_task = tokio::spawn(async move {
        let mut peer = accept_and_login(&listener, true).await;
        let ping = peer.next().await.unwrap().unwrap().unwrap();
        assert_eq!(ping.get("Action"), Some("Ping"));
        // Keep the connection open without answering until the client gives up.
        let rest = peer.next().await;
        (peer, rest.is_none())
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 1, .. }
    ));
    match next_event(&mut events).await {
        ClientEvent::Disconnected {
            epoch: Some(1),
            reason: DisconnectReason::PingTimeout(d),
            ..
        } => assert_eq!(d, Duration::from_millis(300)),
        other => panic!("expected a ping timeout, got {other:?}"),
    }
    let (_peer, closed_by_client) = peer_task.await.unwrap();
    assert!(closed_by_client, "the client closed the dead connection");
}

#[tokio::test]
async fn an_action_without_an_answer_times_out_and_the_connection_stays_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port);
    cfg.action_timeout = Duration::from_millis(200);
    let (client, mut events) = Client::connect(cfg);
    let peer_task = tokio::spawn(async move {
        let mut peer = accept_and_login(&listener, true).await;
        let _ignored = peer.next().await.unwrap().unwrap().unwrap();
        let second = peer.next().await.unwrap().unwrap().unwrap();
        let id = second.action_id().unwrap().to_owned();
        peer.send(&msg(&[
            ("Response", "Success"),
            ("ActionID", &id),
            ("Ping", "Pong"),
        ]))
        .await
        .unwrap();
        peer
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { .. }
    ));
    let first = client.send(Action::new("CoreStatus").unwrap()).await;
    assert_eq!(
        first.unwrap_err(),
        SendError::Timeout(Duration::from_millis(200))
    );
    let second = client.send(Action::new("Ping").unwrap()).await.unwrap();
    assert_eq!(second.get("Ping"), Some("Pong"));
    let _peer = peer_task.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_closes_causes_a_reconnect_with_a_new_epoch() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = Client::connect(config(port));
    let peer_task = tokio::spawn(async move {
        let first = accept_and_login(&listener, true).await;
        drop(first);
        accept_and_login(&listener, true).await
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 1, .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Disconnected {
            epoch: Some(1),
            reason: DisconnectReason::Eof,
            retry_in: Some(_)
        }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 2, .. }
    ));
    let _peer = peer_task.await.unwrap();
    client.close().await;
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Disconnected {
            reason: DisconnectReason::Closed,
            retry_in: None,
            ..
        }
    ));
}

#[tokio::test]
async fn mirror_mode_forwards_responses_and_list_entries_in_wire_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port);
    cfg.mirror_responses = true;
    let (client, mut events) = Client::connect(cfg);
    let peer_task = tokio::spawn(async move {
        let mut peer = accept_and_login(&listener, true).await;
        let list = peer.next().await.unwrap().unwrap().unwrap();
        let id = list.action_id().unwrap().to_owned();
        let script = [
            msg(&[
                ("Response", "Success"),
                ("ActionID", &id),
                ("EventList", "start"),
                ("Message", "Channels will follow"),
            ]),
            msg(&[
                ("Event", "Newchannel"),
                ("Privilege", "call,all"),
                ("Uniqueid", "1.1"),
            ]),
            msg(&[
                ("Event", "CoreShowChannel"),
                ("ActionID", &id),
                ("Uniqueid", "1.0"),
            ]),
            msg(&[
                ("Event", "Hangup"),
                ("Privilege", "call,all"),
                ("Uniqueid", "1.1"),
            ]),
            msg(&[
                ("Event", "CoreShowChannelsComplete"),
                ("ActionID", &id),
                ("EventList", "Complete"),
                ("ListItems", "1"),
            ]),
        ];
        for m in &script {
            peer.send(m).await.unwrap();
        }
        peer
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { .. }
    ));
    let answer = client
        .send(Action::new("CoreShowChannels").unwrap())
        .await
        .unwrap();
    assert_eq!(answer.items().len(), 1);
    // When `send` returns, every frame of the answer is already in the stream.
    let mut seen = Vec::new();
    while let Ok(ClientEvent::Message(m)) = events.try_recv() {
        seen.push(m.name().to_owned());
    }
    assert_eq!(
        seen,
        [
            "Success",
            "Newchannel",
            "CoreShowChannel",
            "Hangup",
            "CoreShowChannelsComplete"
        ]
    );
    let _peer = peer_task.await.unwrap();
}

#[tokio::test]
async fn a_requested_reconnect_ends_the_connection_and_logs_in_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = Client::connect(config(port));
    let peer_task = tokio::spawn(async move {
        let mut first = accept_and_login(&listener, true).await;
        let second = accept_and_login(&listener, true).await;
        // The first connection was closed by the client (after its Logoff-free drop).
        (first.next().await.is_none(), second)
    });
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 1, .. }
    ));
    client.reconnect("lost events").await;
    match next_event(&mut events).await {
        ClientEvent::Disconnected {
            epoch: Some(1),
            reason: DisconnectReason::Requested(why),
            ..
        } => assert_eq!(why, "lost events"),
        other => panic!("expected the requested disconnect, got {other:?}"),
    }
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Connected { epoch: 2, .. }
    ));
    let (first_closed, _second) = peer_task.await.unwrap();
    assert!(first_closed);
}

#[tokio::test]
async fn close_during_a_connect_attempt_ends_the_client_without_logging_in() {
    // A peer that accepts and never sends the banner: the attempt hangs until
    // the connect timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port);
    cfg.connect_timeout = Duration::from_secs(30);
    let (client, mut events) = Client::connect(cfg);
    let (_socket, _) = listener.accept().await.unwrap();
    client.close().await;
    match next_event(&mut events).await {
        ClientEvent::Disconnected {
            epoch: None,
            reason: DisconnectReason::Closed,
            retry_in: None,
        } => {}
        other => panic!("expected an immediate close, got {other:?}"),
    }
    assert_eq!(
        client.state(),
        ringside_ami::client::ConnectionState::Closed
    );
}
