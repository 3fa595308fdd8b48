//! argon2id password hashing, off the request threads: each hash runs on tokio's blocking
//! pool, at most `concurrency` at a time, with at most `queue` requests waiting; beyond that
//! the request is refused at once (503 `overloaded`) instead of piling up.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use chat_threads_application::AppError;
use chat_threads_application::accounts::PasswordHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
#[derive(Clone)]
pub struct Argon2Hasher {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
}

/// Counts a request waiting for a hashing slot while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2Hasher")
    }
}

impl Argon2Hasher {
    /// A hasher running at most `concurrency` hashes at once (0: one less than the cores, at
    /// least one, so the HTTP workers always keep a core) with at most `queue` waiting.
    ///
    /// Nothing is hashed up front: a log-in with an unknown e-mail hashes the password it was
    /// given instead of verifying it against a dummy hash computed here at start-up (whose
    /// 19 MiB the allocator kept resident in an idle process).
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = match concurrency {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
            n => n,
        };
        Self {
            running: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::default(),
            queue,
        }
    }

    /// Hashes (or verifies) waiting for a slot right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool once a slot is free; refuses when the queue is full.
    async fn off_the_workers<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(AppError::Overloaded(
                "too many password checks are waiting".into(),
            ));
        }
        let permit = {
            let _waiting = Waiting(&self.waiting);
            self.running
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| AppError::Overloaded("password hashing has stopped".into()))?
        };
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| AppError::internal_from("password hashing task failed", e))?;
        Ok(result)
    }
}

fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal_from("password hashing failed", e))
}

impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        let password = password.to_owned();
        self.off_the_workers(move || hash(&password)).await?
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AppError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.off_the_workers(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let h = Argon2Hasher::new(0, 8);
        let a = h.hash("correct horse battery").await.unwrap();
        let b = h.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(h.verify("correct horse battery", &a).await.unwrap());
        assert!(!h.verify("wrong horse battery", &a).await.unwrap());
        assert!(
            !h.verify("correct horse battery", "not a hash")
                .await
                .unwrap()
        );
    }

    /// An HTTP worker is a single-threaded runtime like this test's: the hash must run elsewhere.
    #[tokio::test]
    async fn hashing_never_runs_on_the_calling_thread() {
        let h = Argon2Hasher::new(1, 4);
        let caller = std::thread::current().id();
        let ran_on = h
            .off_the_workers(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(caller, ran_on);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_instead_of_piling_up() {
        let h = Argon2Hasher::new(1, 2);
        let stored = h.hash("the account's password").await.unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let h = h.clone();
                let stored = stored.clone();
                tokio::spawn(async move { h.verify("guess", &stored).await })
            })
            .collect();
        let mut refused = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(false) => done += 1,
                Err(AppError::Overloaded(_)) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(refused > 0, "some were refused");
        assert!(done >= 1, "the ones that got a slot finished");
        assert_eq!(h.waiting(), 0);
    }
}
