//! The tree's building blocks, shared by the feature stores: helpers that find, lock and place
//! messages inside a connection or transaction (named functions over [`Conn`], each body
//! expanded per backend by [`with_conn!`]), and the recursive SQL over the message tree.

use chat_threads_application::{Anchor, AppError, NewMessage};
use chat_threads_domain::{Message, MessageId, Owner, Scope, Thread, ThreadId};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::conn::{AsConn, Conn};
use super::error::DbError;
use super::files::reference_files;
use super::models::{MESSAGE_COLUMNS, MessageRow, ThreadRow};
use super::prepared::{self, Bind};
use super::schema::{messages, threads};
use super::store::db_id;
use super::types::DbTime;
use super::types::sql::{PTime, PUuid};

/// A thread the scope may read (live only unless `include_deleted`), or `ThreadNotFound`.
pub(super) async fn find_thread(
    c: Conn<'_>,
    scope: &Scope,
    id: ThreadId,
    include_deleted: bool,
) -> Result<Thread, DbError> {
    with_conn!(on c, |conn, _d| {
        let mut q = threads::table
            .filter(threads::id.eq(db_id(id)))
            .into_boxed();
        q = match &scope.org_reader {
            Some(org) => q.filter(
                threads::owner
                    .eq(scope.owner.as_str())
                    .or(threads::org_id.eq(org.as_str())),
            ),
            None => q.filter(threads::owner.eq(scope.owner.as_str())),
        };
        if !include_deleted {
            q = q.filter(threads::deleted_at.is_null());
        }
        let row: Option<ThreadRow> = q
            .select(ThreadRow::as_select())
            .first(conn)
            .await
            .optional()?;
        Ok(Thread::try_from(
            row.ok_or(DbError(AppError::ThreadNotFound))?,
        )?)
    })
}

/// A live thread the scope may change (the owner's own: the scope without its org-wide read
/// access), or `ThreadNotFound`.
pub(super) async fn find_own_thread(
    c: Conn<'_>,
    scope: &Scope,
    id: ThreadId,
) -> Result<Thread, DbError> {
    find_thread(c, &Scope::of(scope.owner.clone()), id, false).await
}

/// Locks a thread row (an update that changes nothing) and returns it: a fixed text, so each
/// connection prepares it once (diesel prepares every `UPDATE` it builds again at each call).
const LOCK_THREAD: &str = "UPDATE threads SET message_count = message_count \
     WHERE id = ? AND owner = ? AND deleted_at IS NULL RETURNING id, owner, org_id, title, \
     product, status, document_id, external_id, metadata, system_prompt, model, active_leaf_id, \
     forked_from_thread_id, forked_from_message_id, message_count, last_message_at, created_at, \
     updated_at, deleted_at, expires_at, folder_id, pinned, temporary, creator_email, tags";

/// Makes a just-placed message its thread's active leaf (a fixed text, prepared once).
const RECORD_APPEND: &str = "UPDATE threads SET active_leaf_id = ?, \
     message_count = message_count + 1, last_message_at = ?, updated_at = ? WHERE id = ?";

/// Locks the owner's live thread row for the rest of the transaction and returns it.
pub(super) async fn lock_thread(
    c: Conn<'_>,
    scope: &Scope,
    id: ThreadId,
) -> Result<Thread, DbError> {
    with_conn!(on c, |conn, _d| {
        let row: Option<ThreadRow> = prepared::sql(LOCK_THREAD)
            .bind::<PUuid, _>(db_id(id))
            .bind::<Text, _>(scope.owner.as_str())
            .get_result(conn)
            .await
            .optional()?;
        Ok(Thread::try_from(
            row.ok_or(DbError(AppError::ThreadNotFound))?,
        )?)
    })
}

