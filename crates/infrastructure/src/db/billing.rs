//! Balances on both backends: credits, the ledger, holds and debits — a reply's hold is
//! placed in `begin_reply` ([`place_hold`]), an unstored completion's here, and every debit
//! with its usage ([`debit`], in `add_usage`). A balance is an account within an organization
//! (`org_id`, '' for none).
//!
//! Concurrency: every write first locks the balance row (an `UPDATE` that changes nothing, or
//! the debit's own `UPDATE`, which takes the row lock on PostgreSQL; SQLite writers are
//! serialized anyway), so two holds taken at once on different instances see each other, and a
//! ledger entry's `seq` (the balance's last plus one, read under that lock) follows the order
//! the entries commit in.

use chat_threads_application::AppError;
use chat_threads_application::billing::{
    Balance, BalanceStore, Charge, Hold, LedgerCursor, LedgerEntry, NewCredit,
};
use chat_threads_domain::{MessageId, ThreadId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::{AsConn, Conn};
use super::dialect::Dialect;
use super::error::DbError;
use super::prepared::{self, Bind};
use super::schema::{balance_holds as h, balance_ledger as l, balances as b};
use super::store::SqlStore;
use super::types::{DbTime, DbUuid};

/// A ledger row.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = l)]
pub(super) struct LedgerRow {
    pub(super) id: DbUuid,
    pub(super) account: String,
    pub(super) kind: String,
    pub(super) amount: i64,
    pub(super) balance_after: i64,
    pub(super) model: Option<String>,
    pub(super) prompt_tokens: Option<i64>,
    pub(super) completion_tokens: Option<i64>,
    pub(super) thread_id: Option<DbUuid>,
    pub(super) message_id: Option<DbUuid>,
    pub(super) note: Option<String>,
    pub(super) actor: Option<String>,
    pub(super) created_at: DbTime,
    pub(super) org_id: String,
    pub(super) seq: i64,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            id: r.id.0,
            seq: r.seq,
            account: r.account,
            kind: r.kind,
            amount: r.amount,
            balance_after: r.balance_after,
            model: r.model,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            thread_id: r.thread_id.map(|t| ThreadId::from_uuid(t.0)),
            message_id: r.message_id.map(|m| MessageId::from_uuid(m.0)),
            note: r.note,
            actor: r.actor,
            created_at: r.created_at.0,
        }
    }
}

/// The stored form of a balance's organization ('' for none).
pub(super) fn org_key(org: Option<&str>) -> &str {
    org.unwrap_or("")
}

/// One number read by raw SQL.
#[derive(QueryableByName)]
pub(super) struct Number {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// What is held from a balance: by replies still streaming (a hold whose reply ended any way
/// at all — finished, failed, recovered after a crash, deleted — no longer counts) and by
/// unstored completions still running (their holds go when they end or their instance dies).
const LIVE_HOLDS: &str = "SELECT CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) AS n \
     FROM balance_holds h WHERE h.account = ? AND h.org_id = ? AND (h.instance IS NOT NULL \
     OR EXISTS (SELECT 1 FROM messages m WHERE m.id = h.message_id AND m.status = 'streaming'))";

/// Reply holds whose reply no longer streams: deleted when the balance takes a new hold.
const DEAD_HOLDS: &str = "DELETE FROM balance_holds WHERE account = ? AND org_id = ? \
     AND instance IS NULL AND NOT EXISTS (SELECT 1 FROM messages m \
     WHERE m.id = balance_holds.message_id AND m.status = 'streaming')";

/// The next `seq` of a balance's ledger (read under the balance's lock).
const NEXT_SEQ: &str = "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) AS n \
     FROM balance_ledger WHERE account = ? AND org_id = ?";

/// Completion holds of instances that are gone. SQLite is one instance: every instance but this
/// one is gone; on PostgreSQL an instance lives while one of its connections is open.
const DEAD_INSTANCE_HOLDS_SQLITE: &str =
    "DELETE FROM balance_holds WHERE instance IS NOT NULL AND instance <> ?";

const DEAD_INSTANCE_HOLDS_PG: &str = "DELETE FROM balance_holds WHERE instance IS NOT NULL AND instance <> ? \
     AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
     WHERE a.application_name = 'ct:' || balance_holds.instance)";

/// What is held from a balance, read inside the caller's connection or transaction.
pub(super) async fn live_holds(c: Conn<'_>, account: &str, org: &str) -> Result<i64, DbError> {
    with_conn!(on c, |conn, _d| {
        let held: Number = prepared::sql(LIVE_HOLDS)
            .bind::<Text, _>(account)
            .bind::<Text, _>(org)
            .get_result(conn)
            .await?;
        Ok(held.n)
    })
}

