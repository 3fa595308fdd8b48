//! Idempotency keys on both backends.

use chat_threads_application::AppError;
use chat_threads_application::idempotency::{Begin, IdempotencyStore, StoredResponse};
use chat_threads_domain::{Owner, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::DbError;
use super::schema::idempotency_keys as k;
use super::store::SqlStore;
use super::types::DbTime;

type Row = (String, Option<i32>, Option<String>, Option<String>);

impl IdempotencyStore for SqlStore {
    async fn begin(
        &self,
        owner: &Owner,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
        abandoned_before: Timestamp,
    ) -> Result<Begin, AppError> {
        let r: Result<Begin, DbError> = write_tx!(self, |conn, _d| {
            let mine = k::table
                .filter(k::owner.eq(owner.as_str()))
                .filter(k::key.eq(key));
            diesel::delete(
                mine.filter(
                    k::expires_at.le(DbTime(now)).or(k::status
                        .is_null()
                        .and(k::created_at.le(DbTime(abandoned_before)))),
                ),
            )
            .execute(conn)
            .await?;
            let inserted = diesel::insert_into(k::table)
                .values((
                    k::owner.eq(owner.as_str()),
                    k::key.eq(key),
                    k::request_hash.eq(request_hash),
                    k::created_at.eq(DbTime(now)),
                    k::expires_at.eq(DbTime(expires_at)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if inserted == 1 {
                return Ok(Begin::Fresh);
            }
            let (hash, status, content_type, body): Row = mine
                .select((
                    k::request_hash,
                    k::status,
                    k::content_type,
                    k::response_body,
                ))
                .first(conn)
                .await?;
            Ok(match (hash == request_hash, status) {
                (false, _) => Begin::Mismatch,
                (true, None) => Begin::InProgress,
                (true, Some(status)) => Begin::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(200),
                    content_type,
                    body: body.unwrap_or_default(),
                }),
            })
        });
        Ok(r?)
    }

    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        response: StoredResponse,
    ) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::update(
                k::table
                    .filter(k::owner.eq(owner.as_str()))
                    .filter(k::key.eq(key)),
            )
            .set((
                k::status.eq(Some(i32::from(response.status))),
                k::content_type.eq(&response.content_type),
                k::response_body.eq(Some(&response.body)),
            ))
            .execute(conn)
            .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn abandon(&self, owner: &Owner, key: &str) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::delete(
                k::table
                    .filter(k::owner.eq(owner.as_str()))
                    .filter(k::key.eq(key))
                    .filter(k::status.is_null()),
            )
            .execute(conn)
            .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn purge_idempotency(&self, now: Timestamp) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = with_conn!(self, |conn, _d| {
            let n = diesel::delete(k::table.filter(k::expires_at.le(DbTime(now))))
                .execute(conn)
                .await?;
            Ok(n as u64)
        });
        Ok(r?)
    }
}
