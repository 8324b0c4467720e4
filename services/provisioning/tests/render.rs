//! Config rendering: golden files, determinism, hostile input, lint and diff.
//!
//! The golden files in `tests/golden/` are the reference output for
//! [`fixture`]; after an intended change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p ringside-provisioning --test render` and
//! review the diff like code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ringside_provisioning::render::{
    self, ConfigFile, CustomerTrunk, Did, DidDestination, Entity, Extension, FileChange, Gateway,
    LintError, LintKind, PbxInfo, Registration, Reload, RenderError, RenderInput, Rendered, Route,
    Transport,
};

const GATEWAY_SECRET: &str = "Bv-9fQ2!xLr7";
const ALICE_SECRET: &str = "k7Qm2vXz9pLw";

fn s(v: &str) -> String {
    v.to_owned()
}

fn codecs(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| s(c)).collect()
}

fn gateway(name: &str, host: &str) -> Gateway {
    Gateway {
        name: s(name),
        provider: s("Acme Telecom"),
        host: s(host),
        port: 5060,
        transport: Transport::Udp,
        codecs: codecs(&["alaw", "ulaw"]),
        tech_prefix: String::new(),
        registration: None,
    }
}

fn extension(number: &str, name: &str, customer: &str) -> Extension {
    Extension {
        number: s(number),
        secret: format!("Sx{number}-q8Lw2Zr"),
        caller_id_name: s(name),
        caller_id_number: String::new(),
        codecs: codecs(&["alaw", "ulaw"]),
        max_contacts: 1,
        customer_code: s(customer),
    }
}

fn route(name: &str, pattern: &str, gateway: &str, priority: u32) -> Route {
    Route {
        name: s(name),
        pattern: s(pattern),
        gateway: s(gateway),
        priority,
        tech_prefix: String::new(),
        strip_digits: 0,
    }
}

fn did(number: &str, customer: Option<&str>, destination: DidDestination) -> Did {
    Did {
        number: s(number),
        customer_code: customer.map(s),
        destination,
    }
}

