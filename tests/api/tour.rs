//! The tour: every documented operation called at least once, on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// Records which documented operations a test touched.
#[path = "tour_admin.rs"]
mod admin;

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
    // A tool round with the echo model: it calls the tool, the result continues the reply.
    let weather = json!([{"name": "weather",
                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let calling = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(json!({"content": "call weather {\"city\": \"Oslo\"}", "tools": weather})),
            201,
        )
        .await;
    let calling = &calling["assistant_message"];
    assert_eq!(calling["status"], "requires_action", "{calling}");
    let continued = t
        .ok(
            "POST",
            &format!(
                "/v1/threads/{tid}/messages/{}/tool_results",
                calling["id"].as_str().unwrap()
            ),
            Some(
                json!({"results": [{"call_id": calling["parts"][0]["call_id"], "output": "snow"}]}),
            ),
            201,
        )
        .await;
    assert_eq!(continued["assistant_message"]["content"], "Echo: snow");
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

    // Organizing: a folder, tags, a pin, a title on demand, the thread with its messages.
    let folder = t
        .ok(
            "POST",
            "/v1/folders",
            Some(json!({"name": "Travel", "system_prompt": "Answer as a travel agent."})),
            201,
        )
        .await;
    let folder_id = folder["id"].as_str().unwrap().to_owned();
    let filed = t
        .ok(
            "PATCH",
            &format!("/v1/threads/{tid}"),
            Some(json!({"folder_id": folder_id, "tags": ["trip", "2026"], "pinned": true})),
            200,
        )
        .await;
    assert_eq!(
        (filed["pinned"].as_bool(), filed["tags"].clone()),
        (Some(true), json!(["trip", "2026"]))
    );
    let folders = t.ok("GET", "/v1/folders", None, 200).await;
    assert_eq!(folders["data"][0]["thread_count"], 1);
    t.ok("GET", &format!("/v1/folders/{folder_id}"), None, 200)
        .await;
    t.ok(
        "PATCH",
        &format!("/v1/folders/{folder_id}"),
        Some(json!({"name": "Trips"})),
        200,
    )
    .await;
    let tags = t.ok("GET", "/v1/tags", None, 200).await;
    assert_eq!(tags["data"].as_array().map(Vec::len), Some(2), "{tags}");
    t.ok(
        "PATCH",
        "/v1/tags/2026",
        Some(json!({"name": "this-year"})),
        200,
    )
    .await;
    t.ok("DELETE", "/v1/tags/this-year", None, 200).await;
    let titled = t
        .ok("POST", &format!("/v1/threads/{tid}/title"), None, 200)
        .await;
    assert!(!titled["title"].as_str().unwrap().is_empty(), "{titled}");
    let whole = t
        .ok(
            "GET",
            &format!("/v1/threads/{tid}?include=messages"),
            None,
            200,
        )
        .await;
    assert!(!whole["messages"]["data"].as_array().unwrap().is_empty());
    let gone = t
        .ok("DELETE", &format!("/v1/folders/{folder_id}"), None, 200)
        .await;
    assert_eq!(gone["threads"], 1);

    // Sharing: a public snapshot, read without a token, refreshed, copied, revoked.
    let share = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/shares"),
            Some(json!({"mode": "snapshot", "audience": "public"})),
            201,
        )
        .await;
    let sid = share["id"].as_str().unwrap().to_owned();
    let shares = t
        .ok("GET", &format!("/v1/threads/{tid}/shares"), None, 200)
        .await;
    assert_eq!(shares["data"][0]["id"].as_str(), Some(sid.as_str()));
    t.ok(
        "POST",
        &format!("/v1/threads/{tid}/shares/{sid}/refresh"),
        None,
        200,
    )
    .await;
    let seen = t.ok("GET", &format!("/v1/shared/{sid}"), None, 200).await;
    assert!(!seen["messages"].as_array().unwrap().is_empty());
    let (status, _) = t
        .call(
            "GET",
            &format!("/v1/shared/{sid}/files/{}/content", uuid::Uuid::nil()),
            None,
        )
        .await;
    assert_eq!(status, 404, "a file the share does not show");
    let copy = t
        .ok("POST", &format!("/v1/shared/{sid}/fork"), None, 201)
        .await;
    assert_eq!(copy["metadata"]["shared_from"].as_str(), Some(sid.as_str()));
    t.ok(
        "DELETE",
        &format!("/v1/threads/{tid}/shares/{sid}"),
        None,
        204,
    )
    .await;

    // Members: bob is let in as an editor, listed, and taken out.
    let members = format!("/v1/threads/{tid}/members");
    let bob = json!({"principal": "user:bob", "role": "editor"});
    t.ok("POST", &members, Some(bob), 201).await;
    let listed = t.ok("GET", &members, None, 200).await;
    assert_eq!(listed["data"][0]["principal"], "user:bob");
    t.ok("DELETE", &format!("{members}/user:bob"), None, 204)
        .await;
    // Retention, erasure and the audit log (the tourist is acme's admin).
    admin::administration(&t).await;

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
        del["deleted"], 11,
        "the reply and the exchanges, the tool round and the message with a file below it"
    );
    let back = t
        .ok(
            "POST",
            &format!("/v1/threads/{tid}/messages/{aid}/restore"),
            None,
            200,
        )
        .await;
    assert_eq!(back["restored"], 11, "undone: all of it back");
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
    let docs = reqwest::get(format!("{}/docs/", server.base)).await;
    let page = docs.unwrap().text().await.unwrap().to_lowercase();
    assert!(page.contains("swagger"), "{page}");

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
