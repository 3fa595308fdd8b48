//! OpenTelemetry: with `[telemetry] otlp_endpoint` set (or only the standard `OTEL_*`
//! variables), a chat's spans reach a local OTLP/HTTP receiver under the caller's trace — the
//! request's server span a child of the caller's `traceparent`, the reply, its model call
//! (model, tokens, time to first token, outcome) and the database groups below it — the model
//! server is called with the same trace, and JSON log lines of the request carry its trace id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_openai::FakeModel;

/// A local OTLP/HTTP receiver (JSON encoding): every span it was sent, with its resource's
/// `service.name` added as `"service"`.
#[derive(Clone)]
struct Receiver {
    base: String,
    spans: Arc<Mutex<Vec<Value>>>,
}

async fn traces(spans: web::Data<Arc<Mutex<Vec<Value>>>>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        let service = attribute(&resource["resource"], "service.name");
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let mut span = span.clone();
                span["service"] = service.clone();
                spans.lock().unwrap().push(span);
            }
        }
    }
    HttpResponse::Ok().json(json!({}))
}

impl Receiver {
    fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let shared = spans.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .app_data(web::PayloadConfig::new(64 << 20))
                        .route("/v1/traces", web::post().to(traces))
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
                tx.send(server.addrs()[0].port()).unwrap();
                server.run().await.unwrap();
            });
        });
        let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            spans,
        }
    }

    /// The spans of `trace` once `done` holds for them (waits up to 30 s).
    async fn trace(&self, trace: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..300 {
            let spans: Vec<Value> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s["traceId"] == trace)
                .cloned()
                .collect();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all = self.spans.lock().unwrap().clone();
        panic!("the spans of trace {trace} did not arrive; received: {all:#?}");
    }
}

/// An attribute's value (`stringValue`, `intValue` …) as JSON, `Null` when absent.
fn attribute(item: &Value, key: &str) -> Value {
    item["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"].as_object())
        .and_then(|v| v.values().next().cloned())
        .unwrap_or(Value::Null)
}

