//! The reply service against the in-memory store and a scripted model: the event log, the
//! stored outcome, summaries when the context overflows, cancelling, failures, the one-reply
//! rule, and the quota.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chat_threads_application::error::ErrorCode;
use chat_threads_application::events::{Event, EventKind, ThreadEvent, ThreadEvents};
use chat_threads_application::replies::llm::TokenCounter;
use chat_threads_application::replies::models::{Allowlists, Catalog};
use chat_threads_application::replies::{
    RegenerateInput, RepliesSettings, ReplyService, ReplySettings, SendInput, Started,
};
use chat_threads_application::usage::Usage;
use chat_threads_application::{
    AppError, CreateThread, MessageService, SummaryService, SummaryStore, SystemClock,
    ThreadService,
};
use chat_threads_domain::{Limits, MessageStatus, Principal, ThreadId};
use chat_threads_testing::memory::MemoryStore;
use chat_threads_testing::scripted::{Answer, ScriptedModel};
use futures_util::StreamExt;

/// One token per word.
struct Words;
impl TokenCounter for Words {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

struct Setup {
    replies: ReplyService<MemoryStore, SystemClock>,
    threads: ThreadService<MemoryStore, SystemClock>,
    model: ScriptedModel,
    store: MemoryStore,
}

fn setup(answers: Vec<Answer>, settings: ReplySettings) -> Setup {
    let store = MemoryStore::new();
    let model = ScriptedModel::new(answers);
    Setup {
        threads: ThreadService::new(store.clone(), SystemClock, Limits::default()),
        replies: service(store.clone(), model.clone(), settings),
        model,
        store,
    }
}

/// A reply service (one process) over `store`.
fn service(
    store: MemoryStore,
    model: ScriptedModel,
    settings: ReplySettings,
) -> ReplyService<MemoryStore, SystemClock> {
    let catalog = Catalog::new(
        BTreeMap::from([(
            "scripted".to_owned(),
            ("test".to_owned(), Arc::new(model.clone()) as _),
        )]),
        "scripted".into(),
        Allowlists {
            default: vec!["*".into()],
            ..Allowlists::default()
        },
    );
    // What the test sets wins; the rest gets workable values.
    let settings = ReplySettings {
        replies: RepliesSettings {
            context_tokens: if settings.replies.context_tokens == 0 {
                10_000
            } else {
                settings.replies.context_tokens
            },
            context_messages: 50,
            flush_interval_ms: 50,
            retention_secs: 60,
            stale_after_secs: 60,
            summary_prompt: "Summarize.".into(),
            ..settings.replies
        },
        max_reply_bytes: 1 << 20,
        ..settings
    };
    ReplyService::new(
        store,
        SystemClock,
        catalog,
        Arc::new(Words),
        settings,
        Limits::default(),
        ThreadEvents::default(),
        tokio::runtime::Handle::current(),
    )
}

fn alice() -> Principal {
    Principal::user("alice", None)
}

fn send(text: &str) -> SendInput {
    SendInput {
        content: text.into(),
        ..SendInput::default()
    }
}

async fn thread(s: &Setup) -> ThreadId {
    s.threads
        .create(&alice(), CreateThread::default())
        .await
        .unwrap()
        .0
        .id
}

async fn events_of(started: &Started) -> Vec<ThreadEvent> {
    started.log.follow(0).collect().await
}

#[tokio::test]
async fn a_reply_streams_in_order_and_is_stored_complete_with_its_usage() {
    let mut answer = Answer::text(&["Hel", "lo"]);
    answer.usage = Some(Usage {
        prompt_tokens: 7,
        completion_tokens: 2,
    });
    let s = setup(vec![answer], ReplySettings::default());
    let t = thread(&s).await;
    let started = s.replies.send(&alice(), t, send("hi there")).await.unwrap();
    let events = events_of(&started).await;
    let kinds: Vec<EventKind> = events.iter().map(ThreadEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::MessageCreated,
            EventKind::MessageCreated,
            EventKind::TypingStarted,
            EventKind::MessageDelta,
            EventKind::MessageDelta,
            EventKind::TypingStopped,
            EventKind::MessageCompleted,
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "no gap, no duplicate");
    assert!(
        matches!(&events[6].data, Event::MessageCompleted { content, usage: Some(u) }
                 if content == "Hello" && u.completion_tokens == 2)
    );
    let stored = s.replies.finished(&alice(), &started).await.unwrap();
    assert_eq!(stored.status, MessageStatus::Complete);
    assert_eq!(stored.content.as_str(), "Hello");
    assert_eq!(
        (stored.prompt_tokens, stored.completion_tokens),
        (Some(7), Some(2))
    );
    let (used, _) = s.replies.usage_today(&alice()).await.unwrap();
    assert_eq!(used.prompt_tokens + used.completion_tokens, 9);
    // Resuming after event 4 gives exactly the rest.
    let rest: Vec<u64> = started
        .log
        .follow(4)
        .map(|e| e.seq.unwrap())
        .collect()
        .await;
    assert_eq!(rest, [5, 6, 7]);
    let prompt = &s.model.requests()[0].messages;
    assert_eq!(prompt.last().unwrap().content, "hi there");
}

/// A reply's own events (its placeholder, its text, its end), deltas joined: what a follower
/// of the reply must see the same whether it followed live or read a replay.
fn reply_view(events: &[ThreadEvent], reply: chat_threads_domain::MessageId) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match &e.data {
            Event::MessageCreated { message } if message.id != reply => {}
            Event::TypingStarted(_) | Event::TypingStopped(_) => {}
            Event::MessageDelta { delta } => match out.last_mut() {
                Some(Event::MessageDelta { delta: all }) => all.push_str(delta),
                _ => out.push(e.data.clone()),
            },
            data => out.push(data.clone()),
        }
    }
    out
}

