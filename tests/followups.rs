//! Follow-ups while a reply runs, through the binary: `on_busy` `reject` (409, the default),
//! `queue` (stored `queued` under the running reply, seen in the feed, editable and cancellable
//! while it waits, answered in order when the reply ends) and `interrupt` (the running reply
//! stopped with its text kept, the new message answered under it); on two PostgreSQL instances
//! concurrent senders lose and double nothing, and an interrupt reaches a reply the other
//! instance writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::FakeModel;
use crate::support::{Server, backend_env};

async fn start(postgres: bool, instances: usize) -> Option<(FakeModel, Vec<Server>)> {
    let backend = backend_env(postgres).await?;
    let fake = FakeModel::start();
    let mut env = fake.env();
    env.extend(backend);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let servers = (0..instances).map(|_| Server::start(&pairs)).collect();
    Some((fake, servers))
}

/// The thread's whole tree.
async fn tree(server: &Server, token: &str, tid: &str) -> Vec<Value> {
    let (s, page) = server
        .as_user(
            token,
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree&limit=100"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// Waits until no message of the thread is streaming or queued (30 s at most).
async fn settled(server: &Server, token: &str, tid: &str) -> Vec<Value> {
    for _ in 0..600 {
        let all = tree(server, token, tid).await;
        if all
            .iter()
            .all(|m| m["status"] != "streaming" && m["status"] != "queued")
        {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the thread never settled: {:#?}",
        tree(server, token, tid).await
    );
}

fn by_content<'a>(all: &'a [Value], text: &str) -> &'a Value {
    all.iter()
        .find(|m| m["content"] == text)
        .unwrap_or_else(|| panic!("no {text:?} in {all:#?}"))
}

fn children<'a>(all: &'a [Value], id: &Value) -> Vec<&'a Value> {
    all.iter().filter(|m| m["parent_id"] == *id).collect()
}

