//! The whole API in-process (`chat_threads_api::app`, middleware included) over the in-memory
//! store, fake token and password adapters and a scripted model: how handlers map use-case
//! errors and request mistakes to statuses and codes, without a database or a network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chat_threads_api::cors::OriginPolicy;
use chat_threads_api::rate_limit::RateLimits;
use chat_threads_api::{ApiConfig, AppSettings, AppState, Deps, Parts, Verifier};
use chat_threads_application::accounts::{AccountSettings, AuthPolicy, SessionSettings};
use chat_threads_application::events::ThreadEvents;
use chat_threads_application::live::WebSocketSettings;
use chat_threads_application::replies::models::{Allowlists, Catalog};
use chat_threads_application::replies::{RepliesSettings, ReplySettings};
use chat_threads_domain::Limits;
use chat_threads_testing::fakes::{FakeHasher, FakeTokens};
use chat_threads_testing::memory::MemoryStore;
use chat_threads_testing::scripted::{Answer, ScriptedModel};
use serde_json::{Value, json};

#[derive(Debug)]
struct InMemory;

impl Deps for InMemory {
    type Store = MemoryStore;
    type Hasher = FakeHasher;
    type Issuer = FakeTokens;
    type Webhooks = chat_threads_testing::fakes::FakeWebhookSender;
}

struct Words;
impl chat_threads_application::replies::llm::TokenCounter for Words {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

fn config(model: ScriptedModel) -> ApiConfig<InMemory> {
    let store = MemoryStore::new();
    let limits = Limits {
        body_bytes: 4096,
        ..Limits::default()
    };
    let catalog = Catalog::new(
        BTreeMap::from([(
            "scripted".to_owned(),
            ("test".to_owned(), Arc::new(model) as _),
        )]),
        "scripted".into(),
        Allowlists {
            default: vec!["scripted".into()],
            ..Allowlists::default()
        },
    );
    // The same composition root as the binary's.
    let state = AppState::<InMemory>::compose(Parts {
        store,
        hasher: FakeHasher,
        issuer: FakeTokens,
        webhook_sender: chat_threads_testing::fakes::FakeWebhookSender::default(),
        catalog,
        counter: Arc::new(Words),
        events: ThreadEvents::default(),
        runtime: tokio::runtime::Handle::current(),
        instance: "test".into(),
        settings: AppSettings {
            limits,
            replies: ReplySettings {
                replies: RepliesSettings {
                    context_tokens: 1000,
                    context_messages: 50,
                    flush_interval_ms: 50,
                    retention_secs: 10,
                    stale_after_secs: 60,
                    sse_keepalive_secs: 15,
                    ..RepliesSettings::default()
                },
                max_reply_bytes: 1 << 16,
                ..ReplySettings::default()
            },
            auth: AuthPolicy {
                accounts: AccountSettings {
                    enabled: true,
                    access_ttl_secs: 900,
                    refresh_ttl_secs: 3600,
                    hash_concurrency: 1,
                    hash_queue: 64,
                },
                sessions: SessionSettings {
                    enabled: true,
                    default_ttl_secs: 3600,
                    max_ttl_secs: 7200,
                    purge_interval_secs: 60,
                    org: String::new(),
                },
            },
            session_org: None,
            files: chat_threads_application::files::FileSettings::default(),
            temporary_ttl: Duration::from_secs(3600),
            sweep_batch: 500,
            self_erasure: false,
            erasure_stall: Duration::from_secs(60),
            openai: chat_threads_api::OpenAiDefaults::default(),
            page_cache_bytes: 1 << 20,
            page_tags: chat_threads_application::messages::PageTags::new(b"test secret"),
        },
    });
    ApiConfig {
        state,
        verifier: Verifier(Arc::new(FakeTokens)),
        rate_limits: RateLimits::off(),
        json_limit: limits.body_bytes,
        idempotency_ttl_secs: 3600,
        idempotency_lease_secs: 120,
        ws: WebSocketSettings {
            max_frame_bytes: 65536,
            max_message_bytes: 65536,
            queue: 64,
            heartbeat_secs: 15,
            idle_timeout_secs: 60,
            auth_timeout_secs: 10,
        },
        origins: OriginPolicy::new(&[], 600),
        metrics: Arc::default(),
    }
}

async fn body(resp: ServiceResponse<impl actix_web::body::MessageBody>) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = test::read_body(resp).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Calls the app as the HTTP server would: a middleware's error becomes its error response.
async fn call<S, B>(app: &S, req: actix_http::Request) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    match app.call(req).await {
        Ok(resp) => body(resp).await,
        Err(e) => {
            let resp = e.error_response();
            let status = resp.status();
            let bytes = actix_web::body::to_bytes(resp.into_body())
                .await
                .unwrap_or_default();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }
    }
}

