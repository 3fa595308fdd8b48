//! Stand-ins for the adapters behind the token and password ports, for running the API
//! in-process: tokens are `test.<owner>` strings, password "hashes" are the password reversed.
//! Never for production: they check nothing cryptographically.

use chat_threads_application::AppError;
use chat_threads_application::accounts::{PasswordHasher, TokenIssuer, TokenVerifier};
use chat_threads_application::error::AuthError;
use chat_threads_domain::{Principal, PrincipalKind, Timestamp};

/// Issues and verifies `test.<kind>.<subject>` tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeTokens;

impl FakeTokens {
    /// The token for a user.
    pub fn user(subject: &str) -> String {
        format!("test.user.{subject}")
    }
}

impl TokenIssuer for FakeTokens {
    fn issue(&self, principal: &Principal, _expires_at: Timestamp) -> Result<String, AppError> {
        let kind = match principal.kind {
            PrincipalKind::User => "user",
            PrincipalKind::Anonymous => "anon",
            PrincipalKind::Service => "service",
        };
        Ok(format!("test.{kind}.{}", principal.subject))
    }
}

impl TokenVerifier for FakeTokens {
    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.splitn(3, '.');
        let (Some("test"), Some(kind), Some(subject)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::TokenMalformed);
        };
        let mut p = Principal::user(subject, None);
        p.kind = match kind {
            "user" => PrincipalKind::User,
            "anon" => PrincipalKind::Anonymous,
            "service" => PrincipalKind::Service,
            _ => return Err(AuthError::TokenMalformed),
        };
        Ok(p)
    }
}

/// A password "hasher" that stores the password reversed.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeHasher;

impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        Ok(password.chars().rev().collect())
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AppError> {
        Ok(password.chars().rev().collect::<String>() == hash)
    }

    fn dummy_hash(&self) -> &str {
        "-"
    }
}
