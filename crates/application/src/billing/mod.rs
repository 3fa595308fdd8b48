//! Prices and balances: what a reply costs, which account pays for it, credits by service
//! principals, and the ledger that records every change of a balance.
//!
//! A balance is kept in the smallest unit of its currency (cents), per organization: an account
//! id (`user:dora`) names one balance in each organization, the one of the principal's token
//! (or none), so no principal of one organization ever reads, credits or spends another's.
//! Ledger entries are numbered per balance in the order they commit (`seq`).
//!
//! A reply on a priced model
//! first *holds* what it may cost at most (the prompt budget plus the reply budget, at the
//! model's prices) in the same transaction that starts it: a balance whose available amount
//! (balance minus the holds of replies still streaming) cannot cover the hold refuses the reply
//! with 402 `insufficient_balance`, before the model is called and before anything is stored.
//! When the reply ends, its real cost is debited in the transaction that records its usage, and
//! its hold goes. A reply that ends any other way (crash recovery, deletion) stops holding once
//! it is no longer streaming. So concurrent replies, on any number of instances, never spend
//! the same money twice. Unstored completions hold the same way, for as long as the instance
//! running them lives (or until they end).

mod ports;

pub use ports::{
    Balance, BalanceStore, Charge, ChargeKind, Hold, LedgerCursor, LedgerEntry, NewCredit,
};

use chat_threads_domain::{DomainError, Principal, PrincipalKind, SCOPE_ORG_ADMIN};
use serde::Serialize;

use crate::error::AppError;
use crate::paging::Page;
use crate::system::Clock;
use crate::tokens::Usage;

/// A model's prices, in the smallest currency unit per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: u64,
    /// Per million completion tokens.
    pub output_per_million: u64,
}

impl Price {
    /// What `usage` costs, rounded up to a whole unit (zero only for zero tokens or a free model).
    pub fn cost(&self, usage: Usage) -> i64 {
        let micro = u128::from(usage.prompt_tokens) * u128::from(self.input_per_million)
            + u128::from(usage.completion_tokens) * u128::from(self.output_per_million);
        i64::try_from(micro.div_ceil(1_000_000)).unwrap_or(i64::MAX)
    }

    /// Whether using the model costs anything.
    pub fn is_free(&self) -> bool {
        self.input_per_million == 0 && self.output_per_million == 0
    }
}

/// Who pays for a principal's replies (`billing.payer`: `principal` or `org`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    /// Each principal has its own balance.
    #[default]
    Principal,
    /// Members of an organization spend the organization's balance (`org:<id>`); principals
    /// without one keep their own.
    Org,
}

/// Billing settings (`[billing]`, read straight into this type).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// Off by default: no holds, no debits, the balance routes answer 403.
    pub enabled: bool,
    /// Who pays.
    pub payer: Payer,
    /// The currency balances are kept in (ISO 4217, informational).
    pub currency: String,
    /// Completion tokens a reply holds for when `generation.reply_max_tokens` is unset.
    pub hold_output_tokens: u32,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            payer: Payer::Principal,
            currency: "USD".into(),
            hold_output_tokens: 1024,
        }
    }
}

impl BillingSettings {
    /// The account `who` spends from (kept in `who`'s organization, [`org_of`]).
    pub fn payer_of(&self, who: &Principal) -> String {
        match (self.payer, &who.org) {
            (Payer::Org, Some(org)) => format!("org:{}", org.as_str()),
            _ => who.owner().as_str().to_owned(),
        }
    }
}

/// The organization whose balances `who` spends, reads and credits.
pub fn org_of(who: &Principal) -> Option<&str> {
    who.org.as_ref().map(|o| o.as_str())
}

/// Largest amount one credit may add.
pub const MAX_CREDIT: i64 = 1_000_000_000_000;
/// Largest balance an account may reach.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;
/// Longest note of a credit, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// Checks an account id: `user:`, `anon:`, `service:` or `org:` followed by 1-255 printable
/// characters.
pub fn parse_account(raw: &str) -> Result<String, AppError> {
    let ok = raw.split_once(':').is_some_and(|(kind, rest)| {
        matches!(kind, "user" | "anon" | "service" | "org")
            && (1..=255).contains(&rest.chars().count())
            && !rest.chars().any(char::is_control)
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid(
            "account",
            "must be `me` or `user:`, `anon:`, `service:` or `org:` followed by an id",
        )
        .into())
    }
}

/// Balances, credits and the ledger.
pub struct BalanceService<S, C> {
    store: S,
    clock: C,
    settings: BillingSettings,
    limits: chat_threads_domain::Limits,
}

