//! Actions answered with an event list, and the status actions.
//!
//! Framing is manager.c's: `Response: Success`, `EventList: start`, the
//! action's `Message`; items without `Privilege` and with the `ActionID`
//! (where each item puts it varies, and is copied from the corpus); then the
//! action's own `...Complete` event with `EventList: Complete` and
//! `ListItems`. Empty lists that Asterisk answers with an error
//! (`PJSIPShowContacts`, `ConfbridgeListRooms`) do the same here. Every
//! answer is computed from the model at the moment of the request, so a
//! client that resyncs gets the truth.

use bytes::Bytes;

use super::Req;
use super::config_dir::LoadedEndpoint;
use crate::clock;
use crate::engine::devices::EndpointKind;
use crate::engine::{BridgeId, ChanId, Engine};
use crate::wire::{self, Msg};

/// An event list: the start response, the items, the complete event.
fn list(r: &Req<'_>, start: &str, complete: &'static str, items: Vec<Msg>) -> Vec<Bytes> {
    list_with(r, start, complete, items, |m| m)
}

/// As [`list`], with extra headers on the complete event.
fn list_with(
    r: &Req<'_>,
    start: &str,
    complete: &'static str,
    items: Vec<Msg>,
    extra: impl FnOnce(Msg) -> Msg,
) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(items.len() + 2);
    out.push(wire::list_ack(r.aid, start).to_bytes());
    let n = items.len();
    out.extend(items.iter().map(Msg::to_bytes));
    out.push(extra(wire::list_complete(complete, r.aid, n)).to_bytes());
    out
}

fn item(name: &'static str, r: &Req<'_>) -> Msg {
    Msg::new().h("Event", name).aid(r.aid)
}

fn contacts_field(e: &Engine, ep: usize) -> String {
    let endpoint = &e.endpoints[ep];
    let listed = match endpoint.kind {
        EndpointKind::Extension => endpoint.registered,
        EndpointKind::Trunk(_) => true,
    };
    if listed {
        format!("{}/{}", endpoint.name, endpoint.contact_uri)
    } else {
        String::new()
    }
}

fn active_channels(e: &Engine, device: &str) -> usize {
    e.channels
        .values()
        .filter(|c| c.device.as_deref() == Some(device))
        .count()
}

/// The model's endpoints, then those loaded from the configuration
/// directory that the model does not have (unregistered: no contacts,
/// `Unavailable`).
pub(super) fn pjsip_show_endpoints(
    e: &Engine,
    loaded: &[LoadedEndpoint],
    r: &Req<'_>,
) -> Vec<Bytes> {
    let mut items: Vec<Msg> = (0..e.endpoints.len())
        .map(|i| {
            let ep = &e.endpoints[i];
            let trunk = matches!(ep.kind, EndpointKind::Trunk(_));
            let contacts = contacts_field(e, i);
            item("EndpointList", r)
                .h("ObjectType", "endpoint")
                .h("ObjectName", ep.name.clone())
                .h("Transport", "transport-udp")
                .h("Aor", ep.name.clone())
                .h(
                    "Auths",
                    if trunk {
                        String::new()
                    } else {
                        ep.name.clone()
                    },
                )
                .h(
                    "OutboundAuths",
                    if trunk {
                        format!("{}-auth", ep.name)
                    } else {
                        String::new()
                    },
                )
                .h(
                    "Contacts",
                    if contacts.is_empty() {
                        contacts
                    } else {
                        format!("{contacts},")
                    },
                )
                .h("DeviceState", e.device_state(&ep.device()).text())
                .h(
                    "ActiveChannels",
                    active_channels(e, &ep.device()).to_string(),
                )
        })
        .collect();
    for ep in loaded
        .iter()
        .filter(|l| e.endpoint_index(&l.name).is_none())
    {
        items.push(
            item("EndpointList", r)
                .h("ObjectType", "endpoint")
                .h("ObjectName", ep.name.clone())
                .h("Transport", ep.transport.clone())
                .h("Aor", ep.aors.clone())
                .h("Auths", ep.auth.clone())
                .h("OutboundAuths", ep.outbound_auth.clone())
                .h("Contacts", "")
                .h("DeviceState", "Unavailable")
                .h("ActiveChannels", "0"),
        );
    }
    list(
        r,
        "A listing of Endpoints follows, presented as EndpointList events",
        "EndpointListComplete",
        items,
    )
}

