//! Accounts, sessions, refresh tokens and generated secrets on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_application::accounts::{Account, AuthStore, RefreshToken, Session};
use chat_threads_application::{AppError, ThreadStore};
use chat_threads_domain::{Metadata, Owner, Scope, Thread};
use chat_threads_infrastructure::SqlStore;

fn now() -> chat_threads_domain::Timestamp {
    chat_threads_domain::to_micros(chrono::Utc::now())
}

fn thread(owner: &str, expires_at: Option<chat_threads_domain::Timestamp>) -> Thread {
    Thread {
        expires_at,
        ..Thread::new(Owner::parse(owner).unwrap(), now())
    }
}

fn session(id: &str, expires_in_secs: i64) -> Session {
    Session {
        id: id.into(),
        external_user_id: None,
        metadata: Metadata::default(),
        created_at: now(),
        expires_at: now() + chrono::TimeDelta::seconds(expires_in_secs),
    }
}

async fn purge_and_secrets(store: SqlStore) {
    store.insert_session(session("old", -10)).await.unwrap();
    store.insert_session(session("fresh", 3600)).await.unwrap();
    assert!(matches!(
        store.insert_session(session("fresh", 60)).await,
        Err(AppError::Conflict(_))
    ));
    let old = store.insert_thread(thread("anon:old", None)).await.unwrap();
    let fresh = store
        .insert_thread(thread("anon:fresh", None))
        .await
        .unwrap();
    let expiring = store
        .insert_thread(thread(
            "user:u",
            Some(now() - chrono::TimeDelta::seconds(1)),
        ))
        .await
        .unwrap();
    let keeper = store
        .insert_thread(thread("user:u", Some(now() + chrono::TimeDelta::hours(1))))
        .await
        .unwrap();

    assert_eq!(store.purge_expired(now()).await.unwrap(), (1, 2));
    let gone = |owner: &str, id| {
        let store = store.clone();
        let scope = Scope::of(Owner::parse(owner).unwrap());
        async move {
            matches!(
                store.get_thread(&scope, id, true).await,
                Err(AppError::ThreadNotFound)
            )
        }
    };
    assert!(gone("anon:old", old.id).await);
    assert!(gone("user:u", expiring.id).await);
    assert!(!gone("anon:fresh", fresh.id).await);
    assert!(!gone("user:u", keeper.id).await);
    assert!(
        matches!(store.insert_session(session("old", 60)).await, Ok(())),
        "a purged session id is free again"
    );

    let first = store
        .secret_or_insert("k", "one".into(), now())
        .await
        .unwrap();
    let second = store
        .secret_or_insert("k", "two".into(), now())
        .await
        .unwrap();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("one", "one"),
        "the first writer wins"
    );
}

async fn refresh_tokens_spend_once(store: SqlStore) {
    let account = Account {
        id: uuid::Uuid::now_v7(),
        email: "a@b.io".into(),
        password_hash: "h".into(),
        created_at: now(),
    };
    store.insert_account(account.clone()).await.unwrap();
    assert!(matches!(
        store
            .insert_account(Account {
                id: uuid::Uuid::now_v7(),
                ..account.clone()
            })
            .await,
        Err(AppError::Conflict(_))
    ));
    assert_eq!(
        store.find_account("a@b.io").await.unwrap().unwrap().id,
        account.id
    );
    let family = uuid::Uuid::now_v7();
    let token = RefreshToken {
        id: uuid::Uuid::now_v7(),
        account_id: account.id,
        family_id: family,
        token_hash: "hash-1".into(),
        expires_at: now() + chrono::TimeDelta::hours(1),
        revoked_at: None,
        created_at: now(),
    };
    store.insert_refresh(token.clone()).await.unwrap();
    store
        .insert_refresh(RefreshToken {
            id: uuid::Uuid::now_v7(),
            token_hash: "hash-2".into(),
            ..token.clone()
        })
        .await
        .unwrap();
    // Many concurrent spends of one token: exactly one sees it live.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { store.spend_refresh("hash-1", now()).await.unwrap().unwrap() },
            )
        })
        .collect();
    let mut live = 0;
    for t in tasks {
        if t.await.unwrap().revoked_at.is_none() {
            live += 1;
        }
    }
    assert_eq!(live, 1);
    store.revoke_family(family, now()).await.unwrap();
    assert!(
        store
            .spend_refresh("hash-2", now())
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .spend_refresh("unknown", now())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_purge_and_secrets() {
    purge_and_secrets(support::sqlite_store().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_purge_and_secrets() {
    if let Some(store) = support::pg_store().await {
        purge_and_secrets(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refresh_tokens_spend_once() {
    refresh_tokens_spend_once(support::sqlite_store().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refresh_tokens_spend_once() {
    if let Some(store) = support::pg_store().await {
        refresh_tokens_spend_once(store).await;
    }
}
