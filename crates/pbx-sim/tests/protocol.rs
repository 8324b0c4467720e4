//! The AMI conversation as a raw client sees it: banner, logins, framing of
//! responses and event lists, error answers, session actions.

mod support;

use std::time::Duration;

use ringside_ami::{Action, MessageKind};
use support::{Client, SECRET, USER, action, config, spawn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(start_paused = true)]
async fn a_plain_login_is_accepted_and_fully_booted_follows_the_banner() {
    let sim = spawn(config()).await;
    let mut c = Client::connect(&sim).await;
    c.send(&action(
        "Login",
        "l1",
        &[("Username", USER), ("Secret", SECRET)],
    ))
    .await;
    let r = c.next().await.unwrap();
    assert_eq!(r.kind(), MessageKind::Response);
    assert_eq!(r.get("Response"), Some("Success"));
    assert_eq!(r.action_id(), Some("l1"));
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    let booted = c.next().await.unwrap();
    assert_eq!(booted.name(), "FullyBooted");
    let keys: Vec<_> = booted.headers().map(|h| h.key).collect();
    assert_eq!(
        keys,
        ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    );
    assert_eq!(c.event("SuccessfulAuth").await.get("AccountID"), Some(USER));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_md5_challenge_login_is_accepted_with_the_right_key() {
    let sim = spawn(config()).await;
    let mut c = Client::connect(&sim).await;
    let r = c.request(Action::challenge()).await;
    let challenge = r.get("Challenge").expect("a challenge").to_owned();
    assert!(
        challenge.chars().all(|ch| ch.is_ascii_digit()),
        "{challenge}"
    );
    let r = c
        .request(Action::login_md5(USER, SECRET, &challenge).unwrap())
        .await;
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_wrong_secret_or_key_is_refused_and_the_server_closes() {
    let sim = spawn(config()).await;
    let mut c = Client::connect(&sim).await;
    let r = c.request(Action::login_plain(USER, "nope").unwrap()).await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(
        c.next().await.is_none(),
        "connection closed after a failed login"
    );

    let mut c = Client::connect(&sim).await;
    let ch = c.request(Action::challenge()).await;
    let challenge = ch.get("Challenge").unwrap().to_owned();
    let r = c
        .request(Action::login_md5(USER, "wrong", &challenge).unwrap())
        .await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(c.next().await.is_none());

    let mut c = Client::connect(&sim).await;
    let r = c
        .request(Action::login_plain("nobody", SECRET).unwrap())
        .await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn actions_before_login_are_answered_permission_denied() {
    let sim = spawn(config()).await;
    let mut c = Client::connect(&sim).await;
    for name in ["CoreShowChannels", "Ping", "Originate"] {
        let r = c.request(action(name, name, &[])).await;
        assert_eq!(r.get("Response"), Some("Error"));
        assert_eq!(r.get("Message"), Some("Permission denied"));
    }
    // Still open, and a login still works.
    let r = c.request(Action::login_plain(USER, SECRET).unwrap()).await;
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn responses_echo_the_action_id_only_when_the_request_had_one() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    c.send_raw(b"Action: Ping\r\n\r\n").await;
    let pong = loop {
        let m = c.next().await.unwrap();
        if m.kind() == MessageKind::Response {
            break m;
        }
    };
    let keys: Vec<_> = pong.headers().map(|h| h.key).collect();
    assert_eq!(keys, ["Response", "Ping", "Timestamp"]);
    let ts = pong.get("Timestamp").unwrap();
    let (secs, micros) = ts.split_once('.').unwrap();
    assert!(secs.parse::<u64>().unwrap() >= 1_795_394_246);
    assert_eq!(micros.len(), 6);
    let r = c.request(action("Ping", "p-1", &[])).await;
    let keys: Vec<_> = r.headers().map(|h| h.key).collect();
    assert_eq!(keys, ["Response", "ActionID", "Ping", "Timestamp"]);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_actions_and_sippeers_get_the_invalid_command_answer() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    for name in ["FooBarNoSuchAction", "SIPpeers"] {
        let r = c.request(action(name, "u", &[])).await;
        assert_eq!(r.get("Response"), Some("Error"));
        assert_eq!(
            r.get("Message").unwrap(),
            format!(
                "Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
            )
        );
        let ev = c.event("RequestBadFormat").await;
        assert_eq!(ev.get("RequestType").unwrap(), format!("Action: {name}"));
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn logoff_says_goodbye_and_the_server_closes_the_connection() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c.request(action("Logoff", "bye", &[])).await;
    assert_eq!(r.get("Response"), Some("Goodbye"));
    assert_eq!(r.get("Message"), Some("Thanks for all the fish."));
    loop {
        match c.next().await {
            None => break,
            Some(m) => assert_eq!(
                m.kind(),
                MessageKind::Event,
                "only events may trail the goodbye"
            ),
        }
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn every_list_action_is_framed_like_asterisk() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let cases = [
        ("PJSIPShowEndpoints", "EndpointList", "EndpointListComplete"),
        ("PJSIPShowContacts", "ContactList", "ContactListComplete"),
        ("PJSIPShowAors", "AorList", "AorListComplete"),
        (
            "PJSIPShowRegistrationsOutbound",
            "OutboundRegistrationDetail",
            "OutboundRegistrationDetailComplete",
        ),
        (
            "PJSIPShowRegistrationsInbound",
            "InboundRegistrationDetail",
            "InboundRegistrationDetailComplete",
        ),
        ("IAXpeerlist", "PeerEntry", "PeerlistComplete"),
        ("IAXregistry", "RegistryEntry", "RegistrationsComplete"),
        (
            "CoreShowChannels",
            "CoreShowChannel",
            "CoreShowChannelsComplete",
        ),
        ("BridgeList", "BridgeListItem", "BridgeListComplete"),
        ("QueueStatus", "", "QueueStatusComplete"),
        ("QueueSummary", "QueueSummary", "QueueSummaryComplete"),
        (
            "DeviceStateList",
            "DeviceStateChange",
            "DeviceStateListComplete",
        ),
        (
            "ExtensionStateList",
            "ExtensionStatus",
            "ExtensionStateListComplete",
        ),
    ];
    for (name, item, complete) in cases {
        let id = format!("mon-{}", name.to_ascii_lowercase());
        let (r, items, done) = c.list(action(name, &id, &[])).await;
        assert_eq!(r.get("Response"), Some("Success"), "{name}");
        let keys: Vec<_> = r.headers().map(|h| h.key).collect();
        assert_eq!(
            keys,
            ["Response", "ActionID", "EventList", "Message"],
            "{name}"
        );
        let done = done.unwrap();
        assert_eq!(done.name(), complete, "{name}");
        assert_eq!(
            done.get("ListItems").unwrap(),
            items.len().to_string(),
            "{name}"
        );
        for it in &items {
            assert_eq!(it.action_id(), Some(id.as_str()), "{name}: {it:?}");
            assert!(it.get("Privilege").is_none(), "{name}: {it:?}");
            if !item.is_empty() {
                assert_eq!(it.name(), item, "{name}");
            }
        }
        match name {
            "PJSIPShowEndpoints" | "PJSIPShowAors" | "PJSIPShowRegistrationsInbound" => {
                assert_eq!(items.len(), 22, "20 extensions and 2 trunks")
            }
            "PJSIPShowContacts" => assert_eq!(items.len(), 18, "a tenth never registers"),
            "IAXpeerlist" | "IAXregistry" | "PJSIPShowRegistrationsOutbound" => {
                assert_eq!(items.len(), 2)
            }
            "QueueSummary" => assert_eq!(items.len(), 2),
            _ => {}
        }
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_empty_contact_list_is_answered_with_the_exact_bytes_of_asterisk() {
    let corpus = std::fs::read(support::corpus_dir().join("boot-and-sync.ami")).unwrap();
    let start = b"Response: Error\r\nActionID: mon-25-pjsipshowcontacts\r\n";
    let at = corpus
        .windows(start.len())
        .position(|w| w == start)
        .expect("the empty-contacts answer is in boot-and-sync.ami");
    let end = at
        + corpus[at..]
            .windows(5)
            .position(|w| w == b"\n\r\n\r\n")
            .unwrap()
        + 5;
    let expected = &corpus[at..end];
    assert!(expected.ends_with(b"No Contacts found\n\r\n\r\n"));

    let sim = spawn(ringside_pbx_sim::SimConfig {
        endpoints: 0,
        ..config()
    })
    .await;
    let mut c = Client::connect(&sim).await;
    let r = c
        .request(action(
            "Login",
            "l",
            &[("Username", USER), ("Secret", SECRET), ("Events", "off")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    let parts = c.framed.into_parts();
    assert!(
        parts.read_buf.is_empty(),
        "nothing follows the login with events off"
    );
    let mut io = parts.io;
    io.write_all(b"Action: PJSIPShowContacts\r\nActionID: mon-25-pjsipshowcontacts\r\n\r\n")
        .await
        .unwrap();
    let mut got = vec![0; expected.len()];
    io.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn conference_and_status_answers_follow_asterisk_when_nothing_is_going_on() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c.request(action("ConfbridgeListRooms", "cb", &[])).await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("No active conferences."));
    let r = c
        .request(action(
            "Status",
            "st",
            &[("Channel", "PJSIP/nonexistent-00000000")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("No such channel"));
    let r = c.request(action("CoreSettings", "cs", &[])).await;
    assert_eq!(r.get("AsteriskVersion"), Some("22.10.1"));
    assert_eq!(r.get("AMIversion"), Some("11.0.0"));
    assert_eq!(r.get("SystemName"), Some("lab-pbx"));
    let r = c.request(action("CoreStatus", "cst", &[])).await;
    assert_eq!(r.get("CoreStartupDate"), Some("2026-11-23"));
    assert_eq!(r.get("CoreCurrentCalls"), Some("0"));
    let r = c
        .request(action("Originate", "o", &[("Channel", "PJSIP/1004")]))
        .await;
    assert_eq!(
        r.get("Message"),
        Some("Originate with 'Exten' requires 'Context' and 'Priority'")
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn command_output_has_one_output_header_per_line() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action("Command", "v", &[("Command", "core show version")]))
        .await;
    assert_eq!(r.kind(), MessageKind::CommandOutput);
    assert_eq!(r.get("Message"), Some("Command output follows"));
    let out = r.command_output();
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("Asterisk 22.10.1 built by"), "{out:?}");

    let r = c
        .request(action("Command", "q", &[("Command", "queue show")]))
        .await;
    let out = r.command_output();
    assert!(
        out[0].starts_with("support has 0 calls (max unlimited) in 'rrmemory' strategy"),
        "{out:?}"
    );
    assert!(out.contains(&""), "empty lines are `Output: ` headers");

    let r = c
        .request(action("Command", "x", &[("Command", "sip show peers")]))
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Command output follows"));
    assert_eq!(
        r.command_output(),
        [
            "No such command 'sip show peers' (type 'core show help sip show' for other possible commands)"
        ]
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn getconfig_and_updateconfig_edit_an_in_memory_file() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action("GetConfig", "g0", &[("Filename", "queues.conf")]))
        .await;
    assert_eq!(r.get("Category-000000"), Some("support"));
    assert_eq!(r.get("Line-000000-000000"), Some("strategy=rrmemory"));

    let r = c
        .request(action(
            "UpdateConfig",
            "u1",
            &[
                ("SrcFilename", "queues.conf"),
                ("DstFilename", "queues.conf"),
                ("Action-000000", "NewCat"),
                ("Cat-000000", "billing"),
                ("Action-000001", "Append"),
                ("Cat-000001", "billing"),
                ("Var-000001", "strategy"),
                ("Value-000001", "ringall"),
                ("Action-000002", "Append"),
                ("Cat-000002", "billing"),
                ("Var-000002", "timeout"),
                ("Value-000002", "15"),
                ("Action-000003", "Update"),
                ("Cat-000003", "billing"),
                ("Var-000003", "timeout"),
                ("Value-000003", "20"),
                ("Action-000004", "DelCat"),
                ("Cat-000004", "sales"),
            ],
        ))
        .await;
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let r = c
        .request(action(
            "GetConfig",
            "g1",
            &[("Filename", "queues.conf"), ("Category", "billing")],
        ))
        .await;
    assert_eq!(r.get("Category-000000"), Some("billing"));
    assert_eq!(r.get("Line-000000-000000"), Some("strategy=ringall"));
    assert_eq!(r.get("Line-000000-000001"), Some("timeout=20"));
    let r = c
        .request(action("GetConfig", "g2", &[("Filename", "queues.conf")]))
        .await;
    let cats: Vec<_> = r
        .headers()
        .filter(|h| h.key.starts_with("Category-"))
        .filter_map(|h| h.value)
        .collect();
    assert_eq!(cats, ["support", "billing"]);

    let r = c
        .request(action(
            "UpdateConfig",
            "u2",
            &[
                ("SrcFilename", "queues.conf"),
                ("DstFilename", "queues.conf"),
                ("Action-000000", "Delete"),
                ("Cat-000000", "billing"),
                ("Var-000000", "timeout"),
                ("Action-000001", "Update"),
                ("Cat-000001", "nosuch"),
                ("Var-000001", "x"),
            ],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Given category does not exist"));
    let r = c
        .request(action(
            "GetConfig",
            "g3",
            &[("Filename", "queues.conf"), ("Category", "billing")],
        ))
        .await;
    assert_eq!(
        r.get("Line-000000-000001"),
        Some("timeout=20"),
        "a failed update changes nothing"
    );
    let r = c
        .request(action("GetConfig", "g4", &[("Filename", "nosuch.conf")]))
        .await;
    assert_eq!(r.get("Message"), Some("Config file not found"));
    let r = c.request(action("GetConfig", "g5", &[])).await;
    assert_eq!(r.get("Message"), Some("Filename not specified"));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn events_off_silences_the_session_and_events_on_brings_them_back() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action("Events", "e1", &[("EventMask", "off")]))
        .await;
    assert_eq!(r.get("Events"), Some("Off"));
    let r = c
        .request(action(
            "Originate",
            "o1",
            &[
                ("Channel", "PJSIP/1004"),
                ("Context", "internal"),
                ("Exten", "100"),
                ("Priority", "1"),
                ("Async", "true"),
            ],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.send(&action("Ping", "p1", &[])).await;
    let m = c.next().await.unwrap();
    assert_eq!(
        m.action_id(),
        Some("p1"),
        "no event while events are off: {m:?}"
    );
    assert_eq!(sim.state().channels.len(), 1, "the originated call is up");

    let r = c
        .request(action("Events", "e2", &[("EventMask", "on")]))
        .await;
    assert_eq!(r.get("Events"), Some("On"));
    let name = sim.state().channels[0].name.clone();
    let r = c
        .request(action(
            "Hangup",
            "h1",
            &[("Channel", &name), ("Cause", "16")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Channel Hungup"));
    let ev = c.event("Hangup").await;
    assert_eq!(ev.get("Channel"), Some(name.as_str()));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_filter_drops_the_events_it_excludes() {
    let sim = spawn(config()).await;
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action(
            "Filter",
            "f1",
            &[("Operation", "Add"), ("Filter", "!Event: VarSet")],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Success"));
    let r = c
        .request(action(
            "Filter",
            "f2",
            &[("Operation", "Add"), ("Filter", "(unclosed")],
        ))
        .await;
    assert_eq!(
        r.get("Message"),
        Some("Filter did not compile.  Check the syntax of the filter given.")
    );
    c.request(action(
        "Originate",
        "o1",
        &[
            ("Channel", "PJSIP/1005"),
            ("Context", "internal"),
            ("Exten", "603"),
            ("Priority", "1"),
            ("Variable", "FOO=bar"),
            ("Async", "yes"),
        ],
    ))
    .await;
    let mut seen = Vec::new();
    loop {
        let m = c.next().await.unwrap();
        seen.push(m.name().to_owned());
        if m.name() == "OriginateResponse" {
            break;
        }
    }
    assert!(seen.contains(&"Newchannel".to_owned()), "{seen:?}");
    assert!(!seen.contains(&"VarSet".to_owned()), "{seen:?}");
    sim.shutdown().await;
}
