//! Messages and the tree operations on both backends, each in one transaction.

use std::collections::HashSet;

use chat_threads_application::feed::{Report, created_entry};
use chat_threads_application::messages::{
    MessageRevision, PathStamp, RestoreOutcome, Revision, check_revisable, tombstone_wanted,
};
use chat_threads_application::{
    Anchor, AppError, Branch, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter,
    MessageStore, NewMessage,
};
use chat_threads_domain::tree;
use chat_threads_domain::{
    Feedback, Message, MessageId, Reaction, Scope, Thread, ThreadId, Timestamp,
};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::DbError;
use super::feed::keep;
use super::files::reference_files;
use super::models::{MessageRow, RevisionRow, ThreadRow, messages_from};
use super::prepared::{self, Bind};
use super::schema::{message_revisions, messages, threads};
use super::store::{SqlStore, db_id};
use super::tree_sql::*;
use super::types::sql::{PTime, PUuid};
use super::types::{DbMetadata, DbTime, DbUuid};

impl SqlStore {
    /// A plain append on PostgreSQL in one round trip ([`PgAppendQuery`]). `None`: not done —
    /// another backend, a message with attachments, parts or an edit time (imports), or an append the
    /// statement does not place (unknown thread, unusable parent); the general path runs then
    /// and says why.
    async fn append_in_one(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: &NewMessage,
    ) -> Result<Option<Message>, DbError> {
        let crate::db::pool::Pools::Postgres(pool) = &self.db.pools else {
            return Ok(None);
        };
        if !message.attachments.is_empty()
            || !message.parts.is_empty()
            || message.edited_at.is_some()
        {
            return Ok(None);
        }
        let mut msg = message.clone().into_message(thread_id, None, 0);
        let query = PgAppendQuery {
            owner: scope.owner.as_str().to_owned(),
            parent: parent.map(db_id),
            row: MessageRow::from(&msg),
            // Serialized with no parent at depth 0; the statement writes in the ones it chose.
            feed: created_entry(&msg, None).data,
        };
        let placed = pool.append(query).await?;
        Ok(placed.map(|p| {
            msg.parent_id = p.parent_id.map(|id| MessageId::from_uuid(id.0));
            msg.depth = p.depth;
            msg
        }))
    }
}

impl SqlStore {
    /// The first page of the active path (at most `limit` messages up to the leaf), root
    /// first, and on PostgreSQL its stamp.
    async fn first_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<(Vec<Message>, Option<PathStamp>), AppError> {
        let r: Result<(Vec<Message>, Option<PathStamp>), DbError> = with_conn!(self, |conn, _d| {
            // The first page — almost every read — is one prepared statement; a path with
            // branches in it may need the recursive walk for the rest.
            let window = ActivePathQuery::new(scope, thread_id, i64::from(limit))
                .run(conn)
                .await?;
            if window.path.is_empty() {
                // Nothing: an empty thread, or not one the scope may read.
                let _thread = find_thread(conn.any(), scope, thread_id, false).await?;
                return Ok((Vec::new(), None));
            }
            // The stamp is the thread's version as the window's statement saw it: the rest of
            // a path read after it is as new or newer, so a stamp never claims more than the page.
            let stamp = window.stamp.map(PathStamp::new);
            let mut rows = match window.go_on {
                Some((start, want)) => path_rows(conn.any(), start, thread_id, want).await?,
                None => Vec::new(),
            };
            rows.extend(window.path);
            Ok((messages_from(rows)?, stamp))
        });
        Ok(r?)
    }
}

/// A message's parent and deletion times: deleted, tombstoned, erased.
type DeletionState = (
    Option<DbUuid>,
    Option<DbTime>,
    Option<DbTime>,
    Option<DbTime>,
);

