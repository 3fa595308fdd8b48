//! What the model sees, assembled without I/O: the system prompt (with the request's hints),
//! the latest summary, and the most recent messages of the path that fit the token budget.
//! The service fetches the path and stores summaries; everything here is a pure function.

use chat_threads_domain::{Message, MessageId, MessageStatus, Part, Summary, Thread, Timestamp};

use crate::error::AppError;
use crate::replies::ReplySettings;
use crate::replies::llm::{ChatMessage, ChatRequest, TokenCounter, ToolCall};

/// Hints from the request that reach the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    /// Language to answer in (e.g. "fr" or "French").
    pub language: Option<String>,
    /// The user's IANA time zone (e.g. "Europe/Lisbon").
    pub timezone: Option<String>,
    /// Most tokens the reply may have, if the caller set fewer than `replies.max_tokens`.
    pub max_tokens: Option<u32>,
    /// Sampling settings for the model, checked.
    pub sampling: crate::replies::llm::Sampling,
    /// The caller's tools the model may call, checked.
    pub tools: crate::replies::llm::ToolOffer,
}

/// Longest hint, in bytes.
const HINT_MAX: usize = 64;

impl Hints {
    /// Parses raw hints, the same for every front door: each at most 64 bytes without control
    /// characters (they go into the system prompt); blank means absent.
    pub fn parse(language: Option<String>, timezone: Option<String>) -> Result<Self, AppError> {
        let check = |field: &'static str, v: Option<String>| -> Result<Option<String>, AppError> {
            match v {
                Some(s) if s.chars().count() > HINT_MAX || s.chars().any(char::is_control) => {
                    Err(chat_threads_domain::DomainError::invalid(
                        field,
                        format!(
                            "must be at most {HINT_MAX} characters, without control characters"
                        ),
                    )
                    .into())
                }
                other => Ok(other.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())),
            }
        };
        Ok(Self {
            language: check("language", language)?,
            timezone: check("timezone", timezone)?,
            ..Self::default()
        })
    }
}

impl Hints {
    /// Every setting a reply request carries, checked the same for every front door.
    pub fn checked(
        language: Option<String>,
        timezone: Option<String>,
        max_tokens: Option<u32>,
        sampling: crate::replies::llm::Sampling,
        tools: crate::replies::llm::ToolOffer,
    ) -> Result<Self, AppError> {
        crate::replies::llm::check_tools(&tools.tools, tools.choice.as_ref())?;
        if max_tokens == Some(0) {
            return Err(chat_threads_domain::DomainError::invalid(
                "max_tokens",
                "must be at least 1",
            )
            .into());
        }
        Ok(Self {
            max_tokens,
            sampling: sampling.check()?,
            tools,
            ..Self::parse(language, timezone)?
        })
    }
}

/// The system prompt: the thread's, else its product's, else the default; then the hints.
pub fn system_prompt(
    settings: &ReplySettings,
    thread: &Thread,
    hints: &Hints,
    now: Timestamp,
) -> Option<String> {
    let base = thread
        .system_prompt
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| {
            thread
                .product
                .as_ref()
                .and_then(|p| settings.replies.products.get(p.as_str()).cloned())
        })
        .or_else(|| settings.replies.default_system_prompt.clone());
    let mut extra = Vec::new();
    if let Some(lang) = &hints.language {
        extra.push(format!("Answer in this language: {lang}."));
    }
    if let Some(tz) = &hints.timezone {
        let now = now.format("%Y-%m-%d %H:%M UTC");
        extra.push(format!("The user's time zone is {tz}; it is now {now}."));
    }
    match (base, extra.is_empty()) {
        (None, true) => None,
        (Some(b), true) => Some(b),
        (b, false) => Some(b.into_iter().chain(extra).collect::<Vec<_>>().join("\n\n")),
    }
}

/// Tokens a text costs in the prompt, with the per-message overhead.
pub fn cost(counter: &dyn TokenCounter, text: &str) -> usize {
    counter.count(text) + 4
}

