//! The WebSocket front door with a real client: every op, many sockets on one thread, typing,
//! presence, disconnect mid-reply and resume, robustness, and 1,000 idle connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod limits;
mod live;
mod ops;

use std::time::Duration;

use crate::support::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) struct Client {
    pub(super) ws: Ws,
    pub(super) next_id: u64,
    pub(super) events: Vec<Value>,
}

impl Client {
    pub(super) async fn connect(server: &Server, token: Option<&str>) -> Client {
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

    pub(super) async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON frame (pings are answered by the library).
    pub(super) async fn frame(&mut self) -> Option<Value> {
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
    pub(super) async fn call(&mut self, op: &str, args: Value) -> Value {
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
    pub(super) async fn events_until(&mut self, last: &str) -> Vec<Value> {
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

pub(super) fn ok(response: &Value) -> &Value {
    assert_eq!(response["ok"], true, "{response}");
    &response["result"]
}
