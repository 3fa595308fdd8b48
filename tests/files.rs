//! File uploads through the binary, on SQLite and PostgreSQL: multipart uploads streamed to
//! storage in parts, typed from their bytes, limited in size and by a per-owner quota, read
//! back byte for byte as attachments; refusals leave nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::Value;

pub(crate) const BOUNDARY: &str = "----chat-threads-test-boundary";

/// A multipart body with one part.
pub(crate) fn form(part: &str, filename: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{part}\"");
    if let Some(f) = filename {
        body.push_str(&format!("; filename=\"{f}\""));
    }
    body.push_str("\r\nContent-Type: application/octet-stream\r\n\r\n");
    let mut out = body.into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn upload(server: &Server, token: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn download(server: &Server, token: &str, id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/v1/files/{id}/content", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn files_round_trip(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__LIMITS__FILE_BYTES", "700000"));
    env.push(("CHAT_THREADS__FILES__QUOTA_BYTES_PER_OWNER", "1000000"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice"]);
    let bob = server.token(&["--sub", "bob"]);

    // A small Markdown file: typed from its bytes and name, read back as an attachment.
    let (status, md) = upload(
        &server,
        &alice,
        form("file", Some("docs/Notes é.md"), b"# Plan\n"),
    )
    .await;
    assert_eq!(status, 201, "{md}");
    assert_eq!(md["name"], "Notes é.md", "the folder part is dropped");
    assert_eq!(md["content_type"], "text/markdown");
    assert_eq!(md["size"], 7);
    assert_eq!(
        md["sha256"],
        "c3964bb3b70a957ec9b233c7dd3653f6ba17701ab00facf88ae1393dc6155577"
    );
    let id = md["id"].as_str().unwrap();
    let (status, _, meta) = server
        .call("GET", &format!("/v1/files/{id}"), Some(&alice), None)
        .await;
    assert_eq!((status, &meta), (200, &md));
    let resp = download(&server, &alice, id).await;
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/markdown");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''Notes%20%C3%A9.md"),
        "{disposition}"
    );
    assert_eq!(h["content-length"], "7");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"# Plan\n");

    // The type comes from the bytes: a PNG named .txt is a PNG; an executable is refused.
    let png = [
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];
    let (status, img) = upload(&server, &alice, form("file", Some("cat.txt"), &png)).await;
    assert_eq!(
        (status, img["content_type"].as_str()),
        (201, Some("image/png"))
    );
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00";
    let (status, err) = upload(&server, &alice, form("file", Some("setup.txt"), exe)).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "file_type_not_allowed");
    assert!(
        err["error"]["details"]["allowed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("image/png"))
    );

    // A file of several parts comes back byte for byte.
    let big = text(600_000);
    let (status, f) = upload(&server, &alice, form("file", Some("big.txt"), &big)).await;
    assert_eq!(status, 201, "{f}");
    let big_id = f["id"].as_str().unwrap().to_owned();
    let back = download(&server, &alice, &big_id)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back.as_ref() == big.as_slice());

    // Over limits.file_bytes: 413 with the limit.
    let (status, err) = upload(
        &server,
        &alice,
        form("file", Some("huge.txt"), &text(800_000)),
    )
    .await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["error"]["code"], "payload_too_large");
    assert_eq!(err["error"]["details"]["limit"], 700_000);

    // Over the quota (1,000,000 bytes; 600,023 used): 422 with the figures; deleting makes room.
    let (status, err) = upload(
        &server,
        &alice,
        form("file", Some("more.txt"), &text(500_000)),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "storage_quota_exceeded");
    assert_eq!(err["error"]["details"]["used"], 600_000 + 7 + 16);
    assert_eq!(err["error"]["details"]["size"], 500_000);
    let (status, _, _) = server
        .call("DELETE", &format!("/v1/files/{big_id}"), Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = server
        .call("GET", &format!("/v1/files/{big_id}"), Some(&alice), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        download(&server, &alice, &big_id).await.status().as_u16(),
        404
    );
    let (status, _) = upload(
        &server,
        &alice,
        form("file", Some("more.txt"), &text(500_000)),
    )
    .await;
    assert_eq!(status, 201, "the room came back");

    // Bodies that are not an upload.
    let (status, err) = upload(&server, &alice, form("attachment", Some("a.txt"), b"x")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (status, err) = upload(&server, &alice, form("file", None, b"x")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (status, empty) = upload(&server, &alice, form("file", Some("empty.txt"), b"")).await;
    assert_eq!((status, empty["size"].as_u64()), (201, Some(0)), "{empty}");
    let empty_id = empty["id"].as_str().unwrap().to_owned();
    let resp = download(&server, &alice, &empty_id).await;
    assert_eq!(resp.headers()["content-length"], "0");
    assert!(resp.bytes().await.unwrap().is_empty());
    server
        .call(
            "DELETE",
            &format!("/v1/files/{empty_id}"),
            Some(&alice),
            None,
        )
        .await;
    let (status, _, err) = server
        .call(
            "POST",
            "/v1/files",
            Some(&alice),
            Some(&serde_json::json!({"file": "x"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    // The list, newest first, with the envelope; nobody else sees the files.
    let (status, _, page) = server
        .call("GET", "/v1/files?limit=2", Some(&alice), None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["more.txt", "cat.txt"]);
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, rest) = server
        .call(
            "GET",
            &format!("/v1/files?cursor={cursor}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(rest["data"][0]["name"], "Notes é.md");
    assert_eq!(rest["has_more"], false);
    let (_, _, theirs) = server.call("GET", "/v1/files", Some(&bob), None).await;
    assert_eq!(theirs["data"], serde_json::json!([]));
    for (method, path) in [
        ("GET", format!("/v1/files/{id}")),
        ("GET", format!("/v1/files/{id}/content")),
        ("DELETE", format!("/v1/files/{id}")),
    ] {
        let (status, _, err) = server.call(method, &path, Some(&bob), None).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some("file_not_found")),
            "{method} {path}"
        );
    }
    assert_eq!(
        download(&server, &alice, id)
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"# Plan\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_on_sqlite() {
    files_round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_on_postgres() {
    files_round_trip(true).await;
}

/// Attachments on messages: checked to be the caller's files, shown on the message, and given
/// to the model — images as image parts (vision models only), text and PDF text inline within
/// the per-file budget, a deleted file as a note.
async fn attachments_reach_the_model(postgres: bool) {
    use crate::support::fake_openai::FakeModel;
    use chat_threads_testing::samples::{minimal_pdf, tiny_png};
    use serde_json::json;
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let fake = FakeModel::start();
    let mut env: Vec<(String, String)> = env.into_iter().chain(fake.env()).collect();
    env.push(("CHAT_THREADS__MODELS__VISION".into(), "[fake-ok]".into()));
    env.push(("CHAT_THREADS__FILES__INLINE_TOKENS".into(), "20".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice"]);
    let bob = server.token(&["--sub", "bob"]);

    let long: String = (1..=200).map(|i| format!("word{i} ")).collect();
    let (_, md) = upload(
        &server,
        &alice,
        form("file", Some("notes.md"), long.as_bytes()),
    )
    .await;
    let (_, png) = upload(
        &server,
        &alice,
        form("file", Some("pixel.png"), &tiny_png()),
    )
    .await;
    let (_, pdf) = upload(
        &server,
        &alice,
        form(
            "file",
            Some("report.pdf"),
            &minimal_pdf("Quarterly figures"),
        ),
    )
    .await;
    let (_, theirs) = upload(&server, &bob, form("file", Some("bob.txt"), b"bob's")).await;
    assert_eq!(pdf["content_type"], "application/pdf");
    let ids = [&md, &png, &pdf].map(|f| f["id"].as_str().unwrap().to_owned());

    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&alice), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let chat = format!("/v1/threads/{tid}/chat");

    // Someone else's file, or an image for a model that does not see images: refused, nothing stored.
    let (status, _, err) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "x", "model": "fake-ok", "attachments": [theirs["id"]]})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("attachment_not_found")),
        "{err}"
    );
    assert_eq!(err["error"]["details"]["file_id"], theirs["id"]);
    let (status, _, err) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "x", "model": "echo", "attachments": [ids[1]]})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("images_not_supported")),
        "{err}"
    );
    let (status, _, err) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "x", "attachments": [ids[0], ids[0]]})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{err}"
    );
    let (_, _, t) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&alice), None)
        .await;
    assert_eq!(t["message_count"], 0);

    // A vision model gets the image as a part, the text cut to its budget, the PDF's text.
    let (status, _, r) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "What is in these?", "model": "fake-ok", "attachments": ids})),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let names: Vec<&str> = r["user_message"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes.md", "pixel.png", "report.pdf"]);
    let sent = fake.requests().last().unwrap().clone();
    let last = sent["messages"].as_array().unwrap().last().unwrap().clone();
    let parts = last["content"].as_array().expect("content parts");
    let text = parts[0]["text"].as_str().unwrap();
    assert!(text.starts_with("What is in these?"), "{text}");
    assert!(
        text.contains("--- Attachment: notes.md (text/markdown) ---\nword1 word2"),
        "{text}"
    );
    assert!(!text.contains("word150"), "cut to the budget: {text}");
    assert!(text.contains("[… cut here"), "{text}");
    // The client learns what each attachment gave the model, on the reply's record.
    let given = &r["assistant_message"]["metadata"]["prompt"]["attachments"];
    assert_eq!(
        given.as_array().map(|g| g
            .iter()
            .map(|a| (a["name"].as_str().unwrap(), a["given"].as_str().unwrap()))
            .collect::<Vec<_>>()),
        Some(vec![
            ("notes.md", "cut"),
            ("pixel.png", "whole"),
            ("report.pdf", "whole")
        ]),
        "{given}"
    );
    assert_eq!(given[0]["tokens"], 20);
    assert!(
        text.contains("--- Attachment: report.pdf (application/pdf) ---"),
        "{text}"
    );
    assert!(text.contains("Quarterly figures"), "{text}");
    assert_eq!(parts[1]["type"], "image_url");
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{url}"
    );

    // Stored with the message; a deleted file becomes a note in later prompts.
    let uid = r["user_message"]["id"].as_str().unwrap();
    let (_, _, m) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages/{uid}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(m["attachments"][2]["content_type"], "application/pdf");
    let (status, _, _) = server
        .call(
            "DELETE",
            &format!("/v1/files/{}", ids[2]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let rid = r["assistant_message"]["id"].as_str().unwrap();
    let (status, _, _) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages/{rid}/regenerate"),
            Some(&alice),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 201);
    let sent = fake.requests().last().unwrap().clone();
    let text = sent["messages"].as_array().unwrap().last().unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("[Attachment report.pdf (application/pdf): the file was deleted]"),
        "{text}"
    );

    // Append and sibling edit take attachments too.
    let (status, _, m) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&alice),
            Some(&json!({"content": "see file", "attachments": [ids[0]]})),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["attachments"][0]["name"], "notes.md");
    let mid = m["id"].as_str().unwrap();
    let (status, _, e) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages/{mid}/edits"),
            Some(&alice),
            Some(&json!({"content": "see picture", "attachments": [ids[1]]})),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["attachments"][0]["name"], "pixel.png");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_reach_the_model_on_sqlite() {
    attachments_reach_the_model(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_reach_the_model_on_postgres() {
    attachments_reach_the_model(true).await;
}

/// Files no message references are collected after the grace period: one never attached, one
/// whose thread was purged; an attached one stays. Exports carry attachment metadata.
async fn unreferenced_files_are_collected(postgres: bool) {
    use serde_json::json;
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__FILES__GC_GRACE_SECS", "2"));
    env.push(("CHAT_THREADS__AUTH__SESSIONS__PURGE_INTERVAL_SECS", "1"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice"]);
    let mut ids = Vec::new();
    for name in ["kept.txt", "loose.txt", "purged.txt"] {
        let (status, f) = upload(&server, &alice, form("file", Some(name), name.as_bytes())).await;
        assert_eq!(status, 201);
        ids.push(f["id"].as_str().unwrap().to_owned());
    }
    let mut threads = Vec::new();
    for file in [&ids[0], &ids[2]] {
        let (_, _, t) = server
            .call("POST", "/v1/threads", Some(&alice), Some(&json!({})))
            .await;
        let tid = t["id"].as_str().unwrap().to_owned();
        let (status, _, _) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(&alice),
                Some(&json!({"content": "see", "attachments": [file]})),
            )
            .await;
        assert_eq!(status, 201);
        threads.push(tid);
    }
    // The export carries the attachment's metadata.
    let export = reqwest::Client::new()
        .get(format!("{}/v1/threads/{}/export", server.base, threads[0]))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: Value = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "message")
        .unwrap();
    assert_eq!(line["attachments"][0]["name"], "kept.txt");
    assert_eq!(
        line["attachments"][0]["file_id"].as_str(),
        Some(ids[0].as_str())
    );
    // Imported by someone else, the attachment stays as metadata on the message.
    let bob = server.token(&["--sub", "bob"]);
    let imported: Value = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(&bob)
        .header("content-type", "application/x-ndjson")
        .body(export.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let copy = imported["results"][0]["id"].as_str().unwrap();
    let (_, _, msgs) = server
        .call(
            "GET",
            &format!("/v1/threads/{copy}/messages"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(msgs["data"][0]["attachments"][0]["name"], "kept.txt");
    let (status, _, _) = server
        .call("GET", &format!("/v1/files/{}", ids[0]), Some(&bob), None)
        .await;
    assert_eq!(status, 404, "metadata only: bob does not get alice's file");

    server
        .call(
            "DELETE",
            &format!("/v1/threads/{}", threads[1]),
            Some(&alice),
            None,
        )
        .await;
    let (status, _, _) = server
        .call(
            "POST",
            &format!("/v1/threads/{}/purge", threads[1]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (loose, _, _) = server
            .call("GET", &format!("/v1/files/{}", ids[1]), Some(&alice), None)
            .await;
        let (purged, _, _) = server
            .call("GET", &format!("/v1/files/{}", ids[2]), Some(&alice), None)
            .await;
        if loose == 404 && purged == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the unreferenced files were collected");
    let (status, _, _) = server
        .call("GET", &format!("/v1/files/{}", ids[0]), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "an attached file stays");
    assert_eq!(
        download(&server, &alice, &ids[0])
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"kept.txt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_files_are_collected_on_sqlite() {
    unreferenced_files_are_collected(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_files_are_collected_on_postgres() {
    unreferenced_files_are_collected(true).await;
}

/// File bytes in an S3-compatible object store (moto's server from the test tools): parts as
/// objects, read back by downloads and by replies, deleted with the file and with a session.
async fn files_in_an_object_store(postgres: bool) {
    use serde_json::json;
    let Some(s3) = crate::support::S3Server::start().await else {
        return;
    };
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let bucket = format!("ct-{}", if postgres { "pg" } else { "sqlite" });
    s3.bucket(&bucket).await;
    let mut env: Vec<(String, String)> = env;
    for (k, v) in [
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
        ("CHAT_THREADS__FILES__STORAGE__BACKEND", "s3"),
        ("CHAT_THREADS__FILES__STORAGE__S3__BUCKET", bucket.as_str()),
        (
            "CHAT_THREADS__FILES__STORAGE__S3__ENDPOINT",
            s3.url.as_str(),
        ),
        ("CHAT_THREADS__FILES__STORAGE__S3__ALLOW_HTTP", "true"),
        ("CHAT_THREADS__FILES__STORAGE__S3__PREFIX", "uploads"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice"]);

    let big = text(600_000);
    let (status, f) = upload(&server, &alice, form("file", Some("big.txt"), &big)).await;
    assert_eq!(status, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_owned();
    let mut keys = s3.keys(&bucket).await;
    keys.sort();
    assert_eq!(
        keys,
        [0, 1, 2].map(|p| format!("uploads/files/{id}/{p:05}")),
        "three parts of 256 KiB at most"
    );
    let back = download(&server, &alice, &id).await.bytes().await.unwrap();
    assert!(
        back.as_ref() == big.as_slice(),
        "read back from the object store"
    );

    // A reply reads an attached file from the store (echo repeats the user message as the
    // model received it, attachment included).
    let (_, small) = upload(
        &server,
        &alice,
        form("file", Some("note.txt"), b"bucket note"),
    )
    .await;
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&alice), Some(&json!({})))
        .await;
    let (status, _, r) = server
        .call(
            "POST",
            &format!("/v1/threads/{}/chat", t["id"].as_str().unwrap()),
            Some(&alice),
            Some(&json!({"content": "read it", "attachments": [small["id"]]})),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let reply = r["assistant_message"]["content"].as_str().unwrap();
    assert!(reply.contains("bucket note"), "{reply}");

    // Deleting the file deletes its objects.
    let (status, _, _) = server
        .call("DELETE", &format!("/v1/files/{id}"), Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    assert!(s3.keys(&bucket).await.iter().all(|k| !k.contains(&id)));

    // An anonymous session's files go with the session.
    let (_, _, session) = server
        .call("POST", "/v1/sessions", None, Some(&json!({})))
        .await;
    let anon = session["token"].as_str().unwrap();
    let (status, f) = upload(&server, anon, form("file", Some("widget.txt"), b"widget")).await;
    assert_eq!(status, 201);
    let anon_file = f["id"].as_str().unwrap().to_owned();
    assert!(
        s3.keys(&bucket)
            .await
            .iter()
            .any(|k| k.contains(&anon_file))
    );
    let (status, _, _) = server
        .call("DELETE", "/v1/sessions/current", Some(anon), None)
        .await;
    assert_eq!(status, 204);
    assert!(
        s3.keys(&bucket)
            .await
            .iter()
            .all(|k| !k.contains(&anon_file))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_an_object_store_on_sqlite() {
    files_in_an_object_store(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_an_object_store_on_postgres() {
    files_in_an_object_store(true).await;
}
