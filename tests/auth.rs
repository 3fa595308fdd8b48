//! Authentication over HTTP: token rejections, built-in accounts, anonymous sessions, the
//! generated secret shared through the database, and rate limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{Server, backend_env};

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn every_token_rejection_is_a_401_with_its_own_code() {
    let server = Server::start(&[
        ("CHAT_THREADS__AUTH__HS256_SECRET", SECRET),
        (
            "CHAT_THREADS__AUTH__PROVIDER__ISSUER",
            "https://idp.example",
        ),
        ("CHAT_THREADS__AUTH__PROVIDER__AUDIENCE", "chat-api"),
    ]);
    let good = json!({"iss": "https://idp.example", "aud": "chat-api", "sub": "alice", "exp": now() + 600});
    let (status, _, me) = server
        .call("GET", "/v1/whoami", Some(&sign(&good)), None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["owner"], "user:alice");

    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        sign(&c)
    };
    let good_token = sign(&good);
    let (unsigned_body, _) = good_token.rsplit_once('.').unwrap();
    let cases = [
        ("garbled", "garbage".to_string(), "token_malformed"),
        (
            "bad signature",
            format!("{unsigned_body}.{}", "A".repeat(43)),
            "token_signature_invalid",
        ),
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good)),
            "token_unsigned",
        ),
        (
            "HS512 instead of the configured HS256",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS512),
                &good,
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
            "token_algorithm_not_allowed",
        ),
        ("expired", with("exp", json!(now() - 600)), "token_expired"),
        (
            "not yet valid",
            with("nbf", json!(now() + 600)),
            "token_not_yet_valid",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://evil.example")),
            "token_issuer_invalid",
        ),
        (
            "wrong audience",
            with("aud", json!("someone-else")),
            "token_audience_invalid",
        ),
    ];
    for (name, token, code) in cases {
        let (status, headers, body) = server.call("GET", "/v1/threads", Some(&token), None).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    let (status, _, body) = server.call("GET", "/v1/threads", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("token_missing"))
    );

    // An anonymous session token that has expired stops working.
    let stale = sign(
        &json!({"iss": "chat-threads", "aud": "chat-threads", "sub": "s1", "kind": "anon", "exp": now() - 600}),
    );
    let (status, _, body) = server.call("GET", "/v1/threads", Some(&stale), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("token_expired"))
    );
}

async fn accounts(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let creds = json!({"email": "Ann@Example.com", "password": "correct horse battery"});
    let (status, _, _) = server
        .call("POST", "/v1/auth/register", None, Some(&creds))
        .await;
    assert_eq!(status, 202);
    // Registering a taken e-mail looks exactly the same: no enumeration.
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(&json!({"email": "ann@example.com", "password": "another long password"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(&json!({"email": "x@y.io", "password": "short"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );

    let (status, _, pair) = server
        .call("POST", "/v1/auth/login", None, Some(&creds))
        .await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["access_token"].as_str().unwrap();
    let (status, _, me) = server.call("GET", "/v1/whoami", Some(access), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "ann@example.com");

    let (s1, _, wrong_pw) = server
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": "ann@example.com", "password": "not the password"})),
        )
        .await;
    let (s2, _, no_user) = server
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@example.com", "password": "not the password"})),
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(
        wrong_pw, no_user,
        "a wrong password and an unknown e-mail answer alike"
    );
    assert_eq!(wrong_pw["error"]["code"], "invalid_credentials");

    // Refresh tokens rotate; reusing a spent one revokes the whole login.
    let first = pair["refresh_token"].as_str().unwrap().to_owned();
    let (status, _, second) = server
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": first})),
        )
        .await;
    assert_eq!(status, 200);
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": first})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_refresh_token"))
    );
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": second_refresh})),
        )
        .await;
    assert_eq!(status, 401, "reuse of a spent token revoked its successors");

    // Logout revokes.
    let (_, _, pair) = server
        .call("POST", "/v1/auth/login", None, Some(&creds))
        .await;
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/auth/logout",
            None,
            Some(&json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn built_in_accounts_on_sqlite() {
    accounts(false).await;
}

#[tokio::test]
async fn built_in_accounts_on_postgres() {
    accounts(true).await;
}

#[tokio::test]
async fn anonymous_sessions_reach_only_their_own_threads() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let (status, _, s1) = server
        .call("POST", "/v1/sessions", None, Some(&json!({"session_id": "landing-42", "external_user_id": "visitor-7", "metadata": {"page": "/pricing"}, "ttl_seconds": 3600})))
        .await;
    assert_eq!(status, 201, "{s1}");
    assert_eq!(s1["session_id"], "landing-42");
    let t1 = s1["token"].as_str().unwrap().to_owned();
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"session_id": "landing-42"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "a taken session id is not handed out twice"
    );
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"ttl_seconds": 5})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, s2) = server.call("POST", "/v1/sessions", None, None).await;
    assert_eq!(status, 201);
    let t2 = s2["token"].as_str().unwrap().to_owned();

    let (_, _, thread) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&t1),
            Some(&json!({"title": "widget chat"})),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    assert_eq!(thread["owner"], "anon:landing-42");
    let (status, _, list) = server.call("GET", "/v1/threads", Some(&t1), None).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 1));
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&t2), None).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    let (status, _, _) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&t2), None)
        .await;
    assert_eq!(status, 404);
    let (_, _, me) = server.call("GET", "/v1/whoami", Some(&t1), None).await;
    assert_eq!(me["kind"], "anonymous");
}

