//! Tokens this process has verified, until they expire.
//!
//! A client sends the same bearer token with every request. Verifying it each time decodes its
//! header and claims twice (to pick the key, then in `jsonwebtoken`), parses both as JSON and
//! checks the signature: ~5 % of the service's CPU per append in a profile of the HTTP
//! benchmark (docs/operations.md). A token that passed is a fixed string whose verdict can
//! only change when it expires (the keys are loaded once, at start), so the principal it
//! names is kept, keyed by the whole token, and given again while `now < exp`. From `exp` on,
//! the full check runs again (with its leeway, as before). Only tokens that carry `exp` are
//! kept. Session checks (anonymous sessions) are not part of verification and still run on
//! every request.

use std::collections::HashMap;
use std::sync::Mutex;

use chat_threads_domain::Principal;

/// Most tokens kept; past it the whole set starts again (a process serving more clients
/// than this verifies some tokens twice, never wrongly).
const MOST: usize = 4096;

/// Verified tokens: the principal each names and its `exp` (seconds since the epoch).
#[derive(Default)]
pub(super) struct Verified(Mutex<HashMap<Box<str>, (Principal, u64)>>);

impl Verified {
    /// The principal `token` names, when it was verified and `now` is before its `exp`.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let map = self.0.lock().ok()?;
        match map.get(token) {
            Some((p, exp)) if now < *exp => Some(p.clone()),
            _ => None,
        }
    }

    /// Keeps `token`, just verified, as naming `principal` until `exp`.
    pub(super) fn put(&self, token: &str, principal: &Principal, exp: u64) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if map.len() >= MOST && !map.contains_key(token) {
            map.clear();
        }
        map.insert(token.into(), (principal.clone(), exp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_exp_and_bounded() {
        let v = Verified::default();
        let p = Principal::user("ada", None);
        v.put("t1", &p, 100);
        assert_eq!(v.get("t1", 99).map(|p| p.subject), Some("ada".to_owned()));
        assert!(
            v.get("t1", 100).is_none(),
            "from exp on, the full check runs"
        );
        assert!(v.get("t2", 0).is_none());
        for i in 0..MOST + 10 {
            v.put(&format!("many-{i}"), &p, 100);
        }
        assert!(v.0.lock().unwrap().len() <= MOST);
        assert!(v.get(&format!("many-{}", MOST + 9), 1).is_some());
    }
}
