//! Password hashing (argon2id, PHC strings).

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};

use crate::error::Error;

/// Hashes `password` with a fresh random salt.
///
/// # Errors
/// [`Error::Internal`] if the hasher fails (no randomness).
pub(crate) fn hash(password: &str) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing: {e}")))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed
/// hash).
pub(crate) fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horsE", &phc));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(phc, hash("correct horse").unwrap(), "salts differ");
    }
}