/// A message of any of the owner's threads (how parents and targets are looked up, so another
/// owner's message is simply unknown).
pub(super) async fn find_owned_message(
    c: Conn<'_>,
    owner: &Owner,
    id: MessageId,
) -> Result<Option<Message>, DbError> {
    with_conn!(on c, |conn, _d| {
        let row: Option<MessageRow> = messages::table
            .inner_join(threads::table)
            .filter(messages::id.eq(db_id(id)))
            .filter(threads::owner.eq(owner.as_str()))
            .select(MessageRow::as_select())
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(Message::try_from).transpose()?)
    })
}

/// A live (not soft-deleted) message of the thread, or `MessageNotFound`.
pub(super) async fn live_message(
    c: Conn<'_>,
    thread_id: ThreadId,
    id: MessageId,
) -> Result<Message, DbError> {
    with_conn!(on c, |conn, _d| {
        let row: Option<MessageRow> = messages::table
            .filter(messages::id.eq(db_id(id)))
            .filter(messages::thread_id.eq(db_id(thread_id)))
            .filter(messages::deleted_at.is_null())
            .select(MessageRow::as_select())
            .first(conn)
            .await
            .optional()?;
        Ok(Message::try_from(
            row.ok_or(DbError(AppError::MessageNotFound))?,
        )?)
    })
}

/// What a reader marks on a message: feedback or a reaction (a field left `None` is kept).
#[derive(AsChangeset)]
#[diesel(table_name = messages)]
pub(super) struct Marks {
    /// The rating, or none.
    pub feedback_rating: Option<Option<String>>,
    /// The feedback's text, or none.
    pub feedback_text: Option<Option<String>>,
    /// The reaction, or none.
    pub reaction: Option<Option<String>>,
    /// When.
    pub updated_at: DbTime,
}

/// Marks a live message of the owner's live thread and returns it, or `MessageNotFound`.
pub(super) async fn mark_live_message(
    mut c: Conn<'_>,
    scope: &Scope,
    thread_id: ThreadId,
    id: MessageId,
    marks: Marks,
) -> Result<Message, DbError> {
    // The thread first, as every write of a thread's messages takes it (the message's update
    // writes the thread's row too: migration 000033), so two writes never wait on each other
    // the other way round.
    lock_thread(c.any(), scope, thread_id).await?;
    with_conn!(on c, |conn, _d| {
        let row: Option<MessageRow> = diesel::update(
            messages::table
                .filter(messages::id.eq(db_id(id)))
                .filter(messages::thread_id.eq(db_id(thread_id)))
                .filter(messages::deleted_at.is_null()),
        )
        .set(&marks)
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        Ok(Message::try_from(
            row.ok_or(DbError(AppError::MessageNotFound))?,
        )?)
    })
}

