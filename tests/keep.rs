//! Keeping and forgetting on purpose, through the binary on SQLite and PostgreSQL: deletes are
//! undoable within the restore window (a subtree with its active leaf, a tombstone's hidden
//! content), deleted messages are readable by the owner and editors and listed as a trash, and
//! after the window the sweeper forgets them for good (tombstone content, deleted rows, deleted
//! threads).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

async fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.as_user(token, method, path, body).await
}

fn contents(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

/// A thread of `token`'s with four messages; their ids.
async fn four(server: &Server, token: &str) -> (String, Vec<String>) {
    let (_, t) = call(
        server,
        token,
        "POST",
        "/v1/threads",
        json!({"title": "keep"}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (role, text) in [
        ("user", "Lisbon first"),
        ("assistant", "Belem tower"),
        ("user", "Porto next"),
        ("assistant", "Ribeira walk"),
    ] {
        let (status, m) = call(
            server,
            token,
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            json!({"role": role, "content": text}),
        )
        .await;
        assert_eq!(status, 201, "{m}");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    (tid, ids)
}

async fn undo(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let dan = server.token(&["--sub", "dan", "--org", "acme"]);
    let (tid, ids) = four(&server, &alice).await;
    let (u1, a1, u2, a2) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let msgs = format!("/v1/threads/{tid}/messages");
    for (p, role) in [("user:bob", "editor"), ("user:dan", "viewer")] {
        let (status, _) = call(
            &server,
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/members"),
            json!({"principal": p, "role": role}),
        )
        .await;
        assert_eq!(status, 201);
    }

    // A subtree goes: hidden from the path and search, kept for the owner and editors.
    let (status, out) = call(
        &server,
        &alice,
        "DELETE",
        &format!("{msgs}/{u2}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &out["deleted"], &out["active_leaf_id"]),
        (200, &json!(2), &json!(a1)),
        "{out}"
    );
    let (_, path) = call(&server, &alice, "GET", &msgs, Value::Null).await;
    assert_eq!(contents(&path), ["Lisbon first", "Belem tower"]);
    let (_, hits) = call(&server, &alice, "GET", "/v1/search?q=porto", Value::Null).await;
    assert_eq!(hits["data"], json!([]), "a deleted message is not found");
    for token in [&alice, &bob] {
        let (status, m) = call(&server, token, "GET", &format!("{msgs}/{u2}"), Value::Null).await;
        assert_eq!((status, &m["content"]), (200, &json!("Porto next")), "{m}");
        assert!(m["deleted_at"].is_string());
    }
    let (status, _) = call(&server, &dan, "GET", &format!("{msgs}/{u2}"), Value::Null).await;
    assert_eq!(status, 404, "a viewer does not see deleted messages");
    let (_, trash) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}?view=tree&deleted=only"),
        Value::Null,
    )
    .await;
    assert_eq!(contents(&trash), ["Porto next", "Ribeira walk"]);
    let (_, live) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}?view=tree&deleted=exclude"),
        Value::Null,
    )
    .await;
    assert_eq!(contents(&live), ["Lisbon first", "Belem tower"]);
    let (status, e) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}?deleted=only"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (422, &json!("inconsistent_request")),
        "{e}"
    );
    let (status, e) = call(
        &server,
        &alice,
        "POST",
        &format!("{msgs}/{a2}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (409, &json!("not_restorable")),
        "a child before its parent: {e}"
    );
    let (status, e) = call(
        &server,
        &dan,
        "POST",
        &format!("{msgs}/{u2}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (403, &json!("forbidden")),
        "{e}"
    );

    // The editor undoes it: both back, the active leaf back where it was.
    let (status, back) = call(
        &server,
        &bob,
        "POST",
        &format!("{msgs}/{u2}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(
        (&back["restored"], &back["active_leaf_id"]),
        (&json!(2), &json!(a2))
    );
    assert!(back["message"]["deleted_at"].is_null());
    let (_, path) = call(&server, &alice, "GET", &msgs, Value::Null).await;
    assert_eq!(
        contents(&path),
        ["Lisbon first", "Belem tower", "Porto next", "Ribeira walk"]
    );
    let (_, t) = call(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
    )
    .await;
    assert_eq!(t["message_count"], 4);

    // A tombstone hides its content everywhere until it is restored.
    let (status, _) = call(
        &server,
        &alice,
        "DELETE",
        &format!("{msgs}/{a1}?scope=message"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (_, m) = call(&server, &alice, "GET", &format!("{msgs}/{a1}"), Value::Null).await;
    assert_eq!(
        (&m["content"], m["tombstoned_at"].is_string()),
        (&json!(""), true),
        "{m}"
    );
    let (_, hits) = call(&server, &alice, "GET", "/v1/search?q=belem", Value::Null).await;
    assert_eq!(
        hits["data"],
        json!([]),
        "a tombstone's hidden text is not found"
    );
    let (_, tree) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}?view=tree&q=belem"),
        Value::Null,
    )
    .await;
    assert_eq!(tree["data"], json!([]));
    let (status, back) = call(
        &server,
        &alice,
        "POST",
        &format!("{msgs}/{a1}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &back["restored"], &back["message"]["content"]),
        (200, &json!(1), &json!("Belem tower")),
        "{back}"
    );
    let (_, hits) = call(&server, &alice, "GET", "/v1/search?q=belem", Value::Null).await;
    assert_eq!(hits["data"].as_array().map(Vec::len), Some(1));
    let (status, same) = call(
        &server,
        &alice,
        "POST",
        &format!("{msgs}/{u1}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &same["restored"]),
        (200, &json!(0)),
        "a live message: nothing to undo"
    );
}

#[tokio::test]
async fn deletes_are_undoable_on_sqlite() {
    undo(false).await;
}

#[tokio::test]
async fn deletes_are_undoable_on_postgres() {
    undo(true).await;
}

async fn forget(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__RETENTION__RESTORE_WINDOW_SECS", "2"));
    env.push(("CHAT_THREADS__RETENTION__SWEEP_BATCH", "1"));
    env.push(("CHAT_THREADS__AUTH__SESSIONS__PURGE_INTERVAL_SECS", "1"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice"]);
    let (tid, ids) = four(&server, &alice).await;
    let msgs = format!("/v1/threads/{tid}/messages");
    let (other, _) = four(&server, &alice).await;
    call(
        &server,
        &alice,
        "DELETE",
        &format!("{msgs}/{}?scope=message", ids[0]),
        Value::Null,
    )
    .await;
    call(
        &server,
        &alice,
        "DELETE",
        &format!("{msgs}/{}", ids[2]),
        Value::Null,
    )
    .await;
    let (status, _) = call(
        &server,
        &alice,
        "DELETE",
        &format!("/v1/threads/{other}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);

    // Past the window, the sweeper (batches of one row) forgets all three for good. Watched
    // without touching them: the deleted message readable by id until removed, the thread in
    // the trash until purged.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (read, _) = call(
            &server,
            &alice,
            "GET",
            &format!("{msgs}/{}", ids[2]),
            Value::Null,
        )
        .await;
        let (_, trash) = call(
            &server,
            &alice,
            "GET",
            "/v1/threads?deleted=only",
            Value::Null,
        )
        .await;
        if read == 404 && trash["data"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sweeper never forgot ({read}, {trash})"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, e) = call(
        &server,
        &alice,
        "POST",
        &format!("{msgs}/{}/restore", ids[0]),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (409, &json!("not_restorable")),
        "{e}"
    );
    let (status, e) = call(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{other}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("thread_not_found")),
        "{e}"
    );
    let (status, e) = call(
        &server,
        &alice,
        "POST",
        &format!("{msgs}/{}/restore", ids[2]),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("message_not_found")),
        "{e}"
    );
    // The tombstone stays in the tree, empty; the path reads around it.
    let (_, tomb) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}/{}", ids[0]),
        Value::Null,
    )
    .await;
    assert_eq!(
        (&tomb["content"], tomb["tombstoned_at"].is_string()),
        (&json!(""), true),
        "{tomb}"
    );
    let (_, path) = call(&server, &alice, "GET", &msgs, Value::Null).await;
    assert_eq!(contents(&path), ["Belem tower"]);
    let (_, tree) = call(
        &server,
        &alice,
        "GET",
        &format!("{msgs}?view=tree"),
        Value::Null,
    )
    .await;
    assert_eq!(contents(&tree), ["", "Belem tower"]);
}

#[tokio::test]
async fn the_sweeper_forgets_after_the_window_on_sqlite() {
    forget(false).await;
}

#[tokio::test]
async fn the_sweeper_forgets_after_the_window_on_postgres() {
    forget(true).await;
}
