//! The audit log through the binary, on SQLite and PostgreSQL: shares, members, deletes,
//! restores and purges, an org admin's read of another's thread and a failed sign-in are
//! recorded with actor, target and request id; org admins and service principals read their
//! organization's log (paged and as NDJSON), others get 403, another organization sees none of
//! it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

async fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.as_user(token, method, path, body).await
}

async fn log(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let service = server.token(&["--sub", "acme-backend", "--org", "acme", "--service"]);
    let outsider = server.token(&["--sub", "gil", "--org", "globex", "--scope", "org:admin"]);

    let (_, t) = call(
        &server,
        &alice,
        "POST",
        "/v1/threads",
        json!({"title": "audited", "org_id": "acme"}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (_, m) = call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        json!({"content": "hello"}),
    )
    .await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let (_, share) = call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/shares"),
        json!({"mode": "live", "audience": "org"}),
    )
    .await;
    let sid = share["id"].as_str().unwrap().to_owned();
    call(
        &server,
        &alice,
        "DELETE",
        &format!("/v1/threads/{tid}/shares/{sid}"),
        Value::Null,
    )
    .await;
    call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/members"),
        json!({"principal": "user:bob", "role": "viewer"}),
    )
    .await;
    // A delete with the caller's own request id.
    let resp = reqwest::Client::new()
        .delete(format!("{}/v1/threads/{tid}/messages/{mid}", server.base))
        .bearer_auth(&alice)
        .header("x-request-id", "req-audit-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/messages/{mid}/restore"),
        Value::Null,
    )
    .await;
    // The org admin reads alice's thread.
    let (status, _) = call(
        &server,
        &admin,
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    call(
        &server,
        &alice,
        "DELETE",
        &format!("/v1/threads/{tid}"),
        Value::Null,
    )
    .await;
    call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/restore"),
        Value::Null,
    )
    .await;
    // A failed sign-in.
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@acme.test", "password": "wrong password!"})),
        )
        .await;
    assert_eq!(status, 401);

    let (status, page) = call(&server, &admin, "GET", "/v1/audit?limit=100", Value::Null).await;
    assert_eq!(status, 200, "{page}");
    let entries = page["data"].as_array().unwrap().clone();
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "share.created",
            "share.revoked",
            "member.added",
            "message.deleted",
            "message.restored",
            "thread.read_by_admin",
            "thread.deleted",
            "thread.restored",
            "auth.sign_in_failed",
        ],
        "{page}"
    );
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let deleted = entries
        .iter()
        .find(|e| e["action"] == "message.deleted")
        .unwrap();
    assert_eq!(deleted["actor"], "user:alice");
    assert_eq!(deleted["target"], format!("message:{mid}"));
    assert_eq!(deleted["thread_id"], json!(tid));
    assert_eq!(deleted["request_id"], "req-audit-1");
    assert_eq!(deleted["details"]["deleted"], 1);
    let read = entries
        .iter()
        .find(|e| e["action"] == "thread.read_by_admin")
        .unwrap();
    assert_eq!(
        (&read["actor"], &read["details"]["owner"]),
        (&json!("user:erin"), &json!("user:alice"))
    );
    let failed = entries
        .iter()
        .find(|e| e["action"] == "auth.sign_in_failed")
        .unwrap();
    assert_eq!(
        (&failed["actor"], &failed["details"]["email"]),
        (&json!("anonymous"), &json!("nobody@acme.test"))
    );
    assert!(
        entries.iter().all(|e| e["request_id"].is_string()),
        "every request's entries name it"
    );

    // Filters and pages.
    let (_, only) = call(
        &server,
        &service,
        "GET",
        &format!("/v1/audit?action=member.added&thread_id={tid}"),
        Value::Null,
    )
    .await;
    assert_eq!(only["data"].as_array().map(Vec::len), Some(1), "{only}");
    let (_, first) = call(&server, &admin, "GET", "/v1/audit?limit=4", Value::Null).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = call(
        &server,
        &admin,
        "GET",
        &format!("/v1/audit?limit=100&cursor={cursor}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        second["data"].as_array().map(Vec::len),
        Some(entries.len() - 4)
    );
    // The whole log as NDJSON.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/audit/export", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), entries.len());
    assert_eq!(lines[0]["seq"], entries[0]["seq"]);

    // Another organization's admin sees none of acme's entries; a plain user none at all.
    let (_, theirs) = call(
        &server,
        &outsider,
        "GET",
        "/v1/audit?limit=100",
        Value::Null,
    )
    .await;
    let foreign: Vec<&Value> = theirs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["org_id"] == "acme")
        .collect();
    assert!(foreign.is_empty(), "{theirs}");
    for path in ["/v1/audit", "/v1/audit/export"] {
        let (status, e) = call(&server, &alice, "GET", path, Value::Null).await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (403, &json!("forbidden")),
            "{path}: {e}"
        );
    }
    let (status, e) = call(
        &server,
        &admin,
        "GET",
        "/v1/audit?action=nonsense",
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{e}");
}

#[tokio::test]
async fn the_audit_log_on_sqlite() {
    log(false).await;
}

#[tokio::test]
async fn the_audit_log_on_postgres() {
    log(true).await;
}
