//! AMI event name → typed kind. One module per domain, like the `.proto`
//! files.
//!
//! Names are matched case-insensitively (`NewCallerid` was `Newcallerid` in
//! old versions) and a few renamed events of Asterisk ≤ 11 are recognised
//! (`Join`/`Leave`, `QueueMemberPaused`, `Dial` with `SubEvent`, `Hold` with
//! `Status: Off`, `MusicOnHold` with `State`).

mod bridge;
mod cdr;
mod channel;
mod conference;
mod endpoint;
mod pbx;
mod quality;
mod queue;
mod registration;

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{Header, RtcpDirection, Unmapped};

use crate::Ctx;

/// The longest event name this module knows is well under this; a longer
/// name cannot match and is unmapped without being lower-cased.
const MAX_NAME: usize = 48;

/// The typed kind of an event or list item, or `None` when it has none.
pub(crate) fn typed(m: &Message, ctx: &Ctx<'_>) -> Option<Kind> {
    let name = m.name();
    let mut buf = [0u8; MAX_NAME];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    Some(match lower {
        // pbx
        "fullybooted" => pbx::fully_booted(m),
        "shutdown" => pbx::shutdown(m),
        "reload" => pbx::reload(m),

        // endpoint
        "endpointlist" => endpoint::endpoint_list(m),
        "devicestatechange" => endpoint::device_state_change(m),
        "peerstatus" => endpoint::peer_status(m),
        "contactstatus" => endpoint::contact_status(m),
        "contactlist" | "contactstatusdetail" => endpoint::contact_entry(m),
        "peerentry" => return peer_entry(m, ctx),

        // registration
        "registry" => registration::registry(m),
        "outboundregistrationdetail" => registration::outbound_registration_detail(m),
        "registryentry" => registration::registry_entry(m),

        // channel
        "newchannel" => channel::newchannel(m),
        "coreshowchannel" => channel::core_show_channel(m),
        "newstate" => channel::newstate(m),
        "newcallerid" => channel::new_callerid(m),
        "newconnectedline" => channel::new_connected_line(m),
        "hangup" => channel::hangup(m),
        "dialbegin" => channel::dial_begin(m),
        "dialend" => channel::dial_end(m),
        "dial" => return channel::legacy_dial(m),
        "hold" => channel::hold(m),
        "unhold" => channel::unhold(m),
        "blindtransfer" => channel::blind_transfer(m),
        "attendedtransfer" => channel::attended_transfer(m),
        "musiconholdstart" => channel::moh_start(m),
        "musiconholdstop" => channel::moh_stop(m),
        "musiconhold" => return channel::legacy_moh(m),

        // bridge
        "bridgecreate" => bridge::create(m),
        "bridgeenter" => bridge::enter(m),
        "bridgeleave" => bridge::leave(m),
        "bridgedestroy" => bridge::destroy(m),
        "bridgelistitem" => bridge::list_item(m),

        // queue
        "queuecallerjoin" | "join" => queue::caller_join(m),
        "queuecallerleave" | "leave" => queue::caller_leave(m),
        "queuecallerabandon" => queue::caller_abandon(m),
        "queuememberadded" => queue::member_added(m),
        "queuememberremoved" => queue::member_removed(m),
        "queuememberstatus" => queue::member_status(m),
        "queuememberpause" | "queuememberpaused" => queue::member_pause(m),
        "agentcalled" => queue::agent_called(m),
        "agentconnect" => queue::agent_connect(m),
        "agentcomplete" => queue::agent_complete(m),
        "queueparams" => queue::params(m),
        "queuemember" => queue::member_entry(m),
        "queueentry" => queue::entry(m),

        // conference
        "confbridgestart" => conference::start(m),
        "confbridgejoin" => conference::join(m),
        "confbridgeleave" => conference::leave(m),
        "confbridgeend" => conference::end(m),
        "confbridgetalking" => conference::talking(m),
        "confbridgemute" => conference::mute(m),
        "confbridgeunmute" => conference::unmute(m),
        "confbridgelist" => conference::list_entry(m),
        "confbridgelistrooms" => conference::room_entry(m),

        // quality
        "rtcpsent" => quality::rtcp(m, RtcpDirection::Sent),
        "rtcpreceived" => quality::rtcp(m, RtcpDirection::Received),

        // cdr
        "cdr" => cdr::cdr(m),

        _ => return None,
    })
}

/// `PeerEntry` is chan_sip's (SIPpeers) or IAX2's (IAXpeerlist: `IAX`,
/// IAXpeers: `IAX2`), told apart by `Channeltype`/`ChannelType`, else by the
/// list action that asked.
fn peer_entry(m: &Message, ctx: &Ctx<'_>) -> Option<Kind> {
    let tech = m.get("ChannelType").unwrap_or_default();
    let is_sip = if tech.eq_ignore_ascii_case("SIP") {
        true
    } else if tech.eq_ignore_ascii_case("IAX") || tech.eq_ignore_ascii_case("IAX2") {
        false
    } else {
        let action = ctx.sync.map(|s| s.action).unwrap_or_default();
        if action.eq_ignore_ascii_case("SIPpeers") {
            true
        } else if action.eq_ignore_ascii_case("IAXpeerlist")
            || action.eq_ignore_ascii_case("IAXpeers")
        {
            false
        } else {
            return None;
        }
    };
    Some(if is_sip {
        endpoint::sip_peer_entry(m)
    } else {
        registration::iax2_peer_entry(m)
    })
}

/// The whole message, name and headers in order.
pub(crate) fn unmapped(m: &Message) -> Kind {
    Kind::Unmapped(Unmapped {
        name: m.name().to_owned(),
        headers: m
            .headers()
            .map(|h| Header {
                key: h.key.to_owned(),
                value: h.value.map(str::to_owned),
            })
            .collect(),
    })
}