/// The next `seq` of a balance's ledger, inside the transaction that locked the balance.
pub(super) async fn next_seq(c: Conn<'_>, account: &str, org: &str) -> Result<i64, DbError> {
    with_conn!(on c, |conn, _d| {
        let next: Number = prepared::sql(NEXT_SEQ)
            .bind::<Text, _>(account)
            .bind::<Text, _>(org)
            .get_result(conn)
            .await?;
        Ok(next.n)
    })
}

/// Locks a balance row and reads its amount; `None` if the balance has none.
pub(super) async fn lock_balance(
    c: Conn<'_>,
    account: &str,
    org: &str,
) -> Result<Option<i64>, DbError> {
    with_conn!(on c, |conn, _d| {
        Ok(diesel::update(
            b::table
                .filter(b::account.eq(account))
                .filter(b::org_id.eq(org)),
        )
        .set(b::amount.eq(b::amount))
        .returning(b::amount)
        .get_result(conn)
        .await
        .optional()?)
    })
}

/// Places a hold keyed by `id` (a reply's id; `instance` `None`), or one of an unstored
/// completion that `instance` runs — or refuses with `InsufficientBalance` when the balance
/// minus what is held cannot cover it. Inside the caller's transaction.
pub(super) async fn place_hold(
    mut c: Conn<'_>,
    hold: &Hold,
    id: uuid::Uuid,
    instance: Option<&str>,
    now: chat_threads_domain::Timestamp,
) -> Result<(), DbError> {
    let org = org_key(hold.org.as_deref());
    let balance = lock_balance(c.any(), &hold.account, org)
        .await?
        .unwrap_or(0);
    with_conn!(on c.any(), |conn, _d| {
        prepared::sql(DEAD_HOLDS)
            .bind::<Text, _>(&hold.account)
            .bind::<Text, _>(org)
            .execute(conn)
            .await?;
        Ok::<_, DbError>(())
    })?;
    let held = live_holds(c.any(), &hold.account, org).await?;
    let available = balance.saturating_sub(held);
    if available < hold.amount {
        return Err(DbError(AppError::InsufficientBalance {
            account: hold.account.clone(),
            balance,
            held,
            available,
            required: hold.amount,
        }));
    }
    with_conn!(on c, |conn, _d| {
        diesel::insert_into(h::table)
            .values((
                h::message_id.eq(DbUuid(id)),
                h::account.eq(&hold.account),
                h::org_id.eq(org),
                h::amount.eq(hold.amount),
                h::instance.eq(instance),
                h::created_at.eq(DbTime(now)),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Debits a charge and writes its ledger entry, numbered after the balance's last one (the
/// hold it settles goes too). Inside the transaction that records the usage.
pub(super) async fn debit(
    mut c: Conn<'_>,
    charge: &Charge,
    model: &str,
    usage: &chat_threads_application::usage::Usage,
) -> Result<(), DbError> {
    let org = org_key(charge.org.as_deref());
    let now = charge.at;
    let after = with_conn!(on c.any(), |conn, _d| {
        let after: Option<i64> = diesel::update(
            b::table
                .filter(b::account.eq(&charge.account))
                .filter(b::org_id.eq(org)),
        )
        .set((
            b::amount.eq(b::amount - charge.amount),
            b::updated_at.eq(DbTime(now)),
        ))
        .returning(b::amount)
        .get_result(conn)
        .await
        .optional()?;
        let after = match after {
            Some(a) => a,
            None => {
                diesel::insert_into(b::table)
                    .values((
                        b::account.eq(&charge.account),
                        b::org_id.eq(org),
                        b::amount.eq(-charge.amount),
                        b::created_at.eq(DbTime(now)),
                        b::updated_at.eq(DbTime(now)),
                    ))
                    .execute(conn)
                    .await?;
                -charge.amount
            }
        };
        if let Some(hold) = charge.hold {
            diesel::delete(h::table.filter(h::message_id.eq(DbUuid(hold))))
                .execute(conn)
                .await?;
        }
        Ok::<_, DbError>(after)
    })?;
    let seq = next_seq(c.any(), &charge.account, org).await?;
    with_conn!(on c, |conn, _d| {
        diesel::insert_into(l::table)
            .values(LedgerRow {
                id: DbUuid(charge.id),
                account: charge.account.clone(),
                kind: charge.kind.as_str().to_owned(),
                amount: -charge.amount,
                balance_after: after,
                model: Some(model.to_owned()),
                prompt_tokens: Some(i64::from(usage.prompt_tokens)),
                completion_tokens: Some(i64::from(usage.completion_tokens)),
                thread_id: charge.thread_id.map(|t| DbUuid(t.as_uuid())),
                message_id: charge.message_id.map(|m| DbUuid(m.as_uuid())),
                note: None,
                actor: None,
                created_at: DbTime(now),
                org_id: org.to_owned(),
                seq,
            })
            .execute(conn)
            .await?;
        Ok(())
    })
}

impl BalanceStore for SqlStore {
    async fn balance(&self, account: &str, org: Option<&str>) -> Result<Option<Balance>, AppError> {
        let key = org_key(org);
        let r: Result<Option<Balance>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<(i64, DbTime)> = b::table
                .filter(b::account.eq(account))
                .filter(b::org_id.eq(key))
                .select((b::amount, b::updated_at))
                .first(conn)
                .await
                .optional()?;
            let Some((amount, updated_at)) = row else {
                return Ok(None);
            };
            let held = live_holds(conn.any(), account, key).await?;
            Ok(Some(Balance {
                account: account.to_owned(),
                org_id: org.map(str::to_owned),
                amount,
                held,
                updated_at: Some(updated_at.0),
            }))
        });
        Ok(r?)
    }

    async fn hold(&self, hold: &Hold, id: uuid::Uuid, instance: &str) -> Result<(), AppError> {
        let now = chat_threads_domain::to_micros(chrono::Utc::now());
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            place_hold(conn.any(), hold, id, Some(instance), now).await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn release_hold(&self, id: uuid::Uuid) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::delete(h::table.filter(h::message_id.eq(DbUuid(id))))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn release_dead_holds(&self, me: &str) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = with_conn!(self, |conn, dialect| {
            let sql = match dialect {
                Dialect::Sqlite => DEAD_INSTANCE_HOLDS_SQLITE,
                Dialect::Postgres => DEAD_INSTANCE_HOLDS_PG,
            };
            let n = prepared::sql(sql).bind::<Text, _>(me).execute(conn).await?;
            Ok(n as u64)
        });
        Ok(r?)
    }

    async fn credit(&self, c: NewCredit) -> Result<(Balance, LedgerEntry), AppError> {
        let org = org_key(c.org_id.as_deref()).to_owned();
        let r: Result<(Balance, LedgerEntry), DbError> = write_tx!(self, |conn, _d| {
            let current = lock_balance(conn.any(), &c.account, &org).await?;
            let after = c.apply_to(current.unwrap_or(0))?;
            if current.is_some() {
                diesel::update(
                    b::table
                        .filter(b::account.eq(&c.account))
                        .filter(b::org_id.eq(&org)),
                )
                .set((b::amount.eq(after), b::updated_at.eq(DbTime(c.at))))
                .execute(conn)
                .await?;
            } else {
                diesel::insert_into(b::table)
                    .values((
                        b::account.eq(&c.account),
                        b::org_id.eq(&org),
                        b::amount.eq(after),
                        b::created_at.eq(DbTime(c.at)),
                        b::updated_at.eq(DbTime(c.at)),
                    ))
                    .execute(conn)
                    .await?;
            }
            let seq = next_seq(conn.any(), &c.account, &org).await?;
            let entry = LedgerRow {
                id: DbUuid(c.id),
                account: c.account.clone(),
                kind: "credit".to_owned(),
                amount: c.amount,
                balance_after: after,
                model: None,
                prompt_tokens: None,
                completion_tokens: None,
                thread_id: None,
                message_id: None,
                note: c.note.clone(),
                actor: Some(c.actor.clone()),
                created_at: DbTime(c.at),
                org_id: org.clone(),
                seq,
            };
            diesel::insert_into(l::table)
                .values(&entry)
                .execute(conn)
                .await?;
            let held = live_holds(conn.any(), &c.account, &org).await?;
            let balance = Balance {
                account: c.account.clone(),
                org_id: c.org_id.clone(),
                amount: after,
                held,
                updated_at: Some(c.at),
            };
            Ok((balance, LedgerEntry::from(entry)))
        });
        Ok(r?)
    }

    async fn ledger(
        &self,
        account: &str,
        org: Option<&str>,
        after: Option<LedgerCursor>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, AppError> {
        let key = org_key(org);
        let r: Result<Vec<LedgerEntry>, DbError> = with_conn!(self, |conn, _d| {
            let mut query = l::table
                .filter(l::account.eq(account))
                .filter(l::org_id.eq(key))
                .select(LedgerRow::as_select())
                .order(l::seq.desc())
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(l::seq.lt(after.seq));
            }
            let rows: Vec<LedgerRow> = query.load(conn).await?;
            Ok(rows.into_iter().map(LedgerEntry::from).collect())
        });
        Ok(r?)
    }
}
