//! The in-memory store's balances, holds and ledger: the reference the SQL stores are checked
//! against.

use std::collections::HashMap;

use chat_threads_application::AppError;
use chat_threads_application::billing::{
    Balance, BalanceStore, Charge, Hold, LedgerCursor, LedgerEntry, NewCredit,
};
use chat_threads_domain::{MessageId, MessageStatus, Timestamp};

use super::{MemoryStore, State};

/// A balance's key: its account and its organization ('' for none).
type Key = (String, String);

fn key(account: &str, org: Option<&str>) -> Key {
    (account.to_owned(), org.unwrap_or_default().to_owned())
}

/// A hold: its balance, amount, and the instance running it (an unstored completion's).
#[derive(Debug)]
struct HoldRow {
    key: Key,
    amount: i64,
    instance: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Balances {
    /// (account, org) → (amount, updated_at)
    rows: HashMap<Key, (i64, Timestamp)>,
    /// hold id (a reply's id, or a completion's) → hold
    holds: HashMap<uuid::Uuid, HoldRow>,
    /// every entry with its balance's org
    ledger: Vec<(String, LedgerEntry)>,
}

impl State {
    /// What is held from a balance: live replies' holds and running completions'.
    fn held(&self, key: &Key) -> i64 {
        self.balances
            .holds
            .iter()
            .filter(|(id, h)| {
                h.key == *key
                    && (h.instance.is_some()
                        || self
                            .messages
                            .get(&MessageId::from_uuid(**id))
                            .is_some_and(|m| m.status == MessageStatus::Streaming))
            })
            .map(|(_, h)| h.amount)
            .sum()
    }

    /// Places a hold (a reply's, see `ReplyStore::begin_reply`, or a completion's).
    pub(super) fn place_hold(
        &mut self,
        hold: &Hold,
        id: uuid::Uuid,
        instance: Option<&str>,
    ) -> Result<(), AppError> {
        let k = key(&hold.account, hold.org.as_deref());
        let balance = self.balances.rows.get(&k).map_or(0, |r| r.0);
        let held = self.held(&k);
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
        self.balances.holds.insert(
            id,
            HoldRow {
                key: k,
                amount: hold.amount,
                instance: instance.map(str::to_owned),
            },
        );
        Ok(())
    }

    fn next_seq(&self, k: &Key) -> i64 {
        1 + self
            .balances
            .ledger
            .iter()
            .filter(|(org, e)| e.account == k.0 && *org == k.1)
            .count() as i64
    }

    /// Debits a charge (see `UsageStore::add_usage`).
    pub(super) fn debit(
        &mut self,
        charge: &Charge,
        model: &str,
        usage: chat_threads_application::usage::Usage,
    ) {
        let k = key(&charge.account, charge.org.as_deref());
        let seq = self.next_seq(&k);
        let row = self
            .balances
            .rows
            .entry(k.clone())
            .or_insert((0, charge.at));
        row.0 -= charge.amount;
        row.1 = charge.at;
        let after = row.0;
        if let Some(hold) = charge.hold {
            self.balances.holds.remove(&hold);
        }
        self.balances.ledger.push((
            k.1,
            LedgerEntry {
                id: charge.id,
                seq,
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
            },
        ));
    }
}

impl BalanceStore for MemoryStore {
    async fn balance(&self, account: &str, org: Option<&str>) -> Result<Option<Balance>, AppError> {
        let s = self.lock()?;
        let k = key(account, org);
        Ok(s.balances.rows.get(&k).map(|(amount, at)| Balance {
            account: account.to_owned(),
            org_id: org.map(str::to_owned),
            amount: *amount,
            held: s.held(&k),
            updated_at: Some(*at),
        }))
    }

    async fn hold(&self, hold: &Hold, id: uuid::Uuid, instance: &str) -> Result<(), AppError> {
        self.lock()?.place_hold(hold, id, Some(instance))
    }

    async fn release_hold(&self, id: uuid::Uuid) -> Result<(), AppError> {
        self.lock()?.balances.holds.remove(&id);
        Ok(())
    }

    async fn release_dead_holds(&self, me: &str) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let before = s.balances.holds.len();
        s.balances
            .holds
            .retain(|_, h| h.instance.as_deref().is_none_or(|i| i == me));
        Ok((before - s.balances.holds.len()) as u64)
    }

    async fn credit(&self, c: NewCredit) -> Result<(Balance, LedgerEntry), AppError> {
        let mut s = self.lock()?;
        let k = key(&c.account, c.org_id.as_deref());
        let before = s.balances.rows.get(&k).map_or(0, |r| r.0);
        let after = c.apply_to(before)?;
        let seq = s.next_seq(&k);
        s.balances.rows.insert(k.clone(), (after, c.at));
        let entry = LedgerEntry {
            id: c.id,
            seq,
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
        s.balances.ledger.push((k.1.clone(), entry.clone()));
        let balance = Balance {
            account: c.account.clone(),
            org_id: c.org_id.clone(),
            amount: after,
            held: s.held(&k),
            updated_at: Some(c.at),
        };
        Ok((balance, entry))
    }

    async fn ledger(
        &self,
        account: &str,
        org: Option<&str>,
        after: Option<LedgerCursor>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, AppError> {
        let s = self.lock()?;
        let org = org.unwrap_or_default();
        let mut rows: Vec<LedgerEntry> = s
            .balances
            .ledger
            .iter()
            .filter(|(o, e)| e.account == account && o == org)
            .map(|(_, e)| e)
            .filter(|e| after.as_ref().is_none_or(|a| e.seq < a.seq))
            .cloned()
            .collect();
        rows.sort_by_key(|e| std::cmp::Reverse(e.seq));
        rows.truncate(limit as usize);
        Ok(rows)
    }
}