impl<S: Clone, C: Clone> Clone for BalanceService<S, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            limits: self.limits,
        }
    }
}

impl<S, C> std::fmt::Debug for BalanceService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalanceService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A credit as requested.
#[derive(Debug, Clone, Default)]
pub struct CreditInput {
    /// Smallest currency units to add, 1 to [`MAX_CREDIT`].
    pub amount: i64,
    /// Why (an invoice number, a promotion), up to [`MAX_NOTE_CHARS`] characters.
    pub note: Option<String>,
}

impl<S: BalanceStore, C: Clock> BalanceService<S, C> {
    /// A balance service.
    pub fn new(
        store: S,
        clock: C,
        settings: BillingSettings,
        limits: chat_threads_domain::Limits,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            limits,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &BillingSettings {
        &self.settings
    }

    fn enabled(&self) -> Result<(), AppError> {
        if self.settings.enabled {
            Ok(())
        } else {
            Err(AppError::Forbidden("billing is off on this server".into()))
        }
    }

    /// Which account `raw` names for `who` and whether `who` may read it. Every balance `who`
    /// reaches is kept in `who`'s own organization ([`org_of`]): `me` is the account `who`
    /// pays from; service principals reach every account of their organization but another
    /// organization's `org:` account; an org admin its organization's account; anyone else
    /// only its own. Any other account is `balance_not_found`, whether or not it exists.
    async fn reachable(&self, who: &Principal, raw: &str) -> Result<(String, Balance), AppError> {
        self.enabled()?;
        let account = if raw == "me" {
            self.settings.payer_of(who)
        } else {
            parse_account(raw)?
        };
        let org = org_of(who);
        let own = account == self.settings.payer_of(who) || account == who.owner().as_str();
        let org_admin = who.kind == PrincipalKind::User
            && who.has_scope(SCOPE_ORG_ADMIN)
            && org.is_some_and(|o| account == format!("org:{o}"));
        let other_org = account.strip_prefix("org:").is_some_and(|o| org != Some(o));
        let service = who.kind == PrincipalKind::Service && !other_org;
        if !(own || org_admin || service) {
            return Err(AppError::BalanceNotFound);
        }
        let balance = self
            .store
            .balance(&account, org)
            .await?
            .unwrap_or_else(|| Balance::empty(&account, org));
        Ok((account, balance))
    }

    /// A balance (see [`Self::reachable`] for who reads which).
    pub async fn balance(&self, who: &Principal, account: &str) -> Result<Balance, AppError> {
        Ok(self.reachable(who, account).await?.1)
    }

    /// Adds to a balance (service principals only), recorded as a ledger entry with the
    /// service as its actor.
    pub async fn credit(
        &self,
        who: &Principal,
        account: &str,
        input: CreditInput,
    ) -> Result<(Balance, LedgerEntry), AppError> {
        self.enabled()?;
        if who.kind != PrincipalKind::Service {
            return Err(AppError::Forbidden(
                "only service principals credit balances".into(),
            ));
        }
        let (account, current) = self.reachable(who, account).await?;
        if !(1..=MAX_CREDIT).contains(&input.amount) {
            return Err(DomainError::invalid("amount", "must be between 1 and 10^12").into());
        }
        let note = match input.note {
            Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
                return Err(DomainError::LimitExceeded {
                    field: "note",
                    limit: MAX_NOTE_CHARS,
                    actual: n.chars().count(),
                }
                .into());
            }
            Some(n) if n.chars().any(|c| c.is_control() && c != '\n') => {
                return Err(
                    DomainError::invalid("note", "must not contain control characters").into(),
                );
            }
            other => other,
        };
        let credit = NewCredit {
            id: uuid::Uuid::now_v7(),
            account,
            org_id: who.org.as_ref().map(|o| o.as_str().to_owned()),
            amount: input.amount,
            max_balance: MAX_BALANCE,
            note,
            actor: who.owner().as_str().to_owned(),
            at: self.clock.now(),
        };
        // Checked here too, so a full balance is refused before a write transaction.
        credit.apply_to(current.amount)?;
        self.store.credit(credit).await
    }

    /// A balance's ledger, newest first.
    pub async fn ledger(
        &self,
        who: &Principal,
        account: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<LedgerEntry>, AppError> {
        let (account, _) = self.reachable(who, account).await?;
        let limit = crate::paging::page_size(limit, &self.limits)?;
        let after = cursor
            .map(crate::cursor::decode::<LedgerCursor>)
            .transpose()?;
        let rows = self
            .store
            .ledger(&account, org_of(who), after, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, self.limits.page_bytes, |e| {
            LedgerCursor { seq: e.seq }
        }))
    }
}
