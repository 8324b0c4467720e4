//! The actions a logged-in session can send, answered from the model.
//!
//! Session-level actions (`Login`, `Challenge`, `Logoff`, `Events`, `Filter`)
//! live in `session`; everything that reads or changes the PBX is
//! dispatched here. A handler returns the bytes for the asking session in
//! order (response, then list items); events it causes are emitted by the
//! engine and delivered after the response, as Asterisk does (corpus README
//! item 12). Wording of every answer is copied from the corpus or from
//! manager.c when the corpus has no example.

mod command;
pub(crate) mod config_dir;
pub(crate) mod config_files;
mod lists;

use std::collections::BTreeMap;

use bytes::Bytes;
use ringside_ami::Message;

use crate::engine::Engine;
use crate::engine::control::{AmiSessionInfo, OriginateRequest};
use crate::wire::{self, Msg};
use config_dir::{ConfigDir, Module};
use config_files::ConfigStore;

/// What `CoreSettings` and `core show version` report.
pub(crate) const ASTERISK_VERSION: &str = "22.10.1";

/// The simulated PBX behind the AMI port: the model plus what only actions
/// touch (configuration files, AstDB).
pub(crate) struct Pbx {
    pub(crate) engine: Engine,
    pub(crate) configs: ConfigStore,
    pub(crate) db: BTreeMap<(String, String), String>,
    /// The configuration directory, when the simulator was given one.
    pub(crate) dir: Option<ConfigDir>,
    /// How many of the next reloads fail (a test knob).
    pub(crate) failing_reloads: usize,
    /// Every module reload asked for (`res_pjsip.so`, `pbx_config.so`, …),
    /// failed ones included, oldest first.
    pub(crate) reload_log: Vec<String>,
}

impl Pbx {
    pub(crate) fn new(engine: Engine, configs: ConfigStore) -> Pbx {
        Pbx {
            engine,
            configs,
            db: BTreeMap::new(),
            dir: None,
            failing_reloads: 0,
            reload_log: Vec::new(),
        }
    }

    /// Reloads one module: re-reads its files when there is a directory,
    /// fails while failures are pending, logs the attempt and, on success,
    /// emits the `Reload` event.
    fn reload_module(&mut self, module: Module) -> Result<(), String> {
        self.reload_log.push(module.name().to_owned());
        if self.failing_reloads > 0 {
            self.failing_reloads -= 1;
            return Err("reload failure injected by the test".to_owned());
        }
        if let Some(dir) = self.dir.as_mut() {
            dir.reload(module)?;
        }
        emit_reload(&mut self.engine, module.name());
        Ok(())
    }
}

/// One action from one session.
pub(crate) struct Req<'a> {
    pub(crate) session: u64,
    pub(crate) name: &'a str,
    pub(crate) msg: &'a Message,
    /// The request's ActionID, echoed only when present.
    pub(crate) aid: Option<&'a str>,
    pub(crate) info: &'a AmiSessionInfo,
}

impl<'a> Req<'a> {
    /// A header's value, trimmed; `None` when absent or empty (manager.c's
    /// `ast_strlen_zero` checks treat both alike).
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        self.msg.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

fn one(m: Msg) -> Vec<Bytes> {
    vec![m.to_bytes()]
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "y" | "t" | "1" | "on"
    )
}

