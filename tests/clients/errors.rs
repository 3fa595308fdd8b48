//! Oversized bodies, heads, tokens and cursors, and requests that are not HTTP: the error shape.

use crate::support::Server;
use serde_json::{Value, json};

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

/// A body naming a key twice, at any depth, is refused naming the key (JSON leaves duplicates
/// undefined; nothing is read two ways), and nothing is stored.
#[tokio::test]
async fn duplicate_keys_are_refused_naming_the_key() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "dupes"]);
    let client = reqwest::Client::new();
    for body in [
        r#"{"title": "a", "title": "b"}"#,
        r#"{"title": "a", "metadata": {"k": 1, "k": 2}}"#,
    ] {
        let resp = client
            .post(format!("{}/v1/threads", server.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "validation_failed", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("duplicate key"),
            "{err}"
        );
    }
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(list["data"], serde_json::json!([]));
}

/// A model server's error body goes to the log, never to users: they get the code, the status
/// and the error's type.
#[tokio::test]
async fn a_model_servers_error_body_never_reaches_users() {
    let fake = crate::support::fake_openai::FakeModel::start();
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&pairs);
    let token = server.token(&["--sub", "unlucky"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let (status, _, body) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "hi", "model": "fake-500"})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    let (_, _, completion) = server
        .call(
            "POST",
            "/openai/v1/chat/completions",
            Some(&token),
            Some(&json!({"model": "fake-500", "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    for answer in [&body, &completion] {
        let text = answer.to_string();
        assert!(
            !text.contains("sk-live") && !text.contains("10.1.2.3"),
            "{text}"
        );
        assert!(
            !text.contains("127.0.0.1"),
            "no model server address: {text}"
        );
    }
    assert_eq!(body["error"]["code"], "model_error", "{body}");
    let (_, _, tree) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree"),
            Some(&token),
            None,
        )
        .await;
    let reply = tree["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(reply["status"], "failed", "{tree}");
}
