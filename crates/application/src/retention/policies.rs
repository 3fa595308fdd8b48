//! Retention policies and legal holds, managed by an organization's admins and service
//! principals. A policy (for the whole organization, or one product, which then follows its
//! own policy only) deletes threads inactive for N days — soft: they stay restorable for the
//! restore window — and forgets deleted content after M days instead of the global window.
//! Pinned threads are exempt, and so is anything under a **legal hold**: a held thread, or
//! every thread a held principal owns in the organization — neither a policy nor the restore
//! window's sweep touches them until the hold is lifted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chat_threads_domain::{
    DomainError, OrgId, Owner, Principal, ProductName, ThreadId, Timestamp, member_principal,
};

use crate::audit::org_manager;
use crate::error::AppError;
use crate::system::Clock;

/// Most days a policy may name (100 years).
pub const MAX_POLICY_DAYS: u32 = 36_500;

/// An organization's (or one of its products') retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The organization.
    pub org_id: OrgId,
    /// The product it is for; `None`: every product without its own policy.
    pub product: Option<ProductName>,
    /// Threads with no activity for this many days are deleted (soft).
    pub delete_inactive_days: Option<u32>,
    /// Deleted messages and threads are forgotten after this many days (instead of the
    /// restore window).
    pub erase_deleted_days: Option<u32>,
    /// Last change.
    pub updated_at: Timestamp,
    /// Who changed it last.
    pub updated_by: String,
}

/// A legal hold: a thread, or a principal's threads in the organization, kept whatever the
/// policies and the restore window say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `hold_<uuid>`.
    pub id: String,
    /// The organization.
    pub org_id: OrgId,
    /// The held thread (a thread hold).
    pub thread_id: Option<ThreadId>,
    /// The held principal (a principal hold).
    pub principal: Option<Owner>,
    /// Why (shown to admins).
    pub reason: String,
    /// When.
    pub created_at: Timestamp,
    /// By whom.
    pub created_by: String,
}

/// What a policy removes now (a dry run) or removed (one sweep).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Threads deleted for inactivity.
    pub threads_deleted: u64,
    /// Deleted things forgotten: tombstones erased, messages and threads removed.
    pub forgotten: u64,
    /// Up to 100 of the threads it deletes.
    pub sample: Vec<ThreadId>,
}

