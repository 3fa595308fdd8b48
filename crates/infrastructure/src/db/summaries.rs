//! Summaries on both backends.

use chat_threads_application::feed::Report;
use chat_threads_application::{AppError, SummaryStore};
use chat_threads_domain::{Scope, Summary, ThreadId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::DbError;
use super::models::SummaryRow;
use super::schema::{messages, summaries};
use super::store::{SqlStore, db_id};
use super::tree_sql::{find_own_thread, find_thread};

impl SummaryStore for SqlStore {
    async fn add_summary(
        &self,
        scope: &Scope,
        summary: Summary,
        report: Report<'_, Summary>,
    ) -> Result<Summary, AppError> {
        let r: Result<Summary, DbError> =
            write_tx!(self, report(report, summary.created_at), |conn, _d| {
                let _thread = find_own_thread(conn.any(), scope, summary.thread_id).await?;
                let covered: i64 = messages::table
                    .filter(messages::id.eq(db_id(summary.covers_message_id)))
                    .filter(messages::thread_id.eq(db_id(summary.thread_id)))
                    .count()
                    .get_result(conn)
                    .await?;
                if covered == 0 {
                    return Err(DbError(AppError::MessageNotFound));
                }
                diesel::insert_into(summaries::table)
                    .values(SummaryRow::from(&summary))
                    .execute(conn)
                    .await?;
                Ok(summary)
            });
        Ok(r?)
    }

    async fn list_summaries(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
    ) -> Result<Vec<Summary>, AppError> {
        let r: Result<Vec<Summary>, DbError> = with_conn!(self, |conn, _d| {
            let _thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let rows: Vec<SummaryRow> = summaries::table
                .filter(summaries::thread_id.eq(db_id(thread_id)))
                .order((summaries::created_at.desc(), summaries::id.desc()))
                .select(SummaryRow::as_select())
                .load(conn)
                .await?;
            Ok(rows.into_iter().map(Summary::from).collect())
        });
        Ok(r?)
    }
}
