//! Benchmark: how late reply events produced on instance A reach instance B through the
//! PostgreSQL event bus (LISTEN/NOTIFY), with many replies streaming at once.
//!
//! Two bridges in one process, each with its own connections, as two instances would have: A
//! publishes, B listens. Every reply emits one delta every 50 ms (about what a model streams)
//! for 3 s. The latency of an event is the time from `forward` on A to its arrival in B's
//! mirror callback, for every event (coalesced deltas are split back, so each is counted). The
//! baseline is one reply alone, measured in the same run; 1,000 replies are reported against it.
//!
//! Run with `scripts/bench-bus.sh` (needs PostgreSQL: TEST_DATABASE_URL, or the script starts
//! one). The figures are in docs/operations.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_threads_application::events::{Event, EventBridge, ThreadEvent, ThreadEvents};
use chat_threads_domain::{MessageId, ThreadId};
use chat_threads_infrastructure::bus::PgBridge;
use chat_threads_infrastructure::db::{Database, DatabaseUrl, PoolOptions};

const INTERVAL: Duration = Duration::from_millis(50);
const DURATION: Duration = Duration::from_secs(3);

type Sent = Arc<Mutex<HashMap<(MessageId, u64), Instant>>>;

struct Figures {
    events: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    lost: usize,
}

async fn run(url: &str, replies: usize) -> Figures {
    let runtime = tokio::runtime::Handle::current();
    let a = PgBridge::start(url.to_owned(), &runtime);
    let b = PgBridge::start(url.to_owned(), &runtime);
    let sent: Sent = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (seen, lat) = (sent.clone(), latencies.clone());
    b.listen(
        url.to_owned(),
        ThreadEvents::default(),
        Arc::new(move |e: &ThreadEvent| {
            let now = Instant::now();
            let (Some(reply), Some(seq)) = (e.reply_id, e.seq) else {
                return;
            };
            if let Some(at) = seen.lock().unwrap().remove(&(reply, seq)) {
                lat.lock().unwrap().push(now - at);
            }
        }),
        &runtime,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tasks = Vec::new();
    for _ in 0..replies {
        let a = a.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let (thread, reply) = (ThreadId::new(), MessageId::new());
            // Spread the replies' ticks over the interval, as independent streams would be.
            tokio::time::sleep(INTERVAL.mul_f64(rand_fraction(reply))).await;
            let mut tick = tokio::time::interval(INTERVAL);
            let start = Instant::now();
            let mut seq = 0;
            while start.elapsed() < DURATION {
                tick.tick().await;
                seq += 1;
                let event = ThreadEvent {
                    thread_id: thread,
                    seq: Some(seq),
                    reply_id: Some(reply),
                    data: Event::MessageDelta {
                        delta: "word ".into(),
                    },
                };
                sent.lock().unwrap().insert((reply, seq), Instant::now());
                a.forward(&event);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Let the last events arrive.
    for _ in 0..100 {
        if sent.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lost = sent.lock().unwrap().len();
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Figures {
        events: all.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: *all.last().unwrap(),
        lost,
    }
}

/// A fraction in [0, 1) from an id (no random crate needed).
fn rand_fraction(id: MessageId) -> f64 {
    (id.as_uuid().as_u128() % 1000) as f64 / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!(
            "bus_latency needs PostgreSQL: set TEST_DATABASE_URL or use scripts/bench-bus.sh"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // A fresh database with the schema (event_payloads).
        let name = format!("ct_bench_bus_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        let url = url.to_string();
        let db = Database::connect(&DatabaseUrl::parse(&url).unwrap(), PoolOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();

        println!(
            "cross-instance delivery (A publishes, B receives), one delta per reply every {} ms for {} s",
            INTERVAL.as_millis(),
            DURATION.as_secs()
        );
        println!(
            "{:>8} {:>9} {:>10} {:>10} {:>10} {:>6} {:>12}",
            "replies", "events", "p50 ms", "p99 ms", "max ms", "lost", "p99 / base"
        );
        let mut base = None;
        for replies in [1usize, 100, 1_000] {
            let f = run(&url, replies).await;
            let b = *base.get_or_insert(ms(f.p99).max(0.001));
            println!(
                "{replies:>8} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>6} {:>11.1}x",
                f.events,
                ms(f.p50),
                ms(f.p99),
                ms(f.max),
                f.lost,
                ms(f.p99) / b
            );
        }
        drop(db);
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
    });
}
