//! Organizing threads through the binary, on SQLite and PostgreSQL: titles written by the
//! model after the first exchange (paid like replies, never over a user's title, a failure
//! leaving the thread untitled), folders whose prompt and model threads inherit, tags with
//! counts, rename and delete, pins listed first, prefix search with filters, temporary threads
//! hidden everywhere and purged, the creator's e-mail, and a thread read with its messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

fn start(env: &[(String, String)], extra: &[(&str, &str)]) -> Server {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    all.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    Server::start(&all)
}

async fn ok(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
    status: u16,
) -> Value {
    let body = (!body.is_null()).then_some(body);
    let (got, _, json) = server.call(method, path, Some(token), body.as_ref()).await;
    assert_eq!(got, status, "{method} {path}: {json}");
    json
}

/// Polls a thread until `done` holds (the title is written in the background).
async fn thread_until(
    server: &Server,
    token: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, _, t) = server
            .call("GET", &format!("/v1/threads/{id}"), Some(token), None)
            .await;
        if status == 200 && done(&t) {
            return t;
        }
        last = t;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the thread never got there: {last}");
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn titles_folders_tags_pins_and_search(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let server = start(
        &env,
        &[
            ("CHAT_THREADS__BILLING__ENABLED", "true"),
            (
                "CHAT_THREADS__MODELS__PRICES__ECHO__INPUT_PER_MILLION",
                "1000",
            ),
            (
                "CHAT_THREADS__MODELS__PRICES__ECHO__OUTPUT_PER_MILLION",
                "1000",
            ),
        ],
    );
    let alice = server.token(&[
        "--sub",
        "alice",
        "--org",
        "acme",
        "--email",
        "alice@acme.test",
    ]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let service = server.token(&["--sub", "billing", "--org", "acme", "--service"]);
    ok(
        &server,
        &service,
        "POST",
        "/v1/balances/user:alice/credits",
        json!({"amount": 1000}),
        201,
    )
    .await;

    // Titles: the first exchange titles an untitled thread (the echo model titles it after the
    // first message); a user's title is kept; the title is paid like a reply.
    let untitled = ok(&server, &alice, "POST", "/v1/threads", json!({}), 201).await;
    let tid = untitled["id"].as_str().unwrap().to_owned();
    assert_eq!(untitled["creator_email"], "alice@acme.test");
    ok(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/chat"),
        json!({"content": "Plan a long weekend in Lisbon with my sister"}),
        201,
    )
    .await;
    let titled = thread_until(&server, &alice, &tid, |t| t["title"] != "").await;
    let title = titled["title"].as_str().unwrap();
    assert!(
        title.starts_with("Echo: Plan a long weekend in Lisbon"),
        "{title}"
    );
    assert!(title.chars().count() <= 60, "{title}");
    let ledger = ok(
        &server,
        &alice,
        "GET",
        "/v1/balances/me/ledger",
        Value::Null,
        200,
    )
    .await;
    assert!(
        ledger["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "title"
                && e["thread_id"] == tid.as_str()
                && e["amount"].as_i64() < Some(0)),
        "{ledger}"
    );
    let mine = ok(
        &server,
        &alice,
        "POST",
        "/v1/threads",
        json!({"title": "Mine"}),
        201,
    )
    .await;
    let mine_id = mine["id"].as_str().unwrap().to_owned();
    ok(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{mine_id}/chat"),
        json!({"content": "hello"}),
        201,
    )
    .await;
    // On demand: replaces the title.
    let again = ok(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{mine_id}/title"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(again["title"], "Echo: hello");
    let empty = ok(
        &server,
        &alice,
        "POST",
        "/v1/threads",
        json!({"title": "empty"}),
        201,
    )
    .await;
    let (status, _, err) = server
        .call(
            "POST",
            &format!("/v1/threads/{}/title", empty["id"].as_str().unwrap()),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("inconsistent_request"))
    );
    let (status, _, _) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/title"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 404, "another user's thread");

    // Folders: a folder's system prompt reaches the model for its threads that set none.
    let folder = ok(
        &server,
        &alice,
        "POST",
        "/v1/folders",
        json!({"name": "Travel", "system_prompt": "Answer as a travel agent.", "model": "echo"}),
        201,
    )
    .await;
    let fid = folder["id"].as_str().unwrap().to_owned();
    let (status, _, err) = server
        .call(
            "POST",
            "/v1/folders",
            Some(&alice),
            Some(&json!({"name": "Travel"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, _, err) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(&bob),
            Some(&json!({"folder_id": fid})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("thread_not_found"))
    );
    let bobs = ok(&server, &bob, "POST", "/v1/threads", json!({}), 201).await;
    let (status, _, err) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{}", bobs["id"].as_str().unwrap()),
            Some(&bob),
            Some(&json!({"folder_id": fid})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("folder_unusable")),
        "another user's folder named in the body"
    );
    // A folder that exists for nobody: the thread in the path is there, so the answer is not a
    // 404 (a client would read it as the thread gone), and nothing is written.
    let nowhere = "0b7e6d1c-3f5a-4c2e-9a8b-1d2c3e4f5a6b";
    let (status, _, err) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{}", bobs["id"].as_str().unwrap()),
            Some(&bob),
            Some(&json!({"folder_id": nowhere, "pinned": true})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("folder_unusable")),
        "{err}"
    );
    let (status, _, err) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&bob),
            Some(&json!({"title": "filed nowhere", "folder_id": nowhere})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("folder_unusable")),
        "{err}"
    );
    let bobs_now = ok(
        &server,
        &bob,
        "GET",
        &format!("/v1/threads/{}", bobs["id"].as_str().unwrap()),
        Value::Null,
        200,
    )
    .await;
    for field in ["folder_id", "pinned", "updated_at", "tags"] {
        assert_eq!(
            bobs_now[field], bobs[field],
            "a refused PATCH changes nothing"
        );
    }
    let listed = ok(&server, &bob, "GET", "/v1/threads", Value::Null, 200).await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(1),
        "a refused POST creates nothing: {listed}"
    );
    let before = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
        200,
    )
    .await;
    let filed = ok(
        &server,
        &alice,
        "PATCH",
        &format!("/v1/threads/{tid}"),
        json!({"folder_id": fid, "tags": ["trip", "family", "trip"], "pinned": true}),
        200,
    )
    .await;
    assert_eq!(filed["tags"], json!(["trip", "family"]));
    assert_eq!(
        filed["updated_at"], before["updated_at"],
        "organizing is not activity"
    );
    let r = ok(
        &server,
        &alice,
        "POST",
        &format!("/v1/threads/{tid}/chat"),
        json!({"content": "and museums?"}),
        201,
    )
    .await;
    assert_eq!(
        r["assistant_message"]["metadata"]["prompt"]["system_prompt"]
            .as_str()
            .map(|s| s.starts_with("Answer as a travel agent.")),
        Some(true),
        "{}",
        r["assistant_message"]["metadata"]
    );

    // Tags and pins: filters, counts, pinned threads first.
    let other = ok(
        &server,
        &alice,
        "POST",
        "/v1/threads",
        json!({"title": "Budget", "tags": ["family"]}),
        201,
    )
    .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let list = ok(&server, &alice, "GET", "/v1/threads", Value::Null, 200).await;
    assert_eq!(
        ids(&list)[0],
        tid,
        "the pinned thread comes first though older"
    );
    let by_tag = ok(
        &server,
        &alice,
        "GET",
        "/v1/threads?tag=family",
        Value::Null,
        200,
    )
    .await;
    assert_eq!(ids(&by_tag), vec![tid.clone(), other_id.clone()]);
    let by_folder = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads?folder_id={fid}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(ids(&by_folder), vec![tid.clone()]);
    let unpinned = ok(
        &server,
        &alice,
        "GET",
        "/v1/threads?pinned=false&limit=1",
        Value::Null,
        200,
    )
    .await;
    assert_eq!(ids(&unpinned), vec![other_id.clone()]);
    // Paging crosses from the pinned threads to the rest without loss or repeat.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/threads?limit=1&cursor={c}"),
            None => "/v1/threads?limit=1".to_owned(),
        };
        let page = ok(&server, &alice, "GET", &path, Value::Null, 200).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], tid);
    let by_email = ok(
        &server,
        &alice,
        "GET",
        "/v1/threads?creator_email=alice@acme.test",
        Value::Null,
        200,
    )
    .await;
    assert_eq!(by_email["data"].as_array().unwrap().len(), 4);
    let tags = ok(&server, &alice, "GET", "/v1/tags", Value::Null, 200).await;
    assert_eq!(
        tags["data"],
        json!([{"name": "family", "thread_count": 2}, {"name": "trip", "thread_count": 1}])
    );
    let folders = ok(&server, &alice, "GET", "/v1/folders", Value::Null, 200).await;
    assert_eq!(folders["data"][0]["thread_count"], 1);
    let renamed = ok(
        &server,
        &alice,
        "PATCH",
        "/v1/tags/trip",
        json!({"name": "family"}),
        200,
    )
    .await;
    assert_eq!(
        renamed["threads"], 1,
        "merged into the tag the thread already had"
    );
    let t = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(t["tags"], json!(["family"]));
    let (status, _, err) = server
        .call("DELETE", "/v1/tags/trip", Some(&alice), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("tag_not_found"))
    );
    ok(
        &server,
        &alice,
        "DELETE",
        "/v1/tags/family",
        Value::Null,
        200,
    )
    .await;
    let tags = ok(&server, &alice, "GET", "/v1/tags", Value::Null, 200).await;
    assert_eq!(tags["data"], json!([]));

    // Search: prefixes, through the index, with filters.
    let hits = ok(
        &server,
        &alice,
        "GET",
        "/v1/search?q=lisb",
        Value::Null,
        200,
    )
    .await;
    assert!(!hits["data"].as_array().unwrap().is_empty(), "{hits}");
    assert!(
        hits["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["thread_id"] == tid.as_str())
    );
    let in_folder = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/search?q=lisb&folder_id={fid}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(
        in_folder["data"].as_array().unwrap().len(),
        hits["data"].as_array().unwrap().len()
    );
    let future = ok(
        &server,
        &alice,
        "GET",
        "/v1/search?q=lisb&from=2999-01-01T00:00:00Z",
        Value::Null,
        200,
    )
    .await;
    assert_eq!(future["data"], json!([]));
    let (status, _, err) = server
        .call(
            "GET",
            "/v1/search?q=lisb&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("inconsistent_request"))
    );
    let none = ok(&server, &bob, "GET", "/v1/search?q=lisb", Value::Null, 200).await;
    assert_eq!(
        none["data"],
        json!([]),
        "another user's messages are never found"
    );

    // A thread with its messages in one call.
    let whole = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{tid}?include=messages"),
        Value::Null,
        200,
    )
    .await;
    let messages = whole["messages"]["data"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{whole}");
    assert_eq!(messages.last().unwrap()["id"], whole["active_leaf_id"]);

    // Export carries tags, folder and pin.
    ok(
        &server,
        &alice,
        "PATCH",
        &format!("/v1/threads/{other_id}"),
        json!({"tags": ["kept"], "folder_id": fid}),
        200,
    )
    .await;
    let (status, _, _) = server.call("GET", "/v1/export", Some(&alice), None).await;
    assert_eq!(status, 200);
    let text = reqwest::Client::new()
        .get(format!("{}/v1/threads/{other_id}/export", server.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        (record["tags"].clone(), record["folder_id"].as_str()),
        (json!(["kept"]), Some(fid.as_str())),
        "{record}"
    );

    // Deleting the folder keeps its threads, out of it.
    let gone = ok(
        &server,
        &alice,
        "DELETE",
        &format!("/v1/folders/{fid}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(gone["threads"], 2);
    let t = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(t["folder_id"], Value::Null);
    let (status, _, _) = server
        .call("GET", &format!("/v1/folders/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_folders_tags_pins_and_search_on_sqlite() {
    titles_folders_tags_pins_and_search(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_folders_tags_pins_and_search_on_postgres() {
    titles_folders_tags_pins_and_search(true).await;
}

/// A temporary thread is readable by id and writable while it lives, hidden from lists,
/// search and exports, and purged at its expiry; a title model that fails leaves threads
/// untitled and never fails the chat.
async fn temporary_threads_and_failed_titles(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let server = start(
        &env,
        &[
            ("CHAT_THREADS__THREADS__TEMPORARY_TTL_SECS", "3"),
            ("CHAT_THREADS__AUTH__SESSIONS__PURGE_INTERVAL_SECS", "1"),
            ("CHAT_THREADS__TITLES__MODEL", "no-such-model"),
        ],
    );
    let alice = server.token(&["--sub", "alice"]);
    let temp = ok(
        &server,
        &alice,
        "POST",
        "/v1/threads",
        json!({"temporary": true}),
        201,
    )
    .await;
    let id = temp["id"].as_str().unwrap().to_owned();
    assert_eq!(temp["temporary"], true);
    assert!(temp["expires_at"].is_string());
    let kept = ok(&server, &alice, "POST", "/v1/threads", json!({}), 201).await;
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    for t in [&id, &kept_id] {
        ok(
            &server,
            &alice,
            "POST",
            &format!("/v1/threads/{t}/chat"),
            json!({"content": "zanzibar notes"}),
            201,
        )
        .await;
    }
    let list = ok(&server, &alice, "GET", "/v1/threads", Value::Null, 200).await;
    assert_eq!(
        ids(&list),
        vec![kept_id.clone()],
        "temporary threads are not listed"
    );
    let hits = ok(
        &server,
        &alice,
        "GET",
        "/v1/search?q=zanzib",
        Value::Null,
        200,
    )
    .await;
    assert!(
        hits["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["thread_id"] == kept_id.as_str()),
        "{hits}"
    );
    assert!(!hits["data"].as_array().unwrap().is_empty());
    let export = reqwest::Client::new()
        .get(format!("{}/v1/export", server.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains(&id), "temporary threads are not exported");
    assert!(export.contains(&kept_id));
    // The titles model does not exist: both threads stay untitled, the chats succeeded.
    let t = ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{kept_id}"),
        Value::Null,
        200,
    )
    .await;
    assert_eq!(t["title"], "");
    assert_eq!(t["message_count"], 2);
    // Purged after its time-to-live.
    let mut status = 200;
    for _ in 0..100 {
        status = server
            .call("GET", &format!("/v1/threads/{id}"), Some(&alice), None)
            .await
            .0;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "the temporary thread was purged");
    ok(
        &server,
        &alice,
        "GET",
        &format!("/v1/threads/{kept_id}"),
        Value::Null,
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_threads_and_failed_titles_on_sqlite() {
    temporary_threads_and_failed_titles(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_threads_and_failed_titles_on_postgres() {
    temporary_threads_and_failed_titles(true).await;
}

/// The title written after the first exchange reaches the thread's subscribers as
/// `thread.updated`, like any other change of the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_is_announced_to_the_thread_subscribers() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = start(&[], &[]);
    let alice = server.token(&["--sub", "alice"]);
    let thread = ok(&server, &alice, "POST", "/v1/threads", json!({}), 201).await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    let mut request = format!("{}/v1/ws", server.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {alice}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::Text(
        json!({"op": "subscribe", "id": 1, "thread_id": tid})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut subscribed = false;
    let mut title = None;
    while title.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("the socket went silent")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        if !subscribed && v["id"] == 1 {
            subscribed = true;
            ok(
                &server,
                &alice,
                "POST",
                &format!("/v1/threads/{tid}/chat"),
                json!({"content": "Weekend in Porto"}),
                201,
            )
            .await;
        } else if v["event"] == "thread.updated" {
            title = v["data"]["thread"]["title"].as_str().map(str::to_owned);
        }
    }
    assert_eq!(title.as_deref(), Some("Echo: Weekend in Porto"));
}
