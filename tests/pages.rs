//! Pages read again (`threads.page_cache_bytes`): a first page kept by one instance is answered
//! as kept only while PostgreSQL confirms its stamp, so every change — made on this instance or
//! another — shows at once; `Cache-Control: no-cache` reads afresh; access is checked first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use crate::support::{Server, pg_database};

/// The first page of 50 of `tid` on `server`: (status, body text).
async fn page(server: &Server, token: &str, tid: &str, fresh: bool) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .get(format!(
            "{}/v1/threads/{tid}/messages?limit=50",
            server.base
        ))
        .bearer_auth(token);
    if fresh {
        req = req.header("cache-control", "no-cache");
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A counter of `/metrics` on `server`.
async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The page `a` answers, checked against a fresh read: the same body.
async fn current(a: &Server, token: &str, tid: &str) -> Value {
    let (status, kept) = page(a, token, tid, false).await;
    let (_, fresh) = page(a, token, tid, true).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept, fresh, "the page answered differs from a fresh read");
    serde_json::from_str(&kept).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_pages_follow_changes_made_on_any_instance() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let env = [
        ("CHAT_THREADS__DATABASE__URL", url.as_str()),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
    ];
    let a = Server::start(&env);
    let b = Server::start(&env);
    let token = a.token(&["--sub", "reader"]);
    let other = a.token(&["--sub", "someone-else"]);
    let (_, _, t) = a
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (role, text) in [
        ("user", "question"),
        ("assistant", "answer"),
        ("user", "more"),
    ] {
        let (status, _, m) = a
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(&token),
                Some(&json!({"role": role, "content": text, "metadata": {"k": 1}})),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    // Read, then read again: the second is answered as kept.
    let first = current(&a, &token, &tid).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let answered = metric(&a, "chat_page_cache_answers_total").await;
    let again = current(&a, &token, &tid).await;
    assert_eq!(again, first);
    assert!(metric(&a, "chat_page_cache_answers_total").await > answered);

    // Someone else holds no access, kept page or not.
    assert_eq!(page(&a, &other, &tid, false).await.0, 404);

    // Changes made on B show on A at once.
    let on_b = |method: &'static str, path: String, body: Value| {
        let (b, token) = (&b, token.clone());
        async move {
            let body = (!body.is_null()).then_some(&body);
            let (status, _, out) = b.call(method, &path, Some(&token), body).await;
            assert!(
                (200..300).contains(&status),
                "{method} {path}: {status} {out}"
            );
        }
    };
    let m = |i: usize| format!("/v1/threads/{tid}/messages/{}", ids[i]);
    on_b("PUT", format!("{}/feedback", m(1)), json!({"rating": "up"})).await;
    assert_eq!(
        current(&a, &token, &tid).await["data"][1]["feedback"]["rating"],
        "up"
    );
    on_b("PUT", format!("{}/reaction", m(1)), json!({"emoji": "👍"})).await;
    assert_eq!(current(&a, &token, &tid).await["data"][1]["reaction"], "👍");
    on_b("PATCH", m(0), json!({"content": "a better question"})).await;
    assert_eq!(
        current(&a, &token, &tid).await["data"][0]["content"],
        "a better question"
    );
    on_b("PATCH", m(0), json!({"metadata": {"k": 2}})).await;
    assert_eq!(
        current(&a, &token, &tid).await["data"][0]["metadata"]["k"],
        2
    );
    on_b(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        json!({"content": "from B"}),
    )
    .await;
    let now = current(&a, &token, &tid).await;
    assert_eq!(now["data"].as_array().unwrap().len(), 4);
    assert_eq!(now["data"][3]["content"], "from B");
    // An edit as a sibling moves the leaf to a new branch; switching back returns the old page.
    on_b(
        "POST",
        format!("{}/edits", m(2)),
        json!({"content": "other"}),
    )
    .await;
    let edited = current(&a, &token, &tid).await;
    assert_eq!(edited["data"].as_array().unwrap().len(), 3);
    assert_eq!(edited["data"][2]["content"], "other");
    let leaf = now["data"][3]["id"].as_str().unwrap().to_owned();
    on_b(
        "PUT",
        format!("/v1/threads/{tid}/active-leaf"),
        json!({"message_id": leaf}),
    )
    .await;
    assert_eq!(current(&a, &token, &tid).await, now);
    // A message deleted alone leaves the path.
    on_b("DELETE", format!("{}?scope=message", m(1)), Value::Null).await;
    let without = current(&a, &token, &tid).await;
    assert!(
        without["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != ids[1].as_str())
    );
    // A deleted thread: gone on A too.
    on_b("DELETE", format!("/v1/threads/{tid}"), Value::Null).await;
    assert_eq!(page(&a, &token, &tid, false).await.0, 404);
}
