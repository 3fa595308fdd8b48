//! Benchmark: reading the last 50 messages of a thread's active path stays flat as the thread
//! grows. Builds chains of depth 100, 1,000 and 10,000 on SQLite (and PostgreSQL when
//! `TEST_DATABASE_URL` is set), times the read, and reports each depth as a ratio to the
//! depth-100 baseline measured in the same run, plus the query plan showing the index use.
//!
//! Run with `scripts/bench-active-path.sh` (or `cargo bench -p chat-threads-infrastructure
//! --bench active_path`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::time::{Duration, Instant};

use chat_threads_application::{MessageStore, NewMessage, ThreadStore};
use chat_threads_domain::{
    Content, ContentType, Limits, Message, MessageId, MessageStatus, Metadata, Owner, Role, Scope,
    Thread, ThreadId,
};
use chat_threads_infrastructure::SqlStore;
use chat_threads_infrastructure::db::{Database, DatabaseUrl, PoolOptions};

const DEPTHS: [usize; 3] = [100, 1_000, 10_000];
const WINDOW: u32 = 50;
const READS: usize = 300;

fn now() -> chat_threads_domain::Timestamp {
    chat_threads_domain::to_micros(chrono::Utc::now())
}

fn thread(owner: &Owner) -> Thread {
    Thread::new(owner.clone(), now())
}

fn message(i: usize) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        role: if i.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        },
        content: Content::parse(
            format!("message number {i} with a little text"),
            &Limits::default(),
        )
        .unwrap(),
        content_type: ContentType::Text,
        display_text: None,
        status: MessageStatus::Complete,
        model: None,
        prompt_tokens: None,
        completion_tokens: None,
        metadata: Metadata::default(),
        edited_at: None,
        created_at: now(),
        attachments: Vec::new(),
        parts: Vec::new(),
        author: None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn bench_backend(label: &str, store: SqlStore) {
    let owner = Owner::parse("bench").unwrap();
    let scope = Scope::of(owner.clone());
    println!("\n== {label} ==");
    let mut baseline: Option<f64> = None;
    let mut deepest: Option<ThreadId> = None;
    println!(
        "{:>8} {:>16} {:>12} {:>18}",
        "depth", "last-50 median", "vs depth 100", "whole path median"
    );
    for depth in DEPTHS {
        let t = store.insert_thread(thread(&owner)).await.unwrap();
        for i in 0..depth {
            let _: Message = store
                .append_message(&scope, t.id, None, message(i))
                .await
                .unwrap();
        }
        // Warm the connection pool and statement caches so the baseline is not penalised.
        for _ in 0..30 {
            store.active_path(&scope, t.id, None, WINDOW).await.unwrap();
        }
        let mut samples = Vec::with_capacity(READS);
        for _ in 0..READS {
            let start = Instant::now();
            let path = store.active_path(&scope, t.id, None, WINDOW).await.unwrap();
            samples.push(start.elapsed());
            assert_eq!(path.len(), WINDOW as usize);
        }
        let window = median(samples);
        let mut whole = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            let path = store
                .active_path(&scope, t.id, None, u32::MAX)
                .await
                .unwrap();
            whole.push(start.elapsed());
            assert_eq!(path.len(), depth);
        }
        let micros = window.as_secs_f64() * 1e6;
        let base = *baseline.get_or_insert(micros);
        println!(
            "{depth:>8} {:>14.0}µs {:>11.2}x {:>16.0}µs",
            micros,
            micros / base,
            median(whole).as_secs_f64() * 1e6
        );
        deepest = Some(t.id);
    }
    let thread_id = deepest.unwrap();
    println!("\nquery plan for the last {WINDOW} of the depth-10,000 chain:");
    for line in store
        .explain_active_path(&scope, thread_id, WINDOW)
        .await
        .unwrap()
    {
        println!("  {line}");
    }
}

async fn open(url: &str) -> SqlStore {
    let url = DatabaseUrl::parse(url).unwrap();
    let db = Database::connect(&url, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    SqlStore::new(db)
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("active_path: benchmark skipped (run it with cargo bench)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
    bench_backend("SQLite", open(&sqlite).await).await;

    if let Ok(admin) = std::env::var("TEST_DATABASE_URL") {
        let name = format!("ct_bench_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        // Building 11,100 one-message transactions is the slow part; the reads are what we time.
        client
            .batch_execute(&format!(
                "ALTER DATABASE {name} SET synchronous_commit = off"
            ))
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        let store = open(url.as_str()).await;
        bench_backend("PostgreSQL", store.clone()).await;
        drop(store);
        client
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
    } else {
        println!(
            "\n(PostgreSQL skipped: set TEST_DATABASE_URL, or use scripts/bench-active-path.sh)"
        );
    }
}