pub(super) fn pjsip_show_contacts(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items: Vec<Msg> = e
        .extensions()
        .filter(|(_, ep)| ep.registered)
        .map(|(_, ep)| {
            item("ContactList", r)
                .h("ObjectType", "contact")
                .h("ObjectName", format!("{};@{}", ep.name, ep.contact_hash))
                .h("ViaAddr", ep.host.clone())
                .h("QualifyTimeout", "3.000000")
                .h("Qualify2xxOnly", "false")
                .h("CallId", ep.call_id.clone())
                .h("RegServer", e.system_name.clone().unwrap_or_default())
                .h("PruneOnBoot", "no")
                .h("Path", "")
                .h("Endpoint", ep.name.clone())
                .h("ViaPort", "5060")
                .h("AuthenticateQualify", "no")
                .h("Uri", ep.contact_uri.clone())
                .h("QualifyFrequency", ep.qualify_frequency.to_string())
                .h("UserAgent", "ringside-sim-phone")
                .h("ExpirationTime", ep.reg_expire.to_string())
                .h("OutboundProxy", "")
                .h("Status", "Reachable")
                .h("RoundtripUsec", ep.rtt_us.to_string())
        })
        .collect();
    if items.is_empty() {
        return vec![wire::no_contacts_found(r.aid)];
    }
    list(
        r,
        "A listing of Contacts follows, presented as ContactList events",
        "ContactListComplete",
        items,
    )
}

/// The AOR fields shared by `AorList` and `InboundRegistrationDetail`.
fn aor_fields(e: &Engine, ep: usize, m: Msg, inbound: bool) -> Msg {
    let endpoint = &e.endpoints[ep];
    let ext = endpoint.kind == EndpointKind::Extension;
    let contact = contacts_field(e, ep);
    let m = m
        .h("ObjectType", "aor")
        .h("ObjectName", endpoint.name.clone())
        .h("MinimumExpiration", "60")
        .h("DefaultExpiration", "3600")
        .h("QualifyTimeout", "3.000000")
        .h("Qualify2xxOnly", "false")
        .h("Mailboxes", "")
        .h("SupportPath", "false")
        .h("RemoveUnavailable", "false")
        .h("VoicemailExtension", "")
        .h("MaxContacts", if ext { "1" } else { "0" })
        .h("AuthenticateQualify", "false");
    let m = if inbound {
        m.h("Contact", contact.clone())
    } else {
        m.h("Contacts", contact.clone())
    };
    let m = m
        .h("MaximumExpiration", "7200")
        .h("QualifyFrequency", endpoint.qualify_frequency.to_string())
        .h("RemoveExisting", if ext { "true" } else { "false" })
        .h("OutboundProxy", "");
    if inbound {
        m.h(
            "Contacts",
            if contact.is_empty() {
                contact
            } else {
                format!("{contact},")
            },
        )
    } else {
        m
    }
}

pub(super) fn pjsip_show_aors(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = (0..e.endpoints.len())
        .map(|i| aor_fields(e, i, item("AorList", r), false))
        .collect();
    list(
        r,
        "A listing of AORs follows, presented as AorList events",
        "AorListComplete",
        items,
    )
}

pub(super) fn pjsip_show_registrations_inbound(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = (0..e.endpoints.len())
        .map(|i| aor_fields(e, i, item("InboundRegistrationDetail", r), true))
        .collect();
    list(
        r,
        "Following are Events for each Inbound registration",
        "InboundRegistrationDetailComplete",
        items,
    )
}

