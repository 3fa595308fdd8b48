//! Share links through the binary, on SQLite and on two PostgreSQL instances: one branch only,
//! read-only, for the public, signed-in principals or the owner's organization; snapshots
//! frozen and refreshed in place, live shares following the branch; attachments through the
//! share; revocation at once on every instance; a viewer's own copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

async fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let body = (!body.is_null()).then_some(body);
    let (status, _, json) = server.call(method, path, token, body.as_ref()).await;
    (status, json)
}

fn contents(view: &Value) -> Vec<String> {
    view["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{view}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

async fn upload(server: &Server, token: &str, name: &str, text: &str) -> String {
    let boundary = "share-boundary";
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn shares(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([
            ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
            ("CHAT_THREADS__TITLES__ENABLED", "false"),
        ])
        .collect();
    let a = Server::start(&env);
    // A second instance on the same database (PostgreSQL) sees revocations at once.
    let b = postgres.then(|| Server::start(&env));
    let other = b.as_ref().unwrap_or(&a);
    let alice = a.token(&["--sub", "alice", "--org", "acme"]);
    let carol = a.token(&["--sub", "carol", "--org", "acme"]);
    let dave = a.token(&["--sub", "dave", "--org", "globex"]);
    let bob = a.token(&["--sub", "bob"]);

    // A thread with two branches: u1 → a1 → {u2, u2b (active)}; a file on u2b.
    let (_, t) = call(
        &a,
        Some(&alice),
        "POST",
        "/v1/threads",
        json!({"title": "Lisbon", "metadata": {"secret": "owner-only"}}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let msgs = format!("/v1/threads/{tid}/messages");
    let (_, u1) = call(
        &a,
        Some(&alice),
        "POST",
        &msgs,
        json!({"content": "u1", "metadata": {"private": 1}}),
    )
    .await;
    let (_, a1) = call(
        &a,
        Some(&alice),
        "POST",
        &msgs,
        json!({"role": "assistant", "content": "a1"}),
    )
    .await;
    let (_, u2) = call(&a, Some(&alice), "POST", &msgs, json!({"content": "u2"})).await;
    let fid = upload(&a, &alice, "plan.txt", "Day one: Belem").await;
    let hidden = upload(&a, &alice, "other.txt", "not shared").await;
    let (status, u2b) = call(
        &a,
        Some(&alice),
        "POST",
        &msgs,
        json!({"content": "u2b", "parent_id": a1["id"], "attachments": [fid]}),
    )
    .await;
    assert_eq!(status, 201, "{u2b}");
    let _ = u1;

    // A public snapshot of the other branch: exactly that branch, nothing of the owner.
    let shares = format!("/v1/threads/{tid}/shares");
    let (status, snap) = call(&a, Some(&alice), "POST", &shares, json!({"mode": "snapshot", "audience": "public", "leaf_id": u2["id"], "display_name": "A traveller"})).await;
    assert_eq!(status, 201, "{snap}");
    let sid = snap["id"].as_str().unwrap().to_owned();
    assert_eq!(snap["url"], format!("/v1/shared/{sid}"));
    let (status, view) = call(
        other,
        None,
        "GET",
        &format!("/v1/shared/{sid}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(contents(&view), ["u1", "a1", "u2"]);
    assert_eq!(
        (view["title"].as_str(), view["display_name"].as_str()),
        (Some("Lisbon"), Some("A traveller"))
    );
    let text = view.to_string();
    for leak in ["alice", "owner-only", "private", "owner", "metadata", &tid] {
        assert!(!text.contains(leak), "the share shows {leak}: {text}");
    }

    // A public snapshot of the active branch, frozen until refreshed in place.
    let (_, active) = call(
        &a,
        Some(&alice),
        "POST",
        &shares,
        json!({"mode": "snapshot", "audience": "public"}),
    )
    .await;
    let active_id = active["id"].as_str().unwrap().to_owned();
    let shared = format!("/v1/shared/{active_id}");
    let (_, view) = call(&a, None, "GET", &shared, Value::Null).await;
    assert_eq!(contents(&view), ["u1", "a1", "u2b"]);
    // Its attachment reads through the share, without a token; a file it does not show does not.
    let attachment = &view["messages"][2]["attachments"][0];
    assert_eq!(attachment["name"], "plan.txt");
    let resp = reqwest::get(format!("{}{shared}/files/{fid}/content", other.base))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "Day one: Belem");
    let (status, _) = call(
        &a,
        None,
        "GET",
        &format!("{shared}/files/{hidden}/content"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "a file the share does not show");
    call(&a, Some(&alice), "POST", &msgs, json!({"content": "u3"})).await;
    let (_, view) = call(&a, None, "GET", &shared, Value::Null).await;
    assert_eq!(contents(&view), ["u1", "a1", "u2b"], "a snapshot is frozen");
    let (status, refreshed) = call(
        &a,
        Some(&alice),
        "POST",
        &format!("{shares}/{active_id}/refresh"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, refreshed["id"].as_str()),
        (200, Some(active_id.as_str()))
    );
    let (_, view) = call(&a, None, "GET", &shared, Value::Null).await;
    assert_eq!(
        contents(&view),
        ["u1", "a1", "u2b", "u3"],
        "refreshed at the same link"
    );

    // A live share for signed-in principals follows the branch.
    let (_, live) = call(
        &a,
        Some(&alice),
        "POST",
        &shares,
        json!({"mode": "live", "audience": "signed_in"}),
    )
    .await;
    let live_path = format!("/v1/shared/{}", live["id"].as_str().unwrap());
    let (status, err) = call(&a, None, "GET", &live_path, Value::Null).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_missing"))
    );
    call(&a, Some(&alice), "POST", &msgs, json!({"content": "u4"})).await;
    let (status, view) = call(other, Some(&bob), "GET", &live_path, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(contents(&view), ["u1", "a1", "u2b", "u3", "u4"]);

    // An org share: members of acme only.
    let (_, org) = call(
        &a,
        Some(&alice),
        "POST",
        &shares,
        json!({"mode": "live", "audience": "org"}),
    )
    .await;
    let org_path = format!("/v1/shared/{}", org["id"].as_str().unwrap());
    assert_eq!(
        call(&a, Some(&carol), "GET", &org_path, Value::Null)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&a, Some(&dave), "GET", &org_path, Value::Null).await.0,
        404
    );
    assert_eq!(
        call(&a, Some(&bob), "GET", &org_path, Value::Null).await.0,
        404
    );
    assert_eq!(call(&a, None, "GET", &org_path, Value::Null).await.0, 401);
    let (status, err) = call(&a, Some(&bob), "POST", "/v1/threads", json!({})).await;
    assert_eq!(status, 201, "{err}");
    let bobs = err["id"].as_str().unwrap().to_owned();
    let (status, err) = call(
        &a,
        Some(&bob),
        "POST",
        &format!("/v1/threads/{bobs}/shares"),
        json!({"mode": "live", "audience": "org"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("inconsistent_request")),
        "a thread of no organization"
    );

    // Only the owner manages shares.
    let (_, list) = call(&a, Some(&alice), "GET", &shares, Value::Null).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        call(&a, Some(&carol), "GET", &shares, Value::Null).await.0,
        404
    );
    assert_eq!(
        call(
            &a,
            Some(&carol),
            "POST",
            &shares,
            json!({"mode": "live", "audience": "public"})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &a,
            Some(&carol),
            "DELETE",
            &format!("{shares}/{sid}"),
            Value::Null
        )
        .await
        .0,
        404
    );

    // A viewer continues the conversation as their own copy.
    let (status, copy) = call(
        &a,
        Some(&bob),
        "POST",
        &format!("{live_path}/fork"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(
        (copy["owner"].as_str(), copy["message_count"].as_i64()),
        (Some("user:bob"), Some(5))
    );
    assert_eq!(copy["metadata"]["shared_from"], live["id"]);
    let copy_id = copy["id"].as_str().unwrap();
    let (status, r) = call(
        &a,
        Some(&bob),
        "POST",
        &format!("/v1/threads/{copy_id}/chat"),
        json!({"content": "and then?"}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(
        call(&a, None, "POST", &format!("{live_path}/fork"), Value::Null)
            .await
            .0,
        401
    );
    let (_, still) = call(
        &a,
        Some(&alice),
        "GET",
        &format!("/v1/threads/{tid}"),
        Value::Null,
    )
    .await;
    assert_eq!(still["message_count"], 6, "the owner's thread is untouched");

    // Revoked on one instance: refused on every instance at once.
    assert_eq!(
        call(
            &a,
            Some(&alice),
            "DELETE",
            &format!("{shares}/{sid}"),
            Value::Null
        )
        .await
        .0,
        204
    );
    let (status, err) = call(
        other,
        None,
        "GET",
        &format!("/v1/shared/{sid}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("share_not_found"))
    );
    assert_eq!(
        call(
            &a,
            Some(&alice),
            "DELETE",
            &format!("{shares}/{sid}"),
            Value::Null
        )
        .await
        .0,
        404
    );
    // A deleted thread's shares answer 404 (and again once it is restored).
    call(
        &a,
        Some(&alice),
        "DELETE",
        &format!("/v1/threads/{tid}"),
        Value::Null,
    )
    .await;
    assert_eq!(call(other, None, "GET", &shared, Value::Null).await.0, 404);
    call(
        &a,
        Some(&alice),
        "POST",
        &format!("/v1/threads/{tid}/restore"),
        Value::Null,
    )
    .await;
    assert_eq!(call(other, None, "GET", &shared, Value::Null).await.0, 200);
    assert_eq!(
        call(&a, None, "GET", "/v1/shared/shr_nothing", Value::Null)
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_on_sqlite() {
    shares(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_across_instances_on_postgres() {
    shares(true).await;
}