#[tokio::test]
async fn features_can_be_switched_off() {
    let server = Server::start(&[
        ("CHAT_THREADS__AUTH__ACCOUNTS__ENABLED", "false"),
        ("CHAT_THREADS__AUTH__SESSIONS__ENABLED", "false"),
    ]);
    let creds = json!({"email": "a@b.io", "password": "correct horse battery"});
    let (status, _, body) = server
        .call("POST", "/v1/auth/register", None, Some(&creds))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _, _) = server
        .call("POST", "/v1/auth/login", None, Some(&creds))
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = server.call("POST", "/v1/sessions", None, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_generated_secret_is_shared_through_the_database() {
    let server = Server::start(&[]);
    // `chat-threads token` runs as a separate process on the same database file.
    let token = server.token(&["--sub", "dev", "--ttl", "10m"]);
    let (status, _, me) = server.call("GET", "/v1/whoami", Some(&token), None).await;
    assert_eq!((status, me["owner"].as_str()), (200, Some("user:dev")));
    // Another database has another secret.
    let other = Server::start(&[]);
    let (status, _, body) = other.call("GET", "/v1/whoami", Some(&token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("token_signature_invalid"))
    );
    // No secret in the shipped configuration.
    let defaults = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/default.toml"
    ))
    .unwrap();
    assert!(
        !defaults
            .lines()
            .any(|l| l.trim_start().starts_with("hs256_secret")),
        "no secret in default.toml"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_BURST", "3"),
        ("CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_PER_MINUTE", "6"),
    ]);
    let token = server.token(&["--sub", "busy"]);
    for _ in 0..3 {
        let (status, headers, _) = server.call("GET", "/v1/threads", Some(&token), None).await;
        assert_eq!(status, 200);
        assert!(headers.contains_key("x-ratelimit-remaining"));
    }
    let (status, headers, body) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(headers["x-ratelimit-limit"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // Another principal is not affected.
    let other = server.token(&["--sub", "calm"]);
    let (status, _, _) = server.call("GET", "/v1/threads", Some(&other), None).await;
    assert_eq!(status, 200);

    let ip_limited = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "2"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_PER_MINUTE", "1"),
    ]);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(ip_limited.call("POST", "/v1/sessions", None, None).await.0);
    }
    assert_eq!(
        statuses,
        vec![201, 201, 429],
        "per-IP limits cover unauthenticated routes too"
    );
    let (status, _, _) = ip_limited.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "probes are never limited");
}

/// Logs in with a wrong password for `email`: (status, error code).
async fn wrong_login(base: String, email: String) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "not the right one"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

#[tokio::test]
async fn password_checks_run_off_the_request_threads_and_never_pile_up() {
    // One HTTP worker: if hashing ran on it, nothing else could be answered meanwhile.
    let server = Server::start(&[
        ("CHAT_THREADS__SERVER__WORKERS", "1"),
        ("CHAT_THREADS__AUTH__ACCOUNTS__HASH_CONCURRENCY", "1"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "1000"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "5"),
    ]);
    let token = server.token(&["--sub", "bystander"]);
    let (_, _, t) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&serde_json::json!({})),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let logins: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(wrong_login(
                server.base.clone(),
                format!("guess{i}@example.com"),
            ))
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Meanwhile the same worker answers health checks and streams a reply to the end.
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/threads/{tid}/chat", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"content": "one two three four", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reply.contains("event: message.completed"), "{reply}");
    for login in logins {
        let (status, code) = login.await.unwrap();
        assert_eq!((status, code.as_str()), (401, "invalid_credentials"));
    }
    // That the hashes run off the worker thread is shown by the hasher's own unit test
    // (`hashing_never_runs_on_the_calling_thread`); latency itself is not asserted here (no
    // timing thresholds in tests).
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_and_one_account_is_rate_limited() {
    let server = Server::start(&[
        ("CHAT_THREADS__AUTH__ACCOUNTS__HASH_CONCURRENCY", "1"),
        ("CHAT_THREADS__AUTH__ACCOUNTS__HASH_QUEUE", "2"),
        ("CHAT_THREADS__RATE_LIMIT__PER_IP_BURST", "1000"),
    ]);
    let logins: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(wrong_login(
                server.base.clone(),
                format!("flood{i}@example.com"),
            ))
        })
        .collect();
    let mut overloaded = 0;
    for login in logins {
        let (status, code) = login.await.unwrap();
        match (status, code.as_str()) {
            (401, "invalid_credentials") => {}
            (503, "overloaded") => overloaded += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(overloaded > 0, "a full queue refuses instead of piling up");

    // Guessing one account's password: 10 attempts a minute, whatever the address.
    let mut codes = Vec::new();
    for _ in 0..11 {
        let (status, code) = wrong_login(server.base.clone(), "Target@Example.com".into()).await;
        codes.push((status, code));
    }
    assert!(codes[..10].iter().all(|(s, _)| *s == 401), "{codes:?}");
    assert_eq!(codes[10], (429, "rate_limited".to_owned()));
}
