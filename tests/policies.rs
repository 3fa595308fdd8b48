//! Retention policies and legal holds through the binary, on SQLite and PostgreSQL: a dry run
//! says what a policy would remove; applied by the sweeper, it deletes the organization's
//! inactive threads and forgets what was deleted long ago, but never a pinned thread, a held
//! thread, a held principal's thread, or a product with its own policy; only org admins and
//! service principals manage them, each for their own organization.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

async fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.as_user(token, method, path, body).await
}

/// A thread to import: title, product, days since active, pinned, deleted days ago.
type Imported<'a> = (&'a str, Option<&'a str>, i64, bool, Option<i64>);

/// Imports threads as `token`, each `(title, product, days since active, pinned, deleted days
/// ago)`; their new ids in order.
async fn import(server: &Server, token: &str, threads: &[Imported<'_>]) -> Vec<String> {
    let now = chrono::Utc::now();
    let lines: Vec<String> = threads
        .iter()
        .map(|(title, product, idle, pinned, deleted)| {
            let at = now - chrono::TimeDelta::days(*idle);
            json!({"type": "thread", "id": uuid::Uuid::now_v7(), "title": title, "product": product,
                   "created_at": at, "updated_at": at, "pinned": pinned,
                   "deleted_at": deleted.map(|d| now - chrono::TimeDelta::days(d))})
            .to_string()
        })
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn policies(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__AUTH__SESSIONS__PURGE_INTERVAL_SECS", "1"));
    env.push(("CHAT_THREADS__RETENTION__SWEEP_BATCH", "1"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let outsider = server.token(&["--sub", "gil", "--org", "globex", "--scope", "org:admin"]);

    let ids = import(
        &server,
        &alice,
        &[
            ("old", Some("support"), 400, false, None),
            ("old-pinned", None, 400, true, None),
            ("old-held", None, 400, false, None),
            ("recent", None, 0, false, None),
            ("old-sales", Some("sales"), 400, false, None),
            ("gone", None, 200, false, Some(20)),
        ],
    )
    .await;
    let (old, pinned, held, recent, sales, gone) =
        (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4], &ids[5]);
    let bobs = import(&server, &bob, &[("bob-old", None, 400, false, None)]).await;

    // Only org admins and service principals manage them.
    for (path, method, body) in [
        ("/v1/retention-policies", "GET", Value::Null),
        (
            "/v1/retention-policies",
            "PUT",
            json!({"delete_inactive_after_days": 1}),
        ),
        (
            "/v1/legal-holds",
            "POST",
            json!({"principal": "user:alice", "reason": "x"}),
        ),
    ] {
        let (status, e) = call(&server, &alice, method, path, body).await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (403, &json!("forbidden")),
            "{method} {path}: {e}"
        );
    }

    // Holds: a thread, and everything of bob's in acme.
    let (status, h) = call(
        &server,
        &admin,
        "POST",
        "/v1/legal-holds",
        json!({"thread_id": held, "reason": "litigation 42"}),
    )
    .await;
    assert_eq!(status, 201, "{h}");
    let hold_id = h["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &server,
        &admin,
        "POST",
        "/v1/legal-holds",
        json!({"principal": "user:bob", "reason": "audit"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, e) = call(
        &server,
        &outsider,
        "POST",
        "/v1/legal-holds",
        json!({"thread_id": old, "reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("thread_not_found")),
        "another org's thread: {e}"
    );
    let (status, e) = call(
        &server,
        &admin,
        "POST",
        "/v1/legal-holds",
        json!({"reason": "nothing held"}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (422, &json!("inconsistent_request")),
        "{e}"
    );

    // Sales keeps its threads 1000 days; the default: 365 days inactive, deleted forgotten after 10
    // (sooner than the 30-day restore window, which would forget `gone` only at 30).
    let (status, p) = call(
        &server,
        &admin,
        "PUT",
        "/v1/retention-policies",
        json!({"product": "sales", "delete_inactive_after_days": 1000}),
    )
    .await;
    assert_eq!((status, &p["product"]), (200, &json!("sales")), "{p}");
    let default = json!({"delete_inactive_after_days": 365, "erase_deleted_after_days": 10});
    let (status, dry) = call(
        &server,
        &admin,
        "POST",
        "/v1/retention-policies/dry-run",
        default.clone(),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (&dry["threads_deleted"], &dry["forgotten"]),
        (&json!(1), &json!(1)),
        "{dry}"
    );
    assert_eq!(dry["sample_thread_ids"], json!([old]));
    let (_, t) = call(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{old}"),
        Value::Null,
    )
    .await;
    assert_eq!(t["title"], "old", "a dry run changes nothing");
    let (status, _) = call(&server, &admin, "PUT", "/v1/retention-policies", default).await;
    assert_eq!(status, 200);

    // The sweeper applies it: `old` deleted (restorable), `gone` forgotten; the rest kept.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, trash) = call(
            &server,
            &alice,
            "GET",
            "/v1/threads?deleted=only",
            Value::Null,
        )
        .await;
        let trashed: Vec<&str> = trash["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        if trashed == [old.as_str()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the policy was never applied: {trash}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for kept in [pinned, held, recent, sales] {
        let (status, t) = call(
            &server,
            &alice,
            "GET",
            &format!("/v1/threads/{kept}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{kept} kept: {t}");
    }
    let (status, _) = call(
        &server,
        &bob,
        "GET",
        &format!("/v1/threads/{}", bobs[0]),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "a held principal's thread is kept");
    let (status, _) = call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{gone}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "forgotten for good");
    let (status, _) = call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{old}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        status, 200,
        "deleted by policy, restorable within the window"
    );

    // Lists, per organization; a hold lifted; the audit log has them.
    let (_, list) = call(
        &server,
        &admin,
        "GET",
        "/v1/retention-policies",
        Value::Null,
    )
    .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "{list}");
    let (_, theirs) = call(
        &server,
        &outsider,
        "GET",
        "/v1/retention-policies",
        Value::Null,
    )
    .await;
    assert_eq!(theirs["data"], json!([]));
    let (status, _) = call(
        &server,
        &outsider,
        "DELETE",
        &format!("/v1/legal-holds/{hold_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "another org's hold");
    let (status, _) = call(
        &server,
        &admin,
        "DELETE",
        &format!("/v1/legal-holds/{hold_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (_, holds) = call(&server, &admin, "GET", "/v1/legal-holds", Value::Null).await;
    assert_eq!(holds["data"].as_array().map(Vec::len), Some(1), "{holds}");
    let (status, _) = call(
        &server,
        &admin,
        "DELETE",
        "/v1/retention-policies?product=sales",
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        &admin,
        "DELETE",
        "/v1/retention-policies?product=sales",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (_, log) = call(&server, &admin, "GET", "/v1/audit?limit=100", Value::Null).await;
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"legal_hold.placed") && actions.contains(&"legal_hold.lifted"),
        "{actions:?}"
    );
    assert!(actions.contains(&"retention.swept"), "{actions:?}");
}

#[tokio::test]
async fn retention_policies_and_legal_holds_on_sqlite() {
    policies(false).await;
}

#[tokio::test]
async fn retention_policies_and_legal_holds_on_postgres() {
    policies(true).await;
}
