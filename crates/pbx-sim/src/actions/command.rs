//! `Action: Command`: a few CLI commands, rendered from the model.
//!
//! Modern framing (corpus README item 10): `Response: Success` (or `Error`
//! for an unknown command), `Message: Command output follows`, then one
//! `Output:` header per line, empty lines included.

use bytes::Bytes;

use super::{ASTERISK_VERSION, Req};
use crate::clock;
use crate::engine::Engine;
use crate::wire;

/// The answer to `Command: <cmd>`.
pub(super) fn command(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let cmd = r.get("Command").unwrap_or_default();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let lines = match lower.as_slice() {
        ["core", "show", "version"] => Some(vec![version_line(e)]),
        ["core", "show", "uptime", ..] => Some(uptime(e)),
        ["core", "show", "channels", "concise"] => Some(channels_concise(e)),
        ["core", "show", "channels"] => Some(channels(e)),
        ["core", "show", "calls"] => Some(calls(e)),
        ["core", "show", "help", ..] => Some(help()),
        ["bridge", "show", "all"] => Some(bridges(e)),
        ["pjsip", "show", "endpoints"] => Some(pjsip_endpoints(e)),
        ["queue", "show", ..] => Some(queues(e)),
        _ => None,
    };
    let (kind, lines) = match lines {
        Some(lines) => ("Success", lines),
        None => {
            let best = words
                .len()
                .checked_sub(1)
                .map_or(String::new(), |n| words[..n].join(" "));
            (
                "Error",
                vec![format!(
                    "No such command '{cmd}' (type 'core show help {best}' for other possible commands)"
                )],
            )
        }
    };
    let mut m = wire::response(kind, r.aid).h("Message", "Command output follows");
    for line in lines {
        m.push("Output", line);
    }
    vec![m.to_bytes()]
}

fn version_line(e: &Engine) -> String {
    let (date, time) = clock::date_time(e.clock.secs(std::time::Duration::ZERO));
    format!(
        "Asterisk {ASTERISK_VERSION} built by ringside @ pbx-sim on a x86_64 running Linux on {date} {time} UTC"
    )
}

/// `5 minutes, 27 seconds`, as `ast_cli` prints durations.
fn spoken(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "day"),
        ((secs / 3600) % 24, "hour"),
        ((secs / 60) % 60, "minute"),
        (secs % 60, "second"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if words.is_empty() {
        "0 seconds".to_owned()
    } else {
        words.join(", ")
    }
}

fn uptime(e: &Engine) -> Vec<String> {
    let up = spoken(e.now.as_secs());
    vec![format!("System uptime: {up}"), format!("Last reload: {up}")]
}

fn channels(e: &Engine) -> Vec<String> {
    let mut out = vec![format!(
        "{:<64.64} {:<32.32} {:<7.7} {:<30.30}",
        "Channel", "Location", "State", "Application(Data)"
    )];
    for c in e.channels.values() {
        let location = if c.exten.is_empty() {
            "(None)".to_owned()
        } else {
            format!("{}@{}:{}", c.exten, c.context, c.priority)
        };
        let app = if c.app.is_empty() {
            "(None)".to_owned()
        } else {
            format!("{}({})", c.app, c.app_data)
        };
        out.push(format!(
            "{:<64.64} {:<32.32} {:<7.7} {:<30.30}",
            c.name,
            location,
            c.state.desc(),
            app
        ));
    }
    out.extend(call_totals(e));
    out
}

fn call_totals(e: &Engine) -> Vec<String> {
    let active = e.calls.values().filter(|c| !c.chans.is_empty()).count();
    let plural = |n: usize, w: &str| format!("{n} active {w}{}", if n == 1 { "" } else { "s" });
    vec![
        plural(e.channels.len(), "channel"),
        plural(active, "call"),
        format!(
            "{} call{} processed",
            e.processed_calls,
            if e.processed_calls == 1 { "" } else { "s" }
        ),
    ]
}

fn calls(e: &Engine) -> Vec<String> {
    call_totals(e).into_iter().skip(1).collect()
}

fn channels_concise(e: &Engine) -> Vec<String> {
    e.channels
        .values()
        .map(|c| {
            let bridge = c
                .bridge
                .and_then(|b| e.bridges.get(&b))
                .map(|b| b.uniqueid.clone())
                .unwrap_or_default();
            format!(
                "{}!{}!{}!{}!{}!{}!{}!{}!{}!!3!{}!{}!{}",
                c.name,
                c.context,
                c.exten,
                c.priority,
                c.state.desc(),
                if c.app.is_empty() { "(None)" } else { &c.app },
                c.app_data,
                c.cid_num,
                c.account,
                (e.now - c.created).as_secs(),
                bridge,
                c.uniqueid
            )
        })
        .collect()
}

