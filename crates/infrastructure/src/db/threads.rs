//! Threads on both backends.

use chat_threads_application::feed::Report;
use chat_threads_application::{AppError, DeletedFilter, ThreadPatch, ThreadQuery, ThreadStore};
use chat_threads_domain::{Scope, Thread, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::DbError;
use super::models::{ThreadRow, tags_json};
use super::organize::{own_folder, write_tags};
use super::schema::{thread_activity, thread_members, thread_tags, threads};
use super::store::{SqlStore, db_id};
use super::tree_sql::find_thread;
use super::types::{DbJson, DbTime, DbUuid};

#[derive(AsChangeset)]
#[diesel(table_name = threads)]
struct ThreadChanges {
    title: Option<String>,
    status: Option<String>,
    metadata: Option<DbJson>,
    system_prompt: Option<Option<String>>,
    model: Option<Option<String>>,
    tags: Option<DbJson>,
    folder_id: Option<Option<DbUuid>>,
    pinned: Option<bool>,
    updated_at: Option<DbTime>,
}

impl SqlStore {
    async fn list_threads_inner(&self, q: &ThreadQuery) -> Result<Vec<Thread>, DbError> {
        with_conn!(self, |conn, dialect| {
            // Ordered by `thread_activity`, which holds each thread's owner and updated_at
            // (see its migration): an owner's threads come off its index newest first.
            let mut query = threads::table
                .inner_join(thread_activity::table)
                .select(ThreadRow::as_select())
                .into_boxed();
            query = match (&q.shared_with, &q.scope.org_reader) {
                (Some(member), _) => query.filter(
                    threads::id.eq_any(
                        thread_members::table
                            .filter(thread_members::principal.eq(member.as_str()))
                            .select(thread_members::thread_id),
                    ),
                ),
                (None, Some(org)) => query.filter(
                    threads::owner
                        .eq(q.scope.owner.as_str())
                        .or(threads::org_id.eq(org.as_str())),
                ),
                (None, None) => query.filter(thread_activity::owner.eq(q.scope.owner.as_str())),
            };
            if let Some(org) = &q.org_id {
                query = query.filter(threads::org_id.eq(org.as_str()));
            }
            if let Some(product) = &q.product {
                query = query.filter(threads::product.eq(product.as_str()));
            }
            if let Some(status) = q.status {
                query = query.filter(threads::status.eq(status.as_str()));
            }
            if let Some(doc) = &q.document_id {
                query = query.filter(threads::document_id.eq(doc.as_str()));
            }
            if let Some(ext) = &q.external_id {
                query = query.filter(threads::external_id.eq(ext.as_str()));
            }
            if let Some(tag) = &q.tag {
                query = query.filter(
                    threads::id.eq_any(
                        thread_tags::table
                            .filter(thread_tags::owner.eq(q.scope.owner.as_str()))
                            .filter(thread_tags::tag.eq(tag.as_str()))
                            .select(thread_tags::thread_id),
                    ),
                );
            }
            if let Some(folder) = q.folder_id {
                query = query.filter(threads::folder_id.eq(DbUuid(folder.as_uuid())));
            }
            if let Some(pinned) = q.pinned {
                query = query.filter(thread_activity::pinned.eq(pinned));
            }
            if let Some(email) = &q.creator_email {
                query = query.filter(threads::creator_email.eq(email.as_str()));
            }
            if !q.include_temporary {
                query = query.filter(threads::temporary.eq(false));
            }
            query = match q.deleted {
                DeletedFilter::Exclude => query.filter(threads::deleted_at.is_null()),
                DeletedFilter::Include => query,
                DeletedFilter::Only => query.filter(threads::deleted_at.is_not_null()),
            };
            if let Some(text) = &q.text {
                let Some(fts) = dialect.fts_query(text) else {
                    return Ok(Vec::new());
                };
                let (open, close) = dialect.title_match();
                query = query.filter(
                    diesel::dsl::sql::<Bool>(open)
                        .bind::<Text, _>(fts)
                        .sql(close),
                );
            }
            if let Some(c) = q.after {
                // Pinned threads come first: after a pinned one, the rest of the pinned ones
                // and every unpinned one; after an unpinned one, the rest of those.
                let at = DbTime(c.updated_at);
                let later = thread_activity::updated_at
                    .lt(at)
                    .or(thread_activity::updated_at
                        .eq(at)
                        .and(thread_activity::thread_id.lt(db_id(c.id))));
                query = if c.pinned {
                    query.filter(
                        thread_activity::pinned
                            .eq(false)
                            .or(thread_activity::pinned.eq(true).and(later)),
                    )
                } else {
                    query.filter(thread_activity::pinned.eq(false).and(later))
                };
            }
            let rows: Vec<ThreadRow> = query
                .order((
                    thread_activity::pinned.desc(),
                    thread_activity::updated_at.desc(),
                    thread_activity::thread_id.desc(),
                ))
                .limit(i64::from(q.limit))
                .load(conn)
                .await?;
            rows.into_iter().map(Thread::try_from).collect()
        })
    }
}

impl ThreadStore for SqlStore {
    async fn insert_thread(&self, thread: Thread) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = write_tx!(self, |conn, _d| {
            if let Some(folder) = thread.folder_id {
                own_folder(conn.any(), thread.owner.as_str(), folder).await?;
            }
            diesel::insert_into(threads::table)
                .values(ThreadRow::from(&thread))
                .execute(conn)
                .await?;
            write_tags(conn.any(), thread.id, thread.owner.as_str(), &thread.tags).await?;
            Ok(thread)
        });
        let thread = r?;
        self.owners.remember(thread.id, &thread.owner);
        Ok(thread)
    }

    async fn get_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        include_deleted: bool,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = with_conn!(self, |conn, _d| {
            find_thread(conn.any(), scope, id, include_deleted).await
        });
        Ok(r?)
    }

    async fn list_threads(&self, query: &ThreadQuery) -> Result<Vec<Thread>, AppError> {
        Ok(self.list_threads_inner(query).await?)
    }

    async fn update_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        patch: ThreadPatch,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        let changes = ThreadChanges {
            updated_at: (!patch.only_organizes()).then_some(DbTime(now)),
            title: patch.title.map(|t| t.into_inner()),
            status: patch.status.map(|s| s.as_str().to_owned()),
            metadata: patch.metadata.map(|m| DbJson(m.into_value())),
            system_prompt: patch.system_prompt.map(|p| p.map(|p| p.into_inner())),
            model: patch.model.map(|m| m.map(|m| m.into_inner())),
            tags: patch.tags.as_deref().map(|t| DbJson(tags_json(t))),
            folder_id: patch.folder_id.map(|f| f.map(|f| DbUuid(f.as_uuid()))),
            pinned: patch.pinned,
        };
        let r: Result<Thread, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let owned = threads::table
                .filter(threads::id.eq(db_id(id)))
                .filter(threads::owner.eq(scope.owner.as_str()))
                .filter(threads::deleted_at.is_null());
            // The thread first (another owner's thread is not found, whatever the folder),
            // then the folder, before the update refers to it.
            if let Some(Some(folder)) = patch.folder_id {
                let found: Option<DbUuid> =
                    owned.select(threads::id).first(conn).await.optional()?;
                if found.is_none() {
                    return Err(DbError(AppError::ThreadNotFound));
                }
                own_folder(conn.any(), scope.owner.as_str(), folder).await?;
            }
            let empty = changes.updated_at.is_none()
                && changes.tags.is_none()
                && changes.folder_id.is_none()
                && changes.pinned.is_none();
            let row: Option<ThreadRow> = if empty {
                owned
                    .select(ThreadRow::as_select())
                    .first(conn)
                    .await
                    .optional()?
            } else {
                diesel::update(owned)
                    .set(&changes)
                    .returning(ThreadRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
            };
            let thread = Thread::try_from(row.ok_or(DbError(AppError::ThreadNotFound))?)?;
            if let Some(tags) = &patch.tags {
                write_tags(conn.any(), thread.id, scope.owner.as_str(), tags).await?;
            }
            Ok(thread)
        });
        Ok(r?)
    }

    async fn set_generated_title(
        &self,
        scope: &Scope,
        id: ThreadId,
        title: chat_threads_domain::Title,
        replace: bool,
        report: Report<'_, Option<Thread>>,
    ) -> Result<Option<Thread>, AppError> {
        let r: Result<Option<Thread>, DbError> =
            write_tx!(self, report(report, chrono::Utc::now()), |conn, _d| {
                let live = threads::table
                    .filter(threads::id.eq(db_id(id)))
                    .filter(threads::owner.eq(scope.owner.as_str()))
                    .filter(threads::deleted_at.is_null());
                let row: Option<ThreadRow> = if replace {
                    diesel::update(live)
                        .set(threads::title.eq(title.as_str()))
                        .returning(ThreadRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?
                } else {
                    diesel::update(live.filter(threads::title.eq("")))
                        .set(threads::title.eq(title.as_str()))
                        .returning(ThreadRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?
                };
                row.map(Thread::try_from).transpose()
            });
        Ok(r?)
    }

    async fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let row: Option<ThreadRow> = diesel::update(
                threads::table
                    .filter(threads::id.eq(db_id(id)))
                    .filter(threads::owner.eq(scope.owner.as_str())),
            )
            .set((
                threads::deleted_at.eq(deleted_at.map(DbTime)),
                threads::updated_at.eq(DbTime(now)),
            ))
            .returning(ThreadRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            Thread::try_from(row.ok_or(DbError(AppError::ThreadNotFound))?)
        });
        Ok(r?)
    }

    async fn purge_thread(&self, scope: &Scope, id: ThreadId) -> Result<(), AppError> {
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            // Summaries and messages go with the thread through ON DELETE CASCADE.
            let n = diesel::delete(
                threads::table
                    .filter(threads::id.eq(db_id(id)))
                    .filter(threads::owner.eq(scope.owner.as_str())),
            )
            .execute(conn)
            .await?;
            if n == 0 {
                return Err(DbError(AppError::ThreadNotFound));
            }
            Ok(())
        });
        Ok(r?)
    }
}
