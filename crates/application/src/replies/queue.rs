//! Follow-ups while a reply runs (`on_busy` on send): `reject` (409, the default), `interrupt`
//! (the running reply is stopped, keeping its text, and the new message answered under it) or
//! `queue` (the message is stored `queued` as a child of the running reply, seen by every device
//! through `message.created`, editable and cancellable while it waits; when the reply ends, the
//! oldest queued message's reply starts under it — on the instance that ran the reply, or on any
//! instance's sweep if that one is gone — and the others move under the new reply).

use std::future::Future;

use chat_threads_domain::{
    Message, MessageId, MessageStatus, Principal, PrincipalKind, Scope, ThreadId, Timestamp,
};

use super::{Hints, ReplyService, ReplyStores, SendInput, Started};
use crate::error::AppError;
use crate::events::{Event, ThreadEvent};
use crate::messages::NewMessage;
use crate::system::Clock;

/// What a send does while a reply runs in the thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBusy {
    /// Refuse: 409 `generation_in_progress`.
    #[default]
    Reject,
    /// Store the message `queued` under the running reply; answered when that one ends.
    Queue,
    /// Stop the running reply (its text kept) and answer the new message under it.
    Interrupt,
}

/// What a send did.
#[derive(Debug)]
pub enum Sent {
    /// The reply started.
    Started(Box<Started>),
    /// The message waits, queued under the running reply.
    Queued(Box<Message>),
}

/// Storage of queued messages.
pub trait QueueStore: Clone + Send + Sync + 'static {
    /// Stores `message` (status `queued`) under `reply` while that reply still streams, as the
    /// thread's active leaf; `None` when it no longer streams (send it normally). With the
    /// change feed entries `report` makes of the outcome (as [`QueueStore::end_queued`]).
    fn queue_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        reply: MessageId,
        message: NewMessage,
        report: crate::feed::Report<'_, Option<Message>>,
    ) -> impl Future<Output = Result<Option<Message>, AppError>> + Send;

    /// The thread's oldest queued message.
    fn first_queued(
        &self,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Option<Message>, AppError>> + Send;

    /// In one transaction, unless a reply streams (touched after `busy_since`) or the message
    /// is no longer queued (`None`): marks it `complete`, places `reply` under it, moves the
    /// thread's other queued messages under the reply (the newest of them stays the active
    /// leaf), records `instance` as the reply's writer; keeps the reply's `message.created`
    /// change feed entry (1 in its log) and the entries `report` makes. The user message and
    /// the reply.
    #[allow(clippy::too_many_arguments)]
    fn start_queued(
        &self,
        instance: &str,
        scope: &Scope,
        thread_id: ThreadId,
        queued: MessageId,
        busy_since: Timestamp,
        reply: NewMessage,
        report: crate::feed::Report<'_, Option<(Message, Message)>>,
    ) -> impl Future<Output = Result<Option<(Message, Message)>, AppError>> + Send;

    /// Ends a queued message with `status` (cancelled, or failed when its reply could not
    /// start); when it was the active leaf, its parent becomes it. `None`: no longer queued.
    fn end_queued(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: MessageStatus,
        now: Timestamp,
        report: crate::feed::Report<'_, Option<Message>>,
    ) -> impl Future<Output = Result<Option<Message>, AppError>> + Send;

    /// Threads with queued messages and no reply streaming: queues whose turn was missed.
    fn stalled_queues(&self) -> impl Future<Output = Result<Vec<ThreadId>, AppError>> + Send;
}

/// What a queued message's change reports: `message.updated` with it as it is now.
fn updated(m: &Option<Message>) -> Vec<ThreadEvent> {
    m.iter().flat_map(crate::messages::updated).collect()
}

/// The principal a queued message was sent by, for its reply (quota, billing, the scope): its
/// author, in the thread's organization.
fn sender(author: &str, org: Option<&chat_threads_domain::OrgId>) -> Option<Principal> {
    let (kind, subject) = author.split_once(':')?;
    let kind = PrincipalKind::parse(kind)?;
    let mut who = Principal::user(subject, None);
    who.kind = kind;
    who.org = org.cloned();
    Some(who)
}

