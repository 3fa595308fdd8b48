//! Reply progress and token usage on both backends.

use chat_threads_application::AppError;
use chat_threads_application::replies::ReplyStore;
use chat_threads_application::usage::Usage;
use chat_threads_domain::{Message, MessageId, MessageStatus, Owner, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::error::DbError;
use super::models::MessageRow;
use super::schema::{messages, threads, usage_daily as u};
use super::store::SqlStore;
use super::types::{DbTime, DbUuid};

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
        self.begin_reply_tx(scope, thread_id, busy_since, user, reply)
            .await
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

impl chat_threads_application::usage::UsageStore for SqlStore {
    async fn add_usage(&self, owner: &Owner, day: &str, usage: Usage) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(u::table)
                .values((
                    u::owner.eq(owner.as_str()),
                    u::day.eq(day),
                    u::prompt_tokens.eq(i64::from(usage.prompt_tokens)),
                    u::completion_tokens.eq(i64::from(usage.completion_tokens)),
                ))
                .on_conflict((u::owner, u::day))
                .do_update()
                .set((
                    u::prompt_tokens.eq(u::prompt_tokens + excluded(u::prompt_tokens)),
                    u::completion_tokens.eq(u::completion_tokens + excluded(u::completion_tokens)),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn usage_on(&self, owner: &Owner, day: &str) -> Result<Usage, AppError> {
        let r: Result<Usage, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<(i64, i64)> = u::table
                .filter(u::owner.eq(owner.as_str()))
                .filter(u::day.eq(day))
                .select((u::prompt_tokens, u::completion_tokens))
                .first(conn)
                .await
                .optional()?;
            let (p, c) = row.unwrap_or((0, 0));
            Ok(Usage {
                prompt_tokens: u32::try_from(p).unwrap_or(u32::MAX),
                completion_tokens: u32::try_from(c).unwrap_or(u32::MAX),
            })
        });
        Ok(r?)
    }
}
