//! No stored value can break a read: the nastiest values the API accepts, in every field of
//! threads, messages, sessions and summaries, read back through every list, view, export and
//! stream — as the owner and as the org admin — on SQLite and PostgreSQL: all 200, all unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// Text from every Unicode plane, right-to-left marks, combining marks and emoji sequences.
const NASTY: &str = "e\u{301} \u{202e}rtl\u{202c} \u{200f}ע\u{200e} 😀 👩\u{200d}👩\u{200d}👧\u{200d}👦 🏳\u{fe0f}\u{200d}🌈 𠀀 \u{e0001} \u{10fffd} \u{feff}z\u{a0}";

fn nasty_metadata() -> Value {
    let mut deep = json!("bottom");
    for _ in 0..31 {
        deep = json!([deep]);
    }
    json!({
        "deep": deep,
        "big": 1e300,
        "tiny": -1e-300,
        "largest": f64::MAX,
        "subnormal": 5e-324,
        "smallest_normal": -2.2250738585072014e-308,
        "huge_integer": 1e20,
        "min": i64::MIN,
        "max": u64::MAX,
        "half": 0.5,
        "text": NASTY,
        NASTY: [true, null, {"": ""}],
    })
}

async fn ok(server: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, _, json) = server.call(method, path, Some(token), body.as_ref()).await;
    assert!(status < 300, "{method} {path}: {status} {json}");
    json
}

async fn text(server: &Server, path: &str, token: &str) -> String {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.text().await.unwrap()
}

async fn nasty_values_read_back(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"));
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let owner = server.token(&["--sub", "nasty", "--org", "acme"]);
    let admin = server.token(&["--sub", "boss", "--org", "acme", "--scope", "org:admin"]);
    let meta = nasty_metadata();

    let thread = ok(
        &server,
        "POST",
        "/v1/threads",
        &owner,
        Some(json!({"title": NASTY.trim(), "document_id": "doc-ü-😀", "external_id": "ext-\u{202e}-1",
                    "metadata": meta, "system_prompt": NASTY, "product": "co_pilot"})),
    )
    .await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/threads/{tid}");
    let message = ok(
        &server,
        "POST",
        &format!("{base}/messages"),
        &owner,
        Some(json!({"content": NASTY, "display_text": NASTY, "metadata": meta})),
    )
    .await;
    let mid = message["id"].as_str().unwrap().to_owned();
    ok(
        &server,
        "PUT",
        &format!("{base}/messages/{mid}/feedback"),
        &owner,
        Some(json!({"rating": "down", "text": NASTY})),
    )
    .await;
    ok(
        &server,
        "PUT",
        &format!("{base}/messages/{mid}/reaction"),
        &owner,
        Some(json!({"emoji": "👩\u{200d}👩\u{200d}👧\u{200d}👦"})),
    )
    .await;
    let reply = ok(
        &server,
        "POST",
        &format!("{base}/chat"),
        &owner,
        Some(json!({"content": NASTY, "metadata": meta})),
    )
    .await;
    let rid = reply["assistant_message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &server,
        "POST",
        &format!("{base}/summaries"),
        &owner,
        Some(json!({"covers_message_id": mid, "text": NASTY, "model": "echo"})),
    )
    .await;
    let session = reqwest::Client::new()
        .post(format!("{}/v1/sessions", server.base))
        .json(&json!({"external_user_id": "visitor-ü", "metadata": meta}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status().as_u16(), 201);
    let session: Value = session.json().await.unwrap();
    assert_eq!(session["metadata"], meta);

    for (who, token) in [("owner", &owner), ("org admin", &admin)] {
        let t = ok(&server, "GET", &base, token, None).await;
        assert_eq!(t["title"], NASTY.trim(), "{who}");
        assert_eq!(t["metadata"], meta, "{who}");
        assert_eq!(t["system_prompt"], NASTY, "{who}");
        let list = ok(&server, "GET", "/v1/threads?deleted=include", token, None).await;
        let listed = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == tid.as_str())
            .unwrap_or_else(|| panic!("{who}: {list}"));
        assert_eq!(listed["metadata"], meta, "{who}");
        for view in ["path", "tree"] {
            let page = ok(
                &server,
                "GET",
                &format!("{base}/messages?view={view}"),
                token,
                None,
            )
            .await;
            let first = &page["data"][0];
            assert_eq!(first["content"], NASTY, "{who} {view}");
            assert_eq!(first["display_text"], NASTY, "{who} {view}");
            assert_eq!(first["metadata"], meta, "{who} {view}");
            assert_eq!(first["feedback"]["text"], NASTY, "{who} {view}");
        }
        let m = ok(
            &server,
            "GET",
            &format!("{base}/messages/{mid}"),
            token,
            None,
        )
        .await;
        assert_eq!(m["metadata"], meta, "{who}");
        ok(&server, "GET", &format!("{base}/branches"), token, None).await;
        let summaries = ok(&server, "GET", &format!("{base}/summaries"), token, None).await;
        assert_eq!(summaries["data"][0]["text"], NASTY, "{who}");
        let export = text(&server, &format!("{base}/export"), token).await;
        let lines: Vec<Value> = export
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["metadata"], meta, "{who}");
        let stream = text(&server, &format!("{base}/messages/{rid}/stream"), token).await;
        assert!(
            stream.contains("event: message.completed"),
            "{who}: {stream}"
        );
    }
    let all = text(&server, "/v1/export", &owner).await;
    assert!(all.lines().count() >= 4);
    let hits = ok(&server, "GET", "/v1/search?q=rtl", &owner, None).await;
    assert!(!hits["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn nasty_values_read_back_unchanged_on_sqlite() {
    nasty_values_read_back(false).await;
}

#[tokio::test]
async fn nasty_values_read_back_unchanged_on_postgres() {
    nasty_values_read_back(true).await;
}
