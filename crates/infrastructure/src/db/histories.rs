//! Calls of `/openai/v1` given whole, remembered by the key of their input
//! (application/src/replies/history.rs), on both backends.

use chat_threads_application::AppError;
use chat_threads_application::replies::HistoryStore;
use chat_threads_domain::{MessageId, ThreadId};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::error::DbError;
use super::prepared::{self, Bind};
use super::store::{SqlStore, db_id};
use super::types::DbUuid;
use super::types::sql::PUuid;

/// One remembered call: its thread and reply.
#[derive(QueryableByName)]
struct Remembered {
    #[diesel(sql_type = PUuid)]
    thread_id: DbUuid,
    #[diesel(sql_type = PUuid)]
    message_id: DbUuid,
}

/// Same text on both backends; a key seen again names the newer reply. The reply must still
/// be there (a reply deleted in between takes its keys with it).
const REMEMBER: &str = "INSERT INTO history_keys (digest, thread_id, message_id) \
     SELECT ?, m.thread_id, m.id FROM messages m WHERE m.id = ? AND m.thread_id = ? \
     ON CONFLICT (digest) DO UPDATE SET thread_id = excluded.thread_id, \
     message_id = excluded.message_id";

const FIND: &str = "SELECT thread_id, message_id FROM history_keys WHERE digest = ?";

impl HistoryStore for SqlStore {
    async fn remember_history(
        &self,
        key: &str,
        thread_id: ThreadId,
        reply: MessageId,
    ) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            prepared::sql(REMEMBER)
                .bind::<Text, _>(key)
                .bind::<PUuid, _>(db_id(reply))
                .bind::<PUuid, _>(db_id(thread_id))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn find_history(&self, key: &str) -> Result<Option<(ThreadId, MessageId)>, AppError> {
        let r: Result<Vec<Remembered>, DbError> = with_conn!(self, |conn, _d| {
            Ok(prepared::sql(FIND)
                .bind::<Text, _>(key)
                .load::<Remembered>(conn)
                .await?)
        });
        Ok(r?.into_iter().next().map(|row| {
            (
                ThreadId::from_uuid(row.thread_id.0),
                MessageId::from_uuid(row.message_id.0),
            )
        }))
    }
}
