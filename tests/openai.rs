//! The OpenAI-compatible API under /openai/v1, driven by the official `openai` Python SDK from
//! the pinned test tools (scripts/python-tools.sh): the SDK's own parsing and exceptions are
//! the judge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;

use crate::support::{Server, backend_env, python};

mod agents;

/// A server for the SDK (no rate limits, an instant echo model) and a token for `sub`.
fn sdk_server(sub: &str) -> (Server, String) {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", sub]);
    (server, token)
}

/// A server on SQLite or on a fresh PostgreSQL database whose echo model takes `delay_ms` per
/// word, and a token for `sub`; `None` when PostgreSQL is not configured (outside CI).
async fn sdk_server_on(postgres: bool, sub: &str, delay_ms: &str) -> Option<(Server, String)> {
    let mut env = backend_env(postgres).await?;
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED".into(), "false".into()));
    env.push((
        "CHAT_THREADS__MODELS__ECHO__DELAY_MS".into(),
        delay_ms.into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env);
    let token = server.token(&["--sub", sub]);
    Some((server, token))
}

/// What every script starts with: the SDK, the server (`base`), the token (`key`) and a
/// `client` pointed at /openai/v1 that does not retry.
const PRELUDE: &str = r#"
import sys, openai
base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/openai/v1", api_key=key, max_retries=0)
"#;

/// Runs a Python script (after [`PRELUDE`]) with the tools' python.
fn sdk(python: &std::path::Path, server: &Server, token: &str, script: &str) -> String {
    let script = format!("{PRELUDE}{script}");
    let out = Command::new(python)
        .args(["-c", &script, &server.base, token])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the SDK script failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_lists_models_and_raises_its_exceptions() {
    let Some(python) = python() else {
        return;
    };
    let (server, token) = sdk_server("sdk-user");
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
ids = [m.id for m in client.models.list()]
assert ids == ["echo"], ids
m = client.models.retrieve("echo")
assert (m.id, m.object, m.owned_by) == ("echo", "model", "builtin"), m
assert isinstance(m.created, int) and m.created > 1_700_000_000, m
try:
    client.models.retrieve("gpt-nope")
    raise SystemExit("no NotFoundError")
except openai.NotFoundError as e:
    assert e.status_code == 404 and e.code == "model_not_allowed" and e.type == "not_found_error", (e.code, e.type, e.body)
try:
    client.get("/files/nothing-here", cast_to=object)
    raise SystemExit("no NotFoundError for an unsupported route")
except openai.NotFoundError as e:
    assert e.code == "route_not_found", e.body
bad = openai.OpenAI(base_url=base + "/openai/v1", api_key="not-a-token", max_retries=0)
try:
    bad.models.list()
    raise SystemExit("no AuthenticationError")
except openai.AuthenticationError as e:
    assert e.status_code == 401 and e.type == "authentication_error" and e.code == "token_malformed", (e.code, e.type)
print("sdk ok")
"#,
    );
    assert!(out.contains("sdk ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_completes_chats_whole_and_streamed() {
    let Some(python) = python() else {
        return;
    };
    let (server, token) = sdk_server("sdk-chat");
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
r = client.chat.completions.create(model="echo", messages=[
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello there"},
])
assert r.object == "chat.completion" and r.model == "echo", r
assert r.choices[0].message.role == "assistant", r
assert r.choices[0].message.content == "Echo: hello there", r.choices[0].message.content
assert r.choices[0].finish_reason == "stop"
assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
text, usage, chunks = "", None, 0
for c in client.chat.completions.create(model="echo", stream=True, stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": [{"type": "text", "text": "streamed words here"}]}]):
    chunks += 1
    if c.usage:
        usage = c.usage
    for ch in c.choices:
        text += ch.delta.content or ""
assert text == "Echo: streamed words here", text
assert usage is not None and usage.completion_tokens > 0, usage
assert chunks > 3, chunks
try:
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}],
                                   tools=[{"type": "web_search"}])
    raise SystemExit("a hosted tool accepted")
except openai.BadRequestError as e:
    assert e.code == "validation_failed" and e.param == "tools", (e.code, e.param, e.message)
try:
    client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model accepted")
except openai.UnprocessableEntityError as e:
    assert e.code == "model_not_allowed", e.code
try:
    client.chat.completions.create(model="echo", messages=[])
    raise SystemExit("no messages accepted")
except openai.BadRequestError as e:
    assert e.param == "messages", e.param
print("chat ok")
"#,
    );
    assert!(out.contains("chat ok"), "{out}");
    // Nothing stored; the tokens count in the caller's usage.
    let (_, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(threads["data"], serde_json::json!([]));
    let (_, _, usage) = server.call("GET", "/v1/usage", Some(&token), None).await;
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_chat_completions_become_threads() {
    let Some(python) = python() else {
        return;
    };
    let (server, token) = sdk_server("sdk-store");
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
r = client.chat.completions.create(model="echo", store=True, metadata={"ticket": "T-1"}, messages=[
    {"role": "system", "content": "You help with tickets."},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "second question"},
])
assert r.choices[0].message.content == "Echo: second question", r
print("thread", r.model_extra["thread_id"])
text = ""
for c in client.chat.completions.create(model="echo", store=True, stream=True, stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "streamed and stored"}]):
    for ch in c.choices:
        text += ch.delta.content or ""
