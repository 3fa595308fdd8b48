//! Server-side tools over MCP, on SQLite and PostgreSQL, against a real MCP server speaking
//! streamable HTTP (the `mcp` package, `support/mcp_server.py`): a chat that names the server
//! gets its tools offered, the service runs the model's calls (with the configured header),
//! stores each call with its result in the reply, feeds the results back and the model
//! answers; a failing tool is an error result the model sees, never a 5xx; the rounds reach
//! the next prompt in pairs; Responses' `mcp` tool gives `mcp_call` items.

use serde_json::{Value, json};

use crate::support::fake_openai::FakeModel;
use crate::support::mcp::McpServer;
use crate::support::{Server, backend_env, python, sse_events as sse};

async fn mcp_rounds(postgres: bool) {
    let Some(python) = python() else {
        return;
    };
    let Some(mut env) = backend_env(postgres).await else {
        return;
    };
    let mut tools = McpServer::start(&python);
    let mcp_env = |url: &str| {
        vec![
            (
                "CHAT_THREADS__RATE_LIMIT__ENABLED".to_owned(),
                "false".to_owned(),
            ),
            ("CHAT_THREADS__MODELS__ECHO__DELAY_MS".into(), "0".into()),
            (
                "CHAT_THREADS__MCP__SERVERS__CALC__URL".into(),
                url.to_owned(),
            ),
            (
                "CHAT_THREADS__MCP__SERVERS__CALC__HEADERS__X_API_KEY".into(),
                "CALC_MCP_KEY".into(),
            ),
            ("CALC_MCP_KEY".into(), "secret-1".into()),
            ("CHAT_THREADS__MCP__CALL_TIMEOUT_SECS".into(), "2".into()),
        ]
    };
    {
        // Out of the box (the echo model only, no model server configured): the MCP client
        // brings its own TLS set-up.
        let mut plain_env = backend_env(postgres).await.unwrap_or_default();
        plain_env.extend(mcp_env(&tools.url));
        let pairs: Vec<(&str, &str)> = plain_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let plain = Server::start(&pairs);
        let token = plain.token(&["--sub", "mcp-plain"]);
        let (_, _, t) = plain
            .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
            .await;
        let chat = json!({"content": "call add {\"a\": 20, \"b\": 22}", "model": "echo",
                          "mcp_servers": ["calc"]});
        let path = format!("/v1/threads/{}/chat", t["id"].as_str().unwrap());
        let answer = plain.call("POST", &path, Some(&token), Some(&chat));
        let (status, _, r) = tokio::time::timeout(std::time::Duration::from_secs(30), answer)
            .await
            .expect("the MCP chat answers (no hang)");
        assert_eq!(
            (status, &r["assistant_message"]["content"]),
            (201, &json!("Echo: 42")),
            "{r}"
        );
    }
    let fake = FakeModel::start();
    env.extend(fake.env());
    env.extend(mcp_env(&tools.url));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "mcp-user"]);
    let call = |m: &'static str, p: String, b: Option<Value>| {
        let server = &server;
        let token = token.clone();
        async move { server.call(m, &p, Some(&token), b.as_ref()).await }
    };
    let (_, _, t) = call("POST", "/v1/threads".into(), Some(json!({}))).await;
    let tid = t["id"].as_str().unwrap().to_owned();

    // The model calls `add` on the server; the service runs it and the model answers with it.
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(
            json!({"content": "call add {\"a\": 2, \"b\": 3}", "model": "echo",
                    "mcp_servers": ["calc"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let reply = &r["assistant_message"];
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(reply["content"], "Echo: 5");
    let parts = reply["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{reply}");
    assert_eq!(parts[0]["type"], "tool_call");
    assert_eq!(parts[0]["name"], "add");
    assert_eq!(parts[0]["server"], "calc");
    assert_eq!(parts[1]["type"], "tool_result");
    assert_eq!(parts[1]["call_id"], parts[0]["call_id"]);
    assert_eq!(parts[1]["output"], "5");
    assert_eq!(parts[1]["is_error"], false);
    assert!(
        reply["completion_tokens"].as_i64().unwrap() >= 2,
        "both rounds count: {reply}"
    );

    // A failing tool is an error result the model sees; streamed, with the call's events.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .json(
            &json!({"content": "call fail {\"reason\": \"boom\"}", "model": "echo",
                      "mcp_servers": ["calc"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let events = sse(&resp.text().await.unwrap());
    let started = events
        .iter()
        .find(|(k, _)| k == "tool_call.started")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(started.1["server"], "calc");
    let result = &events
        .iter()
        .find(|(k, _)| k == "tool_call.result")
        .unwrap()
        .1;
    assert_eq!(result["is_error"], true);
    assert!(
        result["output"].as_str().unwrap().contains("boom"),
        "{result}"
    );
    let (kind, end) = events.last().unwrap();
    assert_eq!(kind, "message.completed", "{events:?}");
    assert!(
        end["content"]
            .as_str()
            .unwrap()
            .contains("failed on purpose: boom")
    );

    // A call slower than mcp.call_timeout_secs is an error result too.
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(
            json!({"content": "call slow {\"seconds\": 5}", "model": "echo",
                    "mcp_servers": ["calc"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["assistant_message"]["parts"][1]["is_error"], true, "{r}");

    // Cancel stops the reply during a call.
    let mut resp = reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .json(
            &json!({"content": "call slow {\"seconds\": 5}", "model": "echo",
                      "mcp_servers": ["calc"]}),
        )
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let mut cancelled = false;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let whole = &seen[..seen.rfind("\n\n").map_or(0, |i| i + 2)];
        if let Some((_, started)) = sse(whole).iter().find(|(k, _)| k == "tool_call.started")
            && !cancelled
        {
            let id = started["message_id"].as_str().unwrap();
            let (status, _, _) = call(
                "POST",
                format!("/v1/threads/{tid}/messages/{id}/cancel"),
                None,
            )
            .await;
            assert_eq!(status, 200);
            cancelled = true;
        }
    }
    let events = sse(&seen);
    assert_eq!(
        events.last().map(|(k, _)| k.as_str()),
        Some("message.cancelled"),
        "{events:?}"
    );

    // The rounds reach the next prompt in pairs.
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "and?", "model": "fake-ok"})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let sent = fake.requests().pop().unwrap();
    let messages = sent["messages"].as_array().unwrap();
    let shape: Vec<(&str, usize, bool)> = messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap(),
                m["tool_calls"].as_array().map_or(0, Vec::len),
                m.get("tool_call_id").is_some(),
            )
        })
        .collect();
    let round = [
        ("user", 0, false),
        ("assistant", 1, false),
        ("tool", 0, true),
        ("assistant", 0, false),
    ];
    let want: Vec<(&str, usize, bool)> = round
        .iter()
        .chain(&round)
        .chain(&round)
        .copied()
        // The cancelled chat left its user message and an empty reply, which the context skips.
        .chain([("user", 0, false), ("user", 0, false)])
        .collect();
    assert_eq!(shape[shape.len() - want.len()..], want[..], "{sent}");

    // Only configured servers, by name.
    let (status, _, e) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "x", "model": "echo", "mcp_servers": ["nowhere"]})),
    )
    .await;
    assert_eq!(
        (
            status,
            e["error"]["code"].as_str(),
            e["error"]["details"]["field"].as_str()
        ),
        (422, Some("out_of_range"), Some("mcp")),
        "{e}"
    );

    // Responses: an `mcp` tool names the server; its calls are `mcp_call` items; allowed_tools
    // narrows what the model is offered.
    let responses = format!("{}/openai/v1/responses", server.base);
    let ask = |input: &str, allowed: Value| {
        json!({"model": "echo", "input": input,
               "tools": [{"type": "mcp", "server_label": "calc", "require_approval": "never",
                          "allowed_tools": allowed}]})
    };
    let r: Value = reqwest::Client::new()
        .post(&responses)
        .bearer_auth(&token)
        .json(&ask("call shout {\"text\": \"hi\"}", json!(["shout"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "completed", "{r}");
    let item = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "mcp_call")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        (&item["server_label"], &item["name"], &item["output"]),
        (&json!("calc"), &json!("shout"), &json!("HI"))
    );
    assert_eq!(
        r["output"].as_array().unwrap().last().unwrap()["type"],
        "message"
    );
    let r: Value = reqwest::Client::new()
        .post(&responses)
        .bearer_auth(&token)
        .json(&ask("call shout {\"text\": \"hi\"}", json!(["add"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !r.to_string().contains("mcp_call"),
        "shout is not offered: {r}"
    );
    let resp = reqwest::Client::new()
        .post(&responses)
        .bearer_auth(&token)
        .json(&json!({"model": "echo", "input": "x",
                      "tools": [{"type": "mcp", "server_label": "calc",
                                 "server_url": "http://example.com/mcp"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "a server by URL is refused");

    // A server that went away: the reply goes on without its tools, never a 5xx.
    tools.stop();
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(
            json!({"content": "call add {\"a\": 1, \"b\": 1}", "model": "echo",
                    "mcp_servers": ["calc"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["assistant_message"]["status"], "complete", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_run_in_the_reply_on_sqlite() {
    mcp_rounds(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_run_in_the_reply_on_postgres() {
    mcp_rounds(true).await;
}
