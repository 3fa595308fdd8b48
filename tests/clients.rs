//! What real clients meet: browsers on other origins (CORS, WebSocket `Origin`), strict request
//! parsing on every documented operation, one metrics registry for the whole process, and
//! start-up failures that say what is wrong in one line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;

use crate::support::{Server, backend_env, run};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const APP: &str = "http://app.example.test";

async fn preflight(server: &Server, path: &str, origin: &str, headers: &str) -> (u16, HeaderMap) {
    let resp = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.headers().clone())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn browsers_on_an_allowed_origin_pass_preflight_before_auth_and_rate_limits() {
    // A per-IP burst of 2: preflights must not spend it, and must not need a token.
    let server = Server::start(&[
        (
            "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
            &format!("[\"{APP}\"]"),
        ),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "2"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_PER_MINUTE", "2"),
    ]);
    let wanted = "authorization,content-type,idempotency-key,last-event-id,x-request-id";
    for path in [
        "/v1/sessions",
        "/v1/threads",
        "/v1/threads/0193a3f0-0000-7000-8000-000000000000/chat",
        "/v1/threads/0193a3f0-0000-7000-8000-000000000000/messages/0193a3f0-0000-7000-8000-000000000001/stream",
    ] {
        let (status, h) = preflight(&server, path, APP, wanted).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some(APP),
            "{path}"
        );
        let allowed = header(&h, "access-control-allow-headers")
            .unwrap()
            .to_lowercase();
        for name in wanted.split(',') {
            assert!(allowed.contains(name), "{path}: {name} not in {allowed}");
        }
        assert!(
            header(&h, "access-control-allow-methods")
                .unwrap()
                .contains("POST")
        );
    }
    // The real request from the allowed origin: CORS headers, and the exposed ones listed.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/sessions", server.base))
        .header("origin", APP)
        .json(&json!({"external_user_id": "visitor-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let h = resp.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(APP));
    let exposed = header(h, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for name in [
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }

    // Another origin: answered, but without a single Access-Control header, so the browser
    // refuses. Requests without Origin (servers, SDKs) are untouched.
    let (status, h) = preflight(&server, "/v1/sessions", "https://evil.example", wanted).await;
    assert_eq!(status, 403);
    assert!(
        h.keys().all(|k| !k.as_str().starts_with("access-control-")),
        "{h:?}"
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn by_default_no_other_origin_is_allowed() {
    let server = Server::start(&[]);
    let resp = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/sessions", server.base),
        )
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "origin_not_allowed");
    // A page served by the API's own origin (Swagger UI) is same-origin: not affected.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/sessions", server.base))
        .header("origin", server.base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn websocket_upgrades_check_the_origin_against_the_same_list() {
    let server = Server::start(&[(
        "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
        &format!("[\"{APP}\"]"),
    )]);
    let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
    let own = server.base.clone();
    for (origin, allowed) in [
        (Some(APP), true),
        (Some(own.as_str()), true),
        (None, true),
        (Some("https://evil.example"), false),
    ] {
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(o) = origin {
            request.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => assert!(allowed, "{origin:?} should be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(!allowed, "{origin:?} should be allowed");
                assert_eq!(resp.status().as_u16(), 403);
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"]["code"], "origin_not_allowed");
            }
            Err(e) => panic!("{origin:?}: {e}"),
        }
    }
}

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
    let before = snapshot(&server, &token).await;

    let (_, doc) = server.get("/openapi.json").await;
    let client = reqwest::Client::new();
    let mut bodies = 0;
    let mut queries = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace("{thread_id}", &tid)
            .replace("{message_id}", &mid);
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
            &format!("/v1/threads/{tid}?include=messages"),
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

/// Parses the Prometheus text format: sample name with labels -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_every_request_once_whatever_worker_served_it() {
    let server = Server::start(&[
        ("CHAT_THREADS__SERVER__WORKERS", "4"),
        // Slow enough that the reply below is still running when the gauges are read.
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "200"),
    ]);
    let token = server.token(&["--sub", "metrics"]);
    // Separate connections, so the requests spread over the workers.
    for _ in 0..40 {
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/whoami", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let series = "http_requests_total{method=\"GET\",route=\"/v1/whoami\",status=\"200\"}";
    for _ in 0..6 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(samples(&text).get(series), Some(&40.0), "{text}");
    }

    // Gauges: open WebSockets and SSE followers are counted while they are open.
    let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
    let (ws1, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (ws2, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let sse = streamed_chat(&server, &token, "one two three four five six seven eight").await;
    let text = server_metrics(&server).await;
    let m = samples(&text);
    assert_eq!(m["chat_websocket_connections"], 2.0, "{text}");
    assert_eq!(m["chat_sse_followers"], 1.0, "{text}");
    assert_eq!(m["chat_replies_running"], 1.0, "{text}");
    assert!(
        m["chat_db_pool_idle"] + m["chat_db_pool_in_use"] >= 1.0,
        "{text}"
    );
    assert_eq!(m["chat_event_bus_queue"], 0.0, "{text}");
    drop(sse);
    drop(ws1);
    drop(ws2);
    let mut settled = false;
    for _ in 0..100 {
        let m = samples(&server_metrics(&server).await);
        if m["chat_websocket_connections"] == 0.0
            && m["chat_sse_followers"] == 0.0
            && m["chat_replies_running"] == 0.0
        {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(settled, "{}", server_metrics(&server).await);
}

/// A client that goes away from an SSE stream is noticed when its connection closes, not at
/// the next keep-alive write: with keep-alives an hour apart and a reply that never ends, the
/// follower is gone from `chat_sse_followers` (and its memory released) once the client closes
/// its socket.
#[tokio::test]
async fn an_sse_client_that_leaves_is_let_go_at_once() {
    let server = Server::start(&[
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "3600000"),
        ("CHAT_THREADS__GENERATION__SSE_KEEPALIVE_SECS", "3600"),
    ]);
    let token = server.token(&["--sub", "leaver"]);
    let sse = streamed_chat(&server, &token, "never answered").await;
    assert_eq!(sse.status().as_u16(), 200);
    let m = samples(&server_metrics(&server).await);
    assert_eq!(m["chat_sse_followers"], 1.0);
    drop(sse);
    let mut released = false;
    for _ in 0..200 {
        if samples(&server_metrics(&server).await)["chat_sse_followers"] == 0.0 {
            released = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(released, "{}", server_metrics(&server).await);
    // The reply itself goes on: leaving the stream does not cancel it.
    assert_eq!(
        samples(&server_metrics(&server).await)["chat_replies_running"],
        1.0
    );
}

/// Starts a streamed reply on a new thread; the response's body is the SSE stream.
async fn streamed_chat(server: &Server, token: &str, content: &str) -> reqwest::Response {
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(token)
        .json(&json!({"content": content, "stream": true}))
        .send()
        .await
        .unwrap()
}

async fn server_metrics(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs `serve`, expecting it to fail: (exit code, stdout, stderr).
fn failing_serve(env: &[(&str, &str)], dir: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::binary())
        .arg("serve")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_up_failures_are_one_clear_line_and_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let provider = dir.path().join("provider.toml");
    std::fs::write(
        &provider,
        "[models.providers.openai]\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         api_key_env = \"CHAT_THREADS_TEST_KEY_THAT_IS_NOT_SET\"\nmodels = [\"gpt-4o-mini\"]\n",
    )
    .unwrap();
    let provider = provider.to_str().unwrap().to_owned();
    let missing_pem = dir.path().join("no-such-key.pem");
    let missing_pem = missing_pem.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("CHAT_THREADS__SERVER__PORT", port.as_str())],
            port.as_str(),
        ),
        (
            vec![("CHAT_THREADS_CONFIG", provider.as_str())],
            "CHAT_THREADS_TEST_KEY_THAT_IS_NOT_SET",
        ),
        (
            vec![
                ("CHAT_THREADS__AUTH__PROVIDER__ALGORITHM", "RS256"),
                (
                    "CHAT_THREADS__AUTH__PROVIDER__PUBLIC_KEY_FILE",
                    missing_pem.as_str(),
                ),
            ],
            "no-such-key.pem",
        ),
        (
            vec![("CHAT_THREADS__SERVER__WORKERS", "many")],
            "server.workers",
        ),
        (
            vec![(
                "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
                "[\"https://app.example/\"]",
            )],
            "server.cors.allowed_origins",
        ),
    ];
    for (env, named) in cases {
        for json_logs in [false, true] {
            let mut env = env.clone();
            if json_logs {
                env.push(("CHAT_THREADS__LOG__FORMAT", "json"));
            }
            let (code, stdout, stderr) = failing_serve(&env, dir.path());
            let all = format!("{stdout}{stderr}");
            assert_eq!(code, 1, "{env:?}: {all}");
            assert!(!all.contains("panicked"), "{env:?}: {all}");
            assert!(!all.contains("backtrace"), "{env:?}: {all}");
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.contains(named),
                "{env:?}: {named:?} not in the last line {last:?}"
            );
            if json_logs {
                for line in all.lines() {
                    // Settings that fail to load cannot say which format to use yet.
                    if line.starts_with("error: invalid configuration") {
                        continue;
                    }
                    assert!(
                        serde_json::from_str::<Value>(line).is_ok(),
                        "{env:?}: not JSON: {line}"
                    );
                }
            } else {
                assert!(last.starts_with("error: "), "{last}");
            }
        }
    }
    drop(taken);
}

#[test]
fn in_json_mode_the_output_is_nothing_but_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[("CHAT_THREADS__LOG__FORMAT", "json")]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, _) = runtime.block_on(server.get("/healthz"));
    assert_eq!(status, 200);
    for line in server.output() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not JSON: {line}"
        );
    }
    drop(dir);
    // The `token` command prints only the token.
    let (code, out) = run(&["token", "--sub", "x"], &[], server.dir());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn swagger_ui_is_offline_and_private() {
    let server = Server::start(&[]);
    let get = |path: String| async move {
        let resp = reqwest::get(path).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let (status, init) = get(format!("{}/docs/swagger-initializer.js", server.base)).await;
    assert_eq!(status, 200);
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    let (status, index) = get(format!("{}/docs/", server.base)).await;
    assert_eq!(status, 200);
    for page in [&index, &init] {
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no outside address: {page}"
        );
    }
    // Every asset the page loads is served by the binary itself.
    let assets: Vec<&str> = index
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png"))
        .collect();
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in assets {
        let name = asset.trim_start_matches("./");
        let (status, _) = get(format!("{}/docs/{name}", server.base)).await;
        assert_eq!(status, 200, "{asset}");
    }
}

#[tokio::test]
async fn an_idempotency_key_never_raises_the_body_limit() {
    let server = Server::start(&[("CHAT_THREADS__LIMITS__BODY_BYTES", "65536")]);
    let token = server.token(&["--sub", "big-bodies"]);
    let big = json!({"title": "t", "metadata": {"blob": "x".repeat(2 * 1024 * 1024)}}).to_string();
    for key in [None, Some("k-1")] {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/threads", server.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(big.clone());
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 413, "key {key:?}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "payload_too_large", "key {key:?}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains("65536"),
            "{err}"
        );
    }
    // Imports keep their own, larger limit with a key too.
    let line = json!({"type": "thread", "id": uuid::Uuid::now_v7(), "title": "x".repeat(100_000)});
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(&token)
        .header("idempotency-key", "k-2")
        .header("content-type", "application/x-ndjson")
        .body(format!("{line}\n"))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status().as_u16(), 413);
    let (_, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert!(
        threads["data"].as_array().unwrap().len() <= 1,
        "nothing from the refused bodies"
    );
}

#[tokio::test]
async fn long_tokens_and_cursors_and_gone_replies_answer_in_the_error_shape() {
    let server = Server::start(&[("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0")]);
    let token = server.token(&["--sub", "shapes"]);
    let long_token = "x".repeat(20_000);
    let (status, _, err) = server
        .call("GET", "/v1/threads", Some(&long_token), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_malformed"))
    );
    let long_cursor = "A".repeat(20_000);
    let (status, _, err) = server
        .call(
            "GET",
            &format!("/v1/threads?cursor={long_cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_cursor"))
    );
    // Streaming a deleted reply, or one that does not exist, is 404.
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let (_, _, reply) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "hi"})),
        )
        .await;
    let uid = reply["user_message"]["id"].as_str().unwrap();
    let rid = reply["assistant_message"]["id"].as_str().unwrap();
    server
        .call(
            "DELETE",
            &format!("/v1/threads/{tid}/messages/{uid}"),
            Some(&token),
            None,
        )
        .await;
    for id in [rid.to_owned(), uuid::Uuid::now_v7().to_string()] {
        let (status, _, err) = server
            .call(
                "GET",
                &format!("/v1/threads/{tid}/messages/{id}/stream"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some("message_not_found")),
            "{id}"
        );
    }
}