assert text == "Echo: streamed and stored", text
try:
    client.chat.completions.create(model="echo", store=True, messages=[{"role": "assistant", "content": "x"}])
    raise SystemExit("accepted a stored completion not ending with the user")
except openai.BadRequestError as e:
    assert e.param == "messages", e.param
print("stored ok")
"#,
    );
    assert!(out.contains("stored ok"), "{out}");
    let tid = out
        .lines()
        .find_map(|l| l.strip_prefix("thread "))
        .unwrap()
        .trim()
        .to_owned();
    // The native API shows the same conversation, with the metadata and the system prompt.
    let (status, _, t) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["metadata"]["ticket"], "T-1");
    assert_eq!(t["system_prompt"], "You help with tickets.");
    let (_, _, path) = server
        .call(
            "GET",
            &format!("/v1/threads/{tid}/messages"),
            Some(&token),
            None,
        )
        .await;
    let texts: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "first question",
            "first answer",
            "second question",
            "Echo: second question"
        ]
    );
    let (_, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(
        threads["data"].as_array().unwrap().len(),
        2,
        "two stored completions, and nothing of the refused one"
    );
}

/// Responses through the SDK: a thread of responses, a branch made with previous_response_id,
/// streaming with numbered events and a resumed stream, input items, cancel, delete, store:
/// false, unsupported parameters — then the same thread, tree and branches through the native
/// API.
async fn responses_through_the_sdk(postgres: bool) {
    let Some(python) = python() else {
        return;
    };
    let Some((server, token)) = sdk_server_on(postgres, "sdk-responses", "10").await else {
        return;
    };
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
import httpx, threading
native = httpx.Client(base_url=base, headers={"Authorization": "Bearer " + key})

r1 = client.responses.create(model="echo", input="hello one", instructions="be brief", metadata={"k": "v"})
assert (r1.object, r1.status, r1.model) == ("response", "completed", "echo"), r1
assert r1.output_text == "Echo: hello one", r1.output_text
assert r1.usage.output_tokens > 0 and r1.usage.total_tokens == r1.usage.input_tokens + r1.usage.output_tokens, r1.usage
assert r1.metadata == {"k": "v"} and r1.instructions == "be brief" and r1.previous_response_id is None, r1

r2 = client.responses.create(model="echo", input="hello two", previous_response_id=r1.id)
assert r2.previous_response_id == r1.id and r2.output_text == "Echo: hello two", r2
# r1 is no longer the latest: continuing from it again makes a branch.
r3 = client.responses.create(model="echo", input="another way", previous_response_id=r1.id)
assert r3.output_text == "Echo: another way", r3

events = list(client.responses.create(model="echo", input="streamed words", previous_response_id=r2.id, stream=True))
types = [e.type for e in events]
assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"], types
assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                      "response.output_item.done", "response.completed"], types
numbers = [e.sequence_number for e in events]
assert numbers == sorted(set(numbers)), numbers
assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Echo: streamed words"
r4 = events[-1].response
assert r4.status == "completed" and r4.output_text == "Echo: streamed words" and r4.previous_response_id == r2.id, r4

