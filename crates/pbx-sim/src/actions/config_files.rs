//! `GetConfig` / `UpdateConfig` over configuration files kept in memory.
//!
//! Framing and error wording follow manager.c (`action_getconfig`,
//! `handle_updates`, `action_updateconfig`): `Category-000000:` then
//! `Line-000000-000000: name=value` per variable; updates are applied to a
//! copy and only stored when every `Action-NNNNNN` succeeded.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Req;
use super::config_dir::ConfigDir;
use crate::engine::Engine;
use crate::wire;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Category {
    pub(crate) name: String,
    pub(crate) vars: Vec<(String, String)>,
}

/// The simulated `/etc/asterisk`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigStore {
    files: BTreeMap<String, Vec<Category>>,
}

impl ConfigStore {
    /// Files describing the simulated PBX: `pjsip.conf` (its endpoints and
    /// trunks), `extensions.conf`, `queues.conf`, `manager.conf`.
    pub(crate) fn for_engine(e: &Engine, username: &str) -> ConfigStore {
        let cat = |name: &str, vars: &[(&str, String)]| Category {
            name: name.to_owned(),
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        let mut pjsip = vec![cat(
            "transport-udp",
            &[
                ("type", "transport".into()),
                ("protocol", "udp".into()),
                ("bind", "0.0.0.0:5060".into()),
            ],
        )];
        for (_, ep) in e.extensions() {
            pjsip.push(cat(
                &ep.name,
                &[
                    ("type", "endpoint".into()),
                    ("context", "internal".into()),
                    ("disallow", "all".into()),
                    ("allow", "ulaw".into()),
                    ("auth", ep.name.clone()),
                    ("aors", ep.name.clone()),
                    ("callerid", format!("\"{}\" <{}>", ep.cid_name, ep.name)),
                ],
            ));
        }
        for t in &e.trunks {
            let name = &e.endpoints[t.endpoint].name;
            pjsip.push(cat(
                name,
                &[
                    ("type", "endpoint".into()),
                    ("context", "from-trunk".into()),
                    ("outbound_auth", format!("{name}-auth")),
                    ("aors", name.clone()),
                ],
            ));
            pjsip.push(cat(
                &t.reg_name(),
                &[
                    ("type", "registration".into()),
                    ("server_uri", t.server_uri()),
                    ("client_uri", t.client_uri()),
                ],
            ));
        }
        let extensions = vec![
            cat(
                "general",
                &[("static", "yes".into()), ("writeprotect", "no".into())],
            ),
            cat(
                "internal",
                &[
                    (
                        "exten",
                        "_10XX,1,NoOp(Internal call ${CALLERID(num)} -> ${EXTEN})".into(),
                    ),
                    ("same", "n,Set(CDR(userfield)=internal)".into()),
                    ("same", "n,Dial(PJSIP/${EXTEN},12,tT)".into()),
                    ("exten", "7000,1,Answer()".into()),
                    ("same", "n,Queue(support,tr,,,60)".into()),
                    ("exten", "8000,1,Answer()".into()),
                    (
                        "same",
                        "n,ConfBridge(8000,default_bridge,default_user)".into(),
                    ),
                ],
            ),
        ];
        let queues = e
            .queues
            .iter()
            .map(|q| {
                let mut vars = vec![("strategy".to_owned(), q.strategy.to_owned())];
                for m in q.members.iter().filter(|m| !m.dynamic) {
                    vars.push(("member".to_owned(), format!("{},0,{}", m.interface, m.name)));
                }
                Category {
                    name: q.name.clone(),
                    vars,
                }
            })
            .collect();
        let manager = vec![
            cat(
                "general",
                &[("enabled", "yes".into()), ("port", "5038".into())],
            ),
            cat(username, &[("read", "all".into()), ("write", "all".into())]),
        ];
        let mut files = BTreeMap::new();
        files.insert("pjsip.conf".to_owned(), pjsip);
        files.insert("extensions.conf".to_owned(), extensions);
        files.insert("queues.conf".to_owned(), queues);
        files.insert("manager.conf".to_owned(), manager);
        ConfigStore { files }
    }

    /// A file's categories: from the configuration directory when it has
    /// the file, else from memory.
    fn load(&self, dir: Option<&ConfigDir>, file: &str) -> Option<Vec<Category>> {
        dir.and_then(|d| d.read(file))
            .or_else(|| self.files.get(file).cloned())
    }

    pub(super) fn get_config(&self, r: &Req<'_>, dir: Option<&ConfigDir>) -> Vec<Bytes> {
        let Some(file) = r.get("Filename") else {
            return vec![wire::error(r.aid, "Filename not specified").to_bytes()];
        };
        let Some(cats) = self.load(dir, file) else {
            return vec![wire::error(r.aid, "Config file not found").to_bytes()];
        };
        let only = r.get("Category");
        let mut m = wire::response("Success", r.aid);
        let mut n = 0;
        for c in cats.iter().filter(|c| only.is_none_or(|o| o == c.name)) {
            m.push(format!("Category-{n:06}"), c.name.clone());
            for (line, (k, v)) in c.vars.iter().enumerate() {
                m.push(format!("Line-{n:06}-{line:06}"), format!("{k}={v}"));
            }
            n += 1;
        }
        if only.is_some() && n == 0 {
            // manager.c appends a bare "No categories found" line (no colon);
            // write it raw, exactly.
            let mut raw = m.to_bytes().to_vec();
            raw.truncate(raw.len() - 2);
            raw.extend_from_slice(b"No categories found\r\n\r\n");
            return vec![Bytes::from(raw)];
        }
        vec![m.to_bytes()]
    }

    /// Applies an `UpdateConfig`; returns the response and the module to
    /// reload, if any. With a configuration directory the result is written
    /// there.
    pub(super) fn update_config(
        &mut self,
        r: &Req<'_>,
        dir: Option<&ConfigDir>,
    ) -> (Vec<Bytes>, Option<String>) {
        let err = |msg: &str| (vec![wire::error(r.aid, msg).to_bytes()], None);
        let (Some(src), Some(dst)) = (r.get("SrcFilename"), r.get("DstFilename")) else {
            return err("Filename not specified");
        };
        let Some(mut cats) = self.load(dir, src) else {
            return err("Config file not found");
        };
        if let Err(msg) = apply_updates(&mut cats, r) {
            return err(msg);
        }
        match dir {
            Some(d) => {
                if let Err(msg) = d.write(dst, &cats) {
                    return err(&msg);
                }
            }
            None => {
                self.files.insert(dst.to_owned(), cats);
            }
        }
        let reload = r
            .get("Reload")
            .filter(|v| {
                !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "no" | "false" | "0" | "off"
                )
            })
            .map(str::to_owned);
        (vec![wire::response("Success", r.aid).to_bytes()], reload)
    }
}