/// Tokens a request's messages cost, as counted for usage when the provider reports none
/// (their text; images and parts are not counted here).
pub fn messages_cost(counter: &dyn TokenCounter, messages: &[ChatMessage]) -> usize {
    messages.iter().map(|m| cost(counter, &m.content)).sum()
}

/// Tokens a message's text and tool parts cost in the prompt (reasoning is not sent back).
pub fn message_cost(counter: &dyn TokenCounter, m: &Message) -> usize {
    let parts: usize = m
        .parts
        .iter()
        .map(|p| match p {
            Part::ToolCall {
                name, arguments, ..
            } => counter.count(name) + counter.count(arguments) + 4,
            Part::ToolResult { output, .. } => cost(counter, &Part::output_text(output)),
            Part::Reasoning { .. } => 0,
        })
        .sum();
    cost(counter, m.content.as_str()) + parts
}

/// Tokens a message of the prompt costs: its text, its images, its calls.
fn sent_cost(counter: &dyn TokenCounter, m: &ChatMessage) -> usize {
    cost(counter, &m.content)
        + m.images.len() * IMAGE_TOKENS
        + m.tool_calls
            .iter()
            .map(|c| counter.count(&c.name) + counter.count(&c.arguments) + 4)
            .sum::<usize>()
}

/// Tokens an image is counted as (OpenAI's cost of a 512×512 tile at high detail plus the base).
pub const IMAGE_TOKENS: usize = 765;

/// The most an attachment adds to the prompt: an image's fixed cost, else its text up to the
/// per-file budget (about 3 bytes a token).
pub fn attachment_cost(settings: &ReplySettings, a: &chat_threads_domain::Attachment) -> usize {
    if a.is_image() {
        IMAGE_TOKENS
    } else {
        let estimate = usize::try_from(a.size / 3).unwrap_or(usize::MAX);
        estimate.min(settings.inline_tokens) + 16
    }
}

/// What a message's attachments add to it in the prompt: text appended to its content, and
/// images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attached {
    /// Appended to the message's text.
    pub text: String,
    /// `data:` URLs.
    pub images: Vec<String>,
    /// What each attachment gave the model, for the reply's record (`metadata.prompt`): the
    /// client learns of a cut or a refused file as the model does.
    pub report: Vec<serde_json::Value>,
}

/// The first `budget` tokens of `text`, and whether it was cut.
pub fn within_tokens(counter: &dyn TokenCounter, text: &str, budget: usize) -> (String, bool) {
    if counter.count(text) <= budget {
        return (text.to_owned(), false);
    }
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let (mut lo, mut hi) = (0usize, bounds.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if counter.count(&text[..bounds[mid.min(bounds.len() - 1)]]) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let end = bounds.get(lo).copied().unwrap_or(text.len());
    (text[..end].to_owned(), true)
}

/// How the recent path goes into the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The latest summary, if it covers a message of the path.
    pub summary: Option<Summary>,
    /// Older messages that no longer fit: to be summarized (with `summary`) first.
    pub overflow: Vec<Message>,
    /// The messages sent as they are, oldest first.
    pub window: Vec<Message>,
}

/// Splits the recent path (oldest first): messages the latest summary covers are dropped, the
/// newest that fit `settings.replies.context_tokens` (after the system prompt and the summary) are
/// kept — always at least one — and the rest overflow.
pub fn plan(
    settings: &ReplySettings,
    counter: &dyn TokenCounter,
    system: Option<&str>,
    path: Vec<Message>,
    latest_summary: Option<Summary>,
) -> Plan {
    let mut window: Vec<Message> = path
        .into_iter()
        .filter(|m| {
            !m.is_tombstone()
                && (!m.content.as_str().is_empty() || !m.parts.is_empty())
                && m.status != MessageStatus::Streaming
        })
        .collect();
    let mut summary = latest_summary;
    if let Some(s) = &summary {
        match window.iter().position(|m| m.id == s.covers_message_id) {
            Some(i) => {
                window.drain(..=i);
            }
            None => summary = None,
        }
    }
    let fixed = system.map_or(0, |s| cost(counter, s))
        + summary
            .as_ref()
            .map_or(0, |s| cost(counter, s.text.as_str()));
    let budget = settings.replies.context_tokens.saturating_sub(fixed);
    let mut used = 0;
    let mut keep_from = window.len();
    for (i, m) in window.iter().enumerate().rev() {
        let c = message_cost(counter, m)
            + m.attachments
                .iter()
                .map(|a| attachment_cost(settings, a))
                .sum::<usize>();
        if used + c > budget && keep_from < window.len() {
            break;
        }
        used += c;
        keep_from = i;
    }
    let overflow = window.drain(..keep_from).collect();
    Plan {
        summary,
        overflow,
        window,
    }
}

