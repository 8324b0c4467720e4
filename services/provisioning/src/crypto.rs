//! Secrets at rest: PBX AMI secrets, gateway registration secrets and
//! extension secrets are stored encrypted with XChaCha20-Poly1305 under a key
//! from the settings.
//!
//! A stored value is `nonce (24 bytes) || ciphertext+tag`. The associated data
//! is the column's purpose and the row's id, so a ciphertext copied into another
//! row or column does not decrypt.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::Rng as _;
use uuid::Uuid;

use crate::error::Error;

const NONCE_LEN: usize = 24;

/// The key that encrypts secrets at rest. Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Parses 64 hex digits (32 bytes).
    ///
    /// # Errors
    /// A message if the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<SecretKey, String> {
        let bytes =
            hex::decode(text.trim()).map_err(|_| "the secret key must be hex".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the secret key must be 32 bytes (64 hex digits)".to_owned())?;
        Ok(SecretKey(key))
    }

    /// Reads the key from `path` (64 hex digits), creating the file with a
    /// random key (mode 0600) if it does not exist: the embedded default
    /// keeps its key next to its SQLite file.
    ///
    /// # Errors
    /// A message if the file cannot be read or written or holds no key.
    pub fn load_or_create(path: &std::path::Path) -> Result<SecretKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => SecretKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                std::io::Write::write_all(&mut file, hex::encode(key.0).as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(key)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// A random key (tests, first start of a development install).
    pub fn generate() -> SecretKey {
        SecretKey(rand::rng().random())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl<'de> serde::Deserialize<'de> for SecretKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SecretKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Encrypts and decrypts secret columns.
#[derive(Clone)]
pub(crate) struct Cipher {
    aead: XChaCha20Poly1305,
}

impl Cipher {
    pub(crate) fn new(key: &SecretKey) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new(&key.0.into()),
        }
    }

    fn aad(purpose: &str, id: Uuid) -> Vec<u8> {
        let mut aad = Vec::with_capacity(purpose.len() + 17);
        aad.extend_from_slice(purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(id.as_bytes());
        aad
    }

    /// Encrypts `plain` for column `purpose` of row `id`.
    pub(crate) fn seal(&self, purpose: &str, id: Uuid, plain: &str) -> Result<Vec<u8>, Error> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::rng().random();
        let nonce = XNonce::from(nonce_bytes);
        let aad = Cipher::aad(purpose, id);
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Crypto(purpose.to_owned()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`Cipher::seal`] produced for the same column and row.
    pub(crate) fn open(&self, purpose: &str, id: Uuid, stored: &[u8]) -> Result<String, Error> {
        let err = || Error::Crypto(purpose.to_owned());
        if stored.len() < NONCE_LEN {
            return Err(err());
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| err())?;
        let aad = Cipher::aad(purpose, id);
        let plain = self
            .aead
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| err())?;
        String::from_utf8(plain).map_err(|_| err())
    }
}

/// A strong random secret: 24 characters of `[A-Za-z0-9]` (~142 bits).
pub(crate) fn generate_secret() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_row_column_and_key() {
        let cipher = Cipher::new(&SecretKey::generate());
        let id = Uuid::new_v4();
        let sealed = cipher.seal("pbx.ami_secret", id, "s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(
            cipher.open("pbx.ami_secret", id, &sealed).unwrap(),
            "s3cret"
        );
        assert!(
            cipher
                .open("pbx.ami_secret", Uuid::new_v4(), &sealed)
                .is_err()
        );
        assert!(cipher.open("gateway.reg_secret", id, &sealed).is_err());
        assert!(
            Cipher::new(&SecretKey::generate())
                .open("pbx.ami_secret", id, &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open("pbx.ami_secret", id, &tampered).is_err());
        assert!(cipher.open("pbx.ami_secret", id, b"short").is_err());
    }

    #[test]
    fn keys_are_64_hex_digits_and_never_printed() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
        assert!(SecretKey::from_hex("abcd").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nonsense").unwrap();
        assert!(SecretKey::load_or_create(&path).is_err());
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate_secret());
    }
}
