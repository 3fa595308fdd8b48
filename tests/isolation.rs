//! The isolation matrix, generated from the OpenAPI document (so a new endpoint cannot escape
//! it): for every operation that takes a thread or message id, another user, an anonymous
//! session and an org admin of another org each get 404, a request without a token gets 401,
//! and the owner's data is unchanged afterwards; for every operation on a session id, members
//! and sessions get 403 and another org's admin 404; for every operation on a balance, other
//! users, sessions, another org's admin and another org's service get 404 (crediting, which is
//! for service principals, 403 for the others); for every operation on a file id, other users,
//! sessions and another org's admin get 404. Runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// Operations that need no token.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("post", "/v1/sessions"),
    // Share links: read by their audience, with or without a token (tests/shares.rs).
    ("get", "/v1/shared/{share_id}"),
    ("get", "/v1/shared/{share_id}/files/{file_id}/content"),
];

/// A body valid enough to reach the handler's ownership check. An operation with a body but no
/// entry here fails the matrix (its request would be refused for the body, not the owner).
pub(crate) fn body_for(method: &str, path: &str, message_id: &str) -> Option<Value> {
    let body = match (method, path) {
        ("patch", "/v1/threads/{thread_id}") => json!({"title": "hijacked"}),
        ("post", "/v1/threads/{thread_id}/messages") => json!({"content": "intruder"}),
        ("patch", "/v1/threads/{thread_id}/messages/{message_id}") => {
            json!({"content": "intruder"})
        }
        ("post", "/v1/threads/{thread_id}/messages/{message_id}/edits") => {
            json!({"content": "intruder"})
        }
        ("put", "/v1/threads/{thread_id}/messages/{message_id}/feedback") => {
            json!({"rating": "down"})
        }
        ("put", "/v1/threads/{thread_id}/messages/{message_id}/reaction") => json!({"emoji": "💩"}),
        ("put", "/v1/threads/{thread_id}/active-leaf") => json!({"message_id": message_id}),
        ("post", "/v1/threads/{thread_id}/fork") => json!({"message_id": message_id}),
        ("post", "/v1/threads/{thread_id}/summaries") => {
            json!({"covers_message_id": message_id, "text": "x"})
        }
        ("post", "/v1/threads") => json!({"title": "t"}),
        ("post", "/v1/threads/{thread_id}/chat") => json!({"content": "intruder"}),
        ("post", "/v1/threads/{thread_id}/messages/{message_id}/regenerate") => json!({}),
        ("post", "/v1/threads/{thread_id}/messages/{message_id}/tool_results") => {
            json!({"results": [{"call_id": "call_1", "output": "intruder"}]})
        }
        ("post", "/v1/threads/{thread_id}/messages/{message_id}/resend") => {
            json!({"content": "intruder"})
        }
        ("post", "/v1/balances/{account}/credits") => json!({"amount": 1}),
        ("post", "/v1/threads/{thread_id}/shares") => json!({"mode": "live", "audience": "public"}),
        ("patch", "/v1/folders/{folder_id}") => json!({"name": "hijacked"}),
        ("patch", "/v1/tags/{tag}") => json!({"name": "hijacked"}),
        ("post", "/v1/folders") => json!({"name": "mine"}),
        ("post", "/v1/threads/{thread_id}/members") => {
            json!({"principal": "user:mallory", "role": "editor"})
        }
        ("patch", "/v1/webhooks/{webhook_id}") => json!({"description": "hijacked"}),
        _ => return None,
    };
    Some(body)
}