/// The request that asks the model to summarize the overflow (with the previous summary).
pub fn summary_request(
    settings: &ReplySettings,
    model_name: &str,
    previous: Option<&Summary>,
    overflow: &[Message],
) -> ChatRequest {
    let mut transcript = String::new();
    if let Some(p) = previous {
        transcript.push_str(&format!("Earlier summary: {}\n\n", p.text));
    }
    for m in overflow {
        transcript.push_str(&format!("{}: {}\n", m.role.as_str(), m.content));
    }
    ChatRequest {
        model: model_name.to_owned(),
        messages: vec![
            ChatMessage::text("system", settings.replies.summary_prompt.clone()),
            ChatMessage::text("user", transcript),
        ],
        max_tokens: Some(512),
        ..ChatRequest::default()
    }
}

/// What a reply's prompt was built from, recorded on the reply (`metadata.prompt`): the model,
/// the system prompt, the summary and the messages it used (ids, in order) with the tokens each
/// took, the tools offered (by name), and the settings it was sent with.
pub fn manifest(
    model: &str,
    counter: &dyn TokenCounter,
    summary: Option<&Summary>,
    prompt: &[(Option<MessageId>, ChatMessage)],
    hints: &Hints,
    max_tokens: Option<u32>,
) -> serde_json::Value {
    let tokens = |m: &ChatMessage| sent_cost(counter, m);
    // The prompt is [system][summary] then the window's messages, in order; a tool message
    // with several results is one entry.
    let lead: Vec<&ChatMessage> = prompt
        .iter()
        .take_while(|(id, _)| id.is_none())
        .map(|(_, m)| m)
        .collect();
    let system = lead
        .first()
        .filter(|_| lead.len() > usize::from(summary.is_some()));
    let mut parts: Vec<serde_json::Value> = Vec::new();
    let mut last: Option<MessageId> = None;
    for (id, m) in prompt.iter().skip(lead.len()) {
        let Some(id) = id else { continue };
        if last == Some(*id)
            && let Some(entry) = parts.last_mut()
        {
            entry["tokens"] =
                serde_json::json!(entry["tokens"].as_u64().unwrap_or(0) + tokens(m) as u64);
            continue;
        }
        last = Some(*id);
        parts.push(serde_json::json!({"id": id, "role": m.role, "tokens": tokens(m)}));
    }
    let mut out = serde_json::json!({
        "model": model,
        "system_prompt": system.map(|m| m.content.as_str()),
        "system_tokens": system.map(|m| tokens(m)),
        "summary_id": summary.map(|s| s.id),
        "summary_tokens": summary.and(lead.last()).map(|m| tokens(m)),
        "messages": parts,
        "total_tokens": prompt.iter().map(|(_, m)| tokens(m)).sum::<usize>(),
        "max_tokens": max_tokens,
    });
    if !hints.tools.tools.is_empty() {
        let names: Vec<&str> = hints.tools.tools.iter().map(|t| t.name.as_str()).collect();
        out["tools"] = serde_json::json!(names);
    }
    if hints.sampling != crate::replies::llm::Sampling::default() {
        // The structured-output format by its type and name: its schema is the caller's to
        // keep (it may be large, and hold what a database refuses to store).
        let format = hints.sampling.response_format.as_ref().map(
            |f| serde_json::json!({"type": f["type"], "name": f.pointer("/json_schema/name")}),
        );
        let sampling = crate::replies::llm::Sampling {
            response_format: format,
            ..hints.sampling.clone()
        };
        out["sampling"] = serde_json::json!(sampling);
    }
    out
}