pub(super) fn pjsip_show_registrations_outbound(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .trunks
        .iter()
        .map(|t| {
            let ep = &e.endpoints[t.endpoint];
            item("OutboundRegistrationDetail", r)
                .h("ObjectType", "registration")
                .h("ObjectName", t.reg_name())
                .h("MaxRetries", "100000")
                .h("ClientUri", t.client_uri())
                .h("SecurityNegotiation", "no")
                .h("AuthRejectionPermanent", "false")
                .h("ServerUri", t.server_uri())
                .h("MaxRandomInitialDelay", "10")
                .h("SupportPath", "false")
                .h("RetryInterval", "10")
                .h("ContactHeaderParams", "")
                .h("Expiration", "120")
                .h("Transport", "transport-udp")
                .h("Line", "false")
                .h("ContactUser", "pbx-in")
                .h("Endpoint", "")
                .h("UserAgent", "")
                .h("ForbiddenRetryInterval", "10")
                .h("OutboundAuth", format!("{}-auth", ep.name))
                .h("OutboundProxy", "")
                .h("FatalRetryInterval", "10")
                .h("SupportOutbound", "no")
                .h(
                    "Status",
                    if t.registered {
                        "Registered"
                    } else {
                        "Rejected"
                    },
                )
                .h("NextReg", "0")
        })
        .collect();
    let up = e.trunks.iter().filter(|t| t.registered).count();
    let down = e.trunks.len() - up;
    list_with(
        r,
        "Following are Events for each Outbound registration",
        "OutboundRegistrationDetailComplete",
        items,
        |m| {
            m.h("Registered", up.to_string())
                .h("NotRegistered", down.to_string())
        },
    )
}

fn iax_status(reachable: bool, rtt: u64) -> String {
    if reachable {
        format!("OK ({rtt} ms)")
    } else {
        "UNREACHABLE".to_owned()
    }
}

pub(super) fn iax_peerlist(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .trunks
        .iter()
        .map(|t| {
            item("PeerEntry", r)
                .h("Channeltype", "IAX")
                .h("ObjectName", t.iax_peer.clone())
                .h("ObjectUsername", "pbx")
                .h("ChanObjectType", "peer")
                .h("IPaddress", t.host.clone())
                .h("Mask", "255.255.255.255")
                .h("Port", "4569")
                .h("Dynamic", "no")
                .h("Trunk", "no")
                .h("Encryption", "no")
                .h("Status", iax_status(t.iax_reachable, t.iax_rtt_ms))
        })
        .collect();
    list(
        r,
        "IAX Peer status list will follow",
        "PeerlistComplete",
        items,
    )
}

/// `IAXpeers`: chan_iax2 writes these items without ActionID (actions.ami).
pub(super) fn iax_peers(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .trunks
        .iter()
        .map(|t| {
            Msg::new()
                .h("Event", "PeerEntry")
                .h("Channeltype", "IAX2")
                .h("ObjectName", format!("{}/pbx", t.iax_peer))
                .h("ChanObjectType", "peer")
                .h("IPaddress", t.host.clone())
                .h("IPport", "4569")
                .h("Dynamic", "no")
                .h("Trunk", "no")
                .h("Encryption", "no")
                .h("Status", iax_status(t.iax_reachable, t.iax_rtt_ms))
                .h("Description", "")
        })
        .collect();
    list(r, "Peer status list will follow", "PeerlistComplete", items)
}

pub(super) fn iax_registry(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .trunks
        .iter()
        .map(|t| {
            item("RegistryEntry", r)
                .h("Host", format!("{}:4569", t.host))
                .h("DNSmanager", "N")
                .h("Username", "pbx")
                .h(
                    "Perceived",
                    format!("{}:4569", crate::engine::devices::PBX_ADDR),
                )
                .h("Refresh", "60")
                .h(
                    "State",
                    if t.iax_reachable {
                        "Registered"
                    } else {
                        "Request Sent"
                    },
                )
        })
        .collect();
    list(
        r,
        "Registrations will follow",
        "RegistrationsComplete",
        items,
    )
}

