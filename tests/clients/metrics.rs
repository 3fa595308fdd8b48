//! Counting: one metrics registry across workers, SSE followers let go, token usage that adds up.

use std::collections::BTreeMap;

use crate::support::{Server, backend_env};
use serde_json::json;

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
