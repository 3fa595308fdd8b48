//! Operations over one socket: every op, the same refusals as REST, edits in place and single deletes.

use crate::support::Server;
use serde_json::{Value, json};

use super::{Client, ok};

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

#[tokio::test]
async fn arguments_are_checked_as_rest_checks_them_and_every_chat_ui_op_exists() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", "strict", "--email", "s@example.com"]);
    let mut c = Client::connect(&server, Some(&token)).await;
    assert_eq!(c.frame().await.unwrap()["type"], "ready");
    // whoami answers what REST answers.
    let (_, _, rest) = server.call("GET", "/v1/whoami", Some(&token), None).await;
    assert_eq!(ok(&c.call("whoami", json!({})).await), &rest);
    let t = ok(&c.call("threads.create", json!({"title": "strict"})).await).clone();
    let tid = t["id"].as_str().unwrap().to_owned();
    // Unknown, mistyped and missing arguments, and unknown ops: validation_failed naming them.
    for (op, args, field) in [
        (
            "messages.send",
            json!({"thread_id": tid, "content": "hi", "session_prompt": "x"}),
            "session_prompt",
        ),
        (
            "messages.list",
            json!({"thread_id": tid, "rol": "user"}),
            "rol",
        ),
        (
            "messages.list",
            json!({"thread_id": tid, "limit": "ten"}),
            "limit",
        ),
        ("threads.create", json!({"title": 5}), "title"),
        ("threads.update", json!({"title": "x"}), "thread_id"),
        (
            "threads.get",
            json!({"thread_id": "not-a-uuid"}),
            "thread_id",
        ),
        ("ping", json!({"extra": true}), "extra"),
        ("threads.explode", json!({}), "op"),
    ] {
        let r = c.call(op, args.clone()).await;
        assert_eq!(r["ok"], false, "{op} {args}: {r}");
        assert_eq!(r["error"]["code"], "validation_failed", "{op} {args}: {r}");
        assert_eq!(r["error"]["details"]["field"], field, "{op} {args}: {r}");
    }
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
        "nothing stored: {tree}"
    );
    // The ops a chat UI needs, with the REST arguments.
    let updated = ok(&c
        .call(
            "threads.update",
            json!({"thread_id": tid, "title": "renamed", "metadata": {"k": 1}}),
        )
        .await)
    .clone();
    assert_eq!(
        (updated["title"].clone(), updated["metadata"]["k"].clone()),
        (json!("renamed"), json!(1))
    );
    assert_eq!(
        ok(&c.call("threads.get", json!({"thread_id": tid})).await)["title"],
        "renamed"
    );
    let sent = ok(&c
        .call(
            "messages.send",
            json!({"thread_id": tid, "content": "first"}),
        )
        .await)
    .clone();
    let events = c.events_until("message.completed").await;
    assert!(
        events.iter().all(|e| e["data"]["type"] == e["event"]),
        "{events:?}"
    );
    let reply = sent["assistant_message_id"].as_str().unwrap().to_owned();
    let user = sent["user_message_id"].as_str().unwrap().to_owned();
    let only_users = ok(&c
        .call("messages.list", json!({"thread_id": tid, "role": "user"}))
        .await)
    .clone();
    assert_eq!(
        only_users["data"].as_array().unwrap().len(),
        1,
        "{only_users}"
    );
    let m = ok(&c
        .call(
            "messages.feedback",
            json!({"thread_id": tid, "message_id": reply, "rating": "up"}),
        )
        .await)
    .clone();
    assert_eq!(m["feedback"]["rating"], "up");
    let resent = ok(&c
        .call(
            "messages.resend",
            json!({"thread_id": tid, "message_id": user, "content": "second"}),
        )
        .await)
    .clone();
    c.events_until("message.completed").await;
    let branches = ok(&c.call("branches.list", json!({"thread_id": tid})).await).clone();
    assert_eq!(branches["data"].as_array().unwrap().len(), 2, "{branches}");
    ok(&c
        .call(
            "branches.switch",
            json!({"thread_id": tid, "message_id": reply}),
        )
        .await);
    let path = ok(&c.call("messages.list", json!({"thread_id": tid})).await).clone();
    let texts: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "Echo: first"]);
    assert_ne!(resent["assistant_message_id"], json!(reply));
    let hits = ok(&c.call("search", json!({"q": "second"})).await).clone();
    assert!(!hits["data"].as_array().unwrap().is_empty(), "{hits}");
    let forked = ok(&c
        .call(
            "threads.fork",
            json!({"thread_id": tid, "message_id": reply, "title": "fork"}),
        )
        .await)
    .clone();
    assert_eq!(forked["title"], "fork");
    ok(&c.call("threads.delete", json!({"thread_id": tid})).await);
    assert_eq!(
        ok(&c.call("threads.restore", json!({"thread_id": tid})).await)["id"],
        json!(tid)
    );
}
