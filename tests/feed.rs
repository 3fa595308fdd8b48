//! The change feed through the binary, on SQLite and PostgreSQL: every change but deltas and
//! typing in one order with increasing cursors, resumable from any cursor, filtered by type,
//! thread and product; owners see their own, org admins and service principals their
//! organization's; a live SSE tail; nothing acknowledged lost to kill -9; on PostgreSQL two
//! instances read the same order and a tail on one sees the other's writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::{Server, backend_env};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// One page of the feed: `(status, entries, Feed-Cursor, Feed-Has-More)`.
async fn page(server: &Server, token: &str, query: &str) -> (u16, Vec<Value>, i64, bool) {
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/events{query}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cursor = header("feed-cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(-1);
    let more = header("feed-has-more").as_deref() == Some("true");
    if status == 200 {
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/x-ndjson")
        );
    }
    let text = resp.text().await.unwrap();
    let entries = if status == 200 {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    (status, entries, cursor, more)
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

/// Reads an SSE tail until `until` is among the events seen (10 s at most).
async fn tail_until(
    resp: reqwest::Response,
    mut until: impl FnMut(&Value) -> bool,
) -> Vec<(i64, Value)> {
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await else {
            break;
        };
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let id = frame.lines().find_map(|l| l.strip_prefix("id: "));
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let data: Value = serde_json::from_str(data).unwrap();
                let done = until(&data);
                seen.push((id.parse().unwrap(), data));
                if done {
                    return seen;
                }
            }
        }
    }
    panic!("the tail never showed the event; saw {seen:?}");
}

async fn tail(server: &Server, token: &str, query: &str) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/events{query}", server.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

