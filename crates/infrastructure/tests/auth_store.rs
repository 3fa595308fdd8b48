//! Accounts, sessions, refresh tokens and generated secrets on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chat_threads_application::accounts::{
    Account, AuthStore, RefreshToken, Session, SessionCursor, SessionQuery,
};
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
        key: format!("key-of-{id}"),
        external_user_id: None,
        metadata: Metadata::default(),
        created_at: now(),
        expires_at: now() + chrono::TimeDelta::seconds(expires_in_secs),
        org: None,
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

fn org_query(is_active: Option<bool>) -> SessionQuery {
    SessionQuery {
        org: chat_threads_domain::OrgId::parse("acme").unwrap(),
        is_active,
        external_user_id: None,
        search: None,
        now: now(),
        after: None,
        limit: 100,
    }
}

async fn sessions_listed_found_and_deleted(store: SqlStore) {
    let acme = chat_threads_domain::OrgId::parse("acme").unwrap();
    let mut ids = Vec::new();
    for (i, (id, external, ttl)) in [
        ("s-1", Some("Ann_50%"), 3600),
        ("s-2", Some("bob"), -5),
        ("s-3", None, 3600),
        ("S-Four", Some("ann"), 3600),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .insert_session(Session {
                external_user_id: external.map(str::to_owned),
                org: Some(acme.clone()),
                created_at: now() + chrono::TimeDelta::milliseconds(i as i64),
                ..session(id, ttl)
            })
            .await
            .unwrap();
        ids.push(id);
    }
    store
        .insert_session(session("elsewhere", 3600))
        .await
        .unwrap();
    let listed = |q: SessionQuery| {
        let store = store.clone();
        async move {
            store
                .list_sessions(q)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(org_query(None)).await,
        ["S-Four", "s-3", "s-2", "s-1"]
    );
    assert_eq!(
        listed(org_query(Some(true))).await,
        ["S-Four", "s-3", "s-1"]
    );
    assert_eq!(listed(org_query(Some(false))).await, ["s-2"]);
    let by_user = SessionQuery {
        external_user_id: Some("ann".into()),
        ..org_query(None)
    };
    assert_eq!(listed(by_user).await, ["S-Four"]);
    // Search: case-insensitive, in the id or the external user id, LIKE characters literal.
    for (text, expected) in [
        ("ann", vec!["S-Four", "s-1"]),
        ("s-f", vec!["S-Four"]),
        ("50%", vec!["s-1"]),
        ("_", vec!["s-1"]),
        ("%", vec!["s-1"]),
    ] {
        let q = SessionQuery {
            search: Some(text.into()),
            ..org_query(None)
        };
        assert_eq!(listed(q).await, expected, "search {text:?}");
    }
    // Keyset paging.
    let first = store
        .list_sessions(SessionQuery {
            limit: 2,
            ..org_query(None)
        })
        .await
        .unwrap();
    let last = first.last().unwrap();
    let rest = SessionQuery {
        after: Some(SessionCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        }),
        ..org_query(None)
    };
    assert_eq!(listed(rest).await, ["s-2", "s-1"]);

    // Deleting takes the session's threads (and their messages) with it, nothing else.
    let mine = store.insert_thread(thread("anon:s-1", None)).await.unwrap();
    let other = store.insert_thread(thread("anon:s-3", None)).await.unwrap();
    assert_eq!(store.delete_session("s-1").await.unwrap(), Some(1));
    assert_eq!(store.delete_session("s-1").await.unwrap(), None);
    assert!(store.find_session("s-1").await.unwrap().is_none());
    let found = store.find_session("s-3").await.unwrap().unwrap();
    assert_eq!(found.org, Some(acme));
    assert_eq!(found.key, "key-of-s-3", "the session's key is stored");
    let scope = |o: &str| Scope::of(Owner::parse(o).unwrap());
    assert!(matches!(
        store.get_thread(&scope("anon:s-1"), mine.id, true).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(
        store
            .get_thread(&scope("anon:s-3"), other.id, true)
            .await
            .is_ok()
    );
    assert_eq!(ids.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_listed_found_and_deleted() {
    sessions_listed_found_and_deleted(support::sqlite_store().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_listed_found_and_deleted() {
    if let Some(store) = support::pg_store().await {
        sessions_listed_found_and_deleted(store).await;
    }
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
