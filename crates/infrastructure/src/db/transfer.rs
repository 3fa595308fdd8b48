//! Imports on both backends: every thread of a file in one transaction, or none.

use chat_threads_application::AppError;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::DbError;
use super::models::{MessageRow, SummaryRow, ThreadRow};
use super::organize::write_tags;
use super::schema::{messages, summaries, threads};
use super::store::SqlStore;
use super::types::DbUuid;

impl chat_threads_application::transfer::ImportStore for SqlStore {
    async fn import_threads(
        &self,
        threads: Vec<chat_threads_application::transfer::ImportedThread>,
    ) -> Result<Vec<chat_threads_application::transfer::ImportOutcome>, AppError> {
        use chat_threads_application::transfer::ImportOutcome;
        let r: Result<Vec<ImportOutcome>, DbError> = write_tx!(self, |conn, _d| {
            let mut out = Vec::with_capacity(threads.len());
            for t in &threads {
                if let Some(ext) = &t.thread.external_id {
                    let taken: i64 = threads::table
                        .filter(threads::owner.eq(t.thread.owner.as_str()))
                        .filter(threads::external_id.eq(ext.as_str()))
                        .count()
                        .get_result(conn)
                        .await?;
                    if taken > 0 {
                        out.push(ImportOutcome::Skipped {
                            source_id: t.source_id.clone(),
                            reason: "a thread with this external_id already exists".into(),
                        });
                        continue;
                    }
                }
                // A folder is kept when it is one of the importer's (an export read back into
                // the same account); another account's folder id is dropped.
                let mut row = ThreadRow::from(&t.thread);
                if let Some(folder) = row.folder_id {
                    use super::schema::folders as f;
                    let own: i64 = f::table
                        .filter(f::id.eq(folder))
                        .filter(f::owner.eq(t.thread.owner.as_str()))
                        .count()
                        .get_result(conn)
                        .await?;
                    if own == 0 {
                        row.folder_id = None;
                    }
                }
                diesel::insert_into(threads::table)
                    .values(row)
                    .execute(conn)
                    .await?;
                write_tags(
                    conn.any(),
                    t.thread.id,
                    t.thread.owner.as_str(),
                    &t.thread.tags,
                )
                .await?;
                for m in &t.messages {
                    diesel::insert_into(messages::table)
                        .values(MessageRow::from(m))
                        .execute(conn)
                        .await?;
                    // Attachments carry their metadata; only files the importer owns are
                    // referenced (and so kept and shown to the model).
                    let ids: Vec<DbUuid> = m
                        .attachments
                        .iter()
                        .map(|a| DbUuid(a.file_id.as_uuid()))
                        .collect();
                    if !ids.is_empty() {
                        use super::schema::{files as f, message_files as mf};
                        let owned: Vec<DbUuid> = f::table
                            .filter(f::id.eq_any(&ids))
                            .filter(f::owner.eq(t.thread.owner.as_str()))
                            .select(f::id)
                            .load(conn)
                            .await?;
                        for file_id in owned {
                            diesel::insert_into(mf::table)
                                .values((
                                    mf::message_id.eq(DbUuid(m.id.as_uuid())),
                                    mf::file_id.eq(file_id),
                                ))
                                .execute(conn)
                                .await?;
                        }
                    }
                }
                for s in &t.summaries {
                    diesel::insert_into(summaries::table)
                        .values(SummaryRow::from(s))
                        .execute(conn)
                        .await?;
                }
                out.push(ImportOutcome::Imported {
                    source_id: t.source_id.clone(),
                    id: t.thread.id,
                    messages: t.messages.len(),
                });
            }
            Ok(out)
        });
        Ok(r?)
    }
}
