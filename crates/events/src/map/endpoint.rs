//! PJSIP endpoints and contacts, device states, chan_sip peers, PeerStatus.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    ContactListed, ContactStatusChanged, DeviceStateChanged, EndpointListed, Iax2PeerStatusChanged,
    PeerStatusChanged, SipPeerListed,
};

use crate::fields::{first, flag, list, not_null, num, num_any, parse_num, text, text_any};
use crate::values;

/// `EndpointList` (PJSIPShowEndpoints entry).
pub(crate) fn endpoint_list(m: &Message) -> Kind {
    let raw = text(m, "DeviceState");
    Kind::EndpointListed(EndpointListed {
        name: text(m, "ObjectName"),
        transport: text(m, "Transport"),
        aor: text(m, "Aor"),
        auths: list(m, "Auths"),
        outbound_auths: list(m, "OutboundAuths"),
        contacts: list(m, "Contacts"),
        device_state: values::device_state(&raw) as i32,
        device_state_raw: raw,
        active_channels: num(m, "ActiveChannels"),
    })
}

/// `DeviceStateChange`, live or a `DeviceStateList` entry.
pub(crate) fn device_state_change(m: &Message) -> Kind {
    let raw = text(m, "State");
    Kind::DeviceStateChanged(DeviceStateChanged {
        device: text(m, "Device"),
        state: values::device_state(&raw) as i32,
        state_raw: raw,
    })
}

/// `PeerStatus`: IAX2 peers go to the registration domain, others stay here.
pub(crate) fn peer_status(m: &Message) -> Kind {
    let channel_type = text(m, "ChannelType");
    let peer = text(m, "Peer");
    let raw = text(m, "PeerStatus");
    let status = values::peer_status(&raw) as i32;
    let is_iax2 = channel_type.eq_ignore_ascii_case("IAX2")
        || (channel_type.is_empty() && peer.to_ascii_uppercase().starts_with("IAX2/"));
    if is_iax2 {
        return Kind::Iax2PeerStatusChanged(Iax2PeerStatusChanged {
            peer,
            status,
            status_raw: raw,
            cause: text(m, "Cause"),
            address: text(m, "Address"),
            port: num(m, "Port"),
            time_ms: num(m, "Time"),
        });
    }
    Kind::PeerStatusChanged(PeerStatusChanged {
        channel_type,
        peer,
        status,
        status_raw: raw,
        cause: text(m, "Cause"),
        address: text(m, "Address"),
        port: num(m, "Port"),
        time_ms: num(m, "Time"),
    })
}

/// A chan_sip `PeerEntry` (SIPpeers).
pub(crate) fn sip_peer_entry(m: &Message) -> Kind {
    let raw = text(m, "Status");
    let (status, latency_ms) = values::qualify(&raw);
    Kind::SipPeerListed(SipPeerListed {
        name: text(m, "ObjectName"),
        chan_object_type: text(m, "ChanObjectType"),
        ip_address: not_null(m.get("IPaddress")).unwrap_or_default().to_owned(),
        port: not_null(first(m, &["IPport", "Port"])).and_then(parse_num),
        dynamic: flag(m, "Dynamic"),
        status: status as i32,
        latency_ms,
        status_raw: raw,
        description: text(m, "Description"),
        account_code: text(m, "Accountcode"),
        realtime_device: text(m, "RealtimeDevice"),
    })
}

/// `ContactStatus`.
pub(crate) fn contact_status(m: &Message) -> Kind {
    // The event names its status `ContactStatus`; `Status` is a fallback.
    let raw = text_any(m, &["ContactStatus", "Status"]);
    Kind::ContactStatusChanged(ContactStatusChanged {
        aor: text(m, "AOR"),
        uri: text(m, "URI"),
        endpoint_name: text(m, "EndpointName"),
        status: values::contact_status(&raw) as i32,
        status_raw: raw,
        rtt_usec: num(m, "RoundtripUsec"),
        user_agent: text(m, "UserAgent"),
        via_address: text(m, "ViaAddress"),
        call_id: text(m, "CallID"),
        reg_expire: num(m, "RegExpire"),
    })
}

/// `ContactList` (PJSIPShowContacts) and `ContactStatusDetail`
/// (PJSIPShowEndpoint, PJSIPShowRegistrationInboundContactStatuses) entries:
/// the same contact under two sets of header names.
pub(crate) fn contact_entry(m: &Message) -> Kind {
    let id = text_any(m, &["ObjectName", "ID"]);
    let aor = match m.get("AOR") {
        Some(aor) => aor.to_owned(),
        // Contact ids are `<aor>;@<hash>` (dynamic) or `<aor>@@<hash>`.
        None => id
            .split_once(";@")
            .or_else(|| id.split_once("@@"))
            .map(|(aor, _)| aor.to_owned())
            .unwrap_or_default(),
    };
    let via_address = match (m.get("ViaAddr"), m.get("ViaPort")) {
        (Some(addr), Some(port)) if !addr.is_empty() && !port.is_empty() => {
            format!("{addr}:{port}")
        }
        (Some(addr), _) => addr.to_owned(),
        _ => text(m, "ViaAddress"),
    };
    let raw = text(m, "Status");
    Kind::ContactListed(ContactListed {
        id,
        aor,
        endpoint: text_any(m, &["Endpoint", "EndpointName"]),
        uri: text(m, "Uri"),
        status: values::contact_status(&raw) as i32,
        status_raw: raw,
        rtt_usec: num(m, "RoundtripUsec"),
        user_agent: text(m, "UserAgent"),
        via_address,
        call_id: text(m, "CallId"),
        reg_server: text(m, "RegServer"),
        expiration_time: num_any(m, &["ExpirationTime", "RegExpire"]),
        qualify_frequency: num(m, "QualifyFrequency"),
        qualify_timeout: text(m, "QualifyTimeout"),
    })
}
