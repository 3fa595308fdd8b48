//! Tool results sent back to a reply that called the caller's tools: stored as one tool
//! message under it, answering every call, and the reply that continues from them.

use chat_threads_domain::{
    Content, ContentType, MessageId, MessageStatus, Metadata, Principal, Role, ThreadId,
};
use serde_json::Value;

use super::{ReplyService, ReplyStores, Sampling, Started, llm};
use crate::error::AppError;
use crate::messages::{Anchor, NewMessage};
use crate::system::Clock;

/// Input of tool results sent back to a reply that called tools.
#[derive(Debug, Clone, Default)]
pub struct ToolResultsInput {
    /// One `tool_result` part per call of the reply.
    pub results: Vec<chat_threads_domain::Part>,
    /// Model for the continuation; default the calling reply's.
    pub model: Option<String>,
    /// Language to answer in, raw.
    pub language: Option<String>,
    /// The user's time zone, raw.
    pub timezone: Option<String>,
    /// Most tokens the continuation may have.
    pub max_tokens: Option<u32>,
    /// Sampling settings for the model.
    pub sampling: Sampling,
    /// Tools the model may call in the continuation (sent again, as chat completions does).
    pub tools: llm::ToolOffer,
    /// Metadata of the tool message.
    pub metadata: Option<Value>,
}

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// Stores the results of the tools a reply called (one tool message under it, answering
    /// every call) and starts the reply that continues from them. A reply answered before gets
    /// another branch of results.
    pub async fn submit_tool_results(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        of: MessageId,
        input: ToolResultsInput,
    ) -> Result<Started, AppError> {
        let hints = self.hints(
            who,
            input.language,
            input.timezone,
            input.max_tokens,
            input.sampling,
            input.tools,
        )?;
        let scope =
            crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Write)
                .await?;
        let (thread, calling) = self
            .thread_and_message(
                &scope,
                thread_id,
                of,
                Role::Assistant,
                "only an assistant reply that called tools takes their results",
            )
            .await?;
        if calling.status != MessageStatus::RequiresAction {
            return Err(chat_threads_domain::DomainError::MessageUnusable(
                of,
                "this reply called no tools, so it waits for no results",
            )
            .into());
        }
        if input.results.is_empty() {
            return Err(chat_threads_domain::DomainError::invalid(
                "results",
                "give one result per call",
            )
            .into());
        }
        chat_threads_domain::check_parts(Role::Tool, &input.results, &self.limits)?;
        let ids: Vec<&str> = input.results.iter().filter_map(|p| p.call_id()).collect();
        chat_threads_domain::pairing::check_results(
            &ids,
            chat_threads_domain::pairing::answered_calls([&calling]),
            true,
        )?;
        let requested = input
            .model
            .or_else(|| calling.model.as_ref().map(ToString::to_string));
        let (model_name, model) = self.catalog.resolve(
            who,
            requested.as_deref(),
            thread.model.as_ref().map(|m| m.as_str()),
        )?;
        let results = NewMessage {
            id: MessageId::new(),
            role: Role::Tool,
            content: Content::from_stored(String::new()),
            content_type: ContentType::Text,
            display_text: None,
            status: MessageStatus::Complete,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            metadata: Metadata::parse(input.metadata.unwrap_or_default(), &self.limits)?,
            edited_at: None,
            created_at: self.clock.now(),
            attachments: Vec::new(),
            parts: input.results,
            author: Some(chat_threads_domain::Author::of(who)),
        };
        let (results, assistant) = self
            .begin(
                who,
                &scope,
                thread_id,
                Some((Anchor::Append(Some(of)), results)),
                (None, self.placeholder(&model_name)),
            )
            .await?;
        Ok(self.start(
            who, scope, thread, results, assistant, model_name, model, hints,
        ))
    }
}
