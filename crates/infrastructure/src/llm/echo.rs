//! The built-in offline model: streams back the last user message, word by word. Deterministic,
//! so the service answers (and can be demonstrated and tested) with no model server or key.
//!
//! With tools offered it calls them deterministically: a last user message `call NAME {json}`
//! (NAME an offered tool) makes it call NAME with that JSON (`{}` when none); `tool_choice`
//! `required` or a named tool makes it call the first or the named tool with `{}` otherwise;
//! after a tool result it answers `Echo: ` and the result. The call's id is `call_` and the
//! number of messages in the prompt, unique along a conversation.

use std::time::Duration;

use chat_threads_application::replies::llm::{
    ChatEvent, ChatRequest, ChatStream, LanguageModel, ToolCall, ToolChoice, Usage,
};
use futures_util::StreamExt;

/// The echo model.
#[derive(Debug, Clone)]
pub struct EchoModel {
    delay: Duration,
}

impl EchoModel {
    /// An echo model that waits `delay` between words.
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }

    /// The reply the model gives to a prompt: the last user message echoed, or the result of
    /// the tool just called.
    pub fn reply_to(request: &ChatRequest) -> String {
        if let Some(result) = request.messages.last().filter(|m| m.role == "tool") {
            return format!("Echo: {}", result.content);
        }
        let last = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str());
        format!("Echo: {last}")
    }
}

fn words(text: &str) -> Vec<String> {
    // Keep the separators with the words, so the deltas concatenate to the exact reply.
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        current.push(ch);
        if ch.is_whitespace() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl EchoModel {
    /// The tool call the model makes for a prompt, if it makes one (see the module's doc).
    pub fn tool_call(request: &ChatRequest) -> Option<ToolCall> {
        if request.tools.is_empty() || request.tool_choice == Some(ToolChoice::None) {
            return None;
        }
        let last = request.messages.last().filter(|m| m.role == "user")?;
        let asked = last.content.trim().strip_prefix("call ").and_then(|rest| {
            let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
            request
                .tools
                .iter()
                .any(|t| t.name == name)
                .then(|| (name.to_owned(), args.trim().to_owned()))
        });
        let (name, arguments) = match (asked, &request.tool_choice) {
            (Some((name, args)), _) => (name, args),
            (None, Some(ToolChoice::Named(name))) => (name.clone(), String::new()),
            (None, Some(ToolChoice::Required)) => (request.tools[0].name.clone(), String::new()),
            (None, _) => return None,
        };
        Some(ToolCall {
            id: format!("call_{}", request.messages.len()),
            name,
            arguments: if arguments.is_empty() {
                "{}".into()
            } else {
                arguments
            },
        })
    }
}

impl LanguageModel for EchoModel {
    fn stream(&self, request: ChatRequest) -> ChatStream {
        if let Some(call) = Self::tool_call(&request) {
            let usage = Usage {
                prompt_tokens: u32::try_from(request.messages.len() * 4).unwrap_or(u32::MAX),
                completion_tokens: 1,
            };
            return Box::pin(futures_util::stream::iter([
                Ok(ChatEvent::ToolCall {
                    index: 0,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                }),
                Ok(ChatEvent::Usage(usage)),
            ]));
        }
        let reply = Self::reply_to(&request);
        let prompt_tokens: usize = request
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count() + 4)
            .sum();
        let chunks = words(&reply);
        let usage = Usage {
            prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        };
        let delay = self.delay;
        let deltas = futures_util::stream::iter(chunks).then(move |w| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(ChatEvent::Delta(w))
        });
        Box::pin(deltas.chain(futures_util::stream::once(async move {
            Ok(ChatEvent::Usage(usage))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_threads_application::replies::llm::ChatMessage;

    #[tokio::test]
    async fn echoes_the_last_user_message_in_pieces_that_add_up() {
        let model = EchoModel::new(Duration::ZERO);
        let request = ChatRequest {
            model: "echo".into(),
            messages: vec![
                ChatMessage::text("system", "be nice"),
                ChatMessage::text("user", "hello  there world"),
            ],
            max_tokens: None,
            ..ChatRequest::default()
        };
        let events: Vec<_> = model.stream(request).collect().await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(ChatEvent::Delta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Echo: hello  there world");
        assert!(events.len() > 3, "streamed in pieces");
        assert!(matches!(events.last(), Some(Ok(ChatEvent::Usage(u))) if u.completion_tokens == 5));
    }
}
