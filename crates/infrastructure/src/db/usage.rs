//! Token usage per owner and UTC day on both backends.

use chat_threads_application::AppError;
use chat_threads_application::usage::Usage;
use chat_threads_domain::Owner;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::error::DbError;
use super::schema::usage_daily as u;
use super::store::SqlStore;

impl chat_threads_application::usage::UsageStore for SqlStore {
    async fn add_usage(&self, owner: &Owner, day: &str, usage: Usage) -> Result<(), AppError> {
        let r: Result<(), DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(u::table)
                .values((
                    u::owner.eq(owner.as_str()),
                    u::day.eq(day),
                    u::prompt_tokens.eq(i64::from(usage.prompt_tokens)),
                    u::completion_tokens.eq(i64::from(usage.completion_tokens)),
                ))
                .on_conflict((u::owner, u::day))
                .do_update()
                .set((
                    u::prompt_tokens.eq(u::prompt_tokens + excluded(u::prompt_tokens)),
                    u::completion_tokens.eq(u::completion_tokens + excluded(u::completion_tokens)),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn usage_on(&self, owner: &Owner, day: &str) -> Result<Usage, AppError> {
        let r: Result<Usage, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<(i64, i64)> = u::table
                .filter(u::owner.eq(owner.as_str()))
                .filter(u::day.eq(day))
                .select((u::prompt_tokens, u::completion_tokens))
                .first(conn)
                .await
                .optional()?;
            let (p, c) = row.unwrap_or((0, 0));
            Ok(Usage {
                prompt_tokens: u32::try_from(p).unwrap_or(u32::MAX),
                completion_tokens: u32::try_from(c).unwrap_or(u32::MAX),
            })
        });
        Ok(r?)
    }
}
