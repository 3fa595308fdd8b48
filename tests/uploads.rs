//! Uploads at their edges: an `Idempotency-Key` never lowers an upload's limit to the JSON one,
//! and a file name hiding its real extension behind a bidirectional override (or any invisible
//! formatting character) is refused naming the field.

use serde_json::Value;

use crate::files::{BOUNDARY, form};
use crate::support::Server;

async fn post(server: &Server, token: &str, key: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_idempotent_upload_keeps_the_upload_limit_and_hidden_names_are_refused() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "uploader"]);
    // 2 MiB: over the JSON body limit (1 MiB), under the upload limit (10 MiB).
    let text = "line of text\n".repeat(2 * 1024 * 1024 / 13);
    let body = form("file", Some("notes.txt"), text.as_bytes());
    let (status, first) = post(&server, &token, Some("upload-1"), body.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = post(&server, &token, Some("upload-1"), body).await;
    assert_eq!(
        (status, &again["id"]),
        (201, &first["id"]),
        "replayed, not stored twice"
    );
    let (_, _, list) = server.call("GET", "/v1/files", Some(&token), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    for name in [
        "invoice\u{202E}fdp.exe",
        "report\u{200B}.pdf",
        "\u{2066}a.txt\u{2069}",
    ] {
        let (status, err) = post(&server, &token, None, form("file", Some(name), b"hello")).await;
        assert_eq!(status, 400, "{name:?}: {err}");
        assert_eq!(err["error"]["details"]["field"], "filename", "{err}");
    }
    let (_, _, list) = server.call("GET", "/v1/files", Some(&token), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing else stored"
    );
}
