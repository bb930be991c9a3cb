//! [`RetryConfig`]: the one retry policy of every remote backend.

use std::time::Duration;

/// How a remote backend retries.
///
/// # What is retried
///
/// - HTTP 408, 429, 500, 502, 503 and 504 (a `Retry-After` header on 429 and 503 is honoured: the wait is the larger
///   of it and the backoff);
/// - a connection that could not be made, was reset, or broke in the middle of a request or response body;
/// - for reads, a body that ended early: the retry asks only for the bytes not yet received, so a resumed download
///   continues from what it already holds.
///
/// Nothing else is retried: 4xx answers (not found, conflict, precondition, authentication) are final.
///
/// # Default
///
/// `backoff`: first wait 200 ms, doubling each time, at most 30 s per wait, plus a random jitter of up to 256 ms;
/// `max_retries`: 16; `retry_timeout`: 180 s (no retry starts after this much time since the first attempt). The time
/// is the limit that binds: a storm of ten or more 503s in a row (about 110 s of waits) is ridden out, and a store that
/// stays busy fails after three minutes, not sooner for want of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// The wait between attempts.
    pub backoff: BackoffConfig,
    /// Attempts after the first one, at most.
    pub max_retries: u32,
    /// No retry starts once this much time has passed since the first attempt.
    pub retry_timeout: Duration,
}

/// Exponential backoff with jitter: wait `init_backoff × base^n` (at most `max_backoff`) plus up to 256 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first wait.
    pub init_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// The growth factor (2 doubles the wait each time). The HTTP pipeline of `azure_core` 0.21 always doubles; this
    /// factor applies to the store's own retries of broken response bodies.
    pub base: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            base: 2,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            max_retries: 16,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The wait before retry number `retry` (1-based), jitter included.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = u64::from(self.backoff.base.max(1)).saturating_pow(retry.saturating_sub(1));
        let base_ms = (self.backoff.init_backoff.as_millis() as u64).saturating_mul(factor);
        let jitter = u64::from(rand::random::<u8>());
        Duration::from_millis(base_ms.saturating_add(jitter)).min(self.backoff.max_backoff)
    }

    /// True when retry number `retry` (1-based) may start, `elapsed` after the first attempt.
    pub fn may_retry(&self, retry: u32, elapsed: Duration) -> bool {
        retry <= self.max_retries && elapsed < self.retry_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = RetryConfig::default();
        let first = cfg.backoff(1);
        assert!(
            first >= Duration::from_millis(200) && first < Duration::from_millis(457),
            "{first:?}"
        );
        let third = cfg.backoff(3);
        assert!(
            third >= Duration::from_millis(800) && third < Duration::from_millis(1057),
            "{third:?}"
        );
        assert_eq!(cfg.backoff(30), Duration::from_secs(30));
        assert!(cfg.may_retry(16, Duration::ZERO));
        assert!(!cfg.may_retry(17, Duration::ZERO));
        assert!(!cfg.may_retry(1, Duration::from_secs(181)));
        // Ten 503s in a row fit in the time: the waits before the eleventh attempt stay under the limit.
        let waits: Duration = (1..=10).map(|n| cfg.backoff(n)).sum();
        assert!(waits < cfg.retry_timeout, "{waits:?}");
        assert!(!RetryConfig::none().may_retry(1, Duration::ZERO));
    }
}