/// `handle_updates`: `Action-NNNNNN` with `Cat-`, `Var-`, `Value-`,
/// `Match-`, `Line-`, `Options-` of the same number.
fn apply_updates(cats: &mut Vec<Category>, r: &Req<'_>) -> Result<(), &'static str> {
    for x in 0..100_000 {
        let field = |name: &str| r.msg.get(&format!("{name}-{x:06}"));
        let Some(action) = field("Action").filter(|a| !a.is_empty()) else {
            break;
        };
        let cat = field("Cat")
            .filter(|c| !c.is_empty())
            .ok_or("Category not specified")?;
        let var = field("Var").unwrap_or_default();
        let value = field("Value").unwrap_or_default();
        let value = value.strip_prefix('>').unwrap_or(value);
        let matching = field("Match").filter(|m| !m.is_empty());
        let line = field("Line").and_then(|l| l.trim().parse::<usize>().ok());
        let options = field("Options").unwrap_or_default().to_ascii_lowercase();
        let allow_dups = options.split(',').any(|o| o.trim() == "allowdups");
        let find = |cats: &Vec<Category>| cats.iter().position(|c| c.name == cat);
        match action.to_ascii_lowercase().as_str() {
            "newcat" => {
                if !allow_dups && find(cats).is_some() {
                    return Err("Create category did not complete successfully");
                }
                let new = Category {
                    name: cat.to_owned(),
                    vars: Vec::new(),
                };
                match matching.and_then(|m| cats.iter().position(|c| c.name == m)) {
                    Some(at) => cats.insert(at, new),
                    None if matching.is_some() => {
                        return Err("Create category did not complete successfully");
                    }
                    None => cats.push(new),
                }
            }
            "renamecat" => {
                if value.is_empty() {
                    return Err("Problem with category, value, or line (if required)");
                }
                let mut found = false;
                for c in cats.iter_mut().filter(|c| c.name == cat) {
                    c.name = value.to_owned();
                    found = true;
                }
                if !found {
                    return Err("Given category does not exist");
                }
            }
            "delcat" => {
                // One category per action, the first of that name (pjsip
                // files repeat names: endpoint and aor share one).
                let at = find(cats).ok_or("Given category does not exist")?;
                cats.remove(at);
            }
            "emptycat" => {
                let mut found = false;
                for c in cats.iter_mut().filter(|c| c.name == cat) {
                    c.vars.clear();
                    found = true;
                }
                if !found {
                    return Err("Given category does not exist");
                }
            }
            "update" => {
                if var.is_empty() {
                    return Err("Problem with category, value, or line (if required)");
                }
                find(cats).ok_or("Given category does not exist")?;
                let mut updated = false;
                for c in cats.iter_mut().filter(|c| c.name == cat) {
                    if let Some(slot) = c
                        .vars
                        .iter_mut()
                        .find(|(k, v)| k == var && matching.is_none_or(|m| m == v))
                    {
                        slot.1 = value.to_owned();
                        updated = true;
                    }
                }
                if !updated {
                    return Err("Update did not complete successfully");
                }
            }
            "delete" => {
                if var.is_empty() && line.is_none() {
                    return Err("Problem with category, value, or line (if required)");
                }
                find(cats).ok_or("Given category does not exist")?;
                let mut deleted = false;
                for c in cats.iter_mut().filter(|c| c.name == cat) {
                    let before = c.vars.len();
                    if var.is_empty() {
                        if let Some(l) = line.filter(|&l| l < c.vars.len()) {
                            c.vars.remove(l);
                        }
                    } else {
                        c.vars
                            .retain(|(k, v)| !(k == var && matching.is_none_or(|m| m == v)));
                    }
                    deleted |= c.vars.len() != before;
                }
                if !deleted && !options.contains("ignoreerror") {
                    return Err("Update did not complete successfully");
                }
            }
            "append" => {
                if var.is_empty() {
                    return Err("Problem with category, value, or line (if required)");
                }
                // The first category of that name, as `ast_category_get` finds.
                let at = find(cats).ok_or("Given category does not exist")?;
                cats[at].vars.push((var.to_owned(), value.to_owned()));
            }
            "insert" => {
                let Some(l) = line.filter(|_| !var.is_empty()) else {
                    return Err("Problem with category, value, or line (if required)");
                };
                let mut found = false;
                for c in cats.iter_mut().filter(|c| c.name == cat) {
                    let at = l.min(c.vars.len());
                    c.vars.insert(at, (var.to_owned(), value.to_owned()));
                    found = true;
                }
                if !found {
                    return Err("Given category does not exist");
                }
            }
            _ => return Err("Unknown action command"),
        }
    }
    Ok(())
}
