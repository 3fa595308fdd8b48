//! Token usage per owner and UTC day on both backends.

use chat_threads_application::AppError;
use chat_threads_application::usage::Usage;
use chat_threads_domain::Owner;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};

use chat_threads_application::usage::ModelUsage;

use super::billing::debit;
use super::conn::AsConn;
use super::error::DbError;
use super::schema::usage_daily as u;
use super::schema::usage_model_daily as um;
use super::store::SqlStore;

impl chat_threads_application::usage::UsageStore for SqlStore {
    async fn add_usage(
        &self,
        owner: &Owner,
        day: &str,
        model: &str,
        usage: Usage,
        charge: Option<&chat_threads_application::billing::Charge>,
    ) -> Result<(), AppError> {
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::insert_into(um::table)
                .values((
                    um::owner.eq(owner.as_str()),
                    um::day.eq(day),
                    um::model.eq(model),
                    um::prompt_tokens.eq(i64::from(usage.prompt_tokens)),
                    um::completion_tokens.eq(i64::from(usage.completion_tokens)),
                ))
                .on_conflict((um::owner, um::day, um::model))
                .do_update()
                .set((
                    um::prompt_tokens.eq(um::prompt_tokens + excluded(um::prompt_tokens)),
                    um::completion_tokens
                        .eq(um::completion_tokens + excluded(um::completion_tokens)),
                ))
                .execute(conn)
                .await?;
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
            if let Some(charge) = charge {
                debit(conn.any(), charge, model, &usage).await?;
            }
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

    async fn usage_by_model(
        &self,
        owner: &Owner,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<ModelUsage>, AppError> {
        let r: Result<Vec<ModelUsage>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<(String, String, i64, i64)> = um::table
                .filter(um::owner.eq(owner.as_str()))
                .filter(um::day.ge(first_day))
                .filter(um::day.le(last_day))
                .order((um::day.asc(), um::model.asc()))
                .select((um::day, um::model, um::prompt_tokens, um::completion_tokens))
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(day, model, p, c)| ModelUsage {
                    day,
                    model,
                    usage: Usage {
                        prompt_tokens: u32::try_from(p).unwrap_or(u32::MAX),
                        completion_tokens: u32::try_from(c).unwrap_or(u32::MAX),
                    },
                })
                .collect())
        });
        Ok(r?)
    }
}
