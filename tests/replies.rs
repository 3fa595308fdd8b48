//! Assistant replies against a fake OpenAI-compatible server on 127.0.0.1: stream order and
//! content, disconnect and resume, cancel, failure, retry, quota, allowlists, summarization,
//! one reply per thread, keep-alives, hints, and SIGTERM during a generation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::Server;
use crate::support::fake_openai::FakeModel;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// One SSE event or comment.
#[derive(Debug, Clone)]
struct Event {
    id: Option<u64>,
    event: String,
    data: Value,
}

struct Sse {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Sse {
    fn new(resp: reqwest::Response) -> Self {
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            stream: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (comments come back as event ":comment").
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut e = Event {
                    id: None,
                    event: String::new(),
                    data: Value::Null,
                };
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        e.event = ":comment".into();
                        e.data = json!(c.trim());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        e.id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        e.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        e.data = serde_json::from_str(v).unwrap();
                    }
                }
                // Every event's data names it, for clients that read `data` alone.
                if e.event != ":comment" {
                    assert_eq!(e.data["type"], e.event.as_str(), "{e:?}");
                }
                return Some(e);
            }
            match tokio::time::timeout(Duration::from_secs(20), self.stream.next())
                .await
                .expect("the stream went silent")
            {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    async fn until_end(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            if e.event != ":comment" {
                out.push(e);
            }
        }
        out
    }
}

struct Env {
    server: Server,
    fake: FakeModel,
    token: String,
    client: reqwest::Client,
}

impl Env {
    fn start(extra: &[(&str, &str)]) -> Env {
        let fake = FakeModel::start();
        let mut env: Vec<(String, String)> = fake.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start(&pairs);
        let token = server.token(&["--sub", "chatter", "--org", "acme"]);
        Env {
            server,
            fake,
            token,
            client: reqwest::Client::new(),
        }
    }

    async fn thread(&self) -> String {
        let (_, _, t) = self
            .server
            .call(
                "POST",
                "/v1/threads",
                Some(&self.token),
                Some(&json!({"title": "chat"})),
            )
            .await;
        t["id"].as_str().unwrap().to_owned()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.server.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn stream_chat(&self, tid: &str, body: Value) -> Sse {
        let resp = self
            .client
            .post(format!("{}/v1/threads/{tid}/chat", self.server.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        Sse::new(resp)
    }

    async fn resume(&self, tid: &str, mid: &str, last: u64) -> Sse {
        let resp = self
            .client
            .get(format!(
                "{}/v1/threads/{tid}/messages/{mid}/stream",
                self.server.base
            ))
            .bearer_auth(&self.token)
            .header("last-event-id", last.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        Sse::new(resp)
    }

    async fn message(&self, tid: &str, mid: &str) -> Value {
        let (status, _, m) = self
            .server
            .call(
                "GET",
                &format!("/v1/threads/{tid}/messages/{mid}"),
                Some(&self.token),
                None,
            )
            .await;
        assert_eq!(status, 200);
        m
    }
}

fn deltas(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.event == "message.delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_streamed_reply_arrives_in_order_and_is_stored() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let mut sse = env
        .stream_chat(&tid, json!({"content": "Say hello", "model": "fake-ok"}))
        .await;
    let events = sse.until_end().await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "message.created",
            "message.created",
            "typing.started",
            "message.delta",
            "message.delta",
            "message.delta",
            "message.delta",
            "typing.stopped",
            "message.completed"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=9).collect::<Vec<_>>(),
        "ids are the seq, from 1, without gaps"
    );
    assert!(
        events
            .iter()
            .all(|e| e.data["seq"].as_u64() == e.id && e.data["thread_id"] == json!(tid))
    );
    assert_eq!(events[0].data["message"]["role"], "user");
    assert_eq!(
        events[1].data["message"]["status"], "streaming",
        "the reply exists from the first event"
    );
    assert_eq!(deltas(&events), "Hello world");
    let done = &events[8].data;
    assert_eq!(done["content"], "Hello world");
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 4})
    );
    let mid = events[1].data["message_id"].as_str().unwrap();
    let stored = env.message(&tid, mid).await;
    assert_eq!(
        (stored["status"].as_str(), stored["content"].as_str()),
        (Some("complete"), Some("Hello world"))
    );
    assert_eq!(
        (
            stored["prompt_tokens"].as_i64(),
            stored["completion_tokens"].as_i64()
        ),
        (Some(11), Some(4))
    );
    let (_, _, usage) = env
        .server
        .call("GET", "/v1/usage", Some(&env.token), None)
        .await;
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(11), Some(4))
    );

    // The model saw the prompt (with the default system prompt absent, just the user message).
    let sent = &env.fake.requests()[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(
        sent["messages"].as_array().unwrap().last().unwrap()["content"],
        "Say hello"
    );
}

