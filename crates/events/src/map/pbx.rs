//! FullyBooted, Shutdown, Reload.

use ringside_ami::Message;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{FullyBooted, Reload, Shutdown};

use crate::fields::{flag, num, text};

pub(crate) fn fully_booted(m: &Message) -> Kind {
    Kind::FullyBooted(FullyBooted {
        uptime_seconds: num(m, "Uptime"),
        last_reload_seconds: num(m, "LastReload"),
        status: text(m, "Status"),
    })
}

pub(crate) fn shutdown(m: &Message) -> Kind {
    let shutdown = text(m, "Shutdown");
    let clean = match shutdown.trim().to_ascii_lowercase().as_str() {
        "cleanly" => Some(true),
        "uncleanly" => Some(false),
        _ => None,
    };
    Kind::Shutdown(Shutdown {
        clean,
        restart: flag(m, "Restart"),
        shutdown,
    })
}

pub(crate) fn reload(m: &Message) -> Kind {
    Kind::Reload(Reload {
        module: text(m, "Module"),
        status: text(m, "Status"),
        message: text(m, "Message"),
    })
}
