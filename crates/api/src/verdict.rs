//! A rate limiter's answer for one request, and the headers that describe it.

/// A bucket's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The bucket size (x-ratelimit-limit).
    pub limit: u32,
    /// Whole tokens left (x-ratelimit-remaining).
    pub remaining: u32,
    /// Seconds until the bucket is full again (x-ratelimit-reset).
    pub reset_secs: u64,
    /// Seconds until one request is allowed (Retry-After), when refused.
    pub retry_after_secs: u64,
}

impl Verdict {
    /// The `x-ratelimit-*` headers describing this bucket.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_secs.to_string()),
        ]
    }
}
