//! Outbound registrations (Registry, OutboundRegistrationDetail,
//! RegistryEntry) and IAX2 peers (PeerEntry).

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    Iax2PeerListed, OutboundRegistrationChanged, OutboundRegistrationListed, RegistryEntryListed,
};

use crate::fields::{first, flag, not_null, num, parse_num, text};
use crate::values;

/// `Registry` (PJSIP, chan_sip or IAX2 outbound registration).
pub(crate) fn registry(m: &Message) -> Kind {
    let raw = text(m, "Status");
    Kind::OutboundRegistrationChanged(OutboundRegistrationChanged {
        channel_type: text(m, "ChannelType"),
        username: text(m, "Username"),
        domain: text(m, "Domain"),
        status: values::registration_status(&raw) as i32,
        status_raw: raw,
        cause: text(m, "Cause"),
    })
}

/// `OutboundRegistrationDetail` (PJSIPShowRegistrationsOutbound entry).
pub(crate) fn outbound_registration_detail(m: &Message) -> Kind {
    let raw = text(m, "Status");
    Kind::OutboundRegistrationListed(OutboundRegistrationListed {
        name: text(m, "ObjectName"),
        client_uri: text(m, "ClientUri"),
        server_uri: text(m, "ServerUri"),
        status: values::registration_status(&raw) as i32,
        status_raw: raw,
        next_reg: num(m, "NextReg"),
        expiration: num(m, "Expiration"),
        retry_interval: num(m, "RetryInterval"),
        max_retries: num(m, "MaxRetries"),
        outbound_auth: text(m, "OutboundAuth"),
        transport: text(m, "Transport"),
        endpoint: text(m, "Endpoint"),
        contact_user: text(m, "ContactUser"),
        outbound_proxy: text(m, "OutboundProxy"),
    })
}

/// `RegistryEntry` (IAXregistry; chan_sip's SIPshowregistry).
pub(crate) fn registry_entry(m: &Message) -> Kind {
    let raw = text(m, "State");
    Kind::RegistryEntryListed(RegistryEntryListed {
        host: text(m, "Host"),
        port: num(m, "Port"),
        username: text(m, "Username"),
        domain: text(m, "Domain"),
        perceived: text(m, "Perceived"),
        refresh: num(m, "Refresh"),
        state: values::registration_status(&raw) as i32,
        state_raw: raw,
    })
}

/// An IAX2 `PeerEntry`. IAXpeerlist sends `ObjectName: carrier-iax` with
/// `ObjectUsername: pbxa`; IAXpeers sends `ObjectName: carrier-iax/pbxa`.
pub(crate) fn iax2_peer_entry(m: &Message) -> Kind {
    let object = m.get("ObjectName").unwrap_or_default();
    let (name, user_in_name) = match object.split_once('/') {
        Some((name, user)) => (name, Some(user)),
        None => (object, None),
    };
    let username = m
        .get("ObjectUsername")
        .or(user_in_name)
        .unwrap_or_default()
        .to_owned();
    let raw = text(m, "Status");
    let (status, latency_ms) = values::qualify(&raw);
    Kind::Iax2PeerListed(Iax2PeerListed {
        name: name.to_owned(),
        username,
        chan_object_type: text(m, "ChanObjectType"),
        ip_address: not_null(m.get("IPaddress")).unwrap_or_default().to_owned(),
        port: not_null(first(m, &["Port", "IPport"])).and_then(parse_num),
        mask: not_null(m.get("Mask")).unwrap_or_default().to_owned(),
        dynamic: flag(m, "Dynamic"),
        trunk: flag(m, "Trunk"),
        encryption: text(m, "Encryption"),
        status: status as i32,
        latency_ms,
        status_raw: raw,
        description: text(m, "Description"),
    })
}
