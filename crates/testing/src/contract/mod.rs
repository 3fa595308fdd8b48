//! The contract every store must pass, written once and run against the in-memory store, a
//! SQLite file and PostgreSQL. Each check drives the real services over a fresh store.
//!
//! Use [`crate::contract_tests!`] to instantiate the suite for a store factory. It is test code,
//! one check per function, read top to bottom like a specification: this file holds the shared
//! setup ([`Services`], the principals and inputs, a small fixture), and each feature's checks
//! have a file of their own, re-exported here as `contract::<check>`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod billing;
mod branches;
mod concurrency;
mod edits;
mod feed;
mod lists;
mod members;
mod messages;
mod replies;
mod retention;
mod stamps;
mod threads;
mod transfer;
mod webhooks;

pub use billing::balances_hold_and_debit;
pub use branches::{active_path_among_branches, edit_branches_and_switch, fork_thread, tree_pages};
pub use concurrency::{
    abandoned_writes_leave_the_store_usable, concurrent_appends, failed_writes_fail_alone,
};
pub use edits::{delete_message_subtree, edit_in_place_and_tombstones};
pub use feed::{change_feed, entries_are_written_with_their_changes};
pub use lists::{list_filters_and_pages, text_search};
pub use members::members_and_authors;
pub use messages::{
    append_and_read_active_path, deep_chain, feedback_and_reactions, message_filters, parent_rules,
    summaries,
};
pub use replies::{begin_reply_is_atomic, queued_followups, remembered_histories};
pub use retention::undo_deletes_and_sweep;
pub use stamps::first_pages_and_their_stamps;
pub use threads::{
    delete_restore_purge, org_admin_reads_the_org, owners_are_isolated, thread_lifecycle,
};
pub use transfer::{chatgpt_import, export_and_import, pages_and_exports_are_bounded};
pub use webhooks::{hook as new_webhook, webhook_leases_and_deliveries};

use std::collections::HashSet;

use chat_threads_domain::{
    Limits, Message, MessageId, Principal, Role, SCOPE_ORG_ADMIN, Thread, ThreadId, ThreadStatus,
};
use serde_json::json;

use chat_threads_application::billing::{BalanceStore, Charge, ChargeKind, Hold, NewCredit};
use chat_threads_application::messages::{DeleteScope, MessagePatch};
use chat_threads_application::replies::ReplyStore;
use chat_threads_application::transfer::{ImportOutcome, ImportStore, TransferService};
use chat_threads_application::usage::{Usage, UsageStore};
use chat_threads_application::{
    AppError, AppendMessage, CreateThread, DeletedFilter, ForkMode, ListThreads, MessageFilter,
    MessageService, MessageStore, SearchStore, SummaryService, SummaryStore, SystemClock,
    ThreadService, ThreadStore, UpdateThread,
};

/// A store implementing every port the contract checks.
pub trait Store:
    ThreadStore
    + MessageStore
    + SummaryStore
    + SearchStore
    + ImportStore
    + ReplyStore
    + UsageStore
    + BalanceStore
    + chat_threads_application::files::FileStore
    + chat_threads_application::files::BlobStore
    + chat_threads_application::retention::RetentionStore
    + chat_threads_application::feed::FeedStore
    + chat_threads_application::replies::QueueStore
    + chat_threads_application::replies::HistoryStore
    + chat_threads_application::webhooks::WebhookStore
{
}
impl<
    T: ThreadStore
        + MessageStore
        + SummaryStore
        + SearchStore
        + ImportStore
        + ReplyStore
        + UsageStore
        + BalanceStore
        + chat_threads_application::files::FileStore
        + chat_threads_application::files::BlobStore
        + chat_threads_application::retention::RetentionStore
        + chat_threads_application::feed::FeedStore
        + chat_threads_application::replies::QueueStore
        + chat_threads_application::replies::HistoryStore
        + chat_threads_application::webhooks::WebhookStore,
> Store for T
{
}

/// The three services over one store.
#[derive(Debug)]
pub struct Services<S> {
    pub threads: ThreadService<S, SystemClock>,
    pub messages: MessageService<S, SystemClock>,
    pub summaries: SummaryService<S, SystemClock>,
    pub transfer: TransferService<S, SystemClock>,
}

pub fn services<S: Store>(store: S) -> Services<S> {
    Services {
        threads: ThreadService::new(store.clone(), SystemClock, Limits::default()),
        messages: MessageService::new(store.clone(), SystemClock, Limits::default()),
        summaries: SummaryService::new(store.clone(), SystemClock, Limits::default()),
        transfer: TransferService::new(store, SystemClock, Limits::default()),
    }
}

fn alice() -> Principal {
    Principal::user("alice", None)
}
fn bob() -> Principal {
    Principal::user("bob", None)
}
/// Alice as a member of an organization (the same owner as `alice()`).
fn alice_in(org: &str) -> Principal {
    Principal::user("alice", Some(org))
}

fn user(text: &str) -> AppendMessage {
    AppendMessage {
        content: text.into(),
        ..AppendMessage::default()
    }
}

