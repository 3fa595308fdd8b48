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
use tracing::Instrument;

use crate::billing::ChargeKind;
use crate::error::AppError;
use crate::events::{Event, EventError, ThreadEvent, Typing, calls_of};
use crate::replies::llm::{
    ChatEvent, ChatMessage, ChatRequest, SharedModel, ToolCall, ToolCalls, user_id,
};
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

impl Outcome {
    /// For spans and logs.
    fn name(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed(_) => "failed",
        }
    }
}

/// What the model wrote over every round, and how it ended.
struct Written {
    outcome: Outcome,
    text: String,
    /// The model servers' usage reports, summed over the rounds.
    usage: Option<Usage>,
    /// What the prompts cost, summed over the rounds (for an estimate).
    prompt_cost: usize,
    reasoning: String,
    /// The MCP rounds: each call the service ran, followed by its result.
    rounds: Vec<Part>,
    /// The last round's calls of the caller's tools (whole once the round ended).
    calls: Vec<ToolCall>,
    /// Text, reasoning and arguments so far, held to the reply limit.
    size: usize,
}

impl Written {
    /// Ended before the model was asked.
    fn before(outcome: Outcome) -> Self {
        Self {
            outcome,
            ..Self::new()
        }
    }

    fn new() -> Self {
        Self {
            outcome: Outcome::Completed,
            text: String::new(),
            usage: None,
            prompt_cost: 0,
            reasoning: String::new(),
            rounds: Vec::new(),
            calls: Vec::new(),
            size: 0,
        }
    }

    /// The parts so far: the reasoning, then the MCP rounds.
    fn parts(&self) -> Vec<Part> {
        let mut parts = reasoning_part(&self.reasoning);
        parts.extend(self.rounds.iter().cloned());
        parts
    }

    /// Adds a round's usage report.
    fn add_usage(&mut self, u: Usage) {
        let sum = self.usage.map_or(u, |s| Usage {
            prompt_tokens: s.prompt_tokens.saturating_add(u.prompt_tokens),
            completion_tokens: s.completion_tokens.saturating_add(u.completion_tokens),
        });
        self.usage = Some(sum);
    }
}

