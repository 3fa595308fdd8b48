//! Agent turns natively, on SQLite and PostgreSQL: a reply that calls the caller's tools is
//! stored with its calls as parts and ends in `requires_action`; the results go back in one
//! request, are stored as a tool message answering every call, and the reply continues under
//! them — streamed, replayed alike, branchable; calls and results stay paired (422 otherwise),
//! in the model's context and through export and import.

use serde_json::{Value, json};

use crate::support::fake_openai::FakeModel;
use crate::support::{Server, backend_env, sse_events as sse};

fn tools() -> Value {
    json!([
        {"name": "weather", "description": "Weather in a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "clock", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
    ])
}

async fn streamed(server: &Server, token: &str, path: &str, body: Value) -> Vec<(String, Value)> {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    sse(&resp.text().await.unwrap())
}

fn kinds(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

async fn tool_rounds(postgres: bool) {
    let Some(mut env) = backend_env(postgres).await else {
        return;
    };
    let fake = FakeModel::start();
    env.extend(fake.env());
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED".into(), "false".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "agent-smith"]);
    let call = |m: &'static str, p: String, b: Option<Value>| {
        let server = &server;
        let token = token.clone();
        async move { server.call(m, &p, Some(&token), b.as_ref()).await }
    };
    let (_, _, t) = call("POST", "/v1/threads".into(), Some(json!({}))).await;
    let tid = t["id"].as_str().unwrap().to_owned();

    // A reply that calls two tools in parallel: stored with its calls, waiting for results.
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(
            json!({"content": "weather and time?", "model": "fake-tools", "tools": tools(),
                    "tool_choice": "auto", "parallel_tool_calls": true}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let calling = r["assistant_message"].clone();
    assert_eq!(calling["status"], "requires_action", "{calling}");
    assert_eq!(
        calling["parts"],
        json!([
            {"type": "tool_call", "call_id": "call_a", "name": "weather",
             "arguments": "{\"city\": \"Lisbon\"}"},
            {"type": "tool_call", "call_id": "call_b", "name": "clock",
             "arguments": "{\"tz\": \"UTC\"}"},
        ])
    );
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent["tools"][0]["function"]["name"], "weather", "{sent}");
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], true);
    assert_eq!(
        calling["metadata"]["prompt"]["tools"],
        json!(["weather", "clock"])
    );
    let cid = calling["id"].as_str().unwrap().to_owned();
    let results = format!("/v1/threads/{tid}/messages/{cid}/tool_results");

    // Results must answer every call, each once, and only calls of this reply.
    let count = |v: &Value| v["data"].as_array().unwrap().len();
    let (_, _, before) = call(
        "GET",
        format!("/v1/threads/{tid}/messages?view=tree&limit=100"),
        None,
    )
    .await;
    for (body, call_id) in [
        (json!([{"call_id": "call_a", "output": "sunny"}]), "call_b"),
        (
            json!([{"call_id": "call_a", "output": "x"}, {"call_id": "call_z", "output": "y"}]),
            "call_z",
        ),
    ] {
        let (status, _, e) = call("POST", results.clone(), Some(json!({"results": body}))).await;
        assert_eq!(status, 422, "{e}");
        assert_eq!(e["error"]["code"], "tool_result_unpaired", "{e}");
        assert_eq!(e["error"]["details"]["call_id"], call_id, "{e}");
    }
    let (status, _, e) = call(
        "POST",
        results.clone(),
        Some(json!({"results": [{"call_id": "call_a", "output": "x"},
                                {"call_id": "call_a", "output": "x"}]})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("inconsistent_request")),
        "a call answered twice in one request: {e}"
    );
    let (_, _, after) = call(
        "GET",
        format!("/v1/threads/{tid}/messages?view=tree&limit=100"),
        None,
    )
    .await;
    assert_eq!(count(&before), count(&after), "a refusal stores nothing");

    // All results, streamed: the tool message, then the continuation.
    let events = streamed(
        &server,
        &token,
        &results,
        json!({"results": [{"call_id": "call_a", "output": "sunny"},
                           {"call_id": "call_b", "output": {"time": "12:00"}, "is_error": false}],
               "tools": tools()}),
    )
    .await;
    assert_eq!(
        kinds(&events).first().copied(),
        Some("message.created"),
        "{events:?}"
    );
    let tool_message = &events[0].1["message"];
    assert_eq!(tool_message["role"], "tool");
    assert_eq!(tool_message["parent_id"], cid.as_str());
    assert_eq!(tool_message["parts"][1]["output"], json!({"time": "12:00"}));
    let (_, end) = events.last().unwrap();
    assert_eq!(end["type"], "message.completed", "{events:?}");
    assert_eq!(end["content"], "Done: sunny, {\"time\":\"12:00\"}");
    // The model got the calls and the results in pairs, in OpenAI's shape.
    let sent = fake.requests().pop().unwrap();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles[roles.len() - 4..],
        ["user", "assistant", "tool", "tool"]
    );
    let n = roles.len();
    assert_eq!(sent["messages"][n - 3]["tool_calls"][1]["id"], "call_b");
    assert_eq!(sent["messages"][n - 2]["tool_call_id"], "call_a");
    assert_eq!(sent["messages"][n - 1]["content"], "{\"time\":\"12:00\"}");

    // The path holds the round: user, calls, results, answer.
    let (_, _, path) = call("GET", format!("/v1/threads/{tid}/messages"), None).await;
    let statuses: Vec<(&str, &str)> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("user", "complete"),
            ("assistant", "requires_action"),
            ("tool", "complete"),
            ("assistant", "complete")
        ]
    );

    // Streamed and replayed alike: tool-call events, then message.requires_action.
    let events = streamed(
        &server,
        &token,
        &format!("/v1/threads/{tid}/messages/{cid}/regenerate"),
        json!({"tools": tools()}),
    )
    .await;
    let live = kinds(&events);
    assert!(live.contains(&"tool_call.started"), "{live:?}");
    assert!(live.contains(&"tool_call.delta"), "{live:?}");
    assert_eq!(live.last(), Some(&"message.requires_action"));
    let (_, end) = events.last().unwrap();
    assert_eq!(end["tool_calls"][0]["call_id"], "call_a", "{end}");
    let regenerated = end["message_id"].as_str().unwrap().to_owned();
    let replay = reqwest::Client::new()
        .get(format!(
            "{}/v1/threads/{tid}/messages/{regenerated}/stream",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let replayed = sse(&replay);
    assert_eq!(replayed.last().unwrap().1, events.last().unwrap().1);
    let args: String = replayed
        .iter()
        .filter(|(k, d)| k == "tool_call.delta" && d["index"] == 0)
        .map(|(_, d)| d["arguments"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, "{\"city\": \"Lisbon\"}");

    // Appending by hand keeps the pairing rules: a result with no call above is refused; a
    // call and its result, stored as given, go into the next prompt as a pair.
    let user_id = path["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, e) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"role": "tool", "content": "", "parent_id": user_id,
                    "parts": [{"type": "tool_result", "call_id": "call_a", "output": "x"}]})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("tool_result_unpaired"))
    );
    let (status, _, e) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"role": "user", "content": "x",
                    "parts": [{"type": "tool_call", "call_id": "c", "name": "n", "arguments": "{}"}]})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("inconsistent_request")),
        "a tool call on a user message: {e}"
    );
    let (status, _, own) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"role": "assistant", "content": "",
                    "parts": [{"type": "reasoning", "summary": "look it up"},
                              {"type": "tool_call", "call_id": "mine", "name": "lookup",
                               "arguments": "{\"q\": 1}"}]})),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    assert_eq!(own["status"], "requires_action");
    let (status, _, res) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"role": "tool", "content": "",
                    "parts": [{"type": "tool_result", "call_id": "mine", "output": "42"}]})),
    )
    .await;
    assert_eq!(status, 201, "{res}");
    // A tool message cannot be edited into something else: send the results again instead.
    let rid = res["id"].as_str().unwrap();
    let (status, _, e) = call(
        "POST",
        format!("/v1/threads/{tid}/messages/{rid}/edits"),
        Some(json!({"content": "other"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("message_unusable")),
        "{e}"
    );
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "and?", "model": "fake-ok"})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let sent = fake.requests().pop().unwrap();
    let tail: Vec<Value> = sent["messages"].as_array().unwrap().clone();
    let n = tail.len();
    assert_eq!(tail[n - 3]["tool_calls"][0]["id"], "mine", "{sent}");
    assert_eq!(tail[n - 2]["tool_call_id"], "mine");
    assert!(
        !sent.to_string().contains("look it up"),
        "reasoning is not sent back"
    );

    // A fork copies the pair whole, call ids included.
    let (status, _, forked) = call(
        "POST",
        format!("/v1/threads/{tid}/fork"),
        Some(json!({"message_id": rid})),
    )
    .await;
    assert_eq!(status, 201, "{forked}");
    let (_, _, copy) = call(
        "GET",
        format!(
            "/v1/threads/{}/messages?limit=100",
            forked["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let copy = copy["data"].as_array().unwrap();
    let n = copy.len();
    assert_eq!(copy[n - 2]["status"], "requires_action", "{copy:?}");
    assert_eq!(copy[n - 2]["parts"][1]["call_id"], "mine");
    assert_eq!(copy[n - 1]["parts"][0]["call_id"], "mine");
    // Tombstoning the call takes its result out of the context too (never half a pair).
    let own_id = own["id"].as_str().unwrap();
    let (status, _, _) = call(
        "DELETE",
        format!("/v1/threads/{tid}/messages/{own_id}?scope=message"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "again?", "model": "fake-ok"})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let sent = fake.requests().pop().unwrap();
    assert!(!sent.to_string().contains("mine"), "{sent}");

    // A reply answered by a user message instead of results: its calls leave the context.
    let (_, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "weather?", "model": "fake-tools", "tools": tools()})),
    )
    .await;
    assert_eq!(r["assistant_message"]["status"], "requires_action", "{r}");
    call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "never mind", "model": "fake-ok"})),
    )
    .await;
    let sent = fake.requests().pop().unwrap();
    let last_two: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(last_two, ["never mind", "weather?"], "{sent}");

    // Export and import keep the parts and their call ids.
    let export = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/export", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("\"call_id\":\"call_a\""), "{export}");
    let imported = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(export)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200);
    let imported: Value = imported.json().await.unwrap();
    let new_tid = imported["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{imported}"))
        .to_owned();
    let (_, _, tree) = call(
        "GET",
        format!("/v1/threads/{new_tid}/messages?view=tree&limit=100"),
        None,
    )
    .await;
    let waiting = tree["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "requires_action")
        .count();
    assert_eq!(
        waiting, 3,
        "the two rounds, the regenerated one, the unanswered one: {tree}"
    );

    // Offline, with the built-in echo model: `call NAME {json}` calls the tool, and after the
    // result it answers with it.
    let (_, _, t) = call("POST", "/v1/threads".into(), Some(json!({}))).await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (_, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(
            json!({"content": "call weather {\"city\": \"Porto\"}", "model": "echo",
                    "tools": tools()}),
        ),
    )
    .await;
    let m = &r["assistant_message"];
    assert_eq!(m["parts"][0]["arguments"], "{\"city\": \"Porto\"}", "{r}");
    let (cid, call_id) = (
        m["id"].as_str().unwrap(),
        m["parts"][0]["call_id"].as_str().unwrap(),
    );
    let (status, _, r) = call(
        "POST",
        format!("/v1/threads/{tid}/messages/{cid}/tool_results"),
        Some(json!({"results": [{"call_id": call_id, "output": "rain"}]})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["user_message"]["role"], "tool");
    assert_eq!(r["assistant_message"]["content"], "Echo: rain");
    // Results for a reply that called nothing are refused.
    let done = r["assistant_message"]["id"].as_str().unwrap();
    let (status, _, e) = call(
        "POST",
        format!("/v1/threads/{tid}/messages/{done}/tool_results"),
        Some(json!({"results": [{"call_id": call_id, "output": "rain"}]})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("message_unusable"))
    );
}

#[tokio::test]
async fn tool_rounds_are_stored_paired_and_continued_on_sqlite() {
    tool_rounds(false).await;
}

#[tokio::test]
async fn tool_rounds_are_stored_paired_and_continued_on_postgres() {
    tool_rounds(true).await;
}