/// A small but realistic ISP edge PBX: three carriers (UDP, TLS with
/// registration, TCP), two trunk customers (one IPv6, one unlimited), three
/// extensions of two customers, failover and emergency routes, DIDs of every
/// kind.
fn fixture() -> RenderInput {
    RenderInput {
        pbx: PbxInfo {
            id: s("3f1c2a9e-6b1d-4c1e-9a57-2f6d8e0b7c41"),
            name: s("lon-edge-1"),
        },
        gateways: vec![
            Gateway {
                codecs: codecs(&["alaw", "ulaw", "g729"]),
                ..gateway("Carrier A Primary", "203.0.113.10")
            },
            Gateway {
                name: s("Carrier B"),
                provider: s("Beta Voice"),
                host: s("sbc.beta-voice.example"),
                port: 5061,
                transport: Transport::Tls,
                codecs: codecs(&["alaw", "ulaw"]),
                tech_prefix: s("7788"),
                registration: Some(Registration {
                    username: s("lonedge1"),
                    secret: s(GATEWAY_SECRET),
                }),
            },
            Gateway {
                name: s("Carrier C (backup)"),
                provider: s("Gamma Networks"),
                port: 5080,
                transport: Transport::Tcp,
                codecs: codecs(&["ulaw"]),
                ..gateway("", "198.51.100.77")
            },
        ],
        customer_trunks: vec![
            CustomerTrunk {
                code: s("ACME01"),
                name: s("Acme Widgets Ltd"),
                trunk_ip: s("192.0.2.50"),
                channel_limit: Some(30),
                codecs: codecs(&["alaw", "g729"]),
            },
            CustomerTrunk {
                code: s("BRAVO"),
                name: s("Bravo Logistics"),
                trunk_ip: s("2001:db8:40::5"),
                channel_limit: None,
                codecs: codecs(&["alaw"]),
            },
        ],
        extensions: vec![
            Extension {
                secret: s(ALICE_SECRET),
                ..extension("1001", "Alice Smith", "CHARLIE")
            },
            Extension {
                caller_id_number: s("+442071230002"),
                codecs: codecs(&["alaw"]),
                max_contacts: 2,
                ..extension("1002", "Bob \"Bobby\" O'Neil", "CHARLIE")
            },
            Extension {
                codecs: codecs(&["g722", "alaw"]),
                max_contacts: 3,
                ..extension("2001", "Dora Núñez", "DELTA")
            },
        ],
        routes: vec![
            Route {
                tech_prefix: s("44"),
                strip_digits: 1,
                ..route("UK national", "_0NXXXXXXXXX", "Carrier A Primary", 10)
            },
            route(
                "UK national (backup)",
                "_0NXXXXXXXXX",
                "Carrier C (backup)",
                20,
            ),
            Route {
                strip_digits: 2,
                ..route("International", "_00X.", "Carrier B", 10)
            },
            route("Emergency", "112", "Carrier A Primary", 1),
            route("Emergency (UK)", "999", "Carrier A Primary", 1),
        ],
        dids: vec![
            did(
                "+442071230001",
                Some("CHARLIE"),
                DidDestination::Extension(s("1001")),
            ),
            did(
                "+442071230002",
                Some("CHARLIE"),
                DidDestination::Extension(s("1002")),
            ),
            did(
                "+442071230100",
                Some("ACME01"),
                DidDestination::CustomerTrunk(s("ACME01")),
            ),
            did(
                "+442071230101",
                Some("ACME01"),
                DidDestination::CustomerTrunk(s("ACME01")),
            ),
            did(
                "+442071230200",
                None,
                DidDestination::CustomerTrunk(s("BRAVO")),
            ),
            did("+442071230999", None, DidDestination::Unallocated),
            did(
                "442071230300",
                Some("DELTA"),
                DidDestination::Extension(s("2001")),
            ),
        ],
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn lint_errors(input: &RenderInput) -> Vec<LintError> {
    match render::render(input) {
        Ok(_) => panic!("render accepted input that should be refused"),
        Err(RenderError::Lint(errors)) => {
            assert_eq!(
                errors,
                render::lint(input),
                "render reports exactly lint's findings"
            );
            errors
        }
    }
}

/// Asserts that lint reports `kind`-matching error on (entity, field).
#[track_caller]
fn assert_lint(input: &RenderInput, entity: Entity, field: &str, kind: impl Fn(&LintKind) -> bool) {
    let errors = lint_errors(input);
    assert!(
        errors
            .iter()
            .any(|e| e.entity == entity && e.field == field && kind(&e.kind)),
        "expected a {entity} {field} error, got: {errors:#?}"
    );
}

/// `[section]` headers of a file, in order, each with its `type=` (pjsip)
/// or `None` (dialplan contexts).
fn sections(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[') {
            out.push((name.trim_end_matches(']').to_owned(), None));
        } else if let Some(ty) = line.strip_prefix("type=") {
            out.last_mut().expect("type inside a section").1 = Some(ty.to_owned());
        }
    }
    out
}

/// A deterministic Fisher-Yates shuffle (xorshift), so a failure replays.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

#[test]
fn the_fixture_renders_byte_for_byte_as_the_golden_files() {
    let rendered = render::render(&fixture()).expect("fixture renders");
    let names: Vec<&str> = rendered.files().keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = ConfigFile::ALL.iter().map(|f| f.file_name()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "exactly the five files");

    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, text) in rendered.files() {
        let path = golden_dir().join(name);
        if update {
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                path.display()
            )
        });
        if *text != golden {
            let diff = similar::TextDiff::from_lines(&golden, text)
                .unified_diff()
                .header("golden", "rendered")
                .to_string();
            panic!("{name} differs from its golden file:\n{diff}");
        }
    }
}

