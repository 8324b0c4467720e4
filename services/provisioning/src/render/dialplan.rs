//! The two `extensions_*.conf` dialplan files, `#include`d into the PBX's
//! `extensions.conf`.
//!
//! Routes: `[from-internal]` holds one extension per dial pattern. Routes that
//! share a pattern become one failover sequence in priority order: the next
//! gateway is tried only when the previous one could not take the call
//! (`CHANUNAVAIL`, `CONGESTION`), never after a busy or unanswered callee.
//! Asterisk picks among patterns by specificity, not by file order, so the
//! route priority only orders gateways within a pattern.
//!
//! DIDs: `[from-trunk]` holds one exact extension per DID; exact matches win
//! over the `_X.` / `_+X.` catch-alls, which send every other number to the
//! "not in service" message. Calls to trunk customers go through one
//! `[ringside-trunk-<code>]` context per customer, which enforces the
//! channel limit with `GROUP`/`GROUP_COUNT`, so changing a limit rewrites a
//! few lines rather than one per DID.

use super::model::{CustomerTrunk, Did, DidDestination, PbxInfo, Route};
use super::pjsip::{FROM_INTERNAL, FROM_TRUNK, header, wln};
use super::syntax::{self, comment_text};
use std::fmt::Write as _;

/// Context that plays the "number not in service" message.
pub const INVALID_NUMBER: &str = "ringside-invalid-number";

/// Group category counting a trunk customer's inbound calls.
const TRUNK_GROUP: &str = "ringside-trunk";

/// One route with the section of its gateway and the gateway's tech prefix.
pub(crate) struct RouteRef<'a> {
    pub route: &'a Route,
    /// The route's pattern in canonical form (see `syntax::canonical_pattern`).
    pub pattern: String,
    pub gateway_section: &'a str,
    pub gateway_name: &'a str,
    pub gateway_prefix: &'a str,
}

/// `extensions_routes.conf`; `groups` is one list per pattern, each sorted by
/// priority, the groups sorted by (lowest priority, pattern).
pub(crate) fn routes(pbx: &PbxInfo, groups: &[Vec<RouteRef<'_>>]) -> String {
    let mut out = String::with_capacity(groups.len() * 400 + 300);
    header(
        &mut out,
        "extensions_routes.conf",
        "extensions.conf",
        pbx,
        "outbound routes",
    );
    wln!(out);
    wln!(out, "[{FROM_INTERNAL}]");
    for group in groups {
        let Some(first) = group.first() else { continue };
        let pattern = &first.pattern;
        wln!(out);
        for r in group {
            wln!(
                out,
                "; {pattern} priority {}: route \"{}\" via gateway \"{}\"",
                r.route.priority,
                comment_text(&r.route.name, 80),
                comment_text(r.gateway_name, 80)
            );
        }
        for (i, r) in group.iter().enumerate() {
            let prefix = if r.route.tech_prefix.is_empty() {
                r.gateway_prefix
            } else {
                &r.route.tech_prefix
            };
            let number = match r.route.strip_digits {
                0 => "${EXTEN}".to_owned(),
                n => format!("${{EXTEN:{n}}}"),
            };
            let dial = format!("Dial(PJSIP/{prefix}{number}@{})", r.gateway_section);
            if i == 0 {
                wln!(out, "exten => {pattern},1,{dial}");
            } else {
                wln!(
                    out,
                    " same => n,ExecIf($[\"${{DIALSTATUS}}\" != \"CHANUNAVAIL\" & \"${{DIALSTATUS}}\" != \"CONGESTION\"]?Hangup())"
                );
                wln!(out, " same => n,{dial}");
            }
        }
        wln!(out, " same => n,Hangup()");
    }
    out
}

/// `extensions_dids.conf`; `dids` sorted by number, `trunks` by code.
pub(crate) fn dids(pbx: &PbxInfo, dids: &[&Did], trunks: &[&CustomerTrunk]) -> String {
    let mut out = String::with_capacity(dids.len() * 80 + trunks.len() * 400 + 800);
    header(
        &mut out,
        "extensions_dids.conf",
        "extensions.conf",
        pbx,
        "inbound numbers (DIDs)",
    );
    wln!(out);
    wln!(out, "[{FROM_TRUNK}]");
    for did in dids {
        let n = &did.number;
        match &did.destination {
            DidDestination::Extension(ext) => {
                wln!(out, "exten => {n},1,Dial(PJSIP/{ext},30)");
                wln!(out, " same => n,Hangup()");
            }
            DidDestination::CustomerTrunk(code) => {
                wln!(
                    out,
                    "exten => {n},1,Gosub({},s,1(${{EXTEN}}))",
                    syntax::trunk_context(code)
                );
                wln!(out, " same => n,Hangup()");
            }
            DidDestination::Unallocated => {
                wln!(out, "exten => {n},1,Goto({INVALID_NUMBER},s,1)");
            }
        }
    }
    wln!(out, "; Any other number is not in service.");
    wln!(out, "exten => _X.,1,Goto({INVALID_NUMBER},s,1)");
    wln!(out, "exten => _+X.,1,Goto({INVALID_NUMBER},s,1)");
    wln!(out);
    wln!(out, "[{INVALID_NUMBER}]");
    wln!(out, "exten => s,1,Progress()");
    wln!(out, " same => n,Playback(ss-noservice,noanswer)");
    wln!(out, " same => n,Hangup()");
    for trunk in trunks {
        let code = &trunk.code;
        wln!(out);
        wln!(out, "[{}]", syntax::trunk_context(code));
        wln!(
            out,
            "; Customer {code} \"{}\": ARG1 is the dialled DID",
            comment_text(&trunk.name, 80)
        );
        match trunk.channel_limit {
            Some(limit) => {
                wln!(out, "exten => s,1,Set(GROUP({TRUNK_GROUP})={code})");
                wln!(
                    out,
                    " same => n,GotoIf($[${{GROUP_COUNT({code}@{TRUNK_GROUP})}} > {limit}]?full)"
                );
                wln!(
                    out,
                    " same => n,Dial(PJSIP/${{ARG1}}@{})",
                    syntax::trunk_section(code)
                );
                wln!(out, " same => n,Return()");
                wln!(out, " same => n(full),Busy(5)");
                wln!(out, " same => n,Return()");
            }
            None => {
                wln!(
                    out,
                    "exten => s,1,Dial(PJSIP/${{ARG1}}@{})",
                    syntax::trunk_section(code)
                );
                wln!(out, " same => n,Return()");
            }
        }
    }
    out
}
