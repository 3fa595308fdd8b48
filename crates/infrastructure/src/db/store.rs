//! The SQL store: every port implemented once, for SQLite and PostgreSQL alike.
//!
//! Each method body is written once inside [`with_conn!`] (reads) or [`write_tx!`] (writes),
//! which expand it for each backend's connection type. Writes run in a transaction that first
//! locks the thread row (an immediate transaction on SQLite, a row lock on PostgreSQL), so
//! concurrent appends to one thread serialize and `message_count` stays exact.

use std::collections::HashSet;

use chat_threads_application::{
    Anchor, AppError, Branch, DeleteOutcome, DeletedFilter, ForkMode, MessageCursor, MessageFilter,
    MessageStore, NewMessage, SearchHit, SummaryStore, ThreadPatch, ThreadQuery, ThreadStore,
};
use chat_threads_domain::{
    Feedback, Message, MessageId, MessageStatus, Reaction, Role, Scope, Summary, Thread, ThreadId,
    Timestamp, tree,
};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::dialect::Dialect;
use super::error::{DbError, corrupt};
use super::models::{MESSAGE_COLUMNS, MessageRow, SummaryRow, ThreadRow, messages_from};
use super::pool::Database;
use super::schema::{messages, summaries, threads};
use super::types::sql::{PTime, PUuid};
use super::types::{DbJson, DbTime, DbUuid};

/// A thread the scope may read (live only unless `$include_deleted`), or `ThreadNotFound`.
macro_rules! find_thread {
    ($conn:ident, $scope:expr, $id:expr, $include_deleted:expr) => {{
        let scope: &Scope = $scope;
        let mut q = threads::table
            .filter(threads::id.eq(DbUuid($id.as_uuid())))
            .into_boxed();
        q = match &scope.org_reader {
            Some(org) => q.filter(
                threads::owner
                    .eq(scope.owner.as_str())
                    .or(threads::org_id.eq(org.as_str())),
            ),
            None => q.filter(threads::owner.eq(scope.owner.as_str())),
        };
        if !$include_deleted {
            q = q.filter(threads::deleted_at.is_null());
        }
        let row: Option<ThreadRow> = q
            .select(ThreadRow::as_select())
            .first($conn)
            .await
            .optional()?;
        Thread::try_from(row.ok_or(DbError(AppError::ThreadNotFound))?)?
    }};
}

/// A live thread the scope may change, or `ThreadNotFound`.
macro_rules! find_own_thread {
    ($conn:ident, $scope:expr, $id:expr) => {{
        // The owner's threads only: the scope without its org-wide read access.
        let own = Scope::of($scope.owner.clone());
        find_thread!($conn, &own, $id, false)
    }};
}

/// Locks the owner's live thread row for the rest of the transaction and returns it.
macro_rules! lock_thread {
    ($conn:ident, $scope:expr, $id:expr) => {{
        let row: Option<ThreadRow> = diesel::update(
            threads::table
                .filter(threads::id.eq(DbUuid($id.as_uuid())))
                .filter(threads::owner.eq($scope.owner.as_str()))
                .filter(threads::deleted_at.is_null()),
        )
        .set(threads::message_count.eq(threads::message_count))
        .returning(ThreadRow::as_returning())
        .get_result($conn)
        .await
        .optional()?;
        Thread::try_from(row.ok_or(DbError(AppError::ThreadNotFound))?)?
    }};
}

/// A message of any of the owner's threads (how parents and targets are looked up, so another
/// owner's message is simply unknown).
macro_rules! find_owned_message {
    ($conn:ident, $owner:expr, $id:expr) => {{
        let row: Option<MessageRow> = messages::table
            .inner_join(threads::table)
            .filter(messages::id.eq(DbUuid($id.as_uuid())))
            .filter(threads::owner.eq($owner.as_str()))
            .select(MessageRow::as_select())
            .first($conn)
            .await
            .optional()?;
        row.map(Message::try_from).transpose()?
    }};
}

/// Applies `$changes` to a live message of the owner's live thread and returns it, or
/// `MessageNotFound`.
macro_rules! update_live_message {
    ($conn:ident, $scope:expr, $thread_id:expr, $id:expr, $changes:expr) => {{
        let _thread = find_own_thread!($conn, $scope, $thread_id);
        let row: Option<MessageRow> = diesel::update(
            messages::table
                .filter(messages::id.eq(db_id($id)))
                .filter(messages::thread_id.eq(db_id($thread_id)))
                .filter(messages::deleted_at.is_null()),
        )
        .set($changes)
        .returning(MessageRow::as_returning())
        .get_result($conn)
        .await
        .optional()?;
        Message::try_from(row.ok_or(DbError(AppError::MessageNotFound))?)
    }};
}

