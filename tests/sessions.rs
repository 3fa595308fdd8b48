//! Revocation by identity: a token is bound to the one anonymous session it was issued for, so
//! ending a session revokes its tokens for good — a session opened later under the same id
//! (for someone else, in another organization, on another instance) never brings them back.

use serde_json::json;

use crate::support::{Server, backend_env};

async fn old_tokens_stay_revoked(postgres: bool) {
    let Some(mut env) = backend_env(postgres).await else {
        return;
    };
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED".into(), "false".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = Server::start(&pairs);
    // On PostgreSQL a second instance shares the database; SQLite is one instance.
    let b = postgres.then(|| Server::start(&pairs));
    let b = b.as_ref().unwrap_or(&a);

    // A widget visitor's session, opened and ended.
    let (status, _, first) = a
        .call(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"session_id": "visitor-77"})),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let old = first["token"].as_str().unwrap().to_owned();
    let (status, _, _) = a
        .call("DELETE", "/v1/sessions/current", Some(&old), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, err) = a.call("GET", "/v1/threads", Some(&old), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );

    // Later the org's backend opens a session with the same id for someone else, on the other
    // instance, who writes a private thread.
    let backend = b.token(&["--sub", "widget-backend", "--org", "acme", "--service"]);
    let (status, _, second) = b
        .call(
            "POST",
            "/v1/sessions",
            Some(&backend),
            Some(&json!({"session_id": "visitor-77"})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let new = second["token"].as_str().unwrap().to_owned();
    let (status, _, thread) = b
        .call(
            "POST",
            "/v1/threads",
            Some(&new),
            Some(&json!({"title": "card 4111"})),
        )
        .await;
    assert_eq!(status, 201, "{thread}");
    let tid = thread["id"].as_str().unwrap();

    // The old token reads nothing of it, on either instance, through any door.
    for server in [&a, b] {
        for path in [
            "/v1/threads".to_owned(),
            format!("/v1/threads/{tid}"),
            format!("/v1/threads/{tid}/messages"),
            "/v1/sessions/current".to_owned(),
        ] {
            let (status, _, body) = server.call("GET", &path, Some(&old), None).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (401, Some("token_revoked")),
                "{path}: {body}"
            );
        }
        let (status, _, _) = server
            .call("POST", "/v1/threads", Some(&old), Some(&json!({})))
            .await;
        assert_eq!(status, 401);
    }
    // The new token works.
    let (status, _, list) = a.call("GET", "/v1/threads", Some(&new), None).await;
    assert_eq!(
        (status, list["data"][0]["title"].as_str()),
        (200, Some("card 4111"))
    );
}

#[tokio::test]
async fn an_ended_sessions_token_stays_revoked_when_its_id_is_reused_on_sqlite() {
    old_tokens_stay_revoked(false).await;
}

#[tokio::test]
async fn an_ended_sessions_token_stays_revoked_when_its_id_is_reused_on_postgres() {
    old_tokens_stay_revoked(true).await;
}
