//! JSON Lines output shared by `ami decode` and `ami tail`; the JSON form of a
//! message itself is `ringside_ami::json`.

use std::io::{self, Write};

use ringside_ami::Message;

/// Writes one message as a JSON line.
pub fn write_line(out: &mut impl Write, message: &Message) -> io::Result<()> {
    serde_json::to_writer(&mut *out, message)?;
    out.write_all(b"\n")
}
