//! Erasure of a person (GDPR Art. 17): everything a principal has — in one organization, when
//! its admin or service principal asks (`DELETE /v1/principals/{id}`), or everywhere, when the
//! person asks (`DELETE /v1/me`, with `auth.self_erasure` on). Their threads (with messages,
//! revisions, summaries, shares, members), their files (bytes in the database or the object
//! store), their memberships; what they wrote in others' threads keeps its text but names no
//! one (`author` becomes `erased`); balances and the ledger keep their amounts under an
//! anonymous account (`erased:<erasure id>`), and so does their usage; their idempotency
//! records (stored responses) go, an anonymous session goes (its organization's), and a
//! person's own erasure also ends their built-in account. A legal hold on the principal or on one of the threads blocks it (`409
//! legal_hold`).
//!
//! It runs as a job: `202` at once with its id, then batch after batch (each its own
//! transaction, so a crash loses no work and the sweeper resumes it on any instance);
//! `GET /v1/erasures/{id}` shows its progress and, once done, its receipt (counts per kind,
//! times). Asking again while one runs returns that one.

use std::future::Future;

use chat_threads_domain::{DomainError, OrgId, Owner, Principal, Timestamp};
use serde::Serialize;

use crate::audit::org_manager;
use crate::error::AppError;
use crate::system::Clock;

/// Where an erasure stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Still erasing (or waiting for the sweeper to resume it).
    Running,
    /// Done: the counts are its receipt.
    Done,
    /// Stopped by a legal hold placed after it started.
    Blocked,
}

impl ErasureStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Blocked => "blocked",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Running, Self::Done, Self::Blocked]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// What an erasure removed or anonymized so far, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErasureCounts {
    /// Threads removed with everything in them.
    pub threads: u64,
    /// Files removed (and their bytes).
    pub files: u64,
    /// Memberships in others' threads removed.
    pub memberships: u64,
    /// Messages in others' threads whose author now names no one.
    pub authored_messages: u64,
    /// Balances and ledger entries moved to the anonymous account.
    pub ledger_entries: u64,
    /// Usage rows moved to the anonymous account.
    pub usage_rows: u64,
    /// Idempotency records, an anonymous session and (a person's own erasure) a built-in
    /// account removed.
    pub sessions_and_accounts: u64,
}

impl ErasureCounts {
    /// Adds another batch's counts.
    pub fn add(&mut self, o: &ErasureCounts) {
        self.threads += o.threads;
        self.files += o.files;
        self.memberships += o.memberships;
        self.authored_messages += o.authored_messages;
        self.ledger_entries += o.ledger_entries;
        self.usage_rows += o.usage_rows;
        self.sessions_and_accounts += o.sessions_and_accounts;
    }
}

/// An erasure job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// `era_<uuid>`.
    pub id: String,
    /// Who is erased.
    pub principal: Owner,
    /// In which organization; `None`: everywhere (a person's own erasure).
    pub org_id: Option<OrgId>,
    /// Who asked.
    pub requested_by: String,
    /// Where it stands.
    pub status: ErasureStatus,
    /// What it did so far.
    pub counts: ErasureCounts,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When its runner last saved it (after every batch).
    pub updated_at: Timestamp,
    /// When it finished (done or blocked).
    pub finished_at: Option<Timestamp>,
}

impl Erasure {
    /// The anonymous account amounts and usage move to.
    pub fn anonymous(&self) -> String {
        format!("erased:{}", self.id)
    }
}

