//! The JSON Lines form of an AMI message, shared by `ami decode` and `ami tail`:
//!
//! ```json
//! {"kind":"event","name":"Hangup","headers":[["Event","Hangup"],["Cause","16"]]}
//! ```
//!
//! Serialized straight from the message's borrowed headers: no intermediate
//! map (which would lose repeated keys and their order) and no copies.

use std::io::{self, Write};

use ringside_ami::Message;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Writes one message as a JSON line.
pub fn write_line(out: &mut impl Write, message: &Message) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &JsonLine(message))?;
    out.write_all(b"\n")
}

/// The JSON form of a message, serialized straight from its borrowed headers.
struct JsonLine<'a>(&'a Message);

impl Serialize for JsonLine<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let output = message.legacy_body();
        let mut line = serializer.serialize_struct("Message", 3 + usize::from(output.is_some()))?;
        line.serialize_field("kind", message.kind().as_str())?;
        line.serialize_field("name", message.name())?;
        line.serialize_field("headers", &Headers(message))?;
        if let Some(output) = output {
            line.serialize_field("output", output)?;
        }
        line.end()
    }
}

/// `[["Key","Value"], ...]` in wire order; a colon-less line is `["Key",null]`.
struct Headers<'a>(&'a Message);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.headers().map(|h| (h.key, h.value)))
    }
}

