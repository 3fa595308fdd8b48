//! Authentication over HTTP: token rejections, built-in accounts, anonymous sessions, the
//! generated secret shared through the database, and rate limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

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

/// Sessions managed by their organization: opened by a widget (filed under
/// `auth.sessions.org`) or by the org's backend, read by themselves, listed with filters, read
/// and deleted by the org's service principals and admins; a deleted or ended session's token
/// is refused at once — on PostgreSQL also by a second instance.
async fn sessions_managed(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__AUTH__SESSIONS__ORG", "acme"));
    let server = Server::start(&env);
    let other = postgres.then(|| Server::start(&env));
    let service = server.token(&["--sub", "widget-backend", "--org", "acme", "--service"]);
    let admin = server.token(&["--sub", "boss", "--org", "acme", "--scope", "org:admin"]);
    let member = server.token(&["--sub", "ann", "--org", "acme"]);
    let outsider = server.token(&["--sub", "spy", "--org", "globex", "--service"]);

    // A widget opens one with an absolute expiry; the org's backend opens another.
    let at = (chrono::Utc::now() + chrono::TimeDelta::hours(2)).timestamp();
    let expires_at = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339();
    let (status, _, widget) = server
        .call(
            "POST",
            "/v1/sessions",
            None,
            Some(
                &json!({"session_id": "visit-1", "external_user_id": "Visitor_7",
                         "metadata": {"page": "/pricing"}, "expires_at": expires_at}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{widget}");
    assert_eq!(widget["org_id"], "acme");
    assert_eq!(widget["is_active"], true);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(widget["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        at
    );
    let visitor = widget["token"].as_str().unwrap().to_owned();
    let (status, _, backend) = server
        .call(
            "POST",
            "/v1/sessions",
            Some(&service),
            Some(&json!({"session_id": "visit-2", "external_user_id": "bob", "ttl_seconds": 600})),
        )
        .await;
    assert_eq!(status, 201, "{backend}");
    let bob = backend["token"].as_str().unwrap().to_owned();
    for (body, status_code, field) in [
        (
            json!({"ttl_seconds": 600, "expires_at": expires_at}),
            400,
            "expires_at",
        ),
        (
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
            422,
            "expires_at",
        ),
        (
            json!({"expires_at": "2099-01-01T00:00:00Z"}),
            422,
            "expires_at",
        ),
        (json!({"session_id": "current"}), 400, "session_id"),
    ] {
        let (status, _, err) = server.call("POST", "/v1/sessions", None, Some(&body)).await;
        assert_eq!(status, status_code, "{body}: {err}");
        assert_eq!(err["error"]["details"]["field"], field, "{body}");
    }
    // A member without the admin scope cannot open org sessions; a bad token is not ignored.
    let (status, _, _) = server
        .call("POST", "/v1/sessions", Some(&member), None)
        .await;
    assert_eq!(status, 403);
    let (status, _, err) = server
        .call("POST", "/v1/sessions", Some("not-a-token"), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_malformed"))
    );

    // A session reads itself, with what it was opened with.
    let (status, _, me) = server
        .call("GET", "/v1/sessions/current", Some(&visitor), None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (
            &me["session_id"],
            &me["external_user_id"],
            &me["metadata"]["page"],
            &me["is_active"]
        ),
        (
            &json!("visit-1"),
            &json!("Visitor_7"),
            &json!("/pricing"),
            &json!(true)
        )
    );
    assert!(me.get("token").is_none());
    let (status, _, err) = server
        .call("GET", "/v1/sessions/current", Some(&member), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    // Its threads are filed under the org: the admin reads them.
    let (_, _, thread) = server
        .call(
            "POST",
            "/v1/threads",
            Some(&visitor),
            Some(&json!({"title": "widget chat"})),
        )
        .await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    assert_eq!(thread["org_id"], "acme");
    server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(&visitor),
            Some(&json!({"content": "hello"})),
        )
        .await;
    let (status, _, _) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&admin), None)
        .await;
    assert_eq!(status, 200);

    // Listing: the org's managers only, with filters and the envelope.
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["session_id"].as_str().unwrap().to_owned())
            .collect()
    };
    for token in [&service, &admin] {
        let (status, _, page) = server.call("GET", "/v1/sessions", Some(token), None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(ids(&page), ["visit-2", "visit-1"]);
        assert_eq!(page["has_more"], false);
    }
    for (query, expected) in [
        ("?is_active=true", vec!["visit-2", "visit-1"]),
        ("?is_active=false", vec![]),
        ("?external_user_id=bob", vec!["visit-2"]),
        ("?search=visitor", vec!["visit-1"]),
        ("?search=VISIT-", vec!["visit-2", "visit-1"]),
    ] {
        let (status, _, page) = server
            .call("GET", &format!("/v1/sessions{query}"), Some(&service), None)
            .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    let (_, _, first) = server
        .call("GET", "/v1/sessions?limit=1", Some(&service), None)
        .await;
    assert_eq!(
        (ids(&first), &first["has_more"]),
        (vec!["visit-2".to_owned()], &json!(true))
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, _, second) = server
        .call(
            "GET",
            &format!("/v1/sessions?limit=1&cursor={cursor}"),
            Some(&service),
            None,
        )
        .await;
    assert_eq!(ids(&second), ["visit-1"]);
    for token in [&member, &visitor] {
        let (status, _, page) = server.call("GET", "/v1/sessions", Some(token), None).await;
        assert_eq!(status, 403, "{page}");
    }
    // Another org's service principal sees its own org's sessions: none of these.
    let (status, _, page) = server
        .call("GET", "/v1/sessions", Some(&outsider), None)
        .await;
    assert_eq!((status, ids(&page).len()), (200, 0));
    let (status, _, err) = server
        .call("GET", "/v1/sessions/visit-1", Some(&outsider), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    let (status, _, one) = server
        .call("GET", "/v1/sessions/visit-1", Some(&admin), None)
        .await;
    assert_eq!(
        (status, &one["external_user_id"]),
        (200, &json!("Visitor_7"))
    );

    // Deleting one revokes its token at once (also on another instance) and takes its
    // threads and messages.
    let (status, _, _) = server
        .call("DELETE", "/v1/sessions/visit-1", Some(&outsider), None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call("DELETE", "/v1/sessions/visit-1", Some(&service), None)
        .await;
    assert_eq!(status, 204);
    for instance in std::iter::once(&server).chain(other.as_ref()) {
        let (status, _, err) = instance
            .call("GET", "/v1/threads", Some(&visitor), None)
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("token_revoked"))
        );
    }
    let (status, _, _) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&admin), None)
        .await;
    assert_eq!(status, 404, "the session's thread went with it");
    let (status, _, _) = server
        .call("GET", "/v1/sessions/visit-1", Some(&admin), None)
        .await;
    assert_eq!(status, 404);

    // A session ends itself.
    let (status, _, _) = server
        .call("DELETE", "/v1/sessions/current", Some(&bob), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, err) = server
        .call("GET", "/v1/sessions/current", Some(&bob), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );
    let (_, _, page) = server
        .call("GET", "/v1/sessions", Some(&service), None)
        .await;
    assert!(ids(&page).is_empty());
}

#[tokio::test]
async fn sessions_are_managed_by_their_organization_on_sqlite() {
    sessions_managed(false).await;
}

#[tokio::test]
async fn sessions_are_managed_by_their_organization_on_postgres() {
    sessions_managed(true).await;
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
