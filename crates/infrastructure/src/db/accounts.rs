//! Accounts, refresh tokens, anonymous sessions and generated secrets, on both backends.

use chat_threads_application::AppError;
use chat_threads_application::accounts::{Account, AuthStore, RefreshToken, Session, SessionQuery};
use chat_threads_domain::Timestamp;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::AsConn;
use super::error::DbError;
use super::files::delete_owner_files;
use super::schema::{accounts, refresh_tokens, server_secrets, sessions, threads};
use super::store::SqlStore;
use super::types::{DbMetadata, DbTime, DbUuid};

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

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    external_user_id: Option<String>,
    metadata: DbMetadata,
    created_at: DbTime,
    expires_at: DbTime,
    org_id: Option<String>,
    session_key: String,
}

fn session_from(r: SessionRow) -> Result<Session, DbError> {
    Ok(Session {
        id: r.id,
        key: r.session_key,
        external_user_id: r.external_user_id,
        metadata: super::models::metadata(r.metadata)?,
        created_at: r.created_at.0,
        expires_at: r.expires_at.0,
        org: r
            .org_id
            .map(|o| chat_threads_domain::OrgId::parse(&o))
            .transpose()
            .map_err(|e| super::error::corrupt("sessions.org_id", e))?,
    })
}

/// `text` as a LIKE pattern matching it anywhere, lowercased, with `\` escaping `%`, `_`, `\`.
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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
            metadata: DbMetadata::of(&session.metadata),
            created_at: DbTime(session.created_at),
            expires_at: DbTime(session.expires_at),
            org_id: session.org.map(|o| o.into_inner()),
            session_key: session.key,
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

    async fn find_session(&self, id: &str) -> Result<Option<Session>, AppError> {
        let r: Result<Option<Session>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<SessionRow> = sessions::table
                .find(id)
                .select(SessionRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(session_from).transpose()
        });
        Ok(r?)
    }

    async fn list_sessions(&self, q: SessionQuery) -> Result<Vec<Session>, AppError> {
        use diesel::dsl::sql;
        use diesel::sql_types::{Bool, Text};
        let r: Result<Vec<Session>, DbError> = with_conn!(self, |conn, _d| {
            let mut query = sessions::table
                .filter(sessions::org_id.eq(q.org.as_str()))
                .select(SessionRow::as_select())
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .limit(i64::from(q.limit))
                .into_boxed();
            match q.is_active {
                Some(true) => query = query.filter(sessions::expires_at.gt(DbTime(q.now))),
                Some(false) => query = query.filter(sessions::expires_at.le(DbTime(q.now))),
                None => {}
            }
            if let Some(e) = &q.external_user_id {
                query = query.filter(sessions::external_user_id.eq(e.clone()));
            }
            if let Some(text) = &q.search {
                let pattern = contains_pattern(text);
                query = query.filter(
                    sql::<Bool>("(lower(id) LIKE ")
                        .bind::<Text, _>(pattern.clone())
                        .sql(" ESCAPE '\\' OR lower(coalesce(external_user_id, '')) LIKE ")
                        .bind::<Text, _>(pattern)
                        .sql(" ESCAPE '\\')"),
                );
            }
            if let Some(after) = &q.after {
                let at = DbTime(after.created_at);
                query = query.filter(
                    sessions::created_at.lt(at).or(sessions::created_at
                        .eq(at)
                        .and(sessions::id.lt(after.id.clone()))),
                );
            }
            let rows: Vec<SessionRow> = query.load(conn).await?;
            rows.into_iter().map(session_from).collect()
        });
        Ok(r?)
    }

    async fn delete_session(&self, id: &str) -> Result<Option<u64>, AppError> {
        let owner = format!("anon:{id}");
        let r: Result<(Option<u64>, _), DbError> = write_tx!(self, |conn, _d| {
            let threads_deleted = diesel::delete(threads::table.filter(threads::owner.eq(&owner)))
                .execute(conn)
                .await?;
            let files = delete_owner_files(conn.any(), &owner).await?;
            let gone = diesel::delete(sessions::table.find(id))
                .execute(conn)
                .await?;
            Ok(((gone > 0).then_some(threads_deleted as u64), files))
        });
        let (outcome, files) = r?;
        self.drop_objects(files).await;
        Ok(outcome)
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<(u64, u64), AppError> {
        let r: Result<((u64, u64), _), DbError> = write_tx!(self, |conn, _d| {
            let expired: Vec<String> = sessions::table
                .filter(sessions::expires_at.le(DbTime(now)))
                .select(sessions::id)
                .load(conn)
                .await?;
            let owners: Vec<String> = expired.iter().map(|id| format!("anon:{id}")).collect();
            let mut threads_deleted = 0;
            let mut files = Vec::new();
            for owner in &owners {
                files.extend(delete_owner_files(conn.any(), owner).await?);
            }
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
            Ok(((sessions_deleted as u64, threads_deleted as u64), files))
        });
        let (counts, files) = r?;
        self.drop_objects(files).await;
        Ok(counts)
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