/// Storage of erasures, and erasing.
pub trait ErasureStore: Clone + Send + Sync + 'static {
    /// Records a new erasure, or returns the one still running for the same principal and
    /// organization.
    fn start_erasure(&self, e: Erasure) -> impl Future<Output = Result<Erasure, AppError>> + Send;
    /// An erasure by id.
    fn get_erasure(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Erasure>, AppError>> + Send;
    /// Erasures still running that no runner saved since `before` (their runner is gone).
    fn stalled_erasures(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<Vec<Erasure>, AppError>> + Send;
    /// Whether a legal hold covers the principal (in the organization, or any) or one of the
    /// threads the erasure would remove.
    fn erasure_held(&self, e: &Erasure) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// One batch: up to `batch` threads removed; once none is left, the rest (files,
    /// memberships, authorship, ledger, usage, sessions, account) in one transaction. The
    /// batch's counts, and whether the erasure is complete.
    fn erase_batch(
        &self,
        e: &Erasure,
        batch: u32,
    ) -> impl Future<Output = Result<(ErasureCounts, bool), AppError>> + Send;
    /// Saves an erasure's status and counts.
    fn save_erasure(&self, e: &Erasure) -> impl Future<Output = Result<(), AppError>> + Send;
}

/// Erasing principals.
#[derive(Debug, Clone)]
pub struct ErasureService<S, C> {
    store: S,
    clock: C,
    batch: u32,
    self_erasure: bool,
    stall: chrono::TimeDelta,
}

impl<S: ErasureStore + crate::audit::AuditStore, C: Clock> ErasureService<S, C> {
    /// A service erasing `batch` threads per transaction; `self_erasure`: whether people may
    /// erase themselves; a running erasure nobody saved for `stall` lost its runner and is
    /// resumed by the sweeper.
    pub fn new(
        store: S,
        clock: C,
        batch: u32,
        self_erasure: bool,
        stall: std::time::Duration,
    ) -> Self {
        Self {
            store,
            clock,
            batch: batch.max(1),
            self_erasure,
            stall: chrono::TimeDelta::from_std(stall).unwrap_or(chrono::TimeDelta::MAX),
        }
    }

    /// Starts erasing a principal of the caller's organization (org admins and service
    /// principals).
    pub async fn erase_principal(&self, who: &Principal, raw: &str) -> Result<Erasure, AppError> {
        let org = org_manager(who, "principals are erased")?.clone();
        let principal = erasable(raw)?;
        self.start(who, principal, Some(org)).await
    }

    /// Starts erasing the caller, everywhere (`auth.self_erasure`).
    pub async fn erase_me(&self, who: &Principal) -> Result<Erasure, AppError> {
        if !self.self_erasure {
            return Err(AppError::Forbidden(
                "erasing yourself is switched off on this server (auth.self_erasure)".into(),
            ));
        }
        self.start(who, who.owner(), None).await
    }

    async fn start(
        &self,
        who: &Principal,
        principal: Owner,
        org_id: Option<OrgId>,
    ) -> Result<Erasure, AppError> {
        let e = Erasure {
            id: format!("era_{}", uuid::Uuid::new_v4().simple()),
            principal,
            org_id,
            requested_by: who.owner().as_str().to_owned(),
            status: ErasureStatus::Running,
            counts: ErasureCounts::default(),
            created_at: self.clock.now(),
            updated_at: self.clock.now(),
            finished_at: None,
        };
        if self.store.erasure_held(&e).await? {
            return Err(AppError::LegalHold);
        }
        let e = self.store.start_erasure(e).await?;
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            e.org_id.as_ref(),
            crate::audit::AuditAction::ErasureStarted,
            format!("principal:{}", e.principal.as_str()),
            None,
            serde_json::json!({"erasure_id": e.id}),
        )
        .await;
        Ok(e)
    }

    /// An erasure: for whoever asked for it and the managers of its organization.
    pub async fn get(&self, who: &Principal, id: &str) -> Result<Erasure, AppError> {
        let e = self
            .store
            .get_erasure(id)
            .await?
            .ok_or(AppError::ErasureNotFound)?;
        let asked = e.requested_by == who.owner().as_str();
        let manages = e
            .org_id
            .as_ref()
            .is_some_and(|o| who.managed_org() == Some(o));
        if asked || manages {
            Ok(e)
        } else {
            Err(AppError::ErasureNotFound)
        }
    }

    /// Runs an erasure to its end (or its block), saving progress after every batch.
    pub async fn run(&self, mut e: Erasure) -> Result<Erasure, AppError> {
        while e.status == ErasureStatus::Running {
            if self.store.erasure_held(&e).await? {
                e.status = ErasureStatus::Blocked;
                e.finished_at = Some(self.clock.now());
            } else {
                let (counts, done) = self.store.erase_batch(&e, self.batch).await?;
                e.counts.add(&counts);
                if done {
                    e.status = ErasureStatus::Done;
                    e.finished_at = Some(self.clock.now());
                }
            }
            e.updated_at = self.clock.now();
            self.store.save_erasure(&e).await?;
        }
        if e.status == ErasureStatus::Done {
            crate::audit::record(
                &self.store,
                &self.clock,
                None,
                e.org_id.as_ref(),
                crate::audit::AuditAction::ErasureDone,
                format!("principal:{}", e.principal.as_str()),
                None,
                serde_json::json!({"erasure_id": e.id, "counts": e.counts}),
            )
            .await;
        }
        Ok(e)
    }

    /// Resumes every erasure whose runner is gone — none saved it for the stall time (a
    /// crash, a restart): the sweeper, on every instance.
    pub async fn resume_stalled(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let before = now.checked_sub_signed(self.stall).unwrap_or(now);
        let running = self.store.stalled_erasures(before).await?;
        let n = running.len();
        for e in running {
            self.run(e).await?;
        }
        Ok(n)
    }
}

/// A principal that can be erased: `user:`, `service:` or `anon:` and a subject.
fn erasable(raw: &str) -> Result<Owner, AppError> {
    let ok = ["user:", "service:", "anon:"].iter().any(|p| {
        raw.trim()
            .strip_prefix(p)
            .is_some_and(|s| !s.trim().is_empty())
    });
    let owner = Owner::parse(raw).ok().filter(|_| ok).ok_or_else(|| {
        DomainError::inconsistent(
            "principal",
            "must be user:<subject>, service:<subject> or anon:<session>",
        )
    })?;
    Ok(owner)
}
