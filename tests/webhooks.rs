//! Webhooks through the binary: a local receiver verifies every Standard Webhooks signature;
//! deliveries follow the creator's feed (an org's), in order per thread, retried with back-off
//! past a failing receiver, disabled after a run of failures and re-enabled, listed and
//! redelivered; secrets shown once; SSRF targets refused when private addresses are not
//! allowed; on two PostgreSQL instances each delivery is made once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Server, backend_env};

/// What the receiver got: each request's headers of interest and body, and how it answered.
#[derive(Clone, Default)]
pub(crate) struct Inbox {
    got: Arc<Mutex<Vec<Received>>>,
    /// Bodies containing this text fail this many more times.
    flaky: Arc<Mutex<Option<(String, u32)>>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    status: u16,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let body = String::from_utf8(body.to_vec()).unwrap();
    let mut status = 204;
    if let Some((needle, left)) = inbox.flaky.lock().unwrap().as_mut()
        && body.contains(needle.as_str())
        && *left > 0
    {
        *left -= 1;
        status = 503;
    }
    inbox.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        status,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Starts the receiver on its own thread: its URL and inbox.
pub(crate) fn receiver() -> (String, Inbox) {
    let inbox = Inbox::default();
    let shared = inbox.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(shared.clone()))
                    .default_service(web::post().to(receive))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0].port()).unwrap();
            server.run().await.unwrap();
        });
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (format!("http://127.0.0.1:{port}/hook"), inbox)
}

/// Verifies a request's signature as the Standard Webhooks specification says.
fn verify(secret: &str, r: &Received) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        r.signature
            .split(' ')
            .any(|s| s == format!("v1,{expected}")),
        "bad signature on {r:?}"
    );
    let ts: i64 = r.timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 300);
    assert!(r.id.starts_with("msg_"));
}

/// Waits until `pred` holds for the inbox (15 s at most).
pub(crate) async fn until(
    inbox: &Inbox,
    what: &str,
    pred: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    for _ in 0..300 {
        let got = inbox.got.lock().unwrap().clone();
        if pred(&got) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:#?}", inbox.got.lock().unwrap());
}

fn accepted(got: &[Received]) -> Vec<Value> {
    got.iter()
        .filter(|r| r.status < 300)
        .map(Received::json)
        .collect()
}

fn fast_env(env: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__WEBHOOKS__ALLOW_PRIVATE", "true"),
        ("CHAT_THREADS__WEBHOOKS__BACKOFF_MS", "100"),
        ("CHAT_THREADS__WEBHOOKS__INTERVAL_MS", "100"),
        ("CHAT_THREADS__WEBHOOKS__DISABLE_AFTER", "4"),
    ]);
    env
}