async fn queue_and_interrupt(postgres: bool) {
    let Some((fake, servers)) = start(postgres, 1).await else {
        return;
    };
    let server = &servers[0];
    let alice = server.token(&["--sub", "alice"]);
    let (_, t) = server
        .as_user(&alice, "POST", "/v1/threads", json!({}))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let chat = format!("/v1/threads/{tid}/chat");

    // A slow reply runs (20 words, 100 ms apart).
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &chat,
            json!({"content": "long one", "model": "fake-slow", "background": true}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let running = r["assistant_message"]["id"].clone();

    // reject, the default: 409, nothing stored.
    let (s, e) = server
        .as_user(&alice, "POST", &chat, json!({"content": "too early"}))
        .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (409, &json!("generation_in_progress")),
        "{e}"
    );

    // queue: stored `queued` under the running reply, no reply yet.
    let mut queued = Vec::new();
    for text in ["first follow-up", "second follow-up", "third follow-up"] {
        let (s, q) = server
            .as_user(
                &alice,
                "POST",
                &chat,
                json!({"content": text, "on_busy": "queue", "model": "fake-ok"}),
            )
            .await;
        assert_eq!(s, 202, "{q}");
        assert_eq!(q["assistant_message"], Value::Null);
        assert_eq!(
            (
                &q["user_message"]["status"],
                &q["user_message"]["parent_id"]
            ),
            (&json!("queued"), &running)
        );
        queued.push(q["user_message"]["id"].as_str().unwrap().to_owned());
    }
    // Edited while it waits; the third cancelled.
    let (s, edited) = server
        .as_user(
            &alice,
            "PATCH",
            &format!("/v1/threads/{tid}/messages/{}", queued[1]),
            json!({"content": "second, edited"}),
        )
        .await;
    assert_eq!((s, &edited["status"]), (200, &json!("queued")), "{edited}");
    let (s, c) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages/{}/cancel", queued[2]),
            Value::Null,
        )
        .await;
    assert_eq!((s, &c["status"]), (200, &json!("cancelled")), "{c}");

    // When the slow reply ends, the follow-ups are answered in order, each under the last.
    let all = settled(server, &alice, &tid).await;
    let first = by_content(&all, "first follow-up");
    let second = by_content(&all, "second, edited");
    assert_eq!(
        (&first["status"], &first["parent_id"]),
        (&json!("complete"), &running)
    );
    let first_reply = children(&all, &first["id"]);
    assert_eq!(first_reply.len(), 1, "{all:#?}");
    assert_eq!(first_reply[0]["content"], "Hello world");
    assert_eq!(
        second["parent_id"], first_reply[0]["id"],
        "the second waits under the first's reply"
    );
    let second_reply = children(&all, &second["id"]);
    assert_eq!(
        (second_reply.len(), &second_reply[0]["status"]),
        (1, &json!("complete"))
    );
    let third = by_content(&all, "third follow-up");
    assert_eq!(third["status"], "cancelled");
    assert!(children(&all, &third["id"]).is_empty());
    // The second's reply saw the first exchange and the edited text.
    let last = fake.requests().last().cloned().unwrap();
    let prompt = last["messages"].to_string();
    assert!(
        prompt.contains("first follow-up") && prompt.contains("second, edited"),
        "{prompt}"
    );
    assert!(!prompt.contains("third follow-up"));
    let (_, thread) = server
        .as_user(&alice, "GET", &format!("/v1/threads/{tid}"), Value::Null)
        .await;
    assert_eq!(thread["active_leaf_id"], second_reply[0]["id"]);
    // Every device saw it: the feed has the queued message and its start.
    let about_first: Vec<(String, String)> = crate::support::feed_entries(server, &alice)
        .await
        .into_iter()
        .filter(|e| e["data"]["message"]["id"] == first["id"])
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["message"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        about_first,
        [
            ("message.created".to_owned(), "queued".to_owned()),
            ("message.updated".to_owned(), "complete".to_owned())
        ]
    );

    // interrupt: the stalled reply is stopped with its text, the new message answered under it.
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &chat,
            json!({"content": "stall", "model": "fake-stall", "background": true}),
        )
        .await;
    assert_eq!(s, 202);
    let stalled = r["assistant_message"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, r) = server
        .as_user(
            &alice,
            "POST",
            &chat,
            json!({"content": "never mind", "on_busy": "interrupt", "model": "fake-ok"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["user_message"]["parent_id"], stalled);
    assert_eq!(r["assistant_message"]["content"], "Hello world");
    let all = tree(server, &alice, &tid).await;
    let stopped = all.iter().find(|m| m["id"] == stalled).unwrap();
    assert_eq!(
        (&stopped["status"], &stopped["content"]),
        (&json!("cancelled"), &json!("Hello"))
    );

    // Nothing runs: queue and interrupt simply send.
    for rule in ["queue", "interrupt"] {
        let (s, r) = server
            .as_user(
                &alice,
                "POST",
                &chat,
                json!({"content": rule, "on_busy": rule, "model": "fake-ok"}),
            )
            .await;
        assert_eq!(
            (s, &r["assistant_message"]["status"]),
            (201, &json!("complete")),
            "{r}"
        );
    }
    let (s, _) = server
        .as_user(
            &alice,
            "POST",
            &chat,
            json!({"content": "x", "on_busy": "later"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn followups_on_sqlite() {
    queue_and_interrupt(false).await;
}

#[tokio::test]
async fn followups_on_postgres() {
    queue_and_interrupt(true).await;
}

/// Two instances, concurrent senders queueing behind a reply on one of them: every message
/// answered exactly once, one after the other; an interrupt sent to the other instance stops
/// a reply the first one writes.
#[tokio::test]
async fn followups_across_instances_on_postgres() {
    let Some((_fake, servers)) = start(true, 2).await else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let alice = a.token(&["--sub", "alice"]);
    let (_, t) = a.as_user(&alice, "POST", "/v1/threads", json!({})).await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (s, _) = a
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "long one", "model": "fake-slow", "background": true}),
        )
        .await;
    assert_eq!(s, 202);
    let mut senders = Vec::new();
    for (n, server) in [a, b, a, b].into_iter().enumerate() {
        let (base, alice, tid) = (server.base.clone(), alice.clone(), tid.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..3 {
                let r = client
                    .post(format!("{base}/v1/threads/{tid}/chat"))
                    .bearer_auth(&alice)
                    .json(&json!({"content": format!("sender {n} #{i}"), "on_busy": "queue", "model": "fake-ok"}))
                    .send()
                    .await
                    .unwrap();
                // Queued (202), or sent at once if it came between two replies (201).
                assert!(matches!(r.status().as_u16(), 201 | 202), "{}", r.text().await.unwrap());
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let all = settled(b, &alice, &tid).await;
    for n in 0..4 {
        for i in 0..3 {
            let text = format!("sender {n} #{i}");
            let copies: Vec<&Value> = all
                .iter()
                .filter(|m| m["content"] == text.as_str())
                .collect();
            assert_eq!(copies.len(), 1, "{text}: {all:#?}");
            assert_eq!(copies[0]["status"], "complete");
            let replies = children(&all, &copies[0]["id"]);
            assert_eq!(replies.len(), 1, "{text} answered once: {all:#?}");
            assert_eq!(replies[0]["content"], "Hello world");
        }
    }
    // One chain: every user message but the first sits under the reply before it.
    let users = all.iter().filter(|m| m["role"] == "user").count();
    let assistants = all.iter().filter(|m| m["role"] == "assistant").count();
    assert_eq!((users, assistants), (13, 13));

    // An interrupt through B stops the reply A writes.
    let (s, r) = a
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "stall", "model": "fake-stall", "background": true}),
        )
        .await;
    assert_eq!(s, 202);
    let stalled = r["assistant_message"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, r) = b
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "stop it", "on_busy": "interrupt", "model": "fake-ok"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["user_message"]["parent_id"], stalled);
    let (_, stopped) = b
        .as_user(
            &alice,
            "GET",
            &format!("/v1/threads/{tid}/messages/{}", stalled.as_str().unwrap()),
            Value::Null,
        )
        .await;
    assert_eq!(
        (&stopped["status"], &stopped["content"]),
        (&json!("cancelled"), &json!("Hello"))
    );
}