impl<S, C> ReplyService<S, C>
where
    S: ReplyStores,
    C: Clock,
{
    /// Stops whatever reply runs in the thread (its text kept) and waits until it is stored.
    pub(super) async fn interrupt(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<(), AppError> {
        for id in self.store.running_replies(thread_id).await? {
            self.cancel(who, thread_id, id).await?;
        }
        Ok(())
    }

    /// Queues the user message of a send under the running reply; `None` when no reply runs
    /// any more (the caller sends it normally).
    pub(super) async fn enqueue(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        mut user: NewMessage,
        model: &str,
    ) -> Result<Option<Message>, AppError> {
        let Some(reply) = self
            .store
            .running_replies(thread_id)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        user.status = MessageStatus::Queued;
        // The model its reply is to be asked of.
        user.model = chat_threads_domain::ModelName::parse(model).ok();
        let report = |q: &Option<Message>| {
            q.iter()
                .map(|m| ThreadEvent::thread(m.thread_id, Event::created(m)))
                .collect()
        };
        let queued = self
            .store
            .queue_message(scope, thread_id, reply, user, &report)
            .await?;
        self.events.publish_all_stored(report(&queued));
        Ok(queued)
    }

    /// A send with its `on_busy` rule: the reply started, or the message queued.
    pub async fn send_with(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: SendInput,
    ) -> Result<Sent, AppError> {
        let on_busy = input.on_busy;
        // Follow-ups waiting with nothing running (their turn was missed): they go first, so
        // a new message never jumps the queue.
        if self.store.first_queued(thread_id).await?.is_some()
            && self.store.running_replies(thread_id).await?.is_empty()
        {
            self.next_in_queue(thread_id).await;
        }
        let mut tries = 0;
        loop {
            match self.send_once(who, thread_id, input.clone()).await {
                Ok(started) => return Ok(Sent::Started(Box::new(started))),
                Err((AppError::GenerationInProgress, _))
                    if on_busy == OnBusy::Interrupt && tries < 3 =>
                {
                    tries += 1;
                    self.interrupt(who, thread_id).await?;
                }
                Err((AppError::GenerationInProgress, Some(pending)))
                    if on_busy == OnBusy::Queue =>
                {
                    let (scope, user, model) = *pending;
                    if let Some(q) = self.enqueue(&scope, thread_id, user, &model).await? {
                        return Ok(Sent::Queued(Box::new(q)));
                    }
                    // The reply ended meanwhile: send it normally.
                    tries += 1;
                    if tries > 3 {
                        return Err(AppError::GenerationInProgress);
                    }
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Starts the reply to the thread's oldest queued message if no reply runs; a message
    /// whose reply cannot start (quota, balance, a model no longer allowed) is marked `failed`
    /// and the next one tried. Errors are logged.
    pub(crate) async fn next_in_queue(&self, thread_id: ThreadId) {
        for _ in 0..100 {
            match self.try_next(thread_id).await {
                Ok(true) => continue,
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(%thread_id, cause = %e.chain(), "starting a queued message failed");
                    return;
                }
            }
        }
    }

    /// One step of [`Self::next_in_queue`]: whether to look again (a message failed).
    async fn try_next(&self, thread_id: ThreadId) -> Result<bool, AppError> {
        let Some(q) = self.store.first_queued(thread_id).await? else {
            return Ok(false);
        };
        // The thread's owner (any principal's access names it).
        let Some(access) = crate::access::MemberStore::thread_access(
            &self.store,
            thread_id,
            &chat_threads_domain::Owner::from_stored("system:queue".to_owned()),
        )
        .await?
        else {
            return Ok(false);
        };
        let scope = Scope::of(access.owner);
        // Read once, with what it inherits from its folder: the sender and the reply use it.
        let thread = self.replying_thread(&scope, thread_id).await?;
        let who = q
            .author
            .as_ref()
            .and_then(|a| sender(a.id.as_str(), thread.org_id.as_ref()));
        let outcome = match &who {
            Some(who) => self.start_next(who, &scope, thread, &q).await,
            None => Err(AppError::internal("a queued message without its sender")),
        };
        match outcome {
            Ok(Some(started)) => {
                self.events.publish_all_stored(updated(&Some(started.0)));
                Ok(false)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                tracing::warn!(%thread_id, message_id = %q.id, cause = %e.chain(), "a queued message could not be answered");
                let failed = self
                    .store
                    .end_queued(
                        thread_id,
                        q.id,
                        MessageStatus::Failed,
                        self.clock.now(),
                        &updated,
                    )
                    .await?;
                self.events.publish_all_stored(updated(&failed));
                Ok(true)
            }
        }
    }

    /// Starts the reply to `q` (the user message now complete, and the reply's start).
    async fn start_next(
        &self,
        who: &Principal,
        scope: &Scope,
        thread: chat_threads_domain::Thread,
        q: &Message,
    ) -> Result<Option<(Message, Started)>, AppError> {
        let thread_id = thread.id;
        let (model_name, model) = self.catalog.resolve(
            who,
            q.model.as_ref().map(|m| m.as_str()),
            thread.model.as_ref().map(|m| m.as_str()),
        )?;
        self.within_quota(who).await?;
        let Some((user, assistant)) = self
            .store
            .start_queued(
                &self.instance,
                scope,
                thread_id,
                q.id,
                self.stale_before(),
                self.placeholder(&model_name),
                &|started: &Option<(Message, Message)>| {
                    updated(&started.as_ref().map(|(user, _)| user.clone()))
                },
            )
            .await?
        else {
            return Ok(None);
        };
        let started = self.start(
            who,
            scope.clone(),
            thread,
            None,
            assistant,
            model_name,
            model,
            Hints::default(),
        );
        Ok(Some((user, started)))
    }

    /// Cancels a queued message (it will not be answered; it stays in the tree, `cancelled`).
    pub(super) async fn cancel_queued(
        &self,
        thread_id: ThreadId,
        message: Message,
    ) -> Result<Message, AppError> {
        match self
            .store
            .end_queued(
                thread_id,
                message.id,
                MessageStatus::Cancelled,
                self.clock.now(),
                &updated,
            )
            .await?
        {
            Some(m) => {
                self.events.publish_all_stored(updated(&Some(m.clone())));
                Ok(m)
            }
            // Started (or ended) meanwhile: as it is now.
            None => Ok(message),
        }
    }

    /// Starts the queues whose turn was missed (their reply's instance died before it could);
    /// how many threads were looked at.
    pub(crate) async fn restart_stalled_queues(&self) -> Result<usize, AppError> {
        let threads = self.store.stalled_queues().await?;
        for t in &threads {
            self.next_in_queue(*t).await;
        }
        Ok(threads.len())
    }
}
