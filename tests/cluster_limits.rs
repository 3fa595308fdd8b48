//! Rate limits and presence for the whole cluster: three instances on one PostgreSQL database,
//! requests spread over them round-robin. A principal's request limit and an account's login
//! limit hold for the cluster (within the slack docs/operations.md gives: what the client spent
//! on the other instances during one sync interval), where three separate instances would each
//! have allowed the whole burst; presence counts are the same from every instance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::subscribed;
use crate::support::{Server, pg_database};

const BURST: u32 = 5;
const PER_MINUTE: u32 = 60;
const SYNC_MS: u64 = 50;

/// Three instances on `url`; with `tight` limits (the burst and rate above), else limits no
/// test reaches.
fn cluster(url: &str, tight: bool) -> Vec<Server> {
    let (burst, per_minute) = if tight {
        (BURST.to_string(), PER_MINUTE.to_string())
    } else {
        ("100000".to_owned(), "100000".to_owned())
    };
    let sync = SYNC_MS.to_string();
    let env = [
        ("CHAT_THREADS__DATABASE__URL", url),
        (
            "CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_BURST",
            burst.as_str(),
        ),
        (
            "CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_PER_MINUTE",
            per_minute.as_str(),
        ),
        (
            "CHAT_THREADS__RATE_LIMIT__LOGIN_PER_ACCOUNT_BURST",
            burst.as_str(),
        ),
        (
            "CHAT_THREADS__RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE",
            per_minute.as_str(),
        ),
        ("CHAT_THREADS__RATE_LIMIT__CLUSTER_SYNC_MS", sync.as_str()),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "100000"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_PER_MINUTE", "100000"),
    ];
    (0..3).map(|_| Server::start(&env)).collect()
}

/// Sends `n` requests (`method path` with `body`, as `token`), round-robin over `servers`, one
/// every 40 ms (a client well over its limit); returns how many were let through and how long
/// it took.
async fn spread(
    servers: &[Server],
    n: usize,
    (method, path): (&str, &str),
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u32, Duration) {
    let started = Instant::now();
    let mut admitted = 0;
    for i in 0..n {
        let (status, _, _) = servers[i % servers.len()]
            .call(method, path, token, body)
            .await;
        assert_ne!(status, 500);
        if status != 429 {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    (admitted, started.elapsed())
}

/// What the cluster may let through in `elapsed`: the burst, the refill, and the documented
/// slack — what the client spent on the two other instances within one sync interval and the
/// bus's lag (at one request every 40 ms, round-robin: at most two a sync, each way).
fn allowed(elapsed: Duration) -> u32 {
    let refill = (elapsed.as_secs_f64() * f64::from(PER_MINUTE) / 60.0).ceil() as u32;
    BURST + refill + 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_for_the_cluster() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let servers = cluster(&url, true);
    let token = servers[0].token(&["--sub", "busy-client"]);
    let (admitted, elapsed) =
        spread(&servers, 60, ("GET", "/v1/threads"), Some(&token), None).await;
    // Three instances alone would let through 3 x (burst + refill).
    eprintln!(
        "requests: {admitted} of 60 let through in {elapsed:?} (at most {})",
        allowed(elapsed)
    );
    assert!(
        admitted <= allowed(elapsed) && admitted >= BURST,
        "{admitted} requests let through in {elapsed:?}"
    );

    let guess = json!({"email": "guess@example.com", "password": "not the password"});
    let (attempts, elapsed) =
        spread(&servers, 24, ("POST", "/v1/auth/login"), None, Some(&guess)).await;
    eprintln!(
        "logins: {attempts} of 24 let through in {elapsed:?} (at most {})",
        allowed(elapsed)
    );
    assert!(
        attempts <= allowed(elapsed) && attempts >= BURST,
        "{attempts} login attempts let through in {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_the_same_from_every_instance() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let servers = cluster(&url, false);
    let token = servers[0].token(&["--sub", "watched"]);
    let (status, _, thread) = servers[0]
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, 201);
    let tid = thread["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/threads/{tid}/presence");
    let presence = async |s: &Server| -> u64 {
        let (status, _, body) = s.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        body["connections"].as_u64().unwrap()
    };
    let until_all = async |want: u64| {
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen.clear();
            for s in &servers {
                seen.push(presence(s).await);
            }
            if seen.iter().all(|n| *n == want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("presence did not settle at {want} on every instance: {seen:?}");
    };
    // One connection on the first instance, two on the second, none on the third.
    let mut sockets = Vec::new();
    for s in [&servers[0], &servers[1], &servers[1]] {
        sockets.push(subscribed(s, &token, &tid).await);
    }
    until_all(3).await;
    // The second instance's two go away.
    for mut ws in sockets.drain(1..) {
        ws.close(None).await.unwrap();
    }
    until_all(1).await;
}