#[tokio::test]
async fn an_idempotency_key_never_holds_back_a_stream() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let resp = env
        .client
        .post(format!("{}/v1/threads/{tid}/chat", env.server.base))
        .bearer_auth(&env.token)
        .header("accept", "text/event-stream")
        .header("idempotency-key", "stream-1")
        .json(&json!({"content": "x", "model": "fake-stall"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // The reply stalls after "Hello": its first events must arrive anyway.
    let mut sse = Sse::new(resp);
    let mut seen = Vec::new();
    while deltas(&seen) != "Hello" {
        seen.push(sse.next().await.unwrap());
    }
    let mid = seen[1].data["message_id"].as_str().unwrap().to_owned();
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{mid}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn non_streaming_returns_both_messages_and_echo_works_offline() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "ping"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user_message"]["content"], "ping");
    assert_eq!(body["assistant_message"]["content"], "Echo: ping");
    assert_eq!(body["assistant_message"]["model"], "echo");
    assert_eq!(
        body["assistant_message"]["parent_id"],
        body["user_message"]["id"]
    );
    // Regenerate: a sibling reply; resend: a sibling user message and a reply to it.
    let aid = body["assistant_message"]["id"].as_str().unwrap();
    let uid = body["user_message"]["id"].as_str().unwrap();
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{aid}/regenerate"),
            json!({"model": "fake-ok"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let regen: Value = resp.json().await.unwrap();
    assert!(regen["user_message"].is_null());
    assert_eq!(
        regen["assistant_message"]["parent_id"],
        body["user_message"]["id"]
    );
    assert_eq!(regen["assistant_message"]["content"], "Hello world");
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{uid}/resend"),
            json!({"content": "pong"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let resent: Value = resp.json().await.unwrap();
    assert_eq!(
        resent["user_message"]["parent_id"],
        Value::Null,
        "a sibling of the root"
    );
    assert!(resent["user_message"]["edited_at"].is_string());
    assert_eq!(resent["assistant_message"]["content"], "Echo: pong");
    let (_, _, branches) = env
        .server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/branches"),
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(branches["data"].as_array().unwrap().len(), 3);
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{uid}/regenerate"),
            json!({}),
        )
        .await;
    assert_eq!(
        resp.status().as_u16(),
        422,
        "only assistant replies regenerate"
    );
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{uid}/resend"),
            json!({"content": "x", "parent_id": uid}),
        )
        .await;
    assert_eq!(
        resp.status().as_u16(),
        400,
        "a resent message has no parent of its choosing"
    );
}

#[tokio::test]
async fn a_reply_survives_the_client_leaving_and_resumes_without_gap_or_duplicate() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let mut sse = env
        .stream_chat(
            &tid,
            json!({"content": "long please", "model": "fake-slow"}),
        )
        .await;
    let mut first = Vec::new();
    while first.len() < 6 {
        first.push(sse.next().await.unwrap());
    }
    let mid = first[1].data["message_id"].as_str().unwrap().to_owned();
    let last = first.last().unwrap().id.unwrap();
    drop(sse); // the client goes away mid-reply
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = env.resume(&tid, &mid, last).await.until_end().await;
    let ids: Vec<u64> = first.iter().chain(&rest).map(|e| e.id.unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let all: Vec<Event> = first.into_iter().chain(rest).collect();
    let expected: String = (0..20).map(|i| format!("w{i} ")).collect();
    assert_eq!(deltas(&all), expected);
    assert_eq!(all.last().unwrap().event, "message.completed");
    assert_eq!(env.message(&tid, &mid).await["content"], expected);
    // A finished reply replays from the start.
    let replay = env.resume(&tid, &mid, 0).await.until_end().await;
    assert_eq!(deltas(&replay), expected);
    // EventSource style: the token and the last id in the URL.
    let url = format!(
        "{}/v1/threads/{tid}/messages/{mid}/stream?last_event_id=3&access_token={}",
        env.server.base, env.token
    );
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let tail = Sse::new(resp).until_end().await;
    assert_eq!(tail.first().unwrap().id, Some(4));
    let resp = reqwest::get(format!(
        "{}/v1/threads/{tid}/messages/{mid}/stream",
        env.server.base
    ))
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn cancel_keeps_the_partial_text_and_a_busy_thread_refuses_a_second_reply() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let mut sse = env
        .stream_chat(&tid, json!({"content": "go", "model": "fake-stall"}))
        .await;
    let mut seen = Vec::new();
    while deltas(&seen) != "Hello" {
        seen.push(sse.next().await.unwrap());
    }
    let mid = seen[1].data["message_id"].as_str().unwrap().to_owned();
    let busy = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "again"}),
        )
        .await;
    assert_eq!(busy.status().as_u16(), 409);
    let err: Value = busy.json().await.unwrap();
    assert_eq!(err["error"]["code"], "generation_in_progress");

    let resp = env
        .post(
            &format!("/v1/threads/{tid}/messages/{mid}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(
        (m["status"].as_str(), m["content"].as_str()),
        (Some("cancelled"), Some("Hello"))
    );
    let rest = sse.until_end().await;
    assert_eq!(rest.last().unwrap().event, "message.cancelled");
    assert_eq!(rest.last().unwrap().data["content"], "Hello");
    let ok = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "again"}),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 201, "the thread takes messages again");
}

