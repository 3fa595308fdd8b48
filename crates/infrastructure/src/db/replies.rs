//! Replies on both backends: starting one atomically (the one-reply-per-thread check, the user
//! message and the placeholder together), its progress, and recovery after a crash.

use chat_threads_application::{Anchor, AppError};
use chat_threads_domain::{Message, MessageId, MessageStatus, Thread, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::DbError;
use super::models::{MessageRow, ThreadRow};
use super::schema::{messages, threads};
use super::store::{SqlStore, db_id};
use super::types::{DbTime, DbUuid};
use chat_threads_application::replies::ReplyStore;
use chat_threads_application::usage::Usage;

impl ReplyStore for SqlStore {
    async fn update_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        content: &str,
        status: MessageStatus,
        usage: Option<Usage>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let prompt = usage.map(|u| i32::try_from(u.prompt_tokens).unwrap_or(i32::MAX));
        let completion = usage.map(|u| i32::try_from(u.completion_tokens).unwrap_or(i32::MAX));
        let r: Result<Message, DbError> = with_conn!(self, |conn, _d| {
            let row: MessageRow = diesel::update(
                messages::table
                    .filter(messages::id.eq(DbUuid(id.as_uuid())))
                    .filter(messages::thread_id.eq(DbUuid(thread_id.as_uuid()))),
            )
            .set((
                messages::content.eq(content),
                messages::status.eq(status.as_str()),
                messages::prompt_tokens.eq(prompt),
                messages::completion_tokens.eq(completion),
                messages::updated_at.eq(DbTime(now)),
            ))
            .returning(MessageRow::as_returning())
            .get_result(conn)
            .await?;
            // Flushes while streaming touch only the message; the thread moves when the reply ends.
            if status != MessageStatus::Streaming {
                diesel::update(threads::table.filter(threads::id.eq(DbUuid(thread_id.as_uuid()))))
                    .set(threads::updated_at.eq(DbTime(now)))
                    .execute(conn)
                    .await?;
            }
            Message::try_from(row)
        });
        Ok(r?)
    }

    async fn begin_reply(
        &self,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        busy_since: Timestamp,
        user: Option<(
            chat_threads_application::Anchor,
            chat_threads_application::NewMessage,
        )>,
        reply: (
            Option<chat_threads_application::Anchor>,
            chat_threads_application::NewMessage,
        ),
    ) -> Result<(Option<Message>, Message), AppError> {
        let r: Result<(Option<Message>, Message), DbError> = write_tx!(self, |conn, _d| {
            let thread = lock_thread!(conn, scope, thread_id);
            let busy: i64 = messages::table
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::status.eq(MessageStatus::Streaming.as_str()))
                .filter(messages::updated_at.gt(DbTime(busy_since)))
                .filter(messages::deleted_at.is_null())
                .count()
                .get_result(conn)
                .await?;
            if busy > 0 {
                return Err(DbError(AppError::GenerationInProgress));
            }
            let user = match user {
                Some((anchor, message)) => Some(place!(conn, scope, thread, anchor, message)),
                None => None,
            };
            let (anchor, message) = reply;
            let anchor = match (anchor, &user) {
                (Some(a), _) => a,
                (None, Some(u)) => Anchor::Append(Some(u.id)),
                (None, None) => Anchor::Append(None),
            };
            let reply = place!(conn, scope, thread, anchor, message);
            Ok((user, reply))
        });
        Ok(r?)
    }

    async fn recover_stale(&self, before: Timestamp) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = with_conn!(self, |conn, _d| {
            let n = diesel::update(
                messages::table
                    .filter(messages::status.eq(MessageStatus::Streaming.as_str()))
                    .filter(messages::updated_at.lt(DbTime(before))),
            )
            .set(messages::status.eq(MessageStatus::Failed.as_str()))
            .execute(conn)
            .await?;
            Ok(n as u64)
        });
        Ok(r?)
    }
}