#[test]
fn the_golden_files_hold_the_objects_asterisk_needs() {
    let r = render::render(&fixture()).unwrap();
    let gw = sections(r.get("pjsip_gateways.conf").unwrap());
    let has = |list: &[(String, Option<String>)], name: &str, ty: &str| {
        list.iter()
            .any(|(n, t)| n == name && t.as_deref() == Some(ty))
    };
    for section in [
        "gw-carrier-a-primary",
        "gw-carrier-b",
        "gw-carrier-c-backup",
    ] {
        assert!(
            has(&gw, section, "endpoint") && has(&gw, section, "aor"),
            "{section}"
        );
        assert!(
            has(&gw, &format!("{section}-identify"), "identify"),
            "{section}"
        );
    }
    // Only the gateway with credentials registers.
    assert!(has(&gw, "gw-carrier-b-auth", "auth") && has(&gw, "gw-carrier-b-reg", "registration"));
    assert_eq!(
        gw.iter()
            .filter(|(_, t)| t.as_deref() == Some("registration"))
            .count(),
        1
    );
    let gw_text = r.get("pjsip_gateways.conf").unwrap();
    assert!(gw_text.contains("contact=sip:sbc.beta-voice.example:5061\\;transport=tls\n"));
    assert!(gw_text.contains("contact=sip:198.51.100.77:5080\\;transport=tcp\n"));
    assert!(
        gw_text.contains("client_uri=sip:lonedge1@sbc.beta-voice.example:5061\\;transport=tls\n")
    );

    let trunks = r.get("pjsip_customer_trunks.conf").unwrap();
    assert!(trunks.contains("[trunk-BRAVO]\ntype=aor\ncontact=sip:[2001:db8:40::5]\n"));
    assert!(trunks.contains(
        "[trunk-ACME01-identify]\ntype=identify\nendpoint=trunk-ACME01\nmatch=192.0.2.50\n"
    ));

    let exts = r.get("pjsip_extensions.conf").unwrap();
    assert!(exts.contains("callerid=\"Bob \\\"Bobby\\\" O'Neil\" <+442071230002>\n"));
    assert!(exts.contains("callerid=\"Dora Núñez\" <2001>\n"));
    assert!(exts.contains("[1001-auth]\ntype=auth\nauth_type=userpass\nusername=1001\n"));

    let routes = r.get("extensions_routes.conf").unwrap();
    // Failover: Carrier A first (priority 10, prefix 44, strip the 0), then C.
    assert!(routes.contains(
        "exten => _0NXXXXXXXXX,1,Dial(PJSIP/44${EXTEN:1}@gw-carrier-a-primary)\n same => n,ExecIf("
    ));
    assert!(
        routes
            .contains(" same => n,Dial(PJSIP/${EXTEN}@gw-carrier-c-backup)\n same => n,Hangup()\n")
    );
    // The gateway's tech prefix applies when the route has none.
    assert!(routes.contains("exten => _00X.,1,Dial(PJSIP/7788${EXTEN:2}@gw-carrier-b)\n"));
    // Priority order of pattern groups: emergency (1) before the rest (10).
    assert!(routes.find("exten => 112,").unwrap() < routes.find("exten => _00X.,").unwrap());

    let dids = r.get("extensions_dids.conf").unwrap();
    assert!(dids.contains("exten => +442071230001,1,Dial(PJSIP/1001,30)\n"));
    assert!(dids.contains("exten => +442071230100,1,Gosub(ringside-trunk-ACME01,s,1(${EXTEN}))\n"));
    assert!(dids.contains("exten => +442071230999,1,Goto(ringside-invalid-number,s,1)\n"));
    assert!(dids.contains("exten => _X.,1,Goto(ringside-invalid-number,s,1)\n"));
    assert!(dids.contains(" same => n,Playback(ss-noservice,noanswer)\n"));
    assert!(dids.contains("GotoIf($[${GROUP_COUNT(ACME01@ringside-trunk)} > 30]?full)"));
    // BRAVO has no limit: no group counting in its context.
    let bravo = &dids[dids.find("[ringside-trunk-BRAVO]").unwrap()..];
    assert!(!bravo.contains("GROUP"));
    assert!(render::lint_rendered(&r).is_empty());
}

