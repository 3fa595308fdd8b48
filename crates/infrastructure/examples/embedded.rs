//! chat-threads as a library, without HTTP: the use cases of `chat-threads-application` over the
//! SQLite store and the echo model of `chat-threads-infrastructure`.
//!
//! ```sh
//! cargo run -p chat-threads-infrastructure --example embedded            # a temporary database
//! cargo run -p chat-threads-infrastructure --example embedded -- chat.db # or this file
//! ```
//!
//! It creates a thread, appends a message, streams a reply delta by delta, edits the question
//! (a second branch with its own reply), switches back to the first branch and prints the
//! active path of each branch.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_threads_application::events::{Event, ThreadEvents};
use chat_threads_application::replies::llm::SharedModel;
use chat_threads_application::replies::models::{Allowlists, Catalog};
use chat_threads_application::replies::{
    RepliesSettings, ReplyService, ReplySettings, SendInput, Started,
};
use chat_threads_application::{
    AppendMessage, CreateThread, MessageFilter, MessageService, SystemClock, ThreadService,
};
use chat_threads_domain::{Limits, Message, MessageStatus, Principal, ThreadId};
use chat_threads_infrastructure::SqlStore;
use chat_threads_infrastructure::db::{Database, DatabaseUrl, PoolOptions};
use chat_threads_infrastructure::llm::{EchoModel, TiktokenCounter};
use futures_util::StreamExt;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;
type Replies = ReplyService<SqlStore, SystemClock>;
type Messages = MessageService<SqlStore, SystemClock>;

#[tokio::main]
async fn main() -> Result<()> {
    // 1. The store: a SQLite file (created if missing), migrated to the current schema.
    let tmp = tempfile::tempdir()?; // removed on exit, with the database when none was given
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| tmp.path().join("chat.db"), PathBuf::from);
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display()))?;
    let db = Database::connect(&url, PoolOptions::default()).await?;
    let applied = db.migrate().await?;
    println!("database {url} ({} migrations applied)", applied.len());
    let store = SqlStore::new(db);

    // 2. The services, sharing the store, the clock and one hub of thread events. Replies run as
    //    tasks on the given runtime; the catalog holds the one model, the offline echo model.
    let limits = Limits::default();
    let events = ThreadEvents::default();
    let echo: SharedModel = Arc::new(EchoModel::new(Duration::from_millis(40)));
    let catalog = Catalog::new(
        BTreeMap::from([("echo".to_owned(), ("builtin".to_owned(), echo))]),
        "echo".to_owned(),
        Allowlists {
            default: vec!["*".to_owned()], // everyone may use every model
            ..Allowlists::default()
        },
    );
    let settings = ReplySettings {
        replies: RepliesSettings {
            context_tokens: 6000,
            context_messages: 50,
            flush_interval_ms: 1000, // must not be zero
            retention_secs: 60,
            stale_after_secs: 60,
            ..RepliesSettings::default()
        },
        max_reply_bytes: limits.content_bytes,
        ..ReplySettings::default()
    };
    let replies: Replies = ReplyService::new(
        store.clone(),
        SystemClock,
        catalog.clone(),
        Arc::new(TiktokenCounter),
        settings,
        limits,
        events.clone(),
        tokio::runtime::Handle::current(),
    );
    let threads = ThreadService::new(store.clone(), SystemClock, limits)
        .with_models(catalog)
        .with_events(events.clone());
    let messages: Messages = MessageService::new(store, SystemClock, limits).with_events(events);
    // A database reopened after a crash may hold replies left `streaming`: end them first.
    replies.recover().await?;

    // 3. Everything is done as one principal, and sees only what it owns.
    let who = Principal::user("ada", None);

    // 4. A thread with a system prompt, and a message appended as it is (no reply).
    let (thread, _) = threads
        .create(
            &who,
            CreateThread {
                title: Some("Embedded".into()),
                system_prompt: Some("You are a terse assistant.".into()),
                model: Some("echo".into()),
                ..CreateThread::default()
            },
        )
        .await?;
    messages
        .append(
            &who,
            thread.id,
            AppendMessage {
                role: Some("assistant".into()),
                content: "Hello! Ask me anything.".into(),
                ..AppendMessage::default()
            },
        )
        .await?;

    // 5. A question under the active leaf, and the model's reply as it streams.
    let question = ask("What is SQLite?");
    let first = replies.send(&who, thread.id, question).await?;
    let first_reply = stream_reply(&replies, &who, &first).await?;

    // 6. Editing the question adds a sibling with its own reply: a second branch, now active.
    let asked = first
        .user_message
        .as_ref()
        .ok_or("send stores the question")?;
    let edit = ask("What is PostgreSQL?");
    let second = replies.resend(&who, thread.id, asked.id, edit).await?;
    stream_reply(&replies, &who, &second).await?;
    print_path(&messages, &who, thread.id, "after the edit").await?;

    // 7. Back to the first branch.
    messages
        .set_active_leaf(&who, thread.id, first_reply.id)
        .await?;
    print_path(&messages, &who, thread.id, "switched back").await?;
    for branch in messages.branches(&who, thread.id).await? {
        let mark = if branch.active { "*" } else { " " };
        println!("{mark} branch ending in: {}", branch.leaf.content);
    }
    Ok(())
}

/// A question, with the defaults for everything else (model, parent, attachments ...).
fn ask(text: &str) -> SendInput {
    SendInput {
        content: text.to_owned(),
        ..SendInput::default()
    }
}

/// Follows a reply from its first event, printing its text as it arrives; returns it as stored.
async fn stream_reply(replies: &Replies, who: &Principal, started: &Started) -> Result<Message> {
    let reply = &started.assistant_message;
    // The events SSE and WebSocket clients get; `0` = from the start (a `Last-Event-ID`).
    let mut events = replies.follow(who, reply.thread_id, reply.id, 0).await?;
    let mut stdout = std::io::stdout();
    if let Some(question) = &started.user_message {
        writeln!(stdout, "user> {}", question.content)?;
    }
    write!(stdout, "assistant> ")?;
    while let Some(event) = events.next().await {
        // `message.created`, `typing.*` and the final `message.completed` bring no new text.
        if let Event::MessageDelta { delta } = event.data {
            write!(stdout, "{delta}")?;
            stdout.flush()?;
        }
    }
    writeln!(stdout)?;
    let stored = replies.finished(who, started).await?;
    if stored.status != MessageStatus::Complete {
        return Err(format!("the reply ended {}", stored.status.as_str()).into());
    }
    Ok(stored)
}

/// Prints the thread's active path, root first.
async fn print_path(messages: &Messages, who: &Principal, id: ThreadId, title: &str) -> Result<()> {
    let path = messages
        .active_path(who, id, None, None, MessageFilter::default())
        .await?;
    println!("active path, {title}:");
    for m in &path.data {
        println!("  {:>9}: {}", m.role.as_str(), m.content);
    }
    Ok(())
}
