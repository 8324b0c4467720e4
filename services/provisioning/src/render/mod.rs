//! Asterisk configuration rendering: the admin data of one PBX in, the five
//! files an ISP-style Asterisk includes out.
//!
//! | file | holds | reloaded by |
//! |---|---|---|
//! | `pjsip_gateways.conf` | endpoint, aor, identify (+ auth, registration) per carrier gateway | `module reload res_pjsip.so` |
//! | `pjsip_customer_trunks.conf` | endpoint, aor, identify per trunk customer | `module reload res_pjsip.so` |
//! | `pjsip_extensions.conf` | endpoint, auth, aor per extension | `module reload res_pjsip.so` |
//! | `extensions_routes.conf` | `[from-internal]`: outbound routes | `dialplan reload` |
//! | `extensions_dids.conf` | `[from-trunk]`: DIDs to extensions, trunks or "not in service" | `dialplan reload` |
//!
//! Rendering is a pure function of [`RenderInput`]: no clock, no I/O, no
//! hash-map iteration order (every list is sorted by a key lint has proven
//! unique), so the same data always gives the same bytes and a deployment's
//! diff shows only real changes. That is also what makes incremental apply
//! work: a caller-ID edit changes one file, and [`diff`] asks for one reload.
//!
//! Safety: [`render`] refuses (with every problem listed) input that [`lint`]
//! rejects, and re-reads its own output with [`lint_rendered`] before
//! returning it, so no operator text can add a line, a section or a comment
//! (see [`syntax`] for the escaping rules).

mod dialplan;
mod diff;
mod lint;
pub mod model;
mod pjsip;
pub mod syntax;

use std::collections::BTreeMap;

pub use diff::{ConfigDiff, FileChange, FileDiff, diff};
pub use lint::{Entity, LintError, LintKind, lint, lint_rendered};
pub use model::{
    CustomerTrunk, Did, DidDestination, Extension, Gateway, PbxInfo, Registration, RenderInput,
    Route, Transport,
};
pub use pjsip::{FROM_INTERNAL, FROM_TRUNK};

/// Why a render was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The input (or, defensively, the output) fails lint; all problems are
    /// listed, so one round trip fixes them all.
    #[error("configuration refused: {} problem(s), first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Lint(Vec<LintError>),
}

/// What the PBX must reload after a file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reload {
    /// The PJSIP stack (endpoints, aors, auths, identifies, registrations).
    Pjsip,
    /// The dialplan (`pbx_config`).
    Dialplan,
}

impl Reload {
    /// The Asterisk CLI command (sent as the AMI `Command` action).
    #[must_use]
    pub fn command(self) -> &'static str {
        match self {
            Reload::Pjsip => "module reload res_pjsip.so",
            Reload::Dialplan => "dialplan reload",
        }
    }
}

/// The five files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigFile {
    PjsipGateways,
    PjsipCustomerTrunks,
    PjsipExtensions,
    ExtensionsRoutes,
    ExtensionsDids,
}

impl ConfigFile {
    pub const ALL: [ConfigFile; 5] = [
        ConfigFile::PjsipGateways,
        ConfigFile::PjsipCustomerTrunks,
        ConfigFile::PjsipExtensions,
        ConfigFile::ExtensionsRoutes,
        ConfigFile::ExtensionsDids,
    ];

    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            ConfigFile::PjsipGateways => "pjsip_gateways.conf",
            ConfigFile::PjsipCustomerTrunks => "pjsip_customer_trunks.conf",
            ConfigFile::PjsipExtensions => "pjsip_extensions.conf",
            ConfigFile::ExtensionsRoutes => "extensions_routes.conf",
            ConfigFile::ExtensionsDids => "extensions_dids.conf",
        }
    }

    #[must_use]
    pub fn from_file_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.file_name() == name)
    }

    #[must_use]
    pub fn reload(self) -> Reload {
        if self.is_pjsip() {
            Reload::Pjsip
        } else {
            Reload::Dialplan
        }
    }

    pub(crate) fn is_pjsip(self) -> bool {
        matches!(
            self,
            ConfigFile::PjsipGateways
                | ConfigFile::PjsipCustomerTrunks
                | ConfigFile::PjsipExtensions
        )
    }
}

/// A file name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a file Ringside renders")]
pub struct UnknownFile {
    pub name: String,
}

/// The rendered files of one PBX, by name, each with the reload it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    files: BTreeMap<String, String>,
    reloads: BTreeMap<String, Reload>,
}

