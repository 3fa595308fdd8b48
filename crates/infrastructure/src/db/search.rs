//! Full-text search on both backends (FTS5 on SQLite, tsvector on PostgreSQL).

use chat_threads_application::search::SearchFilter;
use chat_threads_application::{AppError, MessageCursor, SearchHit};
use chat_threads_domain::{MessageId, Role, Scope, ThreadId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::dialect::Dialect;
use super::error::{DbError, corrupt};
use super::store::SqlStore;
use super::types::sql::{PTime, PUuid};
use super::types::{DbTime, DbUuid};

#[derive(Debug, QueryableByName)]
struct SearchRow {
    #[diesel(sql_type = PUuid)]
    message_id: DbUuid,
    #[diesel(sql_type = PUuid)]
    thread_id: DbUuid,
    #[diesel(sql_type = Text)]
    thread_title: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = PTime)]
    created_at: DbTime,
    #[diesel(sql_type = Text)]
    snippet: String,
}

impl chat_threads_application::SearchStore for SqlStore {
    async fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        filter: &SearchFilter,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, AppError> {
        let tag = filter.tag.as_ref().map(|t| t.as_str().to_owned());
        let folder = filter.folder_id.map(|f| DbUuid(f.as_uuid()));
        let from = filter.from.map(DbTime);
        let to = filter.to.map(DbTime);
        // The first page starts before a position later than any message (year 9999, which
        // also sorts last as SQLite text).
        let (at, id) = match after {
            Some(c) => (c.created_at, c.id.as_uuid()),
            None => (
                chrono::DateTime::<chrono::Utc>::from_timestamp(253_402_300_799, 0)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                uuid::Uuid::max(),
            ),
        };
        let r: Result<Vec<SearchHit>, DbError> = with_conn!(self, |conn, dialect| {
            let Some(fts) = dialect.fts_query(text) else {
                return Ok(Vec::new());
            };
            let sql = dialect.message_search();
            let rows: Vec<SearchRow> = match dialect {
                Dialect::Sqlite => {
                    diesel::sql_query(sql)
                        .bind::<Text, _>(scope.owner.as_str())
                        .bind::<Text, _>(&fts)
                        .bind::<Nullable<Text>, _>(&tag)
                        .bind::<Nullable<Text>, _>(&tag)
                        .bind::<Nullable<PUuid>, _>(folder)
                        .bind::<Nullable<PUuid>, _>(folder)
                        .bind::<Nullable<PTime>, _>(from)
                        .bind::<Nullable<PTime>, _>(from)
                        .bind::<Nullable<PTime>, _>(to)
                        .bind::<Nullable<PTime>, _>(to)
                        .bind::<PTime, _>(DbTime(at))
                        .bind::<PTime, _>(DbTime(at))
                        .bind::<PUuid, _>(DbUuid(id))
                        .bind::<BigInt, _>(i64::from(limit))
                        .load(conn)
                        .await?
                }
                Dialect::Postgres => {
                    diesel::sql_query(sql)
                        .bind::<Text, _>(&fts)
                        .bind::<Text, _>(scope.owner.as_str())
                        .bind::<Text, _>(&fts)
                        .bind::<Nullable<Text>, _>(&tag)
                        .bind::<Nullable<Text>, _>(&tag)
                        .bind::<Nullable<PUuid>, _>(folder)
                        .bind::<Nullable<PUuid>, _>(folder)
                        .bind::<Nullable<PTime>, _>(from)
                        .bind::<Nullable<PTime>, _>(from)
                        .bind::<Nullable<PTime>, _>(to)
                        .bind::<Nullable<PTime>, _>(to)
                        .bind::<PTime, _>(DbTime(at))
                        .bind::<PTime, _>(DbTime(at))
                        .bind::<PUuid, _>(DbUuid(id))
                        .bind::<BigInt, _>(i64::from(limit))
                        .load(conn)
                        .await?
                }
            };
            rows.into_iter()
                .map(|r| {
                    Ok(SearchHit {
                        thread_id: ThreadId::from_uuid(r.thread_id.0),
                        thread_title: r.thread_title,
                        message_id: MessageId::from_uuid(r.message_id.0),
                        role: Role::parse(&r.role).map_err(|e| corrupt("role", e))?,
                        snippet: r.snippet,
                        created_at: r.created_at.0,
                    })
                })
                .collect()
        });
        Ok(r?)
    }
}
