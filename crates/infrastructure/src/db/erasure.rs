//! Erasure jobs on both backends: threads removed batch by batch, then the principal's files,
//! memberships, authorship, ledger, usage, sessions and account in one transaction.

use chat_threads_application::AppError;
use chat_threads_application::erasure::{Erasure, ErasureCounts, ErasureStatus, ErasureStore};
use chat_threads_domain::{OrgId, Owner, Timestamp};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::{AsConn, Conn};
use super::error::{DbError, corrupt};
use super::prepared::{self, Bind};
use super::schema::{
    accounts, erasures, file_parts, file_usage, files, idempotency_keys, legal_holds, messages,
    sessions, thread_members, threads, usage_daily, usage_model_daily,
};
use super::store::{SqlStore, constant};
use super::types::{DbJson, DbTime, DbUuid};

type ErasureRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    DbJson,
    DbTime,
    DbTime,
    Option<DbTime>,
);

fn erasure_of(r: ErasureRow) -> Result<Erasure, DbError> {
    let (id, principal, org, by, status, counts, created, updated, finished) = r;
    Ok(Erasure {
        id,
        principal: Owner::from_stored(principal),
        org_id: org.map(OrgId::from_stored),
        requested_by: by,
        status: ErasureStatus::parse(&status).ok_or_else(|| corrupt("status", status.clone()))?,
        counts: serde_json::from_value(counts.0).map_err(|e| corrupt("counts", e))?,
        created_at: created.0,
        updated_at: updated.0,
        finished_at: finished.map(|t| t.0),
    })
}

/// The columns of an [`ErasureRow`].
const ERASURE_COLUMNS: (
    erasures::id,
    erasures::principal,
    erasures::org_id,
    erasures::requested_by,
    erasures::status,
    erasures::counts,
    erasures::created_at,
    erasures::updated_at,
    erasures::finished_at,
) = (
    erasures::id,
    erasures::principal,
    erasures::org_id,
    erasures::requested_by,
    erasures::status,
    erasures::counts,
    erasures::created_at,
    erasures::updated_at,
    erasures::finished_at,
);

/// Moves the principal `from`'s rows of a balance table to the anonymous account `to` (their
/// amounts stay), within `org` if given; how many. `table` and `column` are fixed names.
async fn anonymize(
    c: Conn<'_>,
    (table, column): (&'static str, &'static str),
    from: &str,
    to: &str,
    org: Option<&str>,
) -> Result<u64, DbError> {
    let mut sql = format!("UPDATE {table} SET {column} = ? WHERE {column} = ?");
    if org.is_some() {
        sql.push_str(" AND org_id = ?");
    }
    with_conn!(on c, |conn, _d| {
        let q = prepared::sql(sql)
            .bind::<Text, _>(to)
            .bind::<Text, _>(from);
        let n = match org {
            Some(o) => q.bind::<Text, _>(o).execute(conn).await?,
            None => q.execute(conn).await?,
        };
        Ok(n as u64)
    })
}

impl ErasureStore for SqlStore {
    async fn start_erasure(&self, e: Erasure) -> Result<Erasure, AppError> {
        let r: Result<Erasure, DbError> = write_tx!(self, |conn, _d| {
            let mut q = erasures::table
                .filter(erasures::principal.eq(e.principal.as_str()))
                .filter(erasures::status.eq(constant("running")))
                .select(ERASURE_COLUMNS)
                .into_boxed();
            q = match &e.org_id {
                Some(o) => q.filter(erasures::org_id.eq(o.as_str())),
                None => q.filter(erasures::org_id.is_null()),
            };
            let running: Option<ErasureRow> = q.first(conn).await.optional()?;
            if let Some(r) = running {
                return erasure_of(r);
            }
            diesel::insert_into(erasures::table)
                .values((
                    erasures::id.eq(&e.id),
                    erasures::principal.eq(e.principal.as_str()),
                    erasures::org_id.eq(e.org_id.as_ref().map(|o| o.as_str())),
                    erasures::requested_by.eq(&e.requested_by),
                    erasures::status.eq(e.status.as_str()),
                    erasures::counts.eq(DbJson(serde_json::json!(e.counts))),
                    erasures::created_at.eq(DbTime(e.created_at)),
                    erasures::updated_at.eq(DbTime(e.updated_at)),
                ))
                .execute(conn)
                .await?;
            Ok(e.clone())
        });
        Ok(r?)
    }

