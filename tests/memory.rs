//! Memory is bounded by configuration, not by what clients do: 500 connections that ask for a
//! large message list and never read, plus 100 exports nobody reads, keep the server under a
//! documented bound (docs/security.md), and it still answers everybody else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Server, backend_env};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// The documented bound for this scenario (docs/security.md).
const BOUND_MIB: u64 = 512;
const STALLED_LISTS: usize = 500;
const STALLED_EXPORTS: usize = 100;

fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

/// Opens a connection with a tiny receive buffer, sends one GET and never reads the answer.
async fn stalled(base: &str, path: &str, token: &str) -> TcpStream {
    let addr = base
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

async fn bounded_under_stalled_clients(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "hoarder"]);
    let (status, _, thread) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap().to_owned();
    // 100 messages of 200 KiB: a 20 MB thread, its whole path and its export.
    let big = "x".repeat(200 * 1024);
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let resp = client
            .post(format!("{}/v1/threads/{tid}/messages", server.base))
            .bearer_auth(&token)
            .json(&json!({"role": "user", "content": big}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }
    let pid = server.pid();
    let before = rss_mib(pid);

    let path = format!("/v1/threads/{tid}/messages");
    let mut held = Vec::new();
    for _ in 0..STALLED_LISTS {
        held.push(stalled(&server.base, &path, &token).await);
    }
    for _ in 0..STALLED_EXPORTS {
        held.push(stalled(&server.base, "/v1/export", &token).await);
    }
    // Let every request be answered as far as the clients allow.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Everybody else is still served.
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, _, page) = server
        .call("GET", &format!("{path}?limit=5"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{page}");
    // Five 200 KiB messages pass limits.page_bytes (512 KiB): the page stops at two.
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);

    let during = rss_mib(pid);
    eprintln!(
        "memory ({}): {before} MiB before, {during} MiB with {STALLED_LISTS} stalled lists and \
         {STALLED_EXPORTS} stalled exports (bound {BOUND_MIB} MiB)",
        if postgres { "postgres" } else { "sqlite" }
    );
    assert!(
        during < BOUND_MIB,
        "RSS {during} MiB with stalled clients, over the bound of {BOUND_MIB} MiB"
    );
    drop(held);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..200 {
        server.get("/healthz").await;
    }
    eprintln!("memory: {} MiB after the clients left", rss_mib(pid));
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
}

/// Finished replies stay followable for `generation.retention_secs`; their logs keep the text
/// once (a delta is a range of one buffer), not a JSON event per word. 30 replies of 3,000
/// words held ~197 MiB that way; now the whole process grows by ~36 MiB over them (debug build,
/// database caches included), under the 64 MiB this test allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_logs_are_compact() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", "talker"]);
    let words: Vec<String> = (0..3000).map(|i| format!("word{i}")).collect();
    let content = words.join(" ");
    let pid = server.pid();
    let before = rss_mib(pid);
    for _ in 0..30 {
        let (status, _, thread) = server
            .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
            .await;
        assert_eq!(status, 201, "{thread}");
        let tid = thread["id"].as_str().unwrap();
        let (status, _, reply) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/chat"),
                Some(&token),
                Some(&json!({"content": content})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        let text = reply["assistant_message"]["content"].as_str().unwrap();
        assert_eq!(text.split_whitespace().count(), 3001, "Echo: and the words");
    }
    let after = rss_mib(pid);
    eprintln!(
        "reply logs: {before} MiB before, {after} MiB with 30 retained replies of 3,000 words"
    );
    assert!(
        after.saturating_sub(before) < 64,
        "30 retained replies grew RSS by {} MiB",
        after.saturating_sub(before)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_under_stalled_clients_sqlite() {
    bounded_under_stalled_clients(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_under_stalled_clients_postgres() {
    bounded_under_stalled_clients(true).await;
}
