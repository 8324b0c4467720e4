//! The JSON form of a message, used wherever AMI leaves Ringside's processes
//! as text (`ringside ami decode`/`tail`, action replies on the bus):
//!
//! ```json
//! {"kind":"event","name":"Hangup","headers":[["Event","Hangup"],["Cause","16"]]}
//! ```
//!
//! Headers stay a list of pairs in wire order (a JSON object would lose
//! repeated keys and their order); a colon-less line is `["Key", null]`; a
//! legacy `Response: Follows` message adds its raw body as `output`.
//! Serialized straight from the message's borrowed headers, no copies.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::message::{Message, MessageKind};

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let output = self.legacy_body();
        let mut line = serializer.serialize_struct("Message", 3 + usize::from(output.is_some()))?;
        line.serialize_field("kind", self.kind().as_str())?;
        line.serialize_field("name", self.name())?;
        line.serialize_field("headers", &Headers(self))?;
        if let Some(output) = output {
            line.serialize_field("output", output)?;
        }
        line.end()
    }
}

struct Headers<'a>(&'a Message);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.headers().map(|h| (h.key, h.value)))
    }
}

/// The owned, deserializable counterpart, for whoever reads the JSON back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct MessageJson {
    pub kind: MessageKind,
    pub name: String,
    pub headers: Vec<(String, Option<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl From<&Message> for MessageJson {
    fn from(m: &Message) -> Self {
        MessageJson {
            kind: m.kind(),
            name: m.name().to_owned(),
            headers: m
                .headers()
                .map(|h| (h.key.to_owned(), h.value.map(str::to_owned)))
                .collect(),
            output: m.legacy_body().map(str::to_owned),
        }
    }
}

impl MessageJson {
    /// The first value of `key`, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_repeated_headers_in_order_and_reads_back() {
        let m = Message::from_headers([
            ("Event", "VarSet"),
            ("Variable", "A"),
            ("Value", ""),
            ("Variable", "B"),
        ])
        .unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"event","name":"VarSet","headers":[["Event","VarSet"],["Variable","A"],["Value",""],["Variable","B"]]}"#
        );
        let back: MessageJson = serde_json::from_str(&text).unwrap();
        assert_eq!(back.kind, MessageKind::Event);
        assert_eq!(back.get("value"), Some(""));
        assert_eq!(back.headers.len(), 4);
    }
}