pub(crate) fn operations(openapi: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

async fn snapshot(server: &Server, token: &str, thread: &str) -> Value {
    let (_, _, t) = server
        .call("GET", &format!("/v1/threads/{thread}"), Some(token), None)
        .await;
    let (_, _, tree) = server
        .call(
            "GET",
            &format!("/v1/threads/{thread}/messages?view=tree&limit=100"),
            Some(token),
            None,
        )
        .await;
    let (_, _, branches) = server
        .call(
            "GET",
            &format!("/v1/threads/{thread}/branches"),
            Some(token),
            None,
        )
        .await;
    let (_, _, summaries) = server
        .call(
            "GET",
            &format!("/v1/threads/{thread}/summaries"),
            Some(token),
            None,
        )
        .await;
    json!({"thread": t, "tree": tree, "branches": branches, "summaries": summaries})
}

async fn matrix(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__BILLING__ENABLED", "true"));
    let server = Server::start(&env);

    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let outsider = server.token(&["--sub", "erin", "--org", "globex", "--scope", "org:admin"]);
    let (status, _, session) = server
        .call("POST", "/v1/sessions", None, Some(&json!({})))
        .await;
    assert_eq!(status, 201);
    let anon = session["token"].as_str().unwrap().to_owned();

    let (_, _, thread) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&alice),
            Some(&json!({"title": "private"})),
        )
        .await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    let (_, _, m1) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&alice),
            Some(&json!({"content": "secret plans"})),
        )
        .await;
    let mid = m1["id"].as_str().unwrap().to_owned();
    server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&alice),
            Some(&json!({"role": "assistant", "content": "reply"})),
        )
        .await;
    let (status, _, _) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/summaries"),
            Some(&alice),
            Some(&json!({"covers_message_id": mid, "text": "s"})),
        )
        .await;
    assert_eq!(status, 201);
    // Alice's folder and tag, and a share of her thread for her organization.
    let (_, _, folder) = server
        .call(
            "POST",
            "/v1/folders",
            Some(&alice),
            Some(&json!({"name": "private"})),
        )
        .await;
    let folder_id = folder["id"].as_str().unwrap().to_owned();
    let (status, _, _) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(&alice),
            Some(&json!({"folder_id": folder_id, "tags": ["private-tag"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, share) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/shares"),
            Some(&alice),
            Some(&json!({"mode": "live", "audience": "org"})),
        )
        .await;
    let share_id = share["id"].as_str().unwrap().to_owned();
    let before = snapshot(&server, &alice, &tid).await;
    // A session of acme, opened by acme's backend, with a thread of its own.
    let acme_service = server.token(&["--sub", "acme-backend", "--org", "acme", "--service"]);
    let (status, _, session) = server
        .call(
            "POST",
            "/v1/sessions",
            Some(&acme_service),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 201);
    let managed = session["session_id"].as_str().unwrap().to_owned();
    let managed_token = session["token"].as_str().unwrap().to_owned();
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&managed_token),
            Some(&json!({"title": "widget"})),
        )
        .await;
    assert_eq!(status, 201);

    // Alice's balance, credited by acme's backend.
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/balances/user:alice/credits",
            Some(&acme_service),
            Some(&json!({"amount": 10})),
        )
        .await;
    assert_eq!(status, 201);
    let globex_service = server.token(&["--sub", "globex-backend", "--org", "globex", "--service"]);
    // Alice's file.
    let boundary = "matrix-boundary";
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(&alice)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"plans.txt\"\r\n\r\nsecret plans\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let file: Value = resp.json().await.unwrap();
    let fid = file["id"].as_str().unwrap().to_owned();

    // Acme's webhook (off: nothing is sent anywhere).
    let (status, _, hook) = server
        .call(
            "POST",
            "/v1/webhooks",
            Some(&acme_service),
            Some(&json!({"url": "https://93.184.215.14/hook", "enabled": false})),
        )
        .await;
    assert_eq!(status, 201);
    let hook_id = hook["id"].as_str().unwrap().to_owned();

    let (_, _, openapi) = server.call("GET", "/openapi.json", None, None).await;
    let ops = operations(&openapi);
    assert!(
        ops.len() >= 25,
        "the OpenAPI document lists the API ({} operations)",
        ops.len()
    );
    let mut id_ops = 0;
    let mut session_ops = 0;
    let mut balance_ops = 0;
    let mut file_ops = 0;
    let mut share_ops = 0;
    let mut organize_ops = 0;
    let mut webhook_ops = 0;
    for (method, path, op) in &ops {
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        let secured = op
            .get("security")
            .is_some_and(|s| s.to_string().contains("bearer"));
        // A public operation may take a token optionally (`{}` among its requirements).
        let optional = op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|reqs| reqs.iter().any(|r| r == &json!({})));
        assert_eq!(
            secured && !optional,
            !public,
            "{method} {path}: bearer security declared on every protected operation"
        );
        let url = path
            .replace("{thread_id}", &tid)
            .replace("{message_id}", &mid)
            .replace("{session_id}", &managed)
            .replace("{account}", "user:alice")
            .replace("{file_id}", &fid)
            .replace("{share_id}", &share_id)
            .replace("{folder_id}", &folder_id)
            .replace("{tag}", "private-tag")
            .replace("{principal}", "user:bob")
            .replace("{webhook_id}", &hook_id)
            .replace("{delivery_id}", &uuid::Uuid::now_v7().to_string());
        let body = body_for(method, path, &mid);
        let needs_body = op.get("requestBody").is_some();
        // Only an id-taking operation must get past body validation to reach the owner check.
        assert!(
            !needs_body || body.is_some() || !path.contains("{thread_id}"),
            "{method} {path}: add a body to the matrix"
        );

        if !public {
            let (status, _, err) = server.call(method, &url, None, body.as_ref()).await;
            assert_eq!(status, 401, "{method} {path} without a token: {err}");
            assert_eq!(err["error"]["code"], "token_missing");
        }
        if path.contains("{session_id}") {
            session_ops += 1;
            // A session is its org's business: members and sessions are refused (403), other
            // orgs' managers do not see it (404).
            for (who, token, expected) in [
                ("a member without the admin scope", &bob, (403, "forbidden")),
                ("an anonymous session", &anon, (403, "forbidden")),
                ("another org's admin", &outsider, (404, "session_not_found")),
            ] {
                let (status, _, err) = server.call(method, &url, Some(token), body.as_ref()).await;
                assert_eq!(
                    (status, err["error"]["code"].as_str().unwrap_or_default()),
                    expected,
                    "{method} {path} as {who}: {err}"
                );
            }
            continue;
        }
        if path.starts_with("/v1/shared/") {
            // An org share: another organization's principals do not find it.
            share_ops += 1;
            let (status, _, err) = server
                .call(method, &url, Some(&outsider), body.as_ref())
                .await;
            assert_eq!(
                (status, err["error"]["code"].as_str().unwrap_or_default()),
                (404, "share_not_found"),
                "{method} {path} as another org's admin: {err}"
            );
            continue;
        }
        if path.contains("{folder_id}") || path.contains("{tag}") {
            // Folders and tags are their owner's: anyone else's request finds none.
            organize_ops += 1;
            let expected = if path.contains("{tag}") {
                "tag_not_found"
            } else {
                "folder_not_found"
            };
            for (who, token) in [
                ("another user", &bob),
                ("an anonymous session", &anon),
                ("another org's admin", &outsider),
            ] {
                let (status, _, err) = server.call(method, &url, Some(token), body.as_ref()).await;
                assert_eq!(
                    (status, err["error"]["code"].as_str().unwrap_or_default()),
                    (404, expected),
                    "{method} {path} as {who}: {err}"
                );
            }
            continue;
        }
        if path.contains("{webhook_id}") {
            // A webhook is its organization's (or owner's): no one else finds it.
            webhook_ops += 1;
            for (who, token) in [
                ("another user", &bob),
                ("an anonymous session", &anon),
                ("another org's admin", &outsider),
                ("another org's service", &globex_service),
            ] {
                let (status, _, err) = server.call(method, &url, Some(token), body.as_ref()).await;
                assert_eq!(
                    (status, err["error"]["code"].as_str().unwrap_or_default()),
                    (404, "webhook_not_found"),
                    "{method} {path} as {who}: {err}"
                );
            }
            continue;
        }
        if path.contains("{file_id}") {
            file_ops += 1;
            for (who, token) in [
                ("another user", &bob),
                ("an anonymous session", &anon),
                ("another org's admin", &outsider),
            ] {
                let (status, _, err) = server.call(method, &url, Some(token), body.as_ref()).await;
                assert_eq!(
                    (status, err["error"]["code"].as_str().unwrap_or_default()),
                    (404, "file_not_found"),
                    "{method} {path} as {who}: {err}"
                );
            }
            continue;
        }
        if path.contains("{account}") {
            balance_ops += 1;
            let crediting = method == "post";
            for (who, token) in [
                ("another user", &bob),
                ("an anonymous session", &anon),
                ("another org's admin", &outsider),
                ("another org's service", &globex_service),
            ] {
                let (status, _, answer) =
                    server.call(method, &url, Some(token), body.as_ref()).await;
                if who == "another org's service" {
                    // Balances are kept per organization: globex's service reaches globex's
                    // balance of alice, never acme's (checked after the loop), and its ledger
                    // holds only globex's own entries.
                    assert!(matches!(status, 200 | 201), "{method} {path}: {answer}");
                    for e in answer["data"].as_array().into_iter().flatten() {
                        assert_eq!(e["actor"], "service:globex-backend", "{e}");
                    }
                    continue;
                }
                let expected = if crediting {
                    (403, "forbidden")
                } else {
                    (404, "balance_not_found")
                };
                assert_eq!(
                    (status, answer["error"]["code"].as_str().unwrap_or_default()),
                    expected,
                    "{method} {path} as {who}: {answer}"
                );
            }
            continue;
        }
        if !path.contains("{thread_id}") {
            continue;
        }
        id_ops += 1;
        for (who, token) in [
            ("another user", &bob),
            ("an anonymous session", &anon),
            ("another org's admin", &outsider),
        ] {
            let (status, _, err) = server.call(method, &url, Some(token), body.as_ref()).await;
            assert_eq!(status, 404, "{method} {path} as {who}: {err}");
            assert_eq!(
                err["error"]["code"], "thread_not_found",
                "{method} {path} as {who}"
            );
        }
    }
    assert!(
        id_ops >= 18,
        "every id-taking operation was exercised ({id_ops})"
    );
    assert_eq!(
        snapshot(&server, &alice, &tid).await,
        before,
        "nothing changed for the owner"
    );
    assert!(
        session_ops >= 2,
        "every session operation was exercised ({session_ops})"
    );
    assert_eq!(balance_ops, 3, "every balance operation was exercised");
    assert_eq!(file_ops, 3, "every file operation was exercised");
    assert_eq!(share_ops, 3, "every share-link operation was exercised");
    assert_eq!(
        organize_ops, 5,
        "every folder and tag operation was exercised"
    );
    assert_eq!(webhook_ops, 5, "every webhook operation was exercised");
    let (_, _, kept) = server
        .call(
            "GET",
            &format!("/v1/webhooks/{hook_id}"),
            Some(&acme_service),
            None,
        )
        .await;
    assert_eq!(
        kept["description"],
        Value::Null,
        "acme's webhook is untouched"
    );
    // The change feed: alice's thread's changes reach no one outside her and acme's managers.
    for (who, token) in [
        ("another user", &bob),
        ("an anonymous session", &anon),
        ("another org's admin", &outsider),
        ("another org's service", &globex_service),
    ] {
        let feed = Value::from(crate::support::feed_entries(&server, token).await).to_string();
        assert!(!feed.contains(&tid), "{who} read alice's changes: {feed}");
    }
    let (_, _, kept) = server
        .call(
            "GET",
            &format!("/v1/folders/{folder_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(kept["name"], "private", "alice's folder is untouched");
    let (_, _, tags) = server.call("GET", "/v1/tags", Some(&alice), None).await;
    assert_eq!(
        tags["data"][0]["name"], "private-tag",
        "alice's tag is untouched"
    );
    let (status, _, kept) = server
        .call("GET", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!((status, &kept), (200, &file), "alice's file is untouched");
    let (_, _, balance) = server
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(
        (balance["balance"].as_i64(), balance["held"].as_i64()),
        (Some(10), Some(0)),
        "alice's balance is untouched"
    );
    let (status, _, threads) = server
        .call("GET", "/v1/threads", Some(&managed_token), None)
        .await;
    assert_eq!(
        (status, threads["data"].as_array().map(Vec::len)),
        (200, Some(1)),
        "the managed session and its thread are intact"
    );

    // An org admin of the same org reads (but cannot change) the thread.
    let admin = server.token(&["--sub", "carol", "--org", "acme", "--scope", "org:admin"]);
    let (status, _, _) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server
        .call("DELETE", &format!("/v1/threads/{tid}"), Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(snapshot(&server, &alice, &tid).await, before);
}

#[tokio::test]
async fn isolation_matrix_on_sqlite() {
    matrix(false).await;
}

#[tokio::test]
async fn isolation_matrix_on_postgres() {
    matrix(true).await;
}
