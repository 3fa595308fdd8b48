//! The task that writes one reply: builds the context (summarizing what no longer fits),
//! streams the model's answer into the reply's log, flushes the text now and then, and stores
//! the outcome. It runs on the reply runtime, not in a request.

use std::sync::Arc;

use chat_threads_domain::parts::without_nul;
use chat_threads_domain::{
    Content, Message, MessageStatus, ModelName, Part, Principal, Summary, SummaryId, Thread,
};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::billing::ChargeKind;
use crate::error::AppError;
use crate::events::{Event, EventError, Typing, calls_of};
use crate::replies::llm::{ChatEvent, ChatMessage, ChatRequest, SharedModel, ToolCalls, user_id};
use crate::replies::log::ReplyLog;
use crate::replies::prompt::{self, Hints};
use crate::replies::{ReplyService, ReplyStores, ReplyUpdate};
use crate::system::Clock;
use crate::usage::Usage;

enum Outcome {
    Completed,
    Cancelled,
    /// The reply failed: the model (`model_error`), or something of ours while preparing it
    /// (its own code, never reported as the model's fault).
    Failed(EventError),
}

/// What the model wrote, and how it ended.
struct Written {
    outcome: Outcome,
    text: String,
    usage: Option<Usage>,
    prompt_cost: usize,
    reasoning: String,
    calls: ToolCalls,
}

impl Written {
    /// Ended before the model was asked.
    fn before(outcome: Outcome) -> Self {
        Self {
            outcome,
            text: String::new(),
            usage: None,
            prompt_cost: 0,
            reasoning: String::new(),
            calls: ToolCalls::default(),
        }
    }
}

/// The reasoning written so far as a part (none when empty).
fn reasoning_part(reasoning: &str) -> Vec<Part> {
    if reasoning.is_empty() {
        return Vec::new();
    }
    vec![Part::Reasoning {
        summary: Some(without_nul(reasoning.to_owned())),
        encrypted_content: None,
    }]
}

