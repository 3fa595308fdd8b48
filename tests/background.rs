//! Background replies through the binary, on SQLite and PostgreSQL: chat, regenerate, resend
//! and tool results with `background: true` answer 202 at once and the reply runs to the end
//! with no client; its end reaches the change feed and a webhook; cancel works; a crash fails
//! it (in the feed too). `/openai/v1/responses` with `background: true`: `queued`, polled to
//! `completed`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_openai::FakeModel;
use crate::support::{Server, backend_env};

/// Polls a message until it is no longer streaming (20 s at most).
async fn settled(server: &Server, token: &str, tid: &str, mid: &str) -> Value {
    for _ in 0..400 {
        let (s, m) = server
            .as_user(
                token,
                "GET",
                &format!("/v1/threads/{tid}/messages/{mid}"),
                Value::Null,
            )
            .await;
        assert_eq!(s, 200, "{m}");
        if m["status"] != "streaming" {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the reply never ended");
}

/// The feed's entries about one message.
async fn feed_of(server: &Server, token: &str, mid: &str) -> Vec<String> {
    crate::support::feed_entries(server, token)
        .await
        .into_iter()
        .filter(|e| e["data"]["message_id"] == mid || e["data"]["message"]["id"] == mid)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn background(postgres: bool) {
    let Some(backend) = backend_env(postgres).await else {
        return;
    };
    let fake = FakeModel::start();
    let mut env = fake.env();
    env.extend(backend);
    env.push((
        "CHAT_THREADS__WEBHOOKS__ALLOW_PRIVATE".into(),
        "true".into(),
    ));
    env.push(("CHAT_THREADS__WEBHOOKS__INTERVAL_MS".into(), "100".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = Server::start(&pairs);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let (url, inbox) = crate::webhooks::receiver();
    let (s, _) = server
        .as_user(
            &alice,
            "POST",
            "/v1/webhooks",
            json!({"url": url, "events": ["message.completed", "message.failed"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, t) = server
        .as_user(&alice, "POST", "/v1/threads", json!({}))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();

    // A slow reply (20 words, 100 ms apart): 202 long before it ends, nobody waiting.
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "take your time", "model": "fake-slow", "background": true}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["assistant_message"]["status"], "streaming");
    assert_eq!(r["user_message"]["content"], "take your time");
    let aid = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    let done = settled(&server, &alice, &tid, &aid).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(
        done["content"].as_str().unwrap().split_whitespace().count(),
        20
    );
    assert_eq!(
        feed_of(&server, &alice, &aid).await,
        ["message.created", "message.completed"]
    );
    // The webhook got its end, signed.
    let got = crate::webhooks::until(&inbox, "the background reply's end", |g| {
        g.iter()
            .any(|r| r.json()["data"]["message_id"] == aid.as_str())
    })
    .await;
    assert!(got.iter().any(|r| r.json()["type"] == "message.completed"));

    // Regenerate, resend and tool results in the background too.
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages/{aid}/regenerate"),
            json!({"model": "fake-ok", "background": true}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let regen = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        settled(&server, &alice, &tid, &regen).await["content"],
        "Hello world"
    );
    let uid = done["parent_id"].as_str().unwrap().to_owned();
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages/{uid}/resend"),
            json!({"content": "again", "model": "fake-ok", "background": true}),
        )
        .await;
    assert_eq!(
        (s, &r["user_message"]["content"]),
        (202, &json!("again")),
        "{r}"
    );
    let resent = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        settled(&server, &alice, &tid, &resent).await["status"],
        "complete"
    );
    let tools = json!([{"name": "weather", "parameters": {"type": "object"}},
                       {"name": "clock", "parameters": {"type": "object"}}]);
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "use tools", "model": "fake-tools", "tools": tools}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let caller = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    let calls: Vec<String> = r["assistant_message"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "tool_call")
        .map(|p| p["call_id"].as_str().unwrap().to_owned())
        .collect();
    let results: Vec<Value> = calls
        .iter()
        .map(|c| json!({"call_id": c, "output": "sunny"}))
        .collect();
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages/{caller}/tool_results"),
            json!({"results": results, "model": "fake-tools", "background": true}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let cont = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    let after_tools = settled(&server, &alice, &tid, &cont).await;
    assert!(
        after_tools["content"]
            .as_str()
            .unwrap()
            .starts_with("Done: "),
        "{after_tools}"
    );

    // Cancelled like any reply: its text kept, `message.cancelled` in the feed.
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "stall", "model": "fake-stall", "background": true}),
        )
        .await;
    assert_eq!(s, 202);
    let stalled = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, c) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages/{stalled}/cancel"),
            Value::Null,
        )
        .await;
    assert_eq!((s, &c["status"]), (200, &json!("cancelled")), "{c}");
    assert!(
        feed_of(&server, &alice, &stalled)
            .await
            .contains(&"message.cancelled".to_owned())
    );

    // A crash of its instance fails it on restart, with the text it had; the feed says so.
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "stall again", "model": "fake-stall", "background": true}),
        )
        .await;
    assert_eq!(s, 202);
    let lost = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.crash_and_restart();
    let failed = settled(&server, &alice, &tid, &lost).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let events = feed_of(&server, &alice, &lost).await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("message.failed"),
        "{events:?}"
    );

    // Bad input is refused as always, nothing started.
    let (s, _) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "x", "background": "yes"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn background_replies_on_sqlite() {
    background(false).await;
}

#[tokio::test]
async fn background_replies_on_postgres() {
    background(true).await;
}

/// `/openai/v1/responses` with `background: true`: answered `queued` at once, polled to
/// `completed`; needs `store`.
#[tokio::test]
async fn background_responses() {
    let fake = FakeModel::start();
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let alice = server.token(&["--sub", "alice"]);
    let began = Instant::now();
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            "/openai/v1/responses",
            json!({"model": "fake-slow", "input": "hello", "background": true}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (&r["status"], &r["background"]),
        (&json!("queued"), &json!(true)),
        "{r}"
    );
    let id = r["id"].as_str().unwrap().to_owned();
    let mut seen = vec![r["status"].as_str().unwrap().to_owned()];
    let done = loop {
        let (s, p) = server
            .as_user(
                &alice,
                "GET",
                &format!("/openai/v1/responses/{id}"),
                Value::Null,
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let status = p["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break p;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "never completed: {p}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen, ["queued", "in_progress", "completed"]);
    assert_eq!(done["background"], true);
    let text = done["output"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 20);
    let (s, e) = server
        .as_user(
            &alice,
            "POST",
            "/openai/v1/responses",
            json!({"model": "fake-ok", "input": "x", "background": true, "store": false}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
}
