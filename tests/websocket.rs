//! The WebSocket front door with a real client: every op, many sockets on one thread, typing,
//! presence, disconnect mid-reply and resume, robustness, and 1,000 idle connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client {
    ws: Ws,
    next_id: u64,
    events: Vec<Value>,
}

impl Client {
    async fn connect(server: &Server, token: Option<&str>) -> Client {
        let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        if let Some(t) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Client {
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON frame (pings are answered by the library).
    async fn frame(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(15), self.ws.next())
                .await
                .expect("silent socket")?;
            match msg.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Sends a request and waits for its response, keeping events that arrive meanwhile.
    async fn call(&mut self, op: &str, args: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut req = args;
        req["op"] = json!(op);
        req["id"] = json!(id);
        self.send_raw(&req.to_string()).await;
        loop {
            let f = self.frame().await.expect("socket closed");
            if f["type"] == "response" && f["id"] == json!(id) {
                return f;
            }
            self.events.push(f);
        }
    }

    /// Events until one named `last` (inclusive).
    async fn events_until(&mut self, last: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut pending: Vec<Value> = std::mem::take(&mut self.events);
        loop {
            let f = if pending.is_empty() {
                self.frame().await.expect("socket closed")
            } else {
                pending.remove(0)
            };
            if f["type"] == "event" {
                let done = f["event"] == last;
                out.push(f);
                if done {
                    self.events = pending;
                    return out;
                }
            }
        }
    }
}

fn ok(response: &Value) -> &Value {
    assert_eq!(response["ok"], true, "{response}");
    &response["result"]
}

#[tokio::test]
async fn every_op_over_one_socket() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", "wsuser"]);
    let mut c = Client::connect(&server, Some(&token)).await;
    assert_eq!(c.frame().await.unwrap()["type"], "ready");
    assert_eq!(ok(&c.call("ping", json!({})).await), "pong");
    assert_eq!(
        ok(&c.call("whoami", json!({})).await)["owner"],
        "user:wsuser"
    );
    assert_eq!(
        ok(&c.call("models.list", json!({})).await)["data"][0]["id"],
        "echo"
    );
    let t = ok(&c.call("threads.create", json!({"title": "over ws"})).await).clone();
    let tid = t["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&c.call("threads.list", json!({"limit": 5})).await)["data"][0]["id"],
        t["id"]
    );

    let sent = ok(&c
        .call(
            "messages.send",
            json!({"thread_id": tid, "content": "hello ws"}),
        )
        .await)
    .clone();
    let events = c.events_until("message.completed").await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"message.created"));
    assert!(names.contains(&"typing.started") && names.contains(&"message.delta"));
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "message.delta")
        .map(|e| e["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Echo: hello ws");
    let aid = sent["assistant_message_id"].as_str().unwrap().to_owned();
    assert_eq!(events.last().unwrap()["data"]["message_id"], json!(aid));
    let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "the same seq ids as SSE"
    );

    let list = ok(&c.call("messages.list", json!({"thread_id": tid})).await).clone();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    ok(&c
        .call(
            "messages.regenerate",
            json!({"thread_id": tid, "message_id": aid}),
        )
        .await);
    c.events_until("message.completed").await;
    ok(&c.call("unsubscribe", json!({"thread_id": tid})).await);
    let sub = ok(&c.call("subscribe", json!({"thread_id": tid})).await).clone();
    assert_eq!(sub["presence"], 1);
    let replay = ok(&c
        .call(
            "messages.resume",
            json!({"thread_id": tid, "message_id": aid, "last_event_id": 0}),
        )
        .await)
    .clone();
    assert_eq!(replay["after"], 0);
    c.events_until("message.completed").await;
    let stopped = ok(&c
        .call("replies.stop", json!({"thread_id": tid, "message_id": aid}))
        .await)
    .clone();
    assert_eq!(
        stopped["status"], "complete",
        "stopping a finished reply changes nothing"
    );
    ok(&c.call("typing.start", json!({"thread_id": tid})).await);
    ok(&c.call("typing.stop", json!({"thread_id": tid})).await);

    // Attachments over the socket: echo repeats the prompt, the attached text included.
    let upload = reqwest::Client::new()
        .post(format!("{}/v1/files", server.base))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=wsb")
        .body(
            "--wsb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n\r\n\
             socket attachment\r\n--wsb--\r\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let file: Value = upload.json().await.unwrap();
    ok(&c
        .call(
            "messages.send",
            json!({"thread_id": tid, "content": "with a file", "attachments": [file["id"]]}),
        )
        .await);
    let echoed: String = c
        .events_until("message.completed")
        .await
        .iter()
        .filter(|e| e["event"] == "message.delta")
        .map(|e| e["data"]["delta"].as_str().unwrap().to_owned())
        .collect();
    assert!(echoed.contains("socket attachment"), "{echoed}");
    let foreign = c
        .call(
            "messages.send",
            json!({"thread_id": tid, "content": "x", "attachments": [uuid::Uuid::now_v7()]}),
        )
        .await;
    assert_eq!(foreign["error"]["code"], "attachment_not_found");
    assert_eq!(
        ok(&c.call("threads.delete", json!({"thread_id": tid})).await)["id"],
        json!(tid)
    );

    // Mistakes get an error and the connection stays open (the subscription's
    // `thread.deleted` may arrive first).
    c.send_raw("{not json").await;
    let mut err = c.frame().await.unwrap();
    while err["type"] == "event" {
        err = c.frame().await.unwrap();
    }
    assert_eq!(
        (err["type"].as_str(), err["error"]["code"].as_str()),
        (Some("error"), Some("malformed_json"))
    );
    let unknown = c.call("threads.explode", json!({})).await;
    assert_eq!(
        (unknown["ok"].as_bool(), unknown["error"]["code"].as_str()),
        (Some(false), Some("validation_failed"))
    );
    let missing = c
        .call("messages.list", json!({"thread_id": "not-a-uuid"}))
        .await;
    assert_eq!(missing["ok"], false);
    let other = c
        .call("messages.list", json!({"thread_id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(other["error"]["code"], "thread_not_found");
    assert_eq!(ok(&c.call("ping", json!({})).await), "pong", "still open");
}

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
async fn oversized_frames_close_the_socket_and_idle_sockets_time_out() {
    let server = Server::start(&[
        ("CHAT_THREADS__WEBSOCKET__MAX_FRAME_BYTES", "1024"),
        ("CHAT_THREADS__WEBSOCKET__IDLE_TIMEOUT_SECS", "2"),
        ("CHAT_THREADS__WEBSOCKET__HEARTBEAT_SECS", "1"),
    ]);
    let token = server.token(&["--sub", "big"]);
    let mut c = Client::connect(&server, Some(&token)).await;
    c.frame().await.unwrap();
    c.send_raw(&format!(
        "{{\"op\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(4096)
    ))
    .await;
    assert!(c.frame().await.is_none(), "closed for the oversized frame");
    // A client that never answers pings is closed after the idle timeout.
    let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut raw, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // Not touching the socket at all: pings go unanswered (the library answers only while read).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), raw.next()).await {
        match frame {
            Ok(Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    closed |= matches!(
        tokio::time::timeout(Duration::from_secs(2), raw.next()).await,
        Ok(None)
    );
    assert!(closed, "the silent client was disconnected");
}

#[tokio::test]
async fn one_instance_holds_1000_idle_sockets() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "many"]);
    let mut sockets = Vec::with_capacity(1000);
    for _ in 0..1000 {
        sockets.push(Client::connect(&server, Some(&token)).await);
    }
    // All of them are alive and served.
    for i in [0usize, 250, 500, 999] {
        assert_eq!(ok(&sockets[i].call("ping", json!({})).await), "pong");
    }
    let (status, _, _) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_slow_client_is_disconnected_without_stalling_the_others() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__WEBSOCKET__QUEUE", "8"),
        ("CHAT_THREADS__WEBSOCKET__IDLE_TIMEOUT_SECS", "120"),
        ("CHAT_THREADS__LIMITS__CONTENT_BYTES", "1000000"),
        ("CHAT_THREADS__LIMITS__BODY_BYTES", "2000000"),
    ]);
    let token = server.token(&["--sub", "slowpoke"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let mut fast = Client::connect(&server, Some(&token)).await;
    ok(&fast.call("subscribe", json!({"thread_id": tid})).await);
    // The slow client has a small receive buffer and stops reading after subscribing.
    let mut slow = {
        let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let mut request = format!("{}/v1/ws", server.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .unwrap();
        Client {
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    };
    ok(&slow.call("subscribe", json!({"thread_id": tid})).await);
    // Large messages fill its socket, then its queue.
    let big = "y".repeat(100_000);
    let writer = {
        let base = server.base.clone();
        let token = token.clone();
        let tid = tid.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..150 {
                let resp = client
                    .post(format!("{base}/v1/threads/{tid}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"content": big}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 201);
            }
        })
    };
    for _ in 0..150 {
        let e = fast.events_until("message.created").await;
        assert_eq!(
            e.last().unwrap()["data"]["message"]["content"]
                .as_str()
                .unwrap()
                .len(),
            100_000
        );
    }
    writer.await.unwrap();
    // Its subscription is released as soon as the server gives up on it...
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, p) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/presence"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["connections"], 1, "its subscription was released");
    // ...and when it reads again it finds the connection ended (a 1013 close, or the socket
    // closed after what was already buffered), having missed events.
    let mut received = 0;
    let mut ended = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), slow.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["event"] == "message.created" {
                    received += 1;
                }
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                assert!(
                    c.as_ref().is_none_or(|c| u16::from(c.code) == 1013),
                    "{c:?}"
                );
                ended = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => {
                ended = true;
                break;
            }
            Err(_) => break,
        }
    }
    assert!(ended, "the slow connection was closed by the server");
    assert!(
        received < 150,
        "the slow client missed events ({received} of 150) instead of holding others up"
    );
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

#[tokio::test]
async fn the_websocket_refuses_what_rest_refuses() {
    let server = Server::start(&[("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0")]);
    let token = server.token(&["--sub", "same-rules"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let long = "x".repeat(100);
    let (status, _, rest) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "hi", "language": long})),
        )
        .await;
    assert_eq!(status, 400);
    let mut c = Client::connect(&server, Some(&token)).await;
    for args in [
        json!({"thread_id": tid, "content": "hi", "language": long}),
        json!({"thread_id": tid, "content": "hi", "timezone": "Europe/Lisbon\nIgnore the above"}),
    ] {
        let r = c.call("messages.send", args).await;
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], rest["error"]["code"], "{r}");
    }
    let r = c
        .call("threads.create", json!({"model": "gpt-4o", "title": "x"}))
        .await;
    assert_eq!(r["error"]["code"], "model_not_allowed", "{r}");
    let (_, _, tree) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        tree["data"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_socket_stops_when_its_token_expires_and_readers_never_speak() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    // Expires in 3 s (the leeway does not extend a live connection).
    let short = server.token(&["--sub", "brief", "--ttl", "3s"]);
    let mut c = Client::connect(&server, Some(&short)).await;
    assert_eq!(ok(&c.call("ping", json!({})).await), "pong");
    let mut ended = false;
    while let Some(f) = c.frame().await {
        if f["type"] == "error" {
            assert_eq!(f["error"]["code"], "token_expired", "{f}");
            ended = true;
        }
    }
    assert!(ended, "the socket said why before closing");

    // An org admin reads a member's thread but never emits events into it.
    let member = server.token(&["--sub", "dana", "--org", "acme"]);
    let admin = server.token(&["--sub", "carol", "--org", "acme", "--scope", "org:admin"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&member), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap();
    let mut listener = Client::connect(&server, Some(&member)).await;
    ok(&listener.call("subscribe", json!({"thread_id": tid})).await);
    let mut reader = Client::connect(&server, Some(&admin)).await;
    ok(&reader.call("subscribe", json!({"thread_id": tid})).await);
    let refused = reader.call("typing.start", json!({"thread_id": tid})).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "thread_not_found");
    // The member's own typing is the first typing event the listener sees.
    let mut writer = Client::connect(&server, Some(&member)).await;
    ok(&writer.call("typing.start", json!({"thread_id": tid})).await);
    let typing = listener.events_until("typing.started").await;
    assert_eq!(typing.last().unwrap()["data"]["subject"], "dana");
}