/// Resolves once the run is asked to stop.
async fn cancelled(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One reply being written.
pub(crate) struct Task<S, C> {
    pub(crate) replies: ReplyService<S, C>,
    pub(crate) who: Principal,
    pub(crate) thread: Thread,
    pub(crate) assistant: Message,
    pub(crate) model_name: String,
    pub(crate) model: SharedModel,
    pub(crate) hints: Hints,
    pub(crate) log: Arc<ReplyLog>,
}

impl<S, C> Task<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// Writes the reply to the end and stores the outcome.
    pub(crate) async fn run(self) {
        let g = &self.replies;
        let Written {
            outcome,
            text,
            usage,
            prompt_cost,
            reasoning,
            calls,
        } = self.generate().await;
        // Calls count only when the answer is whole: a stopped or failed reply keeps its text
        // and reasoning, never half a call.
        let calls = match outcome {
            Outcome::Completed => calls.finish(),
            _ => Vec::new(),
        };
        let status = match &outcome {
            Outcome::Completed if !calls.is_empty() => MessageStatus::RequiresAction,
            Outcome::Completed => MessageStatus::Complete,
            Outcome::Cancelled => MessageStatus::Cancelled,
            Outcome::Failed(_) => MessageStatus::Failed,
        };
        let mut parts = reasoning_part(&reasoning);
        parts.extend(calls.into_iter().map(|c| Part::ToolCall {
            call_id: without_nul(c.id),
            name: without_nul(c.name),
            arguments: without_nul(c.arguments),
        }));
        let usage = self.usage_or_estimate(usage, prompt_cost, &text);
        let now = g.clock.now();
        // The debit (and the end of the hold) comes first, with the usage, in one transaction:
        // while the reply still streams its hold keeps the money; once it no longer does, the
        // debit is already there. No moment lets another reply spend it.
        self.record(usage, ChargeKind::Reply).await;
        let stored = g
            .store
            .update_reply(
                self.thread.id,
                self.assistant.id,
                ReplyUpdate {
                    content: &text,
                    parts: &parts,
                    status,
                    usage: Some(usage),
                },
                now,
            )
            .await;
        if let Err(e) = &stored {
            tracing::error!(error = %e, message_id = %self.assistant.id, "storing a finished reply failed");
        }
        self.log.push(Event::TypingStopped(Typing::assistant()));
        let error = match outcome {
            Outcome::Failed(e) => Some(e),
            _ => None,
        };
        if let Some(end) = Event::ending(status, text, Some(usage), error, calls_of(&parts)) {
            self.log.push(end);
        }
        self.log.finish();
        let hub = g.hub.clone();
        let id = self.assistant.id;
        let retention = g.settings.retention;
        g.runtime.spawn(async move {
            tokio::time::sleep(retention).await;
            hub.remove(id);
        });
    }

    async fn generate(&self) -> Written {
        let g = &self.replies;
        let mut cancel = self.log.cancel.subscribe();
        let prompt = tokio::select! {
            p = self.context() => p,
            _ = cancelled(&mut cancel) => return Written::before(Outcome::Cancelled),
        };
        let messages = match prompt {
            Ok(m) => m,
            Err(e) => {
                let error = match &e {
                    AppError::ModelError(m) => EventError::model(m.to_string()),
                    // Ours, not the model's: logged with its causes; the client gets its code.
                    AppError::InternalError(_) | AppError::StorageUnavailable(_) => {
                        tracing::error!(cause = %e.chain(), message_id = %self.assistant.id, "building a prompt failed");
                        EventError {
                            code: e.code(),
                            message: "the reply could not be prepared; retry".into(),
                        }
                    }
                    other => EventError {
                        code: other.code(),
                        message: other.to_string(),
                    },
                };
                return Written::before(Outcome::Failed(error));
            }
        };
        let prompt_cost = self.prompt_cost(&messages);
        let request = ChatRequest {
            model: self.model_name.clone(),
            messages,
            max_tokens: g.settings.max_tokens(self.hints.max_tokens),
            sampling: self.hints.sampling.clone(),
            user: Some(user_id(&self.who)),
            tools: self.hints.tools.tools.clone(),
            tool_choice: self.hints.tools.choice.clone(),
            parallel_tool_calls: self.hints.tools.parallel,
        };
        let mut stream = self.model.stream(request);
        let mut text = String::new();
        let mut usage = None;
        let mut reasoning = String::new();
        let mut calls = ToolCalls::default();
        let mut started = std::collections::HashSet::new();
        // Text, reasoning and arguments together stay within the reply limit.
        let mut size = 0usize;
        let mut flush = tokio::time::interval(g.settings.flush_interval);
        flush.tick().await;
        let outcome = loop {
            tokio::select! {
                _ = cancelled(&mut cancel) => break Outcome::Cancelled,
                _ = flush.tick() => {
                    // Keeps the partial text safe and marks the reply alive for other instances.
                    let now = g.clock.now();
                    let parts = reasoning_part(&reasoning);
                    let update = ReplyUpdate { content: &text, parts: &parts, status: MessageStatus::Streaming, usage: None };
                    if let Err(e) = g.store.update_reply(self.thread.id, self.assistant.id, update, now).await {
                        tracing::warn!(error = %e, "flushing a reply failed");
                    }
                }
                item = stream.next() => match item {
                    Some(Ok(ChatEvent::Delta(d))) => {
                        size += d.len();
                        if size > g.settings.max_reply_bytes {
                            break Outcome::Completed;
                        }
                        text.push_str(&d);
                        self.log.push(Event::MessageDelta { delta: d });
                    }
                    Some(Ok(ChatEvent::Usage(u))) => usage = Some(u),
                    Some(Ok(ChatEvent::Reasoning(d))) => {
                        size += d.len();
                        if size > g.settings.max_reply_bytes {
                            break Outcome::Completed;
                        }
                        reasoning.push_str(&d);
                        self.log.push(Event::ReasoningDelta { delta: d });
                    }
                    Some(Ok(ChatEvent::ToolCall { index, id, name, arguments })) => {
                        size += arguments.len();
                        if size > g.settings.max_reply_bytes {
                            break Outcome::Failed(EventError::model("the model's tool call is over the reply limit"));
                        }
                        calls.add(index, id.as_deref(), name.as_deref(), &arguments);
                        if started.insert(index) {
                            self.log.push(Event::ToolCallStarted {
                                index,
                                call_id: id.unwrap_or_else(|| format!("call_{index}")),
                                name: name.unwrap_or_default(),
                            });
                        }
                        if !arguments.is_empty() {
                            self.log.push(Event::ToolCallDelta { index, arguments });
                        }
                    }
                    Some(Err(e)) => break Outcome::Failed(EventError::model(e.to_string())),
                    None => break Outcome::Completed,
                },
            }
        };
        Written {
            outcome,
            text,
            usage,
            prompt_cost,
            reasoning,
            calls,
        }
    }

    /// The prompt for this reply: the recent path before it, planned against the token budget.
    /// What no longer fits is summarized by the model first, and the summary is stored (and
    /// used by later replies).
    async fn context(&self) -> Result<Vec<ChatMessage>, AppError> {
        let g = &self.replies;
        let scope = self.who.scope();
        let path = g
            .store
            .active_path(
                &scope,
                self.thread.id,
                Some(self.assistant.id),
                g.settings.context_messages,
            )
            .await?;
        let latest = g
            .store
            .list_summaries(&scope, self.thread.id)
            .await?
            .into_iter()
            .next();
        let system = prompt::system_prompt(&g.settings, &self.thread, &self.hints, g.clock.now());
        let mut plan = prompt::plan(
            &g.settings,
            g.counter.as_ref(),
            system.as_deref(),
            path,
            latest,
        );
        if let Some(last) = plan.overflow.last() {
            let request = prompt::summary_request(
                &g.settings,
                &self.model_name,
                plan.summary.as_ref(),
                &plan.overflow,
            );
            let text = self.complete(request).await?;
            let summary = Summary {
                id: SummaryId::new(),
                thread_id: self.thread.id,
                covers_message_id: last.id,
                text: Content::from_stored(text),
                model: ModelName::parse(&self.model_name).ok(),
                created_at: g.clock.now(),
            };
            let stored = g.store.add_summary(&scope, summary).await?;
            crate::summaries::announce(g.events(), &stored);
            plan.summary = Some(stored);
        }
        let attached = super::attach::render(g, &self.who, &self.model_name, &plan.window).await;
        let prompt = prompt::messages(system, plan.summary.as_ref(), plan.window, attached);
        let manifest = prompt::manifest(
            &self.model_name,
            g.counter.as_ref(),
            plan.summary.as_ref(),
            &prompt,
            &self.hints,
            g.settings.max_tokens(self.hints.max_tokens),
        );
        self.record_prompt(manifest).await;
        Ok(prompt.into_iter().map(|(_, m)| m).collect())
    }

    /// Records what the prompt was built from on the reply (`metadata.prompt`); a failure is
    /// logged and does not stop the reply.
    async fn record_prompt(&self, manifest: serde_json::Value) {
        let mut metadata = self.assistant.metadata.to_value();
        metadata["prompt"] = manifest;
        let g = &self.replies;
        if let Err(e) = g
            .store
            .set_reply_metadata(self.thread.id, self.assistant.id, metadata)
            .await
        {
            tracing::warn!(cause = %e.chain(), message_id = %self.assistant.id, "recording a reply's prompt failed");
        }
    }

    /// The model's whole answer to a request (for summaries). Its tokens count in the
    /// principal's usage like a reply's (the provider's figures, else an estimate).
    async fn complete(&self, request: ChatRequest) -> Result<String, AppError> {
        let prompt_cost = self.prompt_cost(&request.messages);
        let mut stream = self.model.stream(request);
        let mut text = String::new();
        let mut usage = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(ChatEvent::Delta(d)) => text.push_str(&d),
                Ok(ChatEvent::Usage(u)) => usage = Some(u),
                Ok(ChatEvent::ToolCall { .. } | ChatEvent::Reasoning(_)) => {}
                Err(e) => return Err(AppError::ModelError(e)),
            }
        }
        let usage = self.usage_or_estimate(usage, prompt_cost, &text);
        self.record(usage, ChargeKind::Summary).await;
        Ok(text)
    }

    /// Records tokens this reply spent (its own or a summary's) in the principal's usage, with
    /// their cost debited in the same transaction (billing on, a priced model). A failure is
    /// logged: the reply itself is not lost for it.
    async fn record(&self, usage: Usage, kind: ChargeKind) {
        self.replies
            .record_usage(
                &self.who,
                &self.model_name,
                usage,
                kind,
                Some(self.thread.id),
                Some(self.assistant.id),
            )
            .await;
    }

    /// The tokens a prompt costs, as counted for usage when the provider reports none.
    fn prompt_cost(&self, messages: &[ChatMessage]) -> usize {
        let counter = self.replies.counter.as_ref();
        messages
            .iter()
            .map(|m| prompt::cost(counter, &m.content))
            .sum()
    }

    /// The provider's usage, else an estimate from the token counter.
    fn usage_or_estimate(&self, reported: Option<Usage>, prompt_cost: usize, text: &str) -> Usage {
        reported.unwrap_or(Usage {
            prompt_tokens: u32::try_from(prompt_cost).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(self.replies.counter.count(text)).unwrap_or(u32::MAX),
        })
    }
}
