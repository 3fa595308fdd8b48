//! The REST API end to end, on SQLite and PostgreSQL: a tour that touches every documented
//! operation, every error case, and paging that neither skips nor repeats while threads are
//! being created.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::support::{Server, backend_env, pg_admin_url};
use serde_json::{Value, json};

/// Records which documented operations a test touched.
struct Tour<'a> {
    server: &'a Server,
    token: String,
    touched: Mutex<BTreeSet<(String, String)>>,
}

fn template_of(path: &str, templates: &[String]) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    templates
        .iter()
        .find(|t| {
            let a: Vec<&str> = t.split('/').collect();
            let b: Vec<&str> = path.split('/').collect();
            a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.starts_with('{') || x == y)
        })
        .cloned()
}

impl Tour<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    /// A call with another token (an anonymous session's), counted in the tour.
    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, json) = self
            .server
            .call(method, path, Some(token), body.as_ref())
            .await;
        self.touched
            .lock()
            .unwrap()
            .insert((method.to_lowercase(), path.to_owned()));
        (status, json)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>, expected: u16) -> Value {
        let (status, json) = self.call(method, path, body).await;
        assert_eq!(status, expected, "{method} {path}: {json}");
        json
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: String,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        self.touched
            .lock()
            .unwrap()
            .insert((method.to_lowercase(), path.to_owned()));
        let resp = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.server.base),
            )
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.text().await.unwrap(), headers)
    }
}

