//! An opt-in directory of real configuration files
//! ([`Simulator::use_config_dir`](crate::Simulator::use_config_dir)), so
//! that a deployment tool can be tested end to end: write files, reload,
//! and see the result in `PJSIPShowEndpoints`.
//!
//! What it models of Asterisk, and only that:
//! * a PJSIP reload (`module reload res_pjsip.so`, `pjsip reload`, the
//!   `Reload` action with `Module: res_pjsip.so`) re-reads `pjsip.conf` and
//!   every `pjsip_*.conf` and loads the sections with `type=endpoint`;
//! * a dialplan reload (`dialplan reload`, `module reload pbx_config.so`)
//!   re-reads `extensions.conf` and every `extensions_*.conf`;
//! * a reload fails when one of the files it reads has a line `#fail` (a
//!   stand-in for whatever Asterisk would refuse), or while
//!   [`Simulator::fail_next_reloads`](crate::Simulator::fail_next_reloads)
//!   has failures left; a failed reload keeps what the previous one loaded,
//!   as a failed sorcery reload does;
//! * `GetConfig`/`UpdateConfig` read and write files of the directory (plain
//!   file names only), written back the way `ast_config_text_file_save`
//!   writes them (`key = value`, `;` escaped).
//!
//! The parser understands what these files use: `[name]` and
//! `[name](template)` headers, `key=value` and `key => value`, `;` comments
//! with `\;` escapes, `;-- --;` block comments; `#include` lines are
//! ignored.

use std::fs;
use std::path::{Path, PathBuf};

use super::config_files::Category;

/// What a reload command reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Module {
    Pjsip,
    Dialplan,
}

impl Module {
    /// The module's file name, as Asterisk names it in messages and events.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Module::Pjsip => "res_pjsip.so",
            Module::Dialplan => "pbx_config.so",
        }
    }

    /// The module a `Reload` action or `module reload X` names, if it is
    /// one whose files the directory holds.
    pub(crate) fn from_module_name(name: &str) -> Option<Module> {
        let name = name.trim().to_ascii_lowercase();
        let name = name.strip_suffix(".so").unwrap_or(&name);
        match name {
            "res_pjsip" => Some(Module::Pjsip),
            "pbx_config" => Some(Module::Dialplan),
            _ => None,
        }
    }

    /// The module a CLI command reloads, if it is a reload command.
    pub(crate) fn from_command(words: &[&str]) -> Option<Module> {
        match words {
            ["pjsip", "reload"] => Some(Module::Pjsip),
            ["dialplan", "reload"] => Some(Module::Dialplan),
            ["module", "reload", name] => Module::from_module_name(name),
            _ => None,
        }
    }

    /// Whether `file` is one this module reads.
    fn reads(self, file: &str) -> bool {
        let (base, prefix) = match self {
            Module::Pjsip => ("pjsip.conf", "pjsip_"),
            Module::Dialplan => ("extensions.conf", "extensions_"),
        };
        file == base || (file.starts_with(prefix) && file.ends_with(".conf"))
    }
}

/// An endpoint a PJSIP reload loaded from the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadedEndpoint {
    pub(crate) name: String,
    pub(crate) transport: String,
    pub(crate) aors: String,
    pub(crate) auth: String,
    pub(crate) outbound_auth: String,
}

/// The directory and what was last loaded from it.
#[derive(Debug, Clone)]
pub(crate) struct ConfigDir {
    path: PathBuf,
    endpoints: Vec<LoadedEndpoint>,
}

/// One parsed file.
struct Parsed {
    categories: Vec<Category>,
    /// The file has a `#fail` line.
    fail: bool,
}

fn parse(text: &str) -> Parsed {
    let mut categories: Vec<Category> = Vec::new();
    let mut fail = false;
    let mut in_block_comment = false;
    for raw in text.lines() {
        let mut line = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if in_block_comment {
                if c == '-' && chars.peek() == Some(&'-') {
                    chars.next();
                    if chars.peek() == Some(&';') {
                        chars.next();
                        in_block_comment = false;
                    }
                }
                continue;
            }
            match c {
                '\\' if chars.peek() == Some(&';') => {
                    chars.next();
                    line.push(';');
                }
                ';' => {
                    let mut rest = chars.clone();
                    if rest.next() == Some('-') && rest.next() == Some('-') {
                        chars.next();
                        chars.next();
                        in_block_comment = true;
                        continue;
                    }
                    break;
                }
                _ => line.push(c),
            }
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            fail |= line.eq_ignore_ascii_case("#fail");
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                categories.push(Category {
                    name: rest[..end].trim().to_owned(),
                    vars: Vec::new(),
                });
            }
            continue;
        }
        let Some(eq) = line.find('=') else { continue };
        let key = line[..eq].trim().to_owned();
        let value = line[eq + 1..].strip_prefix('>').unwrap_or(&line[eq + 1..]);
        if let Some(cat) = categories.last_mut() {
            cat.vars.push((key, value.trim().to_owned()));
        }
    }
    Parsed { categories, fail }
}

/// The text `ast_config_text_file_save` would write for `categories`
/// (without its creation date, so that it is deterministic).
fn serialize(file: &str, categories: &[Category]) -> String {
    let mut out = format!(
        ";!\n;! Automatically generated configuration file\n;! Filename: {file}\n;! Generator: Manager\n;!\n"
    );
    for c in categories {
        out.push('\n');
        out.push('[');
        out.push_str(&c.name);
        out.push_str("]\n");
        for (k, v) in &c.vars {
            out.push_str(k);
            out.push_str(" = ");
            out.push_str(&v.replace(';', "\\;"));
            out.push('\n');
        }
    }
    out
}

