//! Client mistakes: every kind of bad request is a 4xx in the error shape and writes nothing.

use crate::support::Server;
use serde_json::{Value, json};

#[tokio::test]
async fn every_client_mistake_is_a_4xx_in_the_error_shape() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__LIMITS__BODY_BYTES", "4096"),
        ("CHAT_THREADS__LIMITS__CONTENT_BYTES", "1000"),
        ("CHAT_THREADS__LIMITS__METADATA_BYTES", "100"),
        ("CHAT_THREADS__LIMITS__TITLE_CHARS", "20"),
    ]);
    let token = server.token(&["--sub", "mistaken"]);
    let client = reqwest::Client::new();
    let send = |method: &str, path: &str, ct: Option<&str>, body: String| {
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", server.base),
            )
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, headers, body)
        }
    };
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let j = Some("application/json");
    // (method, path, content type, body, expected status, expected code)
    type Case<'a> = (&'a str, String, Option<&'a str>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{not json".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/threads".into(),
            Some("text/plain"),
            "{}".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            format!("{{\"title\":\"{}\"}}", "x".repeat(5000)),
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"titel\":\"typo\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"title\":\"a title that is much too long\"}".into(),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            format!("{{\"metadata\":{{\"k\":\"{}\"}}}}", "v".repeat(200)),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"product\":\"Not A Slug\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            format!("{{\"content\":\"{}\"}}", "c".repeat(2000)),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            "{\"content\":\"x\",\"role\":\"robot\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            format!(
                "{{\"content\":\"x\",\"parent_id\":\"{}\"}}",
                uuid::Uuid::now_v7()
            ),
            422,
            "parent_not_found",
        ),
        (
            "PUT",
            format!(
                "/v1/threads/{tid}/messages/{}/reaction",
                uuid::Uuid::now_v7()
            ),
            j,
            "{\"emoji\":\"👍\"}".into(),
            404,
            "message_not_found",
        ),
        (
            "GET",
            "/v1/threads/not-a-uuid".into(),
            None,
            String::new(),
            400,
            "invalid_path",
        ),
        (
            "GET",
            format!("/v1/threads/{}", uuid::Uuid::now_v7()),
            None,
            String::new(),
            404,
            "thread_not_found",
        ),
        (
            "GET",
            "/v1/threads?limit=0".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/threads?limit=101".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/threads?cursor=garbage".into(),
            None,
            String::new(),
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            "/v1/threads?colour=red".into(),
            None,
            String::new(),
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/threads?deleted=sometimes".into(),
            None,
            String::new(),
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/nothing-here".into(),
            None,
            String::new(),
            404,
            "route_not_found",
        ),
        (
            "PUT",
            "/v1/threads".into(),
            j,
            "{}".into(),
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/v1/import".into(),
            Some("application/x-ndjson"),
            "{\"type\":\"message\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/search?q=".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let (got, headers, err) = send(method, &path, ct, body).await;
        assert_eq!(got, status, "{method} {path}: {err}");
        assert_eq!(err["error"]["code"], code, "{method} {path}");
        assert!(err["error"]["message"].is_string(), "{method} {path}");
        if status == 405 {
            assert!(headers["allow"].to_str().unwrap().contains("POST"));
        }
    }
    let (_, _, err) = send(
        "POST",
        "/v1/threads",
        j,
        "{\"title\":\"a title that is much too long\"}".into(),
    )
    .await;
    assert_eq!(
        err["error"]["details"],
        json!({"field": "title", "limit": 20, "actual": 29}),
        "the limit is named"
    );
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "no refused request wrote anything"
    );
}