#[test]
fn patterns_differing_only_in_case_are_one_failover_group() {
    let mut input = fixture();
    input.routes[1].pattern = s("_0nxxxxxxxxx");
    assert_eq!(
        render::render(&input).unwrap(),
        render::render(&fixture()).unwrap()
    );
}

#[test]
fn rendering_twice_or_from_shuffled_input_gives_identical_bytes() {
    let input = fixture();
    let first = render::render(&input).unwrap();
    assert_eq!(render::render(&input).unwrap(), first);
    for seed in 1..20u64 {
        let mut shuffled = input.clone();
        shuffle(&mut shuffled.gateways, seed);
        shuffle(&mut shuffled.customer_trunks, seed + 100);
        shuffle(&mut shuffled.extensions, seed + 200);
        shuffle(&mut shuffled.routes, seed + 300);
        shuffle(&mut shuffled.dids, seed + 400);
        assert_eq!(render::render(&shuffled).unwrap(), first, "seed {seed}");
    }
}

#[test]
fn hostile_free_text_stays_inside_its_line_and_adds_no_section() {
    let clean = render::render(&fixture()).unwrap();
    let mut input = fixture();
    let payload = "x\n[evil]\ntype=endpoint\r\n;--\npassword=owned ; = ] \u{2028}é";
    input.pbx.name = s(payload);
    input.gateways[0].name = format!("Carrier A Primary{payload}");
    input.gateways[0].provider = s(payload);
    input.customer_trunks[0].name = s(payload);
    input.extensions[0].caller_id_name = s("Alice\"\n[evil]\ntype=aor;=<9999>");
    input.routes[0].name = s(payload);
    input.routes[0].gateway = input.gateways[0].name.clone();
    for r in &mut input.routes[3..] {
        r.gateway = input.gateways[0].name.clone();
    }
    let hostile = render::render(&input).expect("free text is sanitised, not refused");
    let hostile_section = render::syntax::gateway_section(&input.gateways[0].name).unwrap();
    assert!(
        hostile_section.starts_with("gw-carrier-a-primaryx-evil-type-endpoint-p-"),
        "{hostile_section}"
    );
    assert!(
        hostile_section
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    );
    assert!(render::lint_rendered(&hostile).is_empty());

    for (name, text) in hostile.files() {
        // Same sections as the clean render, apart from the renamed gateway.
        let rename = |v: Vec<(String, Option<String>)>| -> Vec<(String, Option<String>)> {
            v.into_iter()
                .map(|(n, t)| (n.replace(&hostile_section, "GW"), t))
                .map(|(n, t)| (n.replace("gw-carrier-a-primary", "GW"), t))
                .collect()
        };
        assert_eq!(
            rename(sections(text)),
            rename(sections(clean.get(name).unwrap())),
            "{name}: sections changed"
        );
        for line in text.lines() {
            assert!(!line.starts_with("[evil"), "{name}: {line:?}");
            assert!(!line.starts_with("password=owned"), "{name}: {line:?}");
            assert!(
                !line.starts_with(";--"),
                "{name}: block comment opened: {line:?}"
            );
            assert!(
                !line.contains('\r') && !line.contains('\u{2028}'),
                "{name}: {line:?}"
            );
            assert!(line.starts_with(';') || line.is_ascii() || line.starts_with("callerid="));
        }
    }
    let exts = hostile.get("pjsip_extensions.conf").unwrap();
    assert!(
        exts.contains("callerid=\"Alice\\\"[evil]type=aor\\;=9999\" <1001>\n"),
        "{exts}"
    );
}

