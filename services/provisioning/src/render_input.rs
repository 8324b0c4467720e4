//! From the database to [`render::model::RenderInput`]: what one PBX should
//! run.
//!
//! An entity is rendered for a PBX when it has no assignment rows (every
//! PBX) or one naming that PBX. Only live things are rendered: disabled
//! gateways, suspended customers (with their extensions) and routes whose
//! gateway is not rendered for the PBX are left out; a blocked or
//! unallocated DID goes to the "invalid number" message. Secrets are
//! decrypted here, the one place besides the PBX registry that needs them.
//! Lists are sorted so the same data gives the same input (and so
//! byte-identical files).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::db::args;
use crate::entities::{EXTENSION_SECRET, GATEWAY_SECRET};
use crate::error::Error;
use crate::model::{
    Customer, CustomerType, Did, DidStatus, Extension, Gateway, GatewayStatus, PbxServer, Provider,
    Route, Status, Transport, default_codecs,
};
use crate::render::model as rm;
use crate::service::Provisioning;
use crate::store::Store;

/// Splits `"Name" <number>` (or `Name <number>`, or just a name or a number)
/// into name and number.
fn split_caller_id(caller_id: &str) -> (String, String) {
    let text = caller_id.trim();
    if let (Some(open), true) = (text.rfind('<'), text.ends_with('>')) {
        let name = text[..open].trim().trim_matches('"').trim().to_owned();
        let number = text[open + 1..text.len() - 1].trim().to_owned();
        return (name, number);
    }
    let is_number = !text.is_empty()
        && text
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit());
    if is_number {
        (String::new(), text.to_owned())
    } else {
        (text.trim_matches('"').to_owned(), String::new())
    }
}

fn transport(t: Transport) -> rm::Transport {
    match t {
        Transport::Udp => rm::Transport::Udp,
        Transport::Tcp => rm::Transport::Tcp,
        Transport::Tls => rm::Transport::Tls,
    }
}