impl Rendered {
    /// Rebuilds a render from stored files (e.g. the last applied version,
    /// to diff against).
    ///
    /// # Errors
    /// A name that is not one of the five files.
    pub fn from_files(files: BTreeMap<String, String>) -> Result<Self, UnknownFile> {
        let mut reloads = BTreeMap::new();
        for name in files.keys() {
            let file = ConfigFile::from_file_name(name)
                .ok_or_else(|| UnknownFile { name: name.clone() })?;
            reloads.insert(name.clone(), file.reload());
        }
        Ok(Rendered { files, reloads })
    }

    fn insert(&mut self, file: ConfigFile, text: String) {
        self.files.insert(file.file_name().to_owned(), text);
        self.reloads
            .insert(file.file_name().to_owned(), file.reload());
    }

    /// File name to contents.
    #[must_use]
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// The contents of one file.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// The reload a file needs.
    #[must_use]
    pub fn reload_of(&self, name: &str) -> Option<Reload> {
        self.reloads.get(name).copied()
    }

    /// Consumes the render, giving the files (e.g. to store them).
    #[must_use]
    pub fn into_files(self) -> BTreeMap<String, String> {
        self.files
    }
}

/// Renders the five files for one PBX.
///
/// # Errors
/// [`RenderError::Lint`] with every problem when [`lint`] finds any (or,
/// should escaping ever fail, when [`lint_rendered`] does).
pub fn render(input: &RenderInput) -> Result<Rendered, RenderError> {
    let errors = lint(input);
    if !errors.is_empty() {
        return Err(RenderError::Lint(errors));
    }

    // Lint proved every sort key below unique, so each order is total and
    // independent of the input order.
    let mut gateways: Vec<(String, &Gateway)> = input
        .gateways
        .iter()
        .filter_map(|gw| syntax::gateway_section(&gw.name).map(|s| (s, gw)))
        .collect();
    gateways.sort_unstable_by(|a, b| a.0.cmp(&b.0));

    let mut trunks: Vec<&CustomerTrunk> = input.customer_trunks.iter().collect();
    trunks.sort_unstable_by(|a, b| a.code.cmp(&b.code));

    let mut extensions: Vec<&Extension> = input.extensions.iter().collect();
    // Numeric order for digit strings: shorter first, then lexicographic.
    extensions
        .sort_unstable_by(|a, b| (a.number.len(), &a.number).cmp(&(b.number.len(), &b.number)));

    let mut dids: Vec<&Did> = input.dids.iter().collect();
    dids.sort_unstable_by(|a, b| a.number.cmp(&b.number));

    let by_name: BTreeMap<&str, (&str, &Gateway)> = gateways
        .iter()
        .map(|(s, gw)| (gw.name.as_str(), (s.as_str(), *gw)))
        .collect();
    let mut groups: BTreeMap<String, Vec<dialplan::RouteRef<'_>>> = BTreeMap::new();
    for route in &input.routes {
        let Some((section, gw)) = by_name.get(route.gateway.as_str()) else {
            continue; // unreachable: lint checked every reference
        };
        let pattern = syntax::canonical_pattern(&route.pattern);
        groups
            .entry(pattern.clone())
            .or_default()
            .push(dialplan::RouteRef {
                route,
                pattern,
                gateway_section: section,
                gateway_name: &gw.name,
                gateway_prefix: &gw.tech_prefix,
            });
    }
    let mut groups: Vec<Vec<dialplan::RouteRef<'_>>> = groups.into_values().collect();
    for group in &mut groups {
        group.sort_unstable_by_key(|r| r.route.priority);
    }
    // Groups are never empty; a missing head sorts first.
    groups.sort_by_key(|g| g.first().map(|r| (r.route.priority, r.pattern.clone())));

    let mut rendered = Rendered::default();
    rendered.insert(
        ConfigFile::PjsipGateways,
        pjsip::gateways(&input.pbx, &gateways),
    );
    rendered.insert(
        ConfigFile::PjsipCustomerTrunks,
        pjsip::customer_trunks(&input.pbx, &trunks),
    );
    rendered.insert(
        ConfigFile::PjsipExtensions,
        pjsip::extensions(&input.pbx, &extensions),
    );
    rendered.insert(
        ConfigFile::ExtensionsRoutes,
        dialplan::routes(&input.pbx, &groups),
    );
    rendered.insert(
        ConfigFile::ExtensionsDids,
        dialplan::dids(&input.pbx, &dids, &trunks),
    );

    let errors = lint_rendered(&rendered);
    if !errors.is_empty() {
        return Err(RenderError::Lint(errors));
    }
    Ok(rendered)
}
