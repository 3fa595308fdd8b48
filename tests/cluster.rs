//! Two server processes on one PostgreSQL database behave as one: events fan out through
//! LISTEN/NOTIFY (large ones by reference), replies running on one instance reach sockets on the
//! other and can be resumed there, and one reply per thread holds across instances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::support::{Server, pg_database};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) async fn socket(
    server: &Server,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("{}/v1/ws", server.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// A socket on `server` as `token`, subscribed to `thread_id` (the subscription's answer is
/// left for the caller's reads to pass over).
pub(crate) async fn subscribed(
    server: &Server,
    token: &str,
    thread_id: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut ws = socket(server, token).await;
    ws.send(Message::Text(
        json!({"op": "subscribe", "id": 1, "thread_id": thread_id})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws
}

pub(crate) async fn next_event<S>(ws: &mut S, name: &str) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no event")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "event" && v["event"] == name {
                return v;
            }
        }
    }
}

fn sse_events(text: &str) -> Vec<(u64, String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut event = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            Some((id?, event, data))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_behave_as_one() {
    let Some((_, url)) = pg_database().await else {
        return;
    };
    let env = [
        ("CHAT_THREADS__DATABASE__URL", url.as_str()),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "100"),
    ];
    let a = Server::start(&env);
    let b = Server::start(&env);
    let token = a.token(&["--sub", "clustered"]);
    let (status, _, t) = a
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&json!({"title": "shared"})),
        )
        .await;
    assert_eq!(status, 201);
    let tid = t["id"].as_str().unwrap().to_owned();
    let (status, _, _) = b
        .call("GET", &format!("/v1/threads/{tid}"), Some(&token), None)
        .await;
    assert_eq!(
        status, 200,
        "the token and the thread work on both instances"
    );

    // A socket on B sees a message written on A.
    let mut ws = subscribed(&b, &token, &tid).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.call(
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        Some(&token),
        Some(&json!({"content": "hello from A"})),
    )
    .await;
    let e = next_event(&mut ws, "message.created").await;
    assert_eq!(e["data"]["message"]["content"], "hello from A");

    // Events over NOTIFY's 8 KB limit travel by reference.
    let big = "x".repeat(20_000);
    a.call(
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        Some(&token),
        Some(&json!({"content": big})),
    )
    .await;
    let e = next_event(&mut ws, "message.created").await;
    assert_eq!(
        e["data"]["message"]["content"].as_str().unwrap().len(),
        20_000
    );

    // A reply generated on A streams to the socket on B...
    let words = "alpha beta gamma delta epsilon zeta eta theta";
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/v1/threads/{tid}/chat", a.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .json(&json!({"content": words}))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while sse_events(&text)
        .iter()
        .filter(|(_, e, _)| e == "message.delta")
        .count()
        < 3
    {
        text.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    let seen = sse_events(&text);
    let reply_id = seen[1].2["message_id"].as_str().unwrap().to_owned();
    let last = seen.last().unwrap().0;
    drop(body); // the client leaves instance A mid-reply
    let delta = next_event(&mut ws, "message.delta").await;
    assert_eq!(delta["data"]["message_id"], json!(reply_id));

    // ...a second reply in the thread is refused on B while it runs on A...
    let (status, _, err) = b
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&token),
            Some(&json!({"content": "me too"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("generation_in_progress"))
    );

    // ...and it resumes on B exactly where the client left A.
    let resp = client
        .get(format!(
            "{}/v1/threads/{tid}/messages/{reply_id}/stream",
            b.base
        ))
        .bearer_auth(&token)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(20), resp.text())
        .await
        .unwrap()
        .unwrap();
    let rest = sse_events(&rest);
    let ids: Vec<u64> = seen.iter().chain(&rest).map(|(id, _, _)| *id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate across instances"
    );
    let streamed: String = seen
        .iter()
        .chain(&rest)
        .filter(|(_, e, _)| e == "message.delta")
        .map(|(_, _, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, format!("Echo: {words}"));
    assert_eq!(rest.last().unwrap().1, "message.completed");
}
