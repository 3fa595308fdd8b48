//! Token-bucket rate limits, per principal and per client IP, kept in this instance's memory.
//!
//! Behind a load balancer the instances share what they spend ([`Limiter::share`]): each
//! instance decides alone, from its own buckets, with no round trip per request; what it let
//! through is sent to the others every sync interval ([`Limiter::take_spent`]) and taken from
//! their buckets there ([`Limiter::spend_elsewhere`]). A principal's limit then holds for the
//! whole cluster, give or take what it spent on other instances within one interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use crate::verdict::Verdict;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One family of buckets (per principal, or per IP).
#[derive(Debug)]
pub struct Limiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
    shared: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    /// Tokens taken here since the last [`Limiter::take_spent`] (only while shared).
    spent: HashMap<String, u32>,
}

/// Buckets beyond which full (idle) ones are dropped, bounding memory.
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    /// `per_minute` sustained, up to `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets::default()),
            shared: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Keeps what this instance spends for [`Limiter::take_spent`], to tell the others.
    pub fn share(&self) {
        self.shared
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// What this instance let through since the last call, per key.
    pub fn take_spent(&self) -> Vec<(String, u32)> {
        self.buckets
            .lock()
            .map(|mut b| b.spent.drain().collect())
            .unwrap_or_default()
    }

    /// Takes what another instance let through from the buckets here: `n` tokens of `key`. A
    /// bucket may go below empty (then refused until it has refilled past zero), so the
    /// cluster's total stays the limit.
    pub fn spend_elsewhere(&self, key: &str, n: u32) {
        self.spend_elsewhere_at(key, n, Instant::now());
    }

    fn spend_elsewhere_at(&self, key: &str, n: u32, now: Instant) {
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        let bucket = buckets.by_key.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        // At most a burst of debt: an instance that was away (its spending arriving late or
        // twice) cannot lock a key out for long.
        bucket.tokens = ((bucket.tokens + elapsed * self.per_sec).min(self.burst) - f64::from(n))
            .max(-self.burst);
        bucket.at = now;
    }

    /// Takes one token for `key`.
    pub fn check(&self, key: &str) -> Verdict {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Verdict {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; fail open rather than refuse everyone.
            return Verdict {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                retry_after_secs: 0,
            };
        };
        if buckets.by_key.len() >= MAX_BUCKETS {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets
                .by_key
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let shared = self.shared.load(std::sync::atomic::Ordering::Relaxed);
        let buckets = &mut *buckets;
        let bucket = buckets.by_key.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.burst);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
            if shared {
                *buckets.spent.entry(key.to_owned()).or_default() += 1;
            }
        }
        let missing = self.burst - bucket.tokens;
        Verdict {
            allowed,
            limit: self.burst as u32,
            remaining: bucket.tokens.floor().max(0.0) as u32,
            reset_secs: (missing / self.per_sec).ceil() as u64,
            retry_after_secs: if allowed {
                0
            } else {
                ((1.0 - bucket.tokens) / self.per_sec).ceil().max(1.0) as u64
            },
        }
    }
}

/// Both families, or none when rate limiting is off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per principal.
    pub principal: Option<Arc<Limiter>>,
    /// Per client IP.
    pub ip: Option<Arc<Limiter>>,
    /// Login attempts per account (by e-mail).
    pub login: Option<Arc<Limiter>>,
    /// Take the IP from X-Forwarded-For.
    pub trust_forwarded_for: bool,
}

impl RateLimits {
    /// The families that are on, each with the name other instances know it by.
    pub fn families(&self) -> Vec<(&'static str, Arc<Limiter>)> {
        [
            ("principal", &self.principal),
            ("ip", &self.ip),
            ("login", &self.login),
        ]
        .into_iter()
        .filter_map(|(name, l)| l.clone().map(|l| (name, l)))
        .collect()
    }

    /// No limits.
    pub fn off() -> Self {
        Self {
            principal: None,
            ip: None,
            trust_forwarded_for: false,
            login: None,
        }
    }
}

/// Middleware: the per-IP bucket for every /v1 request, with x-ratelimit-* headers on the answer.
pub async fn per_ip(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let limits = req.app_data::<actix_web::web::Data<RateLimits>>().cloned();
    let verdict = match (&limits, req.path().starts_with("/v1/")) {
        (Some(l), true) => l.ip.as_ref().map(|limiter| {
            let info = req.connection_info();
            let ip = if l.trust_forwarded_for {
                info.realip_remote_addr().unwrap_or("unknown").to_owned()
            } else {
                info.peer_addr().unwrap_or("unknown").to_owned()
            };
            limiter.check(&ip)
        }),
        _ => None,
    };
    if let Some(v) = verdict.filter(|v| !v.allowed) {
        let response =
            actix_web::ResponseError::error_response(&crate::error::ApiError::RateLimited(v));
        return Ok(req.into_response(response));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(v) = verdict {
        let headers = res.headers_mut();
        for (name, value) in v.headers() {
            // A principal's 429 already carries its own (tighter) bucket's numbers.
            let name = actix_web::http::header::HeaderName::from_static(name);
            if !headers.contains_key(&name)
                && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&value)
            {
                headers.insert(name, value);
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let l = Limiter::new(60, 3);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            let v = l.check_at("k", t0);
            assert!(v.allowed);
            assert_eq!(v.remaining, left);
        }
        let refused = l.check_at("k", t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.limit, 3);
        assert!(l.check_at("other", t0).allowed, "keys are independent");
        assert!(
            l.check_at("k", t0 + Duration::from_millis(1100)).allowed,
            "one token per second"
        );
        assert!(!l.check_at("k", t0 + Duration::from_millis(1200)).allowed);
    }

    #[test]
    fn spending_is_shared_and_taken_elsewhere() {
        let here = Limiter::new(60, 3);
        let there = Limiter::new(60, 3);
        here.share();
        let t0 = Instant::now();
        assert!(here.check_at("k", t0).allowed);
        assert!(here.check_at("k", t0).allowed);
        assert!(here.check_at("other", t0).allowed);
        let mut spent = here.take_spent();
        spent.sort();
        assert_eq!(spent, [("k".to_owned(), 2), ("other".to_owned(), 1)]);
        assert!(here.take_spent().is_empty(), "taken once");
        for (key, n) in spent {
            there.spend_elsewhere_at(&key, n, t0);
        }
        assert!(there.check_at("k", t0).allowed, "one of three left");
        assert!(!there.check_at("k", t0).allowed);
        // Debt is bounded: a burst below empty at most.
        there.spend_elsewhere_at("k", 100, t0);
        assert!(!there.check_at("k", t0 + Duration::from_secs(3)).allowed);
        assert!(there.check_at("k", t0 + Duration::from_secs(4)).allowed);
        let unshared = Limiter::new(60, 3);
        assert!(unshared.check_at("k", t0).allowed);
        assert!(
            unshared.take_spent().is_empty(),
            "nothing kept unless shared"
        );
    }
}