async fn tour(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    env.push(("CHAT_THREADS__BILLING__ENABLED", "true"));
    let server = Server::start(&env);
    let t = Tour {
        // An org admin: it also manages the org's anonymous sessions.
        token: server.token(&["--sub", "tourist", "--org", "acme", "--scope", "org:admin"]),
        server: &server,
        touched: Mutex::default(),
    };

    // Accounts and sessions (public).
    let creds = json!({"email": "t@example.com", "password": "correct horse battery"});
    t.ok("POST", "/v1/auth/register", Some(creds.clone()), 202)
        .await;
    let pair = t.ok("POST", "/v1/auth/login", Some(creds), 200).await;
    let pair = t
        .ok(
            "POST",
            "/v1/auth/refresh",
            Some(json!({"refresh_token": pair["refresh_token"]})),
            200,
        )
        .await;
    t.ok(
        "POST",
        "/v1/auth/logout",
        Some(json!({"refresh_token": pair["refresh_token"]})),
        204,
    )
    .await;
    // Sessions: opened by the org admin (so they belong to acme), listed, read, deleted; a
    // session reads and ends itself.
    let session = t
        .ok(
            "POST",
            "/v1/sessions",
            Some(json!({"ttl_seconds": 600, "external_user_id": "visitor-1"})),
            201,
        )
        .await;
    let sid = session["session_id"].as_str().unwrap().to_owned();
    let page = t
        .ok(
            "GET",
            "/v1/sessions?is_active=true&search=visitor",
            None,
            200,
        )
        .await;
    assert_eq!(page["data"][0]["session_id"], sid.as_str());
    t.ok("GET", &format!("/v1/sessions/{sid}"), None, 200).await;
    let session_token = session["token"].as_str().unwrap().to_owned();
    let (status, me) = t
        .call_as(&session_token, "GET", "/v1/sessions/current", None)
        .await;
    assert_eq!((status, &me["session_id"]), (200, &json!(sid)));
    t.ok("DELETE", &format!("/v1/sessions/{sid}"), None, 204)
        .await;
    let ending = t.ok("POST", "/v1/sessions", None, 201).await;
    let (status, _) = t
        .call_as(
            ending["token"].as_str().unwrap(),
            "DELETE",
            "/v1/sessions/current",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        t.ok("GET", "/v1/whoami", None, 200).await["owner"],
        "user:tourist"
    );

    // Threads.
    let body = json!({"title": "Trip", "product": "co_pilot", "document_id": "doc-1", "external_id": "crm-1",
                      "metadata": {"source": "web"}, "system_prompt": "Be brief.", "model": "echo",
                      "expires_at": "2099-01-01T00:00:00Z"});
    let thread = t.ok("POST", "/v1/threads", Some(body.clone()), 201).await;
    let tid = thread["id"].as_str().unwrap().to_owned();
    assert_eq!(thread["org_id"], "acme");
    let again = t.ok("POST", "/v1/threads", Some(body), 200).await;
    assert_eq!(
        again["id"], thread["id"],
        "an existing external id returns the existing thread"
    );
    let page = t.ok("GET", "/v1/threads?product=co_pilot&document_id=doc-1&external_id=crm-1&status=active&org_id=acme&q=trip&limit=5", None, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    t.ok("GET", &format!("/v1/threads/{tid}"), None, 200).await;
    let patched = t
        .ok(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(json!({"title": "Lisbon trip", "system_prompt": null})),
            200,
        )
        .await;
    assert_eq!(
        (
            patched["title"].as_str(),
            patched["system_prompt"].is_null()
        ),
        (Some("Lisbon trip"), true)
    );

    // Messages and branches.
    let m = |content: &str| json!({"content": content});
    let q = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(m("Where should we go?")),
            201,
        )
        .await;
    let qid = q["id"].as_str().unwrap().to_owned();
    let a = t.ok("POST", &format!("/v1/threads/{tid}/messages"), Some(json!({"role": "assistant", "content": "Lisbon!", "metadata": {"sources": ["guide"]}})), 201).await;
    let aid = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["parent_id"], q["id"]);
    let alt = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(json!({"role": "assistant", "content": "Porto!", "parent_id": qid})),
            201,
        )
        .await;
    let edited = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages/{qid}/edits"),
            Some(m("Where in May?")),
            201,
        )
        .await;
    assert!(edited["edited_at"].is_string());
    // Edit in place: same id, version 2, the first text kept as a revision.
    let patched = t
        .ok(
            "PATCH",
            &format!("/v1/threads/{tid}/messages/{qid}"),
            Some(json!({"content": "Where in June?", "display_text": null})),
            200,
        )
        .await;
    assert_eq!(
        (&patched["id"], &patched["version"], &patched["is_edited"]),
        (&json!(qid), &json!(2), &json!(true))
    );
    let revisions = t
        .ok(
            "GET",
            &format!("/v1/threads/{tid}/messages/{qid}/revisions"),
            None,
            200,
        )
        .await;
    assert_eq!(revisions["data"][0]["version"], 1);
    assert_eq!(revisions["data"][0]["content"], "Where should we go?");
    let path = t
        .ok("GET", &format!("/v1/threads/{tid}/messages"), None, 200)
        .await;
    assert_eq!(
        path["data"].as_array().unwrap().len(),
        1,
        "the edit started a new branch"
    );
    let tree = t
        .ok(
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree&limit=2"),
            None,
            200,
        )
        .await;
    assert!(tree["has_more"].as_bool().unwrap());
    let assistants = t
        .ok(
            "GET",
            &format!("/v1/threads/{tid}/messages?view=tree&role=assistant&q=lisbon"),
            None,
            200,
        )
        .await;
    assert_eq!(assistants["data"].as_array().unwrap().len(), 1);
    t.ok(
        "GET",
        &format!("/v1/threads/{tid}/messages/{aid}"),
        None,
        200,
    )
    .await;
    let fb = t
        .ok(
            "PUT",
            &format!("/v1/threads/{tid}/messages/{aid}/feedback"),
            Some(json!({"rating": "up", "text": "great"})),
            200,
        )
        .await;
    assert_eq!(fb["feedback"]["rating"], "up");
    t.ok(
        "DELETE",
        &format!("/v1/threads/{tid}/messages/{aid}/feedback"),
        None,
        200,
    )
    .await;
    let r = t
        .ok(
            "PUT",
            &format!("/v1/threads/{tid}/messages/{aid}/reaction"),
            Some(json!({"emoji": "🎉"})),
            200,
        )
        .await;
    assert_eq!(r["reaction"], "🎉");
    t.ok(
        "DELETE",
        &format!("/v1/threads/{tid}/messages/{aid}/reaction"),
        None,
        200,
    )
    .await;
    let branches = t
        .ok("GET", &format!("/v1/threads/{tid}/branches"), None, 200)
        .await;
    assert_eq!(branches["data"].as_array().unwrap().len(), 3);
    assert_eq!(branches["has_more"], false);
    let switched = t
        .ok(
            "PUT",
            &format!("/v1/threads/{tid}/active-leaf"),
            Some(json!({"message_id": aid})),
            200,
        )
        .await;
    assert_eq!(switched["active_leaf_id"].as_str(), Some(aid.as_str()));
    let fork = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/fork"),
            Some(json!({"message_id": aid, "title": "Plan B"})),
            201,
        )
        .await;
    assert_eq!(
        fork["forked_from"]["message_id"].as_str(),
        Some(aid.as_str())
    );
    let wide = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/fork"),
            Some(json!({"message_id": qid, "mode": "path_and_branches"})),
            201,
        )
        .await;
    assert_eq!(wide["message_count"], 3);
    t.ok(
        "POST",
        &format!("/v1/threads/{tid}/summaries"),
        Some(json!({"covers_message_id": aid, "text": "Lisbon chosen"})),
        201,
    )
    .await;
    assert_eq!(
        t.ok("GET", &format!("/v1/threads/{tid}/summaries"), None, 200)
            .await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let first = t.ok("GET", "/v1/search?q=porto&limit=1", None, 200).await;
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = t
        .ok(
            "GET",
            &format!("/v1/search?q=porto&limit=1&cursor={cursor}"),
            None,
            200,
        )
        .await;
    assert_eq!(second["has_more"], false);
    let hits: Vec<Value> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(hits.len(), 2, "the original and its copy in the wide fork");
    assert_ne!(hits[0]["message_id"], hits[1]["message_id"]);
    let hit = hits.iter().find(|h| h["message_id"] == alt["id"]).unwrap();
    assert_eq!(hit["thread_id"].as_str(), Some(tid.as_str()));
    assert!(hit["snippet"].as_str().unwrap().contains("[Porto]"));

    // Export and import.
    let (status, one, headers) = t
        .raw(
            "GET",
            &format!("/v1/threads/{tid}/export"),
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(one.lines().count(), 1 + 4 + 1);
    let (status, all, _) = t
        .raw("GET", "/v1/export", "application/json", String::new())
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        all.lines()
            .filter(|l| l.contains("\"type\":\"thread\""))
            .count(),
        3
    );
    let (status, imported, _) = t
        .raw(
            "POST",
            "/v1/import",
            "application/x-ndjson",
            one.replace("crm-1", "crm-2"),
        )
        .await;
    assert_eq!(status, 200, "{imported}");
    let imported: Value = serde_json::from_str(&imported).unwrap();
    assert_eq!(imported["results"][0]["result"], "imported");
    let chatgpt = json!([{"title": "From ChatGPT", "conversation_id": "c1", "current_node": "b",
        "mapping": {"a": {"id": "a", "parent": null, "children": ["b"], "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}}},
                    "b": {"id": "b", "parent": "a", "children": [], "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["hello"]}}}}}]);
    let (status, out, _) = t
        .raw(
            "POST",
            "/v1/import/chatgpt",
            "application/json",
            chatgpt.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // Replies (the offline echo model).
    assert_eq!(
        t.ok("GET", "/v1/models", None, 200).await["data"][0]["id"],
        "echo"
    );
    let reply = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(json!({"content": "hi"})),
            201,
        )
        .await;
    assert_eq!(reply["assistant_message"]["content"], "Echo: hi");
    let rid = reply["assistant_message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uid = reply["user_message"]["id"].as_str().unwrap().to_owned();
    t.ok(
        "POST",
        &format!("/v1/threads/{tid}/messages/{rid}/regenerate"),
        Some(json!({})),
        201,
    )
    .await;
    t.ok(
        "POST",
        &format!("/v1/threads/{tid}/messages/{uid}/resend"),
        Some(json!({"content": "hey"})),
        201,
    )
    .await;
    let (status, replay, _) = t
        .raw(
            "GET",
            &format!("/v1/threads/{tid}/messages/{rid}/stream"),
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(status, 200);
    assert!(replay.contains("event: message.completed"));
    let cancelled = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages/{rid}/cancel"),
            None,
            200,
        )
        .await;
    assert_eq!(
        cancelled["status"], "complete",
        "cancelling a finished reply changes nothing"
    );
    assert!(
        t.ok("GET", "/v1/usage", None, 200).await["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    // Balances: a service principal credits, the owner reads the balance and the ledger.
    let service = server.token(&["--sub", "billing", "--org", "acme", "--service"]);
    let (status, credit) = t
        .call_as(
            &service,
            "POST",
            "/v1/balances/user:tourist/credits",
            Some(json!({"amount": 250, "note": "welcome"})),
        )
        .await;
    assert_eq!(status, 201, "{credit}");
    let balance = t.ok("GET", "/v1/balances/me", None, 200).await;
    assert_eq!(
        (balance["balance"].as_i64(), balance["currency"].as_str()),
        (Some(250), Some("USD"))
    );
    let ledger = t.ok("GET", "/v1/balances/me/ledger", None, 200).await;
    assert_eq!(ledger["data"][0]["note"], "welcome");

    // Files: upload (multipart), list, read, download, attach, delete.
    let (status, body, _) = t
        .raw(
            "POST",
            "/v1/files",
            "multipart/form-data; boundary=tour",
            "--tour\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.txt\"\r\n\r\nDay one: Belem\r\n--tour--\r\n".to_owned(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let file: Value = serde_json::from_str(&body).unwrap();
    let fid = file["id"].as_str().unwrap().to_owned();
    assert_eq!(file["content_type"], "text/plain");
    let files = t.ok("GET", "/v1/files", None, 200).await;
    assert_eq!(files["data"][0]["id"], file["id"]);
    assert_eq!(
        t.ok("GET", &format!("/v1/files/{fid}"), None, 200).await,
        file
    );
    let (status, bytes, headers) = t
        .raw(
            "GET",
            &format!("/v1/files/{fid}/content"),
            "text/plain",
            String::new(),
        )
        .await;
    assert_eq!((status, bytes.as_str()), (200, "Day one: Belem"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let attached = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages"),
            Some(json!({"content": "my plan", "attachments": [fid]})),
            201,
        )
        .await;
    assert_eq!(attached["attachments"][0]["name"], "plan.txt");
    t.ok("DELETE", &format!("/v1/files/{fid}"), None, 204).await;

    let presence = t
        .ok("GET", &format!("/v1/threads/{tid}/presence"), None, 200)
        .await;
    assert_eq!(presence["connections"], 0);

    // Deleting.
    let del = t
        .ok(
            "DELETE",
            &format!("/v1/threads/{tid}/messages/{aid}"),
            None,
            200,
        )
        .await;
    assert_eq!(
        del["deleted"], 7,
        "the reply and the exchanges and the message with a file below it"
    );
    t.ok("DELETE", &format!("/v1/threads/{tid}"), None, 200)
        .await;
    t.ok("GET", &format!("/v1/threads/{tid}"), None, 404).await;
    let trash = t.ok("GET", "/v1/threads?deleted=only", None, 200).await;
    assert_eq!(trash["data"][0]["id"].as_str(), Some(tid.as_str()));
    t.ok("POST", &format!("/v1/threads/{tid}/restore"), None, 200)
        .await;
    t.ok("POST", &format!("/v1/threads/{tid}/purge"), None, 204)
        .await;
    t.ok("GET", &format!("/v1/threads/{tid}"), None, 404).await;

    // Swagger UI is served from the binary (no network).
    let docs = reqwest::get(format!("{}/docs/", server.base))
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );

    // Every documented operation was visited.
    let (_, _, openapi) = server.call("GET", "/openapi.json", None, None).await;
    let templates: Vec<String> = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let touched: BTreeSet<(String, String)> = t
        .touched
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(m, p)| template_of(p, &templates).map(|tpl| (m.clone(), tpl)))
        .collect();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                touched.contains(&(method.clone(), path.clone())),
                "the tour skipped {method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn tour_of_every_endpoint_on_sqlite() {
    tour(false).await;
}

#[tokio::test]
async fn tour_of_every_endpoint_on_postgres() {
    tour(true).await;
}

#[tokio::test]
async fn every_client_mistake_is_a_4xx_in_the_error_shape() {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__LIMITS__BODY_BYTES", "4096"),
        ("CHAT_THREADS__LIMITS__CONTENT_BYTES", "1000"),
        ("CHAT_THREADS__LIMITS__METADATA_BYTES", "100"),
        ("CHAT_THREADS__LIMITS__TITLE_CHARS", "20"),
    ]);
    let token = server.token(&["--sub", "mistaken"]);
    let client = reqwest::Client::new();
    let send = |method: &str, path: &str, ct: Option<&str>, body: String| {
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", server.base),
            )
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, headers, body)
        }
    };
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let j = Some("application/json");
    // (method, path, content type, body, expected status, expected code)
    type Case<'a> = (&'a str, String, Option<&'a str>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{not json".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/threads".into(),
            Some("text/plain"),
            "{}".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            format!("{{\"title\":\"{}\"}}", "x".repeat(5000)),
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"titel\":\"typo\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"title\":\"a title that is much too long\"}".into(),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            format!("{{\"metadata\":{{\"k\":\"{}\"}}}}", "v".repeat(200)),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            "/v1/threads".into(),
            j,
            "{\"product\":\"Not A Slug\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            format!("{{\"content\":\"{}\"}}", "c".repeat(2000)),
            422,
            "limit_exceeded",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            "{\"content\":\"x\",\"role\":\"robot\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/threads/{tid}/messages"),
            j,
            format!(
                "{{\"content\":\"x\",\"parent_id\":\"{}\"}}",
                uuid::Uuid::now_v7()
            ),
            422,
            "parent_not_found",
        ),
        (
            "PUT",
            format!(
                "/v1/threads/{tid}/messages/{}/reaction",
                uuid::Uuid::now_v7()
            ),
            j,
            "{\"emoji\":\"👍\"}".into(),
            404,
            "message_not_found",
        ),
        (
            "GET",
            "/v1/threads/not-a-uuid".into(),
            None,
            String::new(),
            400,
            "invalid_path",
        ),
        (
            "GET",
            format!("/v1/threads/{}", uuid::Uuid::now_v7()),
            None,
            String::new(),
            404,
            "thread_not_found",
        ),
        (
            "GET",
            "/v1/threads?limit=0".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/threads?limit=101".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/threads?cursor=garbage".into(),
            None,
            String::new(),
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            "/v1/threads?colour=red".into(),
            None,
            String::new(),
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/threads?deleted=sometimes".into(),
            None,
            String::new(),
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/nothing-here".into(),
            None,
            String::new(),
            404,
            "route_not_found",
        ),
        (
            "PUT",
            "/v1/threads".into(),
            j,
            "{}".into(),
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/v1/import".into(),
            Some("application/x-ndjson"),
            "{\"type\":\"message\"}".into(),
            400,
            "validation_failed",
        ),
        (
            "GET",
            "/v1/search?q=".into(),
            None,
            String::new(),
            400,
            "validation_failed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let (got, headers, err) = send(method, &path, ct, body).await;
        assert_eq!(got, status, "{method} {path}: {err}");
        assert_eq!(err["error"]["code"], code, "{method} {path}");
        assert!(err["error"]["message"].is_string(), "{method} {path}");
        if status == 405 {
            assert!(headers["allow"].to_str().unwrap().contains("POST"));
        }
    }
    let (_, _, err) = send(
        "POST",
        "/v1/threads",
        j,
        "{\"title\":\"a title that is much too long\"}".into(),
    )
    .await;
    assert_eq!(
        err["error"]["details"],
        json!({"field": "title", "limit": 20, "actual": 29}),
        "the limit is named"
    );
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "no refused request wrote anything"
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let alice = server.token(&["--sub", "alice"]);
    let bob = server.token(&["--sub", "bob"]);
    let client = reqwest::Client::new();
    let post = |token: &str, key: &str, body: Value| {
        let req = client
            .post(format!("{}/v1/threads", server.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            (status, replayed, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1, first) = post(&alice, "key-1", json!({"title": "once"})).await;
    let (s2, r2, second) = post(&alice, "key-1", json!({"title": "once"})).await;
    assert_eq!((s1, r1, s2, r2), (201, false, 201, true));
    assert_eq!(first, second, "the replay is the first response");
    let (s3, _, err) = post(&alice, "key-1", json!({"title": "twice"})).await;
    assert_eq!(
        (s3, err["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (s4, r4, _) = post(&bob, "key-1", json!({"title": "once"})).await;
    assert_eq!((s4, r4), (201, false), "keys are per principal");
    let (s5, _, err) = post(&alice, "", json!({})).await;
    assert_eq!(
        (s5, err["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
    let (_, _, list) = server.call("GET", "/v1/threads", Some(&alice), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one thread despite the retry"
    );
}

#[tokio::test]
async fn request_ids_logs_and_metrics() {
    let server = Server::start(&[
        ("CHAT_THREADS__LOG__FORMAT", "json"),
        ("CHAT_THREADS__LOG__LEVEL", "info"),
    ]);
    let token = server.token(&["--sub", "ops"]);
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads", server.base))
        .bearer_auth(&token)
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-abc-123", "echoed");
    let (_, headers, _) = server.call("GET", "/v1/threads", Some(&token), None).await;
    let generated = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated).is_ok(),
        "generated when absent"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("http_requests_total{method=\"GET\",route=\"/v1/threads\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/threads\",le=\"+Inf\"} 2"
    ));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = server.output();
    let line = logs
        .iter()
        .find(|l| l.contains("req-abc-123"))
        .expect("a structured log line carries the request id");
    let parsed: Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["fields"]["status"], 200);
}

#[tokio::test]
async fn an_internal_error_says_nothing_and_is_logged_under_the_request_id() {
    let Some(admin) = pg_admin_url() else { return };
    let (name, url) = crate::support::pg_database().await.unwrap();
    let server = Server::start(&[
        ("CHAT_THREADS__DATABASE__URL", &url),
        ("CHAT_THREADS__LOG__FORMAT", "json"),
    ]);
    let token = server.token(&["--sub", "victim"]);
    let (_, _, t) = server
        .call("POST", "/v1/threads", Some(&token), Some(&json!({})))
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    // Break the database underneath the running server.
    let mut db_url = url::Url::parse(&admin).unwrap();
    db_url.set_path(&name);
    let (client, conn) = tokio_postgres::connect(db_url.as_str(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute("DROP TABLE summaries").await.unwrap();
    drop(client);
    let _ = task.await;
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/summaries", server.base))
        .bearer_auth(&token)
        .header("x-request-id", "boom-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "internal_error", "message": "internal error"}})
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = server.output();
    assert!(
        logs.iter()
            .any(|l| l.contains("boom-1") && l.contains("summaries") && l.contains("ERROR")),
        "the cause is logged with the request id: {logs:?}"
    );
}

async fn paging_while_creating(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "pager"]);
    let mut created = BTreeSet::new();
    for i in 0..250 {
        let (status, _, t) = server
            .call(
                "POST",
                "/v1/threads",
                Some(&token),
                Some(&json!({"title": format!("t{i}")})),
            )
            .await;
        assert_eq!(status, 201);
        created.insert(t["id"].as_str().unwrap().to_owned());
    }
    let writer = {
        let base = server.base.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..60 {
                let resp = client
                    .post(format!("{base}/v1/threads"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("late {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 201);
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/threads?limit=37&cursor={c}"),
            None => "/v1/threads?limit=37".to_owned(),
        };
        let (status, _, page) = server.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
    writer.await.unwrap();
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no thread appears twice");
    assert!(
        created.is_subset(&unique),
        "no thread that existed before the walk is missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_250_threads_while_others_are_created_on_sqlite() {
    paging_while_creating(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_250_threads_while_others_are_created_on_postgres() {
    paging_while_creating(true).await;
}

/// Edits in place and single-message deletes over HTTP: the tombstone leaves the path and the
/// model's context, keeps its children, travels through export and import, and refuses edits.
async fn edits_in_place_and_tombstones(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"));
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "editor"]);
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let (server, token) = (&server, token.clone());
        async move {
            let (status, _, json) = server
                .call(method, &path, Some(&token), body.as_ref())
                .await;
            (status, json)
        }
    };
    let (_, t) = call("POST", "/v1/threads".into(), Some(json!({}))).await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let (status, chat) = call(
        "POST",
        format!("/v1/threads/{tid}/chat"),
        Some(json!({"content": "the code word is heron"})),
    )
    .await;
    assert_eq!(status, 201, "{chat}");
    let uid = chat["user_message"]["id"].as_str().unwrap().to_owned();
    let rid = chat["assistant_message"]["id"].as_str().unwrap().to_owned();
    let (_, follow) = call(
        "POST",
        format!("/v1/threads/{tid}/messages"),
        Some(json!({"content": "thanks"})),
    )
    .await;
    let fid = follow["id"].as_str().unwrap().to_owned();

    // Edit the reply in place; an empty patch changes nothing; a bad scope is a mistake.
    let (status, patched) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{rid}"),
        Some(
            json!({"content": "Echo: the code word is [redacted]", "metadata": {"redacted": true}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (&patched["version"], &patched["is_edited"]),
        (&json!(2), &json!(true))
    );
    let (status, same) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{rid}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, &same["version"]),
        (200, &json!(2)),
        "an empty patch changes nothing"
    );
    let (status, err) = call(
        "DELETE",
        format!("/v1/threads/{tid}/messages/{uid}?scope=everything"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (_, revisions) = call(
        "GET",
        format!("/v1/threads/{tid}/messages/{rid}/revisions"),
        None,
    )
    .await;
    assert_eq!(
        revisions["data"][0]["content"],
        "Echo: the code word is heron"
    );

    // The user message alone: a tombstone; the reply and the follow-up stay below it.
    let (status, out) = call(
        "DELETE",
        format!("/v1/threads/{tid}/messages/{uid}?scope=message"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&out["deleted"], &out["active_leaf_id"]),
        (&json!(1), &json!(fid))
    );
    let (_, tomb) = call("GET", format!("/v1/threads/{tid}/messages/{uid}"), None).await;
    assert_eq!(tomb["content"], "");
    assert!(tomb["tombstoned_at"].is_string());
    let (_, path) = call("GET", format!("/v1/threads/{tid}/messages"), None).await;
    let ids: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [rid.as_str(), fid.as_str()],
        "the path reads around the tombstone"
    );
    let (_, tree) = call("GET", format!("/v1/threads/{tid}/messages?view=tree"), None).await;
    assert_eq!(tree["data"].as_array().unwrap().len(), 3);
    let (status, err) = call(
        "PATCH",
        format!("/v1/threads/{tid}/messages/{uid}"),
        Some(json!({"content": "back"})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("message_unusable"))
    );
    // The model no longer sees it: regenerating the reply, the echo model finds no user text.
    let (status, regenerated) = call(
        "POST",
        format!("/v1/threads/{tid}/messages/{rid}/regenerate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{regenerated}");
    assert_eq!(regenerated["assistant_message"]["content"], "Echo: ");
    let (_, hits) = call("GET", "/v1/search?q=heron".into(), None).await;
    assert!(hits["data"].as_array().unwrap().is_empty(), "{hits}");

    // Export and import carry the tombstone.
    let text = reqwest::Client::new()
        .get(format!("{}/v1/threads/{tid}/export", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("tombstoned_at"), "{text}");
    // A file that gives a tombstone text again imports it without the text.
    let forged: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("tombstoned_at") {
                l.replacen("\"content\":\"\"", "\"content\":\"leaked\"", 1)
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(forged.iter().any(|l| l.contains("leaked")));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/import", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(forged.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let imported: Value = resp.json().await.unwrap();
    let copy = imported["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{imported}"))
        .to_owned();
    let (_, tree) = call(
        "GET",
        format!("/v1/threads/{copy}/messages?view=tree"),
        None,
    )
    .await;
    let tombs: Vec<&Value> = tree["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tombstoned_at"].is_string())
        .collect();
    assert_eq!(tombs.len(), 1, "{tree}");
    assert_eq!(tombs[0]["content"], "", "{tree}");
}

#[tokio::test]
async fn messages_edited_in_place_and_deleted_alone_on_sqlite() {
    edits_in_place_and_tombstones(false).await;
}

#[tokio::test]
async fn messages_edited_in_place_and_deleted_alone_on_postgres() {
    edits_in_place_and_tombstones(true).await;
}
