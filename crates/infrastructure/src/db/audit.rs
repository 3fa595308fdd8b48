//! The audit log on both backends: appended, listed per organization newest first, trimmed by
//! its own retention.

use chat_threads_application::AppError;
use chat_threads_application::audit::{AuditAction, AuditEntry, AuditQuery, AuditStore};
use chat_threads_domain::{OrgId, ThreadId, Timestamp};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::error::{DbError, corrupt};
use super::schema::audit_log;
use super::store::SqlStore;
use super::types::{DbJson, DbTime, DbUuid};

/// A new row of `audit_log` (its seq is the database's).
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow {
    at: DbTime,
    org_id: Option<String>,
    actor: String,
    action: String,
    target: String,
    thread_id: Option<DbUuid>,
    request_id: Option<String>,
    details: DbJson,
}

/// A row of `audit_log`.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    seq: i64,
    at: DbTime,
    org_id: Option<String>,
    actor: String,
    action: String,
    target: String,
    thread_id: Option<DbUuid>,
    request_id: Option<String>,
    details: DbJson,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = DbError;
    fn try_from(r: AuditRow) -> Result<Self, DbError> {
        Ok(AuditEntry {
            seq: r.seq,
            at: r.at.0,
            org_id: r.org_id.map(OrgId::from_stored),
            actor: r.actor,
            action: AuditAction::parse(&r.action)
                .ok_or_else(|| corrupt("action", r.action.clone()))?,
            target: r.target,
            thread_id: r.thread_id.map(|t| ThreadId::from_uuid(t.0)),
            request_id: r.request_id,
            details: r.details.0,
        })
    }
}

impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditEntry, AppError> {
        let row = NewAuditRow {
            at: DbTime(entry.at),
            org_id: entry.org_id.as_ref().map(|o| o.as_str().to_owned()),
            actor: entry.actor.clone(),
            action: entry.action.as_str().to_owned(),
            target: entry.target.clone(),
            thread_id: entry.thread_id.map(|t| DbUuid(t.as_uuid())),
            request_id: entry.request_id.clone(),
            details: DbJson(entry.details.clone()),
        };
        let r: Result<i64, DbError> = write_tx!(self, |conn, _d| {
            Ok(diesel::insert_into(audit_log::table)
                .values(&row)
                .returning(audit_log::seq)
                .get_result(conn)
                .await?)
        });
        Ok(AuditEntry { seq: r?, ..entry })
    }

    async fn list_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let r: Result<Vec<AuditEntry>, DbError> = with_conn!(self, |conn, _d| {
            // The organization's entries, and those of no organization (the sweeper's runs,
            // built-in accounts' failed sign-ins).
            let mut q = audit_log::table
                .filter(
                    audit_log::org_id
                        .eq(org.as_str())
                        .or(audit_log::org_id.is_null()),
                )
                .select(AuditRow::as_select())
                .into_boxed();
            if let Some(action) = query.action {
                q = q.filter(audit_log::action.eq(action.as_str()));
            }
            if let Some(actor) = &query.actor {
                q = q.filter(audit_log::actor.eq(actor.as_str()));
            }
            if let Some(t) = query.thread_id {
                q = q.filter(audit_log::thread_id.eq(DbUuid(t.as_uuid())));
            }
            if let Some(b) = before {
                q = q.filter(audit_log::seq.lt(b));
            }
            let rows: Vec<AuditRow> = q
                .order(audit_log::seq.desc())
                .limit(i64::from(limit))
                .load(conn)
                .await?;
            rows.into_iter().map(AuditEntry::try_from).collect()
        });
        Ok(r?)
    }

    async fn purge_audit(&self, cutoff: Timestamp, batch: u32) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let seqs: Vec<i64> = audit_log::table
                .filter(audit_log::at.lt(DbTime(cutoff)))
                .order(audit_log::seq.asc())
                .select(audit_log::seq)
                .limit(i64::from(batch))
                .load(conn)
                .await?;
            if seqs.is_empty() {
                return Ok(0);
            }
            Ok(
                diesel::delete(audit_log::table.filter(audit_log::seq.eq_any(&seqs)))
                    .execute(conn)
                    .await? as u64,
            )
        });
        Ok(r?)
    }
}
