//! Log-in against the in-memory store: an unknown e-mail costs the same password work as a
//! wrong password (one hash instead of one verification), so neither timing nor the answer
//! tells whether the e-mail is registered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chat_threads_application::accounts::{
    AccountSettings, AuthPolicy, AuthService, PasswordHasher, SessionSettings,
};
use chat_threads_application::error::ErrorCode;
use chat_threads_application::{AppError, SystemClock};
use chat_threads_domain::Limits;
use chat_threads_testing::fakes::{FakeHasher, FakeTokens};
use chat_threads_testing::memory::MemoryStore;

/// The fake hasher, counting each hash and each verification (each would be one argon2 run).
#[derive(Debug, Clone, Default)]
struct Counting {
    hashed: Arc<AtomicUsize>,
    verified: Arc<AtomicUsize>,
}

impl Counting {
    fn runs(&self) -> (usize, usize) {
        (
            self.hashed.load(Ordering::SeqCst),
            self.verified.load(Ordering::SeqCst),
        )
    }
}

impl PasswordHasher for Counting {
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        self.hashed.fetch_add(1, Ordering::SeqCst);
        FakeHasher.hash(password).await
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AppError> {
        self.verified.fetch_add(1, Ordering::SeqCst);
        FakeHasher.verify(password, hash).await
    }
}

fn service(hasher: Counting) -> AuthService<MemoryStore, Counting, FakeTokens, SystemClock> {
    let policy = AuthPolicy {
        accounts: AccountSettings {
            enabled: true,
            access_ttl_secs: 900,
            refresh_ttl_secs: 86_400,
            hash_concurrency: 1,
            hash_queue: 8,
        },
        sessions: SessionSettings {
            enabled: false,
            default_ttl_secs: 3600,
            max_ttl_secs: 86_400,
            purge_interval_secs: 60,
            org: String::new(),
        },
    };
    AuthService::new(
        MemoryStore::new(),
        hasher,
        FakeTokens,
        SystemClock,
        policy,
        Limits::default(),
    )
}

fn refused(result: Result<impl std::fmt::Debug, AppError>) {
    match result {
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidCredentials, "{e:?}"),
        Ok(v) => panic!("logged in: {v:?}"),
    }
}

#[tokio::test]
async fn an_unknown_email_spends_one_password_run_like_a_wrong_password() {
    let hasher = Counting::default();
    let auth = service(hasher.clone());
    auth.register("ada@example.com", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(hasher.runs(), (1, 0), "registering hashes once");

    // A wrong password: one verification against the stored hash.
    refused(auth.login("ada@example.com", "wrong horse battery").await);
    assert_eq!(hasher.runs(), (1, 1));

    // An unknown e-mail (and one that is not an e-mail at all): one run each, the password
    // hashed and thrown away, the same answer.
    refused(auth.login("bob@example.com", "wrong horse battery").await);
    assert_eq!(hasher.runs(), (2, 1));
    refused(auth.login("not an e-mail", "wrong horse battery").await);
    assert_eq!(hasher.runs(), (3, 1));

    // The right password still logs in, with one verification.
    auth.login("ada@example.com", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(hasher.runs(), (3, 2));
}
