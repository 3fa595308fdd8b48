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

/// A new thread of `token`'s on `server` with these messages (role, content), in order: the
/// thread's id and the messages' ids.
async fn thread_with(
    server: &Server,
    token: &str,
    messages: &[(&str, &str)],
) -> (String, Vec<String>) {
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (role, text) in messages {
        let (status, _, m) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                Some(token),
                Some(&json!({"role": role, "content": text, "metadata": {"k": 1}})),
            )
            .await;
        assert_eq!(status, 201, "{m}");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    (tid, ids)
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
    let (tid, ids) = thread_with(
        &a,
        &token,
        &[
            ("user", "question"),
            ("assistant", "answer"),
            ("user", "more"),
        ],
    )
    .await;
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

/// The first page of 50 of `tid` on `server` asked with `If-None-Match: tags`: (status, its
/// `ETag`, body text).
async fn conditional(
    server: &Server,
    token: &str,
    tid: &str,
    tags: &str,
) -> (u16, Option<String>, String) {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/v1/threads/{tid}/messages?limit=50",
            server.base
        ))
        .bearer_auth(token)
        .header("if-none-match", tags)
        .send()
        .await
        .unwrap();
    let tag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), tag, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_tags_answer_not_modified_until_the_page_changes() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let env = [
        ("CHAT_THREADS__DATABASE__URL", url.as_str()),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__THREADS__PAGE_CACHE_BYTES", "0"),
    ];
    let a = Server::start(&env[..2]);
    // B keeps no pages: its answers come from the store's stamp alone.
    let b = Server::start(&env);
    let token = a.token(&["--sub", "tagger"]);
    let other = a.token(&["--sub", "someone-else"]);
    let (tid, ids) =
        thread_with(&a, &token, &[("user", "question"), ("assistant", "answer")]).await;

    // A first page carries its tag, for the client alone to keep and ask about.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/messages?limit=50", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (tag, cache) = (header("etag"), header("cache-control"));
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    assert_eq!(cache, "private, no-cache");
    let body = resp.text().await.unwrap();

    // Named, on either instance (the tag is the same everywhere), strong or weak: 304, no body.
    for (server, tags) in [
        (&a, tag.clone()),
        (&b, tag.clone()),
        (&a, format!("W/{tag}")),
        (&b, format!("\"something else\", {tag}")),
    ] {
        let (status, again, text) = conditional(server, &token, &tid, &tags).await;
        assert_eq!(
            (status, again.as_deref()),
            (304, Some(tag.as_str())),
            "{tags}"
        );
        assert!(text.is_empty());
    }
    // Another tag: the page, with its tag.
    let (status, again, text) = conditional(&a, &token, &tid, "\"p1-0\"").await;
    assert_eq!(
        (status, again.as_deref(), text.as_str()),
        (200, Some(tag.as_str()), body.as_str())
    );
    // Access comes first: someone else with the tag gets 404.
    assert_eq!(conditional(&a, &other, &tid, &tag).await.0, 404);

    // A change on B: the old tag no longer names the page, on A or B.
    let (status, _, _) = b
        .call(
            "PUT",
            &format!("/v1/threads/{tid}/messages/{}/feedback", ids[1]),
            Some(&token),
            Some(&json!({"rating": "down"})),
        )
        .await;
    assert_eq!(status, 200);
    for server in [&a, &b] {
        let (status, new, text) = conditional(server, &token, &tid, &tag).await;
        assert_eq!(status, 200);
        let new = new.unwrap();
        assert_ne!(new, tag);
        let page: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(page["data"][1]["feedback"]["rating"], "down");
        assert_eq!(conditional(server, &token, &tid, &new).await.0, 304);
    }
    // `Cache-Control: no-cache` reads afresh and carries no tag.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/messages?limit=50", a.base))
        .bearer_auth(&token)
        .header("cache-control", "no-cache")
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("etag").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pages_carry_no_tag() {
    // SQLite gives no stamps: its pages are read each time, and tagged never.
    let s = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = s.token(&["--sub", "tagger"]);
    let (tid, _) = thread_with(&s, &token, &[("user", "hello")]).await;
    let (status, tag, text) = conditional(&s, &token, &tid, "*").await;
    assert_eq!((status, tag), (200, None));
    assert!(text.contains("hello"));
}