/// Records a message just placed in the thread: it becomes the active leaf.
macro_rules! record_append {
    ($conn:ident, $msg:expr) => {{
        diesel::insert_into(messages::table)
            .values(MessageRow::from(&$msg))
            .execute($conn)
            .await?;
        diesel::update(threads::table.filter(threads::id.eq(DbUuid($msg.thread_id.as_uuid()))))
            .set((
                threads::active_leaf_id.eq(Some(DbUuid($msg.id.as_uuid()))),
                threads::message_count.eq(threads::message_count + 1),
                threads::last_message_at.eq(Some(DbTime($msg.created_at))),
                threads::updated_at.eq(DbTime($msg.created_at)),
            ))
            .execute($conn)
            .await?;
    }};
}

/// Places a message by an [`Anchor`] in a locked thread (the tree rules decide), records it as
/// the active leaf, and evaluates to the stored message.
macro_rules! place {
    ($conn:ident, $scope:expr, $thread:expr, $anchor:expr, $message:expr) => {{
        let placement = match $anchor {
            Anchor::Append(parent) => {
                let found = match parent.or($thread.active_leaf_id) {
                    Some(id) => find_owned_message!($conn, &$scope.owner, id),
                    None => None,
                };
                tree::place_append(&$thread, parent, found.as_ref())?
            }
            Anchor::SiblingOf(of) => {
                let original = find_owned_message!($conn, &$scope.owner, of);
                tree::place_sibling(&$thread, of, original.as_ref())?
            }
        };
        let msg = $message.into_message($thread.id, placement.parent_id, placement.depth);
        record_append!($conn, msg);
        msg
    }};
}

/// Walks up to `limit` parent links from `start` (recursive CTE over the primary key), root first.
const PATH_SQL: &str = "WITH RECURSIVE path(id, parent_id, n) AS ( \
    SELECT id, parent_id, 1 FROM messages WHERE id = ? AND thread_id = ? \
    UNION ALL \
    SELECT m.id, m.parent_id, p.n + 1 FROM messages m JOIN path p ON m.id = p.parent_id WHERE p.n < ? \
) SELECT {cols} FROM path p JOIN messages m ON m.id = p.id ORDER BY p.n DESC";

/// Every live message below `root` (not `root` itself), parents before children.
const SUBTREE_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE parent_id = ? AND deleted_at IS NULL \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id WHERE m.deleted_at IS NULL \
) SELECT {cols} FROM sub JOIN messages m ON m.id = sub.id ORDER BY m.depth, m.created_at, m.id";

/// Soft-deletes `root` and its live subtree.
const DELETE_SUBTREE_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE id = ? \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id \
) UPDATE messages SET deleted_at = ?, updated_at = ? \
  WHERE id IN (SELECT id FROM sub) AND deleted_at IS NULL";

/// Live messages of a thread with no live child, newest first.
const LEAVES_SQL: &str = "SELECT {cols} FROM messages m \
    WHERE m.thread_id = ? AND m.deleted_at IS NULL \
    AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id AND c.deleted_at IS NULL) \
    ORDER BY m.created_at DESC, m.id DESC";

fn with_cols(sql: &str) -> String {
    sql.replace("{cols}", MESSAGE_COLUMNS)
}

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

#[derive(AsChangeset)]
#[diesel(table_name = threads)]
struct ThreadChanges {
    title: Option<String>,
    status: Option<String>,
    metadata: Option<DbJson>,
    system_prompt: Option<Option<String>>,
    model: Option<Option<String>>,
    updated_at: DbTime,
}

/// The store over a [`Database`]. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) db: Database,
}

impl SqlStore {
    /// The connection pool's usage, for metrics.
    pub fn pool_usage(&self) -> super::PoolUsage {
        self.db.pool_usage()
    }

