//! Thread members on both backends, and the owners remembered so an owner's request needs no
//! membership query.

use std::collections::HashMap;
use std::sync::Mutex;

use chat_threads_application::AppError;
use chat_threads_application::feed::Report;
use chat_threads_application::members::MemberStore;
use chat_threads_domain::{Member, MemberRole, Owner, Scope, Thread, ThreadAccess, ThreadId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::{DbError, corrupt};
use super::models::ThreadRow;
use super::schema::{thread_members, threads};
use super::store::SqlStore;
use super::tree_sql::find_own_thread;
use super::types::{DbTime, DbUuid};

/// Most owners remembered; the map starts over when full (a miss costs one query).
const REMEMBERED_OWNERS: usize = 100_000;

/// Thread owners seen by this process. A thread's owner never changes, so an entry never goes
/// stale; memberships are not remembered (a removal must count at the next request).
#[derive(Debug, Default)]
pub(crate) struct OwnerCache(Mutex<HashMap<ThreadId, Owner>>);

impl OwnerCache {
    pub(crate) fn get(&self, id: ThreadId) -> Option<Owner> {
        self.0.lock().ok().and_then(|m| m.get(&id).cloned())
    }

    pub(crate) fn remember(&self, id: ThreadId, owner: &Owner) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= REMEMBERED_OWNERS {
                m.clear();
            }
            m.insert(id, owner.clone());
        }
    }
}

/// A row of `thread_members`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = thread_members)]
struct MemberRow {
    thread_id: DbUuid,
    principal: String,
    role: String,
    added_at: DbTime,
}

impl TryFrom<MemberRow> for Member {
    type Error = DbError;
    fn try_from(r: MemberRow) -> Result<Self, DbError> {
        Ok(Member {
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            principal: Owner::from_stored(r.principal),
            role: MemberRole::parse(&r.role).map_err(|e| corrupt("role", e))?,
            added_at: r.added_at.0,
        })
    }
}

impl MemberStore for SqlStore {
    async fn thread_access(
        &self,
        thread_id: ThreadId,
        principal: &Owner,
    ) -> Result<Option<ThreadAccess>, AppError> {
        if self.owners.get(thread_id).as_ref() == Some(principal) {
            return Ok(Some(ThreadAccess {
                owner: principal.clone(),
                role: None,
            }));
        }
        let id = DbUuid(thread_id.as_uuid());
        let r: Result<Option<(String, Option<String>)>, DbError> = with_conn!(self, |conn, _d| {
            Ok(threads::table
                .left_join(
                    thread_members::table.on(thread_members::thread_id
                        .eq(threads::id)
                        .and(thread_members::principal.eq(principal.as_str()))),
                )
                .filter(threads::id.eq(id))
                .select((threads::owner, thread_members::role.nullable()))
                .first(conn)
                .await
                .optional()?)
        });
        let Some((owner, role)) = r? else {
            return Ok(None);
        };
        let owner = Owner::from_stored(owner);
        self.owners.remember(thread_id, &owner);
        let role = role
            .map(|r| MemberRole::parse(&r).map_err(|e| corrupt("role", e)))
            .transpose()?;
        Ok(Some(ThreadAccess { owner, role }))
    }

    async fn put_member(
        &self,
        owner: &Owner,
        member: Member,
        report: Report<'_, (Member, bool)>,
    ) -> Result<(Member, bool), AppError> {
        let scope = Scope::of(owner.clone());
        let row = MemberRow {
            thread_id: DbUuid(member.thread_id.as_uuid()),
            principal: member.principal.as_str().to_owned(),
            role: member.role.as_str().to_owned(),
            added_at: DbTime(member.added_at),
        };
        let r: Result<(Member, bool), DbError> =
            write_tx!(self, report(report, member.added_at), |conn, _d| {
                let _thread = find_own_thread(conn.any(), &scope, member.thread_id).await?;
                let changed = diesel::update(
                    thread_members::table
                        .filter(thread_members::thread_id.eq(row.thread_id))
                        .filter(thread_members::principal.eq(&row.principal)),
                )
                .set((
                    thread_members::role.eq(&row.role),
                    thread_members::added_at.eq(row.added_at),
                ))
                .execute(conn)
                .await?;
                if changed > 0 {
                    return Ok((member.clone(), false));
                }
                diesel::insert_into(thread_members::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                Ok((member.clone(), true))
            });
        Ok(r?)
    }

    async fn remove_member(
        &self,
        owner: &Owner,
        thread_id: ThreadId,
        principal: &Owner,
        report: Report<'_, bool>,
    ) -> Result<bool, AppError> {
        let id = DbUuid(thread_id.as_uuid());
        let r: Result<bool, DbError> =
            write_tx!(self, report(report, chrono::Utc::now()), |conn, _d| {
                // The owner's thread, deleted or not (members of a deleted thread can be removed).
                let owned: Option<ThreadRow> = threads::table
                    .filter(threads::id.eq(id))
                    .filter(threads::owner.eq(owner.as_str()))
                    .select(ThreadRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let _thread: Thread =
                    Thread::try_from(owned.ok_or(DbError(AppError::ThreadNotFound))?)?;
                let removed = diesel::delete(
                    thread_members::table
                        .filter(thread_members::thread_id.eq(id))
                        .filter(thread_members::principal.eq(principal.as_str())),
                )
                .execute(conn)
                .await?;
                Ok(removed > 0)
            });
        Ok(r?)
    }

    async fn list_members(&self, thread_id: ThreadId) -> Result<Vec<Member>, AppError> {
        let id = DbUuid(thread_id.as_uuid());
        let r: Result<Vec<Member>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<MemberRow> = thread_members::table
                .filter(thread_members::thread_id.eq(id))
                .select(MemberRow::as_select())
                .order((
                    thread_members::added_at.asc(),
                    thread_members::principal.asc(),
                ))
                .load(conn)
                .await?;
            rows.into_iter().map(Member::try_from).collect()
        });
        Ok(r?)
    }
}
