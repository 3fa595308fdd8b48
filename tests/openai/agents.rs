//! The OpenAI Agents SDK (`openai-agents`, pinned in scripts/python-tools.txt) against the
//! service: over Chat Completions and over Responses (its default model, stored), with function
//! tools and a session kept in a conversation.

use super::{python, sdk, sdk_server, sdk_server_on};

/// The OpenAI Agents SDK (`openai-agents`, pinned in scripts/python-tools.txt) runs an Agent
/// with two function tools over Chat Completions: the echo model calls the tool a message names,
/// the SDK runs it and sends the result back, and the answer arrives — with the trace export
/// off, as docs/openai.md says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_sdk_agent_runs_its_function_tools_here() {
    let Some(python) = python() else {
        return;
    };
    let (server, token) = sdk_server("sdk-agents");
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
import asyncio
from agents import (Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool,
                    set_tracing_disabled)
set_tracing_disabled(True)
aclient = openai.AsyncOpenAI(base_url=base + "/openai/v1", api_key=key, max_retries=0)
calls = []

@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(("get_weather", city))
    return f"sunny in {city}"

@function_tool
def get_time(tz: str) -> str:
    """The time in a time zone."""
    calls.append(("get_time", tz))
    return f"12:00 {tz}"

agent = Agent(name="helper", instructions="Use the tools.", tools=[get_weather, get_time],
              model=OpenAIChatCompletionsModel(model="echo", openai_client=aclient),
              model_settings=ModelSettings(temperature=0))
async def main():
    r = await Runner.run(agent, 'call get_weather {"city": "Lisbon"}')
    assert calls == [("get_weather", "Lisbon")], calls
    assert r.final_output == "Echo: sunny in Lisbon", r.final_output
    r = await Runner.run(agent, 'call get_time {"tz": "UTC"}')
    assert calls[-1] == ("get_time", "UTC"), calls
    assert r.final_output == "Echo: 12:00 UTC", r.final_output
    # Without a tool named, the agent just answers.
    r = await Runner.run(agent, "hello agent")
    assert r.final_output == "Echo: hello agent", r.final_output

asyncio.run(main())
print("agents ok")
"#,
    );
    assert!(out.contains("agents ok"), "{out}");
}

