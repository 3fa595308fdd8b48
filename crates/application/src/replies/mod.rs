//! Assistant replies: send a message and get the reply, regenerate, edit and resend, follow
//! (resume) and cancel. A reply is written by a task the server owns ([`task`]), its events go
//! through a log ([`log`]) that followers read, and what the model sees is assembled by the
//! pure functions of [`prompt`]. [`models`] says which models exist and who may use them;
//! [`llm`] is the port to the model servers.

mod attach;
pub mod direct;
mod following;
mod history;
mod lifecycle;
pub mod llm;
pub mod log;
pub mod mcp;
pub mod models;
mod ports;
pub mod prompt;
pub mod queue;
mod settings;
mod task;
pub mod titles;
mod tools;

pub use history::{HistoryStore, NewThread, OpenAiDefaults, Turn};
pub use llm::Sampling;
pub use log::{EventStream, Follower, Hub, ReplyLog};
pub use ports::{ReplyStart, ReplyStore, ReplyStores, ReplyUpdate};
pub use prompt::Hints;
pub use queue::{OnBusy, QueueStore, Sent};
pub use settings::{RepliesSettings, ReplySettings};

/// What a send refused because a reply runs keeps for a queue: the scope, the user message, the model.
type Pending = (chat_threads_domain::Scope, NewMessage, String);
pub use tools::ToolResultsInput;

use std::sync::Arc;

use chat_threads_domain::{
    Content, ContentType, Message, MessageId, MessageStatus, Metadata, ModelName, Principal, Role,
    Thread, ThreadId, Timestamp,
};
use serde_json::Value;

use crate::access::{Need, scope_for};
use crate::error::AppError;
use crate::events::{Event, ThreadEvents, Typing};
use crate::messages::{Anchor, NewMessage};
use crate::system::Clock;
use crate::usage::day_of;
use llm::{SharedModel, TokenCounter};
use models::Catalog;
use task::Task;

/// What a started reply hands back.
#[derive(Debug, Clone)]
pub struct Started {
    /// The user message that was stored (for send and resend), if any.
    pub user_message: Option<Message>,
    /// The assistant message, status `streaming`.
    pub assistant_message: Message,
    /// Its reply.
    pub log: Arc<ReplyLog>,
}

/// Input of a send.
#[derive(Debug, Clone, Default)]
pub struct SendInput {
    /// The user's text.
    pub content: String,
    /// Parent of the user message; default the active leaf.
    pub parent_id: Option<MessageId>,
    /// Model to use; default the thread's, else the catalog's default.
    pub model: Option<String>,
    /// Metadata of the user message.
    pub metadata: Option<Value>,
    /// Language to answer in, raw (checked by [`Hints::parse`]).
    pub language: Option<String>,
    /// The user's time zone, raw (checked by [`Hints::parse`]).
    pub timezone: Option<String>,
    /// Files to attach to the user message: the caller's uploads.
    pub attachments: Vec<chat_threads_domain::FileId>,
    /// Most tokens the reply may have (never more than `replies.max_tokens`).
    pub max_tokens: Option<u32>,
    /// Sampling settings for the model (checked by [`Sampling::check`]).
    pub sampling: Sampling,
    /// Tools the model may call (checked by [`llm::check_tools`]).
    pub tools: llm::ToolOffer,
    /// What to do while a reply runs in the thread (default: refuse, 409).
    pub on_busy: OnBusy,
}

/// Input of a regeneration.
#[derive(Debug, Clone, Default)]
pub struct RegenerateInput {
    /// Model to use; default the original reply's.
    pub model: Option<String>,
    /// Language to answer in, raw.
    pub language: Option<String>,
    /// The user's time zone, raw.
    pub timezone: Option<String>,
    /// Sampling settings for the model (checked by [`Sampling::check`]).
    pub sampling: Sampling,
    /// Tools the model may call (checked by [`llm::check_tools`]).
    pub tools: llm::ToolOffer,
    /// Most tokens the reply may have (never more than `replies.max_tokens`).
    pub max_tokens: Option<u32>,
}