/// Answers one action from a logged-in session.
pub(crate) fn dispatch(p: &mut Pbx, r: &Req<'_>) -> Vec<Bytes> {
    let e = &mut p.engine;
    match r.name.to_ascii_lowercase().as_str() {
        "ping" => one(wire::response("Success", r.aid)
            .h("Ping", "Pong")
            .h("Timestamp", crate::clock::timestamp(e.wall_micros()))),
        "pjsipshowendpoints" => {
            let loaded = p.dir.as_ref().map(ConfigDir::endpoints).unwrap_or_default();
            lists::pjsip_show_endpoints(&p.engine, loaded, r)
        }
        "pjsipshowcontacts" => lists::pjsip_show_contacts(e, r),
        "pjsipshowaors" => lists::pjsip_show_aors(e, r),
        "pjsipshowregistrationsoutbound" => lists::pjsip_show_registrations_outbound(e, r),
        "pjsipshowregistrationsinbound" => lists::pjsip_show_registrations_inbound(e, r),
        "iaxpeerlist" => lists::iax_peerlist(e, r),
        "iaxpeers" => lists::iax_peers(e, r),
        "iaxregistry" => lists::iax_registry(e, r),
        "coreshowchannels" => lists::core_show_channels(e, r),
        "bridgelist" => lists::bridge_list(e, r),
        "queuestatus" => lists::queue_status(e, r),
        "queuesummary" => lists::queue_summary(e, r),
        "devicestatelist" => lists::device_state_list(e, r),
        "extensionstatelist" => lists::extension_state_list(e, r),
        "confbridgelistrooms" => lists::confbridge_list_rooms(e, r),
        "confbridgelist" => lists::confbridge_list(e, r),
        "corestatus" => lists::core_status(e, r),
        "coresettings" => lists::core_settings(e, r),
        "status" => lists::status(e, r),
        "command" => reload_command(p, r).unwrap_or_else(|| command::command(&p.engine, r)),
        "originate" => originate(e, r),
        "hangup" => hangup(e, r),
        "redirect" => redirect(e, r),
        "blindtransfer" => blind_transfer(e, r),
        "getvar" => getvar(e, r),
        "setvar" => setvar(e, r),
        "queueadd" => queue_add(e, r),
        "queueremove" => queue_remove(e, r),
        "queuepause" => queue_pause(e, r),
        "confbridgemute" | "confbridgeunmute" => confbridge_mute(e, r),
        "extensionstate" => extension_state(e, r),
        "userevent" => user_event(e, r),
        "reload" => match r.get("Module").and_then(Module::from_module_name) {
            Some(module) => match p.reload_module(module) {
                Ok(()) => one(wire::ack(r.aid, "Module Reloaded")),
                Err(why) => {
                    tracing::info!(module = module.name(), %why, "simulated reload failed");
                    one(wire::error(r.aid, "An unknown error occurred"))
                }
            },
            None => reload(e, r, r.get("Module")),
        },
        "loggerrotate" => one(wire::ack(
            r.aid,
            "Reloaded the logger and rotated log files",
        )),
        "listcommands" => list_commands(r),
        "getconfig" => p.configs.get_config(r, p.dir.as_ref()),
        "updateconfig" => {
            let (out, module) = p.configs.update_config(r, p.dir.as_ref());
            if let Some(m) = module.filter(|m| !truthy(m)) {
                match Module::from_module_name(&m) {
                    Some(module) => {
                        if let Err(why) = p.reload_module(module) {
                            tracing::info!(module = module.name(), %why, "simulated reload failed");
                        }
                    }
                    None => emit_reload(&mut p.engine, &m),
                }
            }
            out
        }
        "dbput" => db_put(&mut p.db, r),
        "dbget" => db_get(&p.db, r),
        "dbdel" => db_del(&mut p.db, r),
        _ => unknown(e, r),
    }
}

/// `Command` with a reload command (`module reload res_pjsip.so`,
/// `pjsip reload`, `dialplan reload`, `module reload pbx_config.so`),
/// answered as Asterisk's CLI answers: `Response: Success` whatever the
/// outcome, the outcome in the output (`Module 'res_pjsip.so' reloaded
/// successfully.`, `Dialplan reloaded.`, or `The module '…' reported a
/// reload failure`). `None` for any other command.
fn reload_command(p: &mut Pbx, r: &Req<'_>) -> Option<Vec<Bytes>> {
    let cmd = r.get("Command").unwrap_or_default().to_ascii_lowercase();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let module = Module::from_command(&words)?;
    let output = match p.reload_module(module) {
        Ok(()) if words[0] == "dialplan" => "Dialplan reloaded.".to_owned(),
        Ok(()) => format!("Module '{}' reloaded successfully.", module.name()),
        Err(why) => {
            tracing::info!(module = module.name(), %why, "simulated reload failed");
            format!("The module '{}' reported a reload failure", module.name())
        }
    };
    Some(one(wire::response("Success", r.aid)
        .h("Message", "Command output follows")
        .h("Output", output)))
}