fn assistant(text: &str) -> AppendMessage {
    AppendMessage {
        role: Some("assistant".into()),
        content: text.into(),
        ..AppendMessage::default()
    }
}

fn texts(messages: &[chat_threads_domain::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

/// A reply alone (no user message), streaming, placed after the active leaf at `now`.
pub fn reply_start(
    now: chat_threads_domain::Timestamp,
) -> chat_threads_application::replies::ReplyStart {
    chat_threads_application::replies::ReplyStart {
        busy_since: now - chrono::TimeDelta::hours(1),
        user: None,
        reply: (
            None,
            new_message(
                Role::Assistant,
                chat_threads_domain::MessageStatus::Streaming,
                now,
            ),
        ),
        hold: None,
    }
}

/// A reply's text so far (`Streaming`) or at its end, with no parts, usage or feed entry.
pub fn reply_text(
    content: &str,
    status: chat_threads_domain::MessageStatus,
) -> chat_threads_application::replies::ReplyUpdate<'_> {
    chat_threads_application::replies::ReplyUpdate {
        content,
        parts: &[],
        status,
        usage: None,
        entry: None,
    }
}

/// A message of one character, as a reply's start stores it.
pub fn new_message(
    role: Role,
    status: chat_threads_domain::MessageStatus,
    now: chat_threads_domain::Timestamp,
) -> chat_threads_application::NewMessage {
    chat_threads_application::NewMessage {
        id: MessageId::new(),
        role,
        content: chat_threads_domain::Content::parse("x".into(), &Limits::default()).unwrap(),
        content_type: chat_threads_domain::ContentType::Text,
        display_text: None,
        status,
        model: None,
        prompt_tokens: None,
        completion_tokens: None,
        metadata: chat_threads_domain::Metadata::default(),
        edited_at: None,
        created_at: now,
        attachments: Vec::new(),
        parts: Vec::new(),
        author: None,
    }
}

/// The services over a fresh store, with the setup the checks repeat: a thread, one message, a
/// run of turns. It derefs to [`Services`], so `s.threads` and `s.messages` work as before.
#[derive(Debug)]
struct Fixture<S>(Services<S>);

impl<S> std::ops::Deref for Fixture<S> {
    type Target = Services<S>;

    fn deref(&self) -> &Services<S> {
        &self.0
    }
}

impl<S: Store> Fixture<S> {
    fn new(store: S) -> Self {
        Self(services(store))
    }

    /// A new thread of `who`, with the defaults.
    async fn thread(&self, who: &Principal) -> Thread {
        self.threads
            .create(who, CreateThread::default())
            .await
            .unwrap()
            .0
    }

    /// Appends one message to `thread` as `who`.
    async fn say(&self, who: &Principal, thread: ThreadId, input: AppendMessage) -> Message {
        self.messages.append(who, thread, input).await.unwrap()
    }

    /// Appends `turns` to `thread` one after the other (each under the active leaf, so each
    /// under the one before), alternating user and assistant, user first.
    async fn chain<const N: usize>(
        &self,
        who: &Principal,
        thread: ThreadId,
        turns: [&str; N],
    ) -> [Message; N] {
        let mut out = Vec::with_capacity(N);
        for (i, text) in turns.into_iter().enumerate() {
            let input = if i % 2 == 0 {
                user(text)
            } else {
                assistant(text)
            };
            out.push(self.say(who, thread, input).await);
        }
        out.try_into().unwrap()
    }
}

/// Instantiates every contract check as a `#[tokio::test]` for a store factory.
///
/// `$make` is an async expression yielding `Option<store>`; `None` skips (a backend that is not
/// configured for this run).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            thread_lifecycle, owners_are_isolated, delete_restore_purge,
            append_and_read_active_path, parent_rules, edit_branches_and_switch, active_path_among_branches,
            delete_message_subtree, tree_pages, fork_thread, feedback_and_reactions, summaries,
            list_filters_and_pages, text_search, concurrent_appends, failed_writes_fail_alone,
            abandoned_writes_leave_the_store_usable, deep_chain,
            org_admin_reads_the_org, message_filters, export_and_import, chatgpt_import,
            begin_reply_is_atomic, pages_and_exports_are_bounded, edit_in_place_and_tombstones,
            balances_hold_and_debit, members_and_authors, undo_deletes_and_sweep, change_feed,
            entries_are_written_with_their_changes,
            queued_followups, webhook_leases_and_deliveries, remembered_histories,
            first_pages_and_their_stamps);
    };
    (@each $make:expr; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $make.await {
                    $crate::contract::$name(store).await;
                }
            }
        )+
    };
}

/// A search for `text` (no filters).
pub(crate) fn find(
    text: &str,
    cursor: Option<String>,
    limit: Option<u32>,
) -> chat_threads_application::search::SearchInput {
    chat_threads_application::search::SearchInput {
        text: text.to_owned(),
        cursor,
        limit,
        ..Default::default()
    }
}
