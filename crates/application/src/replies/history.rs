//! A conversation given whole, as OpenAI's Chat Completions and Responses (without a previous
//! response or conversation) send it: a new thread holding the history, then a reply to the
//! last user message. One use case, so every front door that takes a history does the same.

use chat_threads_domain::{Principal, Role, Thread};

use super::{ReplyService, ReplyStores, SendInput, Started, ToolResultsInput};
use crate::error::AppError;
use crate::system::Clock;
use crate::transfer::{Builder, ImportOutcome, ImportStore, MessageRecord, ThreadRecord, finish};

/// A new thread for a history.
#[derive(Debug, Clone, Default)]
pub struct NewThread {
    /// Its metadata (a JSON object).
    pub metadata: Option<serde_json::Value>,
    /// Its system prompt.
    pub system_prompt: Option<String>,
    /// Its model.
    pub model: Option<String>,
}

/// One earlier message of the history.
#[derive(Debug, Clone)]
pub struct Turn {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
    /// Its tool calls (assistant) or tool results (tool), checked like any message's.
    pub parts: Vec<chat_threads_domain::Part>,
}

/// What follows a stored history: a user message and its reply, or tool results and the reply
/// that continues from them.
enum FollowUp {
    Send(SendInput),
    Results(ToolResultsInput),
}

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores + ImportStore,
    C: Clock,
{
    /// Stores `history` in a new thread, in one transaction (the thread and every message, or
    /// nothing), then sends `input` under its last message. Whatever can be refused is checked
    /// before anything is written (the model, the messages, the limits); a refusal of the reply
    /// itself (quota, balance, a reply already running) removes the thread again, so a refused
    /// request leaves nothing behind.
    pub async fn send_with_history(
        &self,
        who: &Principal,
        thread: NewThread,
        history: Vec<Turn>,
        input: SendInput,
    ) -> Result<(Thread, Started), AppError> {
        self.with_history(who, thread, history, FollowUp::Send(input))
            .await
    }

    /// Like [`ReplyService::send_with_history`] for a history whose last turn is an assistant
    /// message that calls tools: stores it, then the results in `input` under that message
    /// (answering every call) and the reply that continues from them.
    pub async fn results_with_history(
        &self,
        who: &Principal,
        thread: NewThread,
        history: Vec<Turn>,
        input: ToolResultsInput,
    ) -> Result<(Thread, Started), AppError> {
        self.with_history(who, thread, history, FollowUp::Results(input))
            .await
    }

    async fn with_history(
        &self,
        who: &Principal,
        thread: NewThread,
        history: Vec<Turn>,
        follow: FollowUp,
    ) -> Result<(Thread, Started), AppError> {
        let model = match &follow {
            FollowUp::Send(i) => i.model.as_deref(),
            FollowUp::Results(i) => i.model.as_deref(),
        };
        self.catalog.resolve(who, model, thread.model.as_deref())?;
        let (thread, messages) = self.store_history(who, thread, history).await?;
        let last = messages.last().map(|m| m.id);
        let started = match (follow, last) {
            (FollowUp::Send(input), _) => {
                let input = SendInput {
                    parent_id: last,
                    ..input
                };
                self.send(who, thread.id, input).await
            }
            (FollowUp::Results(input), Some(last)) => {
                self.submit_tool_results(who, thread.id, last, input).await
            }
            (FollowUp::Results(_), None) => Err(chat_threads_domain::DomainError::invalid(
                "input",
                "tool results need the assistant message that called the tools",
            )
            .into()),
        };
        match started {
            Ok(started) => Ok((thread, started)),
            Err(e) => {
                if let Err(cleanup) = self.store.purge_thread(&who.scope(), thread.id).await {
                    tracing::error!(cause = %cleanup.chain(), thread_id = %thread.id, "removing the thread of a refused request failed");
                }
                Err(e)
            }
        }
    }

    /// Stores `history` in a new thread, in one transaction: the thread and every message, one
    /// under the other, or nothing. Returns the thread and its messages.
    pub async fn store_history(
        &self,
        who: &Principal,
        thread: NewThread,
        history: Vec<Turn>,
    ) -> Result<(Thread, Vec<chat_threads_domain::Message>), AppError> {
        if let Some(model) = &thread.model {
            self.catalog.resolve(who, Some(model), None)?;
        }
        let now = self.clock.now();
        let b = Builder {
            who,
            limits: &self.limits,
            now,
        };
        let (record, _) = b.thread(ThreadRecord {
            id: uuid::Uuid::now_v7(),
            title: String::new(),
            product: None,
            org_id: None,
            status: "active".into(),
            document_id: None,
            external_id: None,
            metadata: thread.metadata.unwrap_or_else(|| serde_json::json!({})),
            system_prompt: thread.system_prompt,
            model: thread.model,
            active_leaf_id: None,
            created_at: None,
            updated_at: None,
            deleted_at: None,
            expires_at: None,
            tags: Vec::new(),
            folder_id: None,
            pinned: false,
        })?;
        let mut ids = std::collections::HashMap::new();
        let mut messages = Vec::with_capacity(history.len());
        let mut parent = None;
        for turn in history {
            let id = uuid::Uuid::now_v7();
            let m = b
                .message(
                    MessageRecord {
                        id,
                        thread_id: record.id.as_uuid(),
                        parent_id: parent,
                        role: turn.role.as_str().to_owned(),
                        // Checked here so a refusal keeps its own code (limit_exceeded).
                        content: chat_threads_domain::Content::parse(turn.content, &self.limits)?
                            .into_inner(),
                        content_type: "text".into(),
                        display_text: None,
                        status: "complete".into(),
                        model: None,
                        prompt_tokens: None,
                        completion_tokens: None,
                        feedback: None,
                        reaction: None,
                        metadata: serde_json::json!({}),
                        edited_at: None,
                        created_at: None,
                        deleted_at: None,
                        tombstoned_at: None,
                        attachments: Vec::new(),
                        // The caller wrote the turns it sends (the model's are no one's).
                        author: (turn.role == chat_threads_domain::Role::User)
                            .then(|| chat_threads_domain::Author::of(who)),
                        parts: turn.parts,
                    },
                    &record,
                    &ids,
                )
                .map_err(|reason| chat_threads_domain::DomainError::invalid("messages", reason))?;
            ids.insert(id, (m.id, m.depth));
            parent = Some(id);
            messages.push(m);
        }
        let last = messages.last().map(|m| m.id);
        let stored = finish(
            crate::transfer::ImportedThread {
                thread: record,
                messages,
                summaries: Vec::new(),
                source_id: String::new(),
            },
            last,
        );
        let (thread, messages) = (stored.thread.clone(), stored.messages.clone());
        match self.store.import_threads(vec![stored]).await?.pop() {
            Some(ImportOutcome::Imported { .. }) => Ok((thread, messages)),
            _ => Err(AppError::internal(
                "a new thread for a history was not stored",
            )),
        }
    }
}