async fn feed(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let mut server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let service = server.token(&["--sub", "acme-backend", "--org", "acme", "--service"]);
    let outsider = server.token(&["--sub", "gil", "--org", "globex", "--scope", "org:admin"]);

    let (_, t) = server
        .as_user(
            &alice,
            "POST",
            "/v1/threads",
            json!({"title": "fed", "product": "helpdesk"}),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let text = "A question of a realistic length. ".repeat(10);
    let (s, m) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            json!({"content": text}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (s, reply) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "hello"}),
        )
        .await;
    assert_eq!(s, 201, "{reply}");
    let (s, _) = server
        .as_user(
            &alice,
            "PATCH",
            &format!("/v1/threads/{tid}"),
            json!({"title": "renamed"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/members"),
            json!({"principal": "user:bob", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 201);
    // Bob's own thread, outside the product.
    let (_, bt) = server
        .as_user(&bob, "POST", "/v1/threads", json!({"title": "bob's"}))
        .await;
    let bob_tid = bt["id"].as_str().unwrap().to_owned();

    // Alice's feed: her thread's changes, in order, no deltas, with increasing cursors.
    let (s, entries, cursor, more) = page(&server, &alice, "").await;
    assert_eq!(s, 200);
    assert!(!more);
    let k = kinds(&entries);
    assert_eq!(
        k,
        [
            "message.created",   // her message
            "message.created",   // "hello"
            "message.created",   // the reply's placeholder
            "message.completed", // the reply
            "thread.updated",    // the title
            "member.added",
        ],
        "{entries:?}"
    );
    assert!(!k.contains(&"message.delta"));
    let cursors: Vec<i64> = entries
        .iter()
        .map(|e| e["cursor"].as_i64().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(cursor, *cursors.last().unwrap());
    assert!(entries.iter().all(|e| e["thread_id"] == tid.as_str()));
    assert_eq!(entries[0]["data"]["message"]["content"], text.as_str());
    assert_eq!(entries[0]["data"]["type"], "message.created");
    assert_eq!(
        entries[3]["data"]["message_id"],
        reply["assistant_message"]["id"]
    );
    assert_eq!(entries[4]["data"]["thread"]["title"], "renamed");

    // Resumed from any cursor: exactly what came after it. Paged with limit.
    let (_, rest, _, _) = page(&server, &alice, &format!("?after={}", cursors[2])).await;
    assert_eq!(kinds(&rest), &k[3..]);
    let (_, first, c, more) = page(&server, &alice, "?limit=2").await;
    assert_eq!((first.len(), more, c), (2, true, cursors[1]));
    // Filters: types, thread, product.
    let (_, done, _, _) = page(&server, &alice, "?types=message.completed,member.added").await;
    assert_eq!(kinds(&done), ["message.completed", "member.added"]);
    let (_, none, _, _) = page(&server, &alice, &format!("?thread_id={bob_tid}")).await;
    assert!(none.is_empty());
    let (_, by_product, _, _) = page(&server, &admin, "?product=helpdesk").await;
    assert_eq!(by_product.len(), entries.len());

    // Who sees what: bob his own thread only (a member is not an owner), the org's admin and
    // service principal both threads, another organization nothing.
    let (_, bobs, _, _) = page(&server, &bob, "").await;
    assert!(
        bobs.iter().all(|e| e["thread_id"] == bob_tid.as_str()),
        "{bobs:?}"
    );
    for manager in [&admin, &service] {
        let (_, all, _, _) = page(&server, manager, "").await;
        assert_eq!(all.len(), entries.len() + bobs.len());
    }
    let (_, theirs, _, _) = page(&server, &outsider, "").await;
    assert!(theirs.is_empty());

    // Bad input: a clear 400, never a 500.
    for q in [
        "?types=message.delta",
        "?types=nope",
        "?after=-1",
        "?after=x",
        "?limit=0",
        "?limit=1001",
    ] {
        let (s, body, _, _) = page(&server, &alice, q).await;
        assert_eq!(s, 400, "{q}: {body:?}");
    }
    let (s, _, _, _) = page(&server, "", "").await;
    assert_eq!(s, 401);

    // A live tail from now: catches the next change, its id the cursor.
    let live = tail(&server, &alice, "?after=now").await;
    let (s, _) = server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            json!({"content": "live"}),
        )
        .await;
    assert_eq!(s, 201);
    let seen = tail_until(live, |d| d["type"] == "message.created").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0 > *cursors.last().unwrap());
    assert_eq!(seen[0].1["message"]["content"], "live");
    // A tail resumed with Last-Event-ID after the first entry catches up from there.
    let resumed = reqwest::Client::new()
        .get(format!("{}/v1/events", server.base))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .header("last-event-id", cursors[4].to_string())
        .send()
        .await
        .unwrap();
    let caught = tail_until(resumed, |d| d["type"] == "message.created").await;
    assert_eq!(
        caught
            .iter()
            .map(|(_, d)| d["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["member.added", "message.created"]
    );

    // kill -9 right after acknowledged writes: every one of them is in the feed.
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let (s, m) = server
            .as_user(
                &alice,
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                json!({"content": format!("before the crash {i}")}),
            )
            .await;
        assert_eq!(s, 201);
        acknowledged.push(m["id"].as_str().unwrap().to_owned());
    }
    server.crash_and_restart();
    let (_, after, _, _) = page(&server, &alice, &format!("?after={}&limit=1000", seen[0].0)).await;
    let logged: Vec<&str> = after
        .iter()
        .filter_map(|e| e["data"]["message"]["id"].as_str())
        .collect();
    assert_eq!(
        logged,
        acknowledged.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn feed_on_sqlite() {
    feed(false).await;
}

#[tokio::test]
async fn feed_on_postgres() {
    feed(true).await;
}

/// Two instances on one PostgreSQL database: concurrent writers on both, one order read from
/// either, and a tail on one sees the other's writes.
#[tokio::test]
async fn feed_across_instances_on_postgres() {
    let Some(env) = backend_env(true).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let a = Server::start(&env);
    let b = Server::start(&env);
    let alice = a.token(&["--sub", "alice", "--org", "acme"]);
    let (_, t) = a
        .as_user(&alice, "POST", "/v1/threads", json!({"title": "two"}))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let live = tail(&b, &alice, "?after=now").await;
    let mut jobs = Vec::new();
    for (n, server) in [&a, &b].into_iter().enumerate() {
        for w in 0..4 {
            jobs.push((
                server.base.clone(),
                tid.clone(),
                format!("instance {n} writer {w}"),
            ));
        }
    }
    crate::support::append_concurrently(&alice, jobs, 10).await;
    let (_, from_a, _, _) = page(&a, &alice, "?limit=1000").await;
    let (_, from_b, _, _) = page(&b, &alice, "?limit=1000").await;
    assert_eq!(from_a.len(), 80);
    assert_eq!(from_a, from_b);
    // An entry a write committed to the outbox and whose instance died before moving it into
    // the log: the other instances move it, with no request asking.
    let url = env
        .iter()
        .find(|(k, _)| *k == "CHAT_THREADS__DATABASE__URL")
        .unwrap()
        .1;
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO feed_outbox (at, thread_id, owner, org_id, kind, data) \
             VALUES (now(), $1::text::uuid, 'user:alice', 'acme', 'thread.updated', \
             '{\"type\":\"thread.updated\",\"left\":\"behind\"}')",
            &[&tid],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    // The tail on B saw all 80, A's writes included, in the same order, then the one left
    // behind.
    let mut count = 0;
    let seen = tail_until(live, |_| {
        count += 1;
        count == 81
    })
    .await;
    assert_eq!(seen[80].1["left"], "behind");
    let cursors: Vec<i64> = seen[..80].iter().map(|(c, _)| *c).collect();
    let expected: Vec<i64> = from_a
        .iter()
        .map(|e| e["cursor"].as_i64().unwrap())
        .collect();
    assert_eq!(cursors, expected);
    assert!(seen[80].0 > cursors[79]);
}