#[tokio::test]
async fn a_failure_mid_stream_stores_the_partial_text_as_failed() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let events = env
        .stream_chat(&tid, json!({"content": "x", "model": "fake-fail"}))
        .await
        .until_end()
        .await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "message.failed");
    assert_eq!(last.data["content"], "Hello");
    assert_eq!(last.data["error"]["code"], "model_error");
    let mid = events[1].data["message_id"].as_str().unwrap();
    let m = env.message(&tid, mid).await;
    assert_eq!(
        (m["status"].as_str(), m["content"].as_str()),
        (Some("failed"), Some("Hello"))
    );
    // Non-streaming: 502 with the stored messages in the details.
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "y", "model": "fake-fail"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 502);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "model_error");
    assert_eq!(
        err["error"]["details"]["assistant_message"]["status"],
        "failed"
    );
}

#[tokio::test]
async fn rate_limited_model_servers_are_retried_before_the_first_token() {
    let env = Env::start(&[]);
    let tid = env.thread().await;
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "x", "model": "fake-429"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["assistant_message"]["content"], "Hello world");
    assert_eq!(env.fake.requests().len(), 3, "two 429s, then success");
}

#[tokio::test]
async fn the_daily_quota_answers_429_once_spent() {
    let env = Env::start(&[("CHAT_THREADS__GENERATION__DAILY_TOKEN_QUOTA", "20")]);
    let tid = env.thread().await;
    for _ in 0..2 {
        let resp = env
            .post(
                &format!("/v1/threads/{tid}/chat"),
                json!({"content": "x", "model": "fake-ok"}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 201);
    }
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "x", "model": "fake-ok"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "token_quota_exceeded");
    assert_eq!(err["error"]["details"], json!({"quota": 20, "used": 30}));
}

