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
        p.kind = PrincipalKind::parse(kind).ok_or(AuthError::TokenMalformed)?;
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
}

/// What a [`FakeWebhookSender`] sent: URL, headers, body.
pub type Sent = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<(String, String)>, String)>>>;

/// A webhook client that takes every http(s) URL and records what it would send (`status`
/// answers each post).
#[derive(Debug, Clone)]
pub struct FakeWebhookSender {
    /// Each post: URL, headers, body.
    pub sent: Sent,
    /// The status every post gets.
    pub status: u16,
}

impl Default for FakeWebhookSender {
    fn default() -> Self {
        Self {
            sent: std::sync::Arc::default(),
            status: 200,
        }
    }
}

impl chat_threads_application::webhooks::WebhookSender for FakeWebhookSender {
    async fn check_url(&self, url: &str) -> Result<(), String> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err("must be http or https".into())
        }
    }

    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((
                url.to_owned(),
                headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
                body.to_owned(),
            ));
        }
        Ok(self.status)
    }
}
