//! `--include` / `--exclude KEY=V1,V2` for the AMI tools: a message is kept
//! when it matches any include (or there is none) and no exclude; header
//! values compare case-insensitively.

use ringside_ami::message::Message;

/// `KEY=V1,V2`: the header `KEY` has one of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFilter {
    pub key: String,
    pub values: Vec<String>,
}

impl HeaderFilter {
    pub fn matches(&self, message: &Message) -> bool {
        message
            .get_all(&self.key)
            .any(|v| self.values.iter().any(|want| want.eq_ignore_ascii_case(v)))
    }
}

pub fn parse_filter(text: &str) -> Result<HeaderFilter, String> {
    let (key, values) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=V1,V2"))?;
    let values: Vec<String> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if key.trim().is_empty() || values.is_empty() {
        return Err(format!("{text:?} needs a key and at least one value"));
    }
    Ok(HeaderFilter {
        key: key.trim().to_owned(),
        values,
    })
}

/// Whether a message passes the include and exclude filters.
pub fn selected(message: &Message, include: &[HeaderFilter], exclude: &[HeaderFilter]) -> bool {
    (include.is_empty() || include.iter().any(|f| f.matches(message)))
        && !exclude.iter().any(|f| f.matches(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Message {
        Message::from_headers(headers.iter().copied()).unwrap()
    }

    #[test]
    fn filters_parse_keys_and_value_lists() {
        assert_eq!(
            parse_filter("Event=VarSet, Newexten"),
            Ok(HeaderFilter {
                key: "Event".into(),
                values: vec!["VarSet".into(), "Newexten".into()]
            })
        );
        assert!(parse_filter("Event").is_err());
        assert!(parse_filter("Event=").is_err());
        assert!(parse_filter("=Hangup").is_err());
    }

    #[test]
    fn a_message_is_selected_by_any_include_and_dropped_by_any_exclude() {
        let hangup = message(&[("Event", "Hangup"), ("Channel", "PJSIP/1001-1")]);
        let varset = message(&[("Event", "VarSet"), ("Channel", "PJSIP/1001-1")]);
        let exclude = [parse_filter("Event=VarSet,Newexten").unwrap()];
        assert!(selected(&hangup, &[], &exclude));
        assert!(!selected(&varset, &[], &exclude));
        let include = [parse_filter("event=hangup").unwrap()];
        assert!(selected(&hangup, &include, &[]));
        assert!(!selected(&varset, &include, &[]));
    }
}
