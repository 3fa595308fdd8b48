//! Erasure of a person through the binary, on SQLite and PostgreSQL: an org admin erases a
//! principal of the organization (their threads, files and memberships go, what they wrote
//! elsewhere names no one, their balance stays anonymized, their other organization's threads
//! stay); the job shows its progress and receipt; a legal hold blocks it; a person erases
//! themselves when the server allows it; an erasure interrupted by kill -9 is resumed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

async fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.as_user(token, method, path, body).await
}

/// Polls an erasure until it is no longer running; its last state.
async fn finished(server: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, e) = call(
            server,
            token,
            "GET",
            &format!("/v1/erasures/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{e}");
        if e["status"] != "running" {
            return e;
        }
        assert!(Instant::now() < deadline, "the erasure never finished: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn thread_with(server: &Server, token: &str, text: &str) -> String {
    let (_, t) = call(server, token, "POST", "/v1/threads", json!({"title": text})).await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        server,
        token,
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        json!({"content": text}),
    )
    .await;
    assert_eq!(status, 201);
    tid
}

async fn erasure(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__BILLING__ENABLED", "true"));
    env.push(("CHAT_THREADS__AUTH__SELF_ERASURE", "true"));
    env.push(("CHAT_THREADS__AUTH__SESSIONS__PURGE_INTERVAL_SECS", "1"));
    env.push(("CHAT_THREADS__RETENTION__SWEEP_BATCH", "1"));
    let mut server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let bob_elsewhere = server.token(&["--sub", "bob", "--org", "globex"]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let service = server.token(&["--sub", "acme-backend", "--org", "acme", "--service"]);

    // Bob in acme: three threads, a file, a balance; a member of alice's thread who wrote in it.
    let mut bobs = Vec::new();
    for i in 0..3 {
        bobs.push(thread_with(&server, &bob, &format!("bob's {i}")).await);
    }
    let (_, t) = call(
        &server,
        &bob,
        "POST",
        "/v1/threads",
        json!({"title": "mine", "org_id": "acme"}),
    )
    .await;
    bobs.push(t["id"].as_str().unwrap().to_owned());
    let kept = thread_with(&server, &bob_elsewhere, "globex work").await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(&bob)
        .header("content-type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"n.txt\"\r\n\r\nnotes\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let file: Value = resp.json().await.unwrap();
    let (status, _) = call(
        &server,
        &service,
        "POST",
        "/v1/balances/user:bob/credits",
        json!({"amount": 7}),
    )
    .await;
    assert_eq!(status, 201);
    let shared = thread_with(&server, &alice, "team").await;
    call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{shared}/members"),
        json!({"principal": "user:bob", "role": "editor"}),
    )
    .await;
    let (_, said) = call(
        &server,
        &bob,
        "POST",
        &format!("/v1/threads/{shared}/messages"),
        json!({"content": "my two cents"}),
    )
    .await;
    let said = said["id"].as_str().unwrap().to_owned();

    // Only org managers erase others; a hold blocks it.
    let (status, e) = call(
        &server,
        &alice,
        "DELETE",
        "/v1/principals/user:bob",
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (403, &json!("forbidden")),
        "{e}"
    );
    let (status, h) = call(
        &server,
        &admin,
        "POST",
        "/v1/legal-holds",
        json!({"principal": "user:bob", "reason": "case"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, e) = call(
        &server,
        &admin,
        "DELETE",
        "/v1/principals/user:bob",
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (409, &json!("legal_hold")),
        "{e}"
    );
    call(
        &server,
        &admin,
        "DELETE",
        &format!("/v1/legal-holds/{}", h["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;

    // Erased: a job, then its receipt.
    let (status, job) = call(
        &server,
        &admin,
        "DELETE",
        "/v1/principals/user:bob",
        Value::Null,
    )
    .await;
    assert_eq!((status, &job["status"]), (202, &json!("running")), "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let done = finished(&server, &admin, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    let c = &done["counts"];
    assert_eq!(
        (
            &c["threads"],
            &c["files"],
            &c["memberships"],
            &c["authored_messages"]
        ),
        (&json!(4), &json!(1), &json!(1), &json!(1)),
        "{done}"
    );
    assert!(c["ledger_entries"].as_u64().unwrap() >= 2, "{done}");
    // The change feed keeps no copy of what bob's threads said.
    let feed = Value::from(crate::support::feed_entries(&server, &admin).await).to_string();
    assert!(feed != "[]", "acme's feed holds alice's changes");
    for tid in &bobs {
        assert!(
            !feed.contains(tid.as_str()),
            "bob's thread {tid} is still in the feed"
        );
    }
    for tid in &bobs {
        let (status, _) = call(
            &server,
            &bob,
            "GET",
            &format!("/v1/threads/{tid}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 404, "bob's acme thread is gone");
    }
    let (status, _) = call(
        &server,
        &bob,
        "GET",
        &format!("/v1/files/{}", file["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "bob's file is gone");
    let (status, _) = call(
        &server,
        &bob_elsewhere,
        "GET",
        &format!("/v1/threads/{kept}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "another organization's data stays");
    let (_, m) = call(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{shared}/messages/{said}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (&m["author"], &m["content"]),
        (
            &json!({"id": "erased", "name": null}),
            &json!("my two cents")
        ),
        "{m}"
    );
    let (_, members) = call(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{shared}/members"),
        Value::Null,
    )
    .await;
    assert_eq!(members["data"], json!([]));
    let (_, balance) = call(
        &server,
        &service,
        "GET",
        "/v1/balances/user:bob",
        Value::Null,
    )
    .await;
    assert_eq!(
        balance["balance"], 0,
        "the amount moved to an anonymous account: {balance}"
    );
    let (status, again) = call(
        &server,
        &admin,
        "DELETE",
        "/v1/principals/user:bob",
        Value::Null,
    )
    .await;
    assert_eq!(status, 202, "idempotent: a new erasure finds nothing left");
    let again = finished(&server, &admin, again["id"].as_str().unwrap()).await;
    assert_eq!(again["counts"]["threads"], 0, "{again}");
    let (status, _) = call(
        &server,
        &alice,
        "GET",
        &format!("/v1/erasures/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "not alice's to read");
    let outsider = server.token(&["--sub", "gil", "--org", "globex", "--scope", "org:admin"]);
    let read = format!("/v1/erasures/{id}");
    let (status, _) = call(&server, &outsider, "GET", &read, Value::Null).await;
    assert_eq!(status, 404, "another organization's admin finds nothing");

    // A person erases themselves, everywhere; a crash mid-way is resumed by the sweeper.
    let dan = server.token(&["--sub", "dan", "--org", "acme"]);
    for i in 0..30 {
        thread_with(&server, &dan, &format!("dan {i}")).await;
    }
    let (status, job) = call(&server, &dan, "DELETE", "/v1/me", Value::Null).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    server.crash_and_restart();
    let done = finished(&server, &dan, &id).await;
    assert_eq!(
        (&done["status"], &done["org_id"]),
        (&json!("done"), &json!(null)),
        "{done}"
    );
    let (_, left) = call(&server, &dan, "GET", "/v1/threads?limit=100", Value::Null).await;
    assert_eq!(left["data"], json!([]), "{left}");
    let (_, log) = call(
        &server,
        &admin,
        "GET",
        "/v1/audit?action=erasure.done",
        Value::Null,
    )
    .await;
    assert!(log["data"].as_array().unwrap().len() >= 2, "{log}");
}

#[tokio::test]
async fn erasure_of_a_person_on_sqlite() {
    erasure(false).await;
}

#[tokio::test]
async fn erasure_of_a_person_on_postgres() {
    erasure(true).await;
}
