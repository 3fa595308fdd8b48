//! Connections and memory are bounded by configuration, not by what clients do: 500 connections
//! that ask for a large message list and never read, plus 100 exports nobody reads, keep the
//! server under a documented bound (docs/security.md), and it still answers everybody else; a
//! connection over `server.max_connections` is answered at once; large responses on a
//! kept-alive connection arrive whole, one after another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::{Server, backend_env};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
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

/// Reads one HTTP/1.1 response with a Content-Length body: `(status, head, body)`.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> (u16, String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.unwrap();
        assert!(n > 0, "connection closed in the middle of a head: {head}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    (status, head, body)
}

/// A page of ~200 KB read 20 times over one kept-alive connection: every body arrives whole
/// and parses, each response right after the previous one on the same socket (how long each
/// takes — Nagle's algorithm held the tail of every response over one write buffer for the
/// client's delayed ACK — is measured by scripts/bench-http.sh, not here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_pages_arrive_whole_on_a_kept_alive_connection() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "reader"]);
    let (status, _, thread) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap().to_owned();
    // 50 replies of 4 KiB: a page of ~205 KB.
    for i in 0..50 {
        let content = format!("{i:02} {}", "assistant text ".repeat(273));
        let (status, _, m) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(&token),
                Some(&json!({"role": "assistant", "content": content})),
            )
            .await;
        assert_eq!(status, 201, "{m}");
    }
    let addr = server.base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let request = format!(
        "GET /v1/threads/{tid}/messages?limit=50 HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    for round in 0..20 {
        write.write_all(request.as_bytes()).await.unwrap();
        let (status, head, body) = read_response(&mut reader).await;
        assert_eq!(status, 200, "round {round}: {head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "round {round}: the server closed a kept-alive connection: {head}"
        );
        assert!(body.len() > 200_000, "round {round}: {} bytes", body.len());
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 50, "round {round}");
        assert!(data[0]["content"].as_str().unwrap().starts_with("00 "));
        assert!(data[49]["content"].as_str().unwrap().starts_with("49 "));
    }
}

/// With `server.max_connections` connections open, one more is answered at once with
/// `503 overloaded` in the error shape and closed, instead of waiting unanswered in the listen
/// backlog; once a connection closes, new ones are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_limit_is_refused_at_once() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__SERVER__MAX_CONNECTIONS", "4"),
    ]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Four kept-alive connections, each having been served once (so each is surely admitted).
    let mut held = Vec::new();
    for _ in 0..4 {
        let stream = TcpStream::connect(&addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        write
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (status, _, _) = read_response(&mut reader).await;
        assert_eq!(status, 200);
        held.push((reader, write));
    }
    let over = async {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut reader = BufReader::new(stream);
        read_response(&mut reader).await
    };
    // A generous bound only so that a hang fails the test instead of blocking it.
    let (status, head, body) = tokio::time::timeout(Duration::from_secs(30), over)
        .await
        .expect("the connection over the limit was left waiting");
    assert_eq!(status, 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    // A connection closes: the next one is served (the server notices the close shortly).
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        let (status, _) = server.get("/healthz").await;
        if status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "no connection was served after one closed");
}

/// Idle and slow-loris connections do not take every slot: with every slot held by connections
/// that sent nothing or only part of a request head, a new client is still served (the oldest
/// silent connection is closed to make room), and a connection that has spoken keeps its slot.
#[tokio::test]
async fn idle_and_slow_connections_make_room_for_a_new_client() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__SERVER__MAX_CONNECTIONS", "30"),
    ]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // One client that spoke and keeps its connection.
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut talker = BufReader::new(read);
    let ask = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    write.write_all(ask.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut talker).await.0, 200);
    // Every other slot (and more) held: idle connections and slow-loris ones (half a head).
    let mut silent = Vec::new();
    for i in 0..45 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        silent.push(s);
    }
    // New clients are served, over and over.
    for _ in 0..5 {
        let fresh = async {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(ask.as_bytes()).await.unwrap();
            read_response(&mut BufReader::new(s)).await
        };
        let (status, head, _) = tokio::time::timeout(Duration::from_secs(30), fresh)
            .await
            .expect("a new client was left waiting");
        assert_eq!(status, 200, "{head}");
    }
    // The one that spoke kept its slot (asked again within its keep-alive).
    write.write_all(ask.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut talker).await.0, 200);
    // Silent connections were closed to make room.
    let mut closed = 0;
    for s in &mut silent {
        let mut byte = [0_u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 15, "only {closed} silent connections were closed");
}
