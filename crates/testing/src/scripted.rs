//! A language model that plays back a script, for unit tests of replies: it records every
//! request, answers each with the next scripted reply (text in pieces, then usage, or an error
//! after some pieces), and can be told to wait between pieces.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_threads_application::replies::llm::{
    ChatEvent, ChatRequest, ChatStream, LanguageModel, ModelError,
};
use chat_threads_application::usage::Usage;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The pieces of text, in order.
    pub pieces: Vec<String>,
    /// Fails with this error after the pieces, instead of finishing.
    pub fail: Option<String>,
    /// Usage reported at the end (none: the service estimates it).
    pub usage: Option<Usage>,
    /// Pause before each piece.
    pub delay: Duration,
}

impl Answer {
    /// An answer made of these pieces.
    pub fn text(pieces: &[&str]) -> Self {
        Self {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            fail: None,
            usage: None,
            delay: Duration::ZERO,
        }
    }
}

/// The scripted model; clones share the script and the record.
#[derive(Debug, Clone, Default)]
pub struct ScriptedModel {
    script: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedModel {
    /// A model that gives these answers, in order (then empty answers).
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Arc::new(Mutex::new(answers.into_iter().collect())),
            requests: Arc::default(),
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl LanguageModel for ScriptedModel {
    fn stream(&self, request: ChatRequest) -> ChatStream {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request);
        }
        let answer = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| Answer::text(&[]));
        let delay = answer.delay;
        let mut items: Vec<Result<ChatEvent, ModelError>> = answer
            .pieces
            .into_iter()
            .map(|p| Ok(ChatEvent::Delta(p)))
            .collect();
        match answer.fail {
            Some(reason) => items.push(Err(ModelError::Protocol(reason))),
            None => items.extend(answer.usage.map(|u| Ok(ChatEvent::Usage(u)))),
        }
        Box::pin(
            futures_util::stream::iter(items).then(move |item| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                item
            }),
        )
    }
}

use futures_util::StreamExt as _;
