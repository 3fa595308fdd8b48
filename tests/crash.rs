//! kill -9 in the middle of a reply: after a restart the reply is failed with the text flushed
//! so far, its stream ends with `message.failed`, and the thread takes a new chat at once — on
//! SQLite and PostgreSQL. With two instances on PostgreSQL, the survivor releases the dead
//! instance's reply and its followers get `message.failed`. On SQLite, appends reach the
//! database file itself in the background, so the file alone holds them after a kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::{Server, backend_env, pg_database};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Subscribes to a thread over a WebSocket and waits (up to 20 s) for `message.failed`.
async fn socket_until_failed(base: String, token: String, tid: String) -> Value {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/v1/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let subscribe = json!({"op": "subscribe", "id": 1, "thread_id": tid}).to_string();
    ws.send(Message::Text(subscribe.into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                let frame: Value = serde_json::from_str(&t).unwrap();
                if frame["event"] == "message.failed" {
                    return frame;
                }
            }
        }
        panic!("the socket closed before message.failed");
    })
    .await
    .expect("no message.failed reached the subscriber")
}

/// Slow enough to be killed mid-reply; flushed often so some text is stored.
const SLOW: [(&str, &str); 3] = [
    ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "150"),
    ("CHAT_THREADS__GENERATION__FLUSH_INTERVAL_MS", "100"),
    ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
];

/// The SSE events of a response, until the stream ends or `until` is seen.
async fn events(resp: reqwest::Response, until: Option<&str>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), body.next())
        .await
        .expect("the stream went silent")
    {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let mut name = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                }
                if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            if name.is_empty() {
                continue;
            }
            let done = until == Some(name.as_str());
            out.push((name, data));
            if done {
                return out;
            }
        }
    }
    out
}

