//! The opt-in configuration directory: reload commands answered like
//! Asterisk's CLI, endpoints read from `pjsip_*.conf` on a PJSIP reload,
//! injected reload failures, and `GetConfig`/`UpdateConfig` on real files.

mod support;

use support::*;

async fn endpoint_names(c: &mut Client, id: &str) -> Vec<String> {
    let (_, items, _) = c.list(action("PJSIPShowEndpoints", id, &[])).await;
    items
        .iter()
        .filter_map(|m| m.get("ObjectName").map(str::to_owned))
        .collect()
}

fn output(m: &ringside_ami::Message) -> Vec<&str> {
    m.headers()
        .filter(|h| h.key == "Output")
        .filter_map(|h| h.value)
        .collect()
}

const EXTENSIONS: &str = "; rendered\n[3001]\ntype=endpoint\nauth=3001-auth\naors=3001\n\n\
    [3001-auth]\ntype=auth\n\n[3001]\ntype=aor\n";

#[tokio::test(start_paused = true)]
async fn a_pjsip_reload_lists_the_endpoints_of_the_pjsip_files() {
    let dir = tempfile::tempdir().unwrap();
    let sim = spawn(config()).await;
    sim.use_config_dir(dir.path()).unwrap();
    assert_eq!(sim.config_dir().as_deref(), Some(dir.path()));
    let mut c = Client::logged_in(&sim).await;
    let model = endpoint_names(&mut c, "l0").await;
    assert_eq!(model.len(), 22, "20 extensions and 2 trunks");

    std::fs::write(dir.path().join("pjsip_extensions.conf"), EXTENSIONS).unwrap();
    std::fs::write(
        dir.path().join("pjsip_gateways.conf"),
        "[gw-a]\ntype=endpoint\ntransport=transport-udp\naors=gw-a\n[gw-a]\ntype=aor\n",
    )
    .unwrap();
    // Another module's file, and a non-PJSIP file, are not read.
    std::fs::write(
        dir.path().join("extensions_routes.conf"),
        "[x]\ntype=endpoint\n",
    )
    .unwrap();
    assert_eq!(
        endpoint_names(&mut c, "l1").await.len(),
        22,
        "not before a reload"
    );

    let r = c
        .request(action(
            "Command",
            "c1",
            &[("Command", "module reload res_pjsip.so")],
        ))
        .await;
    assert_eq!(r.get("Response"), Some("Success"));
    assert_eq!(output(&r), ["Module 'res_pjsip.so' reloaded successfully."]);
    let listed = endpoint_names(&mut c, "l2").await;
    assert_eq!(listed.len(), 24);
    assert_eq!(
        &listed[22..],
        ["3001", "gw-a"],
        "model first, then files by name"
    );
    let (_, items, _) = c.list(action("PJSIPShowEndpoints", "l3", &[])).await;
    let gw = items
        .iter()
        .find(|m| m.get("ObjectName") == Some("gw-a"))
        .unwrap();
    assert_eq!(gw.get("Transport"), Some("transport-udp"));
    assert_eq!(gw.get("DeviceState"), Some("Unavailable"));

    let r = c
        .request(action("Command", "c2", &[("Command", "dialplan reload")]))
        .await;
    assert_eq!(output(&r), ["Dialplan reloaded."]);
    assert_eq!(sim.reloads(), ["res_pjsip.so", "pbx_config.so"]);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failed_reloads_say_so_and_keep_the_previous_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pjsip_extensions.conf"), EXTENSIONS).unwrap();
    let sim = spawn(config()).await;
    sim.use_config_dir(dir.path()).unwrap();
    let mut c = Client::logged_in(&sim).await;
    assert!(
        endpoint_names(&mut c, "l0")
            .await
            .contains(&"3001".to_owned()),
        "loaded at start"
    );

    std::fs::write(
        dir.path().join("pjsip_extensions.conf"),
        "[3002]\ntype=endpoint\n",
    )
    .unwrap();
    sim.fail_next_reloads(1);
    let r = c
        .request(action("Command", "c1", &[("Command", "pjsip reload")]))
        .await;
    assert_eq!(r.get("Response"), Some("Success"), "the CLI ran");
    assert_eq!(
        output(&r),
        ["The module 'res_pjsip.so' reported a reload failure"]
    );
    let listed = endpoint_names(&mut c, "l1").await;
    assert!(listed.contains(&"3001".to_owned()) && !listed.contains(&"3002".to_owned()));

    // A `#fail` line fails every reload of that module.
    std::fs::write(dir.path().join("pjsip_local.conf"), "#fail\n").unwrap();
    let r = c
        .request(action("Reload", "r1", &[("Module", "res_pjsip.so")]))
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("An unknown error occurred"));
    std::fs::remove_file(dir.path().join("pjsip_local.conf")).unwrap();
    let r = c
        .request(action("Reload", "r2", &[("Module", "res_pjsip.so")]))
        .await;
    assert_eq!(r.get("Message"), Some("Module Reloaded"));
    assert!(
        endpoint_names(&mut c, "l2")
            .await
            .contains(&"3002".to_owned())
    );
    assert_eq!(sim.reloads(), ["res_pjsip.so"; 3]);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn update_config_writes_into_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pjsip_extensions.conf"),
        "[old]\ntype=endpoint\n",
    )
    .unwrap();
    let sim = spawn(config()).await;
    sim.use_config_dir(dir.path()).unwrap();
    let mut c = Client::logged_in(&sim).await;
    let r = c
        .request(action(
            "GetConfig",
            "g0",
            &[("Filename", "pjsip_extensions.conf")],
        ))
        .await;
    assert_eq!(r.get("Category-000000"), Some("old"));

    // Replace the file: delete, then build two sections of the same name
    // last-first (Append fills the first category of a name).
    let r = c
        .request(action(
            "UpdateConfig",
            "u1",
            &[
                ("SrcFilename", "pjsip_extensions.conf"),
                ("DstFilename", "pjsip_extensions.conf"),
                ("Reload", "res_pjsip.so"),
                ("Action-000000", "DelCat"),
                ("Cat-000000", "old"),
                ("Action-000001", "NewCat"),
                ("Cat-000001", "4001"),
                ("Action-000002", "Append"),
                ("Cat-000002", "4001"),
                ("Var-000002", "type"),
                ("Value-000002", "aor"),
                ("Action-000003", "NewCat"),
                ("Cat-000003", "4001"),
                ("Options-000003", "allowdups"),
                ("Match-000003", "4001"),
                ("Action-000004", "Append"),
                ("Cat-000004", "4001"),
                ("Var-000004", "type"),
                ("Value-000004", "endpoint"),
                ("Action-000005", "Append"),
                ("Cat-000005", "4001"),
                ("Var-000005", "contact"),
                ("Value-000005", "sip:h:5061;transport=tls"),
            ],
        ))
        .await;
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let text = std::fs::read_to_string(dir.path().join("pjsip_extensions.conf")).unwrap();
    assert!(
        text.ends_with(
            "[4001]\ntype = endpoint\ncontact = sip:h:5061\\;transport=tls\n\n[4001]\ntype = aor\n"
        ),
        "{text}"
    );
    let listed = endpoint_names(&mut c, "l0").await;
    assert!(listed.contains(&"4001".to_owned()) && !listed.contains(&"old".to_owned()));
    assert_eq!(sim.reloads(), ["res_pjsip.so"]);

    let r = c
        .request(action(
            "UpdateConfig",
            "u2",
            &[
                ("SrcFilename", "pjsip_missing.conf"),
                ("DstFilename", "pjsip_missing.conf"),
            ],
        ))
        .await;
    assert_eq!(r.get("Message"), Some("Config file not found"));
    let r = c
        .request(action(
            "UpdateConfig",
            "u3",
            &[
                ("SrcFilename", "pjsip_extensions.conf"),
                ("DstFilename", "../escape.conf"),
            ],
        ))
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(!dir.path().parent().unwrap().join("escape.conf").exists());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_config_dir_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let sim = spawn(config()).await;
    assert!(sim.use_config_dir(&file).is_err());
    assert!(sim.use_config_dir(dir.path().join("missing")).is_err());
    assert_eq!(sim.config_dir(), None);
    sim.shutdown().await;
}