got = client.responses.retrieve(r2.id)
assert (got.id, got.output_text, got.previous_response_id) == (r2.id, "Echo: hello two", r1.id), got
# A dropped stream resumes after the last event it saw.
resumed = list(client.responses.retrieve(r4.id, stream=True, starting_after=2))
assert resumed and all(e.sequence_number > 2 for e in resumed), [e.sequence_number for e in resumed]
assert resumed[-1].type == "response.completed" and resumed[-1].response.output_text == "Echo: streamed words"

r5 = client.responses.create(model="echo", previous_response_id=r4.id, input=[
    {"role": "user", "content": "part a"},
    {"role": "assistant", "content": "noted"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "part b"}]},
])
assert r5.output_text == "Echo: part b", r5
items = client.responses.input_items.list(r5.id, order="asc")
assert [i.content[0].text for i in items.data] == ["part a", "noted", "part b"], items
assert [i.role for i in items.data] == ["user", "assistant", "user"]
assert [i.content[0].text for i in client.responses.input_items.list(r2.id).data] == ["hello two"]

# Stop a response while it streams: the text so far stays, status cancelled.
long = " ".join("word%d" % i for i in range(60))
stream = client.responses.create(model="echo", input=long, stream=True)
first = next(iter(stream))
assert first.type == "response.created" and first.response.status == "in_progress", first
cancelled = client.responses.cancel(first.response.id)
rest = list(stream)
assert rest[-1].type == "response.incomplete" and rest[-1].response.status == "cancelled", rest[-1]
assert client.responses.retrieve(first.response.id).status == "cancelled"
assert client.responses.cancel(r1.id).status == "completed"

gone = client.responses.create(model="echo", input="to be deleted")
d = client.responses.delete(gone.id)
try:
    client.responses.retrieve(gone.id)
    raise SystemExit("a deleted response was found")
except openai.NotFoundError:
    pass

kept_not = client.responses.create(model="echo", input="not kept", store=False, instructions="short")
assert kept_not.output_text == "Echo: not kept" and kept_not.store is False, kept_not
text = "".join(e.delta for e in client.responses.create(model="echo", input="not kept either", store=False, stream=True)
               if e.type == "response.output_text.delta")
assert text == "Echo: not kept either", text
try:
    client.responses.retrieve(kept_not.id)
    raise SystemExit("an unstored response was found")
except openai.NotFoundError:
    pass

# background: answered queued at once, polled to completed (OpenAI's loop).
import time
bg = client.responses.create(model="echo", input="in the background", background=True)
assert bg.background is True and bg.status in ("queued", "in_progress", "completed"), bg
while bg.status in ("queued", "in_progress"):
    time.sleep(0.05)
    bg = client.responses.retrieve(bg.id)
assert bg.status == "completed" and bg.output_text == "Echo: in the background", bg
try:
    client.responses.create(model="echo", input="x", background=True, store=False)
    raise SystemExit("a background response without store was accepted")
except openai.BadRequestError:
    pass

for bad_call, param in [
    (lambda: client.responses.create(model="echo", input="x", tools=[{"type": "web_search"}]), "tools"),
    (lambda: client.responses.create(model="echo", input=[{"type": "input_image", "image_url": "http://x"}]), "input"),
    (lambda: client.responses.create(model="echo", input=[{"role": "assistant", "content": "no user"}]), "input"),
]:
    try:
        bad_call()
        raise SystemExit("accepted: " + param)
    except openai.BadRequestError as e:
        assert param in (e.param or "") + e.message, (param, e.param, e.message)
try:
    client.responses.create(model="echo", input="x", previous_response_id="resp_" + "0" * 64)
    raise SystemExit("an unknown previous response was accepted")
except openai.NotFoundError:
    pass
try:
    client.responses.create(model="gpt-nope", input="x")
    raise SystemExit("an unknown model was accepted")
except openai.UnprocessableEntityError as e:
    assert e.code == "model_not_allowed"

