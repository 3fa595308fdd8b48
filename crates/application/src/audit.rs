//! The audit log: an append-only record of security-relevant actions — share links and
//! members, deletes, restores and purges, the sweeper's runs, org admins reading others'
//! threads, failed sign-ins — each with its actor, target, time and request id. Org admins and
//! service principals read their organization's entries (`GET /v1/audit`); nothing updates or
//! deletes an entry except the audit log's own retention (`audit.retention_days`).
//!
//! Entries are written right after the action succeeds, in the request that made it (a crash
//! between the two can lose an entry; the action's own record — the thread, the share — stays).
//! The request id comes from [`REQUEST_ID`], which the HTTP middleware and the WebSocket set
//! around each request.

use std::future::Future;

use chat_threads_domain::{OrgId, Principal, ThreadId, Timestamp};
use serde::Serialize;

use crate::error::AppError;
use crate::paging::{Page, page_size};
use crate::system::Clock;

tokio::task_local! {
    /// The id of the request being served (`x-request-id`), for the entries it writes.
    pub static REQUEST_ID: String;
}

/// The request id of the current task, if one was set.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A share link was made.
    ShareCreated,
    /// A snapshot share was taken again.
    ShareRefreshed,
    /// A share link was revoked.
    ShareRevoked,
    /// A principal was let into a thread (or their role changed).
    MemberAdded,
    /// A member was removed, or left.
    MemberRemoved,
    /// A message was deleted (alone or with its subtree).
    MessageDeleted,
    /// A deleted message came back.
    MessageRestored,
    /// A thread was deleted (soft).
    ThreadDeleted,
    /// A deleted thread came back.
    ThreadRestored,
    /// A thread was purged for good by its owner.
    ThreadPurged,
    /// An org admin read a thread of another principal of the organization.
    AdminRead,
    /// A sign-in with a wrong e-mail or password.
    SignInFailed,
    /// The sweeper forgot what was deleted longer than the restore window ago, or applied
    /// the retention policies.
    RetentionSwept,
    /// A legal hold was placed.
    LegalHoldPlaced,
    /// A legal hold was lifted.
    LegalHoldLifted,
    /// An erasure of a principal started.
    ErasureStarted,
    /// An erasure of a principal finished.
    ErasureDone,
    /// A webhook was made (a new destination for the organization's or owner's changes).
    WebhookCreated,
    /// A webhook's URL, events or state changed.
    WebhookUpdated,
    /// A webhook was deleted.
    WebhookDeleted,
}

impl AuditAction {
    /// Every action.
    pub const ALL: &'static [AuditAction] = &[
        Self::ShareCreated,
        Self::ShareRefreshed,
        Self::ShareRevoked,
        Self::MemberAdded,
        Self::MemberRemoved,
        Self::MessageDeleted,
        Self::MessageRestored,
        Self::ThreadDeleted,
        Self::ThreadRestored,
        Self::ThreadPurged,
        Self::AdminRead,
        Self::SignInFailed,
        Self::RetentionSwept,
        Self::LegalHoldPlaced,
        Self::LegalHoldLifted,
        Self::ErasureStarted,
        Self::ErasureDone,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
    ];

    /// The wire name (`share.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShareCreated => "share.created",
            Self::ShareRefreshed => "share.refreshed",
            Self::ShareRevoked => "share.revoked",
            Self::MemberAdded => "member.added",
            Self::MemberRemoved => "member.removed",
            Self::MessageDeleted => "message.deleted",
            Self::MessageRestored => "message.restored",
            Self::ThreadDeleted => "thread.deleted",
            Self::ThreadRestored => "thread.restored",
            Self::ThreadPurged => "thread.purged",
            Self::AdminRead => "thread.read_by_admin",
            Self::SignInFailed => "auth.sign_in_failed",
            Self::RetentionSwept => "retention.swept",
            Self::LegalHoldPlaced => "legal_hold.placed",
            Self::LegalHoldLifted => "legal_hold.lifted",
            Self::ErasureStarted => "erasure.started",
            Self::ErasureDone => "erasure.done",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == raw)
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Its place in the log (assigned on append, increasing).
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// Whose log it is in: the organization of the thread acted on, else of the actor.
    pub org_id: Option<OrgId>,
    /// Who: a principal (`user:alice`), `system` (the sweeper), `anonymous` (a failed sign-in).
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// On what: `thread:<id>`, `message:<id>`, `share:<id>`, `member:<principal>`, `account`.
    pub target: String,
    /// The thread, when the action concerns one.
    pub thread_id: Option<ThreadId>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// Anything else worth knowing (a role, a scope, counts, the e-mail tried).
    pub details: serde_json::Value,
}