#[tokio::test]
async fn model_allowlists_per_org_and_refusals_list_the_allowed() {
    let env = Env::start(&[
        ("CHAT_THREADS__MODELS__ALLOW__DEFAULT", "[echo]"),
        (
            "CHAT_THREADS__MODELS__ALLOW__ORGS",
            "{globex=[echo, fake-ok]}",
        ),
    ]);
    let (_, _, models) = env
        .server
        .call("GET", "/v1/models", Some(&env.token), None)
        .await;
    assert_eq!(
        models,
        json!({"data": [{"id": "echo", "provider": "builtin", "default": true,
                         "vision": false, "pricing": null}],
               "next_cursor": null, "has_more": false})
    );
    let tid = env.thread().await;
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "x", "model": "fake-ok"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "model_not_allowed");
    assert_eq!(err["error"]["details"]["allowed"], json!(["echo"]));
    let resp = env
        .post(
            &format!("/v1/threads/{tid}/chat"),
            json!({"content": "x", "model": "no-such-model"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    let (_, _, list) = env
        .server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages"),
            Some(&env.token),
            None,
        )
        .await;
    assert!(
        list["data"].as_array().unwrap().is_empty(),
        "a refused send stores nothing"
    );

    let globex = env.server.token(&["--sub", "g", "--org", "globex"]);
    let (_, _, models) = env
        .server
        .call("GET", "/v1/models", Some(&globex), None)
        .await;
    assert_eq!(models["data"].as_array().unwrap().len(), 2);
    // A thread's model is used when the request names none.
    let (_, _, t) = env
        .server
        .call(
            "POST",
            "/v1/threads",
            Some(&globex),
            Some(&json!({"model": "fake-ok"})),
        )
        .await;
    let tid = t["id"].as_str().unwrap();
    let (status, _, reply) = env
        .server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&globex),
            Some(&json!({"content": "x"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(reply["assistant_message"]["model"], "fake-ok");
}

#[tokio::test]
async fn long_paths_are_summarized_and_the_summary_is_used_from_then_on() {
    let env = Env::start(&[("CHAT_THREADS__GENERATION__CONTEXT_TOKENS", "60")]);
    let (_, _, t) = env
        .server
        .call(
            "POST",
            "/v1/threads",
            Some(&env.token),
            Some(&json!({"system_prompt": "Be brief.", "model": "fake-ok"})),
        )
        .await;
    let tid = t["id"].as_str().unwrap();
    let long = "this message is long enough to take a good share of a small token budget";
    for _ in 0..4 {
        let resp = env
            .post(&format!("/v1/threads/{tid}/chat"), json!({"content": long}))
            .await;
        assert_eq!(resp.status().as_u16(), 201);
    }
    let requests = env.fake.requests();
    let summaries: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap()
                .starts_with("Summarize")
        })
        .collect();
    assert!(!summaries.is_empty(), "the model was asked for a summary");
    let (_, _, stored) = env
        .server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/summaries"),
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(stored["data"][0]["text"], "SUMMARY-TEXT");
    let last = requests.last().unwrap();
    let prompt: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        prompt[0], "Be brief.",
        "the thread's system prompt comes first"
    );
    assert!(
        prompt.iter().any(|p| p.contains("SUMMARY-TEXT")),
        "the summary is in the prompt: {prompt:?}"
    );
    assert!(
        prompt.len() < 9,
        "old messages were replaced by the summary: {prompt:?}"
    );
}

#[tokio::test]
async fn language_and_timezone_hints_reach_the_model() {
    let env = Env::start(&[(
        "CHAT_THREADS__GENERATION__DEFAULT_SYSTEM_PROMPT",
        "You help.",
    )]);
    let tid = env.thread().await;
    let resp = env
        .post(&format!("/v1/threads/{tid}/chat"), json!({"content": "x", "model": "fake-ok", "language": "fr", "timezone": "Europe/Lisbon"}))
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let system = env.fake.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(system.starts_with("You help."), "{system}");
    assert!(
        system.contains("fr") && system.contains("Europe/Lisbon"),
        "{system}"
    );
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let env = Env::start(&[("CHAT_THREADS__GENERATION__SSE_KEEPALIVE_SECS", "1")]);
    let tid = env.thread().await;
    let mut sse = env
        .stream_chat(&tid, json!({"content": "x", "model": "fake-stall"}))
        .await;
    let mut comment = None;
    for _ in 0..20 {
        let e = sse.next().await.unwrap();
        if e.event == ":comment" {
            comment = Some(e);
            break;
        }
    }
    assert_eq!(comment.unwrap().data, "keep-alive");
}

#[tokio::test]
async fn sigterm_lets_replies_finish_within_the_grace_then_cancels_keeping_text() {
    let keep = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/chat.db", keep.path().display());
    let env = Env::start(&[
        ("CHAT_THREADS__DATABASE__URL", &db),
        ("CHAT_THREADS__GENERATION__SHUTDOWN_GRACE_SECS", "1"),
        ("CHAT_THREADS__SERVER__SHUTDOWN_TIMEOUT_SECS", "1"),
    ]);
    let tid = env.thread().await;
    let mut sse = env
        .stream_chat(&tid, json!({"content": "x", "model": "fake-stall"}))
        .await;
    let mut seen = Vec::new();
    while deltas(&seen) != "Hello" {
        seen.push(sse.next().await.unwrap());
    }
    let mid = seen[1].data["message_id"].as_str().unwrap().to_owned();
    let Env { server, fake, .. } = env;
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        started.elapsed()
    );
    // Read the stored reply with a fresh server on the same database.
    let mut env2: Vec<(String, String)> = fake.env();
    env2.push(("CHAT_THREADS__DATABASE__URL".into(), db));
    let pairs: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let again = Server::start(&pairs);
    let token = again.token(&["--sub", "chatter", "--org", "acme"]);
    let (_, _, m) = again
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages/{mid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (m["status"].as_str(), m["content"].as_str()),
        (Some("cancelled"), Some("Hello")),
        "{m}"
    );
}