#[tokio::test]
async fn a_replayed_reply_is_the_live_one_event_for_event() {
    for (answer, stop) in [
        (Answer::text(&["Hel", "lo ", "there"]), false),
        (
            Answer {
                delay: Duration::from_millis(100),
                ..Answer::text(&["a ", "b ", "c ", "d ", "e "])
            },
            true,
        ),
    ] {
        let s = setup(vec![answer], ReplySettings::default());
        let t = thread(&s).await;
        let started = s.replies.send(&alice(), t, send("hi")).await.unwrap();
        let reply = started.assistant_message.id;
        if stop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            s.replies.cancel(&alice(), t, reply).await.unwrap();
        }
        let live = events_of(&started).await;
        s.replies.finished(&alice(), &started).await.unwrap();
        // Another instance over the same store has no log of it: it replays the stored reply.
        let other = service(s.store.clone(), s.model.clone(), ReplySettings::default());
        let replayed: Vec<ThreadEvent> = other
            .follow(&alice(), t, reply, 0)
            .await
            .unwrap()
            .collect()
            .await;
        let (live, replayed) = (reply_view(&live, reply), reply_view(&replayed, reply));
        assert_eq!(live.len(), 3, "{live:?}");
        assert_eq!(live, replayed);
        assert_eq!(
            replayed.last().map(Event::kind),
            Some(if stop {
                EventKind::MessageCancelled
            } else {
                EventKind::MessageCompleted
            })
        );
    }
}

#[tokio::test]
async fn a_failure_keeps_the_partial_text_and_says_model_error() {
    let mut answer = Answer::text(&["Part"]);
    answer.fail = Some("boom".into());
    let s = setup(vec![answer], ReplySettings::default());
    let t = thread(&s).await;
    let started = s.replies.send(&alice(), t, send("hi")).await.unwrap();
    let events = events_of(&started).await;
    let last = events.last().unwrap();
    assert!(
        matches!(&last.data, Event::MessageFailed { content, error }
                 if content == "Part" && error.code == ErrorCode::ModelError),
        "{last:?}"
    );
    let stored = s.replies.finished(&alice(), &started).await.unwrap();
    assert_eq!(
        (stored.status, stored.content.as_str()),
        (MessageStatus::Failed, "Part")
    );
}

#[tokio::test]
async fn one_reply_at_a_time_and_cancel_keeps_the_text() {
    let mut slow = Answer::text(&["a ", "b ", "c ", "d ", "e "]);
    slow.delay = Duration::from_millis(100);
    let s = setup(vec![slow], ReplySettings::default());
    let t = thread(&s).await;
    let started = s.replies.send(&alice(), t, send("go")).await.unwrap();
    let err = s
        .replies
        .send(&alice(), t, send("again"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::GenerationInProgress));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let cancelled = s
        .replies
        .cancel(&alice(), t, started.assistant_message.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, MessageStatus::Cancelled);
    assert!(!cancelled.content.as_str().is_empty());
    assert!(cancelled.content.as_str().len() < "a b c d e ".len());
    let last = events_of(&started).await.pop().unwrap();
    assert_eq!(last.kind(), EventKind::MessageCancelled);
}