fn alice() -> (&'static str, String) {
    (
        "authorization",
        format!("Bearer {}", FakeTokens::user("alice")),
    )
}

#[actix_web::test]
async fn use_case_errors_and_request_mistakes_map_to_statuses_and_codes() {
    let app = test::init_service(chat_threads_api::app(config(ScriptedModel::default()))).await;
    let missing = uuid::Uuid::now_v7();
    let cases: Vec<(TestRequest, StatusCode, &str)> = vec![
        (
            TestRequest::get().uri("/v1/threads"),
            StatusCode::UNAUTHORIZED,
            "token_missing",
        ),
        (
            TestRequest::get()
                .uri("/v1/threads")
                .insert_header(("authorization", "Bearer nonsense")),
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        ),
        (
            TestRequest::get()
                .uri(&format!("/v1/threads/{missing}"))
                .insert_header(alice()),
            StatusCode::NOT_FOUND,
            "thread_not_found",
        ),
        (
            TestRequest::get()
                .uri("/v1/threads/not-a-uuid")
                .insert_header(alice()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            TestRequest::get()
                .uri("/v1/threads?limit=5&include=x")
                .insert_header(alice()),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            TestRequest::get()
                .uri("/v1/threads?cursor=garbage")
                .insert_header(alice()),
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            TestRequest::post()
                .uri("/v1/threads")
                .insert_header(alice())
                .insert_header(("content-type", "text/plain"))
                .set_payload("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            TestRequest::post()
                .uri("/v1/threads")
                .insert_header(alice())
                .insert_header(("content-type", "application/json"))
                .set_payload("{\"title\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            TestRequest::post()
                .uri("/v1/threads")
                .insert_header(alice())
                .set_json(json!({"title": "x".repeat(5000)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            TestRequest::post()
                .uri("/v1/threads")
                .insert_header(alice())
                .set_json(json!({"title": "x".repeat(300)})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        ),
        (
            TestRequest::post()
                .uri("/v1/threads")
                .insert_header(alice())
                .set_json(json!({"model": "gpt-4o"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "model_not_allowed",
        ),
        (
            TestRequest::patch()
                .uri("/v1/threads")
                .insert_header(alice()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            TestRequest::get().uri("/v2/nothing"),
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
    ];
    for (req, status, code) in cases {
        let req = req.to_request();
        let what = format!("{} {}", req.method(), req.uri());
        let (got, err) = call(&app, req).await;
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(err["error"]["code"], code, "{what}: {err}");
        assert!(err["error"]["message"].is_string(), "{what}");
    }
}

#[actix_web::test]
async fn a_conversation_in_process_with_a_scripted_model() {
    let model = ScriptedModel::new([Answer::text(&["Hello", " there"])]);
    let app = test::init_service(chat_threads_api::app(config(model.clone()))).await;
    let req = TestRequest::post()
        .uri("/v1/threads")
        .insert_header(alice())
        .insert_header(("idempotency-key", "k1"))
        .set_json(json!({"title": "In process"}))
        .to_request();
    let (status, thread) = body(app.call(req).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{thread}");
    let again = TestRequest::post()
        .uri("/v1/threads")
        .insert_header(alice())
        .insert_header(("idempotency-key", "k1"))
        .set_json(json!({"title": "In process"}))
        .to_request();
    let resp = app.call(again).await.unwrap();
    assert_eq!(resp.headers().get("idempotent-replayed").unwrap(), "true");
    let (_, replayed) = body(resp).await;
    assert_eq!(replayed["id"], thread["id"]);

    let tid = thread["id"].as_str().unwrap();
    let req = TestRequest::post()
        .uri(&format!("/v1/threads/{tid}/chat"))
        .insert_header(alice())
        .set_json(json!({"content": "hi", "language": "pt"}))
        .to_request();
    let (status, reply) = body(app.call(req).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["assistant_message"]["content"], "Hello there");
    assert!(
        model.requests()[0].messages[0]
            .content
            .contains("Answer in this language: pt.")
    );
    // A second user cannot see it.
    let req = TestRequest::get()
        .uri(&format!("/v1/threads/{tid}"))
        .insert_header((
            "authorization",
            format!("Bearer {}", FakeTokens::user("bob")),
        ))
        .to_request();
    let (status, err) = body(app.call(req).await.unwrap()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("thread_not_found"))
    );
}