/// Records a message just placed in the thread: it becomes the active leaf.
async fn record_append(c: Conn<'_>, msg: &Message) -> Result<(), DbError> {
    with_conn!(on c, |conn, _d| {
        diesel::insert_into(messages::table)
            .values(MessageRow::from(msg))
            .execute(conn)
            .await?;
        prepared::sql(RECORD_APPEND)
            .bind::<PUuid, _>(db_id(msg.id))
            .bind::<PTime, _>(DbTime(msg.created_at))
            .bind::<PTime, _>(DbTime(msg.created_at))
            .bind::<PUuid, _>(db_id(msg.thread_id))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Places a message by an [`Anchor`] in a locked thread (the tree rules decide), records it as
/// the active leaf, and returns the stored message.
pub(super) async fn place(
    mut c: Conn<'_>,
    scope: &Scope,
    thread: &Thread,
    anchor: Anchor,
    message: NewMessage,
) -> Result<Message, DbError> {
    let placement = match anchor {
        Anchor::Append(parent) => {
            let found = match parent.or(thread.active_leaf_id) {
                Some(id) => find_owned_message(c.any(), &scope.owner, id).await?,
                None => None,
            };
            chat_threads_domain::tree::place_append(thread, parent, found.as_ref())?
        }
        Anchor::SiblingOf(of) => {
            let original = find_owned_message(c.any(), &scope.owner, of).await?;
            chat_threads_domain::tree::place_sibling(thread, of, original.as_ref())?
        }
    };
    let msg = message.into_message(thread.id, placement.parent_id, placement.depth);
    record_append(c.any(), &msg).await?;
    reference_files(c, &msg).await?;
    Ok(msg)
}

/// The first page of a thread's active path as one statement that the connection prepares
/// once and reuses (a fixed query id, so diesel caches it): the scope's read check on the
/// thread, its active leaf, and the `limit` newest messages of the thread up to that leaf —
/// one backward range scan of `messages_thread_created`, newest first by `(created_at, id)`,
/// the leaf the first row (messages stamped with one instant, as an import makes them, are
/// ordered by their ids, which grow as they are made).
/// On a path with no branch (or none in that window) those are exactly the path's last
/// `limit` messages; otherwise [`ActivePathQuery::run`] walks the parent links through the
/// window and says where the walk has to go on. No rows: the thread is unknown to the scope,
/// or has no messages (the caller tells which).
///
/// It replaced a recursive walk up the parent links: two primary-key probes per message
/// (the walk, then the row), ~400 buffer hits for a page of 50 on PostgreSQL, against ~60
/// for the range scan (see docs/operations.md).
#[derive(Debug, Clone, diesel::query_builder::QueryId)]
pub(super) struct ActivePathQuery {
    /// The thread.
    pub thread: super::types::DbUuid,
    /// The scope's owner.
    pub owner: String,
    /// The org the scope reads too (org admins), if any.
    pub org: Option<String>,
    /// At most this many messages.
    pub limit: i64,
}

impl<DB> diesel::query_builder::QueryFragment<DB> for ActivePathQuery
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<super::types::sql::PUuid>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>,
    super::types::DbUuid: diesel::serialize::ToSql<super::types::sql::PUuid, DB>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    Option<String>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    DB: diesel::sql_types::HasSqlType<diesel::sql_types::Nullable<diesel::sql_types::Text>>,
{
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.window_sql(out, &[MESSAGE_COLUMNS], None)
    }
}

impl ActivePathQuery {
    /// The statement, selecting `columns` (joined with commas) from each row `m` of the window;
    /// `thread` is an expression of the thread's row `t` the first step reads as `l.v`.
    pub(super) fn window_sql<'b, DB>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
        columns: &[&'static str],
        thread: Option<&'static str>,
    ) -> diesel::QueryResult<()>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<super::types::sql::PUuid>
            + diesel::sql_types::HasSqlType<diesel::sql_types::Text>
            + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
            + diesel::sql_types::HasSqlType<diesel::sql_types::Nullable<diesel::sql_types::Text>>,
        super::types::DbUuid: diesel::serialize::ToSql<super::types::sql::PUuid, DB>,
        String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        Option<String>:
            diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
        i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    {
        use diesel::sql_types::{BigInt, Nullable, Text};
        out.push_sql("WITH l AS (SELECT m.id, m.created_at");
        if let Some(v) = thread {
            out.push_sql(", ");
            out.push_sql(v);
            out.push_sql(" AS v");
        }
        out.push_sql(
            " FROM threads t \
             JOIN messages m ON m.id = t.active_leaf_id AND m.thread_id = t.id WHERE t.id = ",
        );
        out.push_bind_param::<super::types::sql::PUuid, _>(&self.thread)?;
        // `org_id = NULL` is never true: without an org to read, only the owner's thread.
        out.push_sql(" AND t.deleted_at IS NULL AND (t.owner = ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        out.push_sql(" OR t.org_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.org)?;
        out.push_sql(")) SELECT ");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql(c);
        }
        // The bounds are scalar subqueries: computed once, they make the scan's range (an index
        // range scan, backwards, that stops at the limit; PostgreSQL without statistics may
        // prefer a bitmap scan and a top-N sort: docs/architecture.md).
        out.push_sql(" FROM messages m WHERE m.thread_id = ");
        out.push_bind_param::<super::types::sql::PUuid, _>(&self.thread)?;
        out.push_sql(
            " AND m.created_at <= (SELECT created_at FROM l) \
             AND (m.created_at < (SELECT created_at FROM l) OR m.id <= (SELECT id FROM l)) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT ",
        );
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        Ok(())
    }
}

impl diesel::query_builder::Query for ActivePathQuery {
    // The columns of `messages` in their order (MESSAGE_COLUMNS): rows are read by position
    // into a `MessageRow`, not by name.
    type SqlType = diesel::dsl::SqlTypeOf<
        <MessageRow as diesel::Selectable<diesel::sqlite::Sqlite>>::SelectExpression,
    >;
}

// The sync `load` (SQLite's blocking thread); the async one is implemented for every type.
impl<C> diesel::RunQueryDsl<C> for ActivePathQuery {}

/// What [`ActivePathQuery::run`] found: the path's newest messages, root first, and where the
/// walk has to go on when the window ran out before the page did.
pub(super) struct ActiveWindow {
    /// The path's newest messages found in the window, root first.
    pub path: Vec<MessageRow>,
    /// The parent the window did not hold, and how many messages the page still wants.
    pub go_on: Option<(super::types::DbUuid, i64)>,
    /// The thread's version as the window's read saw it (PostgreSQL's `xmin` of its row),
    /// when the connection reads it ([`LoadActivePath`]).
    pub stamp: Option<WindowStamp>,
}

impl ActivePathQuery {
    /// The first page of `thread`'s active path as `scope` reads it, at most `limit` messages.
    pub(super) fn new(scope: &Scope, thread: ThreadId, limit: i64) -> Self {
        Self {
            thread: db_id(thread),
            owner: scope.owner.as_str().to_owned(),
            org: scope.org_reader.as_ref().map(|o| o.as_str().to_owned()),
            limit,
        }
    }

    /// Reads the window and walks it from the leaf up the parent links, on either backend's
    /// connection.
    pub(super) async fn run(self, conn: &mut impl LoadActivePath) -> Result<ActiveWindow, DbError> {
        let limit = usize::try_from(self.limit).unwrap_or(0);
        let (rows, stamp) = conn.load_active_path(self).await?;
        let (mut path, missing) = walk_window(rows, limit);
        path.reverse();
        let go_on = missing.map(|id| {
            let want = limit.saturating_sub(path.len());
            (id, i64::try_from(want).unwrap_or(i64::MAX))
        });
        Ok(ActiveWindow { path, go_on, stamp })
    }
}

/// Walks `rows` (a thread's messages, newest first, the first one the leaf) from the leaf up
/// its parent links for at most `limit` messages: the path found, leaf first, and the parent
/// the rows did not hold if the walk stopped there (neither the root nor the limit reached).
fn walk_window(
    rows: Vec<MessageRow>,
    limit: usize,
) -> (Vec<MessageRow>, Option<super::types::DbUuid>) {
    let mut rows: Vec<Option<MessageRow>> = rows.into_iter().map(Some).collect();
    let mut path: Vec<MessageRow> = Vec::with_capacity(rows.len());
    let Some(leaf) = rows.first_mut().and_then(Option::take) else {
        return (path, None);
    };
    path.push(leaf);
    // With no branch in the window the parent is the next row; the index is built only when
    // it is not.
    let mut at = 0;
    let mut index: Option<std::collections::HashMap<super::types::DbUuid, usize>> = None;
    while path.len() < limit {
        let Some(parent) = path.last().and_then(|m| m.parent_id) else {
            return (path, None);
        };
        let next = match rows.get(at + 1) {
            Some(Some(r)) if r.id == parent => Some(at + 1),
            _ => index
                .get_or_insert_with(|| {
                    rows.iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.as_ref().map(|r| (r.id, i)))
                        .collect()
                })
                .get(&parent)
                .copied(),
        };
        match next.and_then(|i| rows[i].take().map(|r| (i, r))) {
            Some((i, row)) => {
                at = i;
                path.push(row);
            }
            None => return (path, Some(parent)),
        }
    }
    (path, None)
}