    async fn get_erasure(&self, id: &str) -> Result<Option<Erasure>, AppError> {
        let r: Result<Option<Erasure>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<ErasureRow> = erasures::table
                .filter(erasures::id.eq(id))
                .select(ERASURE_COLUMNS)
                .first(conn)
                .await
                .optional()?;
            row.map(erasure_of).transpose()
        });
        Ok(r?)
    }

    async fn stalled_erasures(&self, before: Timestamp) -> Result<Vec<Erasure>, AppError> {
        let r: Result<Vec<Erasure>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<ErasureRow> = erasures::table
                .filter(erasures::status.eq(constant("running")))
                .filter(erasures::updated_at.lt(DbTime(before)))
                .select(ERASURE_COLUMNS)
                .order(erasures::created_at)
                .load(conn)
                .await?;
            rows.into_iter().map(erasure_of).collect()
        });
        Ok(r?)
    }

    async fn erasure_held(&self, e: &Erasure) -> Result<bool, AppError> {
        let p = e.principal.as_str();
        let org = e.org_id.as_ref().map(|o| o.as_str().to_owned());
        let r: Result<bool, DbError> = with_conn!(self, |conn, _d| {
            let mut principal = legal_holds::table
                .filter(legal_holds::principal.eq(p))
                .select(legal_holds::id)
                .into_boxed();
            if let Some(o) = &org {
                principal = principal.filter(legal_holds::org_id.eq(o));
            }
            let held: Option<String> = principal.first(conn).await.optional()?;
            if held.is_some() {
                return Ok(true);
            }
            let mut owned = threads::table
                .filter(threads::owner.eq(p))
                .select(threads::id.nullable())
                .into_boxed();
            if let Some(o) = &org {
                owned = owned.filter(threads::org_id.eq(o));
            }
            let thread_held: Option<String> = legal_holds::table
                .filter(legal_holds::thread_id.eq_any(owned))
                .select(legal_holds::id)
                .first(conn)
                .await
                .optional()?;
            Ok(thread_held.is_some())
        });
        Ok(r?)
    }

    async fn erase_batch(
        &self,
        e: &Erasure,
        batch: u32,
    ) -> Result<(ErasureCounts, bool), AppError> {
        let p = e.principal.as_str().to_owned();
        let org = e.org_id.as_ref().map(|o| o.as_str().to_owned());
        let anon = e.anonymous();
        let limit = i64::from(batch);
        // Their threads first, `batch` at a time (each with everything in it: cascades).
        let (owner, scope) = (p.clone(), org.clone());
        let removed: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let mut q = threads::table
                .filter(threads::owner.eq(&owner))
                .select(threads::id)
                .limit(limit)
                .into_boxed();
            if let Some(o) = &scope {
                q = q.filter(threads::org_id.eq(o));
            }
            let ids: Vec<DbUuid> = q.load(conn).await?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(
                diesel::delete(threads::table.filter(threads::id.eq_any(&ids)))
                    .execute(conn)
                    .await? as u64,
            )
        });
        let removed = removed?;
        if removed > 0 {
            let counts = ErasureCounts {
                threads: removed,
                ..ErasureCounts::default()
            };
            return Ok((counts, false));
        }
        // Then the rest, in one transaction.
        let r: Result<(ErasureCounts, Vec<(DbUuid, i32)>), DbError> = write_tx!(self, |conn, d| {
            let mut c = ErasureCounts::default();
            let in_org = |o: &str| {
                threads::table
                    .filter(threads::org_id.eq(o.to_owned()))
                    .select(threads::id)
            };
            // Files, with their parts; the object store's bytes after the commit.
            let mut fq = files::table
                .filter(files::owner.eq(&p))
                .select((files::id, files::parts, files::size))
                .into_boxed();
            if let Some(o) = &org {
                fq = fq.filter(files::org_id.eq(o));
            }
            let gone: Vec<(DbUuid, i32, i64)> = fq.load(conn).await?;
            let ids: Vec<DbUuid> = gone.iter().map(|g| g.0).collect();
            diesel::delete(file_parts::table.filter(file_parts::file_id.eq_any(&ids)))
                .execute(conn)
                .await?;
            c.files = diesel::delete(files::table.filter(files::id.eq_any(&ids)))
                .execute(conn)
                .await? as u64;
            let bytes: i64 = gone.iter().map(|g| g.2).sum();
            diesel::update(file_usage::table.filter(file_usage::owner.eq(&p)))
                .set(file_usage::bytes.eq(file_usage::bytes - bytes))
                .execute(conn)
                .await?;
            // Memberships and authorship in others' threads.
            c.memberships = match &org {
                Some(o) => {
                    diesel::delete(
                        thread_members::table
                            .filter(thread_members::principal.eq(&p))
                            .filter(thread_members::thread_id.eq_any(in_org(o))),
                    )
                    .execute(conn)
                    .await?
                }
                None => {
                    diesel::delete(thread_members::table.filter(thread_members::principal.eq(&p)))
                        .execute(conn)
                        .await?
                }
            } as u64;
            // Their threads' change feed entries (copies of what was said) and the webhook
            // deliveries made of them; their own webhooks.
            {
                use super::schema::{feed_events as fe, webhook_deliveries as wd, webhooks as wh};
                let mut mine = fe::table.filter(fe::owner.eq(&p)).into_boxed();
                if let Some(o) = &org {
                    mine = mine.filter(fe::org_id.eq(o));
                }
                let threads_of: Vec<DbUuid> =
                    mine.select(fe::thread_id).distinct().load(conn).await?;
                diesel::delete(wd::table.filter(wd::thread_id.eq_any(&threads_of)))
                    .execute(conn)
                    .await?;
                let mut gone = diesel::delete(fe::table)
                    .filter(fe::owner.eq(&p))
                    .into_boxed();
                if let Some(o) = &org {
                    gone = gone.filter(fe::org_id.eq(o));
                }
                gone.execute(conn).await?;
                // And those still in the outbox (PostgreSQL), before they reach the log.
                if d == super::Dialect::Postgres {
                    use super::prepared::Bind as _;
                    match &org {
                        Some(o) => {
                            super::prepared::sql(
                                "DELETE FROM feed_outbox WHERE owner = ? AND org_id = ?",
                            )
                            .bind::<diesel::sql_types::Text, _>(p.as_str())
                            .bind::<diesel::sql_types::Text, _>(o.as_str())
                            .execute(conn)
                            .await?
                        }
                        None => {
                            super::prepared::sql("DELETE FROM feed_outbox WHERE owner = ?")
                                .bind::<diesel::sql_types::Text, _>(p.as_str())
                                .execute(conn)
                                .await?
                        }
                    };
                }
                let hooks: Vec<DbUuid> = wh::table
                    .filter(wh::owner.eq(&p))
                    .select(wh::id)
                    .load(conn)
                    .await?;
                diesel::delete(wd::table.filter(wd::webhook_id.eq_any(&hooks)))
                    .execute(conn)
                    .await?;
                diesel::delete(wh::table.filter(wh::id.eq_any(&hooks)))
                    .execute(conn)
                    .await?;
            }
            let author = (
                messages::author.eq(Some("erased")),
                messages::author_name.eq(None::<String>),
            );
            c.authored_messages = match &org {
                Some(o) => {
                    diesel::update(
                        messages::table
                            .filter(messages::author.eq(&p))
                            .filter(messages::thread_id.eq_any(in_org(o))),
                    )
                    .set(author)
                    .execute(conn)
                    .await?
                }
                None => {
                    diesel::update(messages::table.filter(messages::author.eq(&p)))
                        .set(author)
                        .execute(conn)
                        .await?
                }
            } as u64;
            // Amounts stay, under the anonymous account.
            c.ledger_entries = 0;
            for table in [
                ("balance_ledger", "actor"),
                ("balance_ledger", "account"),
                ("balances", "account"),
                ("balance_holds", "account"),
            ] {
                c.ledger_entries += anonymize(conn.any(), table, &p, &anon, org.as_deref()).await?;
            }
            // Usage (counts only) under the anonymous account; the idempotency records
            // (stored responses) go.
            c.usage_rows = diesel::update(usage_daily::table.filter(usage_daily::owner.eq(&p)))
                .set(usage_daily::owner.eq(&anon))
                .execute(conn)
                .await? as u64
                + diesel::update(usage_model_daily::table.filter(usage_model_daily::owner.eq(&p)))
                    .set(usage_model_daily::owner.eq(&anon))
                    .execute(conn)
                    .await? as u64;
            c.sessions_and_accounts +=
                diesel::delete(idempotency_keys::table.filter(idempotency_keys::owner.eq(&p)))
                    .execute(conn)
                    .await? as u64;
            // An anonymous session: its organization's (or, for its own erasure, any).
            if let Some(session) = p.strip_prefix("anon:") {
                c.sessions_and_accounts += match &org {
                    Some(o) => {
                        diesel::delete(
                            sessions::table
                                .filter(sessions::id.eq(session))
                                .filter(sessions::org_id.eq(o)),
                        )
                        .execute(conn)
                        .await?
                    }
                    None => {
                        diesel::delete(sessions::table.filter(sessions::id.eq(session)))
                            .execute(conn)
                            .await?
                    }
                } as u64;
            }
            // A built-in account belongs to no organization: only its own erasure ends it.
            if org.is_none()
                && let Some(account) = p
                    .strip_prefix("user:")
                    .and_then(|a| uuid::Uuid::parse_str(a).ok())
            {
                c.sessions_and_accounts +=
                    diesel::delete(accounts::table.filter(accounts::id.eq(DbUuid(account))))
                        .execute(conn)
                        .await? as u64;
            }
            Ok((c, gone.into_iter().map(|g| (g.0, g.1)).collect()))
        });
        let (counts, objects) = r?;
        self.drop_objects(objects).await;
        Ok((counts, true))
    }

    async fn save_erasure(&self, e: &Erasure) -> Result<(), AppError> {
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::update(erasures::table.filter(erasures::id.eq(&e.id)))
                .set((
                    erasures::status.eq(e.status.as_str()),
                    erasures::counts.eq(DbJson(serde_json::json!(e.counts))),
                    erasures::finished_at.eq(e.finished_at.map(DbTime)),
                    erasures::updated_at.eq(DbTime(e.updated_at)),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }
}
