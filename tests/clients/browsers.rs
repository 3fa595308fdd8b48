//! What browsers meet: CORS, the WebSocket `Origin` check, and an offline, private Swagger UI.

use crate::support::Server;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const APP: &str = "http://app.example.test";

async fn preflight(server: &Server, path: &str, origin: &str, headers: &str) -> (u16, HeaderMap) {
    let resp = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.headers().clone())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn browsers_on_an_allowed_origin_pass_preflight_before_auth_and_rate_limits() {
    // A per-IP burst of 2: preflights must not spend it, and must not need a token.
    let server = Server::start(&[
        (
            "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
            &format!("[\"{APP}\"]"),
        ),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "2"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_PER_MINUTE", "2"),
    ]);
    let wanted = "authorization,content-type,idempotency-key,last-event-id,x-request-id";
    for path in [
        "/v1/sessions",
        "/v1/threads",
        "/v1/threads/0193a3f0-0000-7000-8000-000000000000/chat",
        "/v1/threads/0193a3f0-0000-7000-8000-000000000000/messages/0193a3f0-0000-7000-8000-000000000001/stream",
    ] {
        let (status, h) = preflight(&server, path, APP, wanted).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some(APP),
            "{path}"
        );
        let allowed = header(&h, "access-control-allow-headers")
            .unwrap()
            .to_lowercase();
        for name in wanted.split(',') {
            assert!(allowed.contains(name), "{path}: {name} not in {allowed}");
        }
        assert!(
            header(&h, "access-control-allow-methods")
                .unwrap()
                .contains("POST")
        );
    }
    // The real request from the allowed origin: CORS headers, and the exposed ones listed.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/sessions", server.base))
        .header("origin", APP)
        .json(&json!({"external_user_id": "visitor-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let h = resp.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(APP));
    let exposed = header(h, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for name in [
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }

    // Another origin: answered, but without a single Access-Control header, so the browser
    // refuses. Requests without Origin (servers, SDKs) are untouched.
    let (status, h) = preflight(&server, "/v1/sessions", "https://evil.example", wanted).await;
    assert_eq!(status, 403);
    assert!(
        h.keys().all(|k| !k.as_str().starts_with("access-control-")),
        "{h:?}"
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn by_default_no_other_origin_is_allowed() {
    let server = Server::start(&[]);
    let resp = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/sessions", server.base),
        )
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "origin_not_allowed");
    // A page served by the API's own origin (Swagger UI) is same-origin: not affected.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/sessions", server.base))
        .header("origin", server.base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn websocket_upgrades_check_the_origin_against_the_same_list() {
    let server = Server::start(&[(
        "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
        &format!("[\"{APP}\"]"),
    )]);
    let url = format!("{}/v1/ws", server.base.replace("http://", "ws://"));
    let own = server.base.clone();
    for (origin, allowed) in [
        (Some(APP), true),
        (Some(own.as_str()), true),
        (None, true),
        (Some("https://evil.example"), false),
    ] {
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(o) = origin {
            request.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => assert!(allowed, "{origin:?} should be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(!allowed, "{origin:?} should be allowed");
                assert_eq!(resp.status().as_u16(), 403);
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"]["code"], "origin_not_allowed");
            }
            Err(e) => panic!("{origin:?}: {e}"),
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_offline_and_private() {
    let server = Server::start(&[]);
    let get = |path: String| async move {
        let resp = reqwest::get(path).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let (status, init) = get(format!("{}/docs/swagger-initializer.js", server.base)).await;
    assert_eq!(status, 200);
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    let (status, index) = get(format!("{}/docs/", server.base)).await;
    assert_eq!(status, 200);
    for page in [&index, &init] {
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no outside address: {page}"
        );
    }
    // Every asset the page loads is served by the binary itself.
    let assets: Vec<&str> = index
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png"))
        .collect();
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in assets {
        let name = asset.trim_start_matches("./");
        let (status, _) = get(format!("{}/docs/{name}", server.base)).await;
        assert_eq!(status, 200, "{asset}");
    }
}
