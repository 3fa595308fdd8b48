//! Share links on both backends.

use chat_threads_application::AppError;
use chat_threads_application::shares::{Audience, Share, ShareMode, ShareStore, SharedMessage};
use chat_threads_domain::{MessageId, OrgId, Owner, ThreadId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::{DbError, corrupt};
use super::schema::shares;
use super::store::SqlStore;
use super::types::{DbJson, DbTime, DbUuid};

/// A row of `shares`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = shares)]
struct ShareRow {
    id: String,
    thread_id: DbUuid,
    owner: String,
    org_id: Option<String>,
    mode: String,
    audience: String,
    leaf_id: Option<DbUuid>,
    display_name: Option<String>,
    title: String,
    snapshot: Option<DbJson>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl ShareRow {
    fn of(s: &Share) -> Result<Self, DbError> {
        let snapshot = s
            .snapshot
            .as_ref()
            .map(|m| serde_json::to_value(m).map(DbJson))
            .transpose()
            .map_err(|e| DbError(AppError::internal_from("writing a share's snapshot", e)))?;
        Ok(Self {
            id: s.id.clone(),
            thread_id: DbUuid(s.thread_id.as_uuid()),
            owner: s.owner.as_str().to_owned(),
            org_id: s.org_id.as_ref().map(|o| o.as_str().to_owned()),
            mode: s.mode.as_str().to_owned(),
            audience: s.audience.as_str().to_owned(),
            leaf_id: s.leaf_id.map(|m| DbUuid(m.as_uuid())),
            display_name: s.display_name.clone(),
            title: s.title.clone(),
            snapshot,
            created_at: DbTime(s.created_at),
            updated_at: DbTime(s.updated_at),
        })
    }
}

impl TryFrom<ShareRow> for Share {
    type Error = DbError;
    fn try_from(r: ShareRow) -> Result<Self, DbError> {
        let snapshot: Option<Vec<SharedMessage>> = r
            .snapshot
            .map(|j| serde_json::from_value(j.0))
            .transpose()
            .map_err(|e| corrupt("snapshot", e))?;
        Ok(Share {
            id: r.id,
            thread_id: ThreadId::from_uuid(r.thread_id.0),
            owner: Owner::from_stored(r.owner),
            org_id: r.org_id.map(OrgId::from_stored),
            mode: ShareMode::parse(&r.mode).ok_or_else(|| corrupt("mode", r.mode.clone()))?,
            audience: Audience::parse(&r.audience)
                .ok_or_else(|| corrupt("audience", r.audience.clone()))?,
            leaf_id: r.leaf_id.map(|m| MessageId::from_uuid(m.0)),
            display_name: r.display_name,
            title: r.title,
            snapshot,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

impl ShareStore for SqlStore {
    async fn insert_share(&self, share: Share) -> Result<Share, AppError> {
        let row = ShareRow::of(&share)?;
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(shares::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        });
        r?;
        Ok(share)
    }

    async fn get_share(&self, id: &str) -> Result<Option<Share>, AppError> {
        let r: Result<Option<Share>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<ShareRow> = shares::table
                .filter(shares::id.eq(id))
                .select(ShareRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(Share::try_from).transpose()
        });
        Ok(r?)
    }

    async fn list_shares(&self, thread_id: ThreadId) -> Result<Vec<Share>, AppError> {
        let r: Result<Vec<Share>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<ShareRow> = shares::table
                .filter(shares::thread_id.eq(DbUuid(thread_id.as_uuid())))
                .select(ShareRow::as_select())
                .order((shares::created_at.asc(), shares::id.asc()))
                .load(conn)
                .await?;
            rows.into_iter().map(Share::try_from).collect()
        });
        Ok(r?)
    }

    async fn refresh_share(&self, share: Share) -> Result<Share, AppError> {
        let row = ShareRow::of(&share)?;
        let r: Result<usize, DbError> = with_conn!(self, |conn, _d| {
            Ok(diesel::update(shares::table.filter(shares::id.eq(&row.id)))
                .set((
                    shares::title.eq(&row.title),
                    shares::snapshot.eq(&row.snapshot),
                    shares::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await?)
        });
        if r? == 0 {
            return Err(AppError::ShareNotFound);
        }
        Ok(share)
    }

    async fn delete_share(&self, thread_id: ThreadId, id: &str) -> Result<bool, AppError> {
        let r: Result<usize, DbError> = with_conn!(self, |conn, _d| {
            Ok(diesel::delete(
                shares::table
                    .filter(shares::id.eq(id))
                    .filter(shares::thread_id.eq(DbUuid(thread_id.as_uuid()))),
            )
            .execute(conn)
            .await?)
        });
        Ok(r? > 0)
    }
}