/// Starts a streamed reply and returns (thread, reply id, the open response) once a few words
/// have been generated and flushed.
async fn reply_in_progress(server: &Server, token: &str) -> (String, String, reqwest::Response) {
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let words: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(token)
        .json(&json!({"content": words.join(" "), "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, _, list) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages"),
            Some(token),
            None,
        )
        .await;
    let rid = list["data"][1]["id"].as_str().unwrap().to_owned();
    // Wait until some text is flushed to the database.
    for _ in 0..100 {
        let (_, _, m) = server
            .call(
                "GET",
                &format!("/v1/threads/{tid}/messages/{rid}"),
                Some(token),
                None,
            )
            .await;
        if m["content"].as_str().is_some_and(|c| c.len() > 10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (tid, rid, resp)
}

async fn after_a_crash_the_reply_is_failed_at_once(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend(SLOW);
    let mut server = Server::start(&env);
    let token = server.token(&["--sub", "crashy"]);
    let (tid, rid, resp) = reply_in_progress(&server, &token).await;
    drop(resp);
    server.crash_and_restart();

    // The thread accepts a new chat at once.
    let (status, _, body) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "are you back?"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The interrupted reply is failed, with the text flushed before the crash.
    let (_, _, old) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages/{rid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(old["status"], "failed", "{old}");
    let partial = old["content"].as_str().unwrap();
    assert!(partial.starts_with("Echo: w0 w1"), "{partial}");
    // Following it ends with message.failed.
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/v1/threads/{tid}/messages/{rid}/stream",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let seen = events(resp, None).await;
    let (last, data) = seen.last().unwrap();
    assert_eq!(last, "message.failed", "{seen:?}");
    assert_eq!(data["content"], partial);
}

#[tokio::test]
async fn after_a_crash_the_reply_is_failed_at_once_on_sqlite() {
    after_a_crash_the_reply_is_failed_at_once(false).await;
}

#[tokio::test]
async fn after_a_crash_the_reply_is_failed_at_once_on_postgres() {
    after_a_crash_the_reply_is_failed_at_once(true).await;
}

#[tokio::test]
async fn the_surviving_instance_releases_a_dead_instances_reply() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let mut env = vec![("CHAT_THREADS__DATABASE__URL", url.as_str())];
    env.extend(SLOW);
    let mut a = Server::start(&env);
    let b = Server::start(&env);
    let token = a.token(&["--sub", "two"]);
    let (tid, rid, resp) = reply_in_progress(&a, &token).await;
    // A follower on B, attached to the reply A writes.
    let follower = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/messages/{rid}/stream", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(follower.status().as_u16(), 200);
    let following = tokio::spawn(events(follower, Some("message.failed")));
    // And a WebSocket subscriber of the thread on B.
    let subscribed = tokio::spawn(socket_until_failed(
        b.base.clone(),
        token.clone(),
        tid.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(resp);
    a.crash();

    // B notices by itself (its check runs every 2 s): the follower gets message.failed.
    let seen = following.await.unwrap();
    let (last, data) = seen.last().unwrap();
    assert_eq!(last, "message.failed", "{seen:?}");
    assert!(data["content"].as_str().unwrap().starts_with("Echo: w0"));
    // So does the subscriber, with the same text.
    let end = subscribed.await.unwrap();
    assert_eq!(end["data"]["message_id"], json!(rid), "{end}");
    assert_eq!(end["data"]["content"], data["content"], "{end}");
    let (_, _, old) = b
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages/{rid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(old["status"], "failed");
    // And the thread takes a new chat on B.
    let (status, _, body) = b
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "still there?"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_live_instances_reply_is_never_taken_for_a_dead_ones() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let mut env = vec![("CHAT_THREADS__DATABASE__URL", url.as_str())];
    env.extend(SLOW);
    let a = Server::start(&env);
    let b = Server::start(&env);
    let token = a.token(&["--sub", "alive"]);
    let (tid, rid, resp) = reply_in_progress(&a, &token).await;
    // B sees a reply in progress on A: a send is refused, the reply keeps streaming.
    let (status, _, body) = b
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "me too"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await; // B's check runs meanwhile
    let seen = events(resp, Some("message.completed")).await;
    assert_eq!(seen.last().unwrap().0, "message.completed");
    let (_, _, m) = b
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages/{rid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(m["status"], "complete");
}

#[tokio::test]
async fn an_idempotency_key_held_by_a_dead_request_can_be_retried() {
    let mut env: Vec<(&str, &str)> = SLOW.to_vec();
    env.push(("CHAT_THREADS__SERVER__IDEMPOTENCY_LEASE_SECS", "2"));
    let mut server = Server::start(&env);
    let token = server.token(&["--sub", "retry"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let body = json!({"content": words.join(" ")});
    let send = |base: String| {
        let token = token.clone();
        let body = body.clone();
        let tid = tid.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/v1/threads/{tid}/chat"))
                .bearer_auth(token)
                .header("idempotency-key", "only-once")
                .json(&body)
                .send()
                .await
        }
    };
    // A non-streamed chat holds its key while the reply is written; the process dies meanwhile.
    let first = tokio::spawn(send(server.base.clone()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.crash_and_restart();
    assert!(
        first.await.unwrap().is_err(),
        "the first request died with the server"
    );
    // Once the lease has passed, the retry with the same key runs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let retry = send(server.base.clone()).await.unwrap();
    assert_eq!(retry.status().as_u16(), 201);
    let reply: Value = retry.json().await.unwrap();
    assert_eq!(reply["assistant_message"]["status"], "complete");
}

async fn concurrent_regenerates_start_one_reply(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend(SLOW);
    let server = Server::start(&env);
    let token = server.token(&["--sub", "regen"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (status, _, reply) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "one two three four five six"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let rid = reply["assistant_message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let base = server.base.clone();
            let token = token.clone();
            let path = format!("/v1/threads/{tid}/messages/{rid}/regenerate");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .json(&json!({"stream": true}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let started = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((started, refused), (1, 24), "{statuses:?}");
}

#[tokio::test]
async fn concurrent_regenerates_start_one_reply_on_sqlite() {
    concurrent_regenerates_start_one_reply(false).await;
}

#[tokio::test]
async fn concurrent_regenerates_start_one_reply_on_postgres() {
    concurrent_regenerates_start_one_reply(true).await;
}

/// SQLite's WAL is copied into the database file in the background while appends go on (not by
/// the commit of an append, on an HTTP worker, and not only at shutdown): after a crash, the
/// database file alone — its WAL removed — already holds every append.
#[tokio::test]
async fn appends_reach_the_sqlite_file_in_the_background() {
    let mut server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "checkpointed"]);
    let (status, _, thread) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap().to_owned();
    let file = server.dir().join("data/chat-threads.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    let content = "w".repeat(1024);
    for _ in 0..300 {
        let (status, _, m) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(&token),
                Some(&json!({"content": content})),
            )
            .await;
        assert_eq!(status, 201, "{m}");
    }
    // ~300 KiB of messages, far below the writer's own checkpoint backstop (64 MiB of WAL):
    // only the background checkpointer puts them in the file. Wait until it has, and until the
    // file stopped changing (no checkpoint half done when the process is killed).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = (size(), 0);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = size();
        last = if now == last.0 {
            (now, last.1 + 1)
        } else {
            (now, 0)
        };
        if now >= before + 300 * 1024 && last.1 >= 8 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {now} bytes (from {before}) with ~300 KiB appended"
        );
    }
    server.crash_then_restart(|dir| {
        for wal in ["data/chat-threads.db-wal", "data/chat-threads.db-shm"] {
            let _ = std::fs::remove_file(dir.join(wal));
        }
    });
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/threads/{tid}/messages?limit=100&cursor={c}"),
            None => format!("/v1/threads/{tid}/messages?limit=100"),
        };
        let (status, _, page) = server.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{page}");
        seen += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) if page["has_more"] == true => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    assert_eq!(seen, 300, "every append is in the database file itself");
}