impl MessageStore for SqlStore {
    async fn append_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        if let Some(placed) = self
            .append_in_one(scope, thread_id, parent, &message)
            .await?
        {
            return Ok(placed);
        }
        let r: Result<Message, DbError> = write_tx!(self, |conn, d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            let placed = place(conn.any(), scope, &thread, Anchor::Append(parent), message).await?;
            keep(d, &created_entry(&placed, None)).execute(conn).await?;
            Ok(placed)
        });
        Ok(r?)
    }

    async fn add_sibling(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        of: MessageId,
        message: NewMessage,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        let at = message.created_at;
        let r: Result<Message, DbError> = write_tx!(self, report(report, at), |conn, _d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            place(conn.any(), scope, &thread, Anchor::SiblingOf(of), message).await
        });
        Ok(r?)
    }

    async fn get_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let r: Result<Message, DbError> = with_conn!(self, |conn, _d| {
            let _thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let row: Option<MessageRow> = messages::table
                .filter(messages::id.eq(db_id(id)))
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .select(MessageRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Message::try_from(row.ok_or(DbError(AppError::MessageNotFound))?)
        });
        Ok(r?)
    }

    async fn delete_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, DeleteOutcome>,
    ) -> Result<DeleteOutcome, AppError> {
        let r: Result<DeleteOutcome, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            let row: Option<MessageRow> = messages::table
                .filter(messages::id.eq(db_id(id)))
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::deleted_at.is_null())
                .select(MessageRow::as_select())
                .first(conn)
                .await
                .optional()?;
            let target = Message::try_from(row.ok_or(DbError(AppError::MessageNotFound))?)?;
            let deleted = prepared::sql(DELETE_SUBTREE_SQL)
                .bind::<PUuid, _>(db_id(id))
                .bind::<PTime, _>(DbTime(now))
                .bind::<PTime, _>(DbTime(now))
                .execute(conn)
                .await?;
            // Only the active leaf's fate matters to the rule: was it among the removed?
            let mut removed = HashSet::new();
            if let Some(leaf) = thread.active_leaf_id {
                let leaf_deleted: Option<Option<DbTime>> = messages::table
                    .filter(messages::id.eq(db_id(leaf)))
                    .select(messages::deleted_at)
                    .first(conn)
                    .await
                    .optional()?;
                if matches!(leaf_deleted, Some(Some(_))) {
                    removed.insert(leaf);
                }
            }
            let newest_leaf = if target.parent_id.is_none() && !removed.is_empty() {
                let leaves: Vec<MessageRow> =
                    prepared::sql(format!("{} LIMIT 1", with_cols(LEAVES_SQL)))
                        .bind::<PUuid, _>(db_id(thread_id))
                        .load(conn)
                        .await?;
                leaves
                    .into_iter()
                    .next()
                    .map(|r| MessageId::from_uuid(r.id.0))
            } else {
                None
            };
            let leaf = tree::active_leaf_after_delete(
                thread.active_leaf_id,
                &target,
                &removed,
                newest_leaf,
            );
            diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                .set((
                    threads::active_leaf_id.eq(leaf.map(db_id)),
                    threads::message_count.eq(threads::message_count - deleted as i64),
                    threads::updated_at.eq(DbTime(now)),
                ))
                .execute(conn)
                .await?;
            Ok(DeleteOutcome {
                deleted: deleted as u64,
                active_leaf_id: leaf,
            })
        });
        Ok(r?)
    }

    async fn active_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, AppError> {
        if before.is_none() {
            return Ok(self.first_path(scope, thread_id, limit).await?.0);
        }
        let r: Result<Vec<Message>, DbError> = with_conn!(self, |conn, _d| {
            let thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let start = match before {
                Some(b) => {
                    let parent: Option<Option<DbUuid>> = messages::table
                        .filter(messages::id.eq(db_id(b)))
                        .filter(messages::thread_id.eq(db_id(thread_id)))
                        .select(messages::parent_id)
                        .first(conn)
                        .await
                        .optional()?;
                    parent
                        .ok_or(DbError(AppError::InvalidCursor))?
                        .map(|p| MessageId::from_uuid(p.0))
                }
                None => thread.active_leaf_id,
            };
            let Some(start) = start else {
                return Ok(Vec::new());
            };
            let rows = path_rows(conn.any(), db_id(start), thread_id, i64::from(limit)).await?;
            messages_from(rows)
        });
        Ok(r?)
    }

    async fn stamped_path(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<(Vec<Message>, Option<PathStamp>), AppError> {
        self.first_path(scope, thread_id, limit).await
    }

    async fn path_stamp(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        limit: u32,
    ) -> Result<Option<PathStamp>, AppError> {
        if self.db.dialect() == crate::db::Dialect::Sqlite {
            // No stamps there: no connection taken for nothing.
            return Ok(None);
        }
        let r: Result<Option<PathStamp>, DbError> = with_conn!(self, |conn, _d| {
            let query = ActivePathQuery::new(scope, thread_id, i64::from(limit));
            Ok(conn.load_path_stamp(query).await?.map(PathStamp::new))
        });
        Ok(r?)
    }

    async fn list_tree(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        after: Option<MessageCursor>,
        limit: u32,
        filter: &MessageFilter,
    ) -> Result<Vec<Message>, AppError> {
        let r: Result<Vec<Message>, DbError> = with_conn!(self, |conn, dialect| {
            let _thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let mut query = messages::table
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .select(MessageRow::as_select())
                .into_boxed();
            if let Some(c) = after {
                let at = DbTime(c.created_at);
                query = query.filter(
                    messages::created_at.gt(at).or(messages::created_at
                        .eq(at)
                        .and(messages::id.gt(db_id(c.id)))),
                );
            }
            if let Some(role) = filter.role {
                query = query.filter(messages::role.eq(role.as_str()));
            }
            query = match filter.deleted {
                None | Some(DeletedFilter::Include) => query,
                Some(DeletedFilter::Exclude) => query.filter(messages::deleted_at.is_null()),
                Some(DeletedFilter::Only) => query.filter(messages::deleted_at.is_not_null()),
            };
            if let Some(text) = &filter.text {
                // A tombstone's hidden content is never found.
                query = query.filter(messages::tombstoned_at.is_null());
                let Some(fts) = dialect.fts_query(text) else {
                    return Ok(Vec::new());
                };
                let (open, close) = dialect.content_match();
                query = query.filter(
                    diesel::dsl::sql::<Bool>(open)
                        .bind::<Text, _>(fts)
                        .sql(close),
                );
            }
            let rows: Vec<MessageRow> = query
                .order((messages::created_at.asc(), messages::id.asc()))
                .limit(i64::from(limit))
                .load(conn)
                .await?;
            messages_from(rows)
        });
        Ok(r?)
    }

    async fn branches(&self, scope: &Scope, thread_id: ThreadId) -> Result<Vec<Branch>, AppError> {
        let r: Result<Vec<Branch>, DbError> = with_conn!(self, |conn, _d| {
            let thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let rows: Vec<MessageRow> = prepared::sql(with_cols(LEAVES_SQL))
                .bind::<PUuid, _>(db_id(thread_id))
                .load(conn)
                .await?;
            Ok(messages_from(rows)?
                .into_iter()
                .map(|leaf| Branch {
                    active: Some(leaf.id) == thread.active_leaf_id,
                    leaf,
                })
                .collect())
        });
        Ok(r?)
    }

    async fn set_active_leaf(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        leaf: MessageId,
        now: Timestamp,
        report: Report<'_, Thread>,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            let target = find_owned_message(conn.any(), &scope.owner, leaf).await?;
            tree::check_active_leaf(&thread, leaf, target.as_ref())?;
            let row: ThreadRow =
                diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                    .set((
                        threads::active_leaf_id.eq(Some(db_id(leaf))),
                        threads::updated_at.eq(DbTime(now)),
                    ))
                    .returning(ThreadRow::as_returning())
                    .get_result(conn)
                    .await?;
            Thread::try_from(row)
        });
        Ok(r?)
    }

    async fn fork(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        at: MessageId,
        mode: ForkMode,
        new_thread: Thread,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = write_tx!(self, |conn, _d| {
            let thread = find_own_thread(conn.any(), scope, thread_id).await?;
            let target = find_owned_message(conn.any(), &scope.owner, at).await?;
            tree::check_fork_point(&thread, at, target.as_ref())?;
            let path = path_rows(conn.any(), db_id(at), thread_id, i64::MAX).await?;
            let mut source = messages_from(path)?;
            if mode == ForkMode::PathAndBranches {
                let below: Vec<MessageRow> = prepared::sql(with_cols(SUBTREE_SQL))
                    .bind::<PUuid, _>(db_id(at))
                    .load(conn)
                    .await?;
                source.extend(messages_from(below)?);
            }
            let (copies, map) = tree::copy_messages(&source, new_thread.id, new_thread.created_at);
            let forked = Thread {
                active_leaf_id: map.get(&at).copied(),
                message_count: copies.len() as i64,
                last_message_at: copies.last().map(|m| m.created_at),
                ..new_thread
            };
            diesel::insert_into(threads::table)
                .values(ThreadRow::from(&forked))
                .execute(conn)
                .await?;
            // One statement per row: SQLite cannot batch rows with NULLs through diesel (it has
            // no DEFAULT keyword), and a fork runs inside one transaction either way.
            for m in &copies {
                diesel::insert_into(messages::table)
                    .values(MessageRow::from(m))
                    .execute(conn)
                    .await?;
                reference_files(conn.any(), m).await?;
            }
            Ok(forked)
        });
        Ok(r?)
    }

    async fn revise_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        revision: Revision,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        let r: Result<Message, DbError> =
            write_tx!(self, report(report, revision.at), |conn, _d| {
                let _thread = lock_thread(conn.any(), scope, thread_id).await?;
                let current = live_message(conn.any(), thread_id, id).await?;
                check_revisable(&current, revision.from_version)?;
                diesel::insert_into(message_revisions::table)
                    .values(RevisionRow::from(&MessageRevision::replaced(
                        &current,
                        revision.at,
                    )))
                    .execute(conn)
                    .await?;
                let row: MessageRow =
                    diesel::update(messages::table.filter(messages::id.eq(db_id(id))))
                        .set((
                            messages::content.eq(revision.content.to_string()),
                            messages::display_text.eq(revision.display_text),
                            messages::metadata.eq(DbMetadata::of(&revision.metadata)),
                            messages::version.eq(current.version + 1),
                            messages::edited_at.eq(Some(DbTime(revision.at))),
                            messages::updated_at.eq(DbTime(revision.at)),
                        ))
                        .returning(MessageRow::as_returning())
                        .get_result(conn)
                        .await?;
                Message::try_from(row)
            });
        Ok(r?)
    }

    async fn message_revisions(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        after_version: Option<i32>,
        limit: u32,
    ) -> Result<Vec<MessageRevision>, AppError> {
        let r: Result<Vec<MessageRevision>, DbError> = with_conn!(self, |conn, _d| {
            let _thread = find_thread(conn.any(), scope, thread_id, false).await?;
            let known: Option<DbUuid> = messages::table
                .filter(messages::id.eq(db_id(id)))
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::deleted_at.is_null())
                // A tombstone's earlier versions are hidden with its content.
                .filter(messages::tombstoned_at.is_null())
                .select(messages::id)
                .first(conn)
                .await
                .optional()?;
            if known.is_none() {
                return Err(DbError(AppError::MessageNotFound));
            }
            let mut query = message_revisions::table
                .filter(message_revisions::message_id.eq(db_id(id)))
                .order(message_revisions::version.asc())
                .limit(i64::from(limit))
                .select(RevisionRow::as_select())
                .into_boxed();
            if let Some(after) = after_version {
                query = query.filter(message_revisions::version.gt(after));
            }
            let rows: Vec<RevisionRow> = query.load(conn).await?;
            rows.into_iter().map(MessageRevision::try_from).collect()
        });
        Ok(r?)
    }

    async fn tombstone_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, DeleteOutcome>,
    ) -> Result<DeleteOutcome, AppError> {
        let r: Result<DeleteOutcome, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let thread = lock_thread(conn.any(), scope, thread_id).await?;
            let outcome = DeleteOutcome {
                deleted: 1,
                active_leaf_id: thread.active_leaf_id,
            };
            let current = live_message(conn.any(), thread_id, id).await?;
            if !tombstone_wanted(&current)? {
                return Ok(outcome);
            }
            // The content stays in the row, hidden, until a restore or the sweeper's erasure
            // (super::retention); so do its revisions and its files' references.
            diesel::update(messages::table.filter(messages::id.eq(db_id(id))))
                .set((
                    messages::tombstoned_at.eq(Some(DbTime(now))),
                    messages::updated_at.eq(DbTime(now)),
                ))
                .execute(conn)
                .await?;
            diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                .set(threads::updated_at.eq(DbTime(now)))
                .execute(conn)
                .await?;
            Ok(outcome)
        });
        Ok(r?)
    }

    async fn restore_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        now: Timestamp,
        report: Report<'_, RestoreOutcome>,
    ) -> Result<RestoreOutcome, AppError> {
        let r: Result<RestoreOutcome, DbError> =
            write_tx!(self, report(report, now), |conn, _d| {
                let thread = lock_thread(conn.any(), scope, thread_id).await?;
                let state: Option<DeletionState> = messages::table
                    .filter(messages::id.eq(db_id(id)))
                    .filter(messages::thread_id.eq(db_id(thread_id)))
                    .select((
                        messages::parent_id,
                        messages::deleted_at,
                        messages::tombstoned_at,
                        messages::erased_at,
                    ))
                    .first(conn)
                    .await
                    .optional()?;
                let (parent, deleted_at, tombstoned_at, erased_at) =
                    state.ok_or(DbError(AppError::MessageNotFound))?;
                let mut restored = 0;
                let mut leaf = thread.active_leaf_id;
                if let Some(at) = deleted_at {
                    if let Some(p) = parent {
                        let parent_deleted: Option<DbTime> = messages::table
                            .filter(messages::id.eq(p))
                            .select(messages::deleted_at)
                            .first(conn)
                            .await?;
                        if parent_deleted.is_some() {
                            return Err(DbError(AppError::NotRestorable(
                                "its parent is deleted too: restore that first".into(),
                            )));
                        }
                    }
                    restored = prepared::sql(RESTORE_SUBTREE_SQL)
                        .bind::<PUuid, _>(db_id(id))
                        .bind::<PTime, _>(at)
                        .bind::<PTime, _>(DbTime(now))
                        .bind::<PTime, _>(at)
                        .execute(conn)
                        .await? as u64;
                    // The delete moved the active leaf to the parent (or elsewhere, for a root);
                    // if it is still there, the undo moves it back into what came back.
                    let parent_id = parent.map(|p| MessageId::from_uuid(p.0));
                    if thread.active_leaf_id == parent_id {
                        let newest: Vec<MessageRow> = prepared::sql(with_cols(RESTORED_LEAF_SQL))
                            .bind::<PUuid, _>(db_id(id))
                            .load(conn)
                            .await?;
                        if let Some(n) = newest.into_iter().next() {
                            leaf = Some(MessageId::from_uuid(n.id.0));
                        }
                    }
                    diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                        .set((
                            threads::active_leaf_id.eq(leaf.map(db_id)),
                            threads::message_count.eq(threads::message_count + restored as i64),
                            threads::updated_at.eq(DbTime(now)),
                        ))
                        .execute(conn)
                        .await?;
                } else if tombstoned_at.is_some() {
                    if erased_at.is_some() {
                        return Err(DbError(AppError::NotRestorable(
                            "the restore window has passed: its content was erased".into(),
                        )));
                    }
                    diesel::update(messages::table.filter(messages::id.eq(db_id(id))))
                        .set((
                            messages::tombstoned_at.eq(None::<DbTime>),
                            messages::updated_at.eq(DbTime(now)),
                        ))
                        .execute(conn)
                        .await?;
                    diesel::update(threads::table.filter(threads::id.eq(db_id(thread_id))))
                        .set(threads::updated_at.eq(DbTime(now)))
                        .execute(conn)
                        .await?;
                    restored = 1;
                }
                let row: MessageRow = messages::table
                    .filter(messages::id.eq(db_id(id)))
                    .select(MessageRow::as_select())
                    .first(conn)
                    .await?;
                Ok(RestoreOutcome {
                    message: Message::try_from(row)?,
                    restored,
                    active_leaf_id: leaf,
                })
            });
        Ok(r?)
    }

    async fn set_feedback(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        feedback: Option<Feedback>,
        now: Timestamp,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        let rating = feedback.as_ref().map(|f| f.rating.as_str().to_owned());
        let text = feedback.and_then(|f| f.text.map(|t| t.into_inner()));
        let r: Result<Message, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let marks = Marks {
                feedback_rating: Some(rating),
                feedback_text: Some(text),
                reaction: None,
                updated_at: DbTime(now),
            };
            mark_live_message(conn.any(), scope, thread_id, id, marks).await
        });
        Ok(r?)
    }

    async fn set_reaction(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        id: MessageId,
        reaction: Option<Reaction>,
        now: Timestamp,
        report: Report<'_, Message>,
    ) -> Result<Message, AppError> {
        let reaction = reaction.map(|r| r.into_inner());
        let r: Result<Message, DbError> = write_tx!(self, report(report, now), |conn, _d| {
            let marks = Marks {
                feedback_rating: None,
                feedback_text: None,
                reaction: Some(reaction),
                updated_at: DbTime(now),
            };
            mark_live_message(conn.any(), scope, thread_id, id, marks).await
        });
        Ok(r?)
    }
}
