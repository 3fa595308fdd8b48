//! The in-memory store's balances, holds and ledger: the reference the SQL stores are checked
//! against.

use std::collections::HashMap;

use chat_threads_application::AppError;
use chat_threads_application::billing::{
    Balance, BalanceStore, Charge, ChargeKind, Hold, LedgerCursor, LedgerEntry, NewCredit,
};
use chat_threads_domain::{MessageId, MessageStatus, Timestamp};

use super::{MemoryStore, State};

#[derive(Debug, Default)]
pub(crate) struct Balances {
    /// account → (org, amount, updated_at)
    rows: HashMap<String, (Option<String>, i64, Timestamp)>,
    /// reply → (account, amount)
    holds: HashMap<MessageId, (String, i64)>,
    ledger: Vec<LedgerEntry>,
}

impl State {
    /// What live replies hold from an account.
    fn held(&self, account: &str) -> i64 {
        self.balances
            .holds
            .iter()
            .filter(|(id, (a, _))| {
                a == account
                    && self
                        .messages
                        .get(id)
                        .is_some_and(|m| m.status == MessageStatus::Streaming)
            })
            .map(|(_, (_, n))| n)
            .sum()
    }

    /// Places a reply's hold (see `ReplyStore::begin_reply`).
    pub(super) fn place_hold(&mut self, hold: &Hold, reply: MessageId) -> Result<(), AppError> {
        let balance = self.balances.rows.get(&hold.account).map_or(0, |r| r.1);
        let held = self.held(&hold.account);
        let available = balance.saturating_sub(held);
        if available < hold.amount {
            return Err(AppError::InsufficientBalance {
                account: hold.account.clone(),
                balance,
                held,
                available,
                required: hold.amount,
            });
        }
        self.balances
            .holds
            .insert(reply, (hold.account.clone(), hold.amount));
        Ok(())
    }

    /// Debits a charge (see `UsageStore::add_usage`).
    pub(super) fn debit(
        &mut self,
        charge: &Charge,
        model: &str,
        usage: chat_threads_application::usage::Usage,
    ) {
        let row = self
            .balances
            .rows
            .entry(charge.account.clone())
            .or_insert((None, 0, charge.at));
        row.1 -= charge.amount;
        row.2 = charge.at;
        let after = row.1;
        if let (ChargeKind::Reply, Some(reply)) = (charge.kind, charge.message_id) {
            self.balances.holds.remove(&reply);
        }
        self.balances.ledger.push(LedgerEntry {
            id: charge.id,
            account: charge.account.clone(),
            kind: charge.kind.as_str().to_owned(),
            amount: -charge.amount,
            balance_after: after,
            model: Some(model.to_owned()),
            prompt_tokens: Some(i64::from(usage.prompt_tokens)),
            completion_tokens: Some(i64::from(usage.completion_tokens)),
            thread_id: charge.thread_id,
            message_id: charge.message_id,
            note: None,
            actor: None,
            created_at: charge.at,
        });
    }
}

impl BalanceStore for MemoryStore {
    async fn balance(&self, account: &str) -> Result<Option<Balance>, AppError> {
        let s = self.lock()?;
        Ok(s.balances
            .rows
            .get(account)
            .map(|(org, amount, at)| Balance {
                account: account.to_owned(),
                org_id: org.clone(),
                amount: *amount,
                held: s.held(account),
                updated_at: Some(*at),
            }))
    }

    async fn credit(&self, c: NewCredit) -> Result<(Balance, LedgerEntry), AppError> {
        let mut s = self.lock()?;
        let (org, before) = match s.balances.rows.get(&c.account) {
            Some((org, _, _)) if *org != c.org_id => return Err(AppError::BalanceNotFound),
            Some((org, amount, _)) => (org.clone(), *amount),
            None => (c.org_id.clone(), 0),
        };
        let after = c.apply_to(before)?;
        s.balances
            .rows
            .insert(c.account.clone(), (org.clone(), after, c.at));
        let entry = LedgerEntry {
            id: c.id,
            account: c.account.clone(),
            kind: "credit".into(),
            amount: c.amount,
            balance_after: after,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            thread_id: None,
            message_id: None,
            note: c.note,
            actor: Some(c.actor),
            created_at: c.at,
        };
        s.balances.ledger.push(entry.clone());
        let balance = Balance {
            account: c.account.clone(),
            org_id: org,
            amount: after,
            held: s.held(&c.account),
            updated_at: Some(c.at),
        };
        Ok((balance, entry))
    }

    async fn ledger(
        &self,
        account: &str,
        after: Option<LedgerCursor>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, AppError> {
        let s = self.lock()?;
        let mut rows: Vec<LedgerEntry> = s
            .balances
            .ledger
            .iter()
            .filter(|e| e.account == account)
            .filter(|e| {
                after
                    .as_ref()
                    .is_none_or(|a| (e.created_at, e.id) < (a.created_at, a.id))
            })
            .cloned()
            .collect();
        rows.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
        rows.truncate(limit as usize);
        Ok(rows)
    }
}
