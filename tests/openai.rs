//! The OpenAI-compatible API under /openai/v1, driven by the official `openai` Python SDK from
//! the pinned test tools (scripts/python-tools.sh): the SDK's own parsing and exceptions are
//! the judge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::process::Command;

use support::{Server, python};

/// A server for the SDK (no rate limits, an instant echo model) and a token for `sub`.
fn sdk_server(sub: &str) -> (Server, String) {
    let server = Server::start(&[
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "0"),
    ]);
    let token = server.token(&["--sub", sub]);
    (server, token)
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
                                   tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    raise SystemExit("tools accepted")
except openai.BadRequestError as e:
    assert e.code == "validation_failed" and "tools" in e.message, (e.code, e.message)
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
