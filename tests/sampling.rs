//! Sampling settings from every front door reach the model server as the caller set them (a real
//! local server speaking the OpenAI streaming protocol records what it was sent), out-of-range
//! values are refused naming the field, and what the OpenAI SDKs always send (`include: []`,
//! `tools: []`, `user`, `service_tier` …) is accepted.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_openai::FakeModel;

async fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sampling_settings_reach_the_model_server_from_every_front_door() {
    let fake = FakeModel::start();
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "sampler"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();

    // Natively: the chat body's `sampling`.
    let format = json!({"type": "json_schema",
                        "json_schema": {"name": "answer", "schema": {"type": "object"}}});
    let (status, body) = post(
        &server,
        &token,
        &format!("/v1/threads/{tid}/chat"),
        json!({"content": "hi", "model": "fake-ok", "sampling": {
            "temperature": 0, "top_p": 0.5, "stop": ["END"], "seed": 7,
            "presence_penalty": 0.5, "response_format": format}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent["temperature"], 0.0);
    assert_eq!(sent["top_p"], 0.5);
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["presence_penalty"], 0.5);
    assert_eq!(sent["response_format"], format);
    assert!(sent.get("frequency_penalty").is_none(), "unset stays unset");
    let user = sent["user"].as_str().unwrap().to_owned();
    assert!(user.starts_with("u_") && user.len() == 34, "{user}");
    assert!(!user.contains("sampler"), "a hash, not the principal");

    // Out of range: refused naming the field, nothing stored, the model never called.
    let calls = fake.requests().len();
    for (sampling, field) in [
        (json!({"temperature": 2.5}), "temperature"),
        (json!({"top_p": 0}), "top_p"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (
            json!({"response_format": {"type": "yaml"}}),
            "response_format",
        ),
        (json!({"temprature": 1}), "sampling.temprature"),
    ] {
        let (status, body) = post(
            &server,
            &token,
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "refused", "model": "fake-ok", "sampling": sampling}),
        )
        .await;
        assert_eq!(status, 400, "{sampling}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
        if !field.contains('.') {
            assert_eq!(body["error"]["details"]["field"], field, "{body}");
        }
    }
    assert_eq!(fake.requests().len(), calls);
    let (_, _, path) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(path["data"].as_array().unwrap().len(), 2, "{path}");

    // Chat Completions: flat fields, and what the SDKs send alongside.
    let (status, body) = post(
        &server,
        &token,
        "/openai/v1/chat/completions",
        json!({"model": "fake-ok", "messages": [{"role": "user", "content": "hi"}],
               "temperature": 0.2, "stop": "X", "seed": 3, "tools": [], "tool_choice": "auto",
               "parallel_tool_calls": true, "user": "end-user-1", "service_tier": "auto",
               "response_format": {"type": "json_object"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = fake.requests().pop().unwrap();
    assert_eq!(
        (
            sent["temperature"].clone(),
            sent["stop"].clone(),
            sent["seed"].clone()
        ),
        (json!(0.2), json!(["X"]), json!(3))
    );
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));
    assert_eq!(sent["user"], user, "the same principal, the same hash");

    // Responses: `text.format`, and the Agents SDK's empty `include` and `tools`.
    let (status, body) = post(
        &server,
        &token,
        "/openai/v1/responses",
        json!({"model": "fake-ok", "input": "hi", "include": [], "tools": [],
               "temperature": 0, "top_p": 1, "truncation": "disabled",
               "reasoning": {"effort": "low"}, "prompt_cache_key": "k",
               "text": {"format": {"type": "json_schema", "name": "answer",
                                   "schema": {"type": "object"}, "strict": true}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent["temperature"], 0.0);
    assert_eq!(sent["top_p"], 1.0);
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer",
               "schema": {"type": "object"}, "strict": true}})
    );

    // What cannot be honoured is refused naming the parameter.
    for (path, body, param) in [
        (
            "/openai/v1/responses",
            json!({"model": "fake-ok", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools",
        ),
        (
            "/openai/v1/responses",
            json!({"model": "fake-ok", "input": "x", "temperature": 9}),
            "temperature",
        ),
        (
            "/openai/v1/chat/completions",
            json!({"model": "fake-ok", "messages": [{"role": "user", "content": "x"}],
                   "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            "/openai/v1/chat/completions",
            json!({"model": "fake-ok", "messages": [{"role": "user", "content": "x"}],
                   "logit_bias": {"1": 2}}),
            "logit_bias",
        ),
    ] {
        let (status, answer) = post(&server, &token, path, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
}

/// Deleting a response removes it and its own input items, never the earlier turns of a thread
/// made natively.
#[tokio::test]
async fn deleting_a_response_reaches_only_what_it_names() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", "deleter"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut last = String::new();
    for text in ["one", "two", "three"] {
        let (status, _, r) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/chat"),
                Some(&token),
                Some(&json!({"content": text})),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        last = r["assistant_message"]["id"].as_str().unwrap().to_owned();
    }
    let simple = |id: &str| id.replace('-', "");
    let response = format!("resp_{}{}", simple(&tid), simple(&last));
    let (status, _, body) = server
        .call(
            "DELETE",
            &format!("/openai/v1/responses/{response}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, _, path) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            None,
        )
        .await;
    let texts: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "Echo: one", "two", "Echo: two"]);
}
