//! Members with roles through the binary, on SQLite and on two PostgreSQL instances: editors
//! write and chat (authored, named to the model), viewers read and follow, removal ends access
//! and live subscriptions at once on every instance, `shared=with_me` lists what others shared;
//! and the authorization matrix: owner, editor, viewer, another member of the org, the org's
//! admin, a stranger and an anonymous session against every thread operation of the OpenAPI
//! document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use crate::isolation::{body_for, operations};
use crate::support::fake_openai::FakeModel;
use crate::support::{Server, backend_env};
use crate::websocket::{Client, ok};
use serde_json::{Value, json};

async fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.as_user(token, method, path, body).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn members(postgres: bool) {
    let Some(mut env) = backend_env(postgres).await else {
        return;
    };
    let fake = FakeModel::start();
    env.extend(fake.env());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = Server::start(&env);
    // The second instance: membership changes made on one count on the other at once.
    let b = postgres.then(|| Server::start(&env));
    let other = b.as_ref().unwrap_or(&a);
    let alice = a.token(&["--sub", "alice", "--org", "acme", "--name", "Alice Ames"]);
    let bob = a.token(&["--sub", "bob", "--org", "acme", "--email", "bob@acme.test"]);
    let dan = a.token(&["--sub", "dan", "--org", "acme"]);
    let carol = a.token(&["--sub", "carol", "--org", "acme"]);

    let (_, t) = call(
        &a,
        &alice,
        "POST",
        "/v1/threads",
        json!({"title": "Plans", "model": "fake-ok"}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let msgs = format!("/v1/threads/{tid}/messages");
    let members = format!("/v1/threads/{tid}/members");
    let (status, first) = call(
        &a,
        &alice,
        "POST",
        &msgs,
        json!({"content": "Where do we go?"}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["author"],
        json!({"id": "user:alice", "name": "Alice Ames"})
    );

    // The owner lets bob in as an editor and dan as a viewer; a second add changes the role.
    let (status, m) = call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "user:bob", "role": "viewer"}),
    )
    .await;
    assert_eq!((status, &m["role"]), (201, &json!("viewer")), "{m}");
    let (status, m) = call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "user:bob", "role": "editor"}),
    )
    .await;
    assert_eq!((status, &m["role"]), (200, &json!("editor")), "{m}");
    let (status, _) = call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "user:dan", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, e) = call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "user:alice", "role": "editor"}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (422, &json!("inconsistent_request")),
        "{e}"
    );
    let (status, e) = call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "anon:visitor", "role": "editor"}),
    )
    .await;
    assert!(matches!(status, 400 | 422), "{status} {e}");
    let (status, e) = call(
        other,
        &bob,
        "POST",
        &members,
        json!({"principal": "user:carol", "role": "editor"}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (403, &json!("forbidden")),
        "an editor cannot manage members: {e}"
    );
    let (status, list) = call(other, &dan, "GET", &members, Value::Null).await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["principal"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("user:bob", "editor"), ("user:dan", "viewer")]);

    // Shared with me: bob and dan see alice's thread; carol does not; alice's own list is hers.
    for (who, token, expected) in [
        ("bob", &bob, vec![tid.clone()]),
        ("dan", &dan, vec![tid.clone()]),
        ("carol", &carol, vec![]),
    ] {
        let (status, page) = call(
            other,
            token,
            "GET",
            "/v1/threads?shared=with_me",
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(ids(&page), expected, "{who}");
    }
    let (_, own) = call(&a, &bob, "GET", "/v1/threads", Value::Null).await;
    assert!(
        ids(&own).is_empty(),
        "bob's own list holds only his threads: {own}"
    );

    // Dan follows the thread live on the other instance.
    let mut socket = Client::connect(other, Some(&dan)).await;
    ok(&socket.call("subscribe", json!({"thread_id": tid})).await);

    // The editor chats on the other instance: his message is authored, the reply is the model's,
    // and the model is told who says what (two people wrote the path).
    let (status, chat) = call(
        other,
        &bob,
        "POST",
        &format!("/v1/threads/{tid}/chat"),
        json!({"content": "Lisbon, I say"}),
    )
    .await;
    assert_eq!(status, 201, "{chat}");
    assert_eq!(
        chat["user_message"]["author"],
        json!({"id": "user:bob", "name": "bob@acme.test"})
    );
    assert_eq!(chat["assistant_message"]["author"], Value::Null);
    let reply_id = chat["assistant_message"]["id"].as_str().unwrap().to_owned();
    let events = socket.events_until("message.completed").await;
    assert!(
        events
            .iter()
            .any(|e| e["data"]["message"]["author"]["id"] == "user:bob"),
        "the viewer saw the editor's message live"
    );
    let sent = fake.requests().into_iter().last().unwrap();
    let users: Vec<(&str, &str)> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| {
            (
                m["name"].as_str().unwrap_or(""),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        users,
        [("Alice_Ames", "Where do we go?"), ("bob", "Lisbon, I say")]
    );
    // The reply is stored in alice's thread: she reads it.
    let (status, reply) = call(
        &a,
        &alice,
        "GET",
        &format!("{msgs}/{reply_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("complete")),
        "{reply}"
    );

    // The viewer reads but does not write; the editor edits and branches.
    let (status, path) = call(other, &dan, "GET", &msgs, Value::Null).await;
    assert_eq!(
        (status, path["data"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{path}"
    );
    let (status, e) = call(other, &dan, "POST", &msgs, json!({"content": "me too"})).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (403, &json!("forbidden")),
        "{e}"
    );
    let bob_msg = chat["user_message"]["id"].as_str().unwrap().to_owned();
    let (status, edit) = call(
        &a,
        &bob,
        "POST",
        &format!("{msgs}/{bob_msg}/edits"),
        json!({"content": "Porto, then"}),
    )
    .await;
    assert_eq!(status, 201, "{edit}");
    assert_eq!(edit["author"]["id"], "user:bob");
    let (status, e) = call(
        &a,
        &bob,
        "PATCH",
        &format!("/v1/threads/{tid}"),
        json!({"title": "mine now"}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (403, &json!("forbidden")),
        "thread settings stay the owner's: {e}"
    );
    let (status, e) = call(&a, &carol, "GET", &msgs, Value::Null).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("thread_not_found")),
        "{e}"
    );

    // Lowering bob to viewer counts at once on the other instance.
    call(
        &a,
        &alice,
        "POST",
        &members,
        json!({"principal": "user:bob", "role": "viewer"}),
    )
    .await;
    let (status, _) = call(
        other,
        &bob,
        "POST",
        &msgs,
        json!({"content": "still here?"}),
    )
    .await;
    assert_eq!(status, 403);

    // Removing dan: his live subscription ends (on the instance he is connected to), and his
    // next request finds no thread.
    let (status, _) = call(
        &a,
        &alice,
        "DELETE",
        &format!("{members}/user:dan"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let f = socket.frame().await.expect("socket open");
            if f["type"] == "unsubscribed" {
                return f;
            }
        }
    })
    .await
    .expect("the removed member's subscription ends");
    assert_eq!(ended["reason"], "member_removed");
    let (status, e) = call(other, &dan, "GET", &msgs, Value::Null).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("thread_not_found")),
        "{e}"
    );
    let (status, _) = call(
        &a,
        &alice,
        "DELETE",
        &format!("{members}/user:dan"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "no longer a member");
    // A new message no longer reaches him (he is unsubscribed); subscribing again is refused.
    let again = socket.call("subscribe", json!({"thread_id": tid})).await;
    assert_eq!(again["error"]["code"], "thread_not_found", "{again}");

    // Bob leaves by himself.
    let (status, _) = call(
        other,
        &bob,
        "DELETE",
        &format!("{members}/user:bob"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, page) = call(&a, &bob, "GET", "/v1/threads?shared=with_me", Value::Null).await;
    assert_eq!((status, ids(&page)), (200, Vec::<String>::new()));
    let (_, list) = call(&a, &alice, "GET", &members, Value::Null).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn members_on_sqlite() {
    members(false).await;
}

#[tokio::test]
async fn members_across_instances_on_postgres() {
    members(true).await;
}

/// What an operation needs of the caller's standing in the thread.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    Read,
    Write,
    Own,
}

fn need(method: &str, path: &str) -> Need {
    let own = [
        ("patch", "/v1/threads/{thread_id}"),
        ("delete", "/v1/threads/{thread_id}"),
        ("post", "/v1/threads/{thread_id}/restore"),
        ("post", "/v1/threads/{thread_id}/purge"),
        ("post", "/v1/threads/{thread_id}/fork"),
        ("post", "/v1/threads/{thread_id}/title"),
        ("post", "/v1/threads/{thread_id}/members"),
        ("delete", "/v1/threads/{thread_id}/members/{principal}"),
    ];
    if own.contains(&(method, path)) || path.contains("/shares") {
        Need::Own
    } else if method == "get" {
        Need::Read
    } else {
        Need::Write
    }
}

/// A thread of alice's with a user message and a reply, bob as its editor and dan as its viewer.
async fn fixture(server: &Server, alice: &str) -> (String, String) {
    let (_, t) = call(
        server,
        alice,
        "POST",
        "/v1/threads",
        json!({"title": "matrix"}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (_, u) = call(
        server,
        alice,
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        json!({"content": "hello"}),
    )
    .await;
    call(
        server,
        alice,
        "POST",
        &format!("/v1/threads/{tid}/messages"),
        json!({"role": "assistant", "content": "hi"}),
    )
    .await;
    for (p, role) in [("user:bob", "editor"), ("user:dan", "viewer")] {
        let (status, _) = call(
            server,
            alice,
            "POST",
            &format!("/v1/threads/{tid}/members"),
            json!({"principal": p, "role": role}),
        )
        .await;
        assert_eq!(status, 201);
    }
    (tid, u["id"].as_str().unwrap().to_owned())
}

fn allowed(status: u16, body: &Value) -> bool {
    !matches!(status, 401 | 403) && status < 500 && body["error"]["code"] != "thread_not_found"
}

async fn matrix(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__TITLES__ENABLED", "false"));
    let server = Server::start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let dan = server.token(&["--sub", "dan", "--org", "acme"]);
    let carol = server.token(&["--sub", "carol", "--org", "acme"]);
    let admin = server.token(&["--sub", "erin", "--org", "acme", "--scope", "org:admin"]);
    let stranger = server.token(&["--sub", "sam", "--org", "globex"]);
    let (_, _, session) = server
        .call("POST", "/v1/sessions", None, Some(&json!({})))
        .await;
    let anon = session["token"].as_str().unwrap().to_owned();

    let (_, _, openapi) = server.call("GET", "/openapi.json", None, None).await;
    let mut checked = 0;
    for (method, path, _) in operations(&openapi) {
        if !path.contains("{thread_id}") {
            continue;
        }
        let need = need(&method, &path);
        let (tid, mid) = fixture(&server, &alice).await;
        let url = |tid: &str, mid: &str| {
            path.replace("{thread_id}", tid)
                .replace("{message_id}", mid)
                .replace("{share_id}", "no-such-share")
                .replace("{principal}", "user:dan")
        };
        let body = body_for(&method, &path, &mid);
        let before = call(
            &server,
            &alice,
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree"),
            Value::Null,
        )
        .await
        .1;
        // Those who must find nothing, or be refused, first: the thread stays as it was.
        for (who, token) in [
            ("another member of the org", &carol),
            ("the org's admin", &admin),
            ("a stranger", &stranger),
            ("an anonymous session", &anon),
            ("the viewer", &dan),
        ] {
            let (status, _, answer) = server
                .call(&method, &url(&tid, &mid), Some(token), body.as_ref())
                .await;
            let expected_allowed = match who {
                "the org's admin" => need == Need::Read,
                // A viewer reads, and may leave (remove themselves).
                "the viewer" => {
                    need == Need::Read || (method == "delete" && path.ends_with("{principal}"))
                }
                _ => false,
            };
            assert_eq!(
                allowed(status, &answer),
                expected_allowed,
                "{method} {path} as {who}: {status} {answer}"
            );
            if !expected_allowed {
                let code = answer["error"]["code"].as_str().unwrap_or_default();
                let expected = if who == "the viewer" {
                    (403, "forbidden")
                } else {
                    (404, "thread_not_found")
                };
                assert_eq!(
                    (status, code),
                    expected,
                    "{method} {path} as {who}: {answer}"
                );
            }
        }
        let after = call(
            &server,
            &alice,
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree"),
            Value::Null,
        )
        .await
        .1;
        if !(method == "delete" && path.ends_with("{principal}")) {
            assert_eq!(
                before, after,
                "{method} {path}: nothing changed by those refused"
            );
        }
        // The editor: messages yes, the thread's own business no.
        let (tid, mid) = fixture(&server, &alice).await;
        let (status, _, answer) = server
            .call(&method, &url(&tid, &mid), Some(&bob), body.as_ref())
            .await;
        assert_eq!(
            allowed(status, &answer),
            need != Need::Own,
            "{method} {path} as the editor: {status} {answer}"
        );
        if need == Need::Own {
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{method} {path} as the editor"
            );
        }
        // The owner: everything.
        let (tid, mid) = fixture(&server, &alice).await;
        if path == "/v1/threads/{thread_id}/restore" {
            call(
                &server,
                &alice,
                "DELETE",
                &format!("/v1/threads/{tid}"),
                Value::Null,
            )
            .await;
        }
        let (status, _, answer) = server
            .call(&method, &url(&tid, &mid), Some(&alice), body.as_ref())
            .await;
        assert!(
            allowed(status, &answer),
            "{method} {path} as the owner: {status} {answer}"
        );
        checked += 1;
    }
    assert!(
        checked >= 37,
        "every thread operation was checked ({checked})"
    );
}

#[tokio::test]
async fn authorization_matrix_on_sqlite() {
    matrix(false).await;
}

#[tokio::test]
async fn authorization_matrix_on_postgres() {
    matrix(true).await;
}
