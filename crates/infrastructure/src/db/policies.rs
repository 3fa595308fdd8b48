//! Retention policies and legal holds on both backends, and applying a policy: the threads in
//! its scope (its organization and product, not held) that it deletes for inactivity, and the
//! deleted things in its scope it forgets — in bounded batches, one instance at a time.

use chat_threads_application::AppError;
use chat_threads_application::retention::policies::{Hold, Policy, PolicyOutcome, PolicyStore};
use chat_threads_domain::{OrgId, Owner, ProductName, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::{AsConn, Conn};
use super::error::DbError;
use super::prepared::{self, Bind};
use super::retention::{erase_tombstones, held, sweep_lock};
use super::schema::{legal_holds, messages, retention_policies, threads};
use super::store::SqlStore;
use super::types::sql::{PTime, PUuid};
use super::types::{DbTime, DbUuid};

/// The threads a policy governs (alias `t`): its organization; its product, or, for the
/// organization's default policy, every product without a policy of its own; never a thread
/// under a legal hold (its own, or its owner's in the organization). Binds: org, product ('' for
/// the default), org, product.
static SCOPE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "t.org_id = ? AND (CASE WHEN ? = '' THEN (t.product IS NULL OR t.product NOT IN \
         (SELECT p.product FROM retention_policies p WHERE p.org_id = ? AND p.product <> '')) \
         ELSE t.product = ? END) AND NOT {}",
        held("t")
    )
});

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = PUuid)]
    id: DbUuid,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The ids a scoped selection finds: `sql` (a select of `id` over threads aliased `t` where
/// [`SCOPE`], with one time and a limit bound after it).
async fn scoped_ids(
    c: Conn<'_>,
    p: &Policy,
    sql: String,
    at: DbTime,
    limit: i64,
) -> Result<Vec<DbUuid>, DbError> {
    let product = p.product.as_ref().map_or("", |x| x.as_str());
    with_conn!(on c, |conn, _d| {
        let rows: Vec<IdRow> = prepared::sql(sql)
            .bind::<Text, _>(p.org_id.as_str())
            .bind::<Text, _>(product)
            .bind::<Text, _>(p.org_id.as_str())
            .bind::<Text, _>(product)
            .bind::<PTime, _>(at)
            .bind::<BigInt, _>(limit)
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    })
}

/// How many rows a scoped count finds: `sql` (a `COUNT(*) AS n` where [`SCOPE`], with one time
/// bound after it).
async fn scoped_count(c: Conn<'_>, p: &Policy, sql: String, at: DbTime) -> Result<u64, DbError> {
    let product = p.product.as_ref().map_or("", |x| x.as_str());
    with_conn!(on c, |conn, _d| {
        let c: Count = prepared::sql(sql)
            .bind::<Text, _>(p.org_id.as_str())
            .bind::<Text, _>(product)
            .bind::<Text, _>(p.org_id.as_str())
            .bind::<Text, _>(product)
            .bind::<PTime, _>(at)
            .get_result(conn)
            .await?;
        Ok(c.n as u64)
    })
}

fn inactive_sql(select: &str, tail: &str) -> String {
    format!(
        "SELECT {select} FROM threads t WHERE {scope} AND t.deleted_at IS NULL AND NOT t.pinned \
         AND t.updated_at < ? {tail}",
        scope = *SCOPE
    )
}

fn deleted_threads_sql(select: &str, tail: &str) -> String {
    format!(
        "SELECT {select} FROM threads t WHERE {scope} AND t.deleted_at < ? {tail}",
        scope = *SCOPE
    )
}

fn deleted_messages_sql(select: &str, cond: &str, tail: &str) -> String {
    format!(
        "SELECT {select} FROM messages m JOIN threads t ON t.id = m.thread_id \
         WHERE {scope} AND {cond} {tail}",
        scope = *SCOPE
    )
}

impl PolicyStore for SqlStore {
    async fn put_policy(&self, p: Policy) -> Result<Policy, AppError> {
        let product = p
            .product
            .as_ref()
            .map_or(String::new(), |x| x.as_str().to_owned());
        let kept = p.clone();
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::delete(
                retention_policies::table
                    .filter(retention_policies::org_id.eq(p.org_id.as_str()))
                    .filter(retention_policies::product.eq(&product)),
            )
            .execute(conn)
            .await?;
            diesel::insert_into(retention_policies::table)
                .values((
                    retention_policies::org_id.eq(p.org_id.as_str()),
                    retention_policies::product.eq(&product),
                    retention_policies::delete_inactive_days
                        .eq(p.delete_inactive_days.map(|d| d as i32)),
                    retention_policies::erase_deleted_days
                        .eq(p.erase_deleted_days.map(|d| d as i32)),
                    retention_policies::updated_at.eq(DbTime(p.updated_at)),
                    retention_policies::updated_by.eq(&p.updated_by),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        r?;
        Ok(kept)
    }

    async fn list_policies(&self, org: Option<&OrgId>) -> Result<Vec<Policy>, AppError> {
        type Row = (String, String, Option<i32>, Option<i32>, DbTime, String);
        let r: Result<Vec<Row>, DbError> = with_conn!(self, |conn, _d| {
            let mut q = retention_policies::table
                .select((
                    retention_policies::org_id,
                    retention_policies::product,
                    retention_policies::delete_inactive_days,
                    retention_policies::erase_deleted_days,
                    retention_policies::updated_at,
                    retention_policies::updated_by,
                ))
                .order((retention_policies::org_id, retention_policies::product))
                .into_boxed();
            if let Some(org) = org {
                q = q.filter(retention_policies::org_id.eq(org.as_str()));
            }
            Ok(q.load(conn).await?)
        });
        Ok(r?
            .into_iter()
            .map(|(org, product, del, erase, at, by)| Policy {
                org_id: OrgId::from_stored(org),
                product: (!product.is_empty()).then(|| ProductName::from_stored(product)),
                delete_inactive_days: del.map(|d| d.max(1) as u32),
                erase_deleted_days: erase.map(|d| d.max(1) as u32),
                updated_at: at.0,
                updated_by: by,
            })
            .collect())
    }

    async fn delete_policy(
        &self,
        org: &OrgId,
        product: Option<&ProductName>,
    ) -> Result<bool, AppError> {
        let product = product.map_or("", |p| p.as_str());
        let r: Result<usize, DbError> = write_tx!(self, |conn, _d| {
            Ok(diesel::delete(
                retention_policies::table
                    .filter(retention_policies::org_id.eq(org.as_str()))
                    .filter(retention_policies::product.eq(product)),
            )
            .execute(conn)
            .await?)
        });
        Ok(r? > 0)
    }

    async fn add_hold(&self, h: Hold) -> Result<Hold, AppError> {
        let kept = h.clone();
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            if let Some(t) = h.thread_id {
                let found: Option<DbUuid> = threads::table
                    .filter(threads::id.eq(DbUuid(t.as_uuid())))
                    .filter(threads::org_id.eq(h.org_id.as_str()))
                    .select(threads::id)
                    .first(conn)
                    .await
                    .optional()?;
                if found.is_none() {
                    return Err(DbError(AppError::ThreadNotFound));
                }
            }
            diesel::insert_into(legal_holds::table)
                .values((
                    legal_holds::id.eq(&h.id),
                    legal_holds::org_id.eq(h.org_id.as_str()),
                    legal_holds::thread_id.eq(h.thread_id.map(|t| DbUuid(t.as_uuid()))),
                    legal_holds::principal.eq(h.principal.as_ref().map(|p| p.as_str())),
                    legal_holds::reason.eq(&h.reason),
                    legal_holds::created_at.eq(DbTime(h.created_at)),
                    legal_holds::created_by.eq(&h.created_by),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        r?;
        Ok(kept)
    }

    async fn list_holds(&self, org: &OrgId) -> Result<Vec<Hold>, AppError> {
        type Row = (
            String,
            Option<DbUuid>,
            Option<String>,
            String,
            DbTime,
            String,
        );
        let r: Result<Vec<Row>, DbError> = with_conn!(self, |conn, _d| {
            Ok(legal_holds::table
                .filter(legal_holds::org_id.eq(org.as_str()))
                .select((
                    legal_holds::id,
                    legal_holds::thread_id,
                    legal_holds::principal,
                    legal_holds::reason,
                    legal_holds::created_at,
                    legal_holds::created_by,
                ))
                .order((legal_holds::created_at, legal_holds::id))
                .load(conn)
                .await?)
        });
        Ok(r?
            .into_iter()
            .map(|(id, thread, principal, reason, at, by)| Hold {
                id,
                org_id: org.clone(),
                thread_id: thread.map(|t| ThreadId::from_uuid(t.0)),
                principal: principal.map(Owner::from_stored),
                reason,
                created_at: at.0,
                created_by: by,
            })
            .collect())
    }

    async fn remove_hold(&self, org: &OrgId, id: &str) -> Result<bool, AppError> {
        let r: Result<usize, DbError> = write_tx!(self, |conn, _d| {
            Ok(diesel::delete(
                legal_holds::table
                    .filter(legal_holds::org_id.eq(org.as_str()))
                    .filter(legal_holds::id.eq(id)),
            )
            .execute(conn)
            .await?)
        });
        Ok(r? > 0)
    }

    async fn apply_policy(
        &self,
        p: &Policy,
        now: Timestamp,
        batch: u32,
        dry_run: bool,
    ) -> Result<PolicyOutcome, AppError> {
        let limit = i64::from(batch);
        let inactive = p
            .delete_inactive_days
            .map(|d| DbTime(now - chrono::TimeDelta::days(i64::from(d))));
        let forget = p
            .erase_deleted_days
            .map(|d| DbTime(now - chrono::TimeDelta::days(i64::from(d))));
        let order = "ORDER BY t.updated_at, t.id LIMIT ?";
        if dry_run {
            let r: Result<PolicyOutcome, DbError> = with_conn!(self, |conn, d| {
                let mut out = PolicyOutcome::default();
                if let Some(at) = inactive {
                    out.threads_deleted =
                        scoped_count(conn.any(), p, inactive_sql("COUNT(*) AS n", ""), at).await?;
                    out.sample =
                        scoped_ids(conn.any(), p, inactive_sql("t.id AS id", order), at, 100)
                            .await?
                            .into_iter()
                            .map(|id| ThreadId::from_uuid(id.0))
                            .collect();
                }
                if let Some(at) = forget {
                    out.forgotten =
                        scoped_count(conn.any(), p, deleted_threads_sql("COUNT(*) AS n", ""), at)
                            .await?
                            + scoped_count(
                                conn.any(),
                                p,
                                deleted_messages_sql("COUNT(*) AS n", "m.deleted_at < ?", ""),
                                at,
                            )
                            .await?
                            + scoped_count(
                                conn.any(),
                                p,
                                deleted_messages_sql(
                                    "COUNT(*) AS n",
                                    "m.tombstoned_at < ? AND m.erased_at IS NULL",
                                    "",
                                ),
                                at,
                            )
                            .await?;
                }
                Ok(out)
            });
            return Ok(r?);
        }
        let r: Result<PolicyOutcome, DbError> = write_tx!(self, |conn, d| {
            let mut out = PolicyOutcome::default();
            if !sweep_lock(conn.any()).await? {
                return Ok(out);
            }
            if let Some(at) = inactive {
                let ids =
                    scoped_ids(conn.any(), p, inactive_sql("t.id AS id", order), at, limit).await?;
                out.sample = ids.iter().map(|id| ThreadId::from_uuid(id.0)).collect();
                out.threads_deleted =
                    diesel::update(threads::table.filter(threads::id.eq_any(&ids)))
                        .set(threads::deleted_at.eq(Some(DbTime(now))))
                        .execute(conn)
                        .await? as u64;
            }
            if let Some(at) = forget {
                let gone = scoped_ids(
                    conn.any(),
                    p,
                    deleted_threads_sql("t.id AS id", "ORDER BY t.deleted_at, t.id LIMIT ?"),
                    at,
                    limit,
                )
                .await?;
                out.forgotten += diesel::delete(threads::table.filter(threads::id.eq_any(&gone)))
                    .execute(conn)
                    .await? as u64;
                let removed = scoped_ids(
                    conn.any(),
                    p,
                    deleted_messages_sql(
                        "m.id AS id",
                        "m.deleted_at < ?",
                        "ORDER BY m.deleted_at, m.id LIMIT ?",
                    ),
                    at,
                    limit,
                )
                .await?;
                out.forgotten +=
                    diesel::delete(messages::table.filter(messages::id.eq_any(&removed)))
                        .execute(conn)
                        .await? as u64;
                let tombs = scoped_ids(
                    conn.any(),
                    p,
                    deleted_messages_sql(
                        "m.id AS id",
                        "m.tombstoned_at < ? AND m.erased_at IS NULL",
                        "ORDER BY m.tombstoned_at, m.id LIMIT ?",
                    ),
                    at,
                    limit,
                )
                .await?;
                out.forgotten += erase_tombstones(conn.any(), &tombs, now).await?;
            }
            Ok(out)
        });
        Ok(r?)
    }
}