#[tokio::test]
async fn webhooks_on_sqlite() {
    let env = backend_env(false).await.unwrap();
    let server = Server::start(&fast_env(&env));
    let (url, inbox) = receiver();
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let gil = server.token(&["--sub", "gil", "--org", "globex"]);

    // Made by the org's admin: the organization's changes, two kinds of event.
    let (s, hook) = server
        .as_user(&admin, "POST", "/v1/webhooks", json!({
            "url": url, "events": ["message.created", "thread.updated"], "description": "crm sync"}))
        .await;
    assert_eq!(s, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let hid = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(hook["scope"], "org");
    // The secret is never shown again.
    let (_, got) = server
        .as_user(&admin, "GET", &format!("/v1/webhooks/{hid}"), Value::Null)
        .await;
    assert!(
        got.get("secret").is_none() && got["url"] == url.as_str(),
        "{got}"
    );
    let (_, list) = server
        .as_user(&admin, "GET", "/v1/webhooks", Value::Null)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("secret").is_none());
    // Not alice's (she is no manager) nor another organization's.
    let (_, hers) = server
        .as_user(&alice, "GET", "/v1/webhooks", Value::Null)
        .await;
    assert!(hers["data"].as_array().unwrap().is_empty());
    let (s, _) = server
        .as_user(&gil, "GET", &format!("/v1/webhooks/{hid}"), Value::Null)
        .await;
    assert_eq!(s, 404);

    // Alice's changes arrive, signed, in order; globex's do not.
    let (_, t) = server
        .as_user(&alice, "POST", "/v1/threads", json!({"title": "crm"}))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let (s, _) = server
            .as_user(
                &alice,
                "POST",
                &format!("/v1/threads/{tid}/messages"),
                json!({"content": format!("message {i} {}", "x".repeat(300))}),
            )
            .await;
        assert_eq!(s, 201);
    }
    server
        .as_user(
            &alice,
            "PATCH",
            &format!("/v1/threads/{tid}"),
            json!({"title": "renamed"}),
        )
        .await;
    let (_, gt) = server
        .as_user(&gil, "POST", "/v1/threads", json!({"title": "other org"}))
        .await;
    server
        .as_user(
            &gil,
            "POST",
            &format!("/v1/threads/{}/messages", gt["id"].as_str().unwrap()),
            json!({"content": "not for acme"}),
        )
        .await;
    let got = until(&inbox, "four deliveries", |g| accepted(g).len() >= 4).await;
    for r in &got {
        verify(&secret, r);
    }
    let bodies = accepted(&got);
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "message.created",
            "message.created",
            "message.created",
            "thread.updated"
        ]
    );
    assert!(
        bodies
            .windows(2)
            .all(|w| w[0]["cursor"].as_i64() < w[1]["cursor"].as_i64())
    );
    assert_eq!(
        bodies[0]["data"]["message"]["content"]
            .as_str()
            .unwrap()
            .len(),
        310
    );
    assert!(bodies.iter().all(|b| b["thread_id"] == tid.as_str()));

    // A receiver failing one message: retried with back-off until it takes it; the thread's
    // next message waits for it (order per thread), another thread's does not.
    *inbox.flaky.lock().unwrap() = Some(("flaky".into(), 2));
    let (_, t2) = server
        .as_user(&alice, "POST", "/v1/threads", json!({"title": "other"}))
        .await;
    let t2id = t2["id"].as_str().unwrap().to_owned();
    for (thread, text) in [
        (&tid, "flaky one"),
        (&tid, "after the flaky one"),
        (&t2id, "elsewhere"),
    ] {
        server
            .as_user(
                &alice,
                "POST",
                &format!("/v1/threads/{thread}/messages"),
                json!({"content": text}),
            )
            .await;
    }
    let got = until(&inbox, "the flaky one retried", |g| {
        accepted(g)
            .iter()
            .any(|b| b["data"]["message"]["content"] == "after the flaky one")
    })
    .await;
    let texts: Vec<(String, u16)> = got
        .iter()
        .filter_map(|r| {
            let b = r.json();
            b["data"]["message"]["content"]
                .as_str()
                .map(|c| (c.to_owned(), r.status))
        })
        .collect();
    let flaky: Vec<u16> = texts
        .iter()
        .filter(|(c, _)| c == "flaky one")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(flaky, [503, 503, 204], "{texts:?}");
    let ok_flaky = texts
        .iter()
        .position(|(c, s)| c == "flaky one" && *s == 204)
        .unwrap();
    let after = texts
        .iter()
        .position(|(c, _)| c == "after the flaky one")
        .unwrap();
    assert!(after > ok_flaky, "{texts:?}");
    let retries: Vec<&Received> = got
        .iter()
        .filter(|r| r.json()["data"]["message"]["content"] == "flaky one")
        .collect();
    assert!(
        retries.iter().all(|r| r.id == retries[0].id),
        "one webhook-id on every attempt"
    );
    for r in &got {
        verify(&secret, r);
    }

    // The deliveries, listed newest first; the flaky one took three attempts.
    let (s, page) = server
        .as_user(
            &admin,
            "GET",
            &format!("/v1/webhooks/{hid}/deliveries?limit=100"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let list = page["data"].as_array().unwrap();
    let flaky_delivery = list
        .iter()
        .find(|d| d["payload"]["data"]["message"]["content"] == "flaky one")
        .unwrap();
    assert_eq!(
        (
            &flaky_delivery["status"],
            &flaky_delivery["attempts"],
            &flaky_delivery["last_status"]
        ),
        (&json!("delivered"), &json!(3), &json!(204))
    );
    assert!(
        list.windows(2)
            .all(|w| w[0]["cursor"].as_i64() > w[1]["cursor"].as_i64())
    );
    // Redelivered: sent again with the same webhook-id.
    let did = flaky_delivery["id"].as_str().unwrap();
    let before = inbox.got.lock().unwrap().len();
    let (s, again) = server
        .as_user(
            &admin,
            "POST",
            &format!("/v1/webhooks/{hid}/deliveries/{did}/redeliver"),
            Value::Null,
        )
        .await;
    assert_eq!((s, &again["status"]), (202, &json!("pending")), "{again}");
    let got = until(&inbox, "the redelivery", |g| g.len() > before).await;
    assert_eq!(got[before].id, retries[0].id);
    let (s, _) = server
        .as_user(
            &admin,
            "POST",
            &format!(
                "/v1/webhooks/{hid}/deliveries/{}/redeliver",
                uuid::Uuid::now_v7()
            ),
            Value::Null,
        )
        .await;
    assert_eq!(s, 404);

    // A receiver that is never there: disabled after webhooks.disable_after failures in a row;
    // re-enabled by its owner. Alice's own webhook follows her own threads.
    let (s, dead) = server
        .as_user(
            &alice,
            "POST",
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/gone"}),
        )
        .await;
    assert_eq!((s, &dead["scope"]), (201, &json!("owner")), "{dead}");
    let dead_id = dead["id"].as_str().unwrap().to_owned();
    server
        .as_user(
            &alice,
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            json!({"content": "into the void"}),
        )
        .await;
    let mut disabled = Value::Null;
    for _ in 0..200 {
        let (_, h) = server
            .as_user(
                &alice,
                "GET",
                &format!("/v1/webhooks/{dead_id}"),
                Value::Null,
            )
            .await;
        if h["enabled"] == false {
            disabled = h;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(disabled["failures"], 4, "{disabled}");
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("4 failed attempts")
    );
    let (_, dl) = server
        .as_user(
            &alice,
            "GET",
            &format!("/v1/webhooks/{dead_id}/deliveries?status=pending"),
            Value::Null,
        )
        .await;
    assert_eq!(dl["data"][0]["attempts"], 4, "{dl}");
    assert!(
        dl["data"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("connect")
    );
    let (s, back) = server
        .as_user(
            &alice,
            "PATCH",
            &format!("/v1/webhooks/{dead_id}"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(
        (s, &back["enabled"], &back["failures"]),
        (200, &json!(true), &json!(0))
    );
    let (s, _) = server
        .as_user(
            &alice,
            "DELETE",
            &format!("/v1/webhooks/{dead_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = server
        .as_user(
            &alice,
            "GET",
            &format!("/v1/webhooks/{dead_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 404);

    // Bad input: a clear 400 or 422, nothing stored.
    for (body, status) in [
        (json!({"url": url, "events": ["message.delta"]}), 400),
        (json!({"url": url, "secret": "nope"}), 400),
        (json!({"url": url, "surprise": 1}), 400),
        (json!({"events": []}), 400),
        (json!({"url": "ftp://example.com/"}), 422),
    ] {
        let (s, e) = server
            .as_user(&admin, "POST", "/v1/webhooks", body.clone())
            .await;
        assert_eq!(s, status, "{body}: {e}");
    }
    let (_, list) = server
        .as_user(&admin, "GET", "/v1/webhooks", Value::Null)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // Who made, changed and deleted which webhook is in the audit log.
    let (_, log) = server
        .as_user(&admin, "GET", "/v1/audit?limit=100", Value::Null)
        .await;
    let actions: Vec<(&str, &str)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("webhook."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("webhook.deleted", "user:alice"),
            ("webhook.updated", "user:alice"),
            ("webhook.created", "user:alice"),
            ("webhook.created", "user:erin"),
        ],
        "{log}"
    );
}

/// Without `webhooks.allow_private` internal targets are refused.
#[tokio::test]
async fn webhook_targets_are_checked_for_ssrf() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://user:pw@93.184.215.14/hook",
    ] {
        let (s, e) = server
            .as_user(&admin, "POST", "/v1/webhooks", json!({"url": url}))
            .await;
        assert_eq!(
            (s, &e["error"]["code"]),
            (422, &json!("webhook_url_refused")),
            "{url}: {e}"
        );
    }
    // A public address literal is accepted (no request is made to make a webhook).
    let (s, e) = server
        .as_user(
            &admin,
            "POST",
            "/v1/webhooks",
            json!({"url": "https://93.184.215.14/hook"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
}

/// Two instances on one database: each delivery made once, in order per thread.
#[tokio::test]
async fn webhooks_across_instances_on_postgres() {
    let Some(env) = backend_env(true).await else {
        return;
    };
    let env = fast_env(&env);
    let a = Server::start(&env);
    let b = Server::start(&env);
    let (url, inbox) = receiver();
    let admin = a.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let alice = a.token(&["--sub", "alice", "--org", "acme"]);
    let (s, hook) = a
        .as_user(
            &admin,
            "POST",
            "/v1/webhooks",
            json!({"url": url, "events": ["message.created"]}),
        )
        .await;
    assert_eq!(s, 201);
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (_, t) = a.as_user(&alice, "POST", "/v1/threads", json!({})).await;
        threads.push(t["id"].as_str().unwrap().to_owned());
    }
    let mut jobs = Vec::new();
    for (n, server) in [&a, &b].into_iter().enumerate() {
        for tid in &threads {
            jobs.push((server.base.clone(), tid.clone(), format!("from {n}")));
        }
    }
    crate::support::append_concurrently(&alice, jobs, 10).await;
    let got = until(&inbox, "40 deliveries", |g| g.len() >= 40).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_all = inbox.got.lock().unwrap().clone();
    assert_eq!(got_all.len(), 40, "a delivery was made twice: {got:#?}");
    let mut ids: Vec<&str> = got_all.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    for r in &got_all {
        verify(&secret, r);
    }
    // Per thread, in feed order.
    for tid in &threads {
        let cursors: Vec<i64> = got_all
            .iter()
            .map(Received::json)
            .filter(|b| b["thread_id"] == tid.as_str())
            .map(|b| b["cursor"].as_i64().unwrap())
            .collect();
        assert_eq!(cursors.len(), 20);
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    }
}