impl crate::paging::Weigh for AuditEntry {
    fn weigh(&self) -> usize {
        crate::paging::ITEM_OVERHEAD
            + self.actor.len()
            + self.target.len()
            + self.details.to_string().len()
    }
}

/// Narrows the log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only entries about this thread.
    pub thread_id: Option<ThreadId>,
}

/// Storage of the audit log.
pub trait AuditStore: Clone + Send + Sync + 'static {
    /// Appends an entry (its `seq` is assigned) and returns it.
    fn append_audit(
        &self,
        entry: AuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, AppError>> + Send;

    /// An organization's entries matching `query`, and those of no organization (the
    /// sweeper's runs, built-in accounts' failed sign-ins), newest first, before `before` (a
    /// seq).
    fn list_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, AppError>> + Send;

    /// Deletes up to `batch` entries older than `cutoff` (the log's own retention); how many.
    fn purge_audit(
        &self,
        cutoff: Timestamp,
        batch: u32,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;
}

/// Writes an entry for `who` (`None`: the system) in the current request; a failure to write
/// is logged, never undoes or fails the action.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record<S: AuditStore>(
    store: &S,
    clock: &impl Clock,
    who: Option<&Principal>,
    org: Option<&OrgId>,
    action: AuditAction,
    target: String,
    thread_id: Option<ThreadId>,
    details: serde_json::Value,
) {
    let entry = AuditEntry {
        seq: 0,
        at: clock.now(),
        org_id: org.or(who.and_then(|w| w.org.as_ref())).cloned(),
        actor: who.map_or_else(|| "system".to_owned(), |w| w.owner().as_str().to_owned()),
        action,
        target,
        thread_id,
        request_id: request_id(),
        details,
    };
    if let Err(e) = store.append_audit(entry).await {
        tracing::error!(cause = %e.chain(), action = action.as_str(), "writing an audit entry failed");
    }
}

/// Records an org admin's read of a thread of another principal of the organization (one it
/// reads through its org-wide access, not as the owner or a member). Only asks the store when
/// the caller is an org admin.
pub(crate) async fn admin_read<S: AuditStore + crate::access::MemberStore>(
    store: &S,
    clock: &impl Clock,
    who: &Principal,
    thread_id: ThreadId,
    what: &str,
) {
    if !who.has_scope(chat_threads_domain::SCOPE_ORG_ADMIN) {
        return;
    }
    let me = who.owner();
    if let Ok(Some(a)) = store.thread_access(thread_id, &me).await
        && a.owner != me
        && a.role.is_none()
    {
        record(
            store,
            clock,
            Some(who),
            None,
            AuditAction::AdminRead,
            format!("thread:{thread_id}"),
            Some(thread_id),
            serde_json::json!({"owner": a.owner.as_str(), "read": what}),
        )
        .await;
    }
}

/// Reading the log.
#[derive(Debug, Clone)]
pub struct AuditService<S, C> {
    store: S,
    clock: C,
    limits: chat_threads_domain::Limits,
}

impl<S: AuditStore, C: Clock> AuditService<S, C> {
    /// A reader over `store`.
    pub fn new(store: S, clock: C, limits: chat_threads_domain::Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    /// A page of the caller's organization's log, newest first: for its org admins and service
    /// principals (anyone else: `forbidden`).
    pub async fn list(
        &self,
        who: &Principal,
        query: AuditQuery,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<AuditEntry>, AppError> {
        let org = org_manager(who, "the audit log is read")?;
        let limit = page_size(limit, &self.limits)?;
        let before = cursor
            .as_deref()
            .map(crate::cursor::decode::<i64>)
            .transpose()?;
        let rows = self
            .store
            .list_audit(org, &query, before, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |e| {
            e.seq
        }))
    }

    /// Deletes entries older than `days`, batch by batch; how many.
    pub async fn purge_older_than(&self, days: u32, batch: u32) -> Result<u64, AppError> {
        let cutoff = self.clock.now() - chrono::TimeDelta::days(i64::from(days));
        let mut total = 0;
        loop {
            let n = self.store.purge_audit(cutoff, batch.max(1)).await?;
            total += n;
            if n < u64::from(batch.max(1)) {
                return Ok(total);
            }
        }
    }
}

/// The organization `who` manages: an org admin's or a service principal's own (`what` names
/// the refusal: "the audit log is read").
pub(crate) fn org_manager<'a>(who: &'a Principal, what: &str) -> Result<&'a OrgId, AppError> {
    who.managed_org().ok_or_else(|| {
        AppError::Forbidden(format!(
            "{what} by org admins and service principals of an organization"
        ))
    })
}