pub(super) fn core_show_channels(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .channels
        .values()
        .map(|c| {
            let mut m = item("CoreShowChannel", r);
            e.snapshot_into(&mut m, "", c.id);
            let bridge = c
                .bridge
                .and_then(|b| e.bridges.get(&b))
                .map(|b| b.uniqueid.clone())
                .unwrap_or_default();
            m.h("Application", c.app.clone())
                .h("ApplicationData", c.app_data.clone())
                .h("Duration", clock::hms((e.now - c.created).as_secs()))
                .h("BridgeId", bridge)
        })
        .collect();
    list(r, "Channels will follow", "CoreShowChannelsComplete", items)
}

pub(super) fn bridge_list(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let wanted = r.get("BridgeType");
    let items = e
        .bridges
        .values()
        .filter(|b| wanted.is_none_or(|t| t.eq_ignore_ascii_case(b.bridge_type())))
        .map(|b| {
            let mut m = item("BridgeListItem", r);
            e.bridge_snapshot_into(&mut m, b.id);
            m
        })
        .collect();
    list(r, "Bridge listing will follow", "BridgeListComplete", items)
}

pub(super) fn queue_status(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let (queue, member) = (r.get("Queue"), r.get("Member"));
    let now_secs = e.clock.secs(e.now);
    let mut items = Vec::new();
    for q in e
        .queues
        .iter()
        .filter(|q| queue.is_none_or(|n| n == q.name))
    {
        items.push(
            Msg::new()
                .h("Event", "QueueParams")
                .h("Queue", q.name.clone())
                .h("Max", q.max.to_string())
                .h("Strategy", q.strategy)
                .h("Calls", q.callers.len().to_string())
                .h("Holdtime", q.holdtime().to_string())
                .h("TalkTime", q.talktime().to_string())
                .h("Completed", q.completed.to_string())
                .h("Abandoned", q.abandoned.to_string())
                .h("ServiceLevel", "0")
                .h("ServicelevelPerf", "0.0")
                .h("ServicelevelPerf2", "0.0")
                .h("Weight", "0")
                .aid(r.aid),
        );
        for m in q
            .members
            .iter()
            .filter(|m| member.is_none_or(|i| i == m.interface))
        {
            items.push(
                Msg::new()
                    .h("Event", "QueueMember")
                    .h("Queue", q.name.clone())
                    .h("Name", m.name.clone())
                    .h("Location", m.interface.clone())
                    .h("StateInterface", m.interface.clone())
                    .h("Membership", if m.dynamic { "dynamic" } else { "static" })
                    .h("Penalty", m.penalty.to_string())
                    .h("CallsTaken", m.calls_taken.to_string())
                    .h("LastCall", m.last_call.to_string())
                    .h("LastPause", m.last_pause.to_string())
                    .h("LoginTime", m.login_time.to_string())
                    .h("InCall", u8::from(m.in_call).to_string())
                    .h("Status", m.status.code().to_string())
                    .h("Paused", u8::from(m.paused).to_string())
                    .h("PausedReason", m.paused_reason.clone())
                    .h("Wrapuptime", "0")
                    .aid(r.aid),
            );
        }
        for (pos, entry) in q.callers.iter().enumerate() {
            let Some(c) = e.chan(entry.chan) else {
                continue;
            };
            items.push(
                Msg::new()
                    .h("Event", "QueueEntry")
                    .h("Queue", q.name.clone())
                    .h("Position", (pos + 1).to_string())
                    .h("Channel", c.name.clone())
                    .h("Uniqueid", c.uniqueid.clone())
                    .h("CallerIDNum", c.cid_num.clone())
                    .h("CallerIDName", c.cid_name.clone())
                    .h("ConnectedLineNum", c.conn_num.clone())
                    .h("ConnectedLineName", c.conn_name.clone())
                    .h(
                        "Wait",
                        now_secs
                            .saturating_sub(e.clock.secs(entry.joined))
                            .to_string(),
                    )
                    .h("Priority", "0")
                    .aid(r.aid),
            );
        }
    }
    list(r, "Queue status will follow", "QueueStatusComplete", items)
}