/// A file name that stays inside the directory.
fn plain(file: &str) -> bool {
    !file.is_empty() && file != "." && file != ".." && !file.contains(['/', '\\', '\0'])
}

impl ConfigDir {
    /// Opens `path` and loads its endpoints, as Asterisk does at start
    /// (a `#fail` marker does not stop a start).
    pub(crate) fn open(path: PathBuf) -> Result<ConfigDir, String> {
        if !path.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        let mut dir = ConfigDir {
            path,
            endpoints: Vec::new(),
        };
        let files = dir.files_of(Module::Pjsip)?;
        dir.endpoints = endpoints_of(&files);
        Ok(dir)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Endpoints loaded by the last successful PJSIP reload.
    pub(crate) fn endpoints(&self) -> &[LoadedEndpoint] {
        &self.endpoints
    }

    /// The files `module` reads, parsed, in name order.
    fn files_of(&self, module: Module) -> Result<Vec<(String, Parsed)>, String> {
        let entries = fs::read_dir(&self.path)
            .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| module.reads(n))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let text = fs::read_to_string(self.path.join(&n))
                    .map_err(|e| format!("reading {n}: {e}"))?;
                Ok((n, parse(&text)))
            })
            .collect()
    }

    /// Re-reads what `module` reads. On failure nothing changes and the
    /// reason is returned.
    pub(crate) fn reload(&mut self, module: Module) -> Result<(), String> {
        let files = self.files_of(module)?;
        if let Some((name, _)) = files.iter().find(|(_, p)| p.fail) {
            return Err(format!("{name} has a #fail line"));
        }
        if module == Module::Pjsip {
            self.endpoints = endpoints_of(&files);
        }
        Ok(())
    }

    /// A file's categories, if the directory has it.
    pub(crate) fn read(&self, file: &str) -> Option<Vec<Category>> {
        if !plain(file) {
            return None;
        }
        let text = fs::read_to_string(self.path.join(file)).ok()?;
        Some(parse(&text).categories)
    }

    /// Writes a file (write to a temporary name, then rename, as a careful
    /// writer would).
    pub(crate) fn write(&self, file: &str, categories: &[Category]) -> Result<(), String> {
        if !plain(file) {
            return Err("Save of config failed for file".to_owned());
        }
        let tmp = self.path.join(format!(".{file}.sim-tmp"));
        fs::write(&tmp, serialize(file, categories))
            .and_then(|()| fs::rename(&tmp, self.path.join(file)))
            .map_err(|_| "Save of config failed for file".to_owned())
    }
}

fn endpoints_of(files: &[(String, Parsed)]) -> Vec<LoadedEndpoint> {
    let mut out: Vec<LoadedEndpoint> = Vec::new();
    for (_, parsed) in files {
        for c in &parsed.categories {
            let get = |key: &str| {
                c.vars
                    .iter()
                    .rev()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            if !get("type").eq_ignore_ascii_case("endpoint") {
                continue;
            }
            let endpoint = LoadedEndpoint {
                name: c.name.clone(),
                transport: get("transport"),
                aors: get("aors"),
                auth: get("auth"),
                outbound_auth: get("outbound_auth"),
            };
            // A later definition of the same endpoint replaces the earlier.
            match out.iter_mut().find(|e| e.name == endpoint.name) {
                Some(slot) => *slot = endpoint,
                None => out.push(endpoint),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_comments_and_escapes_parse_like_asterisk() {
        let p = parse(
            "; header\n[1001]\ntype=endpoint ; trailing\ncontact=sip:h:5061\\;transport=tls\n\
             ;-- block\n[hidden]\n--;\n[tmpl](!)\nexten => _X.,1,NoOp()\n #fail\n",
        );
        assert!(p.fail);
        let names: Vec<&str> = p.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["1001", "tmpl"]);
        assert_eq!(
            p.categories[0].vars,
            [
                ("type".to_owned(), "endpoint".to_owned()),
                ("contact".to_owned(), "sip:h:5061;transport=tls".to_owned())
            ]
        );
        assert_eq!(p.categories[1].vars[0].1, "_X.,1,NoOp()");
    }

    #[test]
    fn written_files_read_back_the_same() {
        let cats = vec![Category {
            name: "gw".into(),
            vars: vec![("contact".into(), "sip:h\\;x;transport=tls".into())],
        }];
        let text = serialize("a.conf", &cats);
        assert!(text.contains("contact = sip:h\\\\;x\\;transport=tls"));
        assert_eq!(
            parse(&text).categories[0].vars[0].1,
            "sip:h\\;x;transport=tls"
        );
    }

    #[test]
    fn reload_commands_are_recognised() {
        assert_eq!(
            Module::from_command(&["module", "reload", "res_pjsip.so"]),
            Some(Module::Pjsip)
        );
        assert_eq!(
            Module::from_command(&["dialplan", "reload"]),
            Some(Module::Dialplan)
        );
        assert_eq!(
            Module::from_command(&["pjsip", "reload"]),
            Some(Module::Pjsip)
        );
        assert_eq!(
            Module::from_command(&["module", "reload", "app_queue.so"]),
            None
        );
        assert!(!plain("../etc/passwd") && plain("pjsip_x.conf"));
    }
}