    /// See [`chat_threads_application::replies::ReplyStore::begin_reply`].
    pub(crate) async fn begin_reply_tx(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        busy_since: Timestamp,
        user: Option<(Anchor, NewMessage)>,
        reply: (Option<Anchor>, NewMessage),
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

    /// A store over an open database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database underneath.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

fn db_id(id: impl Copy + Into<IdLike>) -> DbUuid {
    DbUuid(id.into().0)
}

/// Anything with a UUID inside, for binding.
struct IdLike(uuid::Uuid);
impl From<ThreadId> for IdLike {
    fn from(id: ThreadId) -> Self {
        Self(id.as_uuid())
    }
}
impl From<MessageId> for IdLike {
    fn from(id: MessageId) -> Self {
        Self(id.as_uuid())
    }
}

impl SqlStore {
    async fn list_threads_inner(&self, q: &ThreadQuery) -> Result<Vec<Thread>, DbError> {
        with_conn!(self, |conn, dialect| {
            let mut query = threads::table.select(ThreadRow::as_select()).into_boxed();
            query = match &q.scope.org_reader {
                Some(org) => query.filter(
                    threads::owner
                        .eq(q.scope.owner.as_str())
                        .or(threads::org_id.eq(org.as_str())),
                ),
                None => query.filter(threads::owner.eq(q.scope.owner.as_str())),
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
                let at = DbTime(c.updated_at);
                query = query.filter(
                    threads::updated_at
                        .lt(at)
                        .or(threads::updated_at.eq(at).and(threads::id.lt(db_id(c.id)))),
                );
            }
            let rows: Vec<ThreadRow> = query
                .order((threads::updated_at.desc(), threads::id.desc()))
                .limit(i64::from(q.limit))
                .load(conn)
                .await?;
            rows.into_iter().map(Thread::try_from).collect()
        })
    }
}

impl ThreadStore for SqlStore {
    async fn insert_thread(&self, thread: Thread) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(threads::table)
                .values(ThreadRow::from(&thread))
                .execute(conn)
                .await?;
            Ok(thread)
        });
        Ok(r?)
    }

    async fn get_thread(
        &self,
        scope: &Scope,
        id: ThreadId,
        include_deleted: bool,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = with_conn!(self, |conn, _d| {
            Ok(find_thread!(conn, scope, id, include_deleted))
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
    ) -> Result<Thread, AppError> {
        let changes = ThreadChanges {
            title: patch.title.map(|t| t.into_inner()),
            status: patch.status.map(|s| s.as_str().to_owned()),
            metadata: patch.metadata.map(|m| DbJson(m.to_value())),
            system_prompt: patch.system_prompt.map(|p| p.map(|p| p.into_inner())),
            model: patch.model.map(|m| m.map(|m| m.into_inner())),
            updated_at: DbTime(now),
        };
        let r: Result<Thread, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<ThreadRow> = diesel::update(
                threads::table
                    .filter(threads::id.eq(db_id(id)))
                    .filter(threads::owner.eq(scope.owner.as_str()))
                    .filter(threads::deleted_at.is_null()),
            )
            .set(&changes)
            .returning(ThreadRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            Thread::try_from(row.ok_or(DbError(AppError::ThreadNotFound))?)
        });
        Ok(r?)
    }

    async fn set_thread_deleted(
        &self,
        scope: &Scope,
        id: ThreadId,
        deleted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = with_conn!(self, |conn, _d| {
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

impl chat_threads_application::SearchStore for SqlStore {
    async fn search_messages(
        &self,
        scope: &Scope,
        text: &str,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, AppError> {
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

impl MessageStore for SqlStore {
    async fn append_message(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        parent: Option<MessageId>,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        let r: Result<Message, DbError> = write_tx!(self, |conn, _d| {
            let thread = lock_thread!(conn, scope, thread_id);
            Ok(place!(conn, scope, thread, Anchor::Append(parent), message))
        });
        Ok(r?)
    }

    async fn add_sibling(
        &self,
        scope: &Scope,
        thread_id: ThreadId,
        of: MessageId,
        message: NewMessage,
    ) -> Result<Message, AppError> {
        let r: Result<Message, DbError> = write_tx!(self, |conn, _d| {
            let thread = lock_thread!(conn, scope, thread_id);
            Ok(place!(conn, scope, thread, Anchor::SiblingOf(of), message))
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
            let _thread = find_thread!(conn, scope, thread_id, false);
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
    ) -> Result<DeleteOutcome, AppError> {
        let r: Result<DeleteOutcome, DbError> = write_tx!(self, |conn, dialect| {
            let thread = lock_thread!(conn, scope, thread_id);
            let row: Option<MessageRow> = messages::table
                .filter(messages::id.eq(db_id(id)))
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::deleted_at.is_null())
                .select(MessageRow::as_select())
                .first(conn)
                .await
                .optional()?;
            let target = Message::try_from(row.ok_or(DbError(AppError::MessageNotFound))?)?;
            let deleted = diesel::sql_query(dialect.sql(DELETE_SUBTREE_SQL))
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
                    diesel::sql_query(dialect.sql(&format!("{} LIMIT 1", with_cols(LEAVES_SQL))))
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
        let r: Result<Vec<Message>, DbError> = with_conn!(self, |conn, dialect| {
            let thread = find_thread!(conn, scope, thread_id, false);
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
            let rows: Vec<MessageRow> = diesel::sql_query(dialect.sql(&with_cols(PATH_SQL)))
                .bind::<PUuid, _>(db_id(start))
                .bind::<PUuid, _>(db_id(thread_id))
                .bind::<BigInt, _>(i64::from(limit))
                .load(conn)
                .await?;
            messages_from(rows)
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
            let _thread = find_thread!(conn, scope, thread_id, false);
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
            if let Some(text) = &filter.text {
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
        let r: Result<Vec<Branch>, DbError> = with_conn!(self, |conn, dialect| {
            let thread = find_thread!(conn, scope, thread_id, false);
            let rows: Vec<MessageRow> = diesel::sql_query(dialect.sql(&with_cols(LEAVES_SQL)))
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
    ) -> Result<Thread, AppError> {
        let r: Result<Thread, DbError> = write_tx!(self, |conn, _d| {
            let thread = lock_thread!(conn, scope, thread_id);
            let target = find_owned_message!(conn, &scope.owner, leaf);
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
        let r: Result<Thread, DbError> = write_tx!(self, |conn, dialect| {
            let thread = find_own_thread!(conn, scope, thread_id);
            let target = find_owned_message!(conn, &scope.owner, at);
            tree::check_fork_point(&thread, at, target.as_ref())?;
            let path: Vec<MessageRow> = diesel::sql_query(dialect.sql(&with_cols(PATH_SQL)))
                .bind::<PUuid, _>(db_id(at))
                .bind::<PUuid, _>(db_id(thread_id))
                .bind::<BigInt, _>(i64::MAX)
                .load(conn)
                .await?;
            let mut source = messages_from(path)?;
            if mode == ForkMode::PathAndBranches {
                let below: Vec<MessageRow> =
                    diesel::sql_query(dialect.sql(&with_cols(SUBTREE_SQL)))
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
            }
            Ok(forked)
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
    ) -> Result<Message, AppError> {
        let rating = feedback.as_ref().map(|f| f.rating.as_str().to_owned());
        let text = feedback.and_then(|f| f.text.map(|t| t.into_inner()));
        let r: Result<Message, DbError> = with_conn!(self, |conn, _d| {
            update_live_message!(
                conn,
                scope,
                thread_id,
                id,
                (
                    messages::feedback_rating.eq(&rating),
                    messages::feedback_text.eq(&text),
                    messages::updated_at.eq(DbTime(now)),
                )
            )
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
    ) -> Result<Message, AppError> {
        let reaction = reaction.map(|r| r.into_inner());
        let r: Result<Message, DbError> = with_conn!(self, |conn, _d| {
            update_live_message!(
                conn,
                scope,
                thread_id,
                id,
                (
                    messages::reaction.eq(&reaction),
                    messages::updated_at.eq(DbTime(now))
                )
            )
        });
        Ok(r?)
    }
}

impl SummaryStore for SqlStore {
    async fn add_summary(&self, scope: &Scope, summary: Summary) -> Result<Summary, AppError> {
        let r: Result<Summary, DbError> = with_conn!(self, |conn, _d| {
            let _thread = find_own_thread!(conn, scope, summary.thread_id);
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
            let _thread = find_thread!(conn, scope, thread_id, false);
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

impl chat_threads_application::Readiness for SqlStore {
    async fn check(&self) -> Result<(), AppError> {
        self.db.ping().await
    }
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

impl SqlStore {
    /// The query plan of reading `limit` messages of the path ending at `leaf` (EXPLAIN QUERY
    /// PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL). For benchmarks and operators.
    pub async fn explain_active_path(
        &self,
        thread_id: ThreadId,
        leaf: MessageId,
        limit: u32,
    ) -> Result<Vec<String>, AppError> {
        let r: Result<Vec<String>, DbError> = with_conn!(self, |conn, dialect| {
            let sql = dialect.sql(&with_cols(PATH_SQL)).into_owned();
            Ok(match dialect {
                Dialect::Sqlite => {
                    let rows: Vec<SqlitePlanRow> =
                        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                            .bind::<PUuid, _>(db_id(leaf))
                            .bind::<PUuid, _>(db_id(thread_id))
                            .bind::<BigInt, _>(i64::from(limit))
                            .load(conn)
                            .await?;
                    rows.into_iter().map(|r| r.detail).collect()
                }
                Dialect::Postgres => {
                    let rows: Vec<PgPlanRow> =
                        diesel::sql_query(format!("EXPLAIN (ANALYZE, COSTS OFF) {sql}"))
                            .bind::<PUuid, _>(db_id(leaf))
                            .bind::<PUuid, _>(db_id(thread_id))
                            .bind::<BigInt, _>(i64::from(limit))
                            .load(conn)
                            .await?;
                    rows.into_iter().map(|r| r.plan).collect()
                }
            })
        });
        Ok(r?)
    }
}

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
                diesel::insert_into(threads::table)
                    .values(ThreadRow::from(&t.thread))
                    .execute(conn)
                    .await?;
                for m in &t.messages {
                    diesel::insert_into(messages::table)
                        .values(MessageRow::from(m))
                        .execute(conn)
                        .await?;
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