pub(super) fn queue_summary(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let queue = r.get("Queue");
    let items = e
        .queues
        .iter()
        .filter(|q| queue.is_none_or(|n| n == q.name))
        .map(|q| {
            let logged_in = q.members.len();
            let available = q
                .members
                .iter()
                .filter(|m| !m.paused && m.status == crate::engine::DevState::NotInUse)
                .count();
            let longest = q
                .callers
                .first()
                .map_or(0, |c| (e.now - c.joined).as_secs());
            Msg::new()
                .h("Event", "QueueSummary")
                .h("Queue", q.name.clone())
                .h("LoggedIn", logged_in.to_string())
                .h("Available", available.to_string())
                .h("Callers", q.callers.len().to_string())
                .h("HoldTime", q.holdtime().to_string())
                .h("TalkTime", q.talktime().to_string())
                .h("LongestHoldTime", longest.to_string())
                .aid(r.aid)
        })
        .collect();
    list(
        r,
        "Queue summary will follow",
        "QueueSummaryComplete",
        items,
    )
}

pub(super) fn device_state_list(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .devices
        .iter()
        .map(|(d, s)| {
            item("DeviceStateChange", r)
                .h("Device", d.clone())
                .h("State", s.ami())
        })
        .collect();
    list(
        r,
        "Device State Changes will follow",
        "DeviceStateListComplete",
        items,
    )
}

pub(super) fn extension_state_list(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let items = e
        .extensions()
        .map(|(_, ep)| {
            let (status, text) = e.device_state(&ep.device()).hint();
            item("ExtensionStatus", r)
                .h("Exten", ep.name.clone())
                .h("Context", "internal")
                .h("Hint", ep.device())
                .h("Status", status.to_string())
                .h("StatusText", text)
        })
        .collect();
    list(
        r,
        "Extension Statuses will follow",
        "ExtensionStateListComplete",
        items,
    )
}

pub(super) fn confbridge_list_rooms(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    if e.conferences.is_empty() {
        return vec![wire::error(r.aid, "No active conferences.").to_bytes()];
    }
    let items = e
        .conferences
        .values()
        .map(|c| {
            let muted = c.users.iter().all(|u| u.muted);
            item("ConfbridgeListRooms", r)
                .h("Conference", c.name.clone())
                .h("Parties", c.users.len().to_string())
                .h("Marked", "0")
                .h("Locked", if c.locked { "Yes" } else { "No" })
                .h("Muted", if muted { "Yes" } else { "No" })
        })
        .collect();
    list(
        r,
        "Confbridge conferences will follow",
        "ConfbridgeListRoomsComplete",
        items,
    )
}

pub(super) fn confbridge_list(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let Some(room) = r.get("Conference") else {
        return vec![wire::error(r.aid, "No Conference name provided.").to_bytes()];
    };
    if e.conferences.is_empty() {
        return vec![wire::error(r.aid, "No active conferences.").to_bytes()];
    }
    let Some(conf) = e.conferences.get(room) else {
        return vec![wire::error(r.aid, "No Conference by that name found.").to_bytes()];
    };
    let items = conf
        .users
        .iter()
        .map(|u| {
            let answered = e
                .chan(u.chan)
                .and_then(|c| c.answered)
                .map_or(0, |a| (e.now - a).as_secs());
            let mut m = item("ConfbridgeList", r)
                .h("Conference", conf.name.clone())
                .h("Admin", if u.admin { "Yes" } else { "No" })
                .h("MarkedUser", "No")
                .h("WaitMarked", "No")
                .h("EndMarked", "No")
                .h("EndMarkedAny", "No")
                .h("Waiting", "No")
                .h("Muted", if u.muted { "Yes" } else { "No" })
                .h("Talking", "No")
                .h("AnsweredTime", answered.to_string());
            e.snapshot_into(&mut m, "", u.chan);
            m
        })
        .collect();
    list(
        r,
        "Confbridge user list will follow",
        "ConfbridgeListComplete",
        items,
    )
}

