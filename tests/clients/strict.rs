//! Strict request parsing: unknown fields and parameters, no silent defaults, poison values.

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// A body that each operation accepts, so the unknown field is the only thing wrong.
fn valid_body(operation: &str, message_id: &str) -> Value {
    match operation {
        "register_account" | "log_in" => {
            json!({"email": "nobody@example.com", "password": "long enough password"})
        }
        "refresh_tokens" | "log_out" => json!({"refresh_token": "x"}),
        "append_message" | "chat" | "resend_message" => json!({"content": "hi"}),
        "edit_message" => json!({"content": "edited"}),
        "set_feedback" => json!({"rating": "up"}),
        "set_reaction" => json!({"emoji": "👍"}),
        "set_active_leaf" | "fork_thread" => json!({"message_id": message_id}),
        "add_summary" => json!({"covers_message_id": message_id, "text": "s"}),
        "import_chatgpt" => json!([]),
        "create_folder" => json!({"name": "another"}),
        "rename_tag" => json!({"name": "renamed"}),
        "create_share" => json!({"mode": "live", "audience": "public"}),
        "add_member" => json!({"principal": "user:zed", "role": "viewer"}),
        "put_retention_policy" | "dry_run_retention_policy" => {
            json!({"erase_deleted_after_days": 30})
        }
        "place_legal_hold" => json!({"principal": "user:zed", "reason": "strict"}),
        "create_webhook" => json!({"url": "https://93.184.215.14/hook", "enabled": false}),
        _ => json!({}),
    }
}

/// Everything the user has: threads (also deleted), each one's tree and summaries.
async fn snapshot(server: &Server, token: &str) -> Value {
    let (_, _, threads) = server
        .call(
            "GET",
            "/v1/threads?deleted=include&limit=100",
            Some(token),
            None,
        )
        .await;
    let mut all = Vec::new();
    for t in threads["data"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let (_, _, tree) = server
            .call(
                "GET",
                &format!("/v1/threads/{id}/messages?view=tree&limit=100"),
                Some(token),
                None,
            )
            .await;
        let (_, _, summaries) = server
            .call(
                "GET",
                &format!("/v1/threads/{id}/summaries"),
                Some(token),
                None,
            )
            .await;
        all.push(json!({"thread": t, "tree": tree, "summaries": summaries}));
    }
    Value::Array(all)
}

async fn strict_walk(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let token = server.token(&["--sub", "strict"]);
    let (_, _, thread) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&json!({"title": "t"})),
        )
        .await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    let (_, _, message) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            Some(&json!({"content": "hello"})),
        )
        .await;
    let mid = message["id"].as_str().unwrap().to_owned();
    let (_, _, folder) = server
        .call(
            "POST",
            "/v1/folders",
            Some(&token),
            Some(&json!({"name": "work"})),
        )
        .await;
    let fid = folder["id"].as_str().unwrap().to_owned();
    let (status, _, _) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(&token),
            Some(&json!({"tags": ["kept"], "folder_id": fid})),
        )
        .await;
    assert_eq!(status, 200);
    let before = snapshot(&server, &token).await;

    let (_, doc) = server.get("/openapi.json").await;
    let client = reqwest::Client::new();
    let mut bodies = 0;
    let mut queries = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace("{thread_id}", &tid)
            .replace("{message_id}", &mid)
            .replace("{folder_id}", &fid)
            .replace("{tag}", "kept")
            .replace("{principal}", "user:zed")
            .replace("{webhook_id}", "00000000-0000-7000-8000-000000000000")
            .replace("{delivery_id}", "00000000-0000-7000-8000-000000000001");
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // An unknown query parameter, on every operation.
            let resp = client
                .request(m.clone(), format!("{}{path}?zz_unknown=1", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let err: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 400, "{method} {template} ?zz_unknown: {err}");
            assert_eq!(err["error"]["code"], "invalid_query", "{id}");
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("zz_unknown"),
                "{id}: {err}"
            );
            queries += 1;
            // An unknown field in an otherwise valid JSON body.
            let takes_json = op["requestBody"]["content"]
                .as_object()
                .is_some_and(|c| c.contains_key("application/json"));
            if !takes_json {
                continue;
            }
            let mut body = valid_body(id, &mid);
            if let Some(obj) = body.as_object_mut() {
                obj.insert("zz_unknown".into(), json!(1));
            } else {
                // A top-level array (ChatGPT's export): one conversation with an unknown field
                // is refused by the importer's own schema; covered in the API tests.
                continue;
            }
            let resp = client
                .request(m.clone(), format!("{}{path}", server.base))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let err: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 400, "{method} {template} with zz_unknown: {err}");
            assert_eq!(err["error"]["code"], "validation_failed", "{id}");
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("zz_unknown"),
                "{id}: {err}"
            );
            bodies += 1;
            // A non-JSON content type on a JSON endpoint.
            let resp = client
                .request(m, format!("{}{path}", server.base))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body(valid_body(id, &mid).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status().as_u16(),
                415,
                "{method} {template} as text/plain"
            );
        }
    }
    assert!(queries >= 40, "walked {queries} operations");
    assert!(bodies >= 15, "walked {bodies} JSON bodies");
    assert_eq!(
        snapshot(&server, &token).await,
        before,
        "refused requests wrote nothing"
    );
}

#[tokio::test]
async fn every_operation_refuses_unknown_fields_and_parameters_on_sqlite() {
    strict_walk(false).await;
}

