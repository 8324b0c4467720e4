//! The server-side deny list: actions refused whoever asks, because no role
//! should be able to stop a PBX or get a shell on it through Ringside.
//!
//! Roles (who may send which action) are the gateway's business; this list is
//! the last line, enforced where the action meets the PBX.

use regex::Regex;
use serde::Deserialize;

use ringside_ami::Action;

/// One rule: `action` (case-insensitive), and optionally a header whose value
/// matches `pattern` (a regex, case-insensitive). Without `header` every
/// action of that name is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRule {
    pub action: String,
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    /// Said to the caller when the rule refuses an action.
    pub reason: String,
}

/// The defaults: stopping or restarting Asterisk, CLI shell escapes, and
/// Originate into applications or functions that run shell commands.
pub fn default_rules() -> Vec<DenyRule> {
    let rule = |action: &str, header: &str, pattern: &str, reason: &str| DenyRule {
        action: action.into(),
        header: Some(header.into()),
        pattern: Some(pattern.into()),
        reason: reason.into(),
    };
    vec![
        rule(
            "Command",
            "Command",
            r"^\s*core\s+(stop|restart|abort)\b",
            "stopping or restarting Asterisk is not allowed through Ringside",
        ),
        rule(
            "Command",
            "Command",
            r"^\s*!",
            "CLI shell escapes are not allowed",
        ),
        rule(
            "Originate",
            "Application",
            r"^\s*(system|trysystem|exec|execif|tryexec)\s*$",
            "Originate into System/Exec is not allowed",
        ),
        rule(
            "Originate",
            "Data",
            r"\$\{\s*shell\s*\(",
            "the SHELL() function is not allowed",
        ),
        rule(
            "Originate",
            "Variable",
            r"\$\{\s*shell\s*\(",
            "the SHELL() function is not allowed",
        ),
        rule(
            "Setvar",
            "Value",
            r"\$\{\s*shell\s*\(",
            "the SHELL() function is not allowed",
        ),
    ]
}

/// A compiled deny list.
#[derive(Debug, Clone)]
pub struct DenyList {
    rules: Vec<(DenyRule, Option<Regex>)>,
}

/// A rule whose pattern is not a valid regex.
#[derive(Debug, thiserror::Error)]
#[error("deny rule for {action}: invalid pattern {pattern:?}: {source}")]
pub struct DenyRuleError {
    action: String,
    pattern: String,
    source: regex::Error,
}

impl DenyList {
    /// Compiles the rules.
    ///
    /// # Errors
    /// A pattern that is not a valid regex.
    pub fn new(rules: Vec<DenyRule>) -> Result<Self, DenyRuleError> {
        let rules = rules
            .into_iter()
            .map(|r| {
                let re = r
                    .pattern
                    .as_deref()
                    .map(|p| {
                        regex::RegexBuilder::new(p)
                            .case_insensitive(true)
                            .build()
                            .map_err(|source| DenyRuleError {
                                action: r.action.clone(),
                                pattern: p.to_owned(),
                                source,
                            })
                    })
                    .transpose()?;
                Ok((r, re))
            })
            .collect::<Result<_, DenyRuleError>>()?;
        Ok(DenyList { rules })
    }

    /// The reason `action` is refused, if it is.
    pub fn check(&self, action: &Action) -> Option<&str> {
        self.rules.iter().find_map(|(rule, re)| {
            if !rule.action.eq_ignore_ascii_case(action.name()) {
                return None;
            }
            let hit = match (&rule.header, re) {
                (None, _) => true,
                (Some(header), Some(re)) => action
                    .headers()
                    .any(|(k, v)| k.eq_ignore_ascii_case(header) && re.is_match(v)),
                (Some(header), None) => action
                    .headers()
                    .any(|(k, _)| k.eq_ignore_ascii_case(header)),
            };
            hit.then_some(rule.reason.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(name: &str, headers: &[(&str, &str)]) -> Action {
        headers
            .iter()
            .fold(Action::new(name).unwrap(), |a, (k, v)| {
                a.header(k, v).unwrap()
            })
    }

    #[test]
    fn the_default_rules_refuse_core_stop_shell_escapes_and_system_originates() {
        let deny = DenyList::new(default_rules()).unwrap();
        assert!(
            deny.check(&action("Command", &[("Command", "core stop now")]))
                .is_some()
        );
        assert!(
            deny.check(&action(
                "command",
                &[("Command", "  CORE RESTART gracefully")]
            ))
            .is_some()
        );
        assert!(
            deny.check(&action("Command", &[("Command", "!rm -rf /")]))
                .is_some()
        );
        assert!(
            deny.check(&action(
                "Originate",
                &[("Application", "System"), ("Data", "id")]
            ))
            .is_some()
        );
        assert!(
            deny.check(&action(
                "Originate",
                &[("Application", "Set"), ("Data", "X=${SHELL(id)}")]
            ))
            .is_some()
        );
        assert!(
            deny.check(&action(
                "Originate",
                &[("Variable", "a=1"), ("Variable", "b=${shell(id)}")]
            ))
            .is_some()
        );
    }

    #[test]
    fn ordinary_actions_pass() {
        let deny = DenyList::new(default_rules()).unwrap();
        assert_eq!(
            deny.check(&action("Command", &[("Command", "core show channels")])),
            None
        );
        assert_eq!(
            deny.check(&action("Command", &[("Command", "core show version")])),
            None
        );
        assert_eq!(
            deny.check(&action(
                "Originate",
                &[("Channel", "PJSIP/1001"), ("Application", "Playback")]
            )),
            None
        );
        assert_eq!(
            deny.check(&action("Hangup", &[("Channel", "PJSIP/1001-1")])),
            None
        );
    }

    #[test]
    fn an_invalid_pattern_is_a_configuration_error() {
        let bad = DenyRule {
            action: "Command".into(),
            header: Some("Command".into()),
            pattern: Some("(".into()),
            reason: "x".into(),
        };
        assert!(DenyList::new(vec![bad]).is_err());
    }
}