# The native API: one thread, the system prompt from instructions, two branches under r1's reply.
thread_id = r1.id[5:37]
reply_one = r1.id[37:]
t = native.get("/v1/threads/" + thread_id).json()
assert t["system_prompt"] == "be brief", t
tree = native.get("/v1/threads/" + thread_id + "/messages", params={"view": "tree", "limit": 100}).json()["data"]
under_r1 = sorted(m["content"] for m in tree if (m["parent_id"] or "").replace("-", "") == reply_one)
assert under_r1 == ["another way", "hello two"], under_r1
path = [m["content"] for m in native.get("/v1/threads/" + thread_id + "/messages", params={"limit": 100}).json()["data"]]
assert path[-2:] == ["part b", "Echo: part b"] and "another way" not in path, path
user_one = next(m for m in tree if m["content"] == "hello one")
assert user_one["metadata"]["openai"]["metadata"] == {"k": "v"}, user_one
# Another principal sees none of it.
print("responses ok")
"#,
    );
    assert!(out.contains("responses ok"), "{out}");
    let other = server.token(&["--sub", "someone-else"]);
    let out = sdk(
        &python,
        &server,
        &other,
        r#"
import httpx
mine = httpx.get(base + "/v1/threads", headers={"Authorization": "Bearer " + key}).json()["data"]
assert mine == [], mine
print("isolated ok")
"#,
    );
    assert!(out.contains("isolated ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_through_the_sdk_on_sqlite() {
    responses_through_the_sdk(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_through_the_sdk_on_postgres() {
    responses_through_the_sdk(true).await;
}

/// Conversations through the SDK: created with items and metadata, updated, items added,
/// listed page by page (after / limit / order), retrieved and deleted, a response appended to
/// it — then the same thread through the native API, and another principal's view of it.
async fn conversations_through_the_sdk(postgres: bool) {
    let Some(python) = python() else {
        return;
    };
    let Some((server, token)) = sdk_server_on(postgres, "sdk-conversations", "0").await else {
        return;
    };
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
import httpx
native = httpx.Client(base_url=base, headers={"Authorization": "Bearer " + key})

conv = client.conversations.create(metadata={"topic": "demo"}, items=[
    {"type": "message", "role": "user", "content": "first"},
    {"type": "message", "role": "assistant", "content": "reply one"},
])
assert conv.id.startswith("conv_") and conv.metadata == {"topic": "demo"}, conv
assert client.conversations.retrieve(conv.id).id == conv.id
assert client.conversations.update(conv.id, metadata={"topic": "changed"}).metadata == {"topic": "changed"}
added = client.conversations.items.create(conv.id, items=[
    {"type": "message", "role": "user", "content": "m%d" % i} for i in range(5)])
assert [i.content[0].text for i in added.data] == ["m0", "m1", "m2", "m3", "m4"], added
r = client.responses.create(model="echo", input="via response", conversation=conv.id)
assert r.conversation.id == conv.id and r.output_text == "Echo: via response", r

expected = ["first", "reply one", "m0", "m1", "m2", "m3", "m4", "via response", "Echo: via response"]
first_page = client.conversations.items.list(conv.id, limit=3, order="asc")
assert [i.content[0].text for i in first_page.data] == expected[:3] and first_page.has_more, first_page
second = client.conversations.items.list(conv.id, limit=3, order="asc", after=first_page.data[-1].id)
assert [i.content[0].text for i in second.data] == expected[3:6], second
# The SDK's auto-paging follows `after` through every page.
assert [i.content[0].text for i in client.conversations.items.list(conv.id, limit=2, order="asc")] == expected
newest = client.conversations.items.list(conv.id, limit=2)
assert [i.content[0].text for i in newest.data] == ["Echo: via response", "via response"], newest
assert [i.role for i in newest.data] == ["assistant", "user"]

one = client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id)
assert one.content[0].text == "m0" and one.role == "user", one
client.conversations.items.delete(added.data[1].id, conversation_id=conv.id)
left = [i.content[0].text for i in client.conversations.items.list(conv.id, order="asc", limit=100)]
assert left == [t for t in expected if t != "m1"], left
try:
    client.conversations.items.retrieve(added.data[1].id, conversation_id=conv.id)
    raise SystemExit("a deleted item was found")
except openai.NotFoundError:
    pass

# The native API: the same thread, its metadata, the path read around the deleted item.
thread_id = conv.id[5:]
t = native.get("/v1/threads/" + thread_id).json()
assert t["metadata"] == {"topic": "changed"}, t
path = native.get("/v1/threads/" + thread_id + "/messages", params={"limit": 100}).json()["data"]
texts = [m["content"] for m in path]
assert texts == [t for t in expected if t != "m1"], texts
print("conv", conv.id)

assert client.conversations.delete(conv.id).deleted
try:
    client.conversations.retrieve(conv.id)
    raise SystemExit("a deleted conversation was found")
except openai.NotFoundError:
    pass
try:
    client.conversations.create(items=[{"type": "computer_call_output", "call_id": "c", "output": {}}])
    raise SystemExit("a hosted tool's item was accepted")
except openai.BadRequestError as e:
    assert e.param == "items", e.param
# Function calls and their outputs are kept as items, paired.
tooled = client.conversations.create(items=[
    {"role": "user", "content": "weather?"},
    {"type": "function_call", "name": "get_weather", "arguments": "{}", "call_id": "c1"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
])
kinds = [i.type for i in client.conversations.items.list(tooled.id, order="asc").data]
assert kinds == ["message", "function_call", "function_call_output"], kinds
try:
    client.conversations.items.create(tooled.id, items=[
        {"type": "function_call_output", "call_id": "nobody", "output": "x"}])
    raise SystemExit("an unpaired output was accepted")
except openai.UnprocessableEntityError as e:
    assert e.code == "tool_result_unpaired", e.code
client.conversations.delete(tooled.id)
print("conversations ok")
"#,
    );
    assert!(out.contains("conversations ok"), "{out}");
    let conv = out
        .lines()
        .find_map(|l| l.strip_prefix("conv "))
        .unwrap()
        .trim()
        .to_owned();
    // Another principal: the conversation is unknown to it (404, OpenAI's shape).
    let other = server.token(&["--sub", "someone-else"]);
    let (status, _, body) = server
        .call(
            "GET",
            &format!("/openai/v1/conversations/{conv}/items"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["type"], "not_found_error", "{body}");
    // Only the one conversation was ever made (the refused one left nothing).
    let (_, _, trash) = server
        .call("GET", "/v1/threads?deleted=only", Some(&token), None)
        .await;
    let (_, _, live) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(live["data"], serde_json::json!([]), "{live}");
    let _ = trash;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_through_the_sdk_on_sqlite() {
    conversations_through_the_sdk(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_through_the_sdk_on_postgres() {
    conversations_through_the_sdk(true).await;
}

/// Node.js and the pinned `openai` npm package (scripts/node-tools.sh); `None` (with a loud
/// warning) only outside CI.
pub(crate) fn node() -> Option<String> {
    let out = Command::new(crate::support::repo().join("scripts/node-tools.sh"))
        .output()
        .unwrap();
    if out.status.success() {
        return Some(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the openai npm package cannot be installed: {why}");
    }
    eprintln!("WARNING: test SKIPPED: scripts/node-tools.sh failed: {why}");
    None
}

/// A short run with the official `openai` npm package: a response and a branch, a stream, a
/// conversation paged by the SDK's iterator, and the SDK's error classes
/// (tests/node/openai.mjs); the branch is then checked through the native API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_npm_package_works_too() {
    let Some(node) = node() else {
        return;
    };
    let (server, token) = sdk_server("npm-user");
    let out = Command::new(node)
        .arg(crate::support::repo().join("tests/node/openai.mjs"))
        .args([&server.base, &token])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the npm SDK script failed:\n{text}");
    let r1 = text
        .lines()
        .find_map(|l| l.strip_prefix("node sdk ok "))
        .unwrap()
        .trim();
    let thread = &r1[5..37];
    let (_, _, branches) = server
        .call(
            "GET",
            &format!("/v1/threads/{thread}/branches"),
            Some(&token),
            None,
        )
        .await;
    let leaves = branches["data"].as_array().unwrap();
    assert_eq!(
        leaves.len(),
        2,
        "two branches under the first reply: {branches}"
    );
}

/// Client-side tools through the SDK over Chat Completions (unstored): the echo model calls the
/// tool a user message names, whole and streamed; the tool's result goes back as a `tool`
/// message and the model answers with it. Nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_tools_round_trip_through_the_sdk() {
    let Some(python) = python() else {
        return;
    };
    let (server, token) = sdk_server("sdk-tools");
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
import json
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
messages = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
r = client.chat.completions.create(model="echo", messages=messages, tools=tools, tool_choice="auto",
                                   temperature=0)
choice = r.choices[0]
assert choice.finish_reason == "tool_calls", choice
call = choice.message.tool_calls[0]
assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, call
# Streamed: the call's pieces add up to the same call.
name, args, finish = "", "", None
for c in client.chat.completions.create(model="echo", messages=messages, tools=tools, stream=True):
    for ch in c.choices:
        for d in ch.delta.tool_calls or []:
            name += d.function.name or ""
            args += d.function.arguments or ""
        finish = ch.finish_reason or finish
assert (name, json.loads(args), finish) == ("get_weather", {"city": "Paris"}, "tool_calls"), (name, args, finish)
# The result goes back; the model answers with it.
messages += [choice.message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
r2 = client.chat.completions.create(model="echo", messages=messages, tools=tools)
assert r2.choices[0].message.content == "Echo: sunny, 21 C", r2
assert r2.choices[0].finish_reason == "stop"
# Stored: the history with its call and result becomes a thread, and the reply answers.
stored = client.chat.completions.create(model="echo", messages=messages, tools=tools, store=True)
assert stored.choices[0].message.content == "Echo: sunny, 21 C", stored
asked = client.chat.completions.create(model="echo", messages=messages[:1], tools=tools, store=True)
assert asked.choices[0].finish_reason == "tool_calls", asked
assert asked.choices[0].message.tool_calls[0].function.name == "get_weather", asked
try:
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}],
                                   tools=[{"type": "function", "function": {"name": "bad name!"}}])
    raise SystemExit("a bad tool name accepted")
except openai.BadRequestError as e:
    assert e.param == "tools", e.param
print("tools ok")
"#,
    );
    assert!(out.contains("tools ok"), "{out}");
    let (_, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(
        threads["data"].as_array().map(Vec::len),
        Some(2),
        "only the two stored completions: {threads}"
    );
}

/// `[openai]`: the default of `store` for responses and chat completions, and continuing an
/// earlier call given whole, each as configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_defaults_follow_the_settings() {
    use serde_json::json;
    let threads = async |server: &Server, token: &str| -> usize {
        let (_, _, page) = server.call("GET", "/v1/threads", Some(token), None).await;
        page["data"].as_array().unwrap().len()
    };
    let turn = |text: &str| json!({"role": "user", "content": text});

    // Defaults as OpenAI's: responses stored, chat completions not; histories continue.
    let server = Server::start(&[("CHAT_THREADS__RATE_LIMIT__ENABLED", "false")]);
    let token = server.token(&["--sub", "defaults"]);
    let first = json!({"model": "echo", "input": [turn("one")]});
    let (status, _, r) = server
        .call("POST", "/openai/v1/responses", Some(&token), Some(&first))
        .await;
    assert_eq!(status, 200, "{r}");
    let answer = r["output"][0]["content"][0]["text"].as_str().unwrap();
    let again = json!({"model": "echo", "input": [
        turn("one"), {"role": "assistant", "content": answer}, turn("two")]});
    let (status, _, r) = server
        .call("POST", "/openai/v1/responses", Some(&token), Some(&again))
        .await;
    assert_eq!(status, 200, "{r}");
    let chat = json!({"model": "echo", "messages": [turn("unstored")]});
    let (status, _, _) = server
        .call(
            "POST",
            "/openai/v1/chat/completions",
            Some(&token),
            Some(&chat),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(threads(&server, &token).await, 1, "one continued thread");

    // The other way round: responses unstored, chat completions stored, no continuing.
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__OPENAI__RESPONSES_STORE", "false"),
        ("CHAT_THREADS__OPENAI__CHAT_COMPLETIONS_STORE", "true"),
        ("CHAT_THREADS__OPENAI__CONTINUE_HISTORIES", "false"),
    ]);
    let token = server.token(&["--sub", "defaults"]);
    let (status, _, r) = server
        .call("POST", "/openai/v1/responses", Some(&token), Some(&first))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["store"], false);
    assert_eq!(threads(&server, &token).await, 0, "an unstored response");
    let (status, _, c) = server
        .call(
            "POST",
            "/openai/v1/chat/completions",
            Some(&token),
            Some(&chat),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let answer = c["choices"][0]["message"]["content"].as_str().unwrap();
    let chat_again = json!({"model": "echo", "messages": [
        turn("unstored"), {"role": "assistant", "content": answer}, turn("more")]});
    let (status, _, _) = server
        .call(
            "POST",
            "/openai/v1/chat/completions",
            Some(&token),
            Some(&chat_again),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        threads(&server, &token).await,
        2,
        "stored completions, each its own thread"
    );
}
