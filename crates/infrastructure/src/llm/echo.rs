//! The built-in offline model: streams back the last user message, word by word. Deterministic,
//! so the service answers (and can be demonstrated and tested) with no model server or key.

use std::time::Duration;

use chat_threads_application::replies::llm::{
    ChatEvent, ChatRequest, ChatStream, LanguageModel, Usage,
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

    /// The reply the model gives to a prompt.
    pub fn reply_to(request: &ChatRequest) -> String {
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

impl LanguageModel for EchoModel {
    fn stream(&self, request: ChatRequest) -> ChatStream {
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