fn named<'a>(spans: &'a [Value], name: &str) -> Option<&'a Value> {
    spans.iter().find(|s| s["name"] == name)
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_is_traced_under_the_callers_trace() {
    let receiver = Receiver::start();
    let model = FakeModel::start();
    let endpoint = format!("{}/v1/traces", receiver.base);
    let mut env: Vec<(String, String)> = model.env();
    env.extend(
        [
            ("CHAT_THREADS__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            ("CHAT_THREADS__TELEMETRY__OTLP_PROTOCOL", "http/json"),
            ("CHAT_THREADS__LOG__FORMAT", "json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let token = server.token(&["--sub", "traced"]);
    let (status, _, thread) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    assert_eq!(status, 201);
    let tid = thread["id"].as_str().unwrap();

    let resp = reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"content": "hello", "model": "fake-ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["assistant_message"]["content"], "Hello world");

    let spans = receiver
        .trace(TRACE, |spans| {
            named(spans, "POST /v1/threads/{thread_id}/chat").is_some()
                && named(spans, "model.call").is_some()
                && named(spans, "reply").is_some()
        })
        .await;
    let request = named(&spans, "POST /v1/threads/{thread_id}/chat").unwrap();
    assert_eq!(request["parentSpanId"], CALLER_SPAN, "{request:#}");
    assert_eq!(request["kind"], 2, "a server span");
    assert_eq!(request["service"], "chat-threads");
    assert_eq!(
        attribute(request, "http.route"),
        "/v1/threads/{thread_id}/chat"
    );
    assert_eq!(attribute(request, "http.response.status_code"), "201");
    assert_eq!(attribute(request, "principal_kind"), "user");

    let reply = named(&spans, "reply").unwrap();
    assert_eq!(reply["parentSpanId"], request["spanId"]);
    let call = named(&spans, "model.call").unwrap();
    assert_eq!(call["parentSpanId"], reply["spanId"]);
    assert_eq!(call["kind"], 3, "a client span");
    assert_eq!(attribute(call, "gen_ai.request.model"), "fake-ok");
    assert_eq!(attribute(call, "gen_ai.usage.input_tokens"), "11");
    assert_eq!(attribute(call, "gen_ai.usage.output_tokens"), "4");
    assert_eq!(attribute(call, "outcome"), "completed");
    assert!(
        !attribute(call, "time_to_first_token_ms").is_null(),
        "{call:#}"
    );
    // The database work of the request and of the reply, in the same trace.
    let db: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("db.")))
        .collect();
    assert!(
        db.iter().any(|s| s["parentSpanId"] == request["spanId"]),
        "{db:#?}"
    );
    assert!(
        db.iter().any(|s| s["parentSpanId"] == reply["spanId"]),
        "{db:#?}"
    );

    // The model server was called with the trace, from the model call's span.
    let sent = model.traceparents();
    assert_eq!(
        sent.last().map(String::as_str),
        Some(format!("00-{TRACE}-{}-01", call["spanId"].as_str().unwrap()).as_str()),
        "{sent:?}"
    );

    // JSON log lines of the request carry its trace id.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = server.output();
    let logged = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .find(|l| l["span"]["route"] == "/v1/threads/{thread_id}/chat")
        .unwrap_or_else(|| panic!("no request line: {lines:#?}"));
    assert_eq!(logged["trace_id"], TRACE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_otel_variables_alone_turn_tracing_on() {
    let receiver = Receiver::start();
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_SERVICE_NAME", "chat-threads-env"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let token = server.token(&["--sub", "traced"]);
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads", server.base))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let spans = receiver
        .trace(trace, |spans| named(spans, "GET /v1/threads").is_some())
        .await;
    let request = named(&spans, "GET /v1/threads").unwrap();
    assert_eq!(request["service"], "chat-threads-env");
    assert_eq!(request["parentSpanId"], "b7ad6b7169203331");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_run_by_the_service_is_a_span_of_the_reply() {
    let Some(python) = crate::support::python() else {
        return;
    };
    let tools = crate::support::mcp::McpServer::start(&python);
    let receiver = Receiver::start();
    let endpoint = format!("{}/v1/traces", receiver.base);
    let server = Server::start(&[
        ("CHAT_THREADS__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
        ("CHAT_THREADS__TELEMETRY__OTLP_PROTOCOL", "http/json"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
        ("CHAT_THREADS__MCP__SERVERS__CALC__URL", tools.url.as_str()),
        (
            "CHAT_THREADS__MCP__SERVERS__CALC__HEADERS__X_API_KEY",
            "CALC_MCP_KEY",
        ),
        ("CALC_MCP_KEY", "secret-1"),
        ("CHAT_THREADS__TITLES__ENABLED", "false"),
    ]);
    let token = server.token(&["--sub", "traced-tools"]);
    let (_, _, thread) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let trace = "5b8efff798038103d269b633813fc60c";
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/v1/threads/{}/chat",
            server.base,
            thread["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace}-eee19b7ec3c1b174-01"))
        .json(
            &json!({"content": "call add {\"a\": 20, \"b\": 22}", "model": "echo",
                      "mcp_servers": ["calc"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let spans = receiver
        .trace(trace, |spans| {
            named(spans, "tool.call").is_some()
                && named(spans, "reply").is_some()
                && spans.iter().filter(|s| s["name"] == "model.call").count() == 2
        })
        .await;
    let reply = named(&spans, "reply").unwrap();
    let call = named(&spans, "tool.call").unwrap();
    assert_eq!(call["parentSpanId"], reply["spanId"], "{call:#}");
    assert_eq!(call["kind"], 3, "a client span");
    assert_eq!(attribute(call, "gen_ai.tool.name"), "add");
    assert_eq!(attribute(call, "mcp.server"), "calc");
    assert_eq!(attribute(call, "outcome"), "ok");
}