/// Replies to messages.
pub struct ReplyService<S, C> {
    pub(crate) store: S,
    pub(crate) clock: C,
    catalog: Catalog,
    pub(crate) counter: Arc<dyn TokenCounter>,
    pub(crate) settings: ReplySettings,
    limits: chat_threads_domain::Limits,
    pub(crate) hub: Hub,
    events: ThreadEvents,
    pub(crate) runtime: tokio::runtime::Handle,
    /// This process, as recorded on the replies it writes.
    pub(crate) instance: String,
}

impl<S: Clone, C: Clone> Clone for ReplyService<S, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
            catalog: self.catalog.clone(),
            counter: self.counter.clone(),
            settings: self.settings.clone(),
            limits: self.limits,
            hub: self.hub.clone(),
            events: self.events.clone(),
            runtime: self.runtime.clone(),
            instance: self.instance.clone(),
        }
    }
}

impl<S, C> std::fmt::Debug for ReplyService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyService")
            .field("catalog", &self.catalog)
            .finish_non_exhaustive()
    }
}

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// A generator whose tasks run on `runtime`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: S,
        clock: C,
        catalog: Catalog,
        counter: Arc<dyn TokenCounter>,
        settings: ReplySettings,
        limits: chat_threads_domain::Limits,
        events: ThreadEvents,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            store,
            clock,
            catalog,
            counter,
            settings,
            limits,
            hub: Hub::default(),
            events,
            runtime,
            instance: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Records `instance` as the writer of this process's replies (by default a fresh id).
    pub fn with_instance(mut self, instance: String) -> Self {
        self.instance = instance;
        self
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The thread events hub replies publish to.
    pub fn events(&self) -> &ThreadEvents {
        &self.events
    }

    /// The model catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// This process's replies.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Starts a reply in the store (see [`ReplyStore::begin_reply`]), written by this instance.
    /// A thread blocked by a reply whose instance is gone (a crash) is released first, so it
    /// accepts the new reply at once.
    async fn begin(
        &self,
        who: &Principal,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        user: Option<(Anchor, NewMessage)>,
        reply: (Option<Anchor>, NewMessage),
    ) -> Result<(Option<Message>, Message), AppError> {
        let since = self.admit(who, thread_id).await?;
        let hold = self.hold(who, &reply.1);
        let start = ReplyStart {
            busy_since: since,
            user,
            reply,
            hold,
        };
        let first = self
            .store
            .begin_reply(&self.instance, scope, thread_id, start.clone())
            .await;
        match first {
            Err(AppError::GenerationInProgress)
                if self.release_orphans(Some(thread_id)).await? > 0 =>
            {
                self.store
                    .begin_reply(&self.instance, scope, thread_id, start)
                    .await
            }
            other => other,
        }
    }

    /// What a reply holds from its payer's balance: the most it may cost, the whole prompt
    /// budget and the reply budget at its model's prices. `None` when billing is off or the
    /// model is free.
    fn hold(&self, who: &Principal, reply: &NewMessage) -> Option<crate::billing::Hold> {
        let billing = &self.settings.billing;
        let model = reply.model.as_ref()?;
        let price = self.catalog.price(model.as_str()).filter(|p| !p.is_free());
        let price = price.filter(|_| billing.enabled)?;
        let most = crate::usage::Usage {
            prompt_tokens: u32::try_from(self.settings.replies.context_tokens).unwrap_or(u32::MAX),
            completion_tokens: self
                .settings
                .replies
                .reply_max_tokens
                .unwrap_or(billing.hold_output_tokens),
        };
        Some(crate::billing::Hold {
            account: billing.payer_of(who),
            org: crate::billing::org_of(who).map(str::to_owned),
            amount: price.cost(most),
        })
    }

    /// Records tokens spent in the principal's usage, with their cost debited in the same
    /// transaction (billing on, a priced model). A failure is logged: the answer is not lost
    /// for it.
    pub(crate) async fn record_usage(
        &self,
        who: &Principal,
        model: &str,
        usage: crate::usage::Usage,
        kind: crate::billing::ChargeKind,
        thread_id: Option<ThreadId>,
        reply: Option<MessageId>,
    ) {
        let mut charge = self.charge(who, model, usage, kind, thread_id, reply);
        if let Some(c) = charge
            .as_mut()
            .filter(|_| kind == crate::billing::ChargeKind::Reply)
        {
            c.hold = reply.map(|r| r.as_uuid());
        }
        self.add_usage(who, model, usage, kind, charge).await;
    }

    /// Records tokens spent with the debit that pays for them (if any), in one transaction;
    /// whether it was. A failure is logged: the answer is not lost for it.
    pub(crate) async fn add_usage(
        &self,
        who: &Principal,
        model: &str,
        usage: crate::usage::Usage,
        kind: crate::billing::ChargeKind,
        charge: Option<crate::billing::Charge>,
    ) -> bool {
        if let Err(e) = self
            .store
            .add_usage(
                &who.owner(),
                &day_of(self.clock.now()),
                model,
                usage,
                charge.as_ref(),
            )
            .await
        {
            tracing::warn!(error = %e, kind = kind.as_str(), "recording token usage failed");
            return false;
        }
        true
    }

    /// The debit for tokens `usage` of `model` spent for `reply` (billing on, a priced model).
    pub(crate) fn charge(
        &self,
        who: &Principal,
        model: &str,
        usage: crate::usage::Usage,
        kind: crate::billing::ChargeKind,
        thread_id: Option<ThreadId>,
        reply: Option<MessageId>,
    ) -> Option<crate::billing::Charge> {
        let billing = &self.settings.billing;
        let amount = self
            .catalog
            .price(model)
            .filter(|_| billing.enabled)?
            .cost(usage);
        (amount > 0).then(|| crate::billing::Charge {
            id: uuid::Uuid::now_v7(),
            account: billing.payer_of(who),
            org: crate::billing::org_of(who).map(str::to_owned),
            amount,
            kind,
            thread_id,
            message_id: reply,
            hold: None,
            at: self.clock.now(),
        })
    }

    /// Refuses a new reply while one is running in the thread, or when the quota is spent.
    /// Refuses early (before touching the database) when this process runs a reply in the
    /// thread or the quota is spent; returns the time before which a streaming reply is dead.
    async fn admit(&self, who: &Principal, thread_id: ThreadId) -> Result<Timestamp, AppError> {
        let since = self.stale_before();
        if self.hub.thread_busy(thread_id) {
            return Err(AppError::GenerationInProgress);
        }
        self.within_quota(who).await?;
        Ok(since)
    }

    /// Refuses when the principal's daily token quota is spent.
    async fn within_quota(&self, who: &Principal) -> Result<(), AppError> {
        if let Some(quota) = self.settings.replies.daily_token_quota {
            let used = self
                .store
                .usage_on(&who.owner(), &day_of(self.clock.now()))
                .await?;
            let used = u64::from(used.prompt_tokens) + u64::from(used.completion_tokens);
            if used >= quota {
                return Err(AppError::TokenQuotaExceeded { quota, used });
            }
        }
        Ok(())
    }

    fn placeholder(&self, model: &str) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            role: Role::Assistant,
            content: Content::from_stored(String::new()),
            content_type: ContentType::Text,
            display_text: None,
            status: MessageStatus::Streaming,
            model: ModelName::parse(model).ok(),
            prompt_tokens: None,
            completion_tokens: None,
            metadata: Metadata::default(),
            edited_at: None,
            created_at: self.clock.now(),
            attachments: Vec::new(),
            parts: Vec::new(),
            // The model wrote it.
            author: None,
        }
    }

    /// The user message of a send or resend, with its attachments checked: the caller's files,
    /// and images only for a model that sees them.
    async fn user_message(
        &self,
        who: &Principal,
        model: &str,
        content: String,
        metadata: Option<Value>,
        attachments: &[chat_threads_domain::FileId],
    ) -> Result<NewMessage, AppError> {
        let attachments =
            crate::files::resolve_attachments(&self.store, &who.owner(), attachments).await?;
        if attachments.iter().any(|a| a.is_image()) && !self.catalog.sees_images(model) {
            return Err(AppError::ImagesNotSupported {
                model: model.to_owned(),
            });
        }
        Ok(NewMessage {
            id: MessageId::new(),
            role: Role::User,
            content: Content::parse(content, &self.limits)?,
            content_type: ContentType::Text,
            display_text: None,
            status: MessageStatus::Complete,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            metadata: Metadata::parse(metadata.unwrap_or_default(), &self.limits)?,
            edited_at: None,
            created_at: self.clock.now(),
            attachments,
            parts: Vec::new(),
            author: Some(chat_threads_domain::Author::of(who)),
        })
    }

    /// Stores the user's message and starts the reply under it (a running reply in the thread
    /// is handled by `input.on_busy`; a queued message answers `generation_in_progress` here:
    /// use [`Self::send_with`] to queue).
    pub async fn send(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: SendInput,
    ) -> Result<Started, AppError> {
        match self.send_with(who, thread_id, input).await? {
            queue::Sent::Started(started) => Ok(*started),
            queue::Sent::Queued(_) => Err(AppError::GenerationInProgress),
        }
    }

    /// One attempt of a send. Refused because a reply runs: with what a queue needs (the
    /// scope, the user message, the model).
    async fn send_once(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: SendInput,
    ) -> Result<Started, (AppError, Option<Box<Pending>>)> {
        let hints = self
            .hints(
                who,
                input.language,
                input.timezone,
                input.max_tokens,
                input.sampling,
                input.tools,
            )
            .map_err(|e| (e, None))?;
        let scope = scope_for(&self.store, who, thread_id, Need::Write)
            .await
            .map_err(|e| (e, None))?;
        let thread = self
            .replying_thread(&scope, thread_id)
            .await
            .map_err(|e| (e, None))?;
        let (model_name, model) = self
            .catalog
            .resolve(
                who,
                input.model.as_deref(),
                thread.model.as_ref().map(|m| m.as_str()),
            )
            .map_err(|e| (e, None))?;
        let user = self
            .user_message(
                who,
                &model_name,
                input.content,
                input.metadata,
                &input.attachments,
            )
            .await
            .map_err(|e| (e, None))?;
        let begun = self
            .begin(
                who,
                &scope,
                thread_id,
                Some((Anchor::Append(input.parent_id), user.clone())),
                (None, self.placeholder(&model_name)),
            )
            .await;
        let (user_message, assistant) = match begun {
            Ok(b) => b,
            Err(AppError::GenerationInProgress) => {
                let pending = (scope, user, model_name);
                return Err((AppError::GenerationInProgress, Some(Box::new(pending))));
            }
            Err(e) => return Err((e, None)),
        };
        Ok(self.start(
            who,
            scope,
            thread,
            user_message,
            assistant,
            model_name,
            model,
            hints,
        ))
    }

    /// The thread and a live message of it with the given role (what regenerate and resend act on).
    /// A thread a reply is written in, with what it inherits from its folder: the folder's
    /// system prompt and model stand in for the thread's when it sets none.
    pub(crate) async fn replying_thread(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
    ) -> Result<Thread, AppError> {
        let mut thread = self.store.get_thread(scope, thread_id, false).await?;
        if let Some(folder) = thread.folder_id
            && (thread.system_prompt.is_none() || thread.model.is_none())
        {
            match self.store.get_folder(&thread.owner, folder).await {
                Ok(f) => {
                    thread.system_prompt = thread.system_prompt.or(f.system_prompt);
                    thread.model = thread.model.or(f.model);
                }
                // Deleted meanwhile: nothing to inherit.
                Err(AppError::FolderNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(thread)
    }

    async fn thread_and_message(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        id: MessageId,
        role: Role,
        refusal: &'static str,
    ) -> Result<(Thread, Message), AppError> {
        let thread = self.replying_thread(scope, thread_id).await?;
        let message = self.store.get_message(scope, thread_id, id).await?;
        if message.is_deleted() {
            return Err(AppError::MessageNotFound);
        }
        if message.role != role {
            return Err(chat_threads_domain::DomainError::MessageUnusable(id, refusal).into());
        }
        Ok((thread, message))
    }

    /// A new reply beside an assistant message (a sibling), from the same context.
    pub async fn regenerate(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        of: MessageId,
        input: RegenerateInput,
    ) -> Result<Started, AppError> {
        let hints = self.hints(
            who,
            input.language,
            input.timezone,
            input.max_tokens,
            input.sampling,
            input.tools,
        )?;
        let model = input.model;
        let scope = scope_for(&self.store, who, thread_id, Need::Write).await?;
        let (thread, original) = self
            .thread_and_message(
                &scope,
                thread_id,
                of,
                Role::Assistant,
                "only an assistant reply can be regenerated",
            )
            .await?;
        let requested = model.or_else(|| original.model.as_ref().map(ToString::to_string));
        let (model_name, model) = self.catalog.resolve(
            who,
            requested.as_deref(),
            thread.model.as_ref().map(|m| m.as_str()),
        )?;
        let (_, assistant) = self
            .begin(
                who,
                &scope,
                thread_id,
                None,
                (Some(Anchor::SiblingOf(of)), self.placeholder(&model_name)),
            )
            .await?;
        Ok(self.start(
            who, scope, thread, None, assistant, model_name, model, hints,
        ))
    }

    /// Edits a user message (a sibling with the new text) and replies to the edit.
    pub async fn resend(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        of: MessageId,
        input: SendInput,
    ) -> Result<Started, AppError> {
        let scope = scope_for(&self.store, who, thread_id, Need::Write).await?;
        let (thread, original) = self
            .thread_and_message(
                &scope,
                thread_id,
                of,
                Role::User,
                "only a user message can be edited and resent",
            )
            .await?;
        let hints = self.hints(
            who,
            input.language,
            input.timezone,
            input.max_tokens,
            input.sampling,
            input.tools,
        )?;
        let (model_name, model) = self.catalog.resolve(
            who,
            input.model.as_deref(),
            thread.model.as_ref().map(|m| m.as_str()),
        )?;
        let mut user = self
            .user_message(
                who,
                &model_name,
                input.content,
                input
                    .metadata
                    .or_else(|| Some(original.metadata.to_value())),
                &input.attachments,
            )
            .await?;
        user.edited_at = Some(user.created_at);
        let (user, assistant) = self
            .begin(
                who,
                &scope,
                thread_id,
                Some((Anchor::SiblingOf(of), user)),
                (None, self.placeholder(&model_name)),
            )
            .await?;
        Ok(self.start(
            who, scope, thread, user, assistant, model_name, model, hints,
        ))
    }

    /// The settings of a reply request, checked the same for every front door, with the MCP
    /// servers it names held to what `who` may use.
    fn hints(
        &self,
        who: &Principal,
        language: Option<String>,
        timezone: Option<String>,
        max_tokens: Option<u32>,
        sampling: Sampling,
        tools: llm::ToolOffer,
    ) -> Result<Hints, AppError> {
        self.catalog.check_servers(who, &tools.servers)?;
        Hints::checked(language, timezone, max_tokens, sampling, tools)
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        who: &Principal,
        scope: chat_threads_domain::Scope,
        thread: Thread,
        user: Option<Message>,
        assistant: Message,
        model_name: String,
        model: SharedModel,
        hints: Hints,
    ) -> Started {
        let run = ReplyLog::new(thread.id, assistant.id, Some(self.events.clone()));
        // Their change feed entries were stored with them (`begin_reply`, `start_queued`).
        if let Some(u) = &user {
            run.push_stored(Event::created(u));
        }
        run.push_stored(Event::created(&assistant));
        run.push(Event::TypingStarted(Typing::assistant()));
        self.hub.insert(run.clone());
        // The reply's span is a child of the request's (a trace follows the reply after the
        // response has gone); its model and tool calls are its children.
        let span = tracing::info_span!(
            "reply",
            thread_id = %thread.id,
            message_id = %assistant.id,
            model = %model_name,
        );
        let task = Task {
            replies: self.clone(),
            who: who.clone(),
            scope,
            thread,
            assistant: assistant.clone(),
            model_name,
            model,
            hints,
            log: run.clone(),
        };
        self.runtime
            .spawn(tracing::Instrument::instrument(task.run(), span));
        Started {
            user_message: user,
            assistant_message: assistant,
            log: run,
        }
    }
}
