//! A fake OpenAI-compatible model server on 127.0.0.1, for tests. It speaks the real streaming
//! protocol (SSE chunks, a usage chunk, `[DONE]`), and behaves by model name:
//! - `fake-ok`: "Hel", "lo", " wor", "ld", then usage 11 + 4;
//! - `fake-slow`: 20 words, 100 ms apart;
//! - `fake-stall`: "Hel", "lo", then nothing (until the client goes away);
//! - `fake-fail`: "Hel", "lo", then the connection breaks;
//! - `fake-429`: answers 429 twice, then like `fake-ok`;
//! - `fake-tools`: with tools offered and the last message not a tool result, calls the first
//!   two tools in parallel, their pieces interleaved and the arguments split across chunks
//!   (`{"city": "Lisbon"}` and `{"tz": "UTC"}`); after tool results, answers "Done: " and the
//!   results joined by ", ";
//! - `fake-500`: answers HTTP 500 with an error body holding secrets (users must never see it);
//! - `fake-think`: reasoning first (`reasoning_content` "Let me", " think"), then "Hel", "lo".
//!
//! A request whose first message is the summary instruction gets "SUMMARY-TEXT".
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The running fake and what it received.
#[derive(Clone)]
pub struct FakeModel {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    traceparents: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Value>>>,
    /// The `traceparent` header of each request that had one.
    traceparents: Arc<Mutex<Vec<String>>>,
    rate_limited: Arc<Mutex<u32>>,
}

fn chunk(text: &str) -> web::Bytes {
    let data = json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]});
    web::Bytes::from(format!("data: {data}\n\n"))
}

fn tool_chunk(calls: Value) -> web::Bytes {
    let data = json!({"id": "c1", "object": "chat.completion.chunk",
                      "choices": [{"index": 0, "delta": {"tool_calls": calls}}]});
    web::Bytes::from(format!("data: {data}\n\n"))
}

fn usage(prompt: u32, completion: u32) -> web::Bytes {
    let data = json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}});
    web::Bytes::from(format!("data: {data}\n\n"))
}

