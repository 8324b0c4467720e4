//! What changed between two renders, for previews and incremental apply: the
//! changed files with a unified diff each, and the reloads those files need
//! (only those).
//!
//! Change detection compares whole file contents, so it is exact; the
//! unified text is for humans. It is computed with a deadline so that a
//! complete rewrite of a 100,000-DID file cannot stall a deployment: past the
//! deadline `similar` returns a correct but less minimal diff.

use std::collections::BTreeSet;
use std::time::Duration;

use similar::TextDiff;

use super::{Reload, Rendered};

/// Longest time spent minimising one file's diff.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Removed,
    Modified,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub name: String,
    pub change: FileChange,
    /// Unified diff (`--- a/<name>` / `+++ b/<name>`, 3 lines of context).
    pub unified: String,
    /// What must reload for the PBX to see this file.
    pub reload: Reload,
}

/// The difference between two renders for one PBX.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Changed files, by name.
    pub files: Vec<FileDiff>,
    /// Reloads needed, each once, pjsip before the dialplan (the dialplan
    /// dials endpoints, so they must exist first).
    pub reloads: Vec<Reload>,
}

impl ConfigDiff {
    /// True when nothing changed: no write, no reload.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Names of the changed files.
    pub fn changed_files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.name.as_str())
    }

    /// The Asterisk CLI commands to run after writing the changed files.
    #[must_use]
    pub fn reload_commands(&self) -> Vec<&'static str> {
        self.reloads.iter().map(|r| r.command()).collect()
    }
}

/// Compares two renders file by file.
#[must_use]
pub fn diff(old: &Rendered, new: &Rendered) -> ConfigDiff {
    let names: BTreeSet<&str> = old
        .files()
        .keys()
        .chain(new.files().keys())
        .map(String::as_str)
        .collect();
    let mut files = Vec::new();
    let mut reloads = BTreeSet::new();
    for name in names {
        let (before, after) = (old.get(name), new.get(name));
        let change = match (before, after) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => FileChange::Modified,
            (None, Some(_)) => FileChange::Added,
            (Some(_), None) => FileChange::Removed,
            (None, None) => continue,
        };
        let Some(reload) = new.reload_of(name).or_else(|| old.reload_of(name)) else {
            continue;
        };
        let unified = TextDiff::configure()
            .timeout(DIFF_TIMEOUT)
            .diff_lines(before.unwrap_or(""), after.unwrap_or(""))
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string();
        reloads.insert(reload);
        files.push(FileDiff {
            name: name.to_owned(),
            change,
            unified,
            reload,
        });
    }
    ConfigDiff {
        files,
        reloads: reloads.into_iter().collect(),
    }
}
