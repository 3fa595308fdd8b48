//! Limits and robustness: oversized frames, idle sockets, 1,000 connections, slow clients, expired tokens and ended sessions.

use std::time::Duration;

use crate::support::Server;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Client, ok};

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
async fn operations_draw_on_the_same_rate_limit_as_rest() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_PER_MINUTE", "60"),
        ("CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_BURST", "5"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "1000"),
    ]);
    let token = server.token(&["--sub", "hasty"]);
    let mut c = Client::connect(&server, Some(&token)).await;
    assert_eq!(c.frame().await.unwrap()["type"], "ready");
    let mut refused = None;
    for i in 0..20 {
        let r = c
            .call("threads.create", json!({"title": format!("t{i}")}))
            .await;
        if r["ok"] == false {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("the socket was never limited");
    assert!(i <= 6, "limited only after {i} creates");
    assert_eq!(r["error"]["code"], "rate_limited", "{r}");
    assert!(
        r["error"]["details"]["retry_after_secs"].as_u64().unwrap() >= 1,
        "{r}"
    );
    // `ping` stays free; REST with the same token is out of budget too.
    assert_eq!(ok(&c.call("ping", json!({})).await), "pong");
    let (status, _, _) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(status, 429);
}
