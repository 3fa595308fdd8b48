//! Summaries of a thread's path: stored by clients or written by the model when a thread
//! outgrows the context budget.

use std::future::Future;

use chat_threads_domain::{
    Content, Limits, MessageId, ModelName, Principal, Scope, Summary, SummaryId, ThreadId,
};

use crate::access::{Need, scope_for};
use crate::error::AppError;
use crate::events::{Event, ThreadEvents};
use crate::input::opt;
use crate::system::Clock;

/// Storage of summaries.
pub trait SummaryStore: Clone + Send + Sync + 'static {
    /// Stores a summary; the covered message must be a message of the thread. With the change
    /// feed entries `report` makes of it.
    fn add_summary(
        &self,
        scope: &Scope,
        summary: Summary,
        report: crate::feed::Report<'_, Summary>,
    ) -> impl Future<Output = Result<Summary, AppError>> + Send;

    /// The thread's summaries, newest first.
    fn list_summaries(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
    ) -> impl Future<Output = Result<Vec<Summary>, AppError>> + Send;
}

/// Summary use cases.
#[derive(Debug, Clone)]
pub struct SummaryService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
    events: ThreadEvents,
}

/// What storing a summary reports: `summary.created` (see [`crate::feed::Report`]).
pub(crate) fn announced(summary: &Summary) -> Vec<crate::events::ThreadEvent> {
    vec![crate::events::ThreadEvent::thread(
        summary.thread_id,
        Event::SummaryCreated {
            summary: Box::new(summary.clone()),
        },
    )]
}

impl<S: SummaryStore + crate::threads::ThreadStore, C: Clock> SummaryService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            events: ThreadEvents::default(),
        }
    }

    /// Publishes new summaries to the thread's subscribers.
    pub fn with_events(mut self, events: ThreadEvents) -> Self {
        self.events = events;
        self
    }

    /// Stores a summary of the path up to `covers_message_id`.
    pub async fn add(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        covers_message_id: MessageId,
        text: String,
        model: Option<String>,
    ) -> Result<Summary, AppError> {
        let summary = Summary {
            id: SummaryId::new(),
            thread_id,
            covers_message_id,
            text: Content::parse(text, &self.limits)?,
            model: opt(model, ModelName::parse)?,
            created_at: self.clock.now(),
        };
        // The thread is in the path; the message is in the body: a message that is not there
        // makes the request unusable (422), not the thread missing (404).
        let stored = self
            .store
            .add_summary(
                &scope_for(&self.store, who, thread_id, Need::Write).await?,
                summary,
                &announced,
            )
            .await
            .map_err(|e| match e {
                AppError::MessageNotFound => chat_threads_domain::DomainError::MessageUnusable(
                    covers_message_id,
                    "no such message in this thread",
                )
                .into(),
                e => e,
            })?;
        self.events.publish_all_stored(announced(&stored));
        Ok(stored)
    }

    /// The thread's summaries, newest first.
    pub async fn list(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Vec<Summary>, AppError> {
        self.store
            .list_summaries(
                &scope_for(&self.store, who, thread_id, Need::Read).await?,
                thread_id,
            )
            .await
    }

    /// The newest summary, if any.
    pub async fn latest(
        &self,
        who: &Principal,
        thread_id: ThreadId,
    ) -> Result<Option<Summary>, AppError> {
        Ok(self
            .store
            .list_summaries(
                &scope_for(&self.store, who, thread_id, Need::Read).await?,
                thread_id,
            )
            .await?
            .into_iter()
            .next())
    }
}