/// The version of a window's thread (PostgreSQL's `xmin` of its row, [`super::path_stamps`]).
pub(super) type WindowStamp = i64;

/// The rows of the window and, where the connection reads it, its thread's version.
pub(super) type WindowRows = (Vec<MessageRow>, Option<WindowStamp>);

/// Loads an [`ActivePathQuery`]'s rows. On SQLite they are read straight into `MessageRow`s on
/// the blocking thread that runs the statement: through the async wrapper, every value of
/// every row would first be copied into an owned row there, then converted on the worker.
/// PostgreSQL reads the thread's version with them ([`super::path_stamps`]); SQLite keeps no
/// stamps.
pub(super) trait LoadActivePath {
    /// The window's rows (newest first) and their thread's version.
    fn load_active_path(
        &mut self,
        query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<WindowRows>>;

    /// The thread's version alone; `None` where the connection reads no versions, or the
    /// scope reads no such live thread.
    fn load_path_stamp(
        &mut self,
        query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<Option<WindowStamp>>>;
}

impl LoadActivePath for super::pool::SqliteConn {
    fn load_active_path(
        &mut self,
        query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<WindowRows>> {
        self.spawn_blocking(move |c| {
            diesel::RunQueryDsl::load::<MessageRow>(query, c).map(|rows| (rows, None))
        })
    }

    fn load_path_stamp(
        &mut self,
        _query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<Option<WindowStamp>>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

impl LoadActivePath for diesel_async::AsyncPgConnection {
    fn load_active_path(
        &mut self,
        query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<WindowRows>> {
        Box::pin(async move {
            let rows: Vec<(MessageRow, i64)> =
                RunQueryDsl::load(super::path_stamps::StampedPathQuery(query), self).await?;
            let stamp = <[_]>::first(&rows).map(|(_, v)| *v);
            Ok((rows.into_iter().map(|(m, _)| m).collect(), stamp))
        })
    }

    fn load_path_stamp(
        &mut self,
        query: ActivePathQuery,
    ) -> futures_util::future::BoxFuture<'_, QueryResult<Option<WindowStamp>>> {
        Box::pin(async move { super::path_stamps::thread_version(self, &query).await })
    }
}

/// Up to `limit` messages of `thread`'s path ending at `start`, root first ([`PATH_SQL`]).
pub(super) async fn path_rows(
    c: Conn<'_>,
    start: super::types::DbUuid,
    thread: ThreadId,
    limit: i64,
) -> Result<Vec<MessageRow>, DbError> {
    with_conn!(on c, |conn, _d| {
        Ok(prepared::sql(with_cols(PATH_SQL))
            .bind::<PUuid, _>(start)
            .bind::<PUuid, _>(db_id(thread))
            .bind::<diesel::sql_types::BigInt, _>(limit)
            .load(conn)
            .await?)
    })
}

/// Walks up to `limit` parent links from `start` (recursive CTE over the primary key), root first.
pub(super) const PATH_SQL: &str = "WITH RECURSIVE path(id, parent_id, n) AS ( \
    SELECT id, parent_id, 1 FROM messages WHERE id = ? AND thread_id = ? \
    UNION ALL \
    SELECT m.id, m.parent_id, p.n + 1 FROM messages m JOIN path p ON m.id = p.parent_id WHERE p.n < ? \
) SELECT {cols} FROM path p JOIN messages m ON m.id = p.id ORDER BY p.n DESC";

/// Every live message below `root` (not `root` itself), parents before children.
pub(super) const SUBTREE_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE parent_id = ? AND deleted_at IS NULL \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id WHERE m.deleted_at IS NULL \
) SELECT {cols} FROM sub JOIN messages m ON m.id = sub.id ORDER BY m.depth, m.created_at, m.id";

/// Soft-deletes `root` and its live subtree.
pub(super) const DELETE_SUBTREE_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE id = ? \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id \
) UPDATE messages SET deleted_at = ?, updated_at = ? \
  WHERE id IN (SELECT id FROM sub) AND deleted_at IS NULL";

/// Brings back `root` and the descendants deleted with it (at the same instant): binds the
/// root, its deletion time, now, and its deletion time again.
pub(super) const RESTORE_SUBTREE_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE id = ? \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id WHERE m.deleted_at = ? \
) UPDATE messages SET deleted_at = NULL, updated_at = ? \
  WHERE id IN (SELECT id FROM sub) AND deleted_at = ?";

/// The newest live leaf at or below `root`.
pub(super) const RESTORED_LEAF_SQL: &str = "WITH RECURSIVE sub(id) AS ( \
    SELECT id FROM messages WHERE id = ? AND deleted_at IS NULL \
    UNION ALL \
    SELECT m.id FROM messages m JOIN sub s ON m.parent_id = s.id WHERE m.deleted_at IS NULL \
) SELECT {cols} FROM messages m WHERE m.id IN (SELECT id FROM sub) \
  AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id AND c.deleted_at IS NULL) \
  ORDER BY m.created_at DESC, m.id DESC LIMIT 1";

/// Live messages of a thread with no live child, newest first.
pub(super) const LEAVES_SQL: &str = "SELECT {cols} FROM messages m \
    WHERE m.thread_id = ? AND m.deleted_at IS NULL \
    AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id AND c.deleted_at IS NULL) \
    ORDER BY m.created_at DESC, m.id DESC";

pub(super) fn with_cols(sql: &str) -> String {
    sql.replace("{cols}", MESSAGE_COLUMNS)
}

/// An append in one round trip on PostgreSQL: `ct_append_message` (see its migration) locks
/// the owner's live thread, finds the parent, inserts `row` under it and makes it the active
/// leaf, in one statement the connection prepares once. Loads the parent and depth it used, or
/// nothing when the append is not a plain one (the general path then says why).
#[derive(Debug, Clone, diesel::query_builder::QueryId)]
pub(super) struct PgAppendQuery {
    /// The owner the thread must belong to.
    pub owner: String,
    /// The parent asked for (`None`: the active leaf).
    pub parent: Option<super::types::DbUuid>,
    /// The message; its `parent_id` and `depth` are decided by the statement.
    pub row: super::models::MessageRow,
    /// Its `message.created` change feed entry's data, serialized with no parent at depth 0
    /// (the statement writes in the ones it chose and puts the entry in the feed's outbox).
    pub feed: String,
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgAppendQuery {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use super::types::sql::{PJson, PTime, PUuid};
        use diesel::sql_types::{Integer, Nullable, Text};
        let r = &self.row;
        out.push_sql("SELECT parent_id, depth FROM ct_append_message(");
        out.push_bind_param::<PUuid, _>(&r.thread_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<PUuid>, _>(&self.parent)?;
        out.push_sql(", ");
        out.push_bind_param::<PUuid, _>(&r.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.role)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.content)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.content_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.display_text)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.model)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&r.prompt_tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&r.completion_tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<PJson, _>(&r.metadata)?;
        out.push_sql(", ");
        out.push_bind_param::<PTime, _>(&r.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&r.version)?;
        out.push_sql(", ");
        out.push_bind_param::<PJson, _>(&r.attachments)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.author)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.author_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.feed)?;
        out.push_sql(")");
        Ok(())
    }
}

impl diesel::query_builder::Query for PgAppendQuery {
    type SqlType = diesel::sql_types::Untyped;
}

/// Where [`PgAppendQuery`] placed the message.
#[derive(Debug, diesel::QueryableByName)]
pub(super) struct Placed {
    #[diesel(sql_type = diesel::sql_types::Nullable<super::types::sql::PUuid>)]
    pub parent_id: Option<super::types::DbUuid>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub depth: i32,
}