pub(super) fn core_status(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let (date, time) = clock::date_time(e.clock.secs(std::time::Duration::ZERO));
    let current = e.calls.values().filter(|c| !c.chans.is_empty()).count();
    vec![
        wire::response("Success", r.aid)
            .h("CoreStartupDate", date.clone())
            .h("CoreStartupTime", time.clone())
            .h("CoreReloadDate", date)
            .h("CoreReloadTime", time)
            .h("CoreCurrentCalls", current.to_string())
            .h("CoreProcessedCalls", e.processed_calls.to_string())
            .to_bytes(),
    ]
}

pub(super) fn core_settings(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    vec![
        wire::response("Success", r.aid)
            .h("AMIversion", "11.0.0")
            .h("AsteriskVersion", super::ASTERISK_VERSION)
            .h("SystemName", e.system_name.clone().unwrap_or_default())
            .h("CoreMaxCalls", "0")
            .h("CoreMaxLoadAvg", "0.000000")
            .h("CoreRunUser", "")
            .h("CoreRunGroup", "")
            .h("CoreMaxFilehandles", "0")
            .h("CoreRealTimeEnabled", "No")
            .h("CoreCDRenabled", "Yes")
            .h("CoreHTTPenabled", "No")
            .h("SoundsSearchCustomDir", "No")
            .to_bytes(),
    ]
}

/// `Status`: one channel or all, with the corpus's item layout (fixed
/// `Privilege: Call`, ActionID last) and `StatusComplete` with `Items`.
pub(super) fn status(e: &Engine, r: &Req<'_>) -> Vec<Bytes> {
    let chans: Vec<ChanId> = match r.get("Channel") {
        Some(name) => match e
            .channels
            .values()
            .find(|c| c.name.eq_ignore_ascii_case(name))
        {
            Some(c) => vec![c.id],
            None => return vec![wire::error(r.aid, "No such channel").to_bytes()],
        },
        None => e.channels.keys().copied().collect(),
    };
    let items: Vec<Msg> = chans
        .into_iter()
        .filter_map(|id| e.chan(id).map(|c| (id, c)))
        .map(|(id, c)| {
            let mut m = Msg::new().h("Event", "Status").h("Privilege", "Call");
            e.snapshot_into(&mut m, "", id);
            let bridge = c
                .bridge
                .and_then(|b: BridgeId| e.bridges.get(&b))
                .map(|b| b.uniqueid.clone())
                .unwrap_or_default();
            m.h("Type", c.tech)
                .h("DNID", "")
                .h("EffectiveConnectedLineNum", c.conn_num.clone())
                .h("EffectiveConnectedLineName", c.conn_name.clone())
                .h("TimeToHangup", "0")
                .h("BridgeID", bridge)
                .h("Application", c.app.clone())
                .h("Data", c.app_data.clone())
                .h("Nativeformats", "(ulaw)")
                .h("Readformat", "ulaw")
                .h("Readtrans", "")
                .h("Writeformat", "ulaw")
                .h("Writetrans", "")
                .h("Callgroup", "0")
                .h("Pickupgroup", "0")
                .h("Seconds", (e.now - c.created).as_secs().to_string())
                .aid(r.aid)
        })
        .collect();
    let n = items.len();
    list_with(
        r,
        "Channel status will follow",
        "StatusComplete",
        items,
        |m| m.h("Items", n.to_string()),
    )
}