#[test]
fn long_names_get_bounded_sections_and_absurd_ones_are_refused() {
    let mut input = fixture();
    let long = "Carrier with a really quite long name ".repeat(4);
    input.gateways[0].name = long.clone();
    for r in &mut input.routes {
        if r.gateway == "Carrier A Primary" {
            r.gateway = long.clone();
        }
    }
    let rendered = render::render(&input).expect("150-character names are fine");
    for (name, text) in rendered.files() {
        for (section, _) in sections(text) {
            assert!(
                section.len() <= 79,
                "{name}: [{section}] is {} long",
                section.len()
            );
        }
    }

    let mut input = fixture();
    input.gateways[1].name = "x".repeat(10_000);
    assert_lint(&input, Entity::Gateway, "name", |k| {
        *k == LintKind::TooLong { max: 200 }
    });
    // The error key is shortened, not the whole 10,000 characters.
    assert!(lint_errors(&input).iter().all(|e| e.key.len() <= 43));

    let mut input = fixture();
    input.gateways[1].name = s("日本ゲートウェイ");
    assert_lint(&input, Entity::Gateway, "name", |k| {
        matches!(k, LintKind::Invalid { .. })
    });
}

#[test]
fn hostile_values_in_structural_fields_are_refused_with_field_errors() {
    type Case = (fn(&mut RenderInput), Entity, &'static str);
    let cases: Vec<Case> = vec![
        (
            |i| i.gateways[0].host = s("203.0.113.10\n[evil]"),
            Entity::Gateway,
            "host",
        ),
        (
            |i| i.gateways[0].host = s("sip.example;x=1"),
            Entity::Gateway,
            "host",
        ),
        (
            |i| i.gateways[0].codecs.push(s("ulaw\nallow=all")),
            Entity::Gateway,
            "codecs",
        ),
        (|i| i.gateways[0].codecs = vec![], Entity::Gateway, "codecs"),
        (
            |i| i.gateways[0].tech_prefix = s("1;2"),
            Entity::Gateway,
            "tech_prefix",
        ),
        (
            |i| i.gateways[0].tech_prefix = s("99#"),
            Entity::Gateway,
            "tech_prefix",
        ),
        (|i| i.gateways[0].port = 0, Entity::Gateway, "port"),
        (
            |i| i.gateways[1].registration.as_mut().unwrap().username = s("user\n[x]"),
            Entity::Gateway,
            "registration.username",
        ),
        (
            |i| i.customer_trunks[0].code = s("ACME=1"),
            Entity::CustomerTrunk,
            "code",
        ),
        (
            |i| i.customer_trunks[0].code = s("ACMÉ"),
            Entity::CustomerTrunk,
            "code",
        ),
        (
            |i| i.customer_trunks[0].trunk_ip = s("trunk.acme.example"),
            Entity::CustomerTrunk,
            "trunk_ip",
        ),
        (
            |i| i.customer_trunks[0].channel_limit = Some(0),
            Entity::CustomerTrunk,
            "channel_limit",
        ),
        (
            |i| i.extensions[0].number = s("1001]"),
            Entity::Extension,
            "number",
        ),
        (
            |i| i.extensions[0].caller_id_number = s("1001>\n"),
            Entity::Extension,
            "caller_id_number",
        ),
        (
            |i| i.extensions[0].secret = s("abc;defghij"),
            Entity::Extension,
            "secret",
        ),
        (
            |i| i.extensions[0].secret = s("pass word1"),
            Entity::Extension,
            "secret",
        ),
        (
            |i| i.extensions[0].secret = s("2short"),
            Entity::Extension,
            "secret",
        ),
        (
            |i| i.extensions[0].max_contacts = 0,
            Entity::Extension,
            "max_contacts",
        ),
        (
            |i| i.extensions[0].customer_code = s("C;X"),
            Entity::Extension,
            "customer_code",
        ),
        (
            |i| i.extensions[0].codecs = vec![s("mp3")],
            Entity::Extension,
            "codecs",
        ),
        (
            |i| i.routes[0].pattern = s("_0NXX;XXXXXX"),
            Entity::Route,
            "pattern",
        ),
        (
            |i| i.routes[0].tech_prefix = s("44\n"),
            Entity::Route,
            "tech_prefix",
        ),
        (
            |i| i.dids[0].number = s("+44207\n[x]"),
            Entity::Did,
            "number",
        ),
        (
            |i| i.dids[0].customer_code = Some(s("é")),
            Entity::Did,
            "customer_code",
        ),
        (|i| i.pbx.id = s("not-a-uuid\n"), Entity::Pbx, "id"),
    ];
    for (n, (break_it, entity, field)) in cases.into_iter().enumerate() {
        let mut input = fixture();
        break_it(&mut input);
        let errors = lint_errors(&input);
        assert!(
            errors
                .iter()
                .any(|e| e.entity == entity && e.field == field),
            "case {n}: expected a {entity} {field} error, got {errors:#?}"
        );
        for e in &errors {
            let shown = e.to_string();
            assert!(
                !shown.contains('\n') && !shown.contains('\r'),
                "case {n}: {shown:?}"
            );
        }
    }
}

#[test]
fn lint_refuses_what_asterisk_would_refuse() {
    // Duplicate sections: two names with one slug.
    let mut input = fixture();
    input.gateways.push(gateway("carrier-b", "203.0.113.99"));
    assert_lint(
        &input,
        Entity::Gateway,
        "name",
        |k| matches!(k, LintKind::DuplicateSection { section, .. } if section == "gw-carrier-b"),
    );
    // The same gateway name twice.
    let mut input = fixture();
    input.gateways.push(gateway("Carrier B", "203.0.113.99"));
    assert_lint(&input, Entity::Gateway, "name", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    // Invalid dial patterns.
    for pattern in ["_.", "_X.X", "_[9-1]X", "_0800A.", "0800X"] {
        let mut input = fixture();
        input.routes[2].pattern = s(pattern);
        assert_lint(&input, Entity::Route, "pattern", |k| {
            matches!(k, LintKind::InvalidPattern { .. })
        });
    }
    // Stripping the whole number.
    let mut input = fixture();
    input.routes[3].strip_digits = 3;
    assert_lint(&input, Entity::Route, "strip_digits", |k| {
        matches!(k, LintKind::Invalid { .. })
    });
    // Dangling references.
    let mut input = fixture();
    input.routes[1].gateway = s("Carrier Z");
    assert_lint(&input, Entity::Route, "gateway", |k| {
        matches!(k, LintKind::Dangling { .. })
    });
    let mut input = fixture();
    input.dids[0].destination = DidDestination::Extension(s("1999"));
    assert_lint(&input, Entity::Did, "destination", |k| {
        matches!(k, LintKind::Dangling { .. })
    });
    let mut input = fixture();
    input.dids[2].destination = DidDestination::CustomerTrunk(s("NOPE"));
    assert_lint(&input, Entity::Did, "destination", |k| {
        matches!(k, LintKind::Dangling { .. })
    });
    // A DID may only reach its own customer.
    let mut input = fixture();
    input.dids[0].destination = DidDestination::Extension(s("2001"));
    assert_lint(&input, Entity::Did, "destination", |k| {
        matches!(k, LintKind::Invalid { .. })
    });
    let mut input = fixture();
    input.dids[2].destination = DidDestination::CustomerTrunk(s("BRAVO"));
    assert_lint(&input, Entity::Did, "destination", |k| {
        matches!(k, LintKind::Invalid { .. })
    });
    // Empty secrets.
    let mut input = fixture();
    input.extensions[1].secret = String::new();
    assert_lint(
        &input,
        Entity::Extension,
        "secret",
        |k| matches!(k, LintKind::Invalid { reason } if reason == "is empty"),
    );
    let mut input = fixture();
    input.gateways[1].registration.as_mut().unwrap().secret = String::new();
    assert_lint(&input, Entity::Gateway, "registration.secret", |_| true);
    // Duplicates: extension numbers, DIDs, route priority per pattern,
    // trunk codes, identify addresses.
    let mut input = fixture();
    input
        .extensions
        .push(extension("1002", "Imposter", "CHARLIE"));
    assert_lint(&input, Entity::Extension, "number", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    let mut input = fixture();
    input
        .dids
        .push(did("+442071230001", None, DidDestination::Unallocated));
    assert_lint(&input, Entity::Did, "number", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    let mut input = fixture();
    input.routes[1].priority = 10;
    assert_lint(&input, Entity::Route, "priority", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    // Asterisk reads X/Z/N case-insensitively: one pattern, same priority.
    let mut input = fixture();
    input.routes[1].priority = 10;
    input.routes[1].pattern = s("_0nxxxxxxxxx");
    assert_lint(&input, Entity::Route, "priority", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    let mut input = fixture();
    input.customer_trunks[1].code = s("ACME01");
    assert_lint(&input, Entity::CustomerTrunk, "code", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    let mut input = fixture();
    input.customer_trunks[0].trunk_ip = s("203.0.113.10");
    assert_lint(&input, Entity::CustomerTrunk, "trunk_ip", |k| {
        matches!(k, LintKind::Duplicate { .. })
    });
    // Every problem at once, not one per round trip.
    let mut input = fixture();
    input.extensions[0].secret = String::new();
    input.routes[0].pattern = s("_.");
    input.dids[0].number = s("abc");
    assert!(lint_errors(&input).len() >= 3);
}

#[test]
fn no_error_or_debug_output_shows_a_secret() {
    let mut input = fixture();
    input.extensions[0].secret = format!("{ALICE_SECRET};");
    input.gateways[1].registration.as_mut().unwrap().secret = format!("{GATEWAY_SECRET} ");
    let errors = lint_errors(&input);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let shown = format!("{errors:?} {}", RenderError::Lint(errors.clone()));
    assert!(
        !shown.contains(ALICE_SECRET) && !shown.contains(GATEWAY_SECRET),
        "{shown}"
    );
    let debug = format!("{input:?}");
    assert!(
        !debug.contains(ALICE_SECRET) && !debug.contains(GATEWAY_SECRET),
        "{debug}"
    );
}

#[test]
fn lint_rendered_catches_text_that_escaped_its_line() {
    let good = render::render(&fixture()).unwrap();
    let break_file = |name: &str, f: &dyn Fn(&str) -> String| {
        let mut files = good.files().clone();
        let text = f(&files[name]);
        files.insert(name.to_owned(), text);
        render::lint_rendered(&Rendered::from_files(files).unwrap())
    };
    type Breaker = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "pjsip_extensions.conf",
            Box::new(|t| t.replacen("password=Sx1002", "password=a;b\npassword=Sx1002", 1)),
            "';' inside a value",
        ),
        (
            "pjsip_extensions.conf",
            Box::new(|t| format!("{t}\n[1001]\ntype=endpoint\n")),
            "[1001]",
        ),
        (
            "pjsip_gateways.conf",
            Box::new(|t| format!("{t}\n[gw-x]\ncontext=x\n")),
            "has no type",
        ),
        (
            "pjsip_customer_trunks.conf",
            Box::new(|t| t.replacen("[trunk-ACME01]", "[trunk ACME]", 1)),
            "section name",
        ),
        (
            "pjsip_gateways.conf",
            Box::new(|t| t.replacen("match=", "match =\r", 1)),
            "carriage return",
        ),
        (
            "extensions_dids.conf",
            Box::new(|t| {
                t.replacen(
                    "[from-trunk]\n",
                    "[from-trunk]\nexten => _X.,1,Hangup()\n",
                    1,
                )
            }),
            "already defined",
        ),
        (
            "extensions_routes.conf",
            Box::new(|t| format!("{t}Dial(PJSIP/x)\n")),
            "neither",
        ),
    ];
    for (file, f, expected) in cases {
        let errors = break_file(file, &*f);
        assert!(
            errors.iter().any(|e| e.entity == Entity::File
                && e.key == file
                && e.to_string().contains(expected)),
            "{file}: expected {expected:?}, got {errors:#?}"
        );
    }
    // A section repeated across the pjsip files (they share pjsip.conf).
    let errors = break_file("pjsip_customer_trunks.conf", &|t| {
        format!("{t}\n[1001]\ntype=aor\n")
    });
    assert!(errors.iter().any(
        |e| matches!(&e.kind, LintKind::DuplicateSection { section, .. } if section == "1001")
    ));
}

#[test]
fn a_caller_id_edit_changes_only_the_extensions_file_and_needs_only_the_pjsip_reload() {
    let old = render::render(&fixture()).unwrap();
    let mut input = fixture();
    input.extensions[0].caller_id_name = s("Alice Jones");
    let new = render::render(&input).unwrap();

    let d = render::diff(&old, &new);
    assert_eq!(
        d.changed_files().collect::<Vec<_>>(),
        ["pjsip_extensions.conf"]
    );
    assert_eq!(d.reloads, [Reload::Pjsip]);
    assert_eq!(d.reload_commands(), ["module reload res_pjsip.so"]);
    let file = &d.files[0];
    assert_eq!(file.change, FileChange::Modified);
    assert!(
        file.unified
            .starts_with("--- a/pjsip_extensions.conf\n+++ b/pjsip_extensions.conf\n@@")
    );
    assert!(
        file.unified
            .contains("\n-callerid=\"Alice Smith\" <1001>\n+callerid=\"Alice Jones\" <1001>\n")
    );
    assert_eq!(
        file.unified
            .lines()
            .filter(|l| l.starts_with(['-', '+']))
            .count(),
        4,
        "{}",
        file.unified
    );
}

#[test]
fn each_kind_of_change_touches_its_own_file_and_reload() {
    let old = render::render(&fixture()).unwrap();
    let check = |change: &dyn Fn(&mut RenderInput), files: &[&str], reloads: &[Reload]| {
        let mut input = fixture();
        change(&mut input);
        let d = render::diff(&old, &render::render(&input).unwrap());
        assert_eq!(d.changed_files().collect::<Vec<_>>(), files);
        assert_eq!(d.reloads, reloads);
    };
    check(
        &|i| i.routes[0].priority = 30,
        &["extensions_routes.conf"],
        &[Reload::Dialplan],
    );
    check(
        &|i| i.dids[5].destination = DidDestination::Extension(s("1001")),
        &["extensions_dids.conf"],
        &[Reload::Dialplan],
    );
    check(
        &|i| i.customer_trunks[0].channel_limit = Some(60),
        &["extensions_dids.conf", "pjsip_customer_trunks.conf"],
        &[Reload::Pjsip, Reload::Dialplan],
    );
    check(
        &|i| i.gateways.push(gateway("Carrier D", "203.0.113.40")),
        &["pjsip_gateways.conf"],
        &[Reload::Pjsip],
    );
    check(&|_| {}, &[], &[]);
    assert!(render::diff(&old, &old).is_empty());
}

#[test]
fn stored_files_round_trip_and_unknown_names_are_refused() {
    let rendered = render::render(&fixture()).unwrap();
    let back = Rendered::from_files(rendered.files().clone()).unwrap();
    assert_eq!(back, rendered);
    assert_eq!(
        back.reload_of("extensions_dids.conf"),
        Some(Reload::Dialplan)
    );
    assert_eq!(back.reload_of("pjsip_gateways.conf"), Some(Reload::Pjsip));

    let mut files = BTreeMap::new();
    files.insert(s("../../etc/passwd"), s("x"));
    let err = Rendered::from_files(files).unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"../../etc/passwd\" is not a file Ringside renders"
    );

    // A file that disappears is a removal, and still names its reload.
    let mut files = rendered.files().clone();
    files.remove("extensions_routes.conf");
    let d = render::diff(&rendered, &Rendered::from_files(files).unwrap());
    assert_eq!(d.files.len(), 1);
    assert_eq!(d.files[0].change, FileChange::Removed);
    assert_eq!(d.reloads, [Reload::Dialplan]);
}

#[test]
fn an_extension_of_no_customer_renders_without_an_accountcode() {
    let mut input = fixture();
    input.extensions.push(extension("4999", "Front desk", ""));
    assert!(
        render::lint(&input).is_empty(),
        "{:?}",
        render::lint(&input)
    );
    let rendered = render::render(&input).expect("renders");
    let text = rendered.get("pjsip_extensions.conf").unwrap();
    let section = text
        .split("\n[")
        .find(|s| s.starts_with("4999]"))
        .expect("the extension's endpoint");
    assert!(!section.contains("accountcode"), "{section}");
}