/// Storage of policies and holds, and their application.
pub trait PolicyStore: Clone + Send + Sync + 'static {
    /// Creates or replaces the policy of (org, product).
    fn put_policy(&self, p: Policy) -> impl Future<Output = Result<Policy, AppError>> + Send;
    /// An organization's policies (`None`: every organization's, for the sweeper).
    fn list_policies(
        &self,
        org: Option<&OrgId>,
    ) -> impl Future<Output = Result<Vec<Policy>, AppError>> + Send;
    /// Deletes the policy of (org, product); whether there was one.
    fn delete_policy(
        &self,
        org: &OrgId,
        product: Option<&ProductName>,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Places a hold; a thread hold needs a thread of the organization (else
    /// `thread_not_found`).
    fn add_hold(&self, h: Hold) -> impl Future<Output = Result<Hold, AppError>> + Send;
    /// An organization's holds, oldest first.
    fn list_holds(&self, org: &OrgId) -> impl Future<Output = Result<Vec<Hold>, AppError>> + Send;
    /// Lifts a hold; whether there was one.
    fn remove_hold(
        &self,
        org: &OrgId,
        id: &str,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Applies a policy at `now`: up to `batch` threads of each kind per call (`dry_run`:
    /// counts everything it would do and writes nothing).
    fn apply_policy(
        &self,
        p: &Policy,
        now: Timestamp,
        batch: u32,
        dry_run: bool,
    ) -> impl Future<Output = Result<PolicyOutcome, AppError>> + Send;
}

/// Input of a policy (raw).
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    /// A product, or none for the organization's default.
    pub product: Option<String>,
    /// Delete threads inactive this many days.
    pub delete_inactive_after_days: Option<u32>,
    /// Forget deleted content after this many days.
    pub erase_deleted_after_days: Option<u32>,
}

/// Input of a hold (raw): a thread or a principal.
#[derive(Debug, Clone, Default)]
pub struct HoldInput {
    /// The thread to hold.
    pub thread_id: Option<ThreadId>,
    /// The principal to hold (`user:bob`).
    pub principal: Option<String>,
    /// Why.
    pub reason: String,
}

/// What this process's policy sweeps did so far (for metrics): threads deleted, things
/// forgotten.
#[derive(Debug, Default)]
pub struct PolicyTotals {
    /// Threads deleted for inactivity.
    pub threads_deleted: AtomicU64,
    /// Deleted things forgotten.
    pub forgotten: AtomicU64,
}

/// Policies and holds.
#[derive(Debug, Clone)]
pub struct PolicyService<S, C> {
    store: S,
    clock: C,
    batch: u32,
    totals: Arc<PolicyTotals>,
}

impl<S: PolicyStore + crate::audit::AuditStore, C: Clock> PolicyService<S, C> {
    /// A service over `store`, applying policies `batch` threads at a time.
    pub fn new(store: S, clock: C, batch: u32) -> Self {
        Self {
            store,
            clock,
            batch: batch.max(1),
            totals: Arc::default(),
        }
    }

    /// What this process's policy sweeps did so far.
    pub fn totals(&self) -> Arc<PolicyTotals> {
        self.totals.clone()
    }

    fn policy(&self, who: &Principal, input: PolicyInput) -> Result<Policy, AppError> {
        let org = org_manager(who, "retention policies are managed")?;
        let days = |field: &'static str, d: Option<u32>| match d {
            Some(n) if !(1..=MAX_POLICY_DAYS).contains(&n) => Err(DomainError::invalid(
                field,
                format!("must be 1-{MAX_POLICY_DAYS} days"),
            )),
            other => Ok(other),
        };
        let policy = Policy {
            org_id: org.clone(),
            product: input
                .product
                .as_deref()
                .map(ProductName::parse)
                .transpose()?,
            delete_inactive_days: days(
                "delete_inactive_after_days",
                input.delete_inactive_after_days,
            )?,
            erase_deleted_days: days("erase_deleted_after_days", input.erase_deleted_after_days)?,
            updated_at: self.clock.now(),
            updated_by: who.owner().as_str().to_owned(),
        };
        if policy.delete_inactive_days.is_none() && policy.erase_deleted_days.is_none() {
            return Err(DomainError::inconsistent(
                "delete_inactive_after_days",
                "a policy deletes inactive threads, forgets deleted content, or both",
            )
            .into());
        }
        Ok(policy)
    }

    /// Creates or replaces a policy of the caller's organization.
    pub async fn put(&self, who: &Principal, input: PolicyInput) -> Result<Policy, AppError> {
        let p = self.policy(who, input)?;
        self.store.put_policy(p).await
    }

    /// What a policy would remove now, without removing anything.
    pub async fn dry_run(
        &self,
        who: &Principal,
        input: PolicyInput,
    ) -> Result<PolicyOutcome, AppError> {
        let p = self.policy(who, input)?;
        self.store
            .apply_policy(&p, self.clock.now(), self.batch, true)
            .await
    }

    /// The caller's organization's policies.
    pub async fn list(&self, who: &Principal) -> Result<Vec<Policy>, AppError> {
        let org = org_manager(who, "retention policies are managed")?;
        self.store.list_policies(Some(org)).await
    }

    /// Deletes a policy of the caller's organization.
    pub async fn delete(&self, who: &Principal, product: Option<String>) -> Result<(), AppError> {
        let org = org_manager(who, "retention policies are managed")?;
        let product = product.as_deref().map(ProductName::parse).transpose()?;
        if self.store.delete_policy(org, product.as_ref()).await? {
            Ok(())
        } else {
            Err(AppError::PolicyNotFound)
        }
    }

    /// Places a legal hold on a thread of the organization or on a principal.
    pub async fn hold(&self, who: &Principal, input: HoldInput) -> Result<Hold, AppError> {
        let org = org_manager(who, "legal holds are managed")?;
        let reason = input.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(DomainError::invalid(
                "reason",
                "must be 1-500 characters without controls",
            )
            .into());
        }
        let principal = input
            .principal
            .as_deref()
            .map(member_principal)
            .transpose()?;
        if input.thread_id.is_some() == principal.is_some() {
            return Err(DomainError::inconsistent(
                "thread_id",
                "a hold is on a thread or on a principal: give exactly one",
            )
            .into());
        }
        let hold = self
            .store
            .add_hold(Hold {
                id: format!("hold_{}", uuid::Uuid::new_v4().simple()),
                org_id: org.clone(),
                thread_id: input.thread_id,
                principal,
                reason,
                created_at: self.clock.now(),
                created_by: who.owner().as_str().to_owned(),
            })
            .await?;
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            Some(org),
            crate::audit::AuditAction::LegalHoldPlaced,
            format!("hold:{}", hold.id),
            hold.thread_id,
            serde_json::json!({"principal": hold.principal.as_ref().map(Owner::as_str), "reason": hold.reason}),
        )
        .await;
        Ok(hold)
    }

    /// The organization's holds.
    pub async fn holds(&self, who: &Principal) -> Result<Vec<Hold>, AppError> {
        let org = org_manager(who, "legal holds are managed")?;
        self.store.list_holds(org).await
    }

    /// Lifts a hold.
    pub async fn release(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        let org = org_manager(who, "legal holds are managed")?;
        if !self.store.remove_hold(org, id).await? {
            return Err(AppError::HoldNotFound);
        }
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            Some(org),
            crate::audit::AuditAction::LegalHoldLifted,
            format!("hold:{id}"),
            None,
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// Applies every organization's policies, batch after batch (the sweeper).
    pub async fn apply_all(&self) -> Result<PolicyOutcome, AppError> {
        let mut total = PolicyOutcome::default();
        for p in self.store.list_policies(None).await? {
            loop {
                let o = self
                    .store
                    .apply_policy(&p, self.clock.now(), self.batch, false)
                    .await?;
                total.threads_deleted += o.threads_deleted;
                total.forgotten += o.forgotten;
                self.totals
                    .threads_deleted
                    .fetch_add(o.threads_deleted, Ordering::Relaxed);
                self.totals
                    .forgotten
                    .fetch_add(o.forgotten, Ordering::Relaxed);
                if o.threads_deleted < u64::from(self.batch) && o.forgotten < u64::from(self.batch)
                {
                    break;
                }
            }
        }
        if total.threads_deleted + total.forgotten > 0 {
            crate::audit::record(
                &self.store,
                &self.clock,
                None,
                None,
                crate::audit::AuditAction::RetentionSwept,
                "policies".into(),
                None,
                serde_json::json!({"threads_deleted": total.threads_deleted, "forgotten": total.forgotten}),
            )
            .await;
        }
        Ok(total)
    }
}