#[tokio::test]
async fn every_operation_refuses_unknown_fields_and_parameters_on_postgres() {
    strict_walk(true).await;
}

#[tokio::test]
async fn sessions_and_regenerations_never_fall_back_to_defaults() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let url = format!("{}/v1/sessions", server.base);
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (
            Some("application/json"),
            json!({"expires_at": "2030-01-01T00:00:00Z"}).to_string(),
            422,
            "out_of_range",
        ),
        (
            Some("application/json"),
            json!({"expires_in": 3600}).to_string(),
            400,
            "validation_failed",
        ),
        (
            Some("application/json"),
            json!({"ttl_seconds": "3600"}).to_string(),
            400,
            "validation_failed",
        ),
        (
            Some("application/json"),
            "{\"session_id\": ".into(),
            400,
            "malformed_json",
        ),
        (
            Some("text/plain"),
            json!({"session_id": "mine"}).to_string(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (ct, body, status, code) in cases {
        let mut req = client.post(&url).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{ct:?} {body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{body}");
    }
    // No body at all still opens a session with the defaults; a given one is kept.
    let resp = client.post(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let resp = client
        .post(&url)
        .json(&json!({"session_id": "widget-7", "external_user_id": "u7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["session_id"], "widget-7");
    assert_eq!(session["external_user_id"], "u7");

    let token = session["token"].as_str().unwrap();
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let (status, _, reply) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(token),
            Some(&json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let aid = reply["assistant_message"]["id"].as_str().unwrap();
    let regenerate = format!("/v1/threads/{tid}/messages/{aid}/regenerate");
    let (status, _, err) = server
        .call(
            "POST",
            &regenerate,
            Some(token),
            Some(&json!({"modle": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("modle"));
    let (status, _, err) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}?include=everything"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (_, _, tree) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(
        tree["data"].as_array().unwrap().len(),
        2,
        "no regeneration stored"
    );
    // A regeneration with no body at all uses the defaults.
    let resp = client
        .post(format!("{}{regenerate}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn a_thread_model_must_be_one_the_caller_may_use() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("models.toml");
    std::fs::write(
        &config,
        "[models.allow]\ndefault = [\"echo\"]\norgs = { premium = [\"*\"] }\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let server = Server::start(&[("CHAT_THREADS_CONFIG", &config)]);
    let token = server.token(&["--sub", "m"]);
    for body in [
        json!({"model": "gpt-4o"}),
        json!({"model": "no-such-model"}),
    ] {
        let (status, _, err) = server
            .call("POST", "/v1/threads", Some(&token), Some(&body))
            .await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["code"], "model_not_allowed");
        assert_eq!(err["error"]["details"]["allowed"], json!(["echo"]));
    }
    let (_, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert!(
        threads["data"].as_array().unwrap().is_empty(),
        "nothing created"
    );
    let (status, _, t) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&json!({"model": "echo"})),
        )
        .await;
    assert_eq!(status, 201);
    let tid = t["id"].as_str().unwrap();
    let (status, _, err) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(&token),
            Some(&json!({"model": "gpt-4o"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("model_not_allowed"))
    );
    let (status, _, t) = server
        .call(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(&token),
            Some(&json!({"model": null})),
        )
        .await;
    assert_eq!((status, &t["model"]), (200, &Value::Null));
}

async fn poison_values_are_refused(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let token = server.token(&["--sub", "poison"]);
    let (_, _, t) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&json!({"metadata": {"ok": 1.5}})),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let bad_metadata = [json!({"k": "a\u{0}b"}), json!({"a\u{0}": 1})];
    // Extreme numbers (f64::MAX, subnormals) are accepted and come back exactly: tests/nasty.rs.
    for metadata in &bad_metadata {
        for (method, path, body) in [
            (
                "POST",
                "/v1/threads".to_owned(),
                json!({"metadata": metadata}),
            ),
            (
                "PATCH",
                format!("/v1/threads/{tid}"),
                json!({"metadata": metadata}),
            ),
            (
                "POST",
                format!("/v1/threads/{tid}/messages"),
                json!({"content": "x", "metadata": metadata}),
            ),
            (
                "POST",
                "/v1/sessions".to_owned(),
                json!({"metadata": metadata}),
            ),
        ] {
            // Sessions are opened without a token (a member's token may not open one).
            let token = (path != "/v1/sessions").then_some(token.as_str());
            let (status, _, err) = server.call(method, &path, token, Some(&body)).await;
            assert_eq!(status, 400, "{method} {path} {metadata}: {err}");
            assert_eq!(err["error"]["code"], "validation_failed");
            assert_eq!(err["error"]["details"]["field"], "metadata");
        }
    }
    for (path, body) in [
        ("/v1/threads".to_owned(), json!({"title": "a\u{0}b"})),
        (
            format!("/v1/threads/{tid}/messages"),
            json!({"content": "a\u{0}b"}),
        ),
    ] {
        let (status, _, err) = server.call("POST", &path, Some(&token), Some(&body)).await;
        assert_eq!(status, 400, "{path}: {err}");
    }
    // What was accepted reads back the same, in lists too.
    let (status, _, list) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing else was stored"
    );
    assert_eq!(list["data"][0]["metadata"]["ok"], 1.5);
}

#[tokio::test]
async fn poison_values_are_refused_on_sqlite() {
    poison_values_are_refused(false).await;
}

#[tokio::test]
async fn poison_values_are_refused_on_postgres() {
    poison_values_are_refused(true).await;
}