#[tokio::test]
async fn what_no_longer_fits_is_summarized_stored_and_used() {
    let s = setup(
        vec![
            Answer::text(&["one two three"]),
            Answer::text(&["SUMMARY"]),
            Answer::text(&["four"]),
        ],
        ReplySettings {
            replies: RepliesSettings {
                context_tokens: 12,
                ..RepliesSettings::default()
            },
            ..ReplySettings::default()
        },
    );
    let t = thread(&s).await;
    let first = s
        .replies
        .send(&alice(), t, send("alpha beta gamma"))
        .await
        .unwrap();
    s.replies.finished(&alice(), &first).await.unwrap();
    let second = s
        .replies
        .send(&alice(), t, send("delta epsilon"))
        .await
        .unwrap();
    let stored = s.replies.finished(&alice(), &second).await.unwrap();
    assert_eq!(stored.content.as_str(), "four");
    let summaries = s.store.list_summaries(&alice().scope(), t).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].text.as_str(), "SUMMARY");
    let requests = s.model.requests();
    assert_eq!(requests[1].messages[0].content, "Summarize.");
    let last = &requests[2].messages;
    assert!(last[0].content.contains("SUMMARY"), "{last:?}");
    assert_eq!(last.last().unwrap().content, "delta epsilon");
}

#[tokio::test]
async fn regenerate_and_resend_refuse_the_wrong_role_and_bad_hints_store_nothing() {
    let s = setup(vec![Answer::text(&["x"])], ReplySettings::default());
    let t = thread(&s).await;
    let started = s.replies.send(&alice(), t, send("q")).await.unwrap();
    s.replies.finished(&alice(), &started).await.unwrap();
    let user = started.user_message.clone().unwrap();
    let err = s
        .replies
        .regenerate(&alice(), t, user.id, RegenerateInput::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "message_unusable");
    let bad = SendInput {
        language: Some("x".repeat(100)),
        ..send("hello")
    };
    let err = s.replies.send(&alice(), t, bad).await.unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let messages = MessageService::new(s.store.clone(), SystemClock, Limits::default());
    let tree = messages
        .tree(&alice(), t, None, None, Default::default())
        .await
        .unwrap();
    assert_eq!(tree.data.len(), 2, "nothing stored for the refusals");
    let _ = SummaryService::new(s.store.clone(), SystemClock, Limits::default());
}

#[tokio::test]
async fn the_daily_quota_refuses_once_spent() {
    let mut answer = Answer::text(&["x"]);
    answer.usage = Some(Usage {
        prompt_tokens: 10,
        completion_tokens: 10,
    });
    let s = setup(
        vec![answer],
        ReplySettings {
            replies: RepliesSettings {
                daily_token_quota: Some(15),
                ..RepliesSettings::default()
            },
            ..ReplySettings::default()
        },
    );
    let t = thread(&s).await;
    let started = s.replies.send(&alice(), t, send("q")).await.unwrap();
    s.replies.finished(&alice(), &started).await.unwrap();
    let err = s.replies.send(&alice(), t, send("q2")).await.unwrap_err();
    assert_eq!(err.code(), "token_quota_exceeded");
}

#[tokio::test]
async fn a_reply_whose_instance_is_gone_is_released_by_another() {
    // Instance "a" starts a reply that never ends; instance "b" shares the store.
    let mut endless = Answer::text(&["a ", "b ", "c "]);
    endless.delay = Duration::from_secs(3600);
    let s = setup(vec![endless.clone(), endless], ReplySettings::default());
    let a = s.replies.clone().with_instance("a".into());
    let b = service(s.store.clone(), s.model.clone(), ReplySettings::default())
        .with_instance("b".into());
    let t = thread(&s).await;
    let t2 = thread(&s).await;
    let first = a.send(&alice(), t, send("one")).await.unwrap();
    let second = a.send(&alice(), t2, send("two")).await.unwrap();
    // For "b" (one process per in-memory store), "a" is gone: cancelling ends the reply.
    let cancelled = b
        .cancel(&alice(), t2, second.assistant_message.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, MessageStatus::Cancelled);
    // Following it from "b" replays it ending with message.failed, and the thread is free.
    let events: Vec<ThreadEvent> = b
        .follow(&alice(), t, first.assistant_message.id, 0)
        .await
        .unwrap()
        .collect()
        .await;
    assert!(matches!(
        &events.last().unwrap().data,
        Event::MessageFailed { error, .. } if error.code == ErrorCode::ModelError
    ));
    let again = b.send(&alice(), t, send("three")).await;
    assert!(again.is_ok(), "{:?}", again.err());
}