fn bridges(e: &Engine) -> Vec<String> {
    let mut out = vec![format!(
        "{:<36} {:<36} {:>5} {:<15} {:<15} {}",
        "Bridge-ID", "Name", "Chans", "Type", "Technology", "Duration"
    )];
    for b in e.bridges.values() {
        out.push(format!(
            "{:<36} {:<36} {:>5} {:<15} {:<15} {}",
            b.uniqueid,
            b.name(),
            b.channels.len(),
            b.bridge_type(),
            b.technology(),
            clock::hms((e.now - b.created).as_secs())
        ));
    }
    out
}

fn pjsip_endpoints(e: &Engine) -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        " Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>",
        "    I/OAuth:  <AuthId/UserName...........................................................>",
        "        Aor:  <Aor............................................>  <MaxContact>",
        "      Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>",
        "  Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress..................>",
        "   Identify:  <Identify/Endpoint.........................................................>",
        "        Match:  <criteria.........................>",
        "    Channel:  <ChannelId......................................>  <State.....>  <Time.....>",
        "        Exten: <DialedExten...........>  CLCID: <ConnectedLineCID.......>",
        "==========================================================================================",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for ep in &e.endpoints {
        let device = ep.device();
        let state = e.device_state(&device);
        let in_use = e
            .channels
            .values()
            .filter(|c| c.device.as_deref() == Some(device.as_str()))
            .count();
        let trunk = matches!(ep.kind, crate::engine::devices::EndpointKind::Trunk(_));
        out.push(format!(
            " Endpoint:  {:<53}{:<14}{in_use} of inf",
            format!("{}/{}", ep.name, if trunk { "" } else { &ep.name }),
            state.text()
        ));
        if trunk {
            out.push(format!("    OutAuth:  {}-auth/pbx", ep.name));
        } else {
            out.push(format!("     InAuth:  {}/{}", ep.name, ep.name));
        }
        out.push(format!(
            "        Aor:  {:<51}{}",
            ep.name,
            if trunk { 0 } else { 1 }
        ));
        if ep.registered || trunk {
            out.push(format!(
                "      Contact:  {:<43}{:<11}{:<14}{:.3}",
                format!("{}/{}", ep.name, ep.contact_uri),
                &ep.contact_hash[..10.min(ep.contact_hash.len())],
                if ep.registered { "Avail" } else { "Unavail" },
                ep.rtt_us as f64 / 1000.0
            ));
        }
        out.push(
            "  Transport:  transport-udp             udp      0      0  198.51.100.10:5060"
                .to_owned(),
        );
        out.push(String::new());
    }
    out.push(String::new());
    out.push(format!("Objects found: {}", e.endpoints.len()));
    out.push(String::new());
    out
}

fn queues(e: &Engine) -> Vec<String> {
    let now = e.clock.secs(e.now);
    let mut out = Vec::new();
    for q in &e.queues {
        let max = if q.max == 0 {
            "unlimited".to_owned()
        } else {
            q.max.to_string()
        };
        out.push(format!(
            "{} has {} calls (max {max}) in '{}' strategy ({}s holdtime, {}s talktime), W:0, C:{}, A:{}, SL:0.0%, SL2:0.0% within 0s",
            q.name,
            q.callers.len(),
            q.strategy,
            q.holdtime(),
            q.talktime(),
            q.completed,
            q.abandoned
        ));
        if q.members.is_empty() {
            out.push("   No Members".to_owned());
        } else {
            out.push("   Members: ".to_owned());
            for m in &q.members {
                let taken = if m.calls_taken == 0 {
                    "has taken no calls yet".to_owned()
                } else {
                    format!(
                        "has taken {} calls (last was {} secs ago)",
                        m.calls_taken,
                        now.saturating_sub(m.last_call)
                    )
                };
                out.push(format!(
                    "      {} ({}) (ringinuse disabled){}{} ({}) {taken} (login was {} secs ago)",
                    m.name,
                    m.interface,
                    if m.dynamic { " (dynamic)" } else { "" },
                    if m.paused { " (paused)" } else { "" },
                    m.status.text(),
                    now.saturating_sub(m.login_time)
                ));
            }
        }
        if q.callers.is_empty() {
            out.push("   No Callers".to_owned());
        } else {
            out.push("   Callers: ".to_owned());
            for (i, entry) in q.callers.iter().enumerate() {
                let wait = (e.now - entry.joined).as_secs();
                let name = e
                    .chan(entry.chan)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                out.push(format!(
                    "      {}. {name} (wait: {}:{:02}, prio: 0)",
                    i + 1,
                    wait / 60,
                    wait % 60
                ));
            }
        }
        out.push(String::new());
    }
    out.push(String::new());
    out
}

fn help() -> Vec<String> {
    [
        ("bridge show all", "List all bridges"),
        ("core show calls [uptime]", "Display information on calls"),
        (
            "core show channels [concise|verbose|count]",
            "Display information on channels",
        ),
        (
            "core show help",
            "Display help list, or specific help on a command",
        ),
        ("core show uptime [seconds]", "Show uptime information"),
        ("core show version", "Display version info"),
        ("pjsip show endpoints", "List PJSIP Endpoints"),
        ("queue show", "Show status of a specified queue"),
    ]
    .iter()
    .map(|(c, d)| format!("{c:<30} -- {d}"))
    .collect()
}
