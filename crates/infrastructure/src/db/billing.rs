//! Balances on both backends: credits, the ledger, and the two writes other transactions make
//! — a reply's hold when it starts ([`place_hold!`], in `begin_reply`) and its debit when its
//! usage is recorded ([`debit!`], in `add_usage`).
//!
//! Concurrency: both writes first lock the balance row (an `UPDATE` that changes nothing, which
//! takes the row lock on PostgreSQL; SQLite writers are serialized anyway), so two replies
//! starting at once on different instances see each other's holds.

use chat_threads_application::AppError;
use chat_threads_application::billing::{
    Balance, BalanceStore, LedgerCursor, LedgerEntry, NewCredit,
};
use chat_threads_domain::{MessageId, ThreadId};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::DbError;
use super::schema::{balance_ledger as l, balances as b};
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
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            id: r.id.0,
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

/// One number read by raw SQL.
#[derive(QueryableByName)]
pub(super) struct Number {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// What the replies still streaming hold from an account (a hold whose reply ended any way at
/// all — finished, failed, recovered after a crash, deleted — no longer counts).
pub(super) const LIVE_HOLDS: &str = "SELECT CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) AS n \
     FROM balance_holds h JOIN messages m ON m.id = h.message_id \
     WHERE h.account = ? AND m.status = 'streaming'";

/// What live replies hold from an account, read inside the caller's connection or transaction.
macro_rules! live_holds {
    ($conn:ident, $account:expr) => {
        $crate::db::prepared::Bind::bind::<diesel::sql_types::Text, _>(
            $crate::db::prepared::sql($crate::db::billing::LIVE_HOLDS),
            $account,
        )
        .get_result::<$crate::db::billing::Number>($conn)
        .await?
        .n
    };
}

/// Holds whose reply no longer streams: deleted when the account takes a new one.
pub(super) const DEAD_HOLDS: &str = "DELETE FROM balance_holds WHERE account = ? AND NOT EXISTS \
     (SELECT 1 FROM messages m WHERE m.id = balance_holds.message_id AND m.status = 'streaming')";

/// Locks a balance row and reads `(amount, org_id)`; `None` if the account has none.
macro_rules! lock_balance {
    ($conn:ident, $account:expr) => {{
        let row: Option<(i64, Option<String>)> = diesel::update(
            $crate::db::schema::balances::table
                .filter($crate::db::schema::balances::account.eq($account)),
        )
        .set($crate::db::schema::balances::amount.eq($crate::db::schema::balances::amount))
        .returning((
            $crate::db::schema::balances::amount,
            $crate::db::schema::balances::org_id,
        ))
        .get_result($conn)
        .await
        .optional()?;
        row
    }};
}

/// Places a reply's hold, or refuses with `InsufficientBalance` when the balance minus the
/// holds of live replies cannot cover it. Inside the reply's starting transaction.
macro_rules! place_hold {
    ($conn:ident, $hold:expr, $message_id:expr, $now:expr) => {{
        let hold: &chat_threads_application::billing::Hold = $hold;
        let balance = lock_balance!($conn, &hold.account).map_or(0, |(amount, _)| amount);
        $crate::db::prepared::Bind::bind::<diesel::sql_types::Text, _>(
            $crate::db::prepared::sql($crate::db::billing::DEAD_HOLDS),
            &hold.account,
        )
        .execute($conn)
        .await?;
        let held = live_holds!($conn, &hold.account);
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
        diesel::insert_into($crate::db::schema::balance_holds::table)
            .values((
                $crate::db::schema::balance_holds::message_id.eq(db_id($message_id)),
                $crate::db::schema::balance_holds::account.eq(&hold.account),
                $crate::db::schema::balance_holds::amount.eq(hold.amount),
                $crate::db::schema::balance_holds::created_at.eq(DbTime($now)),
            ))
            .execute($conn)
            .await?;
    }};
}

/// Debits a charge and writes its ledger entry (a reply's charge also drops its hold). Inside
/// the transaction that records the usage.
macro_rules! debit {
    ($conn:ident, $charge:expr, $model:expr, $usage:expr, $now:expr) => {{
        use $crate::db::schema::{balance_holds as h, balances as b};
        let charge: &chat_threads_application::billing::Charge = $charge;
        let after: Option<i64> = diesel::update(b::table.filter(b::account.eq(&charge.account)))
            .set((
                b::amount.eq(b::amount - charge.amount),
                b::updated_at.eq(DbTime($now)),
            ))
            .returning(b::amount)
            .get_result($conn)
            .await
            .optional()?;
        let after = match after {
            Some(a) => a,
            None => {
                diesel::insert_into(b::table)
                    .values((
                        b::account.eq(&charge.account),
                        b::amount.eq(-charge.amount),
                        b::created_at.eq(DbTime($now)),
                        b::updated_at.eq(DbTime($now)),
                    ))
                    .execute($conn)
                    .await?;
                -charge.amount
            }
        };
        if let (chat_threads_application::billing::ChargeKind::Reply, Some(reply)) =
            (charge.kind, charge.message_id)
        {
            diesel::delete(h::table.filter(h::message_id.eq(DbUuid(reply.as_uuid()))))
                .execute($conn)
                .await?;
        }
        diesel::insert_into($crate::db::schema::balance_ledger::table)
            .values($crate::db::billing::LedgerRow {
                id: DbUuid(charge.id),
                account: charge.account.clone(),
                kind: charge.kind.as_str().to_owned(),
                amount: -charge.amount,
                balance_after: after,
                model: Some($model.to_owned()),
                prompt_tokens: Some(i64::from($usage.prompt_tokens)),
                completion_tokens: Some(i64::from($usage.completion_tokens)),
                thread_id: charge.thread_id.map(|t| DbUuid(t.as_uuid())),
                message_id: charge.message_id.map(|m| DbUuid(m.as_uuid())),
                note: None,
                actor: None,
                created_at: DbTime($now),
            })
            .execute($conn)
            .await?;
    }};
}

impl BalanceStore for SqlStore {
    async fn balance(&self, account: &str) -> Result<Option<Balance>, AppError> {
        let r: Result<Option<Balance>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<(Option<String>, i64, DbTime)> = b::table
                .filter(b::account.eq(account))
                .select((b::org_id, b::amount, b::updated_at))
                .first(conn)
                .await
                .optional()?;
            let Some((org_id, amount, updated_at)) = row else {
                return Ok(None);
            };
            let held = live_holds!(conn, account);
            Ok(Some(Balance {
                account: account.to_owned(),
                org_id,
                amount,
                held,
                updated_at: Some(updated_at.0),
            }))
        });
        Ok(r?)
    }

    async fn credit(&self, c: NewCredit) -> Result<(Balance, LedgerEntry), AppError> {
        let r: Result<(Balance, LedgerEntry), DbError> = write_tx!(self, |conn, _d| {
            let current = lock_balance!(conn, &c.account);
            let exists = current.is_some();
            let (before, org_id) = match current {
                Some((_, org)) if org != c.org_id => {
                    return Err(DbError(AppError::BalanceNotFound));
                }
                Some((amount, org)) => (amount, org),
                None => (0, c.org_id.clone()),
            };
            let after = c.apply_to(before)?;
            if exists {
                diesel::update(b::table.filter(b::account.eq(&c.account)))
                    .set((b::amount.eq(after), b::updated_at.eq(DbTime(c.at))))
                    .execute(conn)
                    .await?;
            } else {
                diesel::insert_into(b::table)
                    .values((
                        b::account.eq(&c.account),
                        b::org_id.eq(&org_id),
                        b::amount.eq(after),
                        b::created_at.eq(DbTime(c.at)),
                        b::updated_at.eq(DbTime(c.at)),
                    ))
                    .execute(conn)
                    .await?;
            }
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
            };
            diesel::insert_into(l::table)
                .values(&entry)
                .execute(conn)
                .await?;
            let held = live_holds!(conn, &c.account);
            let balance = Balance {
                account: c.account.clone(),
                org_id,
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
        after: Option<LedgerCursor>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, AppError> {
        let r: Result<Vec<LedgerEntry>, DbError> = with_conn!(self, |conn, _d| {
            let mut query = l::table
                .filter(l::account.eq(account))
                .select(LedgerRow::as_select())
                .order((l::created_at.desc(), l::id.desc()))
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(after) = &after {
                let at = DbTime(after.created_at);
                query = query.filter(
                    l::created_at
                        .lt(at)
                        .or(l::created_at.eq(at).and(l::id.lt(DbUuid(after.id)))),
                );
            }
            let rows: Vec<LedgerRow> = query.load(conn).await?;
            Ok(rows.into_iter().map(LedgerEntry::from).collect())
        });
        Ok(r?)
    }
}
