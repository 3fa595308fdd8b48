//! A conversation given whole, as OpenAI's Chat Completions and Responses (without a previous
//! response or conversation) send it: a new thread holding the history, then a reply to the
//! last user message. One use case, so every front door that takes a history does the same.
//!
//! Clients that resend the whole history on every call (LangChain and the Vercel AI SDK in
//! Responses mode, Agents SDK sessions) would leave a new thread per call. So each call given
//! whole is remembered by a key — a digest of its caller, its system prompt and its turns, in
//! order — naming the reply it got. A later call whose input is exactly an earlier call's
//! input, that call's reply, and one new user message (or the results of that reply's tool
//! calls) continues the earlier call's thread under that reply instead (when the caller asks
//! for it: [`NewThread::continue_earlier`]).

use chat_threads_domain::{MessageId, Part, Principal, Role, Thread, ThreadId};
use sha2::{Digest, Sha256};

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
    /// Continue the thread of an earlier call given whole when this one repeats it (its input
    /// and reply) and adds one turn, instead of making a new thread (see the module docs).
    pub continue_earlier: bool,
}

/// What the OpenAI-compatible front door does when a call does not say (`[openai]`, read
/// straight into this type).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiDefaults {
    /// `store` of a response (OpenAI's default: stored).
    pub responses_store: bool,
    /// `store` of a chat completion (OpenAI's default: not stored).
    pub chat_completions_store: bool,
    /// A stored call given whole that repeats an earlier one's input and reply and adds one
    /// turn continues that call's thread ([`NewThread::continue_earlier`]).
    pub continue_histories: bool,
}

impl Default for OpenAiDefaults {
    fn default() -> Self {
        Self {
            responses_store: true,
            chat_completions_store: false,
            continue_histories: true,
        }
    }
}

/// Where the calls given whole are remembered (see the module docs).
pub trait HistoryStore: Clone + Send + Sync + 'static {
    /// Remembers that the call named `key` was answered by `reply` in `thread_id` (a later
    /// call with the same key replaces it).
    fn remember_history(
        &self,
        key: &str,
        thread_id: ThreadId,
        reply: MessageId,
    ) -> impl std::future::Future<Output = Result<(), AppError>> + Send;

    /// The thread and reply of the call named `key`, if one is remembered.
    fn find_history(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Option<(ThreadId, MessageId)>, AppError>> + Send;
}

/// The keys a call given whole needs: of its whole input, and of the earlier call it would
/// continue (all but its last two turns: that call's reply and the new turn).
struct Keys {
    whole: String,
    earlier: Option<String>,
}

/// The keys of `turns` given by `who` with `system_prompt` (see [`Keys`]). Hex SHA-256,
/// chained turn by turn, so a prefix's key does not depend on what follows it.
fn history_keys(who: &Principal, system_prompt: Option<&str>, turns: &[Turn]) -> Keys {
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut state = Sha256::new()
        .chain_update(b"chat-threads history v1\0")
        .chain_update(who.owner().as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(system_prompt.unwrap_or_default().as_bytes())
        .finalize();
    let mut earlier = None;
    for (i, t) in turns.iter().enumerate() {
        let turn = serde_json::to_vec(&(t.role.as_str(), &t.content, &t.parts)).unwrap_or_default();
        state = Sha256::new()
            .chain_update(state)
            .chain_update((turn.len() as u64).to_le_bytes())
            .chain_update(&turn)
            .finalize();
        if i + 3 == turns.len() {
            earlier = Some(hex(&state));
        }
    }
    Keys {
        whole: hex(&state),
        earlier,
    }
}

/// The ids of the tool calls among `parts`, in order.
fn call_ids(parts: &[Part]) -> Vec<&str> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect()
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

impl FollowUp {
    /// The follow-up as the turn it adds to the history (for its key).
    fn turn(&self) -> Turn {
        match self {
            Self::Send(i) => Turn {
                role: Role::User,
                content: i.content.clone(),
                parts: Vec::new(),
            },
            Self::Results(i) => Turn {
                role: Role::Tool,
                content: String::new(),
                parts: i.results.clone(),
            },
        }
    }
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
        let keys = thread.continue_earlier.then(|| {
            let mut turns = history.clone();
            turns.push(follow.turn());
            history_keys(who, thread.system_prompt.as_deref(), &turns)
        });
        let earlier = keys.as_ref().and_then(|k| k.earlier.as_deref());
        if let Some((thread_id, reply)) = self.earlier_call(who, earlier, &history).await {
            let started = match follow {
                FollowUp::Send(input) => {
                    let input = SendInput {
                        parent_id: Some(reply),
                        ..input
                    };
                    self.send(who, thread_id, input).await?
                }
                FollowUp::Results(input) => {
                    self.submit_tool_results(who, thread_id, reply, input)
                        .await?
                }
            };
            self.remember(keys.as_ref(), &started).await;
            let thread = self
                .store
                .get_thread(&who.scope(), thread_id, false)
                .await?;
            return Ok((thread, started));
        }
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
            Ok(started) => {
                self.remember(keys.as_ref(), &started).await;
                Ok((thread, started))
            }
            Err(e) => {
                if let Err(cleanup) = self.store.purge_thread(&who.scope(), thread.id).await {
                    tracing::error!(cause = %cleanup.chain(), thread_id = %thread.id, "removing the thread of a refused request failed");
                }
                Err(e)
            }
        }
    }

    /// The thread and reply of the earlier call this one continues: the call named `key` (of
    /// all but the last two turns), whose reply is the last turn of `history` (same text, same
    /// tool calls), still there and the caller's. `None` (a new thread) otherwise.
    async fn earlier_call(
        &self,
        who: &Principal,
        key: Option<&str>,
        history: &[Turn],
    ) -> Option<(ThreadId, MessageId)> {
        let (key, replied) = (key?, history.last()?);
        let (thread_id, reply) = match self.store.find_history(key).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(cause = %e.chain(), "looking up an earlier call failed");
                return None;
            }
        };
        let message = self
            .store
            .get_message(&who.scope(), thread_id, reply)
            .await
            .ok()?;
        let same = message.role == Role::Assistant
            && replied.role == Role::Assistant
            && message.deleted_at.is_none()
            && message.content.as_str() == replied.content
            && call_ids(&message.parts) == call_ids(&replied.parts);
        same.then_some((thread_id, reply))
    }

    /// Remembers this call (the key of its whole input) as answered by its reply.
    async fn remember(&self, keys: Option<&Keys>, started: &Started) {
        let Some(keys) = keys else {
            return;
        };
        let reply = &started.assistant_message;
        if let Err(e) = self
            .store
            .remember_history(&keys.whole, reply.thread_id, reply.id)
            .await
        {
            tracing::warn!(cause = %e.chain(), "remembering a call given whole failed");
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