/// A tool call as a part, its texts without NUL.
fn call_part(c: ToolCall, server: Option<String>) -> Part {
    Part::ToolCall {
        call_id: without_nul(c.id),
        name: without_nul(c.name),
        arguments: without_nul(c.arguments),
        server,
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
    /// Where the reply is stored: the thread owner's scope (the caller's own, or the owner's
    /// for an editor).
    pub(crate) scope: chat_threads_domain::Scope,
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
        let written = self.generate().await;
        let mut parts = written.parts();
        let Written {
            outcome,
            text,
            usage,
            prompt_cost,
            calls,
            ..
        } = written;
        // Calls count only when the answer is whole: a stopped or failed reply keeps its text,
        // its reasoning and the rounds it ran, never half a call.
        let calls = match outcome {
            Outcome::Completed => calls,
            _ => Vec::new(),
        };
        let status = match &outcome {
            Outcome::Completed if !calls.is_empty() => MessageStatus::RequiresAction,
            Outcome::Completed => MessageStatus::Complete,
            Outcome::Cancelled => MessageStatus::Cancelled,
            Outcome::Failed(_) => MessageStatus::Failed,
        };
        parts.extend(calls.into_iter().map(|c| call_part(c, None)));
        let usage = g.usage_or_estimate(usage, prompt_cost, &text);
        let now = g.clock.now();
        // The debit (and the end of the hold) comes first, with the usage, in one transaction:
        // while the reply still streams its hold keeps the money; once it no longer does, the
        // debit is already there. No moment lets another reply spend it.
        self.record(usage, ChargeKind::Reply).await;
        let error = match outcome {
            Outcome::Failed(e) => Some(e),
            _ => None,
        };
        self.log.push(Event::TypingStopped(Typing::assistant()));
        // The feed's writer holds what the reply published so far (its tool calls), so the
        // end, stored with its own entry, comes after them in the feed.
        self.log.recorded().await;
        // The end event, and its change feed entry stored with the end: the log's next event
        // (this task is its only writer).
        let end = Event::ending(status, text.clone(), Some(usage), error, calls_of(&parts));
        let entry = end.clone().and_then(|data| {
            crate::feed::entry(
                &ThreadEvent {
                    thread_id: self.thread.id,
                    seq: Some(self.log.next_seq()),
                    reply_id: Some(self.assistant.id),
                    data,
                },
                now,
            )
        });
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
                    entry: entry.as_ref(),
                },
                now,
            )
            .await;
        if let Err(e) = &stored {
            tracing::error!(error = %e, message_id = %self.assistant.id, "storing a finished reply failed");
        }
        if status == MessageStatus::Complete && stored.is_ok() {
            g.title_in_background(
                &self.who,
                &self.thread,
                &self.assistant,
                &self.model_name,
                &text,
            );
        }
        if let Some(end) = end {
            // Stored with the end, unless storing it failed: then the feed's writer keeps it.
            if stored.is_ok() {
                self.log.push_stored(end);
            } else {
                self.log.push(end);
            }
        }
        self.log.finish();
        // The thread's turn goes to the oldest follow-up queued under this reply, if any.
        let next = g.clone();
        let thread_id = self.thread.id;
        g.runtime
            .spawn(async move { next.next_in_queue(thread_id).await });
        let hub = g.hub.clone();
        let id = self.assistant.id;
        let retention = g.settings.replies.retention();
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
        let mut messages = messages;
        let mut w = Written::new();
        // The MCP servers' tools this reply may call, and which server runs each.
        let served = self.served_tools().await;
        let mut flush = tokio::time::interval(g.settings.replies.flush_interval());
        flush.tick().await;
        let mut round = 0u32;
        let mut first_index = 0u32;
        loop {
            // The last round offers no server tools: the model must answer.
            let offer_served = round < g.settings.max_tool_rounds;
            let mut tools = self.hints.tools.tools.clone();
            if offer_served {
                tools.extend(served.iter().map(|(_, t)| t.clone()));
            }
            w.prompt_cost += self.prompt_cost(&messages);
            let request = ChatRequest {
                model: self.model_name.clone(),
                messages: messages.clone(),
                max_tokens: g.settings.max_tokens(self.hints.max_tokens),
                sampling: self.hints.sampling.clone(),
                user: Some(user_id(&self.who)),
                tools,
                tool_choice: self.hints.tools.choice.clone(),
                parallel_tool_calls: self.hints.tools.parallel,
            };
            let round_start = w.text.len();
            let (outcome, calls) = self
                .stream_round(
                    request,
                    &mut cancel,
                    &mut flush,
                    &mut w,
                    (first_index, &served),
                )
                .await;
            if !matches!(outcome, Outcome::Completed) {
                w.outcome = outcome;
                return w;
            }
            let (ran, theirs): (Vec<ToolCall>, Vec<ToolCall>) = calls
                .into_iter()
                .partition(|c| offer_served && served.iter().any(|(_, t)| t.name == c.name));
            if ran.is_empty() {
                w.calls = theirs;
                return w;
            }
            first_index += u32::try_from(ran.len() + theirs.len()).unwrap_or(u32::MAX);
            // The service runs its tools' calls, stores each with its result, and gives the
            // results to the model in the next round.
            let mut results = Vec::with_capacity(ran.len());
            for call in &ran {
                let server = served
                    .iter()
                    .find(|(_, t)| t.name == call.name)
                    .map(|(s, _)| s.clone())
                    .unwrap_or_default();
                let output = tokio::select! {
                    o = self.run_tool(&server, call) => o,
                    _ = cancelled(&mut cancel) => {
                        w.outcome = Outcome::Cancelled;
                        return w;
                    }
                };
                w.rounds.push(call_part(call.clone(), Some(server)));
                w.rounds.push(Part::ToolResult {
                    call_id: without_nul(call.id.clone()),
                    output: serde_json::Value::String(output.text.clone()),
                    is_error: output.is_error,
                });
                self.log.push(Event::ToolCallResult {
                    call_id: call.id.clone(),
                    output: output.text.clone(),
                    is_error: output.is_error,
                });
                results.push(ChatMessage {
                    tool_call_id: Some(call.id.clone()),
                    ..ChatMessage::text("tool", output.text)
                });
            }
            if !theirs.is_empty() {
                // Calls of the caller's tools in the same round: the reply waits for them.
                w.calls = theirs;
                return w;
            }
            messages.push(ChatMessage {
                tool_calls: ran,
                ..ChatMessage::text("assistant", w.text[round_start..].to_owned())
            });
            messages.extend(results);
            round += 1;
        }
    }

    /// One call to the model: streams its text, reasoning and tool calls into the reply's log
    /// (flushing the text now and then), and returns how it ended with its whole calls.
    async fn stream_round(
        &self,
        request: ChatRequest,
        cancel: &mut watch::Receiver<bool>,
        flush: &mut tokio::time::Interval,
        w: &mut Written,
        (first_index, served): (u32, &[(String, crate::replies::llm::ToolDef)]),
    ) -> (Outcome, Vec<ToolCall>) {
        let g = &self.replies;
        // The model call's span (an OpenTelemetry client span when traces are exported): the
        // request to the model server is made inside it, so the server gets its trace context.
        let span = tracing::info_span!(
            "model.call",
            otel.kind = "client",
            gen_ai.request.model = %request.model,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            time_to_first_token_ms = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let called = std::time::Instant::now();
        let mut first = true;
        let mut stream = self.model.stream(request);
        let mut calls = ToolCalls::default();
        let mut started = std::collections::HashSet::new();
        let outcome = async { loop {
            tokio::select! {
                _ = cancelled(cancel) => break Outcome::Cancelled,
                _ = flush.tick() => {
                    // Keeps the partial text safe and marks the reply alive for other instances.
                    let now = g.clock.now();
                    let parts = w.parts();
                    let update = ReplyUpdate { content: &w.text, parts: &parts, status: MessageStatus::Streaming, usage: None, entry: None };
                    if let Err(e) = g.store.update_reply(self.thread.id, self.assistant.id, update, now).await {
                        tracing::warn!(error = %e, "flushing a reply failed");
                    }
                }
                item = stream.next() => {
                if first && matches!(item, Some(Ok(ChatEvent::Delta(_) | ChatEvent::Reasoning(_) | ChatEvent::ToolCall { .. }))) {
                    first = false;
                    span.record("time_to_first_token_ms", called.elapsed().as_millis() as u64);
                }
                match item {
                    Some(Ok(ChatEvent::Delta(d))) => {
                        w.size += d.len();
                        if w.size > g.settings.max_reply_bytes {
                            break Outcome::Completed;
                        }
                        w.text.push_str(&d);
                        self.log.push(Event::MessageDelta { delta: d });
                    }
                    Some(Ok(ChatEvent::Usage(u))) => {
                        span.record("gen_ai.usage.input_tokens", u.prompt_tokens);
                        span.record("gen_ai.usage.output_tokens", u.completion_tokens);
                        w.add_usage(u);
                    }
                    Some(Ok(ChatEvent::Reasoning(d))) => {
                        w.size += d.len();
                        if w.size > g.settings.max_reply_bytes {
                            break Outcome::Completed;
                        }
                        w.reasoning.push_str(&d);
                        self.log.push(Event::ReasoningDelta { delta: d });
                    }
                    Some(Ok(ChatEvent::ToolCall { index, id, name, arguments })) => {
                        w.size += arguments.len();
                        if w.size > g.settings.max_reply_bytes {
                            break Outcome::Failed(EventError::model("the model's tool call is over the reply limit"));
                        }
                        calls.add(index, id.as_deref(), name.as_deref(), &arguments);
                        let index = first_index.saturating_add(index);
                        if started.insert(index) {
                            let name = name.unwrap_or_default();
                            let server = served.iter().find(|(_, t)| t.name == name).map(|(s, _)| s.clone());
                            self.log.push(Event::ToolCallStarted {
                                index,
                                call_id: id.unwrap_or_else(|| format!("call_{index}")),
                                name,
                                server,
                            });
                        }
                        if !arguments.is_empty() {
                            self.log.push(Event::ToolCallDelta { index, arguments });
                        }
                    }
                    Some(Err(e)) => break Outcome::Failed(EventError::model(e.to_string())),
                    None => break Outcome::Completed,
                }},
            }
        } }
        .instrument(span.clone())
        .await;
        span.record("outcome", outcome.name());
        if matches!(outcome, Outcome::Failed(_)) {
            span.record("otel.status_code", "error");
        }
        (outcome, calls.finish())
    }

    /// The tools of the MCP servers this reply names (narrowed as it asks), each with its
    /// server. A server that cannot be reached is left out (and logged): the reply goes on
    /// without its tools. The caller's own tools win over a server's tool of the same name.
    async fn served_tools(&self) -> Vec<(String, crate::replies::llm::ToolDef)> {
        let uses = &self.hints.tools.servers;
        let Some(servers) = self
            .replies
            .catalog()
            .tool_servers()
            .filter(|_| !uses.is_empty())
        else {
            return Vec::new();
        };
        let mut out: Vec<(String, crate::replies::llm::ToolDef)> = Vec::new();
        for u in uses {
            match servers.tools(&u.server).await {
                Ok(tools) => out.extend(
                    tools
                        .into_iter()
                        .filter(|t| u.offers(&t.name))
                        .filter(|t| !self.hints.tools.tools.iter().any(|c| c.name == t.name))
                        .map(|t| (u.server.clone(), t)),
                ),
                Err(e) => {
                    tracing::warn!(server = %u.server, error = %e, "listing an MCP server's tools failed");
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|(_, t)| seen.insert(t.name.clone()));
        out
    }

    /// Runs one call on its server, within the call timeout. Anything that goes wrong (bad
    /// arguments, an unreachable server, a timeout, the tool's own failure) is an error result
    /// the model sees, never a failure of the reply.
    async fn run_tool(&self, server: &str, call: &ToolCall) -> crate::replies::mcp::ToolOutput {
        use crate::replies::mcp::{ToolOutput, bounded};
        let g = &self.replies;
        let failed = |text: String| ToolOutput {
            text,
            is_error: true,
        };
        let Some(servers) = g.catalog().tool_servers() else {
            return failed("no MCP servers are configured".into());
        };
        let arguments = if call.arguments.trim().is_empty() {
            serde_json::Map::new()
        } else {
            match serde_json::from_str(&call.arguments) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return failed("the arguments are not a JSON object".into()),
            }
        };
        let timeout = g.settings.tool_call_timeout;
        let span = tracing::info_span!(
            "tool.call",
            otel.kind = "client",
            gen_ai.tool.name = %call.name,
            gen_ai.tool.call.id = %call.id,
            mcp.server = server,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let output = match tokio::time::timeout(
            timeout,
            servers.call(server, &call.name, arguments),
        )
        .instrument(span.clone())
        .await
        {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                tracing::warn!(server, tool = %call.name, error = %e, "an MCP tool call failed");
                failed(format!("the tool failed: {e}"))
            }
            Err(_) => failed(format!(
                "the tool did not answer within {} s",
                timeout.as_secs()
            )),
        };
        span.record("outcome", if output.is_error { "error" } else { "ok" });
        if output.is_error {
            span.record("otel.status_code", "error");
        }
        ToolOutput {
            text: bounded(without_nul(output.text), g.settings.max_reply_bytes),
            is_error: output.is_error,
        }
    }

    /// The prompt for this reply: the recent path before it, planned against the token budget.
    /// What no longer fits is summarized by the model first, and the summary is stored (and
    /// used by later replies).
    async fn context(&self) -> Result<Vec<ChatMessage>, AppError> {
        let g = &self.replies;
        let scope = self.scope.clone();
        let path = g
            .store
            .active_path(
                &scope,
                self.thread.id,
                Some(self.assistant.id),
                g.settings.replies.context_messages,
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
            let announced = crate::summaries::announced;
            let stored = g.store.add_summary(&scope, summary, &announced).await?;
            g.events().publish_all_stored(announced(&stored));
            plan.summary = Some(stored);
        }
        let attached =
            super::attach::render(g, &self.thread.owner, &self.model_name, &plan.window).await;
        let report: Vec<serde_json::Value> = plan
            .window
            .iter()
            .filter_map(|m| attached.get(&m.id))
            .flat_map(|a| a.report.iter().cloned())
            .collect();
        let prompt = prompt::messages(system, plan.summary.as_ref(), plan.window, attached);
        let manifest = prompt::manifest(
            &self.model_name,
            g.counter.as_ref(),
            plan.summary.as_ref(),
            &prompt,
            &self.hints,
            g.settings.max_tokens(self.hints.max_tokens),
        );
        let mut manifest = manifest;
        if !report.is_empty() {
            manifest["attachments"] = serde_json::Value::Array(report);
        }
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
        let (text, usage) = self.replies.complete_text(&self.model, request).await?;
        self.record(usage, ChargeKind::Summary).await;
        Ok(text)
    }

    /// The tokens a prompt costs, as counted for usage when the provider reports none.
    fn prompt_cost(&self, messages: &[ChatMessage]) -> usize {
        prompt::messages_cost(self.replies.counter.as_ref(), messages)
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
}