async fn completions(
    shared: web::Data<Shared>,
    req: actix_web::HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    if let Some(t) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        shared.traceparents.lock().unwrap().push(t.to_owned());
    }
    shared.requests.lock().unwrap().push(body.clone());
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let summary = body["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("Summarize"));
    let sse = |items: Vec<(Duration, Result<web::Bytes, actix_web::Error>)>, forever: bool| {
        let stream = futures_util::stream::unfold(
            (items.into_iter(), forever),
            |(mut it, forever)| async move {
                match it.next() {
                    Some((delay, item)) => {
                        tokio::time::sleep(delay).await;
                        Some((item, (it, forever)))
                    }
                    None if forever => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        None
                    }
                    None => None,
                }
            },
        );
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream)
    };
    let ok = |d: Duration| -> Vec<(Duration, Result<web::Bytes, actix_web::Error>)> {
        let mut v: Vec<_> = ["Hel", "lo", " wor", "ld"]
            .iter()
            .map(|t| (d, Ok(chunk(t))))
            .collect();
        v.push((d, Ok(usage(11, 4))));
        v.push((d, Ok(web::Bytes::from("data: [DONE]\n\n"))));
        v
    };
    if summary {
        return sse(
            vec![
                (Duration::ZERO, Ok(chunk("SUMMARY-TEXT"))),
                (Duration::ZERO, Ok(web::Bytes::from("data: [DONE]\n\n"))),
            ],
            false,
        );
    }
    match model.as_str() {
        "fake-ok" => sse(ok(Duration::from_millis(5)), false),
        "fake-500" => HttpResponse::InternalServerError().json(json!({"error": {
            "message": "upstream key sk-live-123 failed at 10.1.2.3", "type": "server_error"}})),
        "fake-think" => {
            let think = |text: &str| {
                let data = json!({"id": "c1", "object": "chat.completion.chunk",
                                  "choices": [{"index": 0, "delta": {"reasoning_content": text}}]});
                web::Bytes::from(format!("data: {data}\n\n"))
            };
            let d = Duration::from_millis(2);
            sse(
                vec![
                    (d, Ok(think("Let me"))),
                    (d, Ok(think(" think"))),
                    (d, Ok(chunk("Hel"))),
                    (d, Ok(chunk("lo"))),
                    (d, Ok(usage(5, 4))),
                    (d, Ok(web::Bytes::from("data: [DONE]\n\n"))),
                ],
                false,
            )
        }
        "fake-tools" => {
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            let results: Vec<String> = messages
                .iter()
                .rev()
                .take_while(|m| m["role"] == "tool")
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .collect();
            let d = Duration::from_millis(2);
            let done = |v: &mut Vec<(Duration, Result<web::Bytes, actix_web::Error>)>| {
                v.push((d, Ok(usage(20, 6))));
                v.push((d, Ok(web::Bytes::from("data: [DONE]\n\n"))));
            };
            let tools: Vec<String> = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect();
            let mut v = Vec::new();
            if !results.is_empty() || tools.len() < 2 {
                let mut results = results;
                results.reverse();
                v.push((d, Ok(chunk(&format!("Done: {}", results.join(", "))))));
            } else {
                let first = |i: u32, id: &str, name: &str| {
                    json!({"index": i, "id": id, "type": "function",
                           "function": {"name": name, "arguments": ""}})
                };
                let args =
                    |i: u32, text: &str| json!({"index": i, "function": {"arguments": text}});
                for calls in [
                    json!([first(0, "call_a", &tools[0])]),
                    json!([args(0, "{\"ci")]),
                    json!([first(1, "call_b", &tools[1]), args(0, "ty\": \"Lis")]),
                    json!([args(1, "{\"tz\": \"UTC\"}")]),
                    json!([args(0, "bon\"}")]),
                ] {
                    v.push((d, Ok(tool_chunk(calls))));
                }
            }
            done(&mut v);
            sse(v, false)
        }
        "fake-slow" => {
            let mut v: Vec<_> = (0..20)
                .map(|i| (Duration::from_millis(100), Ok(chunk(&format!("w{i} ")))))
                .collect();
            v.push((Duration::ZERO, Ok(web::Bytes::from("data: [DONE]\n\n"))));
            sse(v, false)
        }
        "fake-stall" => sse(
            vec![
                (Duration::ZERO, Ok(chunk("Hel"))),
                (Duration::from_millis(20), Ok(chunk("lo"))),
            ],
            true,
        ),
        "fake-fail" => sse(
            vec![
                (Duration::ZERO, Ok(chunk("Hel"))),
                (Duration::from_millis(20), Ok(chunk("lo"))),
                (
                    Duration::from_millis(20),
                    Err(actix_web::error::ErrorInternalServerError("boom")),
                ),
            ],
            false,
        ),
        "fake-429" => {
            let mut n = shared.rate_limited.lock().unwrap();
            if *n < 2 {
                *n += 1;
                return HttpResponse::TooManyRequests()
                    .insert_header(("retry-after", "0"))
                    .json(json!({"error": {"message": "slow down"}}));
            }
            drop(n);
            sse(ok(Duration::ZERO), false)
        }
        other => HttpResponse::NotFound()
            .json(json!({"error": {"message": format!("no model {other}")}})),
    }
}

impl FakeModel {
    /// Starts the fake on a free port, on its own thread.
    pub fn start() -> Self {
        let shared = Shared::default();
        let requests = shared.requests.clone();
        let traceparents = shared.traceparents.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .route("/v1/chat/completions", web::post().to(completions))
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
                let port = server.addrs()[0].port();
                tx.send(port).unwrap();
                server.run().await.unwrap();
            });
        });
        let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            requests,
            traceparents,
        }
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The `traceparent` headers received so far.
    pub fn traceparents(&self) -> Vec<String> {
        self.traceparents.lock().unwrap().clone()
    }

    /// Environment for a chat-threads server that uses this fake as provider `fake`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CHAT_THREADS__MODELS__PROVIDERS__FAKE__BASE_URL".into(),
                self.base_url.clone(),
            ),
            (
                "CHAT_THREADS__MODELS__PROVIDERS__FAKE__MODELS".into(),
                "[fake-ok, fake-slow, fake-stall, fake-fail, fake-429, fake-tools, fake-think, fake-500]"
                    .into(),
            ),
            (
                "CHAT_THREADS__MODELS__HTTP__RETRY_BACKOFF_MS".into(),
                "10".into(),
            ),
            ("CHAT_THREADS__RATE_LIMIT__ENABLED".into(), "false".into()),
            // Tests of this fake read the requests a reply made; a title written in the
            // background after it would be one more. Titles have their own tests.
            ("CHAT_THREADS__TITLES__ENABLED".into(), "false".into()),
        ]
    }
}
