//! Replies on both backends: starting one atomically (the one-reply-per-thread check, the user
//! message and the placeholder together), its progress, and recovery after a crash.

use chat_threads_application::{Anchor, AppError};
use chat_threads_domain::{Message, MessageId, MessageStatus, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use diesel::sql_types::Text;

use super::billing::place_hold;
use super::conn::AsConn;
use super::conn::Conn;
use super::dialect::Dialect;
use super::error::DbError;
use super::feed::keep;
use super::models::{MessageRow, stored_status};
use super::prepared::{self, Bind};
use super::schema::{messages, threads};
use super::store::{SqlStore, constant, db_id};
use super::tree_sql::{lock_thread, place};
use super::types::sql::PUuid;
use super::types::{DbJson, DbTime, DbUuid};
use chat_threads_application::feed::{Report, created_entry};
use chat_threads_application::replies::{ReplyStart, ReplyStore, ReplyUpdate};

/// Forgets who writes a reply (it has ended), inside the caller's connection or transaction.
pub(super) async fn disown(c: Conn<'_>, id: MessageId) -> Result<(), DbError> {
    with_conn!(on c, |conn, _d| {
        prepared::sql("DELETE FROM reply_owners WHERE message_id = ?")
            .bind::<PUuid, _>(db_id(id))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Whether a reply of the thread streams, touched after `since` (an older one belongs to a
/// dead process): the one-reply-per-thread check, inside the caller's transaction.
pub(super) async fn reply_running(
    c: Conn<'_>,
    thread_id: ThreadId,
    since: Timestamp,
) -> Result<bool, DbError> {
    with_conn!(on c, |conn, _d| {
        let busy: i64 = messages::table
            .filter(messages::thread_id.eq(db_id(thread_id)))
            .filter(messages::status.eq(constant(MessageStatus::Streaming.as_str())))
            .filter(messages::updated_at.gt(DbTime(since)))
            .filter(messages::deleted_at.is_null())
            .count()
            .get_result(conn)
            .await?;
        Ok(busy > 0)
    })
}

/// Records `instance` as the writer of a reply, inside the caller's transaction.
pub(super) async fn own_reply(
    c: Conn<'_>,
    reply: MessageId,
    thread_id: ThreadId,
    instance: &str,
) -> Result<(), DbError> {
    with_conn!(on c, |conn, _d| {
        prepared::sql(
            "INSERT INTO reply_owners (message_id, thread_id, instance) VALUES (?, ?, ?)",
        )
        .bind::<PUuid, _>(db_id(reply))
        .bind::<PUuid, _>(db_id(thread_id))
        .bind::<Text, _>(instance)
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Replies still streaming whose writer is another instance that is gone (of one thread, or of
/// all). SQLite is one instance: every writer but this one is gone. On PostgreSQL a writer is
/// alive while one of its connections (named `ct:<instance>`) is open. Fixed texts, so the
/// periodic sweep runs a statement each connection prepared once.
fn orphans_sql(dialect: Dialect, in_thread: bool) -> &'static str {
    static TEXTS: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| {
        let all = "SELECT o.thread_id AS thread_id, o.message_id AS message_id \
             FROM reply_owners o JOIN messages m ON m.id = o.message_id \
             WHERE m.status = 'streaming' AND o.instance <> ?";
        let writer_gone = " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
             WHERE a.application_name = 'ct:' || o.instance)";
        let in_thread = " AND o.thread_id = ?";
        [
            all.to_owned(),
            format!("{all}{in_thread}"),
            format!("{all}{writer_gone}"),
            format!("{all}{writer_gone}{in_thread}"),
        ]
    });
    let pg = usize::from(dialect == Dialect::Postgres);
    &TEXTS[pg * 2 + usize::from(in_thread)]
}

impl ReplyStore for SqlStore {
    async fn set_reply_metadata(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        metadata: serde_json::Value,
    ) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::update(
                messages::table
                    .filter(messages::id.eq(DbUuid(id.as_uuid())))
                    .filter(messages::thread_id.eq(DbUuid(thread_id.as_uuid()))),
            )
            .set(messages::metadata.eq(DbJson(metadata.clone())))
            .execute(conn)
            .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn update_reply(
        &self,
        thread_id: ThreadId,
        id: MessageId,
        update: ReplyUpdate<'_>,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let ReplyUpdate {
            content,
            parts,
            status,
            usage,
            entry,
        } = update;
        let parts = DbJson(serde_json::to_value(parts).unwrap_or_else(|_| serde_json::json!([])));
        let prompt = usage.map(|u| i32::try_from(u.prompt_tokens).unwrap_or(i32::MAX));
        let completion = usage.map(|u| i32::try_from(u.completion_tokens).unwrap_or(i32::MAX));
        let changes = (
            messages::content.eq(content),
            messages::status.eq(stored_status(status)),
            messages::prompt_tokens.eq(prompt),
            messages::completion_tokens.eq(completion),
            messages::updated_at.eq(DbTime(now)),
            messages::parts.eq(parts),
        );
        let target = messages::table
            .filter(messages::id.eq(db_id(id)))
            .filter(messages::thread_id.eq(db_id(thread_id)));
        if status == MessageStatus::Streaming {
            // A flush while it streams touches only the message, outside any transaction.
            let r: Result<Message, DbError> = with_conn!(self, |conn, _d| {
                let row: MessageRow = diesel::update(target)
                    .set(changes.clone())
                    .returning(MessageRow::as_returning())
                    .get_result(conn)
                    .await?;
                Message::try_from(row)
            });
            return Ok(r?);
        }
        // The end: the thread's time, the message, the reply's writer gone and the end's
        // change feed entry, together. The thread's row first, as every write of a thread's
        // messages takes it (so they never wait on each other the other way round).
        let r: Result<Message, DbError> = write_tx!(self, |conn, d| {
            diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                .set(threads::updated_at.eq(DbTime(now)))
                .execute(conn)
                .await?;
            let row: MessageRow = diesel::update(target)
                .set(changes)
                .returning(MessageRow::as_returning())
                .get_result(conn)
                .await?;
            disown(conn.any(), id).await?;
            if let Some(entry) = entry {
                keep(d, entry).execute(conn).await?;
            }
            Message::try_from(row)
        });
        Ok(r?)
    }

    async fn begin_reply(
        &self,
        instance: &str,
        scope: &chat_threads_domain::Scope,
        thread_id: ThreadId,
        start: ReplyStart,
    ) -> Result<(Option<Message>, Message), AppError> {
        let ReplyStart {
            busy_since,
            user,
            reply,
            hold,
        } = start;
        let r: Result<(Option<Message>, Message), DbError> = write_tx!(self, |conn, d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            if reply_running(conn.any(), thread_id, busy_since).await? {
                return Err(DbError(AppError::GenerationInProgress));
            }
            let user = match user {
                Some((anchor, message)) => {
                    Some(place(conn.any(), scope, &thread, anchor, message).await?)
                }
                None => None,
            };
            let (anchor, message) = reply;
            let anchor = match (anchor, &user) {
                (Some(a), _) => a,
                (None, Some(u)) => Anchor::Append(Some(u.id)),
                (None, None) => Anchor::Append(None),
            };
            let reply = place(conn.any(), scope, &thread, anchor, message).await?;
            own_reply(conn.any(), reply.id, thread_id, instance).await?;
            if let Some(hold) = &hold {
                place_hold(conn.any(), hold, reply.id.as_uuid(), None, reply.created_at).await?;
            }
            // The reply's log numbers the user message 1 and the placeholder after it.
            let mut seq = 0;
            for m in user.iter().chain([&reply]) {
                seq += 1;
                keep(d, &created_entry(m, Some((reply.id, seq))))
                    .execute(conn)
                    .await?;
            }
            Ok((user, reply))
        });
        Ok(r?)
    }

    async fn recover_stale(&self, before: Timestamp) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = with_conn!(self, |conn, _d| {
            let n = diesel::update(
                messages::table
                    .filter(messages::status.eq(constant(MessageStatus::Streaming.as_str())))
                    .filter(messages::updated_at.lt(DbTime(before))),
            )
            .set(messages::status.eq(MessageStatus::Failed.as_str()))
            .execute(conn)
            .await?;
            Ok(n as u64)
        });
        Ok(r?)
    }

    async fn running_replies(&self, thread_id: ThreadId) -> Result<Vec<MessageId>, AppError> {
        let r: Result<Vec<MessageId>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<OwnerRow> = prepared::sql(
                "SELECT o.thread_id AS thread_id, o.message_id AS message_id \
                 FROM reply_owners o JOIN messages m ON m.id = o.message_id \
                 WHERE m.status = 'streaming' AND o.thread_id = ?",
            )
            .bind::<PUuid, _>(db_id(thread_id))
            .load(conn)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| MessageId::from_uuid(r.message_id.0))
                .collect())
        });
        Ok(r?)
    }

    async fn orphaned_replies(
        &self,
        me: &str,
        thread_id: Option<ThreadId>,
    ) -> Result<Vec<(ThreadId, MessageId)>, AppError> {
        let r: Result<Vec<(ThreadId, MessageId)>, DbError> = with_conn!(self, |conn, dialect| {
            let sql = orphans_sql(dialect, thread_id.is_some());
            let query = prepared::sql(sql).bind::<Text, _>(me);
            let rows: Vec<OwnerRow> = match thread_id {
                Some(t) => query.bind::<PUuid, _>(db_id(t)).load(conn).await?,
                None => query.load(conn).await?,
            };
            Ok(rows
                .into_iter()
                .map(|r| {
                    (
                        ThreadId::from_uuid(r.thread_id.0),
                        MessageId::from_uuid(r.message_id.0),
                    )
                })
                .collect())
        });
        Ok(r?)
    }

    async fn release_reply(
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
                        .filter(messages::status.eq(constant(MessageStatus::Streaming.as_str()))),
                )
                .set((
                    messages::status.eq(stored_status(status)),
                    messages::updated_at.eq(DbTime(now)),
                ))
                .returning(MessageRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                disown(conn.any(), id).await?;
                if row.is_some() {
                    diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                        .set(threads::updated_at.eq(DbTime(now)))
                        .execute(conn)
                        .await?;
                }
                row.map(Message::try_from).transpose()
            });
        Ok(r?)
    }
}

/// A reply owner row, as read by raw SQL.
#[derive(QueryableByName)]
struct OwnerRow {
    #[diesel(sql_type = PUuid)]
    thread_id: DbUuid,
    #[diesel(sql_type = PUuid)]
    message_id: DbUuid,
}
