//! Tools through a model server that speaks the real streaming protocol: the service offers the
//! caller's function tools as chat completions does, reassembles tool calls whose pieces arrive
//! interleaved and split across chunks, streams them in OpenAI's chunk format, and sends tool
//! results back to the model.

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_openai::FakeModel;

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "weather", "description": "Weather in a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "clock", "strict": true,
         "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}},
    ])
}

#[tokio::test]
async fn parallel_tool_calls_arrive_whole_and_streamed_and_results_go_back() {
    let fake = FakeModel::start();
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "toolsmith"]);
    let client = reqwest::Client::new();
    let url = format!("{}/openai/v1/chat/completions", server.base);
    let ask = json!({"model": "fake-tools", "tools": tools(), "tool_choice": "auto",
                     "parallel_tool_calls": true,
                     "messages": [{"role": "user", "content": "weather and time?"}]});

    // Whole: both calls, their arguments joined from the fragments.
    let r: Value = client
        .post(&url)
        .bearer_auth(&token)
        .json(&ask)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let choice = &r["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{r}");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap().clone();
    let summary: Vec<(String, String, Value)> = calls
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["function"]["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("call_a".into(), "weather".into(), json!({"city": "Lisbon"})),
            ("call_b".into(), "clock".into(), json!({"tz": "UTC"}))
        ]
    );
    // The model server got the tools as chat completions takes them.
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent["tools"], tools());
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], true);

    // Streamed: pieces per call, in OpenAI's chunk format, that add up to the same calls.
    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let resp = client
        .post(&url)
        .bearer_auth(&token)
        .json(&streamed)
        .send()
        .await
        .unwrap();
    let mut body = String::new();
    let mut bytes = resp.bytes_stream();
    while let Some(b) = bytes.next().await {
        body.push_str(&String::from_utf8_lossy(&b.unwrap()));
    }
    let mut args = [String::new(), String::new()];
    let mut names = [String::new(), String::new()];
    let mut finish = Value::Null;
    for line in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let c: Value = serde_json::from_str(line).unwrap();
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
        for d in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = d["index"].as_u64().unwrap() as usize;
            names[i].push_str(d["function"]["name"].as_str().unwrap_or_default());
            args[i].push_str(d["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(finish, "tool_calls", "{body}");
    assert_eq!(names, ["weather".to_owned(), "clock".to_owned()]);
    assert_eq!(
        serde_json::from_str::<Value>(&args[0]).unwrap(),
        json!({"city": "Lisbon"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args[1]).unwrap(),
        json!({"tz": "UTC"})
    );

    // The results go back as tool messages answering the calls; the model answers.
    let mut round = ask.clone();
    round["messages"] = json!([
        {"role": "user", "content": "weather and time?"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
    ]);
    let r: Value = client
        .post(&url)
        .bearer_auth(&token)
        .json(&round)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"], "Done: sunny, 12:00",
        "{r}"
    );
    let sent = fake.requests().pop().unwrap();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[1]["tool_calls"][1]["function"]["name"], "clock");
    assert_eq!(messages[1]["content"], Value::Null);
    assert_eq!(
        (
            messages[3]["role"].clone(),
            messages[3]["tool_call_id"].clone()
        ),
        (json!("tool"), json!("call_b"))
    );

    // Bad tool input is refused naming what is wrong, before the model is called.
    let calls_before = fake.requests().len();
    for (body, param) in [
        (
            json!({"model": "fake-tools", "messages": [{"role": "tool", "content": "x"}]}),
            "messages",
        ),
        (
            json!({"model": "fake-tools", "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]}),
            "tools",
        ),
        (
            json!({"model": "fake-tools", "messages": [{"role": "user", "content": "x"}],
                   "tools": tools(), "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
        ),
    ] {
        let resp = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    assert_eq!(fake.requests().len(), calls_before);
}

#[tokio::test]
async fn reasoning_streams_as_the_servers_that_show_it_do_and_stays_out_of_the_text() {
    let fake = FakeModel::start();
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "thinker"]);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/openai/v1/chat/completions", server.base))
        .bearer_auth(&token)
        .json(&json!({"model": "fake-think", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    let (mut reasoning, mut text) = (String::new(), String::new());
    for line in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(c) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let delta = &c["choices"][0]["delta"];
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
        text.push_str(delta["content"].as_str().unwrap_or_default());
    }
    assert_eq!(
        (reasoning.as_str(), text.as_str()),
        ("Let me think", "Hello"),
        "{body}"
    );
    // A stored reply keeps the answer, not the reasoning.
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let (status, _, reply) = server
        .call(
            "POST",
            &format!("/v1/threads/{}/chat", t["id"].as_str().unwrap()),
            Some(&token),
            Some(&json!({"content": "hi", "model": "fake-think"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["assistant_message"]["content"], "Hello");
}