/// The Agents SDK's default model (Responses, stored): an Agent with two function tools, run
/// whole and streamed, and an `OpenAIConversationsSession` over two turns whose conversation the
/// native API shows as one tree with tool parts.
async fn agents_sdk_over_responses(postgres: bool) {
    let Some(python) = python() else {
        return;
    };
    let Some((server, token)) = sdk_server_on(postgres, "sdk-responses-agent", "0").await else {
        return;
    };
    let out = sdk(
        &python,
        &server,
        &token,
        r#"
import asyncio
from agents import (Agent, ModelSettings, OpenAIConversationsSession, OpenAIResponsesModel,
                    Runner, function_tool, set_tracing_disabled)
set_tracing_disabled(True)
aclient = openai.AsyncOpenAI(base_url=base + "/openai/v1", api_key=key, max_retries=0)
calls = []

@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(("get_weather", city))
    return f"sunny in {city}"

@function_tool
def get_time(tz: str) -> str:
    """The time in a time zone."""
    calls.append(("get_time", tz))
    return f"12:00 {tz}"

agent = Agent(name="helper", instructions="Use the tools.", tools=[get_weather, get_time],
              model=OpenAIResponsesModel(model="echo", openai_client=aclient),
              model_settings=ModelSettings(temperature=0))
async def main():
    r = await Runner.run(agent, 'call get_weather {"city": "Lisbon"}')
    assert calls == [("get_weather", "Lisbon")], calls
    assert r.final_output == "Echo: sunny in Lisbon", r.final_output
    streamed = Runner.run_streamed(agent, 'call get_time {"tz": "UTC"}')
    kinds = set()
    async for event in streamed.stream_events():
        kinds.add(event.type)
    assert calls[-1] == ("get_time", "UTC"), calls
    assert streamed.final_output == "Echo: 12:00 UTC", streamed.final_output
    assert "raw_response_event" in kinds, kinds
    session = OpenAIConversationsSession(openai_client=aclient)
    r = await Runner.run(agent, 'call get_weather {"city": "Porto"}', session=session)
    assert r.final_output == "Echo: sunny in Porto", r.final_output
    r = await Runner.run(agent, 'call get_time {"tz": "CET"}', session=session)
    assert r.final_output == "Echo: 12:00 CET", r.final_output
    items = await session.get_items()
    kinds = [i.get("type") for i in items]
    assert kinds.count("function_call") == 2 and kinds.count("function_call_output") == 2, kinds
    print("CONVERSATION", await session._get_session_id())

asyncio.run(main())
print("agents ok")
"#,
    );
    assert!(out.contains("agents ok"), "{out}");
    let conv = out
        .lines()
        .find_map(|l| l.strip_prefix("CONVERSATION "))
        .unwrap()
        .trim();
    let thread = uuid::Uuid::parse_str(conv.strip_prefix("conv_").unwrap()).unwrap();
    let (status, _, path) = server
        .call(
            "GET",
            &format!("/v1/threads/{thread}/messages?limit=100"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{path}");
    let shape: Vec<(String, String, usize)> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
                m["parts"].as_array().unwrap().len(),
            )
        })
        .collect();
    let round = |status: &str| {
        vec![
            ("user".to_owned(), "complete".to_owned(), 0),
            ("assistant".to_owned(), status.to_owned(), 1),
            ("tool".to_owned(), "complete".to_owned(), 1),
            ("assistant".to_owned(), "complete".to_owned(), 0),
        ]
    };
    let mut want = round("requires_action");
    want.extend(round("requires_action"));
    assert_eq!(shape, want, "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_sdk_runs_tools_over_responses_and_keeps_a_session_on_sqlite() {
    agents_sdk_over_responses(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_sdk_runs_tools_over_responses_and_keeps_a_session_on_postgres() {
    agents_sdk_over_responses(true).await;
}

/// The Vercel AI SDK (`ai` and `@ai-sdk/openai`, pinned in tests/node) with `temperature: 0`
/// and a tool that runs: `generateText` over Chat Completions and over Responses (its default),
/// and `streamText` over Chat Completions — each calls the tool, sends the result and gets the
/// answer (tests/node/ai_sdk_tools.mjs), on SQLite and PostgreSQL.
async fn vercel_ai_sdk(postgres: bool) {
    let Some(node) = super::node() else {
        return;
    };
    let Some((server, token)) = sdk_server_on(postgres, "ai-sdk-user", "0").await else {
        return;
    };
    let out = std::process::Command::new(node)
        .arg(crate::support::repo().join("tests/node/ai_sdk_tools.mjs"))
        .args([
            &server.base,
            &token,
            "chat",
            "responses",
            "chat-stream",
            "responses-stream",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the AI SDK script failed:\n{text}");
    assert!(text.contains("ai sdk ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vercel_ai_sdk_runs_tools_with_temperature_on_sqlite() {
    vercel_ai_sdk(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vercel_ai_sdk_runs_tools_with_temperature_on_postgres() {
    vercel_ai_sdk(true).await;
}

/// What the LangChain scripts start with: the chat model, messages and a weather tool.
const LANGCHAIN: &str = r#"
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

@tool
def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"It is sunny in {city}."
"#;

/// Runs a LangChain script (after [`LANGCHAIN`]) against a fresh server on SQLite or
/// PostgreSQL as `sub`: the server, the token and what the script printed; `None` when the
/// tools or PostgreSQL cannot be had (outside CI).
async fn langchain(
    postgres: bool,
    sub: &str,
    script: &str,
) -> Option<(crate::support::Server, String, String)> {
    let python = python()?;
    let (server, token) = sdk_server_on(postgres, sub, "0").await?;
    let out = sdk(&python, &server, &token, &format!("{LANGCHAIN}{script}"));
    Some((server, token, out))
}

/// LangChain's `ChatOpenAI` (`langchain-openai`, pinned) with `temperature=0` and `bind_tools`:
/// the model calls the tool, the tool runs, the result goes back and the answer arrives — over
/// Chat Completions (its default) and over Responses, on SQLite and PostgreSQL.
async fn langchain_tools(postgres: bool) {
    let Some((_server, _, out)) = langchain(
        postgres,
        "langchain-user",
        r#"
for responses in (False, True):
    llm = ChatOpenAI(model="echo", base_url=base + "/openai/v1", api_key=key, temperature=0,
                     max_retries=0, use_responses_api=responses)
    bound = llm.bind_tools([get_weather])
    human = HumanMessage('call get_weather {"city": "Lisbon"}')
    ai_msg = bound.invoke([human])
    call = ai_msg.tool_calls[0]
    assert call["name"] == "get_weather" and call["args"] == {"city": "Lisbon"}, ai_msg
    tool_msg = ToolMessage(content=get_weather.invoke(call["args"]), tool_call_id=call["id"])
    final = bound.invoke([human, ai_msg, tool_msg])
    assert final.text == "Echo: It is sunny in Lisbon.", (responses, final)
    # Without a tool named, the model answers.
    plain = bound.invoke([HumanMessage("hello there")])
    assert plain.text == "Echo: hello there", plain
print("langchain ok")
"#,
    )
    .await
    else {
        return;
    };
    assert!(out.contains("langchain ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchain_binds_tools_with_temperature_zero_on_sqlite() {
    langchain_tools(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchain_binds_tools_with_temperature_zero_on_postgres() {
    langchain_tools(true).await;
}

/// LangChain in Responses mode resends the whole conversation on every call: three calls (and a
/// tool round) leave one stored thread, its active path the whole conversation; a call that
/// changes an earlier turn starts another thread.
async fn langchain_history_continues_one_thread(postgres: bool) {
    let Some((server, token, out)) = langchain(
        postgres,
        "langchain-history",
        r#"
llm = ChatOpenAI(model="echo", base_url=base + "/openai/v1", api_key=key, temperature=0,
                 max_retries=0, use_responses_api=True).bind_tools([get_weather])
history = [HumanMessage("first question")]
for text in ["second question", "third question"]:
    answer = llm.invoke(history)
    assert answer.text.startswith("Echo: "), answer
    history += [answer, HumanMessage(text)]
# A tool round in the same conversation: the call, then its result.
history[-1] = HumanMessage('call get_weather {"city": "Lisbon"}')
called = llm.invoke(history)
call = called.tool_calls[0]
history += [called, ToolMessage(content=get_weather.invoke(call["args"]), tool_call_id=call["id"])]
final = llm.invoke(history)
assert final.text == "Echo: It is sunny in Lisbon.", final
# The first turn changed: another conversation.
other = llm.invoke([HumanMessage("a different start")] + history[1:3])
assert other.text.startswith("Echo: "), other
print("history ok")
"#,
    )
    .await
    else {
        return;
    };
    assert!(out.contains("history ok"), "{out}");
    let (status, _, threads) = server.call("GET", "/v1/threads", Some(&token), None).await;
    assert_eq!(status, 200);
    let threads = threads["data"].as_array().unwrap().clone();
    assert_eq!(
        threads.len(),
        2,
        "one conversation, one changed: {threads:#?}"
    );
    // The older thread holds the whole conversation on its active path.
    let first = threads
        .iter()
        .min_by_key(|t| t["created_at"].as_str().unwrap().to_owned())
        .unwrap();
    let (_, _, path) = server
        .call(
            "GET",
            &format!(
                "/v1/threads/{}/messages?limit=100",
                first["id"].as_str().unwrap()
            ),
            Some(&token),
            None,
        )
        .await;
    let roles: Vec<&str> = path["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant",
            "tool",
            "assistant"
        ],
        "{path:#}"
    );
    let last = &path["data"][7];
    assert_eq!(last["content"], "Echo: It is sunny in Lisbon.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchain_resending_history_continues_one_thread_on_sqlite() {
    langchain_history_continues_one_thread(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchain_resending_history_continues_one_thread_on_postgres() {
    langchain_history_continues_one_thread(true).await;
}
