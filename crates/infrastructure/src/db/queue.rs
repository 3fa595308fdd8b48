//! Follow-ups queued while a reply runs, on both backends: queued under the running reply,
//! started one at a time in a transaction with the one-reply-per-thread check.

use chat_threads_application::feed::{Report, created_entry};
use chat_threads_application::replies::QueueStore;
use chat_threads_application::{Anchor, AppError, NewMessage};
use chat_threads_domain::{Message, MessageId, MessageStatus, Scope, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::{AsConn, Conn};
use super::error::DbError;
use super::feed::keep;
use super::models::MessageRow;
use super::replies::{own_reply, reply_running};
use super::schema::{messages, threads};
use super::store::{SqlStore, constant, db_id};
use super::tree_sql::{lock_thread, place};
use super::types::{DbTime, DbUuid};

/// The thread's newest queued message, inside the caller's transaction.
async fn newest_queued(c: Conn<'_>, thread_id: ThreadId) -> Result<Option<DbUuid>, DbError> {
    with_conn!(on c, |conn, _d| {
        Ok(messages::table
            .filter(messages::thread_id.eq(db_id(thread_id)))
            .filter(messages::queued_at.is_not_null())
            .filter(messages::deleted_at.is_null())
            .order((messages::created_at.desc(), messages::id.desc()))
            .select(messages::id)
            .first::<DbUuid>(conn)
            .await
            .optional()?)
    })
}

impl QueueStore for SqlStore {
    async fn queue_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        reply: MessageId,
        message: NewMessage,
        report: Report<'_, Option<Message>>,
    ) -> Result<Option<Message>, AppError> {
        let r: Result<Option<Message>, DbError> =
            write_tx!(self, report(report, chrono::Utc::now()), |conn, _d| {
                let thread = lock_thread(conn.any(), scope, thread_id).await?;
                let streaming: i64 = messages::table
                    .filter(messages::id.eq(db_id(reply)))
                    .filter(messages::thread_id.eq(db_id(thread_id)))
                    .filter(messages::status.eq(constant(MessageStatus::Streaming.as_str())))
                    .count()
                    .get_result(conn)
                    .await?;
                if streaming == 0 {
                    return Ok(None);
                }
                Ok(Some(
                    place(
                        conn.any(),
                        scope,
                        &thread,
                        Anchor::Append(Some(reply)),
                        message,
                    )
                    .await?,
                ))
            });
        Ok(r?)
    }

    async fn first_queued(&self, thread_id: ThreadId) -> Result<Option<Message>, AppError> {
        let r: Result<Option<Message>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<MessageRow> = messages::table
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::queued_at.is_not_null())
                .filter(messages::deleted_at.is_null())
                .order((messages::created_at.asc(), messages::id.asc()))
                .select(MessageRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(Message::try_from).transpose()
        });
        Ok(r?)
    }

    async fn start_queued(
        &self,
        instance: &str,
        scope: &Scope,
        thread_id: ThreadId,
        queued: MessageId,
        busy_since: Timestamp,
        reply: NewMessage,
        report: Report<'_, Option<(Message, Message)>>,
    ) -> Result<Option<(Message, Message)>, AppError> {
        let now = reply.created_at;
        let r: Result<Option<(Message, Message)>, DbError> =
            write_tx!(self, report(report, now), |conn, d| {
                let thread = lock_thread(conn.any(), scope, thread_id).await?;
                if reply_running(conn.any(), thread_id, busy_since).await? {
                    return Ok(None);
                }
                let user: Option<MessageRow> = diesel::update(
                    messages::table
                        .filter(messages::id.eq(db_id(queued)))
                        .filter(messages::thread_id.eq(db_id(thread_id)))
                        .filter(messages::queued_at.is_not_null())
                        .filter(messages::deleted_at.is_null()),
                )
                .set((
                    messages::queued_at.eq(None::<DbTime>),
                    messages::updated_at.eq(DbTime(now)),
                ))
                .returning(MessageRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                let Some(user) = user else {
                    return Ok(None);
                };
                let user = Message::try_from(user)?;
                let placed = place(
                    conn.any(),
                    scope,
                    &thread,
                    Anchor::Append(Some(queued)),
                    reply,
                )
                .await?;
                // The other follow-ups now wait under the new reply; the newest stays the leaf.
                diesel::update(
                    messages::table
                        .filter(messages::thread_id.eq(db_id(thread_id)))
                        .filter(messages::queued_at.is_not_null())
                        .filter(messages::deleted_at.is_null()),
                )
                .set((
                    messages::parent_id.eq(Some(db_id(placed.id))),
                    messages::depth.eq(placed.depth + 1),
                ))
                .execute(conn)
                .await?;
                if let Some(newest) = newest_queued(conn.any(), thread_id).await? {
                    diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                        .set(threads::active_leaf_id.eq(Some(newest)))
                        .execute(conn)
                        .await?;
                }
                own_reply(conn.any(), placed.id, thread_id, instance).await?;
                // The placeholder opens the reply's log (1).
                keep(d, &created_entry(&placed, Some((placed.id, 1))))
                    .execute(conn)
                    .await?;
                Ok(Some((user, placed)))
            });
        Ok(r?)
    }

    async fn end_queued(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        status: MessageStatus,
        now: Timestamp,
        report: Report<'_, Option<Message>>,
    ) -> Result<Option<Message>, AppError> {
        let r: Result<Option<Message>, DbError> =
            write_tx!(self, report(report, now), |conn, _d| {
                let row: Option<MessageRow> = diesel::update(
                    messages::table
                        .filter(messages::id.eq(db_id(id)))
                        .filter(messages::thread_id.eq(db_id(thread_id)))
                        .filter(messages::queued_at.is_not_null()),
                )
                .set((
                    messages::status.eq(status.as_str()),
                    messages::queued_at.eq(None::<DbTime>),
                    messages::updated_at.eq(DbTime(now)),
                ))
                .returning(MessageRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let ended = Message::try_from(row)?;
                let leaf = newest_queued(conn.any(), thread_id)
                    .await?
                    .or(ended.parent_id.map(db_id));
                diesel::update(
                    threads::table
                        .filter(threads::id.eq(db_id(thread_id)))
                        .filter(threads::active_leaf_id.eq(Some(db_id(id)))),
                )
                .set(threads::active_leaf_id.eq(leaf))
                .execute(conn)
                .await?;
                Ok(Some(ended))
            });
        Ok(r?)
    }

    async fn stalled_queues(&self) -> Result<Vec<ThreadId>, AppError> {
        let r: Result<Vec<ThreadId>, DbError> = with_conn!(self, |conn, _d| {
            let queued: Vec<DbUuid> = messages::table
                .filter(messages::queued_at.is_not_null())
                .filter(messages::deleted_at.is_null())
                .select(messages::thread_id)
                .distinct()
                .load(conn)
                .await?;
            if queued.is_empty() {
                return Ok(Vec::new());
            }
            let busy: Vec<DbUuid> = messages::table
                .filter(messages::status.eq(constant(MessageStatus::Streaming.as_str())))
                .filter(messages::thread_id.eq_any(&queued))
                .select(messages::thread_id)
                .distinct()
                .load(conn)
                .await?;
            Ok(queued
                .into_iter()
                .filter(|t| !busy.iter().any(|b| b.0 == t.0))
                .map(|t| ThreadId::from_uuid(t.0))
                .collect())
        });
        Ok(r?)
    }
}
