//! Around every request: idempotency keys, request ids in logs and metrics, internal errors.

use crate::support::{Server, pg_admin_url};
use serde_json::{Value, json};

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let alice = server.token(&["--sub", "alice"]);
    let bob = server.token(&["--sub", "bob"]);
    let client = reqwest::Client::new();
    let post = |token: &str, key: &str, body: Value| {
        let req = client
            .post(format!("{}/v1/threads", server.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            (status, replayed, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1, first) = post(&alice, "key-1", json!({"title": "once"})).await;
    let (s2, r2, second) = post(&alice, "key-1", json!({"title": "once"})).await;
    assert_eq!((s1, r1, s2, r2), (201, false, 201, true));
    assert_eq!(first, second, "the replay is the first response");
    let (s3, _, err) = post(&alice, "key-1", json!({"title": "twice"})).await;
    assert_eq!(
        (s3, err["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (s4, r4, _) = post(&bob, "key-1", json!({"title": "once"})).await;
    assert_eq!((s4, r4), (201, false), "keys are per principal");
    let (s5, _, err) = post(&alice, "", json!({})).await;
    assert_eq!(
        (s5, err["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&alice), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one thread despite the retry"
    );
}

#[tokio::test]
async fn request_ids_logs_and_metrics() {
    let server = Server::start(&[
        ("CHAT_THREADS__LOG__FORMAT", "json"),
        ("CHAT_THREADS__LOG__LEVEL", "info"),
    ]);
    let token = server.token(&["--sub", "ops"]);
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads", server.base))
        .bearer_auth(&token)
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-abc-123", "echoed");
    let (_, headers, _) = server.call("GET", "/v1/threads", Some(&token), None).await;
    let generated = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated).is_ok(),
        "generated when absent"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("http_requests_total{method=\"GET\",route=\"/v1/threads\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/threads\",le=\"+Inf\"} 2"
    ));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = server.output();
    let line = logs
        .iter()
        .find(|l| l.contains("req-abc-123"))
        .expect("a structured log line carries the request id");
    let parsed: Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["fields"]["status"], 200);
}

#[tokio::test]
async fn an_internal_error_says_nothing_and_is_logged_under_the_request_id() {
    let Some(admin) = pg_admin_url() else { return };
    let (name, url) = crate::support::pg_database().await.unwrap();
    let server = Server::start(&[
        ("CHAT_THREADS__DATABASE__URL", &url),
        ("CHAT_THREADS__LOG__FORMAT", "json"),
    ]);
    let token = server.token(&["--sub", "victim"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    // Break the database underneath the running server.
    let mut db_url = url::Url::parse(&admin).unwrap();
    db_url.set_path(&name);
    let (client, conn) = tokio_postgres::connect(db_url.as_str(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute("DROP TABLE summaries").await.unwrap();
    drop(client);
    let _ = task.await;
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/summaries", server.base))
        .bearer_auth(&token)
        .header("x-request-id", "boom-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "internal_error", "message": "internal error"}})
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = server.output();
    assert!(
        logs.iter()
            .any(|l| l.contains("boom-1") && l.contains("summaries") && l.contains("ERROR")),
        "the cause is logged with the request id: {logs:?}"
    );
}