/// Sends `request` as raw bytes and reads the answer until the server closes the connection.
async fn raw_exchange(base: &str, request: &[u8]) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything; a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    );
    // A reset after the answer (unread request bytes) still leaves the answer in `answer`.
    let _ = read.await.expect("the server closes the connection");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head[9..12].parse().unwrap();
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn what_the_http_parser_refuses_answers_in_the_error_shape() {
    let server = Server::start(&[("CHAT_THREADS__SERVER__HEAD_TIMEOUT_SECS", "1")]);
    let token = server.token(&["--sub", "parser"]);
    let host = server.base.trim_start_matches("http://").to_owned();
    // A head over 128 KiB: a 200 KiB token, then a 200 KiB cursor in the URI.
    let huge_token = format!(
        "GET /v1/threads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\r\n",
        "x".repeat(200 * 1024)
    );
    let huge_uri = format!(
        "GET /v1/threads?cursor={} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n",
        "A".repeat(200 * 1024)
    );
    for request in [huge_token, huge_uri] {
        let (status, head, body) = raw_exchange(&server.base, request.as_bytes()).await;
        assert_eq!(status, 431, "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert_eq!(body["error"]["code"], "headers_too_large", "{body}");
        assert_eq!(body["error"]["details"]["limit"], 131_072);
    }
    // Requests that are not HTTP: a broken request line, a header without a colon, a bad
    // Content-Length.
    for request in [
        format!("GET /v1/threads HTTP/9.9 extra\r\nHost: {host}\r\n\r\n"),
        format!("GET /v1/threads HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\r\n"),
        format!("POST /v1/threads HTTP/1.1\r\nHost: {host}\r\nContent-Length: -4\r\n\r\n"),
        "\u{1}\u{2}\u{3} garbage\r\n\r\n".to_owned(),
    ] {
        let (status, head, body) = raw_exchange(&server.base, request.as_bytes()).await;
        assert_eq!(status, 400, "{request:?}: {head}");
        assert_eq!(
            body["error"]["code"], "malformed_request",
            "{request:?}: {body}"
        );
    }
    // A head that never ends: 408 after server.head_timeout_secs.
    let (status, _, body) = raw_exchange(
        &server.base,
        format!("GET /v1/threads HTTP/1.1\r\nHost: {host}\r\nX-Slow: 1\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 408);
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    // The server is unharmed and the application's own errors are unchanged.
    let (status, _, err) = server.call("GET", "/v1/threads", None, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_missing"))
    );
    let (status, _, _) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(status, 200);
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

async fn usage_adds_up(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"));
    // A small context budget, so later replies summarize what no longer fits.
    env.push(("CHAT_THREADS__GENERATION__CONTEXT_TOKENS", "60"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "counter"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    // A message generated elsewhere, with its counts.
    let (status, _, m) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            Some(
                &json!({"role": "assistant", "content": "from elsewhere", "model": "gpt-x",
                         "prompt_tokens": 100, "completion_tokens": 50}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        (m["prompt_tokens"].as_i64(), m["completion_tokens"].as_i64()),
        (Some(100), Some(50))
    );
    for bad in [json!(-1), json!(20_000_000), json!("12")] {
        let (status, _, err) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(&token),
                Some(&json!({"content": "x", "completion_tokens": bad})),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {err}");
    }
    // Replies long enough to overflow the budget: summaries are written, and counted.
    let mut replies = 0;
    for i in 0..6 {
        let words: Vec<String> = (0..12).map(|w| format!("turn{i}word{w}")).collect();
        let (status, _, reply) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/chat"),
                Some(&token),
                Some(&json!({"content": words.join(" ")})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        let a = &reply["assistant_message"];
        replies += a["prompt_tokens"].as_i64().unwrap() + a["completion_tokens"].as_i64().unwrap();
    }
    let (_, _, summaries) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/summaries"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        !summaries["data"].as_array().unwrap().is_empty(),
        "the budget overflowed"
    );
    let (status, _, usage) = server
        .call("GET", "/v1/usage?days=7", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{usage}");
    let today = usage["days"].as_array().unwrap().last().unwrap().clone();
    let models = today["models"].as_array().unwrap();
    let of = |name: &str| {
        models
            .iter()
            .find(|m| m["model"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        (
            of("gpt-x")["prompt_tokens"].as_i64(),
            of("gpt-x")["completion_tokens"].as_i64()
        ),
        (Some(100), Some(50))
    );
    let echo = of("echo");
    let echo_total =
        echo["prompt_tokens"].as_i64().unwrap() + echo["completion_tokens"].as_i64().unwrap();
    assert!(
        echo_total > replies,
        "summary calls count too: {echo_total} > {replies}"
    );
    assert_eq!(
        usage["prompt_tokens"].as_i64().unwrap() + usage["completion_tokens"].as_i64().unwrap(),
        today["prompt_tokens"].as_i64().unwrap() + today["completion_tokens"].as_i64().unwrap(),
        "today's totals are the sum of its models"
    );
    let (status, _, _) = server
        .call("GET", "/v1/usage?days=0", Some(&token), None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn usage_adds_up_on_sqlite() {
    usage_adds_up(false).await;
}

#[tokio::test]
async fn usage_adds_up_on_postgres() {
    usage_adds_up(true).await;
}