#[tokio::test]
async fn a_history_is_stored_whole_or_not_at_all_and_a_refused_reply_leaves_nothing() {
    use chat_threads_application::ListThreads;
    use chat_threads_application::replies::{NewThread, Turn};
    use chat_threads_domain::Role;
    let mut answer = Answer::text(&["ok"]);
    answer.usage = Some(Usage {
        prompt_tokens: 10,
        completion_tokens: 10,
    });
    let s = setup(
        vec![answer],
        ReplySettings {
            replies: RepliesSettings {
                daily_token_quota: Some(15),
                ..RepliesSettings::default()
            },
            ..ReplySettings::default()
        },
    );
    let threads = |s: &Setup| {
        let threads = s.threads.clone();
        async move {
            threads
                .list(&alice(), ListThreads::default())
                .await
                .unwrap()
                .data
                .len()
        }
    };
    let turn = |role, content: &str| Turn {
        role,
        content: content.into(),
        parts: Vec::new(),
    };
    // A message over the limit in the middle: nothing at all is stored.
    let huge = "x".repeat(Limits::default().content_bytes + 1);
    let err = s
        .replies
        .store_history(
            &alice(),
            NewThread::default(),
            vec![
                turn(Role::User, "a"),
                turn(Role::Assistant, &huge),
                turn(Role::User, "c"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "limit_exceeded", "{err:?}");
    assert_eq!(threads(&s).await, 0);
    // A whole history, then a reply under its last message.
    let history = vec![
        turn(Role::User, "first question"),
        turn(Role::Assistant, "first answer"),
    ];
    let (thread, started) = s
        .replies
        .send_with_history(
            &alice(),
            NewThread {
                system_prompt: Some("Be brief.".into()),
                ..NewThread::default()
            },
            history.clone(),
            send("second question"),
        )
        .await
        .unwrap();
    s.replies.finished(&alice(), &started).await.unwrap();
    assert_eq!(
        thread.system_prompt.as_ref().map(|p| p.as_str()),
        Some("Be brief.")
    );
    let user = started.user_message.unwrap();
    assert_eq!(user.depth, 2, "under the history");
    let prompt = &s.model.requests()[0].messages;
    let texts: Vec<&str> = prompt.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Be brief.",
            "first question",
            "first answer",
            "second question"
        ]
    );
    // The quota is spent: the next one is refused, and its thread does not stay.
    let err = s
        .replies
        .send_with_history(&alice(), NewThread::default(), history, send("again"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_quota_exceeded");
    assert_eq!(threads(&s).await, 1);
}

#[tokio::test]
async fn a_reply_records_what_its_prompt_was_built_from() {
    use chat_threads_application::replies::Sampling;
    let s = setup(vec![Answer::text(&["ok"])], ReplySettings::default());
    let t = thread(&s).await;
    s.threads
        .update(
            &alice(),
            t,
            chat_threads_application::UpdateThread {
                system_prompt: Some(Some("Be brief.".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let input = SendInput {
        sampling: Sampling {
            temperature: Some(0.0),
            ..Sampling::default()
        },
        ..send("what was sent?")
    };
    let started = s.replies.send(&alice(), t, input).await.unwrap();
    let reply = s.replies.finished(&alice(), &started).await.unwrap();
    let prompt = &reply.metadata.to_value()["prompt"];
    assert_eq!(prompt["model"], "scripted");
    assert!(
        prompt["system_prompt"]
            .as_str()
            .unwrap()
            .starts_with("Be brief."),
        "{prompt}"
    );
    let user = started.user_message.unwrap();
    assert_eq!(
        prompt["messages"][0]["id"],
        serde_json::json!(user.id),
        "{prompt}"
    );
    assert_eq!(prompt["messages"][0]["tokens"], 3 + 4, "{prompt}");
    assert!(prompt["total_tokens"].as_u64().unwrap() > 7, "{prompt}");
    assert_eq!(prompt["sampling"]["temperature"], 0.0);
}