/// The messages sent to the model, each with the stored message it comes from: system prompt,
/// summary, then the window, each message with what its attachments add (`attached`, by
/// message). An assistant message's tool calls go with it and a tool message becomes one
/// `tool` message per result; calls and results are sent only in pairs ([`paired`]).
///
/// Speakers are named when more than one person wrote the window's user messages (members of
/// a shared thread): each user message then carries its author's name (OpenAI's `name`:
/// [`chat_threads_domain::Author::speaker_name`]), so the model can tell them apart. A thread
/// one person writes sends no names.
pub fn messages(
    system: Option<String>,
    summary: Option<&Summary>,
    window: Vec<Message>,
    mut attached: std::collections::HashMap<MessageId, Attached>,
) -> Vec<(Option<MessageId>, ChatMessage)> {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push((None, ChatMessage::text("system", s)));
    }
    if let Some(s) = summary {
        messages.push((
            None,
            ChatMessage::text(
                "system",
                format!("Summary of the conversation so far:\n{}", s.text),
            ),
        ));
    }
    let speakers: std::collections::HashSet<&str> = window
        .iter()
        .filter(|m| m.role == chat_threads_domain::Role::User)
        .filter_map(|m| m.author.as_ref().map(|a| a.id.as_str()))
        .collect();
    let named = speakers.len() > 1;
    for m in window {
        let extra = attached.remove(&m.id).unwrap_or_default();
        let mut content = m.content.into_inner();
        content.push_str(&extra.text);
        let id = Some(m.id);
        let name = m
            .author
            .as_ref()
            .filter(|_| named && m.role == chat_threads_domain::Role::User)
            .and_then(chat_threads_domain::Author::speaker_name);
        messages.extend(
            expand(m.role.as_str(), content, extra.images, m.parts)
                .into_iter()
                .map(|c| {
                    let name = if c.role == "user" { name.clone() } else { None };
                    (id, ChatMessage { name, ..c })
                }),
        );
    }
    paired(messages)
}

/// One message as the model reads it: a tool message's results become one `tool` message
/// each; an assistant message that ran tools (MCP) gives each run of calls, then their results,
/// as the model saw them; its text (with `images`) and the calls it waits on come last, and
/// nothing when it has neither. Reasoning is not sent back.
pub fn expand(
    role: &'static str,
    content: String,
    images: Vec<String>,
    parts: Vec<Part>,
) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let mut calls = Vec::new();
    for part in parts {
        match part {
            Part::ToolCall {
                call_id,
                name,
                arguments,
                ..
            } => calls.push(ToolCall {
                id: call_id,
                name,
                arguments,
            }),
            Part::ToolResult {
                call_id, output, ..
            } => {
                if !calls.is_empty() {
                    out.push(ChatMessage {
                        tool_calls: std::mem::take(&mut calls),
                        ..ChatMessage::text("assistant", "")
                    });
                }
                out.push(ChatMessage {
                    tool_call_id: Some(call_id),
                    ..ChatMessage::text("tool", Part::output_text(&output))
                });
            }
            Part::Reasoning { .. } => {}
        }
    }
    if !content.is_empty() || !calls.is_empty() || !images.is_empty() {
        out.push(ChatMessage {
            role,
            content,
            images,
            tool_calls: calls,
            tool_call_id: None,
            name: None,
        });
    }
    out
}

