//! Messages edited in place and deleted alone (tombstones) over HTTP, on SQLite and PostgreSQL.

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// Edits in place and single-message deletes over HTTP: the tombstone leaves the path and the
/// model's context, keeps its children, travels through export and import, and refuses edits.
async fn edits_in_place_and_tombstones(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"));
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "editor"]);
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let (server, token) = (&server, token.clone());
        async move {
            let (status, _, json) = server
                .call(method, &path, Some(&token), body.as_ref())
                .await;
            (status, json)
        }
    };
    let (_, t) = call("POST", "/v1/threads".into(), Some(json!({}))).await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (status, chat) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "the code word is heron"})),
    )
    .await;
    assert_eq!(status, 201, "{chat}");
    let uid = chat["user_message"]["id"].as_str().unwrap().to_owned();
    let rid = chat["assistant_message"]["id"].as_str().unwrap().to_owned();
    let (_, follow) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"content": "thanks"})),
    )
    .await;
    let fid = follow["id"].as_str().unwrap().to_owned();

    // Edit the reply in place; an empty patch changes nothing; a bad scope is a mistake.
    let (status, patched) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{rid}"),
        Some(
            json!({"content": "Echo: the code word is [redacted]", "metadata": {"redacted": true}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (&patched["version"], &patched["is_edited"]),
        (&json!(2), &json!(true))
    );
    let (status, same) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{rid}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, &same["version"]),
        (200, &json!(2)),
        "an empty patch changes nothing"
    );
    let (status, err) = call(
        "DELETE",
        format!("/v1/threads/{tid}/messages/{uid}?scope=everything"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (_, revisions) = call(
        "GET",
        format!("/v1/threads/{tid}/messages/{rid}/revisions"),
        None,
    )
    .await;
    assert_eq!(
        revisions["data"][0]["content"],
        "Echo: the code word is heron"
    );

    // The user message alone: a tombstone; the reply and the follow-up stay below it.
    let (status, out) = call(
        "DELETE",
        format!("/v1/threads/{tid}/messages/{uid}?scope=message"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&out["deleted"], &out["active_leaf_id"]),
        (&json!(1), &json!(fid))
    );
    let (_, tomb) = call("GET", format!("/v1/threads/{tid}/messages/{uid}"), None).await;
    assert_eq!(tomb["content"], "");
    assert!(tomb["tombstoned_at"].is_string());
    let (_, path) = call("GET", format!("/v1/threads/{tid}/messages"), None).await;
    let ids: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [rid.as_str(), fid.as_str()],
        "the path reads around the tombstone"
    );
    let (_, tree) = call("GET", format!("/v1/threads/{tid}/messages?view=tree"), None).await;
    assert_eq!(tree["data"].as_array().unwrap().len(), 3);
    let (status, err) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{uid}"),
        Some(json!({"content": "back"})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("message_unusable"))
    );
    // The model no longer sees it: regenerating the reply, the echo model finds no user text.
    let (status, regenerated) = call(
        "POST",
        format!("/v1/threads/{tid}/messages/{rid}/regenerate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{regenerated}");
    assert_eq!(regenerated["assistant_message"]["content"], "Echo: ");
    let (_, hits) = call("GET", "/v1/search?q=heron".into(), None).await;
    assert!(hits["data"].as_array().unwrap().is_empty(), "{hits}");

    // Export and import carry the tombstone.
    let text = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/export", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("tombstoned_at"), "{text}");
    // A file that gives a tombstone text again imports it without the text.
    let forged: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("tombstoned_at") {
                l.replacen("\"content\":\"\"", "\"content\":\"leaked\"", 1)
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(forged.iter().any(|l| l.contains("leaked")));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(forged.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let imported: Value = resp.json().await.unwrap();
    let copy = imported["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{imported}"))
        .to_owned();
    let (_, tree) = call(
        "GET",
        format!("/v1/threads/{copy}/messages?view=tree"),
        None,
    )
    .await;
    let tombs: Vec<&Value> = tree["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tombstoned_at"].is_string())
        .collect();
    assert_eq!(tombs.len(), 1, "{tree}");
    assert_eq!(tombs[0]["content"], "", "{tree}");
}

#[tokio::test]
async fn messages_edited_in_place_and_deleted_alone_on_sqlite() {
    edits_in_place_and_tombstones(false).await;
}

#[tokio::test]
async fn messages_edited_in_place_and_deleted_alone_on_postgres() {
    edits_in_place_and_tombstones(true).await;
}
