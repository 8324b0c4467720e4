//! Actions (client → server messages), built so that no value can inject a
//! header or a second action.
//!
//! Every action gets an `ActionID` unless the caller sets one: responses and
//! event lists are correlated by it, and Asterisk omits it from the answer when
//! the request had none.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, BytesMut};
use md5::{Digest, Md5};

/// A header the wire format cannot carry safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("header key {key:?} is empty or contains ':', CR or LF")]
    InvalidKey { key: String },
    #[error("value of header {key:?} contains CR or LF")]
    InvalidValue { key: String },
}

/// Checks that `key: value` is exactly one header line.
pub(crate) fn check_header(key: &str, value: &str) -> Result<(), ActionError> {
    if key.is_empty() || key.bytes().any(|b| matches!(b, b':' | b'\r' | b'\n')) || key.trim() != key
    {
        return Err(ActionError::InvalidKey {
            key: key.to_owned(),
        });
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n')) {
        return Err(ActionError::InvalidValue {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// Process-wide ActionID source: a random per-process prefix (so two clients
/// of the same PBX, or a restarted client, never reuse an id) and a counter.
fn next_action_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| format!("rs{:08x}", rand::random::<u32>()));
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// An AMI action: `Action: Name`, `ActionID`, then headers in order (keys may
/// repeat: `Variable` of Originate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    action_id: String,
    headers: Vec<(String, String)>,
}

impl Action {
    /// A new action with a fresh ActionID.
    ///
    /// # Errors
    /// The name must be a valid header value (no CR/LF).
    pub fn new(name: &str) -> Result<Self, ActionError> {
        check_header("Action", name)?;
        Ok(Action {
            name: name.to_owned(),
            action_id: next_action_id(),
            headers: Vec::new(),
        })
    }

    /// Adds a header; keys may repeat.
    ///
    /// # Errors
    /// CR/LF in key or value, `:` in the key.
    pub fn header(mut self, key: &str, value: impl AsRef<str>) -> Result<Self, ActionError> {
        self.push(key, value)?;
        Ok(self)
    }

    /// Adds a header in place.
    ///
    /// # Errors
    /// As [`Action::header`]. `Action` and `ActionID` are set through their own
    /// methods; passing them here replaces them instead of repeating them.
    pub fn push(&mut self, key: &str, value: impl AsRef<str>) -> Result<(), ActionError> {
        let value = value.as_ref();
        check_header(key, value)?;
        if key.eq_ignore_ascii_case("Action") {
            self.name = value.to_owned();
        } else if key.eq_ignore_ascii_case("ActionID") {
            self.action_id = value.to_owned();
        } else {
            self.headers.push((key.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    /// Replaces the generated ActionID.
    ///
    /// # Errors
    /// CR/LF in the id.
    pub fn with_action_id(mut self, id: &str) -> Result<Self, ActionError> {
        check_header("ActionID", id)?;
        self.action_id = id.to_owned();
        Ok(self)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn action_id(&self) -> &str {
        &self.action_id
    }

    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `key` (case-insensitive), `Action`/`ActionID` included.
    pub fn get(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case("Action") {
            return Some(&self.name);
        }
        if key.eq_ignore_ascii_case("ActionID") {
            return Some(&self.action_id);
        }
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Writes the wire form, terminating blank line included.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        let len = 32
            + self.name.len()
            + self.action_id.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>();
        dst.reserve(len);
        put(dst, "Action", &self.name);
        put(dst, "ActionID", &self.action_id);
        for (k, v) in &self.headers {
            put(dst, k, v);
        }
        dst.put_slice(b"\r\n");
    }

    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut b = BytesMut::new();
        self.encode_into(&mut b);
        b.freeze()
    }

    /// A `Login` with a plain-text secret.
    ///
    /// # Errors
    /// CR/LF in the username or secret.
    pub fn login_plain(username: &str, secret: &str) -> Result<Self, ActionError> {
        Action::new("Login")?
            .header("Username", username)?
            .header("Secret", secret)
    }

    /// The `Challenge` that starts an MD5 login.
    pub fn challenge() -> Self {
        Action::new("Challenge")
            .and_then(|a| a.header("AuthType", "MD5"))
            .expect("constant headers are valid")
    }

    /// The `Login` answering an MD5 challenge: `Key` = md5(challenge + secret).
    ///
    /// # Errors
    /// CR/LF in the username.
    pub fn login_md5(username: &str, secret: &str, challenge: &str) -> Result<Self, ActionError> {
        Action::new("Login")?
            .header("AuthType", "MD5")?
            .header("Username", username)?
            .header("Key", md5_key(challenge, secret))
    }
}

fn put(dst: &mut BytesMut, k: &str, v: &str) {
    dst.put_slice(k.as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(v.as_bytes());
    dst.put_slice(b"\r\n");
}

/// The MD5 login key: lowercase hex of md5(challenge ‖ secret), as Asterisk's
/// manager.c computes it.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr_or_lf_in_a_value_is_refused() {
        let a = Action::new("Originate").unwrap();
        assert_eq!(
            a.clone().header("Channel", "PJSIP/1\r\nAction: Command"),
            Err(ActionError::InvalidValue {
                key: "Channel".into()
            })
        );
        assert!(a.clone().header("Chan\nnel", "x").is_err());
        assert!(a.clone().header("Chan:nel", "x").is_err());
        assert!(Action::new("Ping\r\n").is_err());
        assert!(a.with_action_id("x\ny").is_err());
    }

    #[test]
    fn repeated_headers_are_written_in_order() {
        let a = Action::new("Originate")
            .unwrap()
            .with_action_id("o1")
            .unwrap()
            .header("Variable", "a=1")
            .unwrap()
            .header("Variable", "b=2")
            .unwrap();
        assert_eq!(
            &a.to_bytes()[..],
            b"Action: Originate\r\nActionID: o1\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n"
        );
    }

    #[test]
    fn generated_action_ids_are_unique() {
        let a = Action::new("Ping").unwrap();
        let b = Action::new("Ping").unwrap();
        assert_ne!(a.action_id(), b.action_id());
    }

    #[test]
    fn md5_key_matches_what_asterisk_accepted_in_the_corpus() {
        // actions.ami: Challenge 340356915; the recorder's Login (actions.client)
        // sent this key and Asterisk answered "Authentication accepted".
        let ami = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/ami-corpus/actions.ami"
        ))
        .unwrap();
        let client = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/ami-corpus/actions.client"
        ))
        .unwrap();
        let challenge = ami
            .lines()
            .find_map(|l| l.strip_prefix("Challenge: "))
            .unwrap()
            .trim();
        let key = client
            .lines()
            .find_map(|l| l.strip_prefix("Key: "))
            .unwrap()
            .trim();
        assert_eq!(md5_key(challenge, "labsecret"), key);
    }
}
