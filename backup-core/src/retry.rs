//! One retry policy for every call a service turns away for load (nothing ran, so sending it again is safe): a REST
//! or routing call answered 429 or 503, the XMLA endpoint answering 503, a backup or restore a capacity refuses for
//! load. Each waits what the service asks (`Retry-After`, capped), else backs off, doubling, within a budget. The
//! policies are the constants here, and nowhere else. Storage retries are the Azure SDK pipeline's, configured by
//! adls-store's `RetryConfig`.

use std::time::Duration;

/// How a call turned away for load is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait when the service does not say how long; it doubles after each.
    pub first_backoff: Duration,
    /// The longest single wait, whatever the service asks.
    pub longest_wait: Duration,
    /// How many retries in all.
    pub max_retries: u32,
    /// How many of them when the service does not say how long to wait.
    pub blind_retries: u32,
    /// How long the waits may add up to.
    pub budget: Duration,
}

impl RetryPolicy {
    /// REST and routing calls: `Retry-After` for as long as the service keeps asking, up to 15 minutes of waits in
    /// all (a tenant's rate limit throttles a bulk run for minutes); without it 1, 2, 4, 8 s.
    pub const SERVICE: RetryPolicy = RetryPolicy {
        first_backoff: Duration::from_secs(1),
        longest_wait: Duration::from_secs(60),
        max_retries: u32::MAX,
        blind_retries: 4,
        budget: Duration::from_secs(15 * 60),
    };

    /// The XMLA endpoint answering 503: four times, waiting as asked or 1, 2, 4, 8 s.
    pub const XMLA_BUSY: RetryPolicy = RetryPolicy { max_retries: 4, ..RetryPolicy::SERVICE };

    /// A backup or restore the capacity refuses for load: 2 s, doubling, at most a minute, until `budget` has been
    /// waited (the `load-wait` of the command or policy).
    pub fn capacity_load(budget: Duration) -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_secs(2),
            longest_wait: Duration::from_secs(60),
            max_retries: u32::MAX,
            blind_retries: u32::MAX,
            budget,
        }
    }

    /// The state of one call's retries.
    pub fn start(self) -> Retrying {
        Retrying {
            policy: self,
            backoff: self.first_backoff,
            retries: 0,
            blind: 0,
            waited: Duration::ZERO,
        }
    }
}

/// One call's retries so far.
#[derive(Debug, Clone)]
pub struct Retrying {
    policy: RetryPolicy,
    backoff: Duration,
    retries: u32,
    blind: u32,
    waited: Duration,
}

impl Retrying {
    /// The wait before the next attempt, given what the service asked (`Retry-After`); `None` once the policy is
    /// spent (the last answer then stands).
    pub fn next_wait(&mut self, asked: Option<Duration>) -> Option<Duration> {
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let wait = match asked {
            Some(asked) => asked.min(self.policy.longest_wait),
            None if self.blind < self.policy.blind_retries => self.backoff,
            None => return None,
        };
        if self.waited + wait > self.policy.budget {
            return None;
        }
        if asked.is_none() {
            self.blind += 1;
            self.backoff = (self.backoff * 2).min(self.policy.longest_wait);
        }
        self.retries += 1;
        self.waited += wait;
        Some(wait)
    }

    /// How many retries were granted.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The waits granted, added up.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(policy: RetryPolicy, asked: Option<Duration>) -> Vec<u64> {
        let mut r = policy.start();
        std::iter::from_fn(|| r.next_wait(asked)).map(|d| d.as_secs()).take(100).collect()
    }

    #[test]
    fn each_policy_waits_as_documented() {
        assert_eq!(waits(RetryPolicy::SERVICE, None), [1, 2, 4, 8]);
        // Asked to wait 2 minutes: capped at one, for 15 minutes of waits.
        assert_eq!(waits(RetryPolicy::SERVICE, Some(Duration::from_secs(120))), [60; 15]);
        assert_eq!(waits(RetryPolicy::XMLA_BUSY, Some(Duration::from_secs(3))), [3; 4]);
        assert_eq!(waits(RetryPolicy::XMLA_BUSY, None), [1, 2, 4, 8]);
        let load = waits(RetryPolicy::capacity_load(Duration::from_secs(300)), None);
        assert_eq!(load, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(waits(RetryPolicy::capacity_load(Duration::ZERO), None).is_empty());
    }
}