fn small(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl Provisioning {
    /// What PBX `pbx_id` of `tenant` should run, for the config renderer.
    ///
    /// # Errors
    /// `NotFound` for a PBX not in the tenant; `Crypto` if a stored secret
    /// does not decrypt; store errors.
    pub async fn load_render_input(
        &self,
        tenant: &str,
        pbx_id: Uuid,
    ) -> Result<rm::RenderInput, Error> {
        let db = &self.store.db;
        let pbx: PbxServer =
            Store::get(db.exec(), tenant, pbx_id)
                .await?
                .ok_or(Error::NotFound {
                    entity: "pbx_server",
                })?;

        let mut assigned: HashMap<(String, Uuid), HashSet<Uuid>> = HashMap::new();
        for r in db
            .exec()
            .fetch_all(
                "SELECT entity, entity_id, pbx_id FROM pbx_assignments WHERE tenant = $1",
                args![tenant],
            )
            .await?
        {
            assigned
                .entry((r.get("entity")?, r.get("entity_id")?))
                .or_default()
                .insert(r.get("pbx_id")?);
        }
        let here = |entity: &str, id: Uuid| {
            assigned
                .get(&(entity.to_owned(), id))
                .is_none_or(|pbxs| pbxs.contains(&pbx_id))
        };
        let secrets = |table: &'static str, column: &'static str| async move {
            let mut map = HashMap::new();
            for r in db
                .exec()
                .fetch_all(
                    &format!("SELECT id, {column} AS s FROM {table} WHERE tenant = $1"),
                    args![tenant],
                )
                .await?
            {
                let sealed: Option<Vec<u8>> = r.get("s")?;
                if let Some(sealed) = sealed {
                    map.insert(r.get::<Uuid>("id")?, sealed);
                }
            }
            Ok::<_, Error>(map)
        };

        let providers: HashMap<Uuid, String> = Store::all::<Provider>(db.exec(), tenant)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect();
        let gateway_secrets = secrets("gateways", "reg_secret_enc").await?;
        let mut gateways = Vec::new();
        let mut gateway_names = HashMap::new();
        for g in Store::all::<Gateway>(db.exec(), tenant).await? {
            if g.status != GatewayStatus::Active || !here("gateway", g.id) {
                continue;
            }
            let registration = match (&g.registration_username, gateway_secrets.get(&g.id)) {
                (Some(username), Some(sealed)) => Some(rm::Registration {
                    username: username.clone(),
                    secret: self.cipher.open(GATEWAY_SECRET, g.id, sealed)?,
                }),
                _ => None,
            };
            gateway_names.insert(g.id, g.name.clone());
            gateways.push(rm::Gateway {
                name: g.name,
                provider: g
                    .provider_id
                    .and_then(|p| providers.get(&p).cloned())
                    .unwrap_or_default(),
                host: g.ip_address,
                port: u16::try_from(g.port).unwrap_or(5060),
                transport: transport(g.transport),
                codecs: g.codecs,
                tech_prefix: g.tech_prefix,
                registration,
            });
        }

        let customers: HashMap<Uuid, Customer> = Store::all::<Customer>(db.exec(), tenant)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut customer_trunks: Vec<rm::CustomerTrunk> = customers
            .values()
            .filter(|c| {
                c.kind == CustomerType::Trunk
                    && c.status == Status::Active
                    && here("customer", c.id)
            })
            .filter_map(|c| {
                Some(rm::CustomerTrunk {
                    code: c.code.clone(),
                    name: c.name.clone(),
                    trunk_ip: c.trunk_ip.clone()?,
                    channel_limit: c.channel_limit.map(small),
                    codecs: default_codecs(),
                })
            })
            .collect();
        customer_trunks.sort_by(|a, b| a.code.cmp(&b.code));
        let trunk_codes: HashSet<&str> = customer_trunks.iter().map(|t| t.code.as_str()).collect();

        let extension_secrets = secrets("extensions", "secret_enc").await?;
        let mut extensions = Vec::new();
        let mut extension_numbers = HashSet::new();
        for e in Store::all::<Extension>(db.exec(), tenant).await? {
            let customer = e.customer_id.and_then(|c| customers.get(&c));
            if customer.is_some_and(|c| c.status != Status::Active) || !here("extension", e.id) {
                continue;
            }
            let sealed = extension_secrets
                .get(&e.id)
                .ok_or_else(|| Error::Crypto(EXTENSION_SECRET.to_owned()))?;
            let (caller_id_name, caller_id_number) = split_caller_id(&e.caller_id);
            extension_numbers.insert(e.extension.clone());
            extensions.push(rm::Extension {
                number: e.extension.clone(),
                secret: self.cipher.open(EXTENSION_SECRET, e.id, sealed)?,
                caller_id_name,
                caller_id_number,
                codecs: e.codecs,
                max_contacts: small(e.max_contacts),
                customer_code: customer.map(|c| c.code.clone()).unwrap_or_default(),
            });
        }

        let mut routes = Vec::new();
        for r in Store::all::<Route>(db.exec(), tenant).await? {
            let Some(gateway) = gateway_names.get(&r.gateway_id) else {
                continue;
            };
            if !here("route", r.id) {
                continue;
            }
            routes.push(rm::Route {
                name: r.name,
                pattern: r.pattern,
                gateway: gateway.clone(),
                priority: small(r.priority),
                tech_prefix: r.tech_prefix,
                strip_digits: small(r.strip_digits),
            });
        }

        let mut allocations: HashMap<Uuid, (Uuid, String)> = HashMap::new();
        for r in db
            .exec()
            .fetch_all(
                "SELECT did_id, customer_id, destination FROM customer_dids WHERE tenant = $1",
                args![tenant],
            )
            .await?
        {
            allocations.insert(
                r.get("did_id")?,
                (r.get("customer_id")?, r.get("destination")?),
            );
        }
        let mut dids = Vec::new();
        for d in Store::all::<Did>(db.exec(), tenant).await? {
            if !here("did", d.id) {
                continue;
            }
            let allocation = allocations
                .get(&d.id)
                .filter(|_| d.status == DidStatus::Allocated)
                .and_then(|(customer, destination)| Some((customers.get(customer)?, destination)));
            let (customer_code, destination) = match allocation {
                Some((c, dest)) if dest == "trunk" && trunk_codes.contains(c.code.as_str()) => (
                    Some(c.code.clone()),
                    rm::DidDestination::CustomerTrunk(c.code.clone()),
                ),
                Some((c, dest)) if dest != "trunk" && extension_numbers.contains(dest.as_str()) => {
                    (
                        Some(c.code.clone()),
                        rm::DidDestination::Extension(dest.clone()),
                    )
                }
                _ => (None, rm::DidDestination::Unallocated),
            };
            dids.push(rm::Did {
                number: d.number,
                customer_code,
                destination,
            });
        }

        Ok(rm::RenderInput {
            pbx: rm::PbxInfo {
                id: pbx.id.to_string(),
                name: pbx.name,
            },
            gateways,
            customer_trunks,
            extensions,
            routes,
            dids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_split_into_name_and_number() {
        assert_eq!(
            split_caller_id("\"Alice\" <100>"),
            ("Alice".into(), "100".into())
        );
        assert_eq!(
            split_caller_id("Bob <+4930123>"),
            ("Bob".into(), "+4930123".into())
        );
        assert_eq!(
            split_caller_id("+4930123"),
            (String::new(), "+4930123".into())
        );
        assert_eq!(
            split_caller_id("Reception"),
            ("Reception".into(), String::new())
        );
        assert_eq!(split_caller_id(""), (String::new(), String::new()));
    }
}