/// Keeps tool calls and results in pairs, as model servers require: an assistant message's
/// calls stay only when a `tool` message right after it answers them, and a `tool` message
/// stays only when it answers a call of the assistant message it follows. An assistant message
/// left with neither text nor calls is dropped.
pub fn paired(
    messages: Vec<(Option<MessageId>, ChatMessage)>,
) -> Vec<(Option<MessageId>, ChatMessage)> {
    let mut out: Vec<(Option<MessageId>, ChatMessage)> = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let (id, m) = &messages[i];
        let following = &messages[i + 1..];
        let following = &following[..following
            .iter()
            .take_while(|(_, r)| r.role == "tool")
            .count()];
        let results: Vec<&str> = following
            .iter()
            .filter_map(|(_, r)| r.tool_call_id.as_deref())
            .collect();
        if m.role == "tool" {
            // Reached only when no assistant message with calls comes right before.
            i += 1;
            continue;
        }
        if m.tool_calls.is_empty() {
            out.push((*id, m.clone()));
            i += 1;
            continue;
        }
        let mut call = m.clone();
        call.tool_calls.retain(|c| results.contains(&c.id.as_str()));
        let answered: Vec<String> = call.tool_calls.iter().map(|c| c.id.clone()).collect();
        if !call.tool_calls.is_empty() || !call.content.is_empty() {
            out.push((*id, call));
        }
        let mut sent = std::collections::HashSet::new();
        for (rid, r) in following {
            let call_id = r.tool_call_id.as_deref().unwrap_or("");
            if answered.iter().any(|a| a == call_id) && sent.insert(call_id.to_owned()) {
                out.push((*rid, r.clone()));
            }
        }
        i += 1 + following.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_threads_domain::{
        Content, ContentType, MessageId, Metadata, Owner, ProductName, Role, SummaryId,
        SystemPrompt, ThreadId,
    };

    /// One token per word: easy to reason about.
    struct Words;
    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    fn settings(context_tokens: usize) -> ReplySettings {
        ReplySettings {
            replies: super::super::RepliesSettings {
                context_tokens,
                default_system_prompt: Some("Default.".into()),
                products: [("co_pilot".to_owned(), "Product.".to_owned())].into(),
                summary_prompt: "Summarize.".into(),
                ..Default::default()
            },
            ..ReplySettings::default()
        }
    }

    fn thread() -> Thread {
        Thread::new(Owner::parse("user:a").unwrap(), chrono::Utc::now())
    }

    fn message(thread: ThreadId, text: &str, status: MessageStatus) -> Message {
        let now = chrono::Utc::now();
        Message {
            id: MessageId::new(),
            thread_id: thread,
            parent_id: None,
            depth: 0,
            role: Role::User,
            content: Content::from_stored(text.to_owned()),
            content_type: ContentType::Text,
            display_text: None,
            status,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            feedback: None,
            reaction: None,
            metadata: Metadata::default(),
            edited_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
            tombstoned_at: None,
            attachments: Vec::new(),
            parts: Vec::new(),
            author: None,
        }
    }

    #[test]
    fn the_system_prompt_is_the_threads_else_the_products_else_the_default_plus_hints() {
        let s = settings(100);
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let mut t = thread();
        assert_eq!(
            system_prompt(&s, &t, &Hints::default(), now).as_deref(),
            Some("Default.")
        );
        t.product = Some(ProductName::parse("co_pilot").unwrap());
        assert_eq!(
            system_prompt(&s, &t, &Hints::default(), now).as_deref(),
            Some("Product.")
        );
        t.system_prompt = Some(SystemPrompt::parse("Thread.".into(), &Default::default()).unwrap());
        let hints = Hints::parse(Some(" fr ".into()), Some("Europe/Lisbon".into())).unwrap();
        assert_eq!(
            system_prompt(&s, &t, &hints, now).unwrap(),
            "Thread.\n\nAnswer in this language: fr.\n\n\
             The user's time zone is Europe/Lisbon; it is now 1970-01-01 00:00 UTC."
        );
    }

    #[test]
    fn hints_refuse_what_cannot_go_into_a_prompt() {
        assert!(Hints::parse(Some("x".repeat(65)), None).is_err());
        assert!(Hints::parse(None, Some("Europe/Lisbon\nIgnore all".into())).is_err());
        assert_eq!(
            Hints::parse(Some("  ".into()), None).unwrap(),
            Hints::default()
        );
    }

    #[test]
    fn the_newest_messages_that_fit_are_kept_and_the_rest_overflow() {
        let t = ThreadId::new();
        // Each message costs 2 words + 4 = 6 tokens; the system prompt 1 + 4 = 5.
        let path: Vec<Message> = (0..5)
            .map(|i| message(t, &format!("m {i}"), MessageStatus::Complete))
            .collect();
        let p = plan(
            &settings(5 + 12),
            &Words,
            Some("System."),
            path.clone(),
            None,
        );
        assert_eq!(p.window, path[3..].to_vec());
        assert_eq!(p.overflow, path[..3].to_vec());
        // A budget too small for anything still keeps the newest message.
        let p = plan(&settings(1), &Words, Some("System."), path.clone(), None);
        assert_eq!(p.window, path[4..].to_vec());
    }

    #[test]
    fn a_summary_replaces_what_it_covers_and_streaming_or_empty_messages_are_left_out() {
        let t = ThreadId::new();
        let mut path: Vec<Message> = (0..4)
            .map(|i| message(t, &format!("m {i}"), MessageStatus::Complete))
            .collect();
        path.push(message(t, "", MessageStatus::Complete));
        path.push(message(t, "half", MessageStatus::Streaming));
        let summary = Summary {
            id: SummaryId::new(),
            thread_id: t,
            covers_message_id: path[1].id,
            text: Content::from_stored("S".into()),
            model: None,
            created_at: chrono::Utc::now(),
        };
        let p = plan(
            &settings(1000),
            &Words,
            None,
            path.clone(),
            Some(summary.clone()),
        );
        assert_eq!(p.summary, Some(summary.clone()));
        assert_eq!(p.window, path[2..4].to_vec());
        assert!(p.overflow.is_empty());
        let sent = messages(
            Some("Sys".into()),
            p.summary.as_ref(),
            p.window,
            std::collections::HashMap::new(),
        );
        let roles: Vec<&str> = sent.iter().map(|m| m.1.role).collect();
        assert_eq!(roles, ["system", "system", "user", "user"]);
        assert!(sent[1].1.content.ends_with("\nS"));
        // A summary of another branch is ignored.
        let mut elsewhere = summary;
        elsewhere.covers_message_id = MessageId::new();
        let p = plan(&settings(1000), &Words, None, path.clone(), Some(elsewhere));
        assert_eq!((p.summary, p.window.len()), (None, 4));
    }

    #[test]
    fn tool_calls_and_results_reach_the_model_only_in_pairs() {
        let call = |ids: &[&str]| ChatMessage {
            role: "assistant",
            tool_calls: ids
                .iter()
                .map(|id| ToolCall {
                    id: (*id).to_owned(),
                    name: "f".into(),
                    arguments: "{}".into(),
                })
                .collect(),
            ..ChatMessage::default()
        };
        let result = |id: &str| ChatMessage {
            tool_call_id: Some(id.to_owned()),
            ..ChatMessage::text("tool", "r")
        };
        let one = |m: ChatMessage| (Some(MessageId::new()), m);
        let sent = paired(vec![
            // A result whose call is not in the prompt (cut off by the window, or a tombstone).
            one(result("old")),
            one(ChatMessage::text("user", "q")),
            // Two calls, one answered: the other call is dropped.
            one(call(&["a", "b"])),
            one(result("a")),
            one(result("zzz")),
            // Calls answered by nobody (a user wrote instead): dropped with their message.
            one(call(&["c"])),
            one(ChatMessage::text("user", "never mind")),
        ]);
        let shape: Vec<(&str, Vec<&str>, Option<&str>)> = sent
            .iter()
            .map(|(_, m)| {
                (
                    m.role,
                    m.tool_calls.iter().map(|c| c.id.as_str()).collect(),
                    m.tool_call_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("user", vec![], None),
                ("assistant", vec!["a"], None),
                ("tool", vec![], Some("a")),
                ("user", vec![], None),
            ]
        );
    }

    #[test]
    fn the_summary_request_carries_the_previous_summary_and_the_overflow() {
        let t = ThreadId::new();
        let overflow = vec![message(t, "hello there", MessageStatus::Complete)];
        let r = summary_request(&settings(10), "m1", None, &overflow);
        assert_eq!(r.model, "m1");
        assert_eq!(r.messages[0].content, "Summarize.");
        assert_eq!(r.messages[1].content, "user: hello there\n");
    }
}