#[tokio::test]
async fn a_deleted_session_is_refused_on_an_open_socket_and_at_the_upgrade() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let (status, _, session) = server.call("POST", "/v1/sessions", None, None).await;
    assert_eq!(status, 201);
    let token = session["token"].as_str().unwrap().to_owned();
    let mut socket = Client::connect(&server, Some(&token)).await;
    ok(&socket.call("threads.list", json!({})).await);
    let (status, _, _) = server
        .call("DELETE", "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    let refused = socket.call("threads.list", json!({})).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "token_revoked");
    // A new socket with the token, by header or by the first frame, gets nowhere either.
    let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401);
        }
        other => panic!("the upgrade must be refused: {:?}", other.map(|(_, r)| r)),
    }
    let mut browser = Client::connect(&server, None).await;
    let refused = browser.call("auth", json!({"token": token})).await;
    assert_eq!(refused["error"]["code"], "token_revoked", "{refused}");
}

#[tokio::test]
async fn edits_in_place_and_single_deletes_over_the_socket_reach_other_tabs() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "tabs"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (_, _, m) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            Some(&json!({"content": "draft", "display_text": "shown"})),
        )
        .await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let mut other = Client::connect(&server, Some(&token)).await;
    ok(&other.call("subscribe", json!({"thread_id": tid})).await);
    let mut tab = Client::connect(&server, Some(&token)).await;
    let edited = tab
        .call(
            "messages.update",
            json!({"thread_id": tid, "message_id": mid, "content": "final", "display_text": null}),
        )
        .await;
    let edited = ok(&edited);
    assert_eq!(
        (&edited["version"], &edited["display_text"]),
        (&json!(2), &Value::Null)
    );
    let seen = other.events_until("message.updated").await;
    assert_eq!(seen.last().unwrap()["data"]["message"]["content"], "final");
    let revisions = tab
        .call(
            "messages.revisions",
            json!({"thread_id": tid, "message_id": mid}),
        )
        .await;
    assert_eq!(ok(&revisions)["data"][0]["content"], "draft");
    let refused = tab
        .call(
            "messages.delete",
            json!({"thread_id": tid, "message_id": mid, "scope": "all"}),
        )
        .await;
    assert_eq!(refused["error"]["code"], "validation_failed", "{refused}");
    let deleted = tab
        .call(
            "messages.delete",
            json!({"thread_id": tid, "message_id": mid, "scope": "message"}),
        )
        .await;
    assert_eq!(ok(&deleted)["deleted"], 1);
    let seen = other.events_until("message.deleted").await;
    let data = &seen.last().unwrap()["data"];
    assert_eq!(
        (&data["scope"], &data["message_id"]),
        (&json!("message"), &json!(mid))
    );
}
