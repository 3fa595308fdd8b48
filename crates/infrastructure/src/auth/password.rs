//! argon2id password hashing.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use chat_threads_application::AppError;
use chat_threads_application::accounts::PasswordHasher;
use std::sync::Arc;

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
#[derive(Clone)]
pub struct Argon2Hasher {
    dummy: Arc<str>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2Hasher")
    }
}

impl Argon2Hasher {
    /// A hasher; computes the dummy hash used to equalize timing for unknown accounts.
    pub fn new() -> Result<Self, AppError> {
        let secret = chat_threads_application::accounts::random_token()?;
        let dummy = hash(&secret)?;
        Ok(Self {
            dummy: dummy.into(),
        })
    }
}

fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Storage(format!("password hashing failed: {e}")))
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String, AppError> {
        hash(password)
    }

    fn verify(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    fn dummy_hash(&self) -> &str {
        &self.dummy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = Argon2Hasher::new().unwrap();
        let a = h.hash("correct horse battery").unwrap();
        let b = h.hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(h.verify("correct horse battery", &a));
        assert!(!h.verify("wrong horse battery", &a));
        assert!(!h.verify("correct horse battery", "not a hash"));
        assert!(!h.verify("anything", h.dummy_hash()));
    }
}
