//! Accounts, refresh tokens, anonymous sessions and generated secrets, on both backends.

use chat_threads_application::AppError;
use chat_threads_application::accounts::{Account, AuthStore, RefreshToken, Session};
use chat_threads_domain::Timestamp;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::DbError;
use super::schema::{accounts, refresh_tokens, server_secrets, sessions, threads};
use super::store::SqlStore;
use super::types::{DbJson, DbTime, DbUuid};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
struct AccountRow {
    id: DbUuid,
    email: String,
    password_hash: String,
    created_at: DbTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    id: DbUuid,
    account_id: DbUuid,
    family_id: DbUuid,
    token_hash: String,
    expires_at: DbTime,
    revoked_at: Option<DbTime>,
    created_at: DbTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    external_user_id: Option<String>,
    metadata: DbJson,
    created_at: DbTime,
    expires_at: DbTime,
}

fn refresh_from(r: RefreshRow) -> RefreshToken {
    RefreshToken {
        id: r.id.0,
        account_id: r.account_id.0,
        family_id: r.family_id.0,
        token_hash: r.token_hash,
        expires_at: r.expires_at.0,
        revoked_at: r.revoked_at.map(|t| t.0),
        created_at: r.created_at.0,
    }
}

impl AuthStore for SqlStore {
    async fn insert_account(&self, account: Account) -> Result<(), AppError> {
        let row = AccountRow {
            id: DbUuid(account.id),
            email: account.email,
            password_hash: account.password_hash,
            created_at: DbTime(account.created_at),
        };
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(accounts::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn find_account(&self, email: &str) -> Result<Option<Account>, AppError> {
        let r: Result<Option<Account>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<AccountRow> = accounts::table
                .filter(accounts::email.eq(email))
                .select(AccountRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Ok(row.map(|r| Account {
                id: r.id.0,
                email: r.email,
                password_hash: r.password_hash,
                created_at: r.created_at.0,
            }))
        });
        Ok(r?)
    }

    async fn insert_refresh(&self, token: RefreshToken) -> Result<(), AppError> {
        let row = RefreshRow {
            id: DbUuid(token.id),
            account_id: DbUuid(token.account_id),
            family_id: DbUuid(token.family_id),
            token_hash: token.token_hash,
            expires_at: DbTime(token.expires_at),
            revoked_at: token.revoked_at.map(DbTime),
            created_at: DbTime(token.created_at),
        };
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(refresh_tokens::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn spend_refresh(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<RefreshToken>, AppError> {
        let r: Result<Option<RefreshToken>, DbError> = write_tx!(self, |conn, _d| {
            // Marking it spent and reading it back is one statement, so two concurrent refreshes
            // with the same token cannot both succeed.
            let spent: Option<RefreshRow> = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(token_hash))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::revoked_at.eq(Some(DbTime(now))))
            .returning(RefreshRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if let Some(row) = spent {
                return Ok(Some(RefreshToken {
                    revoked_at: None,
                    ..refresh_from(row)
                }));
            }
            let already: Option<RefreshRow> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(token_hash))
                .select(RefreshRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Ok(already.map(refresh_from))
        });
        Ok(r?)
    }

    async fn revoke_family(&self, family_id: uuid::Uuid, now: Timestamp) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::family_id.eq(DbUuid(family_id)))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::revoked_at.eq(Some(DbTime(now))))
            .execute(conn)
            .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn insert_session(&self, session: Session) -> Result<(), AppError> {
        let row = SessionRow {
            id: session.id,
            external_user_id: session.external_user_id,
            metadata: DbJson(session.metadata.to_value()),
            created_at: DbTime(session.created_at),
            expires_at: DbTime(session.expires_at),
        };
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<(u64, u64), AppError> {
        let r: Result<(u64, u64), DbError> = write_tx!(self, |conn, _d| {
            let expired: Vec<String> = sessions::table
                .filter(sessions::expires_at.le(DbTime(now)))
                .select(sessions::id)
                .load(conn)
                .await?;
            let owners: Vec<String> = expired.iter().map(|id| format!("anon:{id}")).collect();
            let mut threads_deleted = 0;
            for chunk in owners.chunks(500) {
                threads_deleted +=
                    diesel::delete(threads::table.filter(threads::owner.eq_any(chunk)))
                        .execute(conn)
                        .await?;
            }
            threads_deleted +=
                diesel::delete(threads::table.filter(threads::expires_at.le(DbTime(now))))
                    .execute(conn)
                    .await?;
            let sessions_deleted =
                diesel::delete(sessions::table.filter(sessions::expires_at.le(DbTime(now))))
                    .execute(conn)
                    .await?;
            Ok((sessions_deleted as u64, threads_deleted as u64))
        });
        Ok(r?)
    }

    async fn secret_or_insert(
        &self,
        name: &str,
        generate: String,
        now: Timestamp,
    ) -> Result<String, AppError> {
        let r: Result<String, DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(server_secrets::table)
                .values((
                    server_secrets::name.eq(name),
                    server_secrets::value.eq(&generate),
                    server_secrets::created_at.eq(DbTime(now)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            let value: String = server_secrets::table
                .filter(server_secrets::name.eq(name))
                .select(server_secrets::value)
                .first(conn)
                .await?;
            Ok(value)
        });
        Ok(r?)
    }
}
