//! Every metric that a Grafana dashboard (deploy/grafana/dashboards) or an
//! alert rule (deploy/prometheus/alerts.yml) queries is one the platform
//! exports, i.e. is in the catalog. A renamed metric then fails here instead
//! of silently blanking a panel or muting an alert.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Series Prometheus makes itself, not exported by Ringside.
const PROMETHEUS_BUILTINS: &[&str] = &["up"];

/// PromQL words that look like identifiers but are not metric names
/// (aggregations can be followed by `by (…)` before their parenthesis).
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The metric names a PromQL expression selects.
///
/// A small scanner, enough for the queries we write: it skips strings,
/// label matchers `{…}`, ranges `[…]`, Grafana variables (`$x`, `${x}`),
/// numbers and durations, function names (identifier followed by `(`) and
/// the label lists after `by`/`without`/`on`/`ignoring`/`group_*`.
fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unterminated string in {expr:?}"));
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                i += 1;
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' || chars[i] == '\'' {
                        let q = chars[i];
                        i += 1;
                        while i < chars.len() && chars[i] != q {
                            if chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unbalanced {c:?} in {expr:?}"));
                }
                i += 1;
            }
            '(' if skip_label_list => {
                skip_label_list = false;
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers, 1e3, durations (5m, 1d).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let lower = word.to_ascii_lowercase();
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    skip_label_list = chars.get(j) == Some(&'(');
                } else if KEYWORDS.contains(&lower.as_str()) || chars.get(j) == Some(&'(') {
                    // keyword or function call
                } else {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    Ok(names)
}

/// `label_values(metric{…}, label)` (a Grafana variable query): the metric.
fn variable_query_names(query: &str) -> Result<Vec<String>, String> {
    let q = query.trim();
    if let Some(args) = q.strip_prefix("label_values(") {
        let args = args.strip_suffix(')').ok_or(format!("unbalanced {q:?}"))?;
        // Only the selector: the last argument is a label name.
        return match args.rfind(',') {
            Some(comma) if !args[comma..].contains('}') => metric_names(&args[..comma]),
            _ => Ok(Vec::new()),
        };
    }
    if q.starts_with("label_names(") {
        return Ok(Vec::new());
    }
    metric_names(q)
}

/// (where, expression) of every query in a dashboard.
fn dashboard_queries(file: &Path, dashboard: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    fn panels<'a>(list: &'a Value, acc: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            acc.push(p);
            panels(&p["panels"], acc);
        }
    }
    let mut all = Vec::new();
    panels(&dashboard["panels"], &mut all);
    for panel in all {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((
                    format!("{} panel {:?}", file.display(), panel["title"]),
                    expr.to_owned(),
                    false,
                ));
            }
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] != "query" {
            continue;
        }
        let query = match &var["query"] {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("query").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        for q in query
            .into_iter()
            .chain(var["definition"].as_str().map(str::to_owned))
        {
            out.push((
                format!("{} variable {:?}", file.display(), var["name"]),
                q,
                true,
            ));
        }
    }
    out
}

/// The `expr:` values of a Prometheus rule file, single-line or block
/// scalars (`|`, `>-`, …). A line scanner: no YAML crate for one key.
fn alert_expressions(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed).trim_start();
        if let Some(value) = trimmed.strip_prefix("expr:") {
            // The column of the key: block lines are indented past it.
            let indent = line.len() - trimmed.len();
            let value = value.trim();
            if value.starts_with('|') || value.starts_with('>') {
                let mut block = Vec::new();
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    let li = l.len() - l.trim_start().len();
                    if !l.trim().is_empty() && li <= indent {
                        break;
                    }
                    block.push(l.trim());
                    i += 1;
                }
                out.push(block.join("\n"));
                continue;
            }
            out.push(value.trim_matches(|c| c == '"' || c == '\'').to_owned());
        }
        i += 1;
    }
    out
}

fn check(
    where_: &str,
    expr: &str,
    names: Result<Vec<String>, String>,
    unknown: &mut BTreeSet<String>,
) {
    let names = names.unwrap_or_else(|e| panic!("{where_}: {e}"));
    for name in names {
        if PROMETHEUS_BUILTINS.contains(&name.as_str()) {
            continue;
        }
        if ringside_telemetry::lookup(&name).is_none() {
            unknown.insert(format!("{where_}: {name} (in {expr:?})"));
        }
    }
}

#[test]
fn the_scanner_finds_metrics_and_nothing_else() {
    let names = metric_names(
        r#"sum by (tenant, pbx) (increase(ringside_calls_answered_total{tenant=~"$tenant", x="a}b"}[$__rate_interval] offset 1d))
           / on (tenant) group_left (trunk) ringside_call_attempts_total > bool 0.5 * 1e3 and up unless ${foo}"#,
    )
    .unwrap();
    assert_eq!(
        names,
        [
            "ringside_calls_answered_total",
            "ringside_call_attempts_total",
            "up"
        ]
    );
    assert_eq!(
        metric_names(r#"histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le))"#).unwrap(),
        ["a_bucket"]
    );
    assert!(metric_names(r#"x{a="unterminated}"#).is_err());
    assert_eq!(
        variable_query_names(r#"label_values(ringside_ami_connected{tenant=~"$tenant"}, pbx)"#)
            .unwrap(),
        ["ringside_ami_connected"]
    );
    assert_eq!(
        alert_expressions(
            "  - expr: a > 1\n    for: 1m\n  - expr: |\n      b\n        / c\n    labels: {}\n"
        ),
        ["a > 1", "b\n/ c"]
    );
}

#[test]
fn every_metric_in_dashboards_and_alerts_is_exported() {
    let deploy = deploy_dir();
    let mut unknown = BTreeSet::new();
    let mut queries = 0;

    let dashboards_dir = deploy.join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dashboards_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dashboards_dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the four dashboards, found {files:?}"
    );
    let mut uids = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let dashboard: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let uid = dashboard["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no uid", file.display()));
        assert!(
            uids.insert(uid.to_owned()),
            "{}: uid {uid} used twice",
            file.display()
        );
        let found = dashboard_queries(file, &dashboard);
        assert!(!found.is_empty(), "{}: no queries", file.display());
        for (where_, expr, is_variable) in found {
            queries += 1;
            let names = if is_variable {
                variable_query_names(&expr)
            } else {
                metric_names(&expr)
            };
            check(&where_, &expr, names, &mut unknown);
        }
    }

    let alerts = deploy.join("prometheus/alerts.yml");
    let text = std::fs::read_to_string(&alerts).unwrap();
    let exprs = alert_expressions(&text);
    assert!(
        exprs.len() >= 5,
        "expected the five alerts, found {exprs:?}"
    );
    for expr in exprs {
        queries += 1;
        check(
            &alerts.display().to_string(),
            &expr,
            metric_names(&expr),
            &mut unknown,
        );
    }

    assert!(queries > 50, "only {queries} queries found");
    assert!(
        unknown.is_empty(),
        "metrics queried but not in the catalog (crates/telemetry/src/catalog.rs):\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_required_alerts_exist() {
    let text = std::fs::read_to_string(deploy_dir().join("prometheus/alerts.yml")).unwrap();
    for alert in [
        "RingsidePbxUnreachable",
        "RingsideTrunkUnregistered",
        "RingsideAsrDrop",
        "RingsideIngestGap",
        "RingsideConsumerLag",
    ] {
        assert!(
            text.contains(&format!("alert: {alert}\n")),
            "{alert} missing"
        );
    }
}
