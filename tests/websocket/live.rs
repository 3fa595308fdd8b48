//! Live events between sockets: authentication by frame, typing and presence, resume after a disconnect, every change as its own event.

use std::time::Duration;

use crate::support::Server;
use serde_json::{Value, json};

use super::{Client, ok};

#[tokio::test]
async fn browsers_authenticate_with_the_first_frame() {
    let server = Server::start(&[("CHAT_THREADS__WEBSOCKET__AUTH_TIMEOUT_SECS", "1")]);
    let token = server.token(&["--sub", "browser"]);
    let mut c = Client::connect(&server, None).await;
    let refused = c.call("whoami", json!({})).await;
    assert_eq!(refused["error"]["code"], "token_missing");
    let bad = c.call("auth", json!({"token": "garbage"})).await;
    assert_eq!(bad["error"]["code"], "token_malformed");
    assert_eq!(
        ok(&c.call("auth", json!({"token": token})).await)["subject"],
        "browser"
    );
    assert_eq!(ok(&c.call("whoami", json!({})).await)["subject"], "browser");
    // Without authenticating in time, the server closes the connection.
    let mut lazy = Client::connect(&server, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(lazy.frame().await.is_none(), "closed");
}

#[tokio::test]
async fn many_sockets_on_one_thread_see_messages_typing_and_presence() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "crowd"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = Client::connect(&server, Some(&token)).await;
        ok(&c.call("subscribe", json!({"thread_id": tid})).await);
        clients.push(c);
    }
    let (_, _, p) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/presence"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["connections"], 20);
    // A message from another tab (plain REST) reaches every socket.
    server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            Some(&json!({"content": "from REST"})),
        )
        .await;
    for c in &mut clients {
        let e = c.events_until("message.created").await;
        assert_eq!(e.last().unwrap()["data"]["message"]["content"], "from REST");
    }
    // Typing from one socket reaches the others, not itself.
    ok(&clients[0]
        .call("typing.start", json!({"thread_id": tid}))
        .await);
    let e = clients[1].events_until("typing.started").await;
    assert_eq!(e.last().unwrap()["data"]["subject"], "crowd");
    ok(&clients[0].call("ping", json!({})).await);
    assert!(
        clients[0]
            .events
            .iter()
            .all(|e| e["event"] != "typing.started")
    );
    // Closing sockets unregisters them.
    for mut c in clients.drain(10..) {
        c.ws.close(None).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, p) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/presence"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["connections"], 10);
}

#[tokio::test]
async fn disconnect_mid_reply_then_resume_on_a_new_socket() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "50"),
    ]);
    let token = server.token(&["--sub", "flaky"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let words = "one two three four five six seven eight nine ten eleven twelve";
    let mut a = Client::connect(&server, Some(&token)).await;
    let sent = ok(&a
        .call("messages.send", json!({"thread_id": tid, "content": words}))
        .await)
    .clone();
    let aid = sent["assistant_message_id"].as_str().unwrap().to_owned();
    let first = a.events_until("message.delta").await;
    let mut seen: Vec<Value> = first.into_iter().filter(|e| e["id"].is_u64()).collect();
    let more = a.events_until("message.delta").await;
    seen.extend(more.into_iter().filter(|e| e["id"].is_u64()));
    let last = seen.last().unwrap()["id"].as_u64().unwrap();
    drop(a); // the connection drops mid-reply
    let mut b = Client::connect(&server, Some(&token)).await;
    ok(&b
        .call(
            "messages.resume",
            json!({"thread_id": tid, "message_id": aid, "last_event_id": last}),
        )
        .await);
    let rest = b.events_until("message.completed").await;
    seen.extend(rest.into_iter().filter(|e| e["id"].is_u64()));
    let ids: Vec<u64> = seen.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let text: String = seen
        .iter()
        .filter(|e| e["event"] == "message.delta")
        .map(|e| e["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, format!("Echo: {words}"));
}

#[tokio::test]
async fn every_change_reaches_another_socket_with_its_own_event() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", "tabs"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    // The other tab follows the thread.
    let mut other = Client::connect(&server, Some(&token)).await;
    ok(&other.call("subscribe", json!({"thread_id": tid})).await);
    let rest = |method: &'static str, path: String, body: Option<Value>| {
        let server = &server;
        let token = token.clone();
        async move {
            let (status, _, json) = server
                .call(method, &path, Some(&token), body.as_ref())
                .await;
            assert!(status < 300, "{method} {path}: {status} {json}");
            json
        }
    };
    let base = format!("/v1/threads/{tid}");
    let first = rest(
        "POST",
        format!("{base}/messages"),
        Some(json!({"content": "one"})),
    )
    .await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let second = rest(
        "POST",
        format!("{base}/messages"),
        Some(json!({"content": "two"})),
    )
    .await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let steps: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "PUT",
            format!("{base}/messages/{first_id}/feedback"),
            Some(json!({"rating": "up"})),
            "message.updated",
        ),
        (
            "PUT",
            format!("{base}/messages/{first_id}/reaction"),
            Some(json!({"emoji": "👍"})),
            "message.updated",
        ),
        (
            "POST",
            format!("{base}/messages/{second_id}/edits"),
            Some(json!({"content": "two, edited"})),
            "branch.switched",
        ),
        (
            "PUT",
            format!("{base}/active-leaf"),
            Some(json!({"message_id": second_id})),
            "branch.switched",
        ),
        (
            "POST",
            format!("{base}/summaries"),
            Some(json!({"covers_message_id": first_id, "text": "so far"})),
            "summary.created",
        ),
        (
            "PATCH",
            base.clone(),
            Some(json!({"title": "Renamed"})),
            "thread.updated",
        ),
        (
            "DELETE",
            format!("{base}/messages/{second_id}"),
            None,
            "message.deleted",
        ),
        ("DELETE", base.clone(), None, "thread.deleted"),
        ("POST", format!("{base}/restore"), None, "thread.restored"),
    ];
    let created = other.events_until("message.created").await;
    assert_eq!(created.last().unwrap()["data"]["message"]["content"], "one");
    let created = other.events_until("message.created").await;
    assert_eq!(created.last().unwrap()["data"]["message"]["content"], "two");
    for (method, path, body, event) in steps {
        rest(method, path.clone(), body).await;
        let got = other.events_until(event).await;
        let last = got.last().unwrap();
        assert_eq!(last["data"]["thread_id"], tid.as_str(), "{method} {path}");
        match event {
            "message.updated" => assert!(last["data"]["message"]["id"] == first_id.as_str()),
            "branch.switched" => assert!(last["data"]["active_leaf_id"].is_string()),
            "summary.created" => assert_eq!(last["data"]["summary"]["text"], "so far"),
            "thread.updated" => assert_eq!(last["data"]["thread"]["title"], "Renamed"),
            "message.deleted" => {
                assert_eq!(last["data"]["message_id"], second_id.as_str());
                assert_eq!(last["data"]["deleted"], 1);
            }
            _ => {}
        }
    }
}