/// `Invalid/unknown command` and the `RequestBadFormat` security event.
pub(crate) fn unknown(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    e.ami_security_event(
        "RequestBadFormat",
        r.info,
        &[("RequestType", format!("Action: {}", r.name))],
    );
    one(wire::unknown_action(r.aid, r.name))
}

/// `"Name" <number>`, `Name <number>` or a bare number.
fn parse_callerid(s: &str) -> (String, String) {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let num = s[a + 1..b].trim().to_owned();
            let name = s[..a].trim().trim_matches('"').trim().to_owned();
            (num, name)
        }
        _ => (s.trim().to_owned(), String::new()),
    }
}

fn originate(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(channel) = r.get("Channel") else {
        return one(wire::error(r.aid, "Channel not specified"));
    };
    let priority = match r.get("Priority") {
        Some(p) => match p.parse::<u32>() {
            Ok(p) if p > 0 => Some(p),
            _ => return one(wire::error(r.aid, "Invalid priority")),
        },
        None => None,
    };
    if r.get("Timeout").is_some_and(|t| t.parse::<i64>().is_err()) {
        return one(wire::error(r.aid, "Invalid timeout"));
    }
    if !channel.contains('/') {
        return one(wire::error(r.aid, "Invalid channel"));
    }
    let application = r
        .get("Application")
        .map(|a| (a.to_owned(), r.get("Data").unwrap_or_default().to_owned()));
    let (context, exten, priority) =
        match (&application, r.get("Context"), r.get("Exten"), priority) {
            (Some(_), c, x, p) => (
                c.unwrap_or_default().to_owned(),
                x.unwrap_or_default().to_owned(),
                p.unwrap_or(1),
            ),
            (None, Some(c), Some(x), Some(p)) => (c.to_owned(), x.to_owned(), p),
            _ => {
                return one(wire::error(
                    r.aid,
                    "Originate with 'Exten' requires 'Context' and 'Priority'",
                ));
            }
        };
    let variables = r
        .msg
        .get_all("Variable")
        .filter_map(|v| v.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect();
    let asynchronous = r.get("Async").is_some_and(truthy);
    e.originate(OriginateRequest {
        channel: channel.to_owned(),
        context,
        exten,
        priority,
        application,
        caller_id: r.get("CallerID").map(parse_callerid),
        channel_id: r.get("ChannelId").map(str::to_owned),
        variables,
        action_id: r.aid.map(str::to_owned),
        session: r.session,
        asynchronous,
    });
    if asynchronous {
        one(wire::ack(r.aid, "Originate successfully queued"))
    } else {
        // A synchronous Originate answers when the call is answered or fails.
        Vec::new()
    }
}

fn hangup(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(channel) = r.get("Channel") else {
        return one(wire::error(r.aid, "No channel specified"));
    };
    let cause = r.get("Cause").and_then(|c| c.parse().ok()).unwrap_or(16);
    if channel.len() > 2 && channel.starts_with('/') && channel.ends_with('/') {
        let Ok(re) = regex::Regex::new(&channel[1..channel.len() - 1]) else {
            return one(wire::error(
                r.aid,
                &format!("Regex compile failed on: {channel}"),
            ));
        };
        let matched: Vec<(crate::engine::ChanId, String)> = e
            .channels
            .values()
            .filter(|c| re.is_match(&c.name))
            .map(|c| (c.id, c.name.clone()))
            .collect();
        let mut out = vec![wire::list_ack(r.aid, "Channels hung up will follow").to_bytes()];
        for (id, name) in &matched {
            e.ami_hangup(*id, cause);
            out.push(
                Msg::new()
                    .h("Event", "ChannelHungup")
                    .h("Channel", name.clone())
                    .aid(r.aid)
                    .to_bytes(),
            );
        }
        out.push(
            wire::list_complete("ChannelsHungupListComplete", r.aid, matched.len()).to_bytes(),
        );
        return out;
    }
    match e
        .channels
        .values()
        .find(|c| c.name.eq_ignore_ascii_case(channel))
        .map(|c| c.id)
    {
        Some(id) => {
            e.ami_hangup(id, cause);
            one(wire::ack(r.aid, "Channel Hungup"))
        }
        None => one(wire::error(r.aid, "No such channel")),
    }
}

fn redirect(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(channel) = r.get("Channel") else {
        return one(wire::error(r.aid, "Channel not specified"));
    };
    let Some(context) = r.get("Context") else {
        return one(wire::error(r.aid, "Context not specified"));
    };
    let Some(exten) = r.get("Exten") else {
        return one(wire::error(r.aid, "Exten not specified"));
    };
    let Some(priority) = r.get("Priority") else {
        return one(wire::error(r.aid, "Priority not specified"));
    };
    let Some(priority) = priority.parse::<u32>().ok().filter(|&p| p > 0) else {
        return one(wire::error(r.aid, "Priority is invalid"));
    };
    let Some(id) = e.chan_by_name(channel) else {
        return one(wire::error(
            r.aid,
            &format!("Channel does not exist: {channel}"),
        ));
    };
    let out = one(wire::ack(r.aid, "Redirect successful"));
    e.redirect(id, context, exten, priority);
    out
}

fn blind_transfer(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(channel) = r.get("Channel") else {
        return one(wire::error(r.aid, "No channel specified"));
    };
    let Some(exten) = r.get("Exten") else {
        return one(wire::error(r.aid, "No extension specified"));
    };
    let Some(id) = e.chan_by_name(channel) else {
        return one(wire::error(r.aid, "Channel specified does not exist"));
    };
    match e.ami_blind_transfer(id, exten) {
        Ok(()) => one(wire::ack(r.aid, "Transfer succeeded")),
        Err(msg) => one(wire::error(r.aid, msg)),
    }
}

fn getvar(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(var) = r.get("Variable") else {
        return one(wire::error(r.aid, "No variable specified"));
    };
    let value = match r.get("Channel") {
        Some(name) => match e.chan_by_name(name).and_then(|id| e.chan(id)) {
            Some(c) => c
                .vars
                .get(var)
                .or_else(|| e.globals.get(var))
                .cloned()
                .unwrap_or_default(),
            None => return one(wire::error(r.aid, "No such channel")),
        },
        None => e.globals.get(var).cloned().unwrap_or_default(),
    };
    one(wire::response("Success", r.aid)
        .h("Variable", var.to_owned())
        .h("Value", value))
}

fn setvar(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(var) = r.get("Variable") else {
        return one(wire::error(r.aid, "No variable specified"));
    };
    let value = r.msg.get("Value").unwrap_or_default();
    let ch = match r.get("Channel") {
        Some(name) => match e.chan_by_name(name) {
            Some(id) => Some(id),
            None => return one(wire::error(r.aid, "No such channel")),
        },
        None => None,
    };
    let out = one(wire::ack(r.aid, "Variable Set"));
    e.setvar(ch, var, value);
    out
}

fn queue_add(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(queue) = r.get("Queue") else {
        return one(wire::error(r.aid, "'Queue' not specified."));
    };
    let Some(iface) = r.get("Interface") else {
        return one(wire::error(r.aid, "'Interface' not specified."));
    };
    let penalty = r.get("Penalty").and_then(|p| p.parse().ok()).unwrap_or(0);
    let paused = r.get("Paused").is_some_and(truthy);
    let out_ok = one(wire::ack(r.aid, "Added interface to queue"));
    match e.queue_add(queue, iface, r.get("MemberName"), penalty, paused) {
        Ok(()) => out_ok,
        Err(msg) => one(wire::error(r.aid, msg)),
    }
}

fn queue_remove(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let (Some(queue), Some(iface)) = (r.get("Queue"), r.get("Interface")) else {
        return one(wire::error(
            r.aid,
            "Need 'Queue' and 'Interface' parameters.",
        ));
    };
    match e.queue_remove(queue, iface) {
        Ok(()) => one(wire::ack(r.aid, "Removed interface from queue")),
        Err(msg) => one(wire::error(r.aid, msg)),
    }
}

fn queue_pause(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let (Some(iface), Some(paused)) = (r.get("Interface"), r.get("Paused")) else {
        return one(wire::error(
            r.aid,
            "Need 'Interface' and 'Paused' parameters.",
        ));
    };
    let paused = truthy(paused);
    let reason = r.get("Reason").unwrap_or_default();
    match e.queue_pause(r.get("Queue"), iface, paused, reason) {
        Ok(()) => one(wire::ack(
            r.aid,
            if paused {
                "Interface paused successfully"
            } else {
                "Interface unpaused successfully"
            },
        )),
        Err(msg) => one(wire::error(r.aid, msg)),
    }
}

fn confbridge_mute(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let mute = r.name.eq_ignore_ascii_case("ConfbridgeMute");
    let Some(room) = r.get("Conference") else {
        return one(wire::error(r.aid, "No Conference name provided."));
    };
    let Some(channel) = r.get("Channel") else {
        return one(wire::error(r.aid, "No channel name provided."));
    };
    match e.conference_mute(room, channel, mute) {
        Ok(()) => one(wire::ack(
            r.aid,
            if mute { "User muted" } else { "User unmuted" },
        )),
        Err(msg) => one(wire::error(r.aid, msg)),
    }
}

fn extension_state(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let exten = r.get("Exten").unwrap_or_default();
    let context = r.get("Context").unwrap_or("default");
    let ep = e
        .endpoint_index(exten)
        .filter(|&i| e.is_extension(i) && context == "internal");
    let (hint, status, text) = match ep {
        Some(i) => {
            let device = e.endpoints[i].device();
            let (s, t) = e.device_state(&device).hint();
            (device, s.to_string(), t)
        }
        None => (String::new(), "-1".to_owned(), "Unknown"),
    };
    one(wire::ack(r.aid, "Extension Status")
        .h("Exten", exten.to_owned())
        .h("Context", context.to_owned())
        .h("Hint", hint)
        .h("Status", status)
        .h("StatusText", text))
}

fn user_event(e: &mut Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(name) = r.get("UserEvent") else {
        return one(wire::error(r.aid, "UserEvent not specified"));
    };
    let mut m = e
        .ev("UserEvent", "user,all")
        .h("UserEvent", name.to_owned())
        .aid(r.aid);
    for h in r.msg.headers() {
        if ["Action", "ActionID", "UserEvent"]
            .iter()
            .any(|k| h.key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        m.push(h.key.to_owned(), h.value.unwrap_or_default().to_owned());
    }
    let out = one(wire::ack(r.aid, "Event Sent"));
    e.emit(m);
    out
}

/// Modules `Reload` accepts by name.
const MODULES: [&str; 10] = [
    "app_queue.so",
    "app_confbridge.so",
    "chan_pjsip.so",
    "res_pjsip.so",
    "chan_iax2.so",
    "pbx_config.so",
    "cdr_manager.so",
    "res_musiconhold.so",
    "manager",
    "extconfig",
];

fn emit_reload(e: &mut Engine, module: &str) {
    let m = e
        .ev("Reload", "system,all")
        .h("Module", module.to_owned())
        .h("Status", "0");
    e.emit(m);
}

fn reload(e: &mut Engine, r: &Req<'_>, module: Option<&str>) -> Vec<Bytes> {
    match module {
        None => one(wire::ack(r.aid, "Module Reloaded")),
        Some(m) if MODULES.iter().any(|k| k.eq_ignore_ascii_case(m)) => {
            let out = one(wire::ack(r.aid, "Module Reloaded"));
            emit_reload(e, m);
            out
        }
        Some(_) => one(wire::error(r.aid, "No such module")),
    }
}

fn db_put(db: &mut BTreeMap<(String, String), String>, r: &Req<'_>) -> Vec<Bytes> {
    let Some(family) = r.get("Family") else {
        return one(wire::error(r.aid, "No family specified"));
    };
    let Some(key) = r.get("Key") else {
        return one(wire::error(r.aid, "No key specified"));
    };
    let val = r.msg.get("Val").unwrap_or_default();
    db.insert((family.to_owned(), key.to_owned()), val.to_owned());
    one(wire::ack(r.aid, "Updated database successfully"))
}

fn db_get(db: &BTreeMap<(String, String), String>, r: &Req<'_>) -> Vec<Bytes> {
    let Some(family) = r.get("Family") else {
        return one(wire::error(r.aid, "No family specified."));
    };
    let Some(key) = r.get("Key") else {
        return one(wire::error(r.aid, "No key specified."));
    };
    match db.get(&(family.to_owned(), key.to_owned())) {
        Some(val) => vec![
            wire::list_ack(r.aid, "Result will follow").to_bytes(),
            Msg::new()
                .h("Event", "DBGetResponse")
                .h("Family", family.to_owned())
                .h("Key", key.to_owned())
                .h("Val", val.clone())
                .aid(r.aid)
                .to_bytes(),
            wire::list_complete("DBGetComplete", r.aid, 1).to_bytes(),
        ],
        None => one(wire::error(r.aid, "Database entry not found")),
    }
}

fn db_del(db: &mut BTreeMap<(String, String), String>, r: &Req<'_>) -> Vec<Bytes> {
    let (Some(family), Some(key)) = (r.get("Family"), r.get("Key")) else {
        return one(wire::error(r.aid, "No family specified."));
    };
    match db.remove(&(family.to_owned(), key.to_owned())) {
        Some(_) => one(wire::ack(r.aid, "Key deleted successfully")),
        None => one(wire::error(r.aid, "Database entry does not exist")),
    }
}

/// Every action this simulator answers, described as Asterisk 22 describes
/// them (actions.ami, `mon-13-listcommands`).
const COMMANDS: &[(&str, &str)] = &[
    (
        "BlindTransfer",
        "Blind transfer channel(s) to the given destination  (Priv: call,all)",
    ),
    (
        "BridgeList",
        "Get a list of bridges in the system.  (Priv: <none>)",
    ),
    (
        "Challenge",
        "Generate Challenge for MD5 Auth.  (Priv: <none>)",
    ),
    (
        "Command",
        "Execute Asterisk CLI Command.  (Priv: command,all)",
    ),
    (
        "ConfbridgeList",
        "List participants in a conference.  (Priv: reporting,all)",
    ),
    (
        "ConfbridgeListRooms",
        "List active conferences.  (Priv: reporting,all)",
    ),
    (
        "ConfbridgeMute",
        "Mute a Confbridge user.  (Priv: call,all)",
    ),
    (
        "ConfbridgeUnmute",
        "Unmute a Confbridge user.  (Priv: call,all)",
    ),
    (
        "CoreSettings",
        "Show PBX core settings (version etc).  (Priv: system,reporting,all)",
    ),
    (
        "CoreShowChannels",
        "List currently active channels.  (Priv: system,reporting,all)",
    ),
    (
        "CoreStatus",
        "Show PBX core status variables.  (Priv: system,reporting,all)",
    ),
    ("DBDel", "Delete DB entry.  (Priv: system,all)"),
    ("DBGet", "Get DB Entry.  (Priv: system,reporting,all)"),
    ("DBPut", "Put DB entry.  (Priv: system,all)"),
    (
        "DeviceStateList",
        "List the current known device states.  (Priv: call,reporting,all)",
    ),
    ("Events", "Control Event Flow.  (Priv: <none>)"),
    (
        "ExtensionState",
        "Check Extension Status.  (Priv: call,reporting,all)",
    ),
    (
        "ExtensionStateList",
        "List the current known extension states.  (Priv: call,reporting,all)",
    ),
    (
        "Filter",
        "Dynamically add filters for the current manager session.  (Priv: system,all)",
    ),
    (
        "GetConfig",
        "Retrieve configuration.  (Priv: system,config,all)",
    ),
    (
        "Getvar",
        "Gets a channel variable or function value.  (Priv: call,reporting,all)",
    ),
    ("Hangup", "Hangup channel.  (Priv: system,call,all)"),
    (
        "IAXpeerlist",
        "List IAX Peers.  (Priv: system,reporting,all)",
    ),
    ("IAXpeers", "List IAX peers.  (Priv: system,reporting,all)"),
    (
        "IAXregistry",
        "Show IAX registrations.  (Priv: system,reporting,all)",
    ),
    (
        "ListCommands",
        "List available manager commands.  (Priv: <none>)",
    ),
    (
        "LoggerRotate",
        "Reload and rotate the Asterisk logger.  (Priv: system,reporting,all)",
    ),
    ("Login", "Login Manager.  (Priv: <none>)"),
    ("Logoff", "Logoff Manager.  (Priv: <none>)"),
    ("Originate", "Originate a call.  (Priv: originate,all)"),
    ("Ping", "Keepalive command.  (Priv: <none>)"),
    ("PJSIPShowAors", "Lists PJSIP AORs.  (Priv: system,all)"),
    (
        "PJSIPShowContacts",
        "Lists PJSIP Contacts.  (Priv: system,all)",
    ),
    (
        "PJSIPShowEndpoints",
        "Lists PJSIP endpoints.  (Priv: system,all)",
    ),
    (
        "PJSIPShowRegistrationsInbound",
        "Lists PJSIP inbound registrations.  (Priv: system,all)",
    ),
    (
        "PJSIPShowRegistrationsOutbound",
        "Lists PJSIP outbound registrations.  (Priv: system,reporting,all)",
    ),
    ("QueueAdd", "Add interface to queue.  (Priv: agent,all)"),
    (
        "QueuePause",
        "Makes a queue member temporarily unavailable.  (Priv: agent,all)",
    ),
    (
        "QueueRemove",
        "Remove interface from queue.  (Priv: agent,all)",
    ),
    ("QueueStatus", "Show queue status.  (Priv: <none>)"),
    ("QueueSummary", "Show queue summary.  (Priv: <none>)"),
    ("Redirect", "Redirect (transfer) a call.  (Priv: call,all)"),
    ("Reload", "Send a reload event.  (Priv: system,config,all)"),
    (
        "Setvar",
        "Sets a channel variable or function value.  (Priv: call,all)",
    ),
    (
        "Status",
        "List channel status.  (Priv: system,call,reporting,all)",
    ),
    (
        "UpdateConfig",
        "Update basic configuration.  (Priv: config,all)",
    ),
    ("UserEvent", "Send an arbitrary event.  (Priv: user,all)"),
];

fn list_commands(r: &Req<'_>) -> Vec<Bytes> {
    let mut m = wire::response("Success", r.aid);
    for (name, description) in COMMANDS {
        m.push(*name, *description);
    }
    one(m)
}
